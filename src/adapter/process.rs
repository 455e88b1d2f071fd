//! The `meshproxy` binary as a child process, driven through its admin API.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use meshbench_sim::client::http::HttpClient;
use meshbench_wire::http1::Request;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySettings, Routing, Service,
    endpoint_list, routing_yaml,
};

/// `builtin-process`.
#[derive(Debug, Default)]
pub struct ProcessAdapter {
    child: Option<Child>,
    admin: Option<std::net::SocketAddr>,
    /// Its routing and endpoint files, removed when dropped.
    dir: Option<tempfile::TempDir>,
    /// The last lines `meshproxy` wrote to stderr, for an exit report.
    log: Arc<Mutex<VecDeque<String>>>,
}

/// How many of its last log lines an exit report quotes.
const LOG_TAIL: usize = 20;

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

impl ProcessAdapter {
    /// A not yet started `meshproxy`.
    pub fn new() -> Self {
        ProcessAdapter::default()
    }
}

/// `meshproxy` next to the running `meshbench` (cargo builds both into one folder).
fn meshproxy_path() -> Result<PathBuf, AdapterError> {
    let exe = std::env::current_exe().map_err(|e| AdapterError::Start(e.to_string()))?;
    let dir = exe
        .parent()
        .ok_or_else(|| AdapterError::Start("no folder for the running binary".to_owned()))?;
    // Test binaries live one level down, in deps/.
    [dir.join("meshproxy"), dir.join("../meshproxy")]
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| {
            AdapterError::Start(format!(
                "meshproxy not found next to {}\nbuild it with `cargo build -p meshbench-proxy-under-test`",
                exe.display()
            ))
        })
}

/// `meshproxy` flags for `settings`; nothing for what keeps its default.
fn settings_args(settings: ProxySettings) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(idle) = settings.idle_timeout {
        // Milliseconds with a fraction, so no timeout rounds down to 0.
        args.push("--idle-timeout".to_owned());
        args.push(format!("{}ms", idle.as_secs_f64() * 1e3));
    }
    if let Some(seed) = settings.seed {
        args.push("--seed".to_owned());
        args.push(seed.to_string());
    }
    args
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

fn parse_line(line: &str) -> Option<(String, std::net::SocketAddr)> {
    let (name, addr) = line.split_once(' ')?;
    Some((name.to_owned(), addr.parse().ok()?))
}

impl ProxyAdapter for ProcessAdapter {
    fn name(&self) -> &str {
        "builtin-process"
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            let start = |e: std::io::Error| AdapterError::Start(e.to_string());
            let temp = tempfile::Builder::new()
                .prefix("meshbench-proxy-")
                .tempdir()
                .map_err(start)?;
            let dir = temp.path().to_owned();
            let endpoints = serde_json::to_string(&endpoint_list(services))
                .map_err(|e| AdapterError::Start(e.to_string()))?;
            std::fs::write(dir.join("endpoints.yaml"), endpoints).map_err(start)?;
            std::fs::write(dir.join("routing.yaml"), routing_yaml(routing)).map_err(start)?;
            let mut child = Command::new(meshproxy_path()?)
                .arg("--config")
                .arg(dir.join("routing.yaml"))
                .arg("--endpoints")
                .arg(dir.join("endpoints.yaml"))
                .args(["--admin", "127.0.0.1:0"])
                .args(settings_args(settings))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(start)?;
            self.dir = Some(temp);
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| AdapterError::Start("no stdout".to_owned()))?;
            let mut stderr = child.stderr.take();
            self.child = Some(child);
            self.log = Arc::new(Mutex::new(VecDeque::new()));
            let mut lines = BufReader::new(stdout).lines();
            let mut listeners = Listeners::new();
            // The first line names the admin API, then one line per service.
            while listeners.len() < services.len() {
                let Some(line) = lines.next_line().await.map_err(start)? else {
                    let mut message = String::new();
                    if let Some(stderr) = stderr.as_mut() {
                        let _ = tokio::io::AsyncReadExt::read_to_string(stderr, &mut message).await;
                    }
                    return Err(AdapterError::Refused(message.trim().to_owned()));
                };
                let Some((name, addr)) = parse_line(&line) else {
                    continue;
                };
                if name == "admin" {
                    self.admin = Some(addr);
                } else {
                    listeners.insert(name, addr);
                }
            }
            if let Some(stderr) = stderr {
                tokio::spawn(keep_tail(stderr, Arc::clone(&self.log)));
            }
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            let admin = self
                .admin
                .ok_or_else(|| AdapterError::Start("apply before start".to_owned()))?;
            let client = HttpClient::connect(admin)
                .await
                .map_err(|e| AdapterError::Start(e.to_string()))?;
            let mut request = Request::new("PUT", "/config");
            request.body = routing_yaml(routing).into();
            let (response, _) = client
                .send(request, None)
                .await
                .map_err(|e| AdapterError::Start(e.to_string()))?;
            match response.status {
                200 => Ok(()),
                _ => Err(AdapterError::Refused(
                    String::from_utf8_lossy(&response.body).trim().to_owned(),
                )),
            }
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let client = HttpClient::connect(self.admin?).await.ok()?;
            let (response, _) = client
                .send(Request::new("GET", "/stats/prometheus"), None)
                .await
                .ok()?;
            Some(String::from_utf8_lossy(&response.body).into_owned())
        })
    }

    fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        let log = self
            .log
            .lock()
            .map(|l| l.iter().cloned().collect::<Vec<_>>());
        let tail = log.unwrap_or_default().join("\n");
        Some(match tail.is_empty() {
            true => format!("meshproxy {}", describe_exit(status)),
            false => format!(
                "meshproxy {}; its last log lines:\n{tail}",
                describe_exit(status)
            ),
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill().await;
            }
            self.dir = None;
        })
    }
}
