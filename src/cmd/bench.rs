//! `meshbench bench`: meshproxy, the load generator and the fleet measured
//! side by side with nginx, HAProxy and wrk; writes reports/bench/<date>/.

use std::path::PathBuf;
use std::process::ExitCode;

use meshbench::bench::{self, Comparison};

fn parse_comparison(text: &str) -> Result<Comparison, String> {
    match text {
        "http" => Ok(Comparison::Http),
        "rpc" => Ok(Comparison::Rpc),
        "generator" => Ok(Comparison::Generator),
        "verify" => Ok(Comparison::Verify),
        other => Err(format!(
            "unknown comparison '{other}' (http, rpc, generator or verify)"
        )),
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rounds per comparison; each target is measured once per round, in turn.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// The fixed open-loop rate at which added latency is measured (requests per second).
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Connections of the closed loop that measures saturation and CPU per request.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Connections of the open loop.
    #[arg(long, default_value_t = 16)]
    open_connections: usize,
    /// Comparisons to run (repeatable; default all): http, rpc, generator, verify.
    #[arg(long = "only", value_parser = parse_comparison)]
    only: Vec<Comparison>,
    /// Where the <date>/ folder goes.
    #[arg(long, default_value = "reports/bench")]
    out: PathBuf,
    /// Wait while the one-minute load average is above this (CPU figures from a busy box are noise).
    #[arg(long, default_value_t = 1.5)]
    max_load: f64,
    /// At most this long, in minutes, then measure anyway (the load is in the report).
    #[arg(long, default_value_t = 10)]
    wait_minutes: u64,
    /// Do not overwrite <out>/latest.md.
    #[arg(long)]
    no_latest: bool,
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut comparisons = if args.only.is_empty() {
        vec![
            Comparison::Http,
            Comparison::Generator,
            Comparison::Rpc,
            Comparison::Verify,
        ]
    } else {
        args.only.clone()
    };
    comparisons.dedup();
    anyhow::ensure!(
        args.rounds >= 1 && args.seconds >= 1,
        "--rounds and --seconds must be at least 1"
    );
    let options = bench::Options {
        rounds: args.rounds,
        seconds: args.seconds.min(600),
        rate: args.rate,
        connections: args.connections.clamp(1, 1000),
        open_connections: args.open_connections.clamp(1, 1000),
        comparisons,
        out: args.out.clone(),
        max_load: args.max_load,
        wait_minutes: args.wait_minutes,
        latest: !args.no_latest,
    };
    let (report, folder) = bench::run(options).await?;
    super::say(&format!(
        "{}\nwritten to {}\n",
        bench::summary::markdown(&report),
        folder.display()
    ));
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
