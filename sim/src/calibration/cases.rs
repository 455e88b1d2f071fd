//! What the cases of the table share. Each expectation kind builds its own
//! rows in its module (`crate::expect::<kind>::calibration`): runs drawn
//! from its null at the null rows' alpha and at the default, and from
//! alternatives at the deviation it states, each with n from the planner
//! the verifier uses (or, where it uses none, the scenario planner's).

use crate::fleet::Echo;
use crate::scenario::{self, Scenario};
use crate::stats::{Alpha, Deviation, Power};
use crate::verify::Confidence;

use super::{Case, Check, Options, Setup, Sizing, Trial};

/// Connections of the per-connection cases: several, as a load generator
/// holds, so that one misbehaving connection hides among good ones.
pub(crate) const CONNECTIONS: u64 = 4;

/// The rate of a zero-tolerance violation, and the shift of a share, in the
/// alternatives: the bench's default deviation.
pub(crate) fn detect() -> f64 {
    Deviation::DEFAULT.get()
}

/// Every case, in table order: each expectation kind's, in the registry's order.
pub(super) fn all(options: &Options) -> Vec<Case> {
    let mut cases = Vec::new();
    crate::expect::calibration_cases(&mut cases, options.null_alpha);
    cases
}

pub(crate) fn confidence(alpha: Alpha) -> Confidence {
    Confidence {
        alpha,
        ..Confidence::default()
    }
}

pub(crate) fn case(
    verifier: &'static str,
    case: String,
    check: Check,
    setup: Result<Setup, String>,
) -> Case {
    Case {
        verifier,
        case,
        check,
        setup,
    }
}

/// The claim of a row at `alpha`: alpha itself for a null row, the default
/// power for an alternative.
pub(crate) fn claim(check: Check, alpha: Alpha) -> f64 {
    match check {
        Check::FalseFailures => alpha.get(),
        Check::NeverFails => 0.0,
        Check::Power => Power::DEFAULT.get(),
    }
}

/// `0.77/0.115` as `77/11.5`.
pub(crate) fn shares_text(shares: &[f64]) -> String {
    let parts: Vec<String> = shares
        .iter()
        .map(|s| {
            let text = format!("{:.2}", s * 100.0);
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        })
        .collect();
    parts.join("/")
}

pub(crate) fn first(endpoints: &[Echo]) -> Result<&Echo, String> {
    endpoints
        .first()
        .ok_or_else(|| "a case needs at least one endpoint".to_owned())
}

/// What the scenario planner (`meshbench plan`) plans for `expectation`
/// (one YAML flow mapping) at `alpha` and the default power and deviation,
/// against one version with `replicas` endpoints and one client holding
/// `connections` connections; for verifiers that have no planner of their own.
pub(crate) fn scenario_plan(
    expectation: &str,
    alpha: Alpha,
    replicas: usize,
    connections: u64,
) -> Result<scenario::SampleSize, String> {
    let source = format!(
        "name: calibration
fleet:
  - service: calibration.bench.svc.cluster.local
    protocol: http
    versions:
      v1: {{ replicas: {replicas} }}
workload:
  clients:
    - name: bench
      service: calibration.bench.svc.cluster.local
      connections: {connections}
      requests: 10000000
expect:
  - {expectation}
confidence: {{ alpha: {:e}, power: {}, detect: {}% }}
",
        alpha.get(),
        Power::DEFAULT.get(),
        detect() * 100.0
    );
    let parsed = Scenario::parse(&source, "calibration.yaml").map_err(|e| e.to_string())?;
    parsed
        .plan()
        .into_iter()
        .next()
        .map(|assertion| assertion.plan)
        .ok_or_else(|| "the scenario planner planned nothing".to_owned())
}

// ---------------------------------------------------------------- rows

/// The rows of a verifier that tests a stated value: its null at the
/// calibration alpha and at the default one (false failures), then one
/// power row, at the default alpha, per `(label, truth)` alternative.
/// `row(text, check, alpha, truth)` builds one row.
pub(crate) fn null_and_power<T: Copy>(
    cases: &mut Vec<Case>,
    (label, null): (&str, Alpha),
    stated: T,
    alternatives: impl IntoIterator<Item = (String, T)>,
    row: impl Fn(String, Check, Alpha, T) -> Case,
) {
    for alpha in [null, Alpha::DEFAULT] {
        let text = format!("{label}, null");
        cases.push(row(text, Check::FalseFailures, alpha, stated));
    }
    for (text, truth) in alternatives {
        cases.push(row(text, Check::Power, Alpha::DEFAULT, truth));
    }
}

// ---------------------------------------------------------------- retried, timeout

/// A zero-tolerance check's null row and its alternative (violations at the
/// default deviation), both at the scenario planner's n.
pub(crate) fn zero_tolerance_pair(
    cases: &mut Vec<Case>,
    verifier: &'static str,
    label: &str,
    expectation: &str,
    build: fn(u64, f64) -> Result<Trial, String>,
) {
    let planned = scenario_plan(expectation, Alpha::DEFAULT, 1, 1).map(|p| p.n);
    for (check, violations) in [(Check::NeverFails, 0.0), (Check::Power, detect())] {
        let text = if check == Check::Power {
            format!("{label}, {}% violate", detect() * 100.0)
        } else {
            format!("{label}, null")
        };
        let setup = planned.clone().map(|n| Setup {
            alpha: 0.0,
            n,
            sizing: Sizing::Scenario,
            claimed: claim(check, Alpha::DEFAULT),
            note: "n and claim: scenario plan (zero tolerance)".to_owned(),
            trial: Box::new(move || build(n, violations)),
        });
        cases.push(case(verifier, text, check, setup));
    }
}
