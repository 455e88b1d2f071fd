//! Objects + endpoint list -> [`RouteTable`]. The whole table or an error,
//! never half a table: [`compile`] stops at the first error.
//!
//! The rules, each written where it is applied:
//! - hosts resolve to endpoint-list services by FQDN or by short name
//!   expanded with the object's namespace ([`Services::resolve`]);
//! - one listener per service, in endpoint-list order; thrift and dubbo
//!   listeners take a MetaRouter, http listeners a VirtualService's `http`,
//!   tcp listeners its `tcp` ([`Routing::index`]);
//! - a service no object routes gets Aeraki's implicit `default` route;
//! - MetaRouter in [`metarouter`], VirtualService in [`virtualservice`],
//!   DestinationRule and clusters in [`clusters`], string matches in
//!   [`matches`], timeouts/retries/faults/percentages and the
//!   `meshbench.io/route-policies` extension in [`policy`].

mod clusters;
mod matches;
mod metarouter;
mod policy;
mod virtualservice;

use std::collections::BTreeMap;
use std::sync::Arc;

use meshbench_wire::Protocol;

pub use policy::{ExtensionUse, ROUTE_POLICIES_ANNOTATION, extensions_used};

use super::error::At;
use super::objects::{Destination, Object};
use super::{CompileError, EndpointList, Reason, ServiceEndpoints};
use crate::route::{
    Action, Cluster, ClusterName, Forward, Listener, Mirror, RetryPolicy, Route, RouteTable,
    WeightedClusters,
};
use clusters::DestinationRules;

/// Compiles `objects` against `endpoints` into the table the data plane
/// serves, stamped with `version`.
///
/// # Errors
/// The first [`CompileError`] met: an unknown host or subset, a routing object
/// for a service of the wrong protocol, two objects for one host, a field
/// meshproxy does not support, an invalid value. Its Display names the
/// object, the field path and the reason.
pub fn compile(
    objects: &[Object],
    endpoints: &EndpointList,
    version: u64,
) -> Result<RouteTable, CompileError> {
    let services = Services::new(endpoints)?;
    let rules = DestinationRules::index(objects, &services)?;
    let routing = Routing::index(objects, &services)?;
    let mut builder = Builder {
        services,
        rules,
        clusters: BTreeMap::new(),
    };
    let mut listeners = Vec::with_capacity(endpoints.services.len());
    for service in &endpoints.services {
        let object = routing.router(&service.name).and_then(|i| objects.get(i));
        let name = object.map(Object::describe).unwrap_or_default();
        let routes = match object {
            Some(Object::MetaRouter(router)) => {
                metarouter::routes(&mut builder, &name, router, service)?
            }
            Some(Object::VirtualService(vs)) if service.protocol == Protocol::Tcp => {
                virtualservice::tcp_routes(&mut builder, &name, vs, service)?
            }
            Some(Object::VirtualService(vs)) => {
                virtualservice::http_routes(&mut builder, &name, vs, service)?
            }
            Some(Object::DestinationRule(_)) | None => vec![builder.default_route(service)?],
        };
        listeners.push(Listener {
            service: service.name.clone(),
            protocol: service.protocol,
            port: service.port,
            routes,
        });
    }
    Ok(RouteTable {
        version,
        listeners,
        clusters: builder.clusters,
        extensions: super::extensions_used(objects)
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

// === Services ===

/// The endpoint list, indexed by FQDN.
pub(crate) struct Services<'a> {
    by_name: BTreeMap<&'a str, &'a ServiceEndpoints>,
}

impl<'a> Services<'a> {
    /// Indexes the list.
    ///
    /// # Errors
    /// A service listed twice.
    fn new(endpoints: &'a EndpointList) -> Result<Self, CompileError> {
        let mut by_name = BTreeMap::new();
        let root = At::root("endpoint list").field("services");
        for (index, service) in endpoints.services.iter().enumerate() {
            if by_name.insert(service.name.as_str(), service).is_some() {
                let at = root.index(index).field("name");
                return Err(at.error(Reason::DefinedTwice(service.name.clone())));
            }
        }
        Ok(Services { by_name })
    }

    /// The service `host` names, by [`meshbench_mesh_api::hosts::candidates`].
    pub(crate) fn resolve(&self, host: &str, namespace: &str) -> Option<&'a ServiceEndpoints> {
        meshbench_mesh_api::hosts::candidates(host, namespace)
            .iter()
            .find_map(|name| self.by_name.get(name.as_str()).copied())
    }

    /// Like [`Services::resolve`], with the error an unknown host gets at `at`.
    pub(crate) fn require(
        &self,
        host: &str,
        namespace: &str,
        at: &At,
    ) -> Result<&'a ServiceEndpoints, CompileError> {
        self.resolve(host, namespace)
            .ok_or_else(|| at.error(Reason::UnknownHost(host.to_owned())))
    }
}

