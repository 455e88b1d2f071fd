//! A memory budget shared by every connection a server reads, so that no
//! number of peers can make it buffer more than a set total.
//!
//! Each connection's read buffer holds the request still arriving: as much
//! as a frame announces (the Thrift and Dubbo codecs reserve a declared
//! frame at once) or as the bytes of an unframed one grow, plus what the
//! codec gathers aside (an HTTP body). Every connection's codec is
//! [`Metered`]: after each read it charges that to the shared
//! [`MemoryBudget`].
//!
//! When a charge does not fit, the budget closes the largest offenders
//! first: every other connection holding more than the one asking, largest
//! first, until the charge fits (their tokens are cancelled and their share
//! is taken back at once; a closed connection is closed without an answer,
//! and every charge it makes after is refused as [`Refused::Evicted`]).
//! Only when no larger holder is left is the asking connection itself
//! refused: it gets the protocol's overload answer (HTTP 503 with
//! `x-envoy-overloaded`, as Envoy's overload manager sends; Thrift and Dubbo
//! a close). So a peer holding a huge frame open cannot starve small
//! requests, and a budget full of equal frames refuses the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

use super::Refusal;
use crate::CodecError;
use crate::http1::{self, Response};

/// 256 MiB: sixteen requests at the 16 MiB frame limit at once.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;

/// Bytes every connection's buffers may hold together.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    holders: Mutex<Holders>,
}

#[derive(Debug, Default)]
struct Holders {
    held: usize,
    next: u64,
    /// Every registered connection's share, and the token that closes it.
    shares: HashMap<u64, Share>,
    evicted: u64,
}

#[derive(Debug)]
struct Share {
    bytes: usize,
    close: CancellationToken,
}

/// Why a charge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Nothing larger could be closed to make room.
    Full,
    /// This holder was itself closed to make room for another.
    Evicted,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            limit,
            holders: Mutex::new(Holders::default()),
        }
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The bytes held now.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    /// How many connections have been closed to make room for others.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }

    fn lock(&self) -> MutexGuard<'_, Holders> {
        self.holders.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new holder of nothing, whose `close` is cancelled if the budget
    /// closes it to make room for others.
    pub fn holding(self: &Arc<Self>, close: CancellationToken) -> Holding {
        Holding {
            id: self.register(close.clone()),
            budget: Arc::clone(self),
            bytes: 0,
            close,
        }
    }

    fn register(&self, close: CancellationToken) -> u64 {
        let mut holders = self.lock();
        holders.next += 1;
        let id = holders.next;
        holders.shares.insert(id, Share { bytes: 0, close });
        id
    }

    fn release(&self, id: u64) {
        let mut holders = self.lock();
        if let Some(share) = holders.shares.remove(&id) {
            holders.held -= share.bytes;
        }
    }

    /// Sets holder `id`'s share to `bytes`, closing larger holders when it
    /// does not fit.
    fn resize(&self, id: u64, bytes: usize) -> Result<(), Refused> {
        let mut holders = self.lock();
        let Some(had) = holders.shares.get(&id).map(|s| s.bytes) else {
            return Err(Refused::Evicted);
        };
        while holders.held - had + bytes > self.limit {
            let largest = holders
                .shares
                .iter()
                .filter(|(other, share)| **other != id && share.bytes > bytes)
                .max_by_key(|(_, share)| share.bytes)
                .map(|(other, _)| *other);
            let Some(victim) = largest.and_then(|v| holders.shares.remove(&v)) else {
                return Err(Refused::Full);
            };
            holders.held -= victim.bytes;
            holders.evicted += 1;
            victim.close.cancel();
        }
        holders.held = holders.held - had + bytes;
        if let Some(share) = holders.shares.get_mut(&id) {
            share.bytes = bytes;
        }
        Ok(())
    }
}

/// One holder's share of a budget, given back when dropped.
#[derive(Debug)]
pub struct Holding {
    budget: Arc<MemoryBudget>,
    id: u64,
    bytes: usize,
    /// Cancelled when the budget closed this holder to make room.
    close: CancellationToken,
}

impl Holding {
    /// Holds `bytes` from now on (more or less than before).
    ///
    /// # Errors
    /// When they do not fit even after closing every larger holder, or
    /// when this holder was itself closed to make room.
    pub fn set(&mut self, bytes: usize) -> Result<(), Refused> {
        // An evicted holder's share is gone: even an unchanged charge fails.
        if self.close.is_cancelled() {
            return Err(Refused::Evicted);
        }
        if bytes == self.bytes {
            return Ok(());
        }
        self.budget.resize(self.id, bytes)?;
        self.bytes = bytes;
        Ok(())
    }

    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The budget's limit.
    pub fn limit(&self) -> usize {
        self.budget.limit
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.budget.release(self.id);
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Full => "the memory budget is spent",
            Refused::Evicted => "closed to make room in the memory budget for smaller requests",
        })
    }
}

/// A connection's codec, charging its buffers to the budget.
#[derive(Debug)]
pub struct Metered<C> {
    inner: C,
    holding: Holding,
    /// Set once the budget refused this connection.
    overloaded: bool,
}

impl<C> Metered<C> {
    /// `inner`, charging `budget`; `close` is cancelled if the budget
    /// closes this connection to make room for others.
    pub fn new(inner: C, budget: &Arc<MemoryBudget>, close: CancellationToken) -> Self {
        Metered {
            inner,
            holding: budget.holding(close),
            overloaded: false,
        }
    }

    /// Whether the budget refused this connection (not when it closed it
    /// to make room for others: that one gets no answer).
    pub fn overloaded(&self) -> bool {
        self.overloaded
    }

