//! The compiled route table: plain data, no Kubernetes types. The config
//! compiler produces it; the data plane only reads it, through an `Arc`
//! swapped whole on reload. Its JSON form reads like the RDS/CDS dump of an
//! Aeraki or Istio sidecar (cluster names `outbound|port|subset|host`).

mod select;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshbench_wire::Protocol;
use serde::Serialize;

pub use select::select;

/// An Istio/Envoy cluster name: `outbound|<port>|<subset>|<host>`.
pub type ClusterName = String;

/// Everything the data plane needs, for every listener.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteTable {
    /// Increases with every applied configuration.
    pub version: u64,
    /// One listener per service, in endpoint-list order.
    pub listeners: Vec<Listener>,
    /// Every cluster a route or mirror names, by name.
    pub clusters: BTreeMap<ClusterName, Cluster>,
    /// meshbench extensions the configuration relied on (e.g. a MetaRouter's
    /// `meshbench.io/route-policies`), so reports can say so.
    pub extensions: Vec<String>,
}

/// The routes of one service, as its per-VIP listener applies them.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// The service FQDN.
    pub service: String,
    /// What the listener speaks.
    pub protocol: Protocol,
    /// The service port.
    pub port: u16,
    /// Routes in order; the first whose match succeeds wins.
    pub routes: Vec<Route>,
}

/// One route: when it matches and what it does.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// The route's name (`%ROUTE_NAME%`), or `default` for the implicit route.
    pub name: String,
    /// Alternatives, ORed; a route with none matches every request.
    pub matches: Vec<Match>,
    /// What to do with a matching request.
    pub action: Action,
}

/// Conditions that must all hold (ANDed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Match {
    /// Each names an attribute (lower case) and how its value must look.
    pub conditions: Vec<Condition>,
}

/// One attribute condition.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// The attribute name, lower case (attribute names are case-insensitive).
    pub attribute: String,
    /// How the value must look.
    pub matcher: StringMatcher,
    /// The condition holds when the matcher does NOT (Istio `withoutHeaders`).
    pub invert: bool,
}

/// How a value must look. Values compare exactly (case-sensitive).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StringMatcher {
    /// Equal to this.
    Exact(String),
    /// Starts with this.
    Prefix(String),
    /// Matches this RE2-style regex over the whole value (Envoy's safe_regex).
    Regex(#[serde(serialize_with = "regex_source")] regex::Regex),
    /// Present with any value (Aeraki: empty `exact`, `regex: "*"`, or no matcher).
    Present,
}

fn regex_source<S: serde::Serializer>(regex: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    // The stored regex is anchored as `^(?:…)$`; show what the user wrote.
    let source = regex.as_str();
    let inner = source
        .strip_prefix("^(?:")
        .and_then(|r| r.strip_suffix(")$"))
        .unwrap_or(source);
    s.serialize_str(inner)
}

/// What a route does.
// One per route in a table built once per configuration, never per request:
// the size difference between the variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send the request upstream. Shared, so that a routed request holds
    /// its route's policies without copying them.
    Forward(Arc<Forward>),
    /// Answer with an HTTP redirect (HTTP only).
    Redirect(Redirect),
}

/// Forwarding: where, and the policies on the way.
#[derive(Debug, Clone, Serialize)]
pub struct Forward {
    /// The destinations and their weights.
    #[serde(rename = "weighted_clusters")]
    pub clusters: WeightedClusters,
    /// The whole request's deadline, retries included.
    pub timeout: Option<Duration>,
    /// Retries, if any.
    pub retries: Option<RetryPolicy>,
    /// Injected faults, if any.
    pub fault: Option<Fault>,
    /// A copy of each request (at some fraction) to another cluster.
    pub mirror: Option<Mirror>,
    /// Headers (HTTP) or attachments (Dubbo) to set on the request.
    pub request_mutation: Vec<(String, String)>,
    /// Headers (HTTP) or attachments (Dubbo) to set on the response.
    pub response_mutation: Vec<(String, String)>,
    /// Headers to remove from the request (HTTP).
    pub request_remove: Vec<String>,
    /// HTTP URI/authority rewrite.
    pub rewrite: Option<Rewrite>,
    /// The attribute a consistent-hash balancer hashes, when the cluster's
    /// DestinationRule asks for one.
    pub hash_key: Option<String>,
}

