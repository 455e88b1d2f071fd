use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;

use meshbench_sim::fleet::{EndpointInfo, Identity};
use serde_json::json;

use super::super::super::fixtures::routing;
use super::*;

fn endpoint(service: &str, version: &str, ip: [u8; 4], protocol: Protocol) -> EndpointInfo {
    let addr = SocketAddr::from((ip, 9000));
    EndpointInfo {
        identity: Identity::new(service, "app", (version, 0), addr, "t"),
        protocol,
        labels: BTreeMap::from([("version".to_owned(), version.to_owned())]),
    }
}

fn service(name: &str, protocol: Protocol, port: u16) -> Service {
    Service {
        name: name.to_owned(),
        protocol,
        port,
        thrift: ServerCodec::APACHE,
        endpoints: vec![
            endpoint(name, "v1", [127, 0, 1, 1], protocol),
            endpoint(name, "v2", [127, 0, 1, 2], protocol),
        ],
    }
}

const THRIFT: &str = "thrift.ns.svc.cluster.local";

fn subsets(host: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr, namespace: ns }}\nspec:\n  host: {host}\n  subsets:\n    - {{ name: v1, labels: {{ version: v1 }} }}\n    - {{ name: v2, labels: {{ version: v2 }} }}"
    )
}

fn metarouter(routes: &str) -> String {
    format!(
        "apiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {{ name: mr, namespace: ns }}\nspec:\n  hosts: [{THRIFT}]\n  routes:\n{routes}"
    )
}

fn translated(services: &[Service], yaml: &str) -> Result<Config, Gap> {
    translated_for(Istio::LATEST, services, yaml)
}

fn translated_for(istio: Istio, services: &[Service], yaml: &str) -> Result<Config, Gap> {
    translate(
        services,
        &routing(yaml),
        (Layer::Seven, istio, &Binds::new()),
        "/xds",
    )
}

