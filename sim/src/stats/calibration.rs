//! Calibration: the false-failure rates and powers of every procedure of this
//! module, measured by seeded simulation in memory.
//!
//! How to read these tests. A test procedure at alpha = 1e-6 cannot be
//! *observed* failing a correct proxy, so each is simulated under its null
//! hypothesis at a larger alpha (0.05, 0.01) where R repetitions show its
//! rate, and the number of rejections is checked against an exact binomial
//! bound: if the procedure's true rate is at most alpha, the count exceeds
//! [`max_allowed`]`(R, alpha)` with probability below 1e-9. So each
//! assertion fails a *correct* implementation with probability < 1e-9 (the
//! seeds make the tests deterministic anyway, but the bounds are honest:
//! changing the seed keeps the guarantee). Powers are checked the same way
//! from the other side: misses above `max_allowed(R, 1 − power)` would be a
//! 1e-9 event if the claimed power held. At alpha = 1e-6 itself the exact
//! tests are checked analytically (their exact size is computed) and their
//! power by simulation at the planner's n.
//!
//! Repetition counts are chosen so that each bound is tight enough to catch
//! a real miscalibration (a test at a nominal 0.05 that really rejects 0.065
//! fails the 20 000-run checks) while keeping the whole module at a few
//! seconds in a debug build. The measured numbers are printed (run with
//! `--nocapture`) and recorded in each test's doc comment.
//!
//! The bounds and the binomial draw are shared with [`crate::calibration`],
//! which measures the verifiers built on these procedures.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::binomial::{Tail, acceptance_region, binomial_test};
use super::homogeneity::{ContingencyTable, homogeneity, row_fits};
use super::multinomial::{
    GofStatistic, MonteCarlo, PValueMethod, draw_multinomial, goodness_of_fit, share_tests,
};
use super::multiple::holm;
use super::plan;
use super::sequential::{Decision, MixtureEProcess, Sprt};
use super::types::{Alpha, Deviation, Power, Share};
use crate::calibration::{binomial, max_allowed, min_allowed};

fn alpha(a: f64) -> Alpha {
    Alpha::new(a).expect("test input")
}

fn share(p: f64) -> Share {
    Share::new(p).expect("test input")
}

/// The exact binomial test under its null, R = 20 000 per configuration.
/// Measured (two-sided, alpha 0.05 / 0.01), with the exact sizes in brackets:
/// n=50 p=0.5: 0.0312 [0.0328] / 0.0069 [0.0066]; n=200 p=0.3: 0.0445 [0.0450] /
/// 0.0075 [0.0085]; n=1000 p=0.1: 0.0467 [0.0451] / 0.0091 [0.0083];
/// n=5000 p=0.8: 0.0500 [0.0477] / 0.0114 [0.0098] (1.5 and 2.2 sd above the
/// exact size, on the same draws; 400 000 draws give 0.00987 and 0.00999
/// against 0.00984). One-sided upper at 0.05 for n=200 p=0.3: 0.0388.
#[test]
fn exact_binomial_false_failure_rate() {
    let mut rng = StdRng::seed_from_u64(11);
    let r = 20_000u64;
    for &(n, p) in &[(50u64, 0.5), (200, 0.3), (1_000, 0.1), (5_000, 0.8)] {
        let (a5, a1) = (alpha(0.05), alpha(0.01));
        let (mut rej5, mut rej1, mut upper5) = (0u64, 0u64, 0u64);
        for _ in 0..r {
            let k = binomial(&mut rng, n, p);
            let t = binomial_test(k, n, share(p), Tail::TwoSided).expect("test input");
            rej5 += u64::from(t.rejects(a5));
            rej1 += u64::from(t.rejects(a1));
            if n == 200 {
                upper5 += u64::from(
                    binomial_test(k, n, share(p), Tail::Upper)
                        .expect("test input")
                        .rejects(a5),
                );
            }
        }
        for (rej, a) in [(rej5, a5), (rej1, a1)] {
            let size = acceptance_region(n, share(p), a).size();
            println!(
                "binomial n={n} p={p} alpha={}: rejected {rej}/{r} = {:.4} (exact size {size:.4})",
                a.get(),
                rej as f64 / r as f64
            );
            // The false-failure rate is at most alpha ...
            assert!(size <= a.get());
            assert!(rej <= max_allowed(r, a.get()), "n={n} p={p}: {rej}");
            // ... and the simulation agrees with the exact size both ways.
            assert!(rej >= min_allowed(r, size) && rej <= max_allowed(r, size));
        }
        if n == 200 {
            println!(
                "binomial upper n=200 p=0.3 alpha=0.05: {:.4}",
                upper5 as f64 / r as f64
            );
            assert!(upper5 <= max_allowed(r, 0.05));
        }
    }
}

