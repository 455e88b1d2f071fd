//! Route actions and cluster policies: timeouts (a window, never a speed
//! target), retries, faults, circuit breaking and outlier detection.

use std::time::Duration;

use meshbench_sim::fleet::{Latency, Probability};
use tokio::time::Instant;

use super::support::*;

const HTTP: &str = "travels.travel-agency.svc.cluster.local";
const THRIFT: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";
const DUBBO: &str = "org.apache.dubbo.samples.basic.api.demoservice";

fn slow(delay: Duration) -> Behaviour {
    Behaviour {
        latency: Latency::Fixed(delay),
        ..Behaviour::default()
    }
}

#[tokio::test]
async fn a_route_timeout_fires_no_earlier_than_its_value_and_well_before_the_delay() {
    let fleet = fleet_with(
        HTTP,
        Protocol::Http,
        &[("v1", slow(Duration::from_secs(3)))],
        1,
    )
    .await;
    let mut timed = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    timed.timeout = Some(Duration::from_millis(200));
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Http,
        vec![route("timed", vec![], timed)],
    ))
    .await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let started = Instant::now();
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answers");
    let waited = started.elapsed();
    assert_eq!(response.status, 504);
    assert_eq!(&response.body[..], b"upstream request timeout");
    // The window the route defines: never before 200 ms; the backend would
    // take 3 s, so anything under 2.5 s shows the timer fired (generous slack).
    assert!(
        waited >= Duration::from_millis(200),
        "fired early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(2500),
        "did not fire: {waited:?}"
    );
    assert_eq!(proxy.stats().total("meshproxy_timeouts_total"), 1);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn thrift_and_dubbo_timeouts_answer_with_the_protocols_error() {
    let thrift_fleet = fleet_with(
        THRIFT,
        Protocol::Thrift,
        &[("v1", slow(Duration::from_secs(3)))],
        1,
    )
    .await;
    let mut timed = forward(vec![(cluster_name(&thrift_fleet, "v1"), 1)]);
    timed.timeout = Some(Duration::from_millis(100));
    let (proxy, addr) = start(table(
        &thrift_fleet,
        Protocol::Thrift,
        vec![route("timed", vec![], timed.clone())],
    ))
    .await;
    let client = ThriftClient::connect(addr, ThriftOptions::default())
        .await
        .expect("connects");
    let reply = client
        .say_hello("x", None, BTreeMap::new())
        .await
        .expect("answers");
    assert_eq!(
        (reply.success, reply.code.as_str(), reply.text.as_str()),
        (
            false,
            "InternalError",
            "meshproxy: upstream request timeout"
        )
    );
    proxy.stop().await;
    thrift_fleet.stop().await;

    let dubbo_fleet = fleet_with(
        DUBBO,
        Protocol::Dubbo,
        &[("v1", slow(Duration::from_secs(3)))],
        1,
    )
    .await;
    timed.clusters = WeightedClusters::single(cluster_name(&dubbo_fleet, "v1"));
    let (proxy, addr) = start(table(
        &dubbo_fleet,
        Protocol::Dubbo,
        vec![route("timed", vec![], timed)],
    ))
    .await;
    let client = DubboClient::connect(addr).await.expect("connects");
    let reply = client
        .call(DEMO_SERVICE, "sayHello", "x", None, &[])
        .await
        .expect("answers");
    assert_eq!(
        (reply.success, reply.code.as_str()),
        (false, "ServerTimeout")
    );
    proxy.stop().await;
    dubbo_fleet.stop().await;
}

/// One endpoint that fails the first `failures` tries of every request,
/// behind a proxy whose only route retries as `retry_on` says.
async fn flaky_behind_retries(
    service: &str,
    protocol: Protocol,
    failures: u32,
    (attempts, retry_on, codes): (u32, &str, &[u16]),
) -> (Fleet, Proxy, SocketAddr) {
    let flaky = Behaviour {
        succeed_after: failures,
        ..Behaviour::default()
    };
    let fleet = fleet_with(service, protocol, &[("v1", flaky)], 1).await;
    let mut retried = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    retried.retries = Some(RetryPolicy {
        attempts,
        per_try_timeout: None,
        retry_on: vec![retry_on.to_owned()],
        retriable_status_codes: codes.to_vec(),
    });
    let routes = vec![route("retried", vec![], retried)];
    let (proxy, addr) = start(table(&fleet, protocol, routes)).await;
    (fleet, proxy, addr)
}

