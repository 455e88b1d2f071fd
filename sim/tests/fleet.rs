//! The fleet through real sockets: each protocol's server answered by the
//! harness's own clients, the echo contract, the behaviour knobs and the
//! received-request log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meshbench_sim::client::ClientError;
use meshbench_sim::client::http::HttpClient;
use meshbench_sim::client::tcp::TcpEchoClient;
use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_sim::fleet::{
    Behaviour, Fleet, FleetOptions, Latency, Probability, ServiceSpec, VersionSpec,
};
use meshbench_wire::Protocol;
use meshbench_wire::http1::Request;
use meshbench_wire::thrift::{Encoding, Transport};

const THRIFT: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";

fn version(name: &str, behaviour: Behaviour) -> VersionSpec {
    VersionSpec {
        name: name.to_owned(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour,
    }
}

fn service(name: &str, protocol: Protocol, port: u16, versions: Vec<VersionSpec>) -> ServiceSpec {
    ServiceSpec {
        service: name.to_owned(),
        protocol,
        port,
        thrift: meshbench_wire::thrift::ServerCodec::DETECT,
        versions,
    }
}

async fn start(services: &[ServiceSpec]) -> Fleet {
    Fleet::start(services, &FleetOptions::default())
        .await
        .expect("fleet starts")
}

#[tokio::test]
async fn thrift_endpoints_answer_like_the_aeraki_sample_with_an_echo() {
    let fleet = start(&[service(
        THRIFT,
        Protocol::Thrift,
        9090,
        vec![
            version("v1", Behaviour::default()),
            version("v2", Behaviour::default()),
        ],
    )])
    .await;
    for endpoint in fleet.endpoints() {
        assert!(endpoint.identity.addr.ip().is_loopback());
        assert_eq!(endpoint.identity.addr.port(), 9090);
        let client = ThriftClient::connect(endpoint.identity.addr, ThriftOptions::default())
            .await
            .expect("connects");
        let reply = client
            .say_hello("Aeraki", Some("r-1"), BTreeMap::new())
            .await
            .expect("answers");
        assert!(reply.success);
        assert_eq!(
            reply.text,
            format!("Hello Aeraki, response from {}", endpoint.identity)
        );
        let echo = reply.echo.expect("echo");
        assert_eq!(echo.pod, endpoint.identity.pod);
        assert_eq!(echo.version, endpoint.labels["version"]);
        assert_eq!(echo.request_id.as_deref(), Some("r-1"));
        assert_eq!(echo.connection, 1);
    }
    let records = fleet.collector().records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1].attempt, 2,
        "the second arrival of r-1 is its second attempt"
    );
    assert!(
        records[0]
            .attributes
            .contains(&("method".to_owned(), "sayHello".to_owned()))
    );
    fleet.stop().await;
}

#[tokio::test]
async fn thrift_serves_every_transport_and_encoding_multiplexed_or_not() {
    let fleet = start(&[service(
        THRIFT,
        Protocol::Thrift,
        9090,
        vec![version("v1", Behaviour::default())],
    )])
    .await;
    let addr = fleet.endpoints()[0].identity.addr;
    for transport in [Transport::Framed, Transport::Unframed] {
        for encoding in [Encoding::Binary, Encoding::Compact] {
            for service in [None, Some("HelloService".to_owned())] {
                let options = ThriftOptions {
                    transport,
                    encoding,
                    service: service.clone(),
                };
                let client = ThriftClient::connect(addr, options)
                    .await
                    .expect("connects");
                let reply = client
                    .say_hello("x", None, BTreeMap::new())
                    .await
                    .expect("answers");
                assert!(
                    reply.success,
                    "{transport:?} {encoding:?} {service:?}: {reply:?}"
                );
            }
        }
    }
    fleet.stop().await;
}

#[tokio::test]
async fn many_calls_in_flight_on_one_connection_each_get_their_own_answer() {
    let slow = Behaviour {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(20),
        },
        ..Behaviour::default()
    };
    let fleet = start(&[service(
        THRIFT,
        Protocol::Thrift,
        9090,
        vec![version("v1", slow)],
    )])
    .await;
    let client = Arc::new(
        ThriftClient::connect(fleet.endpoints()[0].identity.addr, ThriftOptions::default())
            .await
            .expect("connects"),
    );
    let calls = (0..200).map(|i| {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            let id = format!("r-{i}");
            let reply = client
                .say_hello(&format!("n{i}"), Some(&id), BTreeMap::new())
                .await
                .expect("answers");
            assert_eq!(reply.echo.and_then(|e| e.request_id), Some(id));
            assert!(reply.text.starts_with(&format!("Hello n{i},")));
        })
    });
    for call in calls {
        call.await.expect("call task");
    }
    assert_eq!(fleet.collector().len(), 200);
    fleet.stop().await;
}

