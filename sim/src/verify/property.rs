//! `fault` and `rejected`: the share (or count) of selected requests with a
//! property: answered with a status, or delayed by at least a duration.
//!
//! - A fault claims an abort share, a delay share, or both. With both, each
//!   share is tested at alpha/2 (Bonferroni) and the assertion takes the
//!   worse verdict, so a proxy that aborts as configured but never delays
//!   fails on the delay.
//! - Each share: [`super::fraction`] (exact two-sided binomial) in fixed
//!   mode; a truncated SPRT per share in sequential mode, replayed in send
//!   order as the live monitor saw it.
//! - A count (`rejected: {exactly | at_least and/or at_most}`) is deterministic.

use std::time::Duration;

use crate::ledger::{Entry, Ledger, Outcome};
use crate::stats::{Decision, Evidence, StatsError, Verdict};

use super::sequential::{self, Monitor, SequentialShares};
use super::{Assertion, Confidence, Counted, Mode, Selection, fraction};

/// What a request must show to count.
#[derive(Debug, Clone, PartialEq)]
pub enum Property {
    /// Answered with this status (HTTP status, Dubbo status, Thrift exception kind).
    Status(String),
    /// Took at least this long.
    Delayed(Duration),
}

impl Property {
    /// Whether `entry` has it.
    pub fn holds(&self, entry: &Entry) -> bool {
        match (self, &entry.outcome) {
            (Property::Status(status), Outcome::Response { code, .. }) => code == status,
            (Property::Status(_), _) => false,
            (Property::Delayed(by), _) => entry.service_time >= *by,
        }
    }

    /// It, in words: "answered 503".
    pub fn describe(&self) -> String {
        match self {
            Property::Status(status) => format!("answered {status}"),
            Property::Delayed(by) => format!("delayed by {by:?} or more"),
        }
    }
}

/// One claimed share: requests with `property` make up `fraction` of the selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The property.
    pub property: Property,
    /// The configured share, in [0, 1].
    pub fraction: f64,
}

/// The shares a fraction check claims: one, or two tested together.
#[derive(Debug, Clone, PartialEq)]
pub enum Parts {
    /// A single share (an abort, a delay, a rejection rate).
    One(Part),
    /// Two shares of the same requests (a fault's abort and delay).
    Two(Part, Part),
}

impl Parts {
    /// The shares, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Part> {
        let (first, second) = match self {
            Parts::One(a) => (a, None),
            Parts::Two(a, b) => (a, Some(b)),
        };
        std::iter::once(first).chain(second)
    }

    fn len(&self) -> usize {
        match self {
            Parts::One(_) => 1,
            Parts::Two(..) => 2,
        }
    }
}

/// A share of requests with a property: faults and rejections.
#[derive(Debug, Clone, PartialEq)]
pub struct FractionCheck {
    /// Its kind (`fault`, `rejected`).
    pub kind: &'static str,
    /// Which requests.
    pub selection: Selection,
    /// What is claimed.
    pub parts: Parts,
    /// Alpha, power, detect (alpha is split over the shares).
    pub confidence: Confidence,
}

impl FractionCheck {
    /// The levels each share is tested at: alpha split over the shares.
    pub fn share_confidence(&self) -> Confidence {
        Confidence {
            alpha: self.confidence.alpha.split(self.parts.len()),
            ..self.confidence
        }
    }

    /// What it claims, in a phrase: `fault answered 503 50%, delayed by 1s 50%`.
    pub fn claim(&self) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|s| format!("{} {}", s.property.describe(), super::percent(s.fraction)))
            .collect();
        format!("{} {}", self.kind, parts.join(", "))
    }

    /// The live monitors of its shares, in sequential mode.
    ///
    /// # Errors
    /// When a fraction or the levels cannot make a test.
    pub fn monitor(&self) -> Result<FractionMonitor, StatsError> {
        let c = self.share_confidence();
        let parts = self
            .parts
            .iter()
            .map(|share| ShareMonitor::new(&self.selection, share, c))
            .collect::<Result<_, _>>()?;
        Ok(FractionMonitor { parts })
    }
}

/// Verifies `check` on the ledger.
pub fn fraction_check(ledger: &Ledger, check: &FractionCheck) -> Assertion {
    let parts: Vec<Assertion> = if check.confidence.mode == Mode::Sequential {
        match check.monitor() {
            Ok(monitor) => monitor.replay(ledger, check),
            Err(e) => {
                let summary = format!("the sequential test could not run: {e}");
                return Assertion::error(check.claim(), check.kind, summary);
            }
        }
    } else {
        check
            .parts
            .iter()
            .map(|share| fixed(ledger, check, share))
            .collect()
    };
    merge(check, parts)
}

fn fixed(ledger: &Ledger, check: &FractionCheck, share: &Part) -> Assertion {
    let (k, n) = count_with(ledger, &check.selection, &share.property);
    let counted = Counted {
        name: check.claim(),
        kind: check.kind,
        property: share.property.describe(),
        k,
        n,
        expected: share.fraction,
    };
    fraction(counted, check.share_confidence(), Vec::new())
}

