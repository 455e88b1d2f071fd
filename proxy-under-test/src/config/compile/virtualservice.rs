//! VirtualService -> the routes of an http listener (`http`) or a tcp
//! listener (`tcp`), as Istio's sidecar translation reads them.

use std::sync::Arc;

use meshbench_wire::Protocol;

use super::matches::{condition, matcher};
use super::policy::{check_extension_absent, fault, istio_mirror_share, istio_retries, timeout};
use super::{At, Builder, CompileError, Reason, Services, check_gateways, forward};
use crate::config::ServiceEndpoints;
use crate::config::objects::Resource;
use crate::config::objects::istio::{Headers, HttpMatchRequest, HttpRoute, VirtualServiceSpec};
use crate::dataplane::PATH;
use crate::route::{Action, Condition, Forward, Match, Redirect, Rewrite, Route};

/// The services a VirtualService routes: every host counts, each must be an
/// http service (if the object has `http` routes) or a tcp one (`tcp`
/// routes), and every section must serve at least one host.
///
/// # Errors
/// `tls` (unsupported), gateways that exclude the mesh, no host, an unknown
/// host, a host of another protocol, an unused section.
pub(super) fn hosts<'a>(
    vs: &Resource<VirtualServiceSpec>,
    services: &Services<'a>,
    root: &At,
) -> Result<Vec<(usize, &'a ServiceEndpoints)>, CompileError> {
    check_extension_absent(&vs.metadata, root)?;
    let spec = &vs.spec;
    let at = root.field("spec");
    if spec.tls.is_some() {
        return Err(at.field("tls").error(Reason::Unsupported));
    }
    check_gateways(&spec.gateways, &at.field("gateways"))?;
    if spec.hosts.is_empty() {
        return Err(at.field("hosts").error(Reason::Missing));
    }
    let mut routed: Vec<(usize, &ServiceEndpoints)> = Vec::new();
    for (index, host) in spec.hosts.iter().enumerate() {
        let at = at.field("hosts").index(index);
        let service = services.require(host, &vs.metadata.namespace, &at)?;
        let hint = match service.protocol {
            Protocol::Http | Protocol::Grpc if spec.http.is_empty() => {
                "the VirtualService has no http routes"
            }
            Protocol::Tcp if spec.tcp.is_empty() => "the VirtualService has no tcp routes",
            Protocol::Thrift | Protocol::Dubbo => {
                "a VirtualService routes only http and tcp services, use a MetaRouter"
            }
            Protocol::Http | Protocol::Grpc | Protocol::Tcp => "",
        };
        if !hint.is_empty() {
            return Err(at.error(Reason::WrongProtocol {
                host: service.name.clone(),
                protocol: service.protocol,
                hint,
            }));
        }
        if !routed.iter().any(|(_, s)| s.name == service.name) {
            routed.push((index, service));
        }
    }
    for (section, protocols, used) in [
        (
            "http",
            &[Protocol::Http, Protocol::Grpc][..],
            !spec.http.is_empty(),
        ),
        ("tcp", &[Protocol::Tcp][..], !spec.tcp.is_empty()),
    ] {
        if used && !routed.iter().any(|(_, s)| protocols.contains(&s.protocol)) {
            let protocol = protocols[0];
            return Err(at.field(section).error(Reason::UnusedSection(protocol)));
        }
    }
    Ok(routed)
}

/// The `http` routes of `vs` for the http service `service`.
///
/// # Errors
/// An invalid match, destination, policy, or a redirect mixed with a route.
pub(super) fn http_routes(
    builder: &mut Builder,
    name: &str,
    vs: &Resource<VirtualServiceSpec>,
    service: &ServiceEndpoints,
) -> Result<Vec<Route>, CompileError> {
    let at = At::root(name).field("spec").field("http");
    vs.spec
        .http
        .iter()
        .enumerate()
        .map(|(index, route)| {
            http_route(
                builder,
                route,
                &vs.metadata.namespace,
                service,
                &at.index(index),
            )
        })
        .collect()
}

fn http_route(
    builder: &mut Builder,
    route: &HttpRoute,
    namespace: &str,
    service: &ServiceEndpoints,
    at: &At,
) -> Result<Route, CompileError> {
    let matches = route
        .match_
        .iter()
        .enumerate()
        .map(|(index, block)| http_match(block, service, &at.field("match").index(index)))
        .collect::<Result<_, _>>()?;
    let action = match (&route.redirect, route.route.is_empty()) {
        (Some(_), false) => return Err(at.field("redirect").error(Reason::Exclusive("route"))),
        (Some(_), true) if service.protocol == Protocol::Grpc => {
            return Err(at.field("redirect").error(Reason::Unsupported));
        }
        (Some(_), true) if route.rewrite.is_some() => {
            return Err(at.field("rewrite").error(Reason::Exclusive("redirect")));
        }
        (Some(redirect), true) => Action::Redirect(Redirect {
            uri: redirect.uri.clone(),
            authority: redirect.authority.clone(),
            code: redirect.redirect_code.unwrap_or(301),
        }),
        (None, true) => return Err(at.field("route").error(Reason::Missing)),
        (None, false) => Action::Forward(Arc::new(http_forward(
            builder,
            route,
            namespace,
            service.protocol,
            at,
        )?)),
    };
    Ok(Route {
        name: route.name.clone(),
        matches,
        action,
    })
}

