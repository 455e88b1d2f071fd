//! Every proxy adapter through real sockets: start with a fleet, routing and
//! settings, route, apply a phase, report stats, stop. `envoy_findings`:
//! what a real Envoy does that users must know, each reproduced.

#[path = "adapters/envoy_findings.rs"]
mod envoy_findings;

use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;
use std::time::Duration;

use meshbench::adapter::{self, ProxyAdapter, ProxySettings, Service};
use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::Protocol;

const SERVICE: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";

fn routing(subset: &str) -> Vec<adapter::Routing> {
    [
        serde_json::json!({
            "apiVersion": "metaprotocol.aeraki.io/v1alpha1",
            "kind": "MetaRouter",
            "metadata": {"name": "route", "namespace": "meta-thrift"},
            "spec": {"hosts": [SERVICE], "routes": [{"name": "all", "route": [{"destination": {"host": SERVICE, "subset": subset}}]}]}
        }),
        serde_json::json!({
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "DestinationRule",
            "metadata": {"name": "dr", "namespace": "meta-thrift"},
            "spec": {"host": SERVICE, "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}
        }),
    ]
    .into_iter()
    .map(|object| adapter::Routing::from_json(object).expect("a valid object"))
    .collect()
}

async fn fleet() -> Fleet {
    let versions = ["v1", "v2"].map(|v| VersionSpec {
        name: v.into(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour: Behaviour::default(),
    });
    let spec = ServiceSpec {
        service: SERVICE.into(),
        protocol: Protocol::Thrift,
        port: 9090,
        thrift: ServerCodec::DETECT,
        versions: versions.to_vec(),
    };
    Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts")
}

fn services(fleet: &Fleet) -> Vec<Service> {
    vec![Service {
        name: SERVICE.into(),
        protocol: Protocol::Thrift,
        port: 9090,
        thrift: ServerCodec::DETECT,
        endpoints: fleet.endpoints().to_vec(),
    }]
}

async fn version(client: &ThriftClient) -> Option<String> {
    client
        .say_hello("x", None, BTreeMap::new())
        .await
        .expect("answers")
        .echo
        .map(|e| e.version)
}

/// A fleet, the adapter `name` started with `settings` and routing to v1,
/// and a client connected through it whose first call reached v1.
async fn routing_to_v1(
    name: &str,
    settings: ProxySettings,
) -> (Fleet, Box<dyn ProxyAdapter>, ThriftClient) {
    let fleet = fleet().await;
    let mut proxy = adapter::from_name(name).expect("known adapter");
    let listeners = proxy
        .start(&services(&fleet), &routing("v1"), settings)
        .await
        .expect("starts");
    let client = ThriftClient::connect(listeners[SERVICE], ThriftOptions::default())
        .await
        .expect("connects");
    assert_eq!(version(&client).await.as_deref(), Some("v1"), "{name}");
    (fleet, proxy, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_adapters_route_apply_report_and_stop() {
    for name in ["builtin", "builtin-process"] {
        let (fleet, mut proxy, client) = routing_to_v1(name, ProxySettings::default()).await;
        proxy.apply(&routing("v2")).await.expect("applies");
        assert_eq!(
            version(&client).await.as_deref(),
            Some("v2"),
            "{name}: same connection, new routing"
        );
        let refused = proxy
            .apply(&routing("v9"))
            .await
            .expect_err("unknown subset");
        assert!(refused.to_string().contains("'v9'"), "{name}: {refused}");
        let stats = proxy.stats().await.expect("stats");
        assert!(stats.contains("meshproxy_requests_total"), "{name}");
        // In-process, or one child process of its own.
        let processes = proxy.processes().len();
        assert_eq!(processes, usize::from(name == "builtin-process"), "{name}");
        proxy.stop().await;
        assert!(proxy.processes().is_empty(), "{name}: stopped");
        fleet.stop().await;
    }
}

/// The idle timeout of a scenario's `proxy:` block reaches the proxy: a
/// connection left silent well past it is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_adapters_apply_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let settings = ProxySettings {
        idle_timeout: Some(idle),
        seed: None,
        workers: None,
    };
    for name in ["builtin", "builtin-process"] {
        let (fleet, mut proxy, client) = routing_to_v1(name, settings).await;
        tokio::time::sleep(idle * 4).await;
        let closed = client.say_hello("x", None, BTreeMap::new()).await;
        assert!(closed.is_err(), "{name}: still open after {:?}", idle * 4);
        proxy.stop().await;
        fleet.stop().await;
    }
}

#[tokio::test]
async fn the_address_adapter_refuses_phases_and_non_loopback_targets() {
    let fleet = fleet().await;
    let mut user_run = adapter::from_name("address=127.0.0.1:9999").expect("parses");
    let listeners = user_run
        .start(&services(&fleet), &routing("v1"), ProxySettings::default())
        .await
        .expect("starts");
    assert_eq!(listeners[SERVICE].to_string(), "127.0.0.1:9999");
    let error = user_run.apply(&routing("v2")).await.expect_err("no phases");
    assert_eq!(
        error.to_string(),
        "the 'address' adapter cannot change the routing of a proxy it does not run (phases)"
    );
    let mut timed = adapter::from_name("address=127.0.0.1:9999").expect("parses");
    let settings = ProxySettings {
        idle_timeout: Some(Duration::from_secs(2)),
        seed: None,
        workers: None,
    };
    let error = timed
        .start(&services(&fleet), &routing("v1"), settings)
        .await
        .expect_err("cannot set a user-run proxy's idle timeout");
    assert_eq!(
        error.to_string(),
        "the 'address' adapter cannot set the idle timeout (2s) of a proxy it does not run (proxy.idle_timeout)"
    );
    let mut remote = adapter::from_name("address=10.0.0.1:80").expect("parses");
    assert!(
        remote
            .start(&services(&fleet), &routing("v1"), ProxySettings::default())
            .await
            .is_err()
    );
    assert!(adapter::from_name("squid").is_err());
    for (spec, shown) in [
        ("envoy", "envoy"),
        ("envoy-l4", "envoy-l4"),
        ("envoy=/opt/e/envoy", "envoy=/opt/e/envoy"),
        ("envoy:istio=1.23", "envoy:istio=1.23"),
        ("envoy:istio=1.28", "envoy"),
        (
            "envoy-l4:istio=1.24.3=/opt/e/envoy",
            "envoy-l4:istio=1.24=/opt/e/envoy",
        ),
        ("haproxy", "haproxy"),
        ("nginx", "nginx"),
        ("nginx-l4", "nginx-l4"),
        (
            "haproxy-l4=/usr/local/sbin/haproxy",
            "haproxy-l4=/usr/local/sbin/haproxy",
        ),
    ] {
        let parsed: adapter::ProxySpec = spec.parse().expect("parses");
        assert_eq!(parsed.to_string(), shown);
    }
    for wrong in [
        "envoy:istio=1.9",
        "envoy=",
        "envoyx",
        "envoy:istio=1.24/x",
        "haproxy=",
        "haproxyx",
        "nginx-l7",
    ] {
        assert!(wrong.parse::<adapter::ProxySpec>().is_err(), "{wrong}");
    }
    fleet.stop().await;
}

/// The builtin proxy behind an adapter that declares what it cannot do
/// (`feature`, `settings`), as a real adapter declares what its proxy
/// lacks. It applies no phase: a run that asks it to fails.
struct Declaring {
    inner: Box<dyn ProxyAdapter>,
    feature: fn(&adapter::Feature) -> Option<String>,
    settings: fn(&adapter::Setup) -> BTreeMap<adapter::ProxySetting, String>,
}

impl Declaring {
    fn builtin(
        feature: fn(&adapter::Feature) -> Option<String>,
        settings: fn(&adapter::Setup) -> BTreeMap<adapter::ProxySetting, String>,
    ) -> Box<Declaring> {
        Box::new(Declaring {
            inner: adapter::ProxySpec::Builtin.adapter(),
            feature,
            settings,
        })
    }
}

impl ProxyAdapter for Declaring {
    fn name(&self) -> &str {
        "declaring"
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [adapter::Routing],
        settings: ProxySettings,
    ) -> adapter::BoxFuture<'a, Result<adapter::Listeners, adapter::AdapterError>> {
        self.inner.start(services, routing, settings)
    }

    fn apply<'a>(
        &'a mut self,
        _routing: &'a [adapter::Routing],
    ) -> adapter::BoxFuture<'a, Result<(), adapter::AdapterError>> {
        Box::pin(async {
            Err(adapter::AdapterError::Start(
                "a phase was applied to an adapter that applies none".to_owned(),
            ))
        })
    }

    fn stats(&self) -> adapter::BoxFuture<'_, Option<String>> {
        self.inner.stats()
    }

    fn unsupported(&self, feature: &adapter::Feature) -> Option<String> {
        (self.feature)(feature)
    }

    fn unsupported_settings(
        &self,
        setup: &adapter::Setup,
    ) -> BTreeMap<adapter::ProxySetting, String> {
        (self.settings)(setup)
    }

    fn stop(&mut self) -> adapter::BoxFuture<'_, ()> {
        self.inner.stop()
    }
}

