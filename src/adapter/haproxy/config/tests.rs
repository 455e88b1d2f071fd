use std::collections::BTreeMap;

use super::super::super::fixtures::{SUBSETS, WEB, routing, virtual_service, web};
use super::*;

fn written(service: Service, layer: Layer, yaml: &str) -> Result<String, Gap> {
    let binds = Binds {
        services: BTreeMap::from([(WEB.to_owned(), SocketAddr::from(([127, 0, 0, 1], 8080)))]),
        metrics: SocketAddr::from(([127, 0, 0, 1], 8081)),
    };
    let options = Options {
        layer,
        threads: 2,
        idle_timeout: None,
    };
    config(
        &[service],
        &routing(yaml),
        &binds,
        options,
        "/run/stats.sock",
    )
}

#[test]
fn a_split_is_one_draw_per_request_against_cumulative_weights() {
    let yaml = virtual_service(
        "    - route:\n        - { destination: { host: web, subset: v1 }, weight: 20 }\n        - { destination: { host: web, subset: v2 }, weight: 80 }",
    );
    let text = written(web(Protocol::Http), Layer::Seven, &yaml).expect("translates");
    assert!(
        text.contains("http-request set-var(txn.route) int(0) if !{ var(txn.route) -m found }\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "http-request set-var(txn.s0_r0) rand(100) if { var(txn.route) -m int eq 0 }\n"
        ),
        "{text}"
    );
    assert!(text.contains("use_backend s0_r0_d0 if { var(txn.route) -m int eq 0 } { var(txn.s0_r0) -m int lt 20 }\n"), "{text}");
    assert!(
        text.contains("use_backend s0_r0_d1 if { var(txn.route) -m int eq 0 }\n"),
        "{text}"
    );
    // Each leg holds only its subset's pods, with Istio's default retries.
    let leg = text
        .split("backend s0_r0_d0\n")
        .nth(1)
        .expect("the v1 backend");
    let leg = leg.split("\n\n").next().unwrap_or_default();
    assert!(leg.contains("server p0 127.0.1.1:3000"), "{leg}");
    assert!(!leg.contains("127.0.1.2"), "{leg}");
    assert!(leg.contains("balance leastconn"), "{leg}");
    assert!(
        leg.contains("retries 2\n    retry-on conn-failure\n    option redispatch 1"),
        "{leg}"
    );
}

#[test]
fn matches_are_tried_in_order_and_a_miss_is_a_404() {
    let yaml = virtual_service(
        "    - match:\n        - headers: { end-user: { exact: jason } }\n          uri: { prefix: /api }\n        - headers: { x-canary: {} }\n      route: [{ destination: { host: web, subset: v2 } }]\n    - match:\n        - uri: { regex: '/v[0-9]+' }\n      route: [{ destination: { host: web, subset: v1 } }]",
    );
    let text = written(web(Protocol::Http), Layer::Seven, &yaml).expect("translates");
    let unset = "!{ var(txn.route) -m found }";
    assert!(text.contains(&format!("int(0) if {unset} {{ path -m beg '/api' }} {{ req.hdr(end-user) -m str 'jason' }} or {unset} {{ req.hdr(x-canary) -m found }}\n")), "{text}");
    assert!(
        text.contains(&format!(
            "int(1) if {unset} {{ path -m reg '^(?:/v[0-9]+)$' }}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("http-request return status 404 if !{ var(txn.route) -m found }"),
        "{text}"
    );
}

#[test]
fn timeouts_retries_faults_redirects_and_rewrites_are_written() {
    let yaml = virtual_service(
        "    - match: [{ uri: { exact: /old } }]\n      redirect: { uri: /new }\n    - match: [{ uri: { prefix: /greeting } }]\n      rewrite: { uri: /hello }\n      timeout: 2s\n      retries: { attempts: 3, retryOn: 'gateway-error,connect-failure' }\n      fault: { abort: { httpStatus: 503, percentage: { value: 12.5 } } }\n      route: [{ destination: { host: web, subset: v2 } }]",
    );
    let text = written(web(Protocol::Http), Layer::Seven, &yaml).expect("translates");
    assert!(text.contains("http-request redirect location 'http://%[req.hdr(host)]/new?%[query]' code 301 if { var(txn.route) -m int eq 0 } { query -m len gt 0 }"), "{text}");
    assert!(text.contains("http-request return status 503 if { var(txn.route) -m int eq 1 } { rand(1000000) lt 125000 }"), "{text}");
    assert!(text.contains("http-request replace-path '^/greeting(.*)' '/hello\\1' if { var(txn.route) -m int eq 1 } { path -m beg '/greeting' }"), "{text}");
    let leg = text
        .split("backend s0_r1_d0\n")
        .nth(1)
        .expect("the backend");
    assert!(
        leg.contains(
            "timeout server 2000ms\n    retries 3\n    retry-on 502 503 504 conn-failure\n"
        ),
        "{leg}"
    );
    assert!(
        !text.contains("backend s0_r0_"),
        "a redirect has no backend:\n{text}"
    );
}

#[test]
fn what_haproxy_cannot_say_is_unsupported_naming_the_field() {
    let cases = [
        (
            "      fault: { delay: { fixedDelay: 5s, percentage: { value: 50 } } }\n",
            "fault.delay",
        ),
        ("      mirror: { host: web, subset: v2 }\n", "mirror"),
        (
            "      retries: { attempts: 2, retryOn: retriable-4xx }\n",
            "retriable-4xx",
        ),
        (
            "      timeout: 2s\n      retries: { attempts: 2, perTryTimeout: 1s }\n",
            "perTryTimeout",
        ),
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
    assert!(matches!(thrift, Err(Gap::Unsupported(r)) if r.contains("haproxy-l4")));
}

#[test]
fn at_layer_4_every_service_is_a_tcp_proxy_to_all_its_pods() {
    let yaml = virtual_service(
        "    - route:\n        - { destination: { host: web, subset: v1 }, weight: 20 }\n        - { destination: { host: web, subset: v2 }, weight: 80 }",
    );
    for protocol in [Protocol::Http, Protocol::Thrift, Protocol::Dubbo] {
        let text = written(web(protocol), Layer::Four, &yaml).expect("translates");
        assert!(
            text.contains("mode tcp\n    bind 127.0.0.1:8080\n    default_backend s0_all"),
            "{text}"
        );
        assert!(
            text.contains("server p0 127.0.1.1:3000\n    server p1 127.0.1.2:3000"),
            "{text}"
        );
        assert!(!text.contains("rand("), "{text}");
    }
}
