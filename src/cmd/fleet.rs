//! `meshbench fleet`: sample endpoints standalone, as a container in a
//! cluster runs them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use meshbench_sim::duration;
use meshbench_sim::fleet::agent;
use meshbench_sim::fleet::{
    Behaviour, Fleet, FleetOptions, Latency, Probability, Retention, ServiceSpec, VersionSpec,
};
use meshbench_wire::Protocol;
use meshbench_wire::thrift::ServerCodec;

use super::{parse_pair, parse_protocol};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service FQDN, e.g. thrift-sample-server.meta-thrift.svc.cluster.local.
    #[arg(long)]
    service: String,
    /// thrift, dubbo, http, grpc (or triple) or tcp (with --scenario: the file's).
    #[arg(long, value_parser = parse_protocol, required_unless_present = "scenario")]
    protocol: Option<Protocol>,
    /// The version label.
    #[arg(long, default_value = "v1")]
    version: String,
    /// How many endpoints.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// The port (default: 9090 thrift, 20880 dubbo, 3000 http, 20000 grpc, 3306 tcp).
    #[arg(long)]
    port: Option<u16>,
    /// What Thrift servers speak: TRANSPORT,PROTOCOL (unframed|framed|auto,
    /// binary|compact|auto), or `auto` to detect both in each message.
    #[arg(long, default_value = "unframed,binary")]
    thrift: ServerCodec,
    /// The first endpoint's loopback address; the others follow it. Default: free 127.x.y.z addresses.
    #[arg(long, value_parser = super::parse_loopback_ip, conflicts_with = "pod_ip")]
    address: Option<Ipv4Addr>,
    /// In a cluster run's pod: listen on this pod's own address (Kubernetes
    /// passes `$(POD_IP)`), which need not be loopback; one endpoint.
    /// `hostname`: the address the container's host name resolves to (what
    /// Docker writes into a container's /etc/hosts).
    #[arg(long, conflicts_with = "replicas", value_parser = parse_pod_ip)]
    pod_ip: Option<PodIp>,
    /// Serve what the endpoints received on HOST:PORT (`GET /records`, one
    /// JSON record per line; `GET /endpoints`, the endpoints) for a runner
    /// in another process; every record is then kept. Loopback, or in a pod
    /// the pod's own `--pod-ip` (`0.0.0.0:PORT` says the pod's own address).
    #[arg(long)]
    records_on: Option<std::net::SocketAddr>,
    /// Serve `--version` of `--service` as this scenario file describes it
    /// (latency, errors, labels, and the rest), one endpoint: what a cluster
    /// run's pods do. The service's protocol and port come from the file.
    #[arg(
        long,
        conflicts_with_all = ["protocol", "port", "thrift", "latency", "error_rate", "labels", "replicas"]
    )]
    scenario: Option<std::path::PathBuf>,
    /// A fixed processing time, e.g. 2ms.
    #[arg(long, value_parser = duration::parse)]
    latency: Option<Duration>,
    /// The chance of answering with the protocol's error.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Extra pod label, key=value (repeatable).
    #[arg(long = "label", value_parser = parse_pair)]
    labels: Vec<(String, String)>,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long = "for", value_parser = duration::parse)]
    run_for: Option<Duration>,
    /// Seed of the endpoints' random sources.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Close connections with nothing in flight for this long (`0s`: never).
    #[arg(long, value_parser = duration::parse, default_value = "300s")]
    idle_timeout: Duration,
    /// What every connection may buffer together, in MiB.
    #[arg(long, default_value_t = 256)]
    memory_budget_mib: usize,
}

/// The pod's own address, given or looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodIp {
    /// As given (Kubernetes' `$(POD_IP)`).
    Given(Ipv4Addr),
    /// What the container's own host name resolves to.
    OfHostname,
}

fn parse_pod_ip(text: &str) -> Result<PodIp, String> {
    match text {
        "hostname" => Ok(PodIp::OfHostname),
        _ => text
            .parse()
            .map(PodIp::Given)
            .map_err(|_| format!("'{text}' is neither an IPv4 address nor `hostname`")),
    }
}

