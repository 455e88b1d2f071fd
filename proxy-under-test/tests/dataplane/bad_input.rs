//! Bad input from clients: garbage, truncated and oversized frames get a
//! close, never a panic, and every connection is released afterwards.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::*;

/// Sends `bytes`, half-closes, and waits (bounded) for the proxy to close.
async fn send_and_wait_for_close(addr: SocketAddr, bytes: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream.write_all(bytes).await.expect("writes");
    let _ = stream.shutdown().await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the proxy closed the connection");
}

#[tokio::test]
async fn malformed_frames_close_the_connection_and_release_it() {
    let cases: [(&str, Protocol, Vec<Vec<u8>>); 4] = [
        (
            "thrift-sample-server.meta-thrift.svc.cluster.local",
            Protocol::Thrift,
            vec![
                b"\x16\x03\x01 not thrift".to_vec(),
                vec![0x80, 0x01, 0x00, 0x01, 0x00, 0x00],
                vec![0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01],
            ],
        ),
        (
            "org.apache.dubbo.samples.basic.api.demoservice",
            Protocol::Dubbo,
            vec![
                vec![0x12, 0x34, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                vec![
                    0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff,
                ],
                vec![
                    0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, b'x', b'y', b'z',
                ],
            ],
        ),
        (
            "travels.travel-agency.svc.cluster.local",
            Protocol::Http,
            vec![
                b"\x16\x03\x01 not http\r\n\r\n".to_vec(),
                b"POST / HTTP/1.1\r\ncontent-length: 99999999999\r\n\r\n".to_vec(),
                b"GET / HTTP/1.1\r\nHost: x".to_vec(),
            ],
        ),
        (
            "greeter.dubbo-go.svc.cluster.local",
            Protocol::Grpc,
            vec![
                b"\x16\x03\x01 not h2".to_vec(),
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
                // The preface, then a frame header declaring 16 MiB of HEADERS.
                [
                    &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
                    &[0xff, 0xff, 0xff, 1, 4, 0, 0, 0, 1],
                ]
                .concat(),
            ],
        ),
    ];
    for (service, protocol, inputs) in cases {
        let fleet = fleet(service, protocol, &["v1"]).await;
        let all = all_to_v1(&fleet, protocol);
        let (proxy, addr) = start(all).await;
        for input in &inputs {
            send_and_wait_for_close(addr, input).await;
        }
        // The connection tasks end right after the close; poll (bounded) for the gauge.
        let mut active = -1;
        for _ in 0..100 {
            active = proxy
                .stats()
                .total("meshproxy_downstream_connections_active");
            if active == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(active, 0, "{protocol}: connections released");
        assert_eq!(
            proxy
                .stats()
                .total("meshproxy_downstream_connections_total"),
            inputs.len() as i64
        );
        assert_eq!(
            fleet.collector().len(),
            0,
            "{protocol}: nothing malformed reached a backend"
        );
        proxy.stop().await;
        fleet.stop().await;
    }
}

#[tokio::test]
async fn a_frame_trickled_byte_by_byte_is_cut_off_at_the_idle_timeout() {
    let fleet = fleet(
        "thrift-sample-server.meta-thrift.svc.cluster.local",
        Protocol::Thrift,
        &["v1"],
    )
    .await;
    let all = all_to_v1(&fleet, Protocol::Thrift);
    let options = ProxyOptions {
        idle_timeout: Some(std::time::Duration::from_millis(300)),
        ..ProxyOptions::default()
    };
    let proxy = Proxy::start(all, &options).await.expect("proxy starts");
    let mut stream = tokio::net::TcpStream::connect(proxy.listeners()[0].1)
        .await
        .expect("connects");
    // A strict-binary call header, one byte every 50 ms, never finished.
    let mut closed = false;
    for byte in [0x80u8, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08]
        .iter()
        .cycle()
        .take(200)
    {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(closed, "the proxy closed the trickling connection");
    assert_eq!(
        proxy
            .stats()
            .total("meshproxy_downstream_idle_timeouts_total"),
        1
    );
    proxy.stop().await;
    fleet.stop().await;
}
