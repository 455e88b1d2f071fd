//! The cases of the table: per verifier, runs drawn from its null at the
//! null rows' alpha and at the default, and from alternatives at the
//! deviation it states, each with n from the planner the verifier uses
//! (or, where it uses none, the scenario planner's).

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use crate::expect::{
    self, EjectedCheck, LatencyCheck, MirroredCheck, ReceivedCheck, RetriedCheck, RoutedCheck,
    SplitCheck, TimeoutCheck,
};
use crate::fleet::Echo;
use crate::ledger::Outcome;
use crate::scenario::{self, Scenario};
use crate::stats::{self, Alpha, Deviation, Power, Share};
use crate::verify::distribution::Distribution;
use crate::verify::{self, Confidence, Counted, Mode, Per, Selection, SequentialShares, Tally};

use super::synthetic::{
    Categorical, Traffic, arrivals, binomial, endpoint, gateway_timeout, served,
};
use super::{Case, Check, Options, Setup, Sizing, Trial};

/// Connections of the per-connection cases: several, as a load generator
/// holds, so that one misbehaving connection hides among good ones.
const CONNECTIONS: u64 = 4;

/// The rate of a zero-tolerance violation, and the shift of a share, in the
/// alternatives: the bench's default deviation.
fn detect() -> f64 {
    Deviation::DEFAULT.get()
}

/// Every case, in table order.
pub(super) fn all(options: &Options) -> Vec<Case> {
    let mut cases = Vec::new();
    let null = options.null_alpha;
    let twenty_eighty: Weights = &[("v1", 20.0), ("v2", 80.0)];
    let two_alternatives: &[&[f64]] = &[&[0.23, 0.77], &[0.17, 0.83]];
    split_cases(
        &mut cases,
        null,
        (twenty_eighty, two_alternatives),
        split_case,
    );
    let three: Weights = &[("v1", 80.0), ("v2", 10.0), ("v3", 10.0)];
    let three_alternatives: &[&[f64]] = &[&[0.77, 0.115, 0.115], &[0.83, 0.085, 0.085]];
    split_cases(&mut cases, null, (three, three_alternatives), split_case);
    split_cases(
        &mut cases,
        null,
        (twenty_eighty, two_alternatives),
        sequential_split_case,
    );
    balanced_cases(&mut cases, null);
    routed_cases(&mut cases, null);
    fraction_cases(&mut cases, null);
    mirrored_cases(&mut cases, null);
    latency_cases(&mut cases, null);
    retried_cases(&mut cases);
    timeout_cases(&mut cases);
    received_cases(&mut cases);
    ejected_cases(&mut cases);
    cases
}

fn confidence(alpha: Alpha) -> Confidence {
    Confidence {
        alpha,
        ..Confidence::default()
    }
}

fn case(verifier: &'static str, case: String, check: Check, setup: Result<Setup, String>) -> Case {
    Case {
        verifier,
        case,
        check,
        setup,
    }
}

/// The claim of a row at `alpha`: alpha itself for a null row, the default
/// power for an alternative.
fn claim(check: Check, alpha: Alpha) -> f64 {
    match check {
        Check::FalseFailures => alpha.get(),
        Check::NeverFails => 0.0,
        Check::Power => Power::DEFAULT.get(),
    }
}

/// `0.77/0.115` as `77/11.5`.
fn shares_text(shares: &[f64]) -> String {
    let parts: Vec<String> = shares
        .iter()
        .map(|s| {
            let text = format!("{:.2}", s * 100.0);
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        })
        .collect();
    parts.join("/")
}

fn first(endpoints: &[Echo]) -> Result<&Echo, String> {
    endpoints
        .first()
        .ok_or_else(|| "a case needs at least one endpoint".to_owned())
}

