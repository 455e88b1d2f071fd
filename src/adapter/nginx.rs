//! nginx as the proxy under test: the routing objects translated into one
//! `nginx.conf` ([`config`]), nginx run with its master process and
//! watched as a child process.
//!
//! - nginx is found from `--proxy nginx=PATH`, `$MESHBENCH_NGINX`, or
//!   `PATH` (Debian's `/usr/sbin/nginx`); TCP needs Debian's stream module
//!   (`libnginx-mod-stream`), looked for under `/usr/lib/nginx/modules`.
//! - Each server listens on a loopback port picked before the start and kept
//!   for every reload (the master keeps its listening sockets).
//! - A configuration is checked with `nginx -t` first: a refusal quotes
//!   nginx's own message. `apply()` sends the master `SIGHUP` and returns
//!   once the control server answers with the new version (which only new
//!   workers do) and every old worker has been told to quit: until then an
//!   old worker still serves the open keep-alive connections under the old
//!   routing. A quitting worker finishes the request it holds and closes
//!   its keep-alive connections.
//! - `worker_processes 2` (Istio's sidecar worker count) unless the
//!   scenario's `proxy.workers` says otherwise.

mod config;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meshbench_sim::client::http::HttpClient;
use meshbench_wire::http1::Request;
use tokio::process::Command;
use tokio::time::Instant;

use super::child::{Supervised, free_port, free_ports, in_force_after, scratch};
use super::mesh::{Gap, Layer};
use super::{
    AdapterError, BoxFuture, Feature, Listeners, ProxyAdapter, ProxySettings, Routing, Service,
    Setup,
};
pub use config::{Binds, Options, Paths, config};

/// Istio's sidecar worker count, as nginx worker processes.
const WORKERS: u32 = 2;

/// How long nginx may take to start, or a reload to be in force.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Where Debian installs the stream module.
const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// `nginx[-l4][=PATH]`.
#[derive(Debug, Default)]
pub struct NginxAdapter {
    /// The binary named on the command line, if any.
    binary: Option<PathBuf>,
    /// Layer 7, or the layer-4 negative control.
    layer: Layer,
    child: Option<Supervised>,
    /// The process group of the master and its workers, kept after the
    /// master is gone so that its workers can still be stopped.
    group: Option<u32>,
    /// The prefix directory, removed when dropped.
    dir: Option<tempfile::TempDir>,
    services: Vec<Service>,
    binds: Option<Binds>,
    options: Option<Options>,
    /// The configuration's version, as the control server answers it.
    version: u64,
    /// `nginx -v`'s words.
    about: Option<String>,
    /// How long each reload took to be in force.
    applied_in: Vec<Duration>,
}

/// Where nginx is: `$MESHBENCH_NGINX`, else the first `nginx` on `PATH` or in
/// `/usr/sbin`.
///
/// # Errors
/// A sentence saying where it looked and how to install it.
pub fn locate() -> Result<PathBuf, String> {
    super::child::locate_installed(
        "MESHBENCH_NGINX",
        "nginx",
        "apt-get install nginx libnginx-mod-stream",
    )
}

/// The stream module, when installed.
fn stream_module() -> Option<&'static str> {
    Path::new(STREAM_MODULE).is_file().then_some(STREAM_MODULE)
}

impl NginxAdapter {
    /// An nginx found at `binary`, or by [`locate`], listening at `layer`.
    pub fn new(binary: Option<PathBuf>, layer: Layer) -> Self {
        let mut adapter = NginxAdapter::default();
        adapter.binary = binary;
        adapter.layer = layer;
        adapter
    }

