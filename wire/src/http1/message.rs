//! Requests, responses and their headers.

use bytes::{BufMut, Bytes, BytesMut};

use crate::arena::{Arena, Span};

/// Header fields in the order received. Names keep their case on the wire;
/// look-ups ignore it.
///
/// Every name and value lives in one string, the fields being offsets into
/// it: a parsed head costs two allocations, not two per field, and a proxy
/// parses two heads per request.
#[derive(Clone, Default)]
pub struct Headers {
    text: Arena,
    /// Name and value of each field, in order.
    fields: Vec<(Span, Span)>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Headers::default()
    }

    /// No fields, with room for `fields` fields of `bytes` bytes in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        Headers {
            text: Arena::with_capacity(bytes),
            fields: Vec::with_capacity(fields),
        }
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|(n, v)| (self.text.get(*n), self.text.get(*v)))
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Appends a field.
    pub fn append(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = self.text.push(name.as_ref());
        let value = self.text.push(value.as_ref());
        self.fields.push((name, value));
    }

    /// Replaces every field called `name` with one field.
    pub fn set(&mut self, name: &str, value: impl AsRef<str>) {
        self.remove(name);
        self.append(name, value);
    }

    /// Removes every field called `name` (their text stays until the
    /// headers are dropped: removals are rare and heads short-lived).
    pub fn remove(&mut self, name: &str) {
        let text = &self.text;
        self.fields
            .retain(|(n, _)| !text.get(*n).eq_ignore_ascii_case(name));
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs()
    }

    /// Whether a comma-separated header (`connection`, `transfer-encoding`)
    /// lists `token`, case-insensitively.
    pub fn lists(&self, name: &str, token: &str) -> bool {
        self.pairs()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Writes the fields and, when the message may have a body, its length.
    fn write(&self, body_len: Option<usize>, out: &mut BytesMut) {
        for (name, value) in self.iter() {
            // The codec frames bodies itself: framing headers from a peer are dropped.
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                continue;
            }
            put_field(out, name, value);
        }
        if let Some(len) = body_len {
            put_field(out, "content-length", &len.to_string());
        }
        out.put_slice(b"\r\n");
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.pairs().eq(other.pairs())
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pairs()).finish()
    }
}

fn put_field(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n");
}

/// An HTTP/1.x request with its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as sent (`/hello?delay=5ms`).
    pub target: String,
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// Header fields.
    pub headers: Headers,
    /// The body, de-chunked.
    pub body: Bytes,
}

impl Request {
    /// An HTTP/1.1 request with no headers and no body.
    pub fn new(method: &str, target: &str) -> Self {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            minor_version: 1,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The value of query parameter `name`, undecoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Whether the connection stays open after this exchange.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.minor_version, &self.headers)
    }

    /// Appends the request's bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.target.len() + 64 + self.body.len());
        out.put_slice(self.method.as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.target.as_bytes());
        out.put_slice(if self.minor_version == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        self.headers.write(Some(self.body.len()), out);
        out.put_slice(&self.body);
    }
}

/// An HTTP/1.x response with its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// Header fields.
    pub headers: Headers,
    /// The body, de-chunked.
    pub body: Bytes,
}

impl Response {
    /// An HTTP/1.1 response with `status`, its canonical reason and `body`.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            reason: reason(status).to_owned(),
            minor_version: 1,
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// Whether the connection stays open after this exchange.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.minor_version, &self.headers)
    }

    /// Whether this status may carry a body (not 1xx, 204 or 304).
    pub fn may_have_body(&self) -> bool {
        !(100..200).contains(&self.status) && self.status != 204 && self.status != 304
    }

    /// Appends the response's bytes to `out`. A status that may not carry a
    /// body (see [`Response::may_have_body`]) is written without one.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(64 + self.body.len());
        out.put_slice(if self.minor_version == 0 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        out.put_slice(self.status.to_string().as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.reason.as_bytes());
        out.put_slice(b"\r\n");
        if self.may_have_body() {
            self.headers.write(Some(self.body.len()), out);
            out.put_slice(&self.body);
        } else {
            self.headers.write(None, out);
        }
    }
}

fn keep_alive(minor_version: u8, headers: &Headers) -> bool {
    if minor_version == 0 {
        headers.lists("connection", "keep-alive")
    } else {
        !headers.lists("connection", "close")
    }
}

/// The canonical reason phrase of the statuses the bench produces.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
