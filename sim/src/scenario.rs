//! Scenario files: the model, the loader with positioned errors, the
//! semantic checks, the sample-size plan and the JSON Schema.
//!
//! A scenario is YAML with `name`, `description`, `fleet`, `routing` (the
//! Kubernetes objects a user applies, kept as raw data: `sim` never depends
//! on the proxy crate), `proxy` (settings no routing object carries, such as
//! the idle timeout), `workload`, `phases`, `expect` and `confidence`; the
//! format is documented in `scenarios/README.md` and its contract is the
//! generated JSON Schema ([`schema`]).
//!
//! Every error names `file:line:column` and shows the line with a caret
//! ([`LoadError`]): YAML syntax, unknown fields, wrong types and bad values
//! come from the parser; the checks in `check` point at the offending node
//! through the [`Located`] positions kept in the model.
//!
//! # Layout
//! - [`values`]: positions, durations (`2ms`), percentages (`5%`), weights,
//!   rates (`5000/s`), ordered maps and raw YAML nodes.
//! - [`model`]: the serde types of the format (each expectation kind's in
//!   [`crate::expect`]).
//! - `node`: a parsed YAML node read again through serde at its file position
//!   (routing objects through the mesh API's types).
//! - `load`: parsing and [`LoadError`] / [`ScenarioError`].
//! - `check`: the semantic checks.
//! - `claims`: each expectation as the check that verifies it ([`Scenario::claims`]).
//! - [`plan`]: planned sample sizes: what the workload supplies to each
//!   assertion, and the sizing helpers the kinds plan with.

pub(crate) mod check;
pub(crate) mod claims;
mod load;
pub mod model;
mod node;
pub mod plan;
pub mod values;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use load::{LoadError, ScenarioError};
pub use model::{
    Arrival, Balanced, Call, Client, Common, Confidence, Connections, Ejected, Expectation, Fault,
    FaultAbort, FaultDelay, FleetService, Heartbeats, Latency, LatencyModel, Levels, Lifetime,
    LoopKind, Mirrored, MixEntry, OpenLoop, Over, Pause, Per, Phase, PhaseStart, Proxy,
    ProxySetting, Rejected, RequestClass, Retried, Routed, RoutingObject, Scenario, Selector,
    Split, ThriftProtocol, ThriftTransport, Timeout, Version, Workload, default_port,
};
pub use plan::{Assertion, SampleSize, Supply, Test, Unit, planned_requests};
pub use values::{
    Located, Node, NodeValue, Ordered, Percent, Position, Rate, TextDuration, Weight,
};

use crate::fleet::ServiceSpec;

/// The name of the routing in force before the first phase.
pub const INITIAL_PHASE: &str = "initial";

/// The kinds of routing object the structural checks read.
pub const ROUTING_KINDS: [&str; 3] = ["MetaRouter", "VirtualService", "DestinationRule"];

/// The JSON Schema of the scenario format, generated from the types.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}