// === Routing ===

/// Which object (by index in the input) routes which service (by FQDN).
struct Routing<'a> {
    by_service: BTreeMap<&'a str, usize>,
}

impl<'a> Routing<'a> {
    /// Assigns every MetaRouter and VirtualService to the services its hosts
    /// name, checking protocols and refusing a second object for one service.
    fn index(objects: &[Object], services: &Services<'a>) -> Result<Self, CompileError> {
        let mut by_service = BTreeMap::new();
        for (index, object) in objects.iter().enumerate() {
            let name = object.describe();
            let at = At::root(&name);
            let routed = match object {
                Object::MetaRouter(router) => {
                    metarouter::hosts(&router.spec, &router.metadata.namespace, services, &at)?
                }
                Object::VirtualService(vs) => virtualservice::hosts(vs, services, &at)?,
                Object::DestinationRule(_) => continue,
            };
            for (host_index, service) in routed {
                match by_service.insert(service.name.as_str(), index) {
                    Some(other) if other != index => {
                        let at = at.field("spec").field("hosts").index(host_index);
                        return Err(at.error(Reason::Duplicate {
                            host: service.name.clone(),
                            other: objects.get(other).map(Object::describe).unwrap_or_default(),
                        }));
                    }
                    _ => {}
                }
            }
        }
        Ok(Routing { by_service })
    }

    /// The index of the object routing `service`, if any.
    fn router(&self, service: &str) -> Option<usize> {
        self.by_service.get(service).copied()
    }
}

// === Builder ===

/// Shared state while routes are compiled: the clusters named so far.
pub(crate) struct Builder<'a> {
    services: Services<'a>,
    rules: DestinationRules<'a>,
    clusters: BTreeMap<ClusterName, Cluster>,
}

/// Where a destination leads.
pub(crate) struct Target {
    /// The cluster name.
    pub(crate) cluster: ClusterName,
    /// The cluster's consistent-hash key, if its policy has one.
    pub(crate) hash_key: Option<String>,
}

