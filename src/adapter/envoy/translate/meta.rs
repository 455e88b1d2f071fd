//! MetaRouter -> `thrift_proxy` (routes over TRDS) and `dubbo_proxy`
//! (one route configuration per MetaRouter route, tried in order), the
//! closest filters upstream Envoy has to Aeraki's MetaProtocol proxy.
//! Routes keep the MetaRouter's order, and the first match wins in both.

use std::net::SocketAddr;

use meshbench_mesh_api::aeraki::{MetaRoute, ROUTE_POLICIES_ANNOTATION};
use meshbench_mesh_api::{MetaRouterSpec, Resource, StringMatch};
use serde_json::{Map, Value, json};

use super::{Builder, Gap, RouteTable, Service, file_source, fractional, socket_address};

const THRIFT_ROUTES: &str =
    "type.googleapis.com/envoy.extensions.filters.network.thrift_proxy.v3.RouteConfiguration";

/// The thrift_proxy listener of a Thrift service; its routes from TRDS.
/// Transport and protocol are detected per downstream connection.
pub(super) fn thrift_listener(service: &Service, bind: SocketAddr, xds_dir: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": super::http::listener_name(service),
        "address": socket_address(bind),
        "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.thrift_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.thrift_proxy.v3.ThriftProxy",
                "stat_prefix": format!("outbound_{}", service.port),
                "transport": "AUTO_TRANSPORT",
                "protocol": "AUTO_PROTOCOL",
                "trds": {
                    "config_source": file_source(xds_dir, &format!("trds-{}.json", thrift_table(service))),
                    "route_config_name": thrift_table(service),
                },
                "thrift_filters": [{
                    "name": "envoy.filters.thrift.router",
                    "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.network.thrift_proxy.router.v3.Router" }
                }]
            }
        }] }]
    })
}

/// The TRDS table name of a Thrift service.
fn thrift_table(service: &Service) -> String {
    format!("thrift-{}", service.port)
}

/// The dubbo_proxy listener of a Dubbo service, its route configurations inline.
pub(super) fn dubbo_listener(service: &Service, bind: SocketAddr, routes: Vec<Value>) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": super::http::listener_name(service),
        "address": socket_address(bind),
        "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.dubbo_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy",
                "stat_prefix": format!("outbound_{}", service.port),
                "protocol_type": "Dubbo",
                "serialization_type": "Hessian2",
                "multiple_route_config": {
                    "name": format!("{}:{}", service.name, service.port),
                    "route_config": routes,
                },
                // dubbo_proxy's filters take `config`, not `typed_config`.
                "dubbo_filters": [{
                    "name": "envoy.filters.dubbo.router",
                    "config": { "@type": "type.googleapis.com/envoy.extensions.filters.network.dubbo_proxy.router.v3.Router" }
                }]
            }
        }] }]
    })
}

/// The TRDS table of a Thrift service.
pub(super) fn thrift_routes(
    builder: &mut Builder,
    service: &Service,
    router: Option<&Resource<MetaRouterSpec>>,
) -> Result<RouteTable, Gap> {
    let routes = match router {
        None => {
            let target = builder.default_target(service)?;
            vec![json!({ "match": { "method_name": "" }, "route": { "cluster": target.cluster } })]
        }
        Some(router) => each_route(builder, router, thrift_route)?,
    };
    let name = thrift_table(service);
    Ok(RouteTable {
        name: name.clone(),
        type_url: THRIFT_ROUTES,
        resource: json!({ "@type": THRIFT_ROUTES, "name": name, "routes": routes }),
    })
}

/// Refuses what neither filter has: rate limits and meshbench's route-policy
/// extension (thrift_proxy's and dubbo_proxy's route actions have no
/// timeout, retry or fault).
fn check_router(router: &Resource<MetaRouterSpec>) -> Result<String, Gap> {
    let object = format!(
        "MetaRouter {}/{}",
        router.metadata.namespace, router.metadata.name
    );
    if router
        .metadata
        .annotations
        .contains_key(ROUTE_POLICIES_ANNOTATION)
    {
        return Err(Gap::Unsupported(format!(
            "{object}: {ROUTE_POLICIES_ANNOTATION} (timeout, retries, fault): the route actions of thrift_proxy and dubbo_proxy have none"
        )));
    }
    if router.spec.local_rate_limit.is_some() || router.spec.global_rate_limit.is_some() {
        return Err(Gap::Unsupported(format!(
            "{object}: rate limits are not translated"
        )));
    }
    Ok(object)
}

/// One filter route per MetaRouter route, in order, after the router-wide
/// checks; `translate` gets the route, its namespace, index and field path.
fn each_route(
    builder: &mut Builder,
    router: &Resource<MetaRouterSpec>,
    translate: fn(&mut Builder, &MetaRoute, &str, usize, &str) -> Result<Value, Gap>,
) -> Result<Vec<Value>, Gap> {
    let object = check_router(router)?;
    let namespace = router.metadata.namespace.as_str();
    router
        .spec
        .routes
        .iter()
        .enumerate()
        .map(|(index, route)| {
            let at = format!("{object} spec.routes[{index}]");
            translate(builder, route, namespace, index, &at)
        })
        .collect()
}

/// What both filters refuse in a route: mutations.
fn check_route(route: &MetaRoute, at: &str) -> Result<(), Gap> {
    if !route.request_mutation.is_empty() || !route.response_mutation.is_empty() {
        return Err(Gap::Unsupported(format!(
            "{at}: requestMutation/responseMutation have no thrift_proxy or dubbo_proxy equivalent"
        )));
    }
    Ok(())
}

