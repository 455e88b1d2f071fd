//! `meshbench workload`: a scenario's workload alone, as the workload pod
//! of a cluster run runs it: every client of the scenario against the
//! addresses given, each request on standard output as it ends (one JSON
//! line, `{"ended": …}`), then `{"end": …}` with the counts. The runner
//! reads the log back into the ledger the verdicts are taken from
//! ([`agent::ledger_of_log`]); a request the run sent is always one line,
//! and a log cut short is an error there, never a shorter ledger.
//!
//! With `--serve ADDR` it is the workload agent instead: it waits for a
//! runner (`meshbench run` in containers) to send it a plan, and streams
//! every request back as it ends ([`meshbench_sim::workload::agent`]).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use meshbench::adapter::Listeners;
use meshbench_sim::client::http::HttpClient;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::workload::agent::{self, Reach};
use meshbench_wire::http1::Request;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file.
    #[arg(required_unless_present = "serve", conflicts_with = "serve")]
    file: Option<std::path::PathBuf>,
    /// Serve as the workload agent on ADDR: a runner sends the plan and
    /// reads the ledger back over one connection per run (loopback, or any
    /// address of the pod with --in-pod).
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["to", "seed"])]
    serve: Option<SocketAddr>,
    /// Where a service's traffic goes: SERVICE=HOST:PORT (repeatable), the
    /// service as the fleet names it.
    #[arg(long = "to", value_parser = super::parse_pair)]
    to: Vec<(String, String)>,
    /// In a cluster run's pod: the addresses are the cluster's (not
    /// loopback), and the pod's Istio sidecar is told to stop at the end so
    /// the Job completes.
    #[arg(long)]
    in_pod: bool,
    /// Before the workload, probe each service through the proxy (in a
    /// pod, its sidecar) until it routes, for at most this long: a
    /// cluster run's convergence probe.
    #[arg(long, value_name = "DURATION", value_parser = meshbench_sim::duration::parse)]
    ready_within: Option<std::time::Duration>,
    /// Seed of the workload's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Istio's pilot-agent stops the sidecar when asked here (a Job's pod
/// completes only once every container has exited).
const SIDECAR_QUIT: &str = "127.0.0.1:15020";

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(addr) = args.serve {
        return serve(addr, args.in_pod).await;
    }
    let in_pod = args.in_pod;
    let result = logged(args).await;
    // Whatever happened: a pod whose sidecar runs on never completes, and
    // its Job would be waited for to the run's bound instead of failing.
    if in_pod {
        stop_sidecar().await;
    }
    result
}

/// The workload run here, its events on standard output.
async fn logged(args: Args) -> anyhow::Result<ExitCode> {
    let file = args.file.context("a scenario file (or --serve)")?;
    let scenario = Scenario::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
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
    if let Some(within) = args.ready_within {
        let services = meshbench::run::services(&resolved.spec.services, &[]);
        let cancel = CancellationToken::new();
        let notes = meshbench::run::until_routed(&services, &listeners, &plan, within, &cancel)
            .await
            .context("the convergence probe")?;
        eprintln!("meshbench: every service routes through the proxy");
        for note in notes {
            eprintln!("meshbench: {note}");
        }
    }
    // Buffered: the runner reads the log once the pod is done, so a line
    // need not be a write of its own.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let ledger = agent::run_logging(&plan, args.seed, &mut out, CancellationToken::new())
        .await
        .map_err(anyhow::Error::msg)
        .context("the workload")?;
    out.flush()?;
    drop(out);
    eprintln!(
        "meshbench: {} requests sent, {} ended, every one written",
        ledger.sent,
        ledger.entries.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Serves runs until Ctrl-C or SIGTERM (a container or pod stopping).
async fn serve(addr: SocketAddr, in_pod: bool) -> anyhow::Result<ExitCode> {
    let reach = match in_pod {
        true => Reach::Pod,
        false => {
            super::loopback(addr.ip())
                .map_err(|e| anyhow::anyhow!("{e} (--in-pod in a container or pod)"))?;
            Reach::Loopback
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for runners on {addr}"))?;
    let local = listener.local_addr().context("the agent's listener")?;
    super::say(&format!("{}{local}\n", agent::READY));
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(agent::serve(listener, reach, shutdown.clone()));
    stopped().await?;
    shutdown.cancel();
    served.await.context("the workload agent")?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("waiting for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("waiting for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
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
