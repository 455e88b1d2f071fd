//! VirtualService `http` -> an HTTP connection manager listener and its
//! route table, as istiod's `route/route.go` translates routes: one Envoy
//! route per match block, in order, no catch-all route added (an unmatched
//! request gets 404 NR as in Istio).

use std::net::SocketAddr;

use meshbench_mesh_api::istio::{
    HeaderOperations, Headers, HttpFault, HttpMatchRequest, HttpRedirect, HttpRetry, HttpRoute,
    VirtualServiceSpec,
};
use meshbench_mesh_api::{Resource, StringMatch, hosts};
use serde_json::{Map, Value, json};

use super::{
    Builder, Gap, Istio, RouteTable, Service, duration, file_source, fractional, percent_or_all,
    proto_duration, socket_address,
};

const ROUTE_CONFIGURATION: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

/// Istio's retry conditions when a route writes none (`retry.DefaultPolicy`;
/// the status codes depend on the release, [`Istio::retries_503_by_default`]).
const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// The listener of an HTTP service, its routes from RDS table `PORT`.
pub(super) fn listener(service: &Service, bind: SocketAddr, xds_dir: &str) -> Value {
    let port = service.port;
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": listener_name(service),
        "address": socket_address(bind),
        "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": format!("outbound_{port}"),
                // The workload's own x-request-id must reach the fleet.
                "use_remote_address": false,
                "rds": {
                    "config_source": file_source(xds_dir, &format!("rds-{port}.json")),
                    "route_config_name": port.to_string(),
                },
                "http_filters": [
                    {
                        "name": "envoy.filters.http.fault",
                        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" }
                    },
                    {
                        "name": "envoy.filters.http.router",
                        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
                    }
                ]
            }
        }] }]
    })
}

/// Istio's sidecar listener name for a service.
pub(crate) fn listener_name(service: &Service) -> String {
    format!("{}_{}", service.name, service.port)
}

/// The route table of one HTTP port (`buildSidecarOutboundHTTPRouteConfig`).
pub(super) fn route_table(port: u16, virtual_hosts: Vec<Value>) -> RouteTable {
    RouteTable {
        name: port.to_string(),
        type_url: ROUTE_CONFIGURATION,
        resource: json!({
            "@type": ROUTE_CONFIGURATION,
            "name": port.to_string(),
            "virtual_hosts": virtual_hosts,
            "validate_clusters": false,
            "ignore_port_in_host_matching": true,
        }),
    }
}

/// The virtual host of `service`: the VirtualService's routes, or the
/// default route to the whole service.
pub(super) fn virtual_host(
    builder: &mut Builder,
    service: &Service,
    vs: Option<&Resource<VirtualServiceSpec>>,
) -> Result<Value, Gap> {
    let namespace = vs.map_or("default", |vs| vs.metadata.namespace.as_str());
    let routes = match vs {
        Some(vs) => {
            let object = format!(
                "VirtualService {}/{}",
                vs.metadata.namespace, vs.metadata.name
            );
            if vs.spec.http.is_empty() {
                return Err(Gap::Unsupported(format!(
                    "{object} routes an HTTP service without `http` routes"
                )));
            }
            let mut routes = Vec::new();
            for (index, route) in vs.spec.http.iter().enumerate() {
                let at = format!("{object} spec.http[{index}]");
                routes.extend(http_route(builder, route, namespace, &at)?);
            }
            routes
        }
        None => {
            let target = builder.default_target(service)?;
            vec![json!({
                "match": { "prefix": "/" },
                "route": { "cluster": target.cluster, "timeout": "0s", "retry_policy": default_retry_policy(true, builder.istio) },
            })]
        }
    };
    Ok(json!({
        "name": format!("{}:{}", service.name, service.port),
        "domains": hosts::virtual_host_domains(&service.name, namespace),
        "routes": routes,
    }))
}

