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
//! - [`serve_streams`]: the answering side of an HTTP/2 connection, a
//!   task per stream.
//! - [`idle`]: idle timeouts for spliced byte streams.
//! - [`MemoryBudget`]: what every served connection may buffer together;
//!   a [`Metered`] codec charges its buffers to it.

mod budget;
pub mod idle;
mod lockstep;
mod pipeline;
mod serve;
mod streams;

pub use budget::{Buffered, DEFAULT_MEMORY_BUDGET, Holding, MemoryBudget, Metered, Refused};
pub use lockstep::Lockstep;
pub use pipeline::{Matching, MuxError, Pipeline};
pub use serve::{Answer, Ended, MAX_IN_FLIGHT, Order, Refusal, serve};
pub use streams::{BodyRefusal, read_body, serve_streams};
