//! Dubbo downstream connections: requests answered as each completes, by
//! request id; heartbeats answered by the proxy itself, never forwarded (as
//! Aeraki does). Routing reads the request head only: the arguments are
//! skipped to reach the attachments. Request mutation rewrites the
//! attachments without re-encoding the arguments.

use std::sync::Arc;

use meshbench_wire::attributes;
use meshbench_wire::dubbo::{Frame, Reply, RequestHead, Status};
use meshbench_wire::mux::Answer;

use super::policy::{self, Answered, Health, Outcome};
use super::{Decision, ListenerContext, Target};

fn error(id: u64, status: Status, message: String) -> Answer<Frame> {
    Answer::Reply(Reply::Error { status, message }.to_frame(id))
}

pub(crate) async fn handle(context: Arc<ListenerContext>, frame: Frame) -> Answer<Frame> {
    let id = frame.header.request_id;
    if frame.header.event {
        context.count("meshproxy_dubbo_events_total", &[]);
        let answer_it = frame.header.request && frame.header.two_way && frame.is_heartbeat();
        return if answer_it {
            Answer::Reply(Frame::heartbeat_response(id))
        } else {
            Answer::Nothing
        };
    }
    if !frame.header.request {
        return Answer::Nothing;
    }
    let head = match RequestHead::from_frame(&frame) {
        Ok(head) => head,
        Err(e) => return error(id, Status::BadRequest, format!("meshproxy: {e}")),
    };
    let view = attributes::dubbo(id, &head);
    let target = match context.decide(&view.attributes) {
        Decision::Forward(target) => target,
        // Aeraki answers an unmatched request with status 60 (service not found).
        Decision::NoRoute => {
            let message = format!(
                "meshproxy: no matched route for request '{}/{}'",
                head.service, head.method
            );
            return error(id, Status::ServiceNotFound, message);
        }
        Decision::NoHealthyUpstream { cluster, .. } => {
            return error(
                id,
                Status::ServerError,
                format!("meshproxy: no healthy upstream in '{cluster}'"),
            );
        }
        Decision::Redirect(_) => {
            return error(
                id,
                Status::ServerError,
                "meshproxy: a redirect route cannot serve dubbo".into(),
            );
        }
    };
    let request = mutated(&frame, head, &target);
    if let Some((cluster, addr)) = target.mirror.clone() {
        let (copy, context) = (request.clone(), Arc::clone(&context));
        let timeout = target.connect_timeout;
        tokio::spawn(async move {
            let outcome = match context.shared.upstreams.dubbo(addr, copy, timeout).await {
                Ok(_) => "answered",
                Err(_) => "failed",
            };
            context.count_mirror(&cluster, outcome);
        });
    }
    let two_way = frame.header.two_way;
    let (upstreams, timeout, request_ref) =
        (&context.shared.upstreams, target.connect_timeout, &request);
    let outcome = policy::forward(&context, &target, move |addr| {
        upstreams.dubbo(addr, request_ref.clone(), timeout)
    })
    .await;
    match outcome {
        Outcome::Answer(response) => {
            let kind = if response.header.status == Status::Ok {
                "success"
            } else {
                "error"
            };
            context.count_forwarded(&target, kind);
            if two_way {
                Answer::Reply(response)
            } else {
                Answer::Nothing
            }
        }
        Outcome::Aborted(status) => error(
            id,
            Status::ServerError,
            format!("meshproxy: fault filter abort ({status})"),
        ),
        Outcome::TimedOut => error(
            id,
            Status::ServerTimeout,
            "meshproxy: upstream request timeout".into(),
        ),
        Outcome::Overflow => error(
            id,
            Status::ThreadpoolExhausted,
            "meshproxy: upstream overflow (circuit breaker open)".into(),
        ),
        Outcome::Failed(e) => {
            context.count_forwarded(&target, "upstream_error");
            error(id, Status::ServerError, format!("meshproxy: {e}"))
        }
    }
}

impl Answered for Frame {
    fn health(&self) -> Health {
        if self.header.status == Status::Ok {
            Health::Success
        } else {
            Health::Error
        }
    }
}

/// The request with the route's attachment mutations applied.
fn mutated(frame: &Frame, head: RequestHead, target: &Target) -> Frame {
    let mutation = &target.forward.request_mutation;
    if mutation.is_empty() {
        return frame.clone();
    }
    let mut attachments = head.attachments.clone();
    for (key, value) in mutation {
        attachments.insert(key.as_str(), value.as_str());
    }
    Frame {
        header: frame.header,
        body: head.with_attachments(&attachments),
    }
}