/// One VirtualService route as Envoy routes, one per match block.
fn http_route(
    builder: &mut Builder,
    route: &HttpRoute,
    namespace: &str,
    at: &str,
) -> Result<Vec<Value>, Gap> {
    let mut base = Map::new();
    match &route.redirect {
        Some(redirect) => {
            base.insert("redirect".into(), redirect_action(redirect, at)?);
        }
        None => {
            base.insert(
                "route".into(),
                Value::Object(route_action(builder, route, namespace, at)?),
            );
        }
    }
    if let Some(fault) = &route.fault {
        base.insert(
            "typed_per_filter_config".into(),
            json!({ "envoy.filters.http.fault": fault_config(fault, at)? }),
        );
    }
    if let Some(headers) = &route.headers {
        header_operations(&mut base, headers);
    }
    let matches = match route.match_.as_slice() {
        [] => vec![json!({ "prefix": "/" })],
        blocks => blocks
            .iter()
            .enumerate()
            .map(|(i, block)| route_match(block, &format!("{at}.match[{i}]")))
            .collect::<Result<_, _>>()?,
    };
    Ok(matches
        .into_iter()
        .map(|m| {
            let mut route = base.clone();
            route.insert("match".into(), m);
            Value::Object(route)
        })
        .collect())
}

/// The forwarding half of a route: destinations, timeout, retries, mirror,
/// rewrite.
fn route_action(
    builder: &mut Builder,
    route: &HttpRoute,
    namespace: &str,
    at: &str,
) -> Result<Map<String, Value>, Gap> {
    let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
    let (mut action, hash_header) = builder.weighted(destinations, namespace, at)?;
    if route.route.iter().any(|d| d.headers.is_some()) {
        return Err(Gap::Unsupported(format!(
            "{at}.route[].headers (per-destination header operations) is not translated"
        )));
    }
    let timeout = match &route.timeout {
        Some(text) => proto_duration(duration(text, &format!("{at}.timeout"))?),
        None => "0s".to_owned(),
    };
    // istiod writes the gRPC timeout cap equal to the route timeout.
    action.insert("timeout".into(), json!(timeout));
    action.insert("max_grpc_timeout".into(), json!(timeout));
    let previous_hosts = hash_header.is_none() || !builder.istio.hashing_drops_previous_hosts();
    let retries = route.retries.as_ref();
    if let Some(policy) = retry_policy(retries, (previous_hosts, builder.istio), at)? {
        action.insert("retry_policy".into(), policy);
    }
    if let Some(header) = hash_header {
        action.insert(
            "hash_policy".into(),
            json!([{ "header": { "header_name": header } }]),
        );
    }
    if let Some(mirror) = &route.mirror {
        let percent = match (&route.mirror_percentage, route.mirror_percent) {
            (Some(p), _) => p.value,
            (None, Some(p)) => f64::from(p),
            (None, None) => 100.0,
        };
        // Istio mirrors nothing at an explicit 0 %.
        if percent > 0.0 {
            let target = builder.target(mirror, namespace, &format!("{at}.mirror"))?;
            action.insert(
                "request_mirror_policies".into(),
                json!([{
                    "cluster": target.cluster,
                    "runtime_fraction": { "default_value": fractional(percent) },
                    "trace_sampled": false,
                    "disable_shadow_host_suffix_append": builder.istio.mirrors_keep_the_host(),
                }]),
            );
        }
    }
    if let Some(rewrite) = &route.rewrite {
        if let Some(uri) = &rewrite.uri {
            action.insert("prefix_rewrite".into(), json!(uri));
        }
        if let Some(authority) = &rewrite.authority {
            action.insert("host_rewrite_literal".into(), json!(authority));
        }
    }
    Ok(action)
}

