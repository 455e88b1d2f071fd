//! The mesh's routing objects as a user applies them: Aeraki `MetaRouter`
//! and Istio `VirtualService` / `DestinationRule`, as serde types that follow
//! the CRDs' YAML (camelCase) field by field, and the loader that reads them.
//! The scenario checker, the reference proxy's compiler and every proxy
//! adapter read routing through these types, so a typo anywhere inside a
//! routing object is one error, reported once, for every proxy.
//!
//! Every spec-level struct denies unknown fields: a valid Istio field that
//! meshbench does not model must fail loudly, naming itself, rather than be
//! ignored while the bench reports a pass. A few valid fields are parsed
//! only so that a consumer can reject them with a clearer "not supported"
//! error (they are typed [`IgnoredAny`](serde::de::IgnoredAny)).
//!
//! # Layout
//! - this file: the [`Object`] envelope, metadata, the types the kinds share.
//! - [`aeraki`]: the `MetaRouter` kind.
//! - [`istio`]: the `VirtualService` and `DestinationRule` kinds.
//! - `load`: [`load_objects`] from YAML text, and [`objects`] from any serde
//!   deserializer (the scenario loader's, which keeps file positions).
//! - [`duration`]: Go duration strings, as Istio writes them (`2s`, `100ms`).
//! - [`hosts`]: which service a routing object's host names, and the DNS
//!   names a sidecar answers to.
#![forbid(unsafe_code)]

pub mod aeraki;
pub mod duration;
pub mod hosts;
pub mod istio;
mod load;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use aeraki::MetaRouterSpec;
pub use istio::{DestinationRuleSpec, VirtualServiceSpec};
pub use load::{load_objects, objects, parse_yaml};

/// One routing object, dispatched on `apiVersion` and `kind`.
#[derive(Debug, Clone)]
pub enum Object {
    /// `metaprotocol.aeraki.io/v1alpha1` `MetaRouter`.
    MetaRouter(Resource<MetaRouterSpec>),
    /// `networking.istio.io/{v1alpha3,v1beta1,v1}` `VirtualService`.
    VirtualService(Resource<VirtualServiceSpec>),
    /// `networking.istio.io/{v1alpha3,v1beta1,v1}` `DestinationRule`.
    DestinationRule(Resource<DestinationRuleSpec>),
}

impl Object {
    /// The Kubernetes kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::MetaRouter(_) => "MetaRouter",
            Object::VirtualService(_) => "VirtualService",
            Object::DestinationRule(_) => "DestinationRule",
        }
    }

    /// Name, namespace, labels and annotations.
    pub fn metadata(&self) -> &Metadata {
        match self {
            Object::MetaRouter(r) => &r.metadata,
            Object::VirtualService(r) => &r.metadata,
            Object::DestinationRule(r) => &r.metadata,
        }
    }

    /// `Kind namespace/name`, the way every error and report names the object.
    pub fn describe(&self) -> String {
        let metadata = self.metadata();
        format!("{} {}/{}", self.kind(), metadata.namespace, metadata.name)
    }
}

/// An object's `apiVersion`, `metadata` and `spec` (its `kind` is the [`Object`] variant).
#[derive(Debug, Clone)]
pub struct Resource<S> {
    /// As written, e.g. `networking.istio.io/v1beta1` (all accepted versions
    /// share one schema).
    pub api_version: String,
    /// Name, namespace, labels, annotations.
    pub metadata: Metadata,
    /// The kind-specific part.
    pub spec: S,
}

/// The metadata meshproxy uses. Other keys (`resourceVersion`, `uid`,
/// `creationTimestamp`, `managedFields`…) are ignored: `kubectl get -o yaml`
/// prints them, and users paste that output.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// The object name; required by the loader for every object (a `List`'s
    /// metadata has none, hence the serde default).
    #[serde(default)]
    pub name: String,
    /// The namespace, which short host names expand with; `default` when absent, as kubectl does.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Labels (kept for reports; routing does not read them).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations; `meshbench.io/route-policies` carries the MetaRouter extension.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_namespace() -> String {
    "default".to_owned()
}

/// Istio/Aeraki `StringMatch`: one of `exact`, `prefix`, `regex` (RE2, whole
/// value). Empty (`{}`), `exact: ""` and `regex: "*"` mean "present".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringMatch {
    /// Equal to this.
    pub exact: Option<String>,
    /// Starts with this.
    pub prefix: Option<String>,
    /// Matches this regex over the whole value.
    pub regex: Option<String>,
}

/// A destination: service host, optional subset, optional port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// The service: FQDN, `<short>` or `<short>.<namespace>`.
    pub host: String,
    /// A subset a DestinationRule defines for the host.
    pub subset: Option<String>,
    /// The port; must be the service's port when given.
    pub port: Option<PortSelector>,
}

/// `port: {number: 9090}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSelector {
    /// The port number (u32 so that an out-of-range port is a compile error
    /// naming the port, not a parse error).
    pub number: u32,
}

/// `{value: 12.5}`: a percentage as a double.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Percent {
    /// In [0, 100].
    #[serde(default)]
    pub value: f64,
}

/// `{key: k, value: v}`: one Aeraki request/response mutation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    /// Header or attachment name.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// One routing object as a proxy adapter receives it: typed, for adapters
/// that translate it (the reference proxy, Envoy), and as the document the
/// user wrote, for adapters that hand it on unchanged (a proxy's admin API,
/// a Kubernetes cluster).
#[derive(Debug, Clone)]
pub struct Routing {
    object: Object,
    document: serde_json::Value,
}

impl Routing {
    /// Reads one object from its JSON document.
    ///
    /// # Errors
    /// When the document is not exactly one object of a known kind whose
    /// fields are all known (the message names what is wrong).
    pub fn from_json(document: serde_json::Value) -> Result<Routing, String> {
        let mut objects = objects(&document).map_err(|e| e.to_string())?;
        match (objects.pop(), objects.is_empty()) {
            (Some(object), true) => Ok(Routing { object, document }),
            _ => Err("a routing entry must be one object".to_owned()),
        }
    }

    /// The typed object.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The document as written.
    pub fn document(&self) -> &serde_json::Value {
        &self.document
    }
}

/// Two routings are equal when their documents are: the typed object is
/// read from the document.
impl PartialEq for Routing {
    fn eq(&self, other: &Routing) -> bool {
        self.document == other.document
    }
}
