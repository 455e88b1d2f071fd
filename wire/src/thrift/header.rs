//! The message header that starts every Thrift message, in each encoding.

use bytes::{BufMut, BytesMut};

use super::cursor::{Cursor, invalid};
use crate::{DecodeError, Limits, Protocol};

/// The Thrift protocol of a message (Thrift calls it "protocol"; named
/// `Encoding` here to keep it apart from [`crate::Protocol`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// TBinaryProtocol with the strict version word `0x8001`.
    Binary,
    /// TBinaryProtocol without the version word (old clients, "lax" binary).
    LaxBinary,
    /// TCompactProtocol (protocol id `0x82`, version 1).
    Compact,
}

/// The type of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A request that expects a reply.
    Call,
    /// A normal reply.
    Reply,
    /// A `TApplicationException` reply.
    Exception,
    /// A request that expects no reply.
    Oneway,
}

impl MessageType {
    fn from_wire(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            1 => Ok(MessageType::Call),
            2 => Ok(MessageType::Reply),
            3 => Ok(MessageType::Exception),
            4 => Ok(MessageType::Oneway),
            other => Err(invalid(format!("unknown message type {other}"))),
        }
    }

    fn to_wire(self) -> u8 {
        match self {
            MessageType::Call => 1,
            MessageType::Reply => 2,
            MessageType::Exception => 3,
            MessageType::Oneway => 4,
        }
    }
}

/// A decoded message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// How the message is encoded.
    pub encoding: Encoding,
    /// The message name: the method, or `Service:method` when multiplexed.
    pub name: String,
    /// Call, reply, exception or oneway.
    pub kind: MessageType,
    /// The sequence id; replies carry the call's.
    pub seqid: i32,
    /// How many bytes the header takes; the body (a struct) follows.
    pub len: usize,
}

const BINARY_VERSION: [u8; 2] = [0x80, 0x01];
const COMPACT_ID: u8 = 0x82;
const COMPACT_VERSION: u8 = 1;

/// Tells the encoding from the first bytes of a message.
///
/// Lax binary starts with a positive name length, which cannot be told from
/// other data reliably; it is recognised only when `hint` says so.
///
/// # Errors
/// `Incomplete` on an empty buffer; `Invalid` when the bytes start no known encoding.
pub fn detect(buf: &[u8], hint: Option<Encoding>) -> Result<Encoding, DecodeError> {
    match (buf.first(), buf.get(1)) {
        (None, _) => Err(DecodeError::Incomplete),
        (Some(&COMPACT_ID), _) => Ok(Encoding::Compact),
        (Some(&0x80), None) => Err(DecodeError::Incomplete),
        (Some(&0x80), Some(&0x01)) => Ok(Encoding::Binary),
        _ if hint == Some(Encoding::LaxBinary) => Ok(Encoding::LaxBinary),
        (Some(first), second) => Err(invalid(format!(
            "bytes 0x{first:02x}{} start no known protocol (binary 0x8001, compact 0x82)",
            second.map(|b| format!("{b:02x}")).unwrap_or_default()
        ))),
    }
}

/// Parses the header at the start of `buf`.
///
/// # Errors
/// `Incomplete` when `buf` ends inside the header; `TooLarge` when the name
/// length exceeds the limit; `Invalid` for a bad version, type or name.
pub fn parse(
    buf: &[u8],
    hint: Option<Encoding>,
    limits: Limits,
) -> Result<MessageHeader, DecodeError> {
    let mut cur = Cursor { buf, pos: 0 };
    match detect(buf, hint)? {
        Encoding::Binary => {
            let word = cur.take(4)?;
            let kind = MessageType::from_wire(word[3])?;
            let name = cur.binary_name(limits)?;
            let seqid = cur.i32_be()?;
            Ok(header(Encoding::Binary, name, kind, seqid, cur.pos))
        }
        Encoding::LaxBinary => {
            let name = cur.binary_name(limits)?;
            let kind = MessageType::from_wire(cur.u8()?)?;
            let seqid = cur.i32_be()?;
            Ok(header(Encoding::LaxBinary, name, kind, seqid, cur.pos))
        }
        Encoding::Compact => {
            cur.u8()?;
            let version_and_type = cur.u8()?;
            if version_and_type & 0x1f != COMPACT_VERSION {
                return Err(invalid(format!(
                    "compact protocol version {} (expected {COMPACT_VERSION})",
                    version_and_type & 0x1f
                )));
            }
            let kind = MessageType::from_wire(version_and_type >> 5)?;
            // Compact writes the seqid as an unsigned varint of the i32's bits.
            let seqid = cur.varint()? as u32 as i32;
            let len = usize::try_from(cur.varint()?).unwrap_or(usize::MAX);
            let name = cur.name(len, limits)?;
            Ok(header(Encoding::Compact, name, kind, seqid, cur.pos))
        }
    }
}

fn header(
    encoding: Encoding,
    name: String,
    kind: MessageType,
    seqid: i32,
    len: usize,
) -> MessageHeader {
    MessageHeader {
        encoding,
        name,
        kind,
        seqid,
        len,
    }
}

/// Appends the header for `(encoding, name, kind, seqid)` to `out`.
pub fn encode(encoding: Encoding, name: &str, kind: MessageType, seqid: i32, out: &mut BytesMut) {
    let name_len = name.len();
    match encoding {
        Encoding::Binary => {
            out.put_slice(&BINARY_VERSION);
            out.put_u8(0);
            out.put_u8(kind.to_wire());
            out.put_i32(name_len as i32);
            out.put_slice(name.as_bytes());
            out.put_i32(seqid);
        }
        Encoding::LaxBinary => {
            out.put_i32(name_len as i32);
            out.put_slice(name.as_bytes());
            out.put_u8(kind.to_wire());
            out.put_i32(seqid);
        }
        Encoding::Compact => {
            out.put_u8(COMPACT_ID);
            out.put_u8((kind.to_wire() << 5) | COMPACT_VERSION);
            put_varint(out, u64::from(seqid as u32));
            put_varint(out, name_len as u64);
            out.put_slice(name.as_bytes());
        }
    }
}

fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

impl Cursor<'_> {
    fn binary_name(&mut self, limits: Limits) -> Result<String, DecodeError> {
        let len = self.i32_be()?;
        let len = usize::try_from(len)
            .map_err(|_| invalid(format!("negative message name length {len}")))?;
        self.name(len, limits)
    }

    fn name(&mut self, len: usize, limits: Limits) -> Result<String, DecodeError> {
        DecodeError::check_size(Protocol::Thrift, len, limits)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| invalid("message name is not valid UTF-8".to_owned()))
    }
}