#[tokio::test]
async fn behaviour_knobs_fail_retry_and_close() {
    let always_fails = Behaviour {
        error_rate: Probability::new(1.0).expect("p"),
        ..Behaviour::default()
    };
    let retries = Behaviour {
        succeed_after: 2,
        ..Behaviour::default()
    };
    let closes = Behaviour {
        close_rate: Probability::new(1.0).expect("p"),
        ..Behaviour::default()
    };
    let fleet = start(&[service(
        THRIFT,
        Protocol::Thrift,
        9090,
        vec![
            version("fails", always_fails),
            version("retries", retries),
            version("closes", closes),
        ],
    )])
    .await;
    let addrs: Vec<_> = fleet.endpoints().iter().map(|e| e.identity.addr).collect();

    let client = ThriftClient::connect(addrs[0], ThriftOptions::default())
        .await
        .expect("connects");
    let reply = client
        .say_hello("x", Some("a"), BTreeMap::new())
        .await
        .expect("answers");
    assert!(!reply.success);
    assert_eq!(reply.code, "InternalError");
    assert_eq!(reply.echo.map(|e| e.version), Some("fails".to_owned()));

    let client = ThriftClient::connect(addrs[1], ThriftOptions::default())
        .await
        .expect("connects");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let reply = client
            .say_hello("x", Some("b"), BTreeMap::new())
            .await
            .expect("answers");
        outcomes.push((reply.success, reply.echo.map(|e| e.attempt)));
    }
    assert_eq!(
        outcomes,
        vec![(false, Some(1)), (false, Some(2)), (true, Some(3))]
    );

    let client = ThriftClient::connect(addrs[2], ThriftOptions::default())
        .await
        .expect("connects");
    let result = client.say_hello("x", Some("c"), BTreeMap::new()).await;
    assert_eq!(result, Err(ClientError::Closed));
    fleet.stop().await;
}

#[tokio::test]
async fn http_endpoints_answer_hello_json_and_request_level_overrides() {
    let fleet = start(&[service(
        "hotels.travel-agency.svc.cluster.local",
        Protocol::Http,
        8000,
        vec![version("v1", Behaviour::default())],
    )])
    .await;
    let endpoint = &fleet.endpoints()[0];
    let client = HttpClient::connect(endpoint.identity.addr)
        .await
        .expect("connects");

    let (response, reply) = client
        .send(Request::new("GET", "/hello?name=Kiali"), Some("h-1"))
        .await
        .expect("answers");
    assert_eq!(response.status, 200);
    assert_eq!(
        reply.text,
        format!("Hello Kiali, response from {}", endpoint.identity)
    );
    assert_eq!(
        reply.echo.and_then(|e| e.request_id),
        Some("h-1".to_owned())
    );

    let (response, reply) = client
        .send(Request::new("GET", "/hotels/London"), None)
        .await
        .expect("answers");
    let document: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(document["version"], "v1");
    assert_eq!(document["path"], "/hotels/London");
    assert_eq!(
        reply.echo.map(|e| e.connection),
        Some(1),
        "keep-alive: the same connection"
    );

    let (response, _) = client
        .send(Request::new("GET", "/hello?codes=504"), None)
        .await
        .expect("answers");
    assert_eq!(response.status, 504);
    fleet.stop().await;
}

#[tokio::test]
async fn tcp_echo_names_its_endpoint_per_connection() {
    let fleet = start(&[service(
        "mysqldb.default.svc.cluster.local",
        Protocol::Tcp,
        3306,
        vec![version("v1", Behaviour::default())],
    )])
    .await;
    let endpoint = &fleet.endpoints()[0];
    for expected_connection in 1..=2 {
        let mut client = TcpEchoClient::connect(endpoint.identity.addr)
            .await
            .expect("connects");
        assert_eq!(client.echo.pod, endpoint.identity.pod);
        assert_eq!(client.echo.connection, expected_connection);
        assert_eq!(
            client.round_trip(b"select 1;").await.expect("echo"),
            b"select 1;"
        );
    }
    assert_eq!(fleet.collector().len(), 2);
    fleet.stop().await;
}

#[tokio::test]
async fn stop_releases_the_addresses() {
    let fleet = start(&[service(
        THRIFT,
        Protocol::Thrift,
        9090,
        vec![version("v1", Behaviour::default())],
    )])
    .await;
    let addr = fleet.endpoints()[0].identity.addr;
    let client = ThriftClient::connect(addr, ThriftOptions::default())
        .await
        .expect("connects");
    fleet.stop().await;
    assert!(client.say_hello("x", None, BTreeMap::new()).await.is_err());
    tokio::net::TcpListener::bind(addr)
        .await
        .expect("the address is free again");
}

