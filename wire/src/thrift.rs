//! Apache Thrift framing: the binary (strict and lax) and compact protocols over
//! framed and unframed (buffered) transports, with multiplexed names
//! (`Service:method`).
//!
//! A [`Message`] is a view: its header (name, type, seqid) is decoded, its body
//! is kept as the original bytes so a proxy can pass it through untouched.
//! Finding where an unframed message ends needs a walk over its body by type
//! ([`skip`]); framed messages are length-prefixed.
//!
//! The sample service's structs ([`hello`]) and `TApplicationException` are
//! encoded and decoded with the `thrift` crate, which is synchronous: it runs
//! per message on in-memory buffers, never on a socket.

pub mod codec;
mod cursor;
pub mod header;
pub mod hello;
pub mod message;
pub mod server;
pub mod skip;

pub use codec::{ThriftCodec, TransportMode};
pub use header::{Encoding, MessageHeader, MessageType};
pub use message::{Message, Transport};
pub use server::ServerCodec;

#[cfg(test)]
mod tests;
