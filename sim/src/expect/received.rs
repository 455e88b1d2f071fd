//! `received`: what the endpoints received. Every selected request
//! arrived with the given attributes, after the proxy's rewrites and
//! header changes; zero tolerance, judged on the endpoints' records.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Ordered, Position, SampleSize};
use crate::verify::Check;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// What the endpoints received: every selected request arrived with
    /// these attributes, after the proxy's rewrites and header changes.
    /// Zero tolerance.
    Received {
        /// Attribute → exact value, named as `of.attributes` names them
        /// (http `:path` with its query, `:authority`, headers in lower case).
        attributes: Ordered<String>,
    }
}

impl Kind for Received {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| format!("{}: {v}", k.value))
            .collect();
        format!("arrived with {}", parts.join(", "))
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        if self.attributes.iter().next().is_none() {
            checker.push(
                at,
                "a received expectation needs at least one attribute",
                None,
            );
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.zero_tolerance()
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Received {
            attributes,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(ReceivedCheck {
            selection: claiming.selection.clone(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.value.to_ascii_lowercase(), v.clone()))
                .collect(),
            confidence: claiming.confidence,
        }))
    }
}