#[tokio::test]
async fn dubbo_providers_answer_pipelined_calls_heartbeats_and_errors() {
    use meshbench_sim::client::dubbo::{DEMO_SERVICE, DubboClient};
    let always_fails = Behaviour {
        error_rate: Probability::new(1.0).expect("p"),
        ..Behaviour::default()
    };
    let mut v1 = version("v1", Behaviour::default());
    v1.labels
        .insert("app".into(), "dubbo-sample-provider".into());
    let fleet = start(&[service(
        "org.apache.dubbo.samples.basic.api.demoservice",
        Protocol::Dubbo,
        20880,
        vec![v1, version("v2", always_fails)],
    )])
    .await;
    let good = &fleet.endpoints()[0];
    let client = Arc::new(
        DubboClient::connect(good.identity.addr)
            .await
            .expect("connects"),
    );
    client.heartbeat().await.expect("heartbeat answered");
    let attachments = vec![("user".to_owned(), "admin".to_owned())];
    let calls = (0..50).map(|i| {
        let (client, attachments) = (Arc::clone(&client), attachments.clone());
        tokio::spawn(async move {
            let id = format!("d-{i}");
            let reply = client
                .call(DEMO_SERVICE, "sayHello", "Aeraki", Some(&id), &attachments)
                .await
                .expect("answers");
            assert!(reply.success, "{reply:?}");
            assert!(
                reply
                    .text
                    .starts_with("Hello Aeraki, response from dubbo-sample-provider-v1-"),
                "{}",
                reply.text
            );
            assert_eq!(reply.echo.and_then(|e| e.request_id), Some(id));
        })
    });
    for call in calls {
        call.await.expect("call task");
    }
    let record = &fleet.collector().records()[0];
    for expected in [
        ("interface", DEMO_SERVICE),
        ("method", "sayHello"),
        ("user", "admin"),
    ] {
        assert!(
            record
                .attributes
                .contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{:?}",
            record.attributes
        );
    }

    let unknown = client
        .call(DEMO_SERVICE, "sayBye", "x", None, &[])
        .await
        .expect("answers");
    assert_eq!(
        (unknown.success, unknown.code.as_str()),
        (false, "ServiceError")
    );

    let failing = DubboClient::connect(fleet.endpoints()[1].identity.addr)
        .await
        .expect("connects");
    let reply = failing
        .call(DEMO_SERVICE, "sayHello", "x", Some("f"), &[])
        .await
        .expect("answers");
    assert!(!reply.success);
    assert_eq!(reply.code, "ServiceError");
    assert_eq!(reply.echo.map(|e| e.version), Some("v2".to_owned()));
    fleet.stop().await;
}

#[tokio::test]
async fn garbage_closes_the_connection_and_the_endpoint_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fleet = start(&[
        service(
            THRIFT,
            Protocol::Thrift,
            9090,
            vec![version("v1", Behaviour::default())],
        ),
        service(
            "demo.dubbo",
            Protocol::Dubbo,
            20880,
            vec![version("v1", Behaviour::default())],
        ),
        service(
            "web.http",
            Protocol::Http,
            3000,
            vec![version("v1", Behaviour::default())],
        ),
    ])
    .await;
    for endpoint in fleet.endpoints() {
        let mut stream = tokio::net::TcpStream::connect(endpoint.identity.addr)
            .await
            .expect("connects");
        stream
            .write_all(b"\x16\x03\x01\x02\x00garbage that no protocol accepts\r\n\r\n")
            .await
            .expect("writes");
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "{:?} closes a connection that sent garbage",
            endpoint.protocol
        );
    }
    let thrift =
        ThriftClient::connect(fleet.endpoints()[0].identity.addr, ThriftOptions::default())
            .await
            .expect("connects");
    assert!(
        thrift
            .say_hello("x", None, BTreeMap::new())
            .await
            .expect("answers")
            .success
    );
    assert!(
        fleet.collector().len() == 1,
        "garbage is never recorded as a request"
    );
    fleet.stop().await;
}

/// Reads until the endpoint closes (bounded); whether it did.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test]
async fn every_protocol_closes_a_connection_idle_past_the_timeout() {
    let protocols = [
        (THRIFT, Protocol::Thrift),
        ("demo.dubbo.svc.cluster.local", Protocol::Dubbo),
        ("travels.travel-agency.svc.cluster.local", Protocol::Http),
        ("greeter.dubbo-go.svc.cluster.local", Protocol::Grpc),
        ("mysqldb.ns.svc.cluster.local", Protocol::Tcp),
    ];
    let services: Vec<ServiceSpec> = protocols
        .iter()
        .map(|(name, protocol)| {
            service(
                name,
                *protocol,
                0,
                vec![version("v1", Behaviour::default())],
            )
        })
        .collect();
    let options = FleetOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        ..FleetOptions::default()
    };
    let fleet = Fleet::start(&services, &options).await.expect("starts");
    for endpoint in fleet.endpoints() {
        let mut stream = tokio::net::TcpStream::connect(endpoint.identity.addr)
            .await
            .expect("connects");
        // A slowloris: a first byte, then nothing.
        use tokio::io::AsyncWriteExt;
        if endpoint.protocol != Protocol::Tcp {
            stream.write_all(b"P").await.expect("writes");
        }
        assert!(
            closed_within(&mut stream, Duration::from_secs(10)).await,
            "{}: still open",
            endpoint.protocol
        );
    }
    fleet.stop().await;
}

