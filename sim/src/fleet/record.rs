//! What endpoints received, as destination-side telemetry in a mesh: the
//! harness reads it to see mirrored copies, retries and requests that reached
//! an endpoint but never came back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::identity::Identity;

/// One request as an endpoint received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The endpoint that received it.
    pub endpoint: Arc<Identity>,
    /// When, from the collector's start.
    pub at: Duration,
    /// The request id it carried, if any.
    pub request_id: Option<String>,
    /// The endpoint's connection it came on.
    pub connection: u64,
    /// How many times the fleet has seen this request id, this one included.
    pub attempt: u32,
    /// Its routing attributes, as the protocol's attribute view names them.
    pub attributes: Vec<(String, String)>,
}

/// A fleet-wide log of received requests, shared by every endpoint.
#[derive(Debug, Clone)]
pub struct Collector(Arc<Mutex<Log>>);

#[derive(Debug)]
struct Log {
    epoch: Instant,
    records: Vec<Record>,
    attempts: HashMap<String, u32>,
}

impl Collector {
    /// An empty log starting now.
    pub fn new() -> Self {
        Collector(Arc::new(Mutex::new(Log {
            epoch: Instant::now(),
            records: Vec::new(),
            attempts: HashMap::new(),
        })))
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock leaves the log usable: recover it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an arrival; returns its attempt number for its request id
    /// (1 for a request without id).
    pub fn record(
        &self,
        endpoint: &Arc<Identity>,
        request_id: Option<String>,
        connection: u64,
        attributes: Vec<(String, String)>,
    ) -> u32 {
        let mut log = self.log();
        let attempt = match &request_id {
            Some(id) => {
                let count = log.attempts.entry(id.clone()).or_insert(0);
                *count += 1;
                *count
            }
            None => 1,
        };
        let at = log.epoch.elapsed();
        log.records.push(Record {
            endpoint: Arc::clone(endpoint),
            at,
            request_id,
            connection,
            attempt,
            attributes,
        });
        attempt
    }

    /// A copy of every record so far, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.log().records.clone()
    }

    /// How many requests have arrived.
    pub fn len(&self) -> usize {
        self.log().records.len()
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}
