//! gRPC upstreams: one HTTP/2 connection per endpoint, shared by every call
//! from every downstream connection, each call a stream of it (as Envoy's
//! HTTP/2 connection pool does by default). A connection the endpoint has
//! closed is replaced on the next call; calls that find none wait for the
//! one being opened.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use meshbench_wire::mux::MuxError;
use tokio_util::sync::CancellationToken;

use super::{UpstreamError, connect};

/// A call as it goes upstream.
#[derive(Debug, Clone)]
pub struct GrpcCall {
    /// `POST` for every gRPC call.
    pub method: Method,
    /// Scheme, authority and path.
    pub uri: Uri,
    /// The metadata.
    pub headers: HeaderMap,
    /// The length-prefixed request message(s), passed through untouched.
    pub body: Bytes,
}

/// An endpoint's whole answer.
#[derive(Debug)]
pub struct GrpcAnswer {
    /// The HTTP status (200 for every gRPC answer).
    pub status: StatusCode,
    /// The response headers (initial metadata; the status itself in a
    /// trailers-only answer).
    pub headers: HeaderMap,
    /// The response message(s).
    pub body: Bytes,
    /// The trailers, with `grpc-status`, unless the answer was trailers-only.
    pub trailers: Option<HeaderMap>,
}

/// A live connection to one endpoint.
#[derive(Debug)]
struct Live {
    send: SendRequest<Bytes>,
    ended: CancellationToken,
}

/// One endpoint's connection, opened by one call at a time: calls that
/// arrive while it opens wait for it, as Envoy's pending requests do, rather
/// than each opening its own.
type Slot = Arc<tokio::sync::Mutex<Option<Live>>>;

/// Every endpoint's HTTP/2 connection.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    connections: Mutex<HashMap<SocketAddr, Slot>>,
}

fn reset(addr: SocketAddr, error: &h2::Error) -> UpstreamError {
    if error.reason() == Some(h2::Reason::REFUSED_STREAM) {
        return UpstreamError::RefusedStream { addr };
    }
    let reason = if error.is_go_away() || error.is_io() {
        MuxError::Closed
    } else {
        MuxError::Reset(error.to_string())
    };
    UpstreamError::Reset { addr, reason }
}

impl Pool {
    /// Sends `call` to `addr` and reads the whole answer, refusing one
    /// larger than `max_body`.
    pub(crate) async fn call(
        &self,
        addr: SocketAddr,
        call: &GrpcCall,
        connect_timeout: Duration,
        max_body: usize,
    ) -> Result<GrpcAnswer, UpstreamError> {
        let mut send = self.ready(addr, connect_timeout).await?;
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(call.uri.clone())
            .body(())
            .map_err(|e| UpstreamError::Reset {
                addr,
                reason: MuxError::Protocol(e.to_string()),
            })?;
        *request.headers_mut() = call.headers.clone();
        let (response, mut stream) = send
            .send_request(request, call.body.is_empty())
            .map_err(|e| reset(addr, &e))?;
        if !call.body.is_empty() {
            stream
                .send_data(call.body.clone(), true)
                .map_err(|e| reset(addr, &e))?;
        }
        let response = response.await.map_err(|e| reset(addr, &e))?;
        let (parts, mut body) = response.into_parts();
        let mut data = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| reset(addr, &e))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > max_body {
                return Err(UpstreamError::Reset {
                    addr,
                    reason: MuxError::Protocol(format!("answer larger than {max_body} bytes")),
                });
            }
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(|e| reset(addr, &e))?;
        Ok(GrpcAnswer {
            status: parts.status,
            headers: parts.headers,
            body: data.freeze(),
            trailers,
        })
    }

    /// The endpoint's connection, ready for one more stream; opened (or
    /// reopened) when there is none.
    async fn ready(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<SendRequest<Bytes>, UpstreamError> {
        let slot = Arc::clone(self.lock().entry(addr).or_default());
        let mut live = slot.lock().await;
        if let Some(open) = live.as_ref().filter(|l| !l.ended.is_cancelled()) {
            let send = open.send.clone();
            drop(live);
            if let Ok(ready) = send.ready().await {
                return Ok(ready);
            }
            live = slot.lock().await;
        }
        let stream = connect(addr, connect_timeout).await?;
        let (send, connection) =
            h2::client::handshake(stream)
                .await
                .map_err(|e| UpstreamError::Connect {
                    addr,
                    reason: format!("HTTP/2 handshake: {e}"),
                })?;
        let ended = CancellationToken::new();
        let driver = ended.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            driver.cancel();
        });
        *live = Some(Live {
            send: send.clone(),
            ended,
        });
        drop(live);
        send.ready().await.map_err(|e| reset(addr, &e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Slot>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}
