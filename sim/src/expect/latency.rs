//! `latency`: quantile bounds on the latency the client measures, each
//! an exact one-sided binomial test at alpha divided among the bounds.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::{Sizing, Test, proportion, tail};
use crate::scenario::{FleetService, Located, Ordered, Position, SampleSize, TextDuration, Unit};
use crate::stats::plan::Sides;
use crate::verify::Check;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Latency quantile bounds, as the client measures them.
    Latency {
        /// Only requests served by this version or subset.
        #[serde(default)]
        version: Option<Located<String>>,
        /// Upper bounds by quantile: `{p50: 5ms, p99: 20ms}`.
        #[serde(default)]
        below: Ordered<Located<TextDuration>>,
        /// Lower bounds by quantile (e.g. an injected delay): `{p50: 2ms}`.
        #[serde(default)]
        above: Ordered<Located<TextDuration>>,
    }
}

/// Parses a quantile key: `p50` is 0.5, `p99.9` is 0.999.
pub fn quantile(key: &str) -> Option<f64> {
    let value: f64 = key.strip_prefix('p')?.parse().ok()?;
    (value > 0.0 && value < 100.0).then_some(value / 100.0)
}

impl Kind for Latency {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn named_versions(&self) -> Vec<&Located<String>> {
        self.version.iter().collect()
    }

    fn summary(&self) -> String {
        let below = self
            .below
            .iter()
            .map(|(q, d)| format!("{} <= {}", q.value, d.value));
        let above = self
            .above
            .iter()
            .map(|(q, d)| format!("{} >= {}", q.value, d.value));
        below.chain(above).collect::<Vec<_>>().join(", ")
    }

    fn validate(&self, at: Position, _service: &FleetService, checker: &mut Checker<'_>) {
        if self.below.is_empty() && self.above.is_empty() {
            checker.push(
                at,
                "a latency expectation needs 'below' or 'above' bounds",
                Some("e.g. 'below: { p99: 20ms }'".into()),
            );
        }
        for (key, _) in self.below.iter().chain(self.above.iter()) {
            if quantile(&key.value).is_none() {
                checker.push(
                    key.at,
                    format!(
                        "quantile '{}' is not of the form p50, p99 or p99.9",
                        key.value
                    ),
                    None,
                );
            }
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        let levels = sizing.levels;
        let bounds: Vec<f64> = self
            .below
            .keys()
            .filter_map(quantile)
            .map(|q| 1.0 - q)
            .chain(self.above.keys().filter_map(quantile))
            .collect();
        let each = levels.alpha / bounds.len().max(1) as f64;
        let n = bounds
            .iter()
            .map(|p0| {
                tail(*p0, levels, each).unwrap_or_else(|| proportion(*p0, levels, each, Sides::One))
            })
            .fold(0.0, f64::max);
        let test = Test::Quantiles {
            bounds: bounds.len(),
        };
        sizing.plan(Unit::Requests, n, test)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Latency {
            version,
            below,
            above,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        let bounds = |by: &Ordered<Located<TextDuration>>| {
            by.iter()
                .filter_map(|(q, d)| Some((quantile(&q.value)?, d.value.get())))
                .collect()
        };
        Ok(Check::new(LatencyCheck {
            selection: claiming.selection.clone(),
            version: version.as_ref().map(|v| claiming.version(&v.value)),
            below: bounds(below),
            above: bounds(above),
            confidence: claiming.confidence,
        }))
    }
}
