//! What every endpoint shares whatever its protocol: its identity, knobs,
//! random source and connection counter, and the accept loop.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshbench_wire::CodecError;
use meshbench_wire::attributes::Attributes;
use meshbench_wire::mux::{Answer, Buffered, Ended, MemoryBudget, Metered, Order, Refusal, serve};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::behaviour::{Behaviour, Fate};
use super::echo::Echo;
use super::hold::Hold;
use super::identity::Identity;
use super::record::Collector;

/// One running endpoint's state, shared by its connections.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) identity: Arc<Identity>,
    behaviour: Behaviour,
    collector: Collector,
    hold: Hold,
    limits: ConnectionLimits,
    rng: Mutex<StdRng>,
    next_connection: AtomicU64,
}

/// What bounds every connection of the fleet: how long it may idle, and
/// the memory budget all of them share.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionLimits {
    pub(crate) idle: Option<Duration>,
    pub(crate) budget: Arc<MemoryBudget>,
}

/// A request admitted by an endpoint: recorded, its fate drawn.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) request_id: Option<String>,
    pub(crate) connection: u64,
    pub(crate) attempt: u32,
    pub(crate) fate: Fate,
    started: Instant,
}

impl Endpoint {
    pub(crate) fn new(
        identity: Identity,
        behaviour: Behaviour,
        collector: Collector,
        hold: Hold,
        limits: ConnectionLimits,
        seed: u64,
    ) -> Self {
        Endpoint {
            identity: Arc::new(identity),
            behaviour,
            collector,
            hold,
            limits,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            next_connection: AtomicU64::new(1),
        }
    }

    pub(crate) fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    pub(crate) fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Serves one request/response connection with `codec`, under the
    /// fleet's idle timeout and memory budget.
    pub(crate) async fn serve<C, Req, Resp, H, Fut>(
        &self,
        stream: TcpStream,
        codec: C,
        order: Order,
        cancel: CancellationToken,
        handle: H,
    ) -> Ended
    where
        C: Decoder<Item = Req, Error = CodecError> + Encoder<Resp, Error = CodecError> + Buffered,
        Metered<C>: Refusal<Resp>,
        H: Fn(Req) -> Fut,
        Fut: Future<Output = Answer<Resp>> + Send + 'static,
        Resp: Send + 'static,
    {
        // The budget cancels this one connection to make room for smaller requests.
        let close = cancel.child_token();
        let codec = Metered::new(codec, &self.limits.budget, close.clone());
        let ended = serve(
            stream,
            codec,
            order,
            self.limits.idle,
            close.clone(),
            handle,
        )
        .await;
        let evicted = close.is_cancelled() && !cancel.is_cancelled();
        match &ended {
            _ if evicted => {
                tracing::warn!(endpoint = %self.identity, "closed a connection to make room in the memory budget for smaller requests");
            }
            Ended::BadFrame(CodecError::Io(error))
                if error.kind() == std::io::ErrorKind::OutOfMemory =>
            {
                tracing::warn!(endpoint = %self.identity, %error, "refused a request past the memory budget");
            }
            Ended::BadFrame(error) => {
                tracing::warn!(endpoint = %self.identity, %error, "closed a connection whose bytes do not decode");
            }
            Ended::Closed | Ended::Idle | Ended::Cancelled => {}
        }
        ended
    }

    /// Records the request and draws its fate.
    pub(crate) fn admit(
        &self,
        request_id: Option<String>,
        connection: u64,
        attributes: &Attributes,
    ) -> Admission {
        let started = Instant::now();
        let attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let attempt =
            self.collector
                .record(&self.identity, request_id.clone(), connection, attributes);
        let fate = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            self.behaviour.fate(attempt, &mut *rng)
        };
        Admission {
            request_id,
            connection,
            attempt,
            fate,
            started,
        }
    }

    /// Waits out the drawn latency, then says how the request was served.
    pub(crate) async fn process(&self, admission: &Admission) -> Echo {
        if self.behaviour.hold {
            self.hold.wait().await;
        }
        if !admission.fate.delay.is_zero() {
            tokio::time::sleep(admission.fate.delay).await;
        }
        Echo {
            service: self.identity.service.clone(),
            version: self.identity.version.clone(),
            pod: self.identity.pod.clone(),
            addr: self.identity.addr.to_string(),
            request_id: admission.request_id.clone(),
            connection: admission.connection,
            attempt: admission.attempt,
            processing_us: admission.started.elapsed().as_micros() as u64,
        }
    }

    /// The greeting of the sample servers: `Hello <name>, response from <pod>/<ip>`,
    /// padded to the configured response size.
    pub(crate) fn greeting(&self, name: &str) -> String {
        let mut text = format!("Hello {name}, response from {}", self.identity);
        if self.behaviour.response_size > 0 {
            text.push(' ');
            text.extend(std::iter::repeat_n('x', self.behaviour.response_size));
        }
        text
    }
}

/// Accepts connections until shutdown; each gets the next connection id.
pub(crate) async fn accept<F, Fut>(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    serve: F,
) where
    F: Fn(TcpStream, Arc<Endpoint>, u64, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = endpoint.next_connection.fetch_add(1, Ordering::Relaxed);
                    tracker.spawn(serve(stream, Arc::clone(&endpoint), connection, cancel.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%error, endpoint = %endpoint.identity, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }
}
