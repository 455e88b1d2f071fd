//! `balanced`: requests are spread uniformly over the endpoints (or
//! versions), within every client connection — what request-level load
//! balancing promises and a layer-4 proxy cannot do on long-lived connections.
//!
//! - Null hypothesis: each request independently goes to each label with
//!   probability 1/k, whatever connection it came on.
//! - One sample: a selected request answered by an endpoint, tabulated by
//!   (client connection, label).
//! - Tests, alpha split in half: per-connection homogeneity (exact per-row
//!   fits, Holm over the connections, which names pinned connections) and
//!   the pooled shares (exact binomial per label, Holm).
//! - Inconclusive when a connection carried fewer requests than the plan
//!   needs to catch a pinned connection, and nothing failed.

use std::collections::BTreeMap;

use crate::ledger::Ledger;
use crate::stats::{
    self, ContingencyTable, Evidence, Verdict, multinomial::GofStatistic, multinomial::MonteCarlo,
};

use super::{Assertion, Confidence, Selection, percent, served, unserved_finding};

/// What the uniform spread is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// Every endpoint (pod) of the service.
    Endpoints,
    /// Every version of the service.
    Versions,
}

/// A `balanced` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancedCheck {
    /// Which requests.
    pub selection: Selection,
    /// Endpoints or versions.
    pub over: Over,
    /// The labels expected (pod names or versions), each with share 1/k.
    pub labels: Vec<String>,
    /// Alpha, power, detect.
    pub confidence: Confidence,
}

/// Runs the check.
pub fn balanced(ledger: &Ledger, check: &BalancedCheck) -> Assertion {
    let c = check.confidence;
    let k = check.labels.len();
    let name = format!(
        "balanced over {} {}",
        k,
        if check.over == Over::Endpoints {
            "endpoints"
        } else {
            "versions"
        }
    );
    let sample = served(&ledger.entries, &check.selection);
    let mut rows: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut strays: BTreeMap<String, u64> = BTreeMap::new();
    for (entry, echo) in &sample.served {
        let label = match check.over {
            Over::Endpoints => &echo.pod,
            Over::Versions => &echo.version,
        };
        match check.labels.iter().position(|l| l == label) {
            Some(column) => rows.entry(entry.connection).or_insert_with(|| vec![0; k])[column] += 1,
            None => *strays.entry(label.clone()).or_insert(0) += 1,
        }
    }
    let totals: Vec<u64> = (0..k)
        .map(|col| rows.values().map(|r| r[col]).sum())
        .collect();
    let uniform = vec![1.0; k];
    let method = "exact per-connection fits (Holm over connections) and exact pooled shares (Holm), alpha split in half";
    let evidence = Evidence::new(method, c.alpha, c.power, c.detect).with_counts(
        check
            .labels
            .iter()
            .map(String::as_str)
            .zip(totals.iter().copied()),
        check.labels.iter().map(|l| (l.as_str(), 1.0)),
    );
    let mut findings: Vec<String> = unserved_finding(&sample.unserved).into_iter().collect();
    let mut assertion = Assertion {
        name,
        kind: "balanced".to_owned(),
        verdict: Verdict::Pass,
        summary: String::new(),
        evidence,
        findings: Vec::new(),
    };
    if let Some((label, n)) = strays.iter().next() {
        findings.push(format!(
            "{n} requests reached '{label}', which is not a balanced target"
        ));
        assertion.verdict = Verdict::Fail;
        assertion.summary = format!("{n} requests reached '{label}', outside the balanced set");
        assertion.findings = findings;
        return assertion;
    }
    let labels: Vec<String> = rows.keys().map(|c| format!("connection {c}")).collect();
    let counts: Vec<Vec<u64>> = rows.values().cloned().collect();
    let half = c.alpha.split(2);
    let table = ContingencyTable::new(labels, check.labels.clone(), counts);
    let tested = table.and_then(|table| {
        let homogeneity = stats::homogeneity(
            &table,
            &uniform,
            half,
            GofStatistic::G,
            &MonteCarlo::default(),
        )?;
        let pooled = stats::share_tests(&totals, &uniform, half)?;
        Ok((homogeneity, pooled))
    });
    let (homogeneity, pooled) = match tested {
        Ok(results) => results,
        Err(e) => {
            assertion.verdict = Verdict::Error;
            assertion.summary = format!("the test could not run: {e}");
            assertion.findings = findings;
            return assertion;
        }
    };
    let pinned: Vec<String> = homogeneity
        .failed_rows()
        .iter()
        .map(|r| r.describe())
        .collect();
    let n: u64 = totals.iter().sum();
    assertion.evidence.p_value = Some(homogeneity.p_value().min(pooled.p_value()));
    let smallest = rows
        .values()
        .map(|r| r.iter().sum::<u64>())
        .min()
        .unwrap_or(0);
    // The homogeneity test was run at `half`: plan at the level it used.
    let planned = stats::plan::pinning(&uniform, rows.len().max(1), half)
        .map(|p| p.n)
        .unwrap_or(0);
    (assertion.verdict, assertion.summary) = if !pinned.is_empty() {
        findings.extend(pinned.iter().cloned());
        (
            Verdict::Fail,
            format!(
                "{} of {} connections are not balanced: {}",
                pinned.len(),
                rows.len(),
                pinned[0]
            ),
        )
    } else if pooled.rejected() {
        let worst = pooled
            .tests
            .iter()
            .filter(|t| t.rejected)
            .min_by(|a, b| a.adjusted.total_cmp(&b.adjusted));
        let text = worst.map(|t| {
            let label = check.labels.get(t.index).map(String::as_str).unwrap_or("?");
            format!(
                "{label} got {} of {n} requests, expected {}",
                percent(t.share(n)),
                percent(t.expected)
            )
        });
        (
            Verdict::Fail,
            text.unwrap_or_else(|| "the pooled shares are not uniform".to_owned()),
        )
    } else if rows.is_empty() || smallest < planned {
        (
            Verdict::Inconclusive,
            format!(
                "the smallest connection carried {smallest} requests; catching a pinned one needs {planned}"
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "{n} requests on {} connections spread evenly over {k} at alpha {:e}",
                rows.len(),
                c.alpha.get()
            ),
        )
    };
    assertion.findings = findings;
    assertion
}
