//! The fleet as an agent a runner drives over the network: its endpoints
//! and what they received, served over HTTP/1.1 for a runner in another
//! process, container or pod (mirrors, retries and rewrites are judged on
//! these records).
//!
//! - `GET /endpoints`: the endpoints, a JSON array ([`fetch_endpoints`]).
//! - `GET /received`: how many records are kept, a number ([`fetch_received`]).
//! - `GET /records?from=N`: the records kept from the N-th on, at most
//!   [`PAGE`] of them, one JSON object per line, in arrival order (an empty
//!   page: no more); [`fetch_records`] reads every page back into the
//!   [`Record`]s the verdicts take.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshbench_wire::Limits;
use meshbench_wire::http1::{Request, Response, ServerCodec};
use meshbench_wire::mux::{self, Answer, Order};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::EndpointInfo;
use super::identity::Identity;
use super::record::{Collector, Record};
use crate::client::ClientError;
use crate::client::http::HttpClient;

/// The path the records are served at.
pub const RECORDS_PATH: &str = "/records";
/// The path the endpoints are served at.
pub const ENDPOINTS_PATH: &str = "/endpoints";
/// The path the count of records is served at.
pub const RECEIVED_PATH: &str = "/received";

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

/// What an agent serves: its fleet's endpoints and their records.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Where the records are kept.
    pub collector: Collector,
    /// The fleet's endpoints.
    pub endpoints: Arc<[EndpointInfo]>,
}

/// Serves `agent` on `listener` until `cancel` fires.
pub async fn serve(listener: TcpListener, agent: Agent, cancel: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (agent, cancel) = (agent.clone(), cancel.clone());
        tracker.spawn(async move {
            let codec = ServerCodec::new(Limits::default());
            let answer = |request: Request| {
                let response = answer(&agent, &request);
                async move { Answer::Reply(response) }
            };
            mux::serve(stream, codec, Order::Sequential, Some(IDLE), cancel, answer).await;
        });
    }
    tracker.close();
    tracker.wait().await;
}

fn answer(agent: &Agent, request: &Request) -> Response {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let from = match query.strip_prefix("from=") {
        Some(n) => n.parse::<usize>().ok(),
        None => query.is_empty().then_some(0),
    };
    match (request.method.as_str(), path, from) {
        ("GET", RECORDS_PATH, Some(from)) => records_page(&agent.collector, from),
        ("GET", ENDPOINTS_PATH, Some(0)) => {
            let body = serde_json::to_string(&agent.endpoints[..]).unwrap_or_default();
            json(body, "application/json")
        }
        ("GET", RECEIVED_PATH, Some(0)) => json(agent.collector.len().to_string(), "text/plain"),
        _ => Response::new(
            404,
            format!(
                "served: GET {ENDPOINTS_PATH}, GET {RECEIVED_PATH}, GET {RECORDS_PATH}?from=N\n"
            ),
        ),
    }
}

fn json(body: String, content_type: &str) -> Response {
    let mut response = Response::new(200, body);
    response.headers.append("content-type", content_type);
    response
}

fn records_page(collector: &Collector, from: usize) -> Response {
    let mut body = String::new();
    for record in collector.records_from(from, PAGE) {
        if let Ok(line) = serde_json::to_string(&Line::from(&record)) {
            body.push_str(&line);
            body.push('\n');
        }
    }
    json(body, "application/x-ndjson")
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
    /// The endpoints or the count do not parse.
    #[error("the fleet agent at {addr} answered {path} with something else: {error}")]
    Unreadable {
        /// Where it was asked.
        addr: SocketAddr,
        /// What was asked.
        path: &'static str,
        /// Why.
        error: String,
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
        let page = parse_page(&String::from_utf8_lossy(&response.body), records.len())?;
        if page.is_empty() {
            return Ok(records);
        }
        records.extend(page);
    }
}

/// The records of one `GET /records?from=from` answer's body, however it
/// was fetched (directly, or through a Kubernetes API server's proxy).
///
/// # Errors
/// [`FetchError::Malformed`] for a line that is no record, numbered from
/// the first record of all.
pub fn parse_page(body: &str, from: usize) -> Result<Vec<Record>, FetchError> {
    body.lines()
        .enumerate()
        .map(|(n, text)| {
            serde_json::from_str::<Line>(text)
                .map(Record::from)
                .map_err(|error| FetchError::Malformed {
                    line: from + n + 1,
                    error,
                })
        })
        .collect()
}

/// One `GET path` answer's body, a 200 or an error.
async fn get(addr: SocketAddr, path: &'static str) -> Result<String, FetchError> {
    let unreachable = |error| FetchError::Unreachable { addr, error };
    let client = HttpClient::connect(addr).await.map_err(unreachable)?;
    let (response, _) = client
        .send(Request::new("GET", path), None)
        .await
        .map_err(unreachable)?;
    if response.status != 200 {
        return Err(FetchError::Status {
            addr,
            status: response.status,
        });
    }
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

/// The endpoints of the fleet agent at `addr`.
///
/// # Errors
/// [`FetchError`]: unreachable, another answer, or no endpoint list.
pub async fn fetch_endpoints(addr: SocketAddr) -> Result<Vec<EndpointInfo>, FetchError> {
    let body = get(addr, ENDPOINTS_PATH).await?;
    serde_json::from_str(&body).map_err(|e| FetchError::Unreadable {
        addr,
        path: ENDPOINTS_PATH,
        error: e.to_string(),
    })
}

/// How many records the fleet agent at `addr` has kept.
///
/// # Errors
/// [`FetchError`]: unreachable, another answer, or no number.
pub async fn fetch_received(addr: SocketAddr) -> Result<usize, FetchError> {
    let body = get(addr, RECEIVED_PATH).await?;
    body.trim()
        .parse()
        .map_err(|e: std::num::ParseIntError| FetchError::Unreadable {
            addr,
            path: RECEIVED_PATH,
            error: e.to_string(),
        })
}
