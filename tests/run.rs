//! A whole run (fleet, proxy, probe, workload, phases, drain, collection)
//! against the builtin proxy in L7 and L4 mode.

use meshbench_wire::thrift::ServerCodec;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meshbench::adapter;
use meshbench::run::{self, PROBE_PREFIX, Phase, RunSpec, Trigger};
use meshbench_sim::client::thrift::ThriftOptions;
use meshbench_sim::fleet::{Behaviour, ServiceSpec, VersionSpec};
use meshbench_sim::workload::{Budget, Call, ClientPlan, Pace, RequestClass, WorkloadPlan};
use meshbench_wire::Protocol;
use tokio_util::sync::CancellationToken;

const SERVICE: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";

fn destination_rule() -> adapter::Routing {
    typed(serde_json::json!({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
        "metadata": {"name": "dr", "namespace": "meta-thrift"},
        "spec": {"host": SERVICE, "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}
    }))
}

fn typed(object: serde_json::Value) -> adapter::Routing {
    adapter::Routing::from_json(object).expect("a valid routing object")
}

fn to(subset: &str) -> Vec<adapter::Routing> {
    vec![
        typed(serde_json::json!({
            "apiVersion": "metaprotocol.aeraki.io/v1alpha1", "kind": "MetaRouter",
            "metadata": {"name": "route", "namespace": "meta-thrift"},
            "spec": {"hosts": [SERVICE], "routes": [{"name": "all", "route": [{"destination": {"host": SERVICE, "subset": subset}}]}]}
        })),
        destination_rule(),
    ]
}

fn spec(routing: Vec<adapter::Routing>, phases: Vec<Phase>, requests: u64) -> RunSpec<'static> {
    let versions = ["v1", "v2"].map(|v| VersionSpec {
        name: v.into(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour: Behaviour::default(),
    });
    RunSpec {
        services: vec![ServiceSpec {
            service: SERVICE.into(),
            protocol: Protocol::Thrift,
            port: 9090,
            thrift: ServerCodec::DETECT,
            versions: versions.to_vec(),
        }],
        routing,
        proxy: Default::default(),
        phases,
        workload: Box::new(move |listeners| {
            let call = Call::Thrift {
                method: "sayHello".into(),
                name: "Aeraki".into(),
                options: ThriftOptions::default(),
                context: BTreeMap::new(),
            };
            Ok(WorkloadPlan {
                clients: vec![ClientPlan {
                    name: "client".into(),
                    target: *listeners.get(SERVICE).ok_or("no listener")?,
                    authority: None,
                    connections: 4,
                    in_flight: 2,
                    lifetime: None,
                    pause: None,
                    pace: Pace::Closed,
                    budget: Budget {
                        requests: Some(requests),
                        duration: Some(Duration::from_secs(60)),
                    },
                    mix: vec![RequestClass {
                        name: "hello".into(),
                        weight: 1,
                        call,
                    }],
                }],
                request_timeout: Duration::from_secs(10),
                id_prefix: String::new(),
            })
        }),
        warmup: None,
        monitors: Vec::new(),
        seed: 3,
    }
}

/// Pods seen by each client connection.
fn pods_per_connection(collected: &run::Collected) -> BTreeMap<u64, BTreeSet<String>> {
    let mut pods: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for entry in &collected.ledger.entries {
        if let Some(echo) = entry.outcome.served_by() {
            pods.entry(entry.connection)
                .or_default()
                .insert(echo.pod.clone());
        }
    }
    pods
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l7_balances_within_each_connection_and_l4_pins_each_connection() {
    for (name, pods_each) in [("builtin", 2), ("builtin-l4", 1)] {
        let mut proxy = adapter::from_name(name).expect("adapter");
        // No MetaRouter: the default route to every endpoint, round robin.
        let collected = run::execute(
            spec(vec![destination_rule()], vec![], 400),
            proxy.as_mut(),
            run::Placement::default(),
            Default::default(),
            CancellationToken::new(),
        )
        .await
        .expect("runs");
        assert_eq!(collected.ledger.sent, 400);
        assert_eq!(collected.environment, "loopback, fleet in process");
        let per_connection = pods_per_connection(&collected);
        assert_eq!(
            per_connection.len(),
            4,
            "{name}: four long-lived connections"
        );
        // Deterministic either way: round robin per request (L7) alternates
        // the two endpoints; per connection (L4) each connection gets one.
        for (connection, pods) in &per_connection {
            assert_eq!(
                pods.len(),
                pods_each,
                "{name}: connection {connection} saw {pods:?}"
            );
        }
        let probes = collected
            .records
            .iter()
            .filter(|r| {
                r.request_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(PROBE_PREFIX))
            })
            .count();
        assert!(probes >= 1, "the readiness probe reached the fleet");
        assert!(collected.stats.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_shifts_traffic_on_open_connections() {
    let phases = vec![Phase {
        trigger: Trigger::Requests(200),
        routing: to("v2"),
    }];
    let mut proxy = adapter::from_name("builtin").expect("adapter");
    let collected = run::execute(
        spec(to("v1"), phases, 600),
        proxy.as_mut(),
        run::Placement::default(),
        Default::default(),
        CancellationToken::new(),
    )
    .await
    .expect("runs");
    assert_eq!(collected.phases_applied.len(), 1);
    // Requests in flight while the routing changed may be served by either
    // table: they are marked and left out; every other one is exact.
    for phase in [0, 1] {
        assert!(
            collected
                .ledger
                .entries
                .iter()
                .any(|e| e.phase == phase && !e.switching),
            "phase {phase} has unambiguous requests"
        );
    }
    for entry in collected.ledger.entries.iter().filter(|e| !e.switching) {
        let version = entry.outcome.served_by().map(|e| e.version.as_str());
        let expected = if entry.phase == 0 { "v1" } else { "v2" };
        assert_eq!(
            version,
            Some(expected),
            "request {} in phase {}",
            entry.id,
            entry.phase
        );
    }
    let connections: BTreeSet<u64> = collected
        .ledger
        .entries
        .iter()
        .map(|e| e.connection)
        .collect();
    assert_eq!(connections.len(), 4, "no reconnect across the phase");
}

/// The versions that served the requests of a 20/80 split scenario, in
/// send order, through the builtin proxy whose draws take `seed`.
async fn split_sequence(seed: u64) -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/thrift/traffic-split.yaml"),
    )
    .expect("the split scenario")
    .replace("requests: 30000 ", "requests: 2000 ")
    .replace("detect: 2% ", "detect: 10% ");
    let scenario = meshbench_sim::scenario::Scenario::parse(&text, "split.yaml").expect("valid");
    let resolved = meshbench::resolve::resolve(&scenario, seed).expect("resolves");
    let mut proxy = adapter::ProxySpec::Builtin.adapter();
    let collected = run::execute(
        resolved.spec,
        proxy.as_mut(),
        run::Placement::default(),
        Default::default(),
        CancellationToken::new(),
    )
    .await
    .expect("runs");
    let mut entries = collected.ledger.entries;
    entries.sort_by_key(|e| e.order);
    entries
        .iter()
        .filter_map(|e| e.outcome.served_by().map(|echo| echo.version.clone()))
        .collect()
}

/// Defect 10: `--seed` reaches the proxy's weighted draws. One connection
/// with one call in flight draws in send order, so the same seed gives the
/// same versions call by call and another seed other ones (two independent
/// 20/80 sequences of 2,000 agree with probability below 1e-300).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_reaches_the_proxys_draws() {
    let first = split_sequence(1).await;
    assert_eq!(first.len(), 2000);
    assert_eq!(split_sequence(1).await, first, "same seed, same draws");
    assert_ne!(split_sequence(2).await, first, "another seed, other draws");
}

/// One `meshproxy` child at a time: the tests that signal it find it as the
/// only child of this process that is a `meshproxy`.
static ONE_MESHPROXY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `meshproxy` child of this test process, from /proc (the adapter
/// spawned it, so its parent is this process).
fn meshproxy_child() -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(") ")?;
            let parent = rest.split(' ').nth(1)?;
            (name.ends_with("(meshproxy") && parent == me).then_some(pid)
        })
}

