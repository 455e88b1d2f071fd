//! The proxies the bench measures, started through the adapters `meshbench
//! run --proxy` judges them with: the configuration measured is the one the
//! conformance verdicts were given on. Each runs one worker and every one
//! of its processes is pinned to the servers' cores.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use meshbench_mesh_api::Routing;
use meshbench_sim::fleet::{EndpointInfo, Identity};
use meshbench_wire::Protocol;
use meshbench_wire::thrift::ServerCodec;
use serde_json::json;

use super::processes::Launcher;
use super::tools::Tools;
use crate::adapter::{
    EnvoyAdapter, HaproxyAdapter, Layer, Listeners, NginxAdapter, ProcessAdapter, ProxyAdapter,
    ProxySettings, Service, envoy,
};

/// A proxy the bench compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// The reference proxy, `--proxy builtin-process`.
    Meshproxy,
    /// `--proxy nginx`.
    Nginx,
    /// `--proxy haproxy`.
    Haproxy,
    /// `--proxy envoy`, left out when no Envoy is installed.
    Envoy,
}

impl Proxy {
    /// The target's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Meshproxy => "meshproxy",
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "haproxy",
            Proxy::Envoy => "envoy",
        }
    }

    fn adapter(self, launcher: &Launcher, tools: &Tools) -> Box<dyn ProxyAdapter> {
        match self {
            Proxy::Meshproxy => Box::new(ProcessAdapter::with_binary(launcher.meshproxy.clone())),
            Proxy::Nginx => Box::new(NginxAdapter::new(Some(tools.nginx.clone()), Layer::Seven)),
            Proxy::Haproxy => Box::new(HaproxyAdapter::new(
                Some(tools.haproxy.clone()),
                Layer::Seven,
            )),
            Proxy::Envoy => Box::new(EnvoyAdapter::new(None, Layer::Seven)),
        }
    }
}

/// A proxy that runs, where it listens, and its processes.
pub struct Running {
    adapter: Box<dyn ProxyAdapter>,
    /// Its listener per service.
    pub listeners: Listeners,
    /// Its processes (master first), for the CPU accounting.
    pub processes: Vec<u32>,
}

impl Running {
    /// Where it listens for `service`.
    ///
    /// # Errors
    /// The proxy opened no listener for it.
    pub fn listener(&self, service: &str) -> anyhow::Result<SocketAddr> {
        self.listeners.get(service).copied().ok_or_else(|| {
            anyhow::anyhow!("{} opened no listener for {service}", self.adapter.name())
        })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        self.adapter.stop().await;
    }
}

/// Starts `proxy` for `services` with `routing` and one worker, and pins
/// it; `None` for an Envoy that is not installed (the bench leaves it out,
/// saying so).
///
/// # Errors
/// The proxy refusing the configuration, not starting, or not pinned.
pub async fn start(
    proxy: Proxy,
    (launcher, tools): (&Launcher, &Tools),
    services: &[Service],
    routing: &[Routing],
) -> anyhow::Result<Option<Running>> {
    if proxy == Proxy::Envoy
        && let Err(missing) = envoy::locate()
    {
        eprintln!("meshbench bench: Envoy left out: {missing}");
        return Ok(None);
    }
    let mut adapter = proxy.adapter(launcher, tools);
    let settings = ProxySettings {
        workers: Some(1),
        ..ProxySettings::default()
    };
    let started = adapter.start(services, routing, settings).await;
    let listeners = match started {
        Ok(listeners) => listeners,
        Err(error) => {
            adapter.stop().await;
            return Err(anyhow::anyhow!("{}: {error}", proxy.name()));
        }
    };
    let running = Running {
        processes: adapter.processes(),
        adapter,
        listeners,
    };
    if running.processes.is_empty() {
        running.stop().await;
        anyhow::bail!("{} runs no process the bench can measure", proxy.name());
    }
    for pid in &running.processes {
        launcher.pin(*pid)?;
    }
    Ok(Some(running))
}

