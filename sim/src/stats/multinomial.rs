//! Goodness of fit of a k-way split: do the counts per version (or per
//! endpoint) follow the expected shares?
//!
//! Null hypothesis: the n samples are independent and each falls into
//! category i with probability p_i, so the counts are Multinomial(n, p). A
//! *sample* is one request (one connection for connection-level splits).
//!
//! Two tools, for two jobs:
//! - [`goodness_of_fit`], the omnibus Pearson chi-square or G (likelihood
//!   ratio) test. It summarises the whole split in one statistic. Its p-value
//!   is the chi-square tail, an **approximation** that is good when every
//!   expected count is at least 5 but whose relative error grows in the far
//!   tail, i.e. exactly at alpha = 1e-6; with a small expected count it is
//!   replaced by a Monte Carlo p-value, which is exact in validity but cannot
//!   go below 1/(draws + 1) (see [`MonteCarlo`] for the rule).
//! - [`share_tests`], one exact binomial test per category (its count against
//!   Binomial(n, p_i)) with Holm's correction. These are exact at any n and
//!   any alpha, and they name the offending version ("v2 got 83.1%, expected
//!   80%"), so **they carry the verdict**; the planner sizes n for them.
//!
//! Categories with expected share 0 are deterministic: any observation there
//! is a failure with p = 0, reported separately, whatever the statistics say.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial as BinomialDist, Distribution};
use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::binomial::two_sided_raw;
use super::interval::clopper_pearson;
use super::multiple::holm;
use super::types::{Alpha, StatsError, normalise};

/// The smallest expected count for which the chi-square tail is used
/// (Cochran's rule of thumb, applied strictly: every cell).
pub const MIN_EXPECTED: f64 = 5.0;

/// Which statistic an omnibus test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GofStatistic {
    /// Pearson's X² = Σ (O − E)² / E. Its chi-square approximation is the
    /// more accurate of the two for moderate n, hence the default.
    #[default]
    Pearson,
    /// The likelihood-ratio G = 2 Σ O ln(O / E), the statistic a sequential
    /// (SPRT-like) test accumulates.
    G,
}

/// How Monte Carlo p-values are drawn when expected counts are small.
///
/// The p-value is (1 + #{T* ≥ T}) / (draws + 1) over `draws` samples drawn
/// under the null. It is valid for any number of draws (P(p ≤ a) ≤ a for
/// every a; Phipson & Smyth 2010), so it never inflates the false-failure
/// rate, but it cannot be smaller than 1/(draws + 1): with the default
/// 100 000 draws it can reject at alpha 0.01 but **never at alpha 1e-6**,
/// and certifying 1e-6 by simulation would take far more than 10^6 draws.
///
/// The rule: when an expected count is below [`MIN_EXPECTED`] the omnibus
/// p-value is Monte Carlo, [`Gof::resolution`] says how small it can go, and
/// if that is above alpha the omnibus cannot fail the assertion; the verdict
/// then rests on the exact per-category binomial tests ([`share_tests`]),
/// which are exact at any n. The planner's n keeps expected counts ≥ 5 for
/// every share ≥ 5/n, so this only happens for tiny shares or tiny samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MonteCarlo {
    /// Samples drawn under the null.
    pub draws: u64,
    /// The seed of the random source, so a report can be replayed.
    pub seed: u64,
}

impl MonteCarlo {
    /// The default number of draws: the p-value's resolution is 1e-5 and its
    /// Monte Carlo standard error at p = 0.01 is 3e-4.
    pub const DEFAULT_DRAWS: u64 = 100_000;
    /// The default seed ("meshbenc" in ASCII).
    pub const DEFAULT_SEED: u64 = 0x6d65_7368_6265_6e63;
}

impl Default for MonteCarlo {
    fn default() -> Self {
        MonteCarlo {
            draws: Self::DEFAULT_DRAWS,
            seed: Self::DEFAULT_SEED,
        }
    }
}

/// How a p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PValueMethod {
    /// Chi-square tail with `df` degrees of freedom (every expected count ≥ 5).
    Asymptotic,
    /// Monte Carlo under the null (some expected count < 5).
    MonteCarlo {
        /// Draws.
        draws: u64,
        /// Seed.
        seed: u64,
    },
    /// An observation fell where the null gives probability 0: p = 0 exactly.
    ZeroProbability,
    /// Nothing to test (no samples, or one possible category): p = 1.
    Trivial,
}

