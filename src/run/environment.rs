//! Where a run's fleet lives. The runner reaches the fleet only through
//! [`RunningFleet`] (the endpoints to give the proxy, how much they
//! received, their records, the hold barrier) and the proxy only through
//! its adapter, so an environment off loopback (containers on a private
//! network, a Kubernetes cluster) is one more [`Environment`] variant and
//! an implementation of [`RunningFleet`], with no change to the runner.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::adapter::BoxFuture;
use crate::containers::{ContainerFleet, Pods};
use meshbench_sim::fleet::{EndpointInfo, Fleet, FleetOptions, Hold, Record, ServiceSpec};

use super::RunError;

/// Where the fleet runs (and so where the proxy's upstreams are).
#[derive(Debug, Clone, Default)]
pub enum Environment {
    /// In this process, each endpoint on its own free loopback address, like
    /// a pod IP, different in every run.
    #[default]
    Loopback,
    /// On loopback, the first endpoint at this address and the others
    /// after it, the same in every run (for a proxy configured by hand).
    LoopbackFrom(Ipv4Addr),
    /// A container per fleet pod on a private Docker network, the proxy in
    /// the client pod's container ([`crate::containers`]).
    Containers(Arc<Pods>),
}

impl Environment {
    /// Where runs happen, in words for reports.
    pub fn describe(&self) -> String {
        match self {
            Environment::Loopback => "loopback, fleet in process".to_owned(),
            Environment::LoopbackFrom(first) => {
                format!("loopback, fleet in process from {first}")
            }
            Environment::Containers(pods) => pods.describe(),
        }
    }

    /// Where the workload runs, once the proxy has started: in containers,
    /// an agent in the client pod beside its sidecar; elsewhere `given`
    /// (an agent already serving), or this process (`None`).
    ///
    /// # Errors
    /// [`RunError::Workload`] when the agent cannot start.
    pub async fn workload_agent(
        &self,
        given: Option<SocketAddr>,
    ) -> Result<Option<SocketAddr>, RunError> {
        let Environment::Containers(pods) = self else {
            return Ok(given);
        };
        if given.is_some() {
            return Err(RunError::Workload(
                "in containers the workload agent runs in the client pod; no other is given"
                    .to_owned(),
            ));
        }
        pods.start_workload_agent()
            .await
            .map(Some)
            .map_err(|e| RunError::Workload(e.to_string()))
    }

    /// Starts every endpoint of `services`.
    ///
    /// # Errors
    /// [`RunError::Fleet`] when an endpoint cannot start.
    pub async fn start_fleet(
        &self,
        services: &[ServiceSpec],
        seed: u64,
    ) -> Result<Box<dyn RunningFleet>, RunError> {
        let first_ip = match self {
            Environment::Loopback => None,
            Environment::LoopbackFrom(first) => Some(*first),
            Environment::Containers(pods) => {
                let fleet = ContainerFleet::start(pods, services, seed).await?;
                return Ok(Box::new(fleet));
            }
        };
        let options = FleetOptions {
            seed,
            first_ip,
            ..FleetOptions::default()
        };
        let fleet = Fleet::start(services, &options)
            .await
            .map_err(|e| RunError::Fleet(e.to_string()))?;
        Ok(Box::new(fleet))
    }
}

/// A started fleet, wherever it runs.
pub trait RunningFleet: Send + Sync {
    /// Every endpoint, in fleet order (service, version, replica).
    fn endpoints(&self) -> &[EndpointInfo];

    /// How many requests the endpoints have received so far: the run
    /// drains until it stops growing.
    fn received(&self) -> BoxFuture<'_, usize>;

    /// What the endpoints received, in arrival order.
    ///
    /// # Errors
    /// [`RunError::Fleet`] when an endpoint's records cannot be read back
    /// (a harness error: no verdict is taken without them).
    fn records(&self) -> BoxFuture<'_, Result<Vec<Record>, RunError>>;

    /// The barrier of the `hold` versions.
    fn hold(&self) -> &Hold;

    /// Stops every endpoint.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl RunningFleet for Fleet {
    fn endpoints(&self) -> &[EndpointInfo] {
        Fleet::endpoints(self)
    }

    fn received(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move { self.collector().len() })
    }

    fn records(&self) -> BoxFuture<'_, Result<Vec<Record>, RunError>> {
        Box::pin(async move { Ok(self.collector().records()) })
    }

    fn hold(&self) -> &Hold {
        Fleet::hold(self)
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(Fleet::stop(*self))
    }
}