/// `retries` as istiod's `retry.ConvertPolicy`: absent, Istio's default
/// policy; `attempts: 0`, none.
fn retry_policy(
    retry: Option<&HttpRetry>,
    (previous_hosts, istio): (bool, Istio),
    at: &str,
) -> Result<Option<Value>, Gap> {
    let Some(retry) = retry else {
        return Ok(Some(default_retry_policy(previous_hosts, istio)));
    };
    if retry.attempts == 0 {
        return Ok(None);
    }
    let mut policy = default_retry_policy(previous_hosts, istio);
    policy["num_retries"] = json!(retry.attempts);
    if let Some(written) = retry.retry_on.as_deref().filter(|r| !r.trim().is_empty()) {
        // A written retryOn replaces the default codes too.
        let (conditions, codes) = meshbench_mesh_api::istio::parse_retry_on(written);
        policy["retry_on"] = json!(conditions.join(","));
        if codes.is_empty() {
            if let Some(fields) = policy.as_object_mut() {
                fields.remove("retriable_status_codes");
            }
        } else {
            policy["retriable_status_codes"] = json!(codes);
        }
    }
    if let Some(text) = &retry.per_try_timeout {
        let per_try = duration(text, &format!("{at}.retries.perTryTimeout"))?;
        if !per_try.is_zero() {
            policy["per_try_timeout"] = json!(proto_duration(per_try));
        }
    }
    Ok(Some(policy))
}

/// Istio's default retry policy at `istio`; `previous_hosts` is false for
/// consistent-hash destinations where the release drops the predicate.
fn default_retry_policy(previous_hosts: bool, istio: Istio) -> Value {
    let mut policy = json!({
        "num_retries": 2,
        "retry_on": DEFAULT_RETRY_ON,
        "host_selection_retry_max_attempts": 5,
    });
    if istio.retries_503_by_default() {
        policy["retriable_status_codes"] = json!([503]);
    }
    if previous_hosts {
        policy["retry_host_predicate"] = json!([{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" }
        }]);
    }
    policy
}

/// The fault filter's per-route configuration (`TranslateFault`): a share
/// only where the VirtualService writes one.
fn fault_config(fault: &HttpFault, at: &str) -> Result<Value, Gap> {
    let mut out =
        json!({ "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" });
    if let Some(delay) = &fault.delay {
        let fixed = delay.fixed_delay.as_deref().ok_or_else(|| {
            Gap::Unsupported(format!("{at}.fault.delay: only fixedDelay is translated"))
        })?;
        let fixed = duration(fixed, &format!("{at}.fault.delay.fixedDelay"))?;
        let mut config = json!({ "fixed_delay": proto_duration(fixed) });
        match (&delay.percentage, delay.percent) {
            (Some(p), _) => config["percentage"] = fractional(p.value),
            (None, Some(p)) => config["percentage"] = fractional(f64::from(p)),
            (None, None) => {}
        }
        out["delay"] = config;
    }
    if let Some(abort) = &fault.abort {
        let mut config = match (abort.http_status, abort.grpc_status.as_deref()) {
            (Some(status), None) => json!({ "http_status": status }),
            (None, Some(name)) => {
                let code = meshbench_wire::grpc::Code::parse(name).ok_or_else(|| {
                    Gap::Unsupported(format!(
                        "{at}.fault.abort.grpcStatus: '{name}' is not a gRPC status name"
                    ))
                })?;
                json!({ "grpc_status": code.0 })
            }
            _ => {
                return Err(Gap::Unsupported(format!(
                    "{at}.fault.abort: exactly one of httpStatus and grpcStatus is translated"
                )));
            }
        };
        if abort.percentage.is_some() {
            config["percentage"] = fractional(percent_or_all(abort.percentage.as_ref()));
        }
        out["abort"] = config;
    }
    Ok(out)
}

/// `redirect` (`ApplyRedirect`): 301 unless written; 302, 303, 307 and 308
/// as themselves.
fn redirect_action(redirect: &HttpRedirect, at: &str) -> Result<Value, Gap> {
    let code = match super::mesh::redirect_code(redirect, at)? {
        302 => "FOUND",
        303 => "SEE_OTHER",
        307 => "TEMPORARY_REDIRECT",
        308 => "PERMANENT_REDIRECT",
        _ => "MOVED_PERMANENTLY",
    };
    let mut out = json!({ "response_code": code });
    if let Some(uri) = &redirect.uri {
        out["path_redirect"] = json!(uri);
    }
    if let Some(authority) = &redirect.authority {
        out["host_redirect"] = json!(authority);
    }
    Ok(out)
}

