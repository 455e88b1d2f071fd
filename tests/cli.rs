//! The `meshbench` binary end to end: `meshbench fleet` runs endpoints and
//! `meshbench call` talks to them, for every request/response protocol.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// A `meshbench fleet` process, killed when dropped.
struct FleetProcess {
    child: Child,
    /// `(pod, address)` of each endpoint, as the command printed them.
    endpoints: Vec<(String, String)>,
}

impl FleetProcess {
    fn start(service: &str, protocol: &str, app: &str, replicas: usize) -> FleetProcess {
        Self::start_with(service, protocol, app, replicas, &[])
    }

    fn start_with(
        service: &str,
        protocol: &str,
        app: &str,
        replicas: usize,
        extra: &[&str],
    ) -> FleetProcess {
        let mut child = Command::new(BIN)
            .args([
                "fleet",
                "--service",
                service,
                "--protocol",
                protocol,
                "--for",
                "30s",
            ])
            .args([
                "--replicas",
                &replicas.to_string(),
                "--label",
                &format!("app={app}"),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("meshbench fleet starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let endpoints = BufReader::new(stdout)
            .lines()
            .take(replicas)
            .map(|line| {
                let line = line.expect("reads an endpoint line");
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields.len(), 4, "endpoint line '{line}'");
                assert_eq!(fields[0], protocol);
                (fields[2].to_owned(), fields[3].to_owned())
            })
            .collect();
        FleetProcess { child, endpoints }
    }
}

impl Drop for FleetProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(args: &[&str]) -> (bool, String) {
    let output = Command::new(BIN)
        .arg("call")
        .args(args)
        .output()
        .expect("meshbench call runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn call_thrift(addr: &str, transport: &str) -> (bool, String) {
    call(&[
        "--protocol",
        "thrift",
        addr,
        "sayHello",
        "Aeraki",
        "--count",
        "2",
        "--transport",
        transport,
    ])
}

#[test]
fn fleet_and_call_talk_thrift() {
    let fleet = FleetProcess::start_with(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        "thrift",
        "thrift-sample-server",
        2,
        &["--thrift", "auto"],
    );
    for (pod, addr) in &fleet.endpoints {
        let ip = addr.split(':').next().unwrap_or_default();
        for transport in ["framed", "unframed"] {
            let (ok, out) = call_thrift(addr, transport);
            assert!(ok, "{out}");
            let expected = format!(
                "ok Hello Aeraki, response from {pod}/{ip} (served by {pod} {addr}, attempt 1)\n"
            );
            assert_eq!(out, expected.repeat(2));
        }
    }
}

/// The default fleet is an Apache Thrift server: unframed binary only, and a
/// framed call has its connection closed unanswered.
#[test]
fn the_default_thrift_fleet_speaks_one_transport() {
    let fleet = FleetProcess::start(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        "thrift",
        "thrift-sample-server",
        1,
    );
    let addr = &fleet.endpoints[0].1;
    let (ok, out) = call_thrift(addr, "unframed");
    assert!(ok, "{out}");
    let (ok, out) = call_thrift(addr, "framed");
    assert!(!ok && !out.contains("ok Hello"), "{out}");
}

#[test]
fn fleet_and_call_talk_dubbo() {
    let fleet = FleetProcess::start(
        "org.apache.dubbo.samples.basic.api.demoservice",
        "dubbo",
        "dubbo-sample-provider",
        1,
    );
    let (pod, addr) = &fleet.endpoints[0];
    assert!(pod.starts_with("dubbo-sample-provider-v1-"), "{pod}");
    let (ok, out) = call(&[
        "--protocol",
        "dubbo",
        addr,
        "sayHello",
        "Aeraki",
        "--header",
        "batchJob=true",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.starts_with(&format!("Ok Hello Aeraki, response from {pod}/")),
        "{out}"
    );
    let (ok, out) = call(&["--protocol", "dubbo", addr, "sayBye", "Aeraki"]);
    assert!(!ok, "an unknown method is a failed call: {out}");
    assert!(out.starts_with("ServiceError no method sayBye"), "{out}");
}

#[test]
fn fleet_and_call_talk_http() {
    let fleet = FleetProcess::start(
        "travels.travel-agency.svc.cluster.local",
        "http",
        "travels",
        1,
    );
    let (pod, addr) = &fleet.endpoints[0];
    let (ok, out) = call(&[
        "--protocol",
        "http",
        addr,
        "GET",
        "/hello?name=Kiali",
        "--count",
        "2",
    ]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().count(), 2);
    assert!(
        out.starts_with(&format!("200 Hello Kiali, response from {pod}/")),
        "{out}"
    );
    let (ok, out) = call(&["--protocol", "http", addr, "GET", "/hello?codes=503"]);
    assert!(!ok);
    assert!(out.starts_with("503 "), "{out}");
}

#[test]
fn call_to_a_closed_port_is_a_clear_error() {
    let output = Command::new(BIN)
        .args(["call", "--protocol", "thrift", "127.0.0.1:9"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("meshbench: cannot connect to 127.0.0.1:9: "),
        "{stderr}"
    );
}

/// `meshbench run DIR --out OUT`: a report folder per scenario, an index over
/// them, and the exit code of the worst verdict.
#[test]
fn run_writes_a_report_per_scenario_and_a_conformance_index() {
    let work = std::env::temp_dir().join(format!("meshbench-cli-run-{}", std::process::id()));
    let scenarios = work.join("scenarios/thrift");
    std::fs::create_dir_all(&scenarios).expect("temp dir");
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/thrift/method-route.yaml"),
    )
    .expect("the method-route scenario");
    std::fs::write(scenarios.join("route.yaml"), &source).expect("write");
    // The same routing, expected to reach v2: the proxy is right, the
    // expectation fails, and the index must say the feature failed.
    let wrong = source
        .replace(
            "name: thrift-method-route",
            "name: thrift-method-route-wrong",
        )
        .replace("      to: v1", "      to: v2");
    std::fs::write(scenarios.join("wrong.yaml"), wrong).expect("write");
    let out = work.join("out");
    let status = Command::new(BIN)
        .args(["run", "--out"])
        .arg(&out)
        .arg(work.join("scenarios"))
        .stdout(Stdio::null())
        .status()
        .expect("meshbench run runs");
    assert_eq!(status.code(), Some(1), "a failed assertion exits 1");
    for scenario in ["thrift-method-route", "thrift-method-route-wrong"] {
        for file in ["report.json", "report.html", "report.md", "junit.xml"] {
            assert!(out.join(scenario).join(file).is_file(), "{scenario}/{file}");
        }
    }
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("conformance.json")).expect("conformance.json"),
    )
    .expect("json");
    assert_eq!(index["verdict"], "fail");
    assert_eq!(index["scenarios_by_verdict"]["pass"], 1);
    assert_eq!(index["scenarios_by_verdict"]["fail"], 1);
    assert_eq!(index["features"]["thrift/routed"]["verdict"], "fail");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(html.contains(r#"href="thrift-method-route-wrong/report.html""#));
    let _ = std::fs::remove_dir_all(&work);
}

/// Defect 5 (errored scenarios vanished) and the path-safety of names: a
/// scenario that does not load and one whose routing the proxy refuses are
/// rows with verdict `error` in every output, the run's verdict is `error`,
/// and a name written as a path lands inside `--out`.
#[test]
fn run_lists_scenarios_that_could_not_run_and_keeps_reports_inside_out() {
    let work = std::env::temp_dir().join(format!("meshbench-cli-errors-{}", std::process::id()));
    let scenarios = work.join("scenarios/thrift");
    std::fs::create_dir_all(&scenarios).expect("temp dir");
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/thrift/method-route.yaml"),
    )
    .expect("the method-route scenario");
    let escaping = source.replace("name: thrift-method-route", "name: ../../escape");
    std::fs::write(scenarios.join("a-route.yaml"), escaping).expect("write");
    std::fs::write(scenarios.join("b-broken.yaml"), "name: broken\nfleet: [\n").expect("write");
    let refused = source
        .replace("name: thrift-method-route", "name: thrift-refused-regex")
        .replace("{ exact: sayHello } } }", "{ regex: \"(\" } } }");
    std::fs::write(scenarios.join("c-refused.yaml"), refused).expect("write");
    let out = work.join("out");
    let output = Command::new(BIN)
        .args(["run", "--out"])
        .arg(&out)
        .arg(work.join("scenarios"))
        .output()
        .expect("meshbench run runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("ERROR: 3 scenarios (2 error, 1 pass)"),
        "{stdout}"
    );
    assert!(
        out.join("escape/report.json").is_file(),
        "the slugged folder"
    );
    assert!(!work.join("escape").exists() && !out.join("../escape").exists());
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("conformance.json")).expect("conformance.json"),
    )
    .expect("json");
    assert_eq!(index["verdict"], "error");
    assert_eq!(index["scenarios_by_verdict"]["error"], 2);
    let rows = index["scenarios"].as_array().expect("scenarios");
    assert_eq!(rows.len(), 3);
    assert!(
        rows[1]["scenario"]
            .as_str()
            .is_some_and(|s| s.ends_with("b-broken.yaml"))
    );
    assert!(rows[1]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(rows[2]["scenario"], "thrift-refused-regex");
    let markdown = std::fs::read_to_string(out.join("index.md")).expect("index.md");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml");
    for text in [&markdown, &html, &junit] {
        assert!(text.contains("b-broken.yaml") && text.contains("thrift-refused-regex"));
    }
    assert_eq!(junit.matches("<error message=").count(), 2, "{junit}");
    assert!(
        junit.contains(r#"name="sayhello-to-v1""#),
        "expectation names: {junit}"
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Defect 6: a proxy address that leads to a fleet started by hand (here,
/// the hand-started endpoint itself) answers with pods this run did not
/// start: every assertion is an error naming them, never a pass.
#[test]
fn answers_from_endpoints_the_run_did_not_start_are_errors() {
    let fleet = FleetProcess::start(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        "thrift",
        "thrift-sample-server",
        1,
    );
    let (pod, addr) = &fleet.endpoints[0];
    let work = std::env::temp_dir().join(format!("meshbench-cli-foreign-{}", std::process::id()));
    let out = work.join("out");
    let output = Command::new(BIN)
        .args(["run", "--out"])
        .arg(&out)
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/thrift/method-route.yaml"),
        )
        .arg(format!("--proxy=address={addr}"))
        .output()
        .expect("meshbench run runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("answers came from endpoints this run did not start"),
        "{stdout}"
    );
    assert!(
        stdout.contains(pod.as_str()),
        "names the pod {pod}: {stdout}"
    );
    assert!(!stdout.contains("PASS sayhello-to-v1"), "{stdout}");
    let _ = std::fs::remove_dir_all(&work);
}

/// Issue 16, item 5: the commands that bind or connect refuse an address
/// outside loopback with a clear message, before doing anything.
#[test]
fn commands_refuse_addresses_off_loopback() {
    let meshproxy = std::path::Path::new(BIN).with_file_name("meshproxy");
    let cases: [(&std::path::Path, &[&str]); 3] = [
        (
            std::path::Path::new(BIN),
            &[
                "call",
                "--protocol",
                "thrift",
                "10.0.0.1:9090",
                "sayHello",
                "x",
            ],
        ),
        (
            std::path::Path::new(BIN),
            &[
                "fleet",
                "--service",
                "a.b",
                "--protocol",
                "thrift",
                "--address",
                "192.168.1.1",
            ],
        ),
        (
            &meshproxy,
            &[
                "--config",
                "r.yaml",
                "--endpoints",
                "e.yaml",
                "--admin",
                "0.0.0.0:15000",
            ],
        ),
    ];
    for (program, args) in cases {
        if !program.exists() {
            panic!("{} is not built", program.display());
        }
        let output = Command::new(program).args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is not a loopback address"),
            "{args:?}: {stderr}"
        );
    }
}

/// Issue 13, item 3: a proxy configured before the run. `meshbench
/// endpoints --fleet-at` prints where the fleet will be; a proxy run by
/// hand (meshproxy, given those endpoints and the scenario's routing) is
/// then judged through `--proxy address=` with the same `--fleet-at`.
#[test]
fn a_proxy_configured_before_the_run_is_judged_at_the_fleet_it_was_given() {
    let scenario_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/http/greeter-traffic-split.yaml");
    let fleet_at = format!("127.0.{}.1", 150 + std::process::id() % 100);
    let work = std::env::temp_dir().join(format!("meshbench-cli-byhand-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("a work folder");
    let endpoints = Command::new(BIN)
        .args(["endpoints", "--fleet-at", &fleet_at])
        .arg(&scenario_file)
        .output()
        .expect("meshbench endpoints runs");
    assert!(endpoints.status.success(), "{endpoints:?}");
    let listed = String::from_utf8_lossy(&endpoints.stdout).into_owned();
    assert!(
        listed.contains(&format!("address: {fleet_at}:3000")),
        "{listed}"
    );
    std::fs::write(work.join("endpoints.yaml"), &listed).expect("writes");
    let scenario = meshbench_sim::scenario::Scenario::load(&scenario_file).expect("loads");
    let routing: Vec<String> = scenario
        .routing_in_phase(0)
        .iter()
        .map(|o| o.to_json().to_string())
        .collect();
    std::fs::write(work.join("routing.yaml"), routing.join("\n---\n")).expect("writes");
    let meshproxy = std::path::Path::new(BIN).with_file_name("meshproxy");
    let mut proxy = Command::new(&meshproxy)
        .arg("--config")
        .arg(work.join("routing.yaml"))
        .arg("--endpoints")
        .arg(work.join("endpoints.yaml"))
        .args(["--admin", "127.0.0.1:0", "--for", "60s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("meshproxy starts");
    let stdout = proxy.stdout.take().expect("piped");
    let listener = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("greeter-service.default.svc.cluster.local ")
                .map(str::to_owned)
        })
        .expect("meshproxy names its listener");
    let output = Command::new(BIN)
        .args([
            "run",
            "--fleet-at",
            &fleet_at,
            "--ready-within",
            "20s",
            "--out",
        ])
        .arg(work.join("out"))
        .arg(&scenario_file)
        .arg(format!("--proxy=address={listener}"))
        .output()
        .expect("meshbench run runs");
    let _ = proxy.kill();
    let _ = proxy.wait();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("PASS greeter-90-10"), "{said}");
    let report = std::fs::read_dir(work.join("out"))
        .expect("reports")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("report.md")).ok())
        .next()
        .expect("a report.md");
    assert!(
        report.contains(&format!("loopback, fleet in process from {fleet_at}")),
        "the report says where the run happened: {report}"
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Issue 15, what a cluster run's pods run, here on loopback: `meshbench
/// fleet --scenario --pod-ip` serves one version as the scenario file
/// describes it on the address given, and `meshbench workload` sends the
/// scenario's workload there and prints one ledger entry per request; a
/// workload target off loopback is refused without `--in-pod`.
#[test]
fn the_pod_commands_serve_a_version_and_log_every_request_of_the_workload() {
    const SERVICE: &str = "greeter.pods.svc.cluster.local";
    let work = tempfile::tempdir().expect("a temporary directory");
    let file = work.path().join("pods.yaml");
    std::fs::write(
        &file,
        format!(
            "name: pods
fleet:
  - service: {SERVICE}
    protocol: http
    port: 3000
    versions:
      v1: {{ replicas: 3, labels: {{ tier: web }} }}
      v2: {{ replicas: 1 }}
workload:
  clients:
    - name: client
      service: {SERVICE}
      connections: 2
      requests: 500
      call: {{ path: /hello }}
expect:
  - routed: {{ to: v1 }}
"
        ),
    )
    .expect("writes the scenario");
    let mut fleet = Command::new(BIN)
        .args(["fleet", "--scenario"])
        .arg(&file)
        .args([
            "--service",
            SERVICE,
            "--version",
            "v1",
            "--pod-ip",
            "127.0.77.1",
        ])
        .args(["--records-on", "127.0.77.1:9966", "--for", "30s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("meshbench fleet starts");
    let stdout = fleet.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let endpoint = lines.next().expect("an endpoint line").expect("reads it");
    let fields: Vec<&str> = endpoint.split(' ').collect();
    assert_eq!(fields.len(), 4, "{endpoint}");
    assert_eq!(
        (fields[0], fields[1], fields[3]),
        ("http", SERVICE, "127.0.77.1:3000"),
        "one endpoint of the scenario's service, on the pod's address"
    );
    let records_at = lines.next().expect("the records line").expect("reads it");
    assert_eq!(records_at, "records http://127.0.77.1:9966/records");
    let output = Command::new(BIN)
        .arg("workload")
        .arg(&file)
        .arg(format!("--to={SERVICE}=127.0.77.1:3000"))
        .output()
        .expect("meshbench workload runs");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let records = runtime
        .block_on(meshbench_sim::fleet::agent::fetch_records(
            "127.0.77.1:9966".parse().expect("an address"),
        ))
        .expect("the fleet's records");
    let _ = fleet.kill();
    let _ = fleet.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (ledger, notes) = meshbench_sim::workload::agent::ledger_of_log(&stdout)
        .expect("the log reads back into a whole ledger");
    assert!(
        notes.is_empty(),
        "standard output holds only the events: {notes:?}"
    );
    assert_eq!(ledger.sent, 500);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("{\"ended\":"))
            .count(),
        500,
        "every request sent is one line"
    );
    let served_by_v1 = ledger
        .entries
        .iter()
        .filter(|e| {
            e.outcome
                .served_by()
                .is_some_and(|echo| echo.version == "v1")
        })
        .count();
    assert_eq!(served_by_v1, 500, "all answered by the version");
    let sent: std::collections::BTreeSet<&str> =
        ledger.entries.iter().map(|e| e.id.as_str()).collect();
    let received: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.request_id.as_deref())
        .collect();
    let cut = stdout.lines().take(300).collect::<Vec<_>>().join("\n");
    assert!(
        matches!(
            meshbench_sim::workload::agent::ledger_of_log(&cut),
            Err(meshbench_sim::workload::agent::AgentError::Lost(_))
        ),
        "a log cut short lost requests"
    );
    assert_eq!(records.len(), 500, "the fleet agent reports every arrival");
    assert_eq!(sent, received, "the same requests, seen from both ends");
    let off = Command::new(BIN)
        .arg("workload")
        .arg(&file)
        .arg(format!("--to={SERVICE}=10.0.0.1:3000"))
        .output()
        .expect("meshbench workload runs");
    assert_eq!(off.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&off.stderr).contains("is not a loopback address"));
    // What the file says of the service is not overridden by a flag.
    let overridden = Command::new(BIN)
        .args(["fleet", "--scenario"])
        .arg(&file)
        .args(["--service", SERVICE, "--port", "1"])
        .output()
        .expect("meshbench fleet runs");
    assert_eq!(overridden.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&overridden.stderr).contains("cannot be used with"));
}

/// `meshbench workload --serve`, killed when dropped, and where it serves.
struct WorkloadAgent {
    child: Child,
    addr: String,
}

impl WorkloadAgent {
    fn start() -> WorkloadAgent {
        let mut child = Command::new(BIN)
            .args(["workload", "--serve", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("meshbench workload --serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let line = BufReader::new(stdout)
            .lines()
            .next()
            .expect("a first line")
            .expect("reads it");
        let addr = line
            .strip_prefix(meshbench_sim::workload::agent::READY)
            .unwrap_or_else(|| panic!("'{line}' says where the agent serves"))
            .to_owned();
        WorkloadAgent { child, addr }
    }
}

impl Drop for WorkloadAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 15, the workload agent: a scenario whose routing changes mid-run
/// takes the same verdicts with its workload in another process as in the
/// runner's own, every request accounted for, the routing change stamped
/// on requests only once the agent confirmed it; and an agent refuses to
/// serve off loopback unless it is in a pod.
#[test]
fn a_run_on_a_workload_agent_takes_the_verdicts_of_a_run_in_process() {
    let agent = WorkloadAgent::start();
    let work = tempfile::tempdir().expect("a temporary directory");
    // A routing change mid-run, and a sequential test that stops the
    // workload once decided: both cross between runner and agent.
    let scenarios = [
        "scenarios/thrift/route-switch-mid-connection.yaml",
        "scenarios/thrift/traffic-split-sequential.yaml",
    ]
    .map(|file| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file));
    let verdicts = |out: &std::path::Path, extra: &[&str]| {
        let status = Command::new(BIN)
            .arg("run")
            .args(&scenarios)
            .arg("--out")
            .arg(out)
            .args(extra)
            .stdout(Stdio::null())
            .status()
            .expect("meshbench run runs");
        let mut reports: Vec<serde_json::Value> = std::fs::read_dir(out)
            .expect("the run folder")
            .filter_map(|entry| {
                let path = entry.ok()?.path().join("report.json");
                let text = std::fs::read_to_string(path).ok()?;
                serde_json::from_str(&text).ok()
            })
            .collect();
        reports.sort_by_key(|r| r["scenario"].as_str().unwrap_or_default().to_owned());
        let assertions: Vec<(String, String)> = reports
            .iter()
            .flat_map(|report| report["assertions"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
                (text(&a["name"]), text(&a["verdict"]))
            })
            .collect();
        (status.code(), assertions, reports)
    };
    let (code_here, here, _) = verdicts(&work.path().join("here"), &[]);
    let (code_there, there, reports) = verdicts(
        &work.path().join("there"),
        &["--workload-at", agent.addr.as_str()],
    );
    assert_eq!(code_here, Some(0), "{here:?}");
    assert_eq!(here.len(), 4, "{here:?}");
    assert_eq!((code_there, &there), (code_here, &here));
    let sequential = &reports[1];
    assert!(
        sequential["sent"]
            .as_u64()
            .is_some_and(|sent| sent < 21_516),
        "the agent stopped once the sequential test decided: {} sent",
        sequential["sent"]
    );
    assert!(
        reports[0]["environment"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("the workload on the agent at {}", agent.addr))),
        "{}",
        reports[0]["environment"]
    );
    let off = Command::new(BIN)
        .args(["workload", "--serve", "10.0.0.1:9977"])
        .output()
        .expect("meshbench workload runs");
    assert_eq!(off.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&off.stderr).contains("is not a loopback address"));
}

/// Issue 15: `meshbench kind up` and `down` say every command they run,
/// in order (`--dry-run` runs none), and `kind run` without a cluster to
/// reach says so before anything else.
#[test]
fn kind_up_and_down_print_their_steps_and_run_needs_a_cluster() {
    let up = Command::new(BIN)
        .args(["kind", "up", "--dry-run", "--aeraki", "/src/aeraki"])
        .output()
        .expect("meshbench kind up runs");
    assert!(up.status.success());
    let commands: Vec<String> = String::from_utf8_lossy(&up.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        commands,
        [
            "kind create cluster --name meshbench --config kind/cluster.yaml",
            "docker build -f kind/Dockerfile -t meshbench:dev .",
            "kind load docker-image meshbench:dev --name meshbench",
            "istioctl install -y --set profile=default --set meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE=true",
            "(cd /src/aeraki && make install)",
            "kubectl -n istio-system rollout status deployment/aeraki --timeout=300s",
        ]
    );
    // `… --dry-run | head -1`: a reader that goes away ends the command
    // quietly, as it does every other command's output.
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/thrift/traffic-split.yaml");
    // Twenty files' manifests, more than a pipe holds, so the writer
    // meets the closed pipe.
    let mut dry = Command::new(BIN)
        .args(["kind", "run", "--dry-run"])
        .args(std::iter::repeat_n(&scenario, 20))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshbench kind run --dry-run starts");
    let first = BufReader::new(dry.stdout.take().expect("piped stdout"))
        .lines()
        .next()
        .expect("a line")
        .expect("reads it");
    assert!(first.starts_with("# meshbench kind run"), "{first}");
    let ended = dry.wait_with_output().expect("ends");
    assert!(
        ended.status.success(),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    let down = Command::new(BIN)
        .args(["kind", "down", "--dry-run", "--name", "other"])
        .output()
        .expect("meshbench kind down runs");
    assert!(down.status.success());
    assert!(String::from_utf8_lossy(&down.stdout).contains("kind delete cluster --name other"));
    let home = tempfile::tempdir().expect("a temporary directory");
    let run = Command::new(BIN)
        .args(["kind", "run"])
        .arg(&scenario)
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("no-such-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("meshbench kind run runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("no cluster to reach"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
