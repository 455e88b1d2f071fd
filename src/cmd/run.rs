//! `meshbench run FILE|DIR [--proxy NAME] [--seed N] [--out DIR]`: every
//! scenario against the proxy, a verdict each, a report folder each.
//! Exit 0 when every assertion passed (or is unsupported), 1 otherwise,
//! 2 when a scenario could not be run at all.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use meshbench::report::Report;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::stats::Verdict;
use tokio_util::sync::CancellationToken;

use super::say;
use super::validate::{report as report_error, scenario_files};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or directories searched recursively for *.yaml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The proxy under test: builtin, builtin-l4, builtin-process or address=HOST:PORT.
    #[arg(long, default_value = "builtin")]
    proxy: String,
    /// Seed of the fleet's and the workload's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where reports go (default: reports/runs/<unix time>-<scenario>/).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in &args.paths {
        files.extend(scenario_files(path).with_context(|| format!("reading {}", path.display()))?);
    }
    if files.is_empty() {
        anyhow::bail!("no scenario files (*.yaml) in {:?}", args.paths);
    }
    let cancel = CancellationToken::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });
    let mut verdicts = Vec::new();
    for file in files {
        let scenario = match Scenario::load(&file) {
            Ok(scenario) => scenario,
            Err(error) => {
                report_error(&error, false);
                return Ok(ExitCode::from(2));
            }
        };
        let report = meshbench::run_scenario(&scenario, &args.proxy, args.seed, cancel.clone())
            .await
            .with_context(|| format!("running {}", file.display()))?;
        let folder = write(&report, args.out.as_deref())?;
        say(&format!(
            "{}  report: {}\n",
            report.summary(),
            folder.display()
        ));
        verdicts.push(report.verdict);
    }
    let all = Verdict::merge_all(verdicts);
    Ok(if matches!(all, Verdict::Pass | Verdict::Unsupported) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write(report: &Report, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let folder = match out {
        Some(out) => out.join(&report.scenario),
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            PathBuf::from("reports/runs").join(format!("{now}-{}", report.scenario))
        }
    };
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let files = [
        ("report.json", json),
        ("junit.xml", report.junit()),
        ("report.md", report.markdown()),
    ];
    for (name, contents) in files {
        let path = folder.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(folder)
}
