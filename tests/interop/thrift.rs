//! Thrift: Apache Thrift's Python library and thriftpy2 against our fleet
//! server and our client, over every transport, encoding and multiplexing.

use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;
use std::process::Command;

use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::Protocol;
use meshbench_wire::thrift::{Encoding, Transport};

use crate::peer::{self, ServerPeer};

const LIBS: [&str; 2] = ["apache", "thriftpy2"];

/// Every (transport, encoding, multiplexed service) combination.
fn combinations() -> Vec<(Transport, Encoding, Option<&'static str>)> {
    let mut all = Vec::new();
    for transport in [Transport::Framed, Transport::Unframed] {
        for encoding in [Encoding::Binary, Encoding::Compact] {
            for service in [None, Some("HelloService")] {
                all.push((transport, encoding, service));
            }
        }
    }
    all
}

fn peer_command(
    python: &std::path::Path,
    lib: &str,
    role: &str,
    addr: &str,
    combo: (Transport, Encoding, Option<&str>),
) -> Command {
    let (transport, encoding, service) = combo;
    let mut cmd = Command::new(python);
    cmd.arg(peer::script("thrift_peer.py"))
        .args([
            "--lib",
            lib,
            "--role",
            role,
            "--addr",
            addr,
            "--max-seconds",
            "20",
        ])
        .args([
            "--transport",
            if transport == Transport::Framed {
                "framed"
            } else {
                "buffered"
            },
        ])
        .args([
            "--protocol",
            if encoding == Encoding::Binary {
                "binary"
            } else {
                "compact"
            },
        ]);
    if let Some(service) = service {
        cmd.args(["--service", service]);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn their_clients_call_our_fleet_server() {
    let Some(python) = peer::python() else { return };
    let spec = ServiceSpec {
        service: "thrift-sample-server.meta-thrift.svc.cluster.local".into(),
        protocol: Protocol::Thrift,
        port: 9090,
        thrift: ServerCodec::DETECT,
        versions: vec![VersionSpec {
            name: "v1".into(),
            replicas: 1,
            labels: BTreeMap::new(),
            behaviour: Behaviour::default(),
        }],
    };
    let fleet = Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts");
    let identity = fleet.endpoints()[0].identity.clone();
    let addr = identity.addr.to_string();
    for lib in LIBS {
        for combo in combinations() {
            let mut cmd = peer_command(&python, lib, "client", &addr, combo);
            cmd.args(["--count", "3", "--name", "Aeraki"]);
            let lines = tokio::task::spawn_blocking(move || peer::run_client(cmd))
                .await
                .expect("peer task");
            assert_eq!(lines.len(), 3, "{lib} {combo:?}: {lines:?}");
            for line in &lines {
                let result = line["result"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{lib} {combo:?}: {line}"));
                let expected = format!("Hello Aeraki, response from {identity} [meshbench ");
                assert!(result.starts_with(&expected), "{lib} {combo:?}: {result}");
            }
        }
    }
    // 2 libraries x 8 combinations x 3 calls, every one recorded by the endpoint.
    assert_eq!(fleet.collector().len(), 48);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_calls_their_servers() {
    let Some(python) = peer::python() else { return };
    for lib in LIBS {
        for combo in combinations() {
            let server =
                ServerPeer::start(peer_command(&python, lib, "server", "127.0.0.1:0", combo));
            let (transport, encoding, service) = combo;
            let options = ThriftOptions {
                transport,
                encoding,
                service: service.map(str::to_owned),
            };
            let client = ThriftClient::connect(server.addr, options)
                .await
                .expect("connects");
            let context = BTreeMap::from([("user".to_owned(), "admin".to_owned())]);
            for _ in 0..3 {
                let reply = client
                    .say_hello("Aeraki", Some("r-1"), context.clone())
                    .await
                    .expect("answers");
                assert!(reply.success, "{lib} {combo:?}: {reply:?}");
                assert_eq!(
                    reply.text,
                    format!(
                        "Hello Aeraki, response from {lib}-peer context=user=admin,x-request-id=r-1"
                    ),
                    "{lib} {combo:?}"
                );
                assert_eq!(reply.echo, None, "a third-party server sends no echo");
            }
            let failure = client
                .say_hello("fail", None, BTreeMap::new())
                .await
                .expect("answers");
            assert!(!failure.success, "{lib} {combo:?}");
            assert_eq!(
                failure.code, "InternalError",
                "{lib} {combo:?}: {failure:?}"
            );
        }
    }
}
