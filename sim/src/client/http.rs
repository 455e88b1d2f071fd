//! An HTTP/1.1 client over one keep-alive connection, one request at a time.

use std::net::SocketAddr;

use meshbench_wire::http1::{ClientCodec, Request, Response};
use tokio::sync::Mutex;

use super::{ClientError, Reply, connect};
use crate::fleet::echo::{Echo, PREFIX, REQUEST_ID};
use meshbench_wire::mux::{Matching, Pipeline};

/// A keep-alive connection.
#[derive(Debug)]
pub struct HttpClient {
    pipeline: Pipeline<Request, Response>,
    /// HTTP/1.1 without pipelining: one exchange at a time.
    turn: Mutex<()>,
    authority: String,
}

impl HttpClient {
    /// Opens the connection; requests without a `host` header get `addr`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the address does not accept.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        let stream = connect(addr).await?;
        Ok(HttpClient {
            pipeline: Pipeline::spawn(stream, ClientCodec::default(), Matching::InOrder),
            turn: Mutex::new(()),
            authority: addr.to_string(),
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
        let _turn = self.turn.lock().await;
        let response = self.pipeline.call(0, request).await?;
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

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.pipeline.is_closed()
    }
}
