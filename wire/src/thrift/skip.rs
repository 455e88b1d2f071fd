//! Finding where a Thrift struct ends without decoding it: an unframed
//! transport has no length prefix, so the only way to know where a message
//! ends is to walk its body field by field, by type.
//!
//! The walk is resumable: a [`Walk`] stops where the bytes end and goes on
//! from there when more arrive, so a message arriving in many pieces is
//! walked once, not once per piece (which is quadratic in its size). It
//! keeps its nesting on an explicit stack and moves one unit at a time (a
//! field header with its scalar value, a container header, a struct's stop
//! byte); a unit cut short by the end of the bytes is read again whole.
//!
//! Every unit consumes at least one byte or closes a container, so a hostile
//! element count cannot make it spin past the buffer. A declared length or
//! count is judged against the size limit as soon as it is read: a string
//! of 2³¹−1 bytes, or a list of as many elements (each at least one byte),
//! is refused at once, not waited for.

use super::cursor::{Cursor, invalid};
use crate::{DecodeError, Limits, Protocol, thrift::Encoding};

/// How deeply structs and containers may nest (the thrift crate's default).
pub const MAX_DEPTH: usize = 64;

/// Returns the offset just past the struct that starts at `start`, in a
/// message that starts at offset 0 and may be `limits.max_frame` long.
///
/// # Errors
/// `Incomplete` when `buf` ends inside the struct; `TooLarge` when a
/// declared length or count takes the message past the limit; `Invalid`
/// for an unknown type, a negative length or nesting deeper than
/// [`MAX_DEPTH`].
pub fn struct_end(
    encoding: Encoding,
    buf: &[u8],
    start: usize,
    limits: Limits,
) -> Result<usize, DecodeError> {
    Walk::new(encoding, start).resume(buf, limits)
}

/// A walk over one struct, resumable where the bytes ran out.
#[derive(Debug, Clone)]
pub struct Walk {
    encoding: Encoding,
    /// Where the next unit starts.
    pos: usize,
    /// The open structs and containers, innermost last.
    open: Vec<Open>,
    begun: bool,
}

/// A struct or container the walk is inside.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// Reading fields up to the stop byte.
    Struct,
    /// `remaining` values left; a list's are all of `types[0]`, a map's
    /// alternate key (`types[0]`, at even counts) and value (`types[1]`).
    Values { types: [u8; 2], remaining: usize },
}

impl Open {
    fn list(element: u8, len: usize) -> Open {
        Open::Values {
            types: [element, element],
            remaining: len,
        }
    }

    fn map(key: u8, value: u8, len: usize) -> Open {
        Open::Values {
            types: [key, value],
            remaining: len.saturating_mul(2),
        }
    }
}

/// What one unit did.
enum Step {
    /// Read a value that opens nothing.
    Value,
    /// Read the header of a struct or container to go into.
    Enter(Open),
    /// Closed the innermost struct or container.
    Leave,
}

impl Walk {
    /// A walk of the struct starting at `start`.
    pub fn new(encoding: Encoding, start: usize) -> Self {
        Walk {
            encoding,
            pos: start,
            open: Vec::new(),
            begun: false,
        }
    }

    /// Walks on over `buf` (the same bytes as before, maybe more of them).
    ///
    /// # Errors
    /// As [`struct_end`]; after `Incomplete` the walk can resume.
    pub fn resume(&mut self, buf: &[u8], limits: Limits) -> Result<usize, DecodeError> {
        if !self.begun {
            self.enter(Open::Struct)?;
            self.begun = true;
        }
        while let Some(&innermost) = self.open.last() {
            let mut unit = Unit {
                cur: Cursor { buf, pos: self.pos },
                max: limits.max_frame,
            };
            let step = match self.encoding {
                Encoding::Binary | Encoding::LaxBinary => unit.binary_step(innermost),
                Encoding::Compact => unit.compact_step(innermost),
            }?;
            self.pos = unit.cur.pos;
            self.apply(step)?;
        }
        Ok(self.pos)
    }

