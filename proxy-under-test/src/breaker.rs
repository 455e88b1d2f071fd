//! Circuit breaking from a DestinationRule's `connectionPool`, per cluster.
//!
//! Each in-flight upstream request holds one upstream connection, as in
//! Aeraki's default (non-multiplexed) mode and in HTTP/1.1, so
//! `tcp.maxConnections` bounds the requests in flight; up to
//! `http.http1MaxPendingRequests` more may wait for a slot; any further
//! request overflows at once. `http.maxRetries` bounds the retries in flight.
//! Overflows are answered by the proxy (HTTP 503 with `x-envoy-overloaded`,
//! the protocol's error for Thrift and Dubbo) and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::route::PoolLimits;

/// The breakers of every cluster, by name (kept across table reloads).
#[derive(Debug, Default)]
pub struct Breakers {
    clusters: Mutex<HashMap<String, Arc<Breaker>>>,
}

#[derive(Debug)]
struct Breaker {
    limits: PoolLimits,
    slots: Option<Arc<Semaphore>>,
    pending: AtomicU32,
    retries: AtomicU32,
}

/// A cluster's breaker as one request sees it.
#[derive(Debug, Clone)]
pub struct Admission(Arc<Breaker>);

/// Held while a request is in flight; frees its slot when dropped.
#[derive(Debug)]
pub struct Admitted(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Breakers {
    /// The breaker of `cluster` with `limits` (a changed limit replaces it).
    pub fn get(&self, cluster: &str, limits: &PoolLimits) -> Admission {
        let mut clusters = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        let breaker = clusters
            .entry(cluster.to_owned())
            .and_modify(|b| {
                if b.limits != *limits {
                    *b = Arc::new(Breaker::new(limits));
                }
            })
            .or_insert_with(|| Arc::new(Breaker::new(limits)));
        Admission(Arc::clone(breaker))
    }
}

impl Breaker {
    fn new(limits: &PoolLimits) -> Self {
        Breaker {
            limits: limits.clone(),
            slots: limits
                .max_connections
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            pending: AtomicU32::new(0),
            retries: AtomicU32::new(0),
        }
    }
}

impl Admission {
    /// A slot for the request, waiting if the pending queue has room;
    /// `None` when the request overflows.
    pub async fn admit(&self) -> Option<Admitted> {
        let breaker = &self.0;
        let Some(slots) = &breaker.slots else {
            return Some(Admitted(None));
        };
        if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
            return Some(Admitted(Some(permit)));
        }
        let max_pending = breaker.limits.max_pending_requests.unwrap_or(u32::MAX);
        let queued = breaker.pending.fetch_add(1, Ordering::AcqRel);
        let admitted = if queued < max_pending {
            Arc::clone(slots)
                .acquire_owned()
                .await
                .ok()
                .map(|p| Admitted(Some(p)))
        } else {
            None
        };
        breaker.pending.fetch_sub(1, Ordering::AcqRel);
        admitted
    }

    /// Takes a retry from the `maxRetries` budget of retries in flight;
    /// `None` when it is spent. The retry gives it back when dropped.
    pub fn try_retry(&self) -> Option<RetryInFlight> {
        let breaker = &self.0;
        if let Some(max) = breaker.limits.max_retries {
            breaker
                .retries
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .ok()?;
        }
        Some(RetryInFlight(Arc::clone(breaker)))
    }
}

/// A retry counted against `maxRetries` while it runs.
#[derive(Debug)]
pub struct RetryInFlight(Arc<Breaker>);

impl Drop for RetryInFlight {
    fn drop(&mut self) {
        if self.0.limits.max_retries.is_some() {
            self.0.retries.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
