//! From a checked scenario's expectations to the checks that verify them:
//! the selection and levels every kind shares are made here, and each kind
//! builds its own check from them ([`crate::expect::Kind::check`]),
//! destructuring every field, so none can be parsed and then dropped.

use std::collections::BTreeMap;

use super::model::{Expectation, FleetService, Mode, Selector};
use super::{INITIAL_PHASE, Located, Ordered, ProxySetting, Scenario, Weight};
use crate::stats::{Alpha, Deviation, Power};
use crate::verify::{self, Claim, Confidence, Selection};

impl Scenario {
    /// One named check per expectation, in order.
    ///
    /// # Errors
    /// A sentence when an expectation cannot become a check (a service or a
    /// level the loader should have rejected).
    pub fn claims(&self) -> Result<Vec<Claim>, String> {
        let phases = self.phase_names();
        self.expect
            .iter()
            .enumerate()
            .map(|(i, e)| self.claim(&e.value, i, &phases))
            .collect()
    }

    /// The expectation's name: the one written, or `<kind>-<n>`.
    pub fn expectation_name(expectation: &Expectation, index: usize) -> String {
        expectation
            .common()
            .name
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-{}", expectation.kind(), index + 1))
    }

    fn claim(
        &self,
        expectation: &Expectation,
        index: usize,
        phases: &[String],
    ) -> Result<Claim, String> {
        let name = Self::expectation_name(expectation, index);
        let service = self
            .service_of(expectation)
            .ok_or_else(|| format!("expectation '{name}' names no service of the fleet"))?;
        let claiming = Claiming {
            scenario: self,
            service,
            selection: self.selection(expectation.common().of, &service.service.value, phases),
            confidence: confidence(self, expectation)?,
        };
        let check = expectation.as_kind().check(&claiming)?;
        Ok(Claim {
            name,
            kind: expectation.kind(),
            protocol: service.protocol.value,
            needs: self.needs(expectation, &claiming.selection),
            check,
        })
    }

    /// The settings of this scenario an expectation's verdict depends on:
    /// the phases unless it selects the initial one, the idle timeout when
    /// a selected client pauses, and what its kind needs of those set.
    fn needs(&self, expectation: &Expectation, selection: &Selection) -> Vec<ProxySetting> {
        let set = |setting: &ProxySetting| match setting {
            ProxySetting::Phases => !self.phases.is_empty(),
            ProxySetting::IdleTimeout => self.proxy.idle_timeout.is_some(),
            ProxySetting::Workers => self.proxy.workers.is_some(),
        };
        let pausing = self.workload.clients.iter().enumerate().any(|(i, client)| {
            (selection.clients.is_empty() || selection.clients.contains(&i))
                && client.pause.is_some()
        });
        let mut needs: Vec<ProxySetting> = expectation.as_kind().needs().to_vec();
        if selection.phase != Some(0) {
            needs.push(ProxySetting::Phases);
        }
        if pausing {
            needs.push(ProxySetting::IdleTimeout);
        }
        needs.retain(set);
        needs.sort();
        needs.dedup();
        needs
    }

    /// The requests an expectation is about: those of the clients calling
    /// its service, narrowed by client, class, attributes and phase.
    fn selection(&self, of: &Selector, fqdn: &str, phases: &[String]) -> Selection {
        let mut clients = Vec::new();
        let mut classes = Vec::new();
        for (index, (name, client)) in self.clients().enumerate() {
            let Some(service) = self.service(&client.service) else {
                continue;
            };
            let chosen = of.client.as_ref().is_none_or(|c| c.value == name);
            if service.service.value != fqdn || !chosen {
                continue;
            }
            clients.push(index);
            for class in client.classes(&name) {
                let by_name = of.class.as_ref().is_none_or(|c| c.value == class.name);
                let attributes: BTreeMap<String, String> =
                    class.call.spec(service.protocol.value).attributes();
                let by_attributes = of.attributes.0.iter().all(|(k, v)| {
                    attributes
                        .get(&k.value.to_ascii_lowercase())
                        .is_none_or(|a| a == v)
                });
                if by_name && by_attributes {
                    classes.push(class.name.to_owned());
                }
            }
        }
        // The initial phase is phase 0 whatever it is called.
        let phase = of.phase.as_ref().and_then(|p| {
            phases
                .iter()
                .position(|n| *n == p.value)
                .or_else(|| (p.value == INITIAL_PHASE).then_some(0))
        });
        Selection {
            clients,
            classes,
            phase,
        }
    }
}

fn confidence(scenario: &Scenario, expectation: &Expectation) -> Result<Confidence, String> {
    let levels = expectation.levels(&scenario.confidence);
    Ok(Confidence {
        alpha: Alpha::new(levels.alpha).map_err(|e| e.to_string())?,
        power: Power::new(levels.power).map_err(|e| e.to_string())?,
        detect: Deviation::new(levels.detect).map_err(|e| e.to_string())?,
        mode: match scenario.confidence.mode {
            Mode::Fixed => verify::Mode::Fixed,
            Mode::Sequential => verify::Mode::Sequential,
        },
    })
}

/// What an expectation kind builds its check from: the scenario, the
/// service the expectation is about, the requests it selects and its levels.
pub(crate) struct Claiming<'a> {
    /// The scenario.
    pub(crate) scenario: &'a Scenario,
    /// The service the expectation is about.
    pub(crate) service: &'a FleetService,
    /// The requests it is about.
    pub(crate) selection: Selection,
    /// Its levels, defaults applied.
    pub(crate) confidence: Confidence,
}

impl Claiming<'_> {
    /// The service's FQDN.
    pub(crate) fn fqdn(&self) -> &str {
        &self.service.service.value
    }

    /// The version a subset or version name of the expectation's service stands for.
    pub(crate) fn version(&self, name: &str) -> String {
        self.version_of(self.fqdn(), name)
    }

    /// The version a subset or version name of `service` stands for.
    pub(crate) fn version_of(&self, service: &str, name: &str) -> String {
        self.scenario
            .versions_of(service, name)
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| name.to_owned())
    }

    /// Weights by version, as the verifiers take them.
    pub(crate) fn weights(&self, to: &Ordered<Located<Weight>>) -> Vec<(String, f64)> {
        to.iter()
            .map(|(v, w)| (self.version(&v.value), f64::from(w.value.0)))
            .collect()
    }
}
