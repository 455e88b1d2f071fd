//! The calibration rows of `fault`: a 50% abort at its null and shifted by
//! the default deviation either way.

use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::{Case, Check, Setup, Sizing, Trial};
use crate::stats::{self, Alpha, Deviation, Power, Share};
use crate::verify::{self, Counted};

/// The configured fault (abort) fraction.
const FAULT: f64 = 0.5;

pub(super) fn cases(cases: &mut Vec<Case>, null: Alpha) {
    let label = format!("fault {}%", FAULT * 100.0);
    let truths = [FAULT + detect(), FAULT - detect()]
        .map(|truth| (format!("{label}, true {}%", shares_text(&[truth])), truth));
    null_and_power(cases, (&label, null), FAULT, truths, fraction_case);
}

/// The fraction verifier takes counts (the runner counts the requests with
/// the property), so a run is one binomial draw of them.
fn fraction_case(text: String, check: Check, alpha: Alpha, truth: f64) -> Case {
    let setup = Share::new(FAULT)
        .and_then(|p| stats::plan::share(p, alpha, Power::DEFAULT, Deviation::DEFAULT))
        .map_err(|e| e.to_string())
        .map(|plan| {
            let n = plan.n;
            Setup {
                alpha: alpha.get(),
                n,
                sizing: Sizing::Verifier,
                claimed: claim(check, alpha),
                note: "n: stats::plan::share; a run draws the count of aborted requests".to_owned(),
                trial: Box::new(move || {
                    let trial: Trial = Box::new(move |rng: &mut StdRng| {
                        let counted = Counted {
                            name: "fault".to_owned(),
                            kind: "fault",
                            property: "aborted".to_owned(),
                            k: binomial(rng, n, truth),
                            n,
                            expected: FAULT,
                        };
                        verify::fraction(counted, confidence(alpha), Vec::new()).verdict
                    });
                    Ok(trial)
                }),
            }
        });
    case("fraction", text, check, setup)
}