    fn apply(&mut self, step: Step) -> Result<(), DecodeError> {
        if let Some(Open::Values { remaining, .. }) = self.open.last_mut()
            && !matches!(step, Step::Leave)
        {
            *remaining -= 1;
        }
        match step {
            Step::Value => Ok(()),
            Step::Enter(open) => self.enter(open),
            Step::Leave => {
                self.open.pop();
                Ok(())
            }
        }
    }

    fn enter(&mut self, open: Open) -> Result<(), DecodeError> {
        if self.open.len() >= MAX_DEPTH {
            return Err(invalid(format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.open.push(open);
        Ok(())
    }
}

/// One unit's read: nothing is kept of it unless it completes.
struct Unit<'a> {
    cur: Cursor<'a>,
    /// The largest message, in bytes from offset 0.
    max: usize,
}

impl Open {
    /// The type of the next value, or `None` when none is left.
    fn next_type(self) -> Option<u8> {
        match self {
            Open::Struct => None,
            Open::Values { remaining: 0, .. } => None,
            Open::Values { types, remaining } => Some(types[remaining % 2]),
        }
    }
}

// === binary protocol ===

mod binary_type {
    pub const BOOL: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const I16: u8 = 6;
    pub const I32: u8 = 8;
    pub const I64: u8 = 10;
    pub const STRING: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const MAP: u8 = 13;
    pub const SET: u8 = 14;
    pub const LIST: u8 = 15;
    pub const UUID: u8 = 16;
}

impl Unit<'_> {
    fn binary_step(&mut self, innermost: Open) -> Result<Step, DecodeError> {
        if let Open::Struct = innermost {
            let field_type = self.u8()?;
            if field_type == 0 {
                return Ok(Step::Leave);
            }
            self.cur.advance(2)?;
            return self.binary_value(field_type);
        }
        match innermost.next_type() {
            Some(ttype) => self.binary_value(ttype),
            None => Ok(Step::Leave),
        }
    }

    fn binary_value(&mut self, ttype: u8) -> Result<Step, DecodeError> {
        use binary_type::*;
        match ttype {
            BOOL | BYTE => self.skip(1),
            I16 => self.skip(2),
            I32 => self.skip(4),
            DOUBLE | I64 => self.skip(8),
            UUID => self.skip(16),
            STRING => {
                let len = self.binary_len("string")?;
                self.declared(len, 1)?;
                self.skip(len)
            }
            STRUCT => Ok(Step::Enter(Open::Struct)),
            MAP => {
                let (key, value) = (self.u8()?, self.u8()?);
                let len = self.binary_len("map")?;
                self.declared(len, 2)?;
                Ok(Step::Enter(Open::map(key, value, len)))
            }
            SET | LIST => {
                let element = self.u8()?;
                let len = self.binary_len("list")?;
                self.declared(len, 1)?;
                Ok(Step::Enter(Open::list(element, len)))
            }
            other => Err(invalid(format!("unknown binary field type {other}"))),
        }
    }

    fn binary_len(&mut self, what: &str) -> Result<usize, DecodeError> {
        let len = self.cur.i32_be()?;
        usize::try_from(len).map_err(|_| invalid(format!("negative {what} length {len}")))
    }
}

// === compact protocol ===

mod compact_type {
    pub const BOOL_TRUE: u8 = 1;
    pub const BOOL_FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const UUID: u8 = 13;
}

impl Unit<'_> {
    fn compact_step(&mut self, innermost: Open) -> Result<Step, DecodeError> {
        if let Open::Struct = innermost {
            let header = self.u8()?;
            if header == 0 {
                return Ok(Step::Leave);
            }
            if header >> 4 == 0 {
                // No delta: the field id follows as a zigzag varint.
                self.cur.varint()?;
            }
            return match header & 0x0f {
                // A bool field carries its value in the type nibble.
                compact_type::BOOL_TRUE | compact_type::BOOL_FALSE => Ok(Step::Value),
                ttype => self.compact_value(ttype),
            };
        }
        match innermost.next_type() {
            Some(ttype) => self.compact_value(ttype),
            None => Ok(Step::Leave),
        }
    }

