//! Verdicts and reports: the checks applied to what a run collected, a
//! terminal summary, and a JSON report with a versioned schema.
//!
//! JSON schema version 1: `{schema, scenario, description, proxy, seed,
//! verdict, duration_seconds, sent, outcomes, latency_us{p50,p90,p99,p999,max},
//! assertions: [{name, claim, kind, verdict, summary, evidence, findings}], notes, proxy_stats,
//! figures{shares: [{assertion, verdict, alpha, n, shares: [{label, count,
//! observed, expected, interval}]}], connections{versions, endpoints, rows:
//! [{client, connection, requests, unserved, versions, endpoints}], total,
//! omitted}, latency{corrected, uncorrected: [{percentile, micros}]},
//! timeline{bucket_seconds, versions, buckets: [{start_seconds, unserved,
//! counts}], phases_seconds}}}` (`figures` was added without a version bump:
//! readers of the earlier fields are unaffected). The same report renders as
//! JUnit XML, Markdown and a self-contained HTML page ([`html`]).

pub mod figures;
pub mod html;

use std::collections::BTreeMap;

use meshbench_sim::stats::Verdict;
use meshbench_sim::verify::{Assertion, Claim, Oracles};
use serde::Serialize;

use self::figures::Figures;
use crate::run::Collected;

/// The JSON report's schema version; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Applies every check to the collected oracles, in order; a check the
/// adapter declared unsupported (with its reason) is not verified.
pub fn verify(
    checks: &[Claim],
    unsupported: &[Option<String>],
    collected: &Collected,
) -> Vec<Assertion> {
    let oracles = Oracles::new(&collected.ledger, &collected.records, &collected.endpoints);
    checks
        .iter()
        .enumerate()
        .map(
            |(i, claim)| match unsupported.get(i).and_then(Option::as_deref) {
                Some(reason) => claim.unsupported(reason),
                None => claim.verify(&oracles),
            },
        )
        .collect()
}

/// Latency quantiles of the run, in microseconds (corrected for
/// coordinated omission).
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The largest.
    pub max: u64,
}

/// One scenario's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The scenario's name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// The proxy adapter.
    pub proxy: String,
    /// Where the run happened (loopback, containers, a cluster).
    pub environment: String,
    /// The seed of the run.
    pub seed: u64,
    /// The merged verdict (fail over error over inconclusive over unsupported over pass).
    pub verdict: Verdict,
    /// How long the workload ran.
    pub duration_seconds: f64,
    /// Requests sent.
    pub sent: u64,
    /// Requests per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Latency of all requests.
    pub latency_us: LatencySummary,
    /// One per expectation.
    pub assertions: Vec<Assertion>,
    /// What the run noticed that is no assertion's (a probe's malformed answer).
    pub notes: Vec<String>,
    /// The proxy's own counters, when offered.
    pub proxy_stats: Option<String>,
    /// The numbers the HTML report plots.
    pub figures: Figures,
}

impl Report {
    /// Builds the report of a finished run.
    pub fn new(
        scenario: (&str, &str),
        proxy: &str,
        seed: u64,
        collected: &Collected,
        assertions: Vec<Assertion>,
    ) -> Report {
        let latencies = collected.ledger.latencies(|_| true).corrected;
        let figures = Figures::new(collected, &assertions);
        Report {
            schema: SCHEMA_VERSION,
            scenario: scenario.0.to_owned(),
            description: scenario.1.to_owned(),
            proxy: proxy.to_owned(),
            environment: collected.environment.clone(),
            seed,
            verdict: Verdict::merge_all(assertions.iter().map(|a| a.verdict)),
            duration_seconds: collected.duration.as_secs_f64(),
            sent: collected.ledger.sent,
            outcomes: collected.ledger.outcome_counts(),
            latency_us: LatencySummary {
                p50: latencies.value_at_quantile(0.5),
                p90: latencies.value_at_quantile(0.9),
                p99: latencies.value_at_quantile(0.99),
                p999: latencies.value_at_quantile(0.999),
                max: latencies.max(),
            },
            assertions,
            notes: collected.notes.clone(),
            proxy_stats: collected.stats.clone(),
            figures,
        }
    }

