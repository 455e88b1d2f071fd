//! Who an endpoint is: service, version, pod name and its own loopback
//! address, as a pod in a cluster has.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The identity an endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The service FQDN, e.g. `thrift-sample-server.meta-thrift.svc.cluster.local`.
    pub service: String,
    /// The version label, e.g. `v2`.
    pub version: String,
    /// The pod name, e.g. `thrift-sample-server-v2-7d9f`.
    pub pod: String,
    /// Where the endpoint listens: its own 127.0.x.y, like a pod IP.
    pub addr: SocketAddr,
}

impl Identity {
    /// The identity of replica `replica` of `version` of `service` at `addr`,
    /// its pod named after `app` as a Deployment names its pods: a stable
    /// part for the same inputs, then `run`, the fleet's own nonce, so that
    /// an answer from an endpoint another run (or another fleet) started
    /// can never pass for one of this run's.
    pub fn new(
        service: &str,
        app: &str,
        (version, replica): (&str, usize),
        addr: SocketAddr,
        run: &str,
    ) -> Identity {
        let hash = fnv1a(format!("{service}/{version}/{replica}").as_bytes()) & 0xffff;
        Identity {
            service: service.to_owned(),
            version: version.to_owned(),
            pod: format!("{app}-{version}-{hash:04x}-{run}"),
            addr,
        }
    }
}

/// A fresh nonce for one fleet: five lower-case letters and digits, as
/// Kubernetes suffixes pod names, different in every fleet a process starts
/// and (with the time and process id in it) across processes.
pub fn run_nonce() -> String {
    static FLEETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = FLEETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut n = fnv1a(format!("{nanos}/{}/{count}", std::process::id()).as_bytes());
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
            n /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

impl fmt::Display for Identity {
    /// `pod/ip`, as the sample servers print `InetAddress.getLocalHost()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pod, self.addr.ip())
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
