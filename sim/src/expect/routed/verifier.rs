//! `routed`: every selected request reaches the named version. Zero
//! tolerance: a single request served elsewhere, or not served by an
//! endpoint at all, fails.
//!
//! - No false failures are possible: a correct proxy never leaks.
//! - One sample: a selected request.
//! - With n clean requests the leak rate is below 1 − alpha^(1/n) at
//!   confidence 1 − alpha (reported as the interval); Inconclusive when n is
//!   too small for that bound to reach `detect`.

use std::collections::BTreeMap;

use crate::ledger::Ledger;
use crate::stats::{self, Evidence, Share, Verdict};

use crate::verify::{Assertion, Confidence, Selection, percent, served};

/// A `routed` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedCheck {
    /// Which requests.
    pub selection: Selection,
    /// The version every one of them must reach.
    pub to: String,
    /// Alpha (for the leak-rate bound) and detect (the leak rate that must be excluded).
    pub confidence: Confidence,
}

/// Runs the check.
pub fn routed(ledger: &Ledger, check: &RoutedCheck) -> Assertion {
    let c = check.confidence;
    let sample = served(&ledger.entries, &check.selection);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut leaks: Vec<String> = Vec::new();
    for (entry, echo) in &sample.served {
        *counts.entry(echo.version.clone()).or_insert(0) += 1;
        if echo.version != check.to && leaks.len() < 10 {
            leaks.push(format!(
                "request {} reached {} ({})",
                entry.id, echo.pod, echo.version
            ));
        }
    }
    for (label, n) in &sample.unserved {
        counts.insert(format!("({label})"), *n);
    }
    let n: u64 = counts.values().sum();
    let wrong: u64 = counts
        .iter()
        .filter(|(v, _)| **v != check.to)
        .map(|(_, k)| k)
        .sum();
    let mut evidence = Evidence::new(
        "zero tolerance; leak-rate bound from 0 events in n",
        c.alpha,
        c.power,
        c.detect,
    )
    .with_counts(
        counts.iter().map(|(v, k)| (v.as_str(), *k)),
        [(check.to.as_str(), 1.0)],
    );
    evidence.statistic = Some(wrong as f64);
    let planned = Share::new(c.detect.get())
        .ok()
        .and_then(|q| stats::zero_event_trials(q, c.alpha).ok())
        .unwrap_or(0);
    let (verdict, summary) = if wrong > 0 {
        let elsewhere: Vec<String> = counts
            .iter()
            .filter(|(v, _)| **v != check.to)
            .map(|(v, k)| format!("{k} to {v}"))
            .collect();
        (
            Verdict::Fail,
            format!(
                "{wrong} of {n} requests did not reach {}: {}",
                check.to,
                elsewhere.join(", ")
            ),
        )
    } else if n < planned {
        (
            Verdict::Inconclusive,
            format!(
                "{n} requests all reached {}, but {planned} are needed to exclude a {} leak",
                check.to,
                percent(c.detect.get())
            ),
        )
    } else {
        let bound = stats::zero_event_upper(n, c.alpha);
        evidence.interval = Some((0.0, bound));
        (
            Verdict::Pass,
            format!(
                "all {n} requests reached {} (leak rate below {})",
                check.to,
                percent(bound)
            ),
        )
    };
    Assertion {
        name: String::new(),
        claim: format!("routed to {}", check.to),
        kind: "routed".to_owned(),
        verdict,
        summary,
        evidence,
        findings: leaks,
    }
}

impl crate::verify::Verifier for RoutedCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        routed(oracles.ledger, self)
    }
}
