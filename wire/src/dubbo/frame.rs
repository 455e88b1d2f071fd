//! The Dubbo2 frame: a 16-byte header and a length-delimited body, and the
//! `tokio_util` codec that cuts a byte stream into frames.
//!
//! ```text
//! 0      2       3        4                 12           16
//! | dabb | flags | status | request id (BE) | body length | body ...
//! flags: 0x80 request, 0x40 two-way, 0x20 event, low 5 bits serialization (2 = hessian2)
//! ```
//!
//! The body is kept as the original bytes ([`bytes::Bytes`], cut from the
//! read buffer without copying), so a proxy can forward it untouched.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{CodecError, DecodeError, Limits, Protocol};

/// The two bytes every Dubbo2 frame starts with.
pub const MAGIC: u16 = 0xdabb;
/// The header's size in bytes.
pub const HEADER_LEN: usize = 16;
/// The serialization id of hessian2, the only one this crate decodes.
pub const HESSIAN2: u8 = 2;

const FLAG_REQUEST: u8 = 0x80;
const FLAG_TWO_WAY: u8 = 0x40;
const FLAG_EVENT: u8 = 0x20;
const SERIALIZATION_MASK: u8 = 0x1f;
/// The body of a heartbeat, request or response: a hessian2 null.
const HEARTBEAT_BODY: &[u8] = b"N";

/// The status byte of a response (a request carries 0, kept as `Other(0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 20: the call ran; the body is a [`Response`](super::Response).
    Ok,
    /// 30: the client gave up waiting.
    ClientTimeout,
    /// 31: the server gave up waiting.
    ServerTimeout,
    /// 40: the request could not be decoded.
    BadRequest,
    /// 50: the response could not be encoded or decoded.
    BadResponse,
    /// 60: no such service (also what Aeraki answers when no route matches).
    ServiceNotFound,
    /// 70: the service failed.
    ServiceError,
    /// 80: the server failed.
    ServerError,
    /// 90: the client failed.
    ClientError,
    /// 100: the server's thread pool is exhausted.
    ThreadpoolExhausted,
    /// Any other byte, kept so that it can be forwarded unchanged.
    Other(u8),
}

impl From<u8> for Status {
    fn from(byte: u8) -> Self {
        match byte {
            20 => Status::Ok,
            30 => Status::ClientTimeout,
            31 => Status::ServerTimeout,
            40 => Status::BadRequest,
            50 => Status::BadResponse,
            60 => Status::ServiceNotFound,
            70 => Status::ServiceError,
            80 => Status::ServerError,
            90 => Status::ClientError,
            100 => Status::ThreadpoolExhausted,
            other => Status::Other(other),
        }
    }
}

impl From<Status> for u8 {
    fn from(status: Status) -> u8 {
        match status {
            Status::Ok => 20,
            Status::ClientTimeout => 30,
            Status::ServerTimeout => 31,
            Status::BadRequest => 40,
            Status::BadResponse => 50,
            Status::ServiceNotFound => 60,
            Status::ServiceError => 70,
            Status::ServerError => 80,
            Status::ClientError => 90,
            Status::ThreadpoolExhausted => 100,
            Status::Other(byte) => byte,
        }
    }
}

/// The frame header, without the body length (the body carries its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// A request (else a response).
    pub request: bool,
    /// A request that expects a response (else one-way).
    pub two_way: bool,
    /// An event: a heartbeat, or another event such as "readonly".
    pub event: bool,
    /// The body's serialization id; [`HESSIAN2`] is the one decoded here.
    pub serialization: u8,
    /// The response status (meaningless in a request).
    pub status: Status,
    /// Matches a response to its request on a multiplexed connection.
    pub request_id: u64,
}

impl Header {
    /// A hessian2 request header.
    pub fn request(request_id: u64, two_way: bool) -> Self {
        Header {
            request: true,
            two_way,
            event: false,
            serialization: HESSIAN2,
            status: Status::Other(0),
            request_id,
        }
    }

    /// A hessian2 response header.
    pub fn response(request_id: u64, status: Status) -> Self {
        Header {
            request: false,
            two_way: false,
            event: false,
            serialization: HESSIAN2,
            status,
            request_id,
        }
    }

    /// The flag byte.
    pub fn flags(&self) -> u8 {
        let bit = |on: bool, flag: u8| if on { flag } else { 0 };
        bit(self.request, FLAG_REQUEST)
            | bit(self.two_way, FLAG_TWO_WAY)
            | bit(self.event, FLAG_EVENT)
            | (self.serialization & SERIALIZATION_MASK)
    }

    /// Parses a header and the body length it announces.
    ///
    /// # Errors
    /// `Incomplete` when `src` is shorter than [`HEADER_LEN`]; `Invalid`
    /// when the magic is wrong.
    pub fn decode(src: &[u8]) -> Result<(Header, u32), DecodeError> {
        check_magic(src)?;
        let head: &[u8; HEADER_LEN] = src
            .get(..HEADER_LEN)
            .and_then(|head| head.try_into().ok())
            .ok_or(DecodeError::Incomplete)?;
        let [_, _, flags, status, id @ .., l0, l1, l2, l3] = *head;
        let header = Header {
            request: flags & FLAG_REQUEST != 0,
            two_way: flags & FLAG_TWO_WAY != 0,
            event: flags & FLAG_EVENT != 0,
            serialization: flags & SERIALIZATION_MASK,
            status: Status::from(status),
            request_id: u64::from_be_bytes(id),
        };
        Ok((header, u32::from_be_bytes([l0, l1, l2, l3])))
    }

