//! `meshbench endpoints FILE --fleet-at IP`: the endpoints a run of FILE
//! with the same `--fleet-at` starts, in the `endpoints.yaml` form (service,
//! protocol, port, each endpoint's address and labels), so that a proxy run
//! by hand can be configured before `meshbench run FILE --proxy
//! address=HOST:PORT --fleet-at IP`. The fleet is started to lay them out
//! exactly as the run will, then stopped: nothing is sent.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use meshbench_sim::fleet::{Fleet, FleetOptions};
use meshbench_sim::scenario::Scenario;

use super::validate::report as report_error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file.
    file: PathBuf,
    /// The fleet's first loopback address, as `meshbench run --fleet-at` takes it.
    #[arg(long, value_parser = super::parse_loopback_ip)]
    fleet_at: Ipv4Addr,
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let scenario = match Scenario::load(&args.file) {
        Ok(scenario) => scenario,
        Err(error) => {
            report_error(&error, false);
            return Ok(ExitCode::from(2));
        }
    };
    let resolved = meshbench::resolve::resolve(&scenario, 1).map_err(anyhow::Error::msg)?;
    let options = FleetOptions {
        seed: 1,
        first_ip: Some(args.fleet_at),
        ..FleetOptions::default()
    };
    let fleet = Fleet::start(&resolved.spec.services, &options)
        .await
        .with_context(|| format!("laying the fleet out from {}", args.fleet_at))?;
    let services = meshbench::run::services(&resolved.spec.services, fleet.endpoints());
    fleet.stop().await;
    let list = meshbench::adapter::endpoint_list(&services);
    let yaml = serde_saphyr::to_string(&list).context("writing endpoints.yaml")?;
    print!("{yaml}");
    Ok(ExitCode::SUCCESS)
}
