//! Loader tests: the YAML shapes users paste (multi-document streams, lists,
//! `kind: List`, kubectl metadata), and the exact errors they get.

use super::*;

const VS: &str = "apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
    - route: [{destination: {host: web}}]
";

const DR: &str = "apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}]
";

const MR: &str = "apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: route, namespace: meta-thrift}
spec:
  hosts: [thrift-sample-server.meta-thrift.svc.cluster.local]
  routes:
    - name: all
      route: [{destination: {host: thrift-sample-server.meta-thrift.svc.cluster.local}}]
";

/// Indents every line of `text` by `spaces`.
fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn describe(yaml: &str) -> Vec<String> {
    match load_objects(yaml) {
        Ok(objects) => objects.iter().map(Object::describe).collect(),
        Err(e) => panic!("{e}\n---\n{yaml}"),
    }
}

#[test]
fn shapes_users_paste() {
    let list_items = format!(
        "{}{}",
        indent(VS, 2).replacen("  apiVersion", "- apiVersion", 1),
        indent(DR, 2).replacen("  apiVersion", "- apiVersion", 1)
    );
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("one object", MR.to_owned(), vec!["MetaRouter meta-thrift/route"]),
        (
            "multi-document stream, empty documents skipped",
            format!("---\n{MR}---\n{VS}---\n---\n{DR}"),
            vec!["MetaRouter meta-thrift/route", "VirtualService shop/web", "DestinationRule default/web"],
        ),
        (
            "top-level list",
            list_items.clone(),
            vec!["VirtualService shop/web", "DestinationRule default/web"],
        ),
        (
            "kind: List, as kubectl get -o yaml prints it",
            format!("apiVersion: v1\nkind: List\nmetadata: {{resourceVersion: \"\"}}\nitems:\n{list_items}"),
            vec!["VirtualService shop/web", "DestinationRule default/web"],
        ),
        (
            "kind: List with items before kind",
            format!("items:\n{list_items}apiVersion: v1\nkind: List\n"),
            vec!["VirtualService shop/web", "DestinationRule default/web"],
        ),
        (
            "list and stream mixed",
            format!("{list_items}---\n{MR}"),
            vec!["VirtualService shop/web", "DestinationRule default/web", "MetaRouter meta-thrift/route"],
        ),
        (
            "kubectl metadata and status are ignored",
            VS.replace(
                "metadata: {name: web, namespace: shop}",
                "metadata:\n  name: web\n  namespace: shop\n  uid: 1f0c\n  resourceVersion: \"42\"\n  generation: 3\n  \
                 creationTimestamp: \"2024-01-01T00:00:00Z\"\n  labels: {app: web}\n  annotations: {a: b}\nstatus: {}",
            ),
            vec!["VirtualService shop/web"],
        ),
        (
            "spec before apiVersion and kind, metadata last",
            "spec:\n  host: web\nkind: DestinationRule\napiVersion: networking.istio.io/v1\nmetadata: {name: late}\n"
                .to_owned(),
            vec!["DestinationRule default/late"],
        ),
        ("empty input", String::new(), vec![]),
    ];
    for (description, yaml, expected) in cases {
        assert_eq!(describe(&yaml), expected, "{description}");
    }
}

#[test]
fn fields_parse_into_the_crd_types() {
    let objects = load_objects(&format!("{MR}---\n{DR}")).unwrap_or_default();
    let [Object::MetaRouter(router), Object::DestinationRule(rule)] = &objects[..] else {
        panic!("{objects:?}");
    };
    assert_eq!(router.api_version, "metaprotocol.aeraki.io/v1alpha1");
    assert_eq!(router.spec.routes[0].name, "all");
    assert_eq!(
        rule.metadata.namespace, "default",
        "namespace defaults to default"
    );
    assert_eq!(
        rule.spec.subsets[0]
            .labels
            .get("version")
            .map(String::as_str),
        Some("v1")
    );
}

