//! `latency`: quantile bounds on the selected requests' latency (from the
//! intended start, so coordinated omission cannot flatter a proxy).
//!
//! - `below q: B`: null hypothesis "the q-quantile is at most B", so each
//!   request exceeds B with probability at most 1 − q; it fails when the
//!   exceedances are too many for that at alpha (exact one-sided binomial).
//! - `above q: B`: symmetric, on requests faster than B.
//! - Alpha is split over the bounds (Bonferroni).

use std::time::Duration;

use crate::ledger::Ledger;
use crate::stats::{self, Evidence, Share, Tail, Verdict};

use crate::verify::{Assertion, Confidence, Selection};

/// A `latency` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyCheck {
    /// Which requests.
    pub selection: Selection,
    /// Only requests answered by this version, if given.
    pub version: Option<String>,
    /// (quantile, bound): the quantile must be at most the bound.
    pub below: Vec<(f64, Duration)>,
    /// (quantile, bound): the quantile must be at least the bound.
    pub above: Vec<(f64, Duration)>,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

/// Runs the check.
pub fn latency(ledger: &Ledger, check: &LatencyCheck) -> Assertion {
    let latencies: Vec<Duration> = ledger
        .entries
        .iter()
        .filter(|e| check.selection.keeps(e))
        .filter(|e| {
            check
                .version
                .as_ref()
                .is_none_or(|v| e.outcome.served_by().is_some_and(|echo| &echo.version == v))
        })
        .map(|e| e.latency)
        .collect();
    let n = latencies.len() as u64;
    let c = check.confidence;
    let bounds = (check.below.len() + check.above.len()).max(1);
    let alpha = c.alpha.split(bounds);
    let mut evidence = Evidence::new(
        "exact one-sided binomial per quantile bound, Bonferroni",
        c.alpha,
        c.power,
        c.detect,
    );
    let mut findings = Vec::new();
    let mut worst: Option<f64> = None;
    let mut failed = Vec::new();
    let tests = check
        .below
        .iter()
        .map(|(q, bound)| (*q, *bound, true))
        .chain(check.above.iter().map(|(q, bound)| (*q, *bound, false)));
    for (q, bound, below) in tests {
        let (k, p0) = if below {
            (
                latencies.iter().filter(|l| **l > bound).count() as u64,
                1.0 - q,
            )
        } else {
            (latencies.iter().filter(|l| **l < bound).count() as u64, q)
        };
        let p = Share::new(p0)
            .ok()
            .and_then(|p0| stats::binomial_test(k, n, p0, Tail::Upper).ok())
            .map(|t| t.p_value);
        let Some(p) = p else { continue };
        worst = Some(worst.map_or(p, |w: f64| w.min(p)));
        let relation = if below { "above" } else { "below" };
        let line = format!(
            "p{}: {k} of {n} requests {relation} {bound:?} (at most {:.2}% allowed), p = {p:.3e}",
            q * 100.0,
            p0 * 100.0
        );
        if p < alpha.get() {
            failed.push(line.clone());
        }
        findings.push(line);
    }
    evidence.n = n;
    evidence.p_value = worst;
    let (verdict, summary) = if n == 0 {
        (
            Verdict::Inconclusive,
            "no selected request was answered".to_owned(),
        )
    } else if let Some(first) = failed.first() {
        (Verdict::Fail, first.clone())
    } else {
        (
            Verdict::Pass,
            format!(
                "{n} requests within their quantile bounds at alpha {:e}",
                c.alpha.get()
            ),
        )
    };
    Assertion {
        name: String::new(),
        claim: "latency".to_owned(),
        kind: "latency".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

impl crate::verify::Verifier for LatencyCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        latency(oracles.ledger, self)
    }
}
