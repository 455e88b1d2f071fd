//! The conformance suite: every scenario file against the builtin proxy, and
//! the negative control that shows the bench catches a broken proxy. Adding
//! a scenario file under scenarios/ adds it to `every_scenario_passes_*`.

use std::path::{Path, PathBuf};

use meshbench::report::Report;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::stats::Verdict;
use tokio_util::sync::CancellationToken;

fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(scenario_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

async fn run(file: &Path, proxy: &str) -> Report {
    let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    meshbench::run_scenario(&scenario, proxy, 1, CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_builtin_proxy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = scenario_files(&dir);
    assert!(
        !files.is_empty(),
        "no scenario files under {}",
        dir.display()
    );
    for file in files {
        let report = run(&file, "builtin").await;
        assert_eq!(
            report.verdict,
            Verdict::Pass,
            "{}\n{}",
            file.display(),
            report.summary()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_level_balancing_fails_through_a_layer_4_proxy_naming_the_pinned_connection() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/thrift/request-level-lb.yaml");
    let report = run(&file, "builtin-l4").await;
    assert_eq!(report.verdict, Verdict::Fail, "{}", report.summary());
    let balanced = &report.assertions[0];
    assert_eq!(balanced.kind, "balanced");
    assert!(
        balanced
            .summary
            .starts_with("1 of 1 connections are not balanced: connection 1: 0/"),
        "{}",
        balanced.summary
    );
    // The CI-facing forms say the same.
    let junit = report.junit();
    assert!(
        junit.contains(r#"failures="1" errors="0" skipped="0""#),
        "{junit}"
    );
    let failure = r#"<testcase classname="balanced" name="balanced over 2 endpoints"><failure message="1 of 1 connections"#;
    assert!(junit.contains(failure), "{junit}");
    let markdown = report.markdown();
    let row = "| FAIL | balanced over 2 endpoints | 1 of 1 connections are not balanced";
    assert!(markdown.contains(row), "{markdown}");
}
