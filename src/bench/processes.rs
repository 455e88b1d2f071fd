//! The servers the bench runs as real processes: the sample fleet
//! (`meshbench fleet`), `meshproxy`, nginx and HAProxy, each pinned to the
//! server cores when taskset is there, each stopped by its own id when the
//! bench ends (kill on drop), and each measured by its CPU ticks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::configs;
use super::procstat;

/// How server processes are started: pinned to `cpus` by `taskset`, or not.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// taskset, when pinning.
    pub taskset: Option<PathBuf>,
    /// The cores the servers get (`1`), and the ones the generator gets (`0`).
    pub server_cpus: String,
    /// The generator's cores.
    pub generator_cpus: String,
    /// How long any server may live (a bound in case the bench is killed).
    pub lifetime: Duration,
    /// Where configuration files go.
    pub dir: PathBuf,
    /// The copy of this meshbench the fleet runs from.
    pub meshbench: PathBuf,
    /// The copy of meshproxy the bench runs.
    pub meshproxy: PathBuf,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pid: u32,
}

impl Server {
    /// CPU ticks of the server and its children so far.
    pub fn ticks(&self) -> u64 {
        procstat::tree_ticks(self.pid)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops it (SIGKILL to its own pid) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Launcher {
    /// Pins a process someone else started (every thread) to the servers'
    /// cores, as the bench's own servers are.
    ///
    /// # Errors
    /// taskset failing.
    pub fn pin(&self, pid: u32) -> anyhow::Result<()> {
        let Some(taskset) = &self.taskset else {
            return Ok(());
        };
        let status = std::process::Command::new(taskset)
            .args(["-a", "-p", "-c", &self.server_cpus, &pid.to_string()])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "taskset could not pin process {pid}");
        Ok(())
    }

    fn command(&self, program: &Path, cpus: &str) -> Command {
        let mut command = match &self.taskset {
            Some(taskset) => {
                let mut command = Command::new(taskset);
                command.arg("-c").arg(cpus).arg(program);
                command
            }
            None => Command::new(program),
        };
        command.kill_on_drop(true).stdin(Stdio::null());
        command
    }

    /// A server command on the server cores.
    pub fn server(&self, program: &Path) -> Command {
        self.command(program, &self.server_cpus)
    }

    /// Starts `meshbench fleet` for one version of one service on `address`
    /// (one tokio worker, as the other servers get one) and waits for its
    /// endpoint lines.
    pub async fn fleet(
        &self,
        protocol: &str,
        service: &str,
        version: &str,
        address: &str,
        port: u16,
    ) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
        let mut command = self.server(&self.meshbench);
        command
            .env("TOKIO_WORKER_THREADS", "1")
            .args(["fleet", "--protocol", protocol, "--service", service])
            .args(["--version", version, "--address", address])
            .args(["--port", &port.to_string()])
            .args(["--for", &format!("{}s", self.lifetime.as_secs())])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (child, lines) = spawn_reading(command, 1).await?;
        let addrs = lines
            .iter()
            .filter_map(|l| l.split_whitespace().last()?.parse().ok())
            .collect();
        let pid = pid_of(&child)?;
        Ok((Server { child, pid }, addrs))
    }

    /// Starts `meshproxy` with these endpoint and routing files, listening
    /// on `listen_ip`; returns its listeners by service.
    pub async fn meshproxy(
        &self,
        name: &str,
        endpoints_yaml: &str,
        routing_yaml: &str,
        listen_ip: &str,
        services: usize,
    ) -> anyhow::Result<(Server, Vec<(String, SocketAddr)>)> {
        let endpoints = self.dir.join(format!("{name}-endpoints.yaml"));
        let routing = self.dir.join(format!("{name}-routing.yaml"));
        std::fs::write(&endpoints, endpoints_yaml)?;
        std::fs::write(&routing, routing_yaml)?;
        let mut command = self.server(&self.meshproxy);
        command
            .env("TOKIO_WORKER_THREADS", "1")
            .arg("--config")
            .arg(&routing)
            .arg("--endpoints")
            .arg(&endpoints)
            .args(["--admin", "127.0.0.1:0", "--listen-ip", listen_ip])
            .args(["--for", &format!("{}s", self.lifetime.as_secs())])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The admin line, then one line per service.
        let (child, lines) = spawn_reading(command, services + 1).await?;
        let listeners = lines
            .iter()
            .filter_map(|l| {
                let (service, addr) = l.split_once(' ')?;
                (service != "admin").then(|| Some((service.to_owned(), addr.parse().ok()?)))?
            })
            .collect();
        let pid = pid_of(&child)?;
        Ok((Server { child, pid }, listeners))
    }

