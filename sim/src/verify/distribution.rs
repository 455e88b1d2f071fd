//! The test behind `split` and `balanced`: served requests tallied by label
//! (version or endpoint) against expected weights, over the whole run or
//! within every connection on its own.
//!
//! - `per: run`: one exact binomial test per label on the pooled counts,
//!   Holm-corrected, at alpha; planned by [`stats::plan::split`] at alpha.
//! - `per: connection`: each connection's counts fitted exactly to the
//!   weights (a binomial test per label, Bonferroni within the connection),
//!   Holm over the connections, at alpha; planned per connection by
//!   [`stats::plan::per_connection`]. No pooled test is needed: if the
//!   pooled shares are off by `detect`, some connection is off by at least
//!   as much, and its fit catches it.
//!
//! A request served by a label outside the weights fails at once (that is
//! deterministic). So does a *lost* request: a selected request that got
//! no endpoint's answer (the connection broke, it timed out, the answer did
//! not decode, or the proxy answered an error itself) — the claim is about
//! where every selected request goes, and a lost one went nowhere the
//! shares can count; a proxy that fails requests wholesale fails, it is not
//! "inconclusive". Requests still in flight when a sequential run stopped
//! are not lost. Pass needs the planned sample (on every connection, for
//! `per: connection`); a failure can come earlier.

use std::collections::BTreeMap;

use crate::fleet::Echo;
use crate::ledger::{Ledger, Outcome};
use crate::stats::{self, ContingencyTable, Evidence, Plan, StatsError, Verdict};

use super::{Assertion, Confidence, Selection, percent, served, unserved_finding};

/// What a served request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// The version of the endpoint that answered.
    Versions,
    /// The endpoint (pod) that answered.
    Endpoints,
}

impl Tally {
    fn label(self, echo: &Echo) -> &str {
        match self {
            Tally::Versions => &echo.version,
            Tally::Endpoints => &echo.pod,
        }
    }

    /// `versions` or `endpoints`.
    pub fn name(self) -> &'static str {
        match self {
            Tally::Versions => "versions",
            Tally::Endpoints => "endpoints",
        }
    }
}

/// Where a distribution must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// Within every connection on its own.
    Connection,
    /// Over the whole run.
    Run,
}

impl Per {
    /// `run` or `connection`.
    pub fn name(self) -> &'static str {
        match self {
            Per::Run => "run",
            Per::Connection => "connection",
        }
    }
}

/// A distribution claim: labels with weights, tallied one way, held per run
/// or per connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// Label and weight, in the order written.
    pub weights: Vec<(String, f64)>,
    /// What a request counts under.
    pub tally: Tally,
    /// Where it must hold.
    pub per: Per,
}

/// The plan of a distribution claim over `connections` connections: total
/// requests for `per: run`, requests on every connection for `per: connection`.
///
/// # Errors
/// When the weights or levels cannot make a test (every share 0 or 1 is an
/// exact check that needs no plan).
pub fn plan(
    weights: &[f64],
    per: Per,
    connections: usize,
    c: Confidence,
) -> Result<Plan, StatsError> {
    match per {
        Per::Run => stats::plan::split(weights, c.alpha, c.power, c.detect),
        Per::Connection => {
            stats::plan::per_connection(weights, connections, c.alpha, c.power, c.detect)
        }
    }
}

/// Served requests of the selection by connection and label.
struct Table {
    rows: BTreeMap<u64, Vec<u64>>,
    strays: BTreeMap<String, u64>,
    unserved: Option<String>,
    /// Selected requests with no endpoint answer, and the first one's outcome.
    lost: (u64, Option<String>),
}

/// Whether a selected request without an endpoint answer was lost (see
/// the module docs), and how it ended.
fn lost(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Response {
            served_by: None,
            success: false,
            code,
            ..
        } => Some(format!("answered {code} by the proxy")),
        Outcome::Response { .. } | Outcome::Unfinished => None,
        Outcome::ProtocolError(reason) => Some(format!("protocol error: {reason}")),
        Outcome::Timeout => Some("no answer before the request timeout".to_owned()),
        Outcome::ConnectionError(reason) => Some(format!("connection error: {reason}")),
    }
}

