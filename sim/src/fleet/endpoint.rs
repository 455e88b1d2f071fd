//! What every endpoint shares whatever its protocol: its identity, knobs,
//! random source and connection counter, the accept loop, and the loop that
//! serves one connection.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use meshbench_wire::CodecError;
use meshbench_wire::attributes::Attributes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tokio_util::task::TaskTracker;

use super::behaviour::{Behaviour, Fate};
use super::echo::Echo;
use super::identity::Identity;
use super::record::Collector;
use crate::shutdown::Shutdown;

/// One running endpoint's state, shared by its connections.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) identity: Arc<Identity>,
    behaviour: Behaviour,
    collector: Collector,
    rng: Mutex<StdRng>,
    next_connection: AtomicU64,
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
        seed: u64,
    ) -> Self {
        Endpoint {
            identity: Arc::new(identity),
            behaviour,
            collector,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            next_connection: AtomicU64::new(1),
        }
    }

    pub(crate) fn behaviour(&self) -> &Behaviour {
        &self.behaviour
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

/// What a request handler wants done on the connection.
#[derive(Debug)]
pub(crate) enum Answer<R> {
    /// Write this reply.
    Reply(R),
    /// Write this reply, then close (HTTP `connection: close`).
    ReplyThenClose(R),
    /// Write nothing (oneway calls, events needing no answer).
    Nothing,
    /// Close the connection without answering.
    Close,
}

/// Whether a connection's requests are answered in arrival order (HTTP/1.1)
/// or as each completes (Thrift seqids, Dubbo request ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Sequential,
    Multiplexed,
}

/// Accepts connections until shutdown; each gets the next connection id.
pub(crate) async fn accept<F, Fut>(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    tracker: TaskTracker,
    mut shutdown: Shutdown,
    serve: F,
) where
    F: Fn(TcpStream, Arc<Endpoint>, u64, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            _ = shutdown.signalled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = endpoint.next_connection.fetch_add(1, Ordering::Relaxed);
                    tracker.spawn(serve(stream, Arc::clone(&endpoint), connection, shutdown.clone()));
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

/// Serves one connection with `codec`: decodes requests, runs `handle` on
/// each and writes the answers, until the peer closes, a frame does not
/// decode, a handler asks to close, or shutdown.
pub(crate) async fn serve_connection<C, Req, Resp, H, Fut>(
    stream: TcpStream,
    codec: C,
    order: Order,
    mut shutdown: Shutdown,
    handle: H,
) where
    C: Decoder<Item = Req, Error = CodecError> + Encoder<Resp, Error = CodecError>,
    H: Fn(Req) -> Fut,
    Fut: Future<Output = Answer<Resp>> + Send + 'static,
    Resp: Send + 'static,
{
    let mut framed = Framed::new(stream, codec);
    let mut in_flight: JoinSet<Answer<Resp>> = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.signalled() => return,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let Ok(answer) = done else { return };
                if !write(&mut framed, answer).await {
                    return;
                }
            }
            frame = framed.next() => match frame {
                Some(Ok(request)) => {
                    let answer = handle(request);
                    match order {
                        Order::Multiplexed => {
                            in_flight.spawn(answer);
                        }
                        Order::Sequential => {
                            if !write(&mut framed, answer.await).await {
                                return;
                            }
                        }
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "closing a connection that sent a bad frame");
                    return;
                }
                None => {
                    // The peer stopped sending; answer what it already asked.
                    while let Some(Ok(answer)) = in_flight.join_next().await {
                        if !write(&mut framed, answer).await {
                            return;
                        }
                    }
                    return;
                }
            },
        }
    }
}

/// Writes an answer; false when the connection is to be closed.
async fn write<C, Resp>(framed: &mut Framed<TcpStream, C>, answer: Answer<Resp>) -> bool
where
    C: Encoder<Resp, Error = CodecError>,
{
    match answer {
        Answer::Reply(reply) => framed.send(reply).await.is_ok(),
        Answer::ReplyThenClose(reply) => {
            let _ = framed.send(reply).await;
            false
        }
        Answer::Nothing => true,
        Answer::Close => false,
    }
}
