//! One workload connection, whatever its protocol: opened once, then every
//! request of a worker goes over it and comes back as an [`Outcome`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use meshbench_wire::http1::Request;

use super::{Call, ClientPlan, Progress};
use crate::client::dubbo::DubboClient;
use crate::client::grpc::{self, GrpcClient};
use crate::client::http::HttpClient;
use crate::client::tcp::TcpEchoClient;
use crate::client::thrift::ThriftClient;
use crate::client::{ClientError, Reply};
use crate::ledger::Outcome;

pub(super) struct Connection {
    id: u64,
    kind: Kind,
    /// Where its HTTP client's reconnects are counted when it ends.
    progress: Arc<Progress>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Kind::Http(client) = &self.kind {
            self.progress
                .reconnects
                .fetch_add(client.reconnects(), Ordering::Relaxed);
        }
    }
}

enum Kind {
    Thrift(ThriftClient),
    Dubbo(DubboClient),
    /// Boxed: the HTTP client holds its codec's buffers inline, many times
    /// the size of the other variants.
    Http(Box<HttpClient>),
    /// One HTTP/2 connection: every request is a stream of it.
    Grpc(GrpcClient),
    /// TCP opens a connection per request: the connection is the unit.
    Tcp(SocketAddr),
    /// The connection could not be opened: every request on it fails so.
    Broken(String),
}

impl Connection {
    /// Opens a connection for the protocol of the client's request classes.
    pub(super) async fn open(
        plan: &ClientPlan,
        ids: &AtomicU64,
        progress: &Arc<Progress>,
    ) -> Connection {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let target = &plan.target;
        let first = plan.mix.iter().find(|c| c.weight > 0).map(|c| &c.call);
        let opened = match first {
            Some(Call::Thrift { options, .. }) => ThriftClient::connect(*target, options.clone())
                .await
                .map(Kind::Thrift),
            Some(Call::Dubbo { .. }) => DubboClient::connect(*target).await.map(Kind::Dubbo),
            Some(Call::Http { .. }) => HttpClient::connect_as(*target, plan.authority.as_deref())
                .await
                .map(|client| Kind::Http(Box::new(client))),
            Some(Call::Grpc { .. }) => GrpcClient::connect(*target, plan.authority.as_deref())
                .await
                .map(Kind::Grpc),
            Some(Call::Tcp { .. }) => Ok(Kind::Tcp(*target)),
            None => Ok(Kind::Broken("no request class to send".to_owned())),
        };
        let kind = opened.unwrap_or_else(|e| Kind::Broken(e.to_string()));
        Connection {
            id,
            kind,
            progress: Arc::clone(progress),
        }
    }

    /// The run-wide id of this connection.
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Sends a heartbeat and waits for the heartbeat that answers it; the
    /// reason when none does. Only Dubbo has heartbeats (the plan checks).
    pub(super) async fn heartbeat(&self) -> Result<(), String> {
        match &self.kind {
            Kind::Dubbo(client) => client.heartbeat().await.map_err(|e| e.to_string()),
            Kind::Broken(reason) => Err(reason.clone()),
            Kind::Thrift(_) | Kind::Http(_) | Kind::Grpc(_) | Kind::Tcp(_) => {
                Err("only dubbo connections send heartbeats".to_owned())
            }
        }
    }

    /// Sends one request; every path ends in one outcome.
    pub(super) async fn send(&self, call: &Call, request_id: &str) -> Outcome {
        let answer = match (&self.kind, call) {
            (Kind::Broken(reason), _) => return Outcome::ConnectionError(reason.clone()),
            (
                Kind::Thrift(client),
                Call::Thrift {
                    method,
                    name,
                    context,
                    options: _,
                },
            ) => {
                client
                    .call(method, name, Some(request_id), context.clone())
                    .await
            }
            (
                Kind::Dubbo(client),
                Call::Dubbo {
                    interface,
                    method,
                    name,
                    attachments,
                },
            ) => {
                client
                    .call(interface, method, name, Some(request_id), attachments)
                    .await
            }
            (
                Kind::Http(client),
                Call::Http {
                    method,
                    path,
                    headers,
                    body,
                },
            ) => {
                let mut request = Request::new(method, path);
                for (header, value) in headers {
                    request.headers.append(header.as_str(), value.as_str());
                }
                request.body = bytes::Bytes::copy_from_slice(body.as_bytes());
                client
                    .send(request, Some(request_id))
                    .await
                    .map(|(_, reply)| reply)
            }
            (
                Kind::Grpc(client),
                Call::Grpc {
                    service,
                    method,
                    name,
                    metadata,
                },
            ) => {
                let call = grpc::Call {
                    service,
                    method,
                    name,
                    metadata,
                };
                client.call(call, Some(request_id)).await
            }
            (Kind::Tcp(target), Call::Tcp { payload }) => tcp(*target, payload).await,
            _ => {
                return Outcome::ProtocolError(
                    "request class of another protocol than the connection".to_owned(),
                );
            }
        };
        outcome(answer)
    }
}

async fn tcp(target: SocketAddr, payload: &[u8]) -> Result<Reply, ClientError> {
    let mut client = TcpEchoClient::connect(target).await?;
    let back = client.round_trip(payload).await?;
    Ok(Reply {
        success: back == payload,
        code: if back == payload { "echoed" } else { "garbled" }.to_owned(),
        text: String::new(),
        echo: Some(client.echo),
        location: None,
    })
}

fn outcome(answer: Result<Reply, ClientError>) -> Outcome {
    match answer {
        Ok(reply) => Outcome::Response {
            success: reply.success,
            code: reply.code,
            served_by: reply.echo,
            location: reply.location,
        },
        Err(ClientError::Protocol(reason)) => Outcome::ProtocolError(reason),
        Err(other) => Outcome::ConnectionError(other.to_string()),
    }
}
