//! MetaRouter -> the routes of a thrift or dubbo listener, as Aeraki's
//! translator (`internal/xds/cache_mgr.go`) builds them: routes in order,
//! first match wins, attributes ANDed within a route.

use std::collections::BTreeMap;
use std::sync::Arc;

use meshbench_wire::Protocol;

use super::matches::condition;
use super::policy::{aeraki_mirror_share, annotation_at, fault, retries, route_policies, timeout};
use super::{At, Builder, CompileError, Reason, Services, check_gateways, forward};
use crate::config::ServiceEndpoints;
use crate::config::objects::aeraki::{MetaRoute, MetaRouterSpec, RoutePolicy};
use crate::config::objects::{KeyValue, Resource};
use crate::route::{Action, Match, Route};

/// The service a MetaRouter routes. **Only the first host counts**; the
/// others are ignored (not even resolved), as Aeraki does.
///
/// # Errors
/// No host, an unknown first host, a service that is not thrift or dubbo, or
/// gateways that exclude the mesh.
pub(super) fn hosts<'a>(
    spec: &MetaRouterSpec,
    namespace: &str,
    services: &Services<'a>,
    root: &At,
) -> Result<Vec<(usize, &'a ServiceEndpoints)>, CompileError> {
    let at = root.field("spec");
    check_gateways(&spec.gateways, &at.field("gateways"))?;
    let host = spec
        .hosts
        .first()
        .ok_or_else(|| at.field("hosts").error(Reason::Missing))?;
    let at = at.field("hosts").index(0);
    let service = services.require(host, namespace, &at)?;
    if !matches!(service.protocol, Protocol::Thrift | Protocol::Dubbo) {
        return Err(at.error(Reason::WrongProtocol {
            host: service.name.clone(),
            protocol: service.protocol,
            hint: "a MetaRouter routes only thrift and dubbo services",
        }));
    }
    Ok(vec![(0, service)])
}

/// The routes of `router`, which routes `service`.
///
/// # Errors
/// A rate limit (unsupported), invalid route policies, or an invalid route.
pub(super) fn routes(
    builder: &mut Builder,
    name: &str,
    router: &Resource<MetaRouterSpec>,
    service: &ServiceEndpoints,
) -> Result<Vec<Route>, CompileError> {
    let root = At::root(name);
    let spec = &router.spec;
    let at = root.field("spec");
    if spec.local_rate_limit.is_some() {
        return Err(at.field("localRateLimit").error(Reason::Unsupported));
    }
    if spec.global_rate_limit.is_some() {
        return Err(at.field("globalRateLimit").error(Reason::Unsupported));
    }
    let names: Vec<&str> = spec.routes.iter().map(|r| r.name.as_str()).collect();
    let policies = route_policies(&router.metadata, &names, &root)?;
    let context = Context {
        namespace: &router.metadata.namespace,
        protocol: service.protocol,
        policies: &policies,
        policies_at: annotation_at(&root),
    };
    let at = at.field("routes");
    spec.routes
        .iter()
        .enumerate()
        .map(|(index, route)| compile_route(builder, route, &context, &at.index(index)))
        .collect()
}

/// What every route of one MetaRouter shares.
struct Context<'c> {
    namespace: &'c str,
    protocol: Protocol,
    policies: &'c BTreeMap<String, RoutePolicy>,
    policies_at: At<'c>,
}

fn compile_route(
    builder: &mut Builder,
    route: &MetaRoute,
    context: &Context,
    at: &At,
) -> Result<Route, CompileError> {
    let matches = match &route.match_ {
        Some(m) if !m.attributes.is_empty() => {
            let at = at.field("match").field("attributes");
            let conditions = m
                .attributes
                .iter()
                .map(|(name, string_match)| {
                    condition(name, string_match.as_ref(), false, &at.key(name))
                })
                .collect::<Result<_, _>>()?;
            vec![Match { conditions }]
        }
        _ => Vec::new(),
    };
    let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
    let (clusters, hash_key) = builder.weighted(
        destinations,
        context.namespace,
        context.protocol,
        &at.field("route"),
    )?;
    let mut forward = forward(clusters, hash_key);
    forward.mirror = match (&route.mirror, &route.mirror_percentage) {
        (Some(mirror), percentage) => {
            let share = aeraki_mirror_share(percentage.as_ref(), &at.field("mirrorPercentage"))?;
            Some(builder.mirror(
                mirror,
                share,
                context.namespace,
                context.protocol,
                &at.field("mirror"),
            )?)
        }
        (None, Some(_)) => {
            return Err(at.field("mirrorPercentage").error(Reason::Orphan("mirror")));
        }
        (None, None) => None,
    };
    let pairs = |kvs: &[KeyValue]| {
        kvs.iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect()
    };
    forward.request_mutation = pairs(&route.request_mutation);
    forward.response_mutation = pairs(&route.response_mutation);
    if let Some(policy) = context.policies.get(&route.name) {
        let at = context.policies_at.key(&route.name);
        forward.timeout = timeout(policy.timeout.as_deref(), &at.field("timeout"))?;
        forward.retries = retries(policy.retries.as_ref(), &at.field("retries"))?;
        forward.fault = fault(policy.fault.as_ref(), context.protocol, &at.field("fault"))?;
    }
    Ok(Route {
        name: route.name.clone(),
        matches,
        action: Action::Forward(Arc::new(forward)),
    })
}
