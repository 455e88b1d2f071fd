//! Calibration of the verifiers: each verifier (not only the statistics
//! under it) runs thousands of times on synthetic runs drawn in memory, from
//! its null hypothesis (a correct proxy) and from an alternative at the
//! deviation it claims to detect, and its measured false-failure rate and
//! power are compared with what it states (DESIGN.md, "Statistical contract").
//!
//! A synthetic run is what the harness would have collected: a [`Ledger`]
//! of entries whose echoes say which endpoint served each request, and, for
//! mirroring, the endpoints' [`Record`]s. Nothing listens on a socket; the
//! random draws are seeded, so the same options give the same table.
//!
//! Why alpha 1e-2 on the null rows: at the bench's default of 1e-6 a correct
//! verifier is never *seen* failing in thousands of runs, which shows nothing
//! about its rate; at 1e-2 a few thousand runs measure it. The default is
//! then run too, to show no false failure happens in R runs.
//!
//! `meshbench calibrate` prints [`table`] and writes [`markdown`] to
//! `reports/calibration.md`.
//!
//! [`Ledger`]: crate::ledger::Ledger
//! [`Record`]: crate::fleet::Record

pub(crate) mod cases;
pub(crate) mod synthetic;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::stats::binomial::{lower_tail_raw, upper_tail_raw};
use crate::stats::{Alpha, Power, Verdict, clopper_pearson};

pub use synthetic::binomial;

/// What a calibration run can be asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Runs of the verifier per row.
    pub repetitions: u64,
    /// The seed every row's random source derives from.
    pub seed: u64,
    /// The alpha of the null rows, large enough for false failures to be
    /// observed in `repetitions` runs.
    pub null_alpha: Alpha,
}

impl Options {
    /// Enough runs for a power claim of 0.99 to be checked to within ±0.5
    /// points (the 99.9% interval half-width, 3.29 · √(0.99 · 0.01 / R) ≤
    /// 0.005 needs R ≥ 4,286), and a false-failure rate of 1e-2 to within
    /// about ±0.5 points.
    pub const DEFAULT_REPETITIONS: u64 = 4_300;
    /// The default seed.
    pub const DEFAULT_SEED: u64 = 1;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repetitions: Self::DEFAULT_REPETITIONS,
            seed: Self::DEFAULT_SEED,
            // 1e-2 is inside Alpha's (0, 0.5) range; the fallback is never taken.
            null_alpha: Alpha::new(1e-2).unwrap_or(Alpha::DEFAULT),
        }
    }
}

/// The confidence of the interval on each measured rate.
pub const INTERVAL_CONFIDENCE: f64 = 0.999;

/// What a row checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Drawn from the null: the fail rate must be at most alpha.
    FalseFailures,
    /// Drawn from the null of a zero-tolerance verifier: it must never fail.
    NeverFails,
    /// Drawn from the alternative at the stated deviation: the fail rate is
    /// the power, and must reach the claimed power.
    Power,
}

impl Check {
    /// The words in the table.
    pub fn name(self) -> &'static str {
        match self {
            Check::FalseFailures => "false failures",
            Check::NeverFails => "never fails",
            Check::Power => "power",
        }
    }
}

/// Where a row's n comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// The planner the verifier itself uses to decide inconclusive
    /// (`stats::plan`): at this n a verifier that passes says so.
    Verifier,
    /// The scenario planner, the sizes `meshbench plan` prints (for
    /// verifiers that plan nothing themselves, or claims only it makes).
    Scenario,
}

/// One measured row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The verifier (`split`, `balanced`, …).
    pub verifier: &'static str,
    /// Its configuration and what the runs were drawn from.
    pub case: String,
    /// What the row checks.
    pub check: Check,
    /// The alpha the verifier ran at (0 for zero-tolerance verifiers).
    pub alpha: f64,
    /// Samples per run.
    pub n: u64,
    /// Which planner gave n.
    pub sizing: Sizing,
    /// Runs.
    pub repetitions: u64,
    /// Runs the verifier failed.
    pub fails: u64,
    /// Runs it answered inconclusive (too few samples for its plan).
    pub inconclusive: u64,
    /// Runs it answered error (the bench could not test: always a defect).
    pub errors: u64,
    /// The Clopper–Pearson interval on the fail rate at [`INTERVAL_CONFIDENCE`].
    pub interval: (f64, f64),
    /// The claimed rate: alpha for the null rows, the power for the others.
    pub claimed: f64,
    /// Whether the measurement is consistent with the claim (see [`Row::consistent`]).
    pub consistent: bool,
    /// Where n and the claim come from, and anything notable.
    pub note: String,
}

