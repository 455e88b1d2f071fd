//! Thrift downstream connections: any transport and encoding (detected per
//! connection), requests answered as each completes, by seqid.
//!
//! Request mutation is not applied to Thrift: the protocol has no header
//! section to carry it (Aeraki's codec only logs it), and the counter
//! `meshproxy_thrift_mutation_skipped_total` says when a route asked for it.

use std::sync::Arc;

use meshbench_wire::attributes;
use meshbench_wire::mux::Answer;
use meshbench_wire::thrift::hello::{self, ApplicationErrorKind};
use meshbench_wire::thrift::{Message, MessageType};

use super::policy::{self, Answered, Health, Outcome};
use super::{Decision, ListenerContext};

fn exception(call: &Message, message: String) -> Answer<Message> {
    let error = hello::application_error(ApplicationErrorKind::InternalError, message);
    Answer::Reply(hello::encode_exception(call, &error))
}

pub(crate) async fn handle(context: Arc<ListenerContext>, call: Message) -> Answer<Message> {
    let oneway = call.header.kind == MessageType::Oneway;
    if !oneway && call.header.kind != MessageType::Call {
        // Replies and exceptions are not requests: close, as Aeraki does on a decode error.
        context.count("meshproxy_downstream_decode_errors_total", &[]);
        return Answer::Close;
    }
    let view = attributes::thrift(&call);
    let target = match context.decide(&view.attributes) {
        Decision::Forward(target) => target,
        Decision::NoRoute => {
            return exception(
                &call,
                format!(
                    "meshproxy: no matched route for request '{}'",
                    call.header.name
                ),
            );
        }
        Decision::NoHealthyUpstream { cluster, .. } => {
            return exception(
                &call,
                format!("meshproxy: no healthy upstream in '{cluster}'"),
            );
        }
        Decision::Redirect(_) => {
            return exception(
                &call,
                "meshproxy: a redirect route cannot serve thrift".into(),
            );
        }
    };
    if !target.forward.request_mutation.is_empty() {
        context.count(
            "meshproxy_thrift_mutation_skipped_total",
            &[("route", &target.route)],
        );
    }
    let leaked = match (&target.mirror, context.shared.faults.leak_mirror_answers) {
        (Some((_, addr)), true) => {
            let upstreams = &context.shared.upstreams;
            upstreams
                .thrift(*addr, &call, target.connect_timeout)
                .await
                .ok()
        }
        _ => None,
    };
    if let Some((cluster, addr)) = target.mirror.clone().filter(|_| leaked.is_none()) {
        let (copy, context) = (call.clone(), Arc::clone(&context));
        let timeout = target.connect_timeout;
        tokio::spawn(async move {
            let outcome = match context.shared.upstreams.thrift(addr, &copy, timeout).await {
                Ok(_) => "answered",
                Err(_) => "failed",
            };
            context.count_mirror(&cluster, outcome);
        });
    }
    if oneway {
        // No answer goes back, so no retry or timeout applies: send and forget.
        let sent = context
            .shared
            .upstreams
            .thrift_oneway(target.endpoint.addr, &call, target.connect_timeout)
            .await;
        context.count_forwarded(
            &target,
            if sent.is_ok() {
                "oneway"
            } else {
                "upstream_error"
            },
        );
        return Answer::Nothing;
    }
    let (upstreams, timeout, call_ref) = (&context.shared.upstreams, target.connect_timeout, &call);
    let outcome = policy::forward(&context, &target, move |addr| {
        upstreams.thrift(addr, call_ref, timeout)
    })
    .await;
    match outcome {
        Outcome::Answer(reply) => {
            let kind = if reply.header.kind == MessageType::Exception {
                "exception"
            } else {
                "success"
            };
            context.count_forwarded(&target, kind);
            Answer::Reply(leaked.unwrap_or(reply))
        }
        Outcome::Aborted(status) => {
            exception(&call, format!("meshproxy: fault filter abort ({status})"))
        }
        Outcome::TimedOut => exception(&call, "meshproxy: upstream request timeout".into()),
        Outcome::Overflow => exception(
            &call,
            "meshproxy: upstream overflow (circuit breaker open)".into(),
        ),
        Outcome::Failed(error) => {
            context.count_forwarded(&target, "upstream_error");
            exception(&call, format!("meshproxy: {error}"))
        }
    }
}

impl Answered for Message {
    fn health(&self) -> Health {
        match self.header.kind {
            MessageType::Exception => Health::Error,
            _ => Health::Success,
        }
    }
}
