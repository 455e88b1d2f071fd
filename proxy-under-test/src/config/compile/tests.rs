//! Compiler tests, table-driven: objects -> facts about the route table (as
//! JSON pointers into its serialized form, the form reports show), and
//! invalid objects -> the exact error text. Plus a few checks through
//! `route::select`, where the meaning of a match matters more than its shape.

use serde_json::{Value, json};

use crate::config::{
    EndpointList, ExtensionUse, compile, extensions_used, load_endpoints, load_objects,
};
use crate::route::{Action, RouteTable, select};
use meshbench_wire::attributes::Attributes;

const FLEET: &str = r#"
services:
  - name: thrift-sample-server.meta-thrift.svc.cluster.local
    protocol: thrift
    port: 9090
    endpoints:
      - {address: "127.0.1.1:9090", labels: {app: thrift, version: v1}}
      - {address: "127.0.1.2:9090", labels: {app: thrift, version: v2}}
      - {address: "127.0.1.3:9090", labels: {app: thrift, version: v2}}
  - name: org.apache.dubbo.samples.basic.api.demoservice
    protocol: dubbo
    port: 20880
    endpoints:
      - {address: "127.0.2.1:20880", labels: {version: v1}}
      - {address: "127.0.2.2:20880", labels: {version: v2}}
  - name: web.shop.svc.cluster.local
    protocol: http
    port: 8080
    endpoints:
      - {address: "127.0.3.1:8080", labels: {version: v1}}
      - {address: "127.0.3.2:8080", labels: {version: v2}}
  - name: db.shop.svc.cluster.local
    protocol: tcp
    port: 5432
    endpoints:
      - {address: "127.0.4.1:5432", labels: {version: v1}}
      - {address: "127.0.4.2:5432", labels: {version: v2}}
  - name: greeter.dubbo-go.svc.cluster.local
    protocol: triple
    port: 20000
    endpoints:
      - {address: "127.0.5.1:20000", labels: {version: v1}}
      - {address: "127.0.5.2:20000", labels: {version: v2}}
"#;

const THRIFT: &str = "thrift-sample-server.meta-thrift.svc.cluster.local";
const T_ALL: &str = "outbound|9090||thrift-sample-server.meta-thrift.svc.cluster.local";
const T_V1: &str = "outbound|9090|v1|thrift-sample-server.meta-thrift.svc.cluster.local";
const T_V2: &str = "outbound|9090|v2|thrift-sample-server.meta-thrift.svc.cluster.local";
const T_CANARY: &str = "outbound|9090|canary|thrift-sample-server.meta-thrift.svc.cluster.local";
const D_V1: &str = "outbound|20880|v1|org.apache.dubbo.samples.basic.api.demoservice";
const W_ALL: &str = "outbound|8080||web.shop.svc.cluster.local";
const W_V1: &str = "outbound|8080|v1|web.shop.svc.cluster.local";
const W_V2: &str = "outbound|8080|v2|web.shop.svc.cluster.local";
const DB_V1: &str = "outbound|5432|v1|db.shop.svc.cluster.local";
const DB_V2: &str = "outbound|5432|v2|db.shop.svc.cluster.local";

/// Route `i` of the thrift (0), dubbo (1), web (2) and db (3) listeners.
const R0: &str = "/listeners/0/routes/0";
const R1: &str = "/listeners/0/routes/1";
const F0: &str = "/listeners/0/routes/0/action/forward";
const W0: &str = "/listeners/2/routes/0";
const WF0: &str = "/listeners/2/routes/0/action/forward";

const DR_THRIFT: &str = "apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: thrift, namespace: meta-thrift}
spec:
  host: thrift-sample-server
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
    - {name: canary, labels: {version: canary}}
";

const DR_WEB: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
";

const DR_DUBBO: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dubbo, namespace: dubbo}
spec:
  host: org.apache.dubbo.samples.basic.api.demoservice
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
";

/// A MetaRouter `meta-thrift/route` for the thrift service with these
/// `routes` (a flow sequence), plus the thrift DestinationRule.
fn mr(routes: &str) -> String {
    [
        "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\n",
        "metadata: {name: route, namespace: meta-thrift}\n",
        "spec:\n  hosts: [thrift-sample-server]\n  routes: ",
        routes,
        "\n---\n",
        DR_THRIFT,
    ]
    .concat()
}

/// A VirtualService `shop/web` for the web service with these `http` routes
/// (a flow sequence), plus the web DestinationRule.
fn vs(http: &str) -> String {
    [
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n",
        "metadata: {name: web, namespace: shop}\n",
        "spec:\n  hosts: [web]\n  http: ",
        http,
        "\n---\n",
        DR_WEB,
    ]
    .concat()
}

fn fleet() -> EndpointList {
    load_endpoints(FLEET).unwrap_or_else(|e| panic!("fleet: {e}"))
}

fn compiled(yaml: &str) -> Result<RouteTable, String> {
    let objects = load_objects(yaml).map_err(|e| format!("load: {e}"))?;
    compile(&objects, &fleet(), 7).map_err(|e| e.to_string())
}

fn json_of(yaml: &str) -> Result<Value, String> {
    serde_json::to_value(compiled(yaml)?).map_err(|e| e.to_string())
}

fn duration(secs: u64, nanos: u32) -> Value {
    json!({"secs": secs, "nanos": nanos})
}

fn present(attribute: &str, invert: bool) -> Value {
    json!({"attribute": attribute, "matcher": "present", "invert": invert})
}

fn cond(attribute: &str, kind: &str, value: &str) -> Value {
    json!({"attribute": attribute, "matcher": {kind: value}, "invert": false})
}