/// The outcome of an omnibus chi-square / G test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gof {
    /// Which statistic.
    pub kind: GofStatistic,
    /// Its value, over the categories (or cells) with positive expectation.
    pub statistic: f64,
    /// Degrees of freedom of the chi-square reference.
    pub df: u64,
    /// The p-value.
    pub p_value: f64,
    /// How the p-value was obtained.
    pub method: PValueMethod,
    /// The smallest p-value the method can produce: 0 for exact or
    /// asymptotic, 1/(draws + 1) for Monte Carlo.
    pub resolution: f64,
    /// The smallest expected count among the tested cells.
    pub min_expected: f64,
    /// Categories with expected share 0 that received samples: (index, count).
    pub zero_probability_hits: Vec<(usize, u64)>,
}

impl Gof {
    /// True when the method can produce a p-value ≤ alpha at all.
    pub fn can_reject(&self, alpha: Alpha) -> bool {
        self.resolution <= alpha.get()
    }

    /// True when the null hypothesis is rejected at alpha.
    pub fn rejects(&self, alpha: Alpha) -> bool {
        self.p_value <= alpha.get()
    }
}

/// The statistic over cells with positive expectation.
pub(crate) fn statistic(kind: GofStatistic, observed: &[u64], expected: &[f64]) -> f64 {
    observed
        .iter()
        .zip(expected)
        .filter(|&(_, &e)| e > 0.0)
        .map(|(&o, &e)| {
            let o = o as f64;
            match kind {
                GofStatistic::Pearson => (o - e) * (o - e) / e,
                GofStatistic::G if o > 0.0 => 2.0 * o * (o / e).ln(),
                GofStatistic::G => 0.0,
            }
        })
        .sum::<f64>()
        .max(0.0)
}

