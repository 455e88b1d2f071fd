//! gRPC, and Dubbo's Triple (the same wire, a Dubbo-flavoured name): unary
//! calls over HTTP/2, whose request and answer bodies are length-prefixed
//! protobuf messages and whose outcome is the `grpc-status` trailer
//! (PROTOCOL-HTTP2.md in grpc/grpc).
//!
//! This module holds what every side shares and does no I/O: the message
//! framing ([`frame`]), status codes and the HTTP mapping intermediaries use
//! ([`status`]), the sample Greeter's messages ([`greeter`]) and the header
//! names of the protocol. The HTTP/2 connections themselves are the `h2`
//! crate's, driven by the fleet, the client and the proxy.

pub mod frame;
pub mod greeter;
pub mod status;

pub use frame::{decode, encode};
pub use status::Code;

/// The content type of a gRPC message body (`application/grpc+proto` and
/// other suffixes are gRPC too).
pub const CONTENT_TYPE: &str = "application/grpc";
/// The trailer (or, in a trailers-only answer, header) carrying the status.
pub const STATUS: &str = "grpc-status";
/// The status's human-readable text, percent-encoded.
pub const MESSAGE: &str = "grpc-message";

/// Whether a `content-type` value names gRPC (`application/grpc`,
/// `application/grpc+proto`, `application/grpc;…`), as Envoy's
/// `Grpc::Common::isGrpcRequestHeaders` tests it.
pub fn is_grpc(content_type: &str) -> bool {
    content_type
        .strip_prefix(CONTENT_TYPE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
}

/// The `:path` of a unary method: `/{service}/{method}`.
pub fn path(service: &str, method: &str) -> String {
    format!("/{service}/{method}")
}

/// The routing view of a call: `:method`, `:path`, `:authority` and every
/// header (gRPC metadata, Triple attachments), as Envoy's HTTP route
/// matcher sees an HTTP/2 request. Binary (`-bin`) metadata is skipped: it
/// is not text, and Istio's header matches compare text.
pub fn attributes(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> crate::attributes::RequestView {
    let mut attributes = crate::attributes::Attributes::with_capacity(headers.len() + 3, 256);
    attributes.insert(":method", method.as_str());
    attributes.insert(":path", uri.path_and_query().map_or("/", |p| p.as_str()));
    if let Some(authority) = uri.authority() {
        attributes.insert(":authority", authority.as_str());
    }
    for (name, value) in headers {
        if name.as_str().ends_with("-bin") {
            continue;
        }
        if let Ok(value) = value.to_str() {
            attributes.insert(name.as_str(), value);
        }
    }
    crate::attributes::RequestView {
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        attributes,
    }
}

#[cfg(test)]
mod tests;
