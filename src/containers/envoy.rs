//! A real Envoy as the client pod's sidecar: the pod is the workload
//! agent's container on the run's network (the container that owns the
//! pod's network namespace, as a pause container does), and Envoy runs in
//! that namespace, started with `nsenter` by the Envoy adapter itself, so
//! its files, its xDS pushes and its admin API are the adapter's as on
//! loopback, while its listeners bind the pod's address and the workload
//! reaches them from inside the pod, as an application reaches its
//! sidecar.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use meshbench_sim::workload::agent;
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::image::{MESHBENCH, REPOSITORY};
use super::sidecar::{ClientPod, WORKLOAD_PORT};
use super::{ContainerError, Pods, engine, in_client_pod};
use crate::adapter::envoy::Netns;
use crate::adapter::{
    AdapterError, BoxFuture, EnvoyAdapter, Feature, Listeners, ProxyAdapter, ProxySetting,
    ProxySettings, Routing, Service, Setup,
};

/// How long the client pod may take to start.
const START_WITHIN: Duration = Duration::from_secs(60);

/// `envoy` (or `envoy-l4`) in the client pod's network namespace.
pub struct EnvoySidecar {
    pods: Arc<Pods>,
    /// Made in the pod's namespace once the pod runs.
    envoy: EnvoyAdapter,
    pod: Option<ContainerAsync<GenericImage>>,
}

impl EnvoySidecar {
    /// A not yet started Envoy sidecar of `pods`' run.
    pub fn new(pods: Arc<Pods>, envoy: EnvoyAdapter) -> EnvoySidecar {
        EnvoySidecar {
            pods,
            envoy,
            pod: None,
        }
    }

    /// Starts the client pod: the workload agent, on the run's network.
    async fn start_pod(&mut self) -> Result<ClientPod, ContainerError> {
        let (network, image) = self.pods.client_needs().await?;
        let serve = format!("0.0.0.0:{WORKLOAD_PORT}");
        let container = GenericImage::new(REPOSITORY, image.tag.as_str())
            .with_entrypoint(MESHBENCH)
            .with_wait_for(WaitFor::message_on_stdout(agent::READY))
            .with_cmd(["workload", "--serve", serve.as_str(), "--in-pod"])
            .with_network(network.name())
            .with_hostname("client")
            .with_container_name(format!("{}-client", network.name()))
            .with_label("meshbench", "run")
            .with_startup_timeout(START_WITHIN)
            .start()
            .await
            .map_err(in_client_pod)?;
        let id = container.id().to_owned();
        self.pod = Some(container);
        let ip = match &self.pod {
            Some(pod) => pod.get_bridge_ip_address().await.map_err(in_client_pod)?,
            None => return Err(in_client_pod("no container")),
        };
        Ok(ClientPod {
            id,
            ip,
            agent: Some(SocketAddr::new(ip, WORKLOAD_PORT)),
        })
    }
}

/// `/proc/<pid>/ns/net` of the container `id`'s main process.
async fn netns_of(id: &str, ip: IpAddr) -> Result<Netns, ContainerError> {
    let inspected = engine()?
        .inspect_container(
            id,
            None::<testcontainers::bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(in_client_pod)?;
    let pid = inspected
        .state
        .and_then(|state| state.pid)
        .filter(|pid| *pid > 0)
        .ok_or_else(|| in_client_pod("the client pod has no running process"))?;
    Ok(Netns {
        path: format!("/proc/{pid}/ns/net").into(),
        ip,
    })
}

impl ProxyAdapter for EnvoySidecar {
    fn name(&self) -> &str {
        self.envoy.name()
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            let start = |e: ContainerError| AdapterError::Start(e.to_string());
            let pod = self.start_pod().await.map_err(start)?;
            let netns = netns_of(&pod.id, pod.ip).await.map_err(start)?;
            self.envoy = std::mem::take(&mut self.envoy).in_namespace(netns);
            self.pods.set_client(pod);
            self.envoy.start(services, routing, settings).await
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        self.envoy.apply(routing)
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        self.envoy.stats()
    }

    fn unsupported(&self, feature: &Feature) -> Option<String> {
        self.envoy.unsupported(feature)
    }

    fn unsupported_setup(&self, setup: &Setup) -> Option<String> {
        self.envoy.unsupported_setup(setup)
    }

    fn unsupported_settings(
        &self,
        setup: &Setup,
    ) -> std::collections::BTreeMap<ProxySetting, String> {
        self.envoy.unsupported_settings(setup)
    }

    fn description(&self) -> Option<String> {
        self.envoy
            .description()
            .map(|about| format!("{about}, in the client pod's network namespace"))
    }

    fn exited(&mut self) -> Option<String> {
        self.envoy.exited()
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.envoy.stop().await;
            if let Some(pod) = self.pod.take()
                && let Err(e) = pod.rm().await
            {
                eprintln!("meshbench: removing the client pod's container: {e}");
            }
        })
    }
}
