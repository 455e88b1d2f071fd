//! Planned sample sizes: how many requests (or connections) each assertion
//! needs for its alpha, power and detectable deviation, and how many the
//! workload supplies.
//!
//! There is one planner, `sim::stats::plan`; each expectation kind's module
//! ([`crate::expect`]) asks it through the helpers here, at the alpha the
//! verifier's test runs at, so `meshbench plan`, `validate` and the verdict
//! agree by construction:
//!
//! - `split`, `balanced`, `connections`: [`crate::verify::distribution::plan`]
//!   (the pooled exact share tests per run; per connection, the exact
//!   per-connection fit at alpha over the connections, needed on every one);
//! - `fault`: each share (abort, delay) exact at alpha / the number of shares;
//!   `rejected: {fraction}` and a mirror fraction: one exact share test;
//! - `routed`: 0 leaks in n bound the leak rate below `d` at alpha:
//!   `(1 - d)^n <= alpha`;
//! - `latency`: the exact one-sided binomial per bound
//!   ([`crate::stats::plan::tail`]), alpha divided among the bounds.
//!
//! Where no test runs on a rate, a simple rule stands:
//!
//! - zero tolerance (`timeout`, `retried`, `ejected`, `received`,
//!   `redirected`, a 0% or 100% mirror): any violation fails, so alpha is 0
//!   and the sample must show a violation rate of `d` with probability
//!   `power` ([`crate::stats::plan::zero_tolerance`]);
//! - `heartbeats`: every heartbeat sent must be answered, and one is
//!   enough to decide; no violation rate is claimed. The unit is the
//!   heartbeat: per client, connections × pauses per connection (one per
//!   `every` requests but after the last) × heartbeats per pause;
//! - the normal approximation ([`crate::stats::plan::approximate`]) only
//!   where the exact planners refuse the levels.

use std::time::Duration;

use super::model::{Expectation, Levels, Lifetime, Scenario};
use super::values::Position;
use super::{Located, PhaseStart};
pub use crate::stats::Unit;
use crate::stats::plan::Sides;
use crate::stats::{Alpha, Deviation, Power, Share, StatsError};
use crate::verify::Per;

/// The test behind a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// `k` shares, each within `detect` of its expected value.
    Shares {
        /// How many shares.
        categories: usize,
    },
    /// One or more proportions, each within `detect` of its expected value.
    Proportions {
        /// How many proportions (alpha is divided among them).
        count: usize,
    },
    /// Quantile bounds: the share beyond each bound, one-sided.
    Quantiles {
        /// How many bounds (alpha is divided among them).
        bounds: usize,
    },
    /// Any violation fails.
    ZeroTolerance,
    /// Every one of at least `n` must hold; no violation rate is claimed.
    EveryOne,
    /// A minimum count of events.
    Count,
}

/// The sample an assertion needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSize {
    /// What is counted.
    pub unit: Unit,
    /// How many, in total.
    pub n: u64,
    /// For `per: connection`: how many on every connection.
    pub per_connection: Option<u64>,
    /// The levels planned for.
    pub levels: Levels,
    /// The test.
    pub test: Test,
}

impl SampleSize {
    /// What the plan detects, in words: `±2 points (alpha 1e-6, power 0.99)`.
    pub fn detects(&self) -> String {
        let points = (self.levels.detect * 100.0 * 1e6).round() / 1e6;
        match self.test {
            Test::ZeroTolerance => format!(
                "a {points}% violation rate with power {} (any violation fails)",
                self.levels.power
            ),
            Test::Count => "the count itself".into(),
            Test::EveryOne => "any failure (no rate claimed)".into(),
            Test::Quantiles { .. } => format!(
                "{points} points beyond a bound (alpha {:e}, power {})",
                self.levels.alpha, self.levels.power
            ),
            Test::Shares { .. } | Test::Proportions { .. } => format!(
                "±{points} points (alpha {:e}, power {})",
                self.levels.alpha, self.levels.power
            ),
        }
    }
}

/// The shape of the population an assertion samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// How many endpoints (or versions, for `balanced over: versions`) share
    /// the requests.
    pub categories: usize,
    /// How many connections carry them (for `per: connection`).
    pub connections: u64,
}

/// Requests to see a violation rate of `detect` with probability `power`.
/// The exact planner's n (the one the verifier holds the run to), when the
/// levels make one; `None` falls back to the normal approximation.
pub(crate) fn exact(
    levels: Levels,
    planner: impl FnOnce(Alpha, Power, Deviation) -> Result<crate::stats::Plan, StatsError>,
) -> Option<f64> {
    let alpha = Alpha::new(levels.alpha).ok()?;
    let power = Power::new(levels.power).ok()?;
    let detect = Deviation::new(levels.detect).ok()?;
    planner(alpha, power, detect).ok().map(|p| p.n as f64)
}

/// The exact one-sided plan of the `latency` verifier for tail share `p0`
/// at `alpha` (one bound's share of it), when the levels make one.
pub(crate) fn tail(p0: f64, levels: Levels, alpha: f64) -> Option<f64> {
    let each = Levels { alpha, ..levels };
    exact(each, |a, p, d| {
        crate::stats::plan::tail(Share::new(p0)?, a, p, d)
    })
}

