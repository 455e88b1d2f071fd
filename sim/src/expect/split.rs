//! `split`: requests split over versions (or subsets) by weight, over the
//! run or within every connection; tested at a fixed n or sequentially.

use super::{Kind, Per, weights_summary};
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Located, Ordered, Position, SampleSize, Unit, Weight};
use crate::verify::Check;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Requests split over versions (or subsets) by weight.
    Split {
        /// Version or subset → weight (whole numbers, normalised by their sum).
        to: Ordered<Located<Weight>>,
        /// `run` (default) or `connection` (the split holds within every connection).
        #[serde(default = "super::per_run")]
        per: Per,
    }
}

impl Kind for Split {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn named_versions(&self) -> Vec<&Located<String>> {
        self.to.0.iter().map(|(k, _)| k).collect()
    }

    fn summary(&self) -> String {
        weights_summary(&self.to)
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        checker.weights(&self.to, at);
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.distribution(weights_of(&self.to), self.per, Unit::Requests)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Split {
            to,
            per,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(SplitCheck {
            selection: claiming.selection.clone(),
            weights: claiming.weights(to),
            per: *per,
            confidence: claiming.confidence,
        }))
    }
}

/// The weights, in order, as numbers.
pub(super) fn weights_of(to: &Ordered<Located<Weight>>) -> Vec<f64> {
    to.iter().map(|(_, w)| f64::from(w.value.0)).collect()
}
