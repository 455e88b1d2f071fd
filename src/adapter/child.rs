//! A proxy run as a child process: started with its stderr kept as a
//! bounded log tail, asked whether it has exited, killed on stop or drop.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

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
