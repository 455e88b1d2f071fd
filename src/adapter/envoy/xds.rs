//! File-based xDS: each resource type as a `DiscoveryResponse` file in one
//! watched folder, replaced by rename so Envoy never reads half a file; and
//! reading back from `/stats` which version each subscription runs.

use std::io;
use std::path::Path;

use serde_json::{Value, json};

use super::translate::Config;

const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// The bootstrap: LDS and CDS from the watched folder `dir/xds`, admin on
/// an ephemeral port of `admin_ip` (loopback, or the pod's address when
/// Envoy runs in a pod's network namespace).
pub fn write_bootstrap(dir: &Path, admin_ip: std::net::IpAddr) -> io::Result<()> {
    let xds = dir.join("xds").display().to_string();
    let source = |file: &str| {
        json!({
            "resource_api_version": "V3",
            "path_config_source": {
                "path": format!("{xds}/{file}"),
                "watched_directory": { "path": xds }
            }
        })
    };
    let bootstrap = json!({
        "node": { "id": "meshbench-sidecar", "cluster": "meshbench" },
        "admin": { "address": { "socket_address": { "address": admin_ip.to_string(), "port_value": 0 } } },
        "dynamic_resources": { "lds_config": source("lds.json"), "cds_config": source("cds.json") },
    });
    std::fs::write(dir.join("bootstrap.json"), bootstrap.to_string())
}

/// Writes `config` as `version`: clusters first, then route tables, then
/// listeners, so nothing names what Envoy has not got yet.
pub fn write(dir: &Path, config: &Config, version: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let clusters: Vec<&Value> = config.clusters.values().collect();
    replace(dir, "cds.json", &response(version, CLUSTER, &clusters))?;
    for table in &config.routes {
        let file = format!("{}-{}.json", prefix(table.type_url), table.name);
        replace(
            dir,
            &file,
            &response(version, table.type_url, &[&table.resource]),
        )?;
    }
    let listeners: Vec<&Value> = config.listeners.values().collect();
    replace(dir, "lds.json", &response(version, LISTENER, &listeners))
}

/// `rds` for HTTP route tables, `trds` for thrift_proxy's.
fn prefix(type_url: &str) -> &'static str {
    match type_url.contains("thrift_proxy") {
        true => "trds",
        false => "rds",
    }
}

fn response(version: &str, type_url: &str, resources: &[&Value]) -> String {
    json!({ "version_info": version, "type_url": type_url, "resources": resources }).to_string()
}

/// Writes `name` through a temporary file in the same folder and a rename.
fn replace(dir: &Path, name: &str, text: &str) -> io::Result<()> {
    let temp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, dir.join(name))
}

/// The subscriptions `config` feeds: LDS, CDS and one per route table
/// (RDS for an HTTP port, TRDS for a Thrift service).
pub fn subscriptions(config: &Config) -> usize {
    2 + config.routes.len()
}

/// What `/stats?filter=(version_text|update_rejected)` says of a push.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Subscriptions reporting the version pushed.
    pub at_version: usize,
    /// Subscriptions reporting another.
    pub behind: usize,
    /// Whether any subscription rejected an update.
    pub rejected: bool,
}

impl Versions {
    /// Whether all `expected` subscriptions run the version.
    pub fn in_force(&self, expected: usize) -> bool {
        self.behind == 0 && self.at_version >= expected
    }
}

/// Reads `stats` (Envoy's text form) for `version`.
pub fn versions(stats: &str, version: &str) -> Versions {
    let mut out = Versions::default();
    let quoted = format!("\"{version}\"");
    for line in stats.lines() {
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        if name.ends_with(".version_text") {
            match value.trim() == quoted {
                true => out.at_version += 1,
                false => out.behind += 1,
            }
        } else if name.ends_with(".update_rejected") && value.trim() != "0" {
            out.rejected = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_is_in_force_when_every_subscription_reports_it() {
        let stats = "cluster_manager.cds.update_rejected: 0\ncluster_manager.cds.version_text: \"v2\"\nlistener_manager.lds.version_text: \"v2\"\nhttp.outbound_80.rds.80.version_text: \"v1\"\n";
        let state = versions(stats, "v2");
        assert_eq!(
            state,
            Versions {
                at_version: 2,
                behind: 1,
                rejected: false
            }
        );
        assert!(!state.in_force(3));
        assert!(versions(&stats.replace("\"v1\"", "\"v2\""), "v2").in_force(3));
        assert!(versions("listener_manager.lds.update_rejected: 1\n", "v2").rejected);
    }
}
