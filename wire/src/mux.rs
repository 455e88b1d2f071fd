//! Connections that carry many messages, shared by the fleet, the clients and
//! the proxy: the only socket I/O in this crate.
//!
//! - [`Pipeline`]: the calling side. A task owns the connection, writes what
//!   callers hand it and routes each answer to its caller, by id (Thrift
//!   seqid, Dubbo request id) or in order (HTTP/1.1). When the connection
//!   ends, every caller still waiting is told why: no call is left hanging.
//! - [`Lockstep`]: the calling side of a connection carrying one exchange at
//!   a time (HTTP/1.1), driven from the caller's task, with no task between.
//! - [`serve`]: the answering side. It decodes requests, runs a handler on
//!   each, and writes the answers as each completes or in arrival order.

mod lockstep;
mod pipeline;
mod serve;

pub use lockstep::Lockstep;
pub use pipeline::{Matching, MuxError, Pipeline};
pub use serve::{Answer, Ended, MAX_IN_FLIGHT, Order, Refusal, serve};
