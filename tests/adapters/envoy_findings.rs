//! What a real Envoy does that an Istio or Aeraki user must know, each as the
//! smallest reproduction through the Envoy adapter. Each test asserts the
//! behaviour as it is in the Envoy installed (1.40.0): when a release fixes a
//! defect, its test fails and `tests/expected/envoy.yaml`,
//! `reports/conformance/envoy-1.40.md` and `docs/envoy/README.md` get updated.
//! Without an Envoy (and `MESHBENCH_REQUIRE_ENVOY` unset) they say so and
//! pass; CI sets it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use meshbench::adapter::envoy::Layer;
use meshbench::adapter::{self, EnvoyAdapter, ProxyAdapter, ProxySettings, Service};
use meshbench_sim::client::dubbo::DEMO_SERVICE;
use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::Protocol;
use meshbench_wire::dubbo::{DubboCodec, Frame, Reply, Request, Status, Value};
use meshbench_wire::thrift::{ServerCodec, Transport};
use tokio_util::codec::Framed;

const THRIFT: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";
const DUBBO: &str = "dubbo-sample-provider.meta-dubbo.svc.cluster.local";

/// Whether a real Envoy is here to test (it must be when CI says so).
fn envoy_installed() -> bool {
    match adapter::envoy::locate() {
        Ok(_) => true,
        Err(missing) => {
            assert!(
                std::env::var_os("MESHBENCH_REQUIRE_ENVOY").is_none(),
                "{missing}"
            );
            eprintln!("no Envoy installed: {missing}");
            false
        }
    }
}

fn objects(objects: Vec<serde_json::Value>) -> Vec<adapter::Routing> {
    objects
        .into_iter()
        .map(|object| adapter::Routing::from_json(object).expect("a valid object"))
        .collect()
}

fn subsets(host: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "dr", "namespace": "default"},
        "spec": {"host": host, "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}}]}
    })
}

/// One service of two versions, one endpoint each.
async fn fleet(service: &str, protocol: Protocol, port: u16, thrift: ServerCodec) -> Fleet {
    let versions = ["v1", "v2"].map(|v| VersionSpec {
        name: v.into(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour: Behaviour::default(),
    });
    let spec = ServiceSpec {
        service: service.into(),
        protocol,
        port,
        thrift,
        versions: versions.to_vec(),
    };
    Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts")
}

/// Envoy started for `fleet`'s one service with `routing`; its listener.
async fn envoy(
    fleet: &Fleet,
    protocol: Protocol,
    port: u16,
    thrift: ServerCodec,
    routing: &[adapter::Routing],
) -> (EnvoyAdapter, SocketAddr) {
    let name = fleet.endpoints()[0].identity.service.clone();
    let services = [Service {
        name: name.clone(),
        protocol,
        port,
        thrift,
        endpoints: fleet.endpoints().to_vec(),
    }];
    let mut envoy = EnvoyAdapter::new(None, Layer::Seven);
    let listeners = envoy
        .start(&services, routing, ProxySettings::default())
        .await
        .expect("Envoy starts");
    (envoy, listeners[&name])
}

/// A MetaRouter sending every call to v1 and mirroring all of them to v2.
fn thrift_mirror() -> Vec<adapter::Routing> {
    objects(vec![
        subsets(THRIFT),
        serde_json::json!({
            "apiVersion": "metaprotocol.aeraki.io/v1alpha1",
            "kind": "MetaRouter",
            "metadata": {"name": "mirror", "namespace": "meta-thrift"},
            "spec": {"hosts": [THRIFT], "routes": [{
                "name": "mirror",
                "route": [{"destination": {"host": THRIFT, "subset": "v1"}}],
                "mirror": {"host": THRIFT, "subset": "v2"},
                "mirrorPercentage": {"value": 100}}]}
        }),
    ])
}

/// Sends one framed call through Envoy mirroring to servers of `upstream`
/// transport; whether Envoy then exited, and how.
async fn mirror_one_call(upstream: Transport) -> Option<String> {
    let server = ServerCodec {
        transport: Some(upstream),
        ..ServerCodec::APACHE
    };
    let fleet = fleet(THRIFT, Protocol::Thrift, 9090, server).await;
    let (mut envoy, listener) =
        envoy(&fleet, Protocol::Thrift, 9090, server, &thrift_mirror()).await;
    let options = ThriftOptions {
        transport: Transport::Framed,
        ..ThriftOptions::default()
    };
    let client = ThriftClient::connect(listener, options)
        .await
        .expect("connects");
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        client.say_hello("x", None, BTreeMap::new()),
    )
    .await;
    let mut exit = None;
    for _ in 0..100 {
        exit = envoy.exited();
        if exit.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    envoy.stop().await;
    fleet.stop().await;
    exit
}

/// Envoy defect: thrift_proxy aborts on the first mirrored call when the
/// mirror cluster speaks unframed Thrift upstream (the Aeraki sample's
/// server), whatever the client's transport; over framed upstream
/// connections the same mirror runs clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrift_proxy_aborts_mirroring_to_an_unframed_upstream() {
    if !envoy_installed() {
        return;
    }
    let unframed = mirror_one_call(Transport::Unframed).await;
    assert!(
        unframed
            .as_deref()
            .is_some_and(|e| e.contains("killed by signal 6 (SIGABRT)")),
        "the defect is gone or changed: {unframed:?}"
    );
    let framed = mirror_one_call(Transport::Framed).await;
    assert_eq!(framed, None, "mirroring over framed upstream connections");
}

