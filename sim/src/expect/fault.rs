//! `fault`: injected faults, a share of requests delayed, aborted or both;
//! each share tested at alpha divided among them.

use schemars::JsonSchema;
use serde::Deserialize;

use super::Kind;
use crate::scenario::Levels;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::{Sizing, Test, exact, proportion};
use crate::scenario::{FleetService, Located, Percent, Position, SampleSize, TextDuration, Unit};
use crate::stats::Share;
use crate::stats::plan::Sides;
use crate::verify::{Check, FractionCheck, Part, Parts, Property};

mod calibration;

expectation! {
    /// Injected faults: a share of requests delayed and/or aborted.
    Fault {
        /// Delayed requests.
        #[serde(default)]
        delay: Option<Located<FaultDelay>>,
        /// Aborted requests.
        #[serde(default)]
        abort: Option<Located<FaultAbort>>,
    }
}

/// `fault.delay`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultDelay {
    /// The share of requests delayed.
    pub fraction: Located<Percent>,
    /// By how long.
    pub by: Located<TextDuration>,
}

/// `fault.abort`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultAbort {
    /// The share of requests aborted.
    pub fraction: Located<Percent>,
    /// The status they get (HTTP status, or the protocol's error code).
    pub status: Located<u32>,
}

impl Kind for Fault {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn summary(&self) -> String {
        let delay = self
            .delay
            .iter()
            .map(|d| format!("{} delayed by {}", d.fraction.value, d.by.value));
        let abort = self
            .abort
            .iter()
            .map(|a| format!("{} aborted with {}", a.fraction.value, a.status.value));
        delay.chain(abort).collect::<Vec<_>>().join(", ")
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        if self.delay.is_none() && self.abort.is_none() {
            checker.push(at, "a fault expectation needs 'delay' or 'abort'", None);
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        let fractions: Vec<f64> = self
            .delay
            .iter()
            .map(|d| d.fraction.value.fraction())
            .chain(self.abort.iter().map(|a| a.fraction.value.fraction()))
            .collect();
        // Each share is tested at alpha / (number of shares), as the verifier does.
        let each = Levels {
            alpha: sizing.levels.alpha / fractions.len().max(1) as f64,
            ..sizing.levels
        };
        let n = fractions
            .iter()
            .map(|p0| {
                exact(each, |a, p, d| {
                    crate::stats::plan::share(Share::new(*p0)?, a, p, d)
                })
                .unwrap_or_else(|| proportion(*p0, each, each.alpha, Sides::Two))
            })
            .fold(0.0, f64::max);
        let test = Test::Proportions {
            count: fractions.len(),
        };
        sizing.plan(Unit::Requests, n, test)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        Ok(Check::new(FractionCheck {
            kind: "fault",
            selection: claiming.selection.clone(),
            parts: self.parts()?,
            confidence: claiming.confidence,
        }))
    }
}

impl Fault {
    /// The claimed shares: the abort, the delay, or both.
    fn parts(&self) -> Result<Parts, String> {
        let Fault {
            delay,
            abort,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
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
}
