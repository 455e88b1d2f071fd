//! Field coverage: every field of the scenario format's JSON Schema changes
//! what is sent, configured or verified. A base scenario writes every field
//! once; for each field, an edit changes it and the test checks that the
//! resolved run (fleet, routing, proxy settings, phases, workload, checks,
//! plans and the names reports carry) changes with it. A field added to the
//! schema without an edit here fails the test, as does an edit that changes
//! nothing: a field that is parsed and then dropped is caught here.
//!
//! The fields of each expectation kind are covered at compile time instead:
//! `sim::scenario::claims` destructures every kind field by field, so a
//! field added there and not read does not compile. Their shared fields
//! (`name`, `service`, `of`, `alpha`, `power`, `detect`) are edited here once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use meshbench_sim::scenario::Scenario;
use serde_json::{Value, json};

const BASE: &str = r#"
name: coverage
description: every field of the format, once
fleet:
  - service: hello.demo.svc.cluster.local
    protocol: thrift
    port: 9090
    thrift: { transport: auto, protocol: auto }
    versions:
      v1: { replicas: 1, labels: { track: stable }, latency: { fixed: 1ms }, error_rate: 1%, succeed_after: 0, close_rate: 1%, response_size: 0, hold: false, down: false }
      v2: { replicas: 2, latency: { uniform: { min: 1ms, max: 2ms } } }
      v3: { latency: { lognormal: { median: 1ms, sigma: 0.5 } } }
  - service: web.demo.svc.cluster.local
    protocol: http
    versions: { v1: {}, v2: {} }
  - service: dubbo.demo.svc.cluster.local
    protocol: dubbo
    versions: { v1: {} }
  - service: db.demo.svc.cluster.local
    protocol: tcp
    versions: { v1: {} }
  - service: extra.demo.svc.cluster.local
    protocol: tcp
    versions: { v1: {} }
  - service: greeter.demo.svc.cluster.local
    protocol: grpc
    versions: { v1: {} }
routing:
  - apiVersion: networking.istio.io/v1beta1
    kind: DestinationRule
    metadata: { name: hello, namespace: demo }
    spec:
      host: hello
      subsets:
        - { name: v1, labels: { version: v1 } }
        - { name: v2, labels: { version: v2 } }
        - { name: v3, labels: { version: v3 } }
  - apiVersion: metaprotocol.aeraki.io/v1alpha1
    kind: MetaRouter
    metadata: { name: hello, namespace: demo }
    spec:
      hosts: [hello.demo.svc.cluster.local]
      routes:
        - route:
            - { destination: { host: hello, subset: v1 }, weight: 50 }
            - { destination: { host: hello, subset: v2 }, weight: 50 }
proxy: { idle_timeout: 10s, workers: 1 }
phases:
  - name: later
    at: { requests: 4500 }
    routing:
      - apiVersion: metaprotocol.aeraki.io/v1alpha1
        kind: MetaRouter
        metadata: { name: hello, namespace: demo }
        spec:
          hosts: [hello.demo.svc.cluster.local]
          routes:
            - route: [{ destination: { host: hello, subset: v3 } }]
      - apiVersion: networking.istio.io/v1beta1
        kind: DestinationRule
        metadata: { name: hello, namespace: demo }
        spec:
          host: hello
          subsets:
            - { name: v1, labels: { version: v1 } }
            - { name: v2, labels: { version: v2 } }
            - { name: v3, labels: { version: v3 } }
workload:
  warmup: 10
  clients:
    - name: thrift
      service: hello.demo.svc.cluster.local
      connections: 2
      in_flight: 1
      lifetime: { requests: 500 }
      loop: closed
      requests: 2000
      duration: 60s
      mix:
        - { name: hi, weight: 1, call: { method: sayHello, name: A, transport: framed, protocol: compact, service: HelloService, context: { k: v } } }
        - { name: bye, weight: 1, call: { method: sayBye, name: B } }
    - name: web
      service: web.demo.svc.cluster.local
      open: { rate: 100/s, arrival: constant }
      requests: 1000
      call: { method: POST, path: /p, headers: { x: one }, body: b }
    - name: dubbo
      service: dubbo.demo.svc.cluster.local
      requests: 1000
      pause: { every: 100, for: 2s, heartbeat: 500ms }
      call: { interface: I, method: m, name: nn, attachments: { a: bb } }
    - name: db
      service: db.demo.svc.cluster.local
      requests: 1000
      lifetime: { duration: 10s }
      call: { payload: ping }
    - name: greeter
      service: greeter.demo.svc.cluster.local
      requests: 1000
      call: { service: g.Greeter, method: SayHello, name: laurence, metadata: { user: admin } }
