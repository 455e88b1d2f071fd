//! What endpoints received, as destination-side telemetry in a mesh: the
//! harness reads it to see mirrored copies, retries and requests that reached
//! an endpoint but never came back.

use std::collections::{HashMap, VecDeque};
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

/// How much of what arrives a [`Collector`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Every record, for a run that reads them all when it ends (the run's
    /// own bounds bound them).
    #[default]
    Every,
    /// The last this many records, and the attempt counts of about as many
    /// recent request ids: a fleet running on its own for as long as it
    /// likes stays within a fixed size.
    Last(usize),
}

/// A fleet-wide log of received requests, shared by every endpoint.
#[derive(Debug, Clone)]
pub struct Collector(Arc<Mutex<Log>>);

#[derive(Debug)]
struct Log {
    epoch: Instant,
    retention: Retention,
    records: VecDeque<Record>,
    /// How many have arrived, kept or not.
    arrived: usize,
    attempts: Attempts,
}

/// Attempt counts by request id. Bounded, it keeps two generations: when
/// the newer fills, the older is dropped, so an id seen again within about
/// `limit` arrivals (any retry) keeps its count.
#[derive(Debug, Default)]
struct Attempts {
    current: HashMap<String, u32>,
    previous: HashMap<String, u32>,
    limit: Option<usize>,
}

impl Attempts {
    fn count(&mut self, id: &str) -> u32 {
        let seen = self
            .current
            .get(id)
            .or_else(|| self.previous.get(id))
            .copied()
            .unwrap_or(0);
        if self.limit.is_some_and(|limit| self.current.len() >= limit) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(id.to_owned(), seen + 1);
        seen + 1
    }
}

impl Collector {
    /// An empty log starting now, keeping every record.
    pub fn new() -> Self {
        Collector::with_retention(Retention::Every)
    }

    /// An empty log starting now, keeping what `retention` says.
    pub fn with_retention(retention: Retention) -> Self {
        let limit = match retention {
            Retention::Every => None,
            Retention::Last(records) => Some(records.max(1)),
        };
        Collector(Arc::new(Mutex::new(Log {
            epoch: Instant::now(),
            retention,
            records: VecDeque::new(),
            arrived: 0,
            attempts: Attempts {
                limit,
                ..Attempts::default()
            },
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
            Some(id) => log.attempts.count(id),
            None => 1,
        };
        let at = log.epoch.elapsed();
        log.arrived += 1;
        if let Retention::Last(keep) = log.retention
            && log.records.len() >= keep
        {
            log.records.pop_front();
        }
        log.records.push_back(Record {
            endpoint: Arc::clone(endpoint),
            at,
            request_id,
            connection,
            attempt,
            attributes,
        });
        attempt
    }

    /// A copy of every record kept, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.log().records.iter().cloned().collect()
    }

    /// A copy of at most `max` of the records kept, from the `from`-th
    /// (0 first), in arrival order: a page of them.
    pub fn records_from(&self, from: usize, max: usize) -> Vec<Record> {
        self.log()
            .records
            .iter()
            .skip(from)
            .take(max)
            .cloned()
            .collect()
    }

    /// How many requests have arrived, kept or not.
    pub fn len(&self) -> usize {
        self.log().arrived
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

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Arc<Identity> {
        let addr = "127.0.0.1:1".parse().expect("an address");
        Arc::new(Identity::new("svc", "svc", ("v1", 0), addr, "run"))
    }

    #[test]
    fn a_bounded_log_keeps_the_last_records_and_counts_them_all() {
        let collector = Collector::with_retention(Retention::Last(3));
        let endpoint = identity();
        for n in 0..10 {
            collector.record(&endpoint, Some(format!("id-{n}")), 1, Vec::new());
        }
        assert_eq!(collector.len(), 10);
        let kept: Vec<_> = collector
            .records()
            .into_iter()
            .filter_map(|r| r.request_id)
            .collect();
        assert_eq!(kept, ["id-7", "id-8", "id-9"]);
    }

    #[test]
    fn a_bounded_log_counts_the_attempts_of_a_recent_id() {
        let collector = Collector::with_retention(Retention::Last(2));
        let endpoint = identity();
        let mut last = 0;
        for n in 0..1000 {
            collector.record(&endpoint, Some(format!("other-{n}")), 1, Vec::new());
            last = collector.record(&endpoint, Some("retried".into()), 1, Vec::new());
        }
        assert_eq!(last, 1000, "seen again within the window every time");
        let log = collector.log();
        assert!(log.attempts.current.len() + log.attempts.previous.len() <= 4);
    }
}
