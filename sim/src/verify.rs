//! What verdicts are made of: the oracles a run collected, the [`Check`]
//! each expectation becomes ([`Verifier`]), the [`Assertion`] it yields,
//! and the statistical tests several kinds share. Each kind's own verifier
//! lives with the rest of the kind in [`crate::expect`]. A verifier states
//! its null hypothesis, what one sample is, its alpha, the deviation it
//! detects with its power, and when it answers Inconclusive (too few
//! samples for the plan) instead of Pass.
//!
//! - [`distribution`]: weighted shares (`split`, `balanced`, `connections`):
//!   pooled exact share tests, or exact per-connection fits with Holm over
//!   the connections.
//! - `fraction`: a property's share (used for faults, rejections, mirrors).
//! - `property`: faults (abort, delay or both) and rejections, as shares or counts.
//! - [`sequential`]: `split` and fractions tested request by request, stopping
//!   the run early when decisive (`confidence.mode: sequential`).
//! - the zero-tolerance verdict (`every_one`) and the served/unserved
//!   split of a selection that the kinds' verifiers share.

mod check;
pub mod distribution;
mod fraction;
mod property;
pub mod sequential;

use std::collections::BTreeMap;

use serde::Serialize;

pub use check::{Check, Claim, Oracles, Verifier};
pub use distribution::{Per, Tally};
pub use fraction::{Counted, fraction};
pub use property::{
    CountCheck, FractionCheck, FractionMonitor, Part, Parts, Property, count, fraction_check,
};
pub use sequential::{Mode, Monitor, SequentialShares, SplitMonitor};

use crate::fleet::Echo;
use crate::ledger::Entry;
use crate::stats::{Alpha, Deviation, Evidence, Power, Verdict};

/// The statistical defaults of a scenario (and each expectation's overrides).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Confidence {
    /// False-failure probability per assertion.
    pub alpha: Alpha,
    /// Power against `detect`.
    pub power: Power,
    /// The smallest deviation that must be caught.
    pub detect: Deviation,
    /// Fixed-n or sequential.
    pub mode: Mode,
}

/// Which requests an expectation is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Workload clients, by index (empty: every client).
    pub clients: Vec<usize>,
    /// Request classes (empty: every class).
    pub classes: Vec<String>,
    /// Only requests sent in this routing phase (and not overlapping a switch).
    pub phase: Option<usize>,
}

impl Selection {
    /// Whether `entry` is one of the selected requests.
    pub fn keeps(&self, entry: &Entry) -> bool {
        let client = self.clients.is_empty() || self.clients.contains(&entry.client);
        let class = client && (self.classes.is_empty() || self.classes.contains(&entry.class));
        let phase = self
            .phase
            .is_none_or(|p| entry.phase == p && !entry.switching);
        class && phase
    }

    /// Like [`Selection::keeps`], with the requests in flight while the
    /// routing switched into the phase too (either routing may have served
    /// them). What a switch sets off, such as an ejection, may begin there.
    pub fn keeps_or_switching_in(&self, entry: &Entry) -> bool {
        let phase = self
            .phase
            .is_none_or(|p| entry.phase == p || (entry.switching && entry.phase + 1 == p));
        phase
            && Selection {
                phase: None,
                ..self.clone()
            }
            .keeps(entry)
    }
}

/// One expectation's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assertion {
    /// The expectation's name: the `name:` written in the scenario, or the
    /// kind and its place in `expect` (`split-2`). Set by [`Assertion::named`].
    pub name: String,
    /// What the verifier checked, in a phrase (`split v1=20 v2=80 per run`).
    pub claim: String,
    /// The expectation kind (`split`, `balanced`, …).
    pub kind: String,
    /// Pass, fail, inconclusive, unsupported or error.
    pub verdict: Verdict,
    /// One sentence saying why.
    pub summary: String,
    /// The numbers behind the verdict.
    pub evidence: Evidence,
    /// Specific findings (the pinned connections, the leaked requests…).
    pub findings: Vec<String>,
}