impl Forward {
    /// Forwarding to `clusters` with no policy at all.
    pub fn to(clusters: WeightedClusters) -> Self {
        Forward {
            clusters,
            timeout: None,
            retries: None,
            fault: None,
            mirror: None,
            request_mutation: Vec::new(),
            response_mutation: Vec::new(),
            request_remove: Vec::new(),
            rewrite: None,
            hash_key: None,
        }
    }
}

/// Weighted destinations. A single destination ignores its weight.
/// Serialised as Envoy's `weighted_clusters`: `{clusters: [{name, weight}], total_weight}`.
#[derive(Debug, Clone, Serialize)]
pub struct WeightedClusters {
    /// Cluster and weight, in the order written.
    #[serde(serialize_with = "named_weights")]
    pub clusters: Vec<(ClusterName, u32)>,
    /// The sum of the weights (Aeraki's `total_weight`); the draw is in [0, total).
    pub total_weight: u32,
}

fn named_weights<S: serde::Serializer>(
    clusters: &[(ClusterName, u32)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(clusters.len()))?;
    for (name, weight) in clusters {
        seq.serialize_element(&serde_json::json!({ "name": name, "weight": weight }))?;
    }
    seq.end()
}

impl WeightedClusters {
    /// One destination, all traffic.
    pub fn single(cluster: ClusterName) -> Self {
        WeightedClusters {
            clusters: vec![(cluster, 1)],
            total_weight: 1,
        }
    }

    /// The cluster whose bucket holds `draw` (taken modulo the total, as
    /// Envoy's `pickCluster` does): with weights 30/30/40, draws 0–29 pick
    /// the first, 30–59 the second, 60–99 the third, 100 the first again.
    pub fn pick(&self, draw: u64) -> Option<&ClusterName> {
        let total = u64::from(self.total_weight.max(1));
        let mut point = draw % total;
        for (cluster, weight) in &self.clusters {
            let weight = u64::from(*weight);
            if point < weight {
                return Some(cluster);
            }
            point -= weight;
        }
        // Reached only when total_weight exceeds the sum of the weights (a
        // hand-built table); the first cluster takes the excess.
        self.clusters.first().map(|(cluster, _)| cluster)
    }
}

/// A copy of the request to another cluster, fire and forget.
#[derive(Debug, Clone, Serialize)]
pub struct Mirror {
    /// Where copies go.
    pub cluster: ClusterName,
    /// Copies per million requests (Aeraki converts percent × 10 000).
    pub per_million: u32,
}

impl Mirror {
    /// Whether a request with this draw (in [0, 1 000 000)) is mirrored:
    /// `draw < per_million`.
    pub fn applies(&self, draw: u32) -> bool {
        draw < self.per_million
    }
}

/// Retries.
#[derive(Debug, Clone, Serialize)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub attempts: u32,
    /// Each try's deadline.
    pub per_try_timeout: Option<Duration>,
    /// Conditions that allow a retry (`5xx`, `gateway-error`, `connect-failure`, …).
    pub retry_on: Vec<String>,
    /// The statuses `retriable-status-codes` retries (Istio moves the
    /// numbers written in `retryOn` here).
    pub retriable_status_codes: Vec<u16>,
}

/// What Istio's sidecars retry on when `retryOn` is not written
/// (`pilot/pkg/networking/core/route/retry/retry.go`, `defaultRetryOn`).
pub const ISTIO_DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

impl RetryPolicy {
    /// The policy Istio gives an HTTP route whose VirtualService writes no
    /// `retries` (and every HTTP service without a VirtualService): 2
    /// retries on [`ISTIO_DEFAULT_RETRY_ON`]. Since Istio 1.24 (istio#52111)
    /// no status code is retriable by default; before, 503 was.
    pub fn istio_default() -> RetryPolicy {
        RetryPolicy {
            attempts: 2,
            per_try_timeout: None,
            retry_on: ISTIO_DEFAULT_RETRY_ON
                .split(',')
                .map(str::to_owned)
                .collect(),
            retriable_status_codes: Vec::new(),
        }
    }
}

