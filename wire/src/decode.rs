//! What every decoder in this crate shares: the error that keeps "not enough
//! bytes yet" apart from "these bytes are wrong", and the size limit that keeps
//! a hostile peer from making us allocate.

use std::fmt;

/// The protocols this crate frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Apache Thrift (binary or compact protocol, framed or unframed transport).
    Thrift,
    /// Dubbo2, the classic dubbo protocol with a hessian2 body.
    Dubbo,
    /// HTTP/1.1.
    Http,
    /// gRPC over HTTP/2 (Dubbo's Triple is the same wire, and `triple` its name).
    #[serde(alias = "triple")]
    Grpc,
    /// Opaque bytes: the protocol is not looked at.
    Tcp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Thrift => "thrift",
            Protocol::Dubbo => "dubbo",
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        })
    }
}

/// Size limits a decoder enforces before it buffers or allocates anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame (or unframed message, or HTTP body) accepted.
    pub max_frame: usize,
    /// The largest HTTP head (start line and header fields) accepted: a
    /// head is re-parsed as its bytes arrive, so a small bound also keeps
    /// a head sent in many pieces cheap.
    pub max_head: usize,
    /// The most header fields in an HTTP head (at most
    /// [`Limits::DEFAULT_MAX_HEADERS`], the parser's room).
    pub max_headers: usize,
}

impl Limits {
    /// 16 MiB: what Envoy's thrift and dubbo filters and the thrift crate accept.
    pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
    /// 60 KiB: Envoy's `max_request_headers_kb` default.
    pub const DEFAULT_MAX_HEAD: usize = 60 * 1024;
    /// 128: the room the HTTP parser has for header fields, which servers
    /// behind a proxy accept.
    pub const DEFAULT_MAX_HEADERS: usize = 128;
    /// 100: Envoy's `max_headers_count` default, what a proxy accepts
    /// downstream, so that what it adds on the way up still fits the 128
    /// of the servers behind it.
    pub const PROXY_MAX_HEADERS: usize = 100;

    /// These limits with at most `max_frame` bytes per frame (the head
    /// bound shrinks with it).
    pub fn with_max_frame(max_frame: usize) -> Self {
        Limits {
            max_frame,
            max_head: Self::DEFAULT_MAX_HEAD.min(max_frame),
            max_headers: Self::DEFAULT_MAX_HEADERS,
        }
    }
}

impl Limits {
    /// These limits with at most `max_headers` header fields.
    pub fn with_max_headers(self, max_headers: usize) -> Self {
        Limits {
            max_headers: max_headers.min(Self::DEFAULT_MAX_HEADERS),
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::with_max_frame(Self::DEFAULT_MAX_FRAME)
    }
}

/// Why a byte sequence could not be decoded.
///
/// `Incomplete` is normal flow on a stream (wait for more bytes); the other
/// variants are protocol errors after which the connection cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ends before the message does.
    #[error("incomplete message: more bytes needed")]
    Incomplete,
    /// The message announces (or has grown to) more than the configured limit.
    #[error("{protocol}: frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The protocol being decoded.
        protocol: Protocol,
        /// The announced or buffered size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The bytes do not follow the protocol.
    #[error("{protocol}: {reason}")]
    Invalid {
        /// The protocol being decoded.
        protocol: Protocol,
        /// What is wrong, naming the field and quoting the value.
        reason: String,
    },
}

impl DecodeError {
    /// A protocol error with a reason.
    pub fn invalid(protocol: Protocol, reason: impl Into<String>) -> Self {
        DecodeError::Invalid {
            protocol,
            reason: reason.into(),
        }
    }

    /// Checks the size of an HTTP head still arriving against `limits`.
    ///
    /// # Errors
    /// `TooLarge` when `size` exceeds `limits.max_head`.
    pub fn check_head(size: usize, limits: Limits) -> Result<(), Self> {
        match size > limits.max_head {
            true => Err(DecodeError::TooLarge {
                protocol: Protocol::Http,
                size,
                max: limits.max_head,
            }),
            false => Ok(()),
        }
    }

    /// Checks `size` against `limits`.
    ///
    /// # Errors
    /// `TooLarge` when `size` exceeds `limits.max_frame`.
    pub fn check_size(protocol: Protocol, size: usize, limits: Limits) -> Result<(), Self> {
        if size > limits.max_frame {
            Err(DecodeError::TooLarge {
                protocol,
                size,
                max: limits.max_frame,
            })
        } else {
            Ok(())
        }
    }
}

/// The error type of the `tokio_util::codec` decoders and encoders: a decode
/// error or the socket's own error.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The peer sent bytes that do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
