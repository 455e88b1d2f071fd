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
//! - [`proxies`]: meshproxy, nginx, HAProxy and Envoy, started through the
//!   `--proxy` adapters, so the bench measures what the verdicts judged.
//! - [`tools`]: the programs needed (and their Debian packages), versions, the machine.
//! - [`processes`]: the fleet as processes; pinning every server.
//! - [`load`]: meshbench's workload and wrk as load generators.
//! - [`spread`]: median and spread of rounds.
//! - [`summary`]: the ratio tables, the Markdown summary and the SVG plots.

pub mod load;
pub mod processes;
pub mod procstat;
pub mod proxies;
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
use proxies::{Proxy, Running, grpc_split_routing, service, split_routing};

/// Which comparisons to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// 1. HTTP/1.1 through meshproxy, nginx and HAProxy, and direct.
    Http,
    /// 2. Thrift, Dubbo and gRPC through meshproxy (plain, and with a split and a header route) and direct.
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

/// The processes of one role in the CPU table (`backend`, `proxy`, `server`).
struct Watched {
    role: &'static str,
    pids: Vec<u32>,
}

impl Watched {
    fn ticks(&self) -> u64 {
        procstat::ticks_of(&self.pids)
    }
}

/// The servers whose CPU a measurement reads: the backends, and the
/// proxy's processes when the target is a proxy.
#[derive(Clone, Copy)]
struct Servers<'a> {
    backends: &'a [&'a Server],
    proxy: &'a [u32],
}

impl Servers<'_> {
    fn watched(self) -> Vec<Watched> {
        let backends = Watched {
            role: "backend",
            pids: self.backends.iter().map(|server| server.pid()).collect(),
        };
        let proxy = (!self.proxy.is_empty()).then(|| Watched {
            role: "proxy",
            pids: self.proxy.to_vec(),
        });
        std::iter::once(backends).chain(proxy).collect()
    }
}

