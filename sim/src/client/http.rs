//! An HTTP/1.1 client over one keep-alive connection, one request at a time,
//! written and read from the calling task.

use std::net::SocketAddr;

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
    connection: Mutex<Lockstep<TcpStream, ClientCodec>>,
    authority: String,
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
            connection: Mutex::new(Lockstep::new(stream, ClientCodec::default())),
            authority: authority.map_or_else(|| addr.to_string(), str::to_owned),
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
        let response = self.connection.lock().await.call(&request).await?;
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
            .is_ok_and(|connection| connection.has_ended())
    }
}
