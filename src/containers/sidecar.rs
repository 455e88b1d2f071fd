//! The proxy under test as the client pod's sidecar: `meshproxy` in a
//! container of its own on the run's network, given its routing and
//! endpoint files, listening on the container's address, its admin API
//! open to the runner only with a bearer token made for this run.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshbench_sim::workload::agent;
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::AsyncBufReadExt;

use super::image::{Image, MESHBENCH, MESHPROXY, REPOSITORY};
use super::{ContainerError, Pods, engine, in_client_pod};
use crate::adapter::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySettings, Routing, Service,
    endpoint_list, get_stats, parse_line, put_config, routing_yaml, settings_args, shared_pools,
};

/// The admin API's port in the container.
const ADMIN_PORT: u16 = 15000;
/// The folder of the proxy's files in the container.
const FILES: &str = "/etc/meshproxy";
/// How long the proxy may take to start.
const START_WITHIN: Duration = Duration::from_secs(60);
/// How often the container is looked at, to tell a proxy that exited.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// The workload agent's port, in the client pod's network namespace.
pub(super) const WORKLOAD_PORT: u16 = 9977;

/// `builtin-process` or `builtin-l4` in a container.
pub struct Sidecar {
    pods: Arc<Pods>,
    l4: bool,
    container: Option<ContainerAsync<GenericImage>>,
    admin: Option<SocketAddr>,
    token: String,
    exit: Arc<Mutex<Option<String>>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Sidecar {
    /// A not yet started sidecar of `pods`' run; `l4` makes it a tcp_proxy.
    pub fn new(pods: Arc<Pods>, l4: bool) -> Sidecar {
        Sidecar {
            pods,
            l4,
            container: None,
            admin: None,
            token: token(),
            exit: Arc::new(Mutex::new(None)),
            watcher: None,
        }
    }

    async fn start_container(
        &self,
        services: &[Service],
        routing: &[Routing],
        settings: ProxySettings,
    ) -> Result<ContainerAsync<GenericImage>, ContainerError> {
        let (network, image) = self.pods.client_needs().await?;
        let endpoints = serde_json::to_string(&endpoint_list(services)).map_err(in_client_pod)?;
        let mut args: Vec<String> = [
            "--config",
            &format!("{FILES}/routing.yaml"),
            "--endpoints",
            &format!("{FILES}/endpoints.yaml"),
            "--admin",
            &format!("0.0.0.0:{ADMIN_PORT}"),
            "--admin-token-file",
            &format!("{FILES}/token"),
            "--listen-ip",
            "0.0.0.0",
        ]
        .map(str::to_owned)
        .into();
        if self.l4 {
            args.push("--l4".to_owned());
        }
        args.extend(settings_args(settings));
        let mut request = GenericImage::new(REPOSITORY, image.tag.as_str())
            .with_entrypoint(MESHPROXY)
            .with_wait_for(WaitFor::message_on_stdout("admin "))
            .with_cmd(args)
            .with_network(network.name())
            .with_hostname("client")
            .with_container_name(format!("{}-client", network.name()))
            .with_label("meshbench", "run")
            .with_copy_to(
                format!("{FILES}/routing.yaml"),
                routing_yaml(routing).into_bytes(),
            )
            .with_copy_to(format!("{FILES}/endpoints.yaml"), endpoints.into_bytes())
            .with_copy_to(format!("{FILES}/token"), self.token.clone().into_bytes())
            .with_startup_timeout(START_WITHIN);
        if let Some(workers) = settings.workers {
            request = request.with_env_var("TOKIO_WORKER_THREADS", workers.to_string());
        }
        request.start().await.map_err(in_client_pod)
    }
}

/// A bearer token no other run shares: 32 hex digits from the clock, the
/// process and the address of a fresh allocation.
fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new();
    let mut first = random.build_hasher();
    first.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut second = random.build_hasher();
    second.write_u32(std::process::id());
    format!("{:016x}{:016x}", first.finish(), second.finish())
}

/// The listeners `meshproxy` printed (`SERVICE 0.0.0.0:PORT`), at the
/// container's address.
async fn listeners(
    container: &ContainerAsync<GenericImage>,
    ip: IpAddr,
    services: usize,
) -> Result<(Listeners, SocketAddr), AdapterError> {
    let mut lines = container.stdout(true).lines();
    let mut listeners = Listeners::new();
    let mut admin = None;
    while listeners.len() < services || admin.is_none() {
        let line = lines
            .next_line()
            .await
            .map_err(|e| AdapterError::Start(e.to_string()))?;
        let Some(line) = line else {
            return Err(AdapterError::Refused(
                "meshproxy's container stopped printing before every listener was named".to_owned(),
            ));
        };
        let Some((name, addr)) = parse_line(&line) else {
            continue;
        };
        let addr = SocketAddr::new(ip, addr.port());
        match name.as_str() {
            "admin" => admin = Some(addr),
            _ => {
                listeners.insert(name, addr);
            }
        }
    }
    Ok((listeners, admin.unwrap_or(SocketAddr::new(ip, ADMIN_PORT))))
}

