//! What bounds memory and time per connection: the budget closes the
//! largest holders before refusing a small request, a TCP splice and a
//! peer that reads no answer are closed at the idle timeout, and pooled
//! upstream connections are closed once unused. A gRPC call is evictable
//! until it is answered.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use meshbench_sim::client::grpc::GrpcClient;
use meshbench_wire::thrift::hello::SayHello;
use meshbench_wire::thrift::{Encoding, Transport};

use super::support::*;

const HTTP_SERVICE: &str = "travels.travel-agency.svc.cluster.local";

async fn http_proxy(options: ProxyOptions) -> (Fleet, Proxy, SocketAddr) {
    let fleet = fleet(HTTP_SERVICE, Protocol::Http, &["v1"]).await;
    let all = all_to_v1(&fleet, Protocol::Http);
    let proxy = Proxy::start(all, &options).await.expect("starts");
    let addr = proxy.listeners()[0].1;
    (fleet, proxy, addr)
}

/// Polls (bounded) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}");
}

/// Reads until the peer closes; the bytes read.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes));
    match read.await {
        Ok(_) => bytes,
        Err(_) => panic!("still open after 10 s"),
    }
}

#[tokio::test]
async fn a_small_request_closes_the_largest_holder_rather_than_being_refused() {
    const BUDGET: usize = 1024 * 1024;
    let options = ProxyOptions {
        memory_budget: BUDGET,
        ..ProxyOptions::default()
    };
    let (fleet, proxy, addr) = http_proxy(options).await;
    // Two bodies announced and never sent: each reserves its length at once,
    // beside its read buffer (8 KiB less the head).
    let mut holders = Vec::new();
    for length in [600_000, 430_000] {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        let head = format!("PUT /upload HTTP/1.1\r\nhost: x\r\ncontent-length: {length}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("writes");
        holders.push(stream);
        let wanted = if holders.len() == 1 {
            600_000
        } else {
            1_030_000
        };
        eventually("the bodies charged", || proxy.memory_held() >= wanted).await;
    }
    assert!(
        proxy.memory_held() + 8192 > BUDGET,
        "a small request does not fit"
    );
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answered");
    assert_eq!(response.status, 200, "room was made for it");
    let largest = read_to_close(&mut holders[0]).await;
    assert!(largest.is_empty(), "the largest was closed unanswered");
    let mut byte = [0u8; 1];
    let still = tokio::time::timeout(Duration::from_millis(200), holders[1].read(&mut byte));
    assert!(still.await.is_err(), "the smaller one is still held");
    let stats = proxy.stats().render();
    assert!(
        stats.contains(&format!(
            "meshproxy_downstream_overload_total{{listener=\"{HTTP_SERVICE}\",action=\"closed\"}} 1"
        )),
        "{stats}"
    );
    assert!(
        !stats.contains("action=\"refused\""),
        "the eviction is not counted as a refusal too: {stats}"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn pooled_upstream_connections_are_closed_once_unused_for_the_idle_timeout() {
    let options = ProxyOptions {
        upstream_idle_timeout: Duration::from_millis(200),
        ..ProxyOptions::default()
    };
    let (fleet, proxy, addr) = http_proxy(options).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answered");
    assert_eq!(response.status, 200);
    assert_eq!(proxy.pooled_http_connections(), 1, "kept alive after use");
    eventually("the pool emptied", || proxy.pooled_http_connections() == 0).await;
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answered on a fresh upstream connection");
    assert_eq!(response.status, 200);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_tcp_connection_on_which_nothing_moves_is_closed_at_the_idle_timeout() {
    let fleet = fleet("mysqldb.ns.svc.cluster.local", Protocol::Tcp, &["v1"]).await;
    let all = all_to_v1(&fleet, Protocol::Tcp);
    let options = ProxyOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(all, &options).await.expect("starts");
    let mut stream = TcpStream::connect(proxy.listeners()[0].1)
        .await
        .expect("connects");
    stream.write_all(b"ping\n").await.expect("writes");
    let bytes = read_to_close(&mut stream).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("meshbench-tcp ") && text.ends_with("ping\n"),
        "greeting and echo, then the close: {text:?}"
    );
    assert_eq!(
        proxy
            .stats()
            .total("meshproxy_downstream_idle_timeouts_total"),
        1
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_peer_that_reads_no_answer_is_closed_at_the_idle_timeout() {
    // Large answers, so that a few fill the socket buffers of both sides.
    let behaviour = Behaviour {
        response_size: 1024 * 1024,
        ..Behaviour::default()
    };
    let service = "thrift-sample-server.meta-thrift.svc.cluster.local";
    let fleet = fleet_with(service, Protocol::Thrift, &[("v1", behaviour)], 1).await;
    let all = all_to_v1(&fleet, Protocol::Thrift);
    let options = ProxyOptions {
        idle_timeout: Some(Duration::from_millis(500)),
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(all, &options).await.expect("starts");
    let addr = proxy.listeners()[0].1;
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    for seqid in 1..=64 {
        let hello = SayHello {
            name: "reader".into(),
            ..SayHello::default()
        };
        let call = hello.encode_call(Transport::Unframed, Encoding::Binary, None, seqid);
        stream.write_all(&call.bytes).await.expect("writes");
    }
    eventually("the stalled writer cut off", || {
        proxy
            .stats()
            .total("meshproxy_downstream_idle_timeouts_total")
            == 1
    })
    .await;
    proxy.stop().await;
    fleet.stop().await;
}

/// Sends a `GET /hello` whose head has `fields` header fields (`host` and
/// `x-field-N`) and no `connection` field; the answer's status line.
async fn status_with_fields(addr: SocketAddr, fields: usize) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut head = String::from("GET /hello HTTP/1.1\r\nhost: x\r\n");
    for n in 1..fields {
        head.push_str(&format!("x-field-{n}: {n}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("writes");
    let mut status = vec![0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut status));
    read.await.expect("answered").expect("reads");
    String::from_utf8_lossy(&status).into_owned()
}

#[tokio::test]
async fn a_head_at_the_header_limit_is_forwarded_whole_and_one_past_it_refused() {
    let (fleet, proxy, addr) = http_proxy(ProxyOptions::default()).await;
    assert_eq!(status_with_fields(addr, 100).await, "HTTP/1.1 200");
    let received = &fleet.collector().records()[0];
    let fields = received
        .attributes
        .iter()
        .filter(|(k, _)| k.starts_with("x-field-"))
        .count();
    assert_eq!(fields, 99, "every field reached the endpoint");
    assert_eq!(status_with_fields(addr, 101).await, "HTTP/1.1 431");
    assert_eq!(
        fleet.collector().len(),
        1,
        "the refused one never left the proxy"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_grpc_call_being_forwarded_is_closed_to_make_room_and_answered_overloaded() {
    const BUDGET: usize = 4 * 1024 * 1024;
    const GREETER: &str = "greeter.dubbo-go.svc.cluster.local";
    let held = Behaviour {
        hold: true,
        ..Behaviour::default()
    };
    let versions = [("v1", held), ("v2", Behaviour::default())];
    let fleet = fleet_with(GREETER, Protocol::Grpc, &versions, 1).await;
    fleet.hold().arm();
    let routes = vec![
        route(
            "held",
            vec![exact("to", "held")],
            forward(vec![(cluster_name(&fleet, "v1"), 1)]),
        ),
        route(
            "rest",
            vec![],
            forward(vec![(cluster_name(&fleet, "v2"), 1)]),
        ),
    ];
    let options = ProxyOptions {
        memory_budget: BUDGET,
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(table(&fleet, Protocol::Grpc, routes), &options)
        .await
        .expect("starts");
    let addr = proxy.listeners()[0].1;
    let to_held = BTreeMap::from([("to".to_owned(), "held".to_owned())]);
    let big = tokio::spawn(async move {
        let client = GrpcClient::connect(addr, None).await.expect("connects");
        let name = "x".repeat(2_500_000);
        client.call(greeting(&name, &to_held), None).await
    });
    eventually("the big call held at its endpoint", || {
        fleet.hold().held() == 1
    })
    .await;
    // Its body still counts while it is forwarded: a call declaring more
    // than the room left, but less than it holds, makes it the one closed.
    let charged = proxy.memory_held();
    assert!((2_500_000..=BUDGET).contains(&charged), "{charged}");
    let name = "y".repeat(BUDGET - charged + 1000);
    let client = GrpcClient::connect(addr, None).await.expect("connects");
    let rest = BTreeMap::new();
    let small = client
        .call(greeting(&name, &rest), None)
        .await
        .expect("answered");
    assert!(small.success, "room was made for it: {small:?}");
    let big = tokio::time::timeout(Duration::from_secs(10), big)
        .await
        .expect("the big call answered, not left held")
        .expect("joins")
        .expect("answered");
    assert_eq!(big.code, "14", "{big:?}");
    assert!(big.text.contains("make room"), "{big:?}");
    let stats = proxy.stats().render();
    let closed = format!(
        "meshproxy_downstream_overload_total{{listener=\"{GREETER}\",action=\"closed\"}} 1"
    );
    assert!(stats.contains(&closed), "{stats}");
    assert!(!stats.contains("action=\"refused\""), "{stats}");
    fleet.hold().release();
    proxy.stop().await;
    fleet.stop().await;
}

fn greeting<'a>(
    name: &'a str,
    metadata: &'a BTreeMap<String, String>,
) -> meshbench_sim::client::grpc::Call<'a> {
    meshbench_sim::client::grpc::Call {
        service: meshbench_wire::grpc::greeter::SERVICE,
        method: meshbench_wire::grpc::greeter::METHOD,
        name,
        metadata,
    }
}
