//! Issue 15, the container environment end to end: `meshbench run --env
//! containers` puts every fleet pod in a container of its own on a private
//! Docker network and the proxy in the client pod's container, and takes
//! the same verdicts as on loopback; the layer-4 control fails there for
//! the right reason; and every container and network a run made is gone
//! when it ends, interrupted or not.
//!
//! These tests need a Docker engine (`setup.sh` and `.ci/run` start one).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::Child;

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// One container run at a time: the machine has two cores, and each run
/// starts a container per pod.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The representative subset: a Thrift split and per-request balancing,
/// Dubbo attachment routing, HTTP header routing and mirroring.
const SUBSET: [&str; 5] = [
    "scenarios/thrift/traffic-split.yaml",
    "scenarios/thrift/request-level-lb.yaml",
    "scenarios/dubbo/attachment-routing.yaml",
    "scenarios/http/portal-header-routing.yaml",
    "scenarios/http/mirroring.yaml",
];

/// The longest a run here may take before it is killed and the test fails.
const RUN_WITHIN: Duration = Duration::from_secs(300);

fn scenario(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker command runs (apt-get install docker.io)");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Fails at once, saying what to start, when no engine answers.
fn engine_runs() {
    let answered = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        answered,
        "these tests need a running Docker engine: `bash setup.sh` installs and starts one"
    );
}

/// The containers and networks the run with process id `pid` made that
/// are still there (every name starts `meshbench-<pid>-`).
fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("meshbench-{pid}-");
    let containers = docker(&["ps", "-a", "--format", "{{.Names}}"]);
    let networks = docker(&["network", "ls", "--format", "{{.Name}}"]);
    containers
        .lines()
        .chain(networks.lines())
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// `meshbench ARGS` started, its output discarded; killed if dropped.
fn spawn(args: impl IntoIterator<Item = std::ffi::OsString>) -> Child {
    tokio::process::Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("meshbench run starts")
}

/// Waits for `child` at most [`RUN_WITHIN`], failing the test past that.
async fn wait(child: &mut Child) -> ExitStatus {
    tokio::time::timeout(RUN_WITHIN, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the run took longer than {RUN_WITHIN:?}"))
        .expect("waits")
}

/// `meshbench run FILES --proxy PROXY --out OUT [--env containers]`,
/// waited for; its exit status, and what it left behind.
fn run(files: &[&str], proxy: &str, env: &str, out: &Path) -> (ExitStatus, Vec<String>) {
    let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
    args.extend(files.iter().map(|f| scenario(f).into()));
    args.extend(["--proxy", proxy, "--env", env, "--out"].map(Into::into));
    args.push(out.into());
    block_on(async {
        let mut child = spawn(args);
        let pid = child.id().expect("a running child has a pid");
        let status = wait(&mut child).await;
        (status, leftovers(pid))
    })
}

/// Each report under `out`: (scenario, environment, [(assertion, verdict, summary)]).
type Verdicts = Vec<(String, String, Vec<(String, String, String)>)>;

fn verdicts(out: &Path) -> Verdicts {
    let mut reports: Verdicts = std::fs::read_dir(out)
        .expect("the reports folder")
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("report.json");
            let text = std::fs::read_to_string(path).ok()?;
            let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            let assertions = report["assertions"]
                .as_array()
                .expect("assertions")
                .iter()
                .map(|a| (text(&a["name"]), text(&a["verdict"]), text(&a["summary"])))
                .collect();
            Some((
                text(&report["scenario"]),
                text(&report["environment"]),
                assertions,
            ))
        })
        .collect();
    reports.sort();
    reports
}

/// The verdicts alone, without the words and numbers of the summaries.
fn outcomes(reports: &Verdicts) -> Vec<(String, Vec<(String, String)>)> {
    reports
        .iter()
        .map(|(name, _, assertions)| {
            let verdicts = assertions
                .iter()
                .map(|(a, verdict, _)| (a.clone(), verdict.clone()))
                .collect();
            (name.clone(), verdicts)
        })
        .collect()
}

#[test]
fn the_container_subset_takes_the_verdicts_it_takes_on_loopback() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    engine_runs();
    let out = tempfile::tempdir().expect("a folder");
    let (status, left) = run(&SUBSET, "builtin-process", "containers", out.path());
    assert!(
        status.success(),
        "the subset passes in containers: {status}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
    let in_containers = verdicts(out.path());
    assert_eq!(in_containers.len(), SUBSET.len(), "a report per scenario");
    for (scenario, environment, assertions) in &in_containers {
        assert!(
            environment.starts_with("containers on the private Docker network meshbench-")
                && environment.contains("(10.213."),
            "{scenario} ran in containers: {environment}"
        );
        assert!(!assertions.is_empty(), "{scenario} checks something");
        for (name, verdict, summary) in assertions {
            assert_eq!(verdict, "pass", "{scenario}/{name}: {summary}");
        }
    }
    let loopback = tempfile::tempdir().expect("a folder");
    let (status, _) = run(&SUBSET, "builtin-process", "loopback", loopback.path());
    assert!(status.success(), "the subset passes on loopback: {status}");
    assert_eq!(
        outcomes(&in_containers),
        outcomes(&verdicts(loopback.path())),
        "the same verdicts in containers as on loopback"
    );
}