impl Scenario {
    /// Reads, parses and checks the scenario at `path`.
    ///
    /// # Errors
    /// [`ScenarioError::Read`] when the file cannot be read;
    /// [`ScenarioError::Invalid`] with every error found otherwise.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        load::load(path)
    }

    /// Parses and checks scenario text; `file` names it in errors.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] with the parse error, or with every
    /// semantic error found.
    pub fn parse(source: &str, file: &str) -> Result<Scenario, ScenarioError> {
        load::parse(source, file)
    }

    /// The fleet, as [`crate::fleet::Fleet::start`] takes it.
    pub fn fleet_specs(&self) -> Vec<ServiceSpec> {
        self.fleet.iter().map(|s| s.spec()).collect()
    }

    /// The fleet service `name` names: its FQDN, its short name (the first
    /// label, when no other service shares it) or `<short>.<namespace>`.
    pub fn service(&self, name: &str) -> Option<&FleetService> {
        if let Some(exact) = self.fleet.iter().find(|s| s.service.value == name) {
            return Some(exact);
        }
        let expanded = format!("{name}.svc.cluster.local");
        let mut candidates = self
            .fleet
            .iter()
            .filter(|s| s.service.value == expanded || (!name.contains('.') && s.app() == name));
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(&only.value),
            _ => None,
        }
    }

    /// The fleet service a routing object's `host` names, with the object's
    /// namespace: the FQDN itself, `<short>` as
    /// `<short>.<namespace>.svc.cluster.local`, or `<short>.<ns>` as
    /// `<short>.<ns>.svc.cluster.local`.
    pub fn service_for_host(&self, host: &str, namespace: &str) -> Option<&FleetService> {
        let by_fqdn = |fqdn: &str| {
            self.fleet
                .iter()
                .find(|s| s.service.value == fqdn)
                .map(|s| &s.value)
        };
        by_fqdn(host).or_else(|| match host.matches('.').count() {
            0 => by_fqdn(&format!("{host}.{namespace}.svc.cluster.local")),
            1 => by_fqdn(&format!("{host}.svc.cluster.local")),
            _ => None,
        })
    }

    /// The phase names: `initial`, then each phase's (default `phase-<n>`).
    pub fn phase_names(&self) -> Vec<String> {
        std::iter::once(INITIAL_PHASE.to_owned())
            .chain(self.phases.iter().enumerate().map(|(i, p)| {
                p.name
                    .as_ref()
                    .map_or_else(|| format!("phase-{}", i + 1), |n| n.value.clone())
            }))
            .collect()
    }

    /// The routing in force in phase `index` (0: before the first phase):
    /// the initial objects with each phase's objects applied in turn, an
    /// object replacing the earlier one of the same kind, namespace and name.
    pub fn routing_in_phase(&self, index: usize) -> Vec<&RoutingObject> {
        let mut objects: Vec<&RoutingObject> = self.routing.iter().collect();
        for phase in self.phases.iter().take(index) {
            for object in &phase.routing {
                let identity = object.identity();
                match objects.iter().position(|o| o.identity() == identity) {
                    Some(i) => objects[i] = object,
                    None => objects.push(object),
                }
            }
        }
        objects
    }

    /// The subsets DestinationRules of `objects` define for `service`,
    /// with the labels each selects.
    pub fn subsets<'a>(
        &'a self,
        objects: &[&'a RoutingObject],
        service: &str,
    ) -> Vec<(&'a Node, Vec<(&'a str, &'a str)>)> {
        let mut out = Vec::new();
        for object in objects {
            if object.kind() != Some("DestinationRule") {
                continue;
            }
            let Some(host) = object.0.path(&["spec", "host"]).and_then(Node::as_str) else {
                continue;
            };
            let resolved = self.service_for_host(host, object.namespace());
            if resolved.map(|s| s.service.value.as_str()) != Some(service) {
                continue;
            }
            let subsets = object
                .0
                .path(&["spec", "subsets"])
                .map_or(&[][..], Node::items);
            for subset in subsets {
                let Some(name) = subset.get("name") else {
                    continue;
                };
                let labels = subset
                    .get("labels")
                    .map_or(&[][..], Node::entries)
                    .iter()
                    .filter_map(|(k, v)| Some((k.value.as_str(), v.as_str()?)))
                    .collect();
                out.push((name, labels));
            }
        }
        out
    }

    /// The versions of `service` that `name` designates: the version
    /// itself, or the versions whose pods a DestinationRule subset of that
    /// name selects (in any phase's routing). `None` when it is neither.
    pub fn versions_of(&self, service: &str, name: &str) -> Option<Vec<String>> {
        let fleet_service = self.fleet.iter().find(|s| s.service.value == service)?;
        if fleet_service.versions.get(name).is_some() {
            return Some(vec![name.to_owned()]);
        }
        for phase in 0..=self.phases.len() {
            let objects = self.routing_in_phase(phase);
            for (subset, labels) in self.subsets(&objects, service) {
                if subset.as_str() != Some(name) {
                    continue;
                }
                let versions = fleet_service
                    .versions
                    .keys()
                    .filter(|v| {
                        fleet_service.pod_labels(v).is_some_and(|pod| {
                            labels
                                .iter()
                                .all(|(k, want)| pod.get(*k).map(String::as_str) == Some(*want))
                        })
                    })
                    .map(str::to_owned)
                    .collect();
                return Some(versions);
            }
        }
        None
    }

    /// The clients with their names (`client-<n>` by default).
    pub fn clients(&self) -> impl Iterator<Item = (String, &Client)> {
        self.workload
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name_or(i), &c.value))
    }

    /// The service `expectation` is about: its `service`, else the fleet's
    /// only service, else the one service called by the clients that send
    /// its selection (`of.client`, `of.class`).
    pub fn service_of(&self, expectation: &Expectation) -> Option<&FleetService> {
        let common = expectation.common();
        if let Some(name) = common.service {
            return self.service(name);
        }
        if self.fleet.len() == 1 {
            return self.fleet.first().map(|s| &s.value);
        }
        let wanted = common.of.client.as_ref().map(|c| c.value.as_str());
        let class = common.of.class.as_ref().map(|c| c.value.as_str());
        let mut called = self
            .clients()
            .filter(|(name, _)| wanted.is_none_or(|w| w == name))
            .filter(|(name, client)| {
                class.is_none_or(|k| client.classes(name).iter().any(|c| c.name == k))
            })
            .filter_map(|(_, c)| self.service(&c.service))
            .map(|s| s.service.value.as_str())
            .collect::<Vec<_>>();
        called.sort_unstable();
        called.dedup();
        match called.as_slice() {
            [only] => self
                .fleet
                .iter()
                .find(|s| s.service.value == *only)
                .map(|s| &s.value),
            _ => None,
        }
    }
}
