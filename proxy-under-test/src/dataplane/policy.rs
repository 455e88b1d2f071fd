//! What happens between the routing decision and the upstream answer, the
//! same for every protocol, in Envoy's order:
//! 1. fault injection (abort, or delay: the delay precedes the route timer,
//!    as Envoy's fault filter runs before its router);
//! 2. circuit breaker admission (see [`crate::breaker`]);
//! 3. tries under the route timeout (which covers every retry), each under
//!    its per-try timeout, retried when the outcome is retriable and the
//!    retry budget allows; each retry picks its endpoint afresh, preferring
//!    one not tried yet (Istio's `previous_hosts` predicate);
//! 4. every outcome feeds outlier detection.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;
use tokio::time::Instant;

use super::{ListenerContext, Target};
use crate::breaker::Admission;
pub(crate) use crate::outlier::Health;
use crate::route::{Abort, RetryPolicy};
use crate::upstream::UpstreamError;
use meshbench_wire::grpc::Code;

/// The end of a forwarded request.
#[derive(Debug)]
pub(crate) enum Outcome<R> {
    /// The upstream's answer (possibly an error answer, after retries).
    Answer(R),
    /// A fault injected by the route: answer with this.
    Aborted(Abort),
    /// The route timeout fired.
    TimedOut,
    /// The circuit breaker refused the request.
    Overflow,
    /// The last try failed to reach the endpoint or lost the connection.
    Failed(UpstreamError),
}

/// What the retry and outlier logic reads of an upstream answer.
pub(crate) trait Answered {
    /// The answer's class for outlier detection.
    fn health(&self) -> Health;
    /// Its HTTP status, for `retriable-status-codes`; `None` outside HTTP.
    fn status(&self) -> Option<u16> {
        None
    }
    /// Its gRPC status where Envoy's `retry_grpc_on` reads one; `None`
    /// outside gRPC.
    fn grpc_status(&self) -> Option<Code> {
        None
    }
}

/// Why one try did not produce an answer.
#[derive(Debug)]
enum TryFailure {
    Upstream(UpstreamError),
    PerTryTimeout,
}

/// Runs the request through faults, breaker, timeout and retries. `send`
/// performs one try against an endpoint.
pub(crate) async fn forward<R: Answered, F, Fut>(
    context: &ListenerContext,
    target: &Target,
    send: F,
) -> Outcome<R>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<R, UpstreamError>>,
{
    if let Some(status) = inject_fault(context, target).await {
        return Outcome::Aborted(status);
    }
    let breaker = context.shared.breakers.get(&target.cluster, &target.pool);
    let Some(_admitted) = breaker.admit().await else {
        context.count("meshproxy_overflow_total", &[("cluster", &target.cluster)]);
        return Outcome::Overflow;
    };
    let deadline = target.forward.timeout.map(|t| Instant::now() + t);
    match deadline {
        Some(deadline) => {
            match tokio::time::timeout_at(deadline, tries(context, target, &send, &breaker)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    context.count("meshproxy_timeouts_total", &[("route", &target.route)]);
                    Outcome::TimedOut
                }
            }
        }
        None => tries(context, target, &send, &breaker).await,
    }
}

async fn tries<R: Answered, F, Fut>(
    context: &ListenerContext,
    target: &Target,
    send: &F,
    breaker: &Admission,
) -> Outcome<R>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<R, UpstreamError>>,
{
    let retries = target.forward.retries.as_ref();
    let attempts = 1 + retries.map_or(0, |r| r.attempts);
    let per_try = retries.and_then(|r| r.per_try_timeout);
    let mut endpoint = target.endpoint.addr;
    // Filled on the first retry only: most requests are never retried.
    let mut tried = Vec::new();
    let mut attempt = 1;
    let mut _retry_in_flight = None;
    loop {
        let result = one_try(send(endpoint), per_try).await;
        let class = classify(&result);
        let ejected = context.shared.outliers.observe(
            &target.cluster,
            endpoint,
            class,
            target.outlier.as_ref(),
            target.cluster_size,
        );
        if ejected {
            let endpoint = endpoint.to_string();
            context.count(
                "meshproxy_ejections_total",
                &[("cluster", &target.cluster), ("endpoint", &endpoint)],
            );
        }
        let retriable = retries.is_some_and(|r| retriable(class, &result, r));
        let budget = (retriable && attempt < attempts)
            .then(|| breaker.try_retry())
            .flatten();
        if budget.is_none() {
            return match result {
                Ok(answer) => Outcome::Answer(answer),
                Err(TryFailure::Upstream(error)) => Outcome::Failed(error),
                Err(TryFailure::PerTryTimeout) => Outcome::TimedOut,
            };
        }
        context.count(
            "meshproxy_retries_total",
            &[("route", &target.route), ("cluster", &target.cluster)],
        );
        attempt += 1;
        _retry_in_flight = budget;
        tried.push(endpoint);
        if let Some(next) = context.repick(target, &tried) {
            endpoint = next;
        }
    }
}

