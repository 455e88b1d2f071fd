//! The calibration rows of `received`: zero tolerance, at the scenario
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
        "received",
        "x-rewritten: yes",
        "received: { attributes: { x-rewritten: \"yes\" } }",
        |n, violations| {
            let (name, yes, no) = ("x-rewritten".to_owned(), "yes".to_owned(), "no".to_owned());
            let check = ReceivedCheck {
                selection: Selection::default(),
                attributes: vec![(name.clone(), yes.clone())],
                confidence: Confidence::default(),
            };
            let traffic = Traffic::new(1, n, &served(&endpoint("v1", "v1-0")));
            let mut records = arrivals(&traffic, "v1", "v1-0", 1, &[(name, yes.clone())]);
            Ok(Box::new(move |rng: &mut StdRng| {
                // A violation: the request arrived without the rewrite.
                for record in &mut records {
                    if let Some((_, value)) = record.attributes.first_mut() {
                        value.clone_from(if rng.random_bool(violations) {
                            &no
                        } else {
                            &yes
                        });
                    }
                }
                expect::received(&traffic.ledger, &records, &check).verdict
            }))
        },
    );
}
