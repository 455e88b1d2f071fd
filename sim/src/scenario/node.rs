//! A parsed YAML [`Node`] read again through serde, so that a typed model
//! of part of a scenario (the routing objects, through the mesh API's
//! types) reports its errors at the position in the user's file: every
//! error raised while a node (or a mapping key) is read carries that node's
//! position, the innermost first.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

use super::values::{Located, Node, NodeValue, Position};

/// An error of a typed read of a node, at the node it concerns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeError {
    /// Where: the innermost node or key whose reading failed.
    pub at: Position,
    /// What, as serde words it.
    pub message: String,
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NodeError {}

impl de::Error for NodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        NodeError {
            at: Position::UNKNOWN,
            message: message.to_string(),
        }
    }
}

/// The error, placed at `at` unless an inner node already placed it.
fn locate(error: NodeError, at: Position) -> NodeError {
    if error.at.is_known() {
        error
    } else {
        NodeError { at, ..error }
    }
}

/// Reads `node` as a `T`.
pub(crate) struct NodeDeserializer<'a>(pub &'a Node);

impl<'de> Deserializer<'de> for NodeDeserializer<'_> {
    type Error = NodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let at = self.0.at;
        let result = match &self.0.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, f) => visitor.visit_f64(f.unwrap_or(f64::NAN)),
            },
            NodeValue::String(s) => visitor.visit_str(s),
            NodeValue::Seq(items) => visitor.visit_seq(Items(items.iter())),
            NodeValue::Map(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| locate(e, at))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let at = self.0.at;
        match self.0.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| locate(e, at))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        let at = self.0.at;
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| locate(e, at))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        let at = self.0.at;
        let result = match &self.0.value {
            NodeValue::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            NodeValue::Map(entries) => match entries.as_slice() {
                [(key, value)] => visitor.visit_enum(Variant { key, value }),
                _ => Err(de::Error::custom(
                    "expected one key here, naming the variant",
                )),
            },
            _ => self.deserialize_any(visitor),
        };
        result.map_err(|e| locate(e, at))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// A mapping key, read as a string, its errors at the key.
struct Key<'a>(&'a Located<String>);

impl<'de> Deserializer<'de> for Key<'_> {
    type Error = NodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        visitor
            .visit_str(&self.0.value)
            .map_err(|e| locate(e, self.0.at))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Items<'a>(std::slice::Iter<'a, Node>);

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = NodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, NodeError> {
        self.0
            .next()
            .map(|node| seed.deserialize(NodeDeserializer(node)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'a> {
    entries: std::slice::Iter<'a, (Located<String>, Node)>,
    value: Option<&'a Node>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = NodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, NodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(Key(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, NodeError> {
        match self.value.take() {
            Some(node) => seed.deserialize(NodeDeserializer(node)),
            None => Err(de::Error::custom("a mapping value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// `{variant: value}`.
struct Variant<'a> {
    key: &'a Located<String>,
    value: &'a Node,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = NodeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), NodeError> {
        let variant = seed.deserialize(Key(self.key))?;
        Ok((variant, NodeDeserializer(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDeserializer<'_> {
    type Error = NodeError;

    fn unit_variant(self) -> Result<(), NodeError> {
        match self.0.value {
            NodeValue::Null => Ok(()),
            _ => Err(locate(
                de::Error::custom("this variant takes no value"),
                self.0.at,
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, NodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        self.deserialize_any(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Route {
        weight: u32,
        #[serde(default)]
        subset: Option<String>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow { by: u32 },
    }

    fn read(yaml: &str) -> Result<Vec<Route>, NodeError> {
        let node: Node = serde_saphyr::from_str(yaml).expect("yaml");
        serde::Deserialize::deserialize(NodeDeserializer(&node))
    }

    #[test]
    fn typed_reads_keep_the_position_of_what_failed() {
        assert_eq!(
            read(
                "- { weight: 20, subset: v1, mode: fast }\n- { weight: 80, mode: { slow: { by: 2 } } }\n"
            ),
            Ok(vec![
                Route {
                    weight: 20,
                    subset: Some("v1".into()),
                    mode: Some(Mode::Fast)
                },
                Route {
                    weight: 80,
                    subset: None,
                    mode: Some(Mode::Slow { by: 2 })
                },
            ])
        );
        let typo = read("- weight: 20\n- weigth: 80\n").expect_err("a typo");
        assert_eq!(typo.at, Position { line: 2, column: 3 });
        assert!(
            typo.message.starts_with("unknown field `weigth`"),
            "{}",
            typo.message
        );
        let negative = read("- weight: 20\n- weight: -5\n").expect_err("negative");
        assert_eq!(
            negative.at,
            Position {
                line: 2,
                column: 11
            }
        );
        let missing = read("- subset: v1\n").expect_err("missing");
        assert_eq!(missing.at, Position { line: 1, column: 3 });
        assert!(missing.message.contains("weight"), "{}", missing.message);
    }
}
