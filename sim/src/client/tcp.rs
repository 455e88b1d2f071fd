//! A TCP client for the echo service: the unit is the connection, so opening
//! one tells which endpoint the proxy chose.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{ClientError, connect};
use crate::fleet::Echo;
use crate::fleet::tcp::GREETING;

/// The longest greeting line read.
const MAX_GREETING: u64 = 4096;

/// An open connection to the echo service.
#[derive(Debug)]
pub struct TcpEchoClient {
    stream: BufReader<TcpStream>,
    /// Who answered the connection.
    pub echo: Echo,
}

impl TcpEchoClient {
    /// Connects and reads the greeting.
    ///
    /// # Errors
    /// When the connection fails or the greeting is not the echo service's.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        let mut stream = BufReader::new(connect(addr).await?);
        let mut line = String::new();
        (&mut stream)
            .take(MAX_GREETING)
            .read_line(&mut line)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let fields = line.trim_end().strip_prefix(GREETING).ok_or_else(|| {
            ClientError::Protocol(format!("not an echo greeting: '{}'", line.trim_end()))
        })?;
        let echo = Echo::from_pairs("", fields.split(' ').filter_map(|kv| kv.split_once('=')))
            .ok_or_else(|| {
                ClientError::Protocol(format!("incomplete echo greeting: '{}'", line.trim_end()))
            })?;
        Ok(TcpEchoClient { stream, echo })
    }

    /// Sends `payload` and reads it back.
    ///
    /// # Errors
    /// When the connection fails or closes early.
    pub async fn round_trip(&mut self, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let io = |e: std::io::Error| ClientError::Io(e.to_string());
        self.stream.get_mut().write_all(payload).await.map_err(io)?;
        let mut back = vec![0; payload.len()];
        self.stream.read_exact(&mut back).await.map_err(io)?;
        Ok(back)
    }
}
