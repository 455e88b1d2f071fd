//! The fleet as an agent a runner drives over the network: what its
//! endpoints received, served over HTTP/1.1 for a runner in another
//! process, container or pod (mirrors, retries and rewrites are judged on
//! these records). `GET /records?from=N` answers the records kept from the
//! N-th on, at most [`PAGE`] of them, one JSON object per line, in arrival
//! order (an empty page: no more); [`fetch_records`] reads every page back
//! into the [`Record`]s the verdicts take.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshbench_wire::Limits;
use meshbench_wire::http1::{Request, Response, ServerCodec};
use meshbench_wire::mux::{Answer, Order, serve};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::identity::Identity;
use super::record::{Collector, Record};
use crate::client::ClientError;
use crate::client::http::HttpClient;

/// The path the records are served at.
pub const RECORDS_PATH: &str = "/records";

/// The most records one answer carries: about 3 MB, well inside the HTTP
/// body limit whatever the attributes.
pub const PAGE: usize = 10_000;

/// A reader's connection with nothing asked for this long is closed, as
/// the endpoints' own are.
const IDLE: Duration = Duration::from_secs(300);

/// A record as one line of `GET /records`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Line {
    endpoint: Identity,
    /// Microseconds from the collector's start.
    at_us: u64,
    request_id: Option<String>,
    connection: u64,
    attempt: u32,
    attributes: Vec<(String, String)>,
}

impl From<&Record> for Line {
    fn from(record: &Record) -> Line {
        let Record {
            endpoint,
            at,
            request_id,
            connection,
            attempt,
            attributes,
        } = record;
        Line {
            endpoint: Identity::clone(endpoint),
            at_us: u64::try_from(at.as_micros()).unwrap_or(u64::MAX),
            request_id: request_id.clone(),
            connection: *connection,
            attempt: *attempt,
            attributes: attributes.clone(),
        }
    }
}

impl From<Line> for Record {
    fn from(line: Line) -> Record {
        Record {
            endpoint: Arc::new(line.endpoint),
            at: Duration::from_micros(line.at_us),
            request_id: line.request_id,
            connection: line.connection,
            attempt: line.attempt,
            attributes: line.attributes,
        }
    }
}

/// Serves `collector`'s records on `listener` until `cancel` fires.
pub async fn serve_records(listener: TcpListener, collector: Collector, cancel: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (collector, cancel) = (collector.clone(), cancel.clone());
        tracker.spawn(async move {
            let codec = ServerCodec::new(Limits::default());
            let answer = |request: Request| {
                let response = answer(&collector, &request);
                async move { Answer::Reply(response) }
            };
            serve(stream, codec, Order::Sequential, Some(IDLE), cancel, answer).await;
        });
    }
    tracker.close();
    tracker.wait().await;
}

fn answer(collector: &Collector, request: &Request) -> Response {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let from = match query.strip_prefix("from=") {
        Some(n) => n.parse::<usize>().ok(),
        None => query.is_empty().then_some(0),
    };
    let (true, Some(from)) = (request.method == "GET" && path == RECORDS_PATH, from) else {
        return Response::new(404, format!("only GET {RECORDS_PATH}?from=N is served\n"));
    };
    let mut body = String::new();
    for record in collector.records_from(from, PAGE) {
        if let Ok(line) = serde_json::to_string(&Line::from(&record)) {
            body.push_str(&line);
            body.push('\n');
        }
    }
    let mut response = Response::new(200, body);
    response
        .headers
        .append("content-type", "application/x-ndjson");
    response
}

/// Why the records could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The agent could not be reached or broke off.
    #[error("the fleet agent at {addr}: {error}")]
    Unreachable {
        /// Where it was asked.
        addr: SocketAddr,
        /// Why.
        error: ClientError,
    },
    /// It answered something else than the records.
    #[error("the fleet agent at {addr} answered {status}")]
    Status {
        /// Where it was asked.
        addr: SocketAddr,
        /// Its status.
        status: u16,
    },
    /// A line is not a record.
    #[error("line {line} of the fleet agent's records: {error}")]
    Malformed {
        /// From 1.
        line: usize,
        /// Why.
        error: serde_json::Error,
    },
}

/// Every record the fleet agent at `addr` kept, in arrival order.
///
/// # Errors
/// [`FetchError`]: unreachable, another answer, or a line that is no record.
pub async fn fetch_records(addr: SocketAddr) -> Result<Vec<Record>, FetchError> {
    let unreachable = |error| FetchError::Unreachable { addr, error };
    let client = HttpClient::connect(addr).await.map_err(unreachable)?;
    let mut records = Vec::new();
    loop {
        let page = Request::new("GET", &format!("{RECORDS_PATH}?from={}", records.len()));
        let (response, _) = client.send(page, None).await.map_err(unreachable)?;
        if response.status != 200 {
            return Err(FetchError::Status {
                addr,
                status: response.status,
            });
        }
        let before = records.len();
        for text in String::from_utf8_lossy(&response.body).lines() {
            let line =
                serde_json::from_str::<Line>(text).map_err(|error| FetchError::Malformed {
                    line: records.len() + 1,
                    error,
                })?;
            records.push(Record::from(line));
        }
        if records.len() == before {
            return Ok(records);
        }
    }
}
