//! Finding where a Thrift struct ends without decoding it: an unframed
//! transport has no length prefix, so the only way to know where a message
//! ends is to walk its body field by field, by type.
//!
//! The walk allocates nothing. Every loop consumes at least one byte per
//! iteration, so a hostile element count cannot make it spin past the buffer.
//! A declared length or count is judged against the size limit as soon as
//! it is read: a string of 2³¹−1 bytes, or a list of as many elements
//! (each at least one byte), is refused at once, not waited for.

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
    let mut walker = Walker {
        cur: Cursor { buf, pos: start },
        depth: 0,
        max: limits.max_frame,
    };
    match encoding {
        Encoding::Binary | Encoding::LaxBinary => walker.binary_struct()?,
        Encoding::Compact => walker.compact_struct()?,
    }
    Ok(walker.cur.pos)
}

/// A cursor that also counts nesting and knows the size limit.
struct Walker<'a> {
    cur: Cursor<'a>,
    depth: usize,
    /// The largest message, in bytes from offset 0.
    max: usize,
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

impl Walker<'_> {
    fn binary_struct(&mut self) -> Result<(), DecodeError> {
        self.enter()?;
        loop {
            let field_type = self.u8()?;
            if field_type == 0 {
                break;
            }
            self.advance(2)?;
            self.binary_value(field_type)?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn binary_value(&mut self, ttype: u8) -> Result<(), DecodeError> {
        use binary_type::*;
        match ttype {
            BOOL | BYTE => self.advance(1),
            I16 => self.advance(2),
            I32 => self.advance(4),
            DOUBLE | I64 => self.advance(8),
            UUID => self.advance(16),
            STRING => {
                let len = self.binary_len("string")?;
                self.declared(len, 1)?;
                self.advance(len)
            }
            STRUCT => self.binary_struct(),
            MAP => {
                let (key, value) = (self.u8()?, self.u8()?);
                let len = self.binary_len("map")?;
                self.declared(len, 2)?;
                self.enter()?;
                for _ in 0..len {
                    self.binary_value(key)?;
                    self.binary_value(value)?;
                }
                self.depth -= 1;
                Ok(())
            }
            SET | LIST => {
                let element = self.u8()?;
                let len = self.binary_len("list")?;
                self.declared(len, 1)?;
                self.enter()?;
                for _ in 0..len {
                    self.binary_value(element)?;
                }
                self.depth -= 1;
                Ok(())
            }
            other => Err(invalid(format!("unknown binary field type {other}"))),
        }
    }

    fn binary_len(&mut self, what: &str) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
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

impl Walker<'_> {
    fn compact_struct(&mut self) -> Result<(), DecodeError> {
        self.enter()?;
        loop {
            let header = self.u8()?;
            if header == 0 {
                break;
            }
            if header >> 4 == 0 {
                // No delta: the field id follows as a zigzag varint.
                self.varint()?;
            }
            match header & 0x0f {
                // A bool field carries its value in the type nibble.
                compact_type::BOOL_TRUE | compact_type::BOOL_FALSE => {}
                ttype => self.compact_value(ttype)?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn compact_value(&mut self, ttype: u8) -> Result<(), DecodeError> {
        use compact_type::*;
        match ttype {
            BOOL_TRUE | BOOL_FALSE | BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            UUID => self.advance(16),
            BINARY => {
                let len = self.compact_len()?;
                self.declared(len, 1)?;
                self.advance(len)
            }
            STRUCT => self.compact_struct(),
            LIST | SET => {
                let header = self.u8()?;
                let len = match header >> 4 {
                    15 => self.compact_len()?,
                    short => usize::from(short),
                };
                self.declared(len, 1)?;
                self.enter()?;
                for _ in 0..len {
                    self.compact_value(header & 0x0f)?;
                }
                self.depth -= 1;
                Ok(())
            }
            MAP => {
                let len = self.compact_len()?;
                if len == 0 {
                    return Ok(());
                }
                self.declared(len, 2)?;
                let types = self.u8()?;
                self.enter()?;
                for _ in 0..len {
                    self.compact_value(types >> 4)?;
                    self.compact_value(types & 0x0f)?;
                }
                self.depth -= 1;
                Ok(())
            }
            other => Err(invalid(format!("unknown compact field type {other}"))),
        }
    }

    fn compact_len(&mut self) -> Result<usize, DecodeError> {
        let len = self.varint()?;
        let len = i32::try_from(len).map_err(|_| invalid(format!("length {len} out of range")))?;
        usize::try_from(len).map_err(|_| invalid(format!("negative length {len}")))
    }
}

// === cursor ===

impl Walker<'_> {
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

    fn enter(&mut self) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid(format!("nesting deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        self.cur.take(n)
    }

    fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        self.cur.advance(n)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.cur.u8()
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        self.cur.varint()
    }
}