/// At alpha = 1e-6, the exact size of each planned test (computed, not
/// simulated) and its power by simulation at the planner's n, R = 20 000 per
/// direction. Measured powers (exact power in brackets, claimed ≥ 0.99):
/// p0 = 0.1 (n = 5 797): 0.9899 [0.9901] up, 0.9994 [0.9994] down; 0.2 (9 707):
/// 0.9904 [0.9900] / 0.9957 [0.9964]; 0.5 (14 476): 0.9910 [0.9900] /
/// 0.9902 [0.9900]. A mirror fraction is the same test.
#[test]
fn share_plans_have_their_power() {
    let mut rng = StdRng::seed_from_u64(12);
    let r = 20_000u64;
    let (a, pw, d) = (Alpha::DEFAULT, Power::DEFAULT, Deviation::DEFAULT);
    for &p in &[0.1, 0.2, 0.5] {
        let plan = plan::share(share(p), a, pw, d).expect("test input");
        let region = acceptance_region(plan.n, share(p), a);
        assert!(region.size() <= 1e-6, "p={p}: exact size {}", region.size());
        for p1 in [p + 0.03, p - 0.03] {
            let mut missed = 0u64;
            for i in 0..r {
                let k = binomial(&mut rng, plan.n, p1);
                let accepted = region.accepts(k);
                if i < 200 {
                    // The region is the p-value test.
                    let t = binomial_test(k, plan.n, share(p), Tail::TwoSided).expect("test input");
                    assert_eq!(accepted, !t.rejects(a));
                }
                missed += u64::from(accepted);
            }
            let exact = region.rejection_probability(p1);
            println!(
                "share plan p0={p} n={} true {p1:.2}: power {:.4} (exact {exact:.4}, claimed {:.4})",
                plan.n,
                1.0 - missed as f64 / r as f64,
                plan.power
            );
            assert!(exact >= plan.power - 1e-12);
            assert!(
                missed <= max_allowed(r, 1.0 - plan.power),
                "p={p} p1={p1}: {missed}"
            );
        }
    }
}

