//! `redirected`: every selected request is answered by the proxy itself
//! with the redirect status and exactly the expected `location`, and no
//! endpoint served it. Zero tolerance: one other answer fails.

use std::collections::BTreeMap;

use crate::ledger::{Entry, Ledger, Outcome};

use crate::verify::{Assertion, Confidence, Selection, every_one};

/// A `redirected` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct RedirectedCheck {
    /// Which requests.
    pub selection: Selection,
    /// The redirect status, e.g. `301`.
    pub status: String,
    /// The exact `location`.
    pub location: String,
    /// Alpha, power, detect (for the evidence only: the check is deterministic).
    pub confidence: Confidence,
}

const EXPECTED: &str = "redirected as expected";

impl RedirectedCheck {
    /// How `entry` was answered, `EXPECTED` when as the check says.
    fn label(&self, entry: &Entry) -> String {
        match &entry.outcome {
            Outcome::Response {
                served_by: Some(echo),
                ..
            } => format!("served by {}", echo.version),
            Outcome::Response { code, location, .. }
                if *code == self.status && location.as_deref() == Some(self.location.as_str()) =>
            {
                EXPECTED.to_owned()
            }
            Outcome::Response {
                code,
                location: Some(location),
                ..
            } => format!("{code} to {location}"),
            other => other.label(),
        }
    }
}

/// Runs the check.
pub fn redirected(ledger: &Ledger, check: &RedirectedCheck) -> Assertion {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut findings = Vec::new();
    for entry in ledger.entries.iter().filter(|e| check.selection.keeps(e)) {
        let label = check.label(entry);
        if label != EXPECTED && findings.len() < 10 {
            findings.push(format!("request {}: {label}", entry.id));
        }
        *counts.entry(label).or_insert(0) += 1;
    }
    let target = format!("{} to {}", check.status, check.location);
    let (verdict, summary, evidence) = every_one(
        counts,
        EXPECTED,
        check.confidence,
        (
            &format!("were redirected {target}"),
            &format!("were not redirected {target}"),
        ),
    );
    Assertion {
        name: String::new(),
        claim: format!("redirected {target}"),
        kind: "redirected".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

impl crate::verify::Verifier for RedirectedCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        redirected(oracles.ledger, self)
    }
}