    /// Charges the read buffer's capacity and what the codec holds aside
    /// now; the error when it does not fit (`OutOfMemory`) or when this
    /// connection was closed to make room (`ConnectionAborted`).
    fn charge(&mut self, buffer: &BytesMut) -> Result<(), CodecError>
    where
        C: Buffered,
    {
        let capacity = buffer.capacity() + self.inner.buffered();
        self.holding.set(capacity).map_err(|refused| {
            let limit = self.holding.limit();
            let error = match refused {
                Refused::Full => {
                    self.overloaded = true;
                    std::io::Error::new(
                        std::io::ErrorKind::OutOfMemory,
                        format!(
                            "a {capacity}-byte read buffer does not fit the {limit}-byte memory budget"
                        ),
                    )
                }
                Refused::Evicted => {
                    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, refused.to_string())
                }
            };
            CodecError::Io(error)
        })
    }
}

/// What a codec holds outside the read buffer: an HTTP body being
/// gathered; Thrift and Dubbo keep a frame in the read buffer itself.
pub trait Buffered {
    /// Those bytes.
    fn buffered(&self) -> usize;
}

impl Buffered for http1::ServerCodec {
    fn buffered(&self) -> usize {
        http1::ServerCodec::buffered(self)
    }
}

impl Buffered for crate::thrift::ThriftCodec {
    fn buffered(&self) -> usize {
        0
    }
}

impl Buffered for crate::dubbo::DubboCodec {
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

    /// The codec's own end-of-stream rules (a Dubbo frame cut short is
    /// named as such), charged like any read.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<C::Item>, CodecError> {
        let decoded = self.inner.decode_eof(src);
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
        let mut response = Response::new(503, "the memory budget is spent\n".to_owned());
        response.headers.append("x-envoy-overloaded", "true");
        response.headers.append("connection", "close");
        Some(response)
    }
}

/// Thrift closes, as its codec does.
impl<R> Refusal<R> for Metered<crate::thrift::ThriftCodec> {
    fn refusal(&self) -> Option<R> {
        None
    }
}

/// Dubbo closes, as its codec does.
impl<R> Refusal<R> for Metered<crate::dubbo::DubboCodec> {
    fn refusal(&self) -> Option<R> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(budget: &MemoryBudget) -> (u64, CancellationToken) {
        let close = CancellationToken::new();
        (budget.register(close.clone()), close)
    }

    #[test]
    fn holders_share_the_budget_and_give_it_back() {
        let budget = MemoryBudget::new(100);
        let (a, _) = holder(&budget);
        let (b, _) = holder(&budget);
        assert_eq!(budget.resize(a, 60), Ok(()));
        assert_eq!(
            budget.resize(b, 60),
            Err(Refused::Full),
            "equal, not larger"
        );
        assert_eq!(budget.held(), 60);
        assert_eq!(budget.resize(a, 10), Ok(()));
        assert_eq!(budget.resize(b, 90), Ok(()));
        assert_eq!(budget.held(), 100);
        budget.release(a);
        budget.release(b);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn a_small_request_closes_the_largest_holders_first() {
        let budget = MemoryBudget::new(100);
        let (big, big_closed) = holder(&budget);
        let (middle, middle_closed) = holder(&budget);
        let (small, _) = holder(&budget);
        assert_eq!(budget.resize(big, 60), Ok(()));
        assert_eq!(budget.resize(middle, 35), Ok(()));
        assert_eq!(budget.resize(small, 20), Ok(()), "room made");
        assert!(big_closed.is_cancelled(), "the largest is closed");
        assert!(!middle_closed.is_cancelled(), "one eviction was enough");
        assert_eq!((budget.held(), budget.evicted()), (55, 1));
        assert_eq!(budget.resize(big, 1), Err(Refused::Evicted));
        budget.release(big);
        assert_eq!(budget.held(), 55, "an evicted share is not returned twice");
    }

    #[test]
    fn a_connection_past_the_budget_is_refused_and_its_share_returned() {
        let budget = Arc::new(MemoryBudget::new(64 * 1024));
        let close = CancellationToken::new();
        let mut small = Metered::new(http1::ServerCodec::default(), &budget, close.clone());
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(small.decode(&mut buf).expect("fits").is_some());
        let mut big = Metered::new(http1::ServerCodec::default(), &budget, close);
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

    #[test]
    fn an_evicted_connection_is_aborted_without_an_answer() {
        let budget = Arc::new(MemoryBudget::new(64 * 1024));
        let big_closed = CancellationToken::new();
        let mut big = Metered::new(http1::ServerCodec::default(), &budget, big_closed.clone());
        let mut held = BytesMut::from(&b"PUT / HTTP/1.1\r\ncontent-length: 40000\r\n\r\n"[..]);
        assert!(
            big.decode(&mut held).expect("fits").is_none(),
            "body pending"
        );
        let mut small = Metered::new(
            http1::ServerCodec::default(),
            &budget,
            CancellationToken::new(),
        );
        let mut room = BytesMut::with_capacity(32 * 1024);
        room.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert!(small.decode(&mut room).expect("room made").is_some());
        assert!(big_closed.is_cancelled(), "the larger holder is closed");
        let Err(CodecError::Io(error)) = big.decode(&mut held) else {
            panic!("an evicted connection reads nothing more");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionAborted);
        assert!(!big.overloaded(), "evicted, not refused");
        assert!(big.refusal().is_none(), "closed without an answer");
    }

    #[test]
    fn an_evicted_holder_cannot_keep_even_its_old_charge() {
        let budget = Arc::new(MemoryBudget::new(100));
        let close = CancellationToken::new();
        let mut holding = budget.holding(close.clone());
        assert_eq!(holding.set(0), Ok(()));
        close.cancel();
        assert_eq!(holding.set(0), Err(Refused::Evicted));
    }
}
