//! `balanced`: requests are spread uniformly over the endpoints (or
//! versions), within every client connection by default — what request-level
//! load balancing promises and a layer-4 proxy cannot do on long-lived
//! connections — or over the whole run (`per: run`).
//!
//! - Null hypothesis: each request independently goes to each label with
//!   probability 1/k, whatever connection it came on.
//! - One sample: a selected request answered by an endpoint, tabulated by
//!   (client connection, label).
//! - Test: [`crate::verify::distribution`] with equal weights: exact per-connection
//!   fits with Holm over the connections (which names pinned connections),
//!   or the pooled shares for `per: run`.
//! - Inconclusive when a connection (or the run) carried fewer requests than
//!   the plan needs, and nothing failed.

use crate::ledger::Ledger;

use crate::verify::distribution::{self, Distribution, Per, Tally};
use super::Over;
use crate::verify::{Assertion, Confidence, Selection};

/// A `balanced` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancedCheck {
    /// Which requests.
    pub selection: Selection,
    /// Endpoints or versions.
    pub over: Over,
    /// The labels expected (pod names or versions), each with share 1/k.
    pub labels: Vec<String>,
    /// Within every connection, or over the run.
    pub per: Per,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

impl BalancedCheck {
    /// The distribution it claims: equal weights over the labels.
    pub fn distribution(&self) -> Distribution {
        Distribution {
            weights: self.labels.iter().map(|l| (l.clone(), 1.0)).collect(),
            tally: match self.over {
                Over::Endpoints => Tally::Endpoints,
                Over::Versions => Tally::Versions,
            },
            per: self.per,
        }
    }

    /// What it claims, in a phrase: `balanced over 2 endpoints per connection`.
    pub fn claim(&self) -> String {
        let claim = self.distribution();
        format!(
            "balanced over {} {} per {}",
            self.labels.len(),
            claim.tally.name(),
            claim.per.name()
        )
    }
}

/// Runs the check.
pub fn balanced(ledger: &Ledger, check: &BalancedCheck) -> Assertion {
    distribution::verify(
        ledger,
        &check.selection,
        &check.distribution(),
        check.confidence,
        ("balanced", check.claim()),
    )
}
