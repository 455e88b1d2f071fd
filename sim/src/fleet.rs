//! The sample fleet: every replica of every version of every service, each
//! listening on its own loopback address and answering with its identity.
//!
//! Endpoints speak the protocol of their service: the Thrift `HelloService`,
//! the Dubbo `DemoService`, the gRPC/Triple `Greeter`, HTTP (`/hello` and a travels-like JSON API) or a
//! TCP echo. Each records what it receives into one fleet-wide [`Collector`]
//! and behaves as its version's [`Behaviour`] says.

mod addr;
pub mod agent;
pub mod behaviour;
mod dubbo;
pub mod echo;
mod endpoint;
mod grpc;
pub mod hold;
mod http;
pub mod identity;
pub mod record;
pub mod tcp;
mod thrift;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use meshbench_wire::Protocol;
use meshbench_wire::mux::{DEFAULT_MEMORY_BUDGET, MemoryBudget};
use meshbench_wire::thrift::ServerCodec;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

pub use behaviour::{Behaviour, Latency, Probability};
pub use echo::Echo;
pub use hold::Hold;
pub use identity::Identity;
pub use record::{Collector, Record, Retention};

use endpoint::{Endpoint, accept};

/// How long [`Fleet::stop`] waits for connections to finish.
const GRACE: Duration = Duration::from_secs(5);

/// One service of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// The service FQDN.
    pub service: String,
    /// The protocol every endpoint of the service speaks.
    pub protocol: Protocol,
    /// The port every endpoint listens on (each on its own address).
    pub port: u16,
    /// What a Thrift service's servers speak (read only for Thrift).
    pub thrift: ServerCodec,
    /// The versions, in order.
    pub versions: Vec<VersionSpec>,
}

/// One version of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSpec {
    /// The version label, e.g. `v1`.
    pub name: String,
    /// How many endpoints.
    pub replicas: usize,
    /// Extra pod labels. `version` is always set; `app` names the pods and
    /// defaults to the first label of the service name.
    pub labels: BTreeMap<String, String>,
    /// How its endpoints behave.
    pub behaviour: Behaviour,
}

/// Where and how the fleet starts.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Seed of the endpoints' random sources.
    pub seed: u64,
    /// The first endpoint's address; the others follow it (127.0.1.1,
    /// 127.0.1.2, …). When absent, free loopback addresses are picked.
    pub first_ip: Option<Ipv4Addr>,
    /// Connections with nothing in flight for this long are closed, as a
    /// server's keep-alive timeout does (longer than any proxy's upstream
    /// idle timeout, so a pooled connection is never closed under a request).
    pub idle_timeout: Option<Duration>,
    /// The bytes every connection of the fleet may buffer together
    /// ([`MemoryBudget`]).
    pub memory_budget: usize,
    /// How many of the received requests' records are kept.
    pub retention: Retention,
}

/// How long a fleet connection may idle by default in a run: two hours,
/// past Envoy's one-hour default upstream `idle_timeout`, so a proxy's
/// pooled connection is never closed by the fleet between two requests
/// (standalone, `meshbench fleet --idle-timeout` defaults to 300 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            seed: 0,
            first_ip: None,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            retention: Retention::Every,
        }
    }
}

/// A running endpoint, as a proxy's endpoint list needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointInfo {
    /// Who it is and where it listens.
    pub identity: Identity,
    /// What it speaks.
    pub protocol: Protocol,
    /// Its pod labels (`app`, `version`, and the version's extra labels).
    pub labels: BTreeMap<String, String>,
}

/// Why the fleet could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// An endpoint could not listen.
    #[error("cannot listen for {service} {version} on port {port}: {source}")]
    Bind {
        /// The service.
        service: String,
        /// The version.
        version: String,
        /// The port.
        port: u16,
        /// The bind error.
        source: std::io::Error,
    },
}

/// A running fleet. Stop it with [`Fleet::stop`]; dropping it also stops
/// every endpoint (a drop guard cancels them).
#[derive(Debug)]
pub struct Fleet {
    endpoints: Vec<EndpointInfo>,
    /// This fleet's nonce, the last part of every pod name.
    run: String,
    collector: Collector,
    hold: Hold,
    limits: endpoint::ConnectionLimits,
    cancel: CancellationToken,
    /// Cancels every endpoint when the fleet is dropped without `stop`.
    _stop_on_drop: DropGuard,
    tracker: TaskTracker,
}

