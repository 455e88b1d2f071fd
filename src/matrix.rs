//! Several proxies over the same scenarios: one matrix, scenario × proxy
//! and feature × proxy, every non-pass with its one-line reason and a link
//! to the evidence.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use meshbench_sim::stats::Verdict;

use crate::suite::{Suite, SuiteEntry};

/// One proxy's suite and its folder, relative to the matrix.
#[derive(Debug)]
pub struct Column<'a> {
    /// The suite.
    pub suite: &'a Suite,
    /// Its folder, relative to the matrix file.
    pub folder: String,
}

/// The matrix in Markdown.
pub fn markdown(columns: &[Column]) -> String {
    let mut out = String::from("# Conformance matrix\n\n");
    let proxies: Vec<&str> = columns.iter().map(|c| c.suite.proxy.as_str()).collect();
    let _ = writeln!(
        out,
        "Proxies: {}. Seed {}. A cell links to the scenario's report; every non-pass gives the first assertion that did not pass and why.\n",
        proxies
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", "),
        columns.first().map_or(0, |c| c.suite.seed)
    );
    out.push_str("## Scenarios\n\n");
    header(&mut out, "scenario", &proxies);
    for name in scenario_names(columns) {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                c.suite
                    .scenarios
                    .iter()
                    .find(|e| e.scenario == name)
                    .map_or_else(|| "—".to_owned(), |e| cell(e, &c.folder))
            })
            .collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    out.push_str("\n## Features\n\n");
    header(&mut out, "feature", &proxies);
    let features: BTreeSet<&String> = columns
        .iter()
        .flat_map(|c| c.suite.features.keys())
        .collect();
    for feature in features {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                c.suite
                    .features
                    .get(feature)
                    .map_or_else(|| "—".to_owned(), |f| f.status().to_owned())
            })
            .collect();
        let _ = writeln!(out, "| {feature} | {} |", cells.join(" | "));
    }
    out
}

fn header(out: &mut String, first: &str, proxies: &[&str]) {
    let _ = writeln!(out, "| {first} | {} |", proxies.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(proxies.len()));
}

/// The scenarios of every column, in the order first met.
fn scenario_names<'a>(columns: &[Column<'a>]) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    columns
        .iter()
        .flat_map(|c| c.suite.scenarios.iter().map(|e| e.scenario.as_str()))
        .filter(|name| seen.insert(*name))
        .collect()
}

/// `PASS`, or `FAIL: name — summary`, linked to the report.
fn cell(entry: &SuiteEntry, folder: &str) -> String {
    let verdict = entry.verdict.to_string().to_uppercase();
    let linked = match entry.folder.is_empty() {
        true => verdict,
        false => format!("[{verdict}]({folder}/{}/report.md)", entry.folder),
    };
    if entry.verdict == Verdict::Pass {
        return linked;
    }
    let reason = entry
        .assertions
        .iter()
        .find(|a| a.verdict != Verdict::Pass)
        .map(|a| format!("{}: {}", a.name, a.summary))
        .or_else(|| entry.error.clone())
        .unwrap_or_default();
    format!("{linked} {}", one_line(&reason))
}

/// A reason fit for a table cell: one line, no pipes, at most 200 characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .replace('|', "/")
        .chars()
        .take(200)
        .collect();
    flat
}
