//! The value types of the scenario format, each with one written form:
//! positions ([`Located`]), durations (`2ms`), percentages (`5%`), weights
//! (integers, as in Istio), rates (`5000/s`), ordered maps and raw YAML
//! nodes (for the Kubernetes routing objects, kept as written).

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// A position in a scenario file: 1-based line and column (in characters),
/// as editors count them. Line 0 means "not from the file" (a default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Position {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, counted in characters.
    pub column: u32,
}

impl Position {
    /// The position of values that were not written in the file (defaults).
    pub const UNKNOWN: Position = Position { line: 0, column: 0 };

    /// Whether the position points into the file.
    pub fn is_known(self) -> bool {
        self.line > 0
    }
}

impl From<serde_saphyr::Location> for Position {
    fn from(location: serde_saphyr::Location) -> Self {
        Position {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            column: u32::try_from(location.column()).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value and where the file wrote it, so that semantic checks can point at
/// the offending node. Compares and hashes by value only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written ([`Position::UNKNOWN`] for defaults).
    pub at: Position,
}

impl<T> Located<T> {
    /// A value that was not written in the file.
    pub fn unlocated(value: T) -> Self {
        Located {
            value,
            at: Position::UNKNOWN,
        }
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Located<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Located<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<T>::deserialize(d)?;
        Ok(Located {
            value: spanned.value,
            at: spanned.referenced.into(),
        })
    }
}

impl<T: Serialize> Serialize for Located<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// Splits `message` into a message and a hint: custom deserialisation
/// errors put the hint after [`HINT`].
pub(crate) const HINT: &str = "\nhint: ";

// === durations ===

/// A duration written as text: `250us`, `2ms`, `1.5s`, `1m` (see
/// [`crate::duration::parse`]). A bare number is an error: the unit is
/// always written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TextDuration(pub Duration);

impl TextDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for TextDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", show_duration(self.0))
    }
}

/// `2ms`, `1.5s`, `250us`: the shortest exact text of a duration.
pub fn show_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let (value, unit) = if nanos == 0 {
        (0.0, "s")
    } else if nanos.is_multiple_of(60_000_000_000) {
        (nanos as f64 / 6e10, "m")
    } else if nanos >= 1_000_000_000 {
        (nanos as f64 / 1e9, "s")
    } else if nanos >= 1_000_000 {
        (nanos as f64 / 1e6, "ms")
    } else if nanos >= 1_000 {
        (nanos as f64 / 1e3, "us")
    } else {
        (nanos as f64, "ns")
    };
    format!("{value}{unit}")
}

impl<'de> Deserialize<'de> for TextDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = TextDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as '2ms'")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextDuration, E> {
                crate::duration::parse(v).map(TextDuration).map_err(|e| {
                    E::custom(format!(
                        "{e}{HINT}write a duration such as '2ms', '1.5s' or '1m'"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TextDuration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TextDuration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TextDuration, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Text)
    }
}

impl JsonSchema for TextDuration {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m)$",
            "description": "A duration with its unit: ns, us, ms, s or m (e.g. 2ms, 1.5s).",
            "examples": ["2ms", "1.5s"]
        })
    }
}

// === percentages ===

/// A share of requests, written as a percentage with its sign: `5%`,
/// `0.5%`, `100%`. A bare number is an error (is `0.05` five percent or a
/// twentieth of one?). Holds the fraction in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percent(f64);

impl Percent {
    /// `percent` percent; `None` unless it is within [0, 100].
    pub fn new(percent: f64) -> Option<Percent> {
        (0.0..=100.0)
            .contains(&percent)
            .then_some(Percent(percent / 100.0))
    }

    /// The fraction in [0, 1] (`5%` is 0.05).
    pub fn fraction(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.0 * 100.0 * 1e9).round() / 1e9;
        write!(f, "{percent}%")
    }
}

