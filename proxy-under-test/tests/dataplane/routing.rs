//! Routing: per-request balancing, attribute routes, mirrors, mutation,
//! rewrites, redirects, local answers, TCP, hot reload.

use super::support::*;
#[tokio::test]
async fn thrift_requests_on_one_connection_are_balanced_per_request() {
    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1", "v2"],
    )
    .await;
    let split = forward(vec![
        (cluster_name(&fleet, "v1"), 50),
        (cluster_name(&fleet, "v2"), 50),
    ]);
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Thrift,
        vec![route("split", vec![], split)],
    ))
    .await;
    let client = ThriftClient::connect(addr, ThriftOptions::default())
        .await
        .expect("connects");
    let mut seen = BTreeMap::new();
    for i in 0..200 {
        let reply = client
            .say_hello("Aeraki", Some(&format!("r-{i}")), BTreeMap::new())
            .await
            .expect("answers");
        assert!(reply.success, "{reply:?}");
        *seen.entry(reply.echo.expect("echo").version).or_insert(0) += 1;
    }
    // Both versions over ONE downstream connection: a layer-4 proxy would
    // pin it to one. Under a correct 50/50 split, one side getting nothing
    // in 200 draws has probability 2 x 0.5^200 < 1e-59.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen.values().sum::<u32>(), 200);
    assert_eq!(proxy.stats().total("meshproxy_requests_total"), 200);
    assert_eq!(
        proxy
            .stats()
            .total("meshproxy_downstream_connections_total"),
        1
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn thrift_method_routes_send_everything_to_one_subset_and_no_route_is_an_exception() {
    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1", "v2"],
    )
    .await;
    // A weight of 0 gets nothing: deterministic.
    let only_v2 = forward(vec![
        (cluster_name(&fleet, "v1"), 0),
        (cluster_name(&fleet, "v2"), 100),
    ]);
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Thrift,
        vec![route(
            "by-method",
            vec![exact("method", "sayHello")],
            only_v2,
        )],
    ))
    .await;
    let client = ThriftClient::connect(addr, ThriftOptions::default())
        .await
        .expect("connects");
    for _ in 0..100 {
        let reply = client
            .say_hello("x", None, BTreeMap::new())
            .await
            .expect("answers");
        assert_eq!(reply.echo.map(|e| e.version).as_deref(), Some("v2"));
    }
    // Multiplexed names route on their method part (and expose `service`).
    let multiplexed = ThriftOptions {
        service: Some("HelloService".into()),
        ..ThriftOptions::default()
    };
    let other = ThriftClient::connect(addr, multiplexed)
        .await
        .expect("connects");
    let reply = other
        .say_hello("x", None, BTreeMap::new())
        .await
        .expect("answers");
    assert_eq!(reply.echo.map(|e| e.version).as_deref(), Some("v2"));
    let only_bye = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    proxy
        .apply(table(
            &fleet,
            Protocol::Thrift,
            vec![route("bye", vec![exact("method", "sayBye")], only_bye)],
        ))
        .expect("same listeners");
    let reply = other
        .say_hello("x", None, BTreeMap::new())
        .await
        .expect("answers");
    assert!(!reply.success);
    assert_eq!(reply.code, "InternalError");
    assert_eq!(
        reply.text,
        "meshproxy: no matched route for request 'HelloService:sayHello'"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn dubbo_attachment_routes_and_heartbeats() {
    let fleet = fleet(
        "org.apache.dubbo.samples.basic.api.demoservice",
        Protocol::Dubbo,
        &["v1", "v2"],
    )
    .await;
    let routes = vec![
        route(
            "admin",
            vec![exact("user", "admin")],
            forward(vec![(cluster_name(&fleet, "v2"), 100)]),
        ),
        route(
            "rest",
            vec![exact("interface", DEMO_SERVICE)],
            forward(vec![(cluster_name(&fleet, "v1"), 100)]),
        ),
    ];
    let (proxy, addr) = start(table(&fleet, Protocol::Dubbo, routes)).await;
    let client = Arc::new(DubboClient::connect(addr).await.expect("connects"));
    client
        .heartbeat()
        .await
        .expect("the proxy answers heartbeats");
    let admin = vec![("user".to_owned(), "admin".to_owned())];
    for i in 0..50 {
        let (attachments, expected) = if i % 2 == 0 {
            (admin.clone(), "v2")
        } else {
            (vec![], "v1")
        };
        let reply = client
            .call(
                DEMO_SERVICE,
                "sayHello",
                "Aeraki",
                Some(&format!("d-{i}")),
                &attachments,
            )
            .await
            .expect("answers");
        assert_eq!(
            reply.echo.map(|e| e.version).as_deref(),
            Some(expected),
            "call {i}"
        );
    }
    let unrouted = client
        .call("org.example.Other", "sayHello", "x", None, &[])
        .await
        .expect("answers");
    assert_eq!(
        (unrouted.success, unrouted.code.as_str()),
        (false, "ServiceNotFound")
    );
    assert_eq!(proxy.stats().total("meshproxy_dubbo_events_total"), 1);
    assert_eq!(
        fleet.collector().len(),
        50,
        "heartbeats are never forwarded"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn dubbo_request_mutation_reaches_the_provider_and_mirrors_stay_invisible() {
    let fleet = fleet(
        "org.apache.dubbo.samples.basic.api.demoservice",
        Protocol::Dubbo,
        &["v1", "v2"],
    )
    .await;
    let mut to_v1 = forward(vec![(cluster_name(&fleet, "v1"), 100)]);
    to_v1.request_mutation = vec![("foo".into(), "bar".into())];
    to_v1.mirror = Some(Mirror {
        cluster: cluster_name(&fleet, "v2"),
        per_million: 1_000_000,
    });
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Dubbo,
        vec![route("mirror", vec![], to_v1)],
    ))
    .await;
    let client = DubboClient::connect(addr).await.expect("connects");
    for i in 0..20 {
        let reply = client
            .call(DEMO_SERVICE, "sayHello", "x", Some(&format!("m-{i}")), &[])
            .await
            .expect("answers");
        assert_eq!(
            reply.echo.map(|e| e.version).as_deref(),
            Some("v1"),
            "clients never see the mirror's answer"
        );
    }
    // Mirrors are fire-and-forget: wait (bounded) for all 20 copies to land.
    for _ in 0..200 {
        if fleet.collector().len() == 40 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let records = fleet.collector().records();
    let mirrored = records
        .iter()
        .filter(|r| r.endpoint.version == "v2")
        .count();
    assert_eq!(mirrored, 20);
    assert!(
        records
            .iter()
            .all(|r| r.attributes.contains(&("foo".to_owned(), "bar".to_owned()))),
        "mutation applied to primary and mirror"
    );
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn http_header_routes_rewrites_redirects_and_local_answers() {
    let fleet = fleet(
        "travels.travel-agency.svc.cluster.local",
        Protocol::Http,
        &["v1", "v2", "v3"],
    )
    .await;
    let prefix = Match {
        conditions: vec![Condition {
            attribute: PATH.into(),
            matcher: StringMatcher::Prefix("/greeting".into()),
            invert: false,
        }],
    };
    let mut rewrite = forward(vec![(cluster_name(&fleet, "v1"), 100)]);
    rewrite.rewrite = Some(Rewrite {
        uri: Some("/hello".into()),
        authority: None,
    });
    let redirect = Route {
        name: "moved".into(),
        matches: vec![exact(PATH, "/old")],
        action: Action::Redirect(Redirect {
            uri: Some("/new".into()),
            authority: Some("example.org".into()),
            code: 301,
        }),
    };
    let routes = vec![
        route(
            "uk",
            vec![exact("portal", "travels.uk")],
            forward(vec![(cluster_name(&fleet, "v1"), 100)]),
        ),
        route(
            "it",
            vec![exact("portal", "viaggi.it")],
            forward(vec![(cluster_name(&fleet, "v2"), 100)]),
        ),
        route(
            "fr",
            vec![exact("portal", "voyages.fr")],
            forward(vec![(cluster_name(&fleet, "v3"), 100)]),
        ),
        route("greeting", vec![prefix], rewrite),
        redirect,
    ];
    let (proxy, addr) = start(table(&fleet, Protocol::Http, routes)).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    for (portal, version) in [
        ("travels.uk", "v1"),
        ("viaggi.it", "v2"),
        ("voyages.fr", "v3"),
        ("travels.uk", "v1"),
    ] {
        let mut request = Request::new("GET", "/travels/London");
        request.headers.append("portal", portal);
        let (response, reply) = client.send(request, None).await.expect("answers");
        assert_eq!(response.status, 200);
        assert_eq!(
            reply.echo.map(|e| e.version).as_deref(),
            Some(version),
            "{portal}"
        );
    }
    let (_, reply) = client
        .send(Request::new("GET", "/greeting?name=Istio"), None)
        .await
        .expect("answers");
    assert!(
        reply.text.starts_with("Hello Istio, response from"),
        "rewritten to /hello: {}",
        reply.text
    );
    let (response, _) = client
        .send(Request::new("GET", "/old"), None)
        .await
        .expect("answers");
    assert_eq!(
        (response.status, response.headers.get("location")),
        (301, Some("http://example.org/new"))
    );
    let (response, _) = client
        .send(Request::new("GET", "/nowhere"), None)
        .await
        .expect("answers");
    assert_eq!(response.status, 404);
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn http_to_a_dead_endpoint_is_a_503_not_a_hang() {
    let fleet = fleet(
        "travels.travel-agency.svc.cluster.local",
        Protocol::Http,
        &["v1"],
    )
    .await;
    let table = table(
        &fleet,
        Protocol::Http,
        vec![route(
            "all",
            vec![],
            forward(vec![(cluster_name(&fleet, "v1"), 100)]),
        )],
    );
    fleet.stop().await;
    let (proxy, addr) = start(table).await;
    let client = HttpClient::connect(addr).await.expect("connects");
    let (response, _) = client
        .send(Request::new("GET", "/hello"), None)
        .await
        .expect("answers");
    assert_eq!(response.status, 503);
    assert!(String::from_utf8_lossy(&response.body).starts_with("upstream connect error"));
    proxy.stop().await;
}

#[tokio::test]
async fn tcp_picks_once_per_connection_and_splices_bytes() {
    let fleet = fleet(
        "mysqldb.default.svc.cluster.local",
        Protocol::Tcp,
        &["v1", "v2"],
    )
    .await;
    let only_v1 = forward(vec![
        (cluster_name(&fleet, "v1"), 100),
        (cluster_name(&fleet, "v2"), 0),
    ]);
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Tcp,
        vec![route("tcp", vec![], only_v1)],
    ))
    .await;
    for _ in 0..5 {
        let mut client = TcpEchoClient::connect(addr).await.expect("connects");
        assert_eq!(client.echo.version, "v1");
        assert_eq!(client.round_trip(b"ping").await.expect("echo"), b"ping");
    }
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_new_table_applies_to_the_next_request_on_the_same_connection() {
    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1", "v2"],
    )
    .await;
    let to = |version: &str| {
        table(
            &fleet,
            Protocol::Thrift,
            vec![route(
                "r",
                vec![],
                forward(vec![(cluster_name(&fleet, version), 1)]),
            )],
        )
    };
    let (proxy, addr) = start(to("v1")).await;
    let client = ThriftClient::connect(addr, ThriftOptions::default())
        .await
        .expect("connects");
    let version = async || {
        client
            .say_hello("x", None, BTreeMap::new())
            .await
            .expect("answers")
            .echo
            .map(|e| e.version)
    };
    assert_eq!(version().await.as_deref(), Some("v1"));
    proxy.apply(to("v2")).expect("same listeners");
    assert_eq!(version().await.as_deref(), Some("v2"));
    assert!(!client.is_closed(), "no reconnect");
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn in_l4_mode_every_request_of_a_connection_reaches_one_endpoint() {
    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1", "v2"],
    )
    .await;
    let split = forward(vec![
        (cluster_name(&fleet, "v1"), 50),
        (cluster_name(&fleet, "v2"), 50),
    ]);
    let table = table(
        &fleet,
        Protocol::Thrift,
        vec![route("split", vec![exact("method", "sayHello")], split)],
    );
    let options = ProxyOptions {
        mode: Mode::L4,
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(table, &options).await.expect("proxy starts");
    let addr = proxy.listeners()[0].1;
    let mut pods_per_connection = Vec::new();
    for _ in 0..4 {
        let client = ThriftClient::connect(addr, ThriftOptions::default())
            .await
            .expect("connects");
        let mut pods = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let reply = client
                .say_hello("x", None, BTreeMap::new())
                .await
                .expect("answers");
            pods.insert(reply.echo.expect("echo").pod);
        }
        pods_per_connection.push(pods);
    }
    // Deterministic: one endpoint per connection; round robin alternates them.
    assert!(
        pods_per_connection.iter().all(|pods| pods.len() == 1),
        "{pods_per_connection:?}"
    );
    let all: std::collections::BTreeSet<_> = pods_per_connection.iter().flatten().collect();
    assert_eq!(all.len(), 2, "connections are spread over the endpoints");
    proxy.stop().await;
    fleet.stop().await;
}

#[tokio::test]
async fn thrift_oneway_calls_are_forwarded_and_answered_with_nothing() {
    use meshbench_wire::thrift::hello::SayHello;
    use meshbench_wire::thrift::{
        Encoding, Message, MessageType, ThriftCodec, Transport, TransportMode,
    };
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::Encoder;

    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1"],
    )
    .await;
    let all = forward(vec![(cluster_name(&fleet, "v1"), 1)]);
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Thrift,
        vec![route("all", vec![], all)],
    ))
    .await;
    let call = SayHello {
        name: "oneway".into(),
        context: BTreeMap::new(),
    }
    .encode_call(Transport::Framed, Encoding::Binary, None, 5);
    let oneway = Message::new(
        Transport::Framed,
        Encoding::Binary,
        "sayHello",
        MessageType::Oneway,
        5,
        call.body(),
    );
    let mut bytes = bytes::BytesMut::new();
    ThriftCodec::new(TransportMode::Auto)
        .encode(&oneway, &mut bytes)
        .expect("encodes");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream.write_all(&bytes).await.expect("writes");
    for _ in 0..200 {
        if fleet.collector().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        fleet.collector().len(),
        1,
        "the oneway call reached the backend"
    );
    assert_eq!(proxy.stats().total("meshproxy_requests_total"), 1);
    proxy.stop().await;
    fleet.stop().await;
}

