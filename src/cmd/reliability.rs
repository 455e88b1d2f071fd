//! `meshbench reliability`: every probe against meshproxy and Envoy;
//! writes `reports/reliability.md` and the measurements as JSON beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use meshbench::reliability::{self, Scale, Subject};

fn parse_subject(text: &str) -> Result<Subject, String> {
    match text {
        "meshproxy" | "builtin-process" => Ok(Subject::Meshproxy),
        "envoy" => Ok(Subject::Envoy),
        other => Err(format!("unknown proxy '{other}' (meshproxy or envoy)")),
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The proxies to probe, comma separated (an Envoy not installed is left out, saying so).
    #[arg(long, value_delimiter = ',', default_value = "meshproxy,envoy", value_parser = parse_subject)]
    proxy: Vec<Subject>,
    /// The test suite's smaller loads instead of the report's.
    #[arg(long)]
    small: bool,
    /// Where the Markdown report goes (the JSON goes beside it).
    #[arg(long, default_value = "reports/reliability.md")]
    out: PathBuf,
}

/// 0 when no call was lost, 1 when one was (the report is written either way).
pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let scale = if args.small {
        Scale::TEST
    } else {
        Scale::REPORT
    };
    let measured = reliability::run(&args.proxy, scale).await?;
    let subjects: Vec<Subject> = args
        .proxy
        .iter()
        .copied()
        .filter(|s| measured.iter().any(|m| m.subject == s.name()))
        .collect();
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string();
    let md = reliability::markdown(&measured, &subjects, &date);
    std::fs::write(&args.out, md).with_context(|| format!("writing {}", args.out.display()))?;
    let json = args.out.with_extension("json");
    std::fs::write(&json, serde_json::to_string_pretty(&measured)?)
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("written to {} and {}", args.out.display(), json.display());
    let lost: usize = measured.iter().map(|m| m.lost).sum();
    Ok(match lost {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
