//! The sample fleet as real processes (`meshbench fleet`), pinned to the
//! server cores when taskset is there, stopped by its own id when the bench
//! ends (kill on drop), and measured by its CPU ticks; and the pinning of
//! every other server (the proxies the adapters start, nginx as a web
//! server).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
    /// CPU ticks of the server so far.
    pub fn ticks(&self) -> u64 {
        procstat::ticks_of(&[self.pid])
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
    std::fs::copy(crate::adapter::meshproxy_path()?, &meshproxy)?;
    Ok((meshbench, meshproxy))
}
