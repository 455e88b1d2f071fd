//! The hessian2 encoder: always the shortest form, chosen exactly as Java's
//! `Hessian2Output` chooses it, so a Java (or hessian.js) peer and we produce
//! the same bytes for the same value.

use std::sync::Arc;

use super::{Value, tag};

/// Largest string chunk, in UTF-16 code units (Java's limit).
const STRING_CHUNK_UNITS: usize = 0x8000;
/// Largest binary chunk: what Java writes into a fresh 4 KiB buffer, and what
/// hessian.js writes always.
const BINARY_CHUNK_BYTES: usize = 4093;

/// Writes hessian2 values into one buffer, numbering class definitions and
/// type names across all of them as a Java `Hessian2Output` does for a body.
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
    /// Classes defined so far by this encoder: name and field names.
    classes: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// Class definitions already in the body before this encoder's first byte.
    class_base: usize,
    /// Type names written so far by this encoder.
    types: Vec<String>,
    /// Type names already in the body before this encoder's first byte.
    type_base: usize,
}

impl Encoder {
    /// An encoder for a new body.
    pub fn new() -> Self {
        Encoder::default()
    }

    /// An encoder whose output is appended to a body that already defined
    /// `classes` class definitions and `types` type names: what it defines is
    /// numbered after them. (It never refers back to them; it redefines.)
    pub(crate) fn continuing(classes: usize, types: usize) -> Self {
        Encoder {
            class_base: classes,
            type_base: types,
            ..Encoder::default()
        }
    }

    /// The bytes written so far.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Writes any value.
    pub fn write(&mut self, value: &Value) {
        match value {
            Value::Null => self.out.push(tag::NULL),
            Value::Bool(true) => self.out.push(tag::TRUE),
            Value::Bool(false) => self.out.push(tag::FALSE),
            Value::Int(v) => self.write_int(*v),
            Value::Long(v) => self.write_long(*v),
            Value::Double(v) => self.write_double(*v),
            Value::String(s) => self.write_string(s),
            Value::Binary(b) => self.write_binary(b),
            Value::Date(ms) => self.write_date(*ms),
            Value::List { type_name, items } => self.write_list(type_name.as_deref(), items),
            Value::Map { type_name, entries } => {
                self.map_begin(type_name.as_deref());
                for (key, value) in entries {
                    self.write(key);
                    self.write(value);
                }
                self.end();
            }
            Value::Object { class, fields } => self.write_object(class, fields),
            Value::Ref(n) => {
                self.out.push(tag::REF);
                self.write_int(i32::try_from(*n).unwrap_or(i32::MAX));
            }
        }
    }

