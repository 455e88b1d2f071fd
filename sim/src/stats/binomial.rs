//! The exact binomial test: is the count of "successes" among n independent
//! trials (requests sent to v1, requests mirrored, requests aborted) what a
//! success probability p0 predicts?
//!
//! Null hypothesis: the n trials are independent and each succeeds with
//! probability p0, so the count is Binomial(n, p0). A *sample* is one trial
//! (one request, or one connection for connection-level splits).
//!
//! Exactness: p-values are sums of binomial probabilities, not a normal or
//! chi-square approximation. Each probability is computed with Loader's
//! saddle-point formula (the one R's `dbinom` uses), which keeps about 13
//! significant digits even for n = 10^7 and p-values of 1e-300, and the tails
//! are summed outwards from the observed count, where the terms shrink
//! geometrically, so a tail costs O(sqrt(n)) operations, never O(n).
//! (statrs' `Binomial::cdf` goes through a continued fraction capped at 140
//! iterations, which is not enough near the centre for n in the millions:
//! for n = 10^7, p = 1/2 its `cdf(4 999 999)` is 0.635 instead of 0.49987.
//! It is not used.)
//!
//! The two-sided test is the **doubled smaller tail** (the "central" or
//! equal-tailed test): p = min(1, 2 min(P(X <= k), P(X >= k))). It is chosen
//! over the "sum of probabilities <= P(observed)" test because its acceptance
//! region is an interval with at most alpha/2 in each tail, which a report
//! can print as a band ("allowed 47.97%–52.03%"), because it is exactly the
//! test that the Clopper–Pearson interval inverts (reject iff p0 is outside
//! the 1 − alpha interval), and because its critical values move by at most
//! one when n grows by one, which makes the planner's exact search cheap. For
//! the sample sizes the planner produces (thousands) the two tests differ by
//! a fraction of a request in their critical values.

use statrs::function::factorial::ln_factorial;

use super::types::{Alpha, Share, StatsError};

/// ln(2 pi).
const LN_2PI: f64 = 1.837_877_066_409_345_5;
/// ln(sqrt(2 pi)).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// The error of Stirling's formula, ln(n!) − ln(sqrt(2 pi n) (n/e)^n), for
/// integer n ≥ 1 (Loader 2000).
fn stirlerr(n: u64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let x = n as f64;
    if n <= 15 {
        // ln_factorial is tabulated exactly for small n.
        return ln_factorial(n) - (x + 0.5) * x.ln() + x - LN_SQRT_2PI;
    }
    let xx = x * x;
    if n > 500 {
        (S0 - S1 / xx) / x
    } else if n > 80 {
        (S0 - (S1 - S2 / xx) / xx) / x
    } else if n > 35 {
        (S0 - (S1 - (S2 - S3 / xx) / xx) / xx) / x
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / xx) / xx) / xx) / xx) / x
    }
}

/// The deviance term x ln(x / np) + np − x, computed without cancellation
/// when x is close to np (Loader 2000).
fn bd0(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let v = (x - np) / (x + np);
        let mut s = (x - np) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        return s;
    }
    x * (x / np).ln() + np - x
}

