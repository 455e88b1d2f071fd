//! `mirrored`: a fraction of the selected requests is copied to the mirror
//! version, and no client ever sees the mirror's answer.
//!
//! - One sample: a selected request its client saw answered by an endpoint;
//!   it is mirrored when a copy of it (same request id) arrived at an
//!   endpoint of the mirror version (the join of ledger and endpoint records).
//! - Deterministic part: an answer from the mirror version reaching a client fails.
//! - Statistical part: the mirrored fraction, by [`crate::verify::fraction`].

use std::collections::BTreeSet;

use crate::fleet::Record;
use crate::ledger::Ledger;
use crate::stats::Verdict;

use crate::verify::{Counted, fraction};
use crate::verify::{Assertion, Confidence, Selection, served};

/// A `mirrored` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct MirroredCheck {
    /// Which requests.
    pub selection: Selection,
    /// The service copies go to (the mirror target; the requests' own by default).
    pub service: String,
    /// Its version copies go to.
    pub to: String,
    /// The configured mirror fraction.
    pub fraction: f64,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

/// Runs the check against the ledger and what the endpoints received.
pub fn mirrored(ledger: &Ledger, received: &[Record], check: &MirroredCheck) -> Assertion {
    let sample = served(&ledger.entries, &check.selection);
    let leaked: Vec<String> = sample
        .served
        .iter()
        .filter(|(_, echo)| echo.service == check.service && echo.version == check.to)
        .map(|(entry, echo)| {
            format!(
                "request {} was answered to its client by the mirror {}",
                entry.id, echo.pod
            )
        })
        .collect();
    let joined = ledger.join(received);
    let copied: BTreeSet<&str> = joined
        .copies
        .iter()
        .filter(|r| r.endpoint.service == check.service && r.endpoint.version == check.to)
        .filter_map(|r| r.request_id.as_deref())
        .collect();
    let n = sample.served.len() as u64;
    let k = sample
        .served
        .iter()
        .filter(|(entry, _)| copied.contains(entry.id.as_str()))
        .count() as u64;
    let counted = Counted {
        name: format!("mirrored to {}", check.to),
        kind: "mirrored",
        property: format!("mirrored to {}", check.to),
        k,
        n,
        expected: check.fraction,
    };
    let mut assertion = fraction(counted, check.confidence, Vec::new());
    if !leaked.is_empty() {
        assertion.verdict = Verdict::Fail;
        assertion.summary = format!("{} mirror answers reached clients", leaked.len());
        assertion.findings = leaked.into_iter().take(10).collect();
    }
    assertion
}

impl crate::verify::Verifier for MirroredCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        mirrored(oracles.ledger, oracles.records, self)
    }
}
