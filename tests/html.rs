//! The HTML report of a real (short) run: one self-contained page with the
//! four plots, the assertions and their verdicts, escaped text and no
//! external resource; and, when Chromium is installed (`.ci/run` installs
//! it, and under `CI=true` it must be there), a headless Chromium renders it
//! to a screenshot and keeps the SVG in its DOM. Set
//! `MESHBENCH_KEEP_SCREENSHOT=/some/file.png` to keep the screenshot and look.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meshbench::report::Report;
use meshbench::report::figures::Figures;
use meshbench_sim::scenario::Scenario;
use tokio_util::sync::CancellationToken;

/// Two v1 pods and one v2 pod, a 50/50 split, then everything to v2 after
/// 400 of 800 requests on three connections: every plot has data, and the
/// description carries markup that must come out escaped.
const SCENARIO: &str = r#"
name: html-report-smoke
description: 'A short run for the HTML report test: <b>50/50</b> & "quoted", then all to v2.'
fleet:
  - service: thrift-sample-server.meta-thrift.svc.cluster.local
    protocol: thrift
    versions:
      v1: { replicas: 2 }
      v2: { replicas: 1 }
routing:
  - apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata: { name: thrift-sample-server, namespace: meta-thrift }
    spec:
      host: thrift-sample-server.meta-thrift.svc.cluster.local
      subsets:
        - { name: v1, labels: { version: v1 } }
        - { name: v2, labels: { version: v2 } }
  - apiVersion: metaprotocol.aeraki.io/v1alpha1
    kind: MetaRouter
    metadata: { name: route, namespace: meta-thrift }
    spec:
      hosts: [thrift-sample-server.meta-thrift.svc.cluster.local]
      routes:
        - name: split
          route:
            - { destination: { host: thrift-sample-server.meta-thrift.svc.cluster.local, subset: v1 }, weight: 50 }
            - { destination: { host: thrift-sample-server.meta-thrift.svc.cluster.local, subset: v2 }, weight: 50 }
phases:
  - name: shift
    at: { requests: 400 }
    routing:
      - apiVersion: metaprotocol.aeraki.io/v1alpha1
        kind: MetaRouter
        metadata: { name: route, namespace: meta-thrift }
        spec:
          hosts: [thrift-sample-server.meta-thrift.svc.cluster.local]
          routes:
            - name: all-v2
              route:
                - { destination: { host: thrift-sample-server.meta-thrift.svc.cluster.local, subset: v2 } }
workload:
  clients:
    - name: smoke
      service: thrift-sample-server.meta-thrift.svc.cluster.local
      connections: 3
      requests: 800
      call: { method: sayHello, name: Aeraki }
expect:
  - split:
      of: { phase: initial }
      to: { v1: 50, v2: 50 }
      detect: 20%
  - routed:
      of: { phase: shift }
      to: v2
      detect: 5%
confidence: { alpha: 1e-3, power: 0.9, detect: 20% }
"#;

/// The sections of the page holding the plots, in order.
const PLOTS: [&str; 4] = ["shares", "connections", "latency", "timeline"];

/// The run's report, made once for all tests (each test has its own
/// runtime; the run is done in one of its own).
fn report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let scenario = Scenario::parse(SCENARIO, "html-report-smoke.yaml")
            .unwrap_or_else(|e| panic!("the test scenario is invalid: {e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime
            .block_on(meshbench::run_scenario(
                &scenario,
                &meshbench::adapter::ProxySpec::Builtin,
                1,
                CancellationToken::new(),
            ))
            .unwrap_or_else(|e| panic!("the test scenario did not run: {e}"))
    })
}

/// What minijinja's HTML autoescape makes of `text`.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The part of the page from `<section id="{id}">` to the next section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section '{id}'"));
    let rest = &html[start..];
    let end = rest[1..].find("<section").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn the_page_has_the_four_plots_and_every_assertion() {
    let report = report();
    assert!(report.assertions.len() >= 2, "{}", report.summary());
    let html = report.html();
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..200]);
    assert_eq!(html.matches("<svg").count(), 4, "one SVG per plot");
    for id in PLOTS {
        let part = section(&html, id);
        assert_eq!(part.matches("<svg").count(), 1, "section {id}");
        assert!(part.contains("</svg>"), "section {id}");
        assert!(!part.contains("No data"), "section {id} has no data");
        assert!(part.contains("<text"), "section {id} has no text");
    }
    let table = section(&html, "assertions");
    for assertion in &report.assertions {
        assert!(
            table.contains(&escaped(&assertion.name)),
            "{}",
            assertion.name
        );
        assert!(
            table.contains(&escaped(&assertion.summary)),
            "{}",
            assertion.summary
        );
    }
    let verdict = format!("{:?}", report.verdict);
    let badge = format!(
        "<span class=\"badge {}\">{}</span>",
        verdict.to_lowercase(),
        verdict.to_uppercase()
    );
    assert!(html.contains(&badge), "no verdict badge {badge}");
    assert_eq!(
        table.matches("<span class=\"badge ").count(),
        report.assertions.len()
    );
    // The phase switch is marked on the timeline.
    assert!(section(&html, "timeline").contains("phase 1"));
}