/// A real Envoy as the client pod's sidecar (in the workload agent's
/// network namespace, its listeners on the pod's address) takes the
/// subset's verdicts: every one passes, as on loopback
/// (`tests/expected/envoy.yaml` lists none of them). Without an Envoy
/// installed, and `MESHBENCH_REQUIRE_ENVOY` unset (CI sets it), there is
/// nothing to run and it says so.
#[test]
fn a_real_envoy_as_the_client_pods_sidecar_takes_the_subsets_verdicts() {
    if let Err(missing) = meshbench::adapter::envoy::locate() {
        assert!(
            std::env::var_os("MESHBENCH_REQUIRE_ENVOY").is_none(),
            "{missing}"
        );
        eprintln!("no Envoy installed: {missing}");
        return;
    }
    // Entering a pod's network namespace takes root (CAP_SYS_ADMIN).
    let enters = Command::new("nsenter")
        .args(["--net=/proc/self/ns/net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !enters {
        assert!(
            std::env::var_os("MESHBENCH_REQUIRE_ENVOY").is_none(),
            "nsenter cannot enter a network namespace here (root is needed)"
        );
        eprintln!("nsenter cannot enter a network namespace here: run as root");
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    engine_runs();
    let out = tempfile::tempdir().expect("a folder");
    let (status, left) = run(&SUBSET, "envoy", "containers", out.path());
    assert!(left.is_empty(), "left behind: {left:?}");
    let reports = verdicts(out.path());
    assert!(
        status.success(),
        "the subset passes through Envoy in containers: {status}: {reports:?}"
    );
    assert_eq!(reports.len(), SUBSET.len(), "a report per scenario");
    for (scenario, environment, assertions) in &reports {
        assert!(
            environment.contains("(10.213."),
            "{scenario} ran in containers: {environment}"
        );
        for (name, verdict, summary) in assertions {
            assert_eq!(verdict, "pass", "{scenario}/{name}: {summary}");
        }
    }
    let notes = std::fs::read_dir(out.path())
        .expect("the run folder")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("report.json")).ok())
        .all(|report| report.contains("in the client pod's network namespace"));
    assert!(notes, "every report says where Envoy ran");
}

/// The negative control: a layer-4 proxy in the same containers keeps
/// every request of a connection on one endpoint, so the within-connection
/// balance fails, and says so.
#[test]
fn the_layer4_control_fails_in_containers_for_the_right_reason() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    engine_runs();
    let out = tempfile::tempdir().expect("a folder");
    let files = ["scenarios/thrift/request-level-lb.yaml"];
    let (status, left) = run(&files, "builtin-l4", "containers", out.path());
    assert_eq!(status.code(), Some(1), "a failed verdict, not an error");
    assert!(left.is_empty(), "left behind: {left:?}");
    let reports = verdicts(out.path());
    let [(_, _, assertions)] = reports.as_slice() else {
        panic!("one report: {reports:?}");
    };
    let [(name, verdict, summary)] = assertions.as_slice() else {
        panic!("one assertion: {assertions:?}");
    };
    assert_eq!(
        (name.as_str(), verdict.as_str()),
        ("even-within-the-connection", "fail")
    );
    assert!(
        summary.contains("connections do not hold the shares") && summary.contains("(0%)"),
        "fails because a connection's requests all went one way: {summary}"
    );
}

/// Ctrl-C mid-run: the run stops and removes every container and the
/// network it made.
#[test]
fn an_interrupted_container_run_removes_its_containers_and_network() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    engine_runs();
    let out = tempfile::tempdir().expect("a folder");
    let args = [
        "run".into(),
        scenario("scenarios/thrift/traffic-split.yaml").into(),
        "--proxy".into(),
        "builtin-process".into(),
        "--env".into(),
        "containers".into(),
        "--out".into(),
        out.path().into(),
    ];
    let (pid, status) = block_on(async {
        let mut child = spawn(args);
        let pid = child.id().expect("a running child has a pid");
        let started = async {
            // The proxy's container is the last one a run starts.
            while !leftovers(pid).iter().any(|name| name.ends_with("-client")) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            () = started => {}
            ended = child.wait() => panic!("the run ended before it was interrupted: {ended:?}"),
            () = tokio::time::sleep(RUN_WITHIN) => panic!("the run never started its proxy"),
        }
        let interrupted = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(interrupted.success());
        (pid, wait(&mut child).await)
    });
    assert_eq!(status.code(), Some(2), "an interrupted run is an error");
    let left = leftovers(pid);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A scenario whose endpoints share state across pods (the tries of
/// `succeed_after`, counted fleet-wide) cannot be split into containers:
/// the run says so and starts nothing, rather than judge a proxy on pods
/// that each count alone.
#[test]
fn fleet_wide_state_is_refused_in_containers_before_anything_starts() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    engine_runs();
    let out = tempfile::tempdir().expect("a folder");
    let child = Command::new(BIN)
        .arg("run")
        .arg(scenario("scenarios/http/retries.yaml"))
        .args(["--proxy", "builtin-process", "--env", "containers", "--out"])
        .arg(out.path())
        .output()
        .expect("meshbench run runs");
    assert_eq!(child.status.code(), Some(2), "an error, not a verdict");
    let said = String::from_utf8_lossy(&child.stdout);
    assert!(
        said.contains("(`succeed_after`), counted over the service's 2 pods")
            && said.contains("run it on loopback"),
        "says why: {said}"
    );
    let reports = verdicts(out.path());
    assert!(reports.is_empty(), "no verdict was taken: {reports:?}");
}
