//! Protocol codecs shared by the meshbench fleet, its clients and the reference
//! proxy. Each codec frames messages on a byte stream and exposes what routing
//! needs (names, ids, attributes) without decoding whole payloads.
//!
//! It depends on no other meshbench crate. Its only socket I/O is [`mux`]:
//! the connection loops (calling and answering, HTTP/2 included) every side
//! shares, and the memory budget of the answering side.
//!
//! # Layout
//! - [`decode`]: the shared error type (`Incomplete` kept apart from `Invalid`) and size limits.
//! - [`thrift`]: Apache Thrift binary and compact protocols over framed and unframed transports.
//! - [`dubbo`]: the Dubbo2 frame header and its hessian2 request/response bodies.
//! - [`http1`]: HTTP/1.1 message heads (httparse) and body framing (content-length, chunked).
//! - [`grpc`]: gRPC and Triple messages, status codes and the routing view of a call (no I/O: HTTP/2 is the `h2` crate's, served in [`mux`]).
//! - [`attributes`]: the routing view of a request for each protocol.
//! - [`mux`]: many requests on one connection, matched by id or in order.
#![deny(missing_docs)]

mod arena;
pub mod attributes;
pub mod decode;
pub mod dubbo;
pub mod grpc;
pub mod http1;
pub mod mux;
pub mod thrift;

pub use decode::{CodecError, DecodeError, Limits, Protocol};