/// One assertion from the shares' own: the worst verdict, every summary.
fn merge(check: &FractionCheck, mut parts: Vec<Assertion>) -> Assertion {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let verdict = Verdict::merge_all(parts.iter().map(|a| a.verdict));
    let summary = parts
        .iter()
        .map(|a| a.summary.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut merged = parts.remove(0);
    merged.evidence.p_value = merged
        .evidence
        .p_value
        .into_iter()
        .chain(parts.iter().filter_map(|a| a.evidence.p_value))
        .reduce(f64::min)
        .map(|p| (p * check.parts.len() as f64).min(1.0));
    merged.evidence.alpha = check.confidence.alpha;
    // The counts shown are the first share's; the summary has every share's.
    for part in parts {
        merged.findings.extend(part.findings);
    }
    merged.verdict = verdict;
    merged.summary = summary;
    merged
}

/// How many selected requests have `property`, and how many were selected.
fn count_with(ledger: &Ledger, selection: &Selection, property: &Property) -> (u64, u64) {
    ledger
        .entries
        .iter()
        .filter(|e| selection.keeps(e))
        .fold((0, 0), |(k, n), e| {
            (k + u64::from(property.holds(e)), n + 1)
        })
}

/// The live monitor of one share: each selected request has the property or not.
#[derive(Debug, Clone)]
struct ShareMonitor {
    selection: Selection,
    property: Property,
    shares: SequentialShares,
}

impl ShareMonitor {
    /// The labels of the two outcomes.
    const LABELS: [&'static str; 2] = ["with", "without"];

    fn new(selection: &Selection, share: &Part, c: Confidence) -> Result<Self, StatsError> {
        let [with, without] = Self::LABELS.map(str::to_owned);
        let weights = [(with, share.fraction), (without, 1.0 - share.fraction)];
        Ok(ShareMonitor {
            selection: selection.clone(),
            property: share.property.clone(),
            shares: SequentialShares::new(&weights, c)?,
        })
    }

    fn observe(&mut self, entry: &Entry) {
        if self.selection.keeps(entry) {
            let label = Self::LABELS[usize::from(!self.property.holds(entry))];
            self.shares.observe(label, sequential::ended_at(entry));
        }
    }
}

/// The live monitor of a [`FractionCheck`]: decided once every share is.
#[derive(Debug, Clone)]
pub struct FractionMonitor {
    parts: Vec<ShareMonitor>,
}

impl FractionMonitor {
    /// The ledger replayed in send order, each share stopping where the
    /// live monitor stopped it; one assertion per share.
    fn replay(mut self, ledger: &Ledger, check: &FractionCheck) -> Vec<Assertion> {
        for entry in sequential::in_send_order(&ledger.entries) {
            for part in self
                .parts
                .iter_mut()
                .filter(|p| p.shares.decision() == Decision::Continue)
            {
                part.observe(entry);
            }
            if self.decision() != Decision::Continue {
                break;
            }
        }
        let c = check.share_confidence();
        self.parts
            .iter()
            .map(|part| part.shares.assertion(check.claim(), check.kind, c))
            .collect()
    }
}

impl Monitor for FractionMonitor {
    fn observe(&mut self, entry: &Entry) {
        for part in self
            .parts
            .iter_mut()
            .filter(|p| p.shares.decision() == Decision::Continue)
        {
            part.observe(entry);
        }
    }

    fn decision(&self) -> Decision {
        let decisions = self.parts.iter().map(|p| p.shares.decision());
        if decisions.clone().any(|d| d == Decision::RejectH0) {
            Decision::RejectH0
        } else if decisions.clone().all(|d| d == Decision::AcceptH0) {
            Decision::AcceptH0
        } else {
            Decision::Continue
        }
    }
}

/// A deterministic count of requests answered with a status (rejections):
/// within `[least, most]` (exactly one number when they are equal).
#[derive(Debug, Clone, PartialEq)]
pub struct CountCheck {
    /// Which requests.
    pub selection: Selection,
    /// The status counted.
    pub status: String,
    /// The fewest right.
    pub least: u64,
    /// The most right; `None`: no upper bound.
    pub most: Option<u64>,
}

impl CountCheck {
    fn wanted(&self) -> String {
        match self.most {
            Some(most) if most == self.least => format!("exactly {most}"),
            Some(most) if self.least == 0 => format!("at most {most}"),
            Some(most) => format!("{} to {most}", self.least),
            None => format!("at least {}", self.least),
        }
    }
}

/// Verifies a count.
pub fn count(ledger: &Ledger, check: &CountCheck) -> Assertion {
    let property = Property::Status(check.status.clone());
    let (k, n) = count_with(ledger, &check.selection, &property);
    let evidence = Evidence::new(
        "deterministic count",
        Default::default(),
        Default::default(),
        Default::default(),
    )
    .with_counts([("rejected", k), ("other", n - k)], [("rejected", 1.0)]);
    let wanted = check.wanted();
    let mut assertion = Assertion::new("rejected", format!("rejected {wanted}"), evidence);
    let holds = k >= check.least && check.most.is_none_or(|most| k <= most);
    assertion.verdict = Verdict::from_rejection(!holds);
    assertion.summary = format!(
        "{k} of {n} requests answered {}, {wanted} expected",
        check.status
    );
    assertion
}

impl super::Verifier for FractionCheck {
    fn verify(&self, oracles: &super::Oracles<'_>) -> Assertion {
        fraction_check(oracles.ledger, self)
    }

    fn monitor(&self) -> Option<Box<dyn super::Monitor>> {
        if self.confidence.mode != super::Mode::Sequential {
            return None;
        }
        FractionCheck::monitor(self)
            .ok()
            .map(|m| Box::new(m) as Box<dyn super::Monitor>)
    }
}

impl super::Verifier for CountCheck {
    fn verify(&self, oracles: &super::Oracles<'_>) -> Assertion {
        count(oracles.ledger, self)
    }
}