/// The seed scenario at `path` run through `adapter`, seed 1.
async fn run_seed_scenario(
    path: &str,
    adapter: Box<dyn ProxyAdapter>,
) -> meshbench::report::Report {
    let scenario = meshbench_sim::scenario::Scenario::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
    )
    .expect("a seed scenario");
    meshbench::run_scenario_on(
        &scenario,
        adapter,
        meshbench::RunOptions {
            seed: 1,
            placement: meshbench::run::Placement::default(),
        },
        Default::default(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("runs")
}

/// What an adapter declares it cannot do, before the run, makes exactly
/// those assertions `unsupported` with its reason; the others are verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_features_are_declared_before_the_run_and_reported_with_the_reason() {
    // As Envoy's thrift_proxy, which mirrors 100% without a runtime key.
    let adapter = Declaring::builtin(
        |feature| {
            (feature.protocol == Protocol::Thrift && feature.kind == "mirrored")
                .then(|| "thrift_proxy mirrors 100% without a runtime key".to_owned())
        },
        |_| BTreeMap::new(),
    );
    let report = run_seed_scenario("scenarios/thrift/mirror.yaml", adapter).await;
    let verdicts: Vec<(&str, meshbench_sim::stats::Verdict, &str)> = report
        .assertions
        .iter()
        .map(|a| (a.kind.as_str(), a.verdict, a.summary.as_str()))
        .collect();
    use meshbench_sim::stats::Verdict;
    assert!(
        verdicts.contains(&(
            "mirrored",
            Verdict::Unsupported,
            "thrift_proxy mirrors 100% without a runtime key"
        )),
        "{verdicts:?}"
    );
    assert!(
        verdicts
            .iter()
            .any(|(kind, verdict, _)| *kind == "routed" && *verdict == Verdict::Pass),
        "{verdicts:?}"
    );
    assert_eq!(report.verdict, Verdict::Unsupported);
}

