//! The readiness probe: one request per service through the proxy, in the
//! scenario's own client settings, repeated until the proxy answers at the
//! protocol level, bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use meshbench_sim::client::ClientError;
use meshbench_sim::client::dubbo::DubboClient;
use meshbench_sim::client::grpc::{self, GrpcClient};
use meshbench_sim::client::http::HttpClient;
use meshbench_sim::client::tcp::TcpEchoClient;
use meshbench_sim::client::thrift::ThriftClient;
use meshbench_sim::workload::Call;
use meshbench_wire::http1::Request;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{PROBE_PREFIX, RunError};
use crate::adapter::Service;

/// How long a proxy may take to route its first request, unless the
/// command line says otherwise.
pub(super) const READY_WITHIN: Duration = Duration::from_secs(10);

/// What a probe learned besides "the proxy is up".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probed {
    /// An answer that did not decode: proof of life, but a finding.
    pub malformed: Option<String>,
}

/// Probes `service` at `addr` with `call`, the scenario's own first call
/// to it (its transport, encoding, interface, path), until the proxy answers.
///
/// A route may legitimately refuse the probe (a header route with no
/// catch-all answers "no route"): any protocol-level answer shows that the
/// listener is up and configured, and so does an answer that does not
/// decode, which is reported as a finding rather than waited out.
///
/// # Errors
/// [`RunError::NotReady`] after `within`, or [`RunError::Interrupted`].
pub(super) async fn until_routed(
    service: &Service,
    addr: SocketAddr,
    call: &Call,
    within: Duration,
    cancel: &CancellationToken,
) -> Result<Probed, RunError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let id = format!("{PROBE_PREFIX}{}-{attempt}", service.name);
        let last = match once(call, addr, &id).await {
            Ok(()) => return Ok(Probed::default()),
            Err(ClientError::Protocol(reason)) => {
                return Ok(Probed {
                    malformed: Some(format!(
                        "the readiness probe of {} got an answer that does not decode: {reason}",
                        service.name
                    )),
                });
            }
            Err(other) => other.to_string(),
        };
        if started.elapsed() >= within {
            return Err(RunError::NotReady {
                service: service.name.clone(),
                waited: within,
                last,
            });
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(RunError::Interrupted),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// One probe: `Ok` when the proxy answered at the protocol level.
async fn once(call: &Call, addr: SocketAddr, id: &str) -> Result<(), ClientError> {
    match call {
        Call::Thrift {
            method,
            name,
            options,
            context,
        } => {
            let client = ThriftClient::connect(addr, options.clone()).await?;
            client
                .call(method, name, Some(id), context.clone())
                .await
                .map(drop)
        }
        Call::Dubbo {
            interface,
            method,
            name,
            attachments,
        } => {
            let client = DubboClient::connect(addr).await?;
            client
                .call(interface, method, name, Some(id), attachments)
                .await
                .map(drop)
        }
        Call::Http {
            method,
            path,
            headers,
            body,
        } => {
            let client = HttpClient::connect(addr).await?;
            let mut request = Request::new(method, path);
            for (header, value) in headers {
                request.headers.append(header.as_str(), value.as_str());
            }
            request.body = body.clone().into();
            client.send(request, Some(id)).await.map(drop)
        }
        Call::Grpc {
            service,
            method,
            name,
            metadata,
        } => {
            let client = GrpcClient::connect(addr, None).await?;
            let call = grpc::Call {
                service,
                method,
                name,
                metadata,
            };
            client.call(call, Some(id)).await.map(drop)
        }
        Call::Tcp { .. } => TcpEchoClient::connect(addr).await.map(drop),
    }
}
