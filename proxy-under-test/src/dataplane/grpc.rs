//! gRPC (and Triple) downstream connections: HTTP/2 with prior knowledge
//! (h2c), every call a stream routed on its own, so the calls of one
//! long-lived connection spread over the endpoints as the route says. A
//! connection with no call in flight for the idle timeout (or one that never
//! finishes its preface) is closed, as for the other protocols. A call's
//! request body is charged to the memory budget until it is sent on; past
//! the budget, or closed by it to make room for smaller calls, the call is
//! answered `UNAVAILABLE` with `x-envoy-overloaded`.
//!
//! Local answers follow Envoy's local replies to a gRPC request: HTTP 200,
//! trailers-only, the `grpc-status` its HTTP status maps to
//! (`UNIMPLEMENTED` for no route, `UNAVAILABLE` for no healthy or a failed
//! upstream and for overflow) and the reply's text as `grpc-message`. A
//! route or per-try timeout is a 504, so `UNAVAILABLE` too: Envoy answers
//! `DEADLINE_EXCEEDED` only with the opt-in runtime guard
//! `envoy.reloadable_features.grpc_timeout_returns_deadline_exceeded`
//! (envoyproxy/envoy#44479, off by default; Envoy 1.40 under Istio answers
//! 14, measured). A fault abort answers its `grpcStatus`, or the code its
//! `httpStatus` maps to. Mirrored copies carry the authority with `-shadow` appended.

use std::sync::Arc;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use meshbench_wire::Limits;
use meshbench_wire::grpc::{self, Code};
use meshbench_wire::mux::{BodyRefusal, Ended, Refused, read_body, serve_streams};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::policy::{self, Answered, Health, Outcome};
use super::{Decision, ListenerContext, PATH, Target};
use crate::route::Abort;
use crate::upstream::grpc::{GrpcAnswer, GrpcCall};

pub(crate) async fn serve_downstream(
    stream: TcpStream,
    context: Arc<ListenerContext>,
    cancel: CancellationToken,
) {
    let idle = context.shared.idle_timeout;
    let handler = Arc::clone(&context);
    let ended = serve_streams(
        stream,
        idle,
        cancel,
        CancellationToken::new(),
        |request, respond| timed(Arc::clone(&handler), request, respond),
    )
    .await;
    match ended {
        Ended::BadFrame(_) => context.count("meshproxy_downstream_decode_errors_total", &[]),
        Ended::Idle => context.count("meshproxy_downstream_idle_timeouts_total", &[]),
        Ended::Closed | Ended::Cancelled => {}
    }
}

async fn timed(
    context: Arc<ListenerContext>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let started = tokio::time::Instant::now();
    handle(&context, request, &mut respond).await;
    let labels = [("listener", context.service.as_str())];
    context.shared.stats.observe(
        "meshproxy_request_duration_seconds",
        &labels,
        started.elapsed().as_secs_f64(),
    );
}

/// Reads the call, routes it and answers it. Until the call is sent on,
/// its body counts against the memory budget, which may close it to make
/// room for smaller ones: then it is answered `UNAVAILABLE`, overloaded.
async fn handle(
    context: &Arc<ListenerContext>,
    request: Request<RecvStream>,
    respond: &mut SendResponse<Bytes>,
) {
    let (parts, body) = request.into_parts();
    let evicted = CancellationToken::new();
    let mut holding = context.shared.budget.holding(evicted.clone());
    let read = read_body(body, Limits::DEFAULT_MAX_FRAME, &mut holding, &evicted);
    let body = match read.await {
        Ok(body) => body,
        Err(BodyRefusal::TooLarge) => {
            return local(
                respond,
                Code::RESOURCE_EXHAUSTED,
                "request body refused",
                &[],
            );
        }
        Err(BodyRefusal::Cancelled) => {
            return local(respond, Code::CANCELLED, "request body cancelled", &[]);
        }
        Err(BodyRefusal::Overloaded(refused)) => return overloaded(context, respond, refused),
    };
    let mut view = grpc::attributes(&parts.method, &parts.uri, &parts.headers);
    view.attributes.insert(PATH, parts.uri.path());
    let target = match context.decide(&view.attributes) {
        Decision::Forward(target) => target,
        Decision::NoRoute => {
            return local(
                respond,
                Code::from_http(404),
                "meshproxy: no matched route",
                &[],
            );
        }
        Decision::NoHealthyUpstream { .. } => {
            return local(respond, Code::from_http(503), "no healthy upstream", &[]);
        }
        // The compiler refuses redirects on gRPC services.
        Decision::Redirect(redirect) => {
            return local(respond, Code::from_http(redirect.code), "redirect", &[]);
        }
    };
    let call = prepared(
        GrpcCall {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        },
        &target,
    );
    mirror(context, &target, &call);
    let outcome = tokio::select! {
        biased;
        () = evicted.cancelled() => None,
        outcome = forward(context, &target, &call) => Some(outcome),
    };
    drop(holding);
    match outcome {
        Some(outcome) => answer(context, &target, respond, outcome),
        None => overloaded(context, respond, Refused::Evicted),
    }
}

