//! The calibration rows of `latency`: a p99 bound at its null and with the
//! tail past it.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::{Case, Check, Setup, Sizing, Trial};
use crate::stats::Alpha;
use crate::verify::Selection;
use crate::expect;
use super::*;

/// The bound of the latency cases: p99 below 10 ms.
const P99_BOUND: Duration = Duration::from_millis(10);

pub(super) fn cases(cases: &mut Vec<Case>, null: Alpha) {
    let beyond = 0.01;
    let worse = beyond + detect();
    let truths = [(
        format!("p99 below 10ms, {}% above", shares_text(&[worse])),
        worse,
    )];
    let label = "p99 below 10ms (1% above)";
    null_and_power(cases, (label, null), beyond, truths, latency_case);
}

fn latency_case(text: String, check: Check, alpha: Alpha, beyond: f64) -> Case {
    let setup = scenario_plan("latency: { below: { p99: 10ms } }", alpha, 1, 1).map(|plan| {
        let n = plan.n;
        Setup {
            alpha: alpha.get(),
            n,
            sizing: Sizing::Scenario,
            claimed: claim(check, alpha),
            note: "n: scenario plan (the verifier plans nothing)".to_owned(),
            trial: Box::new(move || {
                let by = endpoint("v1", "v1-0");
                let check = LatencyCheck {
                    selection: Selection::default(),
                    version: None,
                    below: vec![(0.99, P99_BOUND)],
                    above: Vec::new(),
                    confidence: confidence(alpha),
                };
                let mut traffic = Traffic::new(1, n, &served(&by));
                let (fast, slow) = (P99_BOUND / 2, P99_BOUND * 2);
                let trial: Trial = Box::new(move |rng: &mut StdRng| {
                    traffic.time(|| if rng.random_bool(beyond) { slow } else { fast });
                    expect::latency(&traffic.ledger, &check).verdict
                });
                Ok(trial)
            }),
        }
    });
    case("latency", text, check, setup)
}
