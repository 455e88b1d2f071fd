//! The scenario types, as the YAML writes them. Every struct denies unknown
//! fields, so that a typo is an error rather than a silently ignored knob.
//! Values that semantic checks point at are [`Located`].

use std::collections::BTreeMap;
use std::time::Duration;

use meshbench_wire::Protocol;
use meshbench_wire::thrift::{Encoding, Transport};
use schemars::JsonSchema;
use serde::Deserialize;

use super::values::{Located, Node, Ordered, Percent, Rate, TextDuration, Weight};
use crate::client::thrift::ThriftOptions;
use crate::fleet::{Behaviour, Latency as FleetLatency, Probability, ServiceSpec, VersionSpec};
use crate::workload::Call as WorkloadCall;

/// One scenario file: the fleet, the routing a user would `kubectl apply`,
/// the workload, optional mid-run routing changes, and the assertions.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "meshbench scenario")]
pub struct Scenario {
    /// A short identifier, e.g. `thrift-traffic-split`.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// The services of the sample fleet, each with its versions.
    pub fleet: Located<Vec<Located<FleetService>>>,
    /// Kubernetes routing objects (Aeraki `MetaRouter`, Istio
    /// `VirtualService` / `DestinationRule`), unchanged from what a user
    /// applies. Absent: the proxy's default routing.
    #[serde(default)]
    pub routing: Vec<RoutingObject>,
    /// Settings of the proxy under test that no routing object carries.
    #[serde(default)]
    pub proxy: Proxy,
    /// The clients and what they send.
    pub workload: Workload,
    /// Routing changes applied while traffic flows (live traffic shifting).
    #[serde(default)]
    pub phases: Vec<Located<Phase>>,
    /// The assertions, each a hypothesis test or a zero-tolerance check.
    pub expect: Located<Vec<Located<Expectation>>>,
    /// Default statistical levels of the assertions.
    #[serde(default)]
    pub confidence: Confidence,
}

// === fleet ===

/// One service of the fleet.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetService {
    /// The service FQDN, e.g. `thrift-sample-server.meta-thrift.svc.cluster.local`.
    pub service: Located<String>,
    /// The protocol every endpoint speaks.
    #[schemars(with = "ProtocolName")]
    pub protocol: Located<Protocol>,
    /// The port (default: 9090 thrift, 20880 dubbo, 3000 http, 3306 tcp).
    #[serde(default)]
    pub port: Option<u16>,
    /// The versions by label (`v1`, `v2`…), in order.
    pub versions: Ordered<Version>,
}

/// The protocol names of the format (`thrift`, `dubbo`, `http`, `tcp`).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // schema only: the field holds meshbench_wire::Protocol
enum ProtocolName {
    Thrift,
    Dubbo,
    Http,
    Tcp,
}

/// The port a protocol's sample servers listen on by default.
pub fn default_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Thrift => 9090,
        Protocol::Dubbo => 20880,
        Protocol::Http => 3000,
        Protocol::Tcp => 3306,
    }
}

impl FleetService {
    /// The port, defaulted by protocol.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or_else(|| default_port(self.protocol.value))
    }

    /// The `app` label of its pods (the version's labels may override it).
    pub fn app(&self) -> &str {
        self.service.split('.').next().unwrap_or_default()
    }

    /// The labels of the pods of `version`: `app`, `version` and the extra
    /// labels, as the fleet sets them.
    pub fn pod_labels(&self, version: &str) -> Option<BTreeMap<String, String>> {
        let spec = self.versions.get(version)?;
        let mut labels = spec.labels.clone();
        labels
            .entry("app".into())
            .or_insert_with(|| self.app().to_owned());
        labels.insert("version".into(), version.to_owned());
        Some(labels)
    }

    /// The fleet's form of this service.
    pub fn spec(&self) -> ServiceSpec {
        ServiceSpec {
            service: self.service.value.clone(),
            protocol: self.protocol.value,
            port: self.port(),
            versions: self
                .versions
                .iter()
                .map(|(name, version)| version.spec(name))
                .collect(),
        }
    }
}

/// One version of a service: its replicas, pod labels and behaviour knobs.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Version {
    /// How many endpoints (pods).
    #[serde(default = "one_usize")]
    pub replicas: usize,
    /// Extra pod labels; `version` is always the version's key and `app`
    /// defaults to the first label of the service name.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Processing time before each answer.
    #[serde(default)]
    pub latency: LatencyModel,
    /// Share of requests answered with the protocol's error (HTTP 503,
    /// Dubbo status 80, Thrift `TApplicationException`), e.g. `5%`.
    #[serde(default)]
    pub error_rate: Percent,
    /// Fail the first N attempts of each request id, then succeed (for retries).
    #[serde(default)]
    pub succeed_after: u32,
    /// Share of requests on which the endpoint closes the connection instead of answering.
    #[serde(default)]
    pub close_rate: Percent,
    /// Bytes of padding added to each successful answer.
    #[serde(default)]
    pub response_size: usize,
    /// Hold every measured request until nothing has moved for a second,
    /// then release them all: a barrier for circuit breaking, so how many
    /// requests the proxy admits does not depend on backend speed.
    #[serde(default)]
    pub hold: bool,
    /// The pods are in the proxy's endpoint list but do not listen (gone
    /// in a rolling restart, not yet removed): every connection to them is
    /// refused. What Istio's default retries (`connect-failure`) hide.
    #[serde(default)]
    pub down: bool,
}