impl Row {
    /// The measured fail rate.
    pub fn rate(&self) -> f64 {
        if self.repetitions == 0 {
            0.0
        } else {
            self.fails as f64 / self.repetitions as f64
        }
    }

    /// The rule of the `consistent` column: a null row is consistent when
    /// the interval's lower end is at most the claimed alpha (the runs do not
    /// show a false-failure rate above it); a power row when the interval's
    /// upper end reaches the claimed power. A row with an error verdict is
    /// not consistent (nor, in [`Case::run`], one with no runs).
    pub fn consistent(check: Check, interval: (f64, f64), claimed: f64, errors: u64) -> bool {
        let within = match check {
            Check::FalseFailures | Check::NeverFails => interval.0 <= claimed,
            Check::Power => interval.1 >= claimed,
        };
        within && errors == 0
    }
}

/// One run of a verifier on freshly drawn synthetic traffic.
pub(crate) type Trial = Box<dyn FnMut(&mut StdRng) -> Verdict>;

/// A row to measure: the verifier, the case, the claim, and how to build
/// its synthetic run.
pub struct Case {
    /// The verifier.
    pub verifier: &'static str,
    /// Its configuration and what the runs are drawn from.
    pub case: String,
    /// What the row checks.
    pub check: Check,
    pub(crate) setup: Result<Setup, String>,
}

/// A case whose plan could be computed.
pub(crate) struct Setup {
    pub(crate) alpha: f64,
    pub(crate) n: u64,
    pub(crate) sizing: Sizing,
    pub(crate) claimed: f64,
    pub(crate) note: String,
    /// Builds the prepared traffic when the case runs (not before: the cases
    /// of a table would otherwise hold every ledger at once). Shared by the
    /// threads of [`run`], each building its own.
    pub(crate) trial: Box<dyn Fn() -> Result<Trial, String> + Send + Sync>,
}

impl Case {
    /// Runs the verifier `options.repetitions` times and counts its verdicts.
    /// A case that could not be set up gives a row with no runs, marked
    /// inconsistent, saying why.
    pub fn run(&self, options: &Options) -> Row {
        let mut row = Row {
            verifier: self.verifier,
            case: self.case.clone(),
            check: self.check,
            alpha: 0.0,
            n: 0,
            sizing: Sizing::Verifier,
            repetitions: 0,
            fails: 0,
            inconclusive: 0,
            errors: 0,
            interval: (0.0, 1.0),
            claimed: 0.0,
            consistent: false,
            note: String::new(),
        };
        let setup = match &self.setup {
            Ok(setup) => setup,
            Err(e) => {
                row.note = format!("could not be set up: {e}");
                return row;
            }
        };
        (row.alpha, row.n, row.sizing, row.claimed) =
            (setup.alpha, setup.n, setup.sizing, setup.claimed);
        row.note.clone_from(&setup.note);
        let mut trial = match (setup.trial)() {
            Ok(trial) => trial,
            Err(e) => {
                row.note = format!("could not be set up: {e}");
                return row;
            }
        };
        let mut rng = StdRng::seed_from_u64(options.seed ^ fnv1a(&self.id()));
        for _ in 0..options.repetitions {
            match trial(&mut rng) {
                Verdict::Fail => row.fails += 1,
                Verdict::Inconclusive => row.inconclusive += 1,
                Verdict::Error => row.errors += 1,
                Verdict::Pass | Verdict::Unsupported => {}
            }
        }
        row.repetitions = options.repetitions;
        row.interval = interval(row.fails, row.repetitions);
        row.consistent = row.repetitions > 0
            && Row::consistent(row.check, row.interval, row.claimed, row.errors);
        let mut extra = Vec::new();
        if row.inconclusive > 0 {
            extra.push(format!(
                "inconclusive {}/{}",
                row.inconclusive, row.repetitions
            ));
        }
        if row.errors > 0 {
            extra.push(format!("error {}/{}", row.errors, row.repetitions));
        }
        if !extra.is_empty() {
            if !row.note.is_empty() {
                row.note.push_str("; ");
            }
            row.note.push_str(&extra.join(", "));
        }
        row
    }

    /// Requests drawn per run: how long the case takes, roughly.
    fn work(&self) -> u64 {
        self.setup.as_ref().map_or(0, |s| s.n)
    }

    /// The row's identity (verifier, case, alpha), from which its seed
    /// derives, so a row's numbers do not change when rows are added or
    /// reordered.
    pub fn id(&self) -> String {
        let alpha = self.setup.as_ref().map_or(0.0, |s| s.alpha);
        format!("{}/{}/{alpha:e}", self.verifier, self.case)
    }
}

/// Every case of the table, in its order.
pub fn cases(options: &Options) -> Vec<Case> {
    cases::all(options)
}

