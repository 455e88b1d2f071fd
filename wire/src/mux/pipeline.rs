//! The calling side of a connection: a task owns the socket, writes
//! what callers hand it and routes each response to its caller, by id or in
//! order. When the connection ends, every caller still waiting is told why.

use std::collections::{HashMap, VecDeque};

use crate::CodecError;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Why a call on a pipelined connection got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MuxError {
    /// The connection closed before the answer came.
    #[error("connection closed before the answer")]
    Closed,
    /// The peer's bytes did not decode; the connection was dropped.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Writing or reading the socket failed.
    #[error("i/o error: {0}")]
    Io(String),
    /// The peer reset the connection (or had closed it when a write went
    /// out): like [`MuxError::Closed`], the peer is gone, abruptly.
    #[error("i/o error: {0}")]
    Reset(String),
}

impl From<CodecError> for MuxError {
    fn from(error: CodecError) -> MuxError {
        match error {
            CodecError::Decode(e) => MuxError::Protocol(e.to_string()),
            CodecError::Io(e) if peer_gone(e.kind()) => MuxError::Reset(e.to_string()),
            CodecError::Io(e) => MuxError::Io(e.to_string()),
        }
    }
}

/// An I/O error that means the peer reset or left the connection.
fn peer_gone(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind;
    matches!(
        kind,
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// How responses find their requests.
#[derive(Debug, Clone, Copy)]
pub enum Matching<Resp> {
    /// By the id the response carries; `None` for frames that answer no
    /// request (heartbeats), which are dropped.
    ById(fn(&Resp) -> Option<u64>),
    /// In the order the requests were written (HTTP/1.1).
    InOrder,
}

type Waiter<Resp> = oneshot::Sender<Result<Resp, MuxError>>;

struct Outgoing<Req, Resp> {
    id: u64,
    frame: Req,
    /// Who waits for the answer; `None` for a message that gets none (oneway).
    reply: Option<Waiter<Resp>>,
}

/// The callers' side of a pipelined connection.
#[derive(Debug)]
pub struct Pipeline<Req, Resp> {
    tx: mpsc::Sender<Outgoing<Req, Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Pipeline<Req, Resp> {
    /// Starts the connection task (on the current tokio runtime).
    pub fn spawn<S, C>(stream: S, codec: C, matching: Matching<Resp>) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        C: Decoder<Item = Resp, Error = CodecError>
            + Encoder<Req, Error = CodecError>
            + Send
            + 'static,
    {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(Framed::new(stream, codec), rx, matching));
        Pipeline { tx }
    }

    /// Sends `frame`, whose id is `id`, and waits for its response.
    ///
    /// # Errors
    /// The connection's failure, for this request as for every other in flight.
    pub async fn call(&self, id: u64, frame: Req) -> Result<Resp, MuxError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Outgoing {
                id,
                frame,
                reply: Some(reply),
            })
            .await
            .map_err(|_| MuxError::Closed)?;
        answer.await.map_err(|_| MuxError::Closed)?
    }

    /// Queues a message that gets no answer (a Thrift oneway call).
    ///
    /// # Errors
    /// [`MuxError::Closed`] when the connection has ended.
    pub async fn send(&self, frame: Req) -> Result<(), MuxError> {
        self.tx
            .send(Outgoing {
                id: 0,
                frame,
                reply: None,
            })
            .await
            .map_err(|_| MuxError::Closed)
    }

    /// Whether the connection task has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Waiting callers, keyed by id or queued in order.
struct Waiting<Resp> {
    by_id: HashMap<u64, Waiter<Resp>>,
    in_order: VecDeque<Waiter<Resp>>,
}

impl<Resp> Waiting<Resp> {
    fn fail_all(&mut self, error: &MuxError) {
        for waiter in self
            .by_id
            .drain()
            .map(|(_, w)| w)
            .chain(self.in_order.drain(..))
        {
            let _ = waiter.send(Err(error.clone()));
        }
    }
}

async fn run<S, C, Req, Resp>(
    framed: Framed<S, C>,
    mut rx: mpsc::Receiver<Outgoing<Req, Resp>>,
    matching: Matching<Resp>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = Resp, Error = CodecError> + Encoder<Req, Error = CodecError>,
{
    let (mut sink, mut stream) = framed.split();
    let mut waiting = Waiting {
        by_id: HashMap::new(),
        in_order: VecDeque::new(),
    };
    let error = loop {
        tokio::select! {
            outgoing = rx.recv() => {
                let Some(Outgoing { id, frame, reply }) = outgoing else {
                    break MuxError::Closed;
                };
                match (&matching, reply) {
                    (_, None) => {}
                    (Matching::ById(_), Some(reply)) => {
                        waiting.by_id.insert(id, reply);
                    }
                    (Matching::InOrder, Some(reply)) => waiting.in_order.push_back(reply),
                }
                if let Err(e) = sink.send(frame).await {
                    break MuxError::Io(e.to_string());
                }
            }
            frame = stream.next() => {
                let response = match frame {
                    Some(Ok(response)) => response,
                    Some(Err(error)) => break error.into(),
                    None => break MuxError::Closed,
                };
                let waiter = match matching {
                    Matching::ById(id_of) => id_of(&response).and_then(|id| waiting.by_id.remove(&id)),
                    Matching::InOrder => waiting.in_order.pop_front(),
                };
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Ok(response));
                }
            }
        }
    };
    waiting.fail_all(&error);
    // Callers that queue after the end learn it from the closed channel.
    rx.close();
    while let Some(late) = rx.recv().await {
        if let Some(reply) = late.reply {
            let _ = reply.send(Err(error.clone()));
        }
    }
}