/// Issue 16, item 1: `meshproxy` SIGKILLed half-way through a split run
/// used to PASS on the requests that got through. The run now ends in an
/// error that names the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_killed_mid_run_ends_the_run_in_an_error() {
    let _one = ONE_MESHPROXY.lock().await;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/thrift/traffic-split.yaml"),
    )
    .expect("the split scenario");
    let scenario = meshbench_sim::scenario::Scenario::parse(&text, "split.yaml").expect("valid");
    let resolved = meshbench::resolve::resolve(&scenario, 1).expect("resolves");
    let mut proxy = adapter::ProxySpec::BuiltinProcess.adapter();
    let progress = std::sync::Arc::new(meshbench_sim::workload::Progress::default());
    let watched = std::sync::Arc::clone(&progress);
    let killer = tokio::spawn(async move {
        // Bounded: 30 s at most, then the run ends by its budget anyway.
        for _ in 0..3000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if watched.done.load(std::sync::atomic::Ordering::Relaxed) >= 2000 {
                let pid = meshproxy_child().expect("the meshproxy child");
                let killed = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()
                    .expect("kill runs");
                return killed.success();
            }
        }
        false
    });
    let result = run::execute(
        resolved.spec,
        proxy.as_mut(),
        run::Placement::default(),
        progress,
        CancellationToken::new(),
    )
    .await;
    assert!(
        killer.await.expect("the killer ends"),
        "the proxy was killed"
    );
    match result {
        Err(run::RunError::ProxyExited(exit)) => {
            assert!(
                exit.starts_with("meshproxy killed by signal 9 (SIGKILL)"),
                "{exit}"
            );
        }
        Err(other) => panic!("another error: {other}"),
        Ok(collected) => panic!(
            "a verdict from a dead proxy: {} requests",
            collected.ledger.sent
        ),
    }
}

