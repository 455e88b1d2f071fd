//! The sample service every Thrift fleet member serves: Aeraki's
//! `HelloService.sayHello(1: required string name)` (wire/idl/hello.thrift),
//! plus `TApplicationException` replies for any method.
//!
//! meshbench adds an optional `2: map<string,string> context` argument that
//! carries the request id and attributes in-band. It is written only when not
//! empty, so a call without context is byte-for-byte what Aeraki's IDL
//! produces, and servers built from that IDL skip the unknown field.
//!
//! Structs go through the `thrift` crate's protocols on in-memory buffers.

use std::collections::BTreeMap;

use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TCompactInputProtocol, TCompactOutputProtocol,
    TFieldIdentifier, TInputProtocol, TMapIdentifier, TOutputProtocol, TStructIdentifier, TType,
};
pub use thrift::{ApplicationError, ApplicationErrorKind};

use super::header::{Encoding, MessageType};
use super::message::{Message, Transport};
use crate::{DecodeError, Protocol};

/// The service name, used as the multiplexing prefix.
pub const SERVICE: &str = "HelloService";
/// The only method.
pub const METHOD: &str = "sayHello";

/// The arguments of a `sayHello` call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SayHello {
    /// Field 1, required: who to greet.
    pub name: String,
    /// Field 2, meshbench's extension: request id and attributes. Empty when absent.
    pub context: BTreeMap<String, String>,
}

/// What a `sayHello` call came back with.
pub type HelloReply = Result<String, ApplicationError>;

/// The message name for a `sayHello` call, multiplexed under `service` when given.
pub fn call_name(service: Option<&str>) -> String {
    method_call_name(METHOD, service)
}

/// The message name for a call of `method`, multiplexed under `service` when given.
pub fn method_call_name(method: &str, service: Option<&str>) -> String {
    match service {
        Some(service) => format!("{service}:{method}"),
        None => method.to_owned(),
    }
}

impl SayHello {
    /// Encodes a `sayHello` call message.
    pub fn encode_call(
        &self,
        transport: Transport,
        encoding: Encoding,
        service: Option<&str>,
        seqid: i32,
    ) -> Message {
        self.encode_method_call(METHOD, transport, encoding, service, seqid)
    }

    /// Encodes a call of `method` with these arguments: the sample server
    /// answers any method whose arguments are `sayHello`'s, so a scenario
    /// can route `sayGoodbye` apart from `sayHello`.
    pub fn encode_method_call(
        &self,
        method: &str,
        transport: Transport,
        encoding: Encoding,
        service: Option<&str>,
        seqid: i32,
    ) -> Message {
        let body = write_struct(encoding, |o| self.write(o));
        Message::new(
            transport,
            encoding,
            &method_call_name(method, service),
            MessageType::Call,
            seqid,
            &body,
        )
    }

    /// Decodes the arguments of a call message.
    ///
    /// # Errors
    /// `Invalid` when the body is not a `sayHello_args` struct with a name.
    pub fn decode_call(message: &Message) -> Result<SayHello, DecodeError> {
        read_struct(message, SayHello::read)
    }

    fn write(&self, o: &mut dyn TOutputProtocol) -> thrift::Result<()> {
        o.write_struct_begin(&TStructIdentifier::new("sayHello_args"))?;
        o.write_field_begin(&TFieldIdentifier::new("name", TType::String, 1))?;
        o.write_string(&self.name)?;
        o.write_field_end()?;
        if !self.context.is_empty() {
            o.write_field_begin(&TFieldIdentifier::new("context", TType::Map, 2))?;
            let len = i32::try_from(self.context.len()).unwrap_or(i32::MAX);
            o.write_map_begin(&TMapIdentifier::new(TType::String, TType::String, len))?;
            for (key, value) in &self.context {
                o.write_string(key)?;
                o.write_string(value)?;
            }
            o.write_map_end()?;
            o.write_field_end()?;
        }
        o.write_field_stop()?;
        o.write_struct_end()
    }

    fn read(i: &mut dyn TInputProtocol) -> thrift::Result<SayHello> {
        i.read_struct_begin()?;
        let mut name = None;
        let mut context = BTreeMap::new();
        loop {
            let field = i.read_field_begin()?;
            match (field.id, field.field_type) {
                (_, TType::Stop) => break,
                (Some(1), TType::String) => name = Some(i.read_string()?),
                (Some(2), TType::Map) => {
                    let map = i.read_map_begin()?;
                    for _ in 0..map.size {
                        let key = i.read_string()?;
                        context.insert(key, i.read_string()?);
                    }
                    i.read_map_end()?;
                }
                (_, other) => i.skip(other)?,
            }
            i.read_field_end()?;
        }
        i.read_struct_end()?;
        let name = name.ok_or_else(|| missing("sayHello_args.name"))?;
        Ok(SayHello { name, context })
    }
}