/// A MetaRouter serving only the sample interface.
fn dubbo_demo_only() -> Vec<adapter::Routing> {
    objects(vec![
        subsets(DUBBO),
        serde_json::json!({
            "apiVersion": "metaprotocol.aeraki.io/v1alpha1",
            "kind": "MetaRouter",
            "metadata": {"name": "demo", "namespace": "meta-dubbo"},
            "spec": {"hosts": [DUBBO], "routes": [{
                "name": "demo",
                "match": {"attributes": {"interface": {"exact": DEMO_SERVICE}}},
                "route": [{"destination": {"host": DUBBO, "subset": "v1"}}]}]}
        }),
    ])
}

fn call(interface: &str, id: u64) -> Frame {
    let mut request = Request::new(
        interface,
        "sayHello",
        "Ljava/lang/String;",
        vec![Value::String("x".into())],
    );
    request.attachments.insert("path", interface);
    request.attachments.insert("interface", interface);
    request.to_frame(id)
}

/// Envoy defect: dubbo_proxy's answer to a call no route matches has status
/// 60 and a body of a hessian2 int 0 *then* the message, where Dubbo writes
/// the message alone for any status but 20, so no Dubbo decoder reads it.
/// The connection stays open: the next, routed call is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_proxy_no_route_reply_puts_an_int_before_the_message() {
    if !envoy_installed() {
        return;
    }
    let fleet = fleet(DUBBO, Protocol::Dubbo, 20880, ServerCodec::APACHE).await;
    let (mut envoy, listener) = envoy(
        &fleet,
        Protocol::Dubbo,
        20880,
        ServerCodec::APACHE,
        &dubbo_demo_only(),
    )
    .await;
    let stream = tokio::net::TcpStream::connect(listener)
        .await
        .expect("connects");
    let mut connection = Framed::new(stream, DubboCodec::new());
    let within = Duration::from_secs(5);
    connection
        .send(call("other.Service", 1))
        .await
        .expect("sends");
    let reply = tokio::time::timeout(within, connection.next())
        .await
        .expect("an answer in time")
        .expect("an answer")
        .expect("a Dubbo frame");
    assert_eq!(reply.header.status, Status::ServiceNotFound);
    assert_eq!(reply.body.first(), Some(&0x90), "hessian2 int 0 first");
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        text.contains("no route for interface 'other.Service'"),
        "{text}"
    );
    assert!(
        Reply::from_frame(&reply).is_err(),
        "Dubbo's form of an error reply would decode"
    );
    connection.send(call(DEMO_SERVICE, 2)).await.expect("sends");
    let routed = tokio::time::timeout(within, connection.next())
        .await
        .expect("an answer in time")
        .expect("the connection stays open")
        .expect("a Dubbo frame");
    assert_eq!(routed.header.status, Status::Ok);
    envoy.stop().await;
    fleet.stop().await;
}
