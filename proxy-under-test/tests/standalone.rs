//! `meshproxy` standalone, as a user runs it: YAML files in, a fleet behind
//! it, a client in front, a reload through the admin API.

use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use meshbench_sim::client::http::HttpClient;
use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
use meshbench_wire::Protocol;
use meshbench_wire::http1::Request;

const SERVICE: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";

fn metarouter(v1: u32, v2: u32) -> String {
    format!(
        r#"apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {{ name: test-metaprotocol-thrift-route, namespace: meta-thrift }}
spec:
  hosts: [{SERVICE}]
  routes:
    - name: traffic-split
      match: {{ attributes: {{ method: {{ exact: sayHello }} }} }}
      route:
        - {{ destination: {{ host: {SERVICE}, subset: v1 }}, weight: {v1} }}
        - {{ destination: {{ host: {SERVICE}, subset: v2 }}, weight: {v2} }}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {{ name: thrift-sample-server, namespace: meta-thrift }}
spec:
  host: {SERVICE}
  subsets:
    - {{ name: v1, labels: {{ version: v1 }} }}
    - {{ name: v2, labels: {{ version: v2 }} }}
"#
    )
}

fn endpoints_yaml(fleet: &Fleet) -> String {
    let mut yaml = format!(
        "services:\n  - name: {SERVICE}\n    protocol: thrift\n    port: 9090\n    endpoints:\n"
    );
    for endpoint in fleet.endpoints() {
        yaml.push_str(&format!(
            "      - {{ address: \"{}\", labels: {{ version: {} }} }}\n",
            endpoint.identity.addr, endpoint.labels["version"]
        ));
    }
    yaml
}

struct MeshProxy {
    child: Child,
    admin: SocketAddr,
    listener: SocketAddr,
}

impl Drop for MeshProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(config: &std::path::Path, endpoints: &std::path::Path) -> MeshProxy {
    spawn_with(
        Command::new(env!("CARGO_BIN_EXE_meshproxy")),
        config,
        endpoints,
    )
}

