//! `meshbench bench`: the proxy, the load generator and the fleet measured
//! side by side with nginx, HAProxy and wrk, as real processes on loopback,
//! with the OS's own CPU accounting and the generator's latency histograms.
//!
//! Every comparison runs in one invocation, its targets alternating round
//! after round (A, B, C, A, B, C, …), and every figure is reported as the
//! median of the rounds with their spread: CPU figures from a shared VM are
//! only comparable within one run.
//!
//! # Layout
//! - [`procstat`]: CPU ticks from `/proc/<pid>/stat`.
//! - [`configs`]: nginx and HAProxy configurations (loopback only).
//! - [`envoy`]: Envoy, through the `--proxy envoy` adapter.
//! - [`tools`]: the programs needed (and their Debian packages), versions, the machine.
//! - [`processes`]: starting, pinning, measuring and stopping the servers.
//! - [`load`]: meshbench's workload and wrk as load generators.
//! - [`spread`]: median and spread of rounds.
//! - [`summary`]: the ratio tables, the Markdown summary and the SVG plots.

pub mod configs;
pub mod envoy;
pub mod load;
pub mod processes;
pub mod procstat;
pub mod spread;
pub mod summary;
pub mod tools;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use load::{Load, Protocol};
use processes::{Launcher, Server};

/// Which comparisons to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// 1. HTTP/1.1 through meshproxy, nginx and HAProxy, and direct.
    Http,
    /// 2. Thrift and Dubbo through meshproxy (plain, and with a split and a header route) and direct.
    Rpc,
    /// 3. meshbench's generator vs wrk against one nginx.
    Generator,
    /// 5. Requests and wall time to decide the seed split scenario, fixed vs sequential.
    Verify,
}

/// How the bench runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rounds per comparison (each target once per round).
    pub rounds: usize,
    /// Seconds per measurement.
    pub seconds: u64,
    /// The open-loop rate for added latency (requests per second).
    pub rate: f64,
    /// Connections of the closed (saturation) loop.
    pub connections: usize,
    /// Connections of the open loop.
    pub open_connections: usize,
    /// The comparisons to run.
    pub comparisons: Vec<Comparison>,
    /// Where `<date>/` goes (reports/bench).
    pub out: PathBuf,
    /// Wait (up to `wait_minutes`) while the one-minute load is above this.
    pub max_load: f64,
    /// How long to wait for a quiet machine.
    pub wait_minutes: u64,
    /// Also write `<out>/latest.md`.
    pub latest: bool,
}

/// One measurement: a target under one load, in one round.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// The comparison.
    pub comparison: Comparison,
    /// The protocol (`http`, `thrift`, `dubbo`).
    pub protocol: String,
    /// What was measured (`direct`, `meshproxy`, `nginx`, `haproxy`, `wrk`, …).
    pub target: String,
    /// `saturation` (closed loop) or `rate` (open loop at the fixed rate).
    pub mode: String,
    /// The round, from 1.
    pub round: usize,
    /// What the generator saw.
    pub load: Load,
    /// CPU seconds per role (`generator`, `proxy`, `backend`, `server`).
    pub cpu_seconds: BTreeMap<String, f64>,
}

impl Sample {
    /// CPU microseconds per successful request of one role.
    pub fn cpu_us_per_request(&self, role: &str) -> Option<f64> {
        let seconds = self.cpu_seconds.get(role)?;
        (self.load.successes > 0).then(|| seconds * 1e6 / self.load.successes as f64)
    }
}

/// Everything a bench run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When it ran (UTC, RFC 3339-like).
    pub date: String,
    /// The machine.
    pub machine: tools::Machine,
    /// Program versions.
    pub versions: tools::Versions,
    /// The options, as text.
    pub settings: BTreeMap<String, String>,
    /// Every measurement.
    pub samples: Vec<Sample>,
    /// The verification-cost runs (comparison 5).
    pub verification: Vec<summary::VerifyRun>,
    /// Comparisons that could not run, and why.
    pub failures: Vec<String>,
}

/// The role a target's server process plays in the CPU table, and its pid.
struct Watched {
    role: &'static str,
    pid: u32,
}

