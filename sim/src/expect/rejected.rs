//! `rejected`: circuit breaking. Requests beyond the connection-pool
//! limits are rejected: at about a share (an exact share test), or exactly
//! so many, or at least and/or at most so many (counts).

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::{Sizing, Test, exact, proportion};
use crate::scenario::{FleetService, ProxySetting, Located, Percent, Position, SampleSize, Unit};
use crate::stats::Share;
use crate::stats::plan::Sides;
use crate::verify::{Check, CountCheck, FractionCheck, Part, Parts, Property};

expectation! {
    /// Circuit breaking: requests beyond the connection-pool limits are
    /// rejected, at about this share, exactly this many, or at least and/or
    /// at most this many (a range where a proxy's count depends on timing).
    Rejected {
        /// The expected share of rejected requests.
        #[serde(default)]
        fraction: Option<Located<Percent>>,
        /// At least this many rejected requests.
        #[serde(default)]
        at_least: Option<Located<u64>>,
        /// At most this many rejected requests.
        #[serde(default)]
        at_most: Option<Located<u64>>,
        /// Exactly this many rejected requests (a deterministic overflow,
        /// with the backends on `hold`).
        #[serde(default)]
        exactly: Option<Located<u64>>,
        /// The status a rejected request gets (HTTP 503 by default).
        #[serde(default)]
        status: Option<u32>,
    }
}

impl Kind for Rejected {
    /// A share is the `fault` rows' exact share test; a count (`exactly`,
    /// `at_least`, `at_most`) is exact, with nothing drawn to calibrate.
    fn calibration(_cases: &mut Vec<crate::calibration::Case>, _null: crate::stats::Alpha) {}

    fn summary(&self) -> String {
        match (&self.fraction, &self.at_least, &self.exactly) {
            (Some(f), _, _) => format!("{} rejected", f.value),
            (_, Some(n), _) if self.at_most.is_some() => format!(
                "{} to {} rejected",
                n.value,
                self.at_most.as_ref().map_or(0, |m| m.value)
            ),
            (_, Some(n), _) => format!("at least {} rejected", n.value),
            (_, _, Some(n)) => format!("exactly {} rejected", n.value),
            (None, None, None) => match &self.at_most {
                Some(m) => format!("at most {} rejected", m.value),
                None => "rejected".into(),
            },
        }
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        let bounded = self.at_least.is_some() || self.at_most.is_some();
        let given = [self.fraction.is_some(), bounded, self.exactly.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            checker.push(
                at,
                "a rejected expectation needs one of 'fraction', 'exactly', or 'at_least'/'at_most'",
                None,
            );
        }
        if let (Some(least), Some(most)) = (&self.at_least, &self.at_most)
            && least.value > most.value
        {
            checker.push(most.at, "'at_most' is below 'at_least'", None);
        }
    }

    fn needs(&self) -> &'static [ProxySetting] {
        &[ProxySetting::Workers]
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        let levels = sizing.levels;
        match (
            &self.fraction,
            self.at_least.as_ref().or(self.exactly.as_ref()),
        ) {
            (Some(f), _) => {
                let p0 = f.value.fraction();
                let n = exact(levels, |a, p, d| {
                    crate::stats::plan::share(Share::new(p0)?, a, p, d)
                })
                .unwrap_or_else(|| proportion(p0, levels, levels.alpha, Sides::Two));
                sizing.plan(Unit::Requests, n, Test::Proportions { count: 1 })
            }
            (None, Some(m)) => sizing.plan(Unit::Requests, m.value as f64, Test::Count),
            (None, None) => sizing.plan(Unit::Requests, 1.0, Test::Count),
        }
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
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
        } = self;
        let status = status.unwrap_or(503).to_string();
        let selection = &claiming.selection;
        let count = |least: u64, most: Option<u64>| {
            Check::new(CountCheck {
                selection: selection.clone(),
                status: status.clone(),
                least,
                most,
            })
        };
        let value = |n: &Option<Located<u64>>| n.as_ref().map(|n| n.value);
        match (fraction, (value(at_least), value(at_most)), exactly) {
            (Some(fraction), (None, None), None) => Ok(Check::new(FractionCheck {
                kind: "rejected",
                selection: selection.clone(),
                parts: Parts::One(Part {
                    property: Property::Status(status.clone()),
                    fraction: fraction.value.fraction(),
                }),
                confidence: claiming.confidence,
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
}
