//! The request ledger: every request the workload sends ends in exactly one
//! recorded outcome, with its timing, and nothing is dropped from the
//! accounting. The ledger checks its own conservation and joins the
//! endpoints' records to see what clients cannot: mirrored copies, retries,
//! and requests that reached an endpoint but never came back.
//!
//! Heartbeats (Dubbo keep-alives sent while a connection pauses) are no
//! requests: verifiers count request entries, so the ledger keeps them
//! apart, as one [`Heartbeats`] tally per connection in which every
//! heartbeat sent ends answered or failed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::fleet::{Echo, Record};

/// How one request ended. Exactly one per request sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// An answer came back (success or the protocol's error answer).
    Response {
        /// Whether the protocol says it succeeded.
        success: bool,
        /// The protocol's status (HTTP status, Dubbo status, Thrift exception kind).
        code: String,
        /// Who served it, from the echo contract; `None` when the answer
        /// carries no echo (a local answer from the proxy, a third-party server).
        served_by: Option<Echo>,
        /// Where the answer redirects to (an HTTP 3xx `location`).
        location: Option<String>,
    },
    /// The peer's bytes did not decode.
    ProtocolError(String),
    /// No answer within the client's request timeout.
    Timeout,
    /// The connection could not be opened or broke before the answer.
    ConnectionError(String),
    /// Still in flight when the run stopped (counted, never dropped).
    Unfinished,
}

impl Outcome {
    /// The endpoint that served a response, if known.
    pub fn served_by(&self) -> Option<&Echo> {
        match self {
            Outcome::Response { served_by, .. } => served_by.as_ref(),
            _ => None,
        }
    }

    /// Whether the protocol says the request succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Response { success: true, .. })
    }

    /// A short label for summaries: `success`, `error:<code>`, `timeout`, …
    pub fn label(&self) -> String {
        match self {
            Outcome::Response { success: true, .. } => "success".to_owned(),
            Outcome::Response { code, .. } => format!("error:{code}"),
            Outcome::ProtocolError(_) => "protocol_error".to_owned(),
            Outcome::Timeout => "timeout".to_owned(),
            Outcome::ConnectionError(_) => "connection_error".to_owned(),
            Outcome::Unfinished => "unfinished".to_owned(),
        }
    }
}

/// One request, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The unique request id carried in-band.
    pub id: String,
    /// Its place in the run's send order (0 first, over every client): the
    /// order sequential tests read the run in, whatever order answers came.
    pub order: u64,
    /// The request class (from the workload mix).
    pub class: String,
    /// Which workload client sent it.
    pub client: usize,
    /// Which of the run's client connections carried it (unique in the run).
    pub connection: u64,
    /// The routing phase in force when it was sent.
    pub phase: usize,
    /// Whether a routing change began while it was in flight, so either
    /// phase's routing may have served it; phase verdicts leave it out.
    pub switching: bool,
    /// When it was meant to start, from the start of the run.
    pub intended: Duration,
    /// From the intended start to the answer (corrected for coordinated omission).
    pub latency: Duration,
    /// From the actual send to the answer.
    pub service_time: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// The heartbeats one connection sent while it paused, and how they ended:
/// every heartbeat sent is answered (by a heartbeat response) or failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeats {
    /// Which workload client holds the connection.
    pub client: usize,
    /// The connection (the run-wide id its requests carry).
    pub connection: u64,
    /// Heartbeats sent.
    pub sent: u64,
    /// Heartbeats answered by a heartbeat response.
    pub answered: u64,
    /// Heartbeats without one: no answer in time, another answer, or the
    /// connection closed.
    pub failed: u64,
    /// Why the first failed one failed.
    pub first_failure: Option<String>,
}

impl Heartbeats {
    /// An empty tally for `connection` of `client`.
    pub fn new(client: usize, connection: u64) -> Heartbeats {
        Heartbeats {
            client,
            connection,
            ..Heartbeats::default()
        }
    }

    /// Counts one heartbeat sent and how it ended.
    pub fn record(&mut self, answer: Result<(), String>) {
        self.sent += 1;
        match answer {
            Ok(()) => self.answered += 1,
            Err(reason) => {
                self.failed += 1;
                self.first_failure.get_or_insert(reason);
            }
        }
    }
}

/// Latency distributions of a set of requests, in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// From the intended start (what a user waiting on a schedule sees).
    pub corrected: Histogram<u64>,
    /// From the actual send.
    pub uncorrected: Histogram<u64>,
}

