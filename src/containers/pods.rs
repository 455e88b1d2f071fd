//! The fleet as containers: one per pod (every replica of every version),
//! each running `meshbench fleet --scenario` for its own version on its
//! own address, and serving what it received as a fleet agent. The runner
//! reads the endpoints, the counts and the records back over the network
//! ([`meshbench_sim::fleet::agent`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshbench_sim::fleet::agent::{fetch_endpoints, fetch_received, fetch_records};
use meshbench_sim::fleet::{EndpointInfo, Hold, Record, ServiceSpec, VersionSpec};
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::image::{Image, MESHBENCH, REPOSITORY};
use super::{ContainerError, Network, Pods, SCENARIO};
use crate::adapter::BoxFuture;
use crate::run::{RunError, RunningFleet};

/// The port every pod serves its records on.
const AGENT_PORT: u16 = 9966;

/// What a pod prints once it serves (its records listener).
const READY: &str = "records http://";

/// How long a pod may take to start.
const START_WITHIN: Duration = Duration::from_secs(60);

/// Longer than any proxy's pooled-connection idle timeout (Envoy's one
/// hour): the pods never close a proxy's idle upstream connection mid-run.
const IDLE_TIMEOUT: &str = "7200s";

/// A started container fleet.
pub struct ContainerFleet {
    pods: Arc<Pods>,
    containers: Vec<(String, ContainerAsync<GenericImage>)>,
    agents: Vec<(String, SocketAddr)>,
    endpoints: Vec<EndpointInfo>,
    hold: Hold,
}

impl ContainerFleet {
    /// A container per pod of `services`, on a new network of `pods`'.
    ///
    /// # Errors
    /// [`RunError::Fleet`] naming the pod that did not start; every
    /// container started before it is removed, and the network.
    pub async fn start(
        pods: &Arc<Pods>,
        services: &[ServiceSpec],
        seed: u64,
    ) -> Result<ContainerFleet, RunError> {
        let fleet_error = |e: ContainerError| RunError::Fleet(e.to_string());
        if let Some(shared) = fleet_wide_state(services) {
            return Err(RunError::Fleet(format!(
                "{shared}; pods in containers share nothing: run it on loopback"
            )));
        }
        let scenario = std::fs::read(pods.scenario())
            .map_err(|e| RunError::Fleet(format!("reading {}: {e}", pods.scenario().display())))?;
        let image = Image::of_this_build().await.map_err(fleet_error)?;
        let network = Arc::new(Network::create().await.map_err(fleet_error)?);
        pods.set_network(Arc::clone(&network));
        let mut fleet = ContainerFleet {
            pods: Arc::clone(pods),
            containers: Vec::new(),
            agents: Vec::new(),
            endpoints: Vec::new(),
            hold: Hold::default(),
        };
        let started = fleet.start_pods(services, (image, &network), &scenario, seed);
        if let Err(error) = started.await {
            Box::new(fleet).stop().await;
            return Err(fleet_error(error));
        }
        Ok(fleet)
    }

    async fn start_pods(
        &mut self,
        services: &[ServiceSpec],
        (image, network): (&Image, &Network),
        scenario: &[u8],
        seed: u64,
    ) -> Result<(), ContainerError> {
        for service in services {
            for version in &service.versions {
                for replica in 0..version.replicas {
                    let name = pod_name(service, version, replica);
                    let pod_seed = seed.wrapping_add(self.containers.len() as u64);
                    let pod = Pod {
                        name: &name,
                        service,
                        version,
                        seed: pod_seed,
                    };
                    let container = pod.start(image, network, scenario).await?;
                    let error = |error: String| ContainerError::Container {
                        name: name.clone(),
                        error,
                    };
                    let ip = container
                        .get_bridge_ip_address()
                        .await
                        .map_err(|e| error(e.to_string()))?;
                    self.containers.push((name.clone(), container));
                    let agent = SocketAddr::new(ip, AGENT_PORT);
                    let endpoints = fetch_endpoints(agent)
                        .await
                        .map_err(|e| error(e.to_string()))?;
                    self.endpoints.extend(endpoints);
                    self.agents.push((name.clone(), agent));
                }
            }
        }
        Ok(())
    }
}

