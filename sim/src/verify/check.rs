//! One check per expectation, and the one place that applies a check to
//! what a run collected. The root crate runs and renders; the verdict is
//! decided here.

use std::collections::{BTreeMap, BTreeSet};

use crate::fleet::{EndpointInfo, Record};
use crate::ledger::Ledger;

use std::sync::Arc;

use super::{Assertion, Monitor};

/// What a run collected that verdicts are taken from.
#[derive(Debug, Clone)]
pub struct Oracles<'a> {
    /// The client side: one outcome per request.
    pub ledger: &'a Ledger,
    /// The endpoint side: every arrival.
    pub records: &'a [Record],
    /// The endpoints the run started.
    pub endpoints: &'a [EndpointInfo],
    /// Answers that name an endpoint this run did not start: `(pod at
    /// address, how many)`. Any makes every verdict an error: the answers
    /// did not come from the fleet the assertions are about.
    foreign: BTreeMap<String, u64>,
}

impl<'a> Oracles<'a> {
    /// The oracles of a run; answers are checked against `endpoints`.
    pub fn new(ledger: &'a Ledger, records: &'a [Record], endpoints: &'a [EndpointInfo]) -> Self {
        let ours: BTreeSet<(&str, String)> = endpoints
            .iter()
            .map(|e| (e.identity.pod.as_str(), e.identity.addr.to_string()))
            .collect();
        let mut foreign = BTreeMap::new();
        for echo in ledger.entries.iter().filter_map(|e| e.outcome.served_by()) {
            if !ours.contains(&(echo.pod.as_str(), echo.addr.clone())) {
                *foreign
                    .entry(format!("{} at {}", echo.pod, echo.addr))
                    .or_insert(0) += 1;
            }
        }
        Oracles {
            ledger,
            records,
            endpoints,
            foreign,
        }
    }

    /// `assertion` as an error when answers came from elsewhere.
    fn against_the_fleet(&self, mut assertion: Assertion) -> Assertion {
        let total: u64 = self.foreign.values().sum();
        let Some((first, _)) = self.foreign.iter().next() else {
            return assertion;
        };
        assertion.verdict = crate::stats::Verdict::Error;
        assertion.summary = format!(
            "{total} answers came from endpoints this run did not start (first: {first}); the proxy routes to another fleet"
        );
        assertion.findings = self
            .foreign
            .iter()
            .map(|(endpoint, n)| {
                format!("{n} answers from {endpoint}, not an endpoint of this run")
            })
            .collect();
        assertion
    }

    /// The pods of `service` (of `version`, if given), in fleet order.
    pub(crate) fn pods(&self, service: &str, version: Option<&str>) -> Vec<String> {
        self.endpoints
            .iter()
            .filter(|e| e.identity.service == service)
            .filter(|e| version.is_none_or(|v| e.identity.version == v))
            .map(|e| e.identity.pod.clone())
            .collect()
    }
}

/// How a check is judged on what a run collected. Each expectation kind's
/// check implements it ([`crate::expect`]).
pub trait Verifier: std::fmt::Debug + Send + Sync {
    /// The verdict on what the run collected.
    fn verify(&self, oracles: &Oracles<'_>) -> Assertion;

    /// The live monitor of a check that can be decided request by request
    /// in sequential mode; `None` for fixed-mode checks and kinds that need
    /// the whole run (balance per connection, mirrors, latency quantiles).
    fn monitor(&self) -> Option<Box<dyn Monitor>> {
        None
    }
}

/// What one expectation becomes.
#[derive(Debug, Clone)]
pub struct Check(Arc<dyn Verifier>);

impl Check {
    /// The check `verifier` makes.
    pub fn new(verifier: impl Verifier + 'static) -> Check {
        Check(Arc::new(verifier))
    }

    /// Applies the check.
    pub fn verify(&self, oracles: &Oracles<'_>) -> Assertion {
        self.0.verify(oracles)
    }

    /// Its live monitor, if it has one ([`Verifier::monitor`]).
    pub fn monitor(&self) -> Option<Box<dyn Monitor>> {
        self.0.monitor()
    }
}

/// A check under the expectation's name.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The `name:` written, or the kind and its place in `expect` (`split-2`).
    pub name: String,
    /// The expectation kind, as the scenario writes it (`split`, `connections`).
    pub kind: &'static str,
    /// The protocol of the service it is about.
    pub protocol: meshbench_wire::Protocol,
    /// The scenario's proxy settings its verdict depends on: a proxy that
    /// cannot be given one cannot be judged on it.
    pub needs: Vec<crate::scenario::ProxySetting>,
    /// The check.
    pub check: Check,
}

impl Claim {
    /// The assertion of a claim the proxy under test cannot be judged on,
    /// with the reason its adapter gave before the run: never a pass.
    pub fn unsupported(&self, reason: &str) -> Assertion {
        let evidence = crate::stats::Evidence::new(
            "not tested",
            Default::default(),
            Default::default(),
            Default::default(),
        );
        let mut assertion =
            Assertion::new(self.kind, format!("{} (not tested)", self.kind), evidence);
        assertion.verdict = crate::stats::Verdict::Unsupported;
        assertion.summary = reason.to_owned();
        assertion.named(&self.name)
    }

    /// The verdict of the claim on what the run collected: an error when
    /// any answer came from an endpoint the run did not start.
    pub fn verify(&self, oracles: &Oracles<'_>) -> Assertion {
        let mut assertion = oracles.against_the_fleet(self.check.verify(oracles));
        // The kind the scenario wrote (`connections` is verified as a split of connections).
        self.kind.clone_into(&mut assertion.kind);
        assertion.named(&self.name)
    }
}
