//! gRPC status codes (grpc/grpc `doc/statuscodes.md`) and the mapping from
//! an HTTP status that intermediaries apply to a non-gRPC answer
//! (`doc/http-grpc-status-mapping.md`, Envoy's `Grpc::Utility::httpToGrpcStatus`).

use std::fmt;

/// A gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub u32);

const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl Code {
    /// Success.
    pub const OK: Code = Code(0);
    /// The caller cancelled.
    pub const CANCELLED: Code = Code(1);
    /// An unknown error (also a missing or unreadable `grpc-status`).
    pub const UNKNOWN: Code = Code(2);
    /// The deadline passed before the call completed.
    pub const DEADLINE_EXCEEDED: Code = Code(4);
    /// A resource (a quota, a connection pool) is exhausted.
    pub const RESOURCE_EXHAUSTED: Code = Code(8);
    /// No such method (an HTTP 404 from an intermediary maps here).
    pub const UNIMPLEMENTED: Code = Code(12);
    /// An internal error (a malformed message among them).
    pub const INTERNAL: Code = Code(13);
    /// The service is unavailable: the retriable status.
    pub const UNAVAILABLE: Code = Code(14);

    /// Its canonical name (`UNAVAILABLE`), or the number for a code outside
    /// the 17 defined.
    pub fn name(self) -> String {
        NAMES
            .get(self.0 as usize)
            .map_or_else(|| self.0.to_string(), |n| (*n).to_owned())
    }

    /// A code from its canonical name (any case, as Istio's `grpcStatus`
    /// and Envoy's `retry_on` spell them, `-` or `_` alike) or its number.
    pub fn parse(written: &str) -> Option<Code> {
        if let Ok(number) = written.trim().parse::<u32>() {
            return Some(Code(number));
        }
        let wanted = written.trim().replace('-', "_");
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&wanted))
            .map(|at| Code(at as u32))
    }

    /// The code of an HTTP answer that carries no `grpc-status`.
    pub fn from_http(status: u16) -> Code {
        match status {
            400 => Code::INTERNAL,
            401 => Code(16),
            403 => Code(7),
            404 => Code::UNIMPLEMENTED,
            429 | 502 | 503 | 504 => Code::UNAVAILABLE,
            _ => Code::UNKNOWN,
        }
    }

    /// The HTTP status Envoy reports a gRPC answer as to outlier detection
    /// and its statistics (`Grpc::Utility::grpcToHttpStatus`).
    pub fn to_http(self) -> u16 {
        match self.0 {
            0 => 200,
            1 => 499,
            3 | 9 | 11 => 400,
            4 => 504,
            5 => 404,
            6 | 10 => 409,
            7 => 403,
            8 => 429,
            12 => 501,
            14 => 503,
            16 => 401,
            _ => 500,
        }
    }

    /// The code a `grpc-status` value carries; `UNKNOWN` when it is not a
    /// number (the spec's rule for an unparsable status).
    pub fn from_header(value: &[u8]) -> Code {
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map_or(Code::UNKNOWN, Code)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
