use std::collections::BTreeMap;

use meshbench_sim::fleet::{EndpointInfo, Identity};
use meshbench_wire::thrift::ServerCodec;
use serde_json::Value;

use super::*;

const WEB: &str = "web.ns.svc.cluster.local";

fn endpoint(version: &str, ip: [u8; 4]) -> EndpointInfo {
    let addr = SocketAddr::from((ip, 3000));
    EndpointInfo {
        identity: Identity::new(WEB, "web", (version, 0), addr, "t"),
        protocol: Protocol::Http,
        labels: BTreeMap::from([("version".to_owned(), version.to_owned())]),
    }
}

fn web(protocol: Protocol) -> Service {
    Service {
        name: WEB.to_owned(),
        protocol,
        port: 3000,
        thrift: ServerCodec::APACHE,
        endpoints: vec![
            endpoint("v1", [127, 0, 1, 1]),
            endpoint("v2", [127, 0, 1, 2]),
        ],
    }
}

fn routing(yaml: &str) -> Vec<Routing> {
    yaml.split("\n---\n")
        .map(|doc| {
            let value: Value = meshbench_mesh_api::parse_yaml(doc).expect("yaml");
            Routing::from_json(value).expect("object")
        })
        .collect()
}

const SUBSETS: &str = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: dr, namespace: ns }\nspec:\n  host: web\n  subsets:\n    - { name: v1, labels: { version: v1 } }\n    - { name: v2, labels: { version: v2 } }";

fn virtual_service(http: &str) -> String {
    format!(
        "{SUBSETS}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs, namespace: ns }}\nspec:\n  hosts: [web]\n  http:\n{http}"
    )
}

fn written(service: Service, layer: Layer, yaml: &str) -> Result<String, Gap> {
    let binds = Binds {
        services: BTreeMap::from([(WEB.to_owned(), SocketAddr::from(([127, 0, 0, 1], 8080)))]),
        control: SocketAddr::from(([127, 0, 0, 1], 8081)),
    };
    let options = Options {
        layer,
        workers: 2,
        idle_timeout: None,
    };
    let paths = Paths {
        dir: "/run/nginx",
        stream_module: Some("/modules/stream.so"),
        version: 3,
    };
    config(&[service], &routing(yaml), &binds, options, paths)
}

#[test]
fn a_split_is_split_clients_over_a_fresh_key_per_request() {
    let yaml = virtual_service(
        "    - route:\n        - { destination: { host: web, subset: v1 }, weight: 20 }\n        - { destination: { host: web, subset: v2 }, weight: 80 }",
    );
    let text = written(web(Protocol::Http), Layer::Seven, &yaml).expect("translates");
    assert!(text.contains("split_clients \"${request_id}\" $s0_r0_pick {\n        20% s0_r0_d0;\n        * s0_r0_d1;\n    }"), "{text}");
    assert!(
        text.contains("map \"1\" $s0_route {\n        ~^1 0;\n        default none;"),
        "{text}"
    );
    assert!(
        text.contains("rewrite ^ /__meshbench/r$s0_route$uri last;"),
        "{text}"
    );
    assert!(text.contains("proxy_pass http://$s0_r0_pick;"), "{text}");
    assert!(
        text.contains(
            "proxy_next_upstream error non_idempotent;\n            proxy_next_upstream_tries 3;"
        ),
        "{text}"
    );
    let v1 = text
        .split("upstream s0_r0_d0 {")
        .nth(1)
        .expect("the v1 upstream");
    let v1 = v1.split('}').next().unwrap_or_default();
    assert!(
        v1.contains("least_conn;") && v1.contains("server 127.0.1.1:3000 max_fails=0;"),
        "{v1}"
    );
    assert!(!v1.contains("127.0.1.2"), "{v1}");
    assert!(
        text.contains("location = /__meshbench/version { return 200 \"3\"; }"),
        "{text}"
    );
}

#[test]
fn matches_are_flags_and_the_first_route_that_says_1_wins() {
    let yaml = virtual_service(
        "    - match:\n        - headers: { end-user: { exact: jason } }\n          uri: { prefix: /api }\n        - headers: { x-canary: {} }\n      route: [{ destination: { host: web, subset: v2 } }]\n    - route: [{ destination: { host: web, subset: v1 } }]",
    );
    let text = written(web(Protocol::Http), Layer::Seven, &yaml).expect("translates");
    assert!(
        text.contains("map $uri $s0_r0_m0_c0 {\n        \"~^/api\" 1;\n        default 0;"),
        "{text}"
    );
    assert!(
        text.contains("map $http_end_user $s0_r0_m0_c1 {\n        \"~^jason$\" 1;"),
        "{text}"
    );
    assert!(
        text.contains("map \"${s0_r0_m0_c0}${s0_r0_m0_c1}\" $s0_r0_m0 {\n        11 1;"),
        "{text}"
    );
    assert!(
        text.contains("map $http_x_canary $s0_r0_m1_c0 {\n        \"~.\" 1;"),
        "{text}"
    );
    assert!(
        text.contains(
            "map \"${s0_r0}1\" $s0_route {\n        ~^1 0;\n        ~^01 1;\n        default none;"
        ),
        "{text}"
    );
    assert!(
        text.contains("if ($s0_route = none) { return 404; }"),
        "{text}"
    );
}

#[test]
fn what_nginx_cannot_say_is_unsupported_naming_the_field() {
    let cases = [
        (
            "      fault: { delay: { fixedDelay: 5s, percentage: { value: 50 } } }\n",
            "fault.delay",
        ),
        (
            "      mirror: { host: web, subset: v2 }\n      mirrorPercentage: { value: 50 }\n",
            "mirrorPercentage",
        ),
        (
            "      retries: { attempts: 2, retryOn: retriable-4xx }\n",
            "retriable-4xx",
        ),
        ("      headers: { request: { add: { x-a: b } } }\n", "add"),
    ];
    for (field, named) in cases {
        let yaml = virtual_service(&format!(
            "    - route: [{{ destination: {{ host: web, subset: v1 }} }}]\n{field}"
        ));
        match written(web(Protocol::Http), Layer::Seven, &yaml) {
            Err(Gap::Unsupported(reason)) => assert!(reason.contains(named), "{reason}"),
            other => panic!("{named}: {other:?}"),
        }
    }
    let thrift = written(web(Protocol::Thrift), Layer::Seven, SUBSETS);
    assert!(matches!(thrift, Err(Gap::Unsupported(r)) if r.contains("nginx-l4")));
}

#[test]
fn at_layer_4_every_service_is_a_stream_proxy_to_all_its_pods() {
    for protocol in [Protocol::Http, Protocol::Thrift, Protocol::Dubbo] {
        let text = written(web(protocol), Layer::Four, SUBSETS).expect("translates");
        assert!(text.starts_with("# Generated by meshbench from the scenario's routing objects.\nload_module /modules/stream.so;"), "{text}");
        assert!(text.contains("stream {"), "{text}");
        assert!(
            text.contains("listen 127.0.0.1:8080;\n        proxy_pass s0_all;"),
            "{text}"
        );
        assert!(!text.contains("split_clients"), "{text}");
    }
}
