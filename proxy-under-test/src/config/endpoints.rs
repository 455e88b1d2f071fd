//! The endpoint list: what Kubernetes would learn from Services and Pods, and
//! the harness supplies instead (`meshproxy --endpoints endpoints.yaml`).
//! Each service has one port, one protocol and labelled endpoint addresses;
//! DestinationRule subsets select endpoints by these labels.
//!
//! ```yaml
//! services:
//!   - name: thrift-sample-server.meta-thrift.svc.cluster.local
//!     protocol: thrift
//!     port: 9090
//!     endpoints:
//!       - { address: "127.0.1.1:9090", labels: { version: v1 } }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

use meshbench_wire::Protocol;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Every service meshproxy listens for, in listener order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointList {
    /// The services; names are unique.
    #[serde(default)]
    pub services: Vec<ServiceEndpoints>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEndpoints {
    /// The FQDN (`<name>.<namespace>.svc.cluster.local`, or a ServiceEntry host).
    pub name: String,
    /// What the service speaks; decides which routing kind applies to it.
    pub protocol: Protocol,
    /// Its one port (the cluster names' `<port>`).
    pub port: u16,
    /// Its endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint (a pod).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its pod labels (`version: v1`, …).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Parses an endpoint list from YAML or JSON (JSON is YAML), the format of
/// `meshproxy --endpoints`.
///
/// # Errors
/// A [`ConfigError`] with line and column when the text does not parse.
pub fn load_endpoints(text: &str) -> Result<EndpointList, ConfigError> {
    super::objects::parse_yaml(text)
}

impl EndpointList {
    /// The service named `name` (an FQDN), if listed.
    pub fn service(&self, name: &str) -> Option<&ServiceEndpoints> {
        self.services.iter().find(|s| s.name == name)
    }
}