/// Item 7 of issue 11: a proxy that cannot take the phases' routing is
/// judged on the assertions of the initial phase; the ones that depend on
/// a switch are `unsupported` with the adapter's reason, not the whole
/// scenario "could not run".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_the_adapter_cannot_give_makes_only_the_assertions_needing_it_unsupported() {
    // As `address=` for a proxy the user runs: it cannot change its routing.
    let adapter = Declaring::builtin(
        |_| None,
        |setup| {
            let address = adapter::from_name("address=127.0.0.1:9999").expect("parses");
            address.unsupported_settings(setup)
        },
    );
    let report =
        run_seed_scenario("scenarios/thrift/route-switch-mid-connection.yaml", adapter).await;
    use meshbench_sim::stats::Verdict;
    let verdict = |name: &str| {
        report
            .assertions
            .iter()
            .find(|a| a.name == name)
            .map(|a| (a.verdict, a.summary.clone()))
            .unwrap_or_else(|| panic!("no assertion {name}: {:?}", report.assertions))
    };
    let reason =
        "the 'address' adapter cannot change the routing of a proxy it does not run (phases)";
    assert_eq!(verdict("before-the-switch-v1").0, Verdict::Pass);
    assert_eq!(
        verdict("after-the-switch-v2"),
        (Verdict::Unsupported, reason.to_owned())
    );
    assert_eq!(
        verdict("none-lost"),
        (Verdict::Unsupported, reason.to_owned()),
        "every call of the run spans the switch"
    );
    assert_eq!(report.verdict, Verdict::Unsupported);
}

