//! The readiness probe: one request per service through the proxy, repeated
//! until the proxy answers at the protocol level, bounded in time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use meshbench_sim::client::dubbo::{DEMO_SERVICE, DubboClient};
use meshbench_sim::client::http::HttpClient;
use meshbench_sim::client::tcp::TcpEchoClient;
use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_wire::Protocol;
use meshbench_wire::http1::Request;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{PROBE_PREFIX, RunError};
use crate::adapter::Service;

/// How long a proxy may take to route its first request.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Probes `service` at `addr` until the proxy answers.
///
/// A route may legitimately refuse the probe (a header route with no
/// catch-all answers "no route"): any protocol-level answer shows that the
/// listener is up and configured.
///
/// # Errors
/// [`RunError::NotReady`] after [`READY_WITHIN`], or [`RunError::Interrupted`].
pub(super) async fn until_routed(
    service: &Service,
    addr: SocketAddr,
    cancel: &CancellationToken,
) -> Result<(), RunError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let id = format!("{PROBE_PREFIX}{}-{attempt}", service.name);
        let last = match once(service.protocol, addr, &id).await {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
        if started.elapsed() >= READY_WITHIN {
            return Err(RunError::NotReady {
                service: service.name.clone(),
                waited: READY_WITHIN,
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
async fn once(protocol: Protocol, addr: SocketAddr, id: &str) -> Result<(), String> {
    let answered = match protocol {
        Protocol::Thrift => {
            let client = ThriftClient::connect(addr, ThriftOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            client
                .say_hello("probe", Some(id), BTreeMap::new())
                .await
                .map(drop)
        }
        Protocol::Dubbo => {
            let client = DubboClient::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            client
                .call(DEMO_SERVICE, "sayHello", "probe", Some(id), &[])
                .await
                .map(drop)
        }
        Protocol::Http => {
            let client = HttpClient::connect(addr).await.map_err(|e| e.to_string())?;
            client
                .send(Request::new("GET", "/hello?name=probe"), Some(id))
                .await
                .map(drop)
        }
        Protocol::Tcp => TcpEchoClient::connect(addr).await.map(drop),
    };
    answered.map_err(|e| e.to_string())
}
