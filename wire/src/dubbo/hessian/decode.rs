//! The hessian2 decoder: reads [`Value`]s, or skips them without building them.
//!
//! The input is a whole Dubbo body (the frame says how long it is), so running
//! out of bytes is a protocol error, never `Incomplete`. Every length read
//! from the input is checked against the bytes left before anything is
//! allocated for it, and nesting is limited to [`MAX_DEPTH`].
//!
//! Class definitions and type names are remembered by their offset in the
//! input: skipping allocates nothing but one table entry per class definition
//! or type name, and a value read after skipped ones (attachments after
//! arguments) can still refer to what those defined. Reading decodes each name
//! once and shares it between all the values that use it, so a body of many
//! one-byte instances of a class with long field names cannot blow up.

use std::sync::Arc;

use super::{MAX_DEPTH, Value, invalid, tag};
use crate::DecodeError;

/// Never reserve room for more list elements than this up front: a list
/// grows with the elements actually decoded, not with the length it claims.
const MAX_PREALLOCATED_ITEMS: usize = 4096;

/// Reads the hessian2 values of one body in order, keeping the class
/// definitions, type names and reference count they share.
#[derive(Debug)]
pub struct Decoder<'a> {
    cur: Cursor<'a>,
    classes: Vec<ClassDef>,
    /// The type names, in definition order.
    types: Vec<Name>,
    /// Lists, maps and objects started so far: what `Q n` may refer to.
    refs: usize,
    depth: usize,
}

/// A name (type or class) by where its string is, decoded on first use.
#[derive(Debug)]
struct Name {
    at: usize,
    decoded: Option<Arc<str>>,
}

impl Name {
    fn new(at: usize) -> Self {
        Name { at, decoded: None }
    }

    fn get(&mut self, cur: Cursor<'_>, what: &str) -> Result<Arc<str>, DecodeError> {
        if let Some(name) = &self.decoded {
            return Ok(name.clone());
        }
        let name: Arc<str> = cur.at(self.at).string(what)?.into();
        self.decoded = Some(name.clone());
        Ok(name)
    }
}

/// Field names, decoded once per class definition and shared by its instances.
type FieldNames = Arc<[Arc<str>]>;

/// A class definition: its name, then `fields` field names from `fields_at`.
#[derive(Debug)]
struct ClassDef {
    name: Name,
    fields_at: usize,
    fields: usize,
    field_names: Option<FieldNames>,
}

/// What a value's tag (and the few bytes after it) announce.
enum Head {
    Scalar(Value),
    String(Chunk),
    Binary(Chunk),
    List {
        type_index: Option<usize>,
        len: Option<usize>,
    },
    Map {
        type_index: Option<usize>,
    },
    Object {
        class_index: usize,
    },
    Ref(u32),
}