/// A real Envoy through its adapter: routes, switches routing on a live
/// connection, refuses what the translation finds invalid and what Envoy
/// itself rejects (with Envoy's words), reports its counters and its death.
/// Without an Envoy installed (and `MESHBENCH_REQUIRE_ENVOY` unset, as CI
/// sets it) there is nothing to test and it says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_envoy_adapter_routes_applies_refuses_and_reports_its_death() {
    if let Err(missing) = adapter::envoy::locate() {
        assert!(
            std::env::var_os("MESHBENCH_REQUIRE_ENVOY").is_none(),
            "{missing}"
        );
        eprintln!("no Envoy installed: {missing}");
        return;
    }
    let fleet = fleet().await;
    let mut envoy = adapter::EnvoyAdapter::new(None, adapter::envoy::Layer::Seven);
    let listeners = envoy
        .start(&services(&fleet), &routing("v1"), ProxySettings::default())
        .await
        .expect("starts");
    let client = ThriftClient::connect(listeners[SERVICE], ThriftOptions::default())
        .await
        .expect("connects");
    assert_eq!(version(&client).await.as_deref(), Some("v1"));
    envoy.apply(&routing("v2")).await.expect("applies");
    assert_eq!(
        version(&client).await.as_deref(),
        Some("v2"),
        "same connection, new routing"
    );
    let invalid = envoy
        .apply(&routing("v9"))
        .await
        .expect_err("unknown subset");
    assert!(invalid.to_string().contains("'v9'"), "{invalid}");
    // Passes the translation, fails Envoy's own validation (at most 100).
    let mut rejected = routing("v2");
    rejected[1] = adapter::Routing::from_json(serde_json::json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "dr", "namespace": "meta-thrift"},
        "spec": {"host": SERVICE,
                 "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 1, "maxEjectionPercent": 200}},
                 "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}
    }))
    .expect("a valid object");
    let refused = envoy.apply(&rejected).await.expect_err("Envoy rejects it");
    assert!(
        matches!(refused, adapter::AdapterError::Refused(_))
            && refused
                .to_string()
                .contains("MaxEjectionPercent: value must be less than or equal to 100"),
        "{refused}"
    );
    assert_eq!(
        version(&client).await.as_deref(),
        Some("v2"),
        "the old routing stays"
    );
    let stats = envoy.stats().await.expect("stats");
    assert!(stats.contains("upstream_rq_total"), "{stats:.200}");
    let about = envoy.description().expect("server info");
    assert!(about.starts_with("envoy 1."), "{about}");
    let pid = *envoy.processes().first().expect("running");
    let exit = killed_and_seen(&mut envoy, pid).await;
    assert!(exit.contains("killed by signal 9"), "{exit}");
    envoy.stop().await;
    fleet.stop().await;
}

const WEB: &str = "web.demo.svc.cluster.local";

/// A VirtualService sending every request to `subset` of [`WEB`], with
/// `matched` as its one route's `match` block.
fn web_routing(subset: &str, matched: serde_json::Value) -> Vec<adapter::Routing> {
    [
        serde_json::json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"hosts": ["web"], "http": [{"match": matched, "route": [{"destination": {"host": "web", "subset": subset}}]}]}
        }),
        serde_json::json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"host": "web", "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}
        }),
    ]
    .into_iter()
    .map(|object| adapter::Routing::from_json(object).expect("a valid object"))
    .collect()
}

