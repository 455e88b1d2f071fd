//! The expectation kinds, one module each. A kind's module holds all that is
//! particular to it: its file form (the YAML under its key), what
//! `validate` checks of it beyond what every kind shares (service,
//! selector, levels, named versions), the sample it needs (sized with
//! [`crate::scenario::plan`]'s exact planners at the alpha its test runs
//! at), and the check it becomes: a [`crate::verify::Verifier`] over the
//! statistical test in [`crate::verify`] that judges it.
//!
//! Adding a kind is its module and one line in the `kinds!` registry at the
//! bottom of this file: the registry declares the module and makes the
//! `expect:` entry's enum, its JSON Schema and every dispatch from it, so
//! no match on the kinds is written anywhere else.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::calibration::Case;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{Common, FleetService, Located, Position, ProxySetting, SampleSize, Unit};
use crate::stats::Alpha;
use crate::verify::Check;

/// The fields every kind has, as the `expectation!` macro writes them.
pub trait Form {
    /// Those fields, borrowed.
    fn common(&self) -> Common<'_>;
}

/// What every kind answers; [`Expectation`] dispatches to it.
pub(crate) trait Kind: Form {
    /// The versions or subsets it names, with their positions (of its own
    /// service: `validate` checks each is one of it).
    fn named_versions(&self) -> Vec<&Located<String>> {
        Vec::new()
    }

    /// A one-line description for plans and reports, e.g. `v1 20, v2 80`.
    fn summary(&self) -> String;

    /// What `validate` checks of this kind's own fields (`at` is the
    /// expectation's position, `service` the one it is about).
    fn validate(&self, _at: Position, _service: &FleetService, _checker: &mut Checker<'_>) {}

    /// The proxy settings its verdict depends on beyond the rules every
    /// kind shares (a phase selected, paused clients): `rejected` counts
    /// depend on the worker count, `heartbeats` on the idle timeout.
    fn needs(&self) -> &'static [ProxySetting] {
        &[]
    }

    /// What one sample is: a request unless the kind says otherwise.
    fn unit(&self) -> Unit {
        Unit::Requests
    }

    /// How many categories share the samples, where the plan depends on it
    /// (`balanced`: the endpoints or versions).
    fn categories(&self, _service: &FleetService) -> usize {
        0
    }

    /// The rows of its verifier in the calibration table (`meshbench
    /// calibrate`): runs drawn from its null and from alternatives at the
    /// deviation it states. A kind without rows of its own says why.
    fn calibration(cases: &mut Vec<Case>, null: Alpha)
    where
        Self: Sized;

    /// The sample it needs, sized at the alpha its verifier tests at.
    fn sample(&self, sizing: &Sizing) -> SampleSize;

    /// The check it becomes. Each kind destructures its fields one by one
    /// (those every kind has are read through `common()`): a field added
    /// to the format and forgotten there does not compile.
    ///
    /// # Errors
    /// A sentence when it cannot become a check (what `validate` rejects).
    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String>;
}

