//! Aeraki `MetaRouter` (`metaprotocol.aeraki.io/v1alpha1`), from
//! `aeraki-mesh/api: metaprotocol/v1alpha1/metaprotocol_metarouter.proto`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Destination, KeyValue, Percent, StringMatch};

/// meshbench's extension annotation on a MetaRouter: per-route timeout,
/// retries and fault, which Aeraki's MetaRouter has no field for. A YAML
/// map from route name to [`RoutePolicy`].
pub const ROUTE_POLICIES_ANNOTATION: &str = "meshbench.io/route-policies";

/// `MetaRouter.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetaRouterSpec {
    /// The routed service. Only the first host counts, as in Aeraki.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Gateways the router applies to; absent or containing `mesh` means the sidecars.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Namespace visibility. Accepted with no effect: meshproxy sees every object.
    #[serde(default)]
    pub export_to: Vec<String>,
    /// Ordered routes; the first match wins.
    #[serde(default)]
    pub routes: Vec<MetaRoute>,
    /// Inbound token bucket: parsed only to be refused by the compiler.
    pub local_rate_limit: Option<IgnoredAny>,
    /// External rate-limit service: parsed only to be refused by the compiler.
    pub global_rate_limit: Option<IgnoredAny>,
}

/// One MetaRouter route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetaRoute {
    /// `%ROUTE_NAME%`; the route-policies extension refers to it.
    #[serde(default)]
    pub name: String,
    /// When the route applies; absent means always.
    #[serde(rename = "match")]
    pub match_: Option<MetaRouteMatch>,
    /// Weighted destinations (required).
    #[serde(default)]
    pub route: Vec<MetaRouteDestination>,
    /// Where a copy of each request goes.
    pub mirror: Option<Destination>,
    /// The mirrored share; absent or 0 means 100 % (Aeraki's translation).
    pub mirror_percentage: Option<Percent>,
    /// Attributes to set on the request (the codec decides what that means).
    #[serde(default)]
    pub request_mutation: Vec<KeyValue>,
    /// Attributes to set on the response.
    #[serde(default)]
    pub response_mutation: Vec<KeyValue>,
}

/// `match: {attributes: {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaRouteMatch {
    /// Attribute name to match, all ANDed; a null match means present.
    #[serde(default)]
    pub attributes: BTreeMap<String, Option<StringMatch>>,
}

/// One weighted destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaRouteDestination {
    /// Where.
    pub destination: Destination,
    /// Relative weight; ignored for a single destination.
    #[serde(default)]
    pub weight: u32,
}

/// One entry of the `meshbench.io/route-policies` annotation: the timeout,
/// retry and fault policies MetaRouter lacks, in the shapes of the
/// VirtualService fields of the same names (and parsed by the same types).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePolicy {
    /// The whole request's deadline, a Go duration; `0s` means none.
    pub timeout: Option<String>,
    /// Retries.
    pub retries: Option<super::istio::HttpRetry>,
    /// Injected delay and abort; `abort.httpStatus` is answered as the
    /// protocol's error.
    pub fault: Option<super::istio::HttpFault>,
}
