//! gRPC and Triple: grpcio (gRPC's C-core) and @grpc/grpc-js call our
//! Greeter directly and through meshproxy, which routes each call of their
//! one HTTP/2 channel by its metadata; our client calls grpcio's server,
//! directly and through meshproxy.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use meshbench_proxy_under_test::config::{
    Endpoint, EndpointList, ServiceEndpoints, compile, load_objects,
};
use meshbench_proxy_under_test::dataplane::{Proxy, ProxyOptions};
use meshbench_sim::client::grpc::{Call, GrpcClient};
use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::Protocol;
use meshbench_wire::grpc::greeter;
use meshbench_wire::thrift::ServerCodec;

use crate::peer::{self, ServerPeer};

const SERVICE: &str = "greeter.dubbo-go.svc.cluster.local";
const PORT: u16 = 20000;

/// The Triple walkthrough's step 2: `user: admin` to v2, the rest to v1.
const ROUTING: &str = "
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: greeter, namespace: dubbo-go }
spec:
  host: greeter.dubbo-go.svc.cluster.local
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: greeter, namespace: dubbo-go }
spec:
  hosts: [greeter.dubbo-go.svc.cluster.local]
  http:
    - match: [{ headers: { user: { exact: admin } } }]
      route: [{ destination: { host: greeter.dubbo-go.svc.cluster.local, subset: v2 } }]
    - route: [{ destination: { host: greeter.dubbo-go.svc.cluster.local, subset: v1 } }]
";

async fn greeters(versions: &[&str]) -> Fleet {
    let spec = ServiceSpec {
        service: SERVICE.into(),
        protocol: Protocol::Grpc,
        port: PORT,
        thrift: ServerCodec::DETECT,
        versions: versions
            .iter()
            .map(|v| VersionSpec {
                name: (*v).into(),
                replicas: 1,
                labels: BTreeMap::new(),
                behaviour: Behaviour::default(),
            })
            .collect(),
    };
    Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts")
}

/// meshproxy in front of `endpoints` (address, version), routed by `routing`.
async fn meshproxy(endpoints: &[(SocketAddr, &str)], routing: &str) -> (Proxy, SocketAddr) {
    let list = EndpointList {
        services: vec![ServiceEndpoints {
            name: SERVICE.into(),
            protocol: Protocol::Grpc,
            port: PORT,
            endpoints: endpoints
                .iter()
                .map(|(address, version)| Endpoint {
                    address: *address,
                    labels: BTreeMap::from([("version".to_owned(), (*version).to_owned())]),
                })
                .collect(),
        }],
    };
    let objects = load_objects(routing).expect("routing loads");
    let table = compile(&objects, &list, 1).expect("routing compiles");
    let proxy = Proxy::start(table, &ProxyOptions::default())
        .await
        .expect("proxy starts");
    let addr = proxy.listeners()[0].1;
    (proxy, addr)
}

fn fleet_endpoints(fleet: &Fleet) -> Vec<(SocketAddr, &str)> {
    fleet
        .endpoints()
        .iter()
        .map(|e| (e.identity.addr, e.identity.version.as_str()))
        .collect()
}

/// Runs a client peer for `count` calls and returns its JSON lines.
async fn run_peer(
    mut cmd: Command,
    addr: SocketAddr,
    user: Option<&str>,
) -> Vec<serde_json::Value> {
    cmd.args([
        "--addr",
        &addr.to_string(),
        "--count",
        "3",
        "--name",
        "laurence",
    ]);
    cmd.args(["--max-seconds", "20"]);
    if let Some(user) = user {
        cmd.args(["--metadata", &format!("user={user}")]);
    }
    let lines = tokio::task::spawn_blocking(move || peer::run_client(cmd))
        .await
        .expect("peer task");
    assert_eq!(lines.len(), 3, "{lines:?}");
    lines
}

/// Every line is the Greeter's answer from `version`, echo included.
fn answered_by(lines: &[serde_json::Value], version: &str, what: &str) {
    for line in lines {
        assert_eq!(line["name"], "Hello laurence", "{what}: {line}");
        assert_eq!(
            line["id"],
            greeter::version_id(version).as_str(),
            "{what}: {line}"
        );
        assert_eq!(
            line["metadata"]["x-meshbench-version"], version,
            "{what}: the echo travels in the initial metadata: {line}"
        );
    }
}

