//! The semantic checks: what parses but cannot be right. Each finding points
//! at the node it is about and says what to do in a hint. The checks run
//! in file order (fleet, workload, routing, phases, confidence, expect) and
//! report everything they find, not just the first error; the budget check
//! (each assertion's planned sample against what the workload supplies)
//! runs only on an otherwise valid scenario, since it needs every name
//! resolved.

use std::collections::BTreeSet;

use super::model::{Client, Expectation, FleetService, LoopKind, Pause, Scenario, call_fields};
use super::node::NodeDeserializer;
use super::values::{Located, Node, NodeValue, Position};
use super::{INITIAL_PHASE, Lifetime, PhaseStart, ROUTING_KINDS, RoutingObject, Unit};

/// The most endpoints one scenario's fleet starts.
pub(crate) const MAX_ENDPOINTS: usize = 1_000;

/// The most requests one run sends and records (the ledger holds them all).
pub(crate) const MAX_REQUESTS: u64 = 20_000_000;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    /// The offending node.
    pub at: Position,
    /// What is wrong (lower case, values quoted).
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// `'a'`, `'a' and 'b'`, `'a', 'b' and 'c'`.
pub(crate) fn quoted<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|s| format!("'{}'", s.as_ref()))
        .collect();
    match items.as_slice() {
        [] => "none".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Runs every check.
pub(crate) fn check(scenario: &Scenario) -> Vec<Issue> {
    let mut checker = Checker {
        s: scenario,
        issues: Vec::new(),
    };
    checker.fleet();
    checker.proxy();
    checker.workload();
    checker.routing();
    checker.phases();
    checker.levels(
        Some(scenario.confidence.alpha),
        Some(scenario.confidence.power),
        Some(scenario.confidence.detect),
    );
    checker.expectations();
    let mut seen = BTreeSet::new();
    checker
        .issues
        .into_iter()
        .filter(|i| seen.insert((i.at, i.message.clone())))
        .collect()
}

/// The checks' state: the scenario and what was found so far. Each
/// expectation kind's own checks ([`crate::expect::Kind::validate`]) are
/// handed it.
pub(crate) struct Checker<'a> {
    /// The scenario checked.
    pub(crate) s: &'a Scenario,
    issues: Vec<Issue>,
}

impl<'a> Checker<'a> {
    /// Records a finding at `at`.
    pub(crate) fn push(&mut self, at: Position, message: impl Into<String>, hint: Option<String>) {
        self.issues.push(Issue {
            at,
            message: message.into(),
            hint,
        });
    }

    /// The fleet's services, quoted, for hints.
    pub(crate) fn fleet_names(&self) -> String {
        quoted(self.s.fleet.iter().map(|s| s.service.value.as_str()))
    }
}

mod expectations;
mod fleet;
mod phases;
mod routing;
mod workload;
