//! The calibration rows of `balanced` per connection and per run, and
//! `split per: connection`: pinned and skewed connections among good ones.

use rand::rngs::StdRng;

use crate::calibration::cases::*;
use crate::calibration::synthetic::*;
use crate::calibration::{Case, Check, Setup, Sizing, Trial};
use crate::fleet::Echo;
use crate::stats::Alpha;
use crate::verify::distribution::Distribution;
use crate::verify::{self, Per, Selection, Tally};

/// How the connections of a distribution case draw their requests.
#[derive(Clone, Copy)]
enum Spread<'a> {
    /// Every connection from the configured shares.
    Null,
    /// Connection 0 sends everything to column 0.
    Pinned,
    /// Connection 0 draws from these shares, the others from the configured ones.
    First(&'a [f64]),
    /// Every connection draws from these shares.
    All(&'a [f64]),
}

/// The rows of `balanced` (per connection and per run) and of `split per:
/// connection`, each sized by the plan the verifier holds the run to
/// ([`verify::distribution::plan`]) over [`CONNECTIONS`] connections.
pub(super) fn cases(cases: &mut Vec<Case>, null: Alpha) {
    let even = [0.5, 0.5];
    let off = [0.5 + detect(), 0.5 - detect()];
    let label = format!("2 endpoints × {CONNECTIONS} connections");
    for per in [Per::Connection, Per::Run] {
        let verifier = match per {
            Per::Connection => "balanced per connection",
            Per::Run => "balanced per run",
        };
        let alternatives = match per {
            Per::Connection => vec![
                (
                    format!("{label}, connection 0 at {}", shares_text(&off)),
                    Spread::First(&off),
                ),
                (format!("{label}, connection 0 pinned"), Spread::Pinned),
            ],
            Per::Run => vec![(
                format!("{label}, every connection at {}", shares_text(&off)),
                Spread::All(&off),
            )],
        };
        null_and_power(
            cases,
            (&label, null),
            Spread::Null,
            alternatives,
            |text, check, alpha, spread| {
                let claim = (&even[..], Tally::Endpoints, per);
                distribution_case(verifier, text, check, alpha, claim, spread)
            },
        );
    }
    let twenty_eighty = [0.2, 0.8];
    let off = [0.2 + detect(), 0.8 - detect()];
    let label = format!("20/80 × {CONNECTIONS} connections");
    let alternatives = [
        (
            format!("{label}, connection 0 at {}", shares_text(&off)),
            Spread::First(&off),
        ),
        (
            format!("{label}, connection 0 pinned to v2"),
            Spread::Pinned,
        ),
    ];
    null_and_power(
        cases,
        (&label, null),
        Spread::Null,
        alternatives,
        |text, check, alpha, spread| {
            let claim = (&twenty_eighty[..], Tally::Versions, Per::Connection);
            distribution_case("split per connection", text, check, alpha, claim, spread)
        },
    );
}

/// One row of a distribution claim `(shares, tally, per)` over
/// [`CONNECTIONS`] connections, each carrying the planned requests per
/// connection (`per: connection`) or an equal part of the planned total.
fn distribution_case(
    verifier: &'static str,
    text: String,
    check: Check,
    alpha: Alpha,
    (shares, tally, per): (&[f64], Tally, Per),
    spread: Spread<'_>,
) -> Case {
    let confidence = confidence(alpha);
    let plan = verify::distribution::plan(shares, per, CONNECTIONS as usize, confidence);
    let shares = shares.to_vec();
    let pinned_column = match tally {
        // A split is pinned to its heaviest version, the hardest to catch.
        Tally::Versions => shares.len().saturating_sub(1),
        Tally::Endpoints => 0,
    };
    let draws = |truth: &[f64]| Categorical::new(truth).map_err(|e| e.to_string());
    let first = match spread {
        Spread::Null | Spread::Pinned => shares.clone(),
        Spread::First(truth) | Spread::All(truth) => truth.to_vec(),
    };
    let rest = match spread {
        Spread::All(truth) => truth.to_vec(),
        Spread::Null | Spread::Pinned | Spread::First(_) => shares.clone(),
    };
    let pinned = matches!(spread, Spread::Pinned);
    let setup = plan.map_err(|e| e.to_string()).map(|plan| {
        let per_connection = match per {
            Per::Connection => plan.n,
            Per::Run => plan.n.div_ceil(CONNECTIONS),
        };
        Setup {
            alpha: alpha.get(),
            n: per_connection * CONNECTIONS,
            sizing: Sizing::Verifier,
            claimed: claim(check, alpha),
            note: format!(
                "{CONNECTIONS} × {per_connection}; n: verify::distribution::plan (exact power {:.4})",
                plan.power
            ),
            trial: Box::new(move || {
                let endpoints: Vec<Echo> = (0..shares.len())
                    .map(|i| match tally {
                        Tally::Versions => endpoint(&format!("v{}", i + 1), &format!("v{}-0", i + 1)),
                        Tally::Endpoints => endpoint("v1", &format!("v1-{i}")),
                    })
                    .collect();
                let check = Distribution {
                    weights: endpoints
                        .iter()
                        .zip(&shares)
                        .map(|(e, w)| (tally_label(tally, e), *w))
                        .collect(),
                    tally,
                    per,
                };
                let (first, rest) = (draws(&first)?, draws(&rest)?);
                let mut traffic =
                    Traffic::new(CONNECTIONS, per_connection, &served(self::first(&endpoints)?));
                let trial: Trial = Box::new(move |rng: &mut StdRng| {
                    traffic.serve(&endpoints, |connection| match connection {
                        0 if pinned => pinned_column,
                        0 => first.draw(rng),
                        _ => rest.draw(rng),
                    });
                    let selection = Selection::default();
                    let claim = (verifier, String::new());
                    verify::distribution::verify(&traffic.ledger, &selection, &check, confidence, claim)
                        .verdict
                });
                Ok(trial)
            }),
        }
    });
    case(verifier, text, check, setup)
}

fn tally_label(tally: Tally, echo: &Echo) -> String {
    match tally {
        Tally::Versions => echo.version.clone(),
        Tally::Endpoints => echo.pod.clone(),
    }
}
