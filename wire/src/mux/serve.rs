//! The answering side of a connection.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tokio_util::sync::CancellationToken;

use super::idle::{Activity, Watched};
use crate::CodecError;

/// What a request handler wants done on the connection.
#[derive(Debug)]
pub enum Answer<R> {
    /// Write this reply.
    Reply(R),
    /// Write this reply, then close (HTTP `connection: close`).
    ReplyThenClose(R),
    /// Write nothing (oneway calls, events needing no answer).
    Nothing,
    /// Close the connection without answering.
    Close,
}

/// Whether a connection's requests are answered in arrival order (HTTP/1.1)
/// or as each completes (Thrift seqids, Dubbo request ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// One at a time, in order.
    Sequential,
    /// All at once, answers written as they complete.
    Multiplexed,
}

/// Why a served connection ended.
#[derive(Debug)]
pub enum Ended {
    /// The peer closed, or a handler asked to close.
    Closed,
    /// The peer sent bytes that do not decode.
    BadFrame(CodecError),
    /// Nothing was in flight and no whole request arrived for the idle
    /// timeout: a silent peer, or one trickling a frame byte by byte. Or an
    /// answer was being written and the peer read none of it for as long.
    Idle,
    /// The server is shutting down.
    Cancelled,
}

/// The most requests of one connection answered at once: past it the
/// connection is not read until one completes, so a client pipelining
/// without end is held back instead of buffered (Envoy's default
/// `max_requests` circuit breaker is the same 1024).
pub const MAX_IN_FLIGHT: usize = 1024;

/// What a server codec answers, before the connection closes, to a
/// request it could not decode.
pub trait Refusal<Resp> {
    /// That answer, once a decode failed; `None` closes without one.
    fn refusal(&self) -> Option<Resp>;
}

/// HTTP answers 400, 413 or 431 ([`crate::http1::ServerCodec::refusal`]).
impl Refusal<crate::http1::Response> for crate::http1::ServerCodec {
    fn refusal(&self) -> Option<crate::http1::Response> {
        crate::http1::ServerCodec::refusal(self)
    }
}

/// Thrift closes without an answer: a `TApplicationException` names the
/// call's sequence id, which an undecodable frame does not reliably give.
impl<R> Refusal<R> for crate::thrift::ThriftCodec {
    fn refusal(&self) -> Option<R> {
        None
    }
}

/// Dubbo closes without an answer, as Envoy's dubbo proxy does: a
/// `BAD_REQUEST` response names a request id the bad frame may not carry.
impl<R> Refusal<R> for crate::dubbo::DubboCodec {
    fn refusal(&self) -> Option<R> {
        None
    }
}

/// Serves one connection with `codec`: decodes requests, runs `handle` on
/// each and writes the answers, until the peer closes, a frame does not
/// decode (answered with the codec's [`Refusal`] first), a handler asks to
/// close, the connection idles past `idle`, or `cancel` fires. When the
/// peer stops sending, the requests it already made are still answered.
///
/// What one connection buffers is bounded: the read buffer holds at most
/// one frame (the codec's limit), at most [`MAX_IN_FLIGHT`] requests are
/// handled at once, and the write buffer holds one answer at a time: reading
/// stops while an answer is written, and a peer that reads none of it for
/// `idle` is closed, so a client that pipelines without reading holds at
/// most `MAX_IN_FLIGHT` finished answers.
///
/// # Returns
/// Why the connection ended, for the caller to count; it is closed either way.
pub async fn serve<S, C, Req, Resp, H, Fut>(
    stream: S,
    codec: C,
    order: Order,
    idle: Option<Duration>,
    cancel: CancellationToken,
    handle: H,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = Req, Error = CodecError> + Encoder<Resp, Error = CodecError> + Refusal<Resp>,
    H: Fn(Req) -> Fut,
    Fut: Future<Output = Answer<Resp>> + Send + 'static,
    Resp: Send + 'static,
{
    let activity = Activity::new();
    let mut framed = Framed::new(Watched::new(stream, &activity), codec);
    let mut in_flight: JoinSet<Answer<Resp>> = JoinSet::new();
    let stall = idle;
    // Far enough away to mean "never" when there is no idle timeout.
    let idle = idle.unwrap_or(Duration::from_secs(86_400 * 365));
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    loop {
        // Cancellation first: a connection the budget closed to make room
        // ends as cancelled, not on the read its eviction makes fail.
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ended::Cancelled,
            _ = &mut idle_timer, if in_flight.is_empty() => return Ended::Idle,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let Ok(answer) = done else { return Ended::Closed };
                if let Some(ended) = deliver(&mut framed, answer, (&activity, stall), &cancel).await {
                    return ended;
                }
                idle_timer.as_mut().reset(Instant::now() + idle);
            }
            frame = framed.next(), if in_flight.len() < MAX_IN_FLIGHT => match frame {
                Some(Ok(request)) => {
                    let answer = handle(request);
                    match order {
                        Order::Multiplexed => {
                            in_flight.spawn(answer);
                        }
                        Order::Sequential => {
                            let answer = tokio::select! {
                                _ = cancel.cancelled() => return Ended::Cancelled,
                                answer = answer => answer,
                            };
                            if let Some(ended) = deliver(&mut framed, answer, (&activity, stall), &cancel).await {
                                return ended;
                            }
                        }
                    }
                    idle_timer.as_mut().reset(Instant::now() + idle);
                }
                Some(Err(error)) => {
                    if let Some(refusal) = framed.codec().refusal() {
                        let answer = Answer::ReplyThenClose(refusal);
                        deliver(&mut framed, answer, (&activity, stall), &cancel).await;
                    }
                    return Ended::BadFrame(error);
                }
                None => {
                    while let Some(Ok(answer)) = in_flight.join_next().await {
                        if let Some(ended) = deliver(&mut framed, answer, (&activity, stall), &cancel).await {
                            return ended;
                        }
                    }
                    return Ended::Closed;
                }
            },
        }
    }
}

/// Writes an answer unless the peer reads none of it for `stall` or
/// `cancel` fires; `None` while the connection stays open.
async fn deliver<S, C, Resp>(
    framed: &mut Framed<Watched<S>, C>,
    answer: Answer<Resp>,
    (activity, stall): (&Activity, Option<Duration>),
    cancel: &CancellationToken,
) -> Option<Ended>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Encoder<Resp, Error = CodecError>,
{
    // The stall is timed from the write's start, not from the last read.
    activity.touch();
    tokio::select! {
        () = cancel.cancelled() => Some(Ended::Cancelled),
        () = activity.idle(stall) => Some(Ended::Idle),
        open = write(framed, answer) => (!open).then_some(Ended::Closed),
    }
}

/// Writes an answer; false when the connection is to be closed.
async fn write<S, C, Resp>(framed: &mut Framed<S, C>, answer: Answer<Resp>) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Encoder<Resp, Error = CodecError>,
{
    match answer {
        Answer::Reply(reply) => framed.send(reply).await.is_ok(),
        Answer::ReplyThenClose(reply) => {
            let _ = framed.send(reply).await;
            false
        }
        Answer::Nothing => true,
        Answer::Close => false,
    }
}
