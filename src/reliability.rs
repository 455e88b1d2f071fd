//! `meshbench reliability`: a proxy probed as a careless or hostile client
//! would, through the same adapters `meshbench run` judges it with, with
//! the proxy's memory and descriptors read from `/proc` before, while and
//! after each probe holds its load, and every request sent accounted for.
//!
//! Each probe is bounded in connections, bytes and time, and runs on
//! loopback against a fresh fleet and a fresh proxy:
//! - [`Probe::HeldFrames`]: connections each send all but the last byte of
//!   a large Thrift frame and hold it (memory amplification);
//! - [`Probe::DeclaredSize`]: unframed Thrift calls declaring a 2³¹−1-byte
//!   string, then silence (is the declaration judged at once?);
//! - [`Probe::IdleConnections`]: thousands of idle connections held, then
//!   a sample of requests on fresh ones;
//! - [`Probe::Garbage`]: garbage and oversized frames on their own
//!   connections, interleaved with well-formed calls that must all succeed;
//! - [`Probe::Reloads`]: route switches under closed-loop load;
//! - [`Probe::Descriptors`]: the proxy's descriptor limit lowered
//!   (`prlimit`) below the connections offered, then requests again.
//!
//! The tests hold `builtin-process` to the invariants at a small scale
//! (`tests/reliability.rs`); the command writes `reports/reliability.md`
//! side by side with Envoy.

mod probes;
mod report;

pub use probes::{Measured, Probe, Scale};
pub use report::markdown;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::dubbo::DubboCodec;
use meshbench_wire::thrift::ServerCodec;
use meshbench_wire::{Limits, Protocol};

use crate::adapter::{
    EnvoyAdapter, Layer, ProcessAdapter, ProxyAdapter, ProxySettings, Routing, Service,
};

/// The Thrift service every probe sends to.
pub const SERVICE: &str = "thrift-sample-server.reliability.svc.cluster.local";

/// The proxies the command compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `builtin-process`: meshproxy as a child process.
    Meshproxy,
    /// `envoy`: a real Envoy (left out when not installed).
    Envoy,
}

impl Subject {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Meshproxy => "meshproxy",
            Subject::Envoy => "envoy",
        }
    }

    fn adapter(self) -> Box<dyn ProxyAdapter> {
        match self {
            Subject::Meshproxy => Box::new(ProcessAdapter::new()),
            Subject::Envoy => Box::new(EnvoyAdapter::new(None, Layer::Seven)),
        }
    }

    /// Why it cannot be probed here, if it cannot.
    pub fn missing(self) -> Option<String> {
        match self {
            Subject::Meshproxy => crate::adapter::meshproxy_path()
                .err()
                .map(|e| e.to_string()),
            Subject::Envoy => crate::adapter::envoy::locate().err(),
        }
    }

    /// The limits in force for the probes, as the proxy documents them.
    pub fn limits(self) -> String {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * 1024;
        match self {
            Subject::Meshproxy => format!(
                "Thrift frames {} MiB, Dubbo {} MiB, HTTP heads {} KiB with at most {} fields \
                 and bodies {} MiB; a {} MiB budget for buffered requests (past it the \
                 connections holding more than the one asking are closed, largest first, \
                 then the one asking is refused); {} requests in flight per connection, one \
                 answer buffered for writing; idle connections and stalled writes closed after \
                 {} s, pooled upstream connections after {} s unused; no connection limit but \
                 the descriptors (a reserve descriptor refuses cleanly)",
                Limits::DEFAULT_MAX_FRAME / MIB,
                DubboCodec::MAX_PAYLOAD / MIB,
                Limits::DEFAULT_MAX_HEAD / KIB,
                Limits::PROXY_MAX_HEADERS,
                Limits::DEFAULT_MAX_FRAME / MIB,
                meshbench_proxy_under_test::dataplane::DEFAULT_MEMORY_BUDGET / MIB,
                meshbench_wire::mux::MAX_IN_FLIGHT,
                meshbench_proxy_under_test::dataplane::DEFAULT_IDLE_TIMEOUT.as_secs(),
                meshbench_proxy_under_test::upstream::DEFAULT_UPSTREAM_IDLE_TIMEOUT.as_secs(),
            ),
            Subject::Envoy => "as the adapter writes it, like istiod: Envoy's defaults, a 1 MiB \
                 per-connection buffer limit (`per_connection_buffer_limit_bytes` unset), no \
                 overload manager, no connection limit"
                .to_owned(),
        }
    }
}

/// A fleet and a proxy in front of it, for one probe.
pub struct Stand {
    fleet: Fleet,
    services: Vec<Service>,
    adapter: Box<dyn ProxyAdapter>,
    /// Where the proxy listens for [`SERVICE`].
    pub listener: SocketAddr,
}