fn tabulate(ledger: &Ledger, selection: &Selection, claim: &Distribution) -> Table {
    let sample = served(&ledger.entries, selection);
    let k = claim.weights.len();
    let mut table = Table {
        rows: BTreeMap::new(),
        strays: BTreeMap::new(),
        unserved: unserved_finding(&sample.unserved),
        lost: (0, None),
    };
    for entry in ledger.entries.iter().filter(|e| selection.keeps(e)) {
        if let Some(how) = lost(&entry.outcome) {
            table.lost.0 += 1;
            table
                .lost
                .1
                .get_or_insert(format!("request {}: {how}", entry.id));
        }
    }
    for (entry, echo) in &sample.served {
        let label = claim.tally.label(echo);
        match claim.weights.iter().position(|(l, _)| l == label) {
            Some(column) => {
                table
                    .rows
                    .entry(entry.connection)
                    .or_insert_with(|| vec![0; k])[column] += 1
            }
            None => *table.strays.entry(label.to_owned()).or_insert(0) += 1,
        }
    }
    table
}

/// Verifies `claim` on the selected requests. `kind` and `claim_text` name
/// the assertion (`split`, `split v1=20 v2=80 per run`).
pub fn verify(
    ledger: &Ledger,
    selection: &Selection,
    claim: &Distribution,
    c: Confidence,
    (kind, claim_text): (&str, String),
) -> Assertion {
    let table = tabulate(ledger, selection, claim);
    let labels: Vec<&str> = claim.weights.iter().map(|(l, _)| l.as_str()).collect();
    let weights: Vec<f64> = claim.weights.iter().map(|(_, w)| *w).collect();
    let totals: Vec<u64> = (0..labels.len())
        .map(|col| table.rows.values().map(|r| r[col]).sum())
        .collect();
    let method = match claim.per {
        Per::Run => "exact binomial test per share, Holm-corrected",
        Per::Connection => {
            "exact per-connection fit to the weights (binomial per share), Holm over connections"
        }
    };
    let evidence = Evidence::new(method, c.alpha, c.power, c.detect).with_counts(
        labels
            .iter()
            .copied()
            .zip(totals.iter().copied())
            .chain(table.strays.iter().map(|(l, n)| (l.as_str(), *n))),
        labels.iter().copied().zip(weights.iter().copied()),
    );
    let mut assertion = Assertion::new(kind, claim_text, evidence);
    assertion.findings.extend(table.unserved.clone());
    if let Some((label, n)) = table.strays.iter().next() {
        let outside = match claim.tally {
            Tally::Versions => "the split does not include",
            Tally::Endpoints => "is not one of the balanced endpoints",
        };
        assertion
            .findings
            .push(format!("{n} requests reached '{label}', which {outside}"));
        assertion.verdict = Verdict::Fail;
        assertion.summary = format!("{n} requests reached '{label}', outside the {kind}");
        return assertion;
    }
    if let (n, Some(first)) = &table.lost {
        assertion.verdict = Verdict::Fail;
        assertion.summary = format!(
            "{n} selected requests were lost before an endpoint answered; the first: {first}"
        );
        return assertion;
    }
    let outcome = match claim.per {
        Per::Run => pooled(&totals, &labels, &weights, c),
        Per::Connection => per_connection(&table.rows, &labels, &weights, c),
    };
    match outcome {
        Ok(outcome) => {
            assertion.verdict = outcome.verdict;
            assertion.summary = outcome.summary;
            assertion.evidence.p_value = Some(outcome.p_value);
            assertion.findings.extend(outcome.findings);
        }
        Err(e) => {
            assertion.verdict = Verdict::Error;
            assertion.summary = format!("the test could not run: {e}");
        }
    }
    assertion
}

/// What one of the two tests found.
struct Found {
    verdict: Verdict,
    summary: String,
    p_value: f64,
    findings: Vec<String>,
}

