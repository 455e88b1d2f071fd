//! The test several kinds share: the share of selected requests with some
//! property (mirrored, aborted, delayed, rejected) equals a configured
//! fraction.
//!
//! - Null hypothesis: each selected request has the property independently
//!   with probability f (the proxy draws per request).
//! - Test: exact two-sided binomial at alpha; f = 0 or 1 is deterministic
//!   (one counter-example fails).
//! - Inconclusive when fewer samples arrived than the plan needs to detect
//!   `detect` with `power`.

use crate::stats::{self, Evidence, Share, Tail, Verdict};

use super::{Assertion, Confidence, percent};

/// What a fraction check counts.
pub struct Counted<'a> {
    /// The assertion's name.
    pub name: String,
    /// Its kind.
    pub kind: &'a str,
    /// What the property is, for sentences ("mirrored to v3").
    pub property: String,
    /// Requests with the property.
    pub k: u64,
    /// Requests examined.
    pub n: u64,
    /// The configured fraction.
    pub expected: f64,
}

/// Tests `counted` at `confidence`.
pub fn fraction(counted: Counted<'_>, confidence: Confidence, findings: Vec<String>) -> Assertion {
    let Counted {
        name,
        kind,
        property,
        k,
        n,
        expected,
    } = counted;
    let c = confidence;
    let mut evidence = Evidence::new("exact two-sided binomial test", c.alpha, c.power, c.detect)
        .with_counts(
            [("with", k), ("without", n - k)],
            [("with", expected), ("without", 1.0 - expected)],
        );
    let observed = if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let planned = Share::new(expected)
        .ok()
        .and_then(|p| stats::plan::share(p, c.alpha, c.power, c.detect).ok())
        .map(|p| p.n)
        .unwrap_or(0);
    let (verdict, summary) = if expected <= 0.0 && k > 0 {
        (
            Verdict::Fail,
            format!("{k} of {n} requests {property}, expected none"),
        )
    } else if expected >= 1.0 && k < n {
        (
            Verdict::Fail,
            format!(
                "{} of {n} requests were not {property}, expected all",
                n - k
            ),
        )
    } else {
        let test = Share::new(expected)
            .map_err(|e| e.to_string())
            .and_then(|p| stats::binomial_test(k, n, p, Tail::TwoSided).map_err(|e| e.to_string()));
        match test {
            Err(e) => (Verdict::Error, format!("the test could not run: {e}")),
            Ok(test) => {
                evidence.p_value = Some(test.p_value);
                evidence.interval = stats::clopper_pearson(k, n, c.alpha).ok();
                if test.p_value < c.alpha.get() {
                    (
                        Verdict::Fail,
                        format!(
                            "{} of requests {property} ({k} of {n}), expected {}",
                            percent(observed),
                            percent(expected)
                        ),
                    )
                } else if n < planned && expected > 0.0 && expected < 1.0 {
                    (
                        Verdict::Inconclusive,
                        format!("only {n} of the {planned} samples the plan needs"),
                    )
                } else {
                    (
                        Verdict::Pass,
                        format!(
                            "{} of requests {property} ({k} of {n}), expected {}",
                            percent(observed),
                            percent(expected)
                        ),
                    )
                }
            }
        }
    };
    Assertion {
        name: String::new(),
        claim: name,
        kind: kind.to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}
