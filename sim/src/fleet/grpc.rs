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

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response};
use meshbench_wire::Limits;
use meshbench_wire::grpc::greeter::{HelloRequest, METHOD, User, version_id};
use meshbench_wire::grpc::{self, Code};
use meshbench_wire::mux::{BodyRefusal, Refused, read_body, serve_streams};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::echo::{PREFIX, REQUEST_ID};
use super::endpoint::Endpoint;

pub(crate) async fn serve_endpoint(
    stream: TcpStream,
    endpoint: Arc<Endpoint>,
    connection: u64,
    cancel: CancellationToken,
) {
    // A call whose fate is `close` drops the whole connection.
    let dropped = CancellationToken::new();
    let idle = endpoint.limits().idle;
    let serving = Arc::clone(&endpoint);
    let abort = dropped.clone();
    serve_streams(stream, idle, cancel, abort, move |request, respond| {
        answer(
            Arc::clone(&serving),
            connection,
            request,
            respond,
            dropped.clone(),
        )
    })
    .await;
}

/// Reads a call and serves it. Its body counts against the fleet's memory
/// budget until it is answered (a held call may wait long), and the budget
/// may close it to make room for smaller ones: then it is answered
/// `UNAVAILABLE`, as the budget's refusals are.
async fn answer(
    endpoint: Arc<Endpoint>,
    connection: u64,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    dropped: CancellationToken,
) {
    let (parts, body) = request.into_parts();
    let evicted = CancellationToken::new();
    let mut holding = endpoint.limits().budget.holding(evicted.clone());
    let read = read_body(body, Limits::default().max_frame, &mut holding, &evicted);
    let body = match read.await {
        Ok(body) => body,
        Err(BodyRefusal::TooLarge) => {
            return trailers_only(&mut respond, Code::RESOURCE_EXHAUSTED, "request body", &[]);
        }
        Err(BodyRefusal::Cancelled) => return,
        Err(BodyRefusal::Overloaded(refused)) => {
            return trailers_only(&mut respond, Code::UNAVAILABLE, &refused.to_string(), &[]);
        }
    };
    tokio::select! {
        biased;
        () = evicted.cancelled() => {
            let message = Refused::Evicted.to_string();
            trailers_only(&mut respond, Code::UNAVAILABLE, &message, &[]);
        }
        () = serve_call(&endpoint, connection, (&parts, &body), &mut respond, &dropped) => {}
    }
}

/// Records the call, draws its fate and answers as the fate says.
async fn serve_call(
    endpoint: &Endpoint,
    connection: u64,
    (parts, body): (&http::request::Parts, &Bytes),
    respond: &mut SendResponse<Bytes>,
    dropped: &CancellationToken,
) {
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
        return trailers_only(respond, Code::UNAVAILABLE, &message, &metadata);
    }
    if parts.uri.path().rsplit('/').next() != Some(METHOD) {
        let message = format!("no method {} on the Greeter", parts.uri.path());
        return trailers_only(respond, Code::UNIMPLEMENTED, &message, &metadata);
    }
    let hello = match grpc::decode::<HelloRequest>(body, Limits::default()) {
        Ok(hello) => hello,
        Err(error) => {
            let message = error.to_string();
            return trailers_only(respond, Code::INTERNAL, &message, &metadata);
        }
    };
    let user = User {
        name: greeting(endpoint, &hello.name),
        id: version_id(&endpoint.identity.version),
        age: 0,
    };
    let _ = reply(respond, &user, &metadata);
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
