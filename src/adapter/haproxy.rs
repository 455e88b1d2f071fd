//! HAProxy as the proxy under test: the routing objects translated into
//! one `haproxy.cfg` ([`config`]), HAProxy run in master-worker mode and
//! watched as a child process.
//!
//! - HAProxy is found from `--proxy haproxy=PATH`, `$MESHBENCH_HAPROXY`, or
//!   `PATH` (Debian's `/usr/sbin/haproxy`).
//! - Each frontend binds a loopback port picked before the start and kept
//!   for every reload (the master hands the bound sockets to each new worker).
//! - A configuration is checked with `haproxy -c` first: a refusal quotes
//!   HAProxy's own message. `apply()` asks the master to reload and returns
//!   once the stats socket is answered by the new worker; the old worker
//!   answers its connections' next request with `Connection: close` and
//!   stops, which is how a reload reaches long-lived connections.
//! - `nbthread 2` (Istio's sidecar worker count) unless the scenario's
//!   `proxy.workers` says otherwise; `proxy.idle_timeout` is `timeout client`.
//! - The Prometheus exporter answers on its own loopback port.

mod config;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::Command;
use tokio::time::Instant;

use super::child::{Supervised, free_port, free_ports, in_force_after, scratch};
use super::mesh::{Gap, Layer};
use super::{
    AdapterError, BoxFuture, Feature, Listeners, ProxyAdapter, ProxySettings, Routing, Service,
    Setup,
};
pub use config::{Binds, Options, config};

/// Istio's sidecar worker count, as HAProxy threads.
const THREADS: u32 = 2;

/// How long HAProxy may take to start, or a reload to be in force.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// `haproxy[-l4][=PATH]`.
#[derive(Debug, Default)]
pub struct HaproxyAdapter {
    /// The binary named on the command line, if any.
    binary: Option<PathBuf>,
    /// Layer 7, or the layer-4 negative control.
    layer: Layer,
    child: Option<Supervised>,
    /// The configuration files and sockets, removed when dropped.
    dir: Option<tempfile::TempDir>,
    services: Vec<Service>,
    binds: Option<Binds>,
    options: Option<Options>,
    /// The process id of the worker in force.
    worker: Option<u32>,
    /// `haproxy -v`'s first line.
    version: Option<String>,
    /// How long each reload took to be in force.
    applied_in: Vec<Duration>,
}

/// Where haproxy is: `$MESHBENCH_HAPROXY`, else the first `haproxy` on `PATH` or in
/// `/usr/sbin`.
///
/// # Errors
/// A sentence saying where it looked and how to install it.
pub fn locate() -> Result<PathBuf, String> {
    super::child::locate_installed("MESHBENCH_HAPROXY", "haproxy", "apt-get install haproxy")
}

impl HaproxyAdapter {
    /// A HAProxy found at `binary`, or by [`locate`], listening at `layer`.
    pub fn new(binary: Option<PathBuf>, layer: Layer) -> Self {
        HaproxyAdapter {
            binary,
            layer,
            ..HaproxyAdapter::default()
        }
    }

    fn binary(&self) -> Result<PathBuf, AdapterError> {
        match &self.binary {
            Some(path) => Ok(path.clone()),
            None => locate().map_err(AdapterError::Start),
        }
    }

    fn dir(&self) -> Result<&Path, AdapterError> {
        self.dir
            .as_ref()
            .map(tempfile::TempDir::path)
            .ok_or_else(|| AdapterError::Start("not started".to_owned()))
    }

    /// Translates `routing`, checks it with `haproxy -c` and installs it
    /// as `haproxy.cfg`.
    async fn write(&self, routing: &[Routing]) -> Result<PathBuf, AdapterError> {
        let dir = self.dir()?;
        let (binds, options) = match (&self.binds, self.options) {
            (Some(binds), Some(options)) => (binds, options),
            _ => return Err(AdapterError::Start("not started".to_owned())),
        };
        let socket = dir.join("stats.sock").display().to_string();
        let text = config(&self.services, routing, binds, options, &socket)
            .map_err(|gap| gap.refused_by("haproxy"))?;
        let next = dir.join("next.cfg");
        std::fs::write(&next, &text).map_err(|e| AdapterError::Start(e.to_string()))?;
        let check = Command::new(self.binary()?)
            .arg("-c")
            .arg("-q")
            .arg("-f")
            .arg(&next)
            .output()
            .await
            .map_err(|e| AdapterError::Start(e.to_string()))?;
        if !check.status.success() {
            let said = String::from_utf8_lossy(&check.stderr);
            let lines: Vec<&str> = said
                .lines()
                .filter(|l| l.contains("ALERT"))
                .take(5)
                .collect();
            return Err(AdapterError::Refused(format!(
                "haproxy -c refused the configuration: {}",
                lines.join("; ")
            )));
        }
        let installed = dir.join("haproxy.cfg");
        std::fs::rename(&next, &installed).map_err(|e| AdapterError::Start(e.to_string()))?;
        Ok(installed)
    }

