//! What every translating adapter reads from the routing objects the same
//! way, whatever it writes: which object routes which service (a MetaRouter
//! its first host, as Aeraki does; a VirtualService every host), which
//! DestinationRule configures it, and a subset as its endpoints and the
//! traffic policy in force for them.

use std::collections::BTreeMap;

use meshbench_mesh_api::istio::{DestinationRuleSpec, TrafficPolicy};
use meshbench_mesh_api::{Object, Resource, hosts};
use meshbench_sim::fleet::EndpointInfo;

use super::{AdapterError, Service};

/// Why the objects could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gap {
    /// The proxy has no way to say it (the reason, naming the field and
    /// the proxy feature).
    #[error("{0}")]
    Unsupported(String),
    /// The objects are wrong for this fleet (an unknown host or subset).
    #[error("{0}")]
    Invalid(String),
}
impl Gap {
    /// The adapter error it is for `adapter`: a gap is unsupported, an
    /// invalid object is refused.
    pub(super) fn refused_by(self, adapter: &str) -> AdapterError {
        match self {
            Gap::Unsupported(what) => AdapterError::Unsupported {
                adapter: adapter.to_owned(),
                what,
            },
            Gap::Invalid(reason) => AdapterError::Refused(reason),
        }
    }
}

/// Which layer a translating adapter listens at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layer {
    /// The protocol's own codec: HTTP routes, Thrift and Dubbo routers, TCP
    /// weights.
    #[default]
    Seven,
    /// A TCP proxy for every service, to the whole service: the layer-4
    /// negative control (a connection stays on the endpoint it was given).
    Four,
}

/// The service `host` names, written in `namespace`.
pub(super) fn find<'s>(
    services: &'s [Service],
    host: &str,
    namespace: &str,
) -> Option<&'s Service> {
    hosts::candidates(host, namespace)
        .into_iter()
        .find_map(|name| services.iter().find(|s| s.name == name))
}

/// Which MetaRouter or VirtualService routes each service, by service name.
///
/// # Errors
/// A host that is no service of the fleet, or a service two objects route.
pub(super) fn routers<'o>(
    objects: &[&'o Object],
    services: &[Service],
) -> Result<BTreeMap<String, &'o Object>, String> {
    let mut out: BTreeMap<String, &Object> = BTreeMap::new();
    for &object in objects {
        let (hosts, namespace): (&[String], &str) = match object {
            Object::MetaRouter(r) => (
                r.spec.hosts.get(..1).unwrap_or_default(),
                &r.metadata.namespace,
            ),
            Object::VirtualService(vs) => (&vs.spec.hosts, &vs.metadata.namespace),
            Object::DestinationRule(_) => continue,
        };
        for host in hosts {
            let service = find(services, host, namespace).ok_or_else(|| {
                format!(
                    "{}: host '{host}' is no service of the fleet",
                    object.describe()
                )
            })?;
            if let Some(other) = out.insert(service.name.clone(), object)
                && !std::ptr::eq(other, object)
            {
                return Err(format!(
                    "{} and {} both route {}",
                    other.describe(),
                    object.describe(),
                    service.name
                ));
            }
        }
    }
    Ok(out)
}

/// DestinationRules by the service they configure.
///
/// # Errors
/// A rule whose host is no service of the fleet.
pub(super) fn destination_rules<'o>(
    objects: &[&'o Object],
    services: &[Service],
) -> Result<BTreeMap<String, &'o Resource<DestinationRuleSpec>>, String> {
    let mut out = BTreeMap::new();
    for &object in objects {
        let Object::DestinationRule(rule) = object else {
            continue;
        };
        let service =
            find(services, &rule.spec.host, &rule.metadata.namespace).ok_or_else(|| {
                format!(
                    "{}: host '{}' is no service of the fleet",
                    object.describe(),
                    rule.spec.host
                )
            })?;
        out.insert(service.name.clone(), rule);
    }
    Ok(out)
}

/// A subset of a service (or the whole service): its endpoints and the
/// traffic policy in force for them.
pub(super) struct Subset<'s> {
    /// The endpoints whose labels match the subset's, in fleet order.
    pub endpoints: Vec<&'s EndpointInfo>,
    /// The subset's policy over the rule's top level (see [`merge`]).
    pub policy: TrafficPolicy,
}

