//! Body framing: content-length, chunked, or until the peer closes.

use bytes::{Buf, Bytes, BytesMut};

use crate::{DecodeError, Limits, Protocol};

/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Exactly this many bytes (0 for no body).
    Length(usize),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the peer closes (responses without a length only).
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

/// Reads one body from a stream, across as many reads as it takes.
#[derive(Debug)]
pub(crate) struct BodyReader {
    step: Step,
    body: BytesMut,
    limits: Limits,
}

fn invalid(reason: String) -> DecodeError {
    DecodeError::invalid(Protocol::Http, reason)
}

impl BodyReader {
    pub(crate) fn new(framing: Framing, limits: Limits) -> Result<Self, DecodeError> {
        let (step, declared) = match framing {
            Framing::Length(0) => (Step::Done, 0),
            Framing::Length(n) => {
                DecodeError::check_size(Protocol::Http, n, limits)?;
                (Step::Length(n), n)
            }
            Framing::Chunked => (Step::ChunkSize, 0),
            Framing::UntilClose => (Step::UntilClose, 0),
        };
        Ok(BodyReader {
            step,
            // A declared length is room taken at once, so that what the
            // body will hold is known (and can be judged) before it arrives.
            body: BytesMut::with_capacity(declared),
            limits,
        })
    }

    /// The bytes this body holds room for.
    pub(crate) fn capacity(&self) -> usize {
        self.body.capacity()
    }

    /// Moves what it can from `src` into the body; the body once complete.
    pub(crate) fn read(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        loop {
            let progressed = match self.step {
                Step::Done => return Ok(Some(std::mem::take(&mut self.body).freeze())),
                Step::Length(remaining) => self.data(src, remaining, |left| match left {
                    0 => Step::Done,
                    n => Step::Length(n),
                })?,
                Step::ChunkData(remaining) => self.data(src, remaining, |left| match left {
                    0 => Step::ChunkEnd,
                    n => Step::ChunkData(n),
                })?,
                Step::ChunkSize => match take_line(src)? {
                    Some(line) => {
                        let size = chunk_size(&line)?;
                        // Judged when announced, not when the bytes arrive.
                        DecodeError::check_size(
                            Protocol::Http,
                            self.body.len().saturating_add(size),
                            self.limits,
                        )?;
                        self.step = match size {
                            0 => Step::Trailers,
                            n => Step::ChunkData(n),
                        };
                        true
                    }
                    None => false,
                },
                Step::ChunkEnd => match src.get(..2) {
                    Some(b"\r\n") => {
                        src.advance(2);
                        self.step = Step::ChunkSize;
                        true
                    }
                    Some(_) => return Err(invalid("chunk data not followed by CRLF".to_owned())),
                    None => false,
                },
                Step::Trailers => match take_line(src)? {
                    Some(line) if line.is_empty() => {
                        self.step = Step::Done;
                        true
                    }
                    Some(_) => true,
                    None => false,
                },
                Step::UntilClose => {
                    let n = src.len();
                    self.append(src, n)?;
                    false
                }
            };
            if !progressed {
                return Ok(None);
            }
        }
    }

    /// The body when the peer closed: complete only for until-close framing.
    pub(crate) fn finish_at_eof(&mut self) -> Result<Bytes, DecodeError> {
        match self.step {
            Step::UntilClose | Step::Done => Ok(std::mem::take(&mut self.body).freeze()),
            _ => Err(invalid(
                "connection closed inside a message body".to_owned(),
            )),
        }
    }

    fn data(
        &mut self,
        src: &mut BytesMut,
        remaining: usize,
        next: impl FnOnce(usize) -> Step,
    ) -> Result<bool, DecodeError> {
        let n = remaining.min(src.len());
        if n == 0 {
            return Ok(false);
        }
        self.append(src, n)?;
        self.step = next(remaining - n);
        Ok(true)
    }

    fn append(&mut self, src: &mut BytesMut, n: usize) -> Result<(), DecodeError> {
        DecodeError::check_size(Protocol::Http, self.body.len() + n, self.limits)?;
        self.body.extend_from_slice(&src.split_to(n));
        Ok(())
    }
}

/// Takes one CRLF-terminated line, without the CRLF.
fn take_line(src: &mut BytesMut) -> Result<Option<BytesMut>, DecodeError> {
    match src.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = src.split_to(end);
            src.advance(2);
            Ok(Some(line))
        }
        None if src.len() > MAX_LINE => Err(invalid(format!(
            "chunk-size or trailer line longer than {MAX_LINE} bytes"
        ))),
        None => Ok(None),
    }
}

fn chunk_size(line: &[u8]) -> Result<usize, DecodeError> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(digits, 16)
        .map_err(|_| invalid(format!("bad chunk size '{}'", text.escape_debug())))
}