/// A target of a comparison: its name, where the load goes, and the
/// proxy processes behind that address (none when direct).
type Target<'a> = (&'a str, SocketAddr, &'a [u32]);

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

    /// Starts `proxy` through its adapter, pinned, with one worker.
    async fn proxy(
        &self,
        proxy: Proxy,
        services: &[crate::adapter::Service],
        routing: &[crate::adapter::Routing],
    ) -> anyhow::Result<Option<Running>> {
        proxies::start(proxy, (&self.launcher, &self.tools), services, routing).await
    }

    /// Comparison 1: HTTP/1.1 direct, through meshproxy, nginx, HAProxy and Envoy.
    async fn http(&mut self) -> anyhow::Result<()> {
        eprintln!("comparison 1: HTTP/1.1 through meshproxy, nginx, HAProxy and Envoy");
        let name = load::HTTP_SERVICE;
        let (backend, addrs) = self
            .launcher
            .fleet("http", name, "v1", "127.0.10.1", load::HTTP_PORT)
            .await?;
        let backend_addr = first(&addrs)?;
        let services = [service(
            name,
            Protocol::Http,
            load::HTTP_PORT,
            &[("v1", backend_addr)],
        )];
        let mut running = Vec::new();
        for proxy in [Proxy::Meshproxy, Proxy::Nginx, Proxy::Haproxy, Proxy::Envoy] {
            match self.proxy(proxy, &services, &[]).await {
                Ok(Some(started)) => running.push((proxy.name(), started)),
                Ok(None) => {}
                Err(error) => {
                    stop_all(running).await;
                    return Err(error);
                }
            }
        }
        let result = self.http_rounds(&backend, backend_addr, &running).await;
        stop_all(running).await;
        backend.stop().await;
        result
    }

    async fn http_rounds(
        &mut self,
        backend: &Server,
        backend_addr: SocketAddr,
        running: &[(&str, Running)],
    ) -> anyhow::Result<()> {
        let mut targets: Vec<Target> = vec![("direct", backend_addr, &[])];
        for (name, proxy) in running {
            let address = proxy.listener(load::HTTP_SERVICE)?;
            targets.push((name, address, &proxy.processes));
        }
        self.warm_up(&Protocol::Http, &targets).await;
        for round in 1..=self.options.rounds {
            for i in 0..targets.len() {
                // Rotate the order each round so no target always goes first.
                let (name, addr, proxy) = targets[(i + round - 1) % targets.len()];
                let servers = Servers {
                    backends: &[backend],
                    proxy,
                };
                let at = (Comparison::Http, Protocol::Http, round);
                self.saturation_and_rate(&at, name, addr, servers).await?;
            }
        }
        Ok(())
    }

    async fn warm_up(&mut self, protocol: &Protocol, targets: &[Target<'_>]) {
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
        let nginx =
            crate::adapter::nginx::WebServer::start(Some(self.tools.nginx.clone()), 1).await?;
        let processes = nginx.processes();
        for pid in &processes {
            self.launcher.pin(*pid)?;
        }
        let result = self.generator_rounds(nginx.address(), processes).await;
        nginx.stop().await;
        result
    }

    async fn generator_rounds(
        &mut self,
        addr: SocketAddr,
        processes: Vec<u32>,
    ) -> anyhow::Result<()> {
        self.warm_up(&Protocol::Http, &[("nginx", addr, &[])]).await;
        let nginx = Watched {
            role: "server",
            pids: processes,
        };
        for round in 1..=self.options.rounds {
            for i in 0..2 {
                if (i + round) % 2 == 0 {
                    let at = (Comparison::Generator, &Protocol::Http, round);
                    self.measure(at, ("meshbench", addr), None, std::slice::from_ref(&nginx))
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
        Ok(())
    }

    /// Comparison 2: Thrift, Dubbo and gRPC direct and through meshproxy and
    /// Envoy, plain and with a 20/80 split behind a header (attribute) route.
    async fn rpc(&mut self) -> anyhow::Result<()> {
        eprintln!("comparison 2: Thrift, Dubbo and gRPC through meshproxy and Envoy");
        let thrift = "thrift-sample-server.bench.svc.cluster.local";
        let dubbo = "org.apache.dubbo.samples.basic.api.DemoService";
        let grpc = load::GRPC_SERVICE;
        let mut fleet = Vec::new();
        for (protocol, name, version, ip, port) in [
            ("thrift", thrift, "v1", "127.0.20.1", 9090),
            ("thrift", thrift, "v2", "127.0.20.2", 9090),
            ("dubbo", dubbo, "v1", "127.0.21.1", 20880),
            ("dubbo", dubbo, "v2", "127.0.21.2", 20880),
            ("grpc", grpc, "v1", "127.0.22.1", load::GRPC_PORT),
            ("grpc", grpc, "v2", "127.0.22.2", load::GRPC_PORT),
        ] {
            let started = self.launcher.fleet(protocol, name, version, ip, port).await;
            match started.and_then(|(server, addrs)| Ok((first(&addrs)?, server))) {
                Ok((addr, server)) => fleet.push((server, addr)),
                Err(error) => {
                    stop_fleet(fleet).await;
                    return Err(error);
                }
            }
        }
        let result = self.rpc_with(&fleet, (thrift, dubbo, grpc)).await;
        stop_fleet(fleet).await;
        result
    }

    async fn rpc_with(
        &mut self,
        fleet: &[(Server, SocketAddr)],
        (thrift, dubbo, grpc): (&str, &str, &str),
    ) -> anyhow::Result<()> {
        let [
            (thrift_v1, t1),
            (thrift_v2, t2),
            (dubbo_v1, d1),
            (dubbo_v2, d2),
            (grpc_v1, g1),
            (grpc_v2, g2),
        ] = fleet
        else {
            anyhow::bail!("the RPC fleet is six servers");
        };
        let (t1, t2, d1, d2, g1, g2) = (*t1, *t2, *d1, *d2, *g1, *g2);
        // Plain: one version each, the default route.
        let plain = [
            service(thrift, Protocol::Thrift, 9090, &[("v1", t1)]),
            service(dubbo, Protocol::Dubbo, 20880, &[("v1", d1)]),
            service(grpc, Protocol::Grpc, load::GRPC_PORT, &[("v1", g1)]),
        ];
        let both = [
            service(thrift, Protocol::Thrift, 9090, &[("v1", t1), ("v2", t2)]),
            service(dubbo, Protocol::Dubbo, 20880, &[("v1", d1), ("v2", d2)]),
            service(
                grpc,
                Protocol::Grpc,
                load::GRPC_PORT,
                &[("v1", g1), ("v2", g2)],
            ),
        ];
        let mut routed = split_routing(thrift, ("method", "ping"))?;
        routed.extend(split_routing(dubbo, ("x-user", "batchjob"))?);
        routed.extend(grpc_split_routing(grpc, ("x-user", "batchjob"))?);
        let mut running = Vec::new();
        for (name, proxy, services, routing) in [
            ("meshproxy", Proxy::Meshproxy, &plain, &[][..]),
            (
                "meshproxy split+route",
                Proxy::Meshproxy,
                &both,
                &routed[..],
            ),
            ("envoy", Proxy::Envoy, &plain, &[][..]),
            ("envoy split+route", Proxy::Envoy, &both, &routed[..]),
        ] {
            match self.proxy(proxy, services, routing).await {
                Ok(Some(started)) => running.push((name, started)),
                Ok(None) => {}
                Err(error) => {
                    stop_all(running).await;
                    return Err(error);
                }
            }
        }
        let backends = [
            [thrift_v1, thrift_v2],
            [dubbo_v1, dubbo_v2],
            [grpc_v1, grpc_v2],
        ];
        let mut result = Ok(());
        for (protocol, service, direct, backends) in [
            (Protocol::Thrift, thrift, t1, &backends[0]),
            (Protocol::Dubbo, dubbo, d1, &backends[1]),
            (Protocol::Grpc, grpc, g1, &backends[2]),
        ] {
            result = self
                .rpc_rounds(protocol, service, (direct, backends), &running)
                .await;
            if result.is_err() {
                break;
            }
        }
        stop_all(running).await;
        result
    }

    async fn rpc_rounds(
        &mut self,
        protocol: Protocol,
        service: &str,
        (direct, backends): (SocketAddr, &[&Server]),
        running: &[(&str, Running)],
    ) -> anyhow::Result<()> {
        let mut targets: Vec<Target> = vec![("direct", direct, &[])];
        for (name, proxy) in running {
            targets.push((name, proxy.listener(service)?, &proxy.processes));
        }
        self.warm_up(&protocol, &targets).await;
        for round in 1..=self.options.rounds {
            for i in 0..targets.len() {
                let (name, addr, proxy) = targets[(i + round - 1) % targets.len()];
                let servers = Servers { backends, proxy };
                let at = (Comparison::Rpc, protocol, round);
                self.saturation_and_rate(&at, name, addr, servers).await?;
                if protocol == Protocol::Grpc {
                    self.h2load(round, (name, addr), servers).await?;
                }
            }
        }
        Ok(())
    }

    /// One gRPC target at saturation driven by h2load, a peer generator
    /// nobody here wrote: as many connections as meshbench's closed loop,
    /// ten streams on each.
    async fn h2load(
        &mut self,
        round: usize,
        (target, address): (&str, SocketAddr),
        servers: Servers<'_>,
    ) -> anyhow::Result<()> {
        let watched = servers.watched();
        let before: Vec<u64> = watched.iter().map(Watched::ticks).collect();
        let shape = (self.options.connections, 10);
        let load = load::h2load(
            &self.launcher,
            &self.tools.h2load,
            address,
            shape,
            self.duration(),
        )
        .await?;
        let mut cpu_seconds = BTreeMap::new();
        for (w, before) in watched.iter().zip(before) {
            let used = w.ticks().saturating_sub(before) as f64 / self.ticks;
            *cpu_seconds.entry(w.role.to_owned()).or_insert(0.0) += used;
        }
        cpu_seconds.insert("generator".to_owned(), load.generator_cpu_seconds);
        // h2load counts every HTTP 200, and a proxy's local gRPC error is a
        // 200: backends that did no work mean the calls never reached them.
        let backend = cpu_seconds.get("backend").copied().unwrap_or_default();
        if load.successes > 0 && backend * 1e6 / (load.successes as f64) < 1.0 {
            anyhow::bail!(
                "h2load through {target}: {} answers, but the backends used {backend:.3} CPU-s: \
                 the proxy answered the calls itself",
                load.successes
            );
        }
        let proxy = cpu_seconds.get("proxy").copied().unwrap_or_default();
        eprintln!(
            "  grpc   {target:22} h2load     round {round}: {:>8.0} rps, proxy {:.1} µs/req",
            load.rps,
            proxy * 1e6 / load.successes.max(1) as f64
        );
        self.samples.push(Sample {
            comparison: Comparison::Rpc,
            protocol: "grpc".to_owned(),
            target: target.to_owned(),
            mode: "h2load".to_owned(),
            round,
            load,
            cpu_seconds,
        });
        Ok(())
    }
}

async fn stop_all(running: Vec<(&str, Running)>) {
    for (_, proxy) in running {
        proxy.stop().await;
    }
}

async fn stop_fleet(fleet: Vec<(Server, SocketAddr)>) {
    for (server, _) in fleet {
        server.stop().await;
    }
}

fn first(addrs: &[SocketAddr]) -> anyhow::Result<SocketAddr> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the fleet printed no endpoint"))
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