type Facts = Vec<(&'static str, String, Vec<(String, Value)>)>;

fn p(pointer: &str) -> String {
    pointer.to_owned()
}

fn check(facts: Facts) {
    for (description, yaml, expected) in facts {
        let table = json_of(&yaml).unwrap_or_else(|e| panic!("{description}: {e}\n---\n{yaml}"));
        for (pointer, value) in expected {
            assert_eq!(
                table.pointer(&pointer),
                Some(&value),
                "{description}: {pointer}"
            );
        }
    }
}

fn check_errors(cases: Vec<(&'static str, String, &'static str)>) {
    for (description, yaml, expected) in cases {
        match compiled(&yaml) {
            Ok(table) => panic!("{description}: expected an error, got {table:?}"),
            Err(e) => assert_eq!(e, expected, "{description}"),
        }
    }
}

// === MetaRouter ===

#[test]
fn metarouter_rules() {
    check(vec![
        (
            "routes in order; attributes ANDed in one block (aeraki #160); names lower-cased",
            mr("[{name: both, match: {attributes: {method: {exact: sayHello}, Service: {prefix: Hello}}},
                 route: [{destination: {host: thrift-sample-server, subset: v1}}]},
               {name: rest, route: [{destination: {host: thrift-sample-server, subset: v2}}]}]"),
            vec![
                (format!("{R0}/name"), json!("both")),
                (
                    format!("{R0}/matches"),
                    json!([{"conditions": [cond("service", "prefix", "Hello"), cond("method", "exact", "sayHello")]}]),
                ),
                (format!("{R1}/name"), json!("rest")),
                (format!("{R1}/matches"), json!([])),
            ],
        ),
        (
            "exact \"\", regex \"*\", {} and null all mean present; a regex is kept as written",
            mr("[{name: r, match: {attributes: {a: {exact: ''}, b: {regex: '*'}, c: {}, d: null, e: {regex: 'say.*'}}},
                 route: [{destination: {host: thrift-sample-server}}]}]"),
            vec![(
                format!("{R0}/matches/0/conditions"),
                json!([
                    present("a", false),
                    present("b", false),
                    present("c", false),
                    present("d", false),
                    cond("e", "regex", "say.*")
                ]),
            )],
        ),
        (
            "no match means every request",
            mr("[{name: all, match: {attributes: {}}, route: [{destination: {host: thrift-sample-server}}]}]"),
            vec![(format!("{R0}/matches"), json!([]))],
        ),
        (
            "a single destination ignores its weight",
            mr("[{name: one, route: [{destination: {host: thrift-sample-server, subset: v1}, weight: 20}]}]"),
            vec![(format!("{F0}/weighted_clusters"), json!({"clusters": [{"name": T_V1, "weight": 1}], "total_weight": 1}))],
        ),
        (
            "weights 1 and 3 give total_weight 4 (the sum, not 100)",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}, weight: 1},
                                   {destination: {host: thrift-sample-server, subset: v2}, weight: 3}]}]"),
            vec![(format!("{F0}/weighted_clusters"), json!({"clusters": [{"name": T_V1, "weight": 1}, {"name": T_V2, "weight": 3}], "total_weight": 4}))],
        ),
        (
            "a weight-0 destination stays listed (dark deploy)",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}, weight: 100},
                                   {destination: {host: thrift-sample-server, subset: v2}}]}]"),
            vec![(format!("{F0}/weighted_clusters"), json!({"clusters": [{"name": T_V1, "weight": 100}, {"name": T_V2, "weight": 0}], "total_weight": 100}))],
        ),
        (
            "mirrorPercentage absent: 100 %",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}}],
                 mirror: {host: thrift-sample-server, subset: v2}}]"),
            vec![(format!("{F0}/mirror"), json!({"cluster": T_V2, "per_million": 1_000_000}))],
        ),
        (
            "mirrorPercentage 0: 100 % too (Aeraki cannot tell 0 from unset)",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}}],
                 mirror: {host: thrift-sample-server, subset: v2}, mirrorPercentage: {value: 0}}]"),
            vec![(format!("{F0}/mirror/per_million"), json!(1_000_000))],
        ),
        (
            "mirrorPercentage 50: half, per million; the mirror cluster is in the table",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}}],
                 mirror: {host: thrift-sample-server, subset: v2}, mirrorPercentage: {value: 50}}]"),
            vec![
                (format!("{F0}/mirror/per_million"), json!(500_000)),
                (format!("/clusters/{}/subset", T_V2), json!("v2")),
            ],
        ),
        (
            "request and response mutations kept as pairs, in order",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server}}],
                 requestMutation: [{key: foo, value: bar}, {key: a, value: b}],
                 responseMutation: [{key: x, value: y}]}]"),
            vec![
                (format!("{F0}/request_mutation"), json!([["foo", "bar"], ["a", "b"]])),
                (format!("{F0}/response_mutation"), json!([["x", "y"]])),
                (format!("{F0}/timeout"), json!(null)),
            ],
        ),
        (
            "destination port.number equal to the service port is accepted",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1, port: {number: 9090}}}]}]"),
            vec![(format!("{F0}/weighted_clusters/clusters/0/name"), json!(T_V1))],
        ),
        (
            "exportTo is accepted with no effect; gateways including mesh apply to meshproxy",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server}}]}]").replace(
                "  routes:",
                "  exportTo: ['.']\n  gateways: [istio-system/ingress, mesh]\n  routes:",
            ),
            vec![(format!("{R0}/name"), json!("r"))],
        ),
        (
            "only the first host counts: later ones are ignored, even unknown ones",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server}}]}]")
                .replace("hosts: [thrift-sample-server]", "hosts: [thrift-sample-server, not-a-service]"),
            vec![(format!("{R0}/name"), json!("r"))],
        ),
    ]);
}

#[test]
fn dubbo_metarouter_with_serviceentry_host() {
    let yaml = [
        "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {name: dubbo, namespace: dubbo}\n",
        "spec:\n  hosts: [org.apache.dubbo.samples.basic.api.demoservice]\n  routes:\n",
        "    - name: batch\n",
        "      match: {attributes: {interface: {exact: org.apache.dubbo.samples.basic.api.DemoService},\n",
        "                           method: {exact: sayHello}, batchJob: {exact: 'true'}}}\n",
        "      route: [{destination: {host: org.apache.dubbo.samples.basic.api.demoservice, subset: v1}}]\n",
        "---\n",
        DR_DUBBO,
    ]
    .concat();
    check(vec![(
        "ServiceEntry-style hosts match as plain FQDNs; every attachment is an attribute",
        yaml,
        vec![
            (
                p("/listeners/1/routes/0/matches/0/conditions"),
                json!([
                    cond("batchjob", "exact", "true"),
                    cond(
                        "interface",
                        "exact",
                        "org.apache.dubbo.samples.basic.api.DemoService"
                    ),
                    cond("method", "exact", "sayHello")
                ]),
            ),
            (
                p("/listeners/1/routes/0/action/forward/weighted_clusters/clusters/0/name"),
                json!(D_V1),
            ),
            (p("/listeners/0/routes/0/name"), json!("default")),
        ],
    )]);
}

#[test]
fn route_policies_extension() {
    let yaml = mr("[{name: slow, route: [{destination: {host: thrift-sample-server, subset: v1}}]},
                    {name: other, route: [{destination: {host: thrift-sample-server, subset: v2}}]}]")
    .replace(
        "metadata: {name: route, namespace: meta-thrift}\n",
        "metadata:\n  name: route\n  namespace: meta-thrift\n  annotations:\n    meshbench.io/route-policies: |\n      \
         slow:\n        timeout: 2s\n        retries: {attempts: 2, perTryTimeout: 500ms, retryOn: 'gateway-error,reset'}\n        \
         fault:\n          delay: {fixedDelay: 100ms, percentage: {value: 10}}\n          \
         abort: {httpStatus: 500, percentage: {value: 5}}\n",
    );
    check(vec![(
        "meshbench.io/route-policies gives a MetaRouter route a timeout, retries and faults",
        yaml.clone(),
        vec![
            (format!("{F0}/timeout"), duration(2, 0)),
            (
                format!("{F0}/retries"),
                json!({"attempts": 2, "per_try_timeout": duration(0, 500_000_000), "retry_on": ["gateway-error", "reset"], "retriable_status_codes": []}),
            ),
            (
                format!("{F0}/fault"),
                json!({"delay": [duration(0, 100_000_000), 100_000], "abort": [{"http": 500}, 50_000]}),
            ),
            (format!("{R1}/action/forward/timeout"), json!(null)),
            (
                "/extensions".to_owned(),
                json!(["MetaRouter meta-thrift/route uses meshbench.io/route-policies"]),
            ),
        ],
    )]);
    let objects = load_objects(&yaml).unwrap_or_default();
    assert_eq!(
        extensions_used(&objects),
        vec![ExtensionUse {
            object: "MetaRouter meta-thrift/route".to_owned(),
            extension: "meshbench.io/route-policies",
        }]
    );
    assert_eq!(
        extensions_used(&objects)[0].to_string(),
        "MetaRouter meta-thrift/route uses meshbench.io/route-policies"
    );
    assert!(extensions_used(&load_objects(&mr("[]")).unwrap_or_default()).is_empty());
}

