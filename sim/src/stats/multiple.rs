//! Holm's step-down correction, for one assertion that tests several
//! hypotheses at once (every version of a split, every connection of a
//! balancing table) and must still fail a correct proxy with probability at
//! most alpha in total.
//!
//! Holm controls the family-wise error rate at alpha under any dependence
//! between the tests (it needs no independence, unlike Šidák), and rejects
//! everything Bonferroni rejects, and sometimes more. Its first step is
//! Bonferroni's alpha/m, so a sample size planned for Bonferroni is
//! conservative for Holm.

use serde::Serialize;

use super::types::Alpha;

/// The outcome of [`holm`], in the order the p-values were given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Holm {
    /// Holm-adjusted p-values: hypothesis i is rejected at any alpha ≥
    /// `adjusted[i]`. Monotone in the raw p-values, capped at 1.
    pub adjusted: Vec<f64>,
    /// Which hypotheses are rejected at the alpha given.
    pub rejected: Vec<bool>,
}

impl Holm {
    /// True when at least one hypothesis is rejected.
    pub fn any(&self) -> bool {
        self.rejected.iter().any(|&r| r)
    }

    /// The indices of the rejected hypotheses.
    pub fn rejected_indices(&self) -> Vec<usize> {
        (0..self.rejected.len())
            .filter(|&i| self.rejected[i])
            .collect()
    }
}

/// Holm's step-down procedure: sort the m p-values, compare the i-th
/// smallest (from 0) with alpha/(m − i), stop at the first that is larger;
/// everything before it is rejected. NaN p-values are treated as 1 (never
/// rejected), so a broken upstream computation cannot cause a failure.
pub fn holm(p_values: &[f64], alpha: Alpha) -> Holm {
    let m = p_values.len();
    let clean: Vec<f64> = p_values
        .iter()
        .map(|&p| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean[a].total_cmp(&clean[b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = (clean[i] * (m - rank) as f64).min(1.0);
        running = running.max(scaled);
        adjusted[i] = running;
    }
    let rejected = adjusted.iter().map(|&a| a <= alpha.get()).collect();
    Holm { adjusted, rejected }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        // p = 0.01, 0.04, 0.03, 0.005 at alpha 0.05: sorted 0.005 (x4 = 0.02),
        // 0.01 (x3 = 0.03), 0.03 (x2 = 0.06 > 0.05: stop).
        let h = holm(
            &[0.01, 0.04, 0.03, 0.005],
            Alpha::new(0.05).expect("test input"),
        );
        assert_eq!(h.rejected, vec![true, false, false, true]);
        let expect = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in h.adjusted.iter().zip(expect) {
            assert!((a - e).abs() < 1e-15, "{:?}", h.adjusted);
        }
        assert_eq!(h.rejected_indices(), vec![0, 3]);
        assert!(h.any());
    }

    #[test]
    fn edge_cases() {
        let a = Alpha::new(0.05).expect("test input");
        assert!(!holm(&[], a).any());
        assert_eq!(holm(&[f64::NAN, 0.001], a).rejected, vec![false, true]);
        // Step-down stops at the first acceptance even if later ones are small relative
        // to their own threshold (ties).
        assert_eq!(holm(&[0.03, 0.03], a).rejected, vec![false, false]);
        assert_eq!(holm(&[0.02, 0.02], a).rejected, vec![true, true]);
    }
}