/// Holm over k shares (the verdict of a k-way split). Null: 4-way uniform,
/// n = 400, alpha 0.05, R = 5 000: measured FWER 0.0410. Power at alpha 1e-6
/// with the planner's n, R = 2 000 per alternative (claimed 0.99; exact lower
/// bound in brackets): 80/10/10 (n = 10 280) against 77/11.5/11.5: 0.9875
/// [0.9900]; 80/13/7: 1.0000 [1.0000]; 83/8.5/8.5: 0.9970 [0.9966]; 4-way
/// uniform (n = 12 064) against 28/24/24/24: 0.9925 [0.9900].
#[test]
fn split_tests_false_failures_and_power() {
    let mut rng = StdRng::seed_from_u64(13);
    let r = 5_000u64;
    let a = alpha(0.05);
    let shares = [0.25; 4];
    let mut counts = [0u64; 4];
    let mut rejected = 0u64;
    for _ in 0..r {
        draw_multinomial(&mut rng, 400, &shares, &mut counts);
        rejected += u64::from(
            share_tests(&counts, &shares, a)
                .expect("test input")
                .rejected(),
        );
    }
    println!(
        "share_tests null 4x25%, n=400, alpha 0.05: FWER {:.4}",
        rejected as f64 / r as f64
    );
    assert!(rejected <= max_allowed(r, 0.05));

    let r = 2_000u64;
    let (a, pw, d) = (Alpha::DEFAULT, Power::DEFAULT, Deviation::DEFAULT);
    let cases: [(&[f64], &[&[f64]]); 2] = [
        (
            &[0.8, 0.1, 0.1],
            &[
                &[0.77, 0.115, 0.115],
                &[0.8, 0.13, 0.07],
                &[0.83, 0.085, 0.085],
            ],
        ),
        (&[0.25; 4], &[&[0.28, 0.24, 0.24, 0.24]]),
    ];
    for (expected, alternatives) in cases {
        let plan = plan::split(expected, a, pw, d).expect("test input");
        for truth in alternatives {
            let mut counts = vec![0u64; expected.len()];
            let mut missed = 0u64;
            for _ in 0..r {
                draw_multinomial(&mut rng, plan.n, truth, &mut counts);
                missed += u64::from(
                    !share_tests(&counts, expected, a)
                        .expect("test input")
                        .rejected(),
                );
            }
            // Holm rejects whenever one share's p-value is below alpha/family, so the
            // best single-share power at the Bonferroni level is an exact lower bound.
            let family = if expected.len() == 2 {
                1
            } else {
                expected.len()
            };
            let bound = expected
                .iter()
                .zip(truth.iter())
                .map(|(&p0, &p1)| {
                    acceptance_region(plan.n, share(p0), a.split(family)).rejection_probability(p1)
                })
                .fold(0.0, f64::max);
            println!(
                "split plan {expected:?} n={} true {truth:?}: power {:.4} (exact lower bound {bound:.4}, claimed {:.4})",
                plan.n,
                1.0 - missed as f64 / r as f64,
                plan.power
            );
            assert!(bound >= plan.power - 1e-12);
            assert!(missed <= max_allowed(r, 1.0 - plan.power));
        }
    }
}

/// The omnibus chi-square and G tests under the null. Asymptotic (shares
/// 0.4/0.3/0.2/0.1, n = 500, every expected count ≥ 50), R = 20 000: their
/// size is an approximation, so the bound allows 10% above alpha (at 50
/// expected per cell the chi-square size error is far smaller than that).
/// Measured: Pearson 0.0503 / 0.0102, G 0.0512 / 0.0105 at alpha 0.05 / 0.01.
/// Monte Carlo (shares 0.7/0.1/0.1/0.1, n = 20, expected 2 in three cells,
/// 199 draws per p-value), R = 1 000: exactly valid, bound at alpha itself.
/// Measured: 0.0520 (bound 0.0830 for R = 1 000).
#[test]
fn goodness_of_fit_false_failure_rate() {
    let mut rng = StdRng::seed_from_u64(14);
    let r = 20_000u64;
    let shares = [0.4, 0.3, 0.2, 0.1];
    let mut counts = [0u64; 4];
    let mc = MonteCarlo::default();
    let mut rej = [[0u64; 2]; 2];
    for _ in 0..r {
        draw_multinomial(&mut rng, 500, &shares, &mut counts);
        for (s, kind) in [GofStatistic::Pearson, GofStatistic::G]
            .into_iter()
            .enumerate()
        {
            let g = goodness_of_fit(&counts, &shares, kind, &mc).expect("test input");
            assert_eq!(g.method, PValueMethod::Asymptotic);
            rej[s][0] += u64::from(g.p_value <= 0.05);
            rej[s][1] += u64::from(g.p_value <= 0.01);
        }
    }
    for (s, name) in ["Pearson", "G"].iter().enumerate() {
        println!(
            "gof {name} null n=500: {:.4} at 0.05, {:.4} at 0.01",
            rej[s][0] as f64 / r as f64,
            rej[s][1] as f64 / r as f64
        );
        assert!(rej[s][0] <= max_allowed(r, 0.05 * 1.1));
        assert!(rej[s][1] <= max_allowed(r, 0.01 * 1.1));
    }

    let r = 1_000u64;
    let shares = [0.7, 0.1, 0.1, 0.1];
    let mut rejected = 0u64;
    for i in 0..r {
        draw_multinomial(&mut rng, 20, &shares, &mut counts);
        let mc = MonteCarlo {
            draws: 199,
            seed: 1_000 + i,
        };
        let g = goodness_of_fit(&counts, &shares, GofStatistic::Pearson, &mc).expect("test input");
        assert!(matches!(g.method, PValueMethod::MonteCarlo { .. }));
        rejected += u64::from(g.p_value <= 0.05);
    }
    println!(
        "gof Monte Carlo null n=20: {:.4} at 0.05",
        rejected as f64 / r as f64
    );
    assert!(rejected <= max_allowed(r, 0.05));
}