#[test]
fn virtual_service_retries_follow_istio() {
    let route = "[{route: [{destination: {host: web, subset: v1}}]";
    let with = |retries: &str| vs(&format!("{route}, retries: {retries}}}]"));
    let default_on = json!([
        "connect-failure",
        "refused-stream",
        "unavailable",
        "cancelled",
        "retriable-status-codes"
    ]);
    let istio_default = json!({"attempts": 2, "per_try_timeout": null,
        "retry_on": default_on.clone(), "retriable_status_codes": []});
    check(vec![
        (
            "no retries written: Istio's default policy, 2 retries, no status retried",
            vs(&format!("{route}}}]")),
            vec![(format!("{WF0}/retries"), istio_default.clone())],
        ),
        (
            "an HTTP service with no VirtualService gets the default policy too",
            String::new(),
            vec![(format!("{WF0}/retries"), istio_default)],
        ),
        (
            "attempts 0 switches retrying off",
            with("{attempts: 0}"),
            vec![(format!("{WF0}/retries"), json!(null))],
        ),
        (
            "attempts without retryOn keep Istio's default conditions",
            with("{attempts: 4}"),
            vec![(
                format!("{WF0}/retries"),
                json!({"attempts": 4, "per_try_timeout": null,
                    "retry_on": default_on, "retriable_status_codes": []}),
            )],
        ),
        (
            "a number in retryOn is a retriable status code and implies retriable-status-codes",
            with("{attempts: 1, retryOn: 'connect-failure, 503'}"),
            vec![(
                format!("{WF0}/retries"),
                json!({"attempts": 1, "per_try_timeout": null,
                    "retry_on": ["connect-failure", "retriable-status-codes"],
                    "retriable_status_codes": [503]}),
            )],
        ),
        (
            "a MetaRouter route has no retries unless the extension gives them",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}}]}]"),
            vec![(format!("{F0}/retries"), json!(null))],
        ),
    ]);
}

// === Hosts, clusters, DestinationRules ===

#[test]
fn host_and_cluster_rules() {
    let thrift_mr_in = |namespace: &str, host: &str| {
        [
            "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\n",
            "metadata: {name: r, namespace: ",
            namespace,
            "}\nspec:\n  hosts: [",
            host,
            "]\n  routes: [{name: r, route: [{destination: {host: ",
            host,
            "}}]}]\n",
        ]
        .concat()
    };
    check(vec![
        (
            "no routing object: Aeraki's default route to the whole service, round robin",
            String::new(),
            vec![
                (
                    p(R0),
                    json!({"name": "default", "matches": [], "action": {"forward": {
                        "weighted_clusters": {"clusters": [{"name": T_ALL, "weight": 1}], "total_weight": 1},
                        "timeout": null, "retries": null, "fault": null, "mirror": null,
                        "request_mutation": [], "response_mutation": [], "request_remove": [],
                        "rewrite": null, "hash_key": null}}}),
                ),
                (format!("/clusters/{}/lb", T_ALL), json!("round_robin")),
                (p("/listeners/3/routes/0/name"), json!("default")),
                (p("/version"), json!(7)),
                (p("/listeners/2/service"), json!("web.shop.svc.cluster.local")),
                (p("/listeners/2/protocol"), json!("http")),
                (p("/listeners/2/port"), json!(8080)),
            ],
        ),
        (
            "the default route hashes by the DestinationRule's consistentHash header, lower-cased",
            DR_THRIFT.replace(
                "  subsets:",
                "  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: Method}}}\n  subsets:",
            ),
            vec![
                (format!("{F0}/hash_key"), json!("method")),
                (format!("/clusters/{}/lb", T_ALL), json!({"consistent_hash": "method"})),
            ],
        ),
        ("short host '<short>' expands with the object's namespace", thrift_mr_in("meta-thrift", "thrift-sample-server"), vec![(format!("{F0}/weighted_clusters/clusters/0/name"), json!(T_ALL))]),
        ("short host '<short>.<ns>' expands from any namespace", thrift_mr_in("default", "thrift-sample-server.meta-thrift"), vec![(format!("{F0}/weighted_clusters/clusters/0/name"), json!(T_ALL))]),
        ("an FQDN host matches as is", thrift_mr_in("default", THRIFT), vec![(format!("{F0}/weighted_clusters/clusters/0/name"), json!(T_ALL))]),
        (
            "subset endpoints are those carrying all the subset's labels",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v2}}]}]"),
            vec![
                (format!("/clusters/{}/endpoints", T_V2), json!(["127.0.1.2:9090", "127.0.1.3:9090"])),
                (format!("/clusters/{}/service", T_V2), json!(THRIFT)),
                (format!("/clusters/{}/port", T_V2), json!(9090)),
            ],
        ),
        (
            "a subset selecting no endpoint compiles to an empty cluster (no healthy upstream)",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: canary}}]}]"),
            vec![(format!("/clusters/{}/endpoints", T_CANARY), json!([]))],
        ),
        (
            "subset trafficPolicy replaces loadBalancer, connectionPool, outlierDetection each whole",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}, weight: 1},
                                   {destination: {host: thrift-sample-server, subset: v2}, weight: 1}]}]")
            .replace(
                "  subsets:\n    - {name: v1, labels: {version: v1}}",
                "  trafficPolicy:\n    loadBalancer: {simple: RANDOM}\n    \
                 connectionPool: {tcp: {maxConnections: 10}, http: {http1MaxPendingRequests: 5}}\n  \
                 subsets:\n    - name: v1\n      labels: {version: v1}\n      trafficPolicy:\n        \
                 loadBalancer: {consistentHash: {httpHeaderName: method}}\n        \
                 connectionPool: {http: {maxRetries: 3}}",
            ),
            vec![
                (format!("/clusters/{}/lb", T_V1), json!({"consistent_hash": "method"})),
                (
                    format!("/clusters/{}/pool", T_V1),
                    json!({"max_connections": null, "max_pending_requests": null,
                           "max_requests_per_connection": null, "max_retries": 3, "connect_timeout": null}),
                ),
                (format!("/clusters/{}/lb", T_V2), json!("random")),
                (format!("/clusters/{}/pool/max_connections", T_V2), json!(10)),
                (format!("/clusters/{}/pool/max_pending_requests", T_V2), json!(5)),
                (format!("{F0}/hash_key"), json!("method")),
            ],
        ),
        (
            "LEAST_CONN is LEAST_REQUEST; connection pool fields",
            DR_THRIFT.replace(
                "  subsets:",
                "  trafficPolicy:\n    loadBalancer: {simple: LEAST_CONN}\n    connectionPool:\n      \
                 tcp: {maxConnections: 1, connectTimeout: 250ms}\n      \
                 http: {http1MaxPendingRequests: 2, maxRequestsPerConnection: 3, maxRetries: 4, http2MaxRequests: 9}\n  subsets:",
            ),
            vec![
                (format!("/clusters/{}/lb", T_ALL), json!("least_request")),
                (
                    format!("/clusters/{}/pool", T_ALL),
                    json!({"max_connections": 1, "max_pending_requests": 2, "max_requests_per_connection": 3,
                           "max_retries": 4, "connect_timeout": duration(0, 250_000_000)}),
                ),
            ],
        ),
        (
            "outlierDetection: given values",
            DR_THRIFT.replace(
                "  subsets:",
                "  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 3, consecutiveGatewayErrors: 2, \
                 interval: 1s, baseEjectionTime: 15s, maxEjectionPercent: 50}\n  subsets:",
            ),
            vec![(
                format!("/clusters/{}/outlier", T_ALL),
                json!({"consecutive_errors": 3, "consecutive_gateway_errors": 2, "interval": duration(1, 0),
                       "base_ejection_time": duration(15, 0), "max_ejection_percent": 50}),
            )],
        ),
        (
            "outlierDetection: Envoy defaults when unset",
            DR_THRIFT.replace("  subsets:", "  trafficPolicy: {outlierDetection: {}}\n  subsets:"),
            vec![(
                format!("/clusters/{}/outlier", T_ALL),
                json!({"consecutive_errors": 5, "consecutive_gateway_errors": null, "interval": duration(10, 0),
                       "base_ejection_time": duration(30, 0), "max_ejection_percent": 10}),
            )],
        ),
        (
            "outlierDetection: consecutiveErrors is the deprecated 5xx threshold",
            DR_THRIFT.replace("  subsets:", "  trafficPolicy: {outlierDetection: {consecutiveErrors: 7}}\n  subsets:"),
            vec![(format!("/clusters/{}/outlier/consecutive_errors", T_ALL), json!(7))],
        ),
        (
            "outlierDetection: only gateway errors set turns 5xx ejection off",
            DR_THRIFT.replace(
                "  subsets:",
                "  trafficPolicy: {outlierDetection: {consecutiveGatewayErrors: 4}}\n  subsets:",
            ),
            vec![(format!("/clusters/{}/outlier/consecutive_errors", T_ALL), json!(null))],
        ),
    ]);
}

