//! A run of many scenarios: the conformance summary over them, in the
//! spirit of Gateway API's ConformanceReport. A *feature* is a protocol
//! group (the scenario's folder: `thrift`, `http`…) and an expectation kind
//! (`split`, `mirrored`…); it is *supported* when every assertion of that
//! kind passed, *failed* when one failed, *unsupported* when the proxy
//! adapter declared the kind unsupported, and *inconclusive* otherwise.

use std::collections::BTreeMap;

use meshbench_sim::stats::Verdict;
use minijinja::value::{Serde, Value};
use serde::Serialize;

use crate::report::Report;

/// The summary's schema version; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One scenario of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteEntry {
    /// The scenario's name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// Its protocol group (the folder it lives in).
    pub group: String,
    /// Its merged verdict.
    pub verdict: Verdict,
    /// Its report folder, relative to the suite's folder (empty for a
    /// scenario that could not run: it has no report).
    pub folder: String,
    /// Why it could not run, for verdict `error` without a report.
    pub error: Option<String>,
    /// Its assertions: (kind, name, verdict, summary).
    pub assertions: Vec<AssertionLine>,
}

/// One assertion, as the summary lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionLine {
    /// The expectation kind.
    pub kind: String,
    /// The assertion's name.
    pub name: String,
    /// What it claims.
    pub claim: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why, in one sentence.
    pub summary: String,
}

/// How a feature fared over the suite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeatureResult {
    /// Assertions per verdict.
    pub counts: BTreeMap<String, u64>,
    /// The merged verdict of its assertions.
    pub verdict: Option<Verdict>,
}

impl FeatureResult {
    /// `supported`, `failed`, `unsupported` or `inconclusive`.
    pub fn status(&self) -> &'static str {
        match self.verdict {
            Some(Verdict::Pass) => "supported",
            Some(Verdict::Fail | Verdict::Error) => "failed",
            Some(Verdict::Unsupported) => "unsupported",
            Some(Verdict::Inconclusive) | None => "inconclusive",
        }
    }
}

/// The suite's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The proxy adapter.
    pub proxy: String,
    /// The seed of every run.
    pub seed: u64,
    /// The merged verdict of every scenario; `error` when any scenario
    /// could not run, or none was added.
    pub verdict: Verdict,
    /// Scenarios per verdict.
    pub scenarios_by_verdict: BTreeMap<String, u64>,
    /// `group/kind` → how it fared.
    pub features: BTreeMap<String, FeatureResult>,
    /// Every scenario, in the order run.
    pub scenarios: Vec<SuiteEntry>,
}

impl Suite {
    /// An empty suite for `proxy`; its verdict is `error` until a scenario
    /// is added (a run that judged nothing has shown nothing).
    pub fn new(proxy: &str, seed: u64) -> Suite {
        Suite {
            schema: SCHEMA_VERSION,
            proxy: proxy.to_owned(),
            seed,
            verdict: Verdict::Error,
            scenarios_by_verdict: BTreeMap::new(),
            features: BTreeMap::new(),
            scenarios: Vec::new(),
        }
    }

    /// Adds a scenario's report, kept in `folder`, from protocol `group`.
    pub fn add(&mut self, report: &Report, group: &str, folder: &str) {
        self.count(report.verdict);
        for assertion in &report.assertions {
            let feature = self
                .features
                .entry(format!("{group}/{}", assertion.kind))
                .or_default();
            *feature
                .counts
                .entry(assertion.verdict.to_string())
                .or_insert(0) += 1;
            feature.verdict = Some(
                feature
                    .verdict
                    .map_or(assertion.verdict, |v| v.merge(assertion.verdict)),
            );
        }
        self.scenarios.push(SuiteEntry {
            scenario: report.scenario.clone(),
            description: report.description.clone(),
            group: group.to_owned(),
            verdict: report.verdict,
            folder: folder.to_owned(),
            error: None,
            assertions: report
                .assertions
                .iter()
                .map(|a| AssertionLine {
                    kind: a.kind.clone(),
                    name: a.name.clone(),
                    claim: a.claim.clone(),
                    verdict: a.verdict,
                    summary: a.summary.clone(),
                })
                .collect(),
        });
    }

    /// Adds a scenario that could not be run or loaded (`scenario` names it:
    /// its name, or its file when it did not load), with the reason.
    pub fn add_error(&mut self, scenario: &str, group: &str, error: &str) {
        self.count(Verdict::Error);
        self.scenarios.push(SuiteEntry {
            scenario: scenario.to_owned(),
            description: String::new(),
            group: group.to_owned(),
            verdict: Verdict::Error,
            folder: String::new(),
            error: Some(error.to_owned()),
            assertions: Vec::new(),
        });
    }

    /// One scenario's verdict into the totals. Any errored scenario makes
    /// the run's verdict `error`: a run that could not judge a scenario has
    /// not shown the proxy conforms, whatever the others say.
    fn count(&mut self, verdict: Verdict) {
        self.verdict = match (self.verdict, verdict) {
            _ if self.scenarios.is_empty() => verdict,
            (Verdict::Error, _) | (_, Verdict::Error) => Verdict::Error,
            (merged, verdict) => merged.merge(verdict),
        };
        *self
            .scenarios_by_verdict
            .entry(verdict.to_string())
            .or_insert(0) += 1;
    }

