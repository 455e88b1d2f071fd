//! `timeout`: every selected request fails within [T − early, T + slack]
//! of being sent: never before the window the scenario grants (by default
//! not before the configured timeout), never after it. The window is the scenario's, with its slack; this is
//! not a speed target. With a `status`, each failure must carry it too (a
//! gRPC timeout is `DEADLINE_EXCEEDED`, not any error). Zero tolerance.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ledger::{Ledger, Outcome};
use crate::stats::{Evidence, Verdict};

use crate::verify::{Assertion, Confidence, Selection};

/// A `timeout` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeoutCheck {
    /// Which requests.
    pub selection: Selection,
    /// The configured timeout.
    pub after: Duration,
    /// How late it may fire.
    pub slack: Duration,
    /// How early it may fire.
    pub early: Duration,
    /// The status every failure must carry, if any.
    pub status: Option<String>,
    /// For the evidence only: the check is deterministic.
    pub confidence: Confidence,
}

/// Runs the check.
pub fn timeout(ledger: &Ledger, check: &TimeoutCheck) -> Assertion {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut findings = Vec::new();
    let deadline = check.after + check.slack;
    let earliest = check.after.saturating_sub(check.early);
    for entry in ledger.entries.iter().filter(|e| check.selection.keeps(e)) {
        let failed = !matches!(entry.outcome, Outcome::Response { success: true, .. });
        let wrong_status = check.status.as_ref().is_some_and(
            |wanted| !matches!(&entry.outcome, Outcome::Response { code, .. } if code == wanted),
        );
        let took = entry.service_time;
        let class = match (failed, took < earliest, took > deadline) {
            (false, ..) => "answered",
            (true, ..) if wrong_status => "failed with another status",
            (true, true, _) => "failed early",
            (true, _, true) => "failed late",
            (true, false, false) => "in window",
        };
        if class != "in window" && findings.len() < 10 {
            findings.push(format!(
                "request {}: {class} after {took:?} ({})",
                entry.id,
                entry.outcome.label()
            ));
        }
        *counts.entry(class).or_insert(0) += 1;
    }
    let n: u64 = counts.values().sum();
    let good = counts.get("in window").copied().unwrap_or(0);
    let c = check.confidence;
    let evidence = Evidence::new("zero tolerance on a window", c.alpha, c.power, c.detect)
        .with_counts(counts.iter().map(|(l, k)| (*l, *k)), [("in window", 1.0)]);
    let window = match &check.status {
        Some(status) => format!("[{earliest:?}, {deadline:?}] with {status}"),
        None => format!("[{earliest:?}, {deadline:?}]"),
    };
    let (verdict, summary) = match (n, good == n) {
        (0, _) => (
            Verdict::Inconclusive,
            "no selected request was sent".to_owned(),
        ),
        (_, true) => (
            Verdict::Pass,
            format!("all {n} requests failed within {window}"),
        ),
        (_, false) => (
            Verdict::Fail,
            format!("{} of {n} requests did not fail within {window}", n - good),
        ),
    };
    Assertion {
        name: String::new(),
        claim: format!("timeout after {:?}", check.after),
        kind: "timeout".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

impl crate::verify::Verifier for TimeoutCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        timeout(oracles.ledger, self)
    }
}