    /// The master's process id, while it runs.
    fn pid(&self) -> Option<u32> {
        self.child.as_ref()?.pid()
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

    /// Translates `routing` as the next version, checks it with `nginx -t`
    /// and installs it as `nginx.conf`.
    async fn write(&mut self, routing: &[Routing]) -> Result<PathBuf, AdapterError> {
        let dir = self.dir()?.to_owned();
        let (binds, options) = match (&self.binds, self.options) {
            (Some(binds), Some(options)) => (binds, options),
            _ => return Err(AdapterError::Start("not started".to_owned())),
        };
        let prefix = dir.display().to_string();
        let paths = Paths {
            dir: &prefix,
            stream_module: stream_module(),
            version: self.version + 1,
        };
        let text = config(&self.services, routing, binds, options, paths)
            .map_err(|gap| gap.refused_by("nginx"))?;
        let next = dir.join("next.conf");
        std::fs::write(&next, &text).map_err(|e| AdapterError::Start(e.to_string()))?;
        check(&self.binary()?, &dir, &next).await?;
        let installed = dir.join("nginx.conf");
        std::fs::rename(&next, &installed).map_err(|e| AdapterError::Start(e.to_string()))?;
        self.version += 1;
        Ok(installed)
    }

    /// Waits until none of the `old` workers takes requests any more: the
    /// new routing is in force only then, for the open connections too
    /// (a quitting worker finishes the request it holds and closes its
    /// keep-alive connections).
    async fn await_old_workers(&mut self, old: &[u32]) -> Result<(), AdapterError> {
        let deadline = Instant::now() + READY_WITHIN;
        while old.iter().any(|pid| still_serving(*pid)) {
            if Instant::now() >= deadline {
                return Err(AdapterError::Start(format!(
                    "nginx's old workers {old:?} still served {READY_WITHIN:?} after the reload"
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    /// Waits until the control server answers with the installed version.
    async fn await_version(&mut self) -> Result<(), AdapterError> {
        let control = self
            .binds
            .as_ref()
            .map(|b| b.control)
            .ok_or_else(|| AdapterError::Start("not started".to_owned()))?;
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| AdapterError::Start("not started".to_owned()))?;
        await_version(child, control, self.version).await
    }
}

/// Checks `file` with `nginx -t`; a refusal quotes nginx's `[emerg]` lines.
async fn check(binary: &Path, dir: &Path, file: &Path) -> Result<(), AdapterError> {
    let check = Command::new(binary)
        .args(["-t", "-q", "-e", "stderr", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(file)
        .output()
        .await
        .map_err(|e| AdapterError::Start(e.to_string()))?;
    if check.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&check.stderr);
    let lines: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("[emerg]"))
        .take(5)
        .collect();
    Err(AdapterError::Refused(format!(
        "nginx -t refused the configuration: {}",
        lines.join("; ")
    )))
}

/// Starts nginx's master on `file` with `dir` as its prefix, in a process
/// group of its own, so that stopping it stops its workers even after the
/// master died; returns it and that group.
fn launch(binary: &Path, dir: &Path, file: &Path) -> Result<(Supervised, u32), AdapterError> {
    let mut command = Command::new(binary);
    command
        .args(["-e", "stderr", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(file)
        .process_group(0);
    let (child, _) = Supervised::spawn("nginx", &mut command)
        .map_err(|e| AdapterError::Start(format!("{}: {e}", binary.display())))?;
    let group = child
        .pid()
        .ok_or_else(|| AdapterError::Start("nginx exited at once".to_owned()))?;
    Ok((child, group))
}

/// Waits until the control server at `control` answers `version` (which
/// only the workers of that configuration do); `child` exiting meanwhile
/// is the error.
async fn await_version(
    child: &mut Supervised,
    control: SocketAddr,
    version: u64,
) -> Result<(), AdapterError> {
    let want = version.to_string();
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(exit) = child.exited() {
            return Err(AdapterError::Start(exit));
        }
        if version_at(control).await.as_deref() == Some(want.as_str()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(AdapterError::Start(format!(
                "nginx did not serve version {want} at {control} within {READY_WITHIN:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `nginx -v`'s line.
async fn version_line(binary: &Path) -> Option<String> {
    let output = Command::new(binary).arg("-v").output().await.ok()?;
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .next()
        .map(str::to_owned)
}

/// Stops nginx: TERM to its group (the master stops its workers), then
/// KILL for a master that does not and for workers it left behind.
async fn stop_group(mut child: Supervised, group: u32) {
    signal_group("-TERM", group).await;
    for _ in 0..200 {
        if child.exited().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal_group("-KILL", group).await;
    child.kill().await;
}

/// Workers outlive a killed master: what is dropped takes its whole
/// process group down, stopped or not.
fn kill_group_now(group: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .output();
}

/// The worker processes of `master`: its children.
fn workers(master: u32) -> Vec<u32> {
    super::child::descendants(master)
        .into_iter()
        .filter(|pid| super::child::parent(*pid) == Some(master))
        .collect()
}

/// Whether an old worker still takes requests: it runs and has not been
/// told to quit (nginx retitles a quitting worker "is shutting down").
fn still_serving(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|title| !String::from_utf8_lossy(&title).contains("shutting down"))
}

/// What the control server says its version is, on a new connection.
async fn version_at(control: SocketAddr) -> Option<String> {
    let client = HttpClient::connect(control).await.ok()?;
    let (response, _) = client
        .send(Request::new("GET", "/__meshbench/version"), None)
        .await
        .ok()?;
    (response.status == 200).then(|| String::from_utf8_lossy(&response.body).into_owned())
}

/// Sends `signal` to the process group `group` (nginx's master and workers).
async fn signal_group(signal: &str, group: u32) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{group}")])
        .output()
        .await;
}

impl ProxyAdapter for NginxAdapter {
    fn name(&self) -> &str {
        match self.layer {
            Layer::Seven => "nginx",
            Layer::Four => "nginx-l4",
        }
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            self.dir = Some(scratch("nginx")?);
            self.services = services.to_vec();
            let listeners = free_ports(services)?;
            self.binds = Some(Binds {
                services: listeners.clone(),
                control: free_port()?,
            });
            self.options = Some(Options {
                layer: self.layer,
                workers: settings.workers.unwrap_or(WORKERS),
                idle_timeout: settings.idle_timeout,
            });
            let installed = self.write(routing).await?;
            let binary = self.binary()?;
            let (child, group) = launch(&binary, self.dir()?, &installed)?;
            self.group = Some(group);
            self.child = Some(child);
            self.await_version().await?;
            self.about = version_line(&binary).await;
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            self.write(routing).await?;
            let started = Instant::now();
            let pid = self
                .pid()
                .ok_or_else(|| AdapterError::Start("nginx is not running".to_owned()))?;
            let old = workers(pid);
            let signalled = Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .await
                .map_err(|e| AdapterError::Start(format!("signalling nginx: {e}")))?;
            if !signalled.success() {
                return Err(AdapterError::Start(format!("kill -HUP {pid} failed")));
            }
            self.await_version().await?;
            self.await_old_workers(&old).await?;
            self.applied_in.push(started.elapsed());
            Ok(())
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let control = self.binds.as_ref()?.control;
            super::envoy::admin_get(control, "/__meshbench/status")
                .await
                .ok()
        })
    }

    fn unsupported(&self, feature: &Feature) -> Option<String> {
        let _ = feature;
        None
    }

    fn unsupported_setup(&self, setup: &Setup) -> Option<String> {
        let placeholder = SocketAddr::from(([127, 0, 0, 1], 1));
        let binds = Binds {
            services: setup
                .services
                .iter()
                .map(|s| (s.name.clone(), placeholder))
                .collect(),
            control: placeholder,
        };
        let options = Options {
            layer: self.layer,
            workers: WORKERS,
            idle_timeout: setup.settings.idle_timeout,
        };
        let paths = Paths {
            dir: "/tmp",
            stream_module: stream_module(),
            version: 1,
        };
        setup.routing.iter().find_map(|routing| {
            match config(&setup.services, routing, &binds, options, paths) {
                Err(Gap::Unsupported(reason)) => Some(reason),
                Ok(_) | Err(Gap::Invalid(_)) => None,
            }
        })
    }

    fn description(&self) -> Option<String> {
        let workers = self.options.map_or(WORKERS, |o| o.workers);
        let reloads = in_force_after("reloads", &self.applied_in);
        self.about
            .as_ref()
            .map(|v| format!("{v}, {workers} worker(s){reloads}"))
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
            if let (Some(child), Some(group)) = (self.child.take(), self.group.take()) {
                stop_group(child, group).await;
            }
            self.dir = None;
        })
    }
}

impl Drop for NginxAdapter {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            kill_group_now(group);
        }
    }
}

/// nginx as a plain web server answering `200 hello` to every request, run
/// as the adapter runs nginx: the backend `meshbench bench` measures load
/// generators against (a server nobody here wrote, fast enough not to be
/// the limit).
#[derive(Debug)]
pub struct WebServer {
    child: Option<Supervised>,
    group: Option<u32>,
    address: SocketAddr,
    /// The prefix directory, removed when dropped.
    _dir: tempfile::TempDir,
}

impl WebServer {
    /// Starts nginx (at `binary`, or found by [`locate`]) with `workers`
    /// worker processes on a free loopback port; returns once it answers.
    ///
    /// # Errors
    /// nginx missing, refusing the configuration or not answering.
    pub async fn start(binary: Option<PathBuf>, workers: u32) -> Result<WebServer, AdapterError> {
        let binary = match binary {
            Some(binary) => binary,
            None => locate().map_err(AdapterError::Start)?,
        };
        let dir = scratch("nginx-web")?;
        let (address, control) = (free_port()?, free_port()?);
        let prefix = dir.path().display().to_string();
        let paths = Paths {
            dir: &prefix,
            stream_module: None,
            version: 1,
        };
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config::web_server(address, control, workers, paths))
            .map_err(|e| AdapterError::Start(e.to_string()))?;
        check(&binary, dir.path(), &file).await?;
        let (mut child, group) = launch(&binary, dir.path(), &file)?;
        let mut server = WebServer {
            child: None,
            group: Some(group),
            address,
            _dir: dir,
        };
        await_version(&mut child, control, 1).await?;
        server.child = Some(child);
        Ok(server)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its master, then its workers.
    pub fn processes(&self) -> Vec<u32> {
        self.child
            .as_ref()
            .map_or_else(Vec::new, Supervised::processes)
    }

    /// Stops it and its workers.
    pub async fn stop(mut self) {
        if let (Some(child), Some(group)) = (self.child.take(), self.group.take()) {
            stop_group(child, group).await;
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            kill_group_now(group);
        }
    }
}