/// Sends the call on, with the route's faults, retries and timeouts.
async fn forward(
    context: &Arc<ListenerContext>,
    target: &Target,
    call: &GrpcCall,
) -> Outcome<GrpcAnswer> {
    let (upstreams, timeout) = (&context.shared.upstreams, target.connect_timeout);
    policy::forward(context, target, move |addr| {
        upstreams.grpc(addr, call, timeout)
    })
    .await
}

/// Answers the call with what forwarding it came to.
fn answer(
    context: &ListenerContext,
    target: &Target,
    respond: &mut SendResponse<Bytes>,
    outcome: Outcome<GrpcAnswer>,
) {
    match outcome {
        Outcome::Answer(answer) => {
            context.count_forwarded(target, &answer.code().to_string());
            let _ = relay(respond, answer, &target.forward.response_mutation);
        }
        Outcome::Aborted(Abort::Grpc(code)) => {
            local(respond, Code(code), "fault filter abort", &[]);
        }
        Outcome::Aborted(Abort::Http(status)) => {
            local(respond, Code::from_http(status), "fault filter abort", &[]);
        }
        Outcome::TimedOut => {
            local(
                respond,
                Code::from_http(504),
                "upstream request timeout",
                &[],
            );
        }
        Outcome::Overflow => {
            let overloaded = [("x-envoy-overloaded", "true")];
            let text =
                "upstream connect error or disconnect/reset before headers. reset reason: overflow";
            local(respond, Code::UNAVAILABLE, text, &overloaded);
        }
        Outcome::Failed(error) => {
            context.count_forwarded(target, "upstream_error");
            let text =
                format!("upstream connect error or disconnect/reset before headers: {error}");
            local(respond, Code::UNAVAILABLE, &text, &[]);
        }
    }
}

/// The budget's answer, as Envoy's overload manager gives it: `UNAVAILABLE`
/// with `x-envoy-overloaded`; counted as refused, or as closed when the call
/// was closed to make room for others.
fn overloaded(context: &ListenerContext, respond: &mut SendResponse<Bytes>, refused: Refused) {
    let action = match refused {
        Refused::Full => "refused",
        Refused::Evicted => "closed",
    };
    context.count("meshproxy_downstream_overload_total", &[("action", action)]);
    let overloaded = [("x-envoy-overloaded", "true")];
    local(
        respond,
        Code::UNAVAILABLE,
        &refused.to_string(),
        &overloaded,
    );
}

/// Fires the mirror copy, if this call is mirrored; its answer is dropped.
fn mirror(context: &Arc<ListenerContext>, target: &Target, call: &GrpcCall) {
    let Some((cluster, addr)) = target.mirror.clone() else {
        return;
    };
    let mut copy = call.clone();
    let shadow = format!("{}-shadow", call.uri.authority().map_or("", |a| a.as_str()));
    copy.uri = with_authority(&call.uri, &shadow).unwrap_or_else(|| call.uri.clone());
    let (context, timeout) = (Arc::clone(context), target.connect_timeout);
    tokio::spawn(async move {
        let outcome = match context.shared.upstreams.grpc(addr, &copy, timeout).await {
            Ok(_) => "answered",
            Err(_) => "failed",
        };
        context.count_mirror(&cluster, outcome);
    });
}

