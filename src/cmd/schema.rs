//! `meshbench schema`: the JSON Schema of scenario files, generated from the
//! scenario types (`scenarios/schema.json` is this output, committed).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: &Args) -> anyhow::Result<ExitCode> {
    let schema = meshbench_sim::scenario::schema();
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