/// Runs every case ([`Case::run`]) on every available core; the rows come
/// back in the cases' order.
pub fn table(options: &Options) -> Vec<Row> {
    run(&cases(options), options, |_, _, _| {})
}

/// Runs `cases` on every available core, calling `done` with each row and
/// the time it took as it finishes (in any order), and returns the rows in
/// the order of `cases`. The numbers do not depend on the number of
/// threads: every row draws from its own seed. The largest cases start
/// first so that no thread is left with one at the end.
pub fn run(
    cases: &[Case],
    options: &Options,
    done: impl Fn(&Case, &Row, Duration) + Sync,
) -> Vec<Row> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, cases.len().max(1));
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cases[i].work()));
    let next = AtomicUsize::new(0);
    let mut rows: Vec<(usize, Row)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut finished = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let started = Instant::now();
                        let row = cases[i].run(options);
                        done(&cases[i], &row, started.elapsed());
                        finished.push((i, row));
                    }
                    finished
                })
            })
            .collect();
        workers
            .into_iter()
            // A panicking case is a bug in the bench: let it surface as one.
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The first line of [`markdown`]'s output.
pub const TITLE: &str = "# Calibration of the verifiers";

/// The header of the Markdown table.
pub const COLUMNS: &str = "| verifier | case | checks | alpha | n per run | R | fails | measured rate | 99.9% interval | claimed | consistent | notes |";

/// The command that regenerates the report with `options`.
pub fn command(options: &Options) -> String {
    format!(
        "cargo run --release -- calibrate --repetitions {} --seed {}",
        options.repetitions, options.seed
    )
}

/// The report: what was run and how to read it, the table, and the rows
/// that contradict their claim.
pub fn markdown(rows: &[Row], options: &Options) -> String {
    let r = options.repetitions;
    let mut out = String::new();
    let _ = writeln!(out, "{TITLE}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Generated by `{}` (seed {}, R = {r} runs per row). Do not edit by hand: the same command \
         on the same code writes the same file.",
        command(options),
        options.seed
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Each row runs one verifier (`meshbench_sim::verify`) R times on synthetic runs built in memory: \
         ledger entries whose echoes say which endpoint served each request and, for mirroring, the \
         endpoints' records of the copies. No socket is opened. The runs are drawn either from the \
         verifier's null hypothesis (a correct proxy) or from an alternative at the deviation the \
         verifier states it detects, and the row counts the runs the verifier **failed**."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Columns:");
    let _ = writeln!(out);
    let lines = [
        "**verifier**, **case**: the verifier, its configuration, and what the runs are drawn from \
         (`null`, or the true shares or rates of the alternative).",
        "**checks**: `false failures` (null runs; the fail rate must be at most alpha), `never fails` \
         (null runs of a zero-tolerance verifier, which must not fail at all) or `power` (alternative \
         runs; the fail rate is the power and must reach the claim).",
        &format!(
            "**alpha**: the alpha the verifier ran at. Null rows use {} so that false failures are \
             observable in R runs, and are repeated at the default 1e-6 to show none occurs; \
             zero-tolerance verifiers have none (0).",
            alpha_text(options.null_alpha.get())
        ),
        "**n per run**: samples per run, from the planner the verifier itself uses to decide \
         inconclusive (`stats::plan`) unless the notes say `scenario plan` (the sizes `meshbench plan` \
         prints, for verifiers without a planner of their own). For per-connection checks, \
         connections × requests per connection.",
        "**R**, **fails**, **measured rate**: runs, failed runs, fails / R.",
        &format!(
            "**{:.1}% interval**: the Clopper–Pearson interval on the rate.",
            INTERVAL_CONFIDENCE * 100.0
        ),
        "**claimed**: what the verifier states: at most alpha for null rows (0 for zero tolerance); \
         for alternatives, at least the power its evidence reports (0.99 by default), 1 where its \
         planner promises certainty, 1 − alpha where a zero-leak plan bounds the miss probability \
         by alpha.",
        "**consistent**: null rows: the interval's lower end is at most alpha (the runs do not show a \
         higher false-failure rate); power rows: the interval's upper end reaches the claimed power. \
         A row with an `error` verdict is never consistent.",
        "**notes**: where n and the claim come from, and how many runs ended inconclusive or in \
         error, if any.",
    ];
    for line in lines {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(out);
    let mut reading = format!(
        "How to read it: a `no` is a finding about the verifier, not noise to be rerun: a correct \
         verifier shows `no` on a given row with probability at most {:.2}% (one side of the \
         {:.1}% interval).",
        (1.0 - INTERVAL_CONFIDENCE) / 2.0 * 100.0,
        INTERVAL_CONFIDENCE * 100.0
    );
    if let (Some(null), Some(power)) = (
        null_threshold(r, options.null_alpha.get()),
        power_threshold(r, Power::DEFAULT.get()),
    ) {
        let _ = write!(
            reading,
            " What a `yes` rules out, at R = {r}: a null row at {} reads `no` from {null} fails on \
             (a measured rate of {:.4}), and a power row claiming {} reads `no` at {power} fails or \
             fewer (a measured power of {:.4}).",
            alpha_text(options.null_alpha.get()),
            null as f64 / r as f64,
            Power::DEFAULT,
            power as f64 / r as f64
        );
    }
    reading.push_str(
        " Inconclusive runs count as passes on null rows and as misses on power rows; the notes \
         give their number.",
    );
    let _ = writeln!(out, "{reading}");
    let _ = writeln!(out);
    let _ = writeln!(out, "{COLUMNS}");
    let _ = writeln!(
        out,
        "|---|---|---|---|---:|---:|---:|---:|---|---:|---|---|"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {:.4} | [{:.4}, {:.4}] | {} | {} | {} |",
            row.verifier,
            row.case,
            row.check.name(),
            alpha_text(row.alpha),
            row.n,
            row.repetitions,
            row.fails,
            row.rate(),
            row.interval.0,
            row.interval.1,
            claimed_text(row),
            if row.consistent { "yes" } else { "**no**" },
            row.note,
        );
    }
    let _ = writeln!(out);
    let off: Vec<&Row> = rows.iter().filter(|r| !r.consistent).collect();
    if off.is_empty() {
        let _ = writeln!(out, "Every row is consistent with its claim.");
    } else {
        let _ = writeln!(out, "Rows not consistent with their claim:");
        let _ = writeln!(out);
        for row in off {
            let _ = writeln!(
                out,
                "- `{}` {} ({}): measured {:.4} [{:.4}, {:.4}], claimed {}.",
                row.verifier,
                row.case,
                row.check.name(),
                row.rate(),
                row.interval.0,
                row.interval.1,
                claimed_text(row)
            );
        }
    }
    out
}

