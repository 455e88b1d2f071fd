//! A Dubbo2 consumer over one long-lived connection (Dubbo shares one
//! connection per provider by default), many calls in flight told apart by
//! request id.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use meshbench_wire::dubbo::{
    Attachments, DubboCodec, Frame, Outcome, Reply as DubboReply, Request, Value,
};

use super::{ClientError, Reply, connect};
use crate::fleet::echo::{Echo, PREFIX, REQUEST_ID};
use meshbench_wire::mux::{Matching, Pipeline};

/// The interface of Aeraki's Dubbo sample.
pub const DEMO_SERVICE: &str = "org.apache.dubbo.samples.basic.api.DemoService";

/// A connection to a Dubbo provider (or a proxy in front of one).
#[derive(Debug)]
pub struct DubboClient {
    pipeline: Pipeline<Frame, Frame>,
    next_id: AtomicU64,
}

fn id_of(frame: &Frame) -> Option<u64> {
    (!frame.header.request).then_some(frame.header.request_id)
}

impl DubboClient {
    /// Opens the connection.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the address does not accept.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        let stream = connect(addr).await?;
        Ok(DubboClient {
            pipeline: Pipeline::spawn(stream, DubboCodec::new(), Matching::ById(id_of)),
            next_id: AtomicU64::new(1),
        })
    }

    /// Calls `interface.method(name)` with one String argument, carrying
    /// `request_id` and `attachments` as attachments.
    ///
    /// # Errors
    /// When the connection fails before the answer.
    pub async fn call(
        &self,
        interface: &str,
        method: &str,
        name: &str,
        request_id: Option<&str>,
        attachments: &[(String, String)],
    ) -> Result<Reply, ClientError> {
        let mut request = Request::new(
            interface,
            method,
            "Ljava/lang/String;",
            vec![Value::String(name.to_owned())],
        );
        request.attachments.insert("path", interface);
        request.attachments.insert("interface", interface);
        for (key, value) in attachments {
            request.attachments.insert(key.as_str(), value.as_str());
        }
        if let Some(id) = request_id {
            request.attachments.insert(REQUEST_ID, id);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let answer = self.pipeline.call(id, request.to_frame(id)).await?;
        let reply =
            DubboReply::from_frame(&answer).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(to_reply(reply))
    }

    /// Sends a heartbeat and waits for its answer.
    ///
    /// # Errors
    /// When the connection fails before the answer, or the answer is not a heartbeat.
    pub async fn heartbeat(&self) -> Result<(), ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let answer = self.pipeline.call(id, Frame::heartbeat_request(id)).await?;
        match answer.is_heartbeat() {
            true => Ok(()),
            false => Err(ClientError::Protocol(
                "the answer to a heartbeat is no heartbeat".to_owned(),
            )),
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.pipeline.is_closed()
    }
}

fn to_reply(reply: DubboReply) -> Reply {
    match reply {
        DubboReply::Error { status, message } => {
            let (text, echo) = Echo::split_text(&message);
            Reply {
                success: false,
                code: format!("{status:?}"),
                text: text.to_owned(),
                echo,
                location: None,
            }
        }
        DubboReply::Response(response) => {
            let echo = response.attachments.as_ref().and_then(attachment_echo);
            let (success, code, value) = match response.outcome {
                Outcome::Value(value) => (true, "Ok", value),
                Outcome::Null => (true, "Ok", Value::Null),
                Outcome::Exception(value) => (false, "exception", value),
            };
            let text = match value {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => format!("{other:?}"),
            };
            match echo {
                Some(echo) => Reply {
                    success,
                    code: code.to_owned(),
                    text,
                    echo: Some(echo),
                    location: None,
                },
                None => {
                    let (text, echo) = Echo::split_text(&text);
                    Reply {
                        success,
                        code: code.to_owned(),
                        text: text.to_owned(),
                        echo,
                        location: None,
                    }
                }
            }
        }
    }
}

fn attachment_echo(attachments: &Attachments) -> Option<Echo> {
    Echo::from_pairs(
        PREFIX,
        attachments
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v))),
    )
}