async fn client_calls_our_greeter(cmd: Option<Command>, what: &str) {
    let Some(cmd) = cmd else { return };
    let fleet = greeters(&["v1"]).await;
    let addr = fleet.endpoints()[0].identity.addr;
    let lines = run_peer(cmd, addr, Some("admin")).await;
    answered_by(&lines, "v1", what);
    let records = fleet.collector().records();
    assert_eq!(records.len(), 3, "{what}");
    let path = greeter::SERVICE.to_owned();
    for (name, value) in [
        ("user", "admin"),
        (":path", &format!("/{path}/SayHello")),
        (":method", "POST"),
    ] {
        let pair = (name.to_owned(), value.to_owned());
        assert!(
            records[0].attributes.contains(&pair),
            "{what}: {name} reached the endpoint: {:?}",
            records[0].attributes
        );
    }
    let connections: std::collections::BTreeSet<u64> =
        records.iter().map(|r| r.connection).collect();
    assert_eq!(connections.len(), 1, "{what}: one channel, one connection");
    fleet.stop().await;
}

async fn client_routed_by_meshproxy(cmd: impl Fn() -> Option<Command>, what: &str) {
    let Some(probe) = cmd() else { return };
    drop(probe);
    let fleet = greeters(&["v1", "v2"]).await;
    let (proxy, addr) = meshproxy(&fleet_endpoints(&fleet), ROUTING).await;
    for (user, version) in [(Some("admin"), "v2"), (Some("guest"), "v1"), (None, "v1")] {
        let Some(cmd) = cmd() else { return };
        let lines = run_peer(cmd, addr, user).await;
        answered_by(&lines, version, &format!("{what}, user {user:?}"));
    }
    proxy.stop().await;
    fleet.stop().await;
}

fn python_peer(script: &str) -> Option<Command> {
    let python = peer::python()?;
    let mut cmd = Command::new(python);
    cmd.arg(peer::script(script));
    Some(cmd)
}

fn node_peer() -> Option<Command> {
    let mut cmd = peer::node()?;
    cmd.arg(peer::script("grpc_client.js"));
    Some(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_calls_our_greeter() {
    client_calls_our_greeter(python_peer("grpc_client.py"), "grpcio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_client_calls_our_greeter() {
    client_calls_our_greeter(node_peer(), "grpc-js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_is_routed_by_metadata_through_meshproxy() {
    client_routed_by_meshproxy(|| python_peer("grpc_client.py"), "grpcio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_client_is_routed_by_metadata_through_meshproxy() {
    client_routed_by_meshproxy(node_peer, "grpc-js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_calls_grpcio_server_directly_and_through_meshproxy() {
    let Some(mut cmd) = python_peer("grpc_server.py") else {
        return;
    };
    cmd.args(["--addr", "127.0.0.1:0", "--max-seconds", "30"]);
    let server = ServerPeer::start(cmd);
    let (proxy, through) = meshproxy(&[(server.addr, "v1")], "[]").await;
    let metadata = BTreeMap::from([("user".to_owned(), "admin".to_owned())]);
    for addr in [server.addr, through] {
        let client = GrpcClient::connect(addr, Some("greeter:20000"))
            .await
            .expect("connects");
        let call = |name| Call {
            service: greeter::SERVICE,
            method: greeter::METHOD,
            name,
            metadata: &metadata,
        };
        for _ in 0..3 {
            let reply = client
                .call(call("laurence"), Some("r-1"))
                .await
                .expect("answers");
            assert!(reply.success, "{addr}: {reply:?}");
            assert_eq!(reply.code, "0");
            assert_eq!(reply.text, "Hello laurence (grpcio-peer)", "{addr}");
        }
        let failure = client.call(call("fail"), None).await.expect("answers");
        assert!(!failure.success, "{addr}: {failure:?}");
        assert_eq!(failure.code, "14", "{addr}: UNAVAILABLE: {failure:?}");
        assert_eq!(failure.text, "asked to fail", "{addr}");
    }
    proxy.stop().await;
}