impl Builder<'_> {
    /// Resolves `destination` (written in `namespace`) for a `listener`
    /// route, adding its cluster to the table.
    ///
    /// Cluster names follow Istio, `outbound|<port>|<subset>|<fqdn>`;
    /// `port.number` must be the service's only port.
    pub(crate) fn target(
        &mut self,
        destination: &Destination,
        namespace: &str,
        listener: Protocol,
        at: &At,
    ) -> Result<Target, CompileError> {
        let service = self
            .services
            .require(&destination.host, namespace, &at.field("host"))?;
        if service.protocol != listener {
            return Err(at.field("host").error(Reason::DestinationProtocol {
                host: service.name.clone(),
                protocol: service.protocol,
                listener,
            }));
        }
        if let Some(port) = &destination.port
            && port.number != u32::from(service.port)
        {
            return Err(at.field("port").field("number").error(Reason::WrongPort {
                port: port.number,
                host: service.name.clone(),
                expected: service.port,
            }));
        }
        let subset = destination.subset.as_deref().filter(|s| !s.is_empty());
        let cluster = self.rules.cluster(service, subset, &at.field("subset"))?;
        let target = Target {
            cluster: cluster.name.clone(),
            hash_key: clusters::hash_key(&cluster.lb),
        };
        self.clusters.entry(cluster.name.clone()).or_insert(cluster);
        Ok(target)
    }

    /// A mirror of `share` per million requests to `destination`.
    pub(crate) fn mirror(
        &mut self,
        destination: &Destination,
        share: u32,
        namespace: &str,
        listener: Protocol,
        at: &At,
    ) -> Result<Mirror, CompileError> {
        let target = self.target(destination, namespace, listener, at)?;
        Ok(Mirror {
            cluster: target.cluster,
            per_million: share,
        })
    }

    /// Weighted destinations, `(destination, weight)` in the order written
    /// at `at` (the `route` list). A single destination ignores its weight;
    /// two or more weigh `weight / sum` (Aeraki's `total_weight` is the sum,
    /// not 100), a weight-0 destination stays listed and gets nothing.
    pub(crate) fn weighted<'d>(
        &mut self,
        destinations: impl ExactSizeIterator<Item = (&'d Destination, u32)>,
        namespace: &str,
        listener: Protocol,
        at: &At,
    ) -> Result<(WeightedClusters, Option<String>), CompileError> {
        let mut clusters = Vec::with_capacity(destinations.len());
        let mut hash_key = None;
        let mut total: u32 = 0;
        for (index, (destination, weight)) in destinations.enumerate() {
            let target_at = at.index(index).field("destination");
            let target = self.target(destination, namespace, listener, &target_at)?;
            hash_key = hash_key.or(target.hash_key);
            total = total
                .checked_add(weight)
                .ok_or_else(|| at.error(Reason::WeightsOverflow))?;
            clusters.push((target.cluster, weight));
        }
        let weighted = match clusters.as_slice() {
            [] => return Err(at.error(Reason::Missing)),
            [(cluster, _)] => WeightedClusters::single(cluster.clone()),
            _ if total == 0 => return Err(at.error(Reason::WeightsSumToZero)),
            _ => WeightedClusters {
                clusters,
                total_weight: total,
            },
        };
        Ok((weighted, hash_key))
    }

    /// The route of a service no object routes: `default`, matching
    /// everything, to the whole service, hashed by the DestinationRule's key
    /// (Aeraki's for Thrift and Dubbo, Istio's for HTTP).
    fn default_route(&mut self, service: &ServiceEndpoints) -> Result<Route, CompileError> {
        let describe = format!("service {}", service.name);
        let at = At::root(&describe);
        let cluster = self.rules.cluster(service, None, &at)?;
        let hash_key = clusters::hash_key(&cluster.lb);
        let name = cluster.name.clone();
        self.clusters.entry(name.clone()).or_insert(cluster);
        let mut forward = forward(WeightedClusters::single(name), hash_key);
        if matches!(service.protocol, Protocol::Http | Protocol::Grpc) {
            // Istio's default HTTP route (gRPC's too) carries its default retry policy.
            forward.retries = Some(RetryPolicy::istio_default());
        }
        Ok(Route {
            name: "default".to_owned(),
            matches: Vec::new(),
            action: Action::Forward(Arc::new(forward)),
        })
    }
}

/// A forward to `clusters` with no policies; callers fill in the rest.
pub(crate) fn forward(clusters: WeightedClusters, hash_key: Option<String>) -> Forward {
    Forward {
        clusters,
        timeout: None,
        retries: None,
        fault: None,
        mirror: None,
        request_mutation: Vec::new(),
        response_mutation: Vec::new(),
        request_remove: Vec::new(),
        rewrite: None,
        hash_key,
    }
}

/// Refuses objects bound only to gateways: meshproxy routes as the sidecars
/// do (the implicit `mesh` gateway).
pub(crate) fn check_gateways(gateways: &[String], at: &At) -> Result<(), CompileError> {
    if gateways.is_empty() || gateways.iter().any(|g| g == "mesh") {
        return Ok(());
    }
    let list = gateways
        .iter()
        .map(|g| format!("'{g}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(at.error(Reason::GatewaysOnly(list)))
}

#[cfg(test)]
mod tests;