    /// Writes an int in 1, 2, 3 or 5 bytes.
    pub fn write_int(&mut self, v: i32) {
        match v {
            -0x10..=0x2f => self.out.push((v + i32::from(tag::INT_ZERO)) as u8),
            -0x800..=0x7ff => {
                let lead = (v >> 8) + i32::from(tag::INT_BYTE_ZERO);
                self.out.extend_from_slice(&[lead as u8, v as u8]);
            }
            -0x40000..=0x3ffff => {
                let lead = (v >> 16) + i32::from(tag::INT_SHORT_ZERO);
                self.out
                    .extend_from_slice(&[lead as u8, (v >> 8) as u8, v as u8]);
            }
            _ => {
                self.out.push(tag::INT);
                self.out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }

    /// Writes a long in 1, 2, 3, 5 or 9 bytes.
    pub fn write_long(&mut self, v: i64) {
        match v {
            -8..=15 => self.out.push((v + i64::from(tag::LONG_ZERO)) as u8),
            -0x800..=0x7ff => {
                let lead = (v >> 8) + i64::from(tag::LONG_BYTE_ZERO);
                self.out.extend_from_slice(&[lead as u8, v as u8]);
            }
            -0x40000..=0x3ffff => {
                let lead = (v >> 16) + i64::from(tag::LONG_SHORT_ZERO);
                self.out
                    .extend_from_slice(&[lead as u8, (v >> 8) as u8, v as u8]);
            }
            _ => match i32::try_from(v) {
                Ok(small) => {
                    self.out.push(tag::LONG_INT);
                    self.out.extend_from_slice(&small.to_be_bytes());
                }
                Err(_) => {
                    self.out.push(tag::LONG);
                    self.out.extend_from_slice(&v.to_be_bytes());
                }
            },
        }
    }

    /// Writes a double as Java does: whole numbers in a byte or a short,
    /// whole thousandths as an int of "mills", anything else in 8 bytes.
    /// (-0.0 is written as 0.0, as Java writes it.)
    pub fn write_double(&mut self, v: f64) {
        // Saturating casts, as Java's `(int)` casts are.
        let whole = v as i32;
        if f64::from(whole) == v {
            match whole {
                0 => return self.out.push(tag::DOUBLE_ZERO),
                1 => return self.out.push(tag::DOUBLE_ONE),
                -0x80..=0x7f => {
                    return self.out.extend_from_slice(&[tag::DOUBLE_BYTE, whole as u8]);
                }
                -0x8000..=0x7fff => {
                    self.out.push(tag::DOUBLE_SHORT);
                    return self.out.extend_from_slice(&(whole as i16).to_be_bytes());
                }
                _ => {}
            }
        }
        let mills = (v * 1000.0) as i32;
        if 0.001 * f64::from(mills) == v {
            self.out.push(tag::DOUBLE_MILL);
            self.out.extend_from_slice(&mills.to_be_bytes());
        } else {
            self.out.push(tag::DOUBLE);
            self.out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
    }

    /// Writes a date, in minutes when it falls on a whole minute.
    pub fn write_date(&mut self, ms: i64) {
        if ms % 60_000 == 0
            && let Ok(minutes) = i32::try_from(ms / 60_000)
        {
            self.out.push(tag::DATE_MINUTE);
            self.out.extend_from_slice(&minutes.to_be_bytes());
        } else {
            self.out.push(tag::DATE);
            self.out.extend_from_slice(&ms.to_be_bytes());
        }
    }

    /// Writes a string: chunks of at most 0x8000 UTF-16 units (never splitting
    /// a surrogate pair), the last one with the shortest length prefix.
    pub fn write_string(&mut self, s: &str) {
        let mut rest = s;
        let mut units = s.encode_utf16().count();
        while units > STRING_CHUNK_UNITS {
            let (split, chunk_units) = split_at_units(rest, STRING_CHUNK_UNITS);
            let (chunk, tail) = rest.split_at(split);
            self.out.push(tag::STRING_CHUNK);
            self.out
                .extend_from_slice(&(chunk_units as u16).to_be_bytes());
            self.write_cesu8(chunk);
            rest = tail;
            units -= chunk_units;
        }
        match units {
            0..=0x1f => self.out.push(units as u8),
            0x20..=0x3ff => self
                .out
                .extend_from_slice(&[tag::STRING_SHORT + (units >> 8) as u8, units as u8]),
            _ => {
                self.out.push(tag::STRING);
                self.out.extend_from_slice(&(units as u16).to_be_bytes());
            }
        }
        self.write_cesu8(rest);
    }

    /// Each UTF-16 unit on its own in 1 to 3 bytes, as Java's `printString`.
    fn write_cesu8(&mut self, s: &str) {
        for unit in s.encode_utf16() {
            match unit {
                0..=0x7f => self.out.push(unit as u8),
                0x80..=0x7ff => self
                    .out
                    .extend_from_slice(&[0xc0 | (unit >> 6) as u8, 0x80 | (unit & 0x3f) as u8]),
                _ => self.out.extend_from_slice(&[
                    0xe0 | (unit >> 12) as u8,
                    0x80 | ((unit >> 6) & 0x3f) as u8,
                    0x80 | (unit & 0x3f) as u8,
                ]),
            }
        }
    }

    /// Writes a byte array: 4093-byte chunks, then the shortest final form.
    pub fn write_binary(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while rest.len() > BINARY_CHUNK_BYTES {
            let (chunk, tail) = rest.split_at(BINARY_CHUNK_BYTES);
            self.out.push(tag::BINARY_CHUNK);
            self.out
                .extend_from_slice(&(BINARY_CHUNK_BYTES as u16).to_be_bytes());
            self.out.extend_from_slice(chunk);
            rest = tail;
        }
        let len = rest.len();
        match len {
            0..=0x0f => self.out.push(tag::BINARY_DIRECT + len as u8),
            0x10..=0x3ff => self
                .out
                .extend_from_slice(&[tag::BINARY_SHORT + (len >> 8) as u8, len as u8]),
            _ => {
                self.out.push(tag::BINARY);
                self.out.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        self.out.extend_from_slice(rest);
    }

    /// Writes a fixed-length list, the only kind Java writes for a collection
    /// whose size it knows.
    fn write_list(&mut self, type_name: Option<&str>, items: &[Value]) {
        let len = items.len();
        match (type_name, len) {
            (None, 0..=7) => self.out.push(tag::LIST_DIRECT_UNTYPED + len as u8),
            (Some(name), 0..=7) => {
                self.out.push(tag::LIST_DIRECT + len as u8);
                self.write_type(name);
            }
            (None, _) => {
                self.out.push(tag::LIST_FIXED_UNTYPED);
                self.write_int(i32::try_from(len).unwrap_or(i32::MAX));
            }
            (Some(name), _) => {
                self.out.push(tag::LIST_FIXED);
                self.write_type(name);
                self.write_int(i32::try_from(len).unwrap_or(i32::MAX));
            }
        }
        for item in items {
            self.write(item);
        }
    }

    /// Starts a map: `H` for a plain `HashMap`, `M type` otherwise. Write the
    /// keys and values, then [`Encoder::end`].
    pub fn map_begin(&mut self, type_name: Option<&str>) {
        match type_name {
            None => self.out.push(tag::MAP_UNTYPED),
            Some(name) => {
                self.out.push(tag::MAP);
                self.write_type(name);
            }
        }
    }

    /// Ends a map (`Z`).
    pub fn end(&mut self) {
        self.out.push(tag::END);
    }

    /// A type name the first time, then its index among this body's types.
    fn write_type(&mut self, name: &str) {
        match self.types.iter().position(|t| t == name) {
            Some(index) => self.write_int(index_i32(self.type_base + index)),
            None => {
                self.write_string(name);
                self.types.push(name.to_owned());
            }
        }
    }

    /// A class definition the first time a class (with these fields) is
    /// written, then an instance referring to it.
    fn write_object(&mut self, class: &Arc<str>, fields: &[(Arc<str>, Value)]) {
        let same = |(name, names): &(Arc<str>, Vec<Arc<str>>)| {
            name == class && names.iter().eq(fields.iter().map(|(field, _)| field))
        };
        let index = match self.classes.iter().position(same) {
            Some(index) => index,
            None => {
                self.out.push(tag::CLASS_DEF);
                self.write_string(class);
                self.write_int(index_i32(fields.len()));
                for (field, _) in fields {
                    self.write_string(field);
                }
                let names = fields.iter().map(|(field, _)| field.clone()).collect();
                self.classes.push((class.clone(), names));
                self.classes.len() - 1
            }
        };
        let index = self.class_base + index;
        match u8::try_from(index) {
            Ok(direct @ 0..=0x0f) => self.out.push(tag::OBJECT_DIRECT + direct),
            _ => {
                self.out.push(tag::OBJECT);
                self.write_int(index_i32(index));
            }
        }
        for (_, value) in fields {
            self.write(value);
        }
    }
}

/// The byte offset and unit count of the longest prefix of `s` holding at
/// most `max` UTF-16 units; a surrogate pair is never split.
fn split_at_units(s: &str, max: usize) -> (usize, usize) {
    let mut units = 0;
    for (at, c) in s.char_indices() {
        if units + c.len_utf16() > max {
            return (at, units);
        }
        units += c.len_utf16();
    }
    (s.len(), units)
}

fn index_i32(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}