/// One chunk of a string (length in UTF-16 units) or binary (in bytes).
#[derive(Clone, Copy)]
struct Chunk {
    len: usize,
    last: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Decoder {
            cur: Cursor { buf: body, pos: 0 },
            classes: Vec::new(),
            types: Vec::new(),
            refs: 0,
            depth: 0,
        }
    }

    /// The offset of the next value.
    pub fn position(&self) -> usize {
        self.cur.pos
    }

    /// How many bytes are left after the current position.
    pub fn remaining(&self) -> usize {
        self.cur.buf.len().saturating_sub(self.cur.pos)
    }

    /// How many class definitions and type names the body has defined so far.
    pub(crate) fn definitions(&self) -> (usize, usize) {
        (self.classes.len(), self.types.len())
    }

    /// Reads the next value.
    ///
    /// # Errors
    /// `Invalid` for an unknown tag, a bad length or reference, nesting
    /// deeper than [`MAX_DEPTH`], or input that ends inside the value.
    pub fn read_value(&mut self) -> Result<Value, DecodeError> {
        let at = self.cur.pos;
        Ok(match self.head()? {
            Head::Scalar(value) => value,
            Head::Ref(index) => Value::Ref(index),
            Head::String(chunk) => Value::String(self.cur.string_rest(chunk, at)?),
            Head::Binary(chunk) => {
                let mut bytes = Vec::new();
                self.cur
                    .binary_chunks(chunk, |part| bytes.extend_from_slice(part))?;
                Value::Binary(bytes)
            }
            Head::List { type_index, len } => {
                self.enter(at)?;
                let type_name = self.type_name(type_index)?;
                let mut items = Vec::with_capacity(len.unwrap_or(0).min(MAX_PREALLOCATED_ITEMS));
                match len {
                    Some(len) => {
                        for _ in 0..len {
                            items.push(self.read_value()?);
                        }
                    }
                    None => {
                        while !self.end_marker("a list")? {
                            items.push(self.read_value()?);
                        }
                    }
                }
                self.depth -= 1;
                Value::List { type_name, items }
            }
            Head::Map { type_index } => {
                self.enter(at)?;
                let type_name = self.type_name(type_index)?;
                let mut entries = Vec::new();
                while !self.end_marker("a map")? {
                    let key = self.read_value()?;
                    entries.push((key, self.read_value()?));
                }
                self.depth -= 1;
                Value::Map { type_name, entries }
            }
            Head::Object { class_index } => {
                self.enter(at)?;
                let (class, names) = self.class_names(class_index)?;
                let mut fields = Vec::with_capacity(names.len().min(MAX_PREALLOCATED_ITEMS));
                for name in names.iter() {
                    fields.push((name.clone(), self.read_value()?));
                }
                self.depth -= 1;
                Value::Object { class, fields }
            }
        })
    }

    /// Walks over the next value without building it, keeping the class
    /// definitions, type names and reference count it adds.
    ///
    /// # Errors
    /// As [`Decoder::read_value`], except that string contents are only
    /// checked for their UTF-8 lead bytes (enough to find their end).
    pub fn skip_value(&mut self) -> Result<(), DecodeError> {
        let at = self.cur.pos;
        match self.head()? {
            Head::Scalar(_) | Head::Ref(_) => {}
            Head::String(chunk) => self.cur.string_chunks(chunk, |_, _| {})?,
            Head::Binary(chunk) => self.cur.binary_chunks(chunk, |_| {})?,
            Head::List { len, .. } => {
                self.enter(at)?;
                match len {
                    Some(len) => (0..len).try_for_each(|_| self.skip_value())?,
                    None => {
                        while !self.end_marker("a list")? {
                            self.skip_value()?;
                        }
                    }
                }
                self.depth -= 1;
            }
            Head::Map { .. } => {
                self.enter(at)?;
                while !self.end_marker("a map")? {
                    self.skip_value()?;
                    self.skip_value()?;
                }
                self.depth -= 1;
            }
            Head::Object { class_index } => {
                self.enter(at)?;
                let fields = self.classes.get(class_index).map_or(0, |c| c.fields);
                (0..fields).try_for_each(|_| self.skip_value())?;
                self.depth -= 1;
            }
        }
        Ok(())
    }

    /// Reads a tag and what it announces; class definitions before a value
    /// are recorded and stepped over.
    fn head(&mut self) -> Result<Head, DecodeError> {
        loop {
            let at = self.cur.pos;
            let t = self.cur.byte("a value")?;
            if let Some(chunk) = self.cur.string_chunk(t)? {
                return Ok(Head::String(chunk));
            }
            if let Some(chunk) = self.cur.binary_chunk(t)? {
                return Ok(Head::Binary(chunk));
            }
            if let Some(value) = self.cur.scalar(t)? {
                return Ok(Head::Scalar(value));
            }
            let direct = |base: u8| Some(usize::from(t - base));
            return Ok(match t {
                tag::LIST_VARIABLE => Head::List {
                    type_index: Some(self.type_ref()?),
                    len: None,
                },
                tag::LIST_FIXED => Head::List {
                    type_index: Some(self.type_ref()?),
                    len: Some(self.length(at)?),
                },
                tag::LIST_VARIABLE_UNTYPED => Head::List {
                    type_index: None,
                    len: None,
                },
                tag::LIST_FIXED_UNTYPED => Head::List {
                    type_index: None,
                    len: Some(self.length(at)?),
                },
                0x70..=0x77 => Head::List {
                    type_index: Some(self.type_ref()?),
                    len: direct(tag::LIST_DIRECT),
                },
                0x78..=0x7f => Head::List {
                    type_index: None,
                    len: direct(tag::LIST_DIRECT_UNTYPED),
                },
                tag::MAP_UNTYPED => Head::Map { type_index: None },
                tag::MAP => Head::Map {
                    type_index: Some(self.type_ref()?),
                },
                tag::CLASS_DEF => {
                    self.class_def()?;
                    continue;
                }
                tag::OBJECT => {
                    let index = self.cur.int("an object's class")?;
                    Head::Object {
                        class_index: self.class(index, at)?,
                    }
                }
                0x60..=0x6f => Head::Object {
                    class_index: self.class(i32::from(t - tag::OBJECT_DIRECT), at)?,
                },
                tag::REF => Head::Ref(self.reference(at)?),
                tag::END => {
                    return Err(invalid(format!(
                        "hessian2: end marker 0x5a where a value was expected at offset {at}"
                    )));
                }
                _ => {
                    return Err(invalid(format!(
                        "hessian2: unknown tag 0x{t:02x} at offset {at}"
                    )));
                }
            });
        }
    }

    /// Counts a list, map or object (references number them) and checks the depth.
    fn enter(&mut self, at: usize) -> Result<(), DecodeError> {
        self.refs += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid(format!(
                "hessian2: values nested deeper than {MAX_DEPTH} levels at offset {at}"
            )));
        }
        Ok(())
    }

    /// Consumes the `Z` that ends a variable-length list or a map, if it is next.
    fn end_marker(&mut self, what: &str) -> Result<bool, DecodeError> {
        let ends = self.cur.peek(what)? == tag::END;
        if ends {
            self.cur.pos += 1;
        }
        Ok(ends)
    }

    /// A list length: not negative, and not more elements than bytes left
    /// (every element takes at least one).
    fn length(&mut self, at: usize) -> Result<usize, DecodeError> {
        let len = self.cur.int("a list length")?;
        let len = usize::try_from(len).map_err(|_| {
            invalid(format!(
                "hessian2: negative list length {len} at offset {at}"
            ))
        })?;
        let left = self.remaining();
        if len > left {
            return Err(invalid(format!(
                "hessian2: list of {len} elements at offset {at} is longer than the {left} bytes left"
            )));
        }
        Ok(len)
    }

    /// A type: a new name (remembered) or the index of an earlier one.
    /// Returns its index.
    fn type_ref(&mut self) -> Result<usize, DecodeError> {
        let at = self.cur.pos;
        if is_string_tag(self.cur.peek("a type name")?) {
            self.cur.skip_string("a type name")?;
            self.types.push(Name::new(at));
            return Ok(self.types.len() - 1);
        }
        let index = self.cur.int("a type name")?;
        match usize::try_from(index) {
            Ok(i) if i < self.types.len() => Ok(i),
            _ => Err(invalid(format!(
                "hessian2: type reference {index} but only {} types defined, at offset {at}",
                self.types.len()
            ))),
        }
    }

    /// The type name at `index` (checked by [`Decoder::type_ref`]), if any.
    fn type_name(&mut self, index: Option<usize>) -> Result<Option<Arc<str>>, DecodeError> {
        let cur = self.cur;
        match index.and_then(|i| self.types.get_mut(i)) {
            Some(name) => name.get(cur, "a type name").map(Some),
            None => Ok(None),
        }
    }

    /// `C name count field*`: remembered for the objects that follow.
    fn class_def(&mut self) -> Result<(), DecodeError> {
        let at = self.cur.pos - 1;
        let name = Name::new(self.cur.pos);
        self.cur.skip_string("a class name")?;
        let count = self.cur.int("a class field count")?;
        let fields = usize::try_from(count).map_err(|_| {
            invalid(format!(
                "hessian2: negative field count {count} in the class definition at offset {at}"
            ))
        })?;
        let fields_at = self.cur.pos;
        for _ in 0..fields {
            self.cur.skip_string("a field name")?;
        }
        self.classes.push(ClassDef {
            name,
            fields_at,
            fields,
            field_names: None,
        });
        Ok(())
    }

    /// Checks that class definition `index` exists.
    fn class(&self, index: i32, at: usize) -> Result<usize, DecodeError> {
        match usize::try_from(index) {
            Ok(i) if i < self.classes.len() => Ok(i),
            _ => Err(invalid(format!(
                "hessian2: object of class definition {index} but only {} defined, at offset {at}",
                self.classes.len()
            ))),
        }
    }

    /// The class name and field names of class `index` (checked by
    /// [`Decoder::class`]), decoded on first use and shared afterwards.
    fn class_names(&mut self, index: usize) -> Result<(Arc<str>, FieldNames), DecodeError> {
        let cur = self.cur;
        let Some(class) = self.classes.get_mut(index) else {
            return Err(invalid(format!("hessian2: no class definition {index}")));
        };
        let name = class.name.get(cur, "a class name")?;
        if let Some(fields) = &class.field_names {
            return Ok((name, fields.clone()));
        }
        let mut names = cur.at(class.fields_at);
        let fields = (0..class.fields)
            .map(|_| names.string("a field name").map(Arc::from))
            .collect::<Result<FieldNames, _>>()?;
        class.field_names = Some(fields.clone());
        Ok((name, fields))
    }

    fn reference(&mut self, at: usize) -> Result<u32, DecodeError> {
        let index = self.cur.int("a reference")?;
        match u32::try_from(index) {
            Ok(n) if (n as usize) < self.refs => Ok(n),
            _ => Err(invalid(format!(
                "hessian2: reference to value {index} but only {} lists, maps and objects so far, at offset {at}",
                self.refs
            ))),
        }
    }
}

