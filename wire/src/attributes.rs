//! The routing view of a request: its protocol-level request id and a map of
//! string attributes, named the way Aeraki's MetaProtocol codecs and Envoy's
//! HTTP route matcher name them. Names are lower-cased (Aeraki stores them in
//! an Envoy header map), values are kept exactly.
//!
//! - thrift: `method` (and `service` when multiplexed as `Service:method`);
//!   Aeraki's codec exports nothing else, and meshbench's `context` argument
//!   stays in the body, unseen by routing.
//! - dubbo: `interface`, `method`, `version`, `group`, and every attachment
//!   whose value is a string.
//! - http: `:method`, `:path` (with the query, as Envoy's), `:authority`, and
//!   every header.

use std::collections::BTreeMap;

use crate::{dubbo, http1, thrift};

/// Attribute names (lower case) to values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(BTreeMap<String, String>);

impl Attributes {
    /// The value of `name`, looked up case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// Sets `name` (lower-cased) to `value`; the first value set wins, as the
    /// first of several equal headers does in a route match.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        self.0
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| value.into());
    }

    /// All attributes, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a router sees of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestView {
    /// The protocol's own request id: thrift seqid, dubbo request id, or the
    /// HTTP `x-request-id` header when present.
    pub request_id: Option<String>,
    /// The routable attributes.
    pub attributes: Attributes,
}

/// The routing view of a Thrift message.
pub fn thrift(message: &thrift::Message) -> RequestView {
    let mut attributes = Attributes::default();
    attributes.insert("method", message.method());
    if let Some(service) = message.service() {
        attributes.insert("service", service);
    }
    RequestView {
        request_id: Some(message.header.seqid.to_string()),
        attributes,
    }
}

/// The routing view of a Dubbo request, from its cheap head (arguments skipped).
pub fn dubbo(request_id: u64, head: &dubbo::RequestHead) -> RequestView {
    let mut attributes = Attributes::default();
    attributes.insert("interface", head.service.as_str());
    attributes.insert("method", head.method.as_str());
    if !head.version.is_empty() {
        attributes.insert("version", head.version.as_str());
    }
    for (key, value) in head.attachments.iter() {
        if let Some(value) = value.as_str() {
            attributes.insert(key, value);
        }
    }
    RequestView {
        request_id: Some(request_id.to_string()),
        attributes,
    }
}

/// The routing view of an HTTP request.
pub fn http(request: &http1::Request) -> RequestView {
    let mut attributes = Attributes::default();
    attributes.insert(":method", request.method.as_str());
    attributes.insert(":path", request.target.as_str());
    if let Some(host) = request.headers.get("host") {
        attributes.insert(":authority", host);
    }
    for (name, value) in request.headers.iter() {
        attributes.insert(name, value);
    }
    RequestView {
        request_id: request.headers.get("x-request-id").map(str::to_owned),
        attributes,
    }
}

#[cfg(test)]
mod tests;
