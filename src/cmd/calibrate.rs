//! `meshbench calibrate`: runs every verifier thousands of times on
//! synthetic runs drawn from its null and from its alternatives, prints the
//! measured false-failure rates and powers next to their claims, and writes
//! the Markdown report (`reports/calibration.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::time::Instant;

use anyhow::Context;
use meshbench_sim::calibration::{self, Options, Row};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs of the verifier per row.
    #[arg(long, default_value_t = Options::DEFAULT_REPETITIONS, value_parser = clap::value_parser!(u64).range(1..))]
    repetitions: u64,
    /// The seed every row's random source derives from.
    #[arg(long, default_value_t = Options::DEFAULT_SEED)]
    seed: u64,
    /// Where the Markdown report goes.
    #[arg(long, default_value = "reports/calibration.md")]
    out: PathBuf,
}

/// 0 when every row is consistent with its claim, 1 when one is not (the
/// report is written either way), 2 when the report cannot be written.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let options = Options {
        repetitions: args.repetitions,
        seed: args.seed,
        ..Options::default()
    };
    let cases = calibration::cases(&options);
    let total = cases.len();
    eprintln!(
        "calibrating {total} rows, {} runs each (seed {})",
        options.repetitions, options.seed
    );
    let started = Instant::now();
    let finished = AtomicUsize::new(0);
    let rows: Vec<Row> = calibration::run(&cases, &options, |case, row, took| {
        let k = finished.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!(
            "[{k}/{total}] {} / {} ({}, alpha {:e}): {} fails of {} in {:.1}s{}",
            case.verifier,
            case.case,
            case.check.name(),
            row.alpha,
            row.fails,
            row.repetitions,
            took.as_secs_f64(),
            if row.consistent {
                ""
            } else {
                " -- NOT consistent with its claim"
            }
        );
    });
    let report = calibration::markdown(&rows, &options);
    super::say(&report);
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.out, &report)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} rows in {:.1}s)",
        args.out.display(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if rows.iter().all(|r| r.consistent) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
