//! The Dubbo sample provider: `DemoService.sayHello(String)` and
//! `testVoid()` on whatever interface the request names, many requests in
//! flight per connection, heartbeats answered.
//!
//! The echo travels in the response attachments when the consumer's dubbo
//! version lets a Java provider send them (2.0.2 to 2.0.99); otherwise, as a
//! text suffix of the greeting.

use std::sync::Arc;

use meshbench_wire::attributes;
use meshbench_wire::dubbo::{
    DubboCodec, Frame, Reply, Request, RequestHead, Response, Status, Value,
};
use tokio::net::TcpStream;

use super::echo::{Echo, PREFIX, REQUEST_ID};
use meshbench_wire::mux::{Answer, Order};
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;

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
            DubboCodec::new(),
            Order::Multiplexed,
            cancel,
            |frame: Frame| answer(Arc::clone(&endpoint), connection, frame),
        )
        .await;
}

async fn answer(endpoint: Arc<Endpoint>, connection: u64, frame: Frame) -> Answer<Frame> {
    let id = frame.header.request_id;
    if frame.header.event {
        return match frame.header.request && frame.header.two_way && frame.is_heartbeat() {
            true => Answer::Reply(Frame::heartbeat_response(id)),
            false => Answer::Nothing,
        };
    }
    if !frame.header.request {
        return Answer::Nothing;
    }
    let (head, request) = match RequestHead::from_frame(&frame)
        .and_then(|head| Ok((head, Request::from_frame(&frame)?)))
    {
        Ok(decoded) => decoded,
        Err(error) => return error_reply(id, Status::BadRequest, error.to_string()),
    };
    let view = attributes::dubbo(id, &head);
    let request_id = head.attachments.get_str(REQUEST_ID).map(str::to_owned);
    let admission = endpoint.admit(request_id, connection, &view.attributes);
    let echo = endpoint.process(&admission).await;
    if admission.fate.close {
        return Answer::Close;
    }
    if !frame.header.two_way {
        return Answer::Nothing;
    }
    if admission.fate.fail {
        let message = format!(
            "injected failure from {}{}",
            endpoint.identity,
            echo.text_suffix()
        );
        return error_reply(id, Status::ServiceError, message);
    }
    let outcome = match (request.method.as_str(), request.args.first()) {
        ("sayHello", Some(Value::String(name))) => Value::String(endpoint.greeting(name)),
        ("testVoid", None) => Value::Null,
        (method, _) => {
            let message = format!(
                "no method {method}({}) on {}",
                request.parameter_types, request.service
            );
            return error_reply(id, Status::ServiceError, message);
        }
    };
    Answer::Reply(response(&request, outcome, &echo).to_frame(id))
}

fn response(request: &Request, outcome: Value, echo: &Echo) -> Response {
    if supports_response_attachments(&request.dubbo_version) {
        let mut response = Response::value(outcome);
        if let Some(attachments) = response.attachments.as_mut() {
            for (key, value) in echo.pairs() {
                attachments.insert(format!("{PREFIX}{key}"), value);
            }
        }
        return response;
    }
    let outcome = match outcome {
        Value::String(greeting) => Value::String(format!("{greeting}{}", echo.text_suffix())),
        other => other,
    };
    Response {
        attachments: None,
        ..Response::value(outcome)
    }
}

/// Dubbo's `Version.isSupportResponseAttachment`: 2.0.2 up to 2.0.99.
fn supports_response_attachments(version: &str) -> bool {
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    matches!(parts.as_slice(), [2, 0, patch] if (2..=99).contains(patch))
}

fn error_reply(id: u64, status: Status, message: String) -> Answer<Frame> {
    Answer::Reply(Reply::Error { status, message }.to_frame(id))
}
