//! Typed mesh objects -> Envoy 1.40 resources, the way istiod builds a
//! sidecar's outbound configuration from `VirtualService` and
//! `DestinationRule`, and the way Aeraki's generator turns a `MetaRouter`
//! into a protocol filter's route table. Upstream Envoy has no
//! MetaProtocol proxy, so a MetaRouter becomes a `thrift_proxy` (TRDS) or a
//! `dubbo_proxy` route configuration: the closest filters Envoy ships.
//!
//! The Istio behaviour modelled is Istio 1.28's (see `docs/envoy/README.md`
//! for each default and the source it was read from):
//! - one listener per service, one route table per HTTP port (named by the
//!   port), virtual hosts named `FQDN:port` with the service's DNS names;
//! - clusters `outbound|PORT|SUBSET|FQDN`, LEAST_REQUEST unless the
//!   DestinationRule says otherwise, circuit-breaker thresholds at 2³²−1
//!   when unset;
//! - route `timeout: 0s` when a VirtualService sets none, Istio's default
//!   retry policy when it sets no `retries`.
//!
//! What Envoy cannot express is a [`Gap::Unsupported`] with the reason, so
//! the assertions are reported `unsupported` instead of judged on a
//! configuration that says something else.

mod cluster;
mod http;
mod meta;
mod tcp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use meshbench_mesh_api::istio::DestinationRuleSpec;
use meshbench_mesh_api::{Destination, Object, Percent, Resource, Routing};
use meshbench_wire::Protocol;
use serde_json::{Value, json};

pub(super) use super::super::mesh::duration;
pub use super::super::mesh::{Gap, Layer};
use super::super::{Service, mesh};
use super::istio::Istio;
pub(super) use http::listener_name;

/// A route table delivered by its own discovery file (RDS or TRDS).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTable {
    /// `route_config_name`, and the file's stem.
    pub name: String,
    /// The resource's type URL.
    pub type_url: &'static str,
    /// The resource.
    pub resource: Value,
}

/// Everything Envoy is given for one routing state.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// One listener per service, by service name.
    pub listeners: BTreeMap<String, Value>,
    /// Every cluster a route or mirror names, and each service's default one.
    pub clusters: BTreeMap<String, Value>,
    /// RDS and TRDS tables.
    pub routes: Vec<RouteTable>,
}

/// Where each listener binds: port 0 on the first start, then the port
/// Envoy chose, so that a listener update is never a new socket.
pub type Binds = BTreeMap<String, SocketAddr>;

/// Translates `routing` for `services` at `layer`, with `istio`'s defaults. `xds_dir` is where route
/// tables are watched; `binds` the listener addresses.
///
/// # Errors
/// [`Gap`] naming the object and the field.
pub fn translate(
    services: &[Service],
    routing: &[Routing],
    (layer, istio, binds): (Layer, Istio, &Binds),
    xds_dir: &str,
) -> Result<Config, Gap> {
    let objects: Vec<&Object> = routing.iter().map(Routing::object).collect();
    let mut builder = Builder {
        istio,
        services,
        rules: mesh::destination_rules(&objects, services).map_err(Gap::Invalid)?,
        clusters: BTreeMap::new(),
    };
    builder.every_cluster()?;
    let routers = mesh::routers(&objects, services).map_err(Gap::Invalid)?;
    let mut config = Config {
        listeners: BTreeMap::new(),
        clusters: BTreeMap::new(),
        routes: Vec::new(),
    };
    let mut http_tables: BTreeMap<u16, Vec<Value>> = BTreeMap::new();
    for service in services {
        let router = routers.get(service.name.as_str()).copied();
        let bind = binds
            .get(&service.name)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = match service.protocol {
            _ if layer == Layer::Four => tcp::listener(&mut builder, service, None, bind)?,
            // The HCM's AUTO codec takes h2c by its preface: gRPC needs no listener of its own.
            Protocol::Http | Protocol::Grpc => {
                let vs = match router {
                    Some(Object::VirtualService(vs)) => Some(vs),
                    _ => None,
                };
                let host = http::virtual_host(&mut builder, service, vs)?;
                http_tables.entry(service.port).or_default().push(host);
                http::listener(service, bind, xds_dir)
            }
            Protocol::Thrift => {
                let router = meta_router(router);
                let table = meta::thrift_routes(&mut builder, service, router)?;
                config.routes.push(table);
                meta::thrift_listener(service, bind, xds_dir)
            }
            Protocol::Dubbo => {
                let router = meta_router(router);
                let routes = meta::dubbo_routes(&mut builder, service, router)?;
                meta::dubbo_listener(service, bind, routes)
            }
            Protocol::Tcp => {
                let vs = match router {
                    Some(Object::VirtualService(vs)) => Some(vs),
                    _ => None,
                };
                tcp::listener(&mut builder, service, vs, bind)?
            }
        };
        config.listeners.insert(service.name.clone(), listener);
    }
    for (port, virtual_hosts) in http_tables {
        config.routes.push(http::route_table(port, virtual_hosts));
    }
    config.clusters = builder.clusters;
    Ok(config)
}

fn meta_router(router: Option<&Object>) -> Option<&Resource<meshbench_mesh_api::MetaRouterSpec>> {
    match router {
        Some(Object::MetaRouter(router)) => Some(router),
        _ => None,
    }
}