/// ln P(X = k) for X ~ Binomial(n, p), accurate to about 13 digits for any n.
/// Returns −inf where the probability is 0.
pub(crate) fn ln_pmf_raw(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let q = 1.0 - p;
    if p <= 0.0 {
        return if k == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if q <= 0.0 {
        return if k == n { 0.0 } else { f64::NEG_INFINITY };
    }
    let nf = n as f64;
    if k == 0 {
        if n == 0 {
            return 0.0;
        }
        return if p < 0.1 {
            -bd0(nf, nf * q) - nf * p
        } else {
            nf * (-p).ln_1p()
        };
    }
    if k == n {
        return if q < 0.1 {
            -bd0(nf, nf * p) - nf * q
        } else {
            nf * p.ln()
        };
    }
    let kf = k as f64;
    let lc = stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(kf, nf * p) - bd0(nf - kf, nf * q);
    let lf = LN_2PI + kf.ln() + (-kf / nf).ln_1p();
    lc - 0.5 * lf
}

/// The most likely count, floor((n + 1) p), clamped to n.
fn mode(n: u64, p: f64) -> u64 {
    let m = ((n as f64 + 1.0) * p).floor();
    if m <= 0.0 { 0 } else { (m as u64).min(n) }
}

/// Sum of P(X = j) for j from `k` moving away from the mode (upwards or
/// downwards), where the terms only shrink. Ratios of consecutive terms also
/// shrink (the binomial is log-concave), so once a term is tiny relative to
/// the sum, the rest (at most term·r/(1−r)) is negligible and we stop.
fn tail_from(k: u64, n: u64, p: f64, upward: bool) -> f64 {
    let ln_first = ln_pmf_raw(k, n, p);
    if ln_first == f64::NEG_INFINITY {
        return 0.0;
    }
    let odds = p / (1.0 - p);
    let (mut term, mut sum, mut j) = (1.0_f64, 1.0_f64, k);
    loop {
        let r = if upward {
            if j >= n {
                break;
            }
            let r = (n - j) as f64 / (j + 1) as f64 * odds;
            j += 1;
            r
        } else {
            if j == 0 {
                break;
            }
            let r = j as f64 / (n - j + 1) as f64 / odds;
            j -= 1;
            r
        };
        term *= r;
        sum += term;
        if term == 0.0 || (r < 1.0 && term * r / (1.0 - r) <= sum * 1e-17) {
            break;
        }
    }
    (ln_first + sum.ln()).exp()
}

/// P(X >= k) for X ~ Binomial(n, p), for any p in [0, 1] (not validated).
pub(crate) fn upper_tail_raw(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let m = mode(n, p);
    let v = if k >= m {
        tail_from(k, n, p, true)
    } else {
        1.0 - tail_from(k - 1, n, p, false)
    };
    v.clamp(0.0, 1.0)
}

/// P(X <= k) for X ~ Binomial(n, p), for any p in [0, 1] (not validated).
pub(crate) fn lower_tail_raw(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let m = mode(n, p);
    let v = if k <= m {
        tail_from(k, n, p, false)
    } else {
        1.0 - tail_from(k + 1, n, p, true)
    };
    v.clamp(0.0, 1.0)
}

/// P(X = k) for X ~ Binomial(n, p): the probability of exactly `k`
/// successes in `n` trials.
pub fn pmf(k: u64, n: u64, p: Share) -> f64 {
    ln_pmf_raw(k, n, p.get()).exp()
}

/// P(X >= k) for X ~ Binomial(n, p): the one-sided p-value of `k` against
/// "p is larger".
pub fn upper_tail(k: u64, n: u64, p: Share) -> f64 {
    upper_tail_raw(k, n, p.get())
}

/// P(X <= k) for X ~ Binomial(n, p): the one-sided p-value of `k` against
/// "p is smaller".
pub fn lower_tail(k: u64, n: u64, p: Share) -> f64 {
    lower_tail_raw(k, n, p.get())
}

/// Which alternative a binomial test looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tail {
    /// p differs from p0 in either direction (doubled smaller tail).
    TwoSided,
    /// p is larger than p0 (e.g. a late-timeout rate above its baseline).
    Upper,
    /// p is smaller than p0 (e.g. a slowed host's share must go down).
    Lower,
}

/// The outcome of [`binomial_test`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BinomialTest {
    /// Successes observed.
    pub k: u64,
    /// Trials.
    pub n: u64,
    /// The success probability under the null hypothesis.
    pub p0: f64,
    /// The alternative.
    pub tail: Tail,
    /// The exact p-value: the probability, under p0, of a count at least as
    /// extreme as `k`.
    pub p_value: f64,
}

impl BinomialTest {
    /// The observed share k/n (0 when n = 0).
    pub fn share(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.k as f64 / self.n as f64
        }
    }

    /// True when the null hypothesis is rejected at `alpha`.
    pub fn rejects(&self, alpha: Alpha) -> bool {
        self.p_value <= alpha.get()
    }
}

