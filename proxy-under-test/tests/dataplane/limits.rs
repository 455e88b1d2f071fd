//! Connection limits: past `max_connections` a connection is accepted and
//! closed at once, counted with its cause, and a freed slot lets the next
//! one in.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::support::*;

/// Whether the proxy closes `stream` within `within` (EOF or reset): the
/// answer to a refused connection. A held one stays open.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => panic!("the proxy sent bytes unasked"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_at_once_and_counted() {
    let fleet = fleet("svc.ns.svc.cluster.local", Protocol::Thrift, &["v1"]).await;
    let table = table(
        &fleet,
        Protocol::Thrift,
        vec![route(
            "r",
            vec![],
            forward(vec![(cluster_name(&fleet, "v1"), 1)]),
        )],
    );
    let options = ProxyOptions {
        max_connections: Some(3),
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(table, &options).await.expect("starts");
    let addr = proxy.listeners()[0].1;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.expect("connects"));
    }
    let mut refused = TcpStream::connect(addr).await.expect("the kernel accepts");
    assert!(
        closed_within(&mut refused, Duration::from_secs(5)).await,
        "the fourth is closed"
    );
    for stream in &mut held {
        assert!(
            !closed_within(stream, Duration::from_millis(100)).await,
            "held"
        );
    }
    let stats = proxy.stats().render();
    assert!(
        stats.contains(
            "meshproxy_downstream_connections_refused_total{listener=\"svc.ns.svc.cluster.local\",cause=\"max_connections\"} 1"
        ),
        "{stats}"
    );
    drop(held.pop());
    // The slot comes back once the proxy has seen the close.
    let mut admitted = false;
    for _ in 0..100 {
        let mut next = TcpStream::connect(addr).await.expect("connects");
        if !closed_within(&mut next, Duration::from_millis(100)).await {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "a freed slot admits the next connection");
    proxy.stop().await;
    fleet.stop().await;
}
