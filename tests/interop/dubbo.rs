//! Dubbo2: dubbo-ssl-python and dubbo2.js call our provider; our consumer
//! calls dubbo-py's provider.

use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;
use std::process::Command;

use meshbench_sim::client::dubbo::{DEMO_SERVICE, DubboClient};
use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::Protocol;

use crate::peer::{self, ServerPeer};

async fn provider() -> Fleet {
    let spec = ServiceSpec {
        service: "org.apache.dubbo.samples.basic.api.demoservice".into(),
        protocol: Protocol::Dubbo,
        port: 20880,
        thrift: ServerCodec::DETECT,
        versions: vec![VersionSpec {
            name: "v1".into(),
            replicas: 1,
            labels: BTreeMap::new(),
            behaviour: Behaviour::default(),
        }],
    };
    Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts")
}

/// Runs a client peer against `fleet` and checks every greeting and that the
/// attachment it sent reached the provider as a routing attribute.
async fn check_client(fleet: &Fleet, mut cmd: Command, what: &str) {
    let identity = fleet.endpoints()[0].identity.clone();
    cmd.args([
        "--addr",
        &identity.addr.to_string(),
        "--count",
        "3",
        "--name",
        "Aeraki",
        "--attach",
        "user=admin",
        "--max-seconds",
        "20",
    ]);
    let lines = tokio::task::spawn_blocking(move || peer::run_client(cmd))
        .await
        .expect("peer task");
    assert_eq!(lines.len(), 3, "{what}: {lines:?}");
    for line in &lines {
        let result = line["result"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {line}"));
        let expected = format!("Hello Aeraki, response from {identity}");
        assert!(result.starts_with(&expected), "{what}: {result}");
    }
    let records = fleet.collector().records();
    let last = records.last().expect("recorded");
    for expected in [
        ("interface", DEMO_SERVICE),
        ("method", "sayHello"),
        ("user", "admin"),
    ] {
        let pair = (expected.0.to_owned(), expected.1.to_owned());
        assert!(
            last.attributes.contains(&pair),
            "{what}: {:?}",
            last.attributes
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_ssl_python_calls_our_provider() {
    let Some(python) = peer::python() else { return };
    let fleet = provider().await;
    let mut cmd = Command::new(python);
    cmd.arg(peer::script("dubbo_client.py"));
    check_client(&fleet, cmd, "dubbo-ssl-python").await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo2_js_calls_our_provider() {
    let Some(mut cmd) = peer::node() else { return };
    let fleet = provider().await;
    cmd.arg(peer::script("dubbo_client.js"));
    check_client(&fleet, cmd, "dubbo2.js").await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_consumer_calls_dubbo_py() {
    let Some(python) = peer::python() else { return };
    let mut cmd = Command::new(python);
    cmd.arg(peer::script("dubbo_server.py"))
        .args(["--addr", "127.0.0.1:0", "--max-seconds", "20"]);
    let server = ServerPeer::start(cmd);
    let client = DubboClient::connect(server.addr).await.expect("connects");
    let attachments = vec![("user".to_owned(), "admin".to_owned())];
    for _ in 0..3 {
        let reply = client
            .call(
                DEMO_SERVICE,
                "sayHello",
                "Aeraki",
                Some("r-1"),
                &attachments,
            )
            .await
            .expect("answers");
        assert!(reply.success, "{reply:?}");
        assert!(
            reply
                .text
                .starts_with("Hello Aeraki, response from dubbo-py-peer"),
            "{}",
            reply.text
        );
        assert!(
            reply.text.contains("user=admin"),
            "the attachment reached dubbo-py: {}",
            reply.text
        );
        assert!(reply.text.contains("x-request-id=r-1"), "{}", reply.text);
    }
    let failure = client
        .call(DEMO_SERVICE, "sayHello", "fail", None, &[])
        .await
        .expect("answers");
    assert!(!failure.success);
}