/// Per-connection homogeneity. Null (4 connections × 100 requests, 2
/// endpoints, alpha 0.05 split in two), R = 5 000: the exact row fits alone
/// measured 0.0142 (bound alpha/2); the whole assertion 0.0314 (bound 1.05
/// alpha: alpha/2 for the rows, 1.1 alpha/2 for the asymptotic independence
/// half). Small tables (4 × 6
/// requests, 3 endpoints, Monte Carlo with 199 draws), R = 500: 0.0280.
/// Pinning, R = 500 tables of 4 connections with one pinned, at alpha 1e-6:
/// detected 500/500 with 40 requests per connection and 500/500 with the
/// planner's 24.
#[test]
fn homogeneity_false_failures_and_pinning() {
    let mut rng = StdRng::seed_from_u64(15);
    let r = 5_000u64;
    let a = alpha(0.05);
    let (mut rows_only, mut whole) = (0u64, 0u64);
    let mc = MonteCarlo::default();
    for _ in 0..r {
        let counts: Vec<Vec<u64>> = (0..4)
            .map(|_| {
                let x = binomial(&mut rng, 100, 0.5);
                vec![x, 100 - x]
            })
            .collect();
        let table = ContingencyTable::unlabelled(counts).expect("test input");
        let h =
            homogeneity(&table, &[1.0, 1.0], a, GofStatistic::Pearson, &mc).expect("test input");
        rows_only += u64::from(h.failed_rows().is_empty().then_some(0).is_none());
        whole += u64::from(h.rejected());
    }
    println!(
        "homogeneity null 4x100: rows {:.4}, whole {:.4} at alpha 0.05",
        rows_only as f64 / r as f64,
        whole as f64 / r as f64
    );
    assert!(rows_only <= max_allowed(r, 0.025));
    assert!(whole <= max_allowed(r, 0.025 + 0.025 * 1.1));

    let r = 500u64;
    let mut rejected = 0u64;
    for i in 0..r {
        let counts: Vec<Vec<u64>> = (0..4)
            .map(|_| {
                let mut row = vec![0u64; 3];
                draw_multinomial(&mut rng, 6, &[1.0 / 3.0; 3], &mut row);
                row
            })
            .collect();
        let table = ContingencyTable::unlabelled(counts).expect("test input");
        let mc = MonteCarlo {
            draws: 199,
            seed: i,
        };
        let h = homogeneity(&table, &[1.0; 3], a, GofStatistic::Pearson, &mc).expect("test input");
        assert!(matches!(
            h.independence.method,
            PValueMethod::MonteCarlo { .. }
        ));
        rejected += u64::from(h.rejected());
    }
    println!(
        "homogeneity null 4x6 (Monte Carlo): {:.4}",
        rejected as f64 / r as f64
    );
    assert!(rejected <= max_allowed(r, 0.05));

    let planned = plan::pinning(&[1.0, 1.0], 4, Alpha::DEFAULT).expect("test input");
    assert_eq!(planned.n, 24);
    for per in [40u64, planned.n] {
        let mut detected = 0u64;
        for _ in 0..r {
            let pinned = rng.random_range(0..4usize);
            let counts: Vec<Vec<u64>> = (0..4)
                .map(|c| {
                    let x = if c == pinned {
                        per
                    } else {
                        binomial(&mut rng, per, 0.5)
                    };
                    vec![x, per - x]
                })
                .collect();
            let table = ContingencyTable::unlabelled(counts).expect("test input");
            let fits = row_fits(&table, &[1.0, 1.0], Alpha::DEFAULT.split(2)).expect("test input");
            detected += u64::from(fits[pinned].rejected);
        }
        println!("pinning 4 connections x {per}: detected {detected}/{r}");
        assert_eq!(detected, r);
    }
}