impl PodIp {
    async fn resolve(self) -> anyhow::Result<Ipv4Addr> {
        let PodIp::Given(ip) = self else {
            let name = match std::env::var("HOSTNAME") {
                Ok(name) if !name.is_empty() => name,
                _ => std::fs::read_to_string("/etc/hostname")
                    .context("no HOSTNAME and no /etc/hostname")?
                    .trim()
                    .to_owned(),
            };
            let found = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .with_context(|| format!("resolving this host's name '{name}'"))?
                .find_map(|addr| match addr.ip() {
                    std::net::IpAddr::V4(ip) if !ip.is_loopback() => Some(ip),
                    _ => None,
                });
            return found.with_context(|| {
                format!("this host's name '{name}' resolves to no IPv4 address off loopback")
            });
        };
        Ok(ip)
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = match &args.scenario {
        Some(path) => from_scenario(path, &args.service, &args.version)?,
        None => from_flags(&args)?,
    };
    let pod_ip = match args.pod_ip {
        Some(pod) => Some(pod.resolve().await?),
        None => None,
    };
    if let Some(ip) = pod_ip.filter(|ip| !ip.is_loopback()) {
        eprintln!(
            "meshbench: listening on {ip}, off loopback: this pod's own address in a cluster run"
        );
    }
    let records = match args.records_on {
        Some(addr) => Some(records_listener(addr, pod_ip).await?),
        None => None,
    };
    let options = FleetOptions {
        seed: args.seed,
        first_ip: pod_ip.or(args.address),
        idle_timeout: Some(args.idle_timeout).filter(|idle| !idle.is_zero()),
        memory_budget: args.memory_budget_mib.saturating_mul(1024 * 1024),
        // Without a reader of its records it counts them, keeping the last few.
        retention: match records {
            Some(_) => Retention::Every,
            None => Retention::Last(1024),
        },
    };
    let fleet = Fleet::start(&[spec], &options)
        .await
        .context("starting the fleet")?;
    for endpoint in fleet.endpoints() {
        println!(
            "{} {} {} {}",
            endpoint.protocol,
            endpoint.identity.service,
            endpoint.identity.pod,
            endpoint.identity.addr
        );
    }
    let stop_records = tokio_util::sync::CancellationToken::new();
    if let Some(listener) = records {
        let addr = listener.local_addr().context("the records listener")?;
        println!("records http://{addr}{}", agent::RECORDS_PATH);
        let served = agent::Agent {
            collector: fleet.collector().clone(),
            endpoints: fleet.endpoints().into(),
        };
        tokio::spawn(agent::serve(listener, served, stop_records.clone()));
    }
    match args.run_for {
        Some(limit) => {
            tokio::select! {
                _ = tokio::time::sleep(limit) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?,
    }
    eprintln!(
        "meshbench: {} requests received; stopping",
        fleet.collector().len()
    );
    stop_records.cancel();
    fleet.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// The records' listener: on loopback, or on the pod's own address
/// (which `0.0.0.0` stands for).
async fn records_listener(
    mut addr: std::net::SocketAddr,
    pod_ip: Option<Ipv4Addr>,
) -> anyhow::Result<tokio::net::TcpListener> {
    if let (Some(ip), true) = (pod_ip, addr.ip().is_unspecified()) {
        addr.set_ip(std::net::IpAddr::V4(ip));
    }
    let own = pod_ip.is_some_and(|ip| addr.ip() == std::net::IpAddr::V4(ip));
    if !own {
        super::loopback(addr.ip())
            .map_err(|e| anyhow::anyhow!("{e} (in a pod, the pod's own --pod-ip)"))?;
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for the records on {addr}"))
}

/// The service and version as the flags describe them.
fn from_flags(args: &Args) -> anyhow::Result<ServiceSpec> {
    let protocol = args
        .protocol
        .context("--protocol is needed without --scenario")?;
    let behaviour = Behaviour {
        latency: args.latency.map_or(Latency::None, Latency::Fixed),
        error_rate: Probability::new(args.error_rate).map_err(anyhow::Error::msg)?,
        ..Behaviour::default()
    };
    Ok(ServiceSpec {
        service: args.service.clone(),
        protocol,
        port: args
            .port
            .unwrap_or_else(|| meshbench_sim::scenario::model::default_port(protocol)),
        thrift: args.thrift,
        versions: vec![VersionSpec {
            name: args.version.clone(),
            replicas: args.replicas,
            labels: args.labels.iter().cloned().collect::<BTreeMap<_, _>>(),
            behaviour,
        }],
    })
}

/// One endpoint of `version` of `service`, exactly as the scenario at
/// `path` describes it: a cluster run's pod.
fn from_scenario(
    path: &std::path::Path,
    service: &str,
    version: &str,
) -> anyhow::Result<ServiceSpec> {
    let scenario =
        meshbench_sim::scenario::Scenario::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fleet = scenario
        .service(service)
        .with_context(|| format!("{} has no fleet service '{service}'", path.display()))?;
    let mut spec = fleet.spec();
    spec.versions.retain(|v| v.name == version);
    let Some(one) = spec.versions.first_mut() else {
        anyhow::bail!(
            "service '{service}' of {} has no version '{version}'",
            path.display()
        );
    };
    one.replicas = 1;
    Ok(spec)
}