impl Assertion {
    /// A passing assertion of `kind` stating `claim`, with its evidence and
    /// no findings yet; unnamed until [`Assertion::named`].
    pub fn new(kind: &str, claim: String, evidence: Evidence) -> Assertion {
        Assertion {
            name: String::new(),
            claim,
            kind: kind.to_owned(),
            verdict: Verdict::Pass,
            summary: String::new(),
            evidence,
            findings: Vec::new(),
        }
    }

    /// An assertion whose test could not run.
    pub fn error(claim: String, kind: &str, summary: String) -> Assertion {
        Assertion {
            verdict: Verdict::Error,
            summary,
            ..Assertion::new(
                kind,
                claim,
                Evidence::new("none", Alpha::DEFAULT, Power::DEFAULT, Deviation::DEFAULT),
            )
        }
    }

    /// The assertion under the expectation's name.
    pub fn named(mut self, name: &str) -> Assertion {
        self.name = name.to_owned();
        self
    }
}

/// The verdict of a zero-tolerance check: `counts` per label, of which
/// `expected` is the only right one. `wanted` finishes "all n requests …"
/// and `missed` finishes "k of n requests …".
pub(crate) fn every_one(
    counts: impl IntoIterator<Item = (String, u64)>,
    expected: &str,
    confidence: Confidence,
    phrases: (&str, &str),
) -> (Verdict, String, Evidence) {
    every_one_of(
        ("request", "requests"),
        counts,
        expected,
        confidence,
        phrases,
    )
}

/// [`every_one`], counting another unit than requests, named in the
/// singular and the plural (`("heartbeat", "heartbeats")`).
pub(crate) fn every_one_of(
    (one, unit): (&str, &str),
    counts: impl IntoIterator<Item = (String, u64)>,
    expected: &str,
    confidence: Confidence,
    (wanted, missed): (&str, &str),
) -> (Verdict, String, Evidence) {
    let counts: BTreeMap<String, u64> = counts.into_iter().collect();
    let n: u64 = counts.values().sum();
    let good = counts.get(expected).copied().unwrap_or(0);
    let c = confidence;
    let evidence = Evidence::new("zero tolerance", c.alpha, c.power, c.detect).with_counts(
        counts.iter().map(|(l, k)| (l.as_str(), *k)),
        [(expected, 1.0)],
    );
    let (verdict, summary) = match (n, good == n) {
        (0, _) => (Verdict::Inconclusive, format!("no selected {one} was sent")),
        (_, true) => (Verdict::Pass, format!("all {n} {unit} {wanted}")),
        (_, false) => (
            Verdict::Fail,
            format!("{} of {n} {unit} {missed}", n - good),
        ),
    };
    (verdict, summary, evidence)
}

/// Served requests of the selection: (entry, who served it). Requests
/// without an endpoint answer are counted apart as `unserved`.
pub(crate) struct Served<'a> {
    /// Each served request and who served it.
    pub(crate) served: Vec<(&'a Entry, &'a Echo)>,
    /// The others, by outcome.
    pub(crate) unserved: BTreeMap<String, u64>,
}

/// The selected requests of `entries`, split into served and unserved.
pub(crate) fn served<'a>(entries: &'a [Entry], selection: &Selection) -> Served<'a> {
    let mut result = Served {
        served: Vec::new(),
        unserved: BTreeMap::new(),
    };
    for entry in entries.iter().filter(|e| selection.keeps(e)) {
        match entry.outcome.served_by() {
            Some(echo) => result.served.push((entry, echo)),
            None => *result.unserved.entry(entry.outcome.label()).or_insert(0) += 1,
        }
    }
    result
}

/// A finding line for requests that got no answer from an endpoint.
pub(crate) fn unserved_finding(unserved: &BTreeMap<String, u64>) -> Option<String> {
    if unserved.is_empty() {
        return None;
    }
    let parts: Vec<String> = unserved
        .iter()
        .map(|(label, n)| format!("{n} {label}"))
        .collect();
    Some(format!(
        "requests without an endpoint answer: {}",
        parts.join(", ")
    ))
}

/// Percent with at most two decimals, for summaries.
pub(crate) fn percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests;