/// `subset` (none: the whole service) of `service` under `rule`.
///
/// # Errors
/// A subset no rule defines.
pub(super) fn subset<'s>(
    service: &'s Service,
    rule: Option<&Resource<DestinationRuleSpec>>,
    subset: Option<&str>,
) -> Result<Subset<'s>, String> {
    let (labels, policy) = match subset {
        None => (None, rule.and_then(|r| r.spec.traffic_policy.clone())),
        Some(name) => {
            let found = rule
                .and_then(|r| r.spec.subsets.iter().find(|s| s.name == name))
                .ok_or_else(|| {
                    format!(
                        "subset '{name}' of {} is defined by no DestinationRule",
                        service.name
                    )
                })?;
            let top = rule.and_then(|r| r.spec.traffic_policy.as_ref());
            (
                Some(&found.labels),
                merge(top, found.traffic_policy.as_ref()),
            )
        }
    };
    let endpoints = service
        .endpoints
        .iter()
        .filter(|e| labels.is_none_or(|l| l.iter().all(|(k, v)| e.labels.get(k) == Some(v))))
        .collect();
    Ok(Subset {
        endpoints,
        policy: policy.unwrap_or_default(),
    })
}

/// The subset's policy over the top level's: each of `loadBalancer`,
/// `connectionPool` and `outlierDetection` replaced whole when the subset
/// sets it (istiod's `MergeTrafficPolicy`).
fn merge(top: Option<&TrafficPolicy>, subset: Option<&TrafficPolicy>) -> Option<TrafficPolicy> {
    match (top, subset) {
        (None, None) => None,
        (Some(top), None) => Some(top.clone()),
        (None, Some(subset)) => Some(subset.clone()),
        (Some(top), Some(subset)) => Some(TrafficPolicy {
            load_balancer: subset
                .load_balancer
                .clone()
                .or_else(|| top.load_balancer.clone()),
            connection_pool: subset
                .connection_pool
                .clone()
                .or_else(|| top.connection_pool.clone()),
            outlier_detection: subset
                .outlier_detection
                .clone()
                .or_else(|| top.outlier_detection.clone()),
        }),
    }
}

/// A header name: an HTTP token.
///
/// # Errors
/// [`Gap::Invalid`] naming `at`.
pub(super) fn token<'t>(name: &'t str, at: &str) -> Result<&'t str, Gap> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$&*+-.^_`|~".contains(c));
    match valid {
        true => Ok(name),
        false => Err(Gap::Invalid(format!("{at}: '{name}' is not a header name"))),
    }
}

/// PCRE metacharacters escaped, for a literal in a regex.
pub(super) fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Go duration from a routing object, or the error naming the field.
///
/// # Errors
/// [`Gap::Invalid`] naming `field`.
pub(super) fn duration(text: &str, field: &str) -> Result<std::time::Duration, Gap> {
    meshbench_mesh_api::duration::parse(text)
        .ok_or_else(|| Gap::Invalid(format!("{field}: '{text}' is not a duration")))
}

/// When a retry is made, before any proxy's keywords: Envoy's `retry_on`
/// conditions that an HTTP/1.1 upstream can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RetryOn {
    /// The connection could not be made.
    ConnectFailure,
    /// The connection broke before an answer.
    Reset,
    /// The try's timeout struck.
    Timeout,
    /// Any 5xx answer (Envoy's `5xx`; each proxy says which codes it can).
    ServerError,
    /// This status (`gateway-error` is 502, 503 and 504; `retriable-status-codes`).
    Status(u16),
}

/// A route's timeout and retries as istiod writes them: Istio's default
/// policy when the route sets no `retries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RetryPlan {
    /// The timeout of each try; `None`: none (Istio's `0s`).
    pub timeout: Option<std::time::Duration>,
    /// Retries after the first try.
    pub retries: u32,
    /// When to retry.
    pub on: Vec<RetryOn>,
}

impl RetryPlan {
    /// Istio's default policy (`retry.DefaultPolicy`) on HTTP/1.1: no
    /// timeout, 2 retries on connect failure (its `refused-stream`,
    /// `unavailable` and `cancelled` are HTTP/2 and gRPC conditions).
    pub(super) fn default_route() -> RetryPlan {
        RetryPlan {
            timeout: None,
            retries: 2,
            on: vec![RetryOn::ConnectFailure],
        }
    }

