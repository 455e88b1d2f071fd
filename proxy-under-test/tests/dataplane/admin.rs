//! The admin API through a socket: readiness, listeners, config dump, stats,
//! and a reload that applies to an open connection or is refused whole.

use meshbench_proxy_under_test::admin::{self, Access, Compiler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::support::*;

#[tokio::test]
async fn admin_reports_and_reloads() {
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
    let (v1, v2) = (to("v1"), to("v2"));
    let proxy = Arc::new(
        Proxy::start(v1, &ProxyOptions::default())
            .await
            .expect("proxy starts"),
    );
    // The test's compiler: "v2" compiles to the v2 table, anything else is refused.
    let compiler: Arc<Compiler> = Arc::new(move |yaml: &str, version: u64| match yaml.trim() {
        "v2" => Ok(RouteTable {
            version,
            ..v2.clone()
        }),
        other => Err(format!("cannot compile '{other}'")),
    });
    let listener = admin::bind(SocketAddr::from((LOOPBACK, 0)))
        .await
        .expect("binds");
    let admin_addr = listener.local_addr().expect("address");
    let cancel = CancellationToken::new();
    tokio::spawn(admin::run(
        listener,
        (Arc::clone(&proxy), compiler),
        Access::Open,
        cancel.clone(),
    ));

    let admin = HttpClient::connect(admin_addr).await.expect("connects");
    let get = async |path: &str| {
        admin
            .send(Request::new("GET", path), None)
            .await
            .expect("answers")
            .0
    };
    assert_eq!(get("/ready").await.status, 200);
    let listeners: serde_json::Value =
        serde_json::from_slice(&get("/listeners").await.body).expect("json");
    assert_eq!(listeners[0]["address"], proxy.listeners()[0].1.to_string());
    let dump: serde_json::Value =
        serde_json::from_slice(&get("/config_dump").await.body).expect("json");
    assert_eq!(dump["version"], 1);
    assert_eq!(dump["listeners"][0]["routes"][0]["name"], "r");

    let client = ThriftClient::connect(proxy.listeners()[0].1, ThriftOptions::default())
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

    let mut refused = Request::new("PUT", "/config");
    refused.body = "v3".into();
    let (response, _) = admin.send(refused, None).await.expect("answers");
    assert_eq!(
        (response.status, &response.body[..]),
        (400, &b"cannot compile 'v3'\n"[..])
    );
    assert_eq!(
        version().await.as_deref(),
        Some("v1"),
        "a refused config changes nothing"
    );

    let mut reload = Request::new("PUT", "/config");
    reload.body = "v2".into();
    let (response, _) = admin.send(reload, None).await.expect("answers");
    assert_eq!(
        (response.status, &response.body[..]),
        (200, &br#"{"version":2}"#[..])
    );
    assert_eq!(
        version().await.as_deref(),
        Some("v2"),
        "applied on the open connection"
    );
    assert!(!client.is_closed());

    let stats = String::from_utf8_lossy(&get("/stats/prometheus").await.body).into_owned();
    assert!(stats.contains("meshproxy_requests_total{"), "{stats}");
    assert_eq!(get("/nowhere").await.status, 404);
    cancel.cancel();
    proxy.stop().await;
    fleet.stop().await;
}

/// Behind a token: a request without it gets 401 and changes nothing; a
/// `PUT /config` announcing more than the body limit gets 413 at once,
/// before any of its body is sent, and the connection closes.
#[tokio::test]
async fn admin_refuses_strangers_and_oversized_bodies() {
    let fleet = fleet("svc.ns.svc.cluster.local", Protocol::Thrift, &["v1"]).await;
    let v1 = table(
        &fleet,
        Protocol::Thrift,
        vec![route(
            "r",
            vec![],
            forward(vec![(cluster_name(&fleet, "v1"), 1)]),
        )],
    );
    let proxy = Arc::new(
        Proxy::start(v1, &ProxyOptions::default())
            .await
            .expect("proxy starts"),
    );
    let compiler: Arc<Compiler> = Arc::new(|_: &str, _| Err("no reloads here".to_owned()));
    let listener = admin::bind(SocketAddr::from((LOOPBACK, 0)))
        .await
        .expect("binds");
    let admin_addr = listener.local_addr().expect("address");
    let cancel = CancellationToken::new();
    let token = "a-token-of-some-length";
    tokio::spawn(admin::run(
        listener,
        (Arc::clone(&proxy), compiler),
        Access::Token(token.to_owned()),
        cancel.clone(),
    ));
    let admin = HttpClient::connect(admin_addr).await.expect("connects");
    let (stranger, _) = admin
        .send(Request::new("GET", "/config_dump"), None)
        .await
        .expect("answers");
    assert_eq!(stranger.status, 401);
    assert_eq!(stranger.headers.get("www-authenticate"), Some("Bearer"));
    let mut bearer = Request::new("GET", "/ready");
    bearer
        .headers
        .append("authorization", format!("Bearer {token}"));
    let (ready, _) = admin.send(bearer, None).await.expect("answers");
    assert_eq!(ready.status, 200);

    let mut raw = tokio::net::TcpStream::connect(admin_addr)
        .await
        .expect("connects");
    let declared = admin::MAX_BODY + 1;
    let head = format!(
        "PUT /config HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {token}\r\ncontent-length: {declared}\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.expect("writes");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        raw.read_to_end(&mut answer),
    )
    .await
    .expect("answered and closed at once, not after a body")
    .expect("reads");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert_eq!(proxy.table().version, 1, "nothing applied");
    cancel.cancel();
    proxy.stop().await;
    fleet.stop().await;
}