/// What the scenario planner (`meshbench plan`) plans for `expectation`
/// (one YAML flow mapping) at `alpha` and the default power and deviation,
/// against one version with `replicas` endpoints and one client holding
/// `connections` connections; for verifiers that have no planner of their own.
fn scenario_plan(
    expectation: &str,
    alpha: Alpha,
    replicas: usize,
    connections: u64,
) -> Result<scenario::SampleSize, String> {
    let source = format!(
        "name: calibration
fleet:
  - service: calibration.bench.svc.cluster.local
    protocol: http
    versions:
      v1: {{ replicas: {replicas} }}
workload:
  clients:
    - name: bench
      service: calibration.bench.svc.cluster.local
      connections: {connections}
      requests: 10000000
expect:
  - {expectation}
confidence: {{ alpha: {:e}, power: {}, detect: {}% }}
",
        alpha.get(),
        Power::DEFAULT.get(),
        detect() * 100.0
    );
    let parsed = Scenario::parse(&source, "calibration.yaml").map_err(|e| e.to_string())?;
    parsed
        .plan()
        .into_iter()
        .next()
        .map(|assertion| assertion.plan)
        .ok_or_else(|| "the scenario planner planned nothing".to_owned())
}

// ---------------------------------------------------------------- rows

/// The rows of a verifier that tests a stated value: its null at the
/// calibration alpha and at the default one (false failures), then one
/// power row, at the default alpha, per `(label, truth)` alternative.
/// `row(text, check, alpha, truth)` builds one row.
fn null_and_power<T: Copy>(
    cases: &mut Vec<Case>,
    (label, null): (&str, Alpha),
    stated: T,
    alternatives: impl IntoIterator<Item = (String, T)>,
    row: impl Fn(String, Check, Alpha, T) -> Case,
) {
    for alpha in [null, Alpha::DEFAULT] {
        let text = format!("{label}, null");
        cases.push(row(text, Check::FalseFailures, alpha, stated));
    }
    for (text, truth) in alternatives {
        cases.push(row(text, Check::Power, Alpha::DEFAULT, truth));
    }
}

// ---------------------------------------------------------------- split

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

// ---------------------------------------------------------------- split, sequential

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

// ---------------------------------------------------------------- balanced, split per connection

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
fn balanced_cases(cases: &mut Vec<Case>, null: Alpha) {
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

// ---------------------------------------------------------------- routed

/// The size of a case's runs, which planner gave it, and what is claimed at it.
struct Size {
    n: u64,
    sizing: Sizing,
    claimed: f64,
    note: String,
}

fn routed_cases(cases: &mut Vec<Case>, null: Alpha) {
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

// ---------------------------------------------------------------- fraction

/// The configured fault (abort) fraction.
const FAULT: f64 = 0.5;

fn fraction_cases(cases: &mut Vec<Case>, null: Alpha) {
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

// ---------------------------------------------------------------- mirrored

/// The configured mirror fraction: 10%, a skewed share where the exact
/// two-sided test is least symmetric (the fault rows test 50%), and a tenth
/// of the copies to join per run.
const MIRROR: f64 = 0.1;

fn mirrored_cases(cases: &mut Vec<Case>, null: Alpha) {
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
                        service: super::synthetic::SERVICE.to_owned(),
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

// ---------------------------------------------------------------- latency

/// The bound of the latency cases: p99 below 10 ms.
const P99_BOUND: Duration = Duration::from_millis(10);

fn latency_cases(cases: &mut Vec<Case>, null: Alpha) {
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

// ---------------------------------------------------------------- retried, timeout

/// A zero-tolerance check's null row and its alternative (violations at the
/// default deviation), both at the scenario planner's n.
fn zero_tolerance_pair(
    cases: &mut Vec<Case>,
    verifier: &'static str,
    label: &str,
    expectation: &str,
    build: fn(u64, f64) -> Result<Trial, String>,
) {
    let planned = scenario_plan(expectation, Alpha::DEFAULT, 1, 1).map(|p| p.n);
    for (check, violations) in [(Check::NeverFails, 0.0), (Check::Power, detect())] {
        let text = if check == Check::Power {
            format!("{label}, {}% violate", detect() * 100.0)
        } else {
            format!("{label}, null")
        };
        let setup = planned.clone().map(|n| Setup {
            alpha: 0.0,
            n,
            sizing: Sizing::Scenario,
            claimed: claim(check, Alpha::DEFAULT),
            note: "n and claim: scenario plan (zero tolerance)".to_owned(),
            trial: Box::new(move || build(n, violations)),
        });
        cases.push(case(verifier, text, check, setup));
    }
}

fn retried_cases(cases: &mut Vec<Case>) {
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

fn timeout_cases(cases: &mut Vec<Case>) {
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

fn received_cases(cases: &mut Vec<Case>) {
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

fn ejected_cases(cases: &mut Vec<Case>) {
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
