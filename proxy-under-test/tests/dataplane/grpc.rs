//! gRPC through the proxy: local answers carry the gRPC status Envoy's do,
//! calls share one HTTP/2 connection each way, and a connection that is not
//! HTTP/2 is closed. Every property here is deterministic.

use meshbench_sim::client::grpc::{Call, GrpcClient};
use meshbench_wire::grpc::greeter;

use super::support::*;

const GREETER: &str = "greeter.dubbo-go.svc.cluster.local";

fn call(metadata: &BTreeMap<String, String>) -> Call<'_> {
    Call {
        service: greeter::SERVICE,
        method: greeter::METHOD,
        name: "laurence",
        metadata,
    }
}

async fn answer(addr: SocketAddr, metadata: &BTreeMap<String, String>) -> (String, String) {
    let client = GrpcClient::connect(addr, None).await.expect("connects");
    let reply = client
        .call(call(metadata), Some("r-1"))
        .await
        .expect("answers");
    (reply.code, reply.text)
}

#[tokio::test]
async fn local_answers_carry_envoys_grpc_statuses() {
    let fleet = fleet(GREETER, Protocol::Grpc, &["v1"]).await;
    let v1 = cluster_name(&fleet, "v1");
    let aborted = |abort| Forward {
        fault: Some(Fault {
            delay: None,
            abort: Some((abort, 1_000_000)),
        }),
        ..forward(vec![(v1.clone(), 1)])
    };
    let routes = vec![
        route(
            "http-503",
            vec![exact("case", "http-503")],
            aborted(Abort::Http(503)),
        ),
        route(
            "grpc-8",
            vec![exact("case", "grpc-8")],
            aborted(Abort::Grpc(8)),
        ),
        route(
            "served",
            vec![exact("case", "served")],
            forward(vec![(v1.clone(), 1)]),
        ),
    ];
    let (proxy, addr) = start(table(&fleet, Protocol::Grpc, routes)).await;
    let case = |c: &str| BTreeMap::from([("case".to_owned(), c.to_owned())]);
    let cases = [
        (
            "no route: 404, UNIMPLEMENTED",
            case("none"),
            "12",
            "meshproxy: no matched route",
        ),
        (
            "an httpStatus abort: 503, UNAVAILABLE",
            case("http-503"),
            "14",
            "fault filter abort",
        ),
        (
            "a grpcStatus abort as written",
            case("grpc-8"),
            "8",
            "fault filter abort",
        ),
        ("served", case("served"), "0", "Hello laurence (v1.0.0)"),
    ];
    for (what, metadata, code, text) in cases {
        assert_eq!(
            answer(addr, &metadata).await,
            (code.to_owned(), text.to_owned()),
            "{what}"
        );
    }
    assert_eq!(
        fleet.collector().len(),
        1,
        "only the served call reached the Greeter"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_and_a_timeout_too() {
    let down = Behaviour {
        down: true,
        ..Behaviour::default()
    };
    let slow = Behaviour {
        latency: meshbench_sim::fleet::Latency::Fixed(std::time::Duration::from_secs(2)),
        ..Behaviour::default()
    };
    let fleet = fleet_with(GREETER, Protocol::Grpc, &[("v1", down), ("v2", slow)], 1).await;
    let timed = Forward {
        timeout: Some(std::time::Duration::from_millis(100)),
        ..forward(vec![(cluster_name(&fleet, "v2"), 1)])
    };
    let routes = vec![
        route(
            "down",
            vec![exact("to", "down")],
            forward(vec![(cluster_name(&fleet, "v1"), 1)]),
        ),
        route("slow", vec![], timed),
    ];
    let (proxy, addr) = start(table(&fleet, Protocol::Grpc, routes)).await;
    let to_down = BTreeMap::from([("to".to_owned(), "down".to_owned())]);
    let (code, text) = answer(addr, &to_down).await;
    assert_eq!(code, "14", "{text}");
    assert!(text.starts_with("upstream connect error"), "{text}");
    let started = tokio::time::Instant::now();
    let (code, text) = answer(addr, &BTreeMap::new()).await;
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("14", "upstream request timeout")
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "cut at the route timeout"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn calls_of_one_connection_share_one_upstream_connection_per_endpoint() {
    let fleet = fleet(GREETER, Protocol::Grpc, &["v1"]).await;
    let all = vec![route(
        "all",
        vec![],
        forward(vec![(cluster_name(&fleet, "v1"), 1)]),
    )];
    let (proxy, addr) = start(table(&fleet, Protocol::Grpc, all)).await;
    let client = GrpcClient::connect(addr, None).await.expect("connects");
    let metadata = BTreeMap::new();
    let calls = (0..64).map(|i| {
        let (client, metadata) = (&client, &metadata);
        async move { client.call(call(metadata), Some(&format!("r-{i}"))).await }
    });
    let replies = futures::future::join_all(calls).await;
    assert!(
        replies.iter().all(|r| r.as_ref().is_ok_and(|r| r.success)),
        "{replies:?}"
    );
    let records = fleet.collector().records();
    assert_eq!(records.len(), 64);
    assert!(
        records
            .iter()
            .all(|r| r.connection == records[0].connection),
        "64 concurrent calls rode one upstream HTTP/2 connection"
    );
    proxy.stop().await;
    fleet.stop().await;
}
