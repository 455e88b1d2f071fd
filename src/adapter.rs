//! Proxy adapters: how the harness starts a proxy under test, hands it the
//! routing objects, learns where to send traffic, and stops it. The harness
//! treats every proxy as a black box behind this interface.
//!
//! Lifecycle, in order: [`ProxyAdapter::start`] once (endpoints, initial
//! routing and [`ProxySettings`]; returns only when the proxy is ready to
//! route), then any number
//! of [`ProxyAdapter::apply`] (a phase's new routing; returns once applied),
//! then [`ProxyAdapter::stop`] (always called, also after an error).
//!
//! - `builtin`: the reference proxy in-process; `builtin-l4` is the same
//!   proxy as a layer-4 tcp_proxy, the negative control for per-request
//!   balancing.
//! - `builtin-process`: the `meshproxy` binary as a child process, driven
//!   through its admin API.
//! - `envoy[:istio=1.X][=PATH]`: a real Envoy, the routing translated as istiod and
//!   Aeraki would and served as file-based xDS.
//! - `haproxy[-l4][=PATH]`: a real HAProxy, the routing translated into a
//!   `haproxy.cfg` and reloaded for phases.
//! - `nginx[-l4][=PATH]`: a real nginx, the routing translated into an
//!   `nginx.conf` and reloaded for phases.
//! - `address=HOST:PORT`: a proxy the user runs; meshbench prints the
//!   endpoints it must route to and can change neither its routing nor its
//!   settings (the idle timeout, the workers): the assertions that depend
//!   on them are `unsupported`, the others judged.

mod address;
mod builtin;
mod child;
pub mod envoy;
#[cfg(test)]
mod fixtures;
pub mod haproxy;
mod mesh;
pub mod nginx;
mod process;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

pub use meshbench_mesh_api::Routing;
use meshbench_sim::fleet::EndpointInfo;
pub use meshbench_sim::scenario::ProxySetting;
use meshbench_wire::Protocol;
use meshbench_wire::thrift::ServerCodec;

pub use address::AddressAdapter;
pub use builtin::BuiltinAdapter;
pub use envoy::EnvoyAdapter;
pub use haproxy::HaproxyAdapter;
pub use mesh::Layer;
pub use nginx::NginxAdapter;
pub use process::{ProcessAdapter, meshproxy_path};
pub(crate) use process::{get_stats, parse_line, put_config, settings_args};

/// A boxed future, so adapters can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service the proxy must serve, with the fleet's endpoints behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service FQDN.
    pub name: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// Its port.
    pub port: u16,
    /// What its Thrift servers speak (read only for Thrift), so that a proxy
    /// can be told the upstream codec, as Envoy's cluster protocol options are.
    pub thrift: ServerCodec,
    /// Its endpoints (address and pod labels).
    pub endpoints: Vec<EndpointInfo>,
}

/// One feature an assertion needs of the proxy: its kind on a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature<'a> {
    /// The protocol of the service.
    pub protocol: Protocol,
    /// The expectation kind (`split`, `mirrored`, `heartbeats`…).
    pub kind: &'a str,
}

/// A scenario as an adapter sees it before anything starts: the services
/// (without endpoints), every routing state it will be given (the initial
/// one, then each phase's), and the settings.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    /// The fleet's services; their endpoints are not known yet.
    pub services: Vec<Service>,
    /// The initial routing, then each phase's.
    pub routing: Vec<&'a [Routing]>,
    /// The scenario's proxy settings.
    pub settings: ProxySettings,
}

/// Where the workload sends each service's traffic.
pub type Listeners = BTreeMap<String, SocketAddr>;

/// Proxy settings that no routing object carries (a scenario's `proxy:`
/// block). `None` leaves the proxy's own default; an adapter that cannot
/// apply a given setting refuses to start rather than run with its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxySettings {
    /// The downstream idle timeout (MetaProtocolProxy's `idle_timeout`).
    pub idle_timeout: Option<Duration>,
    /// The proxy's worker threads (Istio's `concurrency`).
    pub workers: Option<u32>,
    /// The seed of the proxy's own random draws (weighted clusters, faults,
    /// mirrors), from `--seed`, so that reruns with other seeds are
    /// independent replications. A proxy that takes no seed ignores it: it
    /// changes no behaviour a scenario asserts.
    pub seed: Option<u64>,
}