// === VirtualService ===

#[test]
fn virtualservice_http_rules() {
    let to_v1 = "route: [{destination: {host: web, subset: v1}}]";
    let with = |fields: &str| vs(&["[{name: r, ", to_v1, ", ", fields, "}]"].concat());
    check(vec![
        (
            "match blocks ORed, fields ANDed: uri on @path, method, authority, headers, withoutHeaders inverted",
            vs("[{name: api, match: [{uri: {prefix: /api}, method: {exact: GET}, headers: {X-User: {exact: alice}}},
                                    {authority: {regex: 'web(:8080)?'}, withoutHeaders: {x-canary: {}}}],
                 route: [{destination: {host: web, subset: v1}}]}]"),
            vec![(
                format!("{W0}/matches"),
                json!([
                    {"conditions": [cond("@path", "prefix", "/api"), cond(":method", "exact", "GET"), cond("x-user", "exact", "alice")]},
                    {"conditions": [cond(":authority", "regex", "web(:8080)?"), present("x-canary", true)]}
                ]),
            )],
        ),
        (
            "ignoreUriCase turns exact and prefix into case-insensitive regexes",
            vs("[{match: [{uri: {exact: /Api}, ignoreUriCase: true}, {uri: {prefix: /V1.}, ignoreUriCase: true}], route: [{destination: {host: web}}]}]"),
            vec![
                (format!("{W0}/matches/0/conditions/0/matcher"), json!({"regex": "(?i)/Api"})),
                (format!("{W0}/matches/1/conditions/0/matcher"), json!({"regex": "(?i)/V1\\..*"})),
            ],
        ),
        (
            "a match on the service port holds; an empty block matches everything",
            vs("[{match: [{port: 8080}], route: [{destination: {host: web}}]}]"),
            vec![(format!("{W0}/matches"), json!([{"conditions": []}]))],
        ),
        ("mirrorPercentage absent: 100 %", with("mirror: {host: web, subset: v2}"), vec![(format!("{WF0}/mirror"), json!({"cluster": W_V2, "per_million": 1_000_000}))]),
        ("mirrorPercentage 0: 0 % (unlike MetaRouter)", with("mirror: {host: web, subset: v2}, mirrorPercentage: {value: 0}"), vec![(format!("{WF0}/mirror/per_million"), json!(0))]),
        ("mirrorPercentage 50: half", with("mirror: {host: web, subset: v2}, mirrorPercentage: {value: 50}"), vec![(format!("{WF0}/mirror/per_million"), json!(500_000))]),
        ("mirrorPercent (deprecated integer)", with("mirror: {host: web, subset: v2}, mirrorPercent: 30"), vec![(format!("{WF0}/mirror/per_million"), json!(300_000))]),
        ("mirrorPercentage rounds to per million", with("mirror: {host: web, subset: v2}, mirrorPercentage: {value: 0.00005}"), vec![(format!("{WF0}/mirror/per_million"), json!(1))]),
        ("timeout 0.5s", with("timeout: 0.5s"), vec![(format!("{WF0}/timeout"), duration(0, 500_000_000))]),
        ("timeout 0s means none", with("timeout: 0s"), vec![(format!("{WF0}/timeout"), json!(null))]),
        ("timeout 1m", with("timeout: 1m"), vec![(format!("{WF0}/timeout"), duration(60, 0))]),
        (
            "retries: retryOn split on commas",
            with("retries: {attempts: 3, perTryTimeout: 100ms, retryOn: '5xx, connect-failure,,reset'}"),
            vec![(
                format!("{WF0}/retries"),
                json!({"attempts": 3, "per_try_timeout": duration(0, 100_000_000), "retry_on": ["5xx", "connect-failure", "reset"], "retriable_status_codes": []}),
            )],
        ),
        ("retries attempts 0: no retries", with("retries: {attempts: 0, retryOn: 5xx}"), vec![(format!("{WF0}/retries"), json!(null))]),
        (
            "fault percentages; absent means 100 %",
            with("fault: {delay: {fixedDelay: 2s, percentage: {value: 10}}, abort: {httpStatus: 503}}"),
            vec![(format!("{WF0}/fault"), json!({"delay": [duration(2, 0), 100_000], "abort": [{"http": 503}, 1_000_000]}))],
        ),
        (
            "fault delay percent (deprecated integer)",
            with("fault: {delay: {fixedDelay: 1s, percent: 5}}"),
            vec![(format!("{WF0}/fault"), json!({"delay": [duration(1, 0), 50_000], "abort": null}))],
        ),
        (
            "rewrite kept",
            with("rewrite: {uri: /v2, authority: web.internal}"),
            vec![(format!("{WF0}/rewrite"), json!({"uri": "/v2", "authority": "web.internal"}))],
        ),
        (
            "route headers, then each destination's, merged; add applied as set",
            vs("[{name: h, headers: {request: {set: {x-a: '1'}, add: {x-b: '2'}, remove: [x-c]}, response: {set: {x-r: '3'}}},
                 route: [{destination: {host: web, subset: v1}, weight: 50, headers: {request: {set: {x-d: '4'}}}},
                         {destination: {host: web, subset: v2}, weight: 50, headers: {response: {add: {x-e: '5'}}}}]}]"),
            vec![
                (format!("{WF0}/request_mutation"), json!([["x-a", "1"], ["x-b", "2"], ["x-d", "4"]])),
                (format!("{WF0}/request_remove"), json!(["x-c"])),
                (format!("{WF0}/response_mutation"), json!([["x-r", "3"], ["x-e", "5"]])),
                (format!("{WF0}/weighted_clusters"), json!({"clusters": [{"name": W_V1, "weight": 50}, {"name": W_V2, "weight": 50}], "total_weight": 100})),
            ],
        ),
        (
            "redirect, 301 unless set",
            vs("[{name: old, match: [{uri: {exact: /old}}], redirect: {uri: /new}}, {name: moved, redirect: {authority: b, redirectCode: 308}}]"),
            vec![
                (format!("{W0}/action"), json!({"redirect": {"uri": "/new", "authority": null, "code": 301}})),
                (p("/listeners/2/routes/1/action/redirect/code"), json!(308)),
            ],
        ),
        (
            "first match wins: routes keep their order",
            vs("[{name: a, match: [{headers: {x-v: {exact: '2'}}}], route: [{destination: {host: web, subset: v2}}]},
                {name: b, route: [{destination: {host: web}}]}]"),
            vec![(format!("{W0}/name"), json!("a")), (p("/listeners/2/routes/1/name"), json!("b")), (p("/listeners/2/routes/1/action/forward/weighted_clusters/clusters/0/name"), json!(W_ALL))],
        ),
    ]);
}

