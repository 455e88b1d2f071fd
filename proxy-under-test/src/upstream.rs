//! Connections to endpoints. Thrift and Dubbo share one multiplexed
//! connection per endpoint across every downstream connection, rewriting the
//! seqid / request id on the way up and back (as Aeraki's multiplexing mode
//! does). HTTP/1.1 keeps a pool of keep-alive connections per endpoint, each
//! carrying one request at a time: the request's own task writes it and
//! reads the answer, with no task or channel in between (as an event-loop
//! proxy does), so a request costs no wakeup besides its socket's. gRPC
//! shares one HTTP/2 connection per endpoint, a stream per call ([`grpc`]).

pub mod grpc;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshbench_wire::dubbo::{DubboCodec, Frame};
use meshbench_wire::http1::{ClientCodec, Request, Response};
use meshbench_wire::mux::{Lockstep, Matching, MuxError, Pipeline};
use meshbench_wire::thrift::{Encoding, Message, ThriftCodec, Transport, TransportMode};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long connecting to an endpoint may take unless the DestinationRule says.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an upstream exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The endpoint refused or did not answer the connection.
    #[error("upstream connect error to {addr}: {reason}")]
    Connect {
        /// The endpoint.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The connection broke before the answer.
    #[error("upstream reset before the answer from {addr}: {reason}")]
    Reset {
        /// The endpoint.
        addr: SocketAddr,
        /// Why.
        reason: MuxError,
    },
    /// The HTTP/2 endpoint refused the stream before processing it
    /// (`REFUSED_STREAM`): safe to retry, Envoy's `refused-stream`.
    #[error("upstream refused the stream: {addr}")]
    RefusedStream {
        /// The endpoint.
        addr: SocketAddr,
    },
}

