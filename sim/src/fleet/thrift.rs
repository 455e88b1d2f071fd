//! The Thrift sample server: `HelloService.sayHello` on the transport and
//! protocol its service is configured with (or either detected per
//! connection), multiplexed names accepted, requests on one connection served
//! concurrently and answered by seqid. A peer speaking another codec has its
//! connection closed unanswered, as an Apache Thrift server's would be.

use std::sync::Arc;

use meshbench_wire::attributes;
use meshbench_wire::thrift::hello::{self, ApplicationErrorKind, SayHello};
use meshbench_wire::thrift::{Message, MessageType, ServerCodec};
use tokio::net::TcpStream;

use super::echo::REQUEST_ID;
use meshbench_wire::mux::{Answer, Order};
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;

pub(crate) async fn serve_endpoint(
    stream: TcpStream,
    endpoint: Arc<Endpoint>,
    connection: u64,
    cancel: CancellationToken,
    server: ServerCodec,
) {
    let serving = Arc::clone(&endpoint);
    serving
        .serve(
            stream,
            server.codec(),
            Order::Multiplexed,
            cancel,
            |call: Message| answer(Arc::clone(&endpoint), connection, call, server),
        )
        .await;
}

async fn answer(
    endpoint: Arc<Endpoint>,
    connection: u64,
    call: Message,
    server: ServerCodec,
) -> Answer<Message> {
    if !server.reads(&call) {
        tracing::warn!(endpoint = %endpoint.identity, %server, encoding = ?call.header.encoding, "closed a connection speaking another protocol");
        return Answer::Close;
    }
    let view = attributes::thrift(&call);
    let args = SayHello::decode_call(&call);
    let request_id = args
        .as_ref()
        .ok()
        .and_then(|a| a.context.get(REQUEST_ID).cloned());
    let admission = endpoint.admit(request_id, connection, &view.attributes);
    let echo = endpoint.process(&admission).await;
    if admission.fate.close {
        return Answer::Close;
    }
    let reply = match (call.header.kind, call.method(), args) {
        (MessageType::Oneway, ..) => return Answer::Nothing,
        // Any method with sayHello's arguments is answered as sayHello is, so
        // that scenarios can route methods apart.
        (MessageType::Call, _, Ok(_)) if admission.fate.fail => Err(hello::application_error(
            ApplicationErrorKind::InternalError,
            format!(
                "injected failure from {}{}",
                endpoint.identity,
                echo.text_suffix()
            ),
        )),
        (MessageType::Call, _, Ok(args)) => Ok(format!(
            "{}{}",
            endpoint.greeting(&args.name),
            echo.text_suffix()
        )),
        (MessageType::Call, hello::METHOD, Err(error)) => Err(hello::application_error(
            ApplicationErrorKind::ProtocolError,
            error.to_string(),
        )),
        (MessageType::Call, method, _) => Err(hello::application_error(
            ApplicationErrorKind::UnknownMethod,
            format!("unknown method {method}"),
        )),
        // Replies and exceptions sent to a server are a protocol error.
        _ => return Answer::Close,
    };
    Answer::Reply(hello::encode_reply(&call, &reply))
}