fn one_usize() -> usize {
    1
}

impl Version {
    /// The fleet's form of this version.
    pub fn spec(&self, name: &str) -> VersionSpec {
        VersionSpec {
            name: name.to_owned(),
            replicas: self.replicas,
            labels: self.labels.clone(),
            behaviour: Behaviour {
                latency: self.latency.to_latency(),
                error_rate: Probability::new(self.error_rate.fraction()).unwrap_or_default(),
                succeed_after: self.succeed_after,
                close_rate: Probability::new(self.close_rate.fraction()).unwrap_or_default(),
                response_size: self.response_size,
                hold: self.hold,
                down: self.down,
            },
        }
    }
}

/// How long an endpoint takes before answering.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum LatencyModel {
    /// Answer at once.
    #[default]
    None,
    /// Always this long: `{fixed: 2ms}`.
    Fixed(TextDuration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// The shortest.
        min: TextDuration,
        /// The longest.
        max: TextDuration,
    },
    /// Log-normal with this median and shape (sigma of the underlying
    /// normal; 0.5 gives a p99 about 3.2 times the median).
    Lognormal {
        /// The median.
        median: TextDuration,
        /// The shape.
        sigma: f64,
    },
}

impl LatencyModel {
    /// The fleet's form.
    pub fn to_latency(self) -> FleetLatency {
        match self {
            LatencyModel::None => FleetLatency::None,
            LatencyModel::Fixed(d) => FleetLatency::Fixed(d.get()),
            LatencyModel::Uniform { min, max } => FleetLatency::Uniform {
                min: min.get(),
                max: max.get(),
            },
            LatencyModel::Lognormal { median, sigma } => FleetLatency::Lognormal {
                median: median.get(),
                sigma,
            },
        }
    }
}

// === routing ===

/// A Kubernetes object kept as written (apiVersion, kind, metadata, spec).
/// `sim` reads only what its structural checks need; the proxy adapters
/// parse the rest, and reject what they do not support.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct RoutingObject(pub Node);

impl RoutingObject {
    /// `kind`, e.g. `MetaRouter`.
    pub fn kind(&self) -> Option<&str> {
        self.0.get("kind").and_then(Node::as_str)
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> Option<&str> {
        self.0.get("apiVersion").and_then(Node::as_str)
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.0.path(&["metadata", "name"]).and_then(Node::as_str)
    }

    /// `metadata.namespace`, `default` when absent (as kubectl does).
    pub fn namespace(&self) -> &str {
        self.0
            .path(&["metadata", "namespace"])
            .and_then(Node::as_str)
            .unwrap_or("default")
    }

    /// `Kind namespace/name`, the way messages name an object.
    pub fn describe(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind().unwrap_or("object"),
            self.namespace(),
            self.name().unwrap_or("?")
        )
    }

    /// `(kind, namespace, name)`: applying an object with the same identity
    /// replaces the previous one.
    pub fn identity(&self) -> (String, String, String) {
        (
            self.kind().unwrap_or_default().to_owned(),
            self.namespace().to_owned(),
            self.name().unwrap_or_default().to_owned(),
        )
    }

    /// The object as JSON, for a proxy adapter.
    pub fn to_json(&self) -> serde_json::Value {
        self.0.to_json()
    }
}

impl JsonSchema for RoutingObject {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RoutingObject".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "A Kubernetes routing object as a user applies it: Aeraki MetaRouter, Istio VirtualService or DestinationRule.",
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {
                "apiVersion": { "type": "string" },
                "kind": { "enum": ["MetaRouter", "VirtualService", "DestinationRule"] },
                "metadata": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string" },
                        "namespace": { "type": "string" }
                    }
                },
                "spec": { "type": "object" }
            }
        })
    }
}

/// A routing change during the run.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// The phase's name, for `of: {phase: …}` (default `phase-1`, `phase-2`…;
    /// the routing before the first phase is `initial`).
    #[serde(default)]
    pub name: Option<Located<String>>,
    /// When the objects are applied (written `at`).
    #[serde(rename = "at")]
    pub start: PhaseStart,
    /// The objects to apply: one with the kind, namespace and name of an
    /// earlier object replaces it, others are added.
    pub routing: Vec<RoutingObject>,
}

/// When a phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PhaseStart {
    /// This long after the workload starts: `{time: 5s}`.
    Time(TextDuration),
    /// After the workload has sent this many requests (all clients): `{requests: 10000}`.
    Requests(u64),
}

// === proxy ===

/// The `proxy:` block: settings of the proxy under test that a mesh
/// generates itself rather than reading from a routing object. A proxy
/// adapter that cannot apply one refuses the scenario rather than run it
/// with its own default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// The downstream idle timeout: a client connection on which nothing
    /// arrives for this long (no request, no heartbeat) with nothing in
    /// flight is closed. This is MetaProtocolProxy's `idle_timeout`, which
    /// Aeraki writes into the EnvoyFilter it generates; no MetaRouter or
    /// VirtualService field sets it. Absent: the proxy's own default
    /// (meshproxy: 300s).
    #[serde(default)]
    pub idle_timeout: Option<Located<TextDuration>>,
}

// === workload ===

/// The clients.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The clients, each with its connections and what it sends.
    pub clients: Located<Vec<Located<Client>>>,
    /// Requests each client sends first, on connections of their own, to
    /// warm the proxy and the fleet up; they are not verified.
    #[serde(default)]
    pub warmup: Option<Located<u64>>,
}