#[test]
fn virtualservice_tcp_and_multi_host() {
    let yaml = "apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: both, namespace: shop}
spec:
  hosts: [web, db.shop]
  http: [{route: [{destination: {host: web}}]}]
  tcp:
    - match: [{port: 5432}]
      route: [{destination: {host: db, subset: v1}, weight: 90}, {destination: {host: db, subset: v2}, weight: 10}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: shop}
spec:
  host: db
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
";
    check(vec![(
        "tcp: one route with no matches, weighted per connection; one VirtualService serves both protocols",
        yaml.to_owned(),
        vec![
            (p("/listeners/3/routes/0/name"), json!("tcp")),
            (p("/listeners/3/routes/0/matches"), json!([])),
            (
                p("/listeners/3/routes/0/action/forward/weighted_clusters"),
                json!({"clusters": [{"name": DB_V1, "weight": 90}, {"name": DB_V2, "weight": 10}], "total_weight": 100}),
            ),
            (
                format!("{WF0}/weighted_clusters/clusters/0/name"),
                json!(W_ALL),
            ),
        ],
    )]);
}

// === Errors ===

#[test]
fn metarouter_errors() {
    let one = |route: &str| mr(&["[{name: r, ", route, "}]"].concat());
    let to = |dest: &str| one(&["route: [{destination: {", dest, "}}]"].concat());
    let second = [
        mr("[{name: r, route: [{destination: {host: thrift-sample-server}}]}]").as_str(),
        "\n---\napiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {name: second, namespace: meta-thrift}\n",
        "spec: {hosts: [thrift-sample-server.meta-thrift.svc.cluster.local], routes: []}\n",
    ]
    .concat();
    check_errors(vec![
        (
            "unknown subset",
            to("host: thrift-sample-server, subset: v3"),
            "MetaRouter meta-thrift/route: spec.routes[0].route[0].destination.subset: subset 'v3' is not defined by \
             any DestinationRule for thrift-sample-server.meta-thrift.svc.cluster.local",
        ),
        (
            "a subset with no DestinationRule for the host at all",
            mr("[{name: r, route: [{destination: {host: thrift-sample-server, subset: v1}}]}]")
                .replace(DR_THRIFT, DR_WEB),
            "MetaRouter meta-thrift/route: spec.routes[0].route[0].destination.subset: subset 'v1' is not defined by \
             any DestinationRule for thrift-sample-server.meta-thrift.svc.cluster.local",
        ),
        (
            "unknown host in hosts",
            mr("[]").replace(
                "hosts: [thrift-sample-server]",
                "hosts: [thrift-sample-server.other]",
            ),
            "MetaRouter meta-thrift/route: spec.hosts[0]: host 'thrift-sample-server.other' is not a service of the endpoint list",
        ),
        (
            "unknown destination host",
            to("host: reviews"),
            "MetaRouter meta-thrift/route: spec.routes[0].route[0].destination.host: host 'reviews' is not a service \
             of the endpoint list",
        ),
        (
            "no hosts",
            mr("[]").replace("hosts: [thrift-sample-server]", "hosts: []"),
            "MetaRouter meta-thrift/route: spec.hosts: required",
        ),
        (
            "a second MetaRouter for the same host",
            second,
            "MetaRouter meta-thrift/second: spec.hosts[0]: host thrift-sample-server.meta-thrift.svc.cluster.local is \
             already configured by MetaRouter meta-thrift/route",
        ),
        (
            "a MetaRouter for an http service",
            mr("[]").replace("hosts: [thrift-sample-server]", "hosts: [web.shop]"),
            "MetaRouter meta-thrift/route: spec.hosts[0]: web.shop.svc.cluster.local speaks http: a MetaRouter routes \
             only thrift and dubbo services",
        ),
        (
            "a destination speaking another protocol",
            to("host: org.apache.dubbo.samples.basic.api.demoservice"),
            "MetaRouter meta-thrift/route: spec.routes[0].route[0].destination.host: destination \
             org.apache.dubbo.samples.basic.api.demoservice speaks dubbo, not thrift",
        ),
        (
            "weights all 0 with two destinations",
            one(
                "route: [{destination: {host: thrift-sample-server, subset: v1}}, {destination: {host: thrift-sample-server, subset: v2}, weight: 0}]",
            ),
            "MetaRouter meta-thrift/route: spec.routes[0].route: weights sum to 0",
        ),
        (
            "a route without destinations",
            one("match: {attributes: {method: {exact: a}}}"),
            "MetaRouter meta-thrift/route: spec.routes[0].route: required",
        ),
        (
            "a regex that does not compile",
            one(
                "match: {attributes: {method: {regex: 'say(Hello'}}}, route: [{destination: {host: thrift-sample-server}}]",
            ),
            "MetaRouter meta-thrift/route: spec.routes[0].match.attributes.method.regex: invalid regex 'say(Hello'",
        ),
        (
            "two match types in one StringMatch",
            one(
                "match: {attributes: {method: {exact: a, prefix: b}}}, route: [{destination: {host: thrift-sample-server}}]",
            ),
            "MetaRouter meta-thrift/route: spec.routes[0].match.attributes.method.prefix: exclusive with 'exact'",
        ),
        (
            "a destination port other than the service port",
            to("host: thrift-sample-server, port: {number: 9091}"),
            "MetaRouter meta-thrift/route: spec.routes[0].route[0].destination.port.number: port 9091 is not the port \
             of thrift-sample-server.meta-thrift.svc.cluster.local (9090)",
        ),
        (
            "mirrorPercentage above 100",
            one(
                "route: [{destination: {host: thrift-sample-server}}], mirror: {host: thrift-sample-server}, mirrorPercentage: {value: 150}",
            ),
            "MetaRouter meta-thrift/route: spec.routes[0].mirrorPercentage.value: percentage 150 is outside [0, 100]",
        ),
        (
            "mirrorPercentage without mirror",
            one(
                "route: [{destination: {host: thrift-sample-server}}], mirrorPercentage: {value: 10}",
            ),
            "MetaRouter meta-thrift/route: spec.routes[0].mirrorPercentage: set without 'mirror'",
        ),
        (
            "localRateLimit",
            mr("[]").replace(
                "  routes: []",
                "  routes: []\n  localRateLimit: {tokenBucket: {maxTokens: 10, fillInterval: 1s}}",
            ),
            "MetaRouter meta-thrift/route: spec.localRateLimit: not supported by meshproxy",
        ),
        (
            "globalRateLimit",
            mr("[]").replace(
                "  routes: []",
                "  routes: []\n  globalRateLimit: {domain: d}",
            ),
            "MetaRouter meta-thrift/route: spec.globalRateLimit: not supported by meshproxy",
        ),
        (
            "gateways without mesh",
            mr("[]").replace(
                "  routes: []",
                "  routes: []\n  gateways: [istio-system/ingress]",
            ),
            "MetaRouter meta-thrift/route: spec.gateways: applies only to gateways 'istio-system/ingress', and \
             meshproxy routes as the 'mesh' gateway",
        ),
    ]);
}

