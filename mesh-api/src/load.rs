//! Reads objects from YAML as users paste them: a multi-document stream, a
//! top-level list, a `kind: List` (what `kubectl get -o yaml` prints), or any
//! mix of these.
//!
//! The envelope is read key by key so that `spec` is parsed straight into the
//! type its `apiVersion`/`kind` selects, keeping serde-saphyr's line and
//! column in errors. When `spec` comes before `apiVersion` or `kind` (rare;
//! kubectl prints them first), it is buffered and parsed afterwards, and its
//! errors then carry only the position of the object.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{DestinationRuleSpec, MetaRouterSpec, Metadata, Object, Resource, VirtualServiceSpec};

const AERAKI: &str = "metaprotocol.aeraki.io/v1alpha1";
const ISTIO: [&str; 3] = [
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
];
const ENVELOPE: &[&str] = &["apiVersion", "kind", "metadata", "spec", "items", "status"];

/// Parses every routing object in `yaml`, in the order written.
///
/// # Errors
/// The parser's error, with line and column, for YAML syntax errors,
/// unknown fields (including valid Istio fields meshbench does not model),
/// wrong types, and an unknown `apiVersion`/`kind` pair (named in the message).
pub fn load_objects(yaml: &str) -> Result<Vec<Object>, serde_saphyr::Error> {
    let documents: Vec<Documents> = serde_saphyr::from_multiple_with_options(yaml, options())?;
    Ok(documents.into_iter().flat_map(|d| d.0).collect())
}

/// The objects of one node read from any deserializer: an object, a `List`,
/// or a sequence of either. The deserializer's errors keep its positions.
///
/// # Errors
/// As [`load_objects`], in the deserializer's error type.
pub fn objects<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Object>, D::Error> {
    Documents::deserialize(deserializer).map(|d| d.0)
}

/// Parses one YAML (or JSON) document into `T`, with the same options as
/// [`load_objects`].
///
/// # Errors
/// The parser's error, with line and column.
pub fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// Plain errors: the position goes into [`ConfigError`], not a source snippet.
fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}

/// The objects of one YAML node: an object, a `List`, or a sequence of either.
struct Documents(Vec<Object>);

impl<'de> Deserialize<'de> for Documents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentsVisitor)
    }
}

struct DocumentsVisitor;

/// The kinds, once `apiVersion` and `kind` are known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    MetaRouter,
    VirtualService,
    DestinationRule,
    List,
}

impl Kind {
    fn of<E: de::Error>(api_version: &str, kind: &str) -> Result<Kind, E> {
        match (api_version, kind) {
            (AERAKI, "MetaRouter") => Ok(Kind::MetaRouter),
            (v, "VirtualService") if ISTIO.contains(&v) => Ok(Kind::VirtualService),
            (v, "DestinationRule") if ISTIO.contains(&v) => Ok(Kind::DestinationRule),
            ("v1", "List") => Ok(Kind::List),
            _ => Err(E::invalid_value(
                de::Unexpected::Other(&format!("kind '{kind}' of apiVersion '{api_version}'")),
                &"MetaRouter (metaprotocol.aeraki.io/v1alpha1), VirtualService or DestinationRule \
                  (networking.istio.io/v1alpha3, v1beta1 or v1), or List (v1)",
            )),
        }
    }
}

/// A parsed `spec` or List `items`, or a `spec` kept as a generic value
/// until the kind is known.
enum Body {
    MetaRouter(MetaRouterSpec),
    VirtualService(VirtualServiceSpec),
    DestinationRule(DestinationRuleSpec),
    Items(Vec<Object>),
    Pending(serde_json::Value),
}

