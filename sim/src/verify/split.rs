//! `split`: the selected requests are shared among versions as the weights say.
//!
//! - Null hypothesis: each request independently goes to version v with
//!   probability w_v / Σw (Aeraki and Envoy draw per request).
//! - One sample: a selected request answered by an endpoint (its version
//!   from the echo). Requests with no endpoint answer are not samples; they
//!   are listed as findings.
//! - Test: an exact binomial test per version, Holm-corrected over the
//!   versions, at alpha. A request served by a version of weight 0 (or none
//!   listed) fails at once: that is deterministic.
//! - Inconclusive when fewer samples arrived than the plan needs to detect
//!   `detect` with `power`.

use crate::ledger::Ledger;
use crate::stats::{self, Evidence, Verdict};

use super::{
    Assertion, Confidence, Mode, Selection, percent, sequential, served, unserved_finding,
};

/// A `split` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCheck {
    /// Which requests.
    pub selection: Selection,
    /// Version and weight, in the order written.
    pub weights: Vec<(String, f64)>,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

/// Runs the check.
pub fn split(ledger: &Ledger, check: &SplitCheck) -> Assertion {
    let versions: Vec<&str> = check.weights.iter().map(|(v, _)| v.as_str()).collect();
    let weights: Vec<f64> = check.weights.iter().map(|(_, w)| *w).collect();
    let name = format!("split {}", describe_weights(&check.weights));
    if check.confidence.mode == Mode::Sequential {
        return sequential::split(ledger, check, name);
    }
    let c = check.confidence;
    let plan = stats::plan::split(&weights, c.alpha, c.power, c.detect);
    let sample = served(&ledger.entries, &check.selection);
    let mut counts = vec![0u64; versions.len()];
    let mut strays: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for (_, echo) in &sample.served {
        match versions.iter().position(|v| *v == echo.version) {
            Some(i) => counts[i] += 1,
            None => *strays.entry(echo.version.clone()).or_insert(0) += 1,
        }
    }
    let method = "exact binomial test per version, Holm-corrected";
    let mut evidence = Evidence::new(method, c.alpha, c.power, c.detect).with_counts(
        versions
            .iter()
            .copied()
            .zip(counts.iter().copied())
            .chain(strays.iter().map(|(v, n)| (v.as_str(), *n))),
        versions.iter().copied().zip(weights.iter().copied()),
    );
    let mut findings: Vec<String> = unserved_finding(&sample.unserved).into_iter().collect();
    let n: u64 = counts.iter().sum();
    let planned = plan.as_ref().map(|p| p.n).unwrap_or(0);
    let (verdict, summary) = if let Some((version, k)) = strays.iter().next() {
        findings.push(format!(
            "{k} requests reached {version}, which the split does not include"
        ));
        (
            Verdict::Fail,
            format!("{k} requests reached '{version}', outside the split"),
        )
    } else {
        match stats::share_tests(&counts, &weights, c.alpha) {
            Err(e) => (Verdict::Error, format!("the test could not run: {e}")),
            Ok(test) => {
                evidence.p_value = Some(test.p_value());
                for share in &test.tests {
                    let version = versions.get(share.index).copied().unwrap_or("?");
                    let line = format!(
                        "{version}: {} of {n} = {} (expected {}, interval {}–{}, adjusted p = {:.3e})",
                        share.count,
                        percent(share.share(n)),
                        percent(share.expected),
                        percent(share.interval.0),
                        percent(share.interval.1),
                        share.adjusted
                    );
                    findings.push(line);
                }
                let zero_hits = &test.zero_probability_hits;
                if test.rejected() || !zero_hits.is_empty() {
                    (Verdict::Fail, offending(&test, &versions, n))
                } else if n < planned {
                    let plan_text = plan.as_ref().map(|p| p.describe()).unwrap_or_default();
                    (
                        Verdict::Inconclusive,
                        format!("only {n} of the {planned} samples the plan needs ({plan_text})"),
                    )
                } else {
                    (
                        Verdict::Pass,
                        format!(
                            "{n} requests split as weighted at alpha {:e}",
                            c.alpha.get()
                        ),
                    )
                }
            }
        }
    };
    Assertion {
        name,
        kind: "split".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

fn offending(test: &stats::SplitTest, versions: &[&str], n: u64) -> String {
    let worst = test
        .tests
        .iter()
        .filter(|t| t.rejected)
        .min_by(|a, b| a.adjusted.total_cmp(&b.adjusted));
    match worst {
        Some(t) => format!(
            "{} got {} of {n} requests, expected {}",
            versions.get(t.index).copied().unwrap_or("?"),
            percent(t.share(n)),
            percent(t.expected)
        ),
        None => "a version of weight 0 received requests".to_owned(),
    }
}

fn describe_weights(weights: &[(String, f64)]) -> String {
    let parts: Vec<String> = weights.iter().map(|(v, w)| format!("{v}={w}")).collect();
    parts.join(" ")
}
