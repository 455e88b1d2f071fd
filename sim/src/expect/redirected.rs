//! `redirected`: every selected request is answered by the proxy itself
//! with a 3xx and exactly the expected `location`, reaching no endpoint.
//! Zero tolerance.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Located, Position, SampleSize};
use crate::verify::Check;

mod verifier;
pub use verifier::*;

expectation! {
    /// Redirects: every selected request is answered by the proxy itself
    /// with `status` and exactly this `location`, reaching no endpoint.
    /// Zero tolerance.
    Redirected {
        /// The expected `location`, e.g. `http://greeter:3000/hello`.
        location: Located<String>,
        /// The status (default 301, Istio's default `redirectCode`).
        #[serde(default)]
        status: Option<u32>,
    }
}

impl Kind for Redirected {
    /// Zero tolerance, the rule the `retried` and `timeout` rows calibrate; a
    /// redirect row of its own is still to come.
    fn calibration(_cases: &mut Vec<crate::calibration::Case>, _null: crate::stats::Alpha) {}

    fn summary(&self) -> String {
        let status = self.status.unwrap_or(301);
        format!("redirected {status} to {}", self.location.value)
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        if self.status.is_some_and(|s| !(300..400).contains(&s)) {
            checker.push(at, "a redirect's 'status' must be a 3xx", None);
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.zero_tolerance()
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Redirected {
            location,
            status,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(RedirectedCheck {
            selection: claiming.selection.clone(),
            status: status.unwrap_or(301).to_string(),
            location: location.value.clone(),
            confidence: claiming.confidence,
        }))
    }
}
