//! The calibration rows of `retried`: zero tolerance, at the scenario
//! planner's n.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::Case;
use crate::stats::Alpha;
use crate::verify::{Confidence, Selection};
use crate::expect;
use super::*;

pub(super) fn cases(cases: &mut Vec<Case>, _null: Alpha) {
    zero_tolerance_pair(
        cases,
        "retried",
        "attempts 2",
        "retried: { attempts: 2 }",
        |n, violations| {
            let mut by = endpoint("v1", "v1-0");
            by.attempt = 2;
            let check = RetriedCheck {
                selection: Selection::default(),
                attempts: 2,
                status: None,
                confidence: Confidence::default(),
            };
            let mut traffic = Traffic::new(1, n, &served(&by));
            Ok(Box::new(move |rng: &mut StdRng| {
                // A violation: the proxy retried once more than configured.
                traffic.attempts(|| if rng.random_bool(violations) { 3 } else { 2 });
                expect::retried(&traffic.ledger, &check).verdict
            }))
        },
    );
}
