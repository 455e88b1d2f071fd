//! The fleet: services, their versions, pod labels and behaviour knobs.

use super::*;

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
    /// What a Thrift service's servers speak (default: unframed binary, as
    /// the Aeraki sample's `TThreadPoolServer`). A client speaking anything
    /// else has its connection closed unanswered; a proxy must convert.
    #[serde(default)]
    pub thrift: Option<Located<ThriftServer>>,
    /// The versions by label (`v1`, `v2`…), in order.
    pub versions: Ordered<Version>,
}

/// The one transport and protocol of a service's Thrift servers, or `auto`
/// for servers that detect both in each message on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThriftServer {
    /// `unframed` (default), `framed` or `auto`.
    #[serde(default)]
    pub transport: ServerTransport,
    /// `binary` (default; lax binary too), `compact` or `auto`.
    #[serde(default)]
    pub protocol: ServerProtocol,
}

/// The transport a Thrift server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerTransport {
    /// Messages back to back (`TSocket`, `TBufferedTransport`).
    #[default]
    Unframed,
    /// A 4-byte length before each message (`TFramedTransport`).
    Framed,
    /// Either, detected in each message.
    Auto,
}

/// The protocol a Thrift server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerProtocol {
    /// `TBinaryProtocol`, strict or lax.
    #[default]
    Binary,
    /// `TCompactProtocol`.
    Compact,
    /// Either, detected in each message.
    Auto,
}

impl ThriftServer {
    /// The fleet's form.
    pub fn codec(&self) -> ServerCodec {
        ServerCodec {
            transport: match self.transport {
                ServerTransport::Unframed => Some(Transport::Unframed),
                ServerTransport::Framed => Some(Transport::Framed),
                ServerTransport::Auto => None,
            },
            encoding: match self.protocol {
                ServerProtocol::Binary => Some(Encoding::Binary),
                ServerProtocol::Compact => Some(Encoding::Compact),
                ServerProtocol::Auto => None,
            },
        }
    }
}

/// The protocol names of the format (`thrift`, `dubbo`, `http`, `grpc` or
/// its Dubbo name `triple`, `tcp`).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // schema only: the field holds meshbench_wire::Protocol
enum ProtocolName {
    Thrift,
    Dubbo,
    Http,
    Grpc,
    Triple,
    Tcp,
}

/// The port a protocol's sample servers listen on by default.
pub fn default_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Thrift => 9090,
        Protocol::Dubbo => 20880,
        Protocol::Http => 3000,
        // dubbo-go's Triple port; gRPC has no fixed one.
        Protocol::Grpc => 20000,
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
            thrift: self
                .thrift
                .as_ref()
                .map_or(ServerCodec::APACHE, |t| t.value.codec()),
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