/// A kind's struct: the fields every kind has (`name`, `service`, `of`, the
/// level overrides), then its own, with unknown fields refused.
macro_rules! expectation {
    (
        $(#[$doc:meta])*
        $name:ident {
            $($(#[$fdoc:meta])* $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// A name for reports (default: the kind and its place in `expect`).
            #[serde(default)]
            pub name: Option<String>,
            /// The service whose requests are checked: a fleet FQDN or its
            /// short name. Default: the fleet's only service, or the one
            /// service the (selected) clients call.
            #[serde(default)]
            pub service: Option<$crate::scenario::Located<String>>,
            /// Which requests (default: all the service receives).
            #[serde(default)]
            pub of: $crate::scenario::Selector,
            $($(#[$fdoc])* pub $field: $ty,)*
            /// False-failure probability of this assertion (overrides `confidence.alpha`).
            #[serde(default)]
            pub alpha: Option<$crate::scenario::Located<f64>>,
            /// Probability of detecting a deviation of `detect` (overrides `confidence.power`).
            #[serde(default)]
            pub power: Option<$crate::scenario::Located<f64>>,
            /// The smallest deviation to detect, in percentage points (overrides `confidence.detect`).
            #[serde(default)]
            pub detect: Option<$crate::scenario::Located<$crate::scenario::Percent>>,
        }

        impl $crate::expect::Form for $name {
            fn common(&self) -> $crate::scenario::Common<'_> {
                $crate::scenario::Common {
                    name: self.name.as_deref(),
                    service: self.service.as_ref(),
                    of: &self.of,
                    alpha: self.alpha,
                    power: self.power,
                    detect: self.detect,
                }
            }
        }
    };
}

/// The registry: each line a YAML key, the kind's module and its struct
/// (the variant takes its name). It declares the module, re-exports what it
/// makes public, and makes [`Expectation`] (serde and JSON Schema included)
/// with the one dispatch from it to the kind's [`Kind`] impl.
macro_rules! kinds {
    ($($(#[$doc:meta])* $key:literal => $module:ident::$variant:ident,)*) => {
        $(mod $module;)*
        $(pub use $module::*;)*

        /// One assertion; the key names its kind.
        #[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
        pub enum Expectation {
            $($(#[$doc])* #[serde(rename = $key)] $variant($variant),)*
        }

        impl Expectation {
            /// The kind, as the YAML key writes it.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Expectation::$variant(_) => $key,)*
                }
            }

            /// The kind's own answers.
            pub(crate) fn as_kind(&self) -> &dyn Kind {
                match self {
                    $(Expectation::$variant(e) => e,)*
                }
            }
        }

        /// Every kind's calibration rows, in the registry's order.
        pub(crate) fn calibration_cases(cases: &mut Vec<Case>, null: Alpha) {
            $(<$variant as Kind>::calibration(cases, null);)*
        }
    };
}

kinds! {
    /// Weights over versions.
    "split" => split::Split,
    /// Uniform over endpoints or versions.
    "balanced" => balanced::Balanced,
    /// Every request reaches one version: zero tolerance.
    "routed" => routed::Routed,
    /// Injected delays and aborts.
    "fault" => fault::Fault,
    /// Mirroring.
    "mirrored" => mirrored::Mirrored,
    /// Quantile bounds.
    "latency" => latency::Latency,
    /// Attempt counts.
    "retried" => retried::Retried,
    /// Fails within [T, T + slack].
    "timeout" => timeout::Timeout,
    /// What the endpoints received (rewrites, header mutation).
    "received" => received::Received,
    /// Outlier ejection.
    "ejected" => ejected::Ejected,
    /// Weights over connections (TCP).
    "connections" => connections::Connections,
    /// Circuit-breaker overflow.
    "rejected" => rejected::Rejected,
    /// Redirects answered by the proxy.
    "redirected" => redirected::Redirected,
    /// Heartbeats answered on paused connections.
    "heartbeats" => heartbeats::Heartbeats,
}

impl Expectation {
    /// The fields every assertion has.
    pub fn common(&self) -> Common<'_> {
        self.as_kind().common()
    }

    /// The versions or subsets the assertion names, with their positions
    /// (of its own service; `mirrored` names the target's and checks it).
    pub fn named_versions(&self) -> Vec<&Located<String>> {
        self.as_kind().named_versions()
    }

    /// A one-line description for plans and reports, e.g. `v1 20, v2 80`.
    pub fn summary(&self) -> String {
        self.as_kind().summary()
    }
}

pub use crate::verify::Per;

/// `per: connection`, the default of `balanced`.
fn per_connection() -> Per {
    Per::Connection
}

/// `per: run`, the default of `split`.
fn per_run() -> Per {
    Per::Run
}

/// `v1 20, v2 80`: weights as written.
fn weights_summary(to: &crate::scenario::Ordered<Located<crate::scenario::Weight>>) -> String {
    to.iter()
        .map(|(k, w)| format!("{} {}", k.value, w.value.0))
        .collect::<Vec<_>>()
        .join(", ")
}