#[tokio::test]
async fn retries_reach_a_backend_that_succeeds_after_two_attempts() {
    let (fleet, proxy, addr) =
        flaky_behind_retries(THRIFT, Protocol::Thrift, 2, (3, "5xx", &[])).await;
    let client = ThriftClient::connect(addr, ThriftOptions::default())
        .await
        .expect("connects");
    for i in 0..5 {
        let reply = client
            .say_hello("x", Some(&format!("r-{i}")), BTreeMap::new())
            .await
            .expect("answers");
        assert!(reply.success, "{reply:?}");
        assert_eq!(
            reply.echo.map(|e| e.attempt),
            Some(3),
            "two failed tries, then the third"
        );
    }
    assert_eq!(proxy.stats().total("meshproxy_retries_total"), 10);
    assert_eq!(fleet.collector().len(), 15);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn without_a_matching_retry_condition_the_error_comes_back() {
    // The fleet answers 503: retried under gateway-error, not under connect-failure.
    let (fleet, proxy, addr) =
        flaky_behind_retries(HTTP, Protocol::Http, 1, (2, "connect-failure", &[])).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, _) = client
        .send(Request::new("GET", "/hello"), Some("once"))
        .await
        .expect("answers");
    assert_eq!(response.status, 503);
    assert_eq!(proxy.stats().total("meshproxy_retries_total"), 0);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_status_written_in_retry_on_is_retried() {
    let retry_on = (1, "retriable-status-codes", &[503][..]);
    let (fleet, proxy, addr) = flaky_behind_retries(HTTP, Protocol::Http, 1, retry_on).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, reply) = client
        .send(Request::new("GET", "/hello"), Some("twice"))
        .await
        .expect("answers");
    assert_eq!(response.status, 200);
    assert_eq!(reply.echo.map(|e| e.attempt), Some(2), "the 503, then this");
    assert_eq!(proxy.stats().total("meshproxy_retries_total"), 1);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn istio_default_retries_take_a_connect_failure_to_another_endpoint() {
    let fleet = fleet(HTTP, Protocol::Http, &["v1"]).await;
    let dead = {
        let gone = tokio::net::TcpListener::bind((LOOPBACK, 0))
            .await
            .expect("binds");
        gone.local_addr().expect("has an address")
    };
    let mut default_retries = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    default_retries.retries = Some(RetryPolicy::istio_default());
    let mut table = table(
        &fleet,
        Protocol::Http,
        vec![route("r", vec![], default_retries)],
    );
    for cluster in table.clusters.values_mut() {
        cluster.endpoints.push(dead);
    }
    let (proxy, addr) = start(table).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    for i in 0..10 {
        let (response, _) = client
            .send(Request::new("GET", "/hello"), Some(&format!("d-{i}")))
            .await
            .expect("answers");
        assert_eq!(
            response.status, 200,
            "request {i} was not retried elsewhere"
        );
    }
    // Round robin sends at least every other first try to the dead endpoint.
    assert!(proxy.stats().total("meshproxy_retries_total") >= 5);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn faults_abort_with_the_configured_status_and_delay_by_the_configured_time() {
    let fleet = fleet(HTTP, Protocol::Http, &["v1"]).await;
    let mut aborted = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    aborted.fault = Some(Fault {
        delay: None,
        abort: Some((
            meshbench_proxy_under_test::route::Abort::Http(418),
            1_000_000,
        )),
    });
    let mut delayed = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    delayed.fault = Some(Fault {
        delay: Some((Duration::from_millis(300), 1_000_000)),
        abort: None,
    });
    let routes = vec![
        route("abort", vec![exact(PATH, "/abort")], aborted),
        route("delay", vec![], delayed),
    ];
    let (proxy, addr) = start(table(&fleet, Protocol::Http, routes)).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, _) = client
        .send(Request::new("GET", "/abort"), None)
        .await
        .expect("answers");
    assert_eq!(
        (response.status, &response.body[..]),
        (418, &b"fault filter abort"[..])
    );
    assert_eq!(
        fleet.collector().len(),
        0,
        "an aborted request never reaches the backend"
    );
    let started = Instant::now();
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answers");
    assert_eq!(response.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the delay is never shorter than configured"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn the_circuit_breaker_admits_max_connections_plus_pending_and_overflows_the_rest() {
    // Requests are held 2 s at the backend, so all 10 arrive while the first
    // is still in flight: 1 in flight + 1 pending admitted, 8 overflow.
    let fleet = fleet_with(
        HTTP,
        Protocol::Http,
        &[("v1", slow(Duration::from_secs(2)))],
        1,
    )
    .await;
    let mut table = table(
        &fleet,
        Protocol::Http,
        vec![route(
            "r",
            vec![],
            forward(vec![(cluster_name(&fleet, "v1"), 1)]),
        )],
    );
    for cluster in table.clusters.values_mut() {
        cluster.pool = PoolLimits {
            max_connections: Some(1),
            max_pending_requests: Some(1),
            ..PoolLimits::default()
        };
    }
    let (proxy, addr) = start(table).await;
    let mut calls = Vec::new();
    for _ in 0..10 {
        calls.push(tokio::spawn(async move {
            let client = HttpClient::connect(addr).await.expect("connects");
            let (response, _) = client
                .send(Request::new("GET", "/hello"), None)
                .await
                .expect("answers");
            (
                response.status,
                response
                    .headers
                    .get("x-envoy-overloaded")
                    .map(str::to_owned),
            )
        }));
    }
    let mut outcomes = BTreeMap::new();
    for call in calls {
        *outcomes.entry(call.await.expect("call task")).or_insert(0) += 1;
    }
    let expected = BTreeMap::from([((200, None), 2), ((503, Some("true".to_owned())), 8)]);
    assert_eq!(outcomes, expected);
    assert_eq!(proxy.stats().total("meshproxy_overflow_total"), 8);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn outlier_detection_ejects_the_failing_endpoint() {
    let broken = Behaviour {
        error_rate: Probability::new(1.0).expect("p"),
        ..Behaviour::default()
    };
    let fleet = fleet_with(
        DUBBO,
        Protocol::Dubbo,
        &[("good", Behaviour::default()), ("bad", broken)],
        1,
    )
    .await;
    // One cluster holding both endpoints, ejecting after one error.
    let mut table = table(&fleet, Protocol::Dubbo, vec![]);
    let endpoints: Vec<_> = fleet.endpoints().iter().map(|e| e.identity.addr).collect();
    let mut cluster = table.clusters.values().next().cloned().expect("a cluster");
    cluster.name = "outbound|9000||svc".into();
    cluster.endpoints = endpoints;
    cluster.outlier = Some(OutlierDetection {
        consecutive_errors: Some(1),
        consecutive_gateway_errors: None,
        interval: Duration::from_secs(1),
        base_ejection_time: Duration::from_secs(60),
        max_ejection_percent: 100,
    });
    table.clusters.insert(cluster.name.clone(), cluster);
    table.listeners[0].routes = vec![route(
        "all",
        vec![],
        forward(vec![("outbound|9000||svc".into(), 1)]),
    )];
    let (proxy, addr) = start(table).await;
    let client = DubboClient::connect(addr).await.expect("connects");
    let mut failures = 0;
    for _ in 0..20 {
        let reply = client
            .call(DEMO_SERVICE, "sayHello", "x", None, &[])
            .await
            .expect("answers");
        failures += usize::from(!reply.success);
    }
    // Round robin alternates, so the bad endpoint is reached exactly once
    // (the second request) and ejected by that one error.
    assert_eq!(failures, 1, "{}", proxy.stats().render());
    assert_eq!(proxy.stats().total("meshproxy_ejections_total"), 1);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn max_requests_per_connection_opens_a_new_upstream_connection() {
    let fleet = fleet(HTTP, Protocol::Http, &["v1"]).await;
    let mut table = table(
        &fleet,
        Protocol::Http,
        vec![route(
            "r",
            vec![],
            forward(vec![(cluster_name(&fleet, "v1"), 1)]),
        )],
    );
    for cluster in table.clusters.values_mut() {
        cluster.pool.max_requests_per_connection = Some(2);
    }
    let (proxy, addr) = start(table).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let mut upstream_connections = Vec::new();
    for _ in 0..6 {
        let (_, reply) = client
            .send(Request::new("GET", "/hello"), None)
            .await
            .expect("answers");
        upstream_connections.push(reply.echo.expect("echo").connection);
    }
    assert_eq!(upstream_connections, vec![1, 1, 2, 2, 3, 3]);
    proxy.stop().await;
    fleet.stop().await;
}
