//! The validated numbers every statistical assertion is stated with: the
//! false-failure rate [`Alpha`], the [`Power`] against the smallest deviation
//! worth catching ([`Deviation`]), and a [`Share`] (an expected probability).
//!
//! They are newtypes so that a share cannot be passed where a deviation is
//! meant, and so that out-of-range values are refused once, at the edge
//! (scenario loading), with a message that says what was wrong, instead of
//! producing NaN p-values deep inside a verifier.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a statistical computation refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A parameter is outside the range where the procedure is defined.
    #[error("{what} = {value} is out of range: {expected}")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
        /// The offending value.
        value: f64,
        /// The range it must lie in, in words.
        expected: &'static str,
    },
    /// The shape of the data does not fit (lengths, empty tables, weights
    /// that do not add up to anything).
    #[error("{0}")]
    Shape(String),
    /// The requested design needs more samples than the planner allows.
    #[error("{0}")]
    TooLarge(String),
}

fn check(
    what: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<f64, StatsError> {
    if ok && value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            what,
            value,
            expected,
        })
    }
}

/// The false-failure rate of one assertion: the probability that a correct
/// proxy fails it. In (0, 0.5); the default is 1e-6, so that a run of a
/// thousand assertions fails a correct proxy with probability about 1e-3.
///
/// Above 0.5 a "test" would fail correct proxies more often than not, which is
/// never what a scenario means, so such values are refused.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Alpha(f64);

impl Alpha {
    /// The bench default, 1e-6 per assertion.
    pub const DEFAULT: Alpha = Alpha(1e-6);

    /// Checks that `alpha` is in (0, 0.5).
    ///
    /// # Errors
    /// When it is not (including NaN and infinities).
    pub fn new(alpha: f64) -> Result<Self, StatsError> {
        check(
            "alpha",
            alpha,
            alpha > 0.0 && alpha < 0.5,
            "a false-failure rate strictly between 0 and 0.5, e.g. 1e-6",
        )
        .map(Alpha)
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }

    /// This alpha divided among `parts` tests (Bonferroni), for spending one
    /// assertion's false-failure budget on several tests. `parts = 0` is
    /// treated as 1.
    pub fn split(self, parts: usize) -> Alpha {
        Alpha(self.0 / parts.max(1) as f64)
    }
}

impl Default for Alpha {
    fn default() -> Self {
        Alpha::DEFAULT
    }
}

impl fmt::Display for Alpha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&short(self.0))
    }
}

/// The probability of catching a deviation of the stated size: 1 − beta.
/// In (0, 1); the default is 0.99.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Power(f64);

impl Power {
    /// The bench default, 0.99.
    pub const DEFAULT: Power = Power(0.99);

    /// Checks that `power` is in (0, 1). Power 1 would need infinitely many
    /// samples for a random deviation, so it is refused.
    ///
    /// # Errors
    /// When it is not in (0, 1).
    pub fn new(power: f64) -> Result<Self, StatsError> {
        check(
            "power",
            power,
            power > 0.0 && power < 1.0,
            "a probability strictly between 0 and 1, e.g. 0.99",
        )
        .map(Power)
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }

    /// beta = 1 − power, the probability of missing the deviation.
    pub fn beta(self) -> f64 {
        1.0 - self.0
    }
}

impl Default for Power {
    fn default() -> Self {
        Power::DEFAULT
    }
}

impl fmt::Display for Power {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&short(self.0))
    }
}

/// A probability, as an expected share of traffic (0.2 for a weight of 20
/// out of 100). In [0, 1]: 0 and 1 are legal and mean "deterministic" (a
/// weight-0 subset must get nothing).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Share(f64);

impl Share {
    /// Checks that `share` is in [0, 1].
    ///
    /// # Errors
    /// When it is not.
    pub fn new(share: f64) -> Result<Self, StatsError> {
        check(
            "share",
            share,
            (0.0..=1.0).contains(&share),
            "a probability between 0 and 1, e.g. 0.2 for 20%",
        )
        .map(Share)
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }

    /// True when the share leaves no room for chance (0 or 1).
    pub fn is_deterministic(self) -> bool {
        self.0 == 0.0 || self.0 == 1.0
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&percent(self.0))
    }
}

/// The smallest deviation an assertion must catch, in absolute proportion
/// points: 0.03 means "a 20% share that is really 17% or 23% must fail".
/// In (0, 1); the default is 0.03 (3 percentage points).
///
/// Absolute rather than relative, because the cost of a test is driven by
/// the absolute difference (a relative 15% of a 1% mirror is 0.15 points,
/// which needs millions of requests).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Deviation(f64);

