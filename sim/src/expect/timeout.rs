//! `timeout`: requests to a too-slow backend fail after the route timeout,
//! within the window the scenario states; zero tolerance.

use super::Kind;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{Located, SampleSize, TextDuration};
use crate::verify::Check;
use std::time::Duration;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Requests to a too-slow backend fail after the route timeout: within
    /// [`after` − `early`, `after` + `slack`], never earlier or later.
    Timeout {
        /// The timeout the routing sets.
        after: Located<TextDuration>,
        /// How late the failure may come (default 50ms).
        #[serde(default = "default_slack")]
        slack: Located<TextDuration>,
        /// How early the failure may come (default 0s): a proxy whose timers
        /// run on a coarse event-loop clock (Envoy fires up to ~2 ms early)
        /// needs a few milliseconds here; a timer that fires far too early
        /// still fails.
        #[serde(default = "default_early")]
        early: Located<TextDuration>,
        /// The status each failure must carry (an HTTP status, or a gRPC
        /// code: 4 is `DEADLINE_EXCEEDED`); absent: any failure counts.
        #[serde(default)]
        status: Option<Located<u32>>,
    }
}

fn default_slack() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::from_millis(50)))
}

fn default_early() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::ZERO))
}

impl Kind for Timeout {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn summary(&self) -> String {
        let status = self
            .status
            .as_ref()
            .map(|s| format!(" with {}", s.value))
            .unwrap_or_default();
        let (after, slack) = (&self.after.value, &self.slack.value);
        format!("fails{status} within [{after}, {after} + {slack}]")
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.zero_tolerance()
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Timeout {
            after,
            slack,
            early,
            status,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(TimeoutCheck {
            selection: claiming.selection.clone(),
            after: after.value.get(),
            slack: slack.value.get(),
            early: early.value.get(),
            status: status.map(|s| s.value.to_string()),
            confidence: claiming.confidence,
        }))
    }
}
