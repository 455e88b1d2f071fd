//! Confidence intervals for a proportion k/n, and the zero-event bound.
//!
//! A report prints an interval next to every share so a reader sees how
//! precisely it was measured ("v1: 20.4% [19.1%, 21.8%]"), not only a
//! verdict.
//!
//! - [`clopper_pearson`] is exact: its coverage is at least 1 − alpha for
//!   every true p and n. It is the inversion of the two-sided doubled-tail
//!   binomial test, so "p0 outside the 1 − alpha interval" and "the test
//!   rejects at alpha" are the same statement (up to floating point).
//! - [`wilson`] is the score interval: shorter, and its coverage is close to
//!   1 − alpha on average but can dip below it for some p. For display.
//! - [`zero_event_upper`] and [`zero_event_trials`] are the exact one-sided
//!   statements behind zero-tolerance assertions ("no request leaked to the
//!   weight-0 subset").

use statrs::function::beta::inv_beta_reg;

use super::binomial::{lower_tail_raw, normal_upper_quantile, upper_tail_raw};
use super::types::{Alpha, Share, StatsError};

fn check(k: u64, n: u64) -> Result<(), StatsError> {
    if k > n {
        Err(StatsError::Shape(format!(
            "{k} successes out of {n} trials is impossible"
        )))
    } else {
        Ok(())
    }
}

