//! What Dubbo2 request and response bodies hold, in hessian2, and the views a
//! proxy needs without decoding the arguments.
//!
//! A request body is, in order: the dubbo protocol version, the service path,
//! the service version, the method name, the parameter descriptor, one value
//! per parameter, then the attachments map. A response body (status OK) is a
//! response-type int, then the value or exception, then (for types 3 to 5)
//! the attachments. A response with any other status carries only an error
//! message string.

use bytes::{Bytes, BytesMut};

use super::descriptor::parameter_count;
use super::frame::{Frame, HESSIAN2, Header, Status};
use super::hessian::{Decoder, Encoder, Value, invalid};
use crate::DecodeError;

/// The dubbo protocol version Dubbo 2.7 and later send, and the first one
/// whose peers accept response attachments.
pub const DUBBO_VERSION: &str = "2.0.2";

/// A request's or response's attachments: string keys in wire order.
///
/// Aeraki exposes every attachment whose value is a string as a routing
/// attribute; `path`, `interface`, `version` and `group` are common ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachments(pub Vec<(String, Value)>);

impl Attachments {
    /// No attachments.
    pub fn new() -> Self {
        Attachments::default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key` when it is a string (the routable kind).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Sets `key`, in place if present (keeping the order), else at the end.
    /// Returns the value it replaced.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An untyped map (`H`), as Java writes a `HashMap`.
    fn write(&self, encoder: &mut Encoder) {
        encoder.map_begin(None);
        for (key, value) in &self.0 {
            encoder.write_string(key);
            encoder.write(value);
        }
        encoder.end();
    }

    /// Reads the attachments map; a body that ends before it, or a null,
    /// means none (older peers send neither).
    fn read(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        if decoder.remaining() == 0 {
            return Ok(Attachments::new());
        }
        let at = decoder.position();
        match decoder.read_value()? {
            Value::Null => Ok(Attachments::new()),
            Value::Map { entries, .. } => entries
                .into_iter()
                .map(|(key, value)| match key {
                    Value::String(key) => Ok((key, value)),
                    other => Err(invalid(format!(
                        "attachment key is {}, expected a string, in the map at offset {at}",
                        other.kind()
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(Attachments),
            other => Err(invalid(format!(
                "attachments are {}, expected a map, at offset {at}",
                other.kind()
            ))),
        }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Attachments {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Attachments(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// A request (an invocation), fully decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The dubbo protocol version, [`DUBBO_VERSION`] for current peers.
    pub dubbo_version: String,
    /// The service path, normally the interface name
    /// (`org.apache.dubbo.samples.basic.api.DemoService`).
    pub service: String,
    /// The service version (`0.0.0` when the service has none).
    pub version: String,
    /// The method name.
    pub method: String,
    /// The JVM descriptor of the parameter types (`Ljava/lang/String;`): it
    /// says how many arguments follow.
    pub parameter_types: String,
    /// One value per parameter.
    pub args: Vec<Value>,
    /// The attachments.
    pub attachments: Attachments,
}

impl Request {
    /// A call as a Dubbo 2.7 consumer sends it for a service without a version,
    /// with no attachments yet.
    pub fn new(
        service: impl Into<String>,
        method: impl Into<String>,
        parameter_types: impl Into<String>,
        args: Vec<Value>,
    ) -> Self {
        Request {
            dubbo_version: DUBBO_VERSION.to_owned(),
            service: service.into(),
            version: "0.0.0".to_owned(),
            method: method.into(),
            parameter_types: parameter_types.into(),
            args,
            attachments: Attachments::new(),
        }
    }

    /// The hessian2 body.
    pub fn encode(&self) -> Bytes {
        let mut encoder = Encoder::new();
        for name in self.names() {
            encoder.write_string(name);
        }
        for arg in &self.args {
            encoder.write(arg);
        }
        self.attachments.write(&mut encoder);
        Bytes::from(encoder.finish())
    }

    /// Decodes a request body. A null string field (Java sends null for a
    /// missing version) decodes as an empty string.
    ///
    /// # Errors
    /// `Invalid` when the body is not a hessian2 request.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut decoder = Decoder::new(body);
        let [dubbo_version, service, version, method, parameter_types] = read_names(&mut decoder)?;
        let args = (0..parameter_count(&parameter_types)?)
            .map(|_| decoder.read_value())
            .collect::<Result<_, _>>()?;
        Ok(Request {
            dubbo_version,
            service,
            version,
            method,
            parameter_types,
            args,
            attachments: Attachments::read(&mut decoder)?,
        })
    }

    /// A two-way request frame.
    pub fn to_frame(&self, request_id: u64) -> Frame {
        Frame {
            header: Header::request(request_id, true),
            body: self.encode(),
        }
    }

    /// Decodes a request frame's body.
    ///
    /// # Errors
    /// `Invalid` when the frame is not a hessian2 request (or is an event).
    pub fn from_frame(frame: &Frame) -> Result<Self, DecodeError> {
        expect(frame, true)?;
        Request::decode(&frame.body)
    }

    fn names(&self) -> [&str; 5] {
        [
            &self.dubbo_version,
            &self.service,
            &self.version,
            &self.method,
            &self.parameter_types,
        ]
    }
}

fn read_names(decoder: &mut Decoder<'_>) -> Result<[String; 5], DecodeError> {
    let mut next = |what: &str| read_string(decoder, what);
    Ok([
        next("the dubbo version")?,
        next("the service path")?,
        next("the service version")?,
        next("the method name")?,
        next("the parameter types")?,
    ])
}

/// A string field; Java writes a null string as `N`.
fn read_string(decoder: &mut Decoder<'_>, what: &str) -> Result<String, DecodeError> {
    let at = decoder.position();
    match decoder.read_value()? {
        Value::String(s) => Ok(s),
        Value::Null => Ok(String::new()),
        other => Err(invalid(format!(
            "expected a string for {what}, found {} at offset {at}",
            other.kind()
        ))),
    }
}

/// What a proxy routes on: the request's names and attachments, with the
/// arguments skipped (walked over, never built).
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The dubbo protocol version.
    pub dubbo_version: String,
    /// The service path (Aeraki's `interface` attribute).
    pub service: String,
    /// The service version.
    pub version: String,
    /// The method name (Aeraki's `method` attribute).
    pub method: String,
    /// The parameter descriptor.
    pub parameter_types: String,
    /// How many arguments were skipped.
    pub arg_count: usize,
    /// The attachments.
    pub attachments: Attachments,
    body: Bytes,
    /// Where the attachments start: everything before is kept as is.
    args_end: usize,
    /// Class definitions and type names the body defined before `args_end`.
    definitions: (usize, usize),
}

impl RequestHead {
    /// Reads a request body's names and attachments, skipping the arguments.
    ///
    /// # Errors
    /// `Invalid` when the body is not a hessian2 request.
    pub fn decode(body: Bytes) -> Result<Self, DecodeError> {
        let mut decoder = Decoder::new(&body);
        let [dubbo_version, service, version, method, parameter_types] = read_names(&mut decoder)?;
        let arg_count = parameter_count(&parameter_types)?;
        for _ in 0..arg_count {
            decoder.skip_value()?;
        }
        let args_end = decoder.position();
        let definitions = decoder.definitions();
        let attachments = Attachments::read(&mut decoder)?;
        Ok(RequestHead {
            dubbo_version,
            service,
            version,
            method,
            parameter_types,
            arg_count,
            attachments,
            args_end,
            definitions,
            body,
        })
    }

    /// Reads a request frame's head.
    ///
    /// # Errors
    /// `Invalid` when the frame is not a hessian2 request (or is an event).
    pub fn from_frame(frame: &Frame) -> Result<Self, DecodeError> {
        expect(frame, true)?;
        RequestHead::decode(frame.body.clone())
    }

    /// The body with its attachments replaced by `attachments`: the names and
    /// argument bytes are copied unchanged, only the map is encoded (the way
    /// a proxy applies a request mutation). Values in `attachments` that refer
    /// back (`Value::Ref`) to the arguments stay valid; the new map itself is
    /// numbered where the old one was.
    pub fn with_attachments(&self, attachments: &Attachments) -> Bytes {
        let (classes, types) = self.definitions;
        let mut encoder = Encoder::continuing(classes, types);
        attachments.write(&mut encoder);
        let tail = encoder.finish();
        let head = self.body.get(..self.args_end).unwrap_or_default();
        let mut out = BytesMut::with_capacity(head.len() + tail.len());
        out.extend_from_slice(head);
        out.extend_from_slice(&tail);
        out.freeze()
    }
}

/// How a call ended, as the response type says.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The method returned this value.
    Value(Value),
    /// The method returned null (its own response type, not `Value(Null)`).
    Null,
    /// The method threw this exception (a Java `Throwable` object).
    Exception(Value),
}

/// A response body with status OK.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The returned value, null or exception.
    pub outcome: Outcome,
    /// The attachments, when the response type carries them (types 3 to 5,
    /// which servers send to peers of dubbo version 2.0.2 and later).
    pub attachments: Option<Attachments>,
}

/// Response types (Dubbo's `DubboCodec.RESPONSE_*`).
const RESPONSE_WITH_EXCEPTION: i32 = 0;
const RESPONSE_VALUE: i32 = 1;
const RESPONSE_NULL_VALUE: i32 = 2;
/// Adding this to a type gives its "with attachments" variant.
const WITH_ATTACHMENTS: i32 = 3;

impl Response {
    /// A returned value, with (empty) attachments, as a server answers a
    /// 2.0.2 peer.
    pub fn value(value: impl Into<Value>) -> Self {
        Response {
            outcome: Outcome::Value(value.into()),
            attachments: Some(Attachments::new()),
        }
    }

    /// The hessian2 body.
    pub fn encode(&self) -> Bytes {
        let mut encoder = Encoder::new();
        let base = match self.outcome {
            Outcome::Exception(_) => RESPONSE_WITH_EXCEPTION,
            Outcome::Value(_) => RESPONSE_VALUE,
            Outcome::Null => RESPONSE_NULL_VALUE,
        };
        let extra = if self.attachments.is_some() {
            WITH_ATTACHMENTS
        } else {
            0
        };
        encoder.write_int(base + extra);
        if let Outcome::Value(value) | Outcome::Exception(value) = &self.outcome {
            encoder.write(value);
        }
        if let Some(attachments) = &self.attachments {
            attachments.write(&mut encoder);
        }
        Bytes::from(encoder.finish())
    }

    /// Decodes a response body (status OK).
    ///
    /// # Errors
    /// `Invalid` for an unknown response type or a malformed body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut decoder = Decoder::new(body);
        let kind = match decoder.read_value()? {
            Value::Int(kind) => kind,
            other => {
                return Err(invalid(format!(
                    "expected the response type (an int), found {} at offset 0",
                    other.kind()
                )));
            }
        };
        if !(0..2 * WITH_ATTACHMENTS).contains(&kind) {
            return Err(invalid(format!(
                "unknown response type {kind}, expected 0 to 5"
            )));
        }
        let outcome = match kind % WITH_ATTACHMENTS {
            RESPONSE_WITH_EXCEPTION => Outcome::Exception(decoder.read_value()?),
            RESPONSE_VALUE => Outcome::Value(decoder.read_value()?),
            _ => Outcome::Null,
        };
        let attachments = if kind >= WITH_ATTACHMENTS {
            Some(Attachments::read(&mut decoder)?)
        } else {
            None
        };
        Ok(Response {
            outcome,
            attachments,
        })
    }

    /// A response frame with status OK.
    pub fn to_frame(&self, request_id: u64) -> Frame {
        Frame {
            header: Header::response(request_id, Status::Ok),
            body: self.encode(),
        }
    }
}

/// What a response frame carries: a response (status OK) or an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Status OK: the call's outcome.
    Response(Response),
    /// Any other status, with the error message the body carries.
    Error {
        /// The status.
        status: Status,
        /// The message (empty when the peer sent null).
        message: String,
    },
}

impl Reply {
    /// Decodes a response frame.
    ///
    /// # Errors
    /// `Invalid` when the frame is not a hessian2 response (or is an event),
    /// or its body is malformed.
    pub fn from_frame(frame: &Frame) -> Result<Self, DecodeError> {
        expect(frame, false)?;
        match frame.header.status {
            Status::Ok => Response::decode(&frame.body).map(Reply::Response),
            status => {
                let mut decoder = Decoder::new(&frame.body);
                let message = read_string(&mut decoder, "the error message")?;
                Ok(Reply::Error { status, message })
            }
        }
    }

    /// A response frame.
    pub fn to_frame(&self, request_id: u64) -> Frame {
        match self {
            Reply::Response(response) => response.to_frame(request_id),
            Reply::Error { status, message } => {
                let mut encoder = Encoder::new();
                encoder.write_string(message);
                Frame {
                    header: Header::response(request_id, *status),
                    body: Bytes::from(encoder.finish()),
                }
            }
        }
    }
}

/// The data of an event frame: null for a heartbeat, `"R"` for the
/// "readonly" event a server sends before it shuts down. An empty body reads
/// as null.
///
/// # Errors
/// `Invalid` when the body is not one hessian2 value.
pub fn decode_event(body: &[u8]) -> Result<Value, DecodeError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    Decoder::new(body).read_value()
}

/// Checks that `frame` is a hessian2 request (or response) that is no event.
fn expect(frame: &Frame, request: bool) -> Result<(), DecodeError> {
    let header = &frame.header;
    let wanted = if request { "a request" } else { "a response" };
    if header.serialization != HESSIAN2 {
        return Err(invalid(format!(
            "unsupported serialization id {}, only hessian2 ({HESSIAN2}) is decoded",
            header.serialization
        )));
    }
    if header.event {
        return Err(invalid(format!("expected {wanted}, found an event frame")));
    }
    if header.request != request {
        let found = if header.request {
            "a request"
        } else {
            "a response"
        };
        return Err(invalid(format!("expected {wanted}, found {found} frame")));
    }
    Ok(())
}