/// Holm under the complete null with 5 independent uniform p-values, alpha
/// 0.05, R = 20 000: exact FWER 1 − (1 − 0.01)^5 = 0.0490; measured 0.0491.
#[test]
fn holm_family_wise_error_rate() {
    let mut rng = StdRng::seed_from_u64(16);
    let r = 20_000u64;
    let a = alpha(0.05);
    let mut rejected = 0u64;
    for _ in 0..r {
        let p: Vec<f64> = (0..5).map(|_| rng.random::<f64>()).collect();
        rejected += u64::from(holm(&p, a).any());
    }
    println!(
        "holm m=5 alpha=0.05: FWER {:.4}",
        rejected as f64 / r as f64
    );
    let exact = 1.0 - 0.99f64.powi(5);
    assert!(rejected <= max_allowed(r, 0.05));
    assert!(rejected >= min_allowed(r, exact) && rejected <= max_allowed(r, exact));
}

fn run_sprt(rng: &mut StdRng, mut t: Sprt, p: f64) -> (Decision, u64) {
    loop {
        let d = t.observe(rng.random_bool(p));
        if d != Decision::Continue {
            return (d, t.n());
        }
    }
}

/// The truncated SPRT. At alpha 0.05, power 0.9, p0 = 0.5, delta 0.1 (cap
/// 377), R = 4 000: false failures 0.0333 (bound alpha), mean stopping time
/// under H0 213; power at p = 0.6: 0.9357, at p = 0.4: 0.9323 (claimed 0.9).
/// At the defaults (alpha 1e-6, power 0.99, 3 points, p0 = 0.5, cap 16 048),
/// R = 300: no false failure, mean stopping time under H0 4 328 (27% of the
/// cap, 30% of the 14 476 fixed-n plan), power at p = 0.53: 0.9933 with mean
/// stopping time 8 282. R = 300 at the defaults only shows the stopping time
/// and a power of at least about 0.97 (the 1e-9 bound); the alpha 0.05 runs
/// carry the rate checks.
#[test]
fn sprt_false_failures_power_and_stopping_time() {
    let mut rng = StdRng::seed_from_u64(17);
    let r = 4_000u64;
    // Built once and cloned: construction runs the planner for the cap.
    let template = Sprt::new(
        share(0.5),
        Deviation::new(0.1).expect("test input"),
        alpha(0.05),
        Power::new(0.9).expect("test input"),
    )
    .expect("test input");
    let make = || template.clone();
    let cap = make().cap();
    let (mut rejected, mut total_n) = (0u64, 0u64);
    for _ in 0..r {
        let (d, n) = run_sprt(&mut rng, make(), 0.5);
        assert!(n <= cap);
        rejected += u64::from(d == Decision::RejectH0);
        total_n += n;
    }
    let mean_h0 = total_n as f64 / r as f64;
    println!(
        "sprt alpha 0.05 p0=0.5 delta 0.1 cap {cap}: false failures {:.4}, E[N|H0] {mean_h0:.0}",
        rejected as f64 / r as f64
    );
    assert!(rejected <= max_allowed(r, 0.05));
    // At a large alpha the cap itself is small, so early stopping saves less.
    assert!(mean_h0 < cap as f64 * 0.75);
    for p1 in [0.6, 0.4] {
        let mut missed = 0u64;
        for _ in 0..r {
            missed += u64::from(run_sprt(&mut rng, make(), p1).0 == Decision::AcceptH0);
        }
        println!("sprt power at {p1}: {:.4}", 1.0 - missed as f64 / r as f64);
        assert!(missed <= max_allowed(r, 0.1));
    }

    let r = 300u64;
    let template = Sprt::new(
        share(0.5),
        Deviation::DEFAULT,
        Alpha::DEFAULT,
        Power::DEFAULT,
    )
    .expect("test input");
    let make = || template.clone();
    let cap = make().cap();
    let (mut rejected, mut total_n) = (0u64, 0u64);
    for _ in 0..r {
        let (d, n) = run_sprt(&mut rng, make(), 0.5);
        rejected += u64::from(d == Decision::RejectH0);
        total_n += n;
    }
    let mean_h0 = total_n as f64 / r as f64;
    let (mut missed, mut total_h1) = (0u64, 0u64);
    for _ in 0..r {
        let (d, n) = run_sprt(&mut rng, make(), 0.53);
        missed += u64::from(d == Decision::AcceptH0);
        total_h1 += n;
    }
    println!(
        "sprt defaults p0=0.5 cap {cap}: false failures {rejected}/{r}, E[N|H0] {mean_h0:.0}, power at 0.53 {:.4}, E[N|H1] {:.0}",
        1.0 - missed as f64 / r as f64,
        total_h1 as f64 / r as f64
    );
    assert!(rejected <= max_allowed(r, 1e-6));
    assert!(mean_h0 < cap as f64 / 3.0);
    assert!(missed <= max_allowed(r, 0.01));
}

