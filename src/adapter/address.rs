//! A proxy the user runs: meshbench prints the endpoints it must route to
//! and sends every service's traffic to the one address given. It can
//! change neither the proxy's routing nor its settings: what depends on
//! them is declared unsupported before the run, per assertion.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySetting, ProxySettings, Routing,
    Service, Setup,
};

/// `address=HOST:PORT`.
#[derive(Debug)]
pub struct AddressAdapter {
    addr: SocketAddr,
}

impl AddressAdapter {
    /// A proxy listening at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        AddressAdapter { addr }
    }
}

impl ProxyAdapter for AddressAdapter {
    fn name(&self) -> &str {
        "address"
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        _routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            // The user's own idle timeout may be anything: a scenario that
            // depends on one must not pass or fail by accident.
            if let Some(idle) = settings.idle_timeout {
                return Err(AdapterError::Unsupported {
                    adapter: "address".to_owned(),
                    what: format!(
                        "set the idle timeout ({idle:?}) of a proxy it does not run (proxy.idle_timeout)"
                    ),
                });
            }
            if let Some(workers) = settings.workers {
                return Err(AdapterError::Unsupported {
                    adapter: "address".to_owned(),
                    what: format!(
                        "set the worker count ({workers}) of a proxy it does not run (proxy.workers)"
                    ),
                });
            }
            if !self.addr.ip().is_loopback() {
                return Err(AdapterError::Start(format!(
                    "{} is not a loopback address: meshbench sends traffic to 127.0.0.0/8 only",
                    self.addr
                )));
            }
            // With `--fleet-at` these are the addresses `meshbench endpoints`
            // printed before the run; without it they are new every run.
            eprintln!("meshbench: route these endpoints behind {}:", self.addr);
            for service in services {
                for endpoint in &service.endpoints {
                    eprintln!(
                        "  {} {} {} {:?}",
                        service.name, service.protocol, endpoint.identity.addr, endpoint.labels
                    );
                }
            }
            Ok(services
                .iter()
                .map(|s| (s.name.clone(), self.addr))
                .collect())
        })
    }

    /// A proxy the user configured by hand keeps its routing, idle timeout
    /// and workers: the assertions that depend on changing them are
    /// unsupported, the others are judged.
    fn unsupported_settings(&self, setup: &Setup) -> BTreeMap<ProxySetting, String> {
        let mut gaps = BTreeMap::new();
        let cannot = |what: String| {
            AdapterError::Unsupported {
                adapter: "address".to_owned(),
                what,
            }
            .to_string()
        };
        if setup.routing.len() > 1 {
            let what = "change the routing of a proxy it does not run (phases)".to_owned();
            gaps.insert(ProxySetting::Phases, cannot(what));
        }
        if let Some(idle) = setup.settings.idle_timeout {
            let what = format!(
                "set the idle timeout ({idle:?}) of a proxy it does not run (proxy.idle_timeout)"
            );
            gaps.insert(ProxySetting::IdleTimeout, cannot(what));
        }
        if let Some(workers) = setup.settings.workers {
            let what = format!(
                "set the worker count ({workers}) of a proxy it does not run (proxy.workers)"
            );
            gaps.insert(ProxySetting::Workers, cannot(what));
        }
        gaps
    }

    fn apply<'a>(&'a mut self, _routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            Err(AdapterError::Unsupported {
                adapter: "address".to_owned(),
                what: "change the routing of a proxy it does not run (phases)".to_owned(),
            })
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