#[test]
fn the_page_needs_nothing_from_outside_and_escapes_text() {
    let html = report().html();
    for external in [
        "http://", "https://", "<script", "<link", "@import", "url(", "src=",
    ] {
        assert!(!html.contains(external), "the page contains '{external}'");
    }
    assert!(
        html.contains("&lt;b&gt;50&#x2f;50&lt;&#x2f;b&gt; &amp; &quot;quoted&quot;"),
        "the description is not escaped"
    );
    assert!(!html.contains("<b>50/50</b>"));
}

#[test]
fn empty_figures_become_notes_not_panics() {
    let mut report = report().clone();
    report.figures = Figures::default();
    report.assertions.clear();
    let html = report.html();
    assert_eq!(html.matches("<svg").count(), 4);
    for id in PLOTS {
        assert!(section(&html, id).contains("No data"), "section {id}");
    }
    assert!(html.contains("The scenario has no assertions."));
}

#[test]
fn the_json_report_carries_the_figures() {
    let report = report();
    let json = serde_json::to_value(report).expect("the report serialises");
    let figures = &json["figures"];
    assert!(!figures["shares"].as_array().expect("shares").is_empty());
    let connections = &figures["connections"];
    assert_eq!(connections["rows"].as_array().expect("rows").len(), 3);
    assert_eq!(
        connections["endpoints"]
            .as_array()
            .expect("endpoints")
            .len(),
        3
    );
    assert_eq!(connections["omitted"], 0);
    let corrected = figures["latency"]["corrected"].as_array().expect("curve");
    assert_eq!(corrected.len(), 9);
    let timeline = &figures["timeline"];
    assert_eq!(timeline["buckets"].as_array().expect("buckets").len(), 40);
    assert_eq!(
        timeline["phases_seconds"].as_array().expect("phases").len(),
        1
    );
    let served: u64 = report
        .figures
        .timeline
        .buckets
        .iter()
        .flat_map(|b| &b.counts)
        .sum();
    assert_eq!(served, report.sent, "every request is in one bucket");
}

// Headless Chromium.

const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest a Chromium run may take before it is killed.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);

/// Chromium, or its absence handled: under `CI=true` a failure (`.ci/run`
/// installs it), elsewhere a skip with a hint.
fn chromium() -> Option<&'static Path> {
    let path = Path::new(CHROMIUM);
    if path.exists() {
        return Some(path);
    }
    let hint = "install it with `apt-get install -y chromium` (as .ci/run does)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{CHROMIUM} is missing under CI\n{hint}");
    }
    eprintln!("skipped: {CHROMIUM} is missing ({hint})");
    None
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "meshbench-html-{what}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs headless Chromium on `page` with `args`, stdout into `stdout`,
/// killed after [`CHROMIUM_LIMIT`]. Each run gets a fresh profile.
fn run_chromium(chromium: &Path, dir: &Path, page: &Path, args: &[String], stdout: &Path) {
    let profile = dir.join(format!("profile-{}", args.len()));
    let stderr = dir.join("stderr.txt");
    let mut command = tokio::process::Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).expect("a stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("a stderr file"))
        .kill_on_drop(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let status = runtime.block_on(async {
        let mut child = command.spawn().expect("chromium starts");
        tokio::time::timeout(CHROMIUM_LIMIT, child.wait()).await
    });
    // On a timeout the child was dropped, and with it killed.
    let status = status
        .unwrap_or_else(|_| panic!("chromium did not finish within {CHROMIUM_LIMIT:?}"))
        .expect("waiting for chromium");
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "chromium failed: {status}\n{log}");
}

/// The width and height of a PNG, from its IHDR chunk, after checking the
/// signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "not a PNG: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "no IHDR chunk first");
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (word(16), word(20))
}

#[test]
fn headless_chromium_renders_the_page_with_its_plots() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = TempDir::new("chromium");
    let page = dir.0.join("report.html");
    std::fs::write(&page, report().html()).expect("the page is written");

    let shot = dir.0.join("shot.png");
    let screenshot = [
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,2400".to_owned(),
    ];
    run_chromium(
        chromium,
        &dir.0,
        &page,
        &screenshot,
        &dir.0.join("shot.out"),
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&png), (1280, 2400));
    assert!(
        png.len() > 50_000,
        "a nearly blank screenshot: {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("MESHBENCH_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("the screenshot is kept");
    }

    let dom = dir.0.join("dom.html");
    run_chromium(chromium, &dir.0, &page, &["--dump-dom".to_owned()], &dom);
    let dom = std::fs::read_to_string(&dom).expect("chromium dumped the DOM");
    assert_eq!(dom.matches("<svg").count(), 4, "the SVG plots in the DOM");
    for id in PLOTS {
        let part = section(&dom, id);
        assert!(part.contains("<svg"), "section {id} lost its SVG");
        assert!(part.contains("<text"), "section {id} lost its text");
    }
}
