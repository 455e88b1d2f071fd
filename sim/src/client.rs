//! Protocol clients that hold long-lived connections, as real RPC clients do,
//! and carry several requests at once on each: Thrift by seqid, Dubbo by
//! request id, gRPC by HTTP/2 stream; HTTP/1.1 one request at a time per
//! keep-alive connection.
//!
//! Every call ends in exactly one result: a [`Reply`] (success or the
//! protocol's error) or a [`ClientError`] (the connection failed).

pub mod dubbo;
pub mod grpc;
pub mod http;
pub mod tcp;
pub mod thrift;

use crate::fleet::Echo;

/// A request's answer, whatever the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Whether the protocol says the call succeeded.
    pub success: bool,
    /// The protocol's status: an HTTP status, a Dubbo status (plus
    /// `exception` for a business exception), a Thrift exception kind.
    pub code: String,
    /// The answer's text: greeting, body or error message (echo removed).
    pub text: String,
    /// How the serving endpoint says it served the request, when it is one
    /// of ours.
    pub echo: Option<Echo>,
    /// Where the answer redirects to (an HTTP 3xx `location`).
    pub location: Option<String>,
}

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be opened.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address.
        addr: String,
        /// The socket error.
        reason: String,
    },
    /// The connection closed before the answer came.
    #[error("connection closed before the answer")]
    Closed,
    /// The peer's bytes did not decode; the connection was dropped.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Writing or reading the socket failed.
    #[error("i/o error: {0}")]
    Io(String),
}

impl From<meshbench_wire::mux::MuxError> for ClientError {
    fn from(error: meshbench_wire::mux::MuxError) -> Self {
        use meshbench_wire::mux::MuxError;
        match error {
            MuxError::Closed => ClientError::Closed,
            MuxError::Protocol(reason) => ClientError::Protocol(reason),
            MuxError::Io(reason) | MuxError::Reset(reason) => ClientError::Io(reason),
        }
    }
}

async fn connect(addr: std::net::SocketAddr) -> Result<tokio::net::TcpStream, ClientError> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| ClientError::Connect {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
