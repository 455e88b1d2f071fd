//! A proxy run as a child process: found on the machine, started with its
//! stderr kept as a bounded log tail, given loopback ports, asked whether it
//! has exited, killed on stop or drop.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use super::AdapterError;

/// How many of its last log lines are kept (Envoy's rejection messages
/// carry a proto dump of many lines after the one that says why).
const LOG_TAIL: usize = 200;

/// How many of them an exit report quotes.
const EXIT_TAIL: usize = 20;

/// A running proxy process.
#[derive(Debug)]
pub(super) struct Supervised {
    /// What reports call it (`meshproxy`, `envoy`).
    name: &'static str,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Reads stderr into `log` until it closes.
    tail: Option<tokio::task::JoinHandle<()>>,
}

impl Supervised {
    /// Starts `command` with piped stdout (returned) and stderr (kept as
    /// the log tail).
    pub(super) fn spawn(
        name: &'static str,
        command: &mut Command,
    ) -> std::io::Result<(Supervised, Option<ChildStdout>)> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let tail = child
            .stderr
            .take()
            .map(|stderr| tokio::spawn(keep_tail(stderr, Arc::clone(&log))));
        let stdout = child.stdout.take();
        Ok((
            Supervised {
                name,
                child,
                log,
                tail,
            },
            stdout,
        ))
    }

    /// Its process id, while it runs.
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process and every live descendant (nginx's workers, HAProxy's
    /// worker), itself first; empty once it has gone.
    pub(super) fn processes(&self) -> Vec<u32> {
        self.pid().map_or_else(Vec::new, descendants)
    }

    /// The last lines the process wrote to stderr.
    pub(super) fn log_tail(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The last lines of a process that is ending: waits (a second at
    /// most) for its stderr to close first, so the lines that say why are in.
    pub(super) async fn final_log(&mut self) -> Vec<String> {
        if let Some(tail) = self.tail.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), tail).await;
        }
        self.log_tail()
    }

    /// How the process ended, with its last log lines; `None` while it runs.
    pub(super) fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        let lines = self.log_tail();
        let tail = lines[lines.len().saturating_sub(EXIT_TAIL)..].join("\n");
        Some(match tail.is_empty() {
            true => format!("{} {}", self.name, describe_exit(status)),
            false => format!(
                "{} {}; its last log lines:\n{tail}",
                self.name,
                describe_exit(status)
            ),
        })
    }

    /// Kills the process and waits for it.
    pub(super) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// `root` and every live process below it, from `/proc`, parents before
/// their children.
pub(super) fn descendants(root: u32) -> Vec<u32> {
    let table = parents();
    let mut found = vec![root];
    let mut next = 0;
    while let Some(&parent) = found.get(next) {
        found.extend(
            table
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(pid, _)| *pid),
        );
        next += 1;
    }
    found
}

/// Every live process with its parent, from `/proc/PID/stat` (the field
/// after the parenthesised name and the state).
fn parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent(pid)?)))
        .collect()
}

/// A process's parent.
pub(super) fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Keeps the last [`LOG_TAIL`] lines of `stderr` in `log` until it closes.
async fn keep_tail(stderr: tokio::process::ChildStderr, log: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(mut log) = log.lock() else {
            return;
        };
        if log.len() == LOG_TAIL {
            log.pop_front();
        }
        log.push_back(line);
    }
}

/// An exit status in words: `exited with status 1`, `killed by signal 9 (SIGKILL)`.
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => {
            let name = match signal {
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("killed by signal {signal}{name}")
        }
        (None, None) => "ended".to_owned(),
    }
}

/// A system-installed proxy binary: `$variable`, else the first `name` on
/// `PATH` or in `/usr/sbin` (where Debian puts nginx and HAProxy).
///
/// # Errors
/// A sentence saying where it looked and how to `install` it.
pub(super) fn locate_installed(
    variable: &str,
    name: &str,
    install: &str,
) -> Result<std::path::PathBuf, String> {
    if let Some(path) = std::env::var_os(variable) {
        let path = std::path::PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!(
                "${variable} names {}, which is no file",
                path.display()
            )),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no {name} in ${variable}, PATH or /usr/sbin: install it ({install}) or name it with --proxy {name}=PATH"
            )
        })
}

/// A free port on 127.0.0.1, for a listener the child binds next and keeps
/// across reloads.
///
/// # Errors
/// [`AdapterError::Start`] when no port is free.
pub(super) fn free_port() -> Result<std::net::SocketAddr, AdapterError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| AdapterError::Start(format!("no free loopback port: {e}")))
}

/// `; {what} in force after 3, 5 ms` for reports, or nothing before the first.
pub(super) fn in_force_after(what: &str, times: &[std::time::Duration]) -> String {
    match times {
        [] => String::new(),
        times => {
            let ms: Vec<String> = times
                .iter()
                .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
                .collect();
            format!("; {what} in force after {} ms", ms.join(", "))
        }
    }
}

/// A fresh folder for the child's files (`meshbench-NAME-…`), removed when
/// dropped.
///
/// # Errors
/// [`AdapterError::Start`] when it cannot be made.
pub(super) fn scratch(name: &str) -> Result<tempfile::TempDir, AdapterError> {
    tempfile::Builder::new()
        .prefix(&format!("meshbench-{name}-"))
        .tempdir()
        .map_err(|e| AdapterError::Start(e.to_string()))
}

/// A free loopback port for each service's listener, by service name.
///
/// # Errors
/// [`AdapterError::Start`] when no port is free.
pub(super) fn free_ports(services: &[super::Service]) -> Result<super::Listeners, AdapterError> {
    services
        .iter()
        .map(|s| Ok((s.name.clone(), free_port()?)))
        .collect()
}