/// One version's endpoints of a service: (version label, address).
pub type Versioned<'a> = &'a [(&'a str, SocketAddr)];

/// A service as the adapters take it: its endpoints labelled by version.
pub fn service(name: &str, protocol: Protocol, port: u16, versions: Versioned<'_>) -> Service {
    Service {
        name: name.to_owned(),
        protocol,
        port,
        thrift: ServerCodec::APACHE,
        endpoints: versions
            .iter()
            .enumerate()
            .map(|(replica, (version, addr))| EndpointInfo {
                identity: Identity::new(name, name, (*version, replica), *addr, "bench"),
                protocol,
                labels: BTreeMap::from([("version".to_owned(), (*version).to_owned())]),
            })
            .collect(),
    }
}

/// A 20/80 split between v1 and v2 behind an attribute route that the
/// bench's traffic never matches (MetaRouter `x-user: batchjob` or
/// `method: ping`), for one Thrift or Dubbo service, with the
/// DestinationRule that names the subsets.
///
/// # Errors
/// An object the mesh model refuses (a defect here).
pub fn split_routing(host: &str, unmatched: (&str, &str)) -> anyhow::Result<Vec<Routing>> {
    let (attribute, value) = unmatched;
    let name = host.split('.').next().unwrap_or(host).to_lowercase();
    let subset = |subset: &str| json!({ "host": host, "subset": subset });
    let router = json!({
        "apiVersion": "metaprotocol.aeraki.io/v1alpha1",
        "kind": "MetaRouter",
        "metadata": { "name": format!("{name}-route"), "namespace": "bench" },
        "spec": {
            "hosts": [host],
            "routes": [
                {
                    "name": "header-route",
                    "match": { "attributes": { attribute: { "exact": value } } },
                    "route": [{ "destination": subset("v2") }],
                },
                {
                    "name": "split",
                    "match": { "attributes": { "method": { "exact": "sayHello" } } },
                    "route": [
                        { "destination": subset("v1"), "weight": 20 },
                        { "destination": subset("v2"), "weight": 80 },
                    ],
                },
            ],
        },
    });
    routings([subsets_rule(host), router])
}

/// The same for a gRPC service, as a VirtualService: a header route no
/// call matches (`unmatched` metadata), then the 20/80 split.
pub fn grpc_split_routing(host: &str, unmatched: (&str, &str)) -> anyhow::Result<Vec<Routing>> {
    let (header, value) = unmatched;
    let name = host.split('.').next().unwrap_or(host).to_lowercase();
    let subset = |subset: &str| json!({ "host": host, "subset": subset });
    let service = json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": { "name": format!("{name}-route"), "namespace": "bench" },
        "spec": {
            "hosts": [host],
            "http": [
                {
                    "name": "header-route",
                    "match": [{ "headers": { header: { "exact": value } } }],
                    "route": [{ "destination": subset("v2") }],
                },
                {
                    "name": "split",
                    "route": [
                        { "destination": subset("v1"), "weight": 20 },
                        { "destination": subset("v2"), "weight": 80 },
                    ],
                },
            ],
        },
    });
    routings([subsets_rule(host), service])
}

/// The DestinationRule with subsets v1 and v2 of `host`.
fn subsets_rule(host: &str) -> serde_json::Value {
    let name = host.split('.').next().unwrap_or(host).to_lowercase();
    json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "DestinationRule",
        "metadata": { "name": name, "namespace": "bench" },
        "spec": {
            "host": host,
            "subsets": [
                { "name": "v1", "labels": { "version": "v1" } },
                { "name": "v2", "labels": { "version": "v2" } },
            ],
        },
    })
}

fn routings<const N: usize>(documents: [serde_json::Value; N]) -> anyhow::Result<Vec<Routing>> {
    documents
        .into_iter()
        .map(|document| Routing::from_json(document).map_err(anyhow::Error::msg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbench_mesh_api::Object;

    #[test]
    fn the_split_is_a_destination_rule_and_a_meta_router_with_20_80() {
        let routing = split_routing("thrift-sample.bench.svc.cluster.local", ("method", "ping"))
            .expect("valid objects");
        assert!(matches!(routing[0].object(), Object::DestinationRule(_)));
        let Object::MetaRouter(router) = routing[1].object() else {
            panic!("a MetaRouter second");
        };
        let weights: Vec<_> = router.spec.routes[1]
            .route
            .iter()
            .map(|d| d.weight)
            .collect();
        assert_eq!(weights, [20, 80]);
    }

    #[test]
    fn services_label_each_endpoint_with_its_version() {
        let addr: SocketAddr = "127.0.20.1:9090".parse().expect("address");
        let svc = service("svc", Protocol::Thrift, 9090, &[("v1", addr), ("v2", addr)]);
        let versions: Vec<_> = svc
            .endpoints
            .iter()
            .map(|e| e.labels["version"].as_str())
            .collect();
        assert_eq!(versions, ["v1", "v2"]);
    }
}