fn attributes(route: &MetaRoute) -> impl Iterator<Item = (&String, Option<&StringMatch>)> {
    route
        .match_
        .iter()
        .flat_map(|m| m.attributes.iter().map(|(k, v)| (k, v.as_ref())))
}

fn thrift_route(
    builder: &mut Builder,
    route: &MetaRoute,
    namespace: &str,
    index: usize,
    at: &str,
) -> Result<Value, Gap> {
    check_route(route, at)?;
    let (mut method, mut service) = (None, None);
    for (name, m) in attributes(route) {
        let exact = m
            .filter(|m| m.prefix.is_none() && m.regex.is_none())
            .and_then(|m| m.exact.clone());
        match (name.as_str(), exact) {
            ("method", Some(value)) => method = Some(value),
            ("service", Some(value)) => service = Some(value),
            ("method" | "service", None) => {
                return Err(Gap::Unsupported(format!(
                    "{at}.match.attributes.{name}: thrift_proxy matches method and service names exactly only"
                )));
            }
            (other, _) => {
                return Err(Gap::Unsupported(format!(
                    "{at}.match.attributes.{other}: thrift_proxy matches headers only on the THeader transport"
                )));
            }
        }
    }
    let route_match = match (service, method) {
        (Some(service), Some(method)) => json!({ "method_name": format!("{service}:{method}") }),
        (Some(service), None) => json!({ "service_name": service }),
        (None, Some(method)) => json!({ "method_name": method }),
        (None, None) => json!({ "method_name": "" }),
    };
    let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
    let (mut action, _) = builder.weighted(destinations, namespace, at)?;
    if let Some(mirror) = &route.mirror {
        // Aeraki mirrors everything when the share is absent or 0.
        let percent = route
            .mirror_percentage
            .as_ref()
            .map(|p| p.value)
            .filter(|v| *v != 0.0)
            .unwrap_or(100.0);
        let target = builder.target(mirror, namespace, &format!("{at}.mirror"))?;
        // Without a runtime key thrift_proxy mirrors every request whatever
        // the default value says.
        action.insert(
            "request_mirror_policies".into(),
            json!([{
                "cluster": target.cluster,
                "runtime_fraction": {
                    "default_value": fractional(percent),
                    "runtime_key": format!("meshbench.thrift_mirror.route_{index}"),
                }
            }]),
        );
    }
    Ok(json!({ "match": route_match, "route": Value::Object(action) }))
}

/// The route configurations of a Dubbo service, one per MetaRouter route.
pub(super) fn dubbo_routes(
    builder: &mut Builder,
    service: &Service,
    router: Option<&Resource<MetaRouterSpec>>,
) -> Result<Vec<Value>, Gap> {
    let Some(router) = router else {
        let target = builder.default_target(service)?;
        let mut action = Map::new();
        action.insert("cluster".into(), json!(target.cluster));
        return Ok(vec![dubbo_config(
            "default",
            "*",
            any_method(),
            Vec::new(),
            action,
        )]);
    };
    each_route(builder, router, dubbo_route)
}

fn dubbo_route(
    builder: &mut Builder,
    route: &MetaRoute,
    namespace: &str,
    index: usize,
    at: &str,
) -> Result<Value, Gap> {
    check_route(route, at)?;
    if route.mirror.is_some() {
        return Err(Gap::Unsupported(format!(
            "{at}.mirror: dubbo_proxy has no request mirroring"
        )));
    }
    let (mut interface, mut method, mut headers) = ("*".to_owned(), any_method(), Vec::new());
    for (name, m) in attributes(route) {
        let m = m.cloned().unwrap_or_default();
        match name.as_str() {
            "interface" => interface = interface_pattern(&m, at)?,
            "method" => method = string_matcher(&m).unwrap_or_else(any_method),
            attachment => headers.push(match string_matcher(&m) {
                Some(string_match) => json!({ "name": attachment, "string_match": string_match }),
                None => json!({ "name": attachment, "present_match": true }),
            }),
        }
    }
    let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
    let (action, _) = builder.weighted(destinations, namespace, at)?;
    let name = match route.name.as_str() {
        "" => format!("route-{index}"),
        name => name.to_owned(),
    };
    Ok(dubbo_config(&name, &interface, method, headers, action))
}

fn dubbo_config(
    name: &str,
    interface: &str,
    method: Value,
    headers: Vec<Value>,
    action: Map<String, Value>,
) -> Value {
    let mut route_match = json!({ "method": { "name": method } });
    if !headers.is_empty() {
        route_match["headers"] = json!(headers);
    }
    json!({
        "name": name,
        "interface": interface,
        "routes": [{ "match": route_match, "route": Value::Object(action) }],
    })
}

/// dubbo_proxy's interface pattern: exact, `prefix*`, or `*` for any.
fn interface_pattern(m: &StringMatch, at: &str) -> Result<String, Gap> {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(exact), _, _) => Ok(exact.clone()),
        (None, Some(prefix), _) => Ok(format!("{prefix}*")),
        (None, None, Some(_)) => Err(Gap::Unsupported(format!(
            "{at}.match.attributes.interface: dubbo_proxy matches interfaces exactly, by prefix or suffix, not by regex"
        ))),
        (None, None, None) => Ok("*".to_owned()),
    }
}

fn string_matcher(m: &StringMatch) -> Option<Value> {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(exact), _, _) => Some(json!({ "exact": exact })),
        (None, Some(prefix), _) => Some(json!({ "prefix": prefix })),
        (None, None, Some(regex)) => Some(json!({ "safe_regex": { "regex": regex } })),
        (None, None, None) => None,
    }
}

/// Any method: the method matcher is required, so Aeraki writes `.*`.
fn any_method() -> Value {
    json!({ "safe_regex": { "regex": ".*" } })
}