/// `meshproxy` run by `command` (itself, or a shell that sets limits first).
fn spawn_with(
    mut command: Command,
    config: &std::path::Path,
    endpoints: &std::path::Path,
) -> MeshProxy {
    let mut child = command
        .arg("--config")
        .arg(config)
        .arg("--endpoints")
        .arg(endpoints)
        .args(["--admin", "127.0.0.1:0", "--for", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshproxy starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().expect("a line").expect("reads");
    let admin = next();
    let listener = next();
    let parse = |line: &str, first: &str| -> SocketAddr {
        let (name, addr) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("line '{line}'"));
        assert_eq!(name, first);
        addr.parse().expect("an address")
    };
    MeshProxy {
        admin: parse(&admin, "admin"),
        listener: parse(&listener, SERVICE),
        child,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meshproxy_routes_a_fleet_from_yaml_and_reloads_through_admin() {
    let versions = ["v1", "v2"].map(|v| VersionSpec {
        name: v.into(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour: Behaviour::default(),
    });
    let spec = ServiceSpec {
        service: SERVICE.into(),
        protocol: Protocol::Thrift,
        port: 9090,
        thrift: ServerCodec::DETECT,
        versions: versions.to_vec(),
    };
    let fleet = Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts");

    let dir = std::env::temp_dir().join(format!("meshproxy-standalone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (config, endpoints) = (dir.join("routing.yaml"), dir.join("endpoints.yaml"));
    std::fs::write(&config, metarouter(0, 100)).expect("writes");
    std::fs::write(&endpoints, endpoints_yaml(&fleet)).expect("writes");
    let proxy = tokio::task::spawn_blocking(move || spawn(&config, &endpoints))
        .await
        .expect("spawned");

    let client = ThriftClient::connect(proxy.listener, ThriftOptions::default())
        .await
        .expect("connects");
    let version = async || {
        client
            .say_hello("Aeraki", None, BTreeMap::new())
            .await
            .expect("answers")
            .echo
            .map(|e| e.version)
    };
    for _ in 0..20 {
        assert_eq!(
            version().await.as_deref(),
            Some("v2"),
            "weight 0 gets nothing"
        );
    }

    let admin = HttpClient::connect(proxy.admin)
        .await
        .expect("admin connects");
    let mut reload = Request::new("PUT", "/config");
    reload.body = metarouter(100, 0).into();
    let (response, _) = admin.send(reload, None).await.expect("answers");
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    for _ in 0..20 {
        assert_eq!(
            version().await.as_deref(),
            Some("v1"),
            "the reload applies on the same connection"
        );
    }

    let mut broken = Request::new("PUT", "/config");
    broken.body = metarouter(100, 0)
        .replace("subset: v1", "subset: v9")
        .into();
    let (response, _) = admin.send(broken, None).await.expect("answers");
    assert_eq!(response.status, 400);
    assert!(
        String::from_utf8_lossy(&response.body).contains("v9"),
        "the error names the subset"
    );
    assert_eq!(
        version().await.as_deref(),
        Some("v1"),
        "a refused config changes nothing"
    );

    // Issue 16, item 4: an empty body would remove every route; refused.
    let (response, _) = admin
        .send(Request::new("PUT", "/config"), None)
        .await
        .expect("answers");
    assert_eq!(response.status, 400);
    assert_eq!(
        version().await.as_deref(),
        Some("v1"),
        "an empty body changes nothing"
    );

    // Parallel reloads each get their own version (they shared versions before).
    let reloads: Vec<_> = (0..20)
        .map(|_| {
            let admin = proxy.admin;
            tokio::spawn(async move {
                let client = HttpClient::connect(admin).await.expect("admin connects");
                let mut reload = Request::new("PUT", "/config");
                reload.body = metarouter(100, 0).into();
                let (response, _) = client.send(reload, None).await.expect("answers");
                let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
                body["version"].as_u64().expect("a version")
            })
        })
        .collect();
    let mut versions = std::collections::BTreeSet::new();
    for reload in reloads {
        versions.insert(reload.await.expect("a reload"));
    }
    assert_eq!(versions, (3..23).collect(), "20 distinct versions after 2");

    let (dump, _) = admin
        .send(Request::new("GET", "/config_dump"), None)
        .await
        .expect("answers");
    let dump: serde_json::Value = serde_json::from_slice(&dump.body).expect("json");
    assert_eq!(dump["version"], 22);
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
    fleet.stop().await;
}

/// One v2 Thrift endpoint, and the routing (everything to v2) and
/// endpoint files for meshproxy in a folder of the test's own.
async fn v2_fleet_and_files(test: &str) -> (Fleet, std::path::PathBuf, std::path::PathBuf) {
    let versions = [VersionSpec {
        name: "v2".into(),
        replicas: 1,
        labels: BTreeMap::new(),
        behaviour: Behaviour::default(),
    }];
    let spec = ServiceSpec {
        service: SERVICE.into(),
        protocol: Protocol::Thrift,
        port: 9090,
        thrift: ServerCodec::DETECT,
        versions: versions.to_vec(),
    };
    let fleet = Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts");
    let dir = std::env::temp_dir().join(format!("meshproxy-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (config, endpoints) = (dir.join("routing.yaml"), dir.join("endpoints.yaml"));
    std::fs::write(&config, metarouter(0, 100)).expect("writes");
    std::fs::write(&endpoints, endpoints_yaml(&fleet)).expect("writes");
    (fleet, config, endpoints)
}

/// At its file-descriptor limit, meshproxy refuses the connections it has
/// no descriptor for cleanly (closed at once, not left in the backlog),
/// counts them with their cause, says why in a rate-limited warning, and
/// serves again once descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_descriptor_limit_connections_are_refused_cleanly_and_logged() {
    use std::io::Read;
    use tokio::io::AsyncReadExt;
    const LIMIT: u32 = 48;
    let (fleet, config, endpoints) = v2_fleet_and_files("fds").await;
    let mut shell = Command::new("bash");
    shell
        .arg("-c")
        .arg(format!("ulimit -n {LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_meshproxy"));
    let mut proxy = tokio::task::spawn_blocking(move || spawn_with(shell, &config, &endpoints))
        .await
        .expect("spawned");

    let mut streams = Vec::new();
    for _ in 0..2 * LIMIT {
        streams.push(
            tokio::net::TcpStream::connect(proxy.listener)
                .await
                .expect("the kernel accepts"),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (mut refused, mut held) = (0, 0);
    for stream in &mut streams {
        let mut byte = [0u8; 1];
        let read =
            tokio::time::timeout(std::time::Duration::from_millis(20), stream.read(&mut byte));
        match read.await {
            Ok(Ok(0) | Err(_)) => refused += 1,
            Ok(Ok(_)) => panic!("bytes unasked"),
            Err(_) => held += 1,
        }
    }
    assert!(refused > 0 && held > 0, "refused {refused}, held {held}");
    drop(streams);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let client = ThriftClient::connect(proxy.listener, ThriftOptions::default())
        .await
        .expect("connects again");
    let answer = client
        .say_hello("Aeraki", None, BTreeMap::new())
        .await
        .expect("served again once descriptors are free");
    assert_eq!(answer.echo.map(|e| e.version).as_deref(), Some("v2"));
    let admin = HttpClient::connect(proxy.admin).await.expect("admin");
    let (stats, _) = admin
        .send(Request::new("GET", "/stats/prometheus"), None)
        .await
        .expect("answers");
    let stats = String::from_utf8_lossy(&stats.body).into_owned();
    let counter = |name: &str, labels: &str| -> u32 {
        let prefix = format!("{name}{{listener=\"{SERVICE}\"{labels}}} ");
        stats
            .lines()
            .find_map(|line| line.strip_prefix(&prefix)?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{stats}"))
    };
    let counted = counter(
        "meshproxy_downstream_connections_refused_total",
        ",cause=\"descriptors\"",
    );
    let admitted = counter("meshproxy_downstream_connections_total", "");
    // Every connection is admitted or refused, exactly once: the clients'
    // and the client that was served again afterwards. One the test saw
    // held may still have been refused after it looked.
    assert_eq!(counted + admitted, 2 * LIMIT + 1, "{stats}");
    assert!(
        counted >= refused,
        "counted {counted}, seen closed {refused}"
    );
    let _ = proxy.child.kill();
    let _ = proxy.child.wait();
    let mut log = String::new();
    if let Some(mut stderr) = proxy.child.stderr.take() {
        stderr.read_to_string(&mut log).expect("reads");
    }
    let warnings = log.matches("refusing downstream connections").count();
    assert!((1..=2).contains(&warnings), "rate-limited warnings: {log}");
    assert!(
        log.contains(&format!("out of file descriptors (limit {LIMIT})")),
        "{log}"
    );
    fleet.stop().await;
}

/// The resident memory of `pid`, in bytes (`VmRSS`).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// The amplification probe of issue 16, scaled to the test: 40
/// connections each send all but the last byte of a 15 MB Thrift frame
/// and hold it. With a 64 MiB budget meshproxy holds at most that much
/// (the connections past it are closed with a count), and gives the
/// memory back once they close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_frames_stay_within_the_memory_budget() {
    use tokio::io::AsyncWriteExt;
    const BUDGET_MIB: u64 = 64;
    const FRAME: usize = 15_000_000;
    let (fleet, config, endpoints) = v2_fleet_and_files("budget").await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshproxy"));
    command.args(["--memory-budget-mib", &BUDGET_MIB.to_string()]);
    let proxy = tokio::task::spawn_blocking(move || spawn_with(command, &config, &endpoints))
        .await
        .expect("spawned");
    let pid = proxy.child.id();
    let baseline = rss(pid);
    let mut frame = Vec::with_capacity(FRAME);
    frame.extend((FRAME as u32 - 4).to_be_bytes());
    frame.extend([
        0x80, 0x01, 0x00, 0x01, 0, 0, 0, 1, b'm', 0, 0, 0, 1, 11, 0, 1,
    ]);
    frame.extend(((FRAME - 24) as u32).to_be_bytes());
    frame.resize(FRAME - 1, b'x');
    let frame = std::sync::Arc::new(frame);
    let senders: Vec<_> = (0..40)
        .map(|_| {
            let (frame, addr) = (std::sync::Arc::clone(&frame), proxy.listener);
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
                // A refused connection fails mid-write; a held one takes it all.
                stream.write_all(&frame).await.ok()?;
                Some(stream)
            })
        })
        .collect();
    let mut held = Vec::new();
    for sender in senders {
        if let Some(stream) = sender.await.expect("joins") {
            held.push(stream);
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let holding = rss(pid);
    let budget = BUDGET_MIB * 1024 * 1024;
    eprintln!(
        "RSS baseline {} MiB, held {} MiB with {} of 40 connections open",
        baseline >> 20,
        holding >> 20,
        held.len()
    );
    assert!(
        holding <= baseline + budget + (32 << 20),
        "held {holding} B, baseline {baseline} B, budget {budget} B"
    );
    let admin = HttpClient::connect(proxy.admin).await.expect("admin");
    let (stats, _) = admin
        .send(Request::new("GET", "/stats/prometheus"), None)
        .await
        .expect("answers");
    let stats = String::from_utf8_lossy(&stats.body).into_owned();
    let refused = format!(
        "meshproxy_downstream_overload_total{{listener=\"{SERVICE}\",action=\"refused\"}} "
    );
    let overloaded: usize = stats
        .lines()
        .find_map(|l| l.strip_prefix(&refused)?.parse().ok())
        .unwrap_or(0);
    assert!(
        overloaded > 0 && overloaded >= 40 - held.len(),
        "{overloaded} refused for the budget, {} held",
        held.len()
    );
    drop(held);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = rss(pid);
    eprintln!("RSS after the close {} MiB", after >> 20);
    assert!(
        after <= baseline + (16 << 20),
        "after {after} B, baseline {baseline} B"
    );
    fleet.stop().await;
}