/// What of `services` needs state the in-process fleet shares between its
/// endpoints, which pods of their own cannot: the barrier of `hold`, and
/// the tries of `succeed_after`, counted fleet-wide by request id (a retry
/// landing on another pod must see the earlier tries).
fn fleet_wide_state(services: &[ServiceSpec]) -> Option<String> {
    services.iter().find_map(|s| {
        let pods: usize = s.versions.iter().map(|v| v.replicas).sum();
        s.versions.iter().find_map(|v| {
            let name = format!("{} {}", s.service, v.name);
            if v.behaviour.hold {
                Some(format!(
                    "{name} holds its requests (`hold: true`) behind a barrier the runner's process keeps"
                ))
            } else if v.behaviour.succeed_after > 0 && pods > 1 {
                Some(format!(
                    "{name} answers after {} tries of each request id (`succeed_after`), counted over the service's {pods} pods",
                    v.behaviour.succeed_after
                ))
            } else {
                None
            }
        })
    })
}

/// `<app>-<version>-<replica>`, as a host name allows (63 characters of
/// letters, digits and dashes).
fn pod_name(service: &ServiceSpec, version: &VersionSpec, replica: usize) -> String {
    let app = service.service.split('.').next().unwrap_or("pod");
    let name: String = format!("{app}-{}-{replica}", version.name)
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    name.chars().take(63).collect()
}

/// One pod to start.
struct Pod<'a> {
    name: &'a str,
    service: &'a ServiceSpec,
    version: &'a VersionSpec,
    seed: u64,
}

impl Pod<'_> {
    async fn start(
        &self,
        image: &Image,
        network: &Network,
        scenario: &[u8],
    ) -> Result<ContainerAsync<GenericImage>, ContainerError> {
        let records = format!("0.0.0.0:{AGENT_PORT}");
        let seed = self.seed.to_string();
        let args = [
            "fleet",
            "--scenario",
            SCENARIO,
            "--service",
            &self.service.service,
            "--version",
            &self.version.name,
            "--pod-ip",
            "hostname",
            "--records-on",
            &records,
            "--seed",
            &seed,
            "--idle-timeout",
            IDLE_TIMEOUT,
        ];
        GenericImage::new(REPOSITORY, image.tag.as_str())
            .with_entrypoint(MESHBENCH)
            .with_wait_for(WaitFor::message_on_stdout(READY))
            .with_cmd(args)
            .with_network(network.name())
            .with_hostname(self.name)
            .with_container_name(format!("{}-{}", network.name(), self.name))
            .with_label("meshbench", "run")
            .with_copy_to(SCENARIO, scenario.to_vec())
            .with_startup_timeout(START_WITHIN)
            .start()
            .await
            .map_err(|e| ContainerError::Container {
                name: self.name.to_owned(),
                error: e.to_string(),
            })
    }
}

impl RunningFleet for ContainerFleet {
    fn endpoints(&self) -> &[EndpointInfo] {
        &self.endpoints
    }

    fn received(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let mut total = 0;
            for (_, agent) in &self.agents {
                // An agent that does not answer counts nothing here; its
                // records are asked for (and its silence reported) next.
                total += fetch_received(*agent).await.unwrap_or(0);
            }
            total
        })
    }

    fn records(&self) -> BoxFuture<'_, Result<Vec<Record>, RunError>> {
        Box::pin(async move {
            let mut records = Vec::new();
            for (name, agent) in &self.agents {
                let fetched = fetch_records(*agent)
                    .await
                    .map_err(|e| RunError::Fleet(format!("reading pod {name}'s records: {e}")))?;
                records.extend(fetched);
            }
            // Each pod's times run from its own start; no verdict compares
            // arrival times across pods, only within one.
            records.sort_by_key(|r| r.at);
            Ok(records)
        })
    }

    fn hold(&self) -> &Hold {
        &self.hold
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let ContainerFleet {
                pods, containers, ..
            } = *self;
            for (name, container) in containers {
                if let Err(e) = container.rm().await {
                    eprintln!("meshbench: removing pod {name}: {e}");
                }
            }
            if let Some(network) = pods.take_network() {
                network.remove().await;
            }
        })
    }
}
