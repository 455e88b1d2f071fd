//! DestinationRules and the clusters they shape: subsets select endpoints by
//! labels; `trafficPolicy` gives each cluster its load balancer, connection
//! pool limits and outlier detection.

use std::collections::BTreeMap;
use std::time::Duration;

use super::policy::{check_extension_absent, duration};
use super::{At, CompileError, Object, Reason, Services};
use crate::config::ServiceEndpoints;
use crate::config::objects::istio::{
    ConnectionPool, DestinationRuleSpec, LoadBalancer, OutlierDetection as OutlierSpec, SimpleLb,
    TrafficPolicy,
};
use crate::route::{Cluster, LbPolicy, OutlierDetection, PoolLimits};

/// Envoy's outlier-detection defaults, which Istio keeps when a field is unset.
const DEFAULT_CONSECUTIVE_ERRORS: u32 = 5;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_BASE_EJECTION_TIME: Duration = Duration::from_secs(30);
const DEFAULT_MAX_EJECTION_PERCENT: u32 = 10;

/// The policy parts a cluster takes from its DestinationRule.
#[derive(Debug, Clone)]
struct Policy {
    lb: LbPolicy,
    pool: PoolLimits,
    outlier: Option<OutlierDetection>,
}

impl Default for Policy {
    /// No DestinationRule: round robin (Aeraki's and meshproxy's default;
    /// Istio's own HTTP default became LEAST_REQUEST), no limits, no ejection.
    fn default() -> Self {
        Policy {
            lb: LbPolicy::RoundRobin,
            pool: PoolLimits::default(),
            outlier: None,
        }
    }
}

/// One DestinationRule, compiled: its top-level policy and its subsets.
struct Rule<'a> {
    object: String,
    top: Policy,
    subsets: BTreeMap<&'a str, (&'a BTreeMap<String, String>, Policy)>,
}

/// Every DestinationRule, by service FQDN.
pub(super) struct DestinationRules<'a> {
    by_service: BTreeMap<&'a str, Rule<'a>>,
}

impl<'a> DestinationRules<'a> {
    /// Compiles every DestinationRule, whether or not a route uses it, so
    /// that invalid config fails even when unreferenced.
    ///
    /// # Errors
    /// An unknown host, a second rule for one host, a subset defined twice,
    /// an unsupported or invalid policy field.
    pub(super) fn index(
        objects: &'a [Object],
        services: &Services<'a>,
    ) -> Result<Self, CompileError> {
        let mut by_service: BTreeMap<&'a str, Rule<'a>> = BTreeMap::new();
        for object in objects {
            let Object::DestinationRule(rule) = object else {
                continue;
            };
            let name = object.describe();
            let root = At::root(&name);
            check_extension_absent(&rule.metadata, &root)?;
            let at = root.field("spec");
            let service =
                services.require(&rule.spec.host, &rule.metadata.namespace, &at.field("host"))?;
            if let Some(other) = by_service.get(service.name.as_str()) {
                return Err(at.field("host").error(Reason::Duplicate {
                    host: service.name.clone(),
                    other: other.object.clone(),
                }));
            }
            let compiled = compile_rule(&rule.spec, name.clone(), &at)?;
            by_service.insert(service.name.as_str(), compiled);
        }
        Ok(DestinationRules { by_service })
    }