/// `headers.request` / `headers.response` as route-level header operations.
fn header_operations(route: &mut Map<String, Value>, headers: &Headers) {
    let mut apply = |ops: &HeaderOperations, add: &str, remove: &str| {
        let set = ops
            .set
            .iter()
            .map(|(k, v)| (k, v, "OVERWRITE_IF_EXISTS_OR_ADD"));
        let appended = ops
            .add
            .iter()
            .map(|(k, v)| (k, v, "APPEND_IF_EXISTS_OR_ADD"));
        let options: Vec<Value> = set
            .chain(appended)
            .map(|(k, v, action)| json!({ "header": { "key": k, "value": v }, "append_action": action }))
            .collect();
        if !options.is_empty() {
            route.insert(add.into(), json!(options));
        }
        if !ops.remove.is_empty() {
            route.insert(remove.into(), json!(ops.remove));
        }
    };
    if let Some(ops) = &headers.request {
        apply(ops, "request_headers_to_add", "request_headers_to_remove");
    }
    if let Some(ops) = &headers.response {
        apply(ops, "response_headers_to_add", "response_headers_to_remove");
    }
}

/// One match block (`TranslateRouteMatch`).
fn route_match(block: &HttpMatchRequest, at: &str) -> Result<Value, Gap> {
    for (set, field) in [
        (block.port.is_some(), "port"),
        (block.source_labels.is_some(), "sourceLabels"),
        (block.query_params.is_some(), "queryParams"),
    ] {
        if set {
            return Err(Gap::Unsupported(format!("{at}.{field} is not translated")));
        }
    }
    let mut out = match &block.uri {
        None => json!({ "prefix": "/" }),
        Some(uri) => match (&uri.exact, &uri.prefix, &uri.regex) {
            (Some(exact), _, _) => json!({ "path": exact }),
            (None, Some(prefix), _) => json!({ "prefix": prefix }),
            (None, None, Some(regex)) => json!({ "safe_regex": { "regex": regex } }),
            (None, None, None) => json!({ "prefix": "/" }),
        },
    };
    if block.ignore_uri_case {
        out["case_sensitive"] = json!(false);
    }
    let mut headers: Vec<Value> = Vec::new();
    let pseudo = [(":method", &block.method), (":authority", &block.authority)];
    for (name, m) in pseudo {
        if let Some(m) = m {
            headers.push(header_matcher(name, Some(m), false));
        }
    }
    for (name, m) in &block.headers {
        headers.push(header_matcher(name, m.as_ref(), false));
    }
    for (name, m) in &block.without_headers {
        headers.push(header_matcher(name, m.as_ref(), true));
    }
    if !headers.is_empty() {
        out["headers"] = json!(headers);
    }
    Ok(out)
}

/// A header matcher; an empty match (`{}`) is a presence match.
fn header_matcher(name: &str, m: Option<&StringMatch>, invert: bool) -> Value {
    let string_match = m.and_then(|m| match (&m.exact, &m.prefix, &m.regex) {
        (Some(exact), _, _) => Some(json!({ "exact": exact })),
        (None, Some(prefix), _) => Some(json!({ "prefix": prefix })),
        (None, None, Some(regex)) if regex != "*" => {
            Some(json!({ "safe_regex": { "regex": regex } }))
        }
        _ => None,
    });
    let mut out = json!({ "name": name });
    match string_match {
        Some(string_match) => {
            out["string_match"] = string_match;
            if invert {
                out["treat_missing_header_as_empty"] = json!(true);
            }
        }
        None => out["present_match"] = json!(true),
    }
    if invert {
        out["invert_match"] = json!(true);
    }
    out
}
