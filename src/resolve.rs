//! From a scenario to what a run needs: the fleet, the routing per phase,
//! the workload (once listeners are known) and one check per expectation.
//! The scenario model stays free of run-time types; this is the one place
//! that joins the two.

use std::collections::BTreeMap;

use meshbench_sim::client::thrift::ThriftOptions;
use meshbench_sim::ledger::{Entry, Outcome};
use meshbench_sim::scenario::model::{
    Arrival, CallSpec, Expectation, Lifetime, Mode, Over as ScenarioOver, PhaseStart, Selector,
};
use meshbench_sim::scenario::plan::quantile;
use meshbench_sim::scenario::{INITIAL_PHASE, Scenario};
use meshbench_sim::stats::{Alpha, Deviation, Power};
use meshbench_sim::stats::{Decision, StatsError};
use meshbench_sim::verify::{
    self, BalancedCheck, Confidence, EjectedCheck, HeartbeatsCheck, LatencyCheck, MirroredCheck,
    Monitor, Over, ReceivedCheck, RedirectedCheck, RetriedCheck, RoutedCheck, Selection,
    SequentialShares, SplitCheck, SplitMonitor, TimeoutCheck,
};
use meshbench_sim::workload::{
    self, Budget, Call, ClientPlan, Pace, Pause, RequestClass, WorkloadPlan,
};

use crate::adapter::ProxySettings;
use crate::run::{Phase, RunSpec, Trigger};

/// How long a request may go unanswered before it counts as a timeout.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What one expectation becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Weighted shares.
    Split(SplitCheck),
    /// Uniform within every connection; the labels are filled in from the
    /// fleet once it runs (endpoints are only known then).
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
    /// A share of requests with a status or a delay: faults and rejections.
    Fraction(FractionCheck),
    /// A count of requests answered with a status (rejections): at least,
    /// or exactly, this many.
    Count {
        /// Which requests.
        selection: Selection,
        /// The status counted.
        status: String,
        /// The count.
        count: u64,
        /// Whether more than `count` is also right.
        or_more: bool,
        /// The expectation's name.
        name: String,
    },
    /// A failing endpoint taken out of the pool; the pod is filled in from
    /// the fleet once it runs.
    Ejected {
        /// The check, pods empty.
        check: EjectedCheck,
        /// Which replica of the version fails (`None`: all of them).
        replica: Option<usize>,
        /// The service of the version.
        service: String,
    },
}

/// A share of requests with a property: answered with a status, or slower
/// than a delay (faults, rejections).
#[derive(Debug, Clone, PartialEq)]
pub struct FractionCheck {
    /// The expectation's name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// Which requests.
    pub selection: Selection,
    /// The property.
    pub property: Property,
    /// The configured share.
    pub fraction: f64,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

impl FractionCheck {
    /// Whether it is tested request by request (sequential mode).
    pub fn is_sequential(&self) -> bool {
        self.confidence.mode == verify::Mode::Sequential
    }
}

/// What a [`FractionCheck`] counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Property {
    /// Answered with this status (HTTP status, Dubbo status, Thrift exception kind).
    Status(String),
    /// Took at least this long.
    Delayed(std::time::Duration),
}

impl Property {
    /// Whether `entry` has it.
    pub fn holds(&self, entry: &Entry) -> bool {
        match (self, &entry.outcome) {
            (Property::Status(status), Outcome::Response { code, .. }) => code == status,
            (Property::Status(_), _) => false,
            (Property::Delayed(by), _) => entry.service_time >= *by,
        }
    }

    /// It, in words: "answered 503".
    pub fn describe(&self) -> String {
        match self {
            Property::Status(status) => format!("answered {status}"),
            Property::Delayed(by) => format!("delayed by {by:?} or more"),
        }
    }
}

/// The live monitor of a [`FractionCheck`]: each selected request either
/// has the property or not.
#[derive(Debug, Clone)]
pub struct FractionMonitor {
    selection: Selection,
    property: Property,
    shares: SequentialShares,
}