expect:
  - split:
      name: s
      service: hello.demo.svc.cluster.local
      of: { client: thrift, attributes: { method: sayHello }, phase: initial }
      to: { v1: 50, v2: 50 }
confidence: { alpha: 0.01, power: 0.9, detect: 20%, mode: fixed }
"#;

/// One field's edit: JSON pointers into the base and their new values.
type Edit = &'static [(&'static str, fn() -> Value)];

/// Every leaf field of the format (common expectation fields once, mix
/// calls as calls) and the edit that changes it; an object or a list is
/// covered by the fields inside it.
fn edits() -> BTreeMap<&'static str, Edit> {
    BTreeMap::from([
        (
            ".name",
            &[("/name", (|| json!("renamed")) as fn() -> Value)] as Edit,
        ),
        (".description", &[("/description", || json!("other words"))]),
        (
            ".confidence.alpha",
            &[("/confidence/alpha", || json!(0.02))],
        ),
        (
            ".confidence.power",
            &[("/confidence/power", || json!(0.95))],
        ),
        (
            ".confidence.detect",
            &[("/confidence/detect", || json!("25%"))],
        ),
        (
            ".confidence.mode",
            &[("/confidence/mode", || json!("sequential"))],
        ),
        (".fleet[].port", &[("/fleet/0/port", || json!(9091))]),
        (
            ".fleet[].thrift.transport",
            &[("/fleet/0/thrift/transport", || json!("framed"))],
        ),
        (
            ".fleet[].thrift.protocol",
            &[("/fleet/0/thrift/protocol", || json!("compact"))],
        ),
        (
            ".fleet[].protocol",
            &[("/fleet/4/protocol", || json!("http"))],
        ),
        (
            ".fleet[].service",
            &[("/fleet/4/service", || json!("more.demo.svc.cluster.local"))],
        ),
        (
            ".fleet[].versions{}.close_rate",
            &[("/fleet/0/versions/v1/close_rate", || json!("2%"))],
        ),
        (
            ".fleet[].versions{}.down",
            &[("/fleet/0/versions/v3/down", || json!(true))],
        ),
        (
            ".fleet[].versions{}.error_rate",
            &[("/fleet/0/versions/v1/error_rate", || json!("2%"))],
        ),
        (
            ".fleet[].versions{}.hold",
            &[("/fleet/0/versions/v1/hold", || json!(true))],
        ),
        (
            ".fleet[].versions{}.labels",
            &[("/fleet/0/versions/v1/labels/track", || json!("canary"))],
        ),
        (
            ".fleet[].versions{}.latency",
            &[("/fleet/0/versions/v1/latency", || json!("none"))],
        ),
        (
            ".fleet[].versions{}.latency.fixed",
            &[("/fleet/0/versions/v1/latency/fixed", || json!("2ms"))],
        ),
        (
            ".fleet[].versions{}.latency.lognormal.median",
            &[("/fleet/0/versions/v3/latency/lognormal/median", || {
                json!("3ms")
            })],
        ),
        (
            ".fleet[].versions{}.latency.lognormal.sigma",
            &[("/fleet/0/versions/v3/latency/lognormal/sigma", || {
                json!(0.7)
            })],
        ),
        (
            ".fleet[].versions{}.latency.uniform.max",
            &[("/fleet/0/versions/v2/latency/uniform/max", || json!("5ms"))],
        ),
        (
            ".fleet[].versions{}.latency.uniform.min",
            &[("/fleet/0/versions/v2/latency/uniform/min", || json!("0ms"))],
        ),
        (
            ".fleet[].versions{}.replicas",
            &[("/fleet/0/versions/v2/replicas", || json!(3))],
        ),
        (
            ".fleet[].versions{}.response_size",
            &[("/fleet/0/versions/v1/response_size", || json!(64))],
        ),
        (
            ".fleet[].versions{}.succeed_after",
            &[("/fleet/0/versions/v1/succeed_after", || json!(1))],
        ),
        (
            ".routing[].apiVersion",
            &[("/routing/0/apiVersion", || json!("networking.istio.io/v1"))],
        ),
        (
            ".routing[].kind",
            &[
                ("/routing/1/kind", || json!("DestinationRule")),
                ("/routing/1/apiVersion", || json!("networking.istio.io/v1")),
                (
                    "/routing/1/spec",
                    || json!({"host": "web", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}),
                ),
            ],
        ),
        (
            ".routing[].metadata.name",
            &[("/routing/0/metadata/name", || json!("hello-2"))],
        ),
        (
            ".routing[].metadata.namespace",
            &[
                ("/routing/0/metadata/namespace", || json!("other")),
                ("/routing/0/spec/host", || {
                    json!("hello.demo.svc.cluster.local")
                }),
            ],
        ),
        (
            ".routing[].spec",
            &[("/routing/1/spec/routes/0/route/0/weight", || json!(30))],
        ),
        (
            ".phases[].at.requests",
            &[("/phases/0/at/requests", || json!(4000))],
        ),
        (
            ".phases[].at.time",
            &[("/phases/0/at", || json!({"time": "40s"}))],
        ),
        // A phase's name is what `of.phase` binds to: renamed, and selected by its new name.
        (
            ".phases[].name",
            &[
                ("/phases/0/name", || json!("shift")),
                ("/expect/0/split/of/phase", || json!("shift")),
            ],
        ),
        (
            ".phases[].routing[].apiVersion",
            &[("/phases/0/routing/1/apiVersion", || {
                json!("networking.istio.io/v1")
            })],
        ),
        (
            ".phases[].routing[].kind",
            &[
                ("/phases/0/routing/1/kind", || json!("VirtualService")),
                (
                    "/phases/0/routing/1/spec",
                    || json!({"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}}]}]}),
                ),
            ],
        ),
        (
            ".phases[].routing[].metadata.name",
            &[("/phases/0/routing/0/metadata/name", || json!("hello-3"))],
        ),
        (
            ".phases[].routing[].metadata.namespace",
            &[
                ("/phases/0/routing/0/metadata/namespace", || json!("meta")),
                (
                    "/phases/0/routing/0/spec/routes/0/route/0/destination/host",
                    || json!("hello.demo.svc.cluster.local"),
                ),
            ],
        ),
        (
            ".phases[].routing[].spec",
            &[(
                "/phases/0/routing/0/spec/routes/0/route/0/destination/subset",
                || json!("v2"),
            )],
        ),
        (
            ".proxy.idle_timeout",
            &[("/proxy/idle_timeout", || json!("20s"))],
        ),
        (".proxy.workers", &[("/proxy/workers", || json!(2))]),
        (".workload.warmup", &[("/workload/warmup", || json!(20))]),
        (
            ".workload.clients[].call.attachments",
            &[("/workload/clients/2/call/attachments/a", || json!("c"))],
        ),
        (
            ".workload.clients[].call.body",
            &[("/workload/clients/1/call/body", || json!("other body"))],
        ),
        (
            ".workload.clients[].call.context",
            &[("/workload/clients/0/mix/0/call/context/k", || json!("w"))],
        ),
        (
            ".workload.clients[].call.headers",
            &[("/workload/clients/1/call/headers/x", || json!("z"))],
        ),
        (
            ".workload.clients[].call.interface",
            &[("/workload/clients/2/call/interface", || json!("J"))],
        ),
        (
            ".workload.clients[].call.method",
            &[("/workload/clients/0/mix/1/call/method", || {
                json!("sayLater")
            })],
        ),
        (
            ".workload.clients[].call.name",
            &[("/workload/clients/0/mix/1/call/name", || json!("C"))],
        ),
        (
            ".workload.clients[].call.metadata",
            &[("/workload/clients/4/call/metadata/user", || json!("guest"))],
        ),
        (
            ".workload.clients[].call.path",
            &[("/workload/clients/1/call/path", || json!("/q"))],
        ),
        (
            ".workload.clients[].call.payload",
            &[("/workload/clients/3/call/payload", || json!("pong"))],
        ),
        (
            ".workload.clients[].call.protocol",
            &[("/workload/clients/0/mix/0/call/protocol", || {
                json!("binary")
            })],
        ),
        (
            ".workload.clients[].call.service",
            &[("/workload/clients/0/mix/0/call/service", || {
                json!("OtherService")
            })],
        ),
        (
            ".workload.clients[].call.transport",
            &[("/workload/clients/0/mix/0/call/transport", || {
                json!("unframed")
            })],
        ),
        (
            ".workload.clients[].connections",
            &[("/workload/clients/0/connections", || json!(3))],
        ),
        (
            ".workload.clients[].duration",
            &[("/workload/clients/0/duration", || json!("50s"))],
        ),
        (
            ".workload.clients[].in_flight",
            &[("/workload/clients/0/in_flight", || json!(2))],
        ),
        (
            ".workload.clients[].lifetime.duration",
            &[("/workload/clients/3/lifetime/duration", || json!("20s"))],
        ),
        (
            ".workload.clients[].lifetime.requests",
            &[("/workload/clients/0/lifetime/requests", || json!(600))],
        ),
        (
            ".workload.clients[].loop",
            &[
                ("/workload/clients/3/loop", || json!("open")),
                ("/workload/clients/3/open", || json!({"rate": "50/s"})),
            ],
        ),
        (
            ".workload.clients[].mix[].name",
            &[("/workload/clients/0/mix/1/name", || json!("later"))],
        ),
        (
            ".workload.clients[].mix[].weight",
            &[("/workload/clients/0/mix/1/weight", || json!(2))],
        ),
        (
            ".workload.clients[].name",
            &[("/workload/clients/3/name", || json!("database"))],
        ),
        (
            ".workload.clients[].open.arrival",
            &[("/workload/clients/1/open/arrival", || json!("poisson"))],
        ),
        (
            ".workload.clients[].open.rate",
            &[("/workload/clients/1/open/rate", || json!("200/s"))],
        ),
        (
            ".workload.clients[].pause.every",
            &[("/workload/clients/2/pause/every", || json!(200))],
        ),
        (
            ".workload.clients[].pause.for",
            &[("/workload/clients/2/pause/for", || json!("3s"))],
        ),
        (
            ".workload.clients[].pause.heartbeat",
            &[("/workload/clients/2/pause/heartbeat", || json!("1s"))],
        ),
        (
            ".workload.clients[].requests",
            &[("/workload/clients/1/requests", || json!(900))],
        ),
        (
            ".workload.clients[].service",
            &[("/workload/clients/3/service", || {
                json!("extra.demo.svc.cluster.local")
            })],
        ),
        (
            ".expect[].*.name",
            &[("/expect/0/split/name", || json!("t"))],
        ),
        (
            ".expect[].*.service",
            &[
                ("/expect/0/split/service", || json!("web")),
                ("/expect/0/split/of", || json!({})),
            ],
        ),
        (
            ".expect[].*.of.class",
            &[
                ("/expect/0/split/of/class", || json!("bye")),
                ("/expect/0/split/of/attributes", || json!({})),
            ],
        ),
        (
            ".expect[].*.of.client",
            &[
                ("/expect/0/split/of/client", || json!("web")),
                ("/expect/0/split/service", || json!("web")),
                ("/expect/0/split/of/attributes", || json!({})),
            ],
        ),
        (
            ".expect[].*.of.attributes",
            &[("/expect/0/split/of/attributes/method", || json!("sayBye"))],
        ),
        (
            ".expect[].*.of.phase",
            &[("/expect/0/split/of/phase", || json!("later"))],
        ),
        (
            ".expect[].*.alpha",
            &[("/expect/0/split/alpha", || json!(0.02))],
        ),
        (
            ".expect[].*.power",
            &[("/expect/0/split/power", || json!(0.95))],
        ),
        (
            ".expect[].*.detect",
            &[("/expect/0/split/detect", || json!("25%"))],
        ),
    ])
}

/// The schema's field paths: `.fleet[].versions{}.replicas`, with the
/// shared fields of the expectation kinds as `.expect[].*.name` and
/// their own fields left out (covered at compile time, see the module docs).
fn schema_paths() -> BTreeSet<String> {
    let schema = meshbench_sim::scenario::schema();
    let mut paths = BTreeSet::new();
    walk(&schema, &schema, "", &mut BTreeSet::new(), &mut paths);
    let shared = ["name", "service", "of", "alpha", "power", "detect"];
    paths
        .into_iter()
        .filter_map(|path| {
            let path = path.replace("mix[].call", "call");
            let Some(rest) = path.strip_prefix(".expect[].") else {
                return Some(path);
            };
            match rest.split_once('.') {
                None => None,
                Some((_, field))
                    if shared
                        .iter()
                        .any(|s| field == *s || field.starts_with(&format!("{s}."))) =>
                {
                    Some(format!(".expect[].*.{field}"))
                }
                Some(_) => None,
            }
        })
        .chain([".expect".to_owned()])
        .collect()
}

fn walk(
    root: &Value,
    node: &Value,
    path: &str,
    seen: &mut BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/").to_owned();
        if seen.insert(name.clone()) {
            walk(root, &root["$defs"][&name], path, seen, out);
            seen.remove(&name);
        }
        return;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for sub in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(root, sub, path, seen, out);
        }
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, sub) in properties {
            let child = format!("{path}.{name}");
            out.insert(child.clone());
            walk(root, sub, &child, seen, out);
        }
    }
    if let Some(items) = node.get("items").filter(|i| i.is_object()) {
        walk(root, items, &format!("{path}[]"), seen, out);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(root, values, &format!("{path}{{}}"), seen, out);
    }
}

