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
use super::plan::quantile;
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

struct Checker<'a> {
    s: &'a Scenario,
    issues: Vec<Issue>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, at: Position, message: impl Into<String>, hint: Option<String>) {
        self.issues.push(Issue {
            at,
            message: message.into(),
            hint,
        });
    }

    fn fleet_names(&self) -> String {
        quoted(self.s.fleet.iter().map(|s| s.service.value.as_str()))
    }

    // === fleet ===

    fn fleet(&mut self) {
        if self.s.fleet.is_empty() {
            self.push(
                self.s.fleet.at,
                "the fleet has no service",
                Some("list at least one service under 'fleet'".into()),
            );
        }
        let mut seen = BTreeSet::new();
        for service in self.s.fleet.iter() {
            if !seen.insert(service.service.value.as_str()) {
                self.push(
                    service.service.at,
                    format!("service '{}' is defined twice", service.service.value),
                    None,
                );
            }
            if service.versions.is_empty() {
                self.push(
                    service.at,
                    format!("service '{}' has no versions", service.service.value),
                    Some("add e.g. 'versions: { v1: { replicas: 1 } }'".into()),
                );
            }
            for (name, version) in service.versions.iter() {
                if version.replicas == 0 {
                    self.push(
                        name.at,
                        format!("version '{}' has 0 replicas", name.value),
                        Some("a version needs at least one endpoint; 'down: true' lists pods that do not listen".into()),
                    );
                }
                match version.latency {
                    super::LatencyModel::Uniform { min, max } if min > max => self.push(
                        name.at,
                        format!(
                            "the latency of '{}' has min '{min}' above max '{max}'",
                            name.value
                        ),
                        None,
                    ),
                    super::LatencyModel::Lognormal { sigma, .. }
                        if !(sigma.is_finite() && sigma >= 0.0) =>
                    {
                        self.push(
                            name.at,
                            format!(
                                "the latency sigma of '{}' is not a positive number",
                                name.value
                            ),
                            None,
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    // === proxy ===

    fn proxy(&mut self) {
        if let Some(idle) = &self.s.proxy.idle_timeout
            && idle.get().is_zero()
        {
            self.push(
                idle.at,
                "'idle_timeout' must be longer than 0s",
                Some("leave it out for the proxy's own default".into()),
            );
        }
    }

    // === workload ===

    fn workload(&mut self) {
        let clients = &self.s.workload.clients;
        let endpoints: usize = self
            .s
            .fleet
            .iter()
            .flat_map(|s| s.versions.iter().map(|(_, v)| v.replicas))
            .fold(0, usize::saturating_add);
        if endpoints > MAX_ENDPOINTS {
            self.push(
                self.s.fleet.at,
                format!("the fleet has {endpoints} endpoints, more than the {MAX_ENDPOINTS} one run starts"),
                Some("each endpoint is a listener with its own loopback address and descriptors".into()),
            );
        }
        let requests: f64 = clients.iter().filter_map(|c| c.expected_requests()).sum();
        if requests > MAX_REQUESTS as f64 {
            let largest = clients
                .iter()
                .max_by(|a, b| {
                    let n = |c: &Located<Client>| c.expected_requests().unwrap_or(0.0);
                    n(a).total_cmp(&n(b))
                })
                .map_or(clients.at, |c| c.requests.as_ref().map_or(c.at, |r| r.at));
            self.push(
                largest,
                format!("the workload sends about {requests:.0} requests, more than the {MAX_REQUESTS} one run records"),
                Some("the ledger keeps every request (about 200 bytes each); lower 'requests', 'rate' or 'duration'".into()),
            );
        }
        if clients.is_empty() {
            self.push(
                clients.at,
                "the workload has no clients",
                Some("add a client with its service, connections and a bound".into()),
            );
        }
        let mut names = BTreeSet::new();
        for (index, client) in clients.iter().enumerate() {
            let name = client.name_or(index);
            if !names.insert(name.clone()) {
                let at = client.name.as_ref().map_or(client.at, |n| n.at);
                self.push(at, format!("client '{name}' is defined twice"), None);
            }
            self.client(&name, client);
        }
    }

    fn client(&mut self, name: &str, client: &Located<Client>) {
        let service = self.s.service(&client.service);
        if service.is_none() {
            self.push(
                client.service.at,
                format!(
                    "client '{name}' calls '{}', which is not a service of the fleet",
                    client.service.value
                ),
                Some(format!("the fleet has {}", self.fleet_names())),
            );
        }
        for (field, value) in [
            ("connections", client.connections),
            ("in_flight", client.in_flight),
        ] {
            if value.value == 0 {
                self.push(value.at, format!("'{field}' must be at least 1"), None);
            }
        }
        match (client.loop_kind.as_ref(), client.open.as_ref()) {
            (Some(l), Some(_)) if l.value == LoopKind::Closed => self.push(
                l.at,
                format!("client '{name}' has 'loop: closed' and 'open' settings"),
                Some("remove 'open', or write 'loop: open'".into()),
            ),
            (Some(l), None) if l.value == LoopKind::Open => self.push(
                l.at,
                format!("client '{name}' runs an open loop without a rate"),
                Some("add e.g. 'open: { rate: 1000/s }'".into()),
            ),
            _ => {}
        }
        if client.requests.is_none() && client.duration.is_none() {
            self.push(
                client.at,
                format!("client '{name}' has no bound: give 'requests', 'duration' or both"),
                Some("every load loop must end; e.g. 'requests: 20000' or 'duration: 30s'".into()),
            );
        }
        if let Some(requests) = &client.requests
            && requests.value == 0
        {
            self.push(requests.at, "'requests' must be at least 1", None);
        }
        if let Some(duration) = &client.duration
            && duration.get().is_zero()
        {
            self.push(duration.at, "'duration' must be longer than 0s", None);
        }
        if let Some(lifetime) = &client.lifetime {
            let empty = match lifetime.value {
                Lifetime::Requests(n) => n == 0,
                Lifetime::Duration(d) => d.get().is_zero(),
            };
            if empty {
                self.push(
                    lifetime.at,
                    "a connection 'lifetime' must be at least 1 request or longer than 0s",
                    None,
                );
            }
        }
        if let (Some(call), Some(_)) = (&client.call, &client.mix) {
            self.push(
                call.at,
                format!("client '{name}' has both 'call' and 'mix'"),
                Some("give one call, or a mix of named calls".into()),
            );
        }
        let protocol = service.map(|s| s.protocol.value);
        if let Some(pause) = &client.pause {
            self.pause(name, client, pause, protocol);
        }
        if let Some(call) = &client.call
            && let Some(protocol) = protocol
        {
            self.call(&call.value, protocol);
        }
        if let Some(mix) = &client.mix {
            if mix.is_empty() {
                self.push(mix.at, "the mix has no entries", None);
            } else if mix.iter().all(|e| e.weight.value.0 == 0) {
                self.push(mix.at, "the weights of the mix add up to 0", None);
            }
            let mut classes = BTreeSet::new();
            for entry in mix.iter() {
                if !classes.insert(entry.name.value.as_str()) {
                    self.push(
                        entry.name.at,
                        format!("class '{}' is defined twice", entry.name.value),
                        None,
                    );
                }
                if let Some(protocol) = protocol {
                    self.call(&entry.call.value, protocol);
                }
            }
        }
    }

    fn pause(
        &mut self,
        name: &str,
        client: &Client,
        pause: &Located<Pause>,
        protocol: Option<meshbench_wire::Protocol>,
    ) {
        if client.is_open() {
            self.push(
                pause.at,
                format!("client '{name}' runs an open loop, which cannot pause"),
                Some("an open loop starts requests on a schedule whatever the connection does; pause a closed loop".into()),
            );
        }
        if let Some(lifetime) = &client.lifetime {
            self.push(
                lifetime.at,
                format!("client '{name}' has both 'lifetime' and 'pause'"),
                Some(
                    "a pause keeps its connection, a lifetime replaces it: give one or the other"
                        .into(),
                ),
            );
        }
        if pause.every.value == 0 {
            self.push(pause.every.at, "'every' must be at least 1", None);
        }
        if pause.idle.get().is_zero() {
            self.push(pause.idle.at, "'for' must be longer than 0s", None);
        }
        let Some(heartbeat) = &pause.heartbeat else {
            return;
        };
        if let Some(protocol) = protocol
            && protocol != meshbench_wire::Protocol::Dubbo
        {
            self.push(
                heartbeat.at,
                format!(
                    "'heartbeat' applies to dubbo clients, and '{name}' calls a {protocol} service"
                ),
                Some("leave it out for a silent pause".into()),
            );
        }
        if heartbeat.get().is_zero() || heartbeat.value >= pause.idle.value {
            self.push(
                heartbeat.at,
                format!(
                    "the heartbeat interval '{}' must be above 0s and below the pause ('for: {}')",
                    heartbeat.value, pause.idle.value
                ),
                Some("otherwise no heartbeat is sent while the connection idles".into()),
            );
        }
    }

    fn call(&mut self, call: &super::Call, protocol: meshbench_wire::Protocol) {
        let allowed = call_fields(protocol);
        for (field, at) in call.written() {
            if !allowed.contains(&field) {
                self.push(
                    at,
                    format!("'{field}' does not apply to a {protocol} call"),
                    Some(format!("{protocol} calls take {}", quoted(allowed.iter()))),
                );
            }
        }
    }

    // === routing ===

    fn routing(&mut self) {
        for phase in 0..=self.s.phases.len() {
            let objects = self.s.routing_in_phase(phase);
            for object in &objects {
                self.object(object, &objects);
            }
        }
    }

    /// One routing object: its references to the fleet and to subsets,
    /// then, when they hold, the whole object through the mesh API's types,
    /// so a typo anywhere inside it is an error at its place in the file.
    fn object(&mut self, object: &RoutingObject, objects: &[&RoutingObject]) {
        let before = self.issues.len();
        self.references(object, objects);
        if self.issues.len() > before {
            return;
        }
        match meshbench_mesh_api::objects(NodeDeserializer(&object.0)) {
            Ok(typed) if typed.len() == 1 => {}
            Ok(_) => self.push(
                object.0.at,
                "a routing entry must be one object",
                Some("list the items of a 'kind: List' as entries of 'routing'".into()),
            ),
            Err(error) => {
                let (message, hint) = super::load::polish(&error.message);
                self.push(error.at, format!("{}: {message}", object.describe()), hint);
            }
        }
    }

    fn references(&mut self, object: &RoutingObject, objects: &[&RoutingObject]) {
        let node = &object.0;
        if !matches!(node.value, NodeValue::Map(_)) {
            self.push(node.at, "a routing object must be a mapping", None);
            return;
        }
        if node.get("apiVersion").and_then(Node::as_str).is_none() {
            self.push(node.at, "routing object has no 'apiVersion'", None);
        }
        let Some(kind) = object.kind() else {
            self.push(node.at, "routing object has no 'kind'", None);
            return;
        };
        if !ROUTING_KINDS.contains(&kind) {
            let at = node.get("kind").map_or(node.at, |k| k.at);
            self.push(
                at,
                format!("unsupported routing kind '{kind}'"),
                Some(format!("meshbench reads {}", quoted(ROUTING_KINDS))),
            );
            return;
        }
        if object.name().is_none() {
            self.push(node.at, format!("{kind} has no 'metadata.name'"), None);
        }
        let Some(spec) = node.get("spec") else {
            self.push(
                node.at,
                format!("{} has no 'spec'", object.describe()),
                None,
            );
            return;
        };
        if kind == "DestinationRule" {
            let host = spec.get("host");
            match host.and_then(|h| h.as_str().map(|s| (h, s))) {
                None => self.push(
                    spec.at,
                    format!("{} has no 'spec.host'", object.describe()),
                    None,
                ),
                Some((h, host)) => {
                    if let Some(service) = self.host(h, host, "host", object) {
                        self.subsets_select(object, spec, service);
                    }
                }
            }
            return;
        }
        let hosts = spec.get("hosts").map_or(&[][..], Node::items);
        if hosts.is_empty() {
            self.push(
                spec.at,
                format!("{} has no 'spec.hosts'", object.describe()),
                None,
            );
        }
        for host in hosts {
            match host.as_str() {
                Some(name) => {
                    self.host(host, name, "host", object);
                }
                None => self.push(
                    host.at,
                    format!("host {} is not a string", host.show()),
                    None,
                ),
            }
        }
        let rules: Vec<&Node> = if kind == "MetaRouter" {
            spec.get("routes")
                .map_or(&[][..], Node::items)
                .iter()
                .collect()
        } else {
            ["http", "tcp", "tls"]
                .iter()
                .flat_map(|k| spec.get(k).map_or(&[][..], Node::items))
                .collect()
        };
        for rule in rules {
            let routes = rule.get("route").map_or(&[][..], Node::items);
            let zero = |route: &Node| {
                route.get("weight").is_none_or(
                    |w| matches!(&w.value, NodeValue::Number(n) if n.as_u64() == Some(0)),
                )
            };
            if routes.len() > 1 && routes.iter().all(zero) {
                self.push(
                    rule.get("route").map_or(rule.at, |r| r.at),
                    format!(
                        "the weights of a route of {} add up to 0",
                        object.describe()
                    ),
                    Some("give each destination a weight, e.g. 20 and 80".into()),
                );
            }
            for route in routes {
                if let Some(destination) = route.get("destination") {
                    self.destination(destination, object, objects);
                }
                if let Some(weight) = route.get("weight") {
                    self.weight(weight);
                }
            }
            if let Some(mirror) = rule.get("mirror") {
                self.destination(mirror, object, objects);
            }
        }
    }

    /// Checks that `host` names a fleet service; returns it.
    fn host(
        &mut self,
        node: &Node,
        host: &str,
        what: &str,
        object: &RoutingObject,
    ) -> Option<&'a FleetService> {
        let found = self.s.service_for_host(host, object.namespace());
        if found.is_none() {
            self.push(
                node.at,
                format!(
                    "{what} '{host}' of {} is not a service of the fleet",
                    object.describe()
                ),
                Some(format!(
                    "the fleet has {} (short names expand with the object's namespace '{}')",
                    self.fleet_names(),
                    object.namespace()
                )),
            );
        }
        found
    }

    fn destination(
        &mut self,
        destination: &Node,
        object: &RoutingObject,
        objects: &[&RoutingObject],
    ) {
        let Some(host_node) = destination.get("host") else {
            self.push(
                destination.at,
                format!("a destination of {} has no 'host'", object.describe()),
                None,
            );
            return;
        };
        let Some(host) = host_node.as_str() else {
            self.push(
                host_node.at,
                format!("host {} is not a string", host_node.show()),
                None,
            );
            return;
        };
        let Some(service) = self.host(host_node, host, "destination host", object) else {
            return;
        };
        let Some(subset_node) = destination.get("subset") else {
            return;
        };
        let Some(subset) = subset_node.as_str() else {
            self.push(
                subset_node.at,
                format!("subset {} is not a string", subset_node.show()),
                None,
            );
            return;
        };
        let defined = self.s.subsets(objects, &service.service);
        if defined
            .iter()
            .any(|(name, _)| name.as_str() == Some(subset))
        {
            return;
        }
        let names: Vec<&str> = defined.iter().filter_map(|(n, _)| n.as_str()).collect();
        let hint = if names.is_empty() {
            format!(
                "no DestinationRule of the routing defines subsets for '{}'",
                service.service.value
            )
        } else {
            format!("the subsets defined are {}", quoted(names))
        };
        self.push(
            subset_node.at,
            format!(
                "subset '{subset}' of '{}' is not defined by a DestinationRule",
                service.service.value
            ),
            Some(hint),
        );
    }

    fn weight(&mut self, weight: &Node) {
        let hint = || Some("weights are whole numbers, as in Istio (e.g. 20 and 80)".to_owned());
        match &weight.value {
            NodeValue::Number(n) if n.is_u64() => {
                if n.as_u64().is_some_and(|w| w > u64::from(u32::MAX)) {
                    self.push(weight.at, format!("weight {n} is too large"), None);
                }
            }
            NodeValue::Number(n) if n.is_i64() => {
                self.push(weight.at, format!("weight {n} is negative"), None);
            }
            NodeValue::Number(n) => {
                self.push(
                    weight.at,
                    format!("weight '{n}' is not a whole number"),
                    hint(),
                );
            }
            NodeValue::String(s) => {
                self.push(
                    weight.at,
                    format!("weight '{s}' is not a whole number"),
                    hint(),
                );
            }
            _ => self.push(
                weight.at,
                format!("weight {} is not a whole number", weight.show()),
                hint(),
            ),
        }
    }

    fn subsets_select(&mut self, object: &RoutingObject, spec: &Node, service: &FleetService) {
        for subset in spec.get("subsets").map_or(&[][..], Node::items) {
            let Some(name_node) = subset.get("name") else {
                self.push(
                    subset.at,
                    format!("a subset of {} has no 'name'", object.describe()),
                    None,
                );
                continue;
            };
            let name = name_node.as_str().unwrap_or_default();
            let labels: Vec<(&str, Option<&str>)> = subset
                .get("labels")
                .map_or(&[][..], Node::entries)
                .iter()
                .map(|(k, v)| (k.value.as_str(), v.as_str()))
                .collect();
            let selects = service.versions.keys().any(|v| {
                service.pod_labels(v).is_some_and(|pod| {
                    labels
                        .iter()
                        .all(|(k, want)| want.is_some() && pod.get(*k).map(String::as_str) == *want)
                })
            });
            if !selects {
                let pods: Vec<String> = service
                    .versions
                    .keys()
                    .filter_map(|v| service.pod_labels(v))
                    .map(|labels| {
                        labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                self.push(
                    name_node.at,
                    format!(
                        "subset '{name}' of {} selects no pod of '{}'",
                        object.describe(),
                        service.service.value
                    ),
                    Some(format!("the pods' labels are {}", quoted(pods))),
                );
            }
        }
    }

    // === phases ===

    fn phases(&mut self) {
        let names = self.s.phase_names();
        let mut seen = BTreeSet::new();
        seen.insert(INITIAL_PHASE.to_owned());
        let total_requests: Option<f64> = self
            .s
            .workload
            .clients
            .iter()
            .map(|c| c.expected_requests())
            .sum();
        let mut last_requests = 0;
        let mut last_time = std::time::Duration::ZERO;
        for (phase, name) in self.s.phases.iter().zip(names.iter().skip(1)) {
            let name_at = phase.name.as_ref().map_or(phase.at, |n| n.at);
            if !seen.insert(name.clone()) {
                let hint = (name == INITIAL_PHASE)
                    .then(|| "'initial' names the routing before the first phase".to_owned());
                self.push(name_at, format!("phase '{name}' is defined twice"), hint);
            }
            match phase.start {
                PhaseStart::Requests(n) => {
                    if n < last_requests {
                        self.push(
                            name_at,
                            format!("phase '{name}' starts before the phase above it"),
                            Some("list phases in the order they start".into()),
                        );
                    }
                    last_requests = n;
                    if let Some(total) = total_requests
                        && n as f64 >= total
                    {
                        self.push(
                            name_at,
                            format!("phase '{name}' starts after the workload ends"),
                            Some(format!(
                                "it starts at {n} requests; the workload sends about {}",
                                total.round()
                            )),
                        );
                    }
                }
                PhaseStart::Time(t) => {
                    if t.get() < last_time {
                        self.push(
                            name_at,
                            format!("phase '{name}' starts before the phase above it"),
                            Some("list phases in the order they start".into()),
                        );
                    }
                    last_time = t.get();
                }
            }
            if phase.routing.is_empty() {
                self.push(
                    name_at,
                    format!("phase '{name}' applies no routing object"),
                    None,
                );
            }
        }
    }

    // === confidence ===

    fn levels(
        &mut self,
        alpha: Option<Located<f64>>,
        power: Option<Located<f64>>,
        detect: Option<Located<super::Percent>>,
    ) {
        for (name, value) in [("alpha", alpha), ("power", power)] {
            if let Some(v) = value
                && !(v.value > 0.0 && v.value < 1.0)
            {
                self.push(
                    v.at,
                    format!("{name} {} is not between 0 and 1", v.value),
                    None,
                );
            }
        }
        if let Some(d) = detect
            && !(d.value.fraction() > 0.0 && d.value.fraction() < 1.0)
        {
            self.push(
                d.at,
                format!(
                    "detect '{}' is not between 0% and 100% (exclusive)",
                    d.value
                ),
                None,
            );
        }
    }

    // === expectations ===

    fn expectations(&mut self) {
        let mut names = BTreeSet::new();
        for expectation in self.s.expect.iter() {
            let common = expectation.common();
            if let Some(name) = common.name
                && !names.insert(name)
            {
                self.push(
                    expectation.at,
                    format!("expectation '{name}' is defined twice"),
                    None,
                );
            }
            self.levels(common.alpha, common.power, common.detect);
            let Some(service) = self.expectation_service(expectation) else {
                continue;
            };
            self.selector(expectation, service);
            self.kind_specific(expectation, service);
        }
        if self.issues.is_empty() {
            self.budgets();
        }
    }

    fn expectation_service(
        &mut self,
        expectation: &Located<Expectation>,
    ) -> Option<&'a FleetService> {
        let common = expectation.common();
        if let Some(name) = common.service {
            let found = self.s.service(name);
            if found.is_none() {
                self.push(
                    name.at,
                    format!("service '{}' is not in the fleet", name.value),
                    Some(format!("the fleet has {}", self.fleet_names())),
                );
            }
            return found;
        }
        if let Some(client) = &common.of.client
            && !self.s.clients().any(|(name, _)| name == client.value)
        {
            self.push(
                client.at,
                format!("unknown client '{}'", client.value),
                Some(format!(
                    "the clients are {}",
                    quoted(self.s.clients().map(|(n, _)| n))
                )),
            );
            return None;
        }
        let found = self.s.service_of(expectation);
        if found.is_none()
            && self
                .s
                .clients()
                .all(|(_, c)| self.s.service(&c.service).is_some())
        {
            self.push(
                expectation.at,
                format!("this {} expectation needs a 'service'", expectation.kind()),
                Some(format!(
                    "the fleet has {}; name one with 'service:'",
                    self.fleet_names()
                )),
            );
        }
        found
    }

    fn selector(&mut self, expectation: &Located<Expectation>, service: &FleetService) {
        let of = expectation.common().of;
        let calling: Vec<(String, &Client)> = self
            .s
            .clients()
            .filter(|(_, c)| {
                self.s
                    .service(&c.service)
                    .is_some_and(|s| s.service.value == service.service.value)
            })
            .collect();
        if let Some(client) = &of.client {
            match self.s.clients().find(|(n, _)| *n == client.value) {
                None => {
                    self.push(
                        client.at,
                        format!("unknown client '{}'", client.value),
                        Some(format!(
                            "the clients are {}",
                            quoted(self.s.clients().map(|(n, _)| n))
                        )),
                    );
                    return;
                }
                Some(_) if !calling.iter().any(|(n, _)| *n == client.value) => {
                    self.push(
                        client.at,
                        format!(
                            "client '{}' does not call '{}'",
                            client.value, service.service.value
                        ),
                        None,
                    );
                    return;
                }
                Some(_) => {}
            }
        }
        let selected: Vec<&(String, &Client)> = calling
            .iter()
            .filter(|(n, _)| of.client.as_ref().is_none_or(|c| c.value == *n))
            .collect();
        if let Some(class) = &of.class {
            let classes: Vec<String> = selected
                .iter()
                .flat_map(|(n, c)| c.classes(n).into_iter().map(|k| k.name.to_owned()))
                .collect();
            if !classes.contains(&class.value) {
                self.push(
                    class.at,
                    format!("unknown request class '{}'", class.value),
                    Some(format!(
                        "the classes sent to '{}' are {}",
                        service.service.value,
                        quoted(classes)
                    )),
                );
                return;
            }
        }
        if let Some(phase) = &of.phase {
            let names = self.s.phase_names();
            if !names.contains(&phase.value) {
                self.push(
                    phase.at,
                    format!("unknown phase '{}'", phase.value),
                    Some(format!("the phases are {}", quoted(names))),
                );
            }
        }
        if !of.attributes.is_empty() {
            let share: f64 = selected
                .iter()
                .map(|(n, c)| self.s.selected_share(c, n, expectation))
                .sum();
            if share <= 0.0 {
                let carried: Vec<String> = selected
                    .iter()
                    .flat_map(|(n, c)| {
                        c.classes(n)
                            .into_iter()
                            .map(|k| {
                                k.call
                                    .spec(service.protocol.value)
                                    .attributes()
                                    .iter()
                                    .map(|(a, v)| format!("{a}={v}"))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let at = of
                    .attributes
                    .0
                    .first()
                    .map_or(expectation.at, |(k, _)| k.at);
                self.push(
                    at,
                    "no request of the workload has these attributes",
                    Some(format!("the calls carry {}", quoted(carried))),
                );
            }
        }
    }

    fn known_version(&mut self, service: &FleetService, name: &Located<String>) {
        if self.s.versions_of(&service.service, &name.value).is_some() {
            return;
        }
        let mut subsets = BTreeSet::new();
        for phase in 0..=self.s.phases.len() {
            for (subset, _) in self
                .s
                .subsets(&self.s.routing_in_phase(phase), &service.service)
            {
                if let Some(s) = subset.as_str() {
                    subsets.insert(s.to_owned());
                }
            }
        }
        let mut hint = format!("its versions are {}", quoted(service.versions.keys()));
        if !subsets.is_empty() {
            hint.push_str(&format!(", its subsets {}", quoted(&subsets)));
        }
        self.push(
            name.at,
            format!(
                "unknown version '{}' of service '{}'",
                name.value, service.service.value
            ),
            Some(hint),
        );
    }

    fn kind_specific(&mut self, expectation: &Located<Expectation>, service: &FleetService) {
        for name in expectation.named_versions() {
            self.known_version(service, name);
        }
        match &expectation.value {
            Expectation::Split(e) => self.weights(&e.to, expectation.at),
            Expectation::Connections(e) => self.weights(&e.to, expectation.at),
            Expectation::Latency(e) => {
                if e.below.is_empty() && e.above.is_empty() {
                    self.push(
                        expectation.at,
                        "a latency expectation needs 'below' or 'above' bounds",
                        Some("e.g. 'below: { p99: 20ms }'".into()),
                    );
                }
                for (key, _) in e.below.iter().chain(e.above.iter()) {
                    if quantile(&key.value).is_none() {
                        self.push(
                            key.at,
                            format!(
                                "quantile '{}' is not of the form p50, p99 or p99.9",
                                key.value
                            ),
                            None,
                        );
                    }
                }
            }
            Expectation::Fault(e) => {
                if e.delay.is_none() && e.abort.is_none() {
                    self.push(
                        expectation.at,
                        "a fault expectation needs 'delay' or 'abort'",
                        None,
                    );
                }
            }
            Expectation::Rejected(e) => {
                let given = [
                    e.fraction.is_some(),
                    e.at_least.is_some(),
                    e.exactly.is_some(),
                ];
                if given.iter().filter(|g| **g).count() != 1 {
                    self.push(
                        expectation.at,
                        "a rejected expectation needs exactly one of 'fraction', 'at_least', 'exactly'",
                        None,
                    );
                }
            }
            Expectation::Retried(e) => {
                if e.attempts.value == 0 {
                    self.push(e.attempts.at, "'attempts' must be at least 1", None);
                }
            }
            Expectation::Redirected(e) => {
                if e.status.is_some_and(|s| !(300..400).contains(&s)) {
                    self.push(expectation.at, "a redirect's 'status' must be a 3xx", None);
                }
            }
            Expectation::Received(e) => {
                if e.attributes.iter().next().is_none() {
                    self.push(
                        expectation.at,
                        "a received expectation needs at least one attribute",
                        None,
                    );
                }
            }
            Expectation::Ejected(e) => {
                if let (Some(replica), Some(version)) =
                    (&e.replica, service.versions.get(&e.version))
                    && replica.value >= version.replicas
                {
                    self.push(
                        replica.at,
                        format!(
                            "replica {} of version '{}' does not exist",
                            replica.value, e.version.value
                        ),
                        Some(format!(
                            "it has {} replica(s), counted from 0",
                            version.replicas
                        )),
                    );
                }
            }
            Expectation::Mirrored(e) => {
                let target = match &e.target {
                    Some(name) => match self.s.service(name) {
                        Some(found) => found,
                        None => {
                            self.push(
                                name.at,
                                format!("service '{}' is not in the fleet", name.value),
                                Some(format!("the fleet has {}", self.fleet_names())),
                            );
                            return;
                        }
                    },
                    None => service,
                };
                self.known_version(target, &e.to);
            }
            Expectation::Heartbeats(_) => self.heartbeats(expectation, service),
            Expectation::Balanced(_) | Expectation::Routed(_) | Expectation::Timeout(_) => {}
        }
    }

    /// A heartbeat has no class, attributes or phase, and some selected
    /// client must send heartbeats.
    fn heartbeats(&mut self, expectation: &Located<Expectation>, service: &FleetService) {
        let of = expectation.common().of;
        let narrowing = [
            ("class", of.class.as_ref().map(|c| c.at)),
            ("attributes", of.attributes.0.first().map(|(k, _)| k.at)),
            ("phase", of.phase.as_ref().map(|p| p.at)),
        ];
        for (field, at) in narrowing {
            if let Some(at) = at {
                self.push(
                    at,
                    format!("'of.{field}' does not apply to heartbeats"),
                    Some("heartbeats belong to connections: select them by 'client'".into()),
                );
            }
        }
        let beating = self.s.clients().any(|(name, client)| {
            of.client.as_ref().is_none_or(|c| c.value == name)
                && self
                    .s
                    .service(&client.service)
                    .is_some_and(|s| s.service.value == service.service.value)
                && client.pause.as_ref().is_some_and(|p| p.heartbeat.is_some())
        });
        if !beating {
            self.push(
                expectation.at,
                "no selected client sends heartbeats",
                Some("give a closed-loop dubbo client e.g. 'pause: { every: 1000, for: 5s, heartbeat: 1s }'".into()),
            );
        }
    }

    fn weights(&mut self, to: &super::Ordered<Located<super::Weight>>, at: Position) {
        if to.is_empty() {
            self.push(at, "'to' names no version", None);
        } else if to.iter().all(|(_, w)| w.value.0 == 0) {
            let first = to.0.first().map_or(at, |(k, _)| k.at);
            self.push(first, "the weights add up to 0", None);
        }
    }

    /// The workload must supply each assertion's planned sample.
    fn budgets(&mut self) {
        for assertion in self.s.plan() {
            let contributing: Vec<&Located<Client>> = assertion
                .supply
                .clients
                .iter()
                .filter_map(|i| self.s.workload.clients.get(*i))
                .collect();
            for client in &contributing {
                if let Some((per, need)) = Scenario::lifetime_too_short(client, &assertion.plan) {
                    let at = client.lifetime.as_ref().map_or(client.at, |l| l.at);
                    self.push(
                        at,
                        format!(
                            "a connection lifetime of {per} requests is too short for '{}'",
                            assertion.name
                        ),
                        Some(format!("it checks every connection on its own and needs {need} requests on each")),
                    );
                }
            }
            if !assertion.short_of_samples() {
                continue;
            }
            let supplied = assertion.supply.samples.unwrap_or_default().floor();
            let (at, hint) = match contributing.as_slice() {
                [only] => match assertion.plan.unit {
                    Unit::Requests => (
                        only.requests
                            .as_ref()
                            .map(|r| r.at)
                            .or(only.duration.as_ref().map(|d| d.at))
                            .unwrap_or(only.at),
                        "raise the budget ('requests' or 'duration'), or relax detect/alpha/power; 'meshbench plan' shows each size",
                    ),
                    Unit::Connections => (
                        only.connections.at,
                        "raise 'connections' or shorten 'lifetime', or relax detect/alpha/power; 'meshbench plan' shows each size",
                    ),
                    Unit::Heartbeats => (
                        only.pause.as_ref().map_or(only.at, |p| p.every.at),
                        "pause more often than each connection's share of the requests ('every'), or pause longer than 'heartbeat'",
                    ),
                },
                _ => (
                    assertion.at,
                    "raise the clients' budgets, or relax detect/alpha/power; 'meshbench plan' shows each size",
                ),
            };
            let at = if at.is_known() { at } else { assertion.at };
            let needs = assertion.plan.unit.amount(assertion.plan.n);
            let verb = match assertion.plan.unit {
                Unit::Requests | Unit::Heartbeats => "sends",
                Unit::Connections => "opens",
            };
            self.push(
                at,
                format!(
                    "budget too small: '{}' needs {needs}, the workload {verb} about {supplied} of them",
                    assertion.name
                ),
                Some(hint.to_owned()),
            );
        }
    }
}
