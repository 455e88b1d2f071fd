//! `split`: the selected requests are shared among versions as the weights
//! say, over the run or within every connection.
//!
//! - Null hypothesis: each request independently goes to version v with
//!   probability w_v / Σw (Aeraki and Envoy draw per request).
//! - One sample: a selected request answered by an endpoint (its version
//!   from the echo). Requests with no endpoint answer are not samples; they
//!   are listed as findings.
//! - Test: [`crate::verify::distribution`], per run or per connection. A request
//!   served by a version of weight 0 (or none listed) fails at once: that
//!   is deterministic. In sequential mode (per run only) the shares are
//!   tested request by request ([`crate::verify::sequential`]).
//! - Inconclusive when fewer samples arrived than the plan needs to detect
//!   `detect` with `power` (on every connection, per connection).

use crate::ledger::Ledger;

use crate::verify::distribution::{self, Distribution, Per, Tally, describe_weights};
use crate::verify::{Assertion, Confidence, Mode, Selection, sequential};

/// A `split` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCheck {
    /// Which requests.
    pub selection: Selection,
    /// Version and weight, in the order written.
    pub weights: Vec<(String, f64)>,
    /// Over the run, or within every connection.
    pub per: Per,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

impl SplitCheck {
    /// What it claims, in a phrase: `split v1=20 v2=80 per run`.
    pub fn claim(&self) -> String {
        format!(
            "split {} per {}",
            describe_weights(&self.weights),
            self.per.name()
        )
    }
}

/// Runs the check.
pub fn split(ledger: &Ledger, check: &SplitCheck) -> Assertion {
    if check.confidence.mode == Mode::Sequential {
        return sequential::split(ledger, check, check.claim());
    }
    let claim = Distribution {
        weights: check.weights.clone(),
        tally: Tally::Versions,
        per: check.per,
    };
    distribution::verify(
        ledger,
        &check.selection,
        &claim,
        check.confidence,
        ("split", check.claim()),
    )
}

impl crate::verify::Verifier for SplitCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        split(oracles.ledger, self)
    }

    fn monitor(&self) -> Option<Box<dyn crate::verify::Monitor>> {
        if self.confidence.mode != crate::verify::Mode::Sequential {
            return None;
        }
        crate::verify::SplitMonitor::new(self)
            .ok()
            .map(|m| Box::new(m) as Box<dyn crate::verify::Monitor>)
    }
}