    /// The cluster of `service`'s `subset` (or the whole service), with its
    /// endpoints and policy.
    ///
    /// A subset selecting no endpoint is valid (a mesh can have no healthy
    /// upstream): the cluster is empty and the data plane answers "no
    /// healthy upstream".
    ///
    /// # Errors
    /// A subset no DestinationRule for the service defines, reported at `at`.
    pub(super) fn cluster(
        &self,
        service: &ServiceEndpoints,
        subset: Option<&str>,
        at: &At,
    ) -> Result<Cluster, CompileError> {
        let rule = self.by_service.get(service.name.as_str());
        let (labels, policy) = match (subset, rule) {
            (None, None) => (None, Policy::default()),
            (None, Some(rule)) => (None, rule.top.clone()),
            (Some(subset), rule) => {
                let found = rule.and_then(|r| r.subsets.get(subset));
                let (labels, policy) = found.ok_or_else(|| {
                    at.error(Reason::UnknownSubset {
                        subset: subset.to_owned(),
                        host: service.name.clone(),
                    })
                })?;
                (Some(*labels), policy.clone())
            }
        };
        let endpoints = service
            .endpoints
            .iter()
            .filter(|e| {
                labels.is_none_or(|wanted| wanted.iter().all(|(k, v)| e.labels.get(k) == Some(v)))
            })
            .map(|e| e.address)
            .collect();
        Ok(Cluster {
            name: format!(
                "outbound|{}|{}|{}",
                service.port,
                subset.unwrap_or(""),
                service.name
            ),
            service: service.name.clone(),
            port: service.port,
            subset: subset.map(str::to_owned),
            endpoints,
            lb: policy.lb,
            pool: policy.pool,
            outlier: policy.outlier,
        })
    }
}

/// The consistent-hash key of a balancer, which the route hashes.
pub(super) fn hash_key(lb: &LbPolicy) -> Option<String> {
    match lb {
        LbPolicy::ConsistentHash(key) => Some(key.clone()),
        _ => None,
    }
}

fn compile_rule<'a>(
    spec: &'a DestinationRuleSpec,
    object: String,
    at: &At,
) -> Result<Rule<'a>, CompileError> {
    let top_at = at.field("trafficPolicy");
    let top = merge(None, spec.traffic_policy.as_ref(), &top_at, &top_at)?;
    let mut subsets = BTreeMap::new();
    for (index, subset) in spec.subsets.iter().enumerate() {
        let at = at.field("subsets").index(index);
        if subset.name.is_empty() {
            return Err(at.field("name").error(Reason::Missing));
        }
        let policy = merge(
            spec.traffic_policy.as_ref(),
            subset.traffic_policy.as_ref(),
            &top_at,
            &at.field("trafficPolicy"),
        )?;
        if subsets
            .insert(subset.name.as_str(), (&subset.labels, policy))
            .is_some()
        {
            return Err(at
                .field("name")
                .error(Reason::DefinedTwice(subset.name.clone())));
        }
    }
    Ok(Rule {
        object,
        top,
        subsets,
    })
}

/// The policy of a subset: each of `loadBalancer`, `connectionPool` and
/// `outlierDetection` is taken whole from the subset when it sets it, else
/// from the top level (Istio's merge), else defaulted.
fn merge(
    top: Option<&TrafficPolicy>,
    own: Option<&TrafficPolicy>,
    top_at: &At,
    own_at: &At,
) -> Result<Policy, CompileError> {
    fn pick<'p, T>(
        top: Option<&'p TrafficPolicy>,
        own: Option<&'p TrafficPolicy>,
        part: fn(&TrafficPolicy) -> Option<&T>,
    ) -> (Option<&'p T>, bool) {
        match own.and_then(part) {
            Some(value) => (Some(value), true),
            None => (top.and_then(part), false),
        }
    }
    let at = |own: bool, name: &str| {
        if own {
            own_at.field(name)
        } else {
            top_at.field(name)
        }
    };
    let mut policy = Policy::default();
    if let (Some(lb), own) = pick(top, own, |p| p.load_balancer.as_ref()) {
        policy.lb = load_balancer(lb, &at(own, "loadBalancer"))?;
    }
    if let (Some(pool), own) = pick(top, own, |p| p.connection_pool.as_ref()) {
        policy.pool = pool_limits(pool, &at(own, "connectionPool"))?;
    }
    if let (Some(outlier), own) = pick(top, own, |p| p.outlier_detection.as_ref()) {
        policy.outlier = Some(outlier_detection(outlier, &at(own, "outlierDetection"))?);
    }
    Ok(policy)
}

