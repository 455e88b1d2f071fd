//! HTTP/1.1 messages on a byte stream: heads parsed with `httparse`, bodies
//! framed by content-length or chunked transfer coding, keep-alive decided
//! per message.
//!
//! Messages are decoded whole (head and body): the fleet, the clients and the
//! reference proxy all route and answer on complete messages, and the size
//! limit bounds what one message may buffer. Encoding always writes a
//! `content-length` body.
//!
//! Two codecs: [`ServerCodec`] decodes requests and encodes responses,
//! [`ClientCodec`] encodes requests and decodes responses (it remembers the
//! methods sent, since a reply to `HEAD` has no body).

mod body;
pub mod codec;
pub mod message;

pub use codec::{ClientCodec, ServerCodec};
pub use message::{Headers, Request, Response};

#[cfg(test)]
mod tests;