impl FractionMonitor {
    /// The labels of the two shares.
    const LABELS: [&'static str; 2] = ["with", "without"];

    /// The monitor of `check`.
    ///
    /// # Errors
    /// When the fraction or the levels cannot make a test.
    pub fn new(check: &FractionCheck) -> Result<Self, StatsError> {
        let [with, without] = Self::LABELS.map(str::to_owned);
        let weights = [(with, check.fraction), (without, 1.0 - check.fraction)];
        Ok(FractionMonitor {
            selection: check.selection.clone(),
            property: check.property.clone(),
            shares: SequentialShares::new(&weights, check.confidence)?,
        })
    }

    /// The shares test, once fed.
    pub fn shares(&self) -> &SequentialShares {
        &self.shares
    }
}

impl Monitor for FractionMonitor {
    fn observe(&mut self, entry: &Entry) {
        if self.selection.keeps(entry) {
            let label = Self::LABELS[usize::from(!self.property.holds(entry))];
            self.shares
                .observe(label, verify::sequential::ended_at(entry));
        }
    }

    fn decision(&self) -> Decision {
        self.shares.decision()
    }
}

impl Check {
    /// The live monitor of a check that can be decided request by request in
    /// sequential mode; `None` for fixed-mode checks and kinds that need the
    /// whole run (balance per connection, mirrors, latency quantiles).
    pub fn monitor(&self) -> Option<Box<dyn Monitor>> {
        match self {
            Check::Split(check) if check.confidence.mode == verify::Mode::Sequential => {
                SplitMonitor::new(check)
                    .ok()
                    .map(|m| Box::new(m) as Box<dyn Monitor>)
            }
            Check::Fraction(check) if check.is_sequential() => FractionMonitor::new(check)
                .ok()
                .map(|m| Box::new(m) as Box<dyn Monitor>),
            _ => None,
        }
    }
}

/// A scenario resolved for running.
pub struct Resolved<'a> {
    /// The run.
    pub spec: RunSpec<'a>,
    /// One check per expectation, in order.
    pub checks: Vec<Check>,
}

/// Resolves `scenario` (already validated).
///
/// # Errors
/// A sentence when the scenario holds something the runner cannot do.
pub fn resolve(scenario: &Scenario, seed: u64) -> Result<Resolved<'_>, String> {
    let phase_names = scenario.phase_names();
    let routing = |index: usize| {
        scenario
            .routing_in_phase(index)
            .iter()
            .map(|o| o.to_json())
            .collect::<Vec<_>>()
    };
    let phases = scenario
        .phases
        .iter()
        .enumerate()
        .map(|(i, phase)| Phase {
            trigger: match phase.value.start {
                PhaseStart::Time(at) => Trigger::After(at.get()),
                PhaseStart::Requests(n) => Trigger::Requests(n),
            },
            routing: routing(i + 1),
        })
        .collect();
    let checks = scenario
        .expect
        .iter()
        .enumerate()
        .map(|(i, e)| check(scenario, &e.value, i, &phase_names))
        .collect::<Result<Vec<_>, String>>()?;
    // The run stops early only when every check can say it has seen enough.
    let monitors: Option<Vec<Box<dyn Monitor>>> = checks.iter().map(Check::monitor).collect();
    let spec = RunSpec {
        monitors: monitors.unwrap_or_default(),
        services: scenario.fleet_specs(),
        routing: routing(0),
        proxy: ProxySettings {
            idle_timeout: scenario.proxy.idle_timeout.map(|d| d.value.get()),
        },
        phases,
        workload: Box::new(move |listeners| workload(scenario, listeners)),
        warmup: scenario.workload.warmup.as_ref().map(|w| w.value),
        seed,
    };
    Ok(Resolved { spec, checks })
}

fn workload(
    scenario: &Scenario,
    listeners: &crate::adapter::Listeners,
) -> Result<WorkloadPlan, String> {
    let mut clients = Vec::new();
    for (name, client) in scenario.clients() {
        let service = scenario
            .service(&client.service)
            .ok_or_else(|| format!("client '{name}' calls an unknown service"))?;
        let fqdn = &service.service.value;
        let target = *listeners
            .get(fqdn)
            .ok_or_else(|| format!("the proxy opened no listener for {fqdn}"))?;
        let protocol = service.protocol.value;
        let mix = client
            .classes(&name)
            .into_iter()
            .map(|class| RequestClass {
                name: class.name.to_owned(),
                weight: (class.share * 1_000_000.0).round() as u32,
                call: call(class.call.spec(protocol)),
            })
            .collect();
        let pace = match &client.open {
            Some(open) => Pace::Open {
                rate: open.value.rate.per_second(),
                poisson: open.value.arrival == Arrival::Poisson,
            },
            None => Pace::Closed,
        };
        let lifetime = client.lifetime.as_ref().map(|l| match l.value {
            Lifetime::Requests(n) => workload::Lifetime::Requests(n),
            Lifetime::Duration(d) => workload::Lifetime::Duration(d.get()),
        });
        let pause = client.pause.as_ref().map(|p| Pause {
            every: p.every.value,
            idle: p.idle.value.get(),
            heartbeat: p.heartbeat.map(|h| h.value.get()),
        });
        clients.push(ClientPlan {
            name,
            target,
            connections: client.connections.value as usize,
            in_flight: client.in_flight.value as usize,
            lifetime,
            pause,
            pace,
            budget: Budget {
                requests: client.requests.as_ref().map(|r| r.value),
                duration: client.duration.as_ref().map(|d| d.value.get()),
            },
            mix,
        });
    }
    Ok(WorkloadPlan {
        clients,
        request_timeout: REQUEST_TIMEOUT,
        id_prefix: String::new(),
    })
}

