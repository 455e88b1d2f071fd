//! From a checked scenario's expectations to the checks that verify them.
//! Every field of an expectation reaches its check, each conversion is an
//! exhaustive match (no `..` that could drop a field), and what the loader
//! has already rejected cannot come back as a half-built check.

use std::collections::BTreeMap;

use super::model::{
    Balanced, Connections, Ejected, Expectation, Fault, Heartbeats, Latency, Mirrored, Mode,
    Over as ScenarioOver, Per as ScenarioPer, Received, Redirected, Rejected, Retried, Routed,
    Selector, Split, Timeout,
};
use super::plan::quantile;
use super::{INITIAL_PHASE, Scenario};
use crate::stats::{Alpha, Deviation, Power};
use crate::verify::{
    self, BalancedCheck, Check, Claim, Confidence, CountCheck, EjectedCheck, FractionCheck,
    HeartbeatsCheck, LatencyCheck, MirroredCheck, Over, Part, Parts, Per, Property, ReceivedCheck,
    RedirectedCheck, RetriedCheck, RoutedCheck, Selection, SplitCheck, TimeoutCheck,
};

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
        let fqdn = service.service.value.clone();
        let context = Context {
            scenario: self,
            fqdn: &fqdn,
            selection: self.selection(expectation.common().of, &fqdn, phases),
            confidence: confidence(self, expectation)?,
        };
        let check = context.check(expectation, service)?;
        Ok(Claim {
            name,
            kind: expectation.kind(),
            protocol: service.protocol.value,
            check,
        })
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

/// What every check of one expectation shares.
struct Context<'a> {
    scenario: &'a Scenario,
    fqdn: &'a str,
    selection: Selection,
    confidence: Confidence,
}