/// One client: its connections, its load loop, its bound and its calls.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The client's name (default `client-1`, `client-2`…); a single-call
    /// client's request class takes this name.
    #[serde(default)]
    pub name: Option<Located<String>>,
    /// The target service: a fleet FQDN or its short name.
    pub service: Located<String>,
    /// Long-lived connections held open at once.
    #[serde(default = "one_located")]
    pub connections: Located<u64>,
    /// Requests in flight per connection (pipelining depth).
    #[serde(default = "one_located")]
    pub in_flight: Located<u64>,
    /// How long a connection lives before the client reconnects (churn);
    /// absent: the whole run.
    #[serde(default)]
    pub lifetime: Option<Located<Lifetime>>,
    /// Idle stretches of every connection of a closed loop, on the same
    /// connection (probing the proxy's idle timeout); absent: none.
    #[serde(default)]
    pub pause: Option<Located<Pause>>,
    /// `closed` (the default: each connection sends its next request when an
    /// answer arrives) or `open` (with the `open` settings).
    #[serde(default, rename = "loop")]
    pub loop_kind: Option<Located<LoopKind>>,
    /// Open-loop settings: requests start on a schedule, whatever the answers.
    #[serde(default)]
    pub open: Option<Located<OpenLoop>>,
    /// The request budget: the client stops after this many requests.
    #[serde(default)]
    pub requests: Option<Located<u64>>,
    /// The time budget: the client stops after this long.
    #[serde(default)]
    pub duration: Option<Located<TextDuration>>,
    /// The one call every request makes (or give `mix`).
    #[serde(default)]
    pub call: Option<Located<Call>>,
    /// Several request classes with their proportions (or give `call`).
    #[serde(default)]
    pub mix: Option<Located<Vec<Located<MixEntry>>>>,
}

fn one_located() -> Located<u64> {
    Located::unlocated(1)
}

/// How long a connection lives.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Lifetime {
    /// This many requests, then reconnect: `{requests: 1000}`.
    Requests(u64),
    /// This long, then reconnect: `{duration: 10s}`.
    Duration(TextDuration),
}

/// A pause of a closed-loop connection: after every `every` requests started
/// on it, the connection stops starting requests, waits for all of their
/// answers, stays idle for `for` (sending a Dubbo heartbeat every
/// `heartbeat`, if given), then carries on over the same connection. No
/// pause follows the connection's last request.
/// `{ every: 300, for: 5s, heartbeat: 1s }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// Requests started on a connection between two pauses (at least 1).
    pub every: Located<u64>,
    /// How long the connection stays idle (written `for`).
    #[serde(rename = "for")]
    pub idle: Located<TextDuration>,
    /// dubbo only: a heartbeat this often while idle, each of which must
    /// be answered (shorter than `for`); absent: a silent pause.
    #[serde(default)]
    pub heartbeat: Option<Located<TextDuration>>,
}

impl Pause {
    /// Heartbeats sent in one pause: one every `heartbeat`, strictly
    /// inside `for`.
    pub fn heartbeats_each(&self) -> u64 {
        let Some(interval) = self.heartbeat else {
            return 0;
        };
        let (idle, interval) = (self.idle.get().as_nanos(), interval.get().as_nanos());
        if interval == 0 {
            return 0;
        }
        u64::try_from(idle.div_ceil(interval).saturating_sub(1)).unwrap_or(u64::MAX)
    }
}

/// The load loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoopKind {
    /// Send when an answer frees a slot (`in_flight` per connection).
    Closed,
    /// Send on a schedule (the `open` settings give it).
    Open,
}

/// Open-loop settings. Latencies are measured from each request's intended
/// start, so a slow proxy cannot hide behind a stalled client
/// (coordinated omission).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenLoop {
    /// The client's total rate over its connections, e.g. `5000/s`.
    pub rate: Rate,
    /// How starts are spaced.
    #[serde(default)]
    pub arrival: Arrival,
}

/// How open-loop starts are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Exponential gaps (a Poisson process), as independent users arrive.
    #[default]
    Poisson,
    /// Equal gaps.
    Constant,
}

/// One request class of a mix.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// The class name, for `of: {class: …}`.
    pub name: Located<String>,
    /// Its relative weight (a whole number).
    pub weight: Located<Weight>,
    /// What it sends.
    pub call: Located<Call>,
}

