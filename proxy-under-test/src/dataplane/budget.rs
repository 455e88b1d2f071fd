//! The proxy-wide memory budget for what downstream connections buffer.
//!
//! Each connection's read buffer holds the request still arriving: as much
//! as a frame announces (the Thrift and Dubbo codecs reserve a declared
//! frame at once) or as the bytes of an unframed one grow. Every
//! connection's codec is [`Metered`]: after each read it charges the
//! buffer's capacity to the shared [`Budget`]. A connection whose buffer
//! would take the total past the budget gets the protocol's overload answer
//! (HTTP 503 with `x-envoy-overloaded`, as Envoy's overload manager sends;
//! Thrift and Dubbo a close) and is closed, which frees its buffer: the
//! connection asking for the most at that moment is the one refused.
//! Counted in `meshproxy_downstream_overload_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use meshbench_wire::CodecError;
use meshbench_wire::http1::{self, Response};
use meshbench_wire::mux::Refusal;
use tokio_util::codec::{Decoder, Encoder};

/// 256 MiB: sixteen requests at the 16 MiB frame limit at once.
pub const DEFAULT_BUDGET: usize = 256 * 1024 * 1024;

/// Bytes every connection's buffer may hold together.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    held: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Budget {
            limit,
            held: AtomicUsize::new(0),
        }
    }

    /// The bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Moves one holder from `from` to `to` bytes; false (and nothing
    /// moved) when growing would pass the limit.
    fn resize(&self, from: usize, to: usize) -> bool {
        if to <= from {
            self.held.fetch_sub(from - to, Ordering::Relaxed);
            return true;
        }
        let more = to - from;
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held + more <= self.limit).then_some(held + more)
            })
            .is_ok()
    }
}

/// A connection's codec, charging its read buffer to the budget.
#[derive(Debug)]
pub(crate) struct Metered<C> {
    inner: C,
    budget: Arc<Budget>,
    /// What this connection holds of the budget.
    charged: usize,
    /// Set once the budget refused this connection.
    overloaded: bool,
}

impl<C> Metered<C> {
    pub(crate) fn new(inner: C, budget: Arc<Budget>) -> Self {
        Metered {
            inner,
            budget,
            charged: 0,
            overloaded: false,
        }
    }

    /// Whether the budget refused this connection.
    #[cfg(test)]
    pub(crate) fn overloaded(&self) -> bool {
        self.overloaded
    }

    /// Charges the read buffer's capacity and what the codec holds aside
    /// now; the error when it does not fit.
    fn charge(&mut self, buffer: &BytesMut) -> Result<(), CodecError>
    where
        C: Buffered,
    {
        let capacity = buffer.capacity() + self.inner.buffered();
        // Most reads leave the buffer as it was: no shared write then.
        if capacity == self.charged {
            return Ok(());
        }
        if self.budget.resize(self.charged, capacity) {
            self.charged = capacity;
            return Ok(());
        }
        self.overloaded = true;
        Err(CodecError::Io(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!(
                "a {capacity}-byte read buffer does not fit the {}-byte memory budget",
                self.budget.limit
            ),
        )))
    }
}

impl<C> Drop for Metered<C> {
    fn drop(&mut self) {
        self.budget.resize(self.charged, 0);
    }
}

/// What a codec holds outside the read buffer: an HTTP body being
/// gathered; Thrift and Dubbo keep a frame in the read buffer itself.
pub(crate) trait Buffered {
    fn buffered(&self) -> usize;
}

impl Buffered for http1::ServerCodec {
    fn buffered(&self) -> usize {
        http1::ServerCodec::buffered(self)
    }
}

impl Buffered for meshbench_wire::thrift::ThriftCodec {
    fn buffered(&self) -> usize {
        0
    }
}

impl Buffered for meshbench_wire::dubbo::DubboCodec {
    fn buffered(&self) -> usize {
        0
    }
}

impl<C: Decoder<Error = CodecError> + Buffered> Decoder for Metered<C> {
    type Item = C::Item;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<C::Item>, CodecError> {
        let decoded = self.inner.decode(src);
        self.charge(src)?;
        decoded
    }
}

impl<C: Encoder<R, Error = CodecError>, R> Encoder<R> for Metered<C> {
    type Error = CodecError;

    fn encode(&mut self, item: R, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.inner.encode(item, dst)
    }
}

/// HTTP says 503 `x-envoy-overloaded` when the budget refused the
/// connection, else what the codec says.
impl Refusal<Response> for Metered<http1::ServerCodec> {
    fn refusal(&self) -> Option<Response> {
        if !self.overloaded {
            return self.inner.refusal();
        }
        let mut response = Response::new(503, "the proxy's memory budget is spent\n".to_owned());
        response.headers.append("x-envoy-overloaded", "true");
        response.headers.append("connection", "close");
        Some(response)
    }
}

/// Thrift closes, as its codec does.
impl<R> Refusal<R> for Metered<meshbench_wire::thrift::ThriftCodec> {
    fn refusal(&self) -> Option<R> {
        None
    }
}

/// Dubbo closes, as its codec does.
impl<R> Refusal<R> for Metered<meshbench_wire::dubbo::DubboCodec> {
    fn refusal(&self) -> Option<R> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_share_the_budget_and_give_it_back() {
        let budget = Budget::new(100);
        assert!(budget.resize(0, 60));
        assert!(!budget.resize(0, 50), "past the limit");
        assert_eq!(budget.held(), 60);
        assert!(budget.resize(60, 10));
        assert!(budget.resize(0, 90));
        assert_eq!(budget.held(), 100);
        assert!(budget.resize(90, 0) && budget.resize(10, 0));
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn a_connection_past_the_budget_is_refused_and_its_share_returned() {
        let budget = Arc::new(Budget::new(64 * 1024));
        let mut small = Metered::new(http1::ServerCodec::default(), Arc::clone(&budget));
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(small.decode(&mut buf).expect("fits").is_some());
        let mut big = Metered::new(http1::ServerCodec::default(), Arc::clone(&budget));
        let mut held = BytesMut::with_capacity(128 * 1024);
        held.extend_from_slice(b"PUT / HTTP/1.1\r\ncontent-length: 100000\r\n\r\n");
        assert!(big.decode(&mut held).is_err(), "over the budget");
        assert!(big.overloaded());
        let refusal = big.refusal().expect("an answer");
        assert_eq!(refusal.status, 503);
        assert_eq!(refusal.headers.get("x-envoy-overloaded"), Some("true"));
        assert!(small.refusal().is_none());
        drop(small);
        drop(big);
        assert_eq!(budget.held(), 0, "every share returned");
    }
}