#[tokio::test]
async fn the_fleet_refuses_what_passes_its_memory_budget() {
    use tokio::io::AsyncWriteExt;
    let options = FleetOptions {
        memory_budget: 1024 * 1024,
        ..FleetOptions::default()
    };
    let http = "travels.travel-agency.svc.cluster.local";
    let services = [service(
        http,
        Protocol::Http,
        0,
        vec![version("v1", Behaviour::default())],
    )];
    let fleet = Fleet::start(&services, &options).await.expect("starts");
    let addr = fleet.endpoints()[0].identity.addr;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let head = "PUT /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 2000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("writes");
    let mut answer = Vec::new();
    use tokio::io::AsyncReadExt;
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    read.await.expect("closed").expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("x-envoy-overloaded: true"),
        "{answer}"
    );
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answered");
    assert_eq!(response.status, 200, "the budget was given back");
    fleet.stop().await;
}

/// Issue 15, the fleet as an agent: a runner in another process reads
/// the endpoints, the count and every record back over HTTP, the records
/// page by page, exactly as kept (times to the microsecond); anything else
/// is a 404.
#[tokio::test]
async fn the_fleet_agent_serves_every_record_page_by_page() {
    use meshbench_sim::fleet::agent::{
        Agent, PAGE, RECORDS_PATH, fetch_endpoints, fetch_received, fetch_records, serve,
    };
    use meshbench_sim::fleet::{Collector, EndpointInfo, Identity};
    let collector = Collector::new();
    let endpoint = std::sync::Arc::new(Identity {
        service: "greeter.pods.svc.cluster.local".into(),
        version: "v1".into(),
        pod: "greeter-v1-0".into(),
        addr: "127.0.78.1:3000".parse().expect("an address"),
    });
    let count = PAGE * 2 + 7;
    for i in 0..count {
        let id = format!("r-{}", i % (PAGE + 3));
        let attributes = vec![(":path".to_owned(), format!("/hello/{i}"))];
        collector.record(&endpoint, Some(id), (i % 4) as u64, attributes);
    }
    let listener = tokio::net::TcpListener::bind("127.0.78.2:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    let cancel = tokio_util::sync::CancellationToken::new();
    let endpoints = vec![EndpointInfo {
        identity: Identity::clone(&endpoint),
        protocol: meshbench_wire::Protocol::Http,
        labels: [("app", "greeter"), ("version", "v1")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
    }];
    let agent = Agent {
        collector: collector.clone(),
        endpoints: endpoints.clone().into(),
    };
    let served = tokio::spawn(serve(listener, agent, cancel.clone()));
    assert_eq!(fetch_endpoints(addr).await.expect("fetches"), endpoints);
    assert_eq!(fetch_received(addr).await.expect("fetches"), count);
    let fetched = fetch_records(addr).await.expect("fetches");
    let kept = collector.records();
    assert_eq!(fetched.len(), count, "every record, over three pages");
    for (got, want) in fetched.iter().zip(&kept) {
        assert_eq!(
            (
                &got.endpoint,
                &got.request_id,
                got.connection,
                got.attempt,
                &got.attributes
            ),
            (
                &want.endpoint,
                &want.request_id,
                want.connection,
                want.attempt,
                &want.attributes
            )
        );
        assert_eq!(got.at.as_micros(), want.at.as_micros());
    }
    assert!(
        kept.iter().any(|r| r.attempt == 2),
        "retried ids keep their attempt"
    );
    let client = meshbench_sim::client::http::HttpClient::connect(addr)
        .await
        .expect("connects");
    for target in ["/", "/records?from=x", "/recordsx", "/endpoints?from=3"] {
        let request = meshbench_wire::http1::Request::new("GET", target);
        let (response, _) = client.send(request, None).await.expect("answers");
        assert_eq!(response.status, 404, "{target}");
    }
    let deleted = meshbench_wire::http1::Request::new("DELETE", RECORDS_PATH);
    let (response, _) = client.send(deleted, None).await.expect("answers");
    assert_eq!(response.status, 404);
    cancel.cancel();
    served.await.expect("stops");
}