fn call(spec: CallSpec) -> Call {
    match spec {
        CallSpec::Thrift {
            name,
            transport,
            encoding,
            service,
            context,
            ..
        } => Call::Thrift {
            name,
            options: ThriftOptions {
                transport,
                encoding,
                service,
            },
            context,
        },
        CallSpec::Dubbo {
            interface,
            method,
            name,
            attachments,
        } => Call::Dubbo {
            interface,
            method,
            name,
            attachments: attachments.into_iter().collect(),
        },
        CallSpec::Http {
            method,
            path,
            headers,
            ..
        } => Call::Http {
            method,
            path,
            headers: headers.into_iter().collect(),
        },
        CallSpec::Tcp { payload } => Call::Tcp {
            payload: payload.into_bytes(),
        },
    }
}

fn check(
    scenario: &Scenario,
    expectation: &Expectation,
    index: usize,
    phases: &[String],
) -> Result<Check, String> {
    let common = expectation.common();
    let name = common
        .name
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}-{}", expectation.kind(), index + 1));
    let service = scenario
        .service_of(expectation)
        .ok_or_else(|| format!("expectation '{name}' names no service of the fleet"))?;
    let fqdn = service.service.value.clone();
    let selection = selection(scenario, common.of, &fqdn, phases);
    let levels = expectation.levels(&scenario.confidence);
    let confidence = Confidence {
        alpha: Alpha::new(levels.alpha).map_err(|e| e.to_string())?,
        power: Power::new(levels.power).map_err(|e| e.to_string())?,
        detect: Deviation::new(levels.detect).map_err(|e| e.to_string())?,
        mode: match scenario.confidence.mode {
            Mode::Fixed => verify::Mode::Fixed,
            Mode::Sequential => verify::Mode::Sequential,
        },
    };
    let version = |name: &str| {
        scenario
            .versions_of(&fqdn, name)
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| name.to_owned())
    };
    Ok(match expectation {
        Expectation::Split(split) => Check::Split(SplitCheck {
            selection,
            weights: split
                .to
                .0
                .iter()
                .map(|(v, w)| (version(&v.value), f64::from(w.value.0)))
                .collect(),
            confidence,
        }),
        Expectation::Routed(routed) => Check::Routed(RoutedCheck {
            selection,
            to: version(&routed.to.value),
            confidence,
        }),
        Expectation::Balanced(balanced) => {
            let (over, labels) = match (balanced.over, &balanced.versions) {
                (ScenarioOver::Versions, Some(versions)) => (
                    Over::Versions,
                    versions.iter().map(|v| version(&v.value)).collect(),
                ),
                (ScenarioOver::Versions, None) => (
                    Over::Versions,
                    service
                        .versions
                        .0
                        .iter()
                        .map(|(v, _)| v.value.clone())
                        .collect(),
                ),
                (ScenarioOver::Endpoints, _) => (Over::Endpoints, Vec::new()),
            };
            Check::Balanced {
                check: BalancedCheck {
                    selection,
                    over,
                    labels,
                    confidence,
                },
                service: fqdn,
            }
        }
        Expectation::Connections(connections) => Check::Split(SplitCheck {
            selection,
            weights: connections
                .to
                .0
                .iter()
                .map(|(v, w)| (version(&v.value), f64::from(w.value.0)))
                .collect(),
            confidence,
        }),
        Expectation::Mirrored(mirrored) => Check::Mirrored(MirroredCheck {
            selection,
            to: version(&mirrored.to.value),
            fraction: mirrored.fraction.value.fraction(),
            confidence,
        }),
        Expectation::Redirected(redirected) => Check::Redirected(RedirectedCheck {
            selection,
            status: redirected.status.unwrap_or(301).to_string(),
            location: redirected.location.value.clone(),
            confidence,
        }),
        Expectation::Received(received) => Check::Received(ReceivedCheck {
            selection,
            attributes: received
                .attributes
                .iter()
                .map(|(k, v)| (k.value.to_ascii_lowercase(), v.clone()))
                .collect(),
            confidence,
        }),
        Expectation::Heartbeats(_) => Check::Heartbeats(HeartbeatsCheck {
            selection,
            confidence,
        }),
        Expectation::Retried(retried) => Check::Retried(RetriedCheck {
            selection,
            attempts: retried.attempts.value,
            confidence,
        }),
        Expectation::Timeout(timeout) => Check::Timeout(TimeoutCheck {
            selection,
            after: timeout.after.value.get(),
            slack: timeout.slack.value.get(),
            confidence,
        }),
        Expectation::Latency(latency) => Check::Latency(LatencyCheck {
            selection,
            version: latency.version.as_ref().map(|v| version(&v.value)),
            below: latency
                .below
                .0
                .iter()
                .filter_map(|(q, d)| Some((quantile(&q.value)?, d.value.get())))
                .collect(),
            above: latency
                .above
                .0
                .iter()
                .filter_map(|(q, d)| Some((quantile(&q.value)?, d.value.get())))
                .collect(),
            confidence,
        }),
        Expectation::Fault(fault) => {
            let (property, fraction) = match (&fault.abort, &fault.delay) {
                (Some(abort), _) => (
                    Property::Status(abort.value.status.value.to_string()),
                    abort.value.fraction.value.fraction(),
                ),
                (None, Some(delay)) => (
                    Property::Delayed(delay.value.by.value.get()),
                    delay.value.fraction.value.fraction(),
                ),
                (None, None) => {
                    return Err(format!(
                        "fault expectation '{name}' needs 'delay' or 'abort'"
                    ));
                }
            };
            Check::Fraction(FractionCheck {
                name,
                kind: "fault",
                selection,
                property,
                fraction,
                confidence,
            })
        }
        Expectation::Rejected(rejected) => {
            let status = rejected.status.unwrap_or(503).to_string();
            match (&rejected.fraction, &rejected.at_least, &rejected.exactly) {
                (Some(fraction), None, None) => Check::Fraction(FractionCheck {
                    name,
                    kind: "rejected",
                    selection,
                    property: Property::Status(status),
                    fraction: fraction.value.fraction(),
                    confidence,
                }),
                (None, Some(count), None) => Check::Count {
                    selection,
                    status,
                    count: count.value,
                    or_more: true,
                    name,
                },
                (None, None, Some(count)) => Check::Count {
                    selection,
                    status,
                    count: count.value,
                    or_more: false,
                    name,
                },
                _ => {
                    return Err(format!(
                        "rejected expectation '{name}' needs one of 'fraction', 'at_least', 'exactly'"
                    ));
                }
            }
        }
        Expectation::Ejected(ejected) => Check::Ejected {
            check: EjectedCheck {
                selection,
                version: version(&ejected.version.value),
                pods: Vec::new(),
                within: ejected.within.value.get(),
                confidence,
            },
            replica: ejected.replica.as_ref().map(|r| r.value),
            service: fqdn,
        },
    })
}