    /// Writes the 16 header bytes for a body of `body_len` bytes.
    pub fn encode(&self, body_len: u32, dst: &mut BytesMut) {
        dst.reserve(HEADER_LEN);
        dst.put_u16(MAGIC);
        dst.put_u8(self.flags());
        dst.put_u8(self.status.into());
        dst.put_u64(self.request_id);
        dst.put_u32(body_len);
    }
}

/// Checks the magic as soon as two bytes are there, so that a peer speaking
/// another protocol is told so at once.
fn check_magic(src: &[u8]) -> Result<(), DecodeError> {
    match src {
        [a, b, ..] if u16::from_be_bytes([*a, *b]) != MAGIC => Err(DecodeError::invalid(
            Protocol::Dubbo,
            format!("bad magic 0x{a:02x}{b:02x}, expected 0x{MAGIC:04x}"),
        )),
        _ => Ok(()),
    }
}

/// One Dubbo2 message: its header and its undecoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header.
    pub header: Header,
    /// The serialized body, exactly as received.
    pub body: Bytes,
}

impl Frame {
    /// A heartbeat request, which a Dubbo peer answers with
    /// [`Frame::heartbeat_response`] carrying the same id.
    pub fn heartbeat_request(request_id: u64) -> Self {
        let header = Header {
            event: true,
            ..Header::request(request_id, true)
        };
        Frame {
            header,
            body: Bytes::from_static(HEARTBEAT_BODY),
        }
    }

    /// The answer to a heartbeat request.
    pub fn heartbeat_response(request_id: u64) -> Self {
        let header = Header {
            event: true,
            ..Header::response(request_id, Status::Ok)
        };
        Frame {
            header,
            body: Bytes::from_static(HEARTBEAT_BODY),
        }
    }

    /// Whether this is a heartbeat: an event whose body is a hessian2 null,
    /// as Dubbo tells heartbeats from other events.
    pub fn is_heartbeat(&self) -> bool {
        self.header.event && self.body.as_ref() == HEARTBEAT_BODY
    }

    /// The same frame under another request id: what a proxy does when it
    /// multiplexes several downstream connections onto one upstream.
    pub fn with_request_id(mut self, request_id: u64) -> Self {
        self.header.request_id = request_id;
        self
    }

    /// Writes the header and the body.
    ///
    /// # Errors
    /// `TooLarge` when the body does not fit the 32-bit length field.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), DecodeError> {
        let len = self.body.len();
        let body_len = u32::try_from(len).map_err(|_| DecodeError::TooLarge {
            protocol: Protocol::Dubbo,
            size: len,
            max: u32::MAX as usize,
        })?;
        dst.reserve(HEADER_LEN + len);
        self.header.encode(body_len, dst);
        dst.put_slice(&self.body);
        Ok(())
    }
}

/// Cuts a byte stream into [`Frame`]s and writes them back.
#[derive(Debug, Clone, Copy)]
pub struct DubboCodec {
    limits: Limits,
}

impl Default for DubboCodec {
    fn default() -> Self {
        DubboCodec {
            limits: Limits::with_max_frame(DubboCodec::MAX_PAYLOAD),
        }
    }
}

impl DubboCodec {
    /// 8 MiB: Dubbo's own default payload limit (`dubbo.protocol.payload`,
    /// 8388608), which its providers and consumers enforce.
    pub const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

    /// A codec with Dubbo's default size limit, [`Self::MAX_PAYLOAD`].
    pub fn new() -> Self {
        DubboCodec::default()
    }

    /// Sets the size limit, which applies to the body length.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

impl Decoder for DubboCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let (header, body_len) = match Header::decode(src) {
            Ok(parsed) => parsed,
            Err(DecodeError::Incomplete) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let body_len = body_len as usize;
        DecodeError::check_size(Protocol::Dubbo, body_len, self.limits)?;
        let frame_len = HEADER_LEN + body_len;
        if src.len() < frame_len {
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let body = src.split_to(body_len).freeze();
        Ok(Some(Frame { header, body }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if src.is_empty() {
            return Ok(None);
        }
        let have = src.len();
        let reason = match Header::decode(src) {
            Ok((_, body_len)) => format!(
                "stream ends inside a frame body after {} of {body_len} bytes",
                have - HEADER_LEN
            ),
            Err(_) => {
                format!("stream ends inside a frame header after {have} of {HEADER_LEN} bytes")
            }
        };
        Err(DecodeError::invalid(Protocol::Dubbo, reason).into())
    }
}

impl Encoder<Frame> for DubboCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        Encoder::<&Frame>::encode(self, &frame, dst)
    }
}

impl Encoder<&Frame> for DubboCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        DecodeError::check_size(Protocol::Dubbo, frame.body.len(), self.limits)?;
        frame.encode(dst)?;
        Ok(())
    }
}
