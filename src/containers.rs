//! The container environment (`meshbench run --env containers`): every
//! fleet pod in a container of its own on a private Docker network whose
//! subnet meshbench picks, the proxy under test in the client pod's
//! container (its sidecar), the runner reaching both over that network.
//!
//! - `image`: the one image every container runs, made here from the
//!   binaries this build produced (a root filesystem, `docker import`: no
//!   registry, no pull).
//! - `network`: the private bridge network of one run, removed with it.
//! - `pods`: the fleet as containers, each a `meshbench fleet` agent
//!   ([`RunningFleet`](crate::run::RunningFleet)).
//! - `sidecar`: `meshproxy` in a container ([`ProxyAdapter`]), the
//!   workload agent in its network namespace.
//! - `envoy`: a real Envoy in the client pod's network namespace, the pod
//!   being the workload agent's container.
//!
//! Containers and the network are removed when the run ends, whichever way
//! it ends (the runner's stop path on success, failure and Ctrl-C; their
//! drop on a panic).

mod envoy;
mod image;
mod network;
mod pods;
mod sidecar;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use testcontainers::{ContainerAsync, GenericImage};

pub use envoy::EnvoySidecar;
pub use image::Image;
pub use network::Network;
pub use pods::ContainerFleet;
use sidecar::ClientPod;
pub use sidecar::Sidecar;

use crate::adapter::{ProxyAdapter, ProxySpec};

/// Where every container of a run reads the scenario.
const SCENARIO: &str = "/etc/meshbench/scenario.yaml";

/// Why the container environment cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No Docker engine answered.
    #[error(
        "no Docker engine answers at /var/run/docker.sock ({0}); start one (`dockerd &`, as root) or run on loopback"
    )]
    NoEngine(String),
    /// The image could not be made.
    #[error("building the container image: {0}")]
    Image(String),
    /// The network could not be made.
    #[error("creating the run's network: {0}")]
    Network(String),
    /// A container could not start or be read.
    #[error("container {name}: {error}")]
    Container {
        /// The container's (pod's) name.
        name: String,
        /// Why.
        error: String,
    },
}

/// The containers of one scenario's run: its file (every pod reads it),
/// its image, and its network once the fleet has made it.
#[derive(Debug)]
pub struct Pods {
    scenario: PathBuf,
    network: Mutex<Option<Arc<Network>>>,
    client: Mutex<Option<ClientPod>>,
    workload: Mutex<Option<ContainerAsync<GenericImage>>>,
}

impl Pods {
    /// The container environment for the scenario at `scenario`.
    pub fn new(scenario: &Path) -> Arc<Pods> {
        Arc::new(Pods {
            scenario: scenario.to_owned(),
            network: Mutex::new(None),
            client: Mutex::new(None),
            workload: Mutex::new(None),
        })
    }

    /// The scenario file every pod is given.
    pub fn scenario(&self) -> &Path {
        &self.scenario
    }

    /// The proxy `spec` names, as the client pod's sidecar: the reference
    /// proxy (`builtin`, `builtin-process`) or its layer-4 control
    /// (`builtin-l4`), both the `meshproxy` binary in the image; or a real
    /// Envoy (`envoy`, `envoy-l4`) in the pod's network namespace.
    ///
    /// # Errors
    /// A sentence naming what runs in containers, for any other proxy.
    pub fn sidecar(self: &Arc<Self>, spec: &ProxySpec) -> Result<Box<dyn ProxyAdapter>, String> {
        let l4 = match spec {
            ProxySpec::Builtin | ProxySpec::BuiltinProcess => false,
            ProxySpec::BuiltinL4 => true,
            ProxySpec::Envoy(envoy) => {
                return Ok(Box::new(EnvoySidecar::new(
                    Arc::clone(self),
                    envoy.adapter(),
                )));
            }
            other => {
                return Err(format!(
                    "--env containers runs builtin-process, builtin-l4, envoy and envoy-l4 as the client pod's sidecar; {other} is not one of them"
                ));
            }
        };
        Ok(Box::new(Sidecar::new(Arc::clone(self), l4)))
    }

    /// Starts the workload agent in the client pod, beside its sidecar
    /// (removed with the sidecar); its address, as the runner reaches it.
    ///
    /// # Errors
    /// When the sidecar has not started, or the agent's container cannot.
    pub async fn start_workload_agent(&self) -> Result<SocketAddr, ContainerError> {
        let missing = |what: &str| ContainerError::Container {
            name: "client-workload".to_owned(),
            error: format!("{what} before the workload agent"),
        };
        let client = self
            .client
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
            .ok_or_else(|| missing("no sidecar"))?;
        if let Some(serving) = client.agent {
            return Ok(serving);
        }
        let network = self.network().ok_or_else(|| missing("no network"))?;
        let (container, addr) = sidecar::start_workload_agent(network.name(), &client).await?;
        if let Ok(mut slot) = self.workload.lock() {
            *slot = Some(container);
        }
        Ok(addr)
    }

    fn set_client(&self, client: ClientPod) {
        if let Ok(mut slot) = self.client.lock() {
            *slot = Some(client);
        }
    }

    fn take_workload(&self) -> Option<ContainerAsync<GenericImage>> {
        self.workload.lock().ok().and_then(|mut slot| slot.take())
    }

    fn set_network(&self, network: Arc<Network>) {
        if let Ok(mut slot) = self.network.lock() {
            *slot = Some(network);
        }
    }

    /// What a container of the client pod needs: the run's network (made
    /// with the fleet) and the image.
    async fn client_needs(&self) -> Result<(Arc<Network>, &'static Image), ContainerError> {
        let network = self
            .network()
            .ok_or_else(|| in_client_pod("the fleet has made no network yet"))?;
        Ok((network, Image::of_this_build().await?))
    }

    /// The run's network, once the fleet has made it.
    fn network(&self) -> Option<Arc<Network>> {
        self.network.lock().ok().and_then(|slot| slot.clone())
    }

    fn take_network(&self) -> Option<Arc<Network>> {
        self.network.lock().ok().and_then(|mut slot| slot.take())
    }

    /// Where runs happen, in words for reports.
    pub fn describe(&self) -> String {
        let network = match self.network() {
            Some(network) => format!(" {} ({})", network.name(), network.subnet()),
            None => String::new(),
        };
        format!(
            "containers on the private Docker network{network}, a container per fleet pod, the proxy and the workload agent in the client pod (one network namespace); image {}",
            Image::tag_hint()
        )
    }
}

/// A failure of the client pod's containers.
fn in_client_pod(error: impl ToString) -> ContainerError {
    ContainerError::Container {
        name: "client".to_owned(),
        error: error.to_string(),
    }
}

/// The Docker engine, as the network and the image reach it.
fn engine() -> Result<testcontainers::bollard::Docker, ContainerError> {
    testcontainers::bollard::Docker::connect_with_local_defaults()
        .map_err(|e| ContainerError::NoEngine(e.to_string()))
}
