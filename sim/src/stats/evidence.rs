//! What a verifier hands to the report: a [`Verdict`] and the [`Evidence`]
//! behind it, so a reader can check the numbers instead of trusting a
//! green tick (n, counts, expected shares, statistic, p-value, interval,
//! alpha, power and the deviation the test could detect).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::sequential::Stop;
use super::types::{Alpha, Deviation, Power};

/// The outcome of one assertion, or of a merge of several.
///
/// The variants are declared from best to worst, and [`Verdict::merge`]
/// keeps the worst, Jepsen-style (a checker that finds one anomaly makes the
/// whole history invalid, and "unknown" beats "valid"):
/// Fail > Error > Inconclusive > Unsupported > Pass.
/// - a failure is a finding about the proxy, so nothing hides it;
/// - an error means the bench itself broke, so the run proves nothing and
///   must not read as a mere "inconclusive";
/// - inconclusive (the budget ran out before the sample size was reached,
///   the proxy never converged) is weaker than an error but still not a pass;
/// - unsupported (the proxy lacks the feature: Dubbo has no route timeout in
///   Envoy) is a known gap, reported but not a defect of this run;
/// - pass only when everything passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The behaviour matches the configuration at the stated alpha and power.
    /// The identity of [`Verdict::merge`].
    #[default]
    Pass,
    /// The proxy does not implement the feature under test.
    Unsupported,
    /// Not enough evidence either way.
    Inconclusive,
    /// The bench failed to run the check (a harness bug, a crashed fleet).
    Error,
    /// The behaviour contradicts the configuration.
    Fail,
}

impl Verdict {
    /// The worse of the two.
    pub fn merge(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The worst of all; [`Verdict::Pass`] for none (the merge identity;
    /// whether "no assertions" should pass is the caller's decision).
    pub fn merge_all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().fold(Verdict::Pass, Verdict::merge)
    }

    /// The verdict of a hypothesis test: fail when rejected.
    pub fn from_rejection(rejected: bool) -> Verdict {
        if rejected {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Unsupported => "unsupported",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
            Verdict::Fail => "fail",
        })
    }
}

/// The numbers behind a verdict, as the report's JSON shows them. Maps are
/// ordered by label so the JSON is stable across runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Samples used.
    pub n: u64,
    /// Observed count per label (version, endpoint, outcome).
    pub counts: BTreeMap<String, u64>,
    /// Expected share per label (normalised, summing to 1).
    pub expected: BTreeMap<String, f64>,
    /// The test statistic, if the test has one (chi-square, G, a count).
    pub statistic: Option<f64>,
    /// The p-value, if the test is a hypothesis test (after any correction).
    pub p_value: Option<f64>,
    /// A confidence interval for the tested share, at confidence 1 − alpha
    /// (per-share alpha for a corrected family).
    pub interval: Option<(f64, f64)>,
    /// The false-failure rate the test was run at.
    pub alpha: Alpha,
    /// The power the plan gave against `detectable`.
    pub power: Power,
    /// The smallest deviation caught with that power.
    pub detectable: Deviation,
    /// The test, in words ("exact binomial test per share, Holm over 3").
    pub method: String,
    /// Where a sequential test stopped (absent for fixed-n tests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
}

impl Evidence {
    /// Evidence with no samples yet, for a test run at (alpha, power,
    /// detectable) with the given method.
    pub fn new(
        method: impl Into<String>,
        alpha: Alpha,
        power: Power,
        detectable: Deviation,
    ) -> Self {
        Evidence {
            n: 0,
            counts: BTreeMap::new(),
            expected: BTreeMap::new(),
            statistic: None,
            p_value: None,
            interval: None,
            alpha,
            power,
            detectable,
            method: method.into(),
            stop: None,
        }
    }

    /// Sets the counts and the expected shares (weights are normalised; a
    /// label missing from `expected` is expected with share 0), and n as the
    /// sum of the counts.
    pub fn with_counts<'a>(
        mut self,
        counts: impl IntoIterator<Item = (&'a str, u64)>,
        expected: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Self {
        self.counts = counts.into_iter().map(|(l, c)| (l.to_owned(), c)).collect();
        let expected: Vec<(String, f64)> = expected
            .into_iter()
            .map(|(l, w)| (l.to_owned(), if w.is_finite() && w > 0.0 { w } else { 0.0 }))
            .collect();
        let total: f64 = expected.iter().map(|(_, w)| w).sum();
        self.expected = expected
            .into_iter()
            .map(|(l, w)| (l, if total > 0.0 { w / total } else { 0.0 }))
            .collect();
        for label in self.counts.keys() {
            self.expected.entry(label.clone()).or_insert(0.0);
        }
        self.n = self.counts.values().sum();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_worst() {
        use Verdict::*;
        assert_eq!(Verdict::merge_all([Pass, Unsupported, Pass]), Unsupported);
        assert_eq!(
            Verdict::merge_all([Inconclusive, Unsupported]),
            Inconclusive
        );
        assert_eq!(Verdict::merge_all([Inconclusive, Error]), Error);
        assert_eq!(Verdict::merge_all([Fail, Error, Pass]), Fail);
        assert_eq!(Verdict::merge_all([]), Pass);
        assert_eq!(Pass.merge(Fail), Fail);
        assert_eq!(Verdict::from_rejection(true), Fail);
        assert_eq!(
            serde_json::to_string(&Inconclusive).expect("test input"),
            "\"inconclusive\""
        );
    }

    #[test]
    fn evidence_serialises_stably() {
        let e = Evidence::new(
            "exact binomial",
            Alpha::DEFAULT,
            Power::DEFAULT,
            Deviation::DEFAULT,
        )
        .with_counts([("v2", 7_950), ("v1", 2_050)], [("v1", 20.0), ("v2", 80.0)]);
        assert_eq!(e.n, 10_000);
        assert_eq!(e.expected["v1"], 0.2);
        let json = serde_json::to_string(&e).expect("test input");
        assert!(json.starts_with(r#"{"n":10000,"counts":{"v1":2050,"v2":7950},"expected":{"v1":0.2,"v2":0.8},"statistic":null"#), "{json}");
        assert!(
            json.contains(r#""alpha":1e-6"#) || json.contains(r#""alpha":0.000001"#),
            "{json}"
        );
        // A label seen but not expected is expected with share 0.
        let e = Evidence::new("m", Alpha::DEFAULT, Power::DEFAULT, Deviation::DEFAULT)
            .with_counts([("v3", 1)], [("v1", 1.0)]);
        assert_eq!(e.expected["v3"], 0.0);
    }
}