/// The chi-square tail P(X²_df ≥ x).
pub(crate) fn chi_square_sf(x: f64, df: u64) -> f64 {
    if df == 0 || x.is_nan() || x <= 0.0 {
        return 1.0;
    }
    match ChiSquared::new(df as f64) {
        Ok(d) => d.sf(x).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// A simulated statistic is "at least as extreme" with a little slack, so
/// that a simulated table identical to the observed one counts even when
/// floating-point sums differ in the last bits.
pub(crate) fn at_least(simulated: f64, observed: f64) -> bool {
    simulated >= observed - 1e-9 * observed.abs().max(1.0)
}

/// Pearson chi-square or G test of observed counts against expected shares.
/// `expected` holds weights (20, 80) or shares (0.2, 0.8): they are
/// normalised. See the module docs for the null hypothesis; `mc` is used only
/// when some expected count is below [`MIN_EXPECTED`].
///
/// # Errors
/// When the lengths differ, or a weight is negative or not finite, or all
/// are zero.
pub fn goodness_of_fit(
    observed: &[u64],
    expected: &[f64],
    kind: GofStatistic,
    mc: &MonteCarlo,
) -> Result<Gof, StatsError> {
    let shares = checked_shares(observed, expected)?;
    let n: u64 = observed.iter().sum();
    let nf = n as f64;
    let exp_counts: Vec<f64> = shares.iter().map(|p| p * nf).collect();
    let zero_probability_hits: Vec<(usize, u64)> = observed
        .iter()
        .zip(&shares)
        .enumerate()
        .filter(|&(_, (&o, &p))| p == 0.0 && o > 0)
        .map(|(i, (&o, _))| (i, o))
        .collect();
    let positive = shares.iter().filter(|&&p| p > 0.0).count();
    let df = positive.saturating_sub(1) as u64;
    let value = statistic(kind, observed, &exp_counts);
    let min_expected = exp_counts
        .iter()
        .copied()
        .filter(|&e| e > 0.0)
        .fold(f64::INFINITY, f64::min);
    let min_expected = if min_expected.is_finite() {
        min_expected
    } else {
        0.0
    };
    let mut gof = Gof {
        kind,
        statistic: value,
        df,
        p_value: 1.0,
        method: PValueMethod::Trivial,
        resolution: 0.0,
        min_expected,
        zero_probability_hits,
    };
    if !gof.zero_probability_hits.is_empty() {
        gof.p_value = 0.0;
        gof.method = PValueMethod::ZeroProbability;
        return Ok(gof);
    }
    if n == 0 || df == 0 {
        return Ok(gof);
    }
    if min_expected >= MIN_EXPECTED {
        gof.p_value = chi_square_sf(value, df);
        gof.method = PValueMethod::Asymptotic;
        return Ok(gof);
    }
    gof.p_value = monte_carlo_gof(kind, value, n, &shares, mc);
    gof.method = PValueMethod::MonteCarlo {
        draws: mc.draws,
        seed: mc.seed,
    };
    gof.resolution = 1.0 / (mc.draws as f64 + 1.0);
    Ok(gof)
}

/// Monte Carlo p-value: multinomial samples drawn as a chain of conditional
/// binomials (O(k) per draw, whatever n).
fn monte_carlo_gof(
    kind: GofStatistic,
    observed: f64,
    n: u64,
    shares: &[f64],
    mc: &MonteCarlo,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(mc.seed);
    let nf = n as f64;
    let exp_counts: Vec<f64> = shares.iter().map(|p| p * nf).collect();
    let mut sample = vec![0u64; shares.len()];
    let mut extreme = 0u64;
    for _ in 0..mc.draws {
        draw_multinomial(&mut rng, n, shares, &mut sample);
        if at_least(statistic(kind, &sample, &exp_counts), observed) {
            extreme += 1;
        }
    }
    (1.0 + extreme as f64) / (1.0 + mc.draws as f64)
}

/// One Multinomial(n, shares) sample into `out`.
pub(crate) fn draw_multinomial(rng: &mut StdRng, n: u64, shares: &[f64], out: &mut [u64]) {
    let mut left = n;
    let mut mass = 1.0_f64;
    let last = shares.iter().rposition(|&p| p > 0.0).unwrap_or(0);
    for (i, slot) in out.iter_mut().enumerate() {
        let p = shares.get(i).copied().unwrap_or(0.0);
        *slot = 0;
        if left == 0 || p <= 0.0 {
            continue;
        }
        if i == last || mass <= 0.0 {
            *slot = left;
            left = 0;
            continue;
        }
        let cond = (p / mass).clamp(0.0, 1.0);
        let x = match BinomialDist::new(left, cond) {
            Ok(d) => d.sample(rng),
            Err(_) => 0,
        };
        *slot = x;
        left -= x.min(left);
        mass -= p;
    }
}

/// One category's exact binomial test within [`share_tests`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareTest {
    /// The category's index.
    pub index: usize,
    /// Its count.
    pub count: u64,
    /// Its expected share (normalised).
    pub expected: f64,
    /// The exact two-sided p-value of its count against Binomial(n, expected).
    pub p_value: f64,
    /// The p-value after Holm's correction over the family.
    pub adjusted: f64,
    /// Rejected at the assertion's alpha (after correction).
    pub rejected: bool,
    /// Clopper–Pearson interval for its share at confidence 1 − alpha/family,
    /// so that "expected share outside the interval" matches "rejected" at
    /// the Bonferroni level.
    pub interval: (f64, f64),
}

impl ShareTest {
    /// The observed share.
    pub fn share(&self, n: u64) -> f64 {
        if n == 0 {
            0.0
        } else {
            self.count as f64 / n as f64
        }
    }
}

/// The outcome of [`share_tests`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitTest {
    /// Samples.
    pub n: u64,
    /// The assertion's alpha (for the whole family).
    pub alpha: f64,
    /// How many random hypotheses share alpha: the categories with a share
    /// strictly between 0 and 1, except that a 2-way split is a single test
    /// (the two categories' tests are the same test).
    pub family: usize,
    /// One test per category, in input order.
    pub tests: Vec<ShareTest>,
    /// Categories with expected share 0 that received samples: (index, count).
    /// Each is a failure on its own.
    pub zero_probability_hits: Vec<(usize, u64)>,
}

impl SplitTest {
    /// True when the split fails: a Holm rejection or a zero-probability hit.
    pub fn rejected(&self) -> bool {
        !self.zero_probability_hits.is_empty() || self.tests.iter().any(|t| t.rejected)
    }

