//! The scenario types, as the YAML writes them. Every struct denies unknown
//! fields, so that a typo is an error rather than a silently ignored knob.
//! Values that semantic checks point at are [`Located`].

use std::collections::BTreeMap;
use std::time::Duration;

use meshbench_wire::Protocol;
use meshbench_wire::thrift::{Encoding, ServerCodec, Transport};
use schemars::JsonSchema;
use serde::Deserialize;

use super::values::{Located, Node, Ordered, Percent, Rate, TextDuration, Weight};
use crate::client::thrift::ThriftOptions;
use crate::fleet::{Behaviour, Latency as FleetLatency, Probability, ServiceSpec, VersionSpec};
use crate::workload::Call as WorkloadCall;

/// One scenario file: the fleet, the routing a user would `kubectl apply`,
/// the workload, optional mid-run routing changes, and the assertions.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "meshbench scenario")]
pub struct Scenario {
    /// A short identifier, e.g. `thrift-traffic-split`.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// The services of the sample fleet, each with its versions.
    pub fleet: Located<Vec<Located<FleetService>>>,
    /// Kubernetes routing objects (Aeraki `MetaRouter`, Istio
    /// `VirtualService` / `DestinationRule`), unchanged from what a user
    /// applies. Absent: the proxy's default routing.
    #[serde(default)]
    pub routing: Vec<RoutingObject>,
    /// Settings of the proxy under test that no routing object carries.
    #[serde(default)]
    pub proxy: Proxy,
    /// The clients and what they send.
    pub workload: Workload,
    /// Routing changes applied while traffic flows (live traffic shifting).
    #[serde(default)]
    pub phases: Vec<Located<Phase>>,
    /// The assertions, each a hypothesis test or a zero-tolerance check.
    pub expect: Located<Vec<Located<Expectation>>>,
    /// Default statistical levels of the assertions.
    #[serde(default)]
    pub confidence: Confidence,
}

mod expectations;
mod fleet;
mod routing;
mod workload;

pub use expectations::*;
pub use fleet::*;
pub use routing::*;
pub use workload::*;
