//! The `meshproxy` binary as a child process, driven through its admin API.

use std::path::PathBuf;

use meshbench_sim::client::http::HttpClient;
use meshbench_wire::http1::Request;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::child::Supervised;
use super::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySettings, Routing, Service,
    endpoint_list, routing_yaml, shared_pools,
};

/// `builtin-process`.
#[derive(Debug, Default)]
pub struct ProcessAdapter {
    /// The binary, when not the `meshproxy` next to this program.
    binary: Option<PathBuf>,
    child: Option<Supervised>,
    admin: Option<std::net::SocketAddr>,
    /// Its routing and endpoint files, removed when dropped.
    dir: Option<tempfile::TempDir>,
}

impl ProcessAdapter {
    /// A not yet started `meshproxy`.
    pub fn new() -> Self {
        ProcessAdapter::default()
    }

    /// A not yet started `meshproxy` run from `binary` (the bench runs a
    /// copy, so that a rebuild meanwhile does not change what it measures).
    pub fn with_binary(binary: PathBuf) -> Self {
        ProcessAdapter {
            binary: Some(binary),
            ..ProcessAdapter::default()
        }
    }
}

/// `meshproxy` next to the running `meshbench` (cargo builds both into one folder).
pub fn meshproxy_path() -> Result<PathBuf, AdapterError> {
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
pub(crate) fn settings_args(settings: ProxySettings) -> Vec<String> {
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

/// A line `meshproxy` prints at start: `admin ADDR` or `SERVICE ADDR`.
pub(crate) fn parse_line(line: &str) -> Option<(String, std::net::SocketAddr)> {
    let (name, addr) = line.split_once(' ')?;
    Some((name.to_owned(), addr.parse().ok()?))
}

/// A request to `meshproxy`'s admin API, with its bearer token when it has one.
fn admin_request(method: &str, path: &str, token: Option<&str>) -> Request {
    let mut request = Request::new(method, path);
    if let Some(token) = token {
        request
            .headers
            .append("authorization", format!("Bearer {token}"));
    }
    request
}

/// Replaces the routing of the `meshproxy` whose admin API is at `admin`.
pub(crate) async fn put_config(
    admin: std::net::SocketAddr,
    token: Option<&str>,
    routing: &[Routing],
) -> Result<(), AdapterError> {
    let client = HttpClient::connect(admin)
        .await
        .map_err(|e| AdapterError::Start(e.to_string()))?;
    let mut request = admin_request("PUT", "/config", token);
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
}

/// The counters of the `meshproxy` whose admin API is at `admin`.
pub(crate) async fn get_stats(admin: std::net::SocketAddr, token: Option<&str>) -> Option<String> {
    let client = HttpClient::connect(admin).await.ok()?;
    let (response, _) = client
        .send(admin_request("GET", "/stats/prometheus", token), None)
        .await
        .ok()?;
    (response.status == 200).then(|| String::from_utf8_lossy(&response.body).into_owned())
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
            shared_pools("builtin-process", settings)?;
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
            let binary = match &self.binary {
                Some(binary) => binary.clone(),
                None => meshproxy_path()?,
            };
            let mut command = Command::new(binary);
            if let Some(workers) = settings.workers {
                // One worker is one runtime thread (more are refused above).
                command.env("TOKIO_WORKER_THREADS", workers.to_string());
            }
            command
                .arg("--config")
                .arg(dir.join("routing.yaml"))
                .arg("--endpoints")
                .arg(dir.join("endpoints.yaml"))
                .args(["--admin", "127.0.0.1:0"])
                .args(settings_args(settings));
            let (child, stdout) = Supervised::spawn("meshproxy", &mut command).map_err(start)?;
            self.dir = Some(temp);
            self.child = Some(child);
            let stdout = stdout.ok_or_else(|| AdapterError::Start("no stdout".to_owned()))?;
            let mut lines = BufReader::new(stdout).lines();
            let mut listeners = Listeners::new();
            // The first line names the admin API, then one line per service.
            while listeners.len() < services.len() {
                let Some(line) = lines.next_line().await.map_err(start)? else {
                    let tail = match self.child.as_mut() {
                        Some(child) => child.final_log().await,
                        None => Vec::new(),
                    };
                    return Err(AdapterError::Refused(tail.join("\n")));
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
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            let admin = self
                .admin
                .ok_or_else(|| AdapterError::Start("apply before start".to_owned()))?;
            put_config(admin, None, routing).await
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { get_stats(self.admin?, None).await })
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