/// Any violation fails: the sample that shows a violation rate of
/// `detect` with probability `power`.
pub(crate) fn zero_tolerance(levels: Levels) -> f64 {
    crate::stats::plan::zero_tolerance(levels.power, levels.detect)
}

/// The normal approximation, where the exact planners refuse the levels.
pub(crate) fn proportion(p0: f64, levels: Levels, alpha: f64, sides: Sides) -> f64 {
    crate::stats::plan::approximate(p0, alpha, levels.power, levels.detect, sides)
}

fn count(n: f64) -> u64 {
    if n.is_finite() {
        n.ceil().max(1.0) as u64
    } else {
        u64::MAX
    }
}

/// Parses a quantile key: `p50` is 0.5, `p99.9` is 0.999.
pub use crate::expect::quantile;

/// What an expectation kind sizes its sample from: its levels and the
/// shape of the population it samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizing {
    /// The assertion's levels, defaults applied.
    pub(crate) levels: Levels,
    /// The population.
    pub(crate) shape: Shape,
}

impl Sizing {
    /// `n` of `unit` (rounded up, at least 1) for `test`.
    pub(crate) fn plan(&self, unit: Unit, n: f64, test: Test) -> SampleSize {
        SampleSize {
            unit,
            n: count(n),
            per_connection: None,
            levels: self.levels,
            test,
        }
    }

    /// Zero tolerance over requests.
    pub(crate) fn zero_tolerance(&self) -> SampleSize {
        self.plan(
            Unit::Requests,
            zero_tolerance(self.levels),
            Test::ZeroTolerance,
        )
    }

    /// Shares in proportion to `weights`, per run or on every connection:
    /// the plan the distribution verifier holds the run to (shares of 0 or
    /// 1 only are an exact check that one sample decides).
    pub(crate) fn distribution(&self, weights: Vec<f64>, per: Per, unit: Unit) -> SampleSize {
        let categories = weights.len();
        let connections = self.shape.connections.max(1);
        let each = exact(self.levels, |alpha, power, detect| {
            let c = crate::verify::Confidence {
                alpha,
                power,
                detect,
                mode: crate::verify::Mode::Fixed,
            };
            crate::verify::distribution::plan(&weights, per, connections as usize, c)
        })
        .unwrap_or(1.0);
        match per {
            Per::Run => self.plan(unit, each, Test::Shares { categories }),
            Per::Connection => {
                let each = count(each);
                SampleSize {
                    unit,
                    n: each.saturating_mul(connections),
                    per_connection: Some(each),
                    levels: self.levels,
                    test: Test::Shares { categories },
                }
            }
        }
    }
}

/// The sample `expectation` needs at its levels (`confidence` gives the
/// defaults) over a population of `shape`: its kind sizes it. See the
/// module docs for the formulas and for which assertions the exact
/// `sim::stats::plan` is used.
pub fn planned_requests(
    expectation: &Expectation,
    confidence: &super::Confidence,
    shape: &Shape,
) -> SampleSize {
    let sizing = Sizing {
        levels: expectation.levels(confidence),
        shape: *shape,
    };
    expectation.as_kind().sample(&sizing)
}

/// What the workload supplies to one assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Supply {
    /// Expected selected requests (or connections) over the run; `None`
    /// when a closed loop bounded only by time makes it depend on latency.
    pub samples: Option<f64>,
    /// Selected requests per second, when every contributing client runs
    /// an open loop.
    pub rate: Option<f64>,
    /// Whether a contributing client runs a closed loop.
    pub closed_loop: bool,
    /// The contributing clients, by index.
    pub clients: Vec<usize>,
}

/// One assertion with its plan and what the workload supplies.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// Its place in `expect`, from 0.
    pub index: usize,
    /// Its name (given, or `<kind>-<n>`).
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// What it states, in a line.
    pub summary: String,
    /// The service it is about.
    pub service: String,
    /// The sample it needs.
    pub plan: SampleSize,
    /// What the workload supplies.
    pub supply: Supply,
    /// Where the assertion is written.
    pub at: Position,
}

impl Assertion {
    /// How long the workload takes to supply the planned sample, when
    /// every contributing client runs an open loop.
    pub fn expected_duration(&self) -> Option<Duration> {
        let rate = self.supply.rate?;
        if self.supply.closed_loop || rate <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64(self.plan.n as f64 / rate).ok()
    }

    /// Whether the workload supplies fewer samples than planned.
    pub fn short_of_samples(&self) -> bool {
        self.supply
            .samples
            .is_some_and(|supplied| supplied + 1e-9 < self.plan.n as f64)
    }
}

impl Scenario {
    /// Every assertion whose service resolves, with its plan and supply.
    pub fn plan(&self) -> Vec<Assertion> {
        self.expect
            .iter()
            .enumerate()
            .filter_map(|(index, e)| self.assertion(index, e))
            .collect()
    }

