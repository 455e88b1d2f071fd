//! What every assertion shares (its selector, its common fields) and the
//! statistical levels; each kind's own form is in [`crate::expect`].

use super::*;

pub use crate::expect::{
    Balanced, Connections, Ejected, Expectation, Fault, FaultAbort, FaultDelay, Form, Heartbeats,
    Latency, Mirrored, Over, Per, Received, Redirected, Rejected, Retried, Routed, Split, Timeout,
};

/// Which requests an assertion is about; every given field must match.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// A request class: a `mix` entry's name, or a single-call client's name.
    #[serde(default)]
    pub class: Option<Located<String>>,
    /// A client, by name.
    #[serde(default)]
    pub client: Option<Located<String>>,
    /// Routing attributes with exact values, named as the proxy sees them
    /// (thrift `method`; dubbo `interface`, `method`, attachments; http
    /// `:method`, `:path`, headers in lower case).
    #[serde(default)]
    pub attributes: Ordered<String>,
    /// Only requests sent while this phase is in force (`initial`: before the first phase).
    #[serde(default)]
    pub phase: Option<Located<String>>,
}

impl Selector {
    /// Whether nothing narrows the selection.
    pub fn is_all(&self) -> bool {
        self.class.is_none()
            && self.client.is_none()
            && self.attributes.is_empty()
            && self.phase.is_none()
    }
}

/// The fields every assertion has, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// A name for reports.
    pub name: Option<&'a str>,
    /// The service, as written.
    pub service: Option<&'a Located<String>>,
    /// The selection.
    pub of: &'a Selector,
    /// Override of `confidence.alpha`.
    pub alpha: Option<Located<f64>>,
    /// Override of `confidence.power`.
    pub power: Option<Located<f64>>,
    /// Override of `confidence.detect`.
    pub detect: Option<Located<Percent>>,
}

/// The statistical levels of the assertions.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confidence {
    /// False-failure probability per assertion, a number in (0, 1) (default 1e-6).
    #[serde(default = "default_alpha")]
    pub alpha: Located<f64>,
    /// Probability of detecting a deviation of `detect`, a number in (0, 1) (default 0.99).
    #[serde(default = "default_power")]
    pub power: Located<f64>,
    /// The smallest deviation to detect, in percentage points (default `3%`).
    #[serde(default = "default_detect")]
    pub detect: Located<Percent>,
    /// `fixed` (default): every planned sample, then one test. `sequential`:
    /// `split` and `fault` shares are tested as requests end and the run
    /// stops once every assertion is decided.
    #[serde(default)]
    pub mode: Mode,
}

/// How the assertions consume the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fixed-n test on every sample.
    #[default]
    Fixed,
    /// Tests that stop early when decisive (truncated SPRT).
    Sequential,
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence {
            alpha: default_alpha(),
            power: default_power(),
            detect: default_detect(),
            mode: Mode::Fixed,
        }
    }
}

fn default_alpha() -> Located<f64> {
    Located::unlocated(1e-6)
}

fn default_power() -> Located<f64> {
    Located::unlocated(0.99)
}

fn default_detect() -> Located<Percent> {
    Located::unlocated(Percent::new(3.0).unwrap_or_default())
}

/// Alpha, power and detect of one assertion, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// False-failure probability.
    pub alpha: f64,
    /// Detection probability.
    pub power: f64,
    /// Smallest deviation detected, as a fraction (0.03 for `3%`).
    pub detect: f64,
}

impl Expectation {
    /// This assertion's levels: its overrides, else `defaults`.
    pub fn levels(&self, defaults: &Confidence) -> Levels {
        let common = self.common();
        Levels {
            alpha: common.alpha.unwrap_or(defaults.alpha).value,
            power: common.power.unwrap_or(defaults.power).value,
            detect: common.detect.unwrap_or(defaults.detect).value.fraction(),
        }
    }
}
