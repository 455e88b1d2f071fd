//! `connections`: TCP traffic shifting, where the sample is a connection:
//! connections (not requests) split by weight, verified as a split of them.

use super::split::weights_of;
use super::{Kind, weights_summary};
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Located, Ordered, Position, SampleSize, Unit, Weight};
use super::SplitCheck;
use crate::verify::{Check, Per};

expectation! {
    /// TCP traffic shifting: connections (not requests) split by weight.
    Connections {
        /// Version or subset → weight.
        to: Ordered<Located<Weight>>,
    }
}

impl Kind for Connections {
    /// Verified as a split whose samples are connections: the `split` rows
    /// calibrate that test.
    fn calibration(_cases: &mut Vec<crate::calibration::Case>, _null: crate::stats::Alpha) {}

    fn named_versions(&self) -> Vec<&Located<String>> {
        self.to.0.iter().map(|(k, _)| k).collect()
    }

    fn summary(&self) -> String {
        weights_summary(&self.to)
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        checker.weights(&self.to, at);
    }

    fn unit(&self) -> Unit {
        Unit::Connections
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.distribution(weights_of(&self.to), Per::Run, Unit::Connections)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Connections {
            to,
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
            per: Per::Run,
            confidence: claiming.confidence,
        }))
    }
}
