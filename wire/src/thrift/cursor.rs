//! A bounds-checked read position over a Thrift message, shared by the header
//! parser and the body walker. Running out of bytes is `Incomplete`.

use crate::{DecodeError, Protocol};

pub(crate) fn invalid(reason: String) -> DecodeError {
    DecodeError::invalid(Protocol::Thrift, reason)
}

pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Incomplete)?;
        let bytes = self.buf.get(self.pos..end).ok_or(DecodeError::Incomplete)?;
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(drop)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn i32_be(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned LEB128 varint of at most 10 bytes (compact protocol).
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(invalid("varint longer than 10 bytes".to_owned()))
    }
}
