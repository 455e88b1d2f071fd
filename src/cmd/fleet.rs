//! `meshbench fleet`: sample endpoints standalone, as a container in a
//! cluster runs them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use meshbench_sim::duration;
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
    /// thrift, dubbo, http, grpc (or triple) or tcp.
    #[arg(long, value_parser = parse_protocol)]
    protocol: Protocol,
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
    #[arg(long, value_parser = super::parse_loopback_ip)]
    address: Option<Ipv4Addr>,
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

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let behaviour = Behaviour {
        latency: args.latency.map_or(Latency::None, Latency::Fixed),
        error_rate: Probability::new(args.error_rate).map_err(anyhow::Error::msg)?,
        ..Behaviour::default()
    };
    let spec = ServiceSpec {
        service: args.service.clone(),
        protocol: args.protocol,
        port: args
            .port
            .unwrap_or_else(|| meshbench_sim::scenario::model::default_port(args.protocol)),
        thrift: args.thrift,
        versions: vec![VersionSpec {
            name: args.version.clone(),
            replicas: args.replicas,
            labels: args.labels.into_iter().collect::<BTreeMap<_, _>>(),
            behaviour,
        }],
    };
    let options = FleetOptions {
        seed: args.seed,
        first_ip: args.address,
        idle_timeout: Some(args.idle_timeout).filter(|idle| !idle.is_zero()),
        memory_budget: args.memory_budget_mib.saturating_mul(1024 * 1024),
        // Nobody reads this process's records: it counts them, keeping the last few.
        retention: Retention::Last(1024),
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
    fleet.stop().await;
    Ok(ExitCode::SUCCESS)
}
