//! What one Thrift server speaks. An Apache Thrift server is built with one
//! transport and one protocol (`TThreadPoolServer` over a `TServerSocket` with
//! `TBinaryProtocol` is the Aeraki sample's); a peer speaking anything else
//! gets its connection closed. A detecting server reads each message's
//! transport and protocol on its own, so one connection may carry several
//! (a proxy that shares an upstream connection among clients of different
//! codecs and passes their bytes through does exactly that).

use super::codec::{ThriftCodec, TransportMode};
use super::header::Encoding;
use super::message::{Message, Transport};

/// A Thrift server's transport and protocol; `None` is detected per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerCodec {
    /// The one transport it reads, or any.
    pub transport: Option<Transport>,
    /// The one protocol it reads, or any. A binary server reads strict and lax
    /// binary alike, as `TBinaryProtocol` does unless `strictRead` is set.
    pub encoding: Option<Encoding>,
}

impl ServerCodec {
    /// Apache Thrift's plainest server: unframed, binary.
    pub const APACHE: ServerCodec = ServerCodec {
        transport: Some(Transport::Unframed),
        encoding: Some(Encoding::Binary),
    };

    /// A server that detects each message's transport and protocol.
    pub const DETECT: ServerCodec = ServerCodec {
        transport: None,
        encoding: None,
    };

    /// The codec that reads this server's connections.
    pub fn codec(&self) -> ThriftCodec {
        let codec = ThriftCodec::new(match self.transport {
            Some(transport) => TransportMode::Fixed(transport),
            None => TransportMode::EachMessage,
        });
        match self.encoding {
            Some(Encoding::Binary | Encoding::LaxBinary) => {
                codec.with_encoding_hint(Encoding::LaxBinary)
            }
            _ => codec,
        }
    }

    /// Whether the server understands `message` (its transport was already
    /// enforced by [`ServerCodec::codec`]).
    pub fn reads(&self, message: &Message) -> bool {
        let transport = self.transport.is_none_or(|t| t == message.transport);
        let encoding = match (self.encoding, message.header.encoding) {
            (None, _) => true,
            (Some(Encoding::Binary | Encoding::LaxBinary), e) => {
                matches!(e, Encoding::Binary | Encoding::LaxBinary)
            }
            (Some(Encoding::Compact), e) => e == Encoding::Compact,
        };
        transport && encoding
    }
}

impl Default for ServerCodec {
    fn default() -> Self {
        ServerCodec::APACHE
    }
}

impl std::fmt::Display for ServerCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Some(Transport::Framed) => "framed",
            Some(Transport::Unframed) => "unframed",
            None => "any transport",
        };
        let encoding = match self.encoding {
            Some(Encoding::Binary | Encoding::LaxBinary) => "binary",
            Some(Encoding::Compact) => "compact",
            None => "any protocol",
        };
        write!(f, "{transport} {encoding}")
    }
}

impl std::str::FromStr for ServerCodec {
    type Err = String;

    /// `TRANSPORT,PROTOCOL` with `unframed|framed|auto` and
    /// `binary|compact|auto`, e.g. `framed,compact`; `auto` alone for both.
    fn from_str(text: &str) -> Result<Self, String> {
        let (transport, encoding) = text.split_once(',').unwrap_or((text, text));
        let transport = match transport.trim() {
            "unframed" => Some(Transport::Unframed),
            "framed" => Some(Transport::Framed),
            "auto" => None,
            other => {
                return Err(format!(
                    "unknown Thrift transport '{other}' (unframed, framed or auto)"
                ));
            }
        };
        let encoding = match encoding.trim() {
            "binary" => Some(Encoding::Binary),
            "compact" => Some(Encoding::Compact),
            "auto" => None,
            other => {
                return Err(format!(
                    "unknown Thrift protocol '{other}' (binary, compact or auto)"
                ));
            }
        };
        Ok(ServerCodec {
            transport,
            encoding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_codecs() {
        assert_eq!("auto".parse(), Ok(ServerCodec::DETECT));
        assert_eq!("unframed,binary".parse(), Ok(ServerCodec::APACHE));
        assert_eq!(
            "framed, compact".parse(),
            Ok(ServerCodec {
                transport: Some(Transport::Framed),
                encoding: Some(Encoding::Compact)
            })
        );
        assert!("framed".parse::<ServerCodec>().is_err());
        assert!("tcp,binary".parse::<ServerCodec>().is_err());
    }

    #[test]
    fn a_binary_server_reads_strict_and_lax_binary_and_nothing_else() {
        let message = |transport, encoding| {
            Message::new(
                transport,
                encoding,
                "sayHello",
                super::super::MessageType::Call,
                1,
                &[0],
            )
        };
        let apache = ServerCodec::APACHE;
        assert!(apache.reads(&message(Transport::Unframed, Encoding::Binary)));
        assert!(apache.reads(&message(Transport::Unframed, Encoding::LaxBinary)));
        assert!(!apache.reads(&message(Transport::Unframed, Encoding::Compact)));
        assert!(!apache.reads(&message(Transport::Framed, Encoding::Binary)));
        assert!(ServerCodec::DETECT.reads(&message(Transport::Framed, Encoding::Compact)));
    }
}