    /// The terminal summary: one line for the scenario, one per assertion,
    /// findings indented under failures.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} ({} requests in {:.1}s through {}; p50 {}us, p99 {}us)\n",
            label(self.verdict),
            self.scenario,
            self.sent,
            self.duration_seconds,
            self.proxy,
            self.latency_us.p50,
            self.latency_us.p99
        );
        for assertion in &self.assertions {
            out.push_str(&format!(
                "  {} {} ({}): {}\n",
                label(assertion.verdict),
                assertion.name,
                assertion.claim,
                assertion.summary
            ));
            if assertion.verdict != Verdict::Pass {
                for finding in assertion.findings.iter().take(8) {
                    out.push_str(&format!("      {finding}\n"));
                }
            }
        }
        for note in &self.notes {
            out.push_str(&format!("  NOTE {note}\n"));
        }
        out
    }
}

impl Report {
    /// JUnit XML: one test suite per scenario, one test case per assertion;
    /// fail is a failure, error an error, inconclusive and unsupported are
    /// skipped with their reason (CI systems render all three).
    pub fn junit(&self) -> String {
        let count = |v: Verdict| self.assertions.iter().filter(|a| a.verdict == v).count();
        let skipped = count(Verdict::Inconclusive) + count(Verdict::Unsupported);
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
            escape(&self.scenario),
            self.assertions.len(),
            count(Verdict::Fail),
            count(Verdict::Error),
            skipped,
            self.duration_seconds
        );
        for assertion in &self.assertions {
            let name = escape(&assertion.name);
            let body = junit_body(
                assertion.verdict,
                &assertion.summary,
                &assertion.findings.join("\n"),
            );
            xml.push_str(&format!(
                "    <testcase classname=\"{}.{}\" name=\"{name}\">{body}</testcase>\n",
                escape(&self.scenario),
                escape(&assertion.kind)
            ));
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }

    /// Markdown: a heading with the verdict, the run's numbers, a table of
    /// assertions, and the findings of those that did not pass.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# {} — {}\n\n{}\n\n- proxy: `{}`, seed {}, {}\n- {} requests in {:.1} s; latency p50 {} µs, p99 {} µs, max {} µs\n- outcomes: {}\n\n| verdict | assertion | claim | summary |\n|---|---|---|---|\n",
            self.scenario,
            label(self.verdict),
            self.description,
            self.proxy,
            self.seed,
            if self.environment.is_empty() {
                "not run"
            } else {
                &self.environment
            },
            self.sent,
            self.duration_seconds,
            self.latency_us.p50,
            self.latency_us.p99,
            self.latency_us.max,
            self.outcomes
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for assertion in &self.assertions {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                label(assertion.verdict),
                assertion.name,
                assertion.claim,
                assertion.summary.replace('|', "\\|")
            ));
        }
        for assertion in self
            .assertions
            .iter()
            .filter(|a| a.verdict != Verdict::Pass && !a.findings.is_empty())
        {
            md.push_str(&format!(
                "\n## {} ({})\n\n",
                assertion.name, assertion.claim
            ));
            for finding in &assertion.findings {
                md.push_str(&format!("- {finding}\n"));
            }
        }
        md
    }
}

/// The body of a JUnit test case: nothing for a pass, `<failure>` for a
/// fail, `<error>` for an error, `<skipped>` for inconclusive and unsupported.
pub(crate) fn junit_body(verdict: Verdict, summary: &str, details: &str) -> String {
    let (summary, details) = (escape(summary), escape(details));
    match verdict {
        Verdict::Pass => String::new(),
        Verdict::Fail => format!("<failure message=\"{summary}\">{details}</failure>"),
        Verdict::Error => format!("<error message=\"{summary}\">{details}</error>"),
        Verdict::Inconclusive | Verdict::Unsupported => {
            format!("<skipped message=\"{summary}\"/>")
        }
    }
}

/// A scenario name as a folder name: ASCII letters, digits, `-`, `_` and
/// `.` kept, every other run of characters (`/`, `\\`, spaces) one `-`, and
/// leading or trailing dots and dashes dropped, so a name is one path
/// component that never climbs (`../../x` is `x`).
pub fn slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => slug.push(c),
            _ if !slug.ends_with('-') => slug.push('-'),
            _ => {}
        }
    }
    let slug = slug.trim_matches(|c| c == '.' || c == '-');
    if slug.is_empty() {
        "scenario".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Text escaped for XML attributes and content.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "INCONCLUSIVE",
        Verdict::Unsupported => "UNSUPPORTED",
        Verdict::Error => "ERROR",
    }
}