impl Deviation {
    /// The bench default, 3 percentage points.
    pub const DEFAULT: Deviation = Deviation(0.03);

    /// Checks that `deviation` is in (0, 1).
    ///
    /// # Errors
    /// When it is not.
    pub fn new(deviation: f64) -> Result<Self, StatsError> {
        check(
            "deviation",
            deviation,
            deviation > 0.0 && deviation < 1.0,
            "absolute proportion points strictly between 0 and 1, e.g. 0.03 for 3 points",
        )
        .map(Deviation)
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Deviation {
    fn default() -> Self {
        Deviation::DEFAULT
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let points = self.0 * 100.0;
        write!(f, "{} points", trim(points))
    }
}

macro_rules! validating_deserialize {
    ($($t:ident),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $t::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    )*};
}
validating_deserialize!(Alpha, Power, Share, Deviation);

/// A number as people write it in a sentence: `1e-6`, `0.05`, `0.9966`.
pub(crate) fn short(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        // Four significant digits, trailing zeros dropped: 1e-6, 9.996e-7.
        let s = format!("{x:.3e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let m = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{exp}")
            }
            None => s,
        }
    } else {
        trim(x)
    }
}

/// Up to 4 decimals, trailing zeros removed.
pub(crate) fn trim(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A share as a percentage: `20%`, `12.5%`.
pub(crate) fn percent(x: f64) -> String {
    let v = x * 100.0;
    if v != 0.0 && v.abs() < 0.01 {
        // Tiny leak rates keep their digits: 0.001%, 1e-5%.
        return format!("{}%", short(v));
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// An integer with its thousands grouped by spaces: `14 521`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Normalises non-negative weights (20, 80 or 0.2, 0.8) into shares that sum
/// to 1, because scenarios state splits as weights.
pub(crate) fn normalise(weights: &[f64]) -> Result<Vec<f64>, StatsError> {
    if weights.is_empty() {
        return Err(StatsError::Shape("no expected shares were given".into()));
    }
    for &w in weights {
        check(
            "weight",
            w,
            w >= 0.0,
            "a finite, non-negative weight or share",
        )?;
    }
    let total: f64 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(StatsError::Shape(
            "the expected weights add up to zero: at least one must be positive".into(),
        ));
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_validate() {
        assert!(Alpha::new(1e-6).is_ok());
        assert!(Alpha::new(0.0).is_err());
        assert!(Alpha::new(0.5).is_err());
        assert!(Alpha::new(f64::NAN).is_err());
        assert!(Power::new(1.0).is_err());
        assert!(Power::new(0.99).is_ok());
        assert!(Share::new(0.0).is_ok());
        assert!(Share::new(1.0).is_ok());
        assert!(Share::new(1.01).is_err());
        assert!(Deviation::new(0.0).is_err());
        assert!(Deviation::new(0.03).is_ok());
        let msg = Alpha::new(2.0)
            .map(|_| ())
            .expect_err("test input")
            .to_string();
        assert!(msg.contains("alpha = 2"), "{msg}");
        assert_eq!(Alpha::default().get(), 1e-6);
        assert_eq!(Power::default().get(), 0.99);
        assert_eq!(Deviation::default().get(), 0.03);
    }

    #[test]
    fn serde_is_a_bare_validated_number() {
        let a: Alpha = serde_json::from_str("1e-6").expect("test input");
        assert_eq!(a.get(), 1e-6);
        assert!(serde_json::from_str::<Alpha>("0.7").is_err());
        assert_eq!(
            serde_json::to_string(&Deviation::DEFAULT).expect("test input"),
            "0.03"
        );
    }

    #[test]
    fn formatting() {
        assert_eq!(Alpha::DEFAULT.to_string(), "1e-6");
        assert_eq!(Alpha::new(0.05).expect("test input").to_string(), "0.05");
        assert_eq!(Deviation::DEFAULT.to_string(), "3 points");
        assert_eq!(Share::new(0.125).expect("test input").to_string(), "12.5%");
        assert_eq!(percent(1.0 / 3.0), "33.33%");
        assert_eq!(percent(1e-5), "0.001%");
        assert_eq!(percent(1e-7), "1e-5%");
        assert_eq!(short(9.996015309191607e-7), "9.996e-7");
        assert_eq!(short(5e-7), "5e-7");
        assert_eq!(group(14521), "14 521");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000_000), "1 000 000");
        assert_eq!(
            normalise(&[20.0, 80.0]).expect("test input"),
            vec![0.2, 0.8]
        );
        assert!(normalise(&[0.0, 0.0]).is_err());
        assert!(normalise(&[-1.0, 2.0]).is_err());
    }
}
