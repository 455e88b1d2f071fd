//! DestinationRule -> clusters, as istiod's `cluster_traffic_policy.go`
//! builds them: one cluster per subset, named `outbound|PORT|SUBSET|FQDN`,
//! the subset's `trafficPolicy` replacing the top level's block by block
//! (`MergeTrafficPolicy`).

use meshbench_mesh_api::Resource;
use meshbench_mesh_api::istio::{
    ConnectionPool, DestinationRuleSpec, LoadBalancer, OutlierDetection, SimpleLb,
};
use meshbench_wire::Protocol;
use meshbench_wire::thrift::{Encoding, Transport};
use serde_json::{Value, json};

use super::{Gap, Service, duration, proto_duration, socket_address};

/// A cluster and what routes need to know of it.
pub(super) struct Built {
    /// Its name.
    pub name: String,
    /// The `Cluster` resource.
    pub resource: Value,
    /// The header its ring hash reads, when it hashes.
    pub hash_header: Option<String>,
}

/// Istio's unset circuit-breaker threshold (`getDefaultCircuitBreakerThresholds`).
const UNLIMITED: u32 = u32::MAX;

/// MeshConfig's default `connectTimeout`.
const CONNECT_TIMEOUT: &str = "10s";

/// The cluster for `subset` (none: the whole service) of `service`.
pub(super) fn cluster(
    service: &Service,
    rule: Option<&Resource<DestinationRuleSpec>>,
    subset: Option<&str>,
) -> Result<Built, Gap> {
    let name = format!(
        "outbound|{}|{}|{}",
        service.port,
        subset.unwrap_or(""),
        service.name
    );
    let subset = super::mesh::subset(service, rule, subset).map_err(Gap::Invalid)?;
    let policy = subset.policy;
    let endpoints: Vec<Value> = subset
        .endpoints
        .iter()
        .map(|e| json!({ "endpoint": { "address": socket_address(e.identity.addr) } }))
        .collect();
    let (lb_policy, hash_header) = load_balancer(policy.load_balancer.as_ref())?;
    let pool = policy.connection_pool.as_ref();
    let connect_timeout = match pool.and_then(|p| p.tcp.as_ref()?.connect_timeout.as_deref()) {
        Some(text) => proto_duration(duration(text, "connectionPool.tcp.connectTimeout")?),
        None => CONNECT_TIMEOUT.to_owned(),
    };
    let mut resource = json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "lb_policy": lb_policy,
        "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": endpoints }] },
        "circuit_breakers": { "thresholds": [thresholds(pool)] },
    });
    if let Some(options) = protocol_options(service, pool) {
        resource["typed_extension_protocol_options"] = options;
    }
    if let Some(outlier) = &policy.outlier_detection {
        resource["outlier_detection"] = outlier_detection(outlier)?;
        // istiod turns panic routing off whenever outlier detection is set.
        resource["common_lb_config"] = json!({ "healthy_panic_threshold": { "value": 0 } });
    }
    Ok(Built {
        name,
        resource,
        hash_header,
    })
}

/// `lb_policy`, and the hashed header: LEAST_REQUEST by default (Istio's
/// `defaultLBAlgorithm`), LEAST_CONN as LEAST_REQUEST.
fn load_balancer(lb: Option<&LoadBalancer>) -> Result<(&'static str, Option<String>), Gap> {
    let Some(lb) = lb else {
        return Ok(("LEAST_REQUEST", None));
    };
    if let Some(hash) = &lb.consistent_hash {
        return match &hash.http_header_name {
            Some(header) => Ok(("RING_HASH", Some(header.to_ascii_lowercase()))),
            None => Err(Gap::Unsupported(
                "loadBalancer.consistentHash other than httpHeaderName is not translated"
                    .to_owned(),
            )),
        };
    }
    Ok(match lb.simple {
        None | Some(SimpleLb::Unspecified | SimpleLb::LeastRequest | SimpleLb::LeastConn) => {
            ("LEAST_REQUEST", None)
        }
        Some(SimpleLb::RoundRobin) => ("ROUND_ROBIN", None),
        Some(SimpleLb::Random) => ("RANDOM", None),
        Some(SimpleLb::Passthrough) => {
            return Err(Gap::Unsupported(
                "loadBalancer.simple PASSTHROUGH needs original-destination clusters".to_owned(),
            ));
        }
    })
}

