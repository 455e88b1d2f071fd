//! `ejected`: outlier detection takes a failing endpoint out of the pool.
//!
//! - The failing endpoints are those of one version (or one replica of it);
//!   they start failing when the first error answer from one of them ends,
//!   counting the requests in flight while the phase's routing was applied:
//!   a proxy may eject on a failure it saw during the switch, and the clock
//!   then starts there.
//! - Property: no selected request *started* more than `within` after that
//!   reaches a failing endpoint (requests already in flight may still land).
//!   Zero tolerance: one such request fails. The run must stay shorter than
//!   the ejection time, or the endpoint is rightly back in the pool.
//! - Inconclusive when the endpoints never failed (nothing to eject) or no
//!   request started after the window, so ejection was never put to the test.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ledger::{Entry, Ledger};
use crate::stats::{Evidence, Verdict};

use crate::verify::sequential::ended_at;
use crate::verify::{Assertion, Confidence, Selection};

/// An `ejected` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct EjectedCheck {
    /// Which requests.
    pub selection: Selection,
    /// The version of the failing endpoints.
    pub version: String,
    /// The failing endpoints' pods; empty: every endpoint of the version.
    pub pods: Vec<String>,
    /// How long after the first failure ejection may take.
    pub within: Duration,
    /// Alpha, power, detect (for the evidence only: the check is deterministic).
    pub confidence: Confidence,
}

impl EjectedCheck {
    fn is_failing_endpoint(&self, entry: &Entry) -> bool {
        entry.outcome.served_by().is_some_and(|echo| {
            echo.version == self.version && (self.pods.is_empty() || self.pods.contains(&echo.pod))
        })
    }
}

/// Runs the check.
pub fn ejected(ledger: &Ledger, check: &EjectedCheck) -> Assertion {
    let selected: Vec<&Entry> = ledger
        .entries
        .iter()
        .filter(|e| check.selection.keeps(e))
        .collect();
    let name = format!("{} ejected within {:?}", check.version, check.within);
    let first_failure = ledger
        .entries
        .iter()
        .filter(|e| check.selection.keeps_or_switching_in(e))
        .filter(|e| check.is_failing_endpoint(e) && !e.outcome.is_success())
        .map(ended_at)
        .min();
    let c = check.confidence;
    let evidence = Evidence::new("zero tolerance", c.alpha, c.power, c.detect);
    let Some(failed_at) = first_failure else {
        return Assertion {
            name: String::new(),
            claim: name,
            kind: "ejected".to_owned(),
            verdict: Verdict::Inconclusive,
            summary: format!("no endpoint of {} ever failed", check.version),
            evidence,
            findings: Vec::new(),
        };
    };
    let deadline = failed_at + check.within;
    let after: Vec<&Entry> = selected
        .into_iter()
        .filter(|e| e.intended >= deadline)
        .collect();
    let reached: Vec<&&Entry> = after
        .iter()
        .filter(|e| check.is_failing_endpoint(e))
        .collect();
    let n = after.len() as u64;
    let k = reached.len() as u64;
    let evidence = evidence.with_counts(
        [("reached the failing endpoint", k), ("elsewhere", n - k)],
        [("elsewhere", 1.0)],
    );
    let findings = findings(failed_at, deadline, &reached);
    let (verdict, summary) = match (n, k) {
        (0, _) => (
            Verdict::Inconclusive,
            format!(
                "no request started after {:.3}s, {:?} after the first failure",
                deadline.as_secs_f64(),
                check.within
            ),
        ),
        (_, 0) => (
            Verdict::Pass,
            format!(
                "none of the {n} requests started {:?} after the first failure reached {}",
                check.within, check.version
            ),
        ),
        _ => (
            Verdict::Fail,
            format!(
                "{k} of {n} requests started {:?} after the first failure still reached {}",
                check.within, check.version
            ),
        ),
    };
    Assertion {
        name: String::new(),
        claim: name,
        kind: "ejected".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

fn findings(failed_at: Duration, deadline: Duration, reached: &[&&Entry]) -> Vec<String> {
    let mut lines = vec![format!(
        "first failure at {:.3}s; ejection due by {:.3}s",
        failed_at.as_secs_f64(),
        deadline.as_secs_f64()
    )];
    let mut per_pod: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in reached {
        if let Some(echo) = entry.outcome.served_by() {
            *per_pod.entry(echo.pod.as_str()).or_insert(0) += 1;
        }
    }
    lines.extend(
        per_pod
            .into_iter()
            .map(|(pod, k)| format!("{pod} still received {k} new requests")),
    );
    lines
}
