//! One Thrift message as it travels: the transport it came on, its decoded
//! header and its bytes (header + body, without any frame prefix).

use bytes::{Bytes, BytesMut};

use super::header::{self, Encoding, MessageHeader, MessageType};
use crate::{DecodeError, Limits};

/// How messages are delimited on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Transport {
    /// TFramedTransport: a 4-byte big-endian length before each message.
    Framed,
    /// TBufferedTransport (or a bare socket): messages back to back.
    Unframed,
}

/// A Thrift message: header decoded, body kept as the original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The transport the message came on, and that its reply must use.
    pub transport: Transport,
    /// The decoded header.
    pub header: MessageHeader,
    /// The whole message: header then body, without the frame prefix.
    pub bytes: Bytes,
}

impl Message {
    /// Builds a message from a header and the encoded body struct.
    pub fn new(
        transport: Transport,
        encoding: Encoding,
        name: &str,
        kind: MessageType,
        seqid: i32,
        body: &[u8],
    ) -> Message {
        let mut bytes = BytesMut::with_capacity(name.len() + 16 + body.len());
        header::encode(encoding, name, kind, seqid, &mut bytes);
        let len = bytes.len();
        bytes.extend_from_slice(body);
        Message {
            transport,
            header: MessageHeader {
                encoding,
                name: name.to_owned(),
                kind,
                seqid,
                len,
            },
            bytes: bytes.freeze(),
        }
    }

    /// Parses a whole message held in `bytes` (header then body).
    ///
    /// # Errors
    /// Any error of the header.
    pub fn parse(
        transport: Transport,
        bytes: Bytes,
        hint: Option<Encoding>,
        limits: Limits,
    ) -> Result<Message, DecodeError> {
        let header = header::parse(&bytes, hint, limits)?;
        Ok(Message {
            transport,
            header,
            bytes,
        })
    }

    /// The body: the struct after the header, untouched.
    pub fn body(&self) -> &[u8] {
        self.bytes.get(self.header.len..).unwrap_or_default()
    }

    /// The method name, without a multiplexing service prefix.
    pub fn method(&self) -> &str {
        match self.header.name.split_once(':') {
            Some((_, method)) => method,
            None => &self.header.name,
        }
    }

    /// The multiplexed service name (`Service` in `Service:method`), if any.
    pub fn service(&self) -> Option<&str> {
        self.header.name.split_once(':').map(|(service, _)| service)
    }

    /// The same message with another seqid, as a proxy sends it upstream.
    ///
    /// Binary headers keep their length, compact ones may not (the seqid is a
    /// varint), so the header is re-encoded and the body copied behind it.
    pub fn with_seqid(&self, seqid: i32) -> Message {
        let header = &self.header;
        Message::new(
            self.transport,
            header.encoding,
            &header.name,
            header.kind,
            seqid,
            self.body(),
        )
    }
}
