//! The gRPC (and Triple) sample server: the dubbo-go walkthrough's
//! `Greeter.SayHello(HelloRequest{name})` answering `User{name: "Hello
//! <name>", id: <version>}` on every service name, each call on its own
//! stream of one long-lived h2c connection.
//!
//! The echo travels in the response headers (gRPC initial metadata), the
//! outcome in the `grpc-status` trailer. A failed call answers trailers-only
//! with `UNAVAILABLE`, as a server under trouble does; a dropped call
//! closes the whole connection, as a crashing server does.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response};
use meshbench_wire::Limits;
use meshbench_wire::grpc::greeter::{HelloRequest, METHOD, User, version_id};
use meshbench_wire::grpc::{self, Code};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::echo::{PREFIX, REQUEST_ID};
use super::endpoint::Endpoint;

/// How long a connection being shut down may finish its calls.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) async fn serve_endpoint(
    stream: TcpStream,
    endpoint: Arc<Endpoint>,
    connection: u64,
    cancel: CancellationToken,
) {
    let Ok(mut h2) = h2::server::handshake(stream).await else {
        return;
    };
    // A call whose fate is `close` drops the whole connection.
    let dropped = CancellationToken::new();
    loop {
        let accepted = tokio::select! {
            accepted = h2.accept() => accepted,
            () = dropped.cancelled() => return,
            () = cancel.cancelled() => break,
        };
        match accepted {
            Some(Ok((request, respond))) => {
                let (endpoint, dropped) = (Arc::clone(&endpoint), dropped.clone());
                tokio::spawn(answer(endpoint, connection, request, respond, dropped));
            }
            Some(Err(_)) | None => return,
        }
    }
    h2.graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN, async { while h2.accept().await.is_some() {} }).await;
}

async fn answer(
    endpoint: Arc<Endpoint>,
    connection: u64,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    dropped: CancellationToken,
) {
    let (parts, body) = request.into_parts();
    let body = match read_body(body, Limits::default().max_frame).await {
        Ok(body) => body,
        Err(code) => return trailers_only(&mut respond, code, "request body", &[]),
    };
    let view = grpc::attributes(&parts.method, &parts.uri, &parts.headers);
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let admission = endpoint.admit(request_id, connection, &view.attributes);
    let echo = endpoint.process(&admission).await;
    if admission.fate.close {
        dropped.cancel();
        return;
    }
    let mut metadata: Vec<(String, String)> = echo
        .pairs()
        .into_iter()
        .map(|(k, v)| (format!("{PREFIX}{k}"), v))
        .collect();
    if let Some(id) = &admission.request_id {
        metadata.push((REQUEST_ID.to_owned(), id.clone()));
    }
    if admission.fate.fail {
        let message = format!("injected failure from {}", endpoint.identity);
        return trailers_only(&mut respond, Code::UNAVAILABLE, &message, &metadata);
    }
    if parts.uri.path().rsplit('/').next() != Some(METHOD) {
        let message = format!("no method {} on the Greeter", parts.uri.path());
        return trailers_only(&mut respond, Code::UNIMPLEMENTED, &message, &metadata);
    }
    let hello = match grpc::decode::<HelloRequest>(&body, Limits::default()) {
        Ok(hello) => hello,
        Err(error) => {
            let message = error.to_string();
            return trailers_only(&mut respond, Code::INTERNAL, &message, &metadata);
        }
    };
    let user = User {
        name: greeting(&endpoint, &hello.name),
        id: version_id(&endpoint.identity.version),
        age: 0,
    };
    let _ = reply(&mut respond, &user, &metadata);
}

/// `Hello <name>`, padded to the version's response size.
fn greeting(endpoint: &Endpoint, name: &str) -> String {
    let padding = endpoint.behaviour().response_size;
    let mut text = format!("Hello {name}");
    if padding > 0 {
        text.push(' ');
        text.extend(std::iter::repeat_n('x', padding));
    }
    text
}

/// The whole request body, refused past `max` bytes.
pub(crate) async fn read_body(mut body: RecvStream, max: usize) -> Result<Bytes, Code> {
    let mut buffer = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|_| Code::CANCELLED)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buffer.len() + chunk.len() > max
            || grpc::frame::declared(&buffer).is_some_and(|n| n > max)
        {
            return Err(Code::RESOURCE_EXHAUSTED);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

fn head(metadata: &[(String, String)]) -> Response<()> {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(grpc::CONTENT_TYPE));
    append(headers, metadata);
    response
}

fn append(headers: &mut HeaderMap, pairs: &[(String, String)]) {
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
}

fn reply(
    respond: &mut SendResponse<Bytes>,
    user: &User,
    metadata: &[(String, String)],
) -> Result<(), h2::Error> {
    let mut stream = respond.send_response(head(metadata), false)?;
    stream.send_data(grpc::encode(user), false)?;
    let mut trailers = HeaderMap::new();
    trailers.insert(grpc::STATUS, HeaderValue::from_static("0"));
    stream.send_trailers(trailers)
}

/// A trailers-only answer: status and message in the one header block.
fn trailers_only(
    respond: &mut SendResponse<Bytes>,
    code: Code,
    message: &str,
    metadata: &[(String, String)],
) {
    let mut response = head(metadata);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::try_from(code.to_string()) {
        headers.insert(grpc::STATUS, value);
    }
    if let Ok(value) = HeaderValue::try_from(percent_encoded(message)) {
        headers.insert(grpc::MESSAGE, value);
    }
    let _ = respond.send_response(response, true);
}

/// `grpc-message` is percent-encoded: bytes outside printable ASCII and `%`.
pub(crate) fn percent_encoded(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