    /// Starts nginx with `config` (generated by [`configs`]) and waits until
    /// `listen` accepts.
    pub async fn nginx(
        &self,
        nginx: &Path,
        name: &str,
        config: &str,
        listen: SocketAddr,
    ) -> anyhow::Result<Server> {
        anyhow::ensure!(
            configs::loopback_only(config),
            "refusing an nginx configuration that binds outside 127.0.0.0/8"
        );
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("nginx.conf");
        std::fs::write(&file, config)?;
        let mut command = self.server(nginx);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        self.listening(name, command, listen).await
    }

    /// Starts HAProxy with `config` and waits until `listen` accepts.
    pub async fn haproxy(
        &self,
        haproxy: &Path,
        config: &str,
        listen: SocketAddr,
    ) -> anyhow::Result<Server> {
        anyhow::ensure!(
            configs::loopback_only(config),
            "refusing a HAProxy configuration that binds outside 127.0.0.0/8"
        );
        let file = self.dir.join("haproxy.cfg");
        std::fs::write(&file, config)?;
        let mut command = self.server(haproxy);
        command
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        self.listening("haproxy", command, listen).await
    }

    async fn listening(
        &self,
        name: &str,
        mut command: Command,
        listen: SocketAddr,
    ) -> anyhow::Result<Server> {
        let mut child = command.spawn()?;
        let pid = pid_of(&child)?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(listen).await.is_ok() {
                return Ok(Server { child, pid });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut message = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ =
                        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut message).await;
                }
                anyhow::bail!(
                    "{name} exited ({status}) before listening: {}",
                    message.trim()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill().await;
        anyhow::bail!("{name} did not listen on {listen} within 5 s")
    }
}

fn pid_of(child: &Child) -> anyhow::Result<u32> {
    child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the child exited at once"))
}

/// Spawns `command` and reads `count` lines of its stdout (10 s at most).
async fn spawn_reading(mut command: Command, count: usize) -> anyhow::Result<(Child, Vec<String>)> {
    let mut child = command.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    let read = async {
        while lines.len() < count {
            match reader.next_line().await? {
                Some(line) => lines.push(line),
                None => break,
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), read).await??;
    if lines.len() < count {
        let mut message = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut message).await;
        }
        let _ = child.kill().await;
        anyhow::bail!("the server stopped before it was ready: {}", message.trim());
    }
    // Keep draining its pipes so the child never blocks on a full one.
    tokio::spawn(async move { while let Ok(Some(_)) = reader.next_line().await {} });
    if let Some(stderr) = child.stderr.take() {
        let mut errors = BufReader::new(stderr).lines();
        tokio::spawn(async move { while let Ok(Some(_)) = errors.next_line().await {} });
    }
    Ok((child, lines))
}

/// Copies this meshbench and meshproxy into `dir` and returns the copies:
/// the bench runs for minutes, and a `cargo build` meanwhile replaces the
/// files in target/ (`/proc/self/exe` still reads after that).
pub fn snapshot(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let meshbench = dir.join("meshbench");
    std::fs::copy("/proc/self/exe", &meshbench)?;
    let meshproxy = dir.join("meshproxy");
    std::fs::copy(meshproxy_path()?, &meshproxy)?;
    Ok((meshbench, meshproxy))
}

/// `meshproxy` next to the running `meshbench` (cargo builds both into one folder).
pub fn meshproxy_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no folder for the running binary"))?;
    let path = dir.join("meshproxy");
    anyhow::ensure!(
        path.exists(),
        "meshproxy not found next to {}: build both with `cargo build --release`",
        exe.display()
    );
    Ok(path)
}