#[test]
fn route_policies_errors() {
    let with = |annotation: &str| {
        mr("[{name: r, route: [{destination: {host: thrift-sample-server}}]}]").replace(
            "metadata: {name: route, namespace: meta-thrift}\n",
            &[
                "metadata:\n  name: route\n  namespace: meta-thrift\n  annotations:\n    meshbench.io/route-policies: '",
                annotation,
                "'\n",
            ]
            .concat(),
        )
    };
    check_errors(vec![
        (
            "a policy for a route that does not exist",
            with("{nope: {timeout: 1s}}"),
            "MetaRouter meta-thrift/route: metadata.annotations[\"meshbench.io/route-policies\"].nope: no route named 'nope'",
        ),
        (
            "an invalid duration",
            with("{r: {timeout: 2x}}"),
            "MetaRouter meta-thrift/route: metadata.annotations[\"meshbench.io/route-policies\"].r.timeout: invalid \
             duration '2x': expected a Go duration such as '2s', '0.5s' or '100ms'",
        ),
        (
            "an unknown policy field",
            with("{r: {timout: 1s}}"),
            "MetaRouter meta-thrift/route: metadata.annotations[\"meshbench.io/route-policies\"]: invalid route \
             policies: 1:6: unknown field `timout`, expected one of timeout, retries, fault",
        ),
        (
            "an abort without httpStatus",
            with("{r: {fault: {abort: {percentage: {value: 1}}}}}"),
            "MetaRouter meta-thrift/route: metadata.annotations[\"meshbench.io/route-policies\"].r.fault.abort.httpStatus: required",
        ),
        (
            "the annotation on a VirtualService",
            vs("[{route: [{destination: {host: web}}]}]").replacen(
                "metadata: {name: web, namespace: shop}",
                "metadata: {name: web, namespace: shop, annotations: {meshbench.io/route-policies: '{}'}}",
                1,
            ),
            "VirtualService shop/web: metadata.annotations[\"meshbench.io/route-policies\"]: the route-policies \
             extension applies to MetaRouter only",
        ),
    ]);
}

#[test]
fn virtualservice_errors() {
    let one = |fields: &str| vs(&["[{name: r, ", fields, "}]"].concat());
    let forward = |fields: &str| one(&["route: [{destination: {host: web}}], ", fields].concat());
    check_errors(vec![
        (
            "a VirtualService for a thrift service",
            vs("[{route: [{destination: {host: web}}]}]").replace("hosts: [web]", "hosts: [thrift-sample-server.meta-thrift]"),
            "VirtualService shop/web: spec.hosts[0]: thrift-sample-server.meta-thrift.svc.cluster.local speaks thrift: \
             a VirtualService routes only http and tcp services, use a MetaRouter",
        ),
        (
            "a tcp section no host uses",
            vs("[{route: [{destination: {host: web}}]}]\n  tcp: [{route: [{destination: {host: db}}]}]"),
            "VirtualService shop/web: spec.tcp: no host of this VirtualService speaks tcp",
        ),
        (
            "a tcp host without tcp routes",
            vs("[{route: [{destination: {host: web}}]}]").replace("hosts: [web]", "hosts: [web, db]"),
            "VirtualService shop/web: spec.hosts[1]: db.shop.svc.cluster.local speaks tcp: the VirtualService has no tcp routes",
        ),
        (
            "a second VirtualService for the same host",
            [vs("[{route: [{destination: {host: web}}]}]").as_str(), "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: again, namespace: shop}\nspec: {hosts: [web.shop.svc.cluster.local], http: [{route: [{destination: {host: web}}]}]}\n"].concat(),
            "VirtualService shop/again: spec.hosts[0]: host web.shop.svc.cluster.local is already configured by VirtualService shop/web",
        ),
        (
            "unknown host",
            vs("[{route: [{destination: {host: web}}]}]").replace("hosts: [web]", "hosts: [web, reviews]"),
            "VirtualService shop/web: spec.hosts[1]: host 'reviews' is not a service of the endpoint list",
        ),
        ("unknown subset", one("route: [{destination: {host: web, subset: v3}}]"), "VirtualService shop/web: spec.http[0].route[0].destination.subset: subset 'v3' is not defined by any DestinationRule for web.shop.svc.cluster.local"),
        ("redirect with route", forward("redirect: {uri: /x}"), "VirtualService shop/web: spec.http[0].redirect: exclusive with 'route'"),
        ("redirect with rewrite", one("redirect: {uri: /x}, rewrite: {uri: /y}"), "VirtualService shop/web: spec.http[0].rewrite: exclusive with 'redirect'"),
        ("neither route nor redirect", one("timeout: 1s"), "VirtualService shop/web: spec.http[0].route: required"),
        ("invalid timeout", forward("timeout: soon"), "VirtualService shop/web: spec.http[0].timeout: invalid duration 'soon': expected a Go duration such as '2s', '0.5s' or '100ms'"),
        ("sourceLabels", one("match: [{sourceLabels: {app: a}}], route: [{destination: {host: web}}]"), "VirtualService shop/web: spec.http[0].match[0].sourceLabels: not supported by meshproxy"),
        ("queryParams", one("match: [{queryParams: {a: {exact: b}}}], route: [{destination: {host: web}}]"), "VirtualService shop/web: spec.http[0].match[0].queryParams: not supported by meshproxy"),
        ("a match port other than the service port", one("match: [{port: 80}], route: [{destination: {host: web}}]"), "VirtualService shop/web: spec.http[0].match[0].port: port 80 is not the port of web.shop.svc.cluster.local (8080)"),
        ("tls", vs("[{route: [{destination: {host: web}}]}]\n  tls: []"), "VirtualService shop/web: spec.tls: not supported by meshproxy"),
        ("removing response headers", forward("headers: {response: {remove: [server]}}"), "VirtualService shop/web: spec.http[0].headers.response.remove: not supported by meshproxy"),
        ("mirrorPercent with mirrorPercentage", forward("mirror: {host: web}, mirrorPercent: 5, mirrorPercentage: {value: 5}"), "VirtualService shop/web: spec.http[0].mirrorPercent: exclusive with 'mirrorPercentage'"),
        ("mirrorPercentage without mirror", forward("mirrorPercentage: {value: 5}"), "VirtualService shop/web: spec.http[0].mirrorPercentage: set without 'mirror'"),
        ("fault percentage above 100", forward("fault: {abort: {httpStatus: 500, percentage: {value: 101}}}"), "VirtualService shop/web: spec.http[0].fault.abort.percentage.value: percentage 101 is outside [0, 100]"),
        ("delay without fixedDelay", forward("fault: {delay: {percent: 5}}"), "VirtualService shop/web: spec.http[0].fault.delay.fixedDelay: required"),
        ("weights sum to 0", one("route: [{destination: {host: web, subset: v1}, weight: 0}, {destination: {host: web, subset: v2}, weight: 0}]"), "VirtualService shop/web: spec.http[0].route: weights sum to 0"),
        ("a destination of another protocol", one("route: [{destination: {host: db}}]"), "VirtualService shop/web: spec.http[0].route[0].destination.host: destination db.shop.svc.cluster.local speaks tcp, not http"),
        ("gateways without mesh", vs("[{route: [{destination: {host: web}}]}]").replace("  hosts: [web]", "  hosts: [web]\n  gateways: [ingress, gw]"), "VirtualService shop/web: spec.gateways: applies only to gateways 'ingress', 'gw', and meshproxy routes as the 'mesh' gateway"),
    ]);
}

