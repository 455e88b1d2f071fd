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
    /// its pod named after `app` (as a Deployment names its pods). The pod
    /// name is stable for the same inputs, so reports compare across runs.
    pub fn new(
        service: &str,
        app: &str,
        version: &str,
        replica: usize,
        addr: SocketAddr,
    ) -> Identity {
        let hash = fnv1a(format!("{service}/{version}/{replica}").as_bytes()) & 0xffff;
        Identity {
            service: service.to_owned(),
            version: version.to_owned(),
            pod: format!("{app}-{version}-{hash:04x}"),
            addr,
        }
    }
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