/// Which version answered `GET /` on `client`, and whether the proxy
/// asked to close the connection.
async fn web_version(client: &meshbench_sim::client::http::HttpClient) -> (String, bool) {
    let (response, reply) = client
        .send(meshbench_wire::http1::Request::new("GET", "/"), None)
        .await
        .expect("answers");
    let closing = response
        .headers
        .get("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    (reply.echo.map(|e| e.version).unwrap_or_default(), closing)
}

/// What a reloading proxy's adapter test checks of it.
struct Reloading<T> {
    /// Its adapter.
    proxy: T,
    /// How many processes it runs with the default settings, master
    /// included.
    processes: usize,
    /// Words of the proxy's own refusal (its config checker).
    refusal: &'static str,
    /// A counter its stats carry.
    counter: &'static str,
    /// How its description starts.
    about: &'static str,
    /// Whether a kept-alive connection gets at most one more answer under
    /// the old routing, marked `Connection: close` (HAProxy); nginx's old
    /// workers serve it for a while longer and then close it abruptly.
    closes_gracefully: bool,
}

/// A real reloading proxy through its adapter: routes, reloads for a phase
/// (a new connection sees the new routing at once), refuses what the
/// translation finds invalid and what the proxy's own checker rejects (with
/// its words), reports its counters and its death.
async fn reloading_proxy_lifecycle<T: ProxyAdapter>(reloading: Reloading<T>) {
    use meshbench_sim::client::http::HttpClient;
    let Reloading {
        mut proxy,
        processes,
        refusal,
        counter,
        about,
        closes_gracefully,
    } = reloading;
    let versions = ["v1", "v2"].map(|v| VersionSpec {
        name: v.into(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour: Behaviour::default(),
    });
    let spec = ServiceSpec {
        service: WEB.into(),
        protocol: Protocol::Http,
        port: 3000,
        thrift: ServerCodec::APACHE,
        versions: versions.to_vec(),
    };
    let fleet = Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts");
    let services = vec![Service {
        name: WEB.into(),
        protocol: Protocol::Http,
        port: 3000,
        thrift: ServerCodec::APACHE,
        endpoints: fleet.endpoints().to_vec(),
    }];
    let every = serde_json::json!([]);
    let listeners = proxy
        .start(
            &services,
            &web_routing("v1", every.clone()),
            ProxySettings::default(),
        )
        .await
        .expect("starts");
    let running = proxy.processes();
    assert_eq!(running.len(), processes, "master and workers: {running:?}");
    let kept = HttpClient::connect(listeners[WEB]).await.expect("connects");
    assert_eq!(web_version(&kept).await, ("v1".to_owned(), false));
    proxy
        .apply(&web_routing("v2", every.clone()))
        .await
        .expect("reloads");
    let fresh = HttpClient::connect(listeners[WEB]).await.expect("connects");
    assert_eq!(web_version(&fresh).await.0, "v2", "a new connection");
    if closes_gracefully {
        let (after, closing) = web_version(&kept).await;
        assert!(
            after == "v2" || (after == "v1" && closing),
            "the kept connection: {after}, closing: {closing}"
        );
        assert_eq!(web_version(&kept).await.0, "v2", "then the new routing");
        assert_eq!(
            kept.reconnects(),
            u64::from(closing),
            "reconnected after a close"
        );
    }
    let invalid = proxy
        .apply(&web_routing("v9", every.clone()))
        .await
        .expect_err("unknown subset");
    assert!(invalid.to_string().contains("'v9'"), "{invalid}");
    // Passes the translation, fails the proxy's own regex compiler.
    let broken = serde_json::json!([{"uri": {"regex": "/(unclosed"}}]);
    let refused = proxy
        .apply(&web_routing("v1", broken))
        .await
        .expect_err("the proxy refuses it");
    assert!(
        matches!(refused, adapter::AdapterError::Refused(_))
            && refused.to_string().contains(refusal),
        "{refused}"
    );
    assert_eq!(web_version(&fresh).await.0, "v2", "the old routing stays");
    let stats = proxy.stats().await.expect("stats");
    assert!(stats.contains(counter), "{stats:.200}");
    let description = proxy.description().expect("version");
    assert!(description.starts_with(about), "{description}");
    assert!(
        description.contains("reloads in force after"),
        "{description}"
    );
    let master = *proxy.processes().first().expect("running");
    assert_eq!(master, running[0], "the master is the one started");
    let exit = killed_and_seen(&mut proxy, master).await;
    assert!(exit.contains("killed by signal 9"), "{exit}");
    proxy.stop().await;
    let mut left = true;
    for _ in 0..200 {
        left = tokio::net::TcpStream::connect(listeners[WEB]).await.is_ok();
        if !left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!left, "a worker still serves after stop");
    assert!(proxy.processes().is_empty(), "none left after stop");
    assert!(gone(&running), "every process ended: {running:?}");
    fleet.stop().await;
}

/// Whether none of `pids` is alive any more (a zombie counts as ended).
fn gone(pids: &[u32]) -> bool {
    pids.iter().all(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, s)| s.trim_start().starts_with('Z'))
        })
    })
}