impl Fleet {
    /// Starts every endpoint of `services`.
    ///
    /// # Errors
    /// [`FleetError::Bind`] when an endpoint cannot listen; the endpoints
    /// already started are stopped.
    pub async fn start(
        services: &[ServiceSpec],
        options: &FleetOptions,
    ) -> Result<Fleet, FleetError> {
        let cancel = CancellationToken::new();
        let mut fleet = Fleet {
            endpoints: Vec::new(),
            run: identity::run_nonce(),
            collector: Collector::with_retention(options.retention),
            hold: Hold::default(),
            limits: endpoint::ConnectionLimits {
                idle: options.idle_timeout,
                budget: Arc::new(MemoryBudget::new(options.memory_budget)),
            },
            cancel: cancel.clone(),
            _stop_on_drop: cancel.drop_guard(),
            tracker: TaskTracker::new(),
        };
        for service in services {
            for version in &service.versions {
                for replica in 0..version.replicas {
                    let ip = options.first_ip.map(|first| {
                        IpAddr::V4(Ipv4Addr::from(
                            u32::from(first) + fleet.endpoints.len() as u32,
                        ))
                    });
                    let listener =
                        addr::bind(ip, service.port)
                            .await
                            .map_err(|source| FleetError::Bind {
                                service: service.service.clone(),
                                version: version.name.clone(),
                                port: service.port,
                                source,
                            })?;
                    fleet.launch(service, version, replica, listener, options.seed);
                }
            }
        }
        Ok(fleet)
    }

    fn launch(
        &mut self,
        service: &ServiceSpec,
        version: &VersionSpec,
        replica: usize,
        listener: TcpListener,
        seed: u64,
    ) {
        let Ok(local) = listener.local_addr() else {
            return;
        };
        let mut labels = version.labels.clone();
        let default_app = service
            .service
            .split('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let app = labels.entry("app".into()).or_insert(default_app).clone();
        labels.insert("version".into(), version.name.clone());
        let identity = Identity::new(
            &service.service,
            &app,
            (&version.name, replica),
            local,
            &self.run,
        );
        let info = EndpointInfo {
            identity,
            protocol: service.protocol,
            labels,
        };
        if version.behaviour.down {
            // The address stays reserved for it (its own loopback IP), and
            // with the listener closed every connection is refused.
            drop(listener);
            self.endpoints.push(info);
            return;
        }
        let index = self.endpoints.len() as u64;
        let endpoint = Arc::new(Endpoint::new(
            info.identity.clone(),
            version.behaviour.clone(),
            self.collector.clone(),
            self.hold.clone(),
            self.limits.clone(),
            seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ));
        let (tracker, shutdown) = (self.tracker.clone(), self.cancel.clone());
        let task = match service.protocol {
            Protocol::Thrift => {
                let server = service.thrift;
                tokio::spawn(accept(
                    listener,
                    endpoint,
                    tracker,
                    shutdown,
                    move |stream, endpoint, connection, cancel| {
                        thrift::serve_endpoint(stream, endpoint, connection, cancel, server)
                    },
                ))
            }
            Protocol::Dubbo => tokio::spawn(accept(
                listener,
                endpoint,
                tracker,
                shutdown,
                dubbo::serve_endpoint,
            )),
            Protocol::Http => tokio::spawn(accept(
                listener,
                endpoint,
                tracker,
                shutdown,
                http::serve_endpoint,
            )),
            Protocol::Grpc => tokio::spawn(accept(
                listener,
                endpoint,
                tracker,
                shutdown,
                grpc::serve_endpoint,
            )),
            Protocol::Tcp => tokio::spawn(accept(
                listener,
                endpoint,
                tracker,
                shutdown,
                tcp::serve_endpoint,
            )),
        };
        self.tracker.spawn(async move {
            let _ = task.await;
        });
        self.endpoints.push(info);
    }

    /// Every endpoint, in start order (service, version, replica).
    pub fn endpoints(&self) -> &[EndpointInfo] {
        &self.endpoints
    }

    /// What the endpoints have received.
    pub fn collector(&self) -> &Collector {
        &self.collector
    }

    /// The barrier of the `hold` versions.
    pub fn hold(&self) -> &Hold {
        &self.hold
    }

    /// Stops every endpoint and waits (up to a grace period) for their
    /// connections to close.
    pub async fn stop(self) {
        self.hold.release();
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("fleet connections still open after {GRACE:?}");
        }
    }
}