/// Whether `t` starts a string (or its first chunk).
fn is_string_tag(t: u8) -> bool {
    matches!(t, 0x00..=0x1f | 0x30..=0x33 | tag::STRING_CHUNK | tag::STRING)
}

/// A bounds-checked read position. Nothing here knows about class or type
/// tables, so strings can be re-read at a remembered offset.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at(&self, pos: usize) -> Cursor<'a> {
        Cursor { buf: self.buf, pos }
    }

    fn ends_inside(&self, what: &str) -> DecodeError {
        invalid(format!(
            "hessian2: body ends inside {what} at offset {}",
            self.pos
        ))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or_else(|| self.ends_inside(what))?;
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn byte(&mut self, what: &str) -> Result<u8, DecodeError> {
        let [b] = self.array(what)?;
        Ok(b)
    }

    fn u16(&mut self, what: &str) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.array(what)?)))
    }

    fn peek(&self, what: &str) -> Result<u8, DecodeError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.ends_inside(what))
    }

    /// The fixed-size values: null, bool, int, long, double, date.
    fn scalar(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let t32 = i32::from(t);
        let t64 = i64::from(t);
        Ok(Some(match t {
            tag::NULL => Value::Null,
            tag::TRUE => Value::Bool(true),
            tag::FALSE => Value::Bool(false),
            0x80..=0xbf => Value::Int(t32 - 0x90),
            0xc0..=0xcf => Value::Int(((t32 - 0xc8) << 8) + i32::from(self.byte("an int")?)),
            0xd0..=0xd7 => Value::Int(((t32 - 0xd4) << 16) + self.u16("an int")? as i32),
            tag::INT => Value::Int(i32::from_be_bytes(self.array("an int")?)),
            0xd8..=0xef => Value::Long(t64 - 0xe0),
            0xf0..=0xff => Value::Long(((t64 - 0xf8) << 8) + i64::from(self.byte("a long")?)),
            0x38..=0x3f => Value::Long(((t64 - 0x3c) << 16) + self.u16("a long")? as i64),
            tag::LONG_INT => Value::Long(i64::from(i32::from_be_bytes(self.array("a long")?))),
            tag::LONG => Value::Long(i64::from_be_bytes(self.array("a long")?)),
            tag::DOUBLE_ZERO => Value::Double(0.0),
            tag::DOUBLE_ONE => Value::Double(1.0),
            tag::DOUBLE_BYTE => {
                Value::Double(f64::from(i8::from_be_bytes(self.array("a double")?)))
            }
            tag::DOUBLE_SHORT => {
                Value::Double(f64::from(i16::from_be_bytes(self.array("a double")?)))
            }
            tag::DOUBLE_MILL => {
                Value::Double(0.001 * f64::from(i32::from_be_bytes(self.array("a double")?)))
            }
            tag::DOUBLE => {
                Value::Double(f64::from_bits(u64::from_be_bytes(self.array("a double")?)))
            }
            tag::DATE => Value::Date(i64::from_be_bytes(self.array("a date")?)),
            tag::DATE_MINUTE => {
                Value::Date(i64::from(i32::from_be_bytes(self.array("a date")?)) * 60_000)
            }
            _ => return Ok(None),
        }))
    }

    /// An int value (lengths, indexes and counts are hessian2 ints).
    fn int(&mut self, what: &str) -> Result<i32, DecodeError> {
        let at = self.pos;
        let t = self.byte(what)?;
        match self.scalar(t)? {
            Some(Value::Int(v)) => Ok(v),
            _ => Err(invalid(format!(
                "hessian2: expected an int for {what}, found tag 0x{t:02x} at offset {at}"
            ))),
        }
    }

    /// The first chunk of a string starting with tag `t`, or None if `t` does
    /// not start a string.
    fn string_chunk(&mut self, t: u8) -> Result<Option<Chunk>, DecodeError> {
        let (len, last) = match t {
            0x00..=0x1f => (usize::from(t), true),
            0x30..=0x33 => (
                usize::from(t - tag::STRING_SHORT) << 8 | usize::from(self.byte("a string")?),
                true,
            ),
            tag::STRING => (self.u16("a string")?, true),
            tag::STRING_CHUNK => (self.u16("a string")?, false),
            _ => return Ok(None),
        };
        Ok(Some(Chunk { len, last }))
    }

    /// The first chunk of a binary starting with tag `t`, or None.
    fn binary_chunk(&mut self, t: u8) -> Result<Option<Chunk>, DecodeError> {
        let (len, last) = match t {
            0x20..=0x2f => (usize::from(t - tag::BINARY_DIRECT), true),
            0x34..=0x37 => (
                usize::from(t - tag::BINARY_SHORT) << 8 | usize::from(self.byte("a binary")?),
                true,
            ),
            tag::BINARY => (self.u16("a binary")?, true),
            tag::BINARY_CHUNK => (self.u16("a binary")?, false),
            _ => return Ok(None),
        };
        Ok(Some(Chunk { len, last }))
    }

    /// Walks a string's chunks from `first`, handing each chunk's bytes and
    /// unit count to `each`.
    fn string_chunks(
        &mut self,
        first: Chunk,
        mut each: impl FnMut(&'a [u8], usize),
    ) -> Result<(), DecodeError> {
        let mut chunk = first;
        loop {
            each(self.units(chunk.len)?, chunk.len);
            if chunk.last {
                return Ok(());
            }
            let at = self.pos;
            let t = self.byte("a string")?;
            chunk = self.string_chunk(t)?.ok_or_else(|| {
                invalid(format!(
                    "hessian2: expected a string chunk, found tag 0x{t:02x} at offset {at}"
                ))
            })?;
        }
    }

    fn binary_chunks(
        &mut self,
        first: Chunk,
        mut each: impl FnMut(&'a [u8]),
    ) -> Result<(), DecodeError> {
        let mut chunk = first;
        loop {
            each(self.take(chunk.len, "a binary")?);
            if chunk.last {
                return Ok(());
            }
            let at = self.pos;
            let t = self.byte("a binary")?;
            chunk = self.binary_chunk(t)?.ok_or_else(|| {
                invalid(format!(
                    "hessian2: expected a binary chunk, found tag 0x{t:02x} at offset {at}"
                ))
            })?;
        }
    }

    /// The bytes of `units` UTF-16 units, each written in 1 to 3 bytes.
    /// Only lead bytes are checked, as Java checks them.
    fn units(&mut self, units: usize) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut end = start;
        for _ in 0..units {
            let lead = self
                .buf
                .get(end)
                .copied()
                .ok_or_else(|| self.at(end).ends_inside("a string"))?;
            end += match lead {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => {
                    return Err(invalid(format!(
                        "hessian2: bad utf-8 lead byte 0x{lead:02x} in a string at offset {end}"
                    )));
                }
            };
        }
        self.take(end - start, "a string")
    }

    /// The rest of a string whose first chunk is `first` (started at `at`).
    fn string_rest(&mut self, first: Chunk, at: usize) -> Result<String, DecodeError> {
        let mut units = Vec::new();
        self.string_chunks(first, |bytes, count| {
            units.reserve(count);
            decode_units(bytes, &mut units);
        })?;
        String::from_utf16(&units).map_err(|_| {
            invalid(format!(
                "hessian2: unpaired surrogate in the string at offset {at}"
            ))
        })
    }

    /// A whole string value (a class, field or type name).
    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let at = self.pos;
        let t = self.byte(what)?;
        match self.string_chunk(t)? {
            Some(chunk) => self.string_rest(chunk, at),
            None => Err(not_a_string(what, t, at)),
        }
    }

    fn skip_string(&mut self, what: &str) -> Result<(), DecodeError> {
        let at = self.pos;
        let t = self.byte(what)?;
        match self.string_chunk(t)? {
            Some(chunk) => self.string_chunks(chunk, |_, _| {}),
            None => Err(not_a_string(what, t, at)),
        }
    }
}

fn not_a_string(what: &str, t: u8, at: usize) -> DecodeError {
    invalid(format!(
        "hessian2: expected a string for {what}, found tag 0x{t:02x} at offset {at}"
    ))
}

/// Turns 1-to-3-byte sequences (lead bytes already checked) into UTF-16 units.
fn decode_units(bytes: &[u8], out: &mut Vec<u16>) {
    let mut iter = bytes.iter().map(|&b| u16::from(b));
    while let Some(lead) = iter.next() {
        let mut next = || iter.next().unwrap_or(0) & 0x3f;
        out.push(match lead {
            0x00..=0x7f => lead,
            0xc0..=0xdf => (lead & 0x1f) << 6 | next(),
            _ => (lead & 0x0f) << 12 | next() << 6 | next(),
        });
    }
}
