//! The calibration rows of `routed`: no leak, and leaks at the default
//! deviation, at the verifier's own zero-event n.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::{Case, Check, Setup, Sizing, Trial};
use crate::stats::{self, Alpha, Share};
use crate::verify::Selection;
use crate::expect;
use super::*;

/// The size of a case's runs, which planner gave it, and what is claimed at it.
struct Size {
    n: u64,
    sizing: Sizing,
    claimed: f64,
    note: String,
}

pub(super) fn cases(cases: &mut Vec<Case>, null: Alpha) {
    // The verifier's own rule: inconclusive below the zero-event n for a
    // leak of `detect` at alpha; a leak then passes with probability ≤ alpha.
    let zero_leak = |alpha: Alpha, check: Check| {
        Share::new(detect())
            .and_then(|q| stats::plan::zero_leak(q, alpha))
            .map_err(|e| e.to_string())
            .map(|p| Size {
                n: p.n,
                sizing: Sizing::Verifier,
                claimed: if check == Check::Power {
                    1.0 - alpha.get()
                } else {
                    0.0
                },
                note: if check == Check::Power {
                    "n: stats::plan::zero_leak; claim: a leak passes with probability at most alpha"
                        .to_owned()
                } else {
                    format!("n: stats::plan::zero_leak at alpha {alpha}")
                },
            })
    };
    cases.push(routed_case(
        "to v2, no leak".to_owned(),
        Check::NeverFails,
        Alpha::DEFAULT,
        0.0,
        zero_leak(Alpha::DEFAULT, Check::NeverFails),
    ));
    for alpha in [null, Alpha::DEFAULT] {
        cases.push(routed_case(
            format!("to v2, leak {}%", detect() * 100.0),
            Check::Power,
            alpha,
            detect(),
            zero_leak(alpha, Check::Power),
        ));
    }
}

fn routed_case(
    text: String,
    check: Check,
    alpha: Alpha,
    leak: f64,
    size: Result<Size, String>,
) -> Case {
    let setup = size.map(|size| {
        let n = size.n;
        Setup {
            // A zero-tolerance null has no alpha; the power rows' alpha is
            // the miss probability the plan allows.
            alpha: if check == Check::Power {
                alpha.get()
            } else {
                0.0
            },
            n,
            sizing: size.sizing,
            claimed: size.claimed,
            note: size.note,
            trial: Box::new(move || {
                let endpoints = vec![endpoint("v2", "v2-0"), endpoint("v1", "v1-0")];
                let check = RoutedCheck {
                    selection: Selection::default(),
                    to: "v2".to_owned(),
                    confidence: confidence(alpha),
                };
                let mut traffic = Traffic::new(1, n, &served(first(&endpoints)?));
                let trial: Trial = Box::new(move |rng: &mut StdRng| {
                    if leak > 0.0 {
                        traffic.serve(&endpoints, |_| usize::from(rng.random_bool(leak)));
                    }
                    expect::routed(&traffic.ledger, &check).verdict
                });
                Ok(trial)
            }),
        }
    });
    case("routed", text, check, setup)
}
