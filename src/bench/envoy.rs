//! Envoy as a bench target, started through the same adapter `meshbench
//! run --proxy envoy` uses (so the bench measures the configuration the
//! conformance verdicts judged), with one worker like the other proxies
//! and pinned to the servers' cores.

use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use meshbench_mesh_api::Routing;
use meshbench_sim::fleet::{EndpointInfo, Identity};

use super::Versioned;
use super::load::Protocol;
use super::processes::Launcher;
use meshbench::adapter::envoy::{self, EnvoyAdapter, Layer};
use meshbench::adapter::{Listeners, ProxyAdapter, ProxySettings, Service};

/// A running Envoy and where it listens.
pub struct Envoy {
    adapter: EnvoyAdapter,
    /// Its listener per service.
    pub listeners: Listeners,
    /// Its process id, for the CPU accounting.
    pub pid: u32,
}

impl Envoy {
    /// Stops it.
    pub async fn stop(mut self) {
        self.adapter.stop().await;
    }
}

/// Starts Envoy for `services` with `routing` (YAML documents), or `None`
/// when no Envoy is installed (the bench then leaves it out, saying so).
///
/// # Errors
/// Envoy refusing the configuration or not starting.
pub async fn start(
    launcher: &Launcher,
    services: &[(&str, Protocol, u16, Versioned<'_>)],
    routing: &str,
) -> anyhow::Result<Option<Envoy>> {
    if let Err(missing) = envoy::locate() {
        eprintln!("meshbench bench: Envoy left out: {missing}");
        return Ok(None);
    }
    let services: Vec<Service> = services
        .iter()
        .map(|(name, protocol, port, versions)| Service {
            name: (*name).to_owned(),
            protocol: *protocol,
            port: *port,
            thrift: ServerCodec::APACHE,
            endpoints: versions
                .iter()
                .enumerate()
                .map(|(i, (version, addr))| endpoint(name, *protocol, version, i, *addr))
                .collect(),
        })
        .collect();
    let routing = parse(routing)?;
    let mut adapter = EnvoyAdapter::new(None, Layer::Seven);
    let settings = ProxySettings {
        workers: Some(1),
        ..ProxySettings::default()
    };
    let listeners = adapter.start(&services, &routing, settings).await?;
    let pid = adapter
        .pid()
        .ok_or_else(|| anyhow::anyhow!("Envoy has no process id"))?;
    launcher.pin(pid)?;
    Ok(Some(Envoy {
        adapter,
        listeners,
        pid,
    }))
}

fn endpoint(
    service: &str,
    protocol: Protocol,
    version: &str,
    replica: usize,
    addr: SocketAddr,
) -> EndpointInfo {
    EndpointInfo {
        identity: Identity::new(service, service, (version, replica), addr, "bench"),
        protocol,
        labels: BTreeMap::from([("version".to_owned(), version.to_owned())]),
    }
}

/// Routing objects from a YAML stream.
fn parse(yaml: &str) -> anyhow::Result<Vec<Routing>> {
    yaml.split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| {
            let value: serde_json::Value = meshbench_mesh_api::parse_yaml(doc)?;
            Routing::from_json(value).map_err(anyhow::Error::msg)
        })
        .collect()
}