/// One call, with the fields of the client's protocol:
/// - thrift: `method` (default `sayHello`), `name` (the argument, default
///   `Aeraki`), `transport` (`unframed` default, `framed`), `protocol`
///   (`binary` default, `compact`, `lax_binary`), `service` (multiplexing
///   name), `context` (entries of the `sayHello` context map);
/// - dubbo: `interface` (default the sample `DemoService`), `method`
///   (`sayHello`), `name` (`Aeraki`), `attachments`;
/// - http: `method` (`GET`), `path` (`/hello`), `headers`, `body`;
/// - tcp: `payload` (`ping`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// thrift/dubbo: the method; http: the HTTP method.
    #[serde(default)]
    pub method: Option<Located<String>>,
    /// thrift/dubbo: the name argument of `sayHello`.
    #[serde(default)]
    pub name: Option<Located<String>>,
    /// thrift: `framed` or `unframed`.
    #[serde(default)]
    pub transport: Option<Located<ThriftTransport>>,
    /// thrift: `binary`, `compact` or `lax_binary`.
    #[serde(default)]
    pub protocol: Option<Located<ThriftProtocol>>,
    /// thrift: the multiplexing service name (`Service:method`).
    #[serde(default)]
    pub service: Option<Located<String>>,
    /// thrift: entries of the `sayHello` context map (in the body, unseen by routing).
    #[serde(default)]
    pub context: Option<Located<BTreeMap<String, String>>>,
    /// dubbo: the interface.
    #[serde(default)]
    pub interface: Option<Located<String>>,
    /// dubbo: the attachments (routable attributes).
    #[serde(default)]
    pub attachments: Option<Located<BTreeMap<String, String>>>,
    /// http: the request target.
    #[serde(default)]
    pub path: Option<Located<String>>,
    /// http: the headers.
    #[serde(default)]
    pub headers: Option<Located<BTreeMap<String, String>>>,
    /// http: the body.
    #[serde(default)]
    pub body: Option<Located<String>>,
    /// tcp: the bytes to echo, as text.
    #[serde(default)]
    pub payload: Option<Located<String>>,
}

/// The Thrift transport of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThriftTransport {
    /// A 4-byte length before each message.
    Framed,
    /// Messages back to back.
    Unframed,
}

/// The Thrift protocol (encoding) of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThriftProtocol {
    /// TBinaryProtocol, strict.
    Binary,
    /// TCompactProtocol.
    Compact,
    /// TBinaryProtocol without the version word.
    LaxBinary,
}

/// The fields each protocol's calls take, in the order the docs list them.
pub(crate) fn call_fields(protocol: Protocol) -> &'static [&'static str] {
    match protocol {
        Protocol::Thrift => &[
            "method",
            "name",
            "transport",
            "protocol",
            "service",
            "context",
        ],
        Protocol::Dubbo => &["interface", "method", "name", "attachments"],
        Protocol::Http => &["method", "path", "headers", "body"],
        Protocol::Tcp => &["payload"],
    }
}

fn text(field: &Option<Located<String>>, default: &str) -> String {
    field
        .as_ref()
        .map_or_else(|| default.to_owned(), |f| f.value.clone())
}

fn map(field: &Option<Located<BTreeMap<String, String>>>) -> BTreeMap<String, String> {
    field.as_ref().map(|f| f.value.clone()).unwrap_or_default()
}

impl Call {
    /// The fields written, with their positions, in the order of the struct.
    pub(crate) fn written(&self) -> Vec<(&'static str, super::values::Position)> {
        let mut out = Vec::new();
        let mut add = |name, at: Option<super::values::Position>| {
            if let Some(at) = at {
                out.push((name, at));
            }
        };
        add("method", self.method.as_ref().map(|f| f.at));
        add("name", self.name.as_ref().map(|f| f.at));
        add("transport", self.transport.as_ref().map(|f| f.at));
        add("protocol", self.protocol.as_ref().map(|f| f.at));
        add("service", self.service.as_ref().map(|f| f.at));
        add("context", self.context.as_ref().map(|f| f.at));
        add("interface", self.interface.as_ref().map(|f| f.at));
        add("attachments", self.attachments.as_ref().map(|f| f.at));
        add("path", self.path.as_ref().map(|f| f.at));
        add("headers", self.headers.as_ref().map(|f| f.at));
        add("body", self.body.as_ref().map(|f| f.at));
        add("payload", self.payload.as_ref().map(|f| f.at));
        out
    }

    /// The call for `protocol`, defaults filled in: what the client sends.
    /// Fields of other protocols are ignored here (the loader rejects them).
    pub fn spec(&self, protocol: Protocol) -> WorkloadCall {
        let pairs = |field: &Option<Located<BTreeMap<String, String>>>| {
            map(field).into_iter().collect::<Vec<_>>()
        };
        match protocol {
            Protocol::Thrift => WorkloadCall::Thrift {
                method: text(&self.method, "sayHello"),
                name: text(&self.name, "Aeraki"),
                options: ThriftOptions {
                    transport: match self.transport.as_ref().map(|t| t.value) {
                        Some(ThriftTransport::Framed) => Transport::Framed,
                        Some(ThriftTransport::Unframed) | None => Transport::Unframed,
                    },
                    encoding: match self.protocol.as_ref().map(|p| p.value) {
                        Some(ThriftProtocol::Compact) => Encoding::Compact,
                        Some(ThriftProtocol::LaxBinary) => Encoding::LaxBinary,
                        Some(ThriftProtocol::Binary) | None => Encoding::Binary,
                    },
                    service: self.service.as_ref().map(|s| s.value.clone()),
                },
                context: map(&self.context),
            },
            Protocol::Dubbo => WorkloadCall::Dubbo {
                interface: text(&self.interface, crate::client::dubbo::DEMO_SERVICE),
                method: text(&self.method, "sayHello"),
                name: text(&self.name, "Aeraki"),
                attachments: pairs(&self.attachments),
            },
            Protocol::Http => WorkloadCall::Http {
                method: text(&self.method, "GET"),
                path: text(&self.path, "/hello"),
                headers: pairs(&self.headers),
                body: text(&self.body, ""),
            },
            Protocol::Tcp => WorkloadCall::Tcp {
                payload: text(&self.payload, "ping").into_bytes(),
            },
        }
    }
}