impl Body {
    /// Parses the `spec` of a `kind` from `deserializer`: the YAML itself,
    /// or a buffered value.
    fn parse<'de, D: Deserializer<'de>>(kind: Kind, deserializer: D) -> Result<Body, D::Error> {
        match kind {
            Kind::List => Err(de::Error::unknown_field("spec", ENVELOPE)),
            Kind::MetaRouter => Deserialize::deserialize(deserializer).map(Body::MetaRouter),
            Kind::VirtualService => {
                Deserialize::deserialize(deserializer).map(Body::VirtualService)
            }
            Kind::DestinationRule => {
                Deserialize::deserialize(deserializer).map(Body::DestinationRule)
            }
        }
    }

    /// The objects this body and its envelope make.
    fn into_objects<E: de::Error>(
        self,
        kind: Kind,
        api_version: String,
        metadata: Option<Metadata>,
    ) -> Result<Vec<Object>, E> {
        let body = match self {
            Body::Pending(value) => {
                Body::parse(kind, value).map_err(|e| E::custom(format!("spec: {e}")))?
            }
            body => body,
        };
        Ok(match body {
            Body::Items(items) => items,
            Body::Pending(_) => return Err(E::custom("spec: left unparsed")),
            Body::MetaRouter(spec) => {
                vec![Object::MetaRouter(resource(api_version, metadata, spec)?)]
            }
            Body::VirtualService(spec) => vec![Object::VirtualService(resource(
                api_version,
                metadata,
                spec,
            )?)],
            Body::DestinationRule(spec) => vec![Object::DestinationRule(resource(
                api_version,
                metadata,
                spec,
            )?)],
        })
    }
}

/// An object's envelope and spec; every object needs a name.
fn resource<S, E: de::Error>(
    api_version: String,
    metadata: Option<Metadata>,
    spec: S,
) -> Result<Resource<S>, E> {
    match metadata {
        None => Err(E::missing_field("metadata")),
        Some(m) if m.name.is_empty() => Err(E::missing_field("metadata.name")),
        Some(metadata) => Ok(Resource {
            api_version,
            metadata,
            spec,
        }),
    }
}

impl<'de> Visitor<'de> for DocumentsVisitor {
    type Value = Documents;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object, a list of objects, or a kind: List")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Documents, E> {
        Ok(Documents(Vec::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Documents, A::Error> {
        let mut objects = Vec::new();
        while let Some(Documents(more)) = seq.next_element()? {
            objects.extend(more);
        }
        Ok(Documents(objects))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Documents, A::Error> {
        let (mut api_version, mut kind) = (None::<String>, None::<String>);
        let mut metadata = None::<Metadata>;
        let mut body = None::<Body>;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => api_version = Some(map.next_value()?),
                "kind" => kind = Some(map.next_value()?),
                "metadata" => metadata = Some(map.next_value()?),
                "status" => drop(map.next_value::<IgnoredAny>()?),
                // Only a List has items, whatever its key order.
                "items" => body = Some(Body::Items(map.next_value::<Documents>()?.0)),
                "spec" => {
                    body = Some(match (&api_version, &kind) {
                        (Some(v), Some(k)) => map.next_value_seed(BodySeed(Kind::of(v, k)?))?,
                        _ => Body::Pending(map.next_value()?),
                    });
                }
                other => return Err(de::Error::unknown_field(other, ENVELOPE)),
            }
        }
        let api_version = api_version.ok_or_else(|| de::Error::missing_field("apiVersion"))?;
        let kind_name = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let kind = Kind::of(&api_version, &kind_name)?;
        let body = match body {
            Some(Body::Items(_)) if kind != Kind::List => {
                return Err(de::Error::unknown_field("items", ENVELOPE));
            }
            Some(body) => body,
            None if kind == Kind::List => Body::Items(Vec::new()),
            None => return Err(de::Error::missing_field("spec")),
        };
        body.into_objects(kind, api_version, metadata)
            .map(Documents)
    }
}

/// Parses a `spec` whose kind is known, straight from the YAML.
struct BodySeed(Kind);

impl<'de> de::DeserializeSeed<'de> for BodySeed {
    type Value = Body;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Body, D::Error> {
        Body::parse(self.0, deserializer)
    }
}
