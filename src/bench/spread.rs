//! Median and spread of the repeated rounds of one figure.

use serde::Serialize;

/// A figure measured in several rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// The median of the rounds.
    pub median: f64,
    /// The smallest round.
    pub min: f64,
    /// The largest round.
    pub max: f64,
    /// Half the range relative to the median, in percent (0 for one round).
    pub spread_percent: f64,
    /// Every round, in order.
    pub rounds: Vec<f64>,
}

impl Spread {
    /// The median and range of `rounds`; `None` when there is none (NaN rounds are left out).
    pub fn of(rounds: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = rounds.iter().copied().filter(|x| !x.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let (min, max) = (sorted[0], sorted[n - 1]);
        let spread_percent = if median.abs() > f64::EPSILON {
            (max - min) / 2.0 / median.abs() * 100.0
        } else {
            0.0
        };
        Some(Spread {
            median,
            min,
            max,
            spread_percent,
            rounds: rounds.to_vec(),
        })
    }

    /// `median ±spread%` for tables, with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.digits$} ±{:.0}%",
            self.median,
            self.spread_percent,
            digits = digits
        )
    }
}

/// The ratio of two medians, `None` when the denominator is zero.
pub fn ratio(numerator: &Spread, denominator: &Spread) -> Option<f64> {
    (denominator.median.abs() > f64::EPSILON).then(|| numerator.median / denominator.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_rounds_take_the_middle_one() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("rounds");
        assert_eq!(s.median, 2.0);
        assert_eq!((s.min, s.max), (1.0, 3.0));
        assert!((s.spread_percent - 50.0).abs() < 1e-9);
        assert_eq!(s.rounds, vec![3.0, 1.0, 2.0]);
        assert_eq!(s.show(1), "2.0 ±50%");
    }

    #[test]
    fn even_rounds_average_the_middle_two() {
        let s = Spread::of(&[10.0, 20.0, 40.0, 30.0]).expect("rounds");
        assert_eq!(s.median, 25.0);
        assert!((s.spread_percent - 60.0).abs() < 1e-9);
    }

    #[test]
    fn empty_and_nan_rounds() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
        let one = Spread::of(&[f64::NAN, 4.0]).expect("one round");
        assert_eq!((one.median, one.spread_percent), (4.0, 0.0));
        let zero = Spread::of(&[0.0, 0.0]).expect("rounds");
        assert_eq!(zero.spread_percent, 0.0);
        assert_eq!(ratio(&one, &zero), None);
        assert_eq!(ratio(&one, &one), Some(1.0));
    }
}