/// A VirtualService `dubbo-go/greeter` for the Triple (gRPC) service with
/// these `http` routes.
fn grpc_vs(http: &str) -> String {
    [
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n",
        "metadata: {name: greeter, namespace: dubbo-go}\n",
        "spec:\n  hosts: [greeter]\n  http: ",
        http,
        "\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n",
        "metadata: {name: greeter, namespace: dubbo-go}\n",
        "spec:\n  host: greeter\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n",
    ]
    .concat()
}

#[test]
fn grpc_services_take_virtualservice_http_routes() {
    const GF0: &str = "/listeners/4/routes/0/action/forward";
    const G_V1: &str = "outbound|20000|v1|greeter.dubbo-go.svc.cluster.local";
    let with = |fields: &str| {
        grpc_vs(
            &[
                "[{route: [{destination: {host: greeter, subset: v1}}], ",
                fields,
                "}]",
            ]
            .concat(),
        )
    };
    check(vec![
        (
            "a header match and a weighted route, as for HTTP",
            grpc_vs(
                "[{match: [{headers: {user: {exact: admin}}}], route: [{destination: {host: greeter, subset: v2}}]}, {route: [{destination: {host: greeter, subset: v1}}]}]",
            ),
            vec![
                ("/listeners/4/protocol".to_owned(), json!("grpc")),
                (
                    "/listeners/4/routes/0/matches/0/conditions/0".to_owned(),
                    cond("user", "exact", "admin"),
                ),
                (
                    format!("{GF0}/weighted_clusters/clusters/0/name"),
                    json!("outbound|20000|v2|greeter.dubbo-go.svc.cluster.local"),
                ),
                (
                    "/listeners/4/routes/1/action/forward/weighted_clusters/clusters/0/name"
                        .to_owned(),
                    json!(G_V1),
                ),
            ],
        ),
        (
            "grpcStatus aborts with the code its name says",
            with("fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}}"),
            vec![(format!("{GF0}/fault/abort"), json!([{"grpc": 14}, 500_000]))],
        ),
        (
            "httpStatus aborts a gRPC service too (mapped when answered)",
            with("fault: {abort: {httpStatus: 503}}"),
            vec![(
                format!("{GF0}/fault/abort"),
                json!([{"http": 503}, 1_000_000]),
            )],
        ),
        (
            "gRPC retry conditions are kept",
            with("retries: {attempts: 2, retryOn: 'unavailable,cancelled,deadline-exceeded'}"),
            vec![(
                format!("{GF0}/retries/retry_on"),
                json!(["unavailable", "cancelled", "deadline-exceeded"]),
            )],
        ),
        (
            "an unrouted gRPC service gets Istio's default retries",
            String::new(),
            vec![(
                "/listeners/4/routes/0/action/forward/retries/retry_on".to_owned(),
                json!([
                    "connect-failure",
                    "refused-stream",
                    "unavailable",
                    "cancelled",
                    "retriable-status-codes"
                ]),
            )],
        ),
    ]);
    let forward = |fields: &str| {
        grpc_vs(
            &[
                "[{name: r, route: [{destination: {host: greeter}}], ",
                fields,
                "}]",
            ]
            .concat(),
        )
    };
    check_errors(vec![
        (
            "an unknown grpcStatus",
            forward("fault: {abort: {grpcStatus: NOT_A_CODE}}"),
            "VirtualService dubbo-go/greeter: spec.http[0].fault.abort.grpcStatus: 'NOT_A_CODE' is not a gRPC status name (such as UNAVAILABLE or DEADLINE_EXCEEDED)",
        ),
        (
            "a number for grpcStatus (Istio takes names)",
            forward("fault: {abort: {grpcStatus: '14'}}"),
            "VirtualService dubbo-go/greeter: spec.http[0].fault.abort.grpcStatus: '14' is not a gRPC status name (such as UNAVAILABLE or DEADLINE_EXCEEDED)",
        ),
        (
            "both statuses",
            forward("fault: {abort: {grpcStatus: UNAVAILABLE, httpStatus: 503}}"),
            "VirtualService dubbo-go/greeter: spec.http[0].fault.abort.grpcStatus: exclusive with 'httpStatus'",
        ),
        (
            "grpcStatus on an HTTP service",
            vs(
                "[{route: [{destination: {host: web}}], fault: {abort: {grpcStatus: UNAVAILABLE}}}]",
            ),
            "VirtualService shop/web: spec.http[0].fault.abort.grpcStatus: not supported by meshproxy",
        ),
        (
            "a redirect for gRPC calls",
            grpc_vs("[{redirect: {uri: /x}}]"),
            "VirtualService dubbo-go/greeter: spec.http[0].redirect: not supported by meshproxy",
        ),
        (
            "an HTTP destination from a gRPC route",
            grpc_vs("[{route: [{destination: {host: web.shop}}]}]"),
            "VirtualService dubbo-go/greeter: spec.http[0].route[0].destination.host: destination web.shop.svc.cluster.local speaks http, not grpc",
        ),
    ]);
}