/// The fewest fails in `r` runs that make a null row at `alpha` inconsistent.
fn null_threshold(r: u64, alpha: f64) -> Option<u64> {
    (0..=r).find(|&k| interval(k, r).0 > alpha)
}

/// The most fails in `r` runs that leave a power row claiming `power`
/// inconsistent.
fn power_threshold(r: u64, power: f64) -> Option<u64> {
    (0..=r).rev().find(|&k| interval(k, r).1 < power)
}

/// The Clopper–Pearson interval of k fails in r runs at [`INTERVAL_CONFIDENCE`].
fn interval(fails: u64, runs: u64) -> (f64, f64) {
    // 1 − INTERVAL_CONFIDENCE is a valid alpha; [0, 1] says nothing if not.
    Alpha::new(1.0 - INTERVAL_CONFIDENCE)
        .and_then(|a| clopper_pearson(fails, runs, a))
        .unwrap_or((0.0, 1.0))
}

fn alpha_text(alpha: f64) -> String {
    if alpha == 0.0 {
        "0 (zero tolerance)".to_owned()
    } else {
        format!("{alpha:e}")
    }
}

fn claimed_text(row: &Row) -> String {
    match row.check {
        Check::FalseFailures => format!("≤ {:e}", row.claimed),
        Check::NeverFails => "0".to_owned(),
        Check::Power => format!("≥ {}", row.claimed),
    }
}

/// The per-assertion false-failure probability of the calibration checks
/// built on [`max_allowed`] and [`min_allowed`].
pub const CALIBRATION_RISK: f64 = 1e-9;

/// The largest count c such that P(Bin(r, rate) > c) ≤ 1e-9: a correct
/// procedure with rate ≤ `rate` exceeds it with probability below 1e-9, so
/// a check "count ≤ max_allowed" fails a correct procedure that rarely.
pub fn max_allowed(r: u64, rate: f64) -> u64 {
    let mut c = (r as f64 * rate).floor() as u64;
    while c < r && upper_tail_raw(c + 1, r, rate) > CALIBRATION_RISK {
        c += 1;
    }
    c
}

/// The smallest count c such that P(Bin(r, rate) < c) ≤ 1e-9.
pub fn min_allowed(r: u64, rate: f64) -> u64 {
    let mut c = (r as f64 * rate).ceil() as u64;
    while c > 0 && lower_tail_raw(c - 1, r, rate) > CALIBRATION_RISK {
        c -= 1;
    }
    c
}

/// FNV-1a, for stable per-row seeds.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
