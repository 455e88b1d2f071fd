//! `meshbench workload`: a scenario's workload alone, as the workload pod
//! of a cluster run runs it: every client of the scenario against the
//! addresses given, one ledger entry per line (JSON) on standard output.
//! The runner reads them back into the ledger the verdicts are taken
//! from; a request the run sent is always one line.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use meshbench::adapter::Listeners;
use meshbench_sim::client::http::HttpClient;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::workload::{self, Progress};
use meshbench_wire::http1::Request;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file.
    file: std::path::PathBuf,
    /// Where a service's traffic goes: SERVICE=HOST:PORT (repeatable), the
    /// service as the fleet names it.
    #[arg(long = "to", value_parser = super::parse_pair)]
    to: Vec<(String, String)>,
    /// In a cluster run's pod: the addresses are the cluster's (not
    /// loopback), and the pod's Istio sidecar is told to stop at the end so
    /// the Job completes.
    #[arg(long)]
    in_pod: bool,
    /// Seed of the workload's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Istio's pilot-agent stops the sidecar when asked here (a Job's pod
/// completes only once every container has exited).
const SIDECAR_QUIT: &str = "127.0.0.1:15020";

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !scenario.phases.is_empty() {
        anyhow::bail!(
            "the workload alone cannot change the routing mid-run (phases): the runner does"
        );
    }
    let resolved = meshbench::resolve::resolve(&scenario, args.seed).map_err(anyhow::Error::msg)?;
    let mut listeners = Listeners::new();
    for (service, target) in &args.to {
        listeners.insert(service.clone(), resolved_target(target, args.in_pod).await?);
    }
    let plan = (resolved.spec.workload)(&listeners).map_err(anyhow::Error::msg)?;
    let progress = Arc::new(Progress::default());
    let ledger = workload::run(&plan, args.seed, progress, CancellationToken::new())
        .await
        .context("the workload")?;
    let mut out = std::io::stdout().lock();
    for entry in &ledger.entries {
        writeln!(out, "{}", serde_json::to_string(entry)?)?;
    }
    out.flush()?;
    eprintln!(
        "meshbench: {} requests sent, {} entries written",
        ledger.sent,
        ledger.entries.len()
    );
    if args.in_pod {
        stop_sidecar().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `target` resolved; loopback unless in a cluster's pod.
async fn resolved_target(target: &str, in_pod: bool) -> anyhow::Result<SocketAddr> {
    let addr = tokio::net::lookup_host(target)
        .await
        .with_context(|| format!("resolving '{target}'"))?
        .next()
        .with_context(|| format!("'{target}' resolves to no address"))?;
    if !in_pod {
        super::loopback(addr.ip())
            .map_err(|e| anyhow::anyhow!("{e} (--in-pod in a cluster run)"))?;
    }
    Ok(addr)
}

/// Asks the pod's sidecar to exit; without one there is nothing to stop.
async fn stop_sidecar() {
    let Ok(addr) = SIDECAR_QUIT.parse() else {
        return;
    };
    let stopped = match HttpClient::connect(addr).await {
        Ok(client) => client
            .send(Request::new("POST", "/quitquitquit"), None)
            .await
            .is_ok(),
        Err(_) => false,
    };
    if !stopped {
        eprintln!("meshbench: no sidecar answered at {SIDECAR_QUIT}; nothing to stop");
    }
}