/// The requests an expectation is about: those of the clients calling its
/// service, narrowed by client, class, attributes and phase.
fn selection(scenario: &Scenario, of: &Selector, fqdn: &str, phases: &[String]) -> Selection {
    let mut clients = Vec::new();
    let mut classes = Vec::new();
    for (index, (name, client)) in scenario.clients().enumerate() {
        let calls_service = scenario
            .service(&client.service)
            .is_some_and(|s| s.service.value == fqdn);
        let chosen = of.client.as_ref().is_none_or(|c| c.value == name);
        if !calls_service || !chosen {
            continue;
        }
        clients.push(index);
        let protocol = scenario.service(&client.service).map(|s| s.protocol.value);
        for class in client.classes(&name) {
            let by_name = of.class.as_ref().is_none_or(|c| c.value == class.name);
            let attributes: BTreeMap<String, String> = protocol
                .map(|p| class.call.spec(p).attributes())
                .unwrap_or_default();
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
    let phase = of
        .phase
        .as_ref()
        .and_then(|p| phases.iter().position(|n| *n == p.value));
    // The initial phase is phase 0 whatever it is called.
    let phase = phase.or_else(|| {
        of.phase
            .as_ref()
            .filter(|p| p.value == INITIAL_PHASE)
            .map(|_| 0)
    });
    Selection {
        clients,
        classes,
        phase,
    }
}