/// Encodes the reply to `call`: a `sayHello_result` with field 0, or a
/// `TApplicationException` message, in the call's transport and encoding.
pub fn encode_reply(call: &Message, reply: &HelloReply) -> Message {
    match reply {
        Ok(greeting) => {
            let body = write_struct(call.header.encoding, |o| {
                o.write_struct_begin(&TStructIdentifier::new("sayHello_result"))?;
                o.write_field_begin(&TFieldIdentifier::new("success", TType::String, 0))?;
                o.write_string(greeting)?;
                o.write_field_end()?;
                o.write_field_stop()?;
                o.write_struct_end()
            });
            reply_message(call, MessageType::Reply, &body)
        }
        Err(error) => encode_exception(call, error),
    }
}

/// Encodes a `TApplicationException` reply to any call (unknown method, no
/// route, timeout …), keeping the call's name, seqid, transport and encoding.
pub fn encode_exception(call: &Message, error: &ApplicationError) -> Message {
    let body = write_struct(call.header.encoding, |o| {
        thrift::Error::write_application_error_to_out_protocol(error, o)
    });
    reply_message(call, MessageType::Exception, &body)
}

/// A `TApplicationException` of `kind` with `message`.
pub fn application_error(
    kind: ApplicationErrorKind,
    message: impl Into<String>,
) -> ApplicationError {
    ApplicationError::new(kind, message.into())
}

/// Decodes a reply message to `sayHello`.
///
/// # Errors
/// `Invalid` when the message is a call or its body does not decode.
pub fn decode_reply(message: &Message) -> Result<HelloReply, DecodeError> {
    match message.header.kind {
        MessageType::Exception => read_struct(message, |i| {
            thrift::Error::read_application_error_from_in_protocol(i)
        })
        .map(Err),
        MessageType::Reply => read_struct(message, read_result).map(|greeting| {
            greeting.ok_or_else(|| {
                application_error(
                    ApplicationErrorKind::MissingResult,
                    "sayHello_result has no success field",
                )
            })
        }),
        other => Err(DecodeError::invalid(
            Protocol::Thrift,
            format!(
                "expected a reply, got a {other:?} message '{}'",
                message.header.name
            ),
        )),
    }
}

fn read_result(i: &mut dyn TInputProtocol) -> thrift::Result<Option<String>> {
    i.read_struct_begin()?;
    let mut success = None;
    loop {
        let field = i.read_field_begin()?;
        match (field.id, field.field_type) {
            (_, TType::Stop) => break,
            (Some(0), TType::String) => success = Some(i.read_string()?),
            (_, other) => i.skip(other)?,
        }
        i.read_field_end()?;
    }
    i.read_struct_end()?;
    Ok(success)
}

fn reply_message(call: &Message, kind: MessageType, body: &[u8]) -> Message {
    Message::new(
        call.transport,
        call.header.encoding,
        &call.header.name,
        kind,
        call.header.seqid,
        body,
    )
}

fn missing(field: &str) -> thrift::Error {
    thrift::Error::Protocol(thrift::ProtocolError::new(
        thrift::ProtocolErrorKind::InvalidData,
        format!("required field {field} is missing"),
    ))
}

/// Runs `write` on the `thrift` crate's output protocol for `encoding`.
fn write_struct(
    encoding: Encoding,
    write: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail; an error here would be a bug in the
    // caller's struct code, which tests exercise.
    let written = match encoding {
        Encoding::Binary => write(&mut TBinaryOutputProtocol::new(&mut out, true)),
        Encoding::LaxBinary => write(&mut TBinaryOutputProtocol::new(&mut out, false)),
        Encoding::Compact => write(&mut TCompactOutputProtocol::new(&mut out)),
    };
    debug_assert!(
        written.is_ok(),
        "in-memory thrift write failed: {written:?}"
    );
    out
}

/// Runs `read` on the body of `message` with the `thrift` crate.
fn read_struct<T>(
    message: &Message,
    read: impl FnOnce(&mut dyn TInputProtocol) -> thrift::Result<T>,
) -> Result<T, DecodeError> {
    let mut body = message.body();
    let result = match message.header.encoding {
        Encoding::Binary => read(&mut TBinaryInputProtocol::new(&mut body, true)),
        Encoding::LaxBinary => read(&mut TBinaryInputProtocol::new(&mut body, false)),
        Encoding::Compact => read(&mut TCompactInputProtocol::new(&mut body)),
    };
    result.map_err(|e| {
        DecodeError::invalid(
            Protocol::Thrift,
            format!("cannot decode the body of '{}': {e}", message.header.name),
        )
    })
}