fn percent_hint() -> String {
    format!("{HINT}write a percentage with its sign, e.g. '5%' or '0.5%'")
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage such as '5%'")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                let text = v.trim();
                let Some(number) = text.strip_suffix('%') else {
                    return Err(E::custom(format!(
                        "'{text}' is not a percentage{}",
                        percent_hint()
                    )));
                };
                let value: f64 = number.trim().parse().map_err(|_| {
                    E::custom(format!("'{text}' is not a percentage{}", percent_hint()))
                })?;
                Percent::new(value).ok_or_else(|| {
                    E::custom(format!("percentage '{text}' is not between 0% and 100%"))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                Err(E::custom(format!(
                    "'{v}' is not a percentage{}",
                    percent_hint()
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                Err(E::custom(format!(
                    "'{v}' is not a percentage{}",
                    percent_hint()
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                Err(E::custom(format!(
                    "'{v}' is not a percentage{}",
                    percent_hint()
                )))
            }
        }
        d.deserialize_any(Text)
    }
}

impl JsonSchema for Percent {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?%$",
            "description": "A percentage with its sign, between 0% and 100% (e.g. 5%, 0.5%).",
            "examples": ["5%", "100%"]
        })
    }
}

// === weights ===

/// A relative weight: a non-negative integer, as Istio writes route weights
/// (`20` and `80`). Weights are normalised by their sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Weight(pub u32);

fn weight_hint() -> String {
    format!("{HINT}weights are whole numbers, as in Istio (e.g. 20 and 80)")
}

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Whole;
        impl Visitor<'_> for Whole {
            type Value = Weight;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Weight, E> {
                u32::try_from(v)
                    .map(Weight)
                    .map_err(|_| E::custom(format!("weight {v} is too large")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Weight, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("weight {v} is negative"))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Weight, E> {
                Err(E::custom(format!(
                    "weight '{v}' is not a whole number{}",
                    weight_hint()
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Weight, E> {
                Err(E::custom(format!(
                    "weight '{v}' is not a whole number{}",
                    weight_hint()
                )))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Weight, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Whole)
    }
}

impl JsonSchema for Weight {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Weight".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 0,
            "description": "A relative weight, a whole number as Istio writes route weights."
        })
    }
}

// === rates ===

/// A request rate written with its unit: `5000/s`, `300/m` or `2/ms`.
/// Holds requests per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// Parses `<number>/<unit>` with unit `ms`, `s` or `m`.
    ///
    /// # Errors
    /// A sentence naming the text when it is not a positive rate.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let Some((number, unit)) = text.split_once('/') else {
            return Err(format!(
                "rate '{text}' has no unit{HINT}write a rate such as '5000/s' (per ms, s or m)"
            ));
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("rate '{text}' does not start with a number"))?;
        let per_second = match unit.trim() {
            "ms" => value * 1e3,
            "s" => value,
            "m" => value / 60.0,
            other => {
                return Err(format!(
                    "rate '{text}' has unknown unit '{other}' (ms, s or m)"
                ));
            }
        };
        if per_second.is_finite() && per_second > 0.0 {
            Ok(Rate(per_second))
        } else {
            Err(format!("rate '{text}' is not positive"))
        }
    }

    /// Requests per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", (self.0 * 1e6).round() / 1e6)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate such as '5000/s'")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                Rate::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Text)
    }
}

impl JsonSchema for Rate {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?/(ms|s|m)$",
            "description": "A request rate with its unit (per ms, s or m), e.g. 5000/s.",
            "examples": ["5000/s"]
        })
    }
}

// === ordered maps ===

/// A YAML mapping whose order matters (versions are listed as written) and
/// whose keys keep their positions. Duplicate keys are a parse error.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(Located<String>, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    /// The entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&Located<String>, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
    }

    /// The keys in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.value.as_str())
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Located<String>>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for Ordered<V> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let values = generator.subschema_for::<V>();
        json_schema!({
            "type": "object",
            "additionalProperties": values
        })
    }
}

// === raw YAML ===

/// A YAML node kept as written, with its position: how routing objects are
/// held, since `sim` does not know their schemas (the proxy adapters do).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub at: Position,
    /// What it holds.
    pub value: NodeValue,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or a float, as YAML typed it.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order; keys keep their positions.
    Map(Vec<(Located<String>, Node)>),
}

impl Node {
    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The string, when the node is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items, when the node is a sequence (an absent or null node reads
    /// as empty).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            NodeValue::Seq(items) => items,
            _ => &[],
        }
    }

    /// The entries, when the node is a mapping.
    pub fn entries(&self) -> &[(Located<String>, Node)] {
        match &self.value {
            NodeValue::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The node as JSON, the form the proxy adapters take.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The node as YAML text would show it in a message: strings quoted,
    /// others as JSON.
    pub fn show(&self) -> String {
        match &self.value {
            NodeValue::String(s) => format!("'{s}'"),
            _ => self.to_json().to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(d)?;
        Ok(Node {
            at: spanned.referenced.into(),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = NodeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
                Ok(NodeValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
                Ok(NodeValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
                NodeValue::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
                Ok(NodeValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
                Ok(NodeValue::Number(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
                Ok(NodeValue::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
                Ok(serde_json::Number::from_f64(v)
                    .map_or_else(|| NodeValue::String(v.to_string()), NodeValue::Number))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
                Ok(NodeValue::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
                Ok(NodeValue::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(NodeValue::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Located<String>>()? {
                    entries.push((key, map.next_value::<Node>()?));
                }
                Ok(NodeValue::Map(entries))
            }
        }
        d.deserialize_any(Any)
    }
}
