//! HTTP/1.1 downstream connections: keep-alive, requests answered in order.
//! Local answers follow Envoy's: 404 for no route, 503 for no healthy
//! upstream or a failed upstream, redirects with `location`. Mirrored copies
//! carry the authority with `-shadow` appended, as Envoy's do.

use std::sync::Arc;

use meshbench_wire::attributes;
use meshbench_wire::http1::{Request, Response};
use meshbench_wire::mux::Answer;

use super::policy::{self, Answered, Health, Outcome};
use super::{Decision, ListenerContext, PATH, Target};
use crate::route::{Abort, Redirect};
use meshbench_wire::grpc::Code;

fn local(status: u16, body: &str, keep_alive: bool) -> Answer<Response> {
    let mut response = Response::new(status, body.to_owned());
    response.headers.append("content-type", "text/plain");
    response.headers.append("server", "meshproxy");
    finish(response, keep_alive)
}

fn finish(mut response: Response, keep_alive: bool) -> Answer<Response> {
    if keep_alive {
        Answer::Reply(response)
    } else {
        response.headers.set("connection", "close");
        Answer::ReplyThenClose(response)
    }
}

pub(crate) async fn handle(context: Arc<ListenerContext>, request: Request) -> Answer<Response> {
    let keep_alive = request.keep_alive();
    let mut view = attributes::http(&request);
    view.attributes.insert(PATH, request.path());
    let target = match context.decide(&view.attributes) {
        Decision::Forward(target) => target,
        Decision::NoRoute => return local(404, "meshproxy: no matched route", keep_alive),
        Decision::NoHealthyUpstream { .. } => return local(503, "no healthy upstream", keep_alive),
        Decision::Redirect(redirect) => return redirect_answer(&request, &redirect, keep_alive),
    };
    let upstream_request = prepared(request, &target);
    let leaked = match (&target.mirror, context.shared.faults.leak_mirror_answers) {
        (Some((_, addr)), true) => context
            .shared
            .upstreams
            .http(*addr, &upstream_request, target.connect_timeout, None)
            .await
            .ok(),
        _ => None,
    };
    if let Some((cluster, addr)) = target.mirror.clone().filter(|_| leaked.is_none()) {
        let mut copy = upstream_request.clone();
        let shadow = format!("{}-shadow", copy.headers.get("host").unwrap_or_default());
        copy.headers.set("host", shadow);
        let (context, timeout) = (Arc::clone(&context), target.connect_timeout);
        tokio::spawn(async move {
            let outcome = match context
                .shared
                .upstreams
                .http(addr, &copy, timeout, None)
                .await
            {
                Ok(_) => "answered",
                Err(_) => "failed",
            };
            context.count_mirror(&cluster, outcome);
        });
    }
    let (upstreams, timeout, request_ref) = (
        &context.shared.upstreams,
        target.connect_timeout,
        &upstream_request,
    );
    let per_connection = target.pool.max_requests_per_connection;
    let outcome = policy::forward(&context, &target, move |addr| {
        upstreams.http(addr, request_ref, timeout, per_connection)
    })
    .await;
    match outcome {
        Outcome::Answer(response) => {
            context.count_forwarded(&target, &response.status.to_string());
            let mut response = leaked.unwrap_or(response);
            for (name, value) in &target.forward.response_mutation {
                response.headers.set(name, value.as_str());
            }
            response.headers.remove("connection");
            finish(response, keep_alive)
        }
        Outcome::Aborted(Abort::Http(status)) => local(status, "fault filter abort", keep_alive),
        // The compiler takes `grpcStatus` on gRPC services only.
        Outcome::Aborted(Abort::Grpc(code)) => {
            local(Code(code).to_http(), "fault filter abort", keep_alive)
        }
        Outcome::TimedOut => local(504, "upstream request timeout", keep_alive),
        Outcome::Overflow => {
            let mut response = Response::new(
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            );
            response.headers.append("x-envoy-overloaded", "true");
            response.headers.append("server", "meshproxy");
            finish(response, keep_alive)
        }
        Outcome::Failed(error) => {
            context.count_forwarded(&target, "upstream_error");
            let body =
                format!("upstream connect error or disconnect/reset before headers: {error}");
            local(503, &body, keep_alive)
        }
    }
}

impl Answered for Response {
    fn health(&self) -> Health {
        match self.status {
            502..=504 => Health::GatewayError,
            500..=599 => Health::Error,
            _ => Health::Success,
        }
    }
    fn status(&self) -> Option<u16> {
        Some(self.status)
    }
}

/// The request as it goes upstream: mutations, removals and rewrites applied,
/// hop-by-hop `connection` dropped (the upstream connection is kept alive).
fn prepared(mut request: Request, target: &Target) -> Request {
    let forward = &target.forward;
    for name in &forward.request_remove {
        request.headers.remove(name);
    }
    for (name, value) in &forward.request_mutation {
        request.headers.set(name, value.as_str());
    }
    request.headers.remove("connection");
    if let Some(rewrite) = &forward.rewrite {
        if let Some(uri) = &rewrite.uri {
            request.target = rewritten(&request, target.path_prefix.as_deref(), uri);
        }
        if let Some(authority) = &rewrite.authority {
            request.headers.set("host", authority.as_str());
        }
    }
    request
}

/// Replaces the matched prefix (or, without one, the whole path) and keeps the query.
fn rewritten(request: &Request, prefix: Option<&str>, replacement: &str) -> String {
    let path = request.path();
    let query = request.target.strip_prefix(path).unwrap_or_default();
    let rest = prefix
        .and_then(|p| path.strip_prefix(p))
        .unwrap_or_default();
    format!("{replacement}{rest}{query}")
}

fn redirect_answer(request: &Request, redirect: &Redirect, keep_alive: bool) -> Answer<Response> {
    let host = redirect
        .authority
        .as_deref()
        .or(request.headers.get("host"))
        .unwrap_or_default();
    let path = redirect.uri.as_deref().unwrap_or(&request.target);
    let mut response = Response::new(redirect.code, Vec::new());
    response
        .headers
        .append("location", format!("http://{host}{path}"));
    response.headers.append("server", "meshproxy");
    finish(response, keep_alive)
}