impl UpstreamError {
    /// Whether this failure happened before the request could reach the endpoint.
    pub fn is_connect_failure(&self) -> bool {
        matches!(self, UpstreamError::Connect { .. })
    }
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, UpstreamError> {
    let failed = |reason: String| UpstreamError::Connect { addr, reason };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| failed(format!("timed out after {timeout:?}")))?
        .map_err(|e| failed(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// One shared connection per key, reopened when it has closed.
#[derive(Debug)]
struct Shared<K, Req, Resp> {
    connections: Mutex<HashMap<K, Arc<Pipeline<Req, Resp>>>>,
}

impl<K: std::hash::Hash + Eq + Clone, Req: Send + 'static, Resp: Send + 'static>
    Shared<K, Req, Resp>
{
    fn new() -> Self {
        Shared {
            connections: Mutex::new(HashMap::new()),
        }
    }

    async fn get(
        &self,
        key: &K,
        open: impl AsyncFnOnce() -> Result<Pipeline<Req, Resp>, UpstreamError>,
    ) -> Result<Arc<Pipeline<Req, Resp>>, UpstreamError> {
        if let Some(live) = self.lock().get(key).filter(|p| !p.is_closed()) {
            return Ok(Arc::clone(live));
        }
        // Two requests may race to open: both connections work, the last stays shared.
        let fresh = Arc::new(open().await?);
        self.lock().insert(key.clone(), Arc::clone(&fresh));
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Pipeline<Req, Resp>>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A keep-alive connection to an HTTP endpoint.
type HttpConnection = Lockstep<TcpStream, ClientCodec>;

/// An idle keep-alive connection, how many requests it has carried, and
/// since when it has been idle.
type IdleHttp = (HttpConnection, u32, Instant);

/// How long an HTTP keep-alive connection stays in the pool unused by
/// default. Envoy's default is an hour; ours stays under the fleet's
/// keep-alive timeout (two hours in a run, 300 s standalone), so that the
/// proxy, not the endpoint, closes an idle connection and no request is
/// sent on one the endpoint is closing.
pub const DEFAULT_UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Every upstream connection of the proxy.
#[derive(Debug)]
pub struct Upstreams {
    thrift: Shared<(SocketAddr, Transport, Encoding), Message, Message>,
    dubbo: Shared<SocketAddr, Frame, Frame>,
    /// Idle keep-alive connections and how many requests each has carried.
    http: Mutex<HashMap<SocketAddr, Vec<IdleHttp>>>,
    grpc: grpc::Pool,
    next_id: AtomicU64,
}

impl Default for Upstreams {
    fn default() -> Self {
        Upstreams {
            thrift: Shared::new(),
            dubbo: Shared::new(),
            http: Mutex::new(HashMap::new()),
            grpc: grpc::Pool::default(),
            next_id: AtomicU64::new(1),
        }
    }
}

fn thrift_id(message: &Message) -> Option<u64> {
    Some(u64::from(message.header.seqid as u32))
}

fn dubbo_id(frame: &Frame) -> Option<u64> {
    (!frame.header.request).then_some(frame.header.request_id)
}

impl Upstreams {
    /// Sends a Thrift oneway call to `addr`; nothing comes back.
    ///
    /// # Errors
    /// When the endpoint cannot be reached or the connection has ended.
    pub async fn thrift_oneway(
        &self,
        addr: SocketAddr,
        call: &Message,
        connect_timeout: Duration,
    ) -> Result<(), UpstreamError> {
        let pipeline = self.thrift_connection(addr, call, connect_timeout).await?;
        pipeline
            .send(call.clone())
            .await
            .map_err(|reason| UpstreamError::Reset { addr, reason })
    }

    async fn thrift_connection(
        &self,
        addr: SocketAddr,
        call: &Message,
        connect_timeout: Duration,
    ) -> Result<Arc<Pipeline<Message, Message>>, UpstreamError> {
        let key = (addr, call.transport, call.header.encoding);
        self.thrift
            .get(&key, async || {
                let stream = connect(addr, connect_timeout).await?;
                let codec = ThriftCodec::new(TransportMode::Fixed(call.transport))
                    .with_encoding_hint(call.header.encoding);
                Ok(Pipeline::spawn(stream, codec, Matching::ById(thrift_id)))
            })
            .await
    }

    /// Sends a Thrift call to `addr` under a fresh seqid; the reply comes
    /// back with the call's own seqid.
    ///
    /// # Errors
    /// When the endpoint cannot be reached or the connection breaks.
    pub async fn thrift(
        &self,
        addr: SocketAddr,
        call: &Message,
        connect_timeout: Duration,
    ) -> Result<Message, UpstreamError> {
        let pipeline = self.thrift_connection(addr, call, connect_timeout).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) as u32;
        let reply = pipeline
            .call(u64::from(id), call.with_seqid(id as i32))
            .await
            .map_err(|reason| UpstreamError::Reset { addr, reason })?;
        Ok(reply.with_seqid(call.header.seqid))
    }

    /// Sends a Dubbo request to `addr` under a fresh request id; the
    /// response comes back with the request's own id.
    ///
    /// # Errors
    /// When the endpoint cannot be reached or the connection breaks.
    pub async fn dubbo(
        &self,
        addr: SocketAddr,
        request: Frame,
        connect_timeout: Duration,
    ) -> Result<Frame, UpstreamError> {
        let pipeline = self
            .dubbo
            .get(&addr, async || {
                let stream = connect(addr, connect_timeout).await?;
                Ok(Pipeline::spawn(
                    stream,
                    DubboCodec::new(),
                    Matching::ById(dubbo_id),
                ))
            })
            .await?;
        let original = request.header.request_id;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let response = pipeline
            .call(id, request.with_request_id(id))
            .await
            .map_err(|reason| UpstreamError::Reset { addr, reason })?;
        Ok(response.with_request_id(original))
    }

    /// Sends an HTTP request on an idle keep-alive connection to `addr` (or
    /// a new one), and puts the connection back when the exchange leaves it
    /// reusable.
    ///
    /// # Errors
    /// When the endpoint cannot be reached or the connection breaks.
    pub async fn http(
        &self,
        addr: SocketAddr,
        request: &Request,
        connect_timeout: Duration,
        max_requests_per_connection: Option<u32>,
    ) -> Result<Response, UpstreamError> {
        let (mut connection, used) = match self.idle_http(addr) {
            Some((connection, used, _)) => (connection, used),
            None => {
                let stream = connect(addr, connect_timeout).await?;
                (Lockstep::new(stream, ClientCodec::default()), 0)
            }
        };
        let keep = request.keep_alive();
        let response = connection
            .call(request)
            .await
            .map_err(|reason| UpstreamError::Reset { addr, reason })?;
        let used = used + 1;
        // `maxRequestsPerConnection`: a connection that has carried its share is closed.
        let spent = max_requests_per_connection.is_some_and(|max| used >= max);
        if keep && response.keep_alive() && !spent {
            let mut pools = self.http.lock().unwrap_or_else(|p| p.into_inner());
            let idle = (connection, used, Instant::now());
            pools.entry(addr).or_default().push(idle);
        }
        Ok(response)
    }

    /// Sends a gRPC call to `addr` on its shared HTTP/2 connection.
    ///
    /// # Errors
    /// When the endpoint cannot be reached, resets the stream or closes the
    /// connection before the whole answer.
    pub async fn grpc(
        &self,
        addr: SocketAddr,
        call: &grpc::GrpcCall,
        connect_timeout: Duration,
    ) -> Result<grpc::GrpcAnswer, UpstreamError> {
        let max = meshbench_wire::Limits::DEFAULT_MAX_FRAME;
        self.grpc.call(addr, call, connect_timeout, max).await
    }

    /// Closes the pooled HTTP connections idle for `idle` or more and the
    /// ones their endpoint has closed meanwhile; returns how many are left.
    pub fn trim_http(&self, idle: Duration) -> usize {
        let mut pools = self.http.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        pools.retain(|_, pool| {
            pool.retain(|(connection, _, since)| {
                now.duration_since(*since) < idle && connection.is_reusable()
            });
            !pool.is_empty()
        });
        pools.values().map(Vec::len).sum()
    }

    /// An idle connection to `addr` still fit to carry a request; the ones
    /// the endpoint has closed meanwhile are dropped.
    fn idle_http(&self, addr: SocketAddr) -> Option<IdleHttp> {
        let mut pools = self.http.lock().unwrap_or_else(|p| p.into_inner());
        let pool = pools.get_mut(&addr)?;
        while let Some(idle) = pool.pop() {
            if idle.0.is_reusable() {
                return Some(idle);
            }
        }
        None
    }
}
