//! The calibration rows of `split`, fixed and sequential: the 20/80 and
//! 80/10/10 weights at their null and at two alternatives each.

use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::{Case, Check, Setup, Sizing, Trial};
use crate::fleet::Echo;
use crate::stats::{self, Alpha, Deviation, Power};
use crate::verify::{Confidence, Mode, Per, Selection, SequentialShares};
use crate::expect;
use super::*;

/// The rows of `split`: the configured weights, then each alternative
/// truth, fixed and sequential.
pub(super) fn cases(cases: &mut Vec<Case>, null: Alpha) {
    let twenty_eighty: Weights = &[("v1", 20.0), ("v2", 80.0)];
    let two_alternatives: &[&[f64]] = &[&[0.23, 0.77], &[0.17, 0.83]];
    split_cases(cases, null, (twenty_eighty, two_alternatives), split_case);
    let three: Weights = &[("v1", 80.0), ("v2", 10.0), ("v3", 10.0)];
    let three_alternatives: &[&[f64]] = &[&[0.77, 0.115, 0.115], &[0.83, 0.085, 0.085]];
    split_cases(cases, null, (three, three_alternatives), split_case);
    split_cases(
        cases,
        null,
        (twenty_eighty, two_alternatives),
        sequential_split_case,
    );
}


/// Versions and their configured weights (percent).
type Weights<'a> = &'a [(&'a str, f64)];

/// The rows of a split: the configured weights, then each alternative
/// truth; `row` is the fixed or the sequential verifier's case.
fn split_cases(
    cases: &mut Vec<Case>,
    null: Alpha,
    (weights, alternatives): (Weights<'_>, &[&[f64]]),
    row: fn(Weights<'_>, &[f64], Alpha, Check, String) -> Case,
) {
    let values: Vec<f64> = weights.iter().map(|(_, w)| *w).collect();
    let label = shares_text(&values.iter().map(|w| w / 100.0).collect::<Vec<_>>());
    let truths = alternatives
        .iter()
        .map(|truth| (format!("{label}, true {}", shares_text(truth)), *truth));
    null_and_power(
        cases,
        (&label, null),
        &values[..],
        truths,
        |text, check, alpha, truth| row(weights, truth, alpha, check, text),
    );
}

fn split_case(
    weights: &[(&str, f64)],
    truth: &[f64],
    alpha: Alpha,
    check: Check,
    text: String,
) -> Case {
    let weights: Vec<(String, f64)> = weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect();
    let values: Vec<f64> = weights.iter().map(|(_, w)| *w).collect();
    let truth = truth.to_vec();
    let setup = stats::plan::split(&values, alpha, Power::DEFAULT, Deviation::DEFAULT)
        .map_err(|e| e.to_string())
        .map(|plan| {
            let n = plan.n;
            Setup {
                alpha: alpha.get(),
                n,
                sizing: Sizing::Verifier,
                claimed: claim(check, alpha),
                note: match check {
                    Check::Power => {
                        format!("n: stats::plan::split (exact power {:.4})", plan.power)
                    }
                    _ => "n: stats::plan::split".to_owned(),
                },
                trial: split_trial(weights, truth, n, confidence(alpha)),
            }
        });
    case("split", text, check, setup)
}

/// A split run: `n` requests over one endpoint per version, each drawn
/// from the `truth` shares, checked against the configured `weights`.
fn split_trial(
    weights: Vec<(String, f64)>,
    truth: Vec<f64>,
    n: u64,
    confidence: Confidence,
) -> Box<dyn Fn() -> Result<Trial, String> + Send + Sync> {
    Box::new(move || {
        let endpoints: Vec<Echo> = weights
            .iter()
            .map(|(v, _)| endpoint(v, &format!("{v}-0")))
            .collect();
        let draw = Categorical::new(&truth).map_err(|e| e.to_string())?;
        let mut traffic = Traffic::new(1, n, &served(first(&endpoints)?));
        let check = SplitCheck {
            selection: Selection::default(),
            weights: weights.clone(),
            per: Per::Run,
            confidence,
        };
        let trial: Trial = Box::new(move |rng: &mut StdRng| {
            traffic.serve(&endpoints, |_| draw.draw(rng));
            expect::split(&traffic.ledger, &check).verdict
        });
        Ok(trial)
    })
}


/// `split` in sequential mode: the verifier replays the ledger request by
/// request and stops when its SPRTs decide; a run holds as many requests
/// as the truncated test can need (its cap), so it never ends undecided.
fn sequential_split_case(
    weights: &[(&str, f64)],
    truth: &[f64],
    alpha: Alpha,
    check: Check,
    text: String,
) -> Case {
    let weights: Vec<(String, f64)> = weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect();
    let truth = truth.to_vec();
    let confidence = Confidence {
        mode: Mode::Sequential,
        ..confidence(alpha)
    };
    let setup = SequentialShares::new(&weights, confidence)
        .map_err(|e| e.to_string())
        .map(|test| {
            let n = test.cap();
            Setup {
                alpha: alpha.get(),
                n,
                sizing: Sizing::Verifier,
                claimed: claim(check, alpha),
                note: "n: the truncated SPRT's cap (it stops earlier)".to_owned(),
                trial: split_trial(weights, truth, n, confidence),
            }
        });
    case("split (sequential)", text, check, setup)
}