/// One request class of a client: a name, its share of the client's
/// requests, and its call.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestClass<'a> {
    /// The class name.
    pub name: &'a str,
    /// Its share of the client's requests, in [0, 1].
    pub share: f64,
    /// What it sends.
    pub call: &'a Call,
}

impl Client {
    /// The client's name, `client-<n>` (1-based `index`) by default.
    pub fn name_or(&self, index: usize) -> String {
        self.name
            .as_ref()
            .map_or_else(|| format!("client-{}", index + 1), |n| n.value.clone())
    }

    /// Whether the client runs an open loop.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
            || matches!(
                self.loop_kind.as_ref().map(|l| l.value),
                Some(LoopKind::Open)
            )
    }

    /// The open-loop rate, when open.
    pub fn rate(&self) -> Option<Rate> {
        self.open.as_ref().map(|o| o.rate)
    }

    /// How many requests the client is expected to send: its request budget,
    /// or rate × duration for an open loop, whichever is smaller. `None`
    /// when only the (closed-loop) answers can tell.
    pub fn expected_requests(&self) -> Option<f64> {
        let by_budget = self.requests.as_ref().map(|r| r.value as f64);
        let by_time = match (self.rate(), self.duration.as_ref()) {
            (Some(rate), Some(d)) => Some(rate.per_second() * d.get().as_secs_f64()),
            _ => None,
        };
        match (by_budget, by_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How long the client is expected to run, when the numbers tell.
    pub fn expected_duration(&self) -> Option<Duration> {
        let by_time = self.duration.as_ref().map(|d| d.get());
        let by_budget = match (self.rate(), self.requests.as_ref()) {
            (Some(rate), Some(r)) => {
                Duration::try_from_secs_f64(r.value as f64 / rate.per_second()).ok()
            }
            _ => None,
        };
        match (by_time, by_budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many connections the client opens over the run, counting
    /// reconnections after `lifetime`, when the numbers tell.
    pub fn expected_connections(&self) -> Option<f64> {
        let held = self.connections.value.max(1) as f64;
        match self.lifetime.as_ref().map(|l| l.value) {
            None => Some(held),
            Some(Lifetime::Requests(per)) => {
                let total = self.expected_requests()?;
                Some(held.max((total / per.max(1) as f64).ceil()))
            }
            Some(Lifetime::Duration(per)) => {
                let run = self.expected_duration()?;
                let per = per.get().as_secs_f64();
                if per <= 0.0 {
                    return None;
                }
                Some(held * (run.as_secs_f64() / per).ceil().max(1.0))
            }
        }
    }

    /// How many heartbeats the client is expected to send over the run: on
    /// each connection, one pause per `every` requests but after the last,
    /// each with its heartbeats. `None` when the request budget is not known.
    pub fn expected_heartbeats(&self) -> Option<f64> {
        let Some(pause) = self.pause.as_ref().map(|p| p.value) else {
            return Some(0.0);
        };
        let connections = self.connections.value.max(1) as f64;
        let per_connection = self.expected_requests()? / connections;
        let pauses = ((per_connection - 1.0) / pause.every.value.max(1) as f64)
            .floor()
            .max(0.0);
        Some(connections * pauses * pause.heartbeats_each() as f64)
    }

    /// The client's request classes: the mix entries, or one class named
    /// after the client for a single `call`.
    pub fn classes<'a>(&'a self, client_name: &'a str) -> Vec<RequestClass<'a>> {
        if let Some(mix) = &self.mix {
            let total: f64 = mix.iter().map(|e| f64::from(e.weight.value.0)).sum();
            return mix
                .iter()
                .map(|e| RequestClass {
                    name: &e.name.value,
                    share: if total > 0.0 {
                        f64::from(e.weight.value.0) / total
                    } else {
                        0.0
                    },
                    call: &e.call.value,
                })
                .collect();
        }
        static DEFAULT_CALL: Call = Call {
            method: None,
            name: None,
            transport: None,
            protocol: None,
            service: None,
            context: None,
            interface: None,
            attachments: None,
            path: None,
            headers: None,
            body: None,
            payload: None,
        };
        vec![RequestClass {
            name: client_name,
            share: 1.0,
            call: self.call.as_ref().map_or(&DEFAULT_CALL, |c| &c.value),
        }]
    }
}

// === expectations ===

/// Which requests an assertion is about; every given field must match.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// A request class: a `mix` entry's name, or a single-call client's name.
    #[serde(default)]
    pub class: Option<Located<String>>,
    /// A client, by name.
    #[serde(default)]
    pub client: Option<Located<String>>,
    /// Routing attributes with exact values, named as the proxy sees them
    /// (thrift `method`; dubbo `interface`, `method`, attachments; http
    /// `:method`, `:path`, headers in lower case).
    #[serde(default)]
    pub attributes: Ordered<String>,
    /// Only requests sent while this phase is in force (`initial`: before the first phase).
    #[serde(default)]
    pub phase: Option<Located<String>>,
}

impl Selector {
    /// Whether nothing narrows the selection.
    pub fn is_all(&self) -> bool {
        self.class.is_none()
            && self.client.is_none()
            && self.attributes.is_empty()
            && self.phase.is_none()
    }
}

/// The fields every assertion has, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// A name for reports.
    pub name: Option<&'a str>,
    /// The service, as written.
    pub service: Option<&'a Located<String>>,
    /// The selection.
    pub of: &'a Selector,
    /// Override of `confidence.alpha`.
    pub alpha: Option<Located<f64>>,
    /// Override of `confidence.power`.
    pub power: Option<Located<f64>>,
    /// Override of `confidence.detect`.
    pub detect: Option<Located<Percent>>,
}

macro_rules! expectation {
    (
        $(#[$doc:meta])*
        $name:ident {
            $($(#[$fdoc:meta])* $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// A name for reports (default: the kind and its place in `expect`).
            #[serde(default)]
            pub name: Option<String>,
            /// The service whose requests are checked: a fleet FQDN or its
            /// short name. Default: the fleet's only service, or the one
            /// service the (selected) clients call.
            #[serde(default)]
            pub service: Option<Located<String>>,
            /// Which requests (default: all the service receives).
            #[serde(default)]
            pub of: Selector,
            $($(#[$fdoc])* pub $field: $ty,)*
            /// False-failure probability of this assertion (overrides `confidence.alpha`).
            #[serde(default)]
            pub alpha: Option<Located<f64>>,
            /// Probability of detecting a deviation of `detect` (overrides `confidence.power`).
            #[serde(default)]
            pub power: Option<Located<f64>>,
            /// The smallest deviation to detect, in percentage points (overrides `confidence.detect`).
            #[serde(default)]
            pub detect: Option<Located<Percent>>,
        }

        impl $name {
            /// The fields every assertion has.
            pub fn common(&self) -> Common<'_> {
                Common {
                    name: self.name.as_deref(),
                    service: self.service.as_ref(),
                    of: &self.of,
                    alpha: self.alpha,
                    power: self.power,
                    detect: self.detect,
                }
            }
        }
    };
}

expectation! {
    /// Requests spread uniformly over the endpoints (or versions), within
    /// every connection by default: per-request balancing, which a
    /// layer-4 proxy fails.
    Balanced {
        /// `endpoints` (default) or `versions`.
        #[serde(default)]
        over: Over,
        /// Restrict to these versions (default: all of the service's).
        #[serde(default)]
        versions: Option<Vec<Located<String>>>,
        /// `connection` (default: every connection on its own) or `run`.
        #[serde(default = "per_connection")]
        per: Per,
    }
}

expectation! {
    /// Requests split over versions (or subsets) by weight.
    Split {
        /// Version or subset → weight (whole numbers, normalised by their sum).
        to: Ordered<Located<Weight>>,
        /// `run` (default) or `connection` (the split holds within every connection).
        #[serde(default = "per_run")]
        per: Per,
    }
}

expectation! {
    /// Every selected request reaches the named version or subset: zero tolerance.
    Routed {
        /// The version or subset.
        to: Located<String>,
    }
}

expectation! {
    /// Latency quantile bounds, as the client measures them.
    Latency {
        /// Only requests served by this version or subset.
        #[serde(default)]
        version: Option<Located<String>>,
        /// Upper bounds by quantile: `{p50: 5ms, p99: 20ms}`.
        #[serde(default)]
        below: Ordered<Located<TextDuration>>,
        /// Lower bounds by quantile (e.g. an injected delay): `{p50: 2ms}`.
        #[serde(default)]
        above: Ordered<Located<TextDuration>>,
    }
}

expectation! {
    /// Requests to a too-slow backend fail after the route timeout: within
    /// [`after`, `after` + `slack`], never later.
    Timeout {
        /// The timeout the routing sets.
        after: Located<TextDuration>,
        /// How late the failure may come (default 50ms).
        #[serde(default = "default_slack")]
        slack: Located<TextDuration>,
    }
}

expectation! {
    /// Injected faults: a share of requests delayed and/or aborted.
    Fault {
        /// Delayed requests.
        #[serde(default)]
        delay: Option<Located<FaultDelay>>,
        /// Aborted requests.
        #[serde(default)]
        abort: Option<Located<FaultAbort>>,
    }
}

expectation! {
    /// The mirror target receives a share of the requests; clients never
    /// see its answers, and the primary's answers are unharmed.
    Mirrored {
        /// The version or subset receiving the copies.
        to: Located<String>,
        /// The mirror target's service (default: the expectation's service).
        #[serde(default)]
        target: Option<Located<String>>,
        /// The share of requests mirrored (default `100%`).
        #[serde(default = "all_percent")]
        fraction: Located<Percent>,
    }
}

expectation! {
    /// Circuit breaking: requests beyond the connection-pool limits are
    /// rejected, at about this share, at least this many, or exactly this
    /// many (one of the three).
    Rejected {
        /// The expected share of rejected requests.
        #[serde(default)]
        fraction: Option<Located<Percent>>,
        /// At least this many rejected requests.
        #[serde(default)]
        at_least: Option<Located<u64>>,
        /// Exactly this many rejected requests (a deterministic overflow,
        /// with the backends on `hold`).
        #[serde(default)]
        exactly: Option<Located<u64>>,
        /// The status a rejected request gets (HTTP 503 by default).
        #[serde(default)]
        status: Option<u32>,
    }
}

expectation! {
    /// Outlier detection ejects a failing endpoint: after `within`, no new
    /// request reaches it (until its ejection ends).
    Ejected {
        /// The version of the failing endpoint(s).
        version: Located<String>,
        /// Which replica (default: every endpoint of the version).
        #[serde(default)]
        replica: Option<Located<usize>>,
        /// How soon after it starts failing (default 1s).
        #[serde(default = "default_within")]
        within: Located<TextDuration>,
    }
}

expectation! {
    /// TCP traffic shifting: connections (not requests) split by weight.
    Connections {
        /// Version or subset → weight.
        to: Ordered<Located<Weight>>,
    }
}

expectation! {
    /// Redirects: every selected request is answered by the proxy itself
    /// with `status` and exactly this `location`, reaching no endpoint.
    /// Zero tolerance.
    Redirected {
        /// The expected `location`, e.g. `http://greeter:3000/hello`.
        location: Located<String>,
        /// The status (default 301, Istio's default `redirectCode`).
        #[serde(default)]
        status: Option<u32>,
    }
}

expectation! {
    /// What the endpoints received: every selected request arrived with
    /// these attributes, after the proxy's rewrites and header changes.
    /// Zero tolerance.
    Received {
        /// Attribute → exact value, named as `of.attributes` names them
        /// (http `:path` with its query, `:authority`, headers in lower case).
        attributes: Ordered<String>,
    }
}

expectation! {
    /// Heartbeats: every heartbeat the selected clients sent while their
    /// connections paused (`pause.heartbeat`) was answered by a heartbeat.
    /// Zero tolerance; inconclusive when none was sent. Selects by
    /// `of.client` only: a heartbeat has no class, attributes or phase.
    Heartbeats {}
}

expectation! {
    /// Retries: each selected request reaches the backends exactly
    /// `attempts` times (the echo reports the attempt number); zero tolerance.
    Retried {
        /// Attempts per request, the first included.
        attempts: Located<u32>,
    }
}

/// `fault.delay`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultDelay {
    /// The share of requests delayed.
    pub fraction: Located<Percent>,
    /// By how long.
    pub by: Located<TextDuration>,
}

/// `fault.abort`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultAbort {
    /// The share of requests aborted.
    pub fraction: Located<Percent>,
    /// The status they get (HTTP status, or the protocol's error code).
    pub status: Located<u32>,
}

/// What `balanced` is uniform over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Over {
    /// Every endpoint (pod) gets the same share.
    #[default]
    Endpoints,
    /// Every version gets the same share.
    Versions,
}

/// Where a distribution must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// Within every connection on its own.
    Connection,
    /// Over the whole run.
    Run,
}

fn per_connection() -> Per {
    Per::Connection
}

fn per_run() -> Per {
    Per::Run
}

fn default_slack() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::from_millis(50)))
}