/// Everything a run is made of, as text: the reports' names, the fleet,
/// the routing and settings the proxy gets, the phases, the workload the
/// clients send, the checks and their plans.
fn fingerprint(document: &Value) -> Result<String, String> {
    let text = document.to_string();
    let scenario = Scenario::parse(&text, "coverage.yaml").map_err(|e| e.to_string())?;
    let resolved = meshbench::resolve::resolve(&scenario, 1)?;
    let spec = resolved.spec;
    let listeners: meshbench::adapter::Listeners = scenario
        .fleet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.service.value.clone(),
                SocketAddr::from(([127, 0, 9, 1 + i as u8], 9000)),
            )
        })
        .collect();
    let phases: Vec<String> = spec
        .phases
        .iter()
        .map(|p| format!("{:?} {:?}", p.trigger, p.routing))
        .collect();
    let workload = (spec.workload)(&listeners)?;
    Ok(format!(
        "{} | {} | {:?} | {:?} | {:?} | {phases:?} | {:?} | {workload:?} | {:?} | {:?}",
        scenario.name,
        scenario.description,
        spec.services,
        spec.routing,
        spec.proxy,
        spec.warmup,
        resolved.checks,
        scenario.plan(),
    ))
}

#[test]
fn every_field_of_the_schema_changes_what_is_sent_configured_or_verified() {
    let base: Value = serde_saphyr::from_str(BASE).expect("the base is YAML");
    let before = fingerprint(&base).expect("the base scenario is valid");
    let edits = edits();
    // A field is covered by its own edit, or, for an object or a list, by
    // the edits of the fields inside it.
    let paths = schema_paths();
    let covered = |path: &str| {
        edits.keys().any(|edited| {
            *edited == path
                || edited
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with(['.', '[', '{']))
        })
    };
    let missing: Vec<&String> = paths.iter().filter(|p| !covered(p)).collect();
    assert!(
        missing.is_empty(),
        "schema fields with no edit here: {missing:?}"
    );
    let mut unchanged = Vec::new();
    for (field, changes) in &edits {
        let mut document = base.clone();
        for (pointer, value) in *changes {
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
            let target = document
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .unwrap_or_else(|| panic!("{field}: no object at {parent}"));
            target.insert(key.to_owned(), value());
        }
        let after =
            fingerprint(&document).unwrap_or_else(|e| panic!("{field}: the edit is invalid: {e}"));
        if after == before {
            unchanged.push(*field);
        }
    }
    assert!(
        unchanged.is_empty(),
        "changing these changes nothing: {unchanged:?}"
    );
}
