//! Routing objects: their references to the fleet and to subsets, then the
//! whole object through the mesh API's types at the user's positions.

use super::*;

impl<'a> Checker<'a> {
    // === routing ===

    pub(super) fn routing(&mut self) {
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
    pub(super) fn object(&mut self, object: &RoutingObject, objects: &[&RoutingObject]) {
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
                let (message, hint) = crate::scenario::load::polish(&error.message);
                self.push(error.at, format!("{}: {message}", object.describe()), hint);
            }
        }
    }

    pub(super) fn references(&mut self, object: &RoutingObject, objects: &[&RoutingObject]) {
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
    pub(super) fn host(
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

    pub(super) fn destination(
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

    pub(super) fn weight(&mut self, weight: &Node) {
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

    pub(super) fn subsets_select(
        &mut self,
        object: &RoutingObject,
        spec: &Node,
        service: &FleetService,
    ) {
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
}
