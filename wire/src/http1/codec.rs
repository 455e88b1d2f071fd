//! The server-side and client-side HTTP/1.1 codecs.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::body::{BodyReader, Framing};
use super::message::{Headers, Request, Response};
use crate::{CodecError, DecodeError, Limits, Protocol};

/// The most header fields a message may carry.
const MAX_HEADERS: usize = 128;

fn invalid(reason: String) -> DecodeError {
    DecodeError::invalid(Protocol::Http, reason)
}

/// A message whose head is parsed and whose body is still arriving.
#[derive(Debug)]
struct Pending<H> {
    head: H,
    body: BodyReader,
}

/// Decodes requests, encodes responses: the server side of a connection.
#[derive(Debug, Default)]
pub struct ServerCodec {
    limits: Limits,
    pending: Option<Pending<Request>>,
    /// The status that answers the request that did not decode (400, 413
    /// or 431), once one did not.
    refused: Option<u16>,
}

impl ServerCodec {
    /// A codec with the given limits.
    pub fn new(limits: Limits) -> Self {
        ServerCodec {
            limits,
            pending: None,
            refused: None,
        }
    }

    /// Records what answers a request that did not decode: 431 for a head
    /// over its bound, 413 for a body over the frame limit (announced or
    /// grown), 400 for bytes that are no HTTP.
    fn refuse(&mut self, status: u16, error: DecodeError) -> DecodeError {
        self.refused = Some(match error {
            DecodeError::Invalid { .. } => 400,
            _ => status,
        });
        error
    }

    fn too_many_headers(&mut self) -> DecodeError {
        let max = self.limits.max_headers;
        self.refused = Some(431);
        invalid(format!("more than {max} header fields"))
    }

    fn parse_head(&mut self, src: &mut BytesMut) -> Result<Option<Pending<Request>>, DecodeError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        let len = match parsed.parse(src) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                DecodeError::check_head(src.len(), self.limits).map_err(|e| self.refuse(431, e))?;
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(self.too_many_headers()),
            Err(e) => return Err(self.refuse(400, invalid(format!("bad request head: {e}")))),
        };
        if parsed.headers.len() > self.limits.max_headers {
            return Err(self.too_many_headers());
        }
        let headers = collect_headers(parsed.headers);
        let request = Request {
            method: parsed.method.unwrap_or_default().to_owned(),
            target: parsed.path.unwrap_or_default().to_owned(),
            minor_version: parsed.version.unwrap_or(1),
            headers,
            body: Bytes::new(),
        };
        // A request without a length has no body (RFC 9112 §6.3).
        let framing = framing(&request.headers)
            .map_err(|e| self.refuse(400, e))?
            .unwrap_or(Framing::Length(0));
        src.advance(len);
        let body = BodyReader::new(framing, self.limits).map_err(|e| self.refuse(413, e))?;
        Ok(Some(Pending {
            body,
            head: request,
        }))
    }

    /// The bytes held for the body of the request still arriving.
    pub fn buffered(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.body.capacity())
    }

    /// The answer to the request that did not decode, closing the
    /// connection, once one did not: what a server says before it closes.
    pub fn refusal(&self) -> Option<Response> {
        let status = self.refused?;
        let reason = match status {
            413 => "the request body exceeds the limit",
            431 => "the request head exceeds the limit",
            _ => "the request is not valid HTTP/1.1",
        };
        let mut response = Response::new(status, format!("{reason}\n"));
        response.headers.append("connection", "close");
        Some(response)
    }
}

impl Decoder for ServerCodec {
    type Item = Request;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Request>, CodecError> {
        if self.pending.is_none() {
            self.pending = self.parse_head(src)?;
        }
        let completed = complete(&mut self.pending, src).map_err(|e| self.refuse(413, e))?;
        Ok(completed.map(|(mut request, body)| {
            request.body = body;
            request
        }))
    }
}

impl Encoder<Response> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, response: Response, dst: &mut BytesMut) -> Result<(), CodecError> {
        response.encode(dst);
        Ok(())
    }
}

/// Encodes requests, decodes responses: the client side of a connection.
#[derive(Debug, Default)]
pub struct ClientCodec {
    limits: Limits,
    /// For each request sent and not yet answered, oldest first, whether
    /// it was a HEAD (whose answer has no body whatever it announces).
    heads: VecDeque<bool>,
    pending: Option<Pending<Response>>,
}