/// Circuit-breaker thresholds: what the pool sets (0 counts as unset), the
/// rest at [`UNLIMITED`].
fn thresholds(pool: Option<&ConnectionPool>) -> Value {
    let set = |value: Option<u32>| value.filter(|v| *v > 0).unwrap_or(UNLIMITED);
    let tcp = pool.and_then(|p| p.tcp.as_ref());
    let http = pool.and_then(|p| p.http.as_ref());
    json!({
        "max_connections": set(tcp.and_then(|t| t.max_connections)),
        "max_pending_requests": set(http.and_then(|h| h.http1_max_pending_requests)),
        "max_requests": set(http.and_then(|h| h.http2_max_requests)),
        "max_retries": set(http.and_then(|h| h.max_retries)),
    })
}

/// The upstream codec: HTTP/1.1 for HTTP (with `maxRequestsPerConnection`),
/// HTTP/2 for gRPC;
/// for Thrift the transport and protocol the service's servers speak, which
/// thrift_proxy converts every downstream call to (`AUTO_*`, for servers that
/// detect, means "as the downstream connection").
fn protocol_options(service: &Service, pool: Option<&ConnectionPool>) -> Option<Value> {
    match service.protocol {
        Protocol::Http => {
            let mut options = json!({
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http_protocol_options": {} },
            });
            let per_connection = pool
                .and_then(|p| p.http.as_ref()?.max_requests_per_connection)
                .filter(|n| *n > 0);
            if let Some(n) = per_connection {
                options["common_http_protocol_options"] =
                    json!({ "max_requests_per_connection": n });
            }
            Some(json!({ "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options }))
        }
        Protocol::Grpc => Some(json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} },
            }
        })),
        Protocol::Thrift => Some(json!({
            "envoy.filters.network.thrift_proxy": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.thrift_proxy.v3.ThriftProtocolOptions",
                "transport": match service.thrift.transport {
                    Some(Transport::Framed) => "FRAMED",
                    Some(Transport::Unframed) => "UNFRAMED",
                    None => "AUTO_TRANSPORT",
                },
                "protocol": match service.thrift.encoding {
                    Some(Encoding::Binary | Encoding::LaxBinary) => "BINARY",
                    Some(Encoding::Compact) => "COMPACT",
                    None => "AUTO_PROTOCOL",
                },
            }
        })),
        Protocol::Dubbo | Protocol::Tcp => None,
    }
}

/// `outlierDetection` as istiod's `applyOutlierDetection` writes it: each
/// consecutive-error detector enforcing 100 % when set and 0 % when not,
/// success-rate ejection off, the timers only when written (Envoy's
/// defaults otherwise: 10 s interval, 30 s base ejection, 10 % cap).
fn outlier_detection(outlier: &OutlierDetection) -> Result<Value, Gap> {
    let enforcing = |n: Option<u32>| u32::from(n.is_some_and(|n| n > 0)) * 100;
    let mut out = json!({ "enforcing_success_rate": 0 });
    if let Some(n) = outlier.consecutive_5xx_errors {
        out["consecutive_5xx"] = json!(n);
        out["enforcing_consecutive_5xx"] = json!(enforcing(Some(n)));
    }
    // The deprecated `consecutiveErrors` counts gateway errors only
    // (istio/api#617).
    let gateway = outlier
        .consecutive_gateway_errors
        .or(outlier.consecutive_errors);
    if let Some(n) = gateway {
        out["consecutive_gateway_failure"] = json!(n);
        out["enforcing_consecutive_gateway_failure"] = json!(enforcing(Some(n)));
        if outlier.consecutive_5xx_errors.is_none() && outlier.consecutive_errors.is_some() {
            out["enforcing_consecutive_5xx"] = json!(0);
        }
    }
    let timers = [
        ("interval", outlier.interval.as_deref()),
        ("base_ejection_time", outlier.base_ejection_time.as_deref()),
    ];
    for (field, text) in timers {
        if let Some(text) = text {
            out[field] = json!(proto_duration(duration(text, field)?));
        }
    }
    if let Some(percent) = outlier.max_ejection_percent {
        out["max_ejection_percent"] = json!(percent);
    }
    Ok(out)
}
