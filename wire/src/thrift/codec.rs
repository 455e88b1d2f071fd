//! Thrift messages on a byte stream, as a `tokio_util` codec.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::header::{self, Encoding};
use super::message::{Message, Transport};
use super::skip;
use crate::{CodecError, DecodeError, Limits, Protocol};

/// Which transport the codec expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// Detect from the first message, then hold it for the connection (as
    /// Envoy's and Aeraki's "auto" transport does).
    Auto,
    /// Detect each message's transport on its own, so that a connection may
    /// carry both (a proxy sharing one upstream connection among clients).
    EachMessage,
    /// Only this transport.
    Fixed(Transport),
}

/// Frames Thrift messages: decodes [`Message`]s and encodes them with the
/// transport each message names.
#[derive(Debug, Clone)]
pub struct ThriftCodec {
    detected: Option<Transport>,
    each_message: bool,
    hint: Option<Encoding>,
    limits: Limits,
    /// The unframed message being walked, kept across reads so that a
    /// message arriving in pieces is walked once.
    walk: Option<skip::Walk>,
}

impl ThriftCodec {
    /// A codec for `mode` with the default size limit.
    pub fn new(mode: TransportMode) -> Self {
        ThriftCodec {
            detected: match mode {
                TransportMode::Auto | TransportMode::EachMessage => None,
                TransportMode::Fixed(transport) => Some(transport),
            },
            each_message: mode == TransportMode::EachMessage,
            hint: None,
            limits: Limits::default(),
            walk: None,
        }
    }

    /// Sets the size limit.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Accepts lax (versionless) binary messages, which cannot be auto-detected.
    pub fn with_encoding_hint(mut self, encoding: Encoding) -> Self {
        self.hint = Some(encoding);
        self
    }

    /// The transport in use, once known.
    pub fn transport(&self) -> Option<Transport> {
        self.detected
    }

    fn decode_framed(&self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        let Some(prefix) = src.get(..4) else {
            return Ok(None);
        };
        let size = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        DecodeError::check_size(Protocol::Thrift, size, self.limits)?;
        if src.len() < 4 + size {
            src.reserve(4 + size - src.len());
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(size).freeze();
        let message = Message::parse(Transport::Framed, frame, self.hint, self.limits).map_err(
            |e| match e {
                DecodeError::Incomplete => invalid("frame ends inside the message header"),
                other => other,
            },
        )?;
        Ok(Some(message))
    }

    fn decode_unframed(&mut self, src: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        let walk = match &mut self.walk {
            Some(walk) => walk,
            None => match header::parse(src, self.hint, self.limits) {
                Ok(header) => self
                    .walk
                    .insert(skip::Walk::new(header.encoding, header.len)),
                Err(DecodeError::Incomplete) => return self.wait(src),
                Err(other) => return Err(other),
            },
        };
        match walk.resume(src, self.limits) {
            Ok(end) => {
                self.walk = None;
                let bytes = src.split_to(end).freeze();
                Message::parse(Transport::Unframed, bytes, self.hint, self.limits).map(Some)
            }
            Err(DecodeError::Incomplete) => self.wait(src),
            Err(other) => Err(other),
        }
    }

    /// More bytes are needed: fine while what is buffered fits the limit.
    fn wait(&self, src: &BytesMut) -> Result<Option<Message>, DecodeError> {
        DecodeError::check_size(Protocol::Thrift, src.len(), self.limits)?;
        Ok(None)
    }
}

/// Framed if a protocol header follows a 4-byte length, unframed if one
/// starts the stream. A frame length's first byte is 0x80 or 0x82 only for
/// frames over 2 GiB, which no limit allows, so the two cannot be confused.
fn detect_transport(src: &[u8], hint: Option<Encoding>) -> Result<Option<Transport>, DecodeError> {
    let unframed = match header::detect(src, None) {
        Ok(_) => return Ok(Some(Transport::Unframed)),
        Err(DecodeError::Incomplete) => return Ok(None),
        Err(e) => e,
    };
    let Some(rest) = src.get(4..) else {
        return Ok(None);
    };
    match header::detect(rest, None) {
        Ok(_) => Ok(Some(Transport::Framed)),
        Err(DecodeError::Incomplete) => Ok(None),
        Err(_) if hint == Some(Encoding::LaxBinary) => Ok(Some(Transport::Unframed)),
        Err(_) => Err(unframed),
    }
}

fn invalid(reason: &str) -> DecodeError {
    DecodeError::invalid(Protocol::Thrift, reason)
}

impl Decoder for ThriftCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        let transport = match self.detected {
            Some(transport) if !self.each_message => transport,
            _ => match detect_transport(src, self.hint)? {
                Some(transport) => *self.detected.insert(transport),
                None => return Ok(None),
            },
        };
        let message = match transport {
            Transport::Framed => self.decode_framed(src)?,
            Transport::Unframed => self.decode_unframed(src)?,
        };
        Ok(message)
    }
}

impl Encoder<Message> for ThriftCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_into(&message, dst);
        Ok(())
    }
}

impl Encoder<&Message> for ThriftCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_into(message, dst);
        Ok(())
    }
}

fn encode_into(message: &Message, dst: &mut BytesMut) {
    dst.reserve(message.bytes.len() + 4);
    if message.transport == Transport::Framed {
        dst.put_u32(message.bytes.len() as u32);
    }
    dst.put_slice(&message.bytes);
}