#[test]
fn a_metarouter_split_becomes_weighted_thrift_clusters_per_subset() {
    let services = [service(THRIFT, Protocol::Thrift, 9090)];
    let yaml = format!(
        "{}\n---\n{}",
        subsets(THRIFT),
        metarouter(
            "    - name: split\n      match: { attributes: { method: { exact: sayHello } } }\n      route:\n        - { destination: { host: thrift, subset: v1 }, weight: 20 }\n        - { destination: { host: thrift, subset: v2 }, weight: 80 }\n      mirror: { host: thrift, subset: v2 }\n      mirrorPercentage: { value: 50 }"
        )
    );
    let config = translated(&services, &yaml).expect("translates");
    let table = &config.routes[0];
    assert_eq!(table.name, "thrift-9090");
    let route = &table.resource["routes"][0];
    assert_eq!(route["match"], json!({ "method_name": "sayHello" }));
    let v1 = format!("outbound|9090|v1|{THRIFT}");
    let v2 = format!("outbound|9090|v2|{THRIFT}");
    assert_eq!(
        route["route"]["weighted_clusters"]["clusters"],
        json!([{ "name": v1, "weight": 20 }, { "name": v2, "weight": 80 }])
    );
    let mirror = &route["route"]["request_mirror_policies"][0];
    assert_eq!(
        mirror["runtime_fraction"]["default_value"]["numerator"],
        500_000
    );
    assert!(
        mirror["runtime_fraction"]["runtime_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    let cluster = &config.clusters[&v1];
    assert_eq!(cluster["lb_policy"], "LEAST_REQUEST");
    let endpoints = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"];
    assert_eq!(endpoints.as_array().map(Vec::len), Some(1));
    assert_eq!(
        endpoints[0]["endpoint"]["address"]["socket_address"]["address"],
        "127.0.1.1"
    );
    assert_eq!(
        cluster["circuit_breakers"]["thresholds"][0]["max_connections"],
        u32::MAX
    );
}

#[test]
fn what_thrift_proxy_cannot_match_is_unsupported() {
    let services = [service(THRIFT, Protocol::Thrift, 9090)];
    let yaml = format!(
        "{}\n---\n{}",
        subsets(THRIFT),
        metarouter(
            "    - match: { attributes: { method: { prefix: say } } }\n      route: [{ destination: { host: thrift, subset: v1 } }]"
        )
    );
    assert!(
        matches!(translated(&services, &yaml), Err(Gap::Unsupported(r)) if r.contains("exactly"))
    );
}

#[test]
fn a_virtualservice_gets_istios_defaults() {
    let host = "web.ns.svc.cluster.local";
    let services = [service(host, Protocol::Http, 3000)];
    let yaml = format!(
        "{}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs, namespace: ns }}\nspec:\n  hosts: [web]\n  http:\n    - match: [{{ headers: {{ end-user: {{ exact: jason }} }} }}, {{ uri: {{ prefix: /api }} }}]\n      route: [{{ destination: {{ host: web, subset: v2 }} }}]\n    - route: [{{ destination: {{ host: web, subset: v1 }} }}]\n      timeout: 1.5s\n      retries: {{ attempts: 3, retryOn: \"5xx,503\" }}",
        subsets(host)
    );
    let config = translated(&services, &yaml).expect("translates");
    let table = &config.routes[0].resource;
    assert_eq!(table["name"], "3000");
    let vhost = &table["virtual_hosts"][0];
    assert_eq!(vhost["name"], format!("{host}:3000"));
    assert!(
        vhost["domains"]
            .as_array()
            .is_some_and(|d| d.contains(&json!("web")))
    );
    let routes = vhost["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), 3, "one Envoy route per match block");
    assert_eq!(
        routes[0]["match"]["headers"][0]["string_match"]["exact"],
        "jason"
    );
    assert_eq!(routes[1]["match"]["prefix"], "/api");
    assert_eq!(
        routes[0]["route"]["timeout"], "0s",
        "no timeout unless written"
    );
    assert_eq!(
        routes[0]["route"]["retry_policy"]["num_retries"], 2,
        "Istio's default retries"
    );
    assert_eq!(routes[2]["route"]["timeout"], "1.500000000s");
    let retry = &routes[2]["route"]["retry_policy"];
    assert_eq!(retry["num_retries"], 3);
    assert_eq!(retry["retry_on"], "5xx,retriable-status-codes");
    assert_eq!(retry["retriable_status_codes"], json!([503]));
}

#[test]
fn the_istio_release_chooses_the_defaults() {
    let host = "web.ns.svc.cluster.local";
    let services = [service(host, Protocol::Http, 3000)];
    let yaml = format!(
        "{}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs, namespace: ns }}\nspec:\n  hosts: [web]\n  http:\n    - match: [{{ uri: {{ prefix: /a }} }}]\n      route: [{{ destination: {{ host: web, subset: v1 }} }}]\n      mirror: {{ host: web, subset: v2 }}\n    - route: [{{ destination: {{ host: web, subset: v1 }} }}]\n      retries: {{ attempts: 1, retryOn: connect-failure }}",
        subsets(host)
    );
    let routes = |istio: &str| {
        let istio = istio.parse::<Istio>().expect("modelled");
        let config = translated_for(istio, &services, &yaml).expect("translates");
        config.routes[0].resource["virtual_hosts"][0]["routes"].clone()
    };
    let old = routes("1.23");
    let default = &old[0]["route"]["retry_policy"];
    assert_eq!(
        default["retriable_status_codes"],
        json!([503]),
        "1.23 retries a 503"
    );
    assert_eq!(
        old[1]["route"]["retry_policy"].get("retriable_status_codes"),
        None,
        "a written retryOn replaces the default codes"
    );
    assert_eq!(
        old[0]["route"]["request_mirror_policies"][0]["disable_shadow_host_suffix_append"],
        false
    );
    let new = routes("1.28");
    assert_eq!(
        new[0]["route"]["retry_policy"].get("retriable_status_codes"),
        None,
        "1.24 on: no status code by default"
    );
    assert_eq!(
        new[0]["route"]["request_mirror_policies"][0]["disable_shadow_host_suffix_append"],
        true
    );
}

#[test]
fn dubbo_routes_are_one_configuration_each_in_order() {
    let host = "demo.ns.svc.cluster.local";
    let services = [service(host, Protocol::Dubbo, 20880)];
    let yaml = format!(
        "{}\n---\napiVersion: metaprotocol.aeraki.io/v1alpha1\nkind: MetaRouter\nmetadata: {{ name: mr, namespace: ns }}\nspec:\n  hosts: [{host}]\n  routes:\n    - match: {{ attributes: {{ interface: {{ exact: org.Demo }}, batchJob: {{ exact: \"true\" }} }} }}\n      route: [{{ destination: {{ host: demo, subset: v2 }} }}]\n    - route: [{{ destination: {{ host: demo, subset: v1 }} }}]",
        subsets(host)
    );
    let config = translated(&services, &yaml).expect("translates");
    let listener = &config.listeners[host];
    let configs = &listener["filter_chains"][0]["filters"][0]["typed_config"]["multiple_route_config"]
        ["route_config"];
    assert_eq!(configs[0]["interface"], "org.Demo");
    assert_eq!(
        configs[0]["routes"][0]["match"]["headers"][0],
        json!({ "name": "batchJob", "string_match": { "exact": "true" } })
    );
    assert_eq!(configs[1]["interface"], "*");
    let mirrored = yaml.replace(
        "    - route: [{ destination: { host: demo, subset: v1 } }]",
        "    - route: [{ destination: { host: demo, subset: v1 } }]\n      mirror: { host: demo, subset: v2 }",
    );
    assert!(
        matches!(translated(&services, &mirrored), Err(Gap::Unsupported(r)) if r.contains("mirror"))
    );
}

#[test]
fn layer_four_is_a_tcp_proxy_to_the_whole_service() {
    let services = [service(THRIFT, Protocol::Thrift, 9090)];
    let config = translate(
        &services,
        &[],
        (Layer::Four, Istio::LATEST, &Binds::new()),
        "/xds",
    )
    .expect("translates");
    let filter = &config.listeners[THRIFT]["filter_chains"][0]["filters"][0];
    assert_eq!(filter["name"], "envoy.filters.network.tcp_proxy");
    assert_eq!(
        filter["typed_config"]["cluster"],
        format!("outbound|9090||{THRIFT}")
    );
    assert!(config.routes.is_empty());
}

#[test]
fn an_unknown_subset_is_invalid() {
    let services = [service(THRIFT, Protocol::Thrift, 9090)];
    let yaml = format!(
        "{}\n---\n{}",
        subsets(THRIFT),
        metarouter("    - route: [{ destination: { host: thrift, subset: v9 } }]")
    );
    assert!(matches!(translated(&services, &yaml), Err(Gap::Invalid(r)) if r.contains("v9")));
}

#[test]
fn a_route_change_leaves_every_cluster_as_it_was() {
    // Clusters a route no longer names stay, as istiod keeps pushing them:
    // removing one would fail the requests in flight on it.
    let services = [service(THRIFT, Protocol::Thrift, 9090)];
    let to = |subset: &str| {
        format!(
            "{}\n---\n{}",
            subsets(THRIFT),
            metarouter(&format!(
                "    - route: [{{ destination: {{ host: thrift, subset: {subset} }} }}]"
            ))
        )
    };
    let before = translated(&services, &to("v1")).expect("translates");
    let after = translated(&services, &to("v2")).expect("translates");
    assert_eq!(before.clusters, after.clusters);
    assert_eq!(
        before.clusters.len(),
        3,
        "the service's own and one per subset"
    );
    assert_ne!(before.routes, after.routes);
}