/// Why an adapter could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The routing objects were refused (the proxy's own message).
    #[error("the proxy refused the routing: {0}")]
    Refused(String),
    /// The proxy could not be started or reached.
    #[error("the proxy could not start: {0}")]
    Start(String),
    /// The adapter cannot do this at all (e.g. change a user-run proxy's routing).
    #[error("the '{adapter}' adapter cannot {what}")]
    Unsupported {
        /// The adapter.
        adapter: String,
        /// What it cannot do.
        what: String,
    },
}

/// A proxy under test.
pub trait ProxyAdapter: Send {
    /// The adapter's name, as reports show it.
    fn name(&self) -> &str;

    /// Starts the proxy for `services` with `routing` (Kubernetes objects as
    /// data) and `settings`. Must return only once the proxy routes, must
    /// not route traffic to anything but the given endpoints, and must
    /// return [`AdapterError::Unsupported`] for a setting it cannot apply.
    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>>;

    /// Replaces the routing; returns once the next request sees it.
    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>>;

    /// The proxy's own counters (Prometheus text), when it offers them.
    fn stats(&self) -> BoxFuture<'_, Option<String>>;

    /// Why the proxy cannot be judged on `feature` (an expectation kind on
    /// a protocol), asked before it starts; `None` when it can. The
    /// assertion is then reported `unsupported` with the reason and not
    /// verified: what a proxy cannot do is never a pass, and never a
    /// failure of the whole scenario either.
    fn unsupported(&self, feature: &Feature) -> Option<String> {
        let _ = feature;
        None
    }

    /// Why the proxy cannot be judged on this scenario at all (a routing
    /// field or setting it cannot express), asked before anything starts;
    /// `None` when it can. Every assertion is then `unsupported` with the
    /// reason, and nothing runs.
    fn unsupported_setup(&self, setup: &Setup) -> Option<String> {
        let _ = setup;
        None
    }

    /// Which of the scenario's settings this adapter cannot give its proxy
    /// (a routing change for phases, the idle timeout, the worker count),
    /// each with why, asked before anything starts. The assertions whose
    /// verdict depends on one (`Claim::needs`) are `unsupported` with that
    /// reason; the others run with the setting left out (no phase applied,
    /// the proxy's own idle timeout and workers), and the report says so.
    fn unsupported_settings(&self, setup: &Setup) -> BTreeMap<ProxySetting, String> {
        let _ = setup;
        BTreeMap::new()
    }

    /// What the proxy said about itself (version, build), for reports,
    /// once started.
    fn description(&self) -> Option<String> {
        None
    }

    /// Whether the proxy has exited on its own, and how (exit status or
    /// signal, and the tail of its log). The run asks after the workload:
    /// a run whose proxy died ends in an error, never in a verdict. An
    /// in-process proxy cannot exit alone: `None`.
    fn exited(&mut self) -> Option<String> {
        None
    }

    /// The operating-system processes the proxy runs as, while it runs,
    /// its master first (nginx's and HAProxy's workers after it): what a
    /// benchmark pins to its cores and whose CPU time it counts. An
    /// in-process proxy has none of its own: empty.
    fn processes(&self) -> Vec<u32> {
        Vec::new()
    }

    /// Stops the proxy and releases everything it holds. Always called.
    fn stop(&mut self) -> BoxFuture<'_, ()>;
}

/// Which proxy is under test, as `--proxy` names it: parsed once, at the
/// edge, so a typo is a usage error before anything starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySpec {
    /// `builtin`: the reference proxy in-process.
    Builtin,
    /// `builtin-l4`: the reference proxy as a layer-4 tcp_proxy.
    BuiltinL4,
    /// `builtin-process`: the `meshproxy` binary as a child process.
    BuiltinProcess,
    /// `address=HOST:PORT`: a proxy the user runs.
    Address(SocketAddr),
    /// `envoy[:istio=1.X][=PATH]`: a real Envoy ([`EnvoyAdapter`]);
    /// `envoy-l4…` the same Envoy as a tcp_proxy, a real layer-4 negative control.
    Envoy(EnvoySpec),
    /// `haproxy[=PATH]`: a real HAProxy ([`HaproxyAdapter`]); `haproxy-l4…`
    /// the same HAProxy in `mode tcp`, a real layer-4 negative control.
    Haproxy {
        /// The binary, when named; found otherwise ([`haproxy::locate`]).
        binary: Option<std::path::PathBuf>,
        /// Layer 7, or the layer-4 negative control.
        layer: Layer,
    },
    /// `nginx[=PATH]`: a real nginx ([`NginxAdapter`]); `nginx-l4…` the
    /// same nginx as a `stream` proxy, a real layer-4 negative control.
    Nginx {
        /// The binary, when named; found otherwise ([`nginx::locate`]).
        binary: Option<std::path::PathBuf>,
        /// Layer 7, or the layer-4 negative control.
        layer: Layer,
    },
    /// `builtin-fault=NAME`: the reference proxy with a deliberate defect
    /// (one of [`BuiltinAdapter::FAULTS`]), for negative controls.
    BuiltinFault(String),
}