    fn compact_value(&mut self, ttype: u8) -> Result<Step, DecodeError> {
        use compact_type::*;
        match ttype {
            BOOL_TRUE | BOOL_FALSE | BYTE => self.skip(1),
            I16 | I32 | I64 => self.cur.varint().map(|_| Step::Value),
            DOUBLE => self.skip(8),
            UUID => self.skip(16),
            BINARY => {
                let len = self.compact_len()?;
                self.declared(len, 1)?;
                self.skip(len)
            }
            STRUCT => Ok(Step::Enter(Open::Struct)),
            LIST | SET => {
                let header = self.u8()?;
                let len = match header >> 4 {
                    15 => self.compact_len()?,
                    short => usize::from(short),
                };
                self.declared(len, 1)?;
                Ok(Step::Enter(Open::list(header & 0x0f, len)))
            }
            MAP => {
                let len = self.compact_len()?;
                if len == 0 {
                    return Ok(Step::Value);
                }
                self.declared(len, 2)?;
                let types = self.u8()?;
                Ok(Step::Enter(Open::map(types >> 4, types & 0x0f, len)))
            }
            other => Err(invalid(format!("unknown compact field type {other}"))),
        }
    }

    fn compact_len(&mut self) -> Result<usize, DecodeError> {
        let len = self.cur.varint()?;
        let len = i32::try_from(len).map_err(|_| invalid(format!("length {len} out of range")))?;
        usize::try_from(len).map_err(|_| invalid(format!("negative length {len}")))
    }
}

// === cursor ===

impl Unit<'_> {
    /// Refuses `count` items of at least `min_size` bytes each that cannot
    /// fit the limit from here, before any of them is waited for.
    fn declared(&self, count: usize, min_size: usize) -> Result<(), DecodeError> {
        let size = count.saturating_mul(min_size).saturating_add(self.cur.pos);
        match size > self.max {
            true => Err(DecodeError::TooLarge {
                protocol: Protocol::Thrift,
                size,
                max: self.max,
            }),
            false => Ok(()),
        }
    }

    fn skip(&mut self, n: usize) -> Result<Step, DecodeError> {
        self.cur.advance(n).map(|()| Step::Value)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.cur.u8()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary body: a list of `n` i32s, a map of one string to a struct
    /// holding a bool, then the stop byte.
    fn nested_binary_body(n: i32) -> Vec<u8> {
        let mut body = vec![15, 0, 1, 8];
        body.extend(n.to_be_bytes());
        for i in 0..n {
            body.extend(i.to_be_bytes());
        }
        body.extend([13, 0, 2, 11, 12, 0, 0, 0, 1, 0, 0, 0, 2, b'k', b'v']);
        body.extend([2, 0, 1, 1, 0]);
        body.push(0);
        body
    }

    #[test]
    fn a_walk_resumed_at_every_byte_ends_where_a_whole_walk_does() {
        let body = nested_binary_body(40);
        let whole = struct_end(Encoding::Binary, &body, 0, Limits::default()).expect("whole");
        assert_eq!(whole, body.len());
        let mut walk = Walk::new(Encoding::Binary, 0);
        for cut in 0..body.len() {
            assert!(matches!(
                walk.resume(&body[..cut], Limits::default()),
                Err(DecodeError::Incomplete)
            ));
        }
        assert_eq!(walk.resume(&body, Limits::default()).expect("end"), whole);
    }

    #[test]
    fn a_resumed_walk_does_not_read_again_what_it_has_walked() {
        // 100,000 list elements in 1,000 pieces: each resume walks only the
        // new piece, so the units read add up to the elements once (plus
        // one unit cut short per piece).
        let body = nested_binary_body(100_000);
        let mut walk = Walk::new(Encoding::Binary, 0);
        let piece = body.len() / 1000;
        let mut at = piece;
        while at < body.len() {
            let before = walk.pos;
            assert!(walk.resume(&body[..at], Limits::default()).is_err());
            assert!(
                walk.pos >= before && at - walk.pos < 8,
                "stopped near the end"
            );
            at += piece;
        }
        assert_eq!(
            walk.resume(&body, Limits::default()).expect("end"),
            body.len()
        );
    }
}
