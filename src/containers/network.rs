//! The private bridge network of one run: a /24 of 10.213.0.0/16 that no
//! other network holds, labelled as meshbench's, removed when the run ends
//! (and, should the run panic, when it is dropped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use testcontainers::bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};

use super::{ContainerError, engine};

/// How many subnets are tried before giving up (another run, or another
/// network of the machine, may hold the first ones).
const ATTEMPTS: u32 = 16;

/// A network this run made.
#[derive(Debug)]
pub struct Network {
    name: String,
    subnet: String,
    removed: AtomicBool,
}

impl Network {
    /// A new network for a run, on a subnet of its own.
    ///
    /// # Errors
    /// [`ContainerError`] when no engine answers or no subnet is free.
    pub async fn create() -> Result<Network, ContainerError> {
        let docker = engine()?;
        let start = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            let octet = (start.wrapping_add(attempt * 37)) % 250 + 1;
            let subnet = format!("10.213.{octet}.0/24");
            let name = format!("meshbench-{}-{octet}", std::process::id());
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".to_owned()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.clone()),
                        gateway: Some(format!("10.213.{octet}.1")),
                        ..IpamConfig::default()
                    }]),
                    ..Ipam::default()
                }),
                labels: Some(HashMap::from([("meshbench".to_owned(), "run".to_owned())])),
                ..NetworkCreateRequest::default()
            };
            match docker.create_network(request).await {
                Ok(_) => {
                    return Ok(Network {
                        name,
                        subnet,
                        removed: AtomicBool::new(false),
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(ContainerError::Network(format!(
            "no free subnet of 10.213.0.0/16 after {ATTEMPTS} tries: {last}"
        )))
    }

    /// Its name, as containers join it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its subnet, `10.213.N.0/24`.
    pub fn subnet(&self) -> &str {
        &self.subnet
    }

    /// Removes it (its containers must be gone first).
    pub async fn remove(&self) {
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(docker) = engine() else { return };
        if let Err(e) = docker.remove_network(&self.name).await {
            eprintln!("meshbench: removing network {}: {e}", self.name);
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if !self.removed.load(Ordering::SeqCst) {
            // A run that never reached its stop path (a panic): the engine
            // is asked from the command line, which needs no runtime.
            let _ = std::process::Command::new("docker")
                .args(["network", "rm", &self.name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
