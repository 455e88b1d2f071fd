//! The length-prefixed message of a gRPC body: one byte of flags (bit 0:
//! compressed), a four-byte big-endian length, then the protobuf bytes.
//! A unary call carries exactly one message each way.

use bytes::{BufMut, Bytes, BytesMut};

use crate::decode::{DecodeError, Limits, Protocol};

/// The prefix before every message.
pub const PREFIX: usize = 5;

fn invalid(reason: impl Into<String>) -> DecodeError {
    DecodeError::invalid(Protocol::Grpc, reason)
}

/// `message` as one length-prefixed, uncompressed gRPC message.
pub fn encode(message: &impl prost::Message) -> Bytes {
    let length = message.encoded_len();
    let mut out = BytesMut::with_capacity(PREFIX + length);
    out.put_u8(0);
    out.put_u32(u32::try_from(length).unwrap_or(u32::MAX));
    // Encoding into a buffer reserved to the encoded length cannot fail.
    let _ = message.encode(&mut out);
    out.freeze()
}

/// The one message of a unary body, decoded as `M`.
///
/// # Errors
/// `Incomplete` while the prefix or the message is still arriving;
/// `TooLarge` when the declared length passes `limits.max_frame` (checked
/// before the body is awaited); `Invalid` for a compressed message (none
/// was negotiated), bytes after the message, or protobuf that does not
/// decode as `M`.
pub fn decode<M: prost::Message + Default>(body: &[u8], limits: Limits) -> Result<M, DecodeError> {
    let Some(head) = body.get(..PREFIX) else {
        return Err(DecodeError::Incomplete);
    };
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    DecodeError::check_size(Protocol::Grpc, length, limits)?;
    match head[0] {
        0 => {}
        1 => {
            return Err(invalid(
                "compressed message, but no grpc-encoding was agreed",
            ));
        }
        flags => {
            return Err(invalid(format!(
                "message flags {flags:#04x}, expected 0 or 1"
            )));
        }
    }
    let message = &body[PREFIX..];
    if message.len() < length {
        return Err(DecodeError::Incomplete);
    }
    if message.len() > length {
        return Err(invalid(format!(
            "{} bytes after the {length}-byte message of a unary call",
            message.len() - length
        )));
    }
    M::decode(message).map_err(|e| invalid(format!("protobuf: {e}")))
}

/// The length a body's prefix declares, once its five bytes are in, so a
/// reader can refuse an oversized message before buffering it.
pub fn declared(body: &[u8]) -> Option<usize> {
    let head = body.get(..PREFIX)?;
    Some(u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize)
}