    /// `route`'s plan for a `proxy` whose timeout is per try, as HAProxy's
    /// and nginx's are: a route timeout with `perTryTimeout`, or with
    /// retries on timeouts, has no equivalent (Envoy's route timeout spans
    /// the retries).
    ///
    /// # Errors
    /// [`Gap`] naming the field.
    pub(super) fn of(
        route: &meshbench_mesh_api::istio::HttpRoute,
        at: &str,
        proxy: &str,
    ) -> Result<RetryPlan, Gap> {
        let mut timeout = route
            .timeout
            .as_deref()
            .map(|t| duration(t, &format!("{at}.timeout")))
            .transpose()?
            .filter(|t| !t.is_zero());
        let Some(retry) = &route.retries else {
            return Ok(RetryPlan {
                timeout,
                ..RetryPlan::default_route()
            });
        };
        if let Some(text) = &retry.per_try_timeout {
            if timeout.is_some() && retry.attempts > 0 {
                return Err(Gap::Unsupported(format!(
                    "{at}: timeout with retries.perTryTimeout: {proxy} has no timeout across retries"
                )));
            }
            timeout = Some(duration(text, &format!("{at}.retries.perTryTimeout"))?);
        }
        if retry.attempts == 0 {
            return Ok(RetryPlan {
                timeout,
                retries: 0,
                on: Vec::new(),
            });
        }
        let written = retry
            .retry_on
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(
                "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
            );
        let on = retry_conditions(written, &format!("{at}.retries.retryOn"), proxy)?;
        if timeout.is_some()
            && on
                .iter()
                .any(|c| matches!(c, RetryOn::Timeout | RetryOn::ServerError))
        {
            return Err(Gap::Unsupported(format!(
                "{at}: a timeout with retries on timeouts: {proxy}'s timeout is per try, Envoy's route timeout spans the retries"
            )));
        }
        Ok(RetryPlan {
            timeout,
            retries: retry.attempts,
            on,
        })
    }
}

/// A written `retryOn` as conditions, in the order written.
fn retry_conditions(written: &str, at: &str, proxy: &str) -> Result<Vec<RetryOn>, Gap> {
    let (conditions, codes) = meshbench_mesh_api::istio::parse_retry_on(written);
    let mut on = Vec::new();
    for condition in &conditions {
        let these: Vec<RetryOn> = match condition.as_str() {
            "5xx" => vec![
                RetryOn::ConnectFailure,
                RetryOn::Reset,
                RetryOn::Timeout,
                RetryOn::ServerError,
            ],
            "gateway-error" => [502, 503, 504].map(RetryOn::Status).to_vec(),
            "connect-failure" => vec![RetryOn::ConnectFailure],
            "reset" => vec![RetryOn::Reset],
            // HTTP/2 and gRPC conditions: an HTTP/1.1 answer never meets them.
            "refused-stream" | "unavailable" | "cancelled" | "deadline-exceeded"
            | "resource-exhausted" | "internal" => Vec::new(),
            "retriable-status-codes" => codes.iter().map(|c| RetryOn::Status(*c)).collect(),
            other => {
                return Err(Gap::Unsupported(format!(
                    "{at} '{other}' has no {proxy} equivalent"
                )));
            }
        };
        for condition in these {
            if !on.contains(&condition) {
                on.push(condition);
            }
        }
    }
    Ok(on)
}

/// A redirect's status as istiod writes it (`ApplyRedirect`): 301 when
/// unset (or 0), 301, 302, 303, 307 and 308 as themselves.
///
/// # Errors
/// [`Gap::Unsupported`] for any other code: istiod drops the redirect.
pub(super) fn redirect_code(
    redirect: &meshbench_mesh_api::istio::HttpRedirect,
    at: &str,
) -> Result<u16, Gap> {
    match redirect.redirect_code.unwrap_or(301) {
        0 => Ok(301),
        code @ (301 | 302 | 303 | 307 | 308) => Ok(code),
        other => Err(Gap::Unsupported(format!(
            "{at}.redirect.redirectCode {other}: istiod drops a redirect with this code"
        ))),
    }
}