/// Looks at the container until it is no longer running, then says why.
async fn watch(id: String, exit: Arc<Mutex<Option<String>>>) {
    let Ok(docker) = engine() else { return };
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Ok(inspected) = docker
            .inspect_container(
                &id,
                None::<testcontainers::bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        else {
            return;
        };
        let state = inspected.state.unwrap_or_default();
        if state.running != Some(true) {
            if let Ok(mut slot) = exit.lock() {
                *slot = Some(format!(
                    "meshproxy's container exited with code {}",
                    state.exit_code.unwrap_or(-1)
                ));
            }
            return;
        }
    }
}

impl ProxyAdapter for Sidecar {
    fn name(&self) -> &str {
        if self.l4 {
            "builtin-l4"
        } else {
            "builtin-process"
        }
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            shared_pools(self.name(), settings)?;
            let container = self
                .start_container(services, routing, settings)
                .await
                .map_err(|e| AdapterError::Start(e.to_string()))?;
            let ip = container.get_bridge_ip_address().await;
            let id = container.id().to_owned();
            self.container = Some(container);
            let ip = ip.map_err(|e| AdapterError::Start(e.to_string()))?;
            self.pods.set_client(ClientPod {
                id: id.clone(),
                ip,
                agent: None,
            });
            let container = self
                .container
                .as_ref()
                .ok_or_else(|| AdapterError::Start("no container".to_owned()))?;
            let (listeners, admin) = listeners(container, ip, services.len()).await?;
            self.admin = Some(admin);
            self.watcher = Some(tokio::spawn(watch(id, Arc::clone(&self.exit))));
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            let admin = self
                .admin
                .ok_or_else(|| AdapterError::Start("apply before start".to_owned()))?;
            put_config(admin, Some(&self.token), routing).await
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { get_stats(self.admin?, Some(&self.token)).await })
    }

    fn exited(&mut self) -> Option<String> {
        self.exit.lock().ok().and_then(|slot| slot.clone())
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(watcher) = self.watcher.take() {
                watcher.abort();
            }
            // The workload agent lives in this container's network namespace.
            if let Some(workload) = self.pods.take_workload()
                && let Err(e) = workload.rm().await
            {
                eprintln!("meshbench: removing the workload agent's container: {e}");
            }
            if let Some(container) = self.container.take()
                && let Err(e) = container.rm().await
            {
                eprintln!("meshbench: removing the sidecar's container: {e}");
            }
        })
    }
}

/// The client pod once its sidecar runs: the container whose network
/// namespace the workload agent joins, its address, and the agent when
/// the pod already runs one (the pod is the agent's container when the
/// sidecar is a process in its namespace).
#[derive(Debug, Clone)]
pub(super) struct ClientPod {
    pub(super) id: String,
    pub(super) ip: IpAddr,
    pub(super) agent: Option<SocketAddr>,
}

/// Starts `meshbench workload --serve` in `client`'s network namespace, as
/// an application container beside its sidecar: the workload's requests
/// leave from the pod's own address, as a pod's do.
pub(super) async fn start_workload_agent(
    network: &str,
    client: &ClientPod,
) -> Result<(ContainerAsync<GenericImage>, SocketAddr), ContainerError> {
    let image = Image::of_this_build().await?;
    let serve = format!("0.0.0.0:{WORKLOAD_PORT}");
    let namespace = format!("container:{}", client.id);
    let container = GenericImage::new(REPOSITORY, image.tag.as_str())
        .with_entrypoint(MESHBENCH)
        .with_wait_for(WaitFor::message_on_stdout(agent::READY))
        .with_cmd(["workload", "--serve", serve.as_str(), "--in-pod"])
        .with_container_name(format!("{network}-client-workload"))
        .with_label("meshbench", "run")
        .with_host_config_modifier(move |config| {
            // A container in another's network namespace publishes nothing
            // and maps no hosts of its own: Docker refuses either.
            config.network_mode = Some(namespace.clone());
            config.publish_all_ports = None;
            config.port_bindings = None;
            config.extra_hosts = None;
        })
        .with_startup_timeout(START_WITHIN)
        .start()
        .await
        .map_err(|e| ContainerError::Container {
            name: "client-workload".to_owned(),
            error: e.to_string(),
        })?;
    Ok((container, SocketAddr::new(client.ip, WORKLOAD_PORT)))
}
