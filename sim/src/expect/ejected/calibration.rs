//! The calibration rows of `ejected`: zero tolerance, at the scenario
//! planner's n.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::Case;
use crate::ledger::Outcome;
use crate::stats::Alpha;
use crate::verify::{Confidence, Selection};
use crate::expect;
use super::*;

pub(super) fn cases(cases: &mut Vec<Case>, _null: Alpha) {
    zero_tolerance_pair(
        cases,
        "ejected",
        "v2 within 1s",
        "ejected: { version: v1 }",
        |n, violations| {
            let within = Duration::from_secs(1);
            let endpoints = vec![endpoint("v1", "v1-0"), endpoint("v2", "v2-0")];
            let check = EjectedCheck {
                selection: Selection::default(),
                version: "v2".to_owned(),
                pods: Vec::new(),
                within,
                confidence: Confidence::default(),
            };
            // v2 answers one request with an error at the start (connection 1,
            // left alone by the draws); the n requests of connection 0 start
            // after ejection was due.
            let mut traffic = Traffic::new(1, n, &served(first(&endpoints)?));
            for (i, entry) in traffic.ledger.entries.iter_mut().enumerate() {
                entry.intended = within + Duration::from_millis(10 + i as u64);
            }
            let mut failure = traffic
                .ledger
                .entries
                .first()
                .cloned()
                .ok_or_else(|| "an ejected case needs requests".to_owned())?;
            failure.id = "failure".to_owned();
            failure.order = n;
            failure.connection = 1;
            failure.intended = Duration::ZERO;
            failure.outcome = Outcome::Response {
                success: false,
                code: "503".to_owned(),
                served_by: endpoints.get(1).cloned(),
                location: None,
            };
            traffic.ledger.entries.insert(0, failure);
            traffic.ledger.sent += 1;
            Ok(Box::new(move |rng: &mut StdRng| {
                // A violation: a request after the window still reached v2.
                traffic.serve(&endpoints, |connection| {
                    if connection == 1 {
                        usize::MAX
                    } else {
                        usize::from(rng.random_bool(violations))
                    }
                });
                expect::ejected(&traffic.ledger, &check).verdict
            }))
        },
    );
}
