//! A gRPC (Triple) client over one long-lived h2c connection: every call is
//! a stream of it, as many at once as the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` allows, so one connection carries the
//! whole load the way a real gRPC channel does.
//!
//! A call's outcome is its `grpc-status` (trailers, or the one header block
//! of a trailers-only answer); an answer without one takes the code of its
//! HTTP status by the gRPC mapping, as gRPC clients do. A stream reset or a
//! connection that ends before the status is a [`ClientError`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use meshbench_wire::Limits;
use meshbench_wire::grpc::greeter::{HelloRequest, User};
use meshbench_wire::grpc::{self, Code};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{ClientError, Reply, connect};
use crate::fleet::echo::{Echo, PREFIX, REQUEST_ID};

/// One HTTP/2 connection and the task driving it.
#[derive(Debug)]
pub struct GrpcClient {
    send: SendRequest<Bytes>,
    authority: String,
    ended: CancellationToken,
    _stop_on_drop: DropGuard,
}

/// One unary call.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The gRPC service, e.g. `org.apache.dubbogo.samples.api.Greeter`.
    pub service: &'a str,
    /// The method, e.g. `SayHello`.
    pub method: &'a str,
    /// The `name` of the `HelloRequest`.
    pub name: &'a str,
    /// Metadata (Triple attachments) sent as request headers.
    pub metadata: &'a BTreeMap<String, String>,
}

impl GrpcClient {
    /// Opens the connection with the HTTP/2 preface (prior knowledge, h2c);
    /// calls name `authority`, or `addr` when `None`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the address does not accept;
    /// [`ClientError::Protocol`] when the HTTP/2 handshake fails.
    pub async fn connect(addr: SocketAddr, authority: Option<&str>) -> Result<Self, ClientError> {
        let stream = connect(addr).await?;
        let (send, connection) = h2::client::handshake(stream)
            .await
            .map_err(|e| ClientError::Protocol(format!("HTTP/2 handshake: {e}")))?;
        let (ended, stop) = (CancellationToken::new(), CancellationToken::new());
        let (ended_by_peer, stopped) = (ended.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = stopped.cancelled() => {}
            }
            ended_by_peer.cancel();
        });
        Ok(GrpcClient {
            send,
            authority: authority.map_or_else(|| addr.to_string(), str::to_owned),
            ended,
            _stop_on_drop: stop.drop_guard(),
        })
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// Makes one unary call with `x-request-id` when given.
    ///
    /// # Errors
    /// When the stream is reset or the connection ends before the status.
    pub async fn call(
        &self,
        call: Call<'_>,
        request_id: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let request = self.request(call, request_id)?;
        let mut send = self.send.clone().ready().await.map_err(failure)?;
        let (response, mut body) = send.send_request(request, false).map_err(failure)?;
        let message = grpc::encode(&HelloRequest {
            name: call.name.to_owned(),
        });
        body.send_data(message, true).map_err(failure)?;
        let response = response.await.map_err(failure)?;
        let (parts, mut stream) = response.into_parts();
        let mut data = BytesMut::new();
        while let Some(chunk) = stream.data().await {
            let chunk = chunk.map_err(failure)?;
            let _ = stream.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = stream.trailers().await.map_err(failure)?;
        Ok(reply(
            parts.status.as_u16(),
            &parts.headers,
            trailers.as_ref(),
            &data,
        ))
    }

    fn request(
        &self,
        call: Call<'_>,
        request_id: Option<&str>,
    ) -> Result<Request<()>, ClientError> {
        let uri = format!(
            "http://{}{}",
            self.authority,
            grpc::path(call.service, call.method)
        );
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(())
            .map_err(|e| ClientError::Protocol(format!("request head: {e}")))?;
        let headers = request.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(grpc::CONTENT_TYPE));
        headers.insert("te", HeaderValue::from_static("trailers"));
        let id = request_id.map(|id| (REQUEST_ID, id));
        for (name, value) in call
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(id)
        {
            let name = HeaderName::try_from(name)
                .map_err(|e| ClientError::Protocol(format!("metadata name {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value)
                .map_err(|e| ClientError::Protocol(format!("metadata value {value:?}: {e}")))?;
            headers.insert(name, value);
        }
        Ok(request)
    }
}

/// The call's reply: its status from the trailers, or from the headers of a
/// trailers-only answer, or mapped from the HTTP status.
fn reply(status: u16, headers: &HeaderMap, trailers: Option<&HeaderMap>, data: &[u8]) -> Reply {
    let carried = trailers
        .and_then(|t| t.get(grpc::STATUS))
        .or_else(|| headers.get(grpc::STATUS));
    let code = match carried {
        Some(value) => Code::from_header(value.as_bytes()),
        None if status != 200 => Code::from_http(status),
        None => Code::UNKNOWN,
    };
    let echo = Echo::from_pairs(
        PREFIX,
        headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
    );
    let text = if code == Code::OK {
        match grpc::decode::<User>(data, Limits::default()) {
            Ok(user) => format!("{} ({})", user.name, user.id),
            Err(error) => return protocol_failure(&error.to_string(), echo),
        }
    } else {
        trailers
            .and_then(|t| t.get(grpc::MESSAGE))
            .or_else(|| headers.get(grpc::MESSAGE))
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    Reply {
        success: code == Code::OK,
        code: code.to_string(),
        text,
        echo,
        location: None,
    }
}

/// An OK status over a body that is not one `User`: the client library
/// would fail the call with `INTERNAL`.
fn protocol_failure(reason: &str, echo: Option<Echo>) -> Reply {
    Reply {
        success: false,
        code: Code::INTERNAL.to_string(),
        text: format!("answer body: {reason}"),
        echo,
        location: None,
    }
}

fn failure(error: h2::Error) -> ClientError {
    if let Some(reason) = error.reason().filter(|_| error.is_reset()) {
        ClientError::Io(format!("stream reset: {reason}"))
    } else if error.is_go_away() || error.is_io() {
        ClientError::Closed
    } else {
        ClientError::Protocol(error.to_string())
    }
}