impl Watched {
    fn ticks(&self) -> u64 {
        procstat::tree_ticks(self.pid)
    }
}

/// The servers whose CPU a measurement reads: the backends, and the proxy
/// (by pid: a bench server, or a proxy an adapter runs) when the target is one.
#[derive(Clone, Copy)]
struct Servers<'a> {
    backends: &'a [&'a Server],
    proxy: Option<u32>,
}

impl Servers<'_> {
    fn watched(self) -> Vec<Watched> {
        let backends = self.backends.iter().map(|server| Watched {
            role: "backend",
            pid: server.pid(),
        });
        let proxy = self.proxy.map(|pid| Watched { role: "proxy", pid });
        backends.chain(proxy).collect()
    }
}

struct Bench {
    options: Options,
    launcher: Launcher,
    tools: tools::Tools,
    samples: Vec<Sample>,
    ticks: f64,
}

impl Bench {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.options.seconds)
    }

    /// One target measured at saturation (closed loop), then at the fixed
    /// open-loop rate.
    async fn saturation_and_rate(
        &mut self,
        (comparison, protocol, round): &(Comparison, Protocol, usize),
        target: &str,
        address: SocketAddr,
        servers: Servers<'_>,
    ) -> anyhow::Result<()> {
        let watched = servers.watched();
        let rate = self.options.rate;
        let at = (*comparison, protocol, *round);
        for pace in [None, Some(rate)] {
            self.measure(at, (target, address), pace, &watched).await?;
        }
        Ok(())
    }

    /// One measurement of `target` at `address`, closed loop without a
    /// `rate`, open loop at it, with these servers watched.
    async fn measure(
        &mut self,
        (comparison, protocol, round): (Comparison, &Protocol, usize),
        (target, address): (&str, SocketAddr),
        rate: Option<f64>,
        watched: &[Watched],
    ) -> anyhow::Result<()> {
        let before: Vec<u64> = watched.iter().map(Watched::ticks).collect();
        let connections = match rate {
            Some(_) => self.options.open_connections,
            None => self.options.connections,
        };
        let prefix = format!("{target}-{round}-{}-", rate.is_some());
        let load = load::generator(
            protocol,
            address,
            connections,
            rate,
            self.duration(),
            &prefix,
        )
        .await?;
        let mut cpu_seconds = BTreeMap::new();
        for (w, before) in watched.iter().zip(before) {
            let used = w.ticks().saturating_sub(before) as f64 / self.ticks;
            *cpu_seconds.entry(w.role.to_owned()).or_insert(0.0) += used;
        }
        cpu_seconds.insert("generator".to_owned(), load.generator_cpu_seconds);
        let protocol_name = protocol.to_string();
        eprintln!(
            "  {protocol_name:6} {target:22} {:10} round {round}: {:>8.0} rps, p50 {:>6.0} µs, {}",
            if rate.is_some() { "rate" } else { "saturation" },
            load.rps,
            load.service_us[0],
            cpu_seconds
                .iter()
                .filter(|(_, s)| load.successes > 0 && **s > 0.0)
                .map(|(r, s)| format!("{r} {:.1} µs/req", s * 1e6 / load.successes as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.samples.push(Sample {
            comparison,
            protocol: protocol_name.clone(),
            target: target.to_owned(),
            mode: if rate.is_some() { "rate" } else { "saturation" }.to_owned(),
            round,
            load,
            cpu_seconds,
        });
        Ok(())
    }

    /// Comparison 1: HTTP/1.1 direct, through meshproxy, nginx and HAProxy.
    async fn http(&mut self) -> anyhow::Result<()> {
        eprintln!("comparison 1: HTTP/1.1 through meshproxy, nginx and HAProxy");
        let service = load::HTTP_SERVICE;
        let (backend, addrs) = self
            .launcher
            .fleet("http", service, "v1", "127.0.10.1", load::HTTP_PORT)
            .await?;
        let backend_addr = first(&addrs)?;
        let endpoints = endpoints_yaml(&[(service, "http", 3000, &[("v1", backend_addr)])]);
        let (meshproxy, listeners) = self
            .launcher
            .meshproxy("meshproxy-http", &endpoints, "", "127.0.11.1", 1)
            .await?;
        let meshproxy_addr = listener(&listeners, service)?;
        let nginx_addr: SocketAddr = "127.0.12.1:8080".parse()?;
        let nginx_dir = self.launcher.dir.join("nginx-proxy");
        let nginx = self
            .launcher
            .nginx(
                &self.tools.nginx,
                "nginx-proxy",
                &configs::nginx_proxy(&nginx_dir, nginx_addr, &[backend_addr]),
                nginx_addr,
            )
            .await?;
        let haproxy_addr: SocketAddr = "127.0.13.1:8080".parse()?;
        let haproxy = self
            .launcher
            .haproxy(
                &self.tools.haproxy,
                &configs::haproxy(haproxy_addr, &[backend_addr]),
                haproxy_addr,
            )
            .await?;
        let envoy = envoy::start(
            &self.launcher,
            &[(
                service,
                Protocol::Http,
                load::HTTP_PORT,
                &[("v1", backend_addr)],
            )],
            "",
        )
        .await?;
        let mut targets: Vec<(&str, SocketAddr, Option<u32>)> = vec![
            ("direct", backend_addr, None),
            ("meshproxy", meshproxy_addr, Some(meshproxy.pid())),
            ("nginx", nginx_addr, Some(nginx.pid())),
            ("haproxy", haproxy_addr, Some(haproxy.pid())),
        ];
        if let Some(envoy) = &envoy {
            targets.push((
                "envoy",
                listener_of(&envoy.listeners, service)?,
                Some(envoy.pid),
            ));
        }
        self.warm_up(&Protocol::Http, &targets).await;
        for round in 1..=self.options.rounds {
            for i in 0..targets.len() {
                // Rotate the order each round so no target always goes first.
                let (name, addr, proxy) = targets[(i + round - 1) % targets.len()];
                let servers = Servers {
                    backends: &[&backend],
                    proxy,
                };
                let at = (Comparison::Http, Protocol::Http, round);
                self.saturation_and_rate(&at, name, addr, servers).await?;
            }
        }
        for server in [haproxy, nginx, meshproxy, backend] {
            server.stop().await;
        }
        if let Some(envoy) = envoy {
            envoy.stop().await;
        }
        Ok(())
    }

    async fn warm_up(&mut self, protocol: &Protocol, targets: &[(&str, SocketAddr, Option<u32>)]) {
        for (_, addr, _) in targets {
            let _ = load::generator(
                protocol,
                *addr,
                self.options.connections,
                None,
                Duration::from_millis(500),
                "warm-",
            )
            .await;
        }
    }

    /// Comparison 3: the generator vs wrk against one nginx web server.
    async fn generator(&mut self) -> anyhow::Result<()> {
        eprintln!("comparison 3: meshbench's load generator vs wrk against nginx");
        let addr: SocketAddr = "127.0.14.1:8080".parse()?;
        let dir = self.launcher.dir.join("nginx-web");
        let nginx = self
            .launcher
            .nginx(
                &self.tools.nginx,
                "nginx-web",
                &configs::nginx_web(&dir, addr),
                addr,
            )
            .await?;
        self.warm_up(&Protocol::Http, &[("nginx", addr, None)])
            .await;
        for round in 1..=self.options.rounds {
            for i in 0..2 {
                let watched = [Watched {
                    role: "server",
                    pid: nginx.pid(),
                }];
                if (i + round) % 2 == 0 {
                    let at = (Comparison::Generator, &Protocol::Http, round);
                    self.measure(at, ("meshbench", addr), None, &watched)
                        .await?;
                } else {
                    let before = nginx.ticks();
                    let load = load::wrk(
                        &self.launcher,
                        &self.tools.wrk,
                        addr,
                        self.options.connections,
                        self.duration(),
                    )
                    .await?;
                    let server = nginx.ticks().saturating_sub(before) as f64 / self.ticks;
                    eprintln!(
                        "  http   wrk                    saturation round {round}: {:>8.0} rps, p50 {:>6.0} µs, generator {:.1} µs/req",
                        load.rps,
                        load.service_us[0],
                        load.generator_cpu_seconds * 1e6 / load.successes.max(1) as f64
                    );
                    let cpu_seconds = BTreeMap::from([
                        ("generator".to_owned(), load.generator_cpu_seconds),
                        ("server".to_owned(), server),
                    ]);
                    self.samples.push(Sample {
                        comparison: Comparison::Generator,
                        protocol: "http".to_owned(),
                        target: "wrk".to_owned(),
                        mode: "saturation".to_owned(),
                        round,
                        load,
                        cpu_seconds,
                    });
                }
            }
        }
        nginx.stop().await;
        Ok(())
    }

    /// Comparison 2: Thrift and Dubbo direct and through meshproxy, plain and
    /// with a 20/80 split behind a header (attribute) route.
    async fn rpc(&mut self) -> anyhow::Result<()> {
        eprintln!("comparison 2: Thrift and Dubbo through meshproxy");
        let thrift = "thrift-sample-server.bench.svc.cluster.local";
        let dubbo = "org.apache.dubbo.samples.basic.api.DemoService";
        let (thrift_v1, t1) = self
            .launcher
            .fleet("thrift", thrift, "v1", "127.0.20.1", 9090)
            .await?;
        let (thrift_v2, t2) = self
            .launcher
            .fleet("thrift", thrift, "v2", "127.0.20.2", 9090)
            .await?;
        let (dubbo_v1, d1) = self
            .launcher
            .fleet("dubbo", dubbo, "v1", "127.0.21.1", 20880)
            .await?;
        let (dubbo_v2, d2) = self
            .launcher
            .fleet("dubbo", dubbo, "v2", "127.0.21.2", 20880)
            .await?;
        let (t1, t2, d1, d2) = (first(&t1)?, first(&t2)?, first(&d1)?, first(&d2)?);
        // Plain: one version each, the default route.
        let plain = endpoints_yaml(&[
            (thrift, "thrift", 9090, &[("v1", t1)]),
            (dubbo, "dubbo", 20880, &[("v1", d1)]),
        ]);
        let (plain_proxy, plain_listeners) = self
            .launcher
            .meshproxy("meshproxy-rpc", &plain, "", "127.0.22.1", 2)
            .await?;
        let both = endpoints_yaml(&[
            (thrift, "thrift", 9090, &[("v1", t1), ("v2", t2)]),
            (dubbo, "dubbo", 20880, &[("v1", d1), ("v2", d2)]),
        ]);
        let (routed_proxy, routed_listeners) = self
            .launcher
            .meshproxy(
                "meshproxy-rpc-routed",
                &both,
                &split_routing(thrift, dubbo),
                "127.0.23.1",
                2,
            )
            .await?;
        let plain_envoy = envoy::start(
            &self.launcher,
            &[
                (thrift, Protocol::Thrift, 9090, &[("v1", t1)]),
                (dubbo, Protocol::Dubbo, 20880, &[("v1", d1)]),
            ],
            "",
        )
        .await?;
        let routed_envoy = envoy::start(
            &self.launcher,
            &[
                (thrift, Protocol::Thrift, 9090, &[("v1", t1), ("v2", t2)]),
                (dubbo, Protocol::Dubbo, 20880, &[("v1", d1), ("v2", d2)]),
            ],
            &split_routing(thrift, dubbo),
        )
        .await?;
        for (protocol, service, direct, v1, v2) in [
            (Protocol::Thrift, thrift, t1, &thrift_v1, &thrift_v2),
            (Protocol::Dubbo, dubbo, d1, &dubbo_v1, &dubbo_v2),
        ] {
            let mut targets: Vec<(&str, SocketAddr, Option<u32>)> = vec![
                ("direct", direct, None),
                (
                    "meshproxy",
                    listener(&plain_listeners, service)?,
                    Some(plain_proxy.pid()),
                ),
                (
                    "meshproxy split+route",
                    listener(&routed_listeners, service)?,
                    Some(routed_proxy.pid()),
                ),
            ];
            for (name, envoy) in [
                ("envoy", &plain_envoy),
                ("envoy split+route", &routed_envoy),
            ] {
                if let Some(envoy) = envoy {
                    targets.push((
                        name,
                        listener_of(&envoy.listeners, service)?,
                        Some(envoy.pid),
                    ));
                }
            }
            self.warm_up(&protocol, &targets).await;
            for round in 1..=self.options.rounds {
                for i in 0..targets.len() {
                    let (name, addr, proxy) = targets[(i + round - 1) % targets.len()];
                    let servers = Servers {
                        backends: &[v1, v2],
                        proxy,
                    };
                    let at = (Comparison::Rpc, protocol, round);
                    self.saturation_and_rate(&at, name, addr, servers).await?;
                }
            }
        }
        for server in [
            plain_proxy,
            routed_proxy,
            thrift_v1,
            thrift_v2,
            dubbo_v1,
            dubbo_v2,
        ] {
            server.stop().await;
        }
        for envoy in [plain_envoy, routed_envoy].into_iter().flatten() {
            envoy.stop().await;
        }
        Ok(())
    }
}

fn first(addrs: &[SocketAddr]) -> anyhow::Result<SocketAddr> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the fleet printed no endpoint"))
}

fn listener(listeners: &[(String, SocketAddr)], service: &str) -> anyhow::Result<SocketAddr> {
    listeners
        .iter()
        .find(|(s, _)| s == service)
        .map(|(_, a)| *a)
        .ok_or_else(|| anyhow::anyhow!("meshproxy opened no listener for {service}"))
}

fn listener_of(
    listeners: &meshbench::adapter::Listeners,
    service: &str,
) -> anyhow::Result<SocketAddr> {
    listeners
        .get(service)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("Envoy opened no listener for {service}"))
}

