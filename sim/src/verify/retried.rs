//! `retried`: every selected request succeeded, and on exactly the given
//! attempt (a backend that succeeds after N failures, a proxy that retries
//! enough). Zero tolerance: one request failing, or succeeding on another
//! attempt, fails.

use std::collections::BTreeMap;

use crate::ledger::{Ledger, Outcome};
use crate::stats::{Evidence, Verdict};

use super::{Assertion, Confidence, Selection};

/// A `retried` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct RetriedCheck {
    /// Which requests.
    pub selection: Selection,
    /// The attempt every request must succeed on.
    pub attempts: u32,
    /// Alpha, power, detect (for the evidence only: the check is deterministic).
    pub confidence: Confidence,
}

/// Runs the check.
pub fn retried(ledger: &Ledger, check: &RetriedCheck) -> Assertion {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut findings = Vec::new();
    for entry in ledger.entries.iter().filter(|e| check.selection.keeps(e)) {
        let label = match &entry.outcome {
            Outcome::Response {
                success: true,
                served_by: Some(echo),
                ..
            } => format!("success on attempt {}", echo.attempt),
            other => other.label(),
        };
        if label != format!("success on attempt {}", check.attempts) && findings.len() < 10 {
            findings.push(format!("request {}: {label}", entry.id));
        }
        *counts.entry(label).or_insert(0) += 1;
    }
    let expected = format!("success on attempt {}", check.attempts);
    let n: u64 = counts.values().sum();
    let good = counts.get(&expected).copied().unwrap_or(0);
    let c = check.confidence;
    let evidence = Evidence::new("zero tolerance", c.alpha, c.power, c.detect).with_counts(
        counts.iter().map(|(l, k)| (l.as_str(), *k)),
        [(expected.as_str(), 1.0)],
    );
    let (verdict, summary) = match (n, good == n) {
        (0, _) => (
            Verdict::Inconclusive,
            "no selected request was sent".to_owned(),
        ),
        (_, true) => (
            Verdict::Pass,
            format!("all {n} requests succeeded on attempt {}", check.attempts),
        ),
        (_, false) => (
            Verdict::Fail,
            format!(
                "{} of {n} requests did not succeed on attempt {}",
                n - good,
                check.attempts
            ),
        ),
    };
    Assertion {
        name: format!("retried to attempt {}", check.attempts),
        kind: "retried".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}