    /// Waits until the stats socket is answered by a worker other than
    /// `previous`; returns its pid.
    async fn await_worker(&mut self, previous: Option<u32>) -> Result<u32, AdapterError> {
        let socket = self.dir()?.join("stats.sock");
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(exit) = self.exited() {
                return Err(AdapterError::Start(exit));
            }
            if let Ok(info) = command(&socket, "show info").await
                && let Some(pid) = info_pid(&info)
                && Some(pid) != previous
            {
                return Ok(pid);
            }
            if Instant::now() >= deadline {
                return Err(AdapterError::Start(format!(
                    "no new HAProxy worker answered {} within {READY_WITHIN:?}",
                    socket.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Sends one command to a HAProxy CLI socket and reads the whole answer.
async fn command(socket: &Path, line: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket).await?;
    stream.write_all(format!("{line}\n").as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    Ok(answer)
}

/// The `Pid:` line of `show info`.
fn info_pid(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|pid| pid.trim().parse().ok())
}

impl ProxyAdapter for HaproxyAdapter {
    fn name(&self) -> &str {
        match self.layer {
            Layer::Seven => "haproxy",
            Layer::Four => "haproxy-l4",
        }
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            self.dir = Some(scratch("haproxy")?);
            self.services = services.to_vec();
            let listeners = free_ports(services)?;
            self.binds = Some(Binds {
                services: listeners.clone(),
                metrics: free_port()?,
            });
            self.options = Some(Options {
                layer: self.layer,
                threads: settings.workers.unwrap_or(THREADS),
                idle_timeout: settings.idle_timeout,
            });
            let installed = self.write(routing).await?;
            let binary = self.binary()?;
            let master = self.dir()?.join("master.sock");
            let mut command = Command::new(&binary);
            command
                .arg("-W")
                .arg("-db")
                .arg("-f")
                .arg(&installed)
                .arg("-S")
                .arg(&master);
            let (child, _) = Supervised::spawn("haproxy", &mut command)
                .map_err(|e| AdapterError::Start(format!("{}: {e}", binary.display())))?;
            self.child = Some(child);
            self.worker = Some(self.await_worker(None).await?);
            self.version = Command::new(&binary)
                .arg("-v")
                .output()
                .await
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .next()
                        .map(str::to_owned)
                });
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            self.write(routing).await?;
            let started = Instant::now();
            let master = self.dir()?.join("master.sock");
            command(&master, "reload")
                .await
                .map_err(|e| AdapterError::Start(format!("reloading HAProxy: {e}")))?;
            self.worker = Some(self.await_worker(self.worker).await?);
            self.applied_in.push(started.elapsed());
            Ok(())
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let metrics = self.binds.as_ref()?.metrics;
            super::envoy::admin_get(metrics, "/metrics").await.ok()
        })
    }

    fn unsupported(&self, feature: &Feature) -> Option<String> {
        match (self.layer, feature.kind) {
            (Layer::Seven, "mirrored") => Some("HAProxy 2.6 does not mirror requests".to_owned()),
            _ => None,
        }
    }

    fn unsupported_setup(&self, setup: &Setup) -> Option<String> {
        let binds = Binds {
            services: setup
                .services
                .iter()
                .map(|s| (s.name.clone(), SocketAddr::from(([127, 0, 0, 1], 1))))
                .collect(),
            metrics: SocketAddr::from(([127, 0, 0, 1], 1)),
        };
        let options = Options {
            layer: self.layer,
            threads: THREADS,
            idle_timeout: setup.settings.idle_timeout,
        };
        setup.routing.iter().find_map(|routing| {
            match config(&setup.services, routing, &binds, options, "/stats.sock") {
                Err(Gap::Unsupported(reason)) => Some(reason),
                Ok(_) | Err(Gap::Invalid(_)) => None,
            }
        })
    }

    fn description(&self) -> Option<String> {
        let threads = self.options.map_or(THREADS, |o| o.threads);
        let reloads = in_force_after("reloads", &self.applied_in);
        self.version
            .as_ref()
            .map(|v| format!("{v}, {threads} thread(s){reloads}"))
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
            self.dir = None;
        })
    }
}
