//! `meshbench validate`, `plan` and `schema` end to end: the real binary on
//! the shipped scenarios and on broken fixtures, checking exit codes (0 ok,
//! 1 invalid, 2 could not run) and that every error names `file:line:col`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn meshbench(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .output()
        .expect("meshbench runs")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory of its own under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("meshbench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creates a scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("writes a fixture");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn traffic_split() -> String {
    std::fs::read_to_string(repo().join("scenarios/thrift/traffic-split.yaml")).expect("reads")
}

/// The 1-based line of `traffic-split.yaml` that contains `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line with {needle:?}"))
}

#[test]
fn the_shipped_scenarios_are_valid() {
    let output = meshbench(&["validate", "scenarios"]);
    let stdout = text(&output.stdout);
    assert_eq!(code(&output), Some(0), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout
            .contains("ok scenarios/thrift/traffic-split.yaml (thrift-traffic-split, 1 assertion)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok scenarios/thrift/request-level-lb.yaml"),
        "{stdout}"
    );
    let one = meshbench(&["validate", "sim/tests/scenarios/everything.yaml"]);
    assert_eq!(code(&one), Some(0), "{}", text(&one.stderr));
}

#[test]
fn broken_scenarios_exit_1_and_name_file_line_and_column() {
    let scratch = Scratch::new("validate-broken");
    let good = traffic_split();
    let cases = [
        (
            "unknown-version.yaml",
            good.replacen("to: { v1: 20, v2: 80 }", "to: { v1: 20, v3: 80 }", 1),
            "to: { v1: 20, v3: 80 }",
            "unknown version 'v3' of service 'thrift-sample-server.meta-thrift.svc.cluster.local'",
        ),
        (
            "unknown-field.yaml",
            good.replacen("in_flight: 1", "inflight: 1", 1),
            "inflight: 1",
            "unknown field 'inflight'",
        ),
        (
            "budget.yaml",
            good.replacen("requests: 30000", "requests: 3000", 1),
            "requests: 3000",
            "budget too small: 'sayhello-20-80' needs 21516 requests, the workload sends about 3000 of them",
        ),
        (
            "weight.yaml",
            good.replacen("weight: 80", "weight: 80%", 1),
            "weight: 80%",
            "weight '80%' is not a whole number",
        ),
        // Defect 7: typos inside routing objects, at the user's position.
        (
            "routing-weigth.yaml",
            good.replacen("              weight: 20", "              weigth: 20", 1),
            "weigth: 20",
            "MetaRouter meta-thrift/test-metaprotocol-thrift-route: unknown field 'weigth'",
        ),
        (
            "routing-exakt.yaml",
            good.replacen("exact: sayHello", "exakt: sayHello", 1),
            "exakt: sayHello",
            "MetaRouter meta-thrift/test-metaprotocol-thrift-route: unknown field 'exakt'",
        ),
        (
            "routing-lables.yaml",
            good.replacen("labels: { version: v1 }", "lables: { version: v1 }", 1),
            "lables: { version: v1 }",
            "DestinationRule meta-thrift/thrift-sample-server: unknown field 'lables'",
        ),
        // Defect 10: what `run` cannot do is not valid.
        (
            "replicas-0.yaml",
            good.replacen("v1: { replicas: 1 }", "v1: { replicas: 0 }", 1),
            "v1: { replicas: 0 }",
            "version 'v1' has 0 replicas",
        ),
        (
            "zero-weights.yaml",
            good.replacen("weight: 20", "weight: 0", 1)
                .replacen("weight: 80", "weight: 0", 1),
            "            - destination:",
            "the weights of a route of MetaRouter meta-thrift/test-metaprotocol-thrift-route add up to 0",
        ),
        (
            "requests-1e12.yaml",
            good.replacen("requests: 30000", "requests: 1000000000000", 1),
            "requests: 1000000000000",
            "the workload sends about 1000000000000 requests, more than the 20000000 one run records",
        ),
    ];
    for (name, contents, marked, message) in &cases {
        let path = scratch.write(name, contents);
        let output = meshbench(&["validate", "--plain", path.to_str().expect("utf-8 path")]);
        let stderr = text(&output.stderr);
        assert_eq!(code(&output), Some(1), "{name}: {stderr}");
        let line = line_of(contents, marked);
        let expected = format!("{}:{line}:", path.display());
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&expected),
            "{name}: expected {expected}…, got {first}"
        );
        assert!(
            first.ends_with(message),
            "{name}: expected …{message}, got {first}"
        );
        let column: usize = first[expected.len()..]
            .split(':')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no column in {first}"));
        let caret = stderr.lines().nth(3).unwrap_or_default();
        assert!(caret.ends_with('^'), "{name}: a caret line: {stderr}");
        assert!(column >= 1, "{name}");
    }
    // A directory with good and bad files: every file checked, exit 1.
    let output = meshbench(&[
        "validate",
        "--plain",
        scratch.0.to_str().expect("utf-8"),
        "scenarios",
    ]);
    assert_eq!(code(&output), Some(1));
    assert!(
        text(&output.stdout).contains(&format!(
            "{} scenarios, {} invalid",
            cases.len() + yaml_files("scenarios"),
            cases.len()
        )),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn unreadable_paths_exit_2() {
    let output = meshbench(&["validate", "scenarios/does-not-exist.yaml"]);
    assert_eq!(code(&output), Some(2));
    assert!(
        text(&output.stderr).contains("does-not-exist.yaml"),
        "{}",
        text(&output.stderr)
    );
    let output = meshbench(&["plan", "scenarios/does-not-exist.yaml"]);
    assert_eq!(code(&output), Some(2));
}

#[test]
fn plan_prints_each_assertions_sample_duration_and_deviation() {
    let output = meshbench(&["plan", "scenarios/thrift/traffic-split.yaml"]);
    let stdout = text(&output.stdout);
    assert_eq!(code(&output), Some(0), "{}", text(&output.stderr));
    let row = stdout
        .lines()
        .find(|l| l.contains("sayhello-20-80"))
        .unwrap_or_else(|| panic!("no row: {stdout}"));
    for cell in [
        "split",
        "21516 requests",
        "~30000",
        "closed loop: depends on latency",
        "±2 points (alpha 1e-6, power 0.99)",
    ] {
        assert!(row.contains(cell), "{cell} missing from {row}");
    }
    let open = meshbench(&["plan", "sim/tests/scenarios/everything.yaml"]);
    let stdout = text(&open.stdout);
    assert!(stdout.contains("open loop at 2000/s"), "{stdout}");
    assert!(stdout.contains("152 requests"), "zero tolerance: {stdout}");

    let scratch = Scratch::new("plan-broken");
    let path = scratch.write(
        "bad.yaml",
        &traffic_split().replacen("requests: 30000", "requests: 3000", 1),
    );
    let output = meshbench(&["plan", path.to_str().expect("utf-8")]);
    assert_eq!(code(&output), Some(1));
    assert!(text(&output.stderr).starts_with(&format!("{}:", path.display())));
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let output = meshbench(&["schema"]);
    assert_eq!(code(&output), Some(0));
    let generated = text(&output.stdout);
    let schema: serde_json::Value = serde_json::from_str(&generated).expect("valid JSON");
    for field in [
        "name",
        "fleet",
        "routing",
        "proxy",
        "workload",
        "phases",
        "expect",
        "confidence",
    ] {
        assert!(
            schema["properties"].get(field).is_some(),
            "the schema lacks {field}"
        );
    }
    let committed = std::fs::read_to_string(Path::new(&repo()).join("scenarios/schema.json"))
        .expect("scenarios/schema.json is committed");
    assert!(
        committed == generated,
        "scenarios/schema.json is stale: run `cargo run -- schema > scenarios/schema.json`"
    );
}

/// How many scenario files a folder holds (recursively), so adding one to
/// scenarios/ does not break the count above.
fn yaml_files(dir: &str) -> usize {
    let mut count = 0;
    let mut pending = vec![std::path::PathBuf::from(dir)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                count += 1;
            }
        }
    }
    count
}

