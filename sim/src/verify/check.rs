//! One check per expectation, and the one place that applies a check to
//! what a run collected. The root crate runs and renders; the verdict is
//! decided here.

use std::collections::{BTreeMap, BTreeSet};

use crate::fleet::{EndpointInfo, Record};
use crate::ledger::Ledger;

use super::{
    Assertion, BalancedCheck, CountCheck, EjectedCheck, FractionCheck, HeartbeatsCheck,
    LatencyCheck, MirroredCheck, Mode, Monitor, Over, ReceivedCheck, RedirectedCheck, RetriedCheck,
    RoutedCheck, SplitCheck, SplitMonitor, TimeoutCheck,
};

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
    fn pods(&self, service: &str, version: Option<&str>) -> Vec<String> {
        self.endpoints
            .iter()
            .filter(|e| e.identity.service == service)
            .filter(|e| version.is_none_or(|v| e.identity.version == v))
            .map(|e| e.identity.pod.clone())
            .collect()
    }
}

/// What one expectation becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Weighted shares of versions (per run or per connection); also TCP
    /// connection weights, where every sample is a connection.
    Split(SplitCheck),
    /// Uniform over endpoints or versions; endpoint labels are filled in
    /// from the fleet when verified (endpoints are only known then).
    Balanced {
        /// The check, labels empty when they are the service's endpoints.
        check: BalancedCheck,
        /// The service whose endpoints are the labels.
        service: String,
    },
    /// Zero-tolerance routing.
    Routed(RoutedCheck),
    /// The mirrored fraction (needs the endpoint records).
    Mirrored(MirroredCheck),
    /// Success on a given attempt.
    Retried(RetriedCheck),
    /// What the endpoints received (needs the endpoint records).
    Received(ReceivedCheck),
    /// Redirects answered by the proxy.
    Redirected(RedirectedCheck),
    /// Heartbeats answered on paused connections.
    Heartbeats(HeartbeatsCheck),
    /// Failure within a window.
    Timeout(TimeoutCheck),
    /// Quantile bounds.
    Latency(LatencyCheck),
    /// Shares of requests with a status or a delay: faults and rejections.
    Fraction(FractionCheck),
    /// A count of requests answered with a status (rejections).
    Count(CountCheck),
    /// A failing endpoint taken out of the pool; the pod is filled in from
    /// the fleet when verified.
    Ejected {
        /// The check, pods empty.
        check: EjectedCheck,
        /// Which replica of the version fails (`None`: all of them).
        replica: Option<usize>,
        /// The service of the version.
        service: String,
    },
}

/// A check under the expectation's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The `name:` written, or the kind and its place in `expect` (`split-2`).
    pub name: String,
    /// The expectation kind, as the scenario writes it (`split`, `connections`).
    pub kind: &'static str,
    /// The protocol of the service it is about.
    pub protocol: meshbench_wire::Protocol,
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

impl Check {
    /// Applies the check.
    pub fn verify(&self, oracles: &Oracles<'_>) -> Assertion {
        let ledger = oracles.ledger;
        match self {
            Check::Split(check) => super::split(ledger, check),
            Check::Routed(check) => super::routed(ledger, check),
            Check::Balanced { check, service } => {
                let mut check = check.clone();
                if check.over == Over::Endpoints {
                    check.labels = oracles.pods(service, None);
                }
                super::balanced(ledger, &check)
            }
            Check::Ejected {
                check,
                replica,
                service,
            } => {
                let mut check = check.clone();
                let pods = oracles.pods(service, Some(&check.version));
                check.pods = match replica {
                    Some(index) => pods.into_iter().skip(*index).take(1).collect(),
                    None => Vec::new(),
                };
                super::ejected(ledger, &check)
            }
            Check::Mirrored(check) => super::mirrored(ledger, oracles.records, check),
            Check::Retried(check) => super::retried(ledger, check),
            Check::Redirected(check) => super::redirected(ledger, check),
            Check::Heartbeats(check) => super::heartbeats(ledger, check),
            Check::Received(check) => super::received(ledger, oracles.records, check),
            Check::Timeout(check) => super::timeout(ledger, check),
            Check::Latency(check) => super::latency(ledger, check),
            Check::Fraction(check) => super::fraction_check(ledger, check),
            Check::Count(check) => super::count(ledger, check),
        }
    }

    /// The live monitor of a check that can be decided request by request in
    /// sequential mode; `None` for fixed-mode checks and kinds that need the
    /// whole run (balance per connection, mirrors, latency quantiles).
    pub fn monitor(&self) -> Option<Box<dyn Monitor>> {
        match self {
            Check::Split(check) if check.confidence.mode == Mode::Sequential => {
                SplitMonitor::new(check)
                    .ok()
                    .map(|m| Box::new(m) as Box<dyn Monitor>)
            }
            Check::Fraction(check) if check.confidence.mode == Mode::Sequential => check
                .monitor()
                .ok()
                .map(|m| Box::new(m) as Box<dyn Monitor>),
            _ => None,
        }
    }
}