impl Context<'_> {
    /// The version a subset or version name of the expectation's service stands for.
    fn version(&self, name: &str) -> String {
        self.version_of(self.fqdn, name)
    }

    /// The version a subset or version name of `service` stands for.
    fn version_of(&self, service: &str, name: &str) -> String {
        self.scenario
            .versions_of(service, name)
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| name.to_owned())
    }

    fn weights<'w>(&self, to: impl Iterator<Item = (&'w String, u32)>) -> Vec<(String, f64)> {
        to.map(|(v, w)| (self.version(v), f64::from(w))).collect()
    }

    /// The check of `expectation`. Each kind is destructured field by field
    /// (the fields every kind has are read by `Scenario::claim` through
    /// `common()`): a field added to the format and forgotten here does not
    /// compile, so no field can be parsed and then dropped.
    fn check(
        &self,
        expectation: &Expectation,
        service: &super::FleetService,
    ) -> Result<Check, String> {
        let (selection, confidence) = (self.selection.clone(), self.confidence);
        Ok(match expectation {
            Expectation::Split(Split {
                to,
                per: unit,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Split(SplitCheck {
                selection,
                weights: self.weights(to.iter().map(|(v, w)| (&v.value, w.value.0))),
                per: per(*unit),
                confidence,
            }),
            Expectation::Connections(Connections {
                to,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Split(SplitCheck {
                selection,
                weights: self.weights(to.iter().map(|(v, w)| (&v.value, w.value.0))),
                per: Per::Run,
                confidence,
            }),
            Expectation::Routed(Routed {
                to,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Routed(RoutedCheck {
                selection,
                to: self.version(&to.value),
                confidence,
            }),
            Expectation::Balanced(Balanced {
                over,
                versions,
                per: unit,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => {
                let (over, labels) = match (over, versions) {
                    (ScenarioOver::Versions, Some(versions)) => (
                        Over::Versions,
                        versions.iter().map(|v| self.version(&v.value)).collect(),
                    ),
                    (ScenarioOver::Versions, None) => (
                        Over::Versions,
                        service.versions.keys().map(str::to_owned).collect(),
                    ),
                    (ScenarioOver::Endpoints, _) => (Over::Endpoints, Vec::new()),
                };
                Check::Balanced {
                    check: BalancedCheck {
                        selection,
                        over,
                        labels,
                        per: per(*unit),
                        confidence,
                    },
                    service: self.fqdn.to_owned(),
                }
            }
            Expectation::Mirrored(Mirrored {
                to,
                target,
                fraction,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => {
                let target = target
                    .as_ref()
                    .and_then(|t| self.scenario.service(&t.value))
                    .map_or(self.fqdn, |t| t.service.value.as_str());
                Check::Mirrored(MirroredCheck {
                    selection,
                    service: target.to_owned(),
                    to: self.version_of(target, &to.value),
                    fraction: fraction.value.fraction(),
                    confidence,
                })
            }
            Expectation::Redirected(Redirected {
                location,
                status,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Redirected(RedirectedCheck {
                selection,
                status: status.unwrap_or(301).to_string(),
                location: location.value.clone(),
                confidence,
            }),
            Expectation::Received(Received {
                attributes,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Received(ReceivedCheck {
                selection,
                attributes: attributes
                    .iter()
                    .map(|(k, v)| (k.value.to_ascii_lowercase(), v.clone()))
                    .collect(),
                confidence,
            }),
            Expectation::Heartbeats(Heartbeats {
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Heartbeats(HeartbeatsCheck {
                selection,
                confidence,
            }),
            Expectation::Retried(Retried {
                attempts,
                status,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Retried(RetriedCheck {
                selection,
                attempts: attempts.value,
                status: status.map(|s| s.value),
                confidence,
            }),
            Expectation::Timeout(Timeout {
                after,
                slack,
                early,
                status,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Timeout(TimeoutCheck {
                selection,
                after: after.value.get(),
                slack: slack.value.get(),
                early: early.value.get(),
                status: status.map(|s| s.value.to_string()),
                confidence,
            }),
            Expectation::Latency(Latency {
                version,
                below,
                above,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Latency(LatencyCheck {
                selection,
                version: version.as_ref().map(|v| self.version(&v.value)),
                below: below
                    .iter()
                    .filter_map(|(q, d)| Some((quantile(&q.value)?, d.value.get())))
                    .collect(),
                above: above
                    .iter()
                    .filter_map(|(q, d)| Some((quantile(&q.value)?, d.value.get())))
                    .collect(),
                confidence,
            }),
            Expectation::Fault(fault) => Check::Fraction(FractionCheck {
                kind: "fault",
                selection,
                parts: fault_parts(fault)?,
                confidence,
            }),
            Expectation::Rejected(rejected) => rejected_check(rejected, selection, confidence)?,
            Expectation::Ejected(Ejected {
                version,
                replica,
                within,
                name: _,
                service: _,
                of: _,
                alpha: _,
                power: _,
                detect: _,
            }) => Check::Ejected {
                check: EjectedCheck {
                    selection,
                    version: self.version(&version.value),
                    pods: Vec::new(),
                    within: within.value.get(),
                    confidence,
                },
                replica: replica.as_ref().map(|r| r.value),
                service: self.fqdn.to_owned(),
            },
        })
    }
}

fn per(per: ScenarioPer) -> Per {
    match per {
        ScenarioPer::Run => Per::Run,
        ScenarioPer::Connection => Per::Connection,
    }
}

/// A fault's claimed shares: the abort, the delay, or both.
fn fault_parts(fault: &Fault) -> Result<Parts, String> {
    let Fault {
        delay,
        abort,
        name: _,
        service: _,
        of: _,
        alpha: _,
        power: _,
        detect: _,
    } = fault;
    let abort = abort.as_ref().map(|a| Part {
        property: Property::Status(a.value.status.value.to_string()),
        fraction: a.value.fraction.value.fraction(),
    });
    let delay = delay.as_ref().map(|d| Part {
        property: Property::Delayed(d.value.by.value.get()),
        fraction: d.value.fraction.value.fraction(),
    });
    match (abort, delay) {
        (Some(abort), Some(delay)) => Ok(Parts::Two(abort, delay)),
        (Some(one), None) | (None, Some(one)) => Ok(Parts::One(one)),
        (None, None) => Err("a fault expectation needs 'delay', 'abort' or both".to_owned()),
    }
}

fn rejected_check(
    rejected: &Rejected,
    selection: Selection,
    confidence: Confidence,
) -> Result<Check, String> {
    let Rejected {
        fraction,
        at_least,
        at_most,
        exactly,
        status,
        name: _,
        service: _,
        of: _,
        alpha: _,
        power: _,
        detect: _,
    } = rejected;
    let status = status.unwrap_or(503).to_string();
    let count = |least: u64, most: Option<u64>| {
        Check::Count(CountCheck {
            selection: selection.clone(),
            status: status.clone(),
            least,
            most,
        })
    };
    let value = |n: &Option<crate::scenario::Located<u64>>| n.as_ref().map(|n| n.value);
    match (fraction, (value(at_least), value(at_most)), exactly) {
        (Some(fraction), (None, None), None) => Ok(Check::Fraction(FractionCheck {
            kind: "rejected",
            selection: selection.clone(),
            parts: Parts::One(Part {
                property: Property::Status(status.clone()),
                fraction: fraction.value.fraction(),
            }),
            confidence,
        })),
        (None, (None, None), Some(n)) => Ok(count(n.value, Some(n.value))),
        (None, (Some(least), most), None) => Ok(count(least, most)),
        (None, (None, Some(most)), None) => Ok(count(0, Some(most))),
        _ => Err(
            "a rejected expectation needs 'fraction', 'exactly', or 'at_least'/'at_most'"
                .to_owned(),
        ),
    }
}
