//! `received`: every selected request arrived at its endpoint with the
//! given attributes, as the endpoint recorded them (the proxy's rewrites and
//! header changes applied). Zero tolerance: one arrival without them, or a
//! selected request that never arrived, fails.
//!
//! The ledger and the endpoint records are joined by request id; every
//! arrival of a request counts (a retried request must arrive rewritten
//! every time).

use std::collections::BTreeMap;

use crate::fleet::Record;
use crate::ledger::Ledger;

use crate::verify::{Assertion, Confidence, Selection, every_one};

/// A `received` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedCheck {
    /// Which requests.
    pub selection: Selection,
    /// Attribute and the exact value every arrival must carry.
    pub attributes: Vec<(String, String)>,
    /// Alpha, power, detect (for the evidence only: the check is deterministic).
    pub confidence: Confidence,
}

impl ReceivedCheck {
    /// The first expected attribute `record` lacks, with what it had.
    fn mismatch(&self, record: &Record) -> Option<String> {
        self.attributes.iter().find_map(|(name, want)| {
            let got = record
                .attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str());
            (got != Some(want.as_str())).then(|| {
                format!(
                    "{name} was {:?}, expected {want:?}",
                    got.unwrap_or("absent")
                )
            })
        })
    }
}

/// Runs the check.
pub fn received(ledger: &Ledger, records: &[Record], check: &ReceivedCheck) -> Assertion {
    let mut arrivals: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for record in records {
        if let Some(id) = &record.request_id {
            arrivals.entry(id.as_str()).or_default().push(record);
        }
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut findings = Vec::new();
    for entry in ledger.entries.iter().filter(|e| check.selection.keeps(e)) {
        let label = match arrivals.get(entry.id.as_str()) {
            None => {
                note(&mut findings, format!("request {} never arrived", entry.id));
                "never arrived"
            }
            Some(records) => match records.iter().find_map(|r| check.mismatch(r)) {
                Some(why) => {
                    note(&mut findings, format!("request {}: {why}", entry.id));
                    "arrived otherwise"
                }
                None => "arrived as expected",
            },
        };
        *counts.entry(label).or_insert(0) += 1;
    }
    let wanted = describe(&check.attributes);
    let (verdict, summary, evidence) = every_one(
        counts.into_iter().map(|(l, k)| (l.to_owned(), k)),
        "arrived as expected",
        check.confidence,
        (
            &format!("arrived with {wanted}"),
            &format!("did not arrive with {wanted}"),
        ),
    );
    Assertion {
        name: String::new(),
        claim: format!("received {wanted}"),
        kind: "received".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

/// Keeps the first ten findings: enough to see the pattern.
fn note(findings: &mut Vec<String>, line: String) {
    if findings.len() < 10 {
        findings.push(line);
    }
}

fn describe(attributes: &[(String, String)]) -> String {
    let parts: Vec<String> = attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(" ")
}

impl crate::verify::Verifier for ReceivedCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        received(oracles.ledger, oracles.records, self)
    }
}