fn pooled(
    totals: &[u64],
    labels: &[&str],
    weights: &[f64],
    c: Confidence,
) -> Result<Found, StatsError> {
    let n: u64 = totals.iter().sum();
    let test = stats::share_tests(totals, weights, c.alpha)?;
    let findings = test
        .tests
        .iter()
        .map(|share| {
            format!(
                "{}: {} of {n} = {} (expected {}, interval {}–{}, adjusted p = {:.3e})",
                labels.get(share.index).copied().unwrap_or("?"),
                share.count,
                percent(share.share(n)),
                percent(share.expected),
                percent(share.interval.0),
                percent(share.interval.1),
                share.adjusted
            )
        })
        .collect();
    let planned = planned(weights, Per::Run, 1, c);
    let (verdict, summary) = if test.rejected() || !test.zero_probability_hits.is_empty() {
        (Verdict::Fail, offending(&test, labels, n))
    } else if n < planned.0 {
        (
            Verdict::Inconclusive,
            format!(
                "only {n} of the {} samples the plan needs ({})",
                planned.0, planned.1
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "{n} requests shared as weighted at alpha {:e}",
                c.alpha.get()
            ),
        )
    };
    Ok(Found {
        verdict,
        summary,
        p_value: test.p_value(),
        findings,
    })
}

fn per_connection(
    rows: &BTreeMap<u64, Vec<u64>>,
    labels: &[&str],
    weights: &[f64],
    c: Confidence,
) -> Result<Found, StatsError> {
    let columns: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    let names: Vec<String> = rows.keys().map(|c| format!("connection {c}")).collect();
    let counts: Vec<Vec<u64>> = rows.values().cloned().collect();
    let n: u64 = counts.iter().flatten().sum();
    let Ok(table) = ContingencyTable::new(names, columns, counts) else {
        return Ok(Found {
            verdict: Verdict::Inconclusive,
            summary: "no selected request was served".to_owned(),
            p_value: 1.0,
            findings: Vec::new(),
        });
    };
    let fits = stats::row_fits(&table, weights, c.alpha)?;
    let p_value = fits.iter().map(|r| r.adjusted).fold(1.0, f64::min);
    let failed: Vec<String> = fits
        .iter()
        .filter(|r| r.rejected)
        .map(|r| r.describe())
        .collect();
    let smallest = fits.iter().map(|r| r.n).min().unwrap_or(0);
    let planned = planned(weights, Per::Connection, fits.len(), c);
    let (verdict, summary) = if let Some(first) = failed.first() {
        (
            Verdict::Fail,
            format!(
                "{} of {} connections do not hold the shares: {first}",
                failed.len(),
                fits.len()
            ),
        )
    } else if smallest < planned.0 {
        (
            Verdict::Inconclusive,
            format!(
                "the smallest connection carried {smallest} requests; the plan needs {} on every one ({})",
                planned.0, planned.1
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "{n} requests on {} connections each shared as weighted at alpha {:e}",
                fits.len(),
                c.alpha.get()
            ),
        )
    };
    Ok(Found {
        verdict,
        summary,
        p_value,
        findings: failed,
    })
}

/// The planned sample (per connection for `per: connection`) and its
/// description; 0 when the claim is an exact check.
fn planned(weights: &[f64], per: Per, connections: usize, c: Confidence) -> (u64, String) {
    plan(weights, per, connections, c)
        .map(|p| (p.n, p.describe().to_owned()))
        .unwrap_or_default()
}

fn offending(test: &stats::SplitTest, labels: &[&str], n: u64) -> String {
    let worst = test
        .tests
        .iter()
        .filter(|t| t.rejected)
        .min_by(|a, b| a.adjusted.total_cmp(&b.adjusted));
    match worst {
        Some(t) => format!(
            "{} got {} of {n} requests, expected {}",
            labels.get(t.index).copied().unwrap_or("?"),
            percent(t.share(n)),
            percent(t.expected)
        ),
        None => "a label of weight 0 received requests".to_owned(),
    }
}

/// `v1=20 v2=80`.
pub fn describe_weights(weights: &[(String, f64)]) -> String {
    let parts: Vec<String> = weights.iter().map(|(v, w)| format!("{v}={w}")).collect();
    parts.join(" ")
}
