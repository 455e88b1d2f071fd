//! `meshbench`: the command line. Each command lives in its own file under
//! `cmd/`; this file parses flags, dispatches and turns errors into exit codes
//! (0 success, 1 a call failed or a scenario is invalid, 2 could not run).

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "meshbench",
    version,
    about = "Traffic simulation and conformance bench for layer-7 proxies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run sample fleet endpoints standalone until Ctrl-C (or --for).
    Fleet(cmd::fleet::Args),
    /// Run a scenario's workload alone against given addresses; print its ledger, one entry per line.
    Workload(cmd::workload::Args),
    /// A scenario in a Kubernetes (kind) cluster with Istio + Aeraki: its manifests and the run's actions.
    Kind(cmd::kind::Args),
    /// Call a service once or several times and print the answers.
    Call(cmd::call::Args),
    /// Check scenario files (or directories of them); errors show file:line:column.
    Validate(cmd::validate::Args),
    /// Print each assertion's planned sample size, duration and detectable deviation.
    Plan(cmd::plan::Args),
    /// Print the JSON Schema of scenario files.
    Schema(cmd::schema::Args),
    /// Run scenarios against a proxy: a verdict and a report folder each.
    Run(cmd::run::Args),
    /// Print the endpoints a run with --fleet-at starts, as endpoints.yaml, to configure a proxy by hand.
    Endpoints(cmd::endpoints::Args),
    /// Measure every verifier's false-failure rate and power on synthetic runs; write the report.
    Calibrate(cmd::calibrate::Args),
    /// Probe meshproxy and Envoy as hostile and careless clients would; write reports/reliability.md.
    Reliability(cmd::reliability::Args),
    /// Measure meshproxy, the load generator and the fleet beside nginx, HAProxy and wrk; write reports/bench/<date>/.
    Bench(cmd::bench::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fleet(args) => cmd::fleet::run(args).await,
        Command::Workload(args) => cmd::workload::run(args).await,
        Command::Kind(args) => cmd::kind::run(&args).await,
        Command::Call(args) => cmd::call::run(args).await,
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Plan(args) => cmd::plan::run(&args),
        Command::Schema(args) => cmd::schema::run(&args),
        Command::Run(args) => cmd::run::run(&args).await,
        Command::Endpoints(args) => cmd::endpoints::run(&args).await,
        Command::Calibrate(args) => cmd::calibrate::run(&args),
        Command::Bench(args) => cmd::bench::run(&args).await,
        Command::Reliability(args) => cmd::reliability::run(&args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("meshbench: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
