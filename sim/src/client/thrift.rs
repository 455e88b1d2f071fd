//! A Thrift `HelloService` client over one long-lived connection, with many
//! calls in flight told apart by seqid.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use meshbench_wire::thrift::hello::{self, SayHello};
use meshbench_wire::thrift::{Encoding, Message, ThriftCodec, Transport, TransportMode};

use super::{ClientError, Reply, connect};
use crate::fleet::echo::{Echo, REQUEST_ID};
use meshbench_wire::mux::{Matching, Pipeline};

/// How the client frames its calls.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ThriftOptions {
    /// Framed or unframed.
    pub transport: Transport,
    /// Binary, lax binary or compact.
    pub encoding: Encoding,
    /// The multiplexing service name, if calls are multiplexed.
    pub service: Option<String>,
}

impl Default for ThriftOptions {
    /// Unframed strict binary, not multiplexed: what Aeraki's demo client sends.
    fn default() -> Self {
        ThriftOptions {
            transport: Transport::Unframed,
            encoding: Encoding::Binary,
            service: None,
        }
    }
}

/// A connection to a Thrift `HelloService`.
#[derive(Debug)]
pub struct ThriftClient {
    pipeline: Pipeline<Message, Message>,
    options: ThriftOptions,
    next_seqid: AtomicU64,
}

fn seqid_of(message: &Message) -> Option<u64> {
    Some(u64::from(message.header.seqid as u32))
}

impl ThriftClient {
    /// Opens the connection.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the address does not accept.
    pub async fn connect(addr: SocketAddr, options: ThriftOptions) -> Result<Self, ClientError> {
        let stream = connect(addr).await?;
        let codec = ThriftCodec::new(TransportMode::Fixed(options.transport))
            .with_encoding_hint(options.encoding);
        Ok(ThriftClient {
            pipeline: Pipeline::spawn(stream, codec, Matching::ById(seqid_of)),
            options,
            next_seqid: AtomicU64::new(1),
        })
    }

    /// Calls `sayHello(name)`, carrying `request_id` and `context` in the
    /// meshbench context argument.
    ///
    /// # Errors
    /// When the connection fails before the answer.
    pub async fn say_hello(
        &self,
        name: &str,
        request_id: Option<&str>,
        context: BTreeMap<String, String>,
    ) -> Result<Reply, ClientError> {
        self.call(hello::METHOD, name, request_id, context).await
    }

    /// Calls `method(name)` with `sayHello`'s arguments, carrying
    /// `request_id` and `context` in the meshbench context argument.
    ///
    /// # Errors
    /// When the connection fails before the answer.
    pub async fn call(
        &self,
        method: &str,
        name: &str,
        request_id: Option<&str>,
        mut context: BTreeMap<String, String>,
    ) -> Result<Reply, ClientError> {
        if let Some(id) = request_id {
            context.insert(REQUEST_ID.to_owned(), id.to_owned());
        }
        let id = self.next_seqid.fetch_add(1, Ordering::Relaxed);
        let args = SayHello {
            name: name.to_owned(),
            context,
        };
        let call = args.encode_method_call(
            method,
            self.options.transport,
            self.options.encoding,
            self.options.service.as_deref(),
            id as u32 as i32,
        );
        let answer = self.pipeline.call(u64::from(id as u32), call).await?;
        let reply =
            hello::decode_reply(&answer).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(match reply {
            Ok(greeting) => {
                let (text, echo) = Echo::split_text(&greeting);
                Reply {
                    success: true,
                    code: "ok".to_owned(),
                    text: text.to_owned(),
                    echo,
                    location: None,
                }
            }
            Err(exception) => {
                let (text, echo) = Echo::split_text(&exception.message);
                Reply {
                    success: false,
                    code: format!("{:?}", exception.kind),
                    text: text.to_owned(),
                    echo,
                    location: None,
                }
            }
        })
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.pipeline.is_closed()
    }
}