#[test]
fn load_errors() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a valid Istio field meshproxy does not implement is named",
            VS.replace("    - route:", "    - corsPolicy: {allowOrigins: [{exact: '*'}]}\n      route:"),
            "7:7: unknown field `corsPolicy`, expected one of name, match, route, redirect, rewrite, timeout, \
             retries, fault, mirror, mirrorPercentage, mirrorPercent, headers",
        ),
        (
            "a misspelt spec field",
            MR.replace("  routes:", "  route:"),
            "6:3: unknown field `route`, expected one of hosts, gateways, exportTo, routes, localRateLimit, \
             globalRateLimit",
        ),
        (
            "an unknown field in a buffered spec (no position)",
            "spec: {host: web, subset: []}\nkind: DestinationRule\napiVersion: networking.istio.io/v1\nmetadata: {name: a}\n"
                .to_owned(),
            "spec: unknown field `subset`, expected one of `host`, `exportTo`, `trafficPolicy`, `subsets`",
        ),
        (
            "unknown apiVersion/kind",
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: a}\nspec: {}\n".to_owned(),
            "4:1: invalid value: kind 'HTTPRoute' of apiVersion 'gateway.networking.k8s.io/v1', expected MetaRouter \
             (metaprotocol.aeraki.io/v1alpha1), VirtualService or DestinationRule (networking.istio.io/v1alpha3, \
             v1beta1 or v1), or List (v1)",
        ),
        (
            "MetaRouter under an Istio apiVersion",
            MR.replace("metaprotocol.aeraki.io/v1alpha1", "networking.istio.io/v1"),
            "4:1: invalid value: kind 'MetaRouter' of apiVersion 'networking.istio.io/v1', expected MetaRouter \
             (metaprotocol.aeraki.io/v1alpha1), VirtualService or DestinationRule (networking.istio.io/v1alpha3, \
             v1beta1 or v1), or List (v1)",
        ),
        ("no spec", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\n".to_owned(), "3:1: missing field `spec`"),
        ("YAML syntax", VS.replace("hosts: [web]", "hosts: [web"), "6:7: illegal placement of ':' indicator"),
        ("no name", VS.replace("name: web, ", ""), "4:1: missing field `metadata.name`"),
        ("wrong type", VS.replace("{host: web}}", "{host: web}, weight: -1}"), "7:50: invalid u32"),
        ("unknown envelope key", format!("{VS}extra: 1\n"), "8:1: unknown field `extra`, expected one of apiVersion, kind, metadata, spec, items, status"),
    ];
    for (description, yaml, expected) in cases {
        match load_objects(&yaml) {
            Ok(objects) => panic!("{description}: expected an error, got {objects:?}"),
            Err(e) => assert_eq!(e.to_string(), expected, "{description}"),
        }
    }
}

#[test]
fn endpoint_list_from_yaml_and_json() {
    let yaml = "services:
  - name: thrift-sample-server.meta-thrift.svc.cluster.local
    protocol: thrift
    port: 9090
    endpoints:
      - {address: \"127.0.1.1:9090\", labels: {version: v1}}
";
    let json = r#"{"services": [{"name": "thrift-sample-server.meta-thrift.svc.cluster.local",
        "protocol": "thrift", "port": 9090,
        "endpoints": [{"address": "127.0.1.1:9090", "labels": {"version": "v1"}}]}]}"#;
    let from_yaml = load_endpoints(yaml).map_err(|e| e.to_string());
    let from_json = load_endpoints(json).map_err(|e| e.to_string());
    assert_eq!(from_yaml, from_json);
    let list = from_yaml.unwrap_or_default();
    let service = list.service("thrift-sample-server.meta-thrift.svc.cluster.local");
    assert_eq!(
        service.map(|s| s.protocol),
        Some(meshbench_wire::Protocol::Thrift)
    );
    assert_eq!(
        service.map(|s| s.endpoints[0].address.to_string()),
        Some("127.0.1.1:9090".to_owned())
    );
    let triple = load_endpoints("services:\n  - {name: a, protocol: triple, port: 1}\n")
        .map(|list| list.services[0].protocol);
    assert_eq!(triple.ok(), Some(meshbench_wire::Protocol::Grpc));
    let bad = load_endpoints("services:\n  - {name: a, protocol: quic, port: 1}\n")
        .map_err(|e| e.to_string());
    assert_eq!(
        bad,
        Err(
            "2:25: unknown variant `quic`, expected one of thrift, dubbo, http, grpc, triple, tcp"
                .to_owned()
        )
    );
}
