//! `routed`: every selected request reaches the named version, with zero
//! tolerance; it passes only once no leak in n bounds the leak rate below
//! `detect` at alpha.

use super::Kind;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::{Sizing, Test, exact, zero_tolerance};
use crate::scenario::{Located, SampleSize, Unit};
use crate::stats::Share;
use crate::verify::Check;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Every selected request reaches the named version or subset: zero tolerance.
    Routed {
        /// The version or subset.
        to: Located<String>,
    }
}

impl Kind for Routed {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn named_versions(&self) -> Vec<&Located<String>> {
        vec![&self.to]
    }

    fn summary(&self) -> String {
        format!("all to {}", self.to.value)
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        // (1 - d)^n <= alpha: the verifier's own rule.
        let levels = sizing.levels;
        let n = exact(levels, |a, _, d| {
            crate::stats::plan::zero_leak(Share::new(d.get())?, a)
        })
        .unwrap_or_else(|| zero_tolerance(levels));
        sizing.plan(Unit::Requests, n, Test::ZeroTolerance)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Routed {
            to,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(RoutedCheck {
            selection: claiming.selection.clone(),
            to: claiming.version(&to.value),
            confidence: claiming.confidence,
        }))
    }
}