/// The exact binomial test of `k` successes in `n` trials against success
/// probability `p0` (see the module docs for the null hypothesis and the
/// two-sided rule). With n = 0 there is no evidence and p = 1. A share of 0
/// or 1 is legal: any contradicting observation then has p = 0.
///
/// # Errors
/// When `k > n`.
pub fn binomial_test(k: u64, n: u64, p0: Share, tail: Tail) -> Result<BinomialTest, StatsError> {
    if k > n {
        return Err(StatsError::Shape(format!(
            "{k} successes out of {n} trials is impossible"
        )));
    }
    let p = p0.get();
    let p_value = match tail {
        Tail::Upper => upper_tail_raw(k, n, p),
        Tail::Lower => lower_tail_raw(k, n, p),
        Tail::TwoSided => two_sided_raw(k, n, p),
    };
    Ok(BinomialTest {
        k,
        n,
        p0: p,
        tail,
        p_value,
    })
}

/// The doubled smaller tail, capped at 1.
pub(crate) fn two_sided_raw(k: u64, n: u64, p: f64) -> f64 {
    let lo = lower_tail_raw(k, n, p);
    let hi = upper_tail_raw(k, n, p);
    (2.0 * lo.min(hi)).min(1.0)
}

/// The counts the two-sided test at `alpha` accepts, for `n` trials: it
/// passes iff `low <= k <= high`. Each rejected tail has probability at most
/// alpha/2 under p0, so the test's exact size is `size()` ≤ alpha.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AcceptanceRegion {
    /// Trials.
    pub n: u64,
    /// The null share.
    pub p0: f64,
    /// The smallest accepted count.
    pub low: u64,
    /// The largest accepted count.
    pub high: u64,
}

impl AcceptanceRegion {
    /// True when `k` successes pass.
    pub fn accepts(&self, k: u64) -> bool {
        self.low <= k && k <= self.high
    }

    /// The probability of failing when the true share is `p`: the size of
    /// the test at p = p0, its power elsewhere.
    pub fn rejection_probability(&self, p: f64) -> f64 {
        let below = if self.low == 0 {
            0.0
        } else {
            lower_tail_raw(self.low - 1, self.n, p)
        };
        let above = if self.high >= self.n {
            0.0
        } else {
            upper_tail_raw(self.high + 1, self.n, p)
        };
        (below + above).min(1.0)
    }

    /// The exact false-failure probability (≤ alpha).
    pub fn size(&self) -> f64 {
        self.rejection_probability(self.p0)
    }

    /// The accepted band as shares, (low/n, high/n).
    pub fn band(&self) -> (f64, f64) {
        if self.n == 0 {
            return (0.0, 1.0);
        }
        let n = self.n as f64;
        (self.low as f64 / n, self.high as f64 / n)
    }
}

/// The acceptance region of the two-sided exact test of p0 at `alpha` for
/// `n` trials (see [`AcceptanceRegion`]).
pub fn acceptance_region(n: u64, p0: Share, alpha: Alpha) -> AcceptanceRegion {
    let p = p0.get();
    let half = alpha.get() / 2.0;
    let z = normal_upper_quantile(half);
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let mean = n as f64 * p;
    let hint_hi = (mean + z * sd).ceil().max(0.0) as u64;
    let hint_lo = (mean - z * sd).floor().max(0.0) as u64;
    region_near(n, p, half, hint_lo, hint_hi)
}