/// The client-side record of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ledger {
    /// How many requests the workload sent (or tried to send).
    pub sent: u64,
    /// One entry per request.
    pub entries: Vec<Entry>,
    /// One tally per connection that sent heartbeats, by connection id.
    pub heartbeats: Vec<Heartbeats>,
}

/// A broken accounting invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConservationError {
    /// Sent and recorded counts differ.
    #[error("{sent} requests sent but {recorded} outcomes recorded")]
    Count {
        /// Requests sent.
        sent: u64,
        /// Outcomes recorded.
        recorded: u64,
    },
    /// One request id has more than one outcome.
    #[error("request id '{0}' has more than one outcome")]
    Duplicate(String),
    /// A connection's heartbeats sent and ended differ.
    #[error("connection {connection} sent {sent} heartbeats but {ended} ended")]
    Heartbeats {
        /// The connection.
        connection: u64,
        /// Heartbeats sent.
        sent: u64,
        /// Heartbeats answered or failed.
        ended: u64,
    },
}

/// What the endpoints' records add to the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joined {
    /// Arrivals of a request at an endpoint other than the one that served
    /// it to the client: mirrored copies (and failed tries before a retry).
    pub copies: Vec<Record>,
    /// Per request id, how many times it arrived at any endpoint.
    pub arrivals: BTreeMap<String, u32>,
    /// Requests that reached an endpoint but whose client outcome is not a
    /// response from an endpoint (a timeout, a connection error, a proxy-local error).
    pub lost_after_arrival: Vec<String>,
    /// Endpoint arrivals carrying no request id the ledger knows.
    pub unknown: Vec<Record>,
}

impl Ledger {
    /// Checks that every request sent has exactly one outcome, and every
    /// heartbeat sent ended answered or failed.
    ///
    /// # Errors
    /// The first broken invariant.
    pub fn check_conservation(&self) -> Result<(), ConservationError> {
        if let Some(tally) = self
            .heartbeats
            .iter()
            .find(|t| t.sent != t.answered + t.failed)
        {
            return Err(ConservationError::Heartbeats {
                connection: tally.connection,
                sent: tally.sent,
                ended: tally.answered + tally.failed,
            });
        }
        if self.sent != self.entries.len() as u64 {
            return Err(ConservationError::Count {
                sent: self.sent,
                recorded: self.entries.len() as u64,
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(self.entries.len());
        for entry in &self.entries {
            if !seen.insert(entry.id.as_str()) {
                return Err(ConservationError::Duplicate(entry.id.clone()));
            }
        }
        Ok(())
    }

    /// Counts of each outcome label.
    pub fn outcome_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for entry in &self.entries {
            *counts.entry(entry.outcome.label()).or_insert(0) += 1;
        }
        counts
    }

    /// Latency histograms of the entries `filter` keeps (values in µs, 3
    /// significant digits, up to one hour).
    pub fn latencies(&self, filter: impl Fn(&Entry) -> bool) -> Latencies {
        let new = || {
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid")
        };
        let (mut corrected, mut uncorrected) = (new(), new());
        for entry in self.entries.iter().filter(|e| filter(e)) {
            let clamp = |d: Duration| (d.as_micros() as u64).clamp(1, 3_600_000_000);
            corrected.saturating_record(clamp(entry.latency));
            uncorrected.saturating_record(clamp(entry.service_time));
        }
        Latencies {
            corrected,
            uncorrected,
        }
    }

    /// Joins what the endpoints received with what the clients saw.
    pub fn join(&self, received: &[Record]) -> Joined {
        let by_id: HashMap<&str, &Entry> =
            self.entries.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut joined = Joined::default();
        for record in received {
            let Some(id) = record.request_id.as_deref() else {
                joined.unknown.push(record.clone());
                continue;
            };
            let Some(entry) = by_id.get(id) else {
                joined.unknown.push(record.clone());
                continue;
            };
            *joined.arrivals.entry(id.to_owned()).or_insert(0) += 1;
            let served_here = entry.outcome.served_by().is_some_and(|echo| {
                echo.pod == record.endpoint.pod && echo.attempt == record.attempt
            });
            if !served_here {
                joined.copies.push(record.clone());
            }
        }
        for (id, _) in joined.arrivals.iter() {
            let served = by_id.get(id.as_str()).and_then(|e| e.outcome.served_by());
            if served.is_none() {
                joined.lost_after_arrival.push(id.clone());
            }
        }
        joined
    }
}

#[cfg(test)]
mod tests;
