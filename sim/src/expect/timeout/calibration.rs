//! The calibration rows of `timeout`: zero tolerance, at the scenario
//! planner's n.

use std::time::Duration;

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
        "timeout",
        "after 1s + 50ms",
        "timeout: { after: 1s, slack: 50ms }",
        |n, violations| {
            let (after, slack) = (Duration::from_secs(1), Duration::from_millis(50));
            let check = TimeoutCheck {
                selection: Selection::default(),
                after,
                slack,
                early: Duration::ZERO,
                status: None,
                confidence: Confidence::default(),
            };
            let mut traffic = Traffic::new(1, n, &gateway_timeout());
            Ok(Box::new(move |rng: &mut StdRng| {
                // In the window, or (a violation) 100 ms after it closed.
                traffic.time(|| {
                    if rng.random_bool(violations) {
                        after + slack + Duration::from_millis(100)
                    } else {
                        after + slack.mul_f64(rng.random::<f64>())
                    }
                });
                expect::timeout(&traffic.ledger, &check).verdict
            }))
        },
    );
}
