//! Sequential mode: the shares of a `split` (or of a fraction) are tested as
//! the requests end, and the run stops as soon as every test is decisive,
//! capped at the truncated SPRT's fixed-n size.
//!
//! - Null hypothesis: as in fixed mode, each sample falls in category i
//!   independently with probability p_i.
//! - Test: one truncated two-sided [`Sprt`] per share, at alpha / k over the
//!   k shares (Bonferroni; a 2-way split needs one test, the other share being
//!   its complement). A sample in a category of weight 0, or outside every
//!   category, rejects at once: that is deterministic. With no share strictly
//!   between 0 and 1 to test, the test accepts once the zero-leak plan for a
//!   leak rate of `detect` is met.
//! - Why it is valid to stop early: each SPRT's boundaries hold at every n
//!   (Ville's inequality), so looking after every request, and stopping the
//!   run whenever, does not inflate alpha.
//! - Samples are read in the order the requests were *sent* (`Entry::order`),
//!   never in the order they ended: that order depends on the outcome (a
//!   delayed request ends last, a slow version's answers trail a fast
//!   one's), so it is not a sequence of independent draws. The live monitor
//!   gets requests through [`SendOrder`], which holds an ended request back
//!   until every request sent before it has ended; the verdict replays the
//!   ledger sorted the same way, so both stop at the same sample.
//! - Inconclusive when the run ended before every test decided.

use std::time::Duration;

use serde::Serialize;

use crate::ledger::{Entry, Ledger};
use crate::stats::{self, Decision, Evidence, Share, Sprt, StatsError, Stop, Verdict};

use super::{Assertion, Confidence, Selection, percent};
use crate::expect::SplitCheck;

/// How an assertion consumes the run: all at once at the end, or request by
/// request with an early stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fixed-n test on every sample of the run.
    #[default]
    Fixed,
    /// A truncated SPRT per share that stops when decisive.
    Sequential,
}

/// A live test fed with requests as they end; the runner stops the workload
/// once every monitor of the run has decided.
pub trait Monitor: Send {
    /// Feeds one ended request (requests the test does not select are ignored).
    fn observe(&mut self, entry: &Entry);
    /// Where the test stands.
    fn decision(&self) -> Decision;
}

/// The sequential test of k shares.
#[derive(Debug, Clone)]
pub struct SequentialShares {
    labels: Vec<String>,
    expected: Vec<f64>,
    tests: Vec<(usize, Sprt)>,
    counts: Vec<u64>,
    stray: Option<String>,
    leak_plan: u64,
    n: u64,
    decision: Decision,
    stopped_at: Duration,
}

impl SequentialShares {
    /// A test that the shares of `labels` are `weights` (normalised).
    ///
    /// # Errors
    /// When the weights or the levels cannot make a test.
    pub fn new(weighted: &[(String, f64)], c: Confidence) -> Result<Self, StatsError> {
        let total: f64 = weighted.iter().map(|(_, w)| w.max(0.0)).sum();
        let expected: Vec<f64> = weighted
            .iter()
            .map(|(_, w)| if total > 0.0 { w.max(0.0) / total } else { 0.0 })
            .collect();
        let open: Vec<usize> = (0..expected.len())
            .filter(|&i| expected[i] > 0.0 && expected[i] < 1.0)
            .collect();
        // Two open shares of a 2-way split are complements: one test covers both.
        let tested: Vec<usize> = if open.len() == 2 && expected.len() == 2 {
            open[..1].to_vec()
        } else {
            open
        };
        let alpha = c.alpha.split(tested.len().max(1));
        let tests = tested
            .into_iter()
            .map(|i| {
                Ok((
                    i,
                    Sprt::new(Share::new(expected[i])?, c.detect, alpha, c.power)?,
                ))
            })
            .collect::<Result<Vec<_>, StatsError>>()?;
        let leak_plan = stats::plan::zero_leak(Share::new(c.detect.get())?, c.alpha)?.n;
        Ok(SequentialShares {
            labels: weighted.iter().map(|(l, _)| l.clone()).collect(),
            expected,
            tests,
            counts: vec![0; weighted.len()],
            stray: None,
            leak_plan,
            n: 0,
            decision: Decision::Continue,
            stopped_at: Duration::ZERO,
        })
    }

    /// Feeds one sample: the label it fell in, ended `at` from the run's start.
    pub fn observe(&mut self, label: &str, at: Duration) -> Decision {
        if self.decision != Decision::Continue {
            return self.decision;
        }
        self.n += 1;
        self.stopped_at = at;
        let Some(index) = self.labels.iter().position(|l| l == label) else {
            self.stray = Some(label.to_owned());
            self.decision = Decision::RejectH0;
            return self.decision;
        };
        self.counts[index] += 1;
        if self.expected[index] <= 0.0 {
            self.decision = Decision::RejectH0;
            return self.decision;
        }
        let decisions: Vec<Decision> = self
            .tests
            .iter_mut()
            .map(|(i, test)| test.observe(*i == index))
            .collect();
        self.decision = if decisions.contains(&Decision::RejectH0) {
            Decision::RejectH0
        } else if self.tests.is_empty() {
            if self.n >= self.leak_plan {
                Decision::AcceptH0
            } else {
                Decision::Continue
            }
        } else if decisions.iter().all(|d| *d == Decision::AcceptH0) {
            Decision::AcceptH0
        } else {
            Decision::Continue
        };
        self.decision
    }