fn load_balancer(lb: &LoadBalancer, at: &At) -> Result<LbPolicy, CompileError> {
    match (&lb.simple, &lb.consistent_hash) {
        (Some(_), Some(_)) => Err(at
            .field("consistentHash")
            .error(Reason::Exclusive("simple"))),
        (Some(SimpleLb::Passthrough), None) => Err(at
            .field("simple")
            .error(Reason::UnsupportedValue("PASSTHROUGH".to_owned()))),
        (Some(SimpleLb::Unspecified | SimpleLb::RoundRobin), None) | (None, None) => {
            Ok(LbPolicy::RoundRobin)
        }
        (Some(SimpleLb::Random), None) => Ok(LbPolicy::Random),
        (Some(SimpleLb::LeastRequest | SimpleLb::LeastConn), None) => Ok(LbPolicy::LeastRequest),
        (None, Some(hash)) => {
            let at = at.field("consistentHash");
            let unsupported = [
                ("httpCookie", hash.http_cookie.is_some()),
                ("useSourceIp", hash.use_source_ip.is_some()),
                (
                    "httpQueryParameterName",
                    hash.http_query_parameter_name.is_some(),
                ),
                ("ringHash", hash.ring_hash.is_some()),
                ("maglev", hash.maglev.is_some()),
                ("minimumRingSize", hash.minimum_ring_size.is_some()),
            ];
            if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
                return Err(at.field(field).error(Reason::Unsupported));
            }
            match hash.http_header_name.as_deref() {
                Some(header) if !header.is_empty() => {
                    Ok(LbPolicy::ConsistentHash(header.to_ascii_lowercase()))
                }
                _ => Err(at.field("httpHeaderName").error(Reason::Missing)),
            }
        }
    }
}

fn pool_limits(pool: &ConnectionPool, at: &At) -> Result<PoolLimits, CompileError> {
    let tcp = pool.tcp.as_ref();
    let http = pool.http.as_ref();
    let connect_timeout = match tcp.and_then(|t| t.connect_timeout.as_deref()) {
        Some(text) => Some(duration(text, &at.field("tcp").field("connectTimeout"))?),
        None => None,
    };
    Ok(PoolLimits {
        max_connections: tcp.and_then(|t| t.max_connections),
        max_pending_requests: http.and_then(|h| h.http1_max_pending_requests),
        max_requests_per_connection: http.and_then(|h| h.max_requests_per_connection),
        max_retries: http.and_then(|h| h.max_retries),
        connect_timeout,
    })
}

/// Istio's translation: `consecutiveErrors` is the deprecated name of
/// `consecutive5xxErrors`; with neither set the 5xx threshold is Envoy's
/// default 5, unless only `consecutiveGatewayErrors` is set (then 5xx
/// ejection is off); 0 turns a threshold off.
fn outlier_detection(spec: &OutlierSpec, at: &At) -> Result<OutlierDetection, CompileError> {
    if spec.consecutive_5xx_errors.is_some() && spec.consecutive_errors.is_some() {
        return Err(at
            .field("consecutiveErrors")
            .error(Reason::Exclusive("consecutive5xxErrors")));
    }
    if let Some(percent) = spec.max_ejection_percent.filter(|p| *p > 100) {
        return Err(at
            .field("maxEjectionPercent")
            .error(Reason::PercentOutOfRange(f64::from(percent))));
    }
    let five_xx = spec.consecutive_5xx_errors.or(spec.consecutive_errors);
    let five_xx = match (five_xx, spec.consecutive_gateway_errors) {
        (None, None) => Some(DEFAULT_CONSECUTIVE_ERRORS),
        (five_xx, _) => five_xx,
    };
    let optional = |text: Option<&str>, name: &str, default: Duration| match text {
        Some(text) => duration(text, &at.field(name)),
        None => Ok(default),
    };
    Ok(OutlierDetection {
        consecutive_errors: five_xx.filter(|n| *n > 0),
        consecutive_gateway_errors: spec.consecutive_gateway_errors.filter(|n| *n > 0),
        interval: optional(spec.interval.as_deref(), "interval", DEFAULT_INTERVAL)?,
        base_ejection_time: optional(
            spec.base_ejection_time.as_deref(),
            "baseEjectionTime",
            DEFAULT_BASE_EJECTION_TIME,
        )?,
        max_ejection_percent: spec
            .max_ejection_percent
            .unwrap_or(DEFAULT_MAX_EJECTION_PERCENT),
    })
}
