//! An HTTP/1.1 client over one keep-alive connection, one request at a time,
//! written and read from the calling task. A response with `Connection:
//! close` ends the connection gracefully (RFC 9112 §9.6, what a proxy does
//! on a reload): the next request opens a new one to the same address, as
//! every HTTP client library does, and [`HttpClient::reconnects`] counts it.
//! A connection that breaks otherwise stays broken: that is a failure to
//! report, not to hide.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use meshbench_wire::http1::{ClientCodec, Request, Response};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{ClientError, Reply, connect};
use crate::fleet::echo::{Echo, PREFIX, REQUEST_ID};
use meshbench_wire::mux::Lockstep;

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
            if current.closed_by_server {
                current.lockstep = Lockstep::new(connect(self.addr).await?, ClientCodec::default());
                current.closed_by_server = false;
                self.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            let response = current.lockstep.call(&request).await?;
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

    /// How many times the server closed the connection gracefully and the
    /// next request opened a new one.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}
