//! The routing objects as written, mid-run phases, and the `proxy:` block.

use super::*;

/// A Kubernetes object kept as written (apiVersion, kind, metadata, spec).
/// `sim` reads only what its structural checks need; the proxy adapters
/// parse the rest, and reject what they do not support.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct RoutingObject(pub Node);

impl RoutingObject {
    /// `kind`, e.g. `MetaRouter`.
    pub fn kind(&self) -> Option<&str> {
        self.0.get("kind").and_then(Node::as_str)
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> Option<&str> {
        self.0.get("apiVersion").and_then(Node::as_str)
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.0.path(&["metadata", "name"]).and_then(Node::as_str)
    }

    /// `metadata.namespace`, `default` when absent (as kubectl does).
    pub fn namespace(&self) -> &str {
        self.0
            .path(&["metadata", "namespace"])
            .and_then(Node::as_str)
            .unwrap_or("default")
    }

    /// `Kind namespace/name`, the way messages name an object.
    pub fn describe(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind().unwrap_or("object"),
            self.namespace(),
            self.name().unwrap_or("?")
        )
    }

    /// `(kind, namespace, name)`: applying an object with the same identity
    /// replaces the previous one.
    pub fn identity(&self) -> (String, String, String) {
        (
            self.kind().unwrap_or_default().to_owned(),
            self.namespace().to_owned(),
            self.name().unwrap_or_default().to_owned(),
        )
    }

    /// The object as JSON, for a proxy adapter.
    pub fn to_json(&self) -> serde_json::Value {
        self.0.to_json()
    }
}

impl JsonSchema for RoutingObject {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RoutingObject".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "A Kubernetes routing object as a user applies it: Aeraki MetaRouter, Istio VirtualService or DestinationRule.",
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {
                "apiVersion": { "type": "string" },
                "kind": { "enum": ["MetaRouter", "VirtualService", "DestinationRule"] },
                "metadata": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string" },
                        "namespace": { "type": "string" }
                    }
                },
                "spec": { "type": "object" }
            }
        })
    }
}

/// A routing change during the run.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// The phase's name, for `of: {phase: …}` (default `phase-1`, `phase-2`…;
    /// the routing before the first phase is `initial`).
    #[serde(default)]
    pub name: Option<Located<String>>,
    /// When the objects are applied (written `at`).
    #[serde(rename = "at")]
    pub start: PhaseStart,
    /// The objects to apply: one with the kind, namespace and name of an
    /// earlier object replaces it, others are added.
    pub routing: Vec<RoutingObject>,
}

/// When a phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PhaseStart {
    /// This long after the workload starts: `{time: 5s}`.
    Time(TextDuration),
    /// After the workload has sent this many requests (all clients): `{requests: 10000}`.
    Requests(u64),
}

// === proxy ===

/// The `proxy:` block: settings of the proxy under test that a mesh
/// generates itself rather than reading from a routing object. A proxy
/// adapter that cannot apply one refuses the scenario rather than run it
/// with its own default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// The downstream idle timeout: a client connection on which nothing
    /// arrives for this long (no request, no heartbeat) with nothing in
    /// flight is closed. This is MetaProtocolProxy's `idle_timeout`, which
    /// Aeraki writes into the EnvoyFilter it generates; no MetaRouter or
    /// VirtualService field sets it. Absent: the proxy's own default
    /// (meshproxy: 300s).
    #[serde(default)]
    pub idle_timeout: Option<Located<TextDuration>>,
    /// The proxy's worker threads (Istio's `concurrency`, 2 by default for
    /// sidecars). Envoy keeps one connection pool per worker and host, so
    /// circuit-breaker overflow counts are exact only with one worker; a
    /// scenario that asserts an exact count pins it to 1. The reference
    /// proxy's pools are shared like one worker's. Absent: the proxy's default.
    #[serde(default)]
    pub workers: Option<Located<u32>>,
}

/// What a scenario asks of the proxy beyond its routing objects: what an
/// adapter may be unable to do to the proxy it drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxySetting {
    /// Change the routing mid-run (`phases`).
    Phases,
    /// Set the downstream idle timeout (`proxy.idle_timeout`).
    IdleTimeout,
    /// Set the worker count (`proxy.workers`).
    Workers,
}

impl std::fmt::Display for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProxySetting::Phases => "phases",
            ProxySetting::IdleTimeout => "proxy.idle_timeout",
            ProxySetting::Workers => "proxy.workers",
        })
    }
}