/// One match block, its fields ANDed. `uri` tests `@path` (the path without
/// its query, as Envoy's path matchers do); `withoutHeaders` are inverted.
fn http_match(
    block: &HttpMatchRequest,
    service: &ServiceEndpoints,
    at: &At,
) -> Result<Match, CompileError> {
    if block.source_labels.is_some() {
        return Err(at.field("sourceLabels").error(Reason::Unsupported));
    }
    if block.query_params.is_some() {
        return Err(at.field("queryParams").error(Reason::Unsupported));
    }
    check_port(block.port, service, &at.field("port"))?;
    let mut conditions = Vec::new();
    if let Some(uri) = &block.uri {
        conditions.push(Condition {
            attribute: PATH.to_owned(),
            matcher: matcher(Some(uri), block.ignore_uri_case, &at.field("uri"))?,
            invert: false,
        });
    }
    if let Some(method) = &block.method {
        conditions.push(condition(
            ":method",
            Some(method),
            false,
            &at.field("method"),
        )?);
    }
    if let Some(authority) = &block.authority {
        conditions.push(condition(
            ":authority",
            Some(authority),
            false,
            &at.field("authority"),
        )?);
    }
    for (field, headers, invert) in [
        ("headers", &block.headers, false),
        ("withoutHeaders", &block.without_headers, true),
    ] {
        for (name, string_match) in headers {
            conditions.push(condition(
                name,
                string_match.as_ref(),
                invert,
                &at.field(field).key(name),
            )?);
        }
    }
    Ok(Match { conditions })
}

fn http_forward(
    builder: &mut Builder,
    route: &HttpRoute,
    namespace: &str,
    protocol: Protocol,
    at: &At,
) -> Result<Forward, CompileError> {
    let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
    let (clusters, hash_key) =
        builder.weighted(destinations, namespace, protocol, &at.field("route"))?;
    let mut forward = forward(clusters, hash_key);
    forward.timeout = timeout(route.timeout.as_deref(), &at.field("timeout"))?;
    forward.retries = istio_retries(route.retries.as_ref(), &at.field("retries"))?;
    forward.fault = fault(route.fault.as_ref(), protocol, &at.field("fault"))?;
    forward.mirror = match &route.mirror {
        Some(mirror) => {
            let share =
                istio_mirror_share(route.mirror_percentage.as_ref(), route.mirror_percent, at)?;
            Some(builder.mirror(mirror, share, namespace, protocol, &at.field("mirror"))?)
        }
        None if route.mirror_percentage.is_some() => {
            return Err(at.field("mirrorPercentage").error(Reason::Orphan("mirror")));
        }
        None if route.mirror_percent.is_some() => {
            return Err(at.field("mirrorPercent").error(Reason::Orphan("mirror")));
        }
        None => None,
    };
    forward.rewrite = route.rewrite.as_ref().map(|r| Rewrite {
        uri: r.uri.clone(),
        authority: r.authority.clone(),
    });
    apply_headers(&mut forward, route.headers.as_ref(), &at.field("headers"))?;
    for (index, destination) in route.route.iter().enumerate() {
        let at = at.field("route").index(index).field("headers");
        apply_headers(&mut forward, destination.headers.as_ref(), &at)?;
    }
    Ok(forward)
}

/// Adds header operations to the route's mutations.
///
/// Approximations, since the table has one list per direction and no
/// per-destination headers: `add` is applied as `set` (the header ends up
/// with this one value), and a destination's headers apply whichever
/// destination the request goes to. Removing response headers is not
/// supported.
fn apply_headers(
    forward: &mut Forward,
    headers: Option<&Headers>,
    at: &At,
) -> Result<(), CompileError> {
    let Some(headers) = headers else {
        return Ok(());
    };
    if let Some(request) = &headers.request {
        let pairs = request.set.iter().chain(&request.add);
        forward
            .request_mutation
            .extend(pairs.map(|(k, v)| (k.clone(), v.clone())));
        forward
            .request_remove
            .extend(request.remove.iter().cloned());
    }
    if let Some(response) = &headers.response {
        if !response.remove.is_empty() {
            return Err(at
                .field("response")
                .field("remove")
                .error(Reason::Unsupported));
        }
        let pairs = response.set.iter().chain(&response.add);
        forward
            .response_mutation
            .extend(pairs.map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(())
}

/// The `tcp` route of `vs` for the tcp service `service`: one route with no
/// matches (a weighted choice per connection); only one route is allowed,
/// since with one port per service any later one could never match.
///
/// # Errors
/// A second route, a port that is not the service's, an invalid destination.
pub(super) fn tcp_routes(
    builder: &mut Builder,
    name: &str,
    vs: &Resource<VirtualServiceSpec>,
    service: &ServiceEndpoints,
) -> Result<Vec<Route>, CompileError> {
    let at = At::root(name).field("spec").field("tcp");
    if vs.spec.tcp.len() > 1 {
        return Err(at.index(1).error(Reason::TooManyTcpRoutes));
    }
    let Some(route) = vs.spec.tcp.first() else {
        return Err(at.error(Reason::Missing));
    };
    let at = at.index(0);
    for (index, block) in route.match_.iter().enumerate() {
        check_port(
            block.port,
            service,
            &at.field("match").index(index).field("port"),
        )?;
    }
    let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
    let (clusters, hash_key) = builder.weighted(
        destinations,
        &vs.metadata.namespace,
        Protocol::Tcp,
        &at.field("route"),
    )?;
    Ok(vec![Route {
        name: "tcp".to_owned(),
        matches: Vec::new(),
        action: Action::Forward(Arc::new(forward(clusters, hash_key))),
    }])
}

/// A match `port` must be the service's only port.
fn check_port(port: Option<u32>, service: &ServiceEndpoints, at: &At) -> Result<(), CompileError> {
    match port {
        Some(port) if port != u32::from(service.port) => Err(at.error(Reason::WrongPort {
            port,
            host: service.name.clone(),
            expected: service.port,
        })),
        _ => Ok(()),
    }
}