/// `envoy[-l4][:istio=1.X][=PATH]`: which Envoy, at which layer, with which
/// Istio release's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvoySpec {
    /// The binary, when named; found otherwise ([`envoy::locate`]).
    pub binary: Option<std::path::PathBuf>,
    /// Layer 7, or the layer-4 negative control.
    pub layer: envoy::Layer,
    /// The Istio release whose istiod defaults the translation writes.
    pub istio: envoy::Istio,
}

impl EnvoySpec {
    /// The adapter of this Envoy.
    pub fn adapter(&self) -> EnvoyAdapter {
        EnvoyAdapter::new(self.binary.clone(), self.layer).with_istio(self.istio)
    }

    /// `None` when `text` names no Envoy adapter.
    fn parse(text: &str) -> Option<Result<EnvoySpec, String>> {
        let (layer, rest) = match text.strip_prefix("envoy-l4") {
            Some(rest) => (envoy::Layer::Four, rest),
            None => (envoy::Layer::Seven, text.strip_prefix("envoy")?),
        };
        let (istio, rest) = match rest.strip_prefix(":istio=") {
            Some(options) => {
                let (version, rest) = options.split_at(options.find('=').unwrap_or(options.len()));
                match version.parse() {
                    Ok(istio) => (istio, rest),
                    Err(error) => return Some(Err(error)),
                }
            }
            None => (envoy::Istio::LATEST, rest),
        };
        let binary = match rest {
            "" => None,
            _ => Some(rest.strip_prefix('=').filter(|p| !p.is_empty())?.into()),
        };
        Some(Ok(EnvoySpec {
            binary,
            layer,
            istio,
        }))
    }
}

impl std::fmt::Display for EnvoySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.layer {
            envoy::Layer::Seven => "envoy",
            envoy::Layer::Four => "envoy-l4",
        })?;
        if self.istio != envoy::Istio::LATEST {
            write!(f, ":istio={}", self.istio)?;
        }
        match &self.binary {
            Some(path) => write!(f, "={}", path.display()),
            None => Ok(()),
        }
    }
}

/// `NAME[-l4][=PATH]` for a proxy found on the machine (`haproxy`,
/// `nginx`); `None` when `text` does not name it.
fn located_spec(
    text: &str,
    name: &str,
) -> Option<Result<(Layer, Option<std::path::PathBuf>), String>> {
    let rest = text.strip_prefix(name)?;
    let (layer, rest) = match rest.strip_prefix("-l4") {
        Some(rest) => (Layer::Four, rest),
        None => (Layer::Seven, rest),
    };
    match rest {
        "" => Some(Ok((layer, None))),
        _ => match rest.strip_prefix('=').filter(|p| !p.is_empty()) {
            Some(path) => Some(Ok((layer, Some(path.into())))),
            None => Some(Err(format!("'{text}': write {name}=PATH"))),
        },
    }
}

/// `name` or `name-l4`, then `=PATH` when a binary is named.
fn located_name(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    layer: Layer,
    binary: Option<&std::path::Path>,
) -> std::fmt::Result {
    f.write_str(name)?;
    if layer == Layer::Four {
        f.write_str("-l4")?;
    }
    match binary {
        Some(path) => write!(f, "={}", path.display()),
        None => Ok(()),
    }
}

impl std::str::FromStr for ProxySpec {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "builtin" => Ok(ProxySpec::Builtin),
            "builtin-l4" => Ok(ProxySpec::BuiltinL4),
            "builtin-process" => Ok(ProxySpec::BuiltinProcess),
            other => {
                if let Some(spec) = EnvoySpec::parse(other) {
                    return spec.map(ProxySpec::Envoy);
                }
                if let Some(spec) = located_spec(other, "haproxy") {
                    return spec.map(|(layer, binary)| ProxySpec::Haproxy { binary, layer });
                }
                if let Some(spec) = located_spec(other, "nginx") {
                    return spec.map(|(layer, binary)| ProxySpec::Nginx { binary, layer });
                }
                if let Some(fault) = other.strip_prefix("builtin-fault=") {
                    BuiltinAdapter::faulty(fault)?;
                    return Ok(ProxySpec::BuiltinFault(fault.to_owned()));
                }
                match other.strip_prefix("address=") {
                    Some(addr) => addr
                        .parse()
                        .map(ProxySpec::Address)
                        .map_err(|_| format!("'{addr}' is not HOST:PORT")),
                    None => Err(format!(
                        "unknown proxy adapter '{other}'\nknown: builtin, builtin-l4, builtin-process, envoy[:istio=1.X][=PATH], envoy-l4[…], haproxy[-l4][=PATH], nginx[-l4][=PATH], address=HOST:PORT, builtin-fault={} (negative controls)",
                        BuiltinAdapter::FAULTS.join("|")
                    )),
                }
            }
        }
    }
}

