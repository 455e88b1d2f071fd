//! Statistical levels, expectations, and the budget each plan needs.

use super::*;

impl<'a> Checker<'a> {
    // === confidence ===

    pub(super) fn levels(
        &mut self,
        alpha: Option<Located<f64>>,
        power: Option<Located<f64>>,
        detect: Option<Located<crate::scenario::Percent>>,
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

    pub(super) fn expectations(&mut self) {
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

    pub(super) fn expectation_service(
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

    pub(super) fn selector(&mut self, expectation: &Located<Expectation>, service: &FleetService) {
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

    /// Reports `name` unless it is a version or subset of `service`.
    pub(crate) fn known_version(&mut self, service: &FleetService, name: &Located<String>) {
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

    /// The versions it names, then what its kind checks of its own fields.
    pub(super) fn kind_specific(
        &mut self,
        expectation: &Located<Expectation>,
        service: &FleetService,
    ) {
        for name in expectation.named_versions() {
            self.known_version(service, name);
        }
        expectation
            .as_kind()
            .validate(expectation.at, service, self);
    }

    /// Reports weights that name nothing or add up to 0.
    pub(crate) fn weights(
        &mut self,
        to: &crate::scenario::Ordered<Located<crate::scenario::Weight>>,
        at: Position,
    ) {
        if to.is_empty() {
            self.push(at, "'to' names no version", None);
        } else if to.iter().all(|(_, w)| w.value.0 == 0) {
            let first = to.0.first().map_or(at, |(k, _)| k.at);
            self.push(first, "the weights add up to 0", None);
        }
    }

    /// The workload must supply each assertion's planned sample.
    pub(super) fn budgets(&mut self) {
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
                    Unit::Requests | Unit::RequestsPerConnection | Unit::PrimaryRequests => (
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
                Unit::Requests
                | Unit::RequestsPerConnection
                | Unit::PrimaryRequests
                | Unit::Heartbeats => "sends",
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