/// The mixture e-process. Null at alpha 0.05, p0 = 0.3, watched for 1 000
/// samples, R = 1 000: false failures 0.0360 (Ville's bound is alpha; the
/// mixture is conservative). At alpha 1e-6, p0 = 0.1 against a true 0.13 with
/// a cap of 1.5 × the fixed-n plan (8 695), R = 200: power 1.0000 (200/200),
/// median stop 3 763 (research §6.6: 3.8 k).
#[test]
fn e_process_false_failures_and_power() {
    let mut rng = StdRng::seed_from_u64(18);
    let r = 1_000u64;
    let mut rejected = 0u64;
    for _ in 0..r {
        let mut e = MixtureEProcess::new(share(0.3), alpha(0.05), Some(1_000)).expect("test input");
        while e.observe(rng.random_bool(0.3)) == Decision::Continue {}
        rejected += u64::from(e.decision() == Decision::RejectH0);
    }
    println!(
        "e-process null alpha 0.05: {:.4}",
        rejected as f64 / r as f64
    );
    assert!(rejected <= max_allowed(r, 0.05));

    let r = 200u64;
    let fixed = plan::share(
        share(0.1),
        Alpha::DEFAULT,
        Power::DEFAULT,
        Deviation::DEFAULT,
    )
    .expect("test input");
    let cap = fixed.n * 3 / 2;
    let mut detected = 0u64;
    let mut stops = Vec::new();
    for _ in 0..r {
        let mut e =
            MixtureEProcess::new(share(0.1), Alpha::DEFAULT, Some(cap)).expect("test input");
        while e.observe(rng.random_bool(0.13)) == Decision::Continue {}
        detected += u64::from(e.decision() == Decision::RejectH0);
        stops.push(e.n());
    }
    stops.sort_unstable();
    println!(
        "e-process alpha 1e-6 p0=0.1 true 0.13 cap {cap}: power {:.4}, median stop {}",
        detected as f64 / r as f64,
        stops[stops.len() / 2]
    );
    // No power is claimed for the e-process; this records it, and fails only if
    // 200 runs were incompatible with a power of 0.9.
    assert!(r - detected <= max_allowed(r, 0.1));
}
