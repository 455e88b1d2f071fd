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

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::arena::{Arena, Span};
use crate::{dubbo, http1, thrift};

/// Attribute names (lower case) to values, sorted by name.
///
/// Names and values live in one string, the entries being offsets into it,
/// so a request's attributes cost two allocations however many headers it
/// carries; a look-up is a binary search.
#[derive(Clone, Default)]
pub struct Attributes {
    text: Arena,
    /// Name and value of each attribute, sorted by name.
    entries: Vec<(Span, Span)>,
}

impl Attributes {
    /// No attributes, with room for `entries` of `bytes` bytes in all.
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        Attributes {
            text: Arena::with_capacity(bytes),
            entries: Vec::with_capacity(entries),
        }
    }

    /// Where `name` (lower case) is, or would go.
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(n, _)| self.text.get(*n).cmp(name))
    }

    /// The value of `name`, looked up case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        let at = self.find(&lower(name)).ok()?;
        self.entries.get(at).map(|(_, v)| self.text.get(*v))
    }

    /// Sets `name` (lower-cased) to `value`; the first value set wins, as the
    /// first of several equal headers does in a route match.
    pub fn insert(&mut self, name: &str, value: impl AsRef<str>) {
        let name = lower(name);
        let Err(at) = self.find(&name) else { return };
        let name = self.text.push(&name);
        let value = self.text.push(value.as_ref());
        self.entries.insert(at, (name, value));
    }

    /// All attributes, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(n, v)| (self.text.get(*n), self.text.get(*v)))
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Attributes) -> bool {
        self.iter().cmp(other.iter()) == Ordering::Equal
    }
}

impl Eq for Attributes {}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `name` in lower case, copied only when it has an upper-case letter:
/// route conditions are lower case already, and every request looks them up.
fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
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
    let head: usize = request.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    let extra = request.method.len() + 2 * request.target.len() + 32;
    let mut attributes =
        Attributes::with_capacity(request.headers.iter().count() + 4, head + extra);
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
