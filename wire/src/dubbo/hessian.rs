//! hessian2, the serialization inside Dubbo2 bodies.
//!
//! [`Value`] models what Dubbo traffic carries. [`Encoder`] writes the compact
//! forms that Java's Hessian2Output (Caucho, and Dubbo's hessian-lite) writes,
//! so that our bytes match a Java peer's byte for byte. [`Decoder`] reads
//! values, or walks over them without building them ([`Decoder::skip_value`]):
//! a proxy routes on the attachments, which come after the arguments.
//!
//! One encoder or decoder spans one Dubbo body: class definitions, type names
//! and back-references are numbered across all the values of a body, as Java
//! numbers them.
//!
//! Two facts about the wire that are easy to get wrong:
//! - string lengths count UTF-16 code units, and each unit is written on its
//!   own in 1 to 3 bytes (CESU-8): a character outside the BMP is a surrogate
//!   pair, 6 bytes and length 2;
//! - tag 0x5f is a double written as an int of thousandths ("double mill"),
//!   which is what Java's Hessian2Output writes and reads, although the
//!   hessian2 specification text calls it a 32-bit float.

mod decode;
mod encode;

use std::sync::Arc;

pub use decode::Decoder;
pub use encode::Encoder;

use crate::{DecodeError, Protocol};

/// How deeply lists, maps and objects may nest before decoding gives up:
/// deep enough for any real payload, shallow enough that a hostile body
/// cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// A hessian2 value as it is on the wire.
///
/// Back-references are kept as [`Value::Ref`] rather than resolved, because
/// hessian2 graphs may be cyclic and a proxy only needs to carry them along.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `N`: Java `null`.
    Null,
    /// `T` / `F`.
    Bool(bool),
    /// A 32-bit int (Java `int`, and `short`/`byte`, which hessian2 widens).
    Int(i32),
    /// A 64-bit long.
    Long(i64),
    /// A 64-bit double (Java `float` is widened to it).
    Double(f64),
    /// A string; on the wire its length counts UTF-16 code units.
    String(String),
    /// A byte array.
    Binary(Vec<u8>),
    /// A `java.util.Date`: milliseconds since the Unix epoch, UTC.
    Date(i64),
    /// A list or array; `type_name` is the Java type (`"[int"`, `"java.util.LinkedList"`),
    /// absent for a plain `ArrayList`.
    List {
        /// The Java type, when the sender named one.
        type_name: Option<Arc<str>>,
        /// The elements, in order.
        items: Vec<Value>,
    },
    /// A map; `type_name` is absent for a plain `HashMap` (tag `H`).
    Map {
        /// The Java type, when the sender named one (tag `M`).
        type_name: Option<Arc<str>>,
        /// The entries, in wire order.
        entries: Vec<(Value, Value)>,
    },
    /// A Java object: its class name and its fields in declaration order.
    ///
    /// Names are shared (`Arc<str>`): the wire defines a class once and then
    /// sends instances as bare values, and decoded objects share the names
    /// the same way instead of copying them per instance.
    Object {
        /// The fully qualified Java class name.
        class: Arc<str>,
        /// Field names and values, in the order of the class definition.
        fields: Vec<(Arc<str>, Value)>,
    },
    /// `Q n`: the n-th list, map or object of the same body (counted from 0
    /// in the order they start), for shared and cyclic graphs.
    Ref(u32),
}

impl Value {
    /// The string, when this is one: attachments and most arguments are strings.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of value this is, with its article ("an int", "a map"),
    /// for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Long(_) => "a long",
            Value::Double(_) => "a double",
            Value::String(_) => "a string",
            Value::Binary(_) => "a binary",
            Value::Date(_) => "a date",
            Value::List { .. } => "a list",
            Value::Map { .. } => "a map",
            Value::Object { .. } => "an object",
            Value::Ref(_) => "a reference",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Long(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

/// Encodes one value on its own (a fresh encoder: no shared definitions).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut encoder = Encoder::new();
    encoder.write(value);
    encoder.finish()
}

/// Decodes exactly one value from `bytes`.
///
/// # Errors
/// `Invalid` when the bytes are not one well-formed value, or when bytes
/// follow it.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder::new(bytes);
    let value = decoder.read_value()?;
    let left = decoder.remaining();
    if left != 0 {
        return Err(invalid(format!(
            "hessian2: {left} bytes after the value at offset {}",
            decoder.position()
        )));
    }
    Ok(value)
}

pub(crate) fn invalid(reason: String) -> DecodeError {
    DecodeError::invalid(Protocol::Dubbo, reason)
}

/// The tag bytes, named as Java's `Hessian2Constants` names them.
mod tag {
    pub const NULL: u8 = b'N';
    pub const TRUE: u8 = b'T';
    pub const FALSE: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const INT_ZERO: u8 = 0x90;
    pub const INT_BYTE_ZERO: u8 = 0xc8;
    pub const INT_SHORT_ZERO: u8 = 0xd4;
    pub const LONG: u8 = b'L';
    pub const LONG_ZERO: u8 = 0xe0;
    pub const LONG_BYTE_ZERO: u8 = 0xf8;
    pub const LONG_SHORT_ZERO: u8 = 0x3c;
    pub const LONG_INT: u8 = 0x59;
    pub const DOUBLE: u8 = b'D';
    pub const DOUBLE_ZERO: u8 = 0x5b;
    pub const DOUBLE_ONE: u8 = 0x5c;
    pub const DOUBLE_BYTE: u8 = 0x5d;
    pub const DOUBLE_SHORT: u8 = 0x5e;
    pub const DOUBLE_MILL: u8 = 0x5f;
    pub const DATE: u8 = 0x4a;
    pub const DATE_MINUTE: u8 = 0x4b;
    pub const STRING_SHORT: u8 = 0x30;
    pub const STRING_CHUNK: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINARY_DIRECT: u8 = 0x20;
    pub const BINARY_SHORT: u8 = 0x34;
    pub const BINARY_CHUNK: u8 = b'A';
    pub const BINARY: u8 = b'B';
    pub const LIST_VARIABLE: u8 = 0x55;
    pub const LIST_FIXED: u8 = b'V';
    pub const LIST_VARIABLE_UNTYPED: u8 = 0x57;
    pub const LIST_FIXED_UNTYPED: u8 = 0x58;
    pub const LIST_DIRECT: u8 = 0x70;
    pub const LIST_DIRECT_UNTYPED: u8 = 0x78;
    pub const MAP_UNTYPED: u8 = b'H';
    pub const MAP: u8 = b'M';
    pub const END: u8 = b'Z';
    pub const CLASS_DEF: u8 = b'C';
    pub const OBJECT: u8 = b'O';
    pub const OBJECT_DIRECT: u8 = 0x60;
    pub const REF: u8 = b'Q';
}
