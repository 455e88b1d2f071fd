//! The answering side of an HTTP/2 (h2c) connection, shared by the fleet's
//! gRPC endpoints and the proxy's gRPC listeners: each stream is a call
//! handled on its own task, with the same idle, shutdown and memory rules
//! as [`super::serve`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::server::SendResponse;
use http::Request;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::budget::{Holding, Refused};
use super::serve::{Ended, MAX_IN_FLIGHT};
use crate::{CodecError, Limits, grpc};

/// How long a connection being shut down may finish its calls: short, as a
/// fleet or listener shutting down is waited on whole.
const DRAIN: Duration = Duration::from_secs(2);

/// Serves one h2c connection: every stream goes to `handle` on a task of its
/// own, at most [`MAX_IN_FLIGHT`] at once and with heads of at most
/// [`Limits::DEFAULT_MAX_HEAD`]. It ends when the peer closes or breaks the
/// protocol, when no call is in flight for `idle` (the preface included),
/// at once when `abort` fires (a crashing server, or the memory budget
/// making room), or, when `shutdown` fires, after the calls in flight have
/// had a grace period.
pub async fn serve_streams<S, H, Fut>(
    stream: S,
    idle: Option<Duration>,
    shutdown: CancellationToken,
    abort: CancellationToken,
    handle: H,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<RecvStream>, SendResponse<Bytes>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_IN_FLIGHT as u32)
        .max_header_list_size(Limits::DEFAULT_MAX_HEAD as u32);
    let idle = idle.unwrap_or(Duration::MAX);
    let handshake = tokio::time::timeout(idle, builder.handshake::<_, Bytes>(stream));
    let mut connection = match handshake.await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return ended_by(error),
        Err(_) => return Ended::Idle,
    };
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            accepted = connection.accept() => accepted,
            () = abort.cancelled() => return Ended::Cancelled,
            () = shutdown.cancelled() => break,
            // The idle timer restarts with every stream; it closes the
            // connection only when no call is in flight.
            () = tokio::time::sleep(idle) => {
                if in_flight.load(Ordering::Relaxed) == 0 {
                    return Ended::Idle;
                }
                continue;
            }
        };
        match accepted {
            Some(Ok((request, respond))) => {
                let call = InFlight::new(Arc::clone(&in_flight));
                let answer = handle(request, respond);
                tokio::spawn(async move {
                    answer.await;
                    drop(call);
                });
            }
            Some(Err(error)) => return ended_by(error),
            None => return Ended::Closed,
        }
    }
    connection.graceful_shutdown();
    let drain = async { while connection.accept().await.is_some() {} };
    tokio::select! {
        _ = tokio::time::timeout(DRAIN, drain) => {}
        () = abort.cancelled() => {}
    }
    Ended::Cancelled
}

/// A peer that closed or went away just closed; anything else broke HTTP/2.
fn ended_by(error: h2::Error) -> Ended {
    if error.is_io() || error.is_go_away() {
        return Ended::Closed;
    }
    Ended::BadFrame(CodecError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        error,
    )))
}

/// One call in flight on a connection, counted while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a call's request body was not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Past the message size limit (`RESOURCE_EXHAUSTED`).
    TooLarge,
    /// Past the memory budget, or closed to make room in it.
    Overloaded(Refused),
    /// The peer reset the stream.
    Cancelled,
}

/// Reads a call's whole request body, refused past `max` bytes (judged on
/// the message's declared length as soon as its prefix is in, before the
/// rest is let in) or past what the memory budget lets `holding` hold.
/// `evicted` is the token `holding` was made with.
///
/// # Errors
/// The [`BodyRefusal`].
pub async fn read_body(
    mut body: RecvStream,
    max: usize,
    holding: &mut Holding,
    evicted: &CancellationToken,
) -> Result<Bytes, BodyRefusal> {
    let mut buffer = BytesMut::new();
    loop {
        let chunk = tokio::select! {
            () = evicted.cancelled() => return Err(BodyRefusal::Overloaded(Refused::Evicted)),
            chunk = body.data() => chunk,
        };
        let Some(chunk) = chunk else {
            return Ok(buffer.freeze());
        };
        let chunk = chunk.map_err(|_| BodyRefusal::Cancelled)?;
        buffer.extend_from_slice(&chunk);
        let declared = grpc::frame::declared(&buffer).unwrap_or_default();
        if buffer.len() > max || declared > max {
            return Err(BodyRefusal::TooLarge);
        }
        // The allocation is what memory holds, not the bytes in it.
        holding
            .set(buffer.capacity().max(declared))
            .map_err(BodyRefusal::Overloaded)?;
        // Flow control lets the peer send more only once this is charged.
        let _ = body.flow_control().release_capacity(chunk.len());
    }
}