    /// Where the test stands.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The truncation point: the most samples the test can need.
    pub fn cap(&self) -> u64 {
        self.tests
            .iter()
            .map(|(_, t)| t.cap())
            .max()
            .unwrap_or(self.leak_plan)
    }

    /// Where it stopped (or stands).
    pub fn stop(&self) -> Stop {
        Stop {
            n: self.n,
            cap: self.cap(),
            at_seconds: self.stopped_at.as_secs_f64(),
            decision: self.decision,
        }
    }

    /// The verdict with its evidence, for an assertion `name` of `kind`.
    pub fn assertion(&self, name: String, kind: &str, c: Confidence) -> Assertion {
        let method = format!(
            "truncated SPRT per share, Bonferroni over {}, checked after every request",
            self.tests.len().max(1)
        );
        let mut evidence = Evidence::new(method, c.alpha, c.power, c.detect).with_counts(
            self.labels
                .iter()
                .map(String::as_str)
                .zip(self.counts.iter().copied())
                .chain(self.stray.iter().map(|s| (s.as_str(), 1))),
            self.labels
                .iter()
                .map(String::as_str)
                .zip(self.expected.iter().copied()),
        );
        evidence.stop = Some(self.stop());
        let observed = self.observed();
        let (verdict, summary) = match (self.decision, &self.stray) {
            (Decision::RejectH0, Some(stray)) => (
                Verdict::Fail,
                format!("a request reached '{stray}', outside the expected shares"),
            ),
            (Decision::RejectH0, None) => (
                Verdict::Fail,
                format!("shares {observed} after {} samples, rejected early", self.n),
            ),
            (Decision::AcceptH0, _) => (
                Verdict::Pass,
                format!(
                    "shares {observed} accepted after {} of at most {} samples",
                    self.n,
                    self.cap()
                ),
            ),
            (Decision::Continue, _) => (
                Verdict::Inconclusive,
                format!(
                    "undecided when the run ended after {} of at most {} samples",
                    self.n,
                    self.cap()
                ),
            ),
        };
        Assertion {
            name: String::new(),
            claim: name,
            kind: kind.to_owned(),
            verdict,
            summary,
            evidence,
            findings: self.findings(),
        }
    }

    fn observed(&self) -> String {
        let parts: Vec<String> = self
            .labels
            .iter()
            .zip(&self.counts)
            .map(|(label, k)| format!("{label} {}", percent(share(*k, self.n))))
            .collect();
        parts.join(", ")
    }

    fn findings(&self) -> Vec<String> {
        self.labels
            .iter()
            .zip(&self.counts)
            .zip(&self.expected)
            .map(|((label, k), p)| {
                format!(
                    "{label}: {k} of {} = {} (expected {})",
                    self.n,
                    percent(share(*k, self.n)),
                    percent(*p)
                )
            })
            .collect()
    }
}

fn share(k: u64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

/// The entries in the order their requests were sent.
pub fn in_send_order(entries: &[Entry]) -> Vec<&Entry> {
    let mut ordered: Vec<&Entry> = entries.iter().collect();
    ordered.sort_by_key(|e| e.order);
    ordered
}

/// Ended requests put back in send order: each is released once every
/// request sent before it has ended (every request sent ends exactly once,
/// so nothing waits forever).
#[derive(Debug, Default)]
pub struct SendOrder {
    next: u64,
    waiting: std::collections::BTreeMap<u64, Entry>,
}

impl SendOrder {
    /// Takes one ended request and calls `release` on every request that is
    /// now next in send order.
    pub fn push(&mut self, entry: Entry, mut release: impl FnMut(&Entry)) {
        self.waiting.insert(entry.order, entry);
        while let Some(entry) = self.waiting.remove(&self.next) {
            release(&entry);
            self.next += 1;
        }
    }
}

/// When an ended request ended, from the run's start.
pub fn ended_at(entry: &Entry) -> Duration {
    entry.intended + entry.latency
}

/// The live monitor of a `split`.
#[derive(Debug, Clone)]
pub struct SplitMonitor {
    selection: Selection,
    shares: SequentialShares,
}

impl SplitMonitor {
    /// The monitor of `check`.
    ///
    /// # Errors
    /// When the weights or levels cannot make a test.
    pub fn new(check: &SplitCheck) -> Result<Self, StatsError> {
        Ok(SplitMonitor {
            selection: check.selection.clone(),
            shares: SequentialShares::new(&check.weights, check.confidence)?,
        })
    }
}

impl Monitor for SplitMonitor {
    fn observe(&mut self, entry: &Entry) {
        if !self.selection.keeps(entry) {
            return;
        }
        if let Some(echo) = entry.outcome.served_by() {
            self.shares.observe(&echo.version, ended_at(entry));
        }
    }

    fn decision(&self) -> Decision {
        self.shares.decision()
    }
}

/// `split` in sequential mode: the ledger replayed in the order requests ended.
pub fn split(ledger: &Ledger, check: &SplitCheck, name: String) -> Assertion {
    match SplitMonitor::new(check) {
        Err(e) => Assertion::error(name, "split", format!("the test could not run: {e}")),
        Ok(mut monitor) => {
            for entry in in_send_order(&ledger.entries) {
                monitor.observe(entry);
                if monitor.decision() != Decision::Continue {
                    break;
                }
            }
            monitor.shares.assertion(name, "split", check.confidence)
        }
    }
}