/// Shared state while routes are translated: the clusters named so far.
pub(super) struct Builder<'a> {
    /// The release whose defaults are written.
    istio: Istio,
    services: &'a [Service],
    rules: BTreeMap<String, &'a Resource<DestinationRuleSpec>>,
    clusters: BTreeMap<String, Value>,
}

/// Where a destination leads.
pub(super) struct Target {
    /// The cluster name.
    pub cluster: String,
    /// The header its consistent hash reads, if its policy hashes.
    pub hash_header: Option<String>,
}

impl Builder<'_> {
    /// The cluster for `destination`, written in `namespace` by `object`,
    /// added to the configuration.
    pub(super) fn target(
        &mut self,
        destination: &Destination,
        namespace: &str,
        object: &str,
    ) -> Result<Target, Gap> {
        let service = mesh::find(self.services, &destination.host, namespace).ok_or_else(|| {
            Gap::Invalid(format!(
                "{object}: destination host '{}' is no service of the fleet",
                destination.host
            ))
        })?;
        let subset = destination.subset.as_deref().filter(|s| !s.is_empty());
        let rule = self.rules.get(&service.name).copied();
        let built = cluster::cluster(service, rule, subset).map_err(|e| match e {
            Gap::Invalid(reason) => Gap::Invalid(format!("{object}: {reason}")),
            other => other,
        })?;
        let target = Target {
            cluster: built.name.clone(),
            hash_header: built.hash_header,
        };
        self.clusters.insert(built.name, built.resource);
        Ok(target)
    }

    /// Every service's own cluster and one per DestinationRule subset, as
    /// istiod pushes them whether a route names them or not: a routing
    /// change then leaves the clusters, and the requests in flight on them,
    /// alone.
    fn every_cluster(&mut self) -> Result<(), Gap> {
        for service in self.services {
            self.default_target(service)?;
            let subsets: Vec<String> = self
                .rules
                .get(&service.name)
                .map(|rule| rule.spec.subsets.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default();
            for subset in subsets {
                let destination = Destination {
                    host: service.name.clone(),
                    subset: Some(subset),
                    port: None,
                };
                self.target(&destination, "default", "a DestinationRule subset")?;
            }
        }
        Ok(())
    }

    /// The service's own cluster (`outbound|PORT||FQDN`), for a service no
    /// object routes.
    pub(super) fn default_target(&mut self, service: &Service) -> Result<Target, Gap> {
        let destination = Destination {
            host: service.name.clone(),
            subset: None,
            port: None,
        };
        self.target(&destination, "default", "the default route")
    }

    /// Weighted destinations as a route action's cluster choice:
    /// `{"cluster": …}` for one, `{"weighted_clusters": …}` for several
    /// (weight-0 entries dropped, as istiod drops them), and the hash header
    /// of the first destination that has one.
    pub(super) fn weighted<'d>(
        &mut self,
        destinations: impl Iterator<Item = (&'d Destination, u32)>,
        namespace: &str,
        object: &str,
    ) -> Result<(serde_json::Map<String, Value>, Option<String>), Gap> {
        let destinations: Vec<_> = destinations.collect();
        let mut clusters = Vec::new();
        let mut hash_header = None;
        for (destination, weight) in &destinations {
            let target = self.target(destination, namespace, object)?;
            hash_header = hash_header.or(target.hash_header);
            if *weight > 0 || destinations.len() == 1 {
                clusters.push((target.cluster, *weight));
            }
        }
        let mut action = serde_json::Map::new();
        match clusters.as_slice() {
            [] => {
                return Err(Gap::Invalid(format!(
                    "{object}: a route without a destination"
                )));
            }
            [(cluster, _)] => {
                action.insert("cluster".into(), json!(cluster));
            }
            several => {
                let clusters: Vec<Value> = several
                    .iter()
                    .map(|(name, weight)| json!({ "name": name, "weight": weight }))
                    .collect();
                action.insert("weighted_clusters".into(), json!({ "clusters": clusters }));
            }
        }
        Ok((action, hash_header))
    }
}

/// Envoy's JSON form of a protobuf `Duration`: seconds with up to nine
/// decimals.
pub(super) fn proto_duration(duration: Duration) -> String {
    match duration.subsec_nanos() {
        0 => format!("{}s", duration.as_secs()),
        nanos => format!("{}.{nanos:09}s", duration.as_secs()),
    }
}

/// A percentage as Envoy's `FractionalPercent` over a million (istiod
/// truncates `value × 10 000`).
pub(super) fn fractional(percent: f64) -> Value {
    json!({ "numerator": (percent * 10_000.0) as u32, "denominator": "MILLION" })
}

/// The `percentage.value` of an optional [`Percent`], 100 when absent.
pub(super) fn percent_or_all(percentage: Option<&Percent>) -> f64 {
    percentage.map_or(100.0, |p| p.value)
}

/// An address as Envoy's `Address`.
pub(super) fn socket_address(addr: SocketAddr) -> Value {
    json!({ "socket_address": { "address": addr.ip().to_string(), "port_value": addr.port() } })
}

/// A `config_source` watching `path` in `dir`.
pub(super) fn file_source(dir: &str, file: &str) -> Value {
    json!({
        "resource_api_version": "V3",
        "path_config_source": {
            "path": format!("{dir}/{file}"),
            "watched_directory": { "path": dir }
        }
    })
}

#[cfg(test)]
mod tests;