/// The call as it goes upstream: header removals, mutations and the
/// authority rewrite applied.
fn prepared(mut call: GrpcCall, target: &Target) -> GrpcCall {
    let forward = &target.forward;
    for name in &forward.request_remove {
        call.headers.remove(name.as_str());
    }
    set_all(&mut call.headers, &forward.request_mutation);
    if let Some(rewrite) = &forward.rewrite {
        if let Some(uri) = &rewrite.uri {
            let rest = target
                .path_prefix
                .as_deref()
                .and_then(|p| call.uri.path().strip_prefix(p))
                .unwrap_or_default();
            let path = format!("{uri}{rest}");
            if let Some(rewritten) = with_path(&call.uri, &path) {
                call.uri = rewritten;
            }
        }
        if let Some(authority) = &rewrite.authority
            && let Some(rewritten) = with_authority(&call.uri, authority)
        {
            call.uri = rewritten;
        }
    }
    call
}

fn with_authority(uri: &Uri, authority: &str) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(authority.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{path}{query}").parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn set_all(headers: &mut HeaderMap, pairs: &[(String, String)]) {
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(name, value);
        }
    }
}

/// Passes the endpoint's answer down, with the route's response mutations.
fn relay(
    respond: &mut SendResponse<Bytes>,
    answer: GrpcAnswer,
    mutations: &[(String, String)],
) -> Result<(), h2::Error> {
    let mut response = Response::new(());
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    set_all(response.headers_mut(), mutations);
    let only_headers = answer.body.is_empty() && answer.trailers.is_none();
    let mut stream = respond.send_response(response, only_headers)?;
    if only_headers {
        return Ok(());
    }
    match answer.trailers {
        Some(trailers) => {
            if !answer.body.is_empty() {
                stream.send_data(answer.body, false)?;
            }
            stream.send_trailers(trailers)
        }
        None => stream.send_data(answer.body, true),
    }
}

/// A local reply, as Envoy sends one to a gRPC request: trailers-only.
fn local(
    respond: &mut SendResponse<Bytes>,
    code: Code,
    text: &str,
    extra: &[(&'static str, &str)],
) {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(grpc::CONTENT_TYPE));
    headers.insert("server", HeaderValue::from_static("meshproxy"));
    if let Ok(value) = HeaderValue::try_from(code.to_string()) {
        headers.insert(grpc::STATUS, value);
    }
    if let Ok(value) = HeaderValue::try_from(text) {
        headers.insert(grpc::MESSAGE, value);
    }
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::try_from(*value) {
            headers.insert(*name, value);
        }
    }
    let _ = respond.send_response(response, true);
}

impl GrpcAnswer {
    /// The call's status: the trailer, or the header of a trailers-only
    /// answer, or the code of a non-200 HTTP status.
    fn code(&self) -> Code {
        let carried = self
            .trailers
            .as_ref()
            .and_then(|t| t.get(grpc::STATUS))
            .or_else(|| self.headers.get(grpc::STATUS));
        match carried {
            Some(value) => Code::from_header(value.as_bytes()),
            None if self.status != http::StatusCode::OK => Code::from_http(self.status.as_u16()),
            None => Code::UNKNOWN,
        }
    }
}

impl Answered for GrpcAnswer {
    /// Envoy reports a gRPC answer to outlier detection as the HTTP status
    /// its code maps to.
    fn health(&self) -> Health {
        match self.code().to_http() {
            502..=504 => Health::GatewayError,
            500..=599 => Health::Error,
            _ => Health::Success,
        }
    }
    fn status(&self) -> Option<u16> {
        Some(self.status.as_u16())
    }
    /// Envoy's `retry_grpc_on` reads the status of a trailers-only answer
    /// only: once a message has come, the answer has begun.
    fn grpc_status(&self) -> Option<Code> {
        let trailers_only = self.body.is_empty() && self.trailers.is_none();
        trailers_only
            .then(|| self.headers.get(grpc::STATUS))
            .flatten()
            .map(|v| Code::from_header(v.as_bytes()))
    }
}