/// The acceptance region found by walking from hints for its two critical
/// counts. The walk is exact whatever the hints; good hints (the previous
/// n's region, when n grows by one) make it take one or two steps.
pub(crate) fn region_near(
    n: u64,
    p: f64,
    half_alpha: f64,
    hint_low: u64,
    hint_high: u64,
) -> AcceptanceRegion {
    // high = (smallest c with P(X >= c) <= alpha/2) − 1.
    let mut c = hint_high.clamp(1, n + 1);
    if upper_tail_raw(c, n, p) <= half_alpha {
        while c > 1 && upper_tail_raw(c - 1, n, p) <= half_alpha {
            c -= 1;
        }
    } else {
        while c <= n && upper_tail_raw(c, n, p) > half_alpha {
            c += 1;
        }
    }
    let high = c - 1;
    // low = (largest c with P(X <= c) <= alpha/2) + 1, or 0 when none.
    let low = if lower_tail_raw(0, n, p) > half_alpha {
        0
    } else {
        let mut c = hint_low.min(n);
        if lower_tail_raw(c, n, p) <= half_alpha {
            while c < n && lower_tail_raw(c + 1, n, p) <= half_alpha {
                c += 1;
            }
        } else {
            while c > 0 && lower_tail_raw(c, n, p) > half_alpha {
                c -= 1;
            }
        }
        c + 1
    };
    AcceptanceRegion {
        n,
        p0: p,
        low,
        high,
    }
}