    fn assertion(&self, index: usize, expectation: &Located<Expectation>) -> Option<Assertion> {
        let service = self.service_of(expectation)?;
        let common = expectation.common();
        let clients: Vec<(usize, f64)> = self
            .clients()
            .enumerate()
            .filter(|(_, (name, client))| {
                self.service(&client.service)
                    .is_some_and(|s| s.service.value == service.service.value)
                    && common.of.client.as_ref().is_none_or(|c| &c.value == name)
            })
            .map(|(i, (name, client))| (i, self.selected_share(client, &name, expectation)))
            .filter(|(_, share)| *share > 0.0)
            .collect();
        let phase_share = self.phase_share(common.of.phase.as_ref().map(|p| p.value.as_str()));
        let unit = expectation.as_kind().unit();
        let mut samples = Some(0.0);
        let mut rate = Some(0.0);
        let mut closed_loop = false;
        let mut connections = 0;
        for (i, share) in &clients {
            let Some(client) = self.workload.clients.get(*i) else {
                continue;
            };
            connections += client.connections.value.max(1);
            closed_loop |= !client.is_open();
            let supplied = match unit {
                Unit::Connections => client.expected_connections(),
                Unit::Heartbeats => client.expected_heartbeats(),
                Unit::Requests | Unit::RequestsPerConnection | Unit::PrimaryRequests => {
                    client.expected_requests().map(|r| r * share)
                }
            };
            samples = match (samples, supplied, phase_share) {
                (Some(sum), Some(s), Some(p)) => Some(sum + s * p),
                _ => None,
            };
            rate = match (rate, client.rate()) {
                (Some(sum), Some(r)) if unit == Unit::Requests => {
                    Some(sum + r.per_second() * share)
                }
                _ => None,
            };
        }
        let categories = expectation.as_kind().categories(service);
        let shape = Shape {
            categories,
            connections: connections.max(1),
        };
        let plan = planned_requests(expectation, &self.confidence, &shape);
        Some(Assertion {
            index,
            name: common.name.map_or_else(
                || format!("{}-{}", expectation.kind(), index + 1),
                str::to_owned,
            ),
            kind: expectation.kind(),
            summary: expectation.summary(),
            service: service.service.value.clone(),
            plan,
            supply: Supply {
                samples: if clients.is_empty() {
                    Some(0.0)
                } else {
                    samples
                },
                rate: if clients.is_empty() { None } else { rate },
                closed_loop,
                clients: clients.iter().map(|(i, _)| *i).collect(),
            },
            at: expectation.at,
        })
    }

    /// The share of `client`'s requests that `expectation`'s class and
    /// attribute filters select. Attributes the call does not determine
    /// (added by the client or the proxy) are assumed to match.
    pub(crate) fn selected_share(
        &self,
        client: &super::Client,
        name: &str,
        expectation: &Expectation,
    ) -> f64 {
        let of = expectation.common().of;
        let Some(service) = self.service(&client.service) else {
            return 0.0;
        };
        client
            .classes(name)
            .iter()
            .filter(|class| of.class.as_ref().is_none_or(|c| c.value == class.name))
            .filter(|class| {
                let attributes = class.call.spec(service.protocol.value).attributes();
                of.attributes.iter().all(|(key, want)| {
                    attributes
                        .get(&key.value.to_ascii_lowercase())
                        .is_none_or(|have| have == want)
                })
            })
            .map(|class| class.share)
            .sum()
    }

    /// The share of the run a phase covers (1 without a phase), when the
    /// numbers tell: request-count phases against the workload's expected
    /// requests, time phases against its expected duration.
    pub(crate) fn phase_share(&self, phase: Option<&str>) -> Option<f64> {
        let Some(phase) = phase else {
            return Some(1.0);
        };
        let names = self.phase_names();
        let index = names.iter().position(|n| n == phase)?;
        let total_requests: Option<f64> = self
            .workload
            .clients
            .iter()
            .map(|c| c.expected_requests())
            .sum();
        let total_time = self
            .workload
            .clients
            .iter()
            .map(|c| c.expected_duration())
            .collect::<Option<Vec<_>>>()
            .and_then(|d| d.into_iter().max());
        let position = |i: usize| -> Option<f64> {
            if i == 0 {
                return Some(0.0);
            }
            match self.phases.get(i - 1).map(|p| p.start)? {
                PhaseStart::Requests(n) => Some((n as f64 / total_requests?).min(1.0)),
                PhaseStart::Time(t) => {
                    Some((t.get().as_secs_f64() / total_time?.as_secs_f64()).min(1.0))
                }
            }
        };
        let start = position(index)?;
        let end = if index < self.phases.len() {
            position(index + 1)?
        } else {
            1.0
        };
        Some((end - start).max(0.0))
    }

    /// Whether a client's connection lifetime is shorter than the requests
    /// each connection needs for `plan`.
    pub(crate) fn lifetime_too_short(
        client: &super::Client,
        plan: &SampleSize,
    ) -> Option<(u64, u64)> {
        let need = plan.per_connection?;
        match client.lifetime.as_ref().map(|l| l.value) {
            Some(Lifetime::Requests(per)) if per < need => Some((per, need)),
            _ => None,
        }
    }
}
