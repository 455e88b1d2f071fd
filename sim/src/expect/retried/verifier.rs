//! `retried`: every selected request succeeded, and on exactly the given
//! attempt (a backend that succeeds after N failures, a proxy that retries
//! enough); or, with a `status`, every request came back with the status an
//! endpoint answered on that attempt (a status the proxy must not retry).
//! Zero tolerance: one request ending otherwise fails.
//!
//! The findings name each connection with misses first (a connection the
//! proxy closed fails every later request on it), then single requests.

use std::collections::BTreeMap;

use crate::ledger::{Entry, Ledger, Outcome};
use crate::stats::{Evidence, Verdict};

use crate::verify::{Assertion, Confidence, Selection};

/// A `retried` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct RetriedCheck {
    /// Which requests.
    pub selection: Selection,
    /// The attempt every request must end on.
    pub attempts: u32,
    /// The status the endpoint answers on that attempt and the client gets;
    /// `None` for success.
    pub status: Option<u32>,
    /// Alpha, power, detect (for the evidence only: the check is deterministic).
    pub confidence: Confidence,
}

/// At most this many connections, and this many requests, are named.
const NAMED: usize = 10;

/// The misses of one connection: how many of its selected requests, and
/// the first miss with why.
#[derive(Default)]
struct Misses<'a> {
    selected: u64,
    missed: u64,
    first: Option<(&'a Entry, String)>,
}

/// How a request ended, with the reason of a failure.
fn detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::ProtocolError(reason) | Outcome::ConnectionError(reason) => {
            format!("{}: {reason}", outcome.label())
        }
        other => other.label(),
    }
}

/// Runs the check.
pub fn retried(ledger: &Ledger, check: &RetriedCheck) -> Assertion {
    let ending = check
        .status
        .map_or_else(|| "success".to_owned(), |status| status.to_string());
    let expected = format!("{ending} on attempt {}", check.attempts);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut requests = Vec::new();
    let mut connections: BTreeMap<u64, Misses> = BTreeMap::new();
    for entry in ledger.entries.iter().filter(|e| check.selection.keeps(e)) {
        let label = match &entry.outcome {
            Outcome::Response {
                success: true,
                served_by: Some(echo),
                ..
            } => format!("success on attempt {}", echo.attempt),
            Outcome::Response {
                code,
                served_by: Some(echo),
                ..
            } if check.status.is_some() => format!("{code} on attempt {}", echo.attempt),
            other => other.label(),
        };
        let misses = connections.entry(entry.connection).or_default();
        misses.selected += 1;
        if label != expected {
            misses.missed += 1;
            let why = match &entry.outcome {
                Outcome::Response {
                    served_by: Some(_), ..
                } if label.contains(" on attempt ") => label.clone(),
                Outcome::Response { success: true, .. } => label.clone(),
                other => detail(other),
            };
            if requests.len() < NAMED {
                requests.push(format!("request {}: {why}", entry.id));
            }
            misses.first.get_or_insert((entry, why));
        }
        *counts.entry(label).or_insert(0) += 1;
    }
    let mut findings: Vec<String> = connections
        .iter()
        .filter_map(|(id, m)| {
            let (entry, why) = m.first.as_ref()?;
            Some(format!(
                "connection {id}: {} of {} requests missed, the first {}: {why}",
                m.missed, m.selected, entry.id
            ))
        })
        .take(NAMED)
        .collect();
    findings.extend(requests);
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
            format!("all {n} requests ended in {expected}"),
        ),
        (_, false) => (
            Verdict::Fail,
            format!("{} of {n} requests did not end in {expected}", n - good),
        ),
    };
    let claim = match check.status {
        None => format!("retried to attempt {}", check.attempts),
        Some(status) => format!("{status} after attempt {}", check.attempts),
    };
    Assertion {
        name: String::new(),
        claim,
        kind: "retried".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

impl crate::verify::Verifier for RetriedCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        retried(oracles.ledger, self)
    }
}