/// ln P(X = k) for X ~ Binomial(n, p), for every k (log space: (1-p)^n
/// underflows for the n used here).
fn binomial_log_pmf(n: u64, p: f64) -> Vec<f64> {
    let mut log_pmf = Vec::with_capacity(n as usize + 1);
    let mut current = n as f64 * (1.0 - p).ln();
    for k in 0..=n {
        log_pmf.push(current);
        current += ((n - k) as f64 / (k + 1) as f64).ln() + (p / (1.0 - p)).ln();
    }
    log_pmf
}

/// The narrowest-tailed acceptance band [lo, hi] whose two tails each hold
/// at most alpha/2 under Binomial(n, p).
fn acceptance_band(n: u64, p: f64, alpha: f64) -> (u64, u64) {
    let pmf: Vec<f64> = binomial_log_pmf(n, p).into_iter().map(f64::exp).collect();
    let (mut lo, mut below) = (0, 0.0);
    while below + pmf[lo] <= alpha / 2.0 {
        below += pmf[lo];
        lo += 1;
    }
    let (mut hi, mut above) = (n as usize, 0.0);
    while above + pmf[hi] <= alpha / 2.0 {
        above += pmf[hi];
        hi -= 1;
    }
    (lo as u64, hi as u64)
}

/// P(lo <= X <= hi) for X ~ Binomial(n, p): the chance a skewed proxy passes.
fn probability_inside(n: u64, p: f64, (lo, hi): (u64, u64)) -> f64 {
    binomial_log_pmf(n, p)[lo as usize..=hi as usize]
        .iter()
        .map(|l| l.exp())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_80_split_holds_its_weights_at_alpha_1e_6() {
    // Design: alpha 1e-6 (false failure), and this n must detect a proxy that
    // sends 25% instead of 20% (or 15%) with power >= 0.99; both checked here.
    const N: u64 = 4000;
    const ALPHA: f64 = 1e-6;
    let band = acceptance_band(N, 0.20, ALPHA);
    let miss = probability_inside(N, 0.25, band).max(probability_inside(N, 0.15, band));
    assert!(
        1.0 - miss >= 0.99,
        "n = {N} has power {} against a 5-point skew",
        1.0 - miss
    );

    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1", "v2"],
    )
    .await;
    let split = forward(vec![
        (cluster_name(&fleet, "v1"), 20),
        (cluster_name(&fleet, "v2"), 80),
    ]);
    let (proxy, addr) = start(table(
        &fleet,
        Protocol::Thrift,
        vec![route("split", vec![], split)],
    ))
    .await;
    let client = Arc::new(
        ThriftClient::connect(addr, ThriftOptions::default())
            .await
            .expect("connects"),
    );
    // 8 callers share the one connection, so calls are pipelined on it.
    let callers = (0..8).map(|_| {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            let mut v1 = 0u64;
            for _ in 0..N / 8 {
                let reply = client
                    .say_hello("x", None, BTreeMap::new())
                    .await
                    .expect("answers");
                v1 += u64::from(reply.echo.expect("echo").version == "v1");
            }
            v1
        })
    });
    let mut v1 = 0;
    for caller in callers {
        v1 += caller.await.expect("caller");
    }
    assert!(
        band.0 <= v1 && v1 <= band.1,
        "v1 got {v1} of {N}; accepted band at alpha {ALPHA}: {band:?}"
    );
    proxy.stop().await;
    fleet.stop().await;
}
