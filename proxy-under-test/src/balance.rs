//! Picking an endpoint within a cluster, per the DestinationRule's load
//! balancer: round robin, random, least request (the less loaded of two
//! random endpoints, as Envoy's LEAST_REQUEST), or a hash of an attribute.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rand::RngExt;

use crate::route::{Cluster, LbPolicy};

/// Balancer state of every cluster, kept across table reloads by name.
#[derive(Debug, Default)]
pub struct Balancers {
    clusters: Mutex<HashMap<String, Arc<ClusterState>>>,
}

#[derive(Debug, Default)]
struct ClusterState {
    next: AtomicUsize,
    endpoints: Mutex<HashMap<SocketAddr, Arc<EndpointState>>>,
}

/// What the balancer keeps of one endpoint.
#[derive(Debug)]
struct EndpointState {
    /// Requests picked for it and not yet done.
    active: AtomicU32,
    /// Its address as text, written once for the counters of every request.
    label: Box<str>,
}

/// An endpoint picked for one request; holds its slot in the active-request
/// count until dropped.
#[derive(Debug)]
pub struct Pick {
    /// The endpoint.
    pub addr: SocketAddr,
    state: Arc<EndpointState>,
}

impl Pick {
    /// The endpoint's address as text (`127.0.1.1:9090`).
    pub fn label(&self) -> &str {
        &self.state.label
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.state.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Balancers {
    /// Picks an endpoint of `cluster` among those not in `excluded`
    /// (ejected endpoints); `hash` is the value of the hash key attribute,
    /// when the policy hashes. `None` when no endpoint is left.
    pub fn pick(
        &self,
        cluster: &Cluster,
        excluded: &[SocketAddr],
        hash: Option<&str>,
        rng: &mut impl rand::Rng,
    ) -> Option<Pick> {
        let candidates: Cow<'_, [SocketAddr]> = if excluded.is_empty() {
            Cow::Borrowed(&cluster.endpoints)
        } else {
            Cow::Owned(
                cluster
                    .endpoints
                    .iter()
                    .copied()
                    .filter(|e| !excluded.contains(e))
                    .collect(),
            )
        };
        if candidates.is_empty() {
            return None;
        }
        let state = self.state(&cluster.name);
        let count = |addr: &SocketAddr| state.endpoint(*addr).active.load(Ordering::Relaxed);
        let n = candidates.len();
        let index = match (&cluster.lb, hash) {
            (LbPolicy::RoundRobin, _) => state.next.fetch_add(1, Ordering::Relaxed) % n,
            (LbPolicy::ConsistentHash(_), Some(value)) => {
                (fnv1a(value.as_bytes()) % n as u64) as usize
            }
            (LbPolicy::Random | LbPolicy::ConsistentHash(_), _) => rng.random_range(0..n),
            (LbPolicy::LeastRequest, _) if n == 1 => 0,
            (LbPolicy::LeastRequest, _) => {
                let a = rng.random_range(0..n);
                let b = (a + rng.random_range(1..n)) % n;
                if count(&candidates[b]) < count(&candidates[a]) {
                    b
                } else {
                    a
                }
            }
        };
        let addr = candidates[index];
        let endpoint = state.endpoint(addr);
        endpoint.active.fetch_add(1, Ordering::Relaxed);
        Some(Pick {
            addr,
            state: endpoint,
        })
    }

    fn state(&self, cluster: &str) -> Arc<ClusterState> {
        let mut clusters = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = clusters.get(cluster) {
            return Arc::clone(state);
        }
        Arc::clone(clusters.entry(cluster.to_owned()).or_default())
    }
}

impl ClusterState {
    fn endpoint(&self, addr: SocketAddr) -> Arc<EndpointState> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let state = endpoints.entry(addr).or_insert_with(|| {
            Arc::new(EndpointState {
                active: AtomicU32::new(0),
                label: addr.to_string().into_boxed_str(),
            })
        });
        Arc::clone(state)
    }
}

/// Modulo hashing over the live endpoints: stable while they are, which is
/// what the bench's consistent-hash scenarios check (Envoy's ring hash also
/// moves only some keys when endpoints change; this moves most).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::route::PoolLimits;

    fn cluster(lb: LbPolicy, n: u16) -> Cluster {
        Cluster {
            name: "outbound|9090|v1|svc".into(),
            service: "svc".into(),
            port: 9090,
            subset: Some("v1".into()),
            endpoints: (1..=n)
                .map(|i| SocketAddr::from(([127, 0, 1, i as u8], 9090)))
                .collect(),
            lb,
            pool: PoolLimits::default(),
            outlier: None,
        }
    }

    #[test]
    fn round_robin_visits_every_endpoint_in_turn() {
        let (balancers, c, mut rng) = (
            Balancers::default(),
            cluster(LbPolicy::RoundRobin, 3),
            StdRng::seed_from_u64(1),
        );
        let addrs: Vec<SocketAddr> = (0..6)
            .filter_map(|_| balancers.pick(&c, &[], None, &mut rng).map(|p| p.addr))
            .collect();
        assert_eq!(addrs[0..3], c.endpoints[..]);
        assert_eq!(addrs[3..6], c.endpoints[..]);
    }

    #[test]
    fn excluded_endpoints_are_never_picked_and_none_left_is_none() {
        let (balancers, c, mut rng) = (
            Balancers::default(),
            cluster(LbPolicy::Random, 2),
            StdRng::seed_from_u64(2),
        );
        for _ in 0..50 {
            let pick = balancers
                .pick(&c, &c.endpoints[..1], None, &mut rng)
                .map(|p| p.addr);
            assert_eq!(pick, Some(c.endpoints[1]));
        }
        assert!(balancers.pick(&c, &c.endpoints, None, &mut rng).is_none());
    }

    #[test]
    fn least_request_avoids_the_busy_endpoint() {
        let (balancers, c, mut rng) = (
            Balancers::default(),
            cluster(LbPolicy::LeastRequest, 2),
            StdRng::seed_from_u64(3),
        );
        // Hold one request on whichever endpoint comes first, then every
        // further pick (two candidates, both always drawn) avoids it.
        let held = balancers.pick(&c, &[], None, &mut rng).expect("pick");
        for _ in 0..20 {
            let next = balancers.pick(&c, &[], None, &mut rng).expect("pick");
            assert_ne!(next.addr, held.addr);
        }
    }

    #[test]
    fn consistent_hash_is_stable_per_key() {
        let (balancers, c, mut rng) = (
            Balancers::default(),
            cluster(LbPolicy::ConsistentHash("user".into()), 4),
            StdRng::seed_from_u64(4),
        );
        for key in ["alice", "bob", "carol"] {
            let first = balancers.pick(&c, &[], Some(key), &mut rng).map(|p| p.addr);
            for _ in 0..10 {
                assert_eq!(
                    balancers.pick(&c, &[], Some(key), &mut rng).map(|p| p.addr),
                    first
                );
            }
        }
    }
}