    /// The smallest adjusted p-value: the assertion's p-value.
    pub fn p_value(&self) -> f64 {
        if !self.zero_probability_hits.is_empty() {
            return 0.0;
        }
        self.tests.iter().map(|t| t.adjusted).fold(1.0, f64::min)
    }
}
/// The expected weights normalised to shares, after checking there is one
/// per observed count.
fn checked_shares(observed: &[u64], expected: &[f64]) -> Result<Vec<f64>, StatsError> {
    if observed.len() != expected.len() {
        return Err(StatsError::Shape(format!(
            "{} observed counts but {} expected shares",
            observed.len(),
            expected.len()
        )));
    }
    normalise(expected)
}

/// Per-category exact binomial tests of a k-way split with Holm's correction
/// at `alpha` over the family. See the module docs.
///
/// # Errors
/// As [`goodness_of_fit`].
pub fn share_tests(
    observed: &[u64],
    expected: &[f64],
    alpha: Alpha,
) -> Result<SplitTest, StatsError> {
    let shares = checked_shares(observed, expected)?;
    let n: u64 = observed.iter().sum();
    let random = shares.iter().filter(|&&p| p > 0.0 && p < 1.0).count();
    let family = if random == 2 { 1 } else { random.max(1) };
    let interval_alpha = alpha.split(family);
    let raw: Vec<f64> = observed
        .iter()
        .zip(&shares)
        .map(|(&k, &p)| two_sided_raw(k, n, p))
        .collect();
    // Holm over the random hypotheses only; deterministic ones (share 0 or 1) are
    // exact checks with p = 0 or 1 and need no correction. A 2-way split has two
    // identical tests: correcting over both would halve alpha for nothing.
    let random_idx: Vec<usize> = (0..shares.len())
        .filter(|&i| shares[i] > 0.0 && shares[i] < 1.0)
        .collect();
    let mut adjusted = raw.clone();
    if random > 2 {
        let h = holm(
            &random_idx.iter().map(|&i| raw[i]).collect::<Vec<_>>(),
            alpha,
        );
        for (j, &i) in random_idx.iter().enumerate() {
            adjusted[i] = h.adjusted[j];
        }
    }
    let mut tests = Vec::with_capacity(shares.len());
    for i in 0..shares.len() {
        let interval = clopper_pearson(observed[i], n, interval_alpha)?;
        tests.push(ShareTest {
            index: i,
            count: observed[i],
            expected: shares[i],
            p_value: raw[i],
            adjusted: adjusted[i],
            rejected: adjusted[i] <= alpha.get(),
            interval,
        });
    }
    let zero_probability_hits = observed
        .iter()
        .zip(&shares)
        .enumerate()
        .filter(|&(_, (&o, &p))| p == 0.0 && o > 0)
        .map(|(i, (&o, _))| (i, o))
        .collect();
    Ok(SplitTest {
        n,
        alpha: alpha.get(),
        family,
        tests,
        zero_probability_hits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_matches_the_verified_anchor() {
        // dependencies.md §4: chisquare([480,310,210], [500,300,200]) = 1.633, p = 0.4419.
        let g = goodness_of_fit(
            &[480, 310, 210],
            &[50.0, 30.0, 20.0],
            GofStatistic::Pearson,
            &MonteCarlo::default(),
        )
        .expect("test input");
        assert!((g.statistic - 1.6333).abs() < 1e-3, "{g:?}");
        assert!((g.p_value - 0.4419).abs() < 1e-4);
        assert_eq!(g.df, 2);
        assert_eq!(g.method, PValueMethod::Asymptotic);
        // ChiSquared(3).sf(7.815) = 0.05
        assert!((chi_square_sf(7.815, 3) - 0.05).abs() < 1e-4);
    }

    #[test]
    fn g_statistic() {
        let g = goodness_of_fit(
            &[30, 70],
            &[0.5, 0.5],
            GofStatistic::G,
            &MonteCarlo::default(),
        )
        .expect("test input");
        let expect = 2.0 * (30.0 * (30.0f64 / 50.0).ln() + 70.0 * (70.0f64 / 50.0).ln());
        assert!((g.statistic - expect).abs() < 1e-12);
    }

    #[test]
    fn zero_probability_is_deterministic() {
        let g = goodness_of_fit(
            &[50, 49, 1],
            &[1.0, 1.0, 0.0],
            GofStatistic::Pearson,
            &MonteCarlo::default(),
        )
        .expect("test input");
        assert_eq!(g.p_value, 0.0);
        assert_eq!(g.method, PValueMethod::ZeroProbability);
        assert_eq!(g.zero_probability_hits, vec![(2, 1)]);
        let s = share_tests(&[50, 49, 1], &[1.0, 1.0, 0.0], Alpha::DEFAULT).expect("test input");
        assert!(s.rejected());
        assert_eq!(s.family, 1);
        assert_eq!(s.p_value(), 0.0);
        // Zero-probability category without hits: df counts positive categories only.
        let g = goodness_of_fit(
            &[50, 50, 0],
            &[1.0, 1.0, 0.0],
            GofStatistic::Pearson,
            &MonteCarlo::default(),
        )
        .expect("test input");
        assert_eq!(g.df, 1);
        assert_eq!(g.p_value, 1.0);
    }

    #[test]
    fn small_expected_counts_use_monte_carlo() {
        let mc = MonteCarlo {
            draws: 9_999,
            seed: 7,
        };
        let g = goodness_of_fit(&[8, 1, 1], &[0.5, 0.25, 0.25], GofStatistic::Pearson, &mc)
            .expect("test input");
        assert!(matches!(
            g.method,
            PValueMethod::MonteCarlo { draws: 9_999, .. }
        ));
        assert_eq!(g.resolution, 1e-4);
        assert!(!g.can_reject(Alpha::DEFAULT));
        // X² = 6 for n = 10 against (.5, .25, .25); the exact p-value sums the
        // probabilities of all tables at least as extreme. Monte Carlo is within 4
        // standard errors of it (a 6e-5 event for a correct sampler).
        let exact = exact_multinomial_p(&[8, 1, 1], &[0.5, 0.25, 0.25]);
        let se = (exact * (1.0 - exact) / 9_999.0).sqrt();
        assert!(
            (g.p_value - exact).abs() < 4.0 * se + 1e-4,
            "{} vs {exact}",
            g.p_value
        );
    }

    /// Exact p-value of Pearson's statistic for 3 categories by enumeration.
    fn exact_multinomial_p(observed: &[u64; 3], shares: &[f64; 3]) -> f64 {
        let n: u64 = observed.iter().sum();
        let e: Vec<f64> = shares.iter().map(|p| p * n as f64).collect();
        let t = statistic(GofStatistic::Pearson, observed, &e);
        let ln_fact = |k: u64| statrs::function::factorial::ln_factorial(k);
        let mut p = 0.0;
        for a in 0..=n {
            for b in 0..=(n - a) {
                let c = n - a - b;
                let x = [a, b, c];
                if at_least(statistic(GofStatistic::Pearson, &x, &e), t) {
                    let lp = ln_fact(n) - ln_fact(a) - ln_fact(b) - ln_fact(c)
                        + a as f64 * shares[0].ln()
                        + b as f64 * shares[1].ln()
                        + c as f64 * shares[2].ln();
                    p += lp.exp();
                }
            }
        }
        p
    }

    #[test]
    fn share_tests_name_the_offender() {
        // 80/10/10 observed as 77/13/10 with n = 10 000.
        let s = share_tests(&[7_700, 1_300, 1_000], &[80.0, 10.0, 10.0], Alpha::DEFAULT)
            .expect("test input");
        assert_eq!(s.family, 3);
        assert!(s.rejected());
        let rejected: Vec<usize> = s
            .tests
            .iter()
            .filter(|t| t.rejected)
            .map(|t| t.index)
            .collect();
        assert_eq!(rejected, vec![0, 1]);
        assert!(s.tests[2].adjusted > 0.5);
        // A 2-way split is one test: both categories get the same p-value, uncorrected.
        let s = share_tests(&[2_100, 7_900], &[20.0, 80.0], Alpha::DEFAULT).expect("test input");
        assert_eq!(s.family, 1);
        assert!((s.tests[0].p_value - s.tests[1].p_value).abs() < 1e-12);
        assert!(!s.rejected());
        let (lo, hi) = s.tests[0].interval;
        assert!(lo < 0.2 && hi > 0.21);
        assert!(share_tests(&[1, 2], &[1.0], Alpha::DEFAULT).is_err());
    }
}
