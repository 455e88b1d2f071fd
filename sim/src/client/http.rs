//! An HTTP/1.1 client over one keep-alive connection, one request at a time,
//! written and read from the calling task. A response with `Connection:
//! close` ends the connection gracefully (RFC 9112 §9.6, what a proxy does
//! on a reload), and so does a server closing it while it is idle (§9.5:
//! a server may close an idle connection at any time): the next request
//! opens a new one to the same address, as every HTTP client library does,
//! and [`HttpClient::reconnects`] counts it. An idempotent request whose
//! reused connection closes or is reset before a byte of its answer is sent once more
//! on a new one (RFC 9110 §9.2.2, as HTTP client libraries do). Any other
//! break stays broken: that is a failure to report, not to hide.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use meshbench_wire::http1::{ClientCodec, Request, Response};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{ClientError, Reply, connect};
use crate::fleet::echo::{Echo, PREFIX, REQUEST_ID};
use meshbench_wire::mux::{Lockstep, MuxError};

/// A keep-alive connection.
#[derive(Debug)]
pub struct HttpClient {
    /// HTTP/1.1 without pipelining: one exchange at a time.
    connection: Mutex<Current>,
    addr: SocketAddr,
    authority: String,
    reconnects: AtomicU64,
}

/// The TCP connection in use, and whether the server closed it gracefully.
#[derive(Debug)]
struct Current {
    lockstep: Lockstep<TcpStream, ClientCodec>,
    closed_by_server: bool,
    /// Exchanges completed on it: a connection with none is not reused.
    exchanges: u64,
}

/// GET, HEAD, PUT, DELETE, OPTIONS and TRACE (RFC 9110 §9.2.2).
fn idempotent(request: &Request) -> bool {
    ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]
        .iter()
        .any(|m| request.method.eq_ignore_ascii_case(m))
}

impl HttpClient {
    /// Opens the connection; requests without a `host` header get `addr`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the address does not accept.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        HttpClient::connect_as(addr, None).await
    }

    /// Opens the connection; requests without a `host` header get
    /// `authority`, or `addr` when `None`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the address does not accept.
    pub async fn connect_as(
        addr: SocketAddr,
        authority: Option<&str>,
    ) -> Result<Self, ClientError> {
        let stream = connect(addr).await?;
        Ok(HttpClient {
            connection: Mutex::new(Current {
                lockstep: Lockstep::new(stream, ClientCodec::default()),
                closed_by_server: false,
                exchanges: 0,
            }),
            addr,
            authority: authority.map_or_else(|| addr.to_string(), str::to_owned),
            reconnects: AtomicU64::new(0),
        })
    }

    /// Sends `request` (with `x-request-id` when given) and waits for the response.
    ///
    /// # Errors
    /// When the connection fails before the response.
    pub async fn send(
        &self,
        mut request: Request,
        request_id: Option<&str>,
    ) -> Result<(Response, Reply), ClientError> {
        if request.headers.get("host").is_none() {
            request.headers.append("host", self.authority.as_str());
        }
        if let Some(id) = request_id {
            request.headers.set(REQUEST_ID, id);
        }
        let response = {
            let mut current = self.connection.lock().await;
            if current.closed_by_server || current.lockstep.closed_while_idle() {
                self.reconnect(&mut current).await?;
            }
            let response = match current.lockstep.call(&request).await {
                // The server closed (or reset) the kept-alive connection as
                // the request went out, before a byte of the answer: RFC 9110 §9.2.2 lets
                // a client send an idempotent request again, once, on a new
                // connection. The endpoints count tries, so a request that
                // did reach one is not hidden: it shows as a second attempt.
                Err(MuxError::Closed | MuxError::Reset(_))
                    if current.exchanges > 0 && idempotent(&request) =>
                {
                    self.reconnect(&mut current).await?;
                    current.lockstep.call(&request).await?
                }
                answer => answer?,
            };
            current.exchanges += 1;
            current.closed_by_server = response
                .headers
                .get("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"));
            response
        };
        let echo = Echo::from_pairs(PREFIX, response.headers.iter());
        let reply = Reply {
            success: response.status < 500,
            code: response.status.to_string(),
            text: String::from_utf8_lossy(&response.body).into_owned(),
            echo,
            location: (300..400)
                .contains(&response.status)
                .then(|| response.headers.get("location").map(str::to_owned))
                .flatten(),
        };
        Ok((response, reply))
    }

    /// Whether a call has seen the connection end (an exchange in progress
    /// has not).
    pub fn is_closed(&self) -> bool {
        self.connection
            .try_lock()
            .is_ok_and(|current| current.lockstep.has_ended() && !current.closed_by_server)
    }

    /// Opens a new connection in place of the current one.
    async fn reconnect(&self, current: &mut Current) -> Result<(), ClientError> {
        current.lockstep = Lockstep::new(connect(self.addr).await?, ClientCodec::default());
        current.closed_by_server = false;
        current.exchanges = 0;
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many times the server closed the connection (gracefully, while
    /// idle, or as an idempotent request went out) and a new one was opened.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}
