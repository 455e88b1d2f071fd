//! Building blocks: a fleet, hand-built route tables over it, a started proxy.

pub use std::collections::BTreeMap;
pub use std::net::{IpAddr, Ipv4Addr, SocketAddr};
pub use std::sync::Arc;

pub use meshbench_proxy_under_test::dataplane::{Mode, PATH, Proxy, ProxyOptions};
pub use meshbench_proxy_under_test::route::*;
pub use meshbench_sim::client::dubbo::{DEMO_SERVICE, DubboClient};
pub use meshbench_sim::client::http::HttpClient;
pub use meshbench_sim::client::tcp::TcpEchoClient;
pub use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
pub use meshbench_sim::fleet::{Behaviour, Fleet, FleetOptions, ServiceSpec, VersionSpec};
pub use meshbench_wire::Protocol;
pub use meshbench_wire::http1::Request;

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub async fn fleet(service: &str, protocol: Protocol, versions: &[&str]) -> Fleet {
    let plain: Vec<(&str, Behaviour)> = versions
        .iter()
        .map(|v| (*v, Behaviour::default()))
        .collect();
    fleet_with(service, protocol, &plain, 1).await
}

/// A fleet whose versions behave as given, `replicas` endpoints each.
pub async fn fleet_with(
    service: &str,
    protocol: Protocol,
    versions: &[(&str, Behaviour)],
    replicas: usize,
) -> Fleet {
    let spec = ServiceSpec {
        service: service.to_owned(),
        protocol,
        port: 9000,
        thrift: meshbench_wire::thrift::ServerCodec::DETECT,
        versions: versions
            .iter()
            .map(|(v, behaviour)| VersionSpec {
                name: (*v).to_owned(),
                replicas,
                labels: BTreeMap::new(),
                behaviour: behaviour.clone(),
            })
            .collect(),
    };
    Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts")
}

pub fn cluster_name(fleet: &Fleet, version: &str) -> ClusterName {
    format!(
        "outbound|9000|{version}|{}",
        fleet.endpoints()[0].identity.service
    )
}

/// One cluster per version of the fleet's only service.
pub fn clusters(fleet: &Fleet) -> BTreeMap<ClusterName, Cluster> {
    let mut clusters: BTreeMap<ClusterName, Cluster> = BTreeMap::new();
    for endpoint in fleet.endpoints() {
        let version = endpoint.labels["version"].clone();
        let name = cluster_name(fleet, &version);
        clusters
            .entry(name.clone())
            .or_insert_with(|| Cluster {
                name,
                service: endpoint.identity.service.clone(),
                port: 9000,
                subset: Some(version),
                endpoints: vec![],
                lb: LbPolicy::RoundRobin,
                pool: PoolLimits::default(),
                outlier: None,
            })
            .endpoints
            .push(endpoint.identity.addr);
    }
    clusters
}

pub fn forward(clusters: Vec<(ClusterName, u32)>) -> Forward {
    let total_weight = clusters.iter().map(|(_, w)| w).sum();
    Forward {
        clusters: WeightedClusters {
            clusters,
            total_weight,
        },
        timeout: None,
        retries: None,
        fault: None,
        mirror: None,
        request_mutation: vec![],
        response_mutation: vec![],
        request_remove: vec![],
        rewrite: None,
        hash_key: None,
    }
}

pub fn exact(attribute: &str, value: &str) -> Match {
    Match {
        conditions: vec![Condition {
            attribute: attribute.to_owned(),
            matcher: StringMatcher::Exact(value.to_owned()),
            invert: false,
        }],
    }
}

pub fn table(fleet: &Fleet, protocol: Protocol, routes: Vec<Route>) -> RouteTable {
    RouteTable {
        version: 1,
        listeners: vec![Listener {
            service: fleet.endpoints()[0].identity.service.clone(),
            protocol,
            port: 9000,
            routes,
        }],
        clusters: clusters(fleet),
        extensions: Vec::new(),
    }
}

pub fn route(name: &str, matches: Vec<Match>, forward: Forward) -> Route {
    Route {
        name: name.to_owned(),
        matches,
        action: Action::Forward(Arc::new(forward)),
    }
}

/// A table with one route, `all`, sending everything to `v1`.
pub fn all_to_v1(fleet: &Fleet, protocol: Protocol) -> RouteTable {
    let all = forward(vec![(cluster_name(fleet, "v1"), 1)]);
    table(fleet, protocol, vec![route("all", vec![], all)])
}

pub async fn start(table: RouteTable) -> (Proxy, SocketAddr) {
    let proxy = Proxy::start(
        table,
        &ProxyOptions {
            seed: 7,
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("proxy starts");
    let addr = proxy.listeners()[0].1;
    (proxy, addr)
}
