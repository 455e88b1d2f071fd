//! `mirrored`: the mirror target receives a share of the requests, clients
//! never see its answers, and the primary's answers are unharmed. A share
//! of 0% or 100% is zero tolerance; anything between is an exact share test.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::{Sizing, Test, exact, proportion};
use crate::scenario::{FleetService, Located, Percent, Position, SampleSize, Unit};
use crate::stats::Share;
use crate::stats::plan::Sides;
use crate::verify::Check;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// The mirror target receives a share of the requests; clients never
    /// see its answers, and the primary's answers are unharmed.
    Mirrored {
        /// The version or subset receiving the copies.
        to: Located<String>,
        /// The mirror target's service (default: the expectation's service).
        #[serde(default)]
        target: Option<Located<String>>,
        /// The share of requests mirrored (default `100%`).
        #[serde(default = "all_percent")]
        fraction: Located<Percent>,
    }
}

fn all_percent() -> Located<Percent> {
    Located::unlocated(Percent::new(100.0).unwrap_or_default())
}

impl Kind for Mirrored {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn summary(&self) -> String {
        format!("{} mirrored to {}", self.fraction.value, self.to.value)
    }

    /// `to` is a version of the target's service, which may be another.
    fn validate(&self, _at: Position, service: &FleetService, checker: &mut Checker<'_>) {
        let target = match &self.target {
            Some(name) => match checker.s.service(name) {
                Some(found) => found,
                None => {
                    let hint = format!("the fleet has {}", checker.fleet_names());
                    checker.push(
                        name.at,
                        format!("service '{}' is not in the fleet", name.value),
                        Some(hint),
                    );
                    return;
                }
            },
            None => service,
        };
        checker.known_version(target, &self.to);
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        let p0 = self.fraction.value.fraction();
        if p0 <= 0.0 || p0 >= 1.0 {
            return sizing.zero_tolerance();
        }
        let levels = sizing.levels;
        let n = exact(levels, |a, p, d| {
            crate::stats::plan::mirror(Share::new(p0)?, a, p, d)
        })
        .unwrap_or_else(|| proportion(p0, levels, levels.alpha, Sides::Two));
        sizing.plan(Unit::Requests, n, Test::Proportions { count: 1 })
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Mirrored {
            to,
            target,
            fraction,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        let target = target
            .as_ref()
            .and_then(|t| claiming.scenario.service(&t.value))
            .map_or(claiming.fqdn(), |t| t.service.value.as_str());
        Ok(Check::new(MirroredCheck {
            selection: claiming.selection.clone(),
            service: target.to_owned(),
            to: claiming.version_of(target, &to.value),
            fraction: fraction.value.fraction(),
            confidence: claiming.confidence,
        }))
    }
}