#[test]
fn tcp_and_destination_rule_errors() {
    let tcp = |routes: &str| {
        ["apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db, namespace: shop}\nspec:\n  hosts: [db]\n  tcp: ", routes, "\n"].concat()
    };
    let dr = |policy: &str| {
        DR_THRIFT.replace(
            "  subsets:",
            &["  trafficPolicy: ", policy, "\n  subsets:"].concat(),
        )
    };
    check_errors(vec![
        (
            "two tcp routes",
            tcp("[{route: [{destination: {host: db}}]}, {route: [{destination: {host: db}}]}]"),
            "VirtualService shop/db: spec.tcp[1]: only one tcp route is supported: with one port per service the others never match",
        ),
        (
            "a tcp match on another port",
            tcp("[{match: [{port: 3306}], route: [{destination: {host: db}}]}]"),
            "VirtualService shop/db: spec.tcp[0].match[0].port: port 3306 is not the port of db.shop.svc.cluster.local (5432)",
        ),
        (
            "a DestinationRule for an unknown host",
            DR_THRIFT.replace("host: thrift-sample-server", "host: ratings"),
            "DestinationRule meta-thrift/thrift: spec.host: host 'ratings' is not a service of the endpoint list",
        ),
        (
            "a second DestinationRule for a host",
            [
                DR_THRIFT,
                "---\n",
                &DR_THRIFT.replace("name: thrift,", "name: again,"),
            ]
            .concat(),
            "DestinationRule meta-thrift/again: spec.host: host thrift-sample-server.meta-thrift.svc.cluster.local is already configured by DestinationRule meta-thrift/thrift",
        ),
        (
            "a subset defined twice",
            DR_THRIFT.replace("{name: canary,", "{name: v1,"),
            "DestinationRule meta-thrift/thrift: spec.subsets[2].name: 'v1' is defined twice",
        ),
        (
            "the route-policies annotation on a DestinationRule",
            DR_THRIFT.replace(
                "namespace: meta-thrift}",
                "namespace: meta-thrift, annotations: {meshbench.io/route-policies: '{}'}}",
            ),
            "DestinationRule meta-thrift/thrift: metadata.annotations[\"meshbench.io/route-policies\"]: the route-policies \
             extension applies to MetaRouter only",
        ),
        (
            "PASSTHROUGH",
            dr("{loadBalancer: {simple: PASSTHROUGH}}"),
            "DestinationRule meta-thrift/thrift: spec.trafficPolicy.loadBalancer.simple: 'PASSTHROUGH' is not supported by meshproxy",
        ),
        (
            "consistentHash by cookie",
            dr("{loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: 0s}}}}"),
            "DestinationRule meta-thrift/thrift: spec.trafficPolicy.loadBalancer.consistentHash.httpCookie: not supported by meshproxy",
        ),
        (
            "simple and consistentHash",
            dr("{loadBalancer: {simple: RANDOM, consistentHash: {httpHeaderName: a}}}"),
            "DestinationRule meta-thrift/thrift: spec.trafficPolicy.loadBalancer.consistentHash: exclusive with 'simple'",
        ),
        (
            "an invalid connectTimeout",
            dr("{connectionPool: {tcp: {connectTimeout: '10'}}}"),
            "DestinationRule meta-thrift/thrift: spec.trafficPolicy.connectionPool.tcp.connectTimeout: invalid duration '10': expected a Go duration such as '2s', '0.5s' or '100ms'",
        ),
        (
            "an invalid subset policy is found even when unused",
            DR_THRIFT.replace(
                "{name: canary, labels: {version: canary}}",
                "{name: canary, trafficPolicy: {outlierDetection: {interval: x}}}",
            ),
            "DestinationRule meta-thrift/thrift: spec.subsets[2].trafficPolicy.outlierDetection.interval: invalid duration 'x': expected a Go duration such as '2s', '0.5s' or '100ms'",
        ),
        (
            "consecutiveErrors with consecutive5xxErrors",
            dr("{outlierDetection: {consecutiveErrors: 1, consecutive5xxErrors: 1}}"),
            "DestinationRule meta-thrift/thrift: spec.trafficPolicy.outlierDetection.consecutiveErrors: exclusive with 'consecutive5xxErrors'",
        ),
    ]);
}

#[test]
fn endpoint_list_errors() {
    let mut endpoints = fleet();
    endpoints.services.push(endpoints.services[0].clone());
    let error = compile(&[], &endpoints, 1)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        error,
        Err("endpoint list: services[5].name: 'thrift-sample-server.meta-thrift.svc.cluster.local' is defined twice".to_owned())
    );
}

// === Meaning, through route selection ===

fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    let mut attributes = Attributes::default();
    for (name, value) in pairs {
        attributes.insert(name, *value);
    }
    attributes
}

/// Request attributes, and the route they should select.
type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

fn selected(table: &RouteTable, listener: usize, pairs: &[(&str, &str)]) -> Option<String> {
    select(&table.listeners[listener], &attributes(pairs)).map(|r| r.name.clone())
}

#[test]
fn matches_mean_what_they_say() {
    let table = compiled(&mr("[{name: both, match: {attributes: {method: {exact: sayHello}, service: {exact: Hello}}},
                                route: [{destination: {host: thrift-sample-server, subset: v1}}]},
                              {name: anchored, match: {attributes: {method: {regex: 'say'}}}, route: [{destination: {host: thrift-sample-server}}]},
                              {name: present, match: {attributes: {method: {exact: ''}}}, route: [{destination: {host: thrift-sample-server}}]}]"))
    .unwrap_or_else(|e| panic!("{e}"));
    let cases: [Case; 5] = [
        (
            &[("method", "sayHello"), ("service", "Hello")],
            Some("both"),
        ),
        (&[("method", "sayHello")], Some("present")),
        (&[("method", "say")], Some("anchored")),
        (
            &[("method", "sayHello"), ("service", "Other")],
            Some("present"),
        ),
        (&[("service", "Hello")], None),
    ];
    for (pairs, expected) in cases {
        assert_eq!(selected(&table, 0, pairs).as_deref(), expected, "{pairs:?}");
    }

    let table = compiled(&vs("[{name: api, match: [{uri: {prefix: /api}}, {headers: {x-beta: {}}, withoutHeaders: {x-old: {}}}],
                               route: [{destination: {host: web}}]}]"))
    .unwrap_or_else(|e| panic!("{e}"));
    let cases: [Case; 4] = [
        (
            &[("@path", "/api/v1"), (":path", "/api/v1?x=1")],
            Some("api"),
        ),
        (&[("@path", "/web"), ("x-beta", "1")], Some("api")),
        (&[("@path", "/web"), ("x-beta", "1"), ("x-old", "1")], None),
        (&[("@path", "/web")], None),
    ];
    for (pairs, expected) in cases {
        assert_eq!(selected(&table, 2, pairs).as_deref(), expected, "{pairs:?}");
    }
}

// === JSON ===

#[test]
fn aeraki_traffic_split_as_json() {
    let yaml = [
        "apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: { name: test-metaprotocol-thrift-route, namespace: meta-thrift }
spec:
  hosts: [thrift-sample-server.meta-thrift.svc.cluster.local]
  routes:
    - name: traffic-split
      match: { attributes: { method: { exact: sayHello } } }
      route:
        - { destination: { host: thrift-sample-server.meta-thrift.svc.cluster.local, subset: v1 }, weight: 20 }
        - { destination: { host: thrift-sample-server.meta-thrift.svc.cluster.local, subset: v2 }, weight: 80 }
---
",
        DR_THRIFT,
    ]
    .concat();
    let table = compiled(&yaml).unwrap_or_else(|e| panic!("{e}"));
    let Action::Forward(forward) = &table.listeners[0].routes[0].action else {
        panic!("not a forward");
    };
    assert_eq!(forward.clusters.total_weight, 100);
    let text = serde_json::to_string(&table).unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(
        json.pointer(&format!("{R0}/name")),
        Some(&json!("traffic-split"))
    );
    assert_eq!(
        json.pointer(&format!("{F0}/weighted_clusters")),
        Some(
            &json!({"clusters": [{"name": T_V1, "weight": 20}, {"name": T_V2, "weight": 80}], "total_weight": 100})
        )
    );
    assert_eq!(
        json.pointer(&format!("{R0}/matches/0/conditions/0")),
        Some(&cond("method", "exact", "sayHello"))
    );
    for cluster in [T_V1, T_V2] {
        assert!(
            text.contains(&format!("\"{cluster}\"")),
            "{cluster} in {text}"
        );
    }
    assert_eq!(
        json.pointer(&format!("/clusters/{}/endpoints", T_V1)),
        Some(&json!(["127.0.1.1:9090"]))
    );
}
