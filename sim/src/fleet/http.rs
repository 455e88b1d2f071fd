//! The HTTP sample server: `GET /hello` answers the greeting as text, every
//! other path answers a travels-like JSON document naming the endpoint and
//! the request. Keep-alive, requests answered in order.
//!
//! Request-level overrides, like Istio's echo server: `?delay=5ms` adds
//! latency, `?codes=503` answers with that status.

use std::sync::Arc;
use std::time::Duration;

use meshbench_wire::attributes;
use meshbench_wire::http1::{Request, Response, ServerCodec};
use tokio::net::TcpStream;

use super::echo::{Echo, PREFIX, REQUEST_ID};
use meshbench_wire::mux::{Answer, Order};
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use crate::duration;

pub(crate) async fn serve_endpoint(
    stream: TcpStream,
    endpoint: Arc<Endpoint>,
    connection: u64,
    cancel: CancellationToken,
) {
    let serving = Arc::clone(&endpoint);
    serving
        .serve(
            stream,
            ServerCodec::default(),
            Order::Sequential,
            cancel,
            |request: Request| answer(Arc::clone(&endpoint), connection, request),
        )
        .await;
}

async fn answer(endpoint: Arc<Endpoint>, connection: u64, request: Request) -> Answer<Response> {
    let view = attributes::http(&request);
    let request_id = request.headers.get(REQUEST_ID).map(str::to_owned);
    let admission = endpoint.admit(request_id, connection, &view.attributes);
    if let Some(extra) = request.query("delay").and_then(|d| duration::parse(d).ok()) {
        tokio::time::sleep(extra.min(Duration::from_secs(60))).await;
    }
    let echo = endpoint.process(&admission).await;
    if admission.fate.close {
        return Answer::Close;
    }
    let forced = request.query("codes").and_then(|c| c.parse::<u16>().ok());
    let status = match forced {
        Some(code) if (100..600).contains(&code) => code,
        _ if admission.fate.fail => 503,
        _ => 200,
    };
    let mut response = if request.path() == "/hello" {
        Response::new(
            status,
            endpoint.greeting(request.query("name").unwrap_or("meshbench")),
        )
    } else {
        Response::new(status, document(&endpoint, &request, &echo))
    };
    let headers = &mut response.headers;
    headers.append(
        "content-type",
        if request.path() == "/hello" {
            "text/plain"
        } else {
            "application/json"
        },
    );
    for (key, value) in echo.pairs() {
        headers.append(format!("{PREFIX}{key}"), value);
    }
    if let Some(id) = &admission.request_id {
        headers.append(REQUEST_ID, id.as_str());
    }
    if request.keep_alive() {
        Answer::Reply(response)
    } else {
        response.headers.append("connection", "close");
        Answer::ReplyThenClose(response)
    }
}

/// A travels-like JSON answer: who served, what was asked.
fn document(endpoint: &Endpoint, request: &Request, echo: &Echo) -> String {
    let padding = "x".repeat(endpoint.behaviour().response_size);
    serde_json::json!({
        "service": echo.service,
        "version": echo.version,
        "pod": echo.pod,
        "address": echo.addr,
        "method": request.method,
        "path": request.path(),
        "padding": padding,
    })
    .to_string()
}