impl Stand {
    /// A two-version Thrift fleet (unframed binary, as Apache Thrift's
    /// plainest server) and `subject` routing to it with no routing objects.
    ///
    /// # Errors
    /// The fleet or the proxy not starting.
    pub async fn start(subject: Subject) -> anyhow::Result<Stand> {
        let versions = ["v1", "v2"].map(|v| VersionSpec {
            name: v.into(),
            replicas: 1,
            labels: BTreeMap::new(),
            behaviour: Behaviour::default(),
        });
        let spec = ServiceSpec {
            service: SERVICE.into(),
            protocol: Protocol::Thrift,
            port: 9090,
            thrift: ServerCodec::APACHE,
            versions: versions.to_vec(),
        };
        let fleet = Fleet::start(&[spec], &FleetOptions::default()).await?;
        let services = vec![Service {
            name: SERVICE.into(),
            protocol: Protocol::Thrift,
            port: 9090,
            thrift: ServerCodec::APACHE,
            endpoints: fleet.endpoints().to_vec(),
        }];
        let mut adapter = subject.adapter();
        let started = adapter
            .start(&services, &subset_routing("v1")?, ProxySettings::default())
            .await;
        let listener = match started.map(|l| l.get(SERVICE).copied()) {
            Ok(Some(listener)) => listener,
            Ok(None) | Err(_) => {
                adapter.stop().await;
                fleet.stop().await;
                anyhow::bail!("{} did not start a listener for {SERVICE}", subject.name());
            }
        };
        Ok(Stand {
            fleet,
            services,
            adapter,
            listener,
        })
    }

    /// The proxy's processes.
    pub fn processes(&self) -> Vec<u32> {
        self.adapter.processes()
    }

    /// Sends every request of this route to `subset`.
    ///
    /// # Errors
    /// The proxy refusing it.
    pub async fn route_to(&mut self, subset: &str) -> anyhow::Result<()> {
        let routing = subset_routing(subset)?;
        self.adapter.apply(&routing).await?;
        Ok(())
    }

    /// The sum of one counter over its labels, from the proxy's own
    /// Prometheus text, when it has it and answers within 2 s.
    pub async fn counter(&self, name: &str) -> Option<u64> {
        let stats = tokio::time::timeout(std::time::Duration::from_secs(2), self.adapter.stats())
            .await
            .ok()??;
        let values: Vec<u64> = stats
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .map(|v| v as u64)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// The proxy's exit, if it died.
    pub fn exited(&mut self) -> Option<String> {
        self.adapter.exited()
    }

    /// The services, as the adapter was given them.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// Stops the proxy and the fleet.
    pub async fn stop(mut self) {
        self.adapter.stop().await;
        self.fleet.stop().await;
    }
}

/// A MetaRouter sending every `sayHello` to `subset`, and the subsets.
fn subset_routing(subset: &str) -> anyhow::Result<Vec<Routing>> {
    let rule = serde_json::json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "DestinationRule",
        "metadata": { "name": "thrift-sample-server", "namespace": "reliability" },
        "spec": {
            "host": SERVICE,
            "subsets": [
                { "name": "v1", "labels": { "version": "v1" } },
                { "name": "v2", "labels": { "version": "v2" } },
            ],
        },
    });
    let router = serde_json::json!({
        "apiVersion": "metaprotocol.aeraki.io/v1alpha1",
        "kind": "MetaRouter",
        "metadata": { "name": "thrift-route", "namespace": "reliability" },
        "spec": {
            "hosts": [SERVICE],
            "routes": [{
                "name": "all",
                "match": { "attributes": { "method": { "exact": "sayHello" } } },
                "route": [{ "destination": { "host": SERVICE, "subset": subset } }],
            }],
        },
    });
    [rule, router]
        .into_iter()
        .map(|document| Routing::from_json(document).map_err(anyhow::Error::msg))
        .collect()
}

/// Every probe against every installed subject, in turn.
///
/// # Errors
/// A stand that would not start.
pub async fn run(subjects: &[Subject], scale: Scale) -> anyhow::Result<Vec<Measured>> {
    let mut measured = Vec::new();
    for subject in subjects {
        if let Some(missing) = subject.missing() {
            eprintln!(
                "meshbench reliability: {} left out: {missing}",
                subject.name()
            );
            continue;
        }
        for probe in Probe::ALL {
            eprintln!("  {:10} {}", subject.name(), probe.name());
            let stand = Stand::start(*subject).await?;
            let result = probe.run(*subject, stand, scale).await?;
            eprintln!("    {}", result.summary());
            measured.push(result);
        }
    }
    Ok(measured)
}