fn default_within() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::from_secs(1)))
}

fn all_percent() -> Located<Percent> {
    Located::unlocated(Percent::new(100.0).unwrap_or_default())
}

/// One assertion; the key names its kind.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    /// Uniform over endpoints or versions.
    Balanced(Balanced),
    /// Weights over versions.
    Split(Split),
    /// Every request reaches one version: zero tolerance.
    Routed(Routed),
    /// Quantile bounds.
    Latency(Latency),
    /// Fails within [T, T + slack].
    Timeout(Timeout),
    /// Injected delays and aborts.
    Fault(Fault),
    /// Mirroring.
    Mirrored(Mirrored),
    /// Circuit-breaker overflow.
    Rejected(Rejected),
    /// Outlier ejection.
    Ejected(Ejected),
    /// Weights over connections (TCP).
    Connections(Connections),
    /// Attempt counts.
    Retried(Retried),
    /// What the endpoints received (rewrites, header mutation).
    Received(Received),
    /// Redirects answered by the proxy.
    Redirected(Redirected),
    /// Heartbeats answered on paused connections.
    Heartbeats(Heartbeats),
}

impl Expectation {
    /// The kind, as the YAML key writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Expectation::Balanced(_) => "balanced",
            Expectation::Split(_) => "split",
            Expectation::Routed(_) => "routed",
            Expectation::Latency(_) => "latency",
            Expectation::Timeout(_) => "timeout",
            Expectation::Fault(_) => "fault",
            Expectation::Mirrored(_) => "mirrored",
            Expectation::Rejected(_) => "rejected",
            Expectation::Ejected(_) => "ejected",
            Expectation::Connections(_) => "connections",
            Expectation::Retried(_) => "retried",
            Expectation::Received(_) => "received",
            Expectation::Redirected(_) => "redirected",
            Expectation::Heartbeats(_) => "heartbeats",
        }
    }

    /// The fields every assertion has.
    pub fn common(&self) -> Common<'_> {
        match self {
            Expectation::Balanced(e) => e.common(),
            Expectation::Split(e) => e.common(),
            Expectation::Routed(e) => e.common(),
            Expectation::Latency(e) => e.common(),
            Expectation::Timeout(e) => e.common(),
            Expectation::Fault(e) => e.common(),
            Expectation::Mirrored(e) => e.common(),
            Expectation::Rejected(e) => e.common(),
            Expectation::Ejected(e) => e.common(),
            Expectation::Connections(e) => e.common(),
            Expectation::Retried(e) => e.common(),
            Expectation::Received(e) => e.common(),
            Expectation::Redirected(e) => e.common(),
            Expectation::Heartbeats(e) => e.common(),
        }
    }

    /// The versions or subsets the assertion names, with their positions
    /// (of its own service; `mirrored` names the target's).
    pub fn named_versions(&self) -> Vec<&Located<String>> {
        match self {
            Expectation::Balanced(e) => e.versions.iter().flatten().collect(),
            Expectation::Split(e) => e.to.0.iter().map(|(k, _)| k).collect(),
            Expectation::Connections(e) => e.to.0.iter().map(|(k, _)| k).collect(),
            Expectation::Routed(e) => vec![&e.to],
            Expectation::Latency(e) => e.version.iter().collect(),
            Expectation::Ejected(e) => vec![&e.version],
            Expectation::Mirrored(_)
            | Expectation::Timeout(_)
            | Expectation::Fault(_)
            | Expectation::Rejected(_)
            | Expectation::Retried(_)
            | Expectation::Received(_)
            | Expectation::Redirected(_)
            | Expectation::Heartbeats(_) => Vec::new(),
        }
    }

    /// A one-line description for plans and reports, e.g. `v1 20, v2 80`.
    pub fn summary(&self) -> String {
        let weights = |to: &Ordered<Located<Weight>>| {
            to.iter()
                .map(|(k, w)| format!("{} {}", k.value, w.value.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Expectation::Balanced(e) => format!(
                "uniform over {} per {}",
                match e.over {
                    Over::Endpoints => "endpoints",
                    Over::Versions => "versions",
                },
                match e.per {
                    Per::Connection => "connection",
                    Per::Run => "run",
                }
            ),
            Expectation::Split(e) => weights(&e.to),
            Expectation::Connections(e) => weights(&e.to),
            Expectation::Routed(e) => format!("all to {}", e.to.value),
            Expectation::Latency(e) => {
                let mut parts: Vec<String> = e
                    .below
                    .iter()
                    .map(|(q, d)| format!("{} <= {}", q.value, d.value))
                    .collect();
                parts.extend(
                    e.above
                        .iter()
                        .map(|(q, d)| format!("{} >= {}", q.value, d.value)),
                );
                parts.join(", ")
            }
            Expectation::Timeout(e) => format!(
                "fails within [{}, {} + {}]",
                e.after.value, e.after.value, e.slack.value
            ),
            Expectation::Fault(e) => {
                let mut parts = Vec::new();
                if let Some(d) = &e.delay {
                    parts.push(format!("{} delayed by {}", d.fraction.value, d.by.value));
                }
                if let Some(a) = &e.abort {
                    parts.push(format!(
                        "{} aborted with {}",
                        a.fraction.value, a.status.value
                    ));
                }
                parts.join(", ")
            }
            Expectation::Mirrored(e) => format!("{} mirrored to {}", e.fraction.value, e.to.value),
            Expectation::Rejected(e) => match (&e.fraction, &e.at_least, &e.exactly) {
                (Some(f), _, _) => format!("{} rejected", f.value),
                (_, Some(n), _) => format!("at least {} rejected", n.value),
                (_, _, Some(n)) => format!("exactly {} rejected", n.value),
                (None, None, None) => "rejected".into(),
            },
            Expectation::Ejected(e) => {
                format!("{} ejected within {}", e.version.value, e.within.value)
            }
            Expectation::Retried(e) => format!("{} attempts each", e.attempts.value),
            Expectation::Redirected(e) => format!(
                "redirected {} to {}",
                e.status.unwrap_or(301),
                e.location.value
            ),
            Expectation::Received(e) => {
                let parts: Vec<String> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", k.value))
                    .collect();
                format!("arrived with {}", parts.join(", "))
            }
            Expectation::Heartbeats(_) => "every heartbeat answered".to_owned(),
        }
    }
}

/// The statistical levels of the assertions.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confidence {
    /// False-failure probability per assertion, a number in (0, 1) (default 1e-6).
    #[serde(default = "default_alpha")]
    pub alpha: Located<f64>,
    /// Probability of detecting a deviation of `detect`, a number in (0, 1) (default 0.99).
    #[serde(default = "default_power")]
    pub power: Located<f64>,
    /// The smallest deviation to detect, in percentage points (default `3%`).
    #[serde(default = "default_detect")]
    pub detect: Located<Percent>,
    /// `fixed` (default): every planned sample, then one test. `sequential`:
    /// `split` and `fault` shares are tested as requests end and the run
    /// stops once every assertion is decided.
    #[serde(default)]
    pub mode: Mode,
}

/// How the assertions consume the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fixed-n test on every sample.
    #[default]
    Fixed,
    /// Tests that stop early when decisive (truncated SPRT).
    Sequential,
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence {
            alpha: default_alpha(),
            power: default_power(),
            detect: default_detect(),
            mode: Mode::Fixed,
        }
    }
}

fn default_alpha() -> Located<f64> {
    Located::unlocated(1e-6)
}

fn default_power() -> Located<f64> {
    Located::unlocated(0.99)
}

fn default_detect() -> Located<Percent> {
    Located::unlocated(Percent::new(3.0).unwrap_or_default())
}

/// Alpha, power and detect of one assertion, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// False-failure probability.
    pub alpha: f64,
    /// Detection probability.
    pub power: f64,
    /// Smallest deviation detected, as a fraction (0.03 for `3%`).
    pub detect: f64,
}

impl Expectation {
    /// This assertion's levels: its overrides, else `defaults`.
    pub fn levels(&self, defaults: &Confidence) -> Levels {
        let common = self.common();
        Levels {
            alpha: common.alpha.unwrap_or(defaults.alpha).value,
            power: common.power.unwrap_or(defaults.power).value,
            detect: common.detect.unwrap_or(defaults.detect).value.fraction(),
        }
    }
}
