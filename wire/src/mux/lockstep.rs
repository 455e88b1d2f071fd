//! The calling side of a connection that carries one exchange at a time
//! (HTTP/1.1 without pipelining), driven from the caller's own task: no
//! connection task, no channel, no wakeup besides the socket's.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder, Framed};

use super::MuxError;
use crate::CodecError;

/// A connection whose requests are answered in order, one at a time.
#[derive(Debug)]
pub struct Lockstep<S, C> {
    framed: Framed<S, C>,
    /// Answers still due to exchanges whose caller gave up waiting (a
    /// timeout dropped the call): they arrive first and are read past, so a
    /// later call never takes an earlier call's answer.
    owed: usize,
    /// The connection ended or broke; every later call fails at once.
    ended: Option<MuxError>,
}

impl<S, C, Resp> Lockstep<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = Resp, Error = CodecError>,
{
    /// Wraps a connected stream.
    pub fn new(stream: S, codec: C) -> Self {
        Lockstep {
            framed: Framed::new(stream, codec),
            owed: 0,
            ended: None,
        }
    }

    /// Writes `request` and reads its answer.
    ///
    /// # Errors
    /// Why the connection ended: for this call and every later one.
    pub async fn call<Req>(&mut self, request: Req) -> Result<Resp, MuxError>
    where
        C: Encoder<Req, Error = CodecError>,
    {
        if let Some(ended) = &self.ended {
            return Err(ended.clone());
        }
        let answer = self.exchange(request).await;
        if let Err(error) = &answer {
            self.ended = Some(error.clone());
        }
        answer
    }

    async fn exchange<Req>(&mut self, request: Req) -> Result<Resp, MuxError>
    where
        C: Encoder<Req, Error = CodecError>,
    {
        while self.owed > 0 {
            self.next().await?;
            self.owed -= 1;
        }
        self.framed.feed(request).await?;
        // Encoded, so it will be sent (a later call flushes it if this one
        // is dropped): from here on its answer is due, whatever the caller does.
        self.owed = 1;
        self.framed.flush().await?;
        let answer = self.next().await?;
        self.owed = 0;
        Ok(answer)
    }

    async fn next(&mut self) -> Result<Resp, MuxError> {
        match self.framed.next().await {
            Some(answer) => answer.map_err(MuxError::from),
            None => Err(MuxError::Closed),
        }
    }

    /// Whether the connection has failed or been closed, as far as its
    /// calls have seen.
    pub fn has_ended(&self) -> bool {
        self.ended.is_some()
    }
}

impl<C> Lockstep<TcpStream, C> {
    /// Whether an idle connection can carry another call: it has not ended,
    /// owes no answer, has nothing unread buffered, and its socket has
    /// neither data nor an end of stream waiting (either means the peer is
    /// done with it). Reads at most one byte, which only a connection found
    /// unfit loses.
    pub fn is_reusable(&self) -> bool {
        if self.ended.is_some() || self.owed > 0 || !self.framed.read_buffer().is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(
            self.framed.get_ref().try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }
}

impl<C> Lockstep<TcpStream, C> {
    /// Whether the peer closed the connection while it was idle: nothing
    /// owed, nothing buffered, and the socket at its end of stream (what a
    /// server does to an idle keep-alive connection, at any time it likes).
    /// Reads at most one byte, which only a connection found closed loses.
    pub fn closed_while_idle(&self) -> bool {
        if self.ended.is_some() || self.owed > 0 || !self.framed.read_buffer().is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.framed.get_ref().try_read(&mut probe), Ok(0))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::http1::{ClientCodec, Request, Response, ServerCodec};
    use crate::mux::{Answer, Order, serve};

    /// A server answering each request with its path; `/slow` after a pause.
    async fn server(stream: tokio::io::DuplexStream) {
        serve(
            stream,
            ServerCodec::default(),
            Order::Sequential,
            None,
            CancellationToken::new(),
            |request: Request| async move {
                if request.path() == "/slow" {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Answer::Reply(Response::new(200, request.path().to_owned()))
            },
        )
        .await;
    }

    #[tokio::test]
    async fn a_call_given_up_on_leaves_its_answer_to_be_read_past() {
        let (near, far) = tokio::io::duplex(4096);
        tokio::spawn(server(far));
        let mut connection = Lockstep::new(near, ClientCodec::default());
        let given_up = tokio::time::timeout(
            Duration::from_millis(20),
            connection.call(Request::new("GET", "/slow")),
        )
        .await;
        assert!(given_up.is_err(), "the slow call outlives its timeout");
        let answer = connection.call(Request::new("GET", "/next")).await;
        assert_eq!(
            answer.map(|r| r.body),
            Ok(bytes::Bytes::from_static(b"/next")),
            "the late answer to /slow is not taken for /next's"
        );
        assert!(!connection.has_ended());
    }

    #[tokio::test]
    async fn a_closed_connection_fails_this_call_and_every_later_one() {
        let (near, far) = tokio::io::duplex(4096);
        drop(far);
        let mut connection = Lockstep::new(near, ClientCodec::default());
        assert!(connection.call(Request::new("GET", "/")).await.is_err());
        assert!(connection.has_ended());
        assert!(connection.call(Request::new("GET", "/")).await.is_err());
    }
}
