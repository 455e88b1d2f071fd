//! `meshbench plan`: each assertion's planned sample size, how long the
//! workload takes to supply it, and the deviation it detects.

use std::path::PathBuf;
use std::process::ExitCode;

use meshbench_sim::scenario::values::show_duration;
use meshbench_sim::scenario::{Assertion, Scenario, ScenarioError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file.
    file: PathBuf,
    /// Plain text errors even on a terminal.
    #[arg(long)]
    plain: bool,
}

/// 0 when planned, 1 when the scenario is invalid, 2 when it cannot be read.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let scenario = match Scenario::load(&args.file) {
        Ok(scenario) => scenario,
        Err(error @ ScenarioError::Read { .. }) => {
            eprintln!("meshbench: {error}");
            return Ok(ExitCode::from(2));
        }
        Err(error) => {
            super::validate::report(&error, args.plain);
            return Ok(ExitCode::from(1));
        }
    };
    println!("{} ({})", scenario.name, args.file.display());
    if let Some(idle) = &scenario.proxy.idle_timeout {
        println!("  proxy: downstream idle timeout {}", idle.value);
    }
    for (name, client) in scenario.clients() {
        let bound = [
            client
                .requests
                .as_ref()
                .map(|r| format!("{} requests", r.value)),
            client.duration.as_ref().map(|d| format!("{}", d.value)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" or ");
        let pace = client
            .rate()
            .map_or_else(|| "closed loop".to_owned(), |r| format!("open loop at {r}"));
        let pause = client.pause.as_ref().map_or_else(String::new, |p| {
            let beat = p.heartbeat.map_or_else(
                || "silent".to_owned(),
                |h| format!("a heartbeat every {}", h.value),
            );
            format!(
                ", idle {} after every {} requests per connection ({beat})",
                p.idle.value, p.every.value
            )
        });
        println!(
            "  client {name} -> {}: {} connection(s) x {} in flight, {pace}{pause}, {bound}",
            client.service.value, client.connections.value, client.in_flight.value
        );
    }
    let rows: Vec<[String; 7]> = scenario.plan().iter().map(row).collect();
    let header = [
        "#",
        "assertion",
        "kind",
        "planned n",
        "workload supplies",
        "expected duration",
        "detects",
    ];
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    println!("{}", line(&header.map(str::to_owned)));
    for r in &rows {
        println!("{}", line(r));
    }
    Ok(ExitCode::SUCCESS)
}

fn row(assertion: &Assertion) -> [String; 7] {
    let plan = &assertion.plan;
    let mut planned = plan.unit.amount(plan.n);
    if let Some(each) = plan.per_connection {
        planned.push_str(&format!(" ({each} per connection)"));
    }
    let supplied = assertion
        .supply
        .samples
        .map_or_else(|| "unknown".to_owned(), |s| format!("~{}", s.floor()));
    let duration = match assertion.expected_duration() {
        Some(d) => show_duration(std::time::Duration::from_millis(d.as_millis() as u64)),
        None if assertion.supply.closed_loop => "closed loop: depends on latency".to_owned(),
        None => "unknown".to_owned(),
    };
    [
        (assertion.index + 1).to_string(),
        assertion.name.clone(),
        assertion.kind.to_owned(),
        planned,
        supplied,
        duration,
        plan.detects(),
    ]
}
