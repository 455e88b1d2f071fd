//! The calibration table at a small R (a debug build runs it in seconds):
//! its shape, and the bounds that hold at any R; and the committed report's
//! format.

use std::collections::BTreeSet;

use super::*;
use crate::stats::binomial::upper_tail_raw;

#[test]
fn bounds_are_what_they_say() {
    // Under Bin(20 000, 0.05) (mean 1 000, sd 30.8) the 1e-9 bound is about 6 sd up.
    let c = max_allowed(20_000, 0.05);
    assert!((1_170..1_200).contains(&c), "{c}");
    assert!(upper_tail_raw(c + 1, 20_000, 0.05) <= 1e-9);
    assert!(upper_tail_raw(c, 20_000, 0.05) > 1e-9);
    let c = min_allowed(20_000, 0.05);
    assert!((800..830).contains(&c), "{c}");
}

#[test]
fn consistency_reads_the_interval_from_the_right_side() {
    assert!(Row::consistent(
        Check::FalseFailures,
        (0.005, 0.02),
        0.01,
        0
    ));
    assert!(!Row::consistent(
        Check::FalseFailures,
        (0.011, 0.02),
        0.01,
        0
    ));
    assert!(Row::consistent(Check::NeverFails, (0.0, 0.003), 0.0, 0));
    assert!(!Row::consistent(Check::NeverFails, (1e-6, 0.003), 0.0, 0));
    assert!(Row::consistent(Check::Power, (0.97, 0.995), 0.99, 0));
    assert!(!Row::consistent(Check::Power, (0.95, 0.985), 0.99, 0));
    assert!(!Row::consistent(Check::Power, (0.97, 0.995), 0.99, 1));
}

/// Small R: the structure of the table, no error verdict anywhere, no
/// failure at all on zero-tolerance nulls, and fail counts within the 1e-9
/// binomial bounds of their claims (so a correct verifier fails this test
/// with probability below 1e-9 per row, whatever the seed).
#[test]
fn the_table_at_a_small_r_keeps_its_claims() {
    let options = Options {
        repetitions: 12,
        seed: 7,
        ..Options::default()
    };
    let cases = cases(&options);
    let ids: BTreeSet<String> = cases.iter().map(Case::id).collect();
    assert_eq!(ids.len(), cases.len(), "case ids must be unique");
    let rows: Vec<Row> = cases.iter().map(|c| c.run(&options)).collect();
    let verifiers: BTreeSet<&str> = rows.iter().map(|r| r.verifier).collect();
    for v in [
        "split",
        "split (sequential)",
        "balanced per connection",
        "balanced per run",
        "split per connection",
        "routed",
        "fraction",
        "mirrored",
        "latency",
        "retried",
        "timeout",
        "received",
        "ejected",
    ] {
        assert!(verifiers.contains(v), "no row for {v}");
    }
    for row in &rows {
        let name = format!("{} / {}", row.verifier, row.case);
        assert_eq!(row.repetitions, 12, "{name}: {}", row.note);
        assert!(row.n > 0, "{name}");
        assert_eq!(row.errors, 0, "{name}: {}", row.note);
        // At the n of the verifier's own planner it never waits for more samples
        // (so the table's n is the one the verifier works with).
        if row.sizing == Sizing::Verifier {
            assert_eq!(row.inconclusive, 0, "{name}: {}", row.note);
        }
        assert!(row.interval.0 <= row.rate() && row.rate() <= row.interval.1);
        let r = row.repetitions;
        match row.check {
            Check::NeverFails => assert_eq!(row.fails, 0, "{name}"),
            Check::FalseFailures => {
                assert!(
                    row.fails <= max_allowed(r, row.claimed),
                    "{name}: {}",
                    row.fails
                );
            }
            Check::Power => {
                let missed = r - row.fails;
                assert!(
                    missed <= max_allowed(r, 1.0 - row.claimed),
                    "{name}: missed {missed} of {r}"
                );
            }
        }
    }
    // Both the null rows' alpha and the default appear on null rows.
    for alpha in [options.null_alpha.get(), Alpha::DEFAULT.get()] {
        assert!(
            rows.iter()
                .any(|r| r.check == Check::FalseFailures && r.alpha == alpha)
        );
    }
    let text = markdown(&rows, &options);
    let table_lines = text.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(table_lines, rows.len() + 1, "a header and one line per row");
}

/// Same options, same rows, whatever the threads' timing (the cheap rows).
#[test]
fn rows_are_reproducible() {
    let options = Options {
        repetitions: 50,
        seed: 3,
        ..Options::default()
    };
    let cheap: Vec<Case> = cases(&options)
        .into_iter()
        .filter(|c| {
            [
                "routed", "latency", "retried", "timeout", "received", "ejected",
            ]
            .contains(&c.verifier)
        })
        .collect();
    let first = run(&cheap, &options, |_, _, _| {});
    assert_eq!(first, run(&cheap, &options, |_, _, _| {}));
    assert_eq!(first.len(), cheap.len());
    let other = Options { seed: 4, ..options };
    assert_ne!(first, run(&cheap, &other, |_, _, _| {}));
}

/// The committed report was written by this code's `markdown`: same title,
/// same columns, the command line in the same words. The numbers are not
/// compared (they are the generating run's).
#[test]
fn the_committed_report_has_the_current_format() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/calibration.md");
    let committed = std::fs::read_to_string(&path).expect("reports/calibration.md is committed");
    let mut lines = committed.lines();
    assert_eq!(lines.next(), Some(TITLE));
    assert!(
        committed.lines().any(|l| l == COLUMNS),
        "the table header differs from calibration::COLUMNS: regenerate with `cargo run --release -- calibrate`"
    );
    let generated = committed
        .lines()
        .find(|l| l.starts_with("Generated by `"))
        .expect("a 'Generated by' line");
    let options = Options::default();
    let current = markdown(&[], &options);
    let expected_start = current
        .lines()
        .find(|l| l.starts_with("Generated by `"))
        .and_then(|l| l.split(" --repetitions").next())
        .expect("markdown writes a 'Generated by' line");
    assert!(generated.starts_with(expected_start), "{generated}");
    // Every line of the explanation above the table is the current one.
    let preamble = |text: &str| -> Vec<String> {
        text.lines()
            .take_while(|l| *l != COLUMNS)
            .filter(|l| !l.starts_with("Generated by `"))
            .map(str::to_owned)
            .collect()
    };
    let committed_options = options_of(generated).expect("the command line parses");
    assert_eq!(
        preamble(&committed),
        preamble(&markdown(&[], &committed_options))
    );
}

/// The options a 'Generated by' line names.
fn options_of(line: &str) -> Option<Options> {
    let number = |flag: &str| -> Option<u64> {
        let rest = line.split(flag).nth(1)?;
        rest.split_whitespace()
            .next()?
            .trim_end_matches('`')
            .parse()
            .ok()
    };
    Some(Options {
        repetitions: number("--repetitions ")?,
        seed: number("--seed ")?,
        ..Options::default()
    })
}