/// Injected faults.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fault {
    /// Delay some requests.
    pub delay: Option<(Duration, u32)>,
    /// Abort some requests with this answer, per million.
    pub abort: Option<(Abort, u32)>,
}

/// What an aborted request is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Abort {
    /// An HTTP status (`httpStatus`); a gRPC call gets the gRPC code it
    /// maps to, as Envoy's local replies to gRPC do.
    Http(u16),
    /// A gRPC status (`grpcStatus`), for gRPC services only.
    Grpc(u32),
}

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Abort::Http(status) => write!(f, "{status}"),
            Abort::Grpc(code) => write!(f, "grpc-status {code}"),
        }
    }
}

impl Fault {
    /// The delay of a request whose draw (in [0, 1 000 000)) falls in the
    /// delayed fraction: `draw < per_million`.
    pub fn delay_for(&self, draw: u32) -> Option<Duration> {
        self.delay
            .filter(|(_, per_million)| draw < *per_million)
            .map(|(delay, _)| delay)
    }

    /// The abort status of a request whose draw falls in the aborted fraction.
    pub fn abort_for(&self, draw: u32) -> Option<Abort> {
        self.abort
            .filter(|(_, per_million)| draw < *per_million)
            .map(|(status, _)| status)
    }
}

/// An HTTP rewrite.
#[derive(Debug, Clone, Serialize)]
pub struct Rewrite {
    /// Replaces the matched prefix (or the whole path for exact/regex matches).
    pub uri: Option<String>,
    /// Replaces the authority.
    pub authority: Option<String>,
}

/// An HTTP redirect.
#[derive(Debug, Clone, Serialize)]
pub struct Redirect {
    /// The new path, if changed.
    pub uri: Option<String>,
    /// The new authority, if changed.
    pub authority: Option<String>,
    /// 301 unless set.
    pub code: u16,
}

/// A set of endpoints with a load-balancing policy: one subset of a service.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// Its name.
    pub name: ClusterName,
    /// The service.
    pub service: String,
    /// The port.
    pub port: u16,
    /// The subset, if any.
    pub subset: Option<String>,
    /// Its endpoints.
    pub endpoints: Vec<SocketAddr>,
    /// How an endpoint is picked.
    pub lb: LbPolicy,
    /// Limits from the DestinationRule's `connectionPool`.
    pub pool: PoolLimits,
    /// Ejection of failing endpoints, from `outlierDetection`.
    pub outlier: Option<OutlierDetection>,
}

/// How an endpoint is picked within a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    /// In turn.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// The less loaded of two random endpoints (Envoy's LEAST_REQUEST).
    LeastRequest,
    /// By a hash of this request attribute (`consistentHash.httpHeaderName`).
    ConsistentHash(String),
}

/// `connectionPool` limits; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolLimits {
    /// `tcp.maxConnections`.
    pub max_connections: Option<u32>,
    /// `http.http1MaxPendingRequests`.
    pub max_pending_requests: Option<u32>,
    /// `http.maxRequestsPerConnection`.
    pub max_requests_per_connection: Option<u32>,
    /// `http.maxRetries`.
    pub max_retries: Option<u32>,
    /// `tcp.connectTimeout`.
    pub connect_timeout: Option<Duration>,
}

/// `outlierDetection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutlierDetection {
    /// Consecutive 5xx-class errors that eject an endpoint.
    pub consecutive_errors: Option<u32>,
    /// Consecutive gateway errors (502/503/504, connect failures) that eject.
    pub consecutive_gateway_errors: Option<u32>,
    /// How often ejections are reviewed.
    pub interval: Duration,
    /// How long the first ejection lasts (times the ejection count).
    pub base_ejection_time: Duration,
    /// At most this share of the cluster is ejected at once, in percent.
    pub max_ejection_percent: u32,
}
