//! Istio `VirtualService` and `DestinationRule` (`networking.istio.io`
//! `v1alpha3`, `v1beta1` and `v1` share this schema), restricted to the fields
//! meshproxy implements; any other field is a parse error naming it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Destination, Percent, StringMatch};

// === VirtualService ===

/// `VirtualService.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// The routed services; every one counts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Gateways the routes apply to; absent or containing `mesh` means the sidecars.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Namespace visibility. Accepted with no effect: meshproxy sees every object.
    #[serde(default)]
    pub export_to: Vec<String>,
    /// Routes for HTTP services, in order.
    #[serde(default)]
    pub http: Vec<HttpRoute>,
    /// Routes for TCP services.
    #[serde(default)]
    pub tcp: Vec<TcpRoute>,
    /// TLS passthrough routes: parsed only to be refused by the compiler.
    pub tls: Option<IgnoredAny>,
}

/// One HTTP route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRoute {
    /// The route name (`%ROUTE_NAME%`).
    #[serde(default)]
    pub name: String,
    /// Match blocks, ORed; none means every request.
    #[serde(default, rename = "match")]
    pub match_: Vec<HttpMatchRequest>,
    /// Weighted destinations; exclusive with `redirect`.
    #[serde(default)]
    pub route: Vec<HttpRouteDestination>,
    /// Answer with a redirect instead of forwarding.
    pub redirect: Option<HttpRedirect>,
    /// Rewrite the path prefix or authority before forwarding.
    pub rewrite: Option<HttpRewrite>,
    /// The whole request's deadline (Go duration); `0s` means none.
    pub timeout: Option<String>,
    /// Retries.
    pub retries: Option<HttpRetry>,
    /// Injected delay and abort.
    pub fault: Option<HttpFault>,
    /// Where a copy of each request goes.
    pub mirror: Option<Destination>,
    /// The mirrored share; absent means 100 %, `value: 0` means none.
    pub mirror_percentage: Option<Percent>,
    /// Deprecated integer form of `mirrorPercentage`.
    pub mirror_percent: Option<u32>,
    /// Header manipulation for every destination.
    pub headers: Option<Headers>,
}

/// One match block: every field given must hold (ANDed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// A label for the block (Istio appends it to the route name); no effect on matching.
    pub name: Option<String>,
    /// The path without its query string.
    pub uri: Option<StringMatch>,
    /// Header name (case-insensitive) to match; an empty match means present.
    #[serde(default)]
    pub headers: BTreeMap<String, Option<StringMatch>>,
    /// Headers that must NOT match (an empty match means absent).
    #[serde(default)]
    pub without_headers: BTreeMap<String, Option<StringMatch>>,
    /// The HTTP method.
    pub method: Option<StringMatch>,
    /// The `Host` / `:authority`.
    pub authority: Option<StringMatch>,
    /// The port the request arrived on; must be the service port.
    pub port: Option<u32>,
    /// `uri` exact/prefix/regex compare case-insensitively.
    #[serde(default)]
    pub ignore_uri_case: bool,
    /// Client workload labels: parsed only to be refused by the compiler.
    pub source_labels: Option<IgnoredAny>,
    /// Query parameter matches: parsed only to be refused by the compiler.
    pub query_params: Option<IgnoredAny>,
}

/// One weighted HTTP destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRouteDestination {
    /// Where.
    pub destination: Destination,
    /// Relative weight; ignored for a single destination.
    #[serde(default)]
    pub weight: u32,
    /// Header manipulation when this destination is chosen (approximated:
    /// merged into the route's, see the compiler).
    pub headers: Option<Headers>,
}

/// `headers: {request: ..., response: ...}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    /// On the request sent upstream.
    pub request: Option<HeaderOperations>,
    /// On the response sent back.
    pub response: Option<HeaderOperations>,
}

/// `set`, `add`, `remove`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderOperations {
    /// Replace these headers.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Append these headers (meshproxy sets them, see the compiler).
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `redirect`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRedirect {
    /// The new path.
    pub uri: Option<String>,
    /// The new authority.
    pub authority: Option<String>,
    /// The status; 301 when absent.
    pub redirect_code: Option<u16>,
}

/// `rewrite`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRewrite {
    /// Replaces the matched prefix (or the whole path).
    pub uri: Option<String>,
    /// Replaces the authority.
    pub authority: Option<String>,
}

/// `retries`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRetry {
    /// Retries after the first try; 0 disables retrying.
    #[serde(default)]
    pub attempts: u32,
    /// Each try's deadline (Go duration).
    pub per_try_timeout: Option<String>,
    /// Envoy retry conditions, comma-separated.
    pub retry_on: Option<String>,
}

/// `fault`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFault {
    /// Delay some requests.
    pub delay: Option<FaultDelay>,
    /// Abort some requests.
    pub abort: Option<FaultAbort>,
}

/// `fault.delay`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultDelay {
    /// How long (Go duration); required.
    pub fixed_delay: Option<String>,
    /// The delayed share; absent means 100 %.
    pub percentage: Option<Percent>,
    /// Deprecated integer form of `percentage`.
    pub percent: Option<u32>,
}

/// `fault.abort`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultAbort {
    /// The HTTP status answered (this or `grpcStatus` is required).
    pub http_status: Option<u16>,
    /// The gRPC status answered, by name (`UNAVAILABLE`), for gRPC services.
    pub grpc_status: Option<String>,
    /// The aborted share; absent means 100 %.
    pub percentage: Option<Percent>,
}