/// Defect 10: a file that is not UTF-8 names the byte and its line and
/// column; an alias bomb is refused in words, with its position.
#[test]
fn hostile_files_get_positions_and_plain_words() {
    let scratch = Scratch::new("validate-hostile");
    let latin1 = scratch.0.join("latin1.yaml");
    std::fs::write(&latin1, b"name: caf\xe9\nfleet: []\n").expect("writes");
    let output = meshbench(&["validate", "--plain", latin1.to_str().expect("utf-8")]);
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{}:1:10: the file is not UTF-8: byte 9 (0xe9) starts no character",
            latin1.display()
        )),
        "{stderr}"
    );
    let mut bomb = String::from(
        "name: bomb\nfleet: []\nworkload: {clients: []}\nexpect: []\nrouting:\n  - &a [x,x,x,x,x,x,x,x,x,x]\n",
    );
    for (prev, cur) in ('a'..'i').zip('b'..'j') {
        bomb.push_str(&format!(
            "  - &{cur} [{}]\n",
            vec![format!("*{prev}"); 10].join(",")
        ));
    }
    let path = scratch.write("bomb.yaml", &bomb);
    let output = meshbench(&["validate", "--plain", path.to_str().expect("utf-8")]);
    let stderr = text(&output.stderr);
    assert_eq!(code(&output), Some(1), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("the document is too large to read: more than 250000 nodes"),
        "{first}"
    );
    assert!(!stderr.contains("Nodes {"), "no Rust debug text: {stderr}");
}

/// Issue 16, item 5: a symlink loop in a scenarios directory used to be
/// walked forever; each directory is now read once.
#[test]
fn a_symlink_loop_in_a_scenarios_directory_is_walked_once() {
    let scratch = Scratch::new("validate-symlink-loop");
    let inner = scratch.0.join("thrift");
    std::fs::create_dir_all(&inner).expect("a folder");
    std::fs::write(inner.join("split.yaml"), traffic_split()).expect("writes");
    std::os::unix::fs::symlink(&scratch.0, inner.join("loop")).expect("a symlink");
    let output = meshbench(&["validate", "--plain", scratch.0.to_str().expect("utf-8")]);
    let stdout = text(&output.stdout);
    assert_eq!(code(&output), Some(0), "{stdout}{}", text(&output.stderr));
    assert_eq!(stdout.matches("ok ").count(), 1, "{stdout}");
}