/// SIGKILLs `pid` and returns how the adapter reports the exit (within 2 s).
async fn killed_and_seen(proxy: &mut impl ProxyAdapter, pid: u32) -> String {
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    for _ in 0..200 {
        if let Some(exit) = proxy.exited() {
            return exit;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the adapter did not see pid {pid} exit");
}

/// Whether a proxy's tests run: installed, or a failure when `required_by` is set.
fn installed(located: Result<std::path::PathBuf, String>, required_by: &str) -> bool {
    match located {
        Ok(_) => true,
        Err(missing) => {
            assert!(std::env::var_os(required_by).is_none(), "{missing}");
            eprintln!("not installed: {missing}");
            false
        }
    }
}

/// HAProxy: a kept connection gets at most one more answer under the old
/// routing, with `Connection: close`, and the client reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_haproxy_adapter_routes_reloads_refuses_and_reports_its_death() {
    if !installed(adapter::haproxy::locate(), "MESHBENCH_REQUIRE_HAPROXY") {
        return;
    }
    reloading_proxy_lifecycle(Reloading {
        proxy: adapter::HaproxyAdapter::new(None, adapter::Layer::Seven),
        processes: 2,
        refusal: "haproxy -c refused",
        counter: "haproxy_frontend_http_requests_total",
        about: "HAProxy version 2.",
        closes_gracefully: true,
    })
    .await;
}

/// nginx, and no worker left behind once its master was killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_adapter_routes_reloads_refuses_and_reports_its_death() {
    if !installed(adapter::nginx::locate(), "MESHBENCH_REQUIRE_NGINX") {
        return;
    }
    reloading_proxy_lifecycle(Reloading {
        proxy: adapter::NginxAdapter::new(None, adapter::Layer::Seven),
        processes: 3,
        refusal: "nginx -t refused",
        counter: "Active connections",
        about: "nginx version: nginx/1.",
        closes_gracefully: false,
    })
    .await;
}

/// nginx as the bench's web server: answers every path with `200 hello`,
/// runs its master and the workers asked for, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_as_a_web_server_answers_and_stops() {
    use meshbench_sim::client::http::HttpClient;
    use meshbench_wire::http1::Request;
    if !installed(adapter::nginx::locate(), "MESHBENCH_REQUIRE_NGINX") {
        return;
    }
    let web = adapter::nginx::WebServer::start(None, 1)
        .await
        .expect("starts");
    let processes = web.processes();
    assert_eq!(processes.len(), 2, "master and one worker: {processes:?}");
    let client = HttpClient::connect(web.address()).await.expect("connects");
    for path in ["/", "/any/path"] {
        let (response, _) = client
            .send(Request::new("GET", path), None)
            .await
            .expect("answers");
        assert_eq!(
            (response.status, &response.body[..]),
            (200, &b"hello\n"[..])
        );
    }
    let address = web.address();
    web.stop().await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
    assert!(gone(&processes), "{processes:?}");
}
