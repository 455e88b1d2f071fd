//! The calibration rows of `mirrored`: a 10% mirror at its null and shifted
//! either way.

use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::{Case, Check, Setup, Sizing, Trial};
use crate::stats::{self, Alpha, Deviation, Power, Share};
use crate::verify::Selection;
use crate::expect;
use super::*;

/// The configured mirror fraction: 10%, a skewed share where the exact
/// two-sided test is least symmetric (the fault rows test 50%), and a tenth
/// of the copies to join per run.
const MIRROR: f64 = 0.1;

pub(super) fn cases(cases: &mut Vec<Case>, null: Alpha) {
    let label = format!("{}% to v2", shares_text(&[MIRROR]));
    // The harder direction (the planner's power is the smaller of the two
    // there); the join under the count is the same either way.
    let truth = MIRROR + detect();
    let truths = [(format!("{label}, true {}%", shares_text(&[truth])), truth)];
    null_and_power(cases, (&label, null), MIRROR, truths, mirrored_case);
}

fn mirrored_case(text: String, check: Check, alpha: Alpha, truth: f64) -> Case {
    let setup = Share::new(MIRROR)
        .and_then(|m| stats::plan::mirror(m, alpha, Power::DEFAULT, Deviation::DEFAULT))
        .map_err(|e| e.to_string())
        .map(|plan| {
            let n = plan.n;
            Setup {
                alpha: alpha.get(),
                n,
                sizing: Sizing::Verifier,
                claimed: claim(check, alpha),
                note: "n: stats::plan::mirror; copies joined from endpoint records".to_owned(),
                trial: Box::new(move || {
                    let primary = endpoint("v1", "v1-0");
                    let traffic = Traffic::new(1, n, &served(&primary));
                    // A copy arrives after its primary: the fleet's second sight of the id.
                    let copies = arrivals(&traffic, "v2", "v2-0", 2, &[]);
                    let check = MirroredCheck {
                        selection: Selection::default(),
                        service: crate::calibration::synthetic::SERVICE.to_owned(),
                        to: "v2".to_owned(),
                        fraction: MIRROR,
                        confidence: confidence(alpha),
                    };
                    let trial: Trial = Box::new(move |rng: &mut StdRng| {
                        let k = binomial(rng, traffic.len(), truth) as usize;
                        let received = copies.get(..k).unwrap_or(&copies);
                        expect::mirrored(&traffic.ledger, received, &check).verdict
                    });
                    Ok(trial)
                }),
            }
        });
    case("mirrored", text, check, setup)
}
