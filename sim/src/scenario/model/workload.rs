//! The workload: clients, their loops, budgets, pauses and calls.

use super::*;

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
/// - grpc (and triple): `service` (default the dubbo-go sample's
///   `org.apache.dubbogo.samples.api.Greeter`), `method` (`SayHello`),
///   `name` (`laurence`), `metadata` (gRPC metadata; Triple carries a
///   Dubbo call's attachments as these headers);
/// - tcp: `payload` (`ping`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// thrift/dubbo/grpc: the method; http: the HTTP method.
    #[serde(default)]
    pub method: Option<Located<String>>,
    /// thrift/dubbo: the name argument of `sayHello`; grpc: the
    /// `HelloRequest`'s name.
    #[serde(default)]
    pub name: Option<Located<String>>,
    /// thrift: `framed` or `unframed`.
    #[serde(default)]
    pub transport: Option<Located<ThriftTransport>>,
    /// thrift: `binary`, `compact` or `lax_binary`.
    #[serde(default)]
    pub protocol: Option<Located<ThriftProtocol>>,
    /// thrift: the multiplexing service name (`Service:method`); grpc: the
    /// service of the `:path` (`/service/method`).
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
    /// grpc: metadata, sent as request headers (routable, as headers are).
    #[serde(default)]
    pub metadata: Option<Located<BTreeMap<String, String>>>,
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
        Protocol::Grpc => &["service", "method", "name", "metadata"],
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
    pub(crate) fn written(&self) -> Vec<(&'static str, crate::scenario::values::Position)> {
        let mut out = Vec::new();
        let mut add = |name, at: Option<crate::scenario::values::Position>| {
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
        add("metadata", self.metadata.as_ref().map(|f| f.at));
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
            Protocol::Grpc => WorkloadCall::Grpc {
                service: text(&self.service, meshbench_wire::grpc::greeter::SERVICE),
                method: text(&self.method, meshbench_wire::grpc::greeter::METHOD),
                name: text(&self.name, meshbench_wire::grpc::greeter::DEFAULT_NAME),
                metadata: map(&self.metadata),
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
            metadata: None,
            payload: None,
        };
        vec![RequestClass {
            name: client_name,
            share: 1.0,
            call: self.call.as_ref().map_or(&DEFAULT_CALL, |c| &c.value),
        }]
    }
}
