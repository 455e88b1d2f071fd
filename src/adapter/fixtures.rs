//! What the translation tests of every adapter share: one HTTP service
//! with a v1 and a v2 pod, its subsets, and routing objects from YAML.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use meshbench_sim::fleet::{EndpointInfo, Identity};
use meshbench_wire::Protocol;
use meshbench_wire::thrift::ServerCodec;
use serde_json::Value;

use super::{Routing, Service};

/// The service's name.
pub const WEB: &str = "web.ns.svc.cluster.local";

fn endpoint(version: &str, ip: [u8; 4]) -> EndpointInfo {
    let addr = SocketAddr::from((ip, 3000));
    EndpointInfo {
        identity: Identity::new(WEB, "web", (version, 0), addr, "t"),
        protocol: Protocol::Http,
        labels: BTreeMap::from([("version".to_owned(), version.to_owned())]),
    }
}

/// [`WEB`] speaking `protocol` on port 3000: v1 at 127.0.1.1, v2 at 127.0.1.2.
pub fn web(protocol: Protocol) -> Service {
    Service {
        name: WEB.to_owned(),
        protocol,
        port: 3000,
        thrift: ServerCodec::APACHE,
        endpoints: vec![
            endpoint("v1", [127, 0, 1, 1]),
            endpoint("v2", [127, 0, 1, 2]),
        ],
    }
}

/// Routing objects from YAML documents separated by `---`.
pub fn routing(yaml: &str) -> Vec<Routing> {
    yaml.split("\n---\n")
        .map(|doc| {
            let value: Value = meshbench_mesh_api::parse_yaml(doc).expect("yaml");
            Routing::from_json(value).expect("object")
        })
        .collect()
}

/// The DestinationRule with subsets v1 and v2.
pub const SUBSETS: &str = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: dr, namespace: ns }\nspec:\n  host: web\n  subsets:\n    - { name: v1, labels: { version: v1 } }\n    - { name: v2, labels: { version: v2 } }";

/// [`SUBSETS`] and a VirtualService for `web` whose `http:` is `http`.
pub fn virtual_service(http: &str) -> String {
    format!(
        "{SUBSETS}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs, namespace: ns }}\nspec:\n  hosts: [web]\n  http:\n{http}"
    )
}