impl ClientCodec {
    /// A codec with the given limits.
    pub fn new(limits: Limits) -> Self {
        ClientCodec {
            limits,
            heads: VecDeque::new(),
            pending: None,
        }
    }

    fn parse_head(&mut self, src: &mut BytesMut) -> Result<Option<Pending<Response>>, DecodeError> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut fields);
            let len = match parsed.parse(src) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => {
                    DecodeError::check_head(src.len(), self.limits)?;
                    return Ok(None);
                }
                Err(e) => return Err(invalid(format!("bad response head: {e}"))),
            };
            let status = parsed.code.unwrap_or_default();
            let response = Response {
                status,
                reason: parsed.reason.unwrap_or_default().to_owned(),
                minor_version: parsed.version.unwrap_or(1),
                headers: collect_headers(parsed.headers),
                body: Bytes::new(),
            };
            src.advance(len);
            if (100..200).contains(&status) {
                // Interim responses (100 Continue) precede the real one.
                continue;
            }
            let head = self.heads.pop_front().unwrap_or_default();
            let framing = if head || status == 204 || status == 304 {
                Framing::Length(0)
            } else {
                framing(&response.headers)?.unwrap_or(Framing::UntilClose)
            };
            return Ok(Some(Pending {
                body: BodyReader::new(framing, self.limits)?,
                head: response,
            }));
        }
    }
}

impl Decoder for ClientCodec {
    type Item = Response;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Response>, CodecError> {
        if self.pending.is_none() {
            self.pending = self.parse_head(src)?;
        }
        Ok(complete(&mut self.pending, src)?.map(with_body))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Response>, CodecError> {
        if let Some(response) = self.decode(src)? {
            return Ok(Some(response));
        }
        match self.pending.take() {
            Some(mut pending) => {
                let body = pending.body.finish_at_eof()?;
                Ok(Some(with_body((pending.head, body))))
            }
            None if src.is_empty() => Ok(None),
            None => Err(invalid("connection closed inside a response head".to_owned()).into()),
        }
    }
}

fn with_body((mut response, body): (Response, Bytes)) -> Response {
    response.body = body;
    response
}

impl Encoder<Request> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, request: Request, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&request, dst)
    }
}

impl Encoder<&Request> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, request: &Request, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.heads.push_back(request.method == "HEAD");
        request.encode(dst);
        Ok(())
    }
}

/// Reads the pending message's body; hands back head and body once complete.
fn complete<H>(
    pending: &mut Option<Pending<H>>,
    src: &mut BytesMut,
) -> Result<Option<(H, Bytes)>, DecodeError> {
    let Some(current) = pending.as_mut() else {
        return Ok(None);
    };
    match current.body.read(src)? {
        Some(body) => Ok(pending.take().map(|p| (p.head, body))),
        None => Ok(None),
    }
}

fn collect_headers(fields: &[httparse::Header<'_>]) -> Headers {
    let bytes = fields.iter().map(|f| f.name.len() + f.value.len()).sum();
    let mut headers = Headers::with_capacity(fields.len(), bytes);
    for field in fields {
        // Header values are bytes; the bench's own are ASCII, and a peer's
        // obs-text is kept readable rather than refused.
        headers.append(field.name, String::from_utf8_lossy(field.value));
    }
    headers
}

/// The framing the headers announce, if any (RFC 9112 §6.3).
fn framing(headers: &Headers) -> Result<Option<Framing>, DecodeError> {
    if headers.get("transfer-encoding").is_some() {
        return if headers.lists("transfer-encoding", "chunked") {
            Ok(Some(Framing::Chunked))
        } else {
            Err(invalid(format!(
                "unsupported transfer-encoding '{}'",
                headers.get("transfer-encoding").unwrap_or_default()
            )))
        };
    }
    let mut lengths = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| invalid(format!("bad content-length '{v}'")))
        });
    let Some(first) = lengths.next().transpose()? else {
        return Ok(None);
    };
    for other in lengths {
        if other? != first {
            return Err(invalid("conflicting content-length headers".to_owned()));
        }
    }
    Ok(Some(Framing::Length(first)))
}