/// z with P(Z > z) = `upper` for a standard normal Z.
pub(crate) fn normal_upper_quantile(upper: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    let standard = Normal::standard();
    -standard.inverse_cdf(upper.clamp(1e-300, 1.0 - 1e-16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(p: f64) -> Share {
        Share::new(p).expect("test input")
    }

    /// Direct summation of the pmf, the definition, for small n.
    fn brute_upper(k: u64, n: u64, p: f64) -> f64 {
        (k..=n).map(|j| ln_pmf_raw(j, n, p).exp()).sum()
    }

    #[test]
    fn pmf_matches_the_definition() {
        // C(10,3) 0.3^3 0.7^7
        let exact = 120.0 * 0.3f64.powi(3) * 0.7f64.powi(7);
        let got = pmf(3, 10, share(0.3));
        assert!((got / exact - 1.0).abs() < 1e-13, "{got} vs {exact}");
        // Sums to one, including the k = 0 and k = n special cases.
        for &(n, p) in &[(1u64, 0.5), (17, 0.05), (40, 0.97), (300, 0.2)] {
            let total: f64 = (0..=n).map(|k| pmf(k, n, share(p))).sum();
            assert!((total - 1.0).abs() < 1e-12, "n={n} p={p}: {total}");
        }
        assert_eq!(pmf(0, 5, share(0.0)), 1.0);
        assert_eq!(pmf(5, 5, share(1.0)), 1.0);
        assert_eq!(pmf(6, 5, share(0.5)), 0.0);
    }

    #[test]
    fn tails_match_direct_sums() {
        for &(n, p) in &[
            (1u64, 0.5),
            (20, 0.5),
            (57, 0.13),
            (400, 0.8),
            (1000, 0.001),
        ] {
            for k in 0..=n {
                let up = upper_tail(k, n, share(p));
                let brute = brute_upper(k, n, p);
                assert!(
                    (up - brute).abs() <= 1e-12 * brute.max(1e-300) || (up - brute).abs() < 1e-15,
                    "n={n} p={p} k={k}: {up} vs {brute}"
                );
                let low = lower_tail(k, n, share(p));
                let brute_low = 1.0 - brute_upper(k + 1, n, p);
                assert!((low - brute_low).abs() < 1e-12, "lower n={n} p={p} k={k}");
            }
        }
        // statrs' verified anchor: Binomial(1000, 0.1).cdf(120) = 0.9827.
        assert!((lower_tail(120, 1000, share(0.1)) - 0.9827).abs() < 1e-4);
    }

    #[test]
    fn far_tails_keep_relative_precision() {
        // P(X >= 20) for Bin(20, 0.5) = 2^-20 exactly.
        let v = upper_tail(20, 20, share(0.5));
        assert!((v / 0.5f64.powi(20) - 1.0).abs() < 1e-13);
        // P(X = 0) for Bin(2000, 0.5) = 2^-2000 underflows: 0, not NaN.
        assert_eq!(lower_tail(0, 2000, share(0.5)), 0.0);
        // Tiny but representable tail: P(X >= 300) for Bin(400, 0.5), checked against
        // the direct sum.
        let v = upper_tail(300, 400, share(0.5));
        let brute = brute_upper(300, 400, 0.5);
        assert!((v / brute - 1.0).abs() < 1e-12, "{v} vs {brute}");
    }

    #[test]
    fn large_n_is_fast_and_sane() {
        // Each tail sums O(sqrt(n)) terms: this test takes milliseconds in a debug build.
        let n = 10_000_000u64;
        // Symmetric: P(X <= n/2 - 1) = P(X >= n/2 + 1) for p = 1/2.
        let a = lower_tail(n / 2 - 1, n, share(0.5));
        let b = upper_tail(n / 2 + 1, n, share(0.5));
        assert!((a - b).abs() < 1e-12);
        // And with P(X = n/2) they make 1.
        assert!((a + b + pmf(n / 2, n, share(0.5)) - 1.0).abs() < 1e-12);
        // About 5 sd above the mean (sd = 1581): normal tail 2.87e-7, continuity
        // corrected, within a few percent.
        let t = upper_tail(n / 2 + 7906, n, share(0.5));
        assert!(t > 2.0e-7 && t < 3.2e-7, "{t}");
        // 20.1% of 10^7 against 20%: z = 7.9, two-sided normal tail 2.7e-15.
        let test = binomial_test(2_010_000, n, share(0.2), Tail::TwoSided).expect("test input");
        assert!(
            test.p_value > 1e-15 && test.p_value < 1e-14,
            "{}",
            test.p_value
        );
    }

    #[test]
    fn two_sided_is_the_doubled_smaller_tail() {
        let t = binomial_test(3, 20, share(0.5), Tail::TwoSided).expect("test input");
        let lower: f64 = (0..=3).map(|k| pmf(k, 20, share(0.5))).sum();
        assert!((t.p_value - 2.0 * lower).abs() < 1e-15);
        let t = binomial_test(10, 20, share(0.5), Tail::TwoSided).expect("test input");
        assert_eq!(t.p_value, 1.0);
        // Envoy's SplitTrafficRandomly: 20 requests, each of 50/50 hit at least once;
        // all 20 on one side has p = 2 * 2^-20 = 1.9e-6.
        let t = binomial_test(20, 20, share(0.5), Tail::TwoSided).expect("test input");
        assert!((t.p_value - 1.9073e-6).abs() < 1e-9);
        assert!(binomial_test(21, 20, share(0.5), Tail::TwoSided).is_err());
        // Deterministic shares: one contradicting observation gives p = 0.
        assert_eq!(
            binomial_test(1, 100, share(0.0), Tail::TwoSided)
                .expect("test input")
                .p_value,
            0.0
        );
        assert_eq!(
            binomial_test(0, 100, share(0.0), Tail::TwoSided)
                .expect("test input")
                .p_value,
            1.0
        );
        assert_eq!(
            binomial_test(0, 0, share(0.3), Tail::TwoSided)
                .expect("test input")
                .p_value,
            1.0
        );
        let up = binomial_test(13, 2000, share(1e-3), Tail::Upper).expect("test input");
        // Research §6.5: n = 2000, q0 = 1e-3, fail above 12 violations: size 2e-7.
        assert!(up.p_value < 1e-6 && up.p_value > 1e-7, "{}", up.p_value);
    }

    #[test]
    fn acceptance_region_agrees_with_the_p_value() {
        let alpha = Alpha::new(0.01).expect("test input");
        for &(n, p) in &[(1u64, 0.5), (7, 0.2), (100, 0.5), (333, 0.07), (2000, 0.8)] {
            let r = acceptance_region(n, share(p), alpha);
            for k in 0..=n {
                let t = binomial_test(k, n, share(p), Tail::TwoSided).expect("test input");
                assert_eq!(r.accepts(k), !t.rejects(alpha), "n={n} p={p} k={k} {r:?}");
            }
            assert!(r.size() <= alpha.get());
        }
        // Bad hints still give the exact region.
        let exact = acceptance_region(1000, share(0.3), alpha);
        let walked = region_near(1000, 0.3, 0.005, 0, 1000);
        assert_eq!(exact, walked);
    }
}
