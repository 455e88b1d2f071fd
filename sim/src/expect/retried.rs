//! `retried`: each selected request reaches the backends exactly
//! `attempts` times and succeeds there, or comes back with `status` from
//! that attempt (what a proxy must not retry). Zero tolerance.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Located, Position, SampleSize};
use crate::verify::Check;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Retries: each selected request reaches the backends exactly
    /// `attempts` times (the echo reports the attempt number) and succeeds
    /// there, or with `status` comes back with that status from that
    /// attempt (what the proxy must not retry); zero tolerance.
    Retried {
        /// Attempts per request, the first included.
        attempts: Located<u32>,
        /// The status the last attempt answers and the client gets (default:
        /// success), e.g. 503.
        #[serde(default)]
        status: Option<Located<u32>>,
    }
}

impl Kind for Retried {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn summary(&self) -> String {
        format!("{} attempts each", self.attempts.value)
    }

    fn validate(&self, _at: Position, service: &FleetService, checker: &mut Checker<'_>) {
        if self.attempts.value == 0 {
            checker.push(self.attempts.at, "'attempts' must be at least 1", None);
        }
        if let Some(status) = &self.status
            && !matches!(
                service.protocol.value,
                meshbench_wire::Protocol::Http | meshbench_wire::Protocol::Grpc
            )
        {
            checker.push(
                status.at,
                format!(
                    "'status' is an HTTP status or a gRPC code, but '{}' speaks {}",
                    service.service.value, service.protocol.value
                ),
                None,
            );
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.zero_tolerance()
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Retried {
            attempts,
            status,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(RetriedCheck {
            selection: claiming.selection.clone(),
            attempts: attempts.value,
            status: status.map(|s| s.value),
            confidence: claiming.confidence,
        }))
    }
}