    /// JUnit XML over every scenario (`junit.xml` beside the index): a test
    /// suite per scenario and a test case per assertion, named by the
    /// expectation's name; a scenario that could not run is one `<error>`.
    pub fn junit(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
        for entry in &self.scenarios {
            let count = |v: Verdict| entry.assertions.iter().filter(|a| a.verdict == v).count();
            let skipped = count(Verdict::Inconclusive) + count(Verdict::Unsupported);
            let suite = escape(&entry.scenario);
            match &entry.error {
                Some(error) => xml.push_str(&format!(
                    "  <testsuite name=\"{suite}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    <testcase classname=\"{suite}\" name=\"scenario\"><error message=\"{}\"/></testcase>\n  </testsuite>\n",
                    escape(error)
                )),
                None => {
                    xml.push_str(&format!(
                        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{skipped}\">\n",
                        entry.assertions.len(),
                        count(Verdict::Fail),
                        count(Verdict::Error),
                    ));
                    for a in &entry.assertions {
                        xml.push_str(&format!(
                            "    <testcase classname=\"{suite}.{}\" name=\"{}\">{}</testcase>\n",
                            escape(&a.kind),
                            escape(&a.name),
                            crate::report::junit_body(a.verdict, &a.summary, "")
                        ));
                    }
                    xml.push_str("  </testsuite>\n");
                }
            }
        }
        xml.push_str("</testsuites>\n");
        xml
    }

    /// Features by status: `supported` → [`thrift/split`, …].
    pub fn features_by_status(&self) -> BTreeMap<&'static str, Vec<&str>> {
        let mut by_status: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
        for (name, result) in &self.features {
            by_status.entry(result.status()).or_default().push(name);
        }
        by_status
    }

    /// The summary as Markdown (`index.md`).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Conformance: {} — {}\n\nProxy `{}`, seed {}. {} scenarios: {}.\n\n",
            self.proxy,
            self.verdict.to_string().to_uppercase(),
            self.proxy,
            self.seed,
            self.scenarios.len(),
            counts(&self.scenarios_by_verdict)
        );
        out.push_str("## Features\n\n| feature | status | assertions |\n|---|---|---|\n");
        for (name, result) in &self.features {
            out.push_str(&format!(
                "| {name} | {} | {} |\n",
                result.status(),
                counts(&result.counts)
            ));
        }
        out.push_str(
            "\n## Scenarios\n\n| verdict | scenario | group | report |\n|---|---|---|---|\n",
        );
        for entry in &self.scenarios {
            let report = match &entry.error {
                Some(error) => error.replace('|', "\\|").replace('\n', " "),
                None => format!("[{}]({}/report.md)", entry.folder, entry.folder),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {report} |\n",
                entry.verdict.to_string().to_uppercase(),
                entry.scenario,
                entry.group,
            ));
        }
        out
    }

    /// The summary as one self-contained HTML page (`index.html`) linking
    /// each scenario's `report.html`.
    ///
    /// # Errors
    /// When the template cannot render (a bug, reported rather than hidden).
    pub fn html(&self) -> Result<String, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.add_template("index.html", INDEX_TEMPLATE)?;
        let features: Vec<(&String, &'static str, String)> = self
            .features
            .iter()
            .map(|(name, result)| (name, result.status(), counts(&result.counts)))
            .collect();
        env.get_template("index.html")?.render(minijinja::context! {
            suite => Value::from(Serde(self)),
            verdict => self.verdict.to_string(),
            totals => counts(&self.scenarios_by_verdict),
            features => Value::from(Serde(features)),
            by_status => Value::from(Serde(self.features_by_status())),
        })
    }
}

fn escape(text: &str) -> String {
    crate::report::escape(text)
}

/// `3 pass, 1 fail`.
fn counts(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    parts.join(", ")
}

const INDEX_TEMPLATE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>meshbench conformance: {{ suite.proxy }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
.pass, .supported { color: #1a7f37; font-weight: 600; }
.fail, .error, .failed { color: #cf222e; font-weight: 600; }
.unsupported, .inconclusive { color: #9a6700; font-weight: 600; }
.summary { color: #555; }
</style></head><body>
<h1>Conformance of <code>{{ suite.proxy }}</code>: <span class="{{ verdict }}">{{ verdict | upper }}</span></h1>
<p>{{ suite.scenarios | length }} scenarios ({{ totals }}), seed {{ suite.seed }}.</p>
<h2>Features</h2>
<p>{% for status, names in by_status | items %}<span class="{{ status }}">{{ status }}</span>: {{ names | join(", ") }}<br>{% endfor %}</p>
<table><tr><th>feature</th><th>status</th><th>assertions</th></tr>
{% for name, status, tally in features %}<tr><td>{{ name }}</td><td class="{{ status }}">{{ status }}</td><td>{{ tally }}</td></tr>
{% endfor %}</table>
<h2>Scenarios</h2>
<table><tr><th>verdict</th><th>scenario</th><th>assertions</th></tr>
{% for entry in suite.scenarios %}<tr><td class="{{ entry.verdict }}">{{ entry.verdict | upper }}</td>
<td>{% if entry.error %}{{ entry.scenario }}<br><span class="summary">{{ entry.group }} · could not run: {{ entry.error }}</span>{% else %}<a href="{{ entry.folder }}/report.html">{{ entry.scenario }}</a><br><span class="summary">{{ entry.group }} · {{ entry.description }}</span>{% endif %}</td>
<td>{% for a in entry.assertions %}<span class="{{ a.verdict }}">{{ a.verdict }}</span> <strong>{{ a.name }}</strong> ({{ a.claim }}): {{ a.summary }}<br>{% endfor %}</td></tr>
{% endfor %}</table>
</body></html>
"#;
