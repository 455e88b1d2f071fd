//! Dubbo2, the classic `dubbo://` protocol: a 16-byte frame header and a
//! hessian2 body.
//!
//! - [`frame`]: the header, [`Frame`] and the `tokio_util` codec [`DubboCodec`].
//! - [`hessian`]: hessian2 values, encoder, decoder and skipper.
//! - [`body`]: [`Request`], [`Response`] and the proxy's cheap view
//!   [`RequestHead`], which skips the arguments to reach the attachments and
//!   can re-encode them without touching the arguments.
//! - [`descriptor`]: counting parameters in a JVM descriptor.
//!
//! No maintained, permissively licensed Rust crate speaks Dubbo2 or hessian2,
//! hence this module; it is cross-checked against hessian.js in `tests/interop`.

pub mod body;
pub mod descriptor;
pub mod frame;
pub mod hessian;

pub use body::{
    Attachments, DUBBO_VERSION, Outcome, Reply, Request, RequestHead, Response, decode_event,
};
pub use frame::{DubboCodec, Frame, HESSIAN2, Header, Status};
pub use hessian::Value;

#[cfg(test)]
mod tests;