/// One TCP route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpRoute {
    /// Match blocks; only `port` is supported.
    #[serde(default, rename = "match")]
    pub match_: Vec<L4Match>,
    /// Weighted destinations, chosen once per connection.
    #[serde(default)]
    pub route: Vec<RouteDestination>,
}

/// A TCP match block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L4Match {
    /// The port the connection arrived on; must be the service port.
    pub port: Option<u32>,
}

/// One weighted TCP destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDestination {
    /// Where.
    pub destination: Destination,
    /// Relative weight; ignored for a single destination.
    #[serde(default)]
    pub weight: u32,
}

// === DestinationRule ===

/// `DestinationRule.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// The service the rule applies to.
    pub host: String,
    /// Namespace visibility. Accepted with no effect: meshproxy sees every object.
    #[serde(default)]
    pub export_to: Vec<String>,
    /// The policy of every subset, unless the subset overrides a part.
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named endpoint subsets.
    #[serde(default)]
    pub subsets: Vec<Subset>,
}

/// `trafficPolicy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// How an endpoint is picked.
    pub load_balancer: Option<LoadBalancer>,
    /// Circuit-breaking limits.
    pub connection_pool: Option<ConnectionPool>,
    /// Ejection of failing endpoints.
    pub outlier_detection: Option<OutlierDetection>,
}

/// `loadBalancer`: `simple` or `consistentHash`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancer {
    /// A simple policy.
    pub simple: Option<SimpleLb>,
    /// Hash-based affinity.
    pub consistent_hash: Option<ConsistentHash>,
}

/// `loadBalancer.simple`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimpleLb {
    /// The default (meshproxy: round robin).
    Unspecified,
    /// In turn.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// Power of two choices.
    LeastRequest,
    /// Deprecated alias of `LEAST_REQUEST`, as Istio treats it.
    LeastConn,
    /// Forward to the original destination: refused by the compiler.
    Passthrough,
}

/// `loadBalancer.consistentHash`: only `httpHeaderName` is implemented.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConsistentHash {
    /// The header (HTTP) or attribute (MetaProtocol) hashed.
    pub http_header_name: Option<String>,
    /// Refused by the compiler.
    pub http_cookie: Option<IgnoredAny>,
    /// Refused by the compiler.
    pub use_source_ip: Option<IgnoredAny>,
    /// Refused by the compiler.
    pub http_query_parameter_name: Option<IgnoredAny>,
    /// Refused by the compiler.
    pub ring_hash: Option<IgnoredAny>,
    /// Refused by the compiler.
    pub maglev: Option<IgnoredAny>,
    /// Refused by the compiler.
    pub minimum_ring_size: Option<IgnoredAny>,
}

/// `connectionPool`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPool {
    /// TCP limits.
    pub tcp: Option<TcpPool>,
    /// HTTP (and MetaProtocol) request limits.
    pub http: Option<HttpPool>,
}

/// `connectionPool.tcp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpPool {
    /// Connections to the cluster, at most.
    pub max_connections: Option<u32>,
    /// Connect deadline (Go duration).
    pub connect_timeout: Option<String>,
}

/// `connectionPool.http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpPool {
    /// Requests waiting for a connection, at most.
    pub http1_max_pending_requests: Option<u32>,
    /// Requests per upstream connection before it is closed.
    pub max_requests_per_connection: Option<u32>,
    /// Concurrent retries to the cluster, at most.
    pub max_retries: Option<u32>,
    /// Accepted with no effect: meshproxy speaks HTTP/1.1 upstream.
    pub http2_max_requests: Option<u32>,
}

/// `outlierDetection`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutlierDetection {
    /// Consecutive 5xx-class errors that eject.
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Consecutive gateway errors that eject.
    pub consecutive_gateway_errors: Option<u32>,
    /// Deprecated alias of `consecutive5xxErrors`.
    pub consecutive_errors: Option<u32>,
    /// Review period (Go duration); 10s when absent.
    pub interval: Option<String>,
    /// Ejection time unit (Go duration); 30s when absent.
    pub base_ejection_time: Option<String>,
    /// At most this percent of the cluster ejected; 10 when absent.
    pub max_ejection_percent: Option<u32>,
}

/// A named subset of a service's endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subset {
    /// Referred to by `destination.subset`.
    pub name: String,
    /// Endpoints carrying all of these labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Replaces the top-level policy part by part.
    pub traffic_policy: Option<TrafficPolicy>,
}

/// Istio's `parseRetryOn` (`route/retry/retry.go`): the conditions of a
/// `retries.retryOn`, and the HTTP statuses among them, which imply
/// `retriable-status-codes` (appended when not written).
pub fn parse_retry_on(written: &str) -> (Vec<String>, Vec<u16>) {
    let (mut conditions, mut codes) = (Vec::new(), Vec::new());
    for part in written.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u16>() {
            Ok(code) if (100..600).contains(&code) => codes.push(code),
            _ => conditions.push(part.to_owned()),
        }
    }
    let implied = "retriable-status-codes";
    if !codes.is_empty() && !conditions.iter().any(|c| c == implied) {
        conditions.push(implied.to_owned());
    }
    (conditions, codes)
}