/// Endpoints by version label.
pub type Versioned<'a> = &'a [(&'a str, SocketAddr)];

/// meshproxy's endpoint list: (service, protocol, port, endpoints) per service.
pub fn endpoints_yaml(services: &[(&str, &str, u16, Versioned<'_>)]) -> String {
    let mut out = String::from("services:\n");
    for (name, protocol, port, endpoints) in services {
        out.push_str(&format!(
            "  - name: {name}\n    protocol: {protocol}\n    port: {port}\n    endpoints:\n"
        ));
        for (version, addr) in endpoints.iter() {
            out.push_str(&format!(
                "      - {{ address: \"{addr}\", labels: {{ version: {version} }} }}\n"
            ));
        }
    }
    out
}

/// A 20/80 split between v1 and v2 behind an attribute route that the
/// bench's traffic never matches, for Thrift and Dubbo (MetaRouter).
pub fn split_routing(thrift: &str, dubbo: &str) -> String {
    let mut docs = Vec::new();
    for (host, name, attribute, value) in [
        (thrift, "thrift", "method", "ping"),
        (dubbo, "dubbo", "x-user", "batchjob"),
    ] {
        docs.push(format!(
            "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata:\n  name: {name}\n  namespace: bench\n\
             spec:\n  host: {host}\n  subsets:\n    - name: v1\n      labels: {{ version: v1 }}\n    - name: v2\n      labels: {{ version: v2 }}\n"
        ));
        docs.push(format!(
            "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata:\n  name: {name}-route\n  namespace: bench\n\
             spec:\n  hosts:\n    - {host}\n  routes:\n\
             \x20   - name: header-route\n      match:\n        attributes:\n          {attribute}:\n            exact: {value}\n\
             \x20     route:\n        - destination:\n            host: {host}\n            subset: v2\n\
             \x20   - name: split\n      match:\n        attributes:\n          method:\n            exact: sayHello\n\
             \x20     route:\n        - destination:\n            host: {host}\n            subset: v1\n          weight: 20\n\
             \x20       - destination:\n            host: {host}\n            subset: v2\n          weight: 80\n"
        ));
    }
    docs.join("---\n")
}

/// Waits (bounded) for the machine to be quiet enough to measure.
async fn wait_for_quiet(options: &Options) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(options.wait_minutes * 60);
    loop {
        let load = tools::load1();
        if load <= options.max_load || tokio::time::Instant::now() >= deadline {
            if load > options.max_load {
                eprintln!(
                    "meshbench bench: load average {load:.2} is still above {:.1}; measuring anyway (noted in the report)",
                    options.max_load
                );
            }
            return;
        }
        eprintln!(
            "meshbench bench: load average {load:.2} > {:.1}, waiting for a quieter machine",
            options.max_load
        );
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}

/// Runs the bench and writes `<out>/<date>/` (and `<out>/latest.md`).
///
/// # Errors
/// A missing program (with its Debian package) or a server that would not start.
pub async fn run(options: Options) -> anyhow::Result<(Report, PathBuf)> {
    let tools = tools::check().map_err(anyhow::Error::msg)?;
    let temp = tempfile::Builder::new()
        .prefix("meshbench-bench-")
        .tempdir()?;
    let dir = temp.path().to_owned();
    let (meshbench, meshproxy) = processes::snapshot(&dir)?;
    wait_for_quiet(&options).await;
    let cpus = tools::cpus();
    let pinned = cpus >= 2;
    let (generator_cpus, server_cpus) = if cpus >= 4 {
        ("0-1".to_owned(), format!("2-{}", cpus - 1))
    } else {
        ("0".to_owned(), "1".to_owned())
    };
    if pinned {
        // This process is the generator: all its threads on the generator cores.
        let status = std::process::Command::new(&tools.taskset)
            .args([
                "-a",
                "-p",
                "-c",
                &generator_cpus,
                &std::process::id().to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "taskset could not pin the generator");
    }
    let date = summary::now_utc();
    let launcher = Launcher {
        meshbench,
        meshproxy,
        taskset: pinned.then(|| tools.taskset.clone()),
        server_cpus,
        generator_cpus,
        lifetime: Duration::from_secs(3600),
        dir: dir.clone(),
    };
    let mut machine = tools::machine(pinned);
    let versions = tools.versions();
    let mut bench = Bench {
        options: options.clone(),
        launcher,
        tools,
        samples: Vec::new(),
        ticks: procstat::ticks_per_second() as f64,
    };
    let mut failures = Vec::new();
    let mut verification = Vec::new();
    for comparison in &options.comparisons {
        let result = match comparison {
            Comparison::Http => bench.http().await,
            Comparison::Generator => bench.generator().await,
            Comparison::Rpc => bench.rpc().await,
            Comparison::Verify => summary::verification_cost()
                .await
                .map(|runs| verification = runs),
        };
        if let Err(error) = result {
            eprintln!("meshbench bench: {comparison:?} failed: {error:#}");
            failures.push(format!("{comparison:?}: {error:#}"));
        }
    }
    drop(temp);
    machine.load_after = tools::load();
    let settings = BTreeMap::from([
        ("rounds".to_owned(), options.rounds.to_string()),
        (
            "seconds per measurement".to_owned(),
            options.seconds.to_string(),
        ),
        ("open-loop rate (rps)".to_owned(), options.rate.to_string()),
        (
            "closed-loop connections".to_owned(),
            options.connections.to_string(),
        ),
        (
            "open-loop connections".to_owned(),
            options.open_connections.to_string(),
        ),
        (
            "generator cores".to_owned(),
            bench.launcher.generator_cpus.clone(),
        ),
        (
            "server cores".to_owned(),
            bench.launcher.server_cpus.clone(),
        ),
    ]);
    let report = Report {
        date,
        machine,
        versions,
        settings,
        samples: bench.samples,
        verification,
        failures,
    };
    let folder = summary::write(&report, &options.out, options.latest)?;
    Ok((report, folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meshproxy_files_name_loopback_endpoints() {
        let addr: SocketAddr = "127.0.20.1:9090".parse().expect("addr");
        let yaml = endpoints_yaml(&[("svc", "thrift", 9090, &[("v1", addr)])]);
        assert!(yaml.contains("address: \"127.0.20.1:9090\""));
        let routing = split_routing("t.svc", "d.svc");
        assert_eq!(routing.matches("kind: MetaRouter").count(), 2);
        assert_eq!(routing.matches("weight: 80").count(), 2);
    }
}