/// Issue 16, item 2: a frozen proxy (SIGSTOP) used to hang the run, every
/// request waiting out its own timeout. With requests in flight and none
/// answered for twice the request timeout (here 1 s, so 2 s), the run stops
/// and ends in an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_proxy_ends_the_run_in_an_error_instead_of_hanging() {
    let _one = ONE_MESHPROXY.lock().await;
    let mut spec = spec(to("v1"), vec![], 100_000);
    let build = spec.workload;
    spec.workload = Box::new(move |listeners| {
        build(listeners).map(|mut plan| {
            plan.request_timeout = Duration::from_secs(1);
            plan
        })
    });
    let mut proxy = adapter::ProxySpec::BuiltinProcess.adapter();
    let progress = std::sync::Arc::new(meshbench_sim::workload::Progress::default());
    let watched = std::sync::Arc::clone(&progress);
    let freezer = tokio::spawn(async move {
        for _ in 0..3000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if watched.done.load(std::sync::atomic::Ordering::Relaxed) >= 500 {
                let pid = meshproxy_child().expect("the meshproxy child");
                return std::process::Command::new("kill")
                    .args(["-STOP", &pid.to_string()])
                    .status()
                    .expect("kill runs")
                    .success();
            }
        }
        false
    });
    let result = run::execute(
        spec,
        proxy.as_mut(),
        run::Placement::default(),
        progress,
        CancellationToken::new(),
    )
    .await;
    assert!(
        freezer.await.expect("the freezer ends"),
        "the proxy was stopped"
    );
    match result {
        Err(run::RunError::Stalled { silence, sent, .. }) => {
            assert!(silence >= Duration::from_secs(2), "{silence:?}");
            assert!(sent < 100_000, "{sent}");
        }
        Err(other) => panic!("another error: {other}"),
        Ok(collected) => panic!("a verdict from a frozen proxy: {}", collected.ledger.sent),
    }
}