/// The Wilson score interval for k/n at confidence 1 − alpha. With n = 0 it
/// is [0, 1] (no information).
///
/// # Errors
/// When `k > n`.
pub fn wilson(k: u64, n: u64, alpha: Alpha) -> Result<(f64, f64), StatsError> {
    check(k, n)?;
    if n == 0 {
        return Ok((0.0, 1.0));
    }
    let z = normal_upper_quantile(alpha.get() / 2.0);
    let nf = n as f64;
    let p = k as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    Ok(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The Clopper–Pearson ("exact") interval for k/n at confidence 1 − alpha:
/// the p whose two-sided doubled-tail test does not reject k. With n = 0 it
/// is [0, 1].
///
/// Computed with statrs' inverse regularised beta function (AS 64/109), then
/// checked against the exact binomial tails and, where that check fails (the
/// Newton iteration can stall for extreme alpha or n in the millions),
/// refined by bisection on the tails, so the bounds are always exact to
/// about 1e-12.
///
/// # Errors
/// When `k > n`.
pub fn clopper_pearson(k: u64, n: u64, alpha: Alpha) -> Result<(f64, f64), StatsError> {
    check(k, n)?;
    if n == 0 {
        return Ok((0.0, 1.0));
    }
    let half = alpha.get() / 2.0;
    let (kf, nf) = (k as f64, n as f64);
    // Lower bound L: P_L(X >= k) = alpha/2, i.e. the alpha/2 quantile of Beta(k, n-k+1).
    let lower = if k == 0 {
        0.0
    } else {
        let guess = inv_beta_reg(kf, nf - kf + 1.0, half);
        refine(guess, half, |p| upper_tail_raw(k, n, p), true)
    };
    // Upper bound U: P_U(X <= k) = alpha/2, the 1 - alpha/2 quantile of Beta(k+1, n-k).
    let upper = if k == n {
        1.0
    } else {
        let guess = inv_beta_reg(kf + 1.0, nf - kf, 1.0 - half);
        refine(guess, half, |p| lower_tail_raw(k, n, p), false)
    };
    Ok((lower, upper))
}

/// Solves tail(p) = target, where tail is increasing in p when `increasing`
/// (decreasing otherwise), starting from `guess`; keeps the guess when it is
/// already accurate, else bisects on [0, 1].
fn refine(guess: f64, target: f64, tail: impl Fn(f64) -> f64, increasing: bool) -> f64 {
    let ok = |p: f64| {
        if !(0.0..=1.0).contains(&p) || !p.is_finite() {
            return false;
        }
        let v = tail(p);
        (v / target - 1.0).abs() < 1e-6
    };
    if ok(guess) {
        return guess;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let below = tail(mid) < target;
        if below == increasing {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The exact upper bound on an event rate after observing 0 events in `n`
/// trials: the largest q with (1 − q)^n ≥ alpha, i.e. 1 − alpha^(1/n). Any
/// rate above it would have produced at least one event with probability
/// more than 1 − alpha. With n = 0 it is 1.
pub fn zero_event_upper(n: u64, alpha: Alpha) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // 1 - exp(ln(alpha)/n), without cancellation for large n.
    -(alpha.get().ln() / n as f64).exp_m1()
}

/// The fewest trials that, with 0 events, rule out an event rate of `q` or
/// more at `alpha`: the smallest n with (1 − q)^n ≤ alpha, that is
/// ceil(ln(alpha) / ln(1 − q)), a little below the usual ln(1/alpha)/q.
/// A leak at rate ≥ q then passes with probability at most alpha.
///
/// # Errors
/// When `q` is 0 (no finite n rules out an infinitesimal leak), or the n
/// does not fit a u64.
pub fn zero_event_trials(q: Share, alpha: Alpha) -> Result<u64, StatsError> {
    let q = q.get();
    if q <= 0.0 {
        return Err(StatsError::OutOfRange {
            what: "leak rate",
            value: q,
            expected: "a rate above 0: no finite sample rules out every leak",
        });
    }
    if q >= 1.0 {
        return Ok(1);
    }
    let n = (alpha.get().ln() / (-q).ln_1p()).ceil();
    if !(n.is_finite() && n < 9.0e18) {
        return Err(StatsError::TooLarge(format!(
            "ruling out a leak rate of {q} needs more than 9e18 trials"
        )));
    }
    let mut n = (n as u64).max(1);
    // Guard the rounding of the logarithms: make n the exact smallest.
    let miss = |n: u64| (n as f64 * (-q).ln_1p()).exp();
    while n > 1 && miss(n - 1) <= alpha.get() {
        n -= 1;
    }
    while miss(n) > alpha.get() {
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::binomial::{Tail, binomial_test};

    fn alpha(a: f64) -> Alpha {
        Alpha::new(a).expect("test input")
    }

    #[test]
    fn clopper_pearson_anchor_and_inversion() {
        // dependencies.md §4: 87/1000 gives [0.0703, 0.1062] at 95%.
        let (lo, hi) = clopper_pearson(87, 1000, alpha(0.05)).expect("test input");
        assert!(
            (lo - 0.0703).abs() < 1e-4 && (hi - 0.1062).abs() < 1e-4,
            "{lo} {hi}"
        );
        // At the bounds each one-sided tail is alpha/2.
        assert!((upper_tail_raw(87, 1000, lo) - 0.025).abs() < 1e-9);
        assert!((lower_tail_raw(87, 1000, hi) - 0.025).abs() < 1e-9);
        // Inversion: the test rejects p0 just outside, accepts just inside.
        let a = alpha(1e-6);
        for &(k, n) in &[
            (0u64, 50u64),
            (3, 50),
            (2000, 10_000),
            (5_000_000, 10_000_000),
        ] {
            let (lo, hi) = clopper_pearson(k, n, a).expect("test input");
            for (p, rejects) in [(hi * 1.001, true), (hi * 0.999, false)] {
                if p > 0.0 && p < 1.0 {
                    let t = binomial_test(k, n, Share::new(p).expect("test input"), Tail::TwoSided)
                        .expect("test input");
                    assert_eq!(t.rejects(a), rejects, "k={k} n={n} p={p} [{lo},{hi}]");
                }
            }
            if k > 0 {
                assert!((upper_tail_raw(k, n, lo) / 5e-7 - 1.0).abs() < 1e-5);
            }
        }
        assert_eq!(clopper_pearson(0, 0, a).expect("test input"), (0.0, 1.0));
        assert_eq!(clopper_pearson(0, 10, a).expect("test input").0, 0.0);
        assert_eq!(clopper_pearson(10, 10, a).expect("test input").1, 1.0);
        assert!(clopper_pearson(11, 10, a).is_err());
    }

    #[test]
    fn clopper_pearson_coverage_is_exact() {
        // Coverage computed exactly (sum over k of P(k) [p in CI(k)]) is >= 1 - alpha.
        let a = alpha(0.05);
        for &n in &[5u64, 30, 200] {
            let cis: Vec<_> = (0..=n)
                .map(|k| clopper_pearson(k, n, a).expect("test input"))
                .collect();
            for i in 1..100 {
                let p = f64::from(i) / 100.0;
                let coverage: f64 = (0..=n)
                    .filter(|&k| cis[k as usize].0 <= p && p <= cis[k as usize].1)
                    .map(|k| super::super::binomial::ln_pmf_raw(k, n, p).exp())
                    .sum();
                assert!(coverage >= 0.95 - 1e-9, "n={n} p={p}: {coverage}");
            }
        }
    }

    #[test]
    fn wilson_is_close_and_inside_unit() {
        let (lo, hi) = wilson(87, 1000, alpha(0.05)).expect("test input");
        // Wilson 95% for 87/1000, by hand: centre 0.08858, half-width 0.01751.
        assert!(
            (lo - 0.07108).abs() < 1e-4 && (hi - 0.10609).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10, alpha(0.05)).expect("test input");
        assert!(lo == 0.0 && hi > 0.2 && hi < 0.35);
        assert_eq!(wilson(0, 0, alpha(0.05)).expect("test input"), (0.0, 1.0));
    }

    #[test]
    fn zero_events() {
        let a = alpha(1e-6);
        // ln(1e6)/ln(1/(1-1e-3)) = 13 808.4; the approximation ln(1/alpha)/q gives 13 816.
        assert_eq!(
            zero_event_trials(Share::new(1e-3).expect("test input"), a).expect("test input"),
            13_809
        );
        assert_eq!(
            zero_event_trials(Share::new(1e-4).expect("test input"), a).expect("test input"),
            138_149
        );
        // Research §6.7: ejected host among N gets 1/N: 20, 49, 104, 215 for N = 2, 4, 8, 16.
        let n: Vec<u64> = [2.0, 4.0, 8.0, 16.0]
            .iter()
            .map(|m| {
                zero_event_trials(Share::new(1.0 / m).expect("test input"), a).expect("test input")
            })
            .collect();
        assert_eq!(n, vec![20, 49, 104, 215]);
        assert!(zero_event_trials(Share::new(0.0).expect("test input"), a).is_err());
        // The upper bound is the inverse.
        let q = zero_event_upper(13_809, a);
        assert!(q < 1e-3 && q > 0.999e-3, "{q}");
        assert_eq!(zero_event_upper(0, a), 1.0);
    }
}