async fn one_try<R>(
    attempt: impl Future<Output = Result<R, UpstreamError>>,
    per_try: Option<Duration>,
) -> Result<R, TryFailure> {
    match per_try {
        Some(limit) => match tokio::time::timeout(limit, attempt).await {
            Ok(result) => result.map_err(TryFailure::Upstream),
            Err(_) => Err(TryFailure::PerTryTimeout),
        },
        None => attempt.await.map_err(TryFailure::Upstream),
    }
}

/// The outlier-detection class of a try: connect failures, resets and
/// per-try timeouts count as gateway errors, as Envoy's do.
fn classify<R: Answered>(result: &Result<R, TryFailure>) -> Health {
    match result {
        Ok(answer) => answer.health(),
        Err(_) => Health::GatewayError,
    }
}

/// Envoy's `retry_on` conditions (its `retry_grpc_on` ones among them), for
/// the outcomes this proxy can see. `refused-stream` and the gRPC statuses
/// (`cancelled`, `deadline-exceeded`, `internal`, `resource-exhausted`,
/// `unavailable`) come only from HTTP/2 and gRPC upstreams.
fn retriable<R: Answered>(
    class: Health,
    result: &Result<R, TryFailure>,
    policy: &RetryPolicy,
) -> bool {
    let status = result.as_ref().ok().and_then(Answered::status);
    let grpc = result.as_ref().ok().and_then(Answered::grpc_status);
    let refused = matches!(
        result,
        Err(TryFailure::Upstream(UpstreamError::RefusedStream { .. }))
    );
    let connect_failure = matches!(result, Err(TryFailure::Upstream(e)) if e.is_connect_failure());
    let reset = matches!(result, Err(TryFailure::Upstream(e)) if !e.is_connect_failure());
    let per_try_timeout = matches!(result, Err(TryFailure::PerTryTimeout));
    policy
        .retry_on
        .iter()
        .any(|condition| match condition.as_str() {
            "5xx" => class != Health::Success,
            "retriable-status-codes" => {
                status.is_some_and(|s| policy.retriable_status_codes.contains(&s))
            }
            "gateway-error" => class == Health::GatewayError,
            "connect-failure" => connect_failure,
            "reset" => reset || connect_failure,
            "refused-stream" => refused,
            "cancelled" => grpc == Some(Code::CANCELLED),
            "deadline-exceeded" => grpc == Some(Code::DEADLINE_EXCEEDED),
            "internal" => grpc == Some(Code::INTERNAL),
            "resource-exhausted" => grpc == Some(Code::RESOURCE_EXHAUSTED),
            "unavailable" => grpc == Some(Code::UNAVAILABLE),
            "retriable-4xx" => false,
            _ => per_try_timeout && condition == "per-try-timeout",
        })
}

/// Applies the route's fault: waits out an injected delay, or returns the
/// status of an injected abort. Each is an independent draw per request.
async fn inject_fault(context: &ListenerContext, target: &Target) -> Option<Abort> {
    let fault = target.forward.fault.as_ref()?;
    let (delay, abort) = {
        let mut rng = context.shared.rng();
        let delay = fault.delay_for(rng.random_range(0..1_000_000));
        let abort = fault.abort_for(rng.random_range(0..1_000_000));
        (delay, abort)
    };
    if let Some(duration) = delay {
        context.count("meshproxy_fault_delays_total", &[("route", &target.route)]);
        tokio::time::sleep(duration).await;
    }
    let status = abort?;
    context.count("meshproxy_fault_aborts_total", &[("route", &target.route)]);
    Some(status)
}