impl std::fmt::Display for ProxySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySpec::Builtin => f.write_str("builtin"),
            ProxySpec::BuiltinL4 => f.write_str("builtin-l4"),
            ProxySpec::BuiltinProcess => f.write_str("builtin-process"),
            ProxySpec::Address(addr) => write!(f, "address={addr}"),
            ProxySpec::Envoy(spec) => spec.fmt(f),
            ProxySpec::Haproxy { binary, layer } => {
                located_name(f, "haproxy", *layer, binary.as_deref())
            }
            ProxySpec::Nginx { binary, layer } => {
                located_name(f, "nginx", *layer, binary.as_deref())
            }
            ProxySpec::BuiltinFault(fault) => write!(f, "builtin-fault={fault}"),
        }
    }
}

impl ProxySpec {
    /// A fresh adapter for one scenario.
    pub fn adapter(&self) -> Box<dyn ProxyAdapter> {
        match self {
            ProxySpec::Builtin => Box::new(BuiltinAdapter::new(false)),
            ProxySpec::BuiltinL4 => Box::new(BuiltinAdapter::new(true)),
            ProxySpec::BuiltinProcess => Box::new(ProcessAdapter::new()),
            ProxySpec::Address(addr) => Box::new(AddressAdapter::new(*addr)),
            ProxySpec::Envoy(spec) => Box::new(spec.adapter()),
            ProxySpec::Haproxy { binary, layer } => {
                Box::new(HaproxyAdapter::new(binary.clone(), *layer))
            }
            ProxySpec::Nginx { binary, layer } => {
                Box::new(NginxAdapter::new(binary.clone(), *layer))
            }
            // The name was checked when the spec was parsed.
            ProxySpec::BuiltinFault(fault) => match BuiltinAdapter::faulty(fault) {
                Ok(adapter) => Box::new(adapter),
                Err(_) => Box::new(BuiltinAdapter::new(false)),
            },
        }
    }
}

/// Builds an adapter from its command-line name.
///
/// # Errors
/// A sentence naming the unknown adapter and the known ones.
pub fn from_name(name: &str) -> Result<Box<dyn ProxyAdapter>, String> {
    name.parse::<ProxySpec>().map(|spec| spec.adapter())
}

/// The reference proxy's answer to `workers`: its connection pools are
/// shared by all its threads, as one Envoy worker's are, so it runs a
/// one-worker scenario as written and refuses any other count.
pub(crate) fn shared_pools(adapter: &str, settings: ProxySettings) -> Result<(), AdapterError> {
    match settings.workers {
        None | Some(1) => Ok(()),
        Some(n) => Err(AdapterError::Unsupported {
            adapter: adapter.to_owned(),
            what: format!(
                "run {n} workers with a pool each (proxy.workers): its pools are shared, as one worker's"
            ),
        }),
    }
}

/// The routing objects as one YAML stream (JSON documents are YAML).
pub(crate) fn routing_yaml(routing: &[Routing]) -> String {
    routing
        .iter()
        .map(|object| object.document().to_string())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The endpoint list the reference proxy reads, from the fleet's services.
/// The services' endpoints in meshproxy's `endpoints.yaml` form, which names
/// nothing but addresses and labels: what any proxy configured by hand needs.
pub fn endpoint_list(services: &[Service]) -> meshbench_proxy_under_test::config::EndpointList {
    use meshbench_proxy_under_test::config::{Endpoint, EndpointList, ServiceEndpoints};
    EndpointList {
        services: services
            .iter()
            .map(|service| ServiceEndpoints {
                name: service.name.clone(),
                protocol: service.protocol,
                port: service.port,
                endpoints: service
                    .endpoints
                    .iter()
                    .map(|e| Endpoint {
                        address: e.identity.addr,
                        labels: e.labels.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}
