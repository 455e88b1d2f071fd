//! The reference proxy, in-process.

use std::sync::Arc;

use meshbench_proxy_under_test::config::{self, EndpointList};
use meshbench_proxy_under_test::dataplane::{Faults, Mode, Proxy, ProxyOptions};
use meshbench_proxy_under_test::route::RouteTable;

use super::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySettings, Routing, Service,
    endpoint_list, shared_pools,
};

/// `builtin`, `builtin-l4` and the negative controls `builtin-fault=…`.
#[derive(Debug)]
pub struct BuiltinAdapter {
    name: String,
    l4: bool,
    faults: Faults,
    endpoints: Option<EndpointList>,
    proxy: Option<Arc<Proxy>>,
    version: u64,
}

impl BuiltinAdapter {
    /// The reference proxy; `l4` makes every listener a tcp_proxy.
    pub fn new(l4: bool) -> Self {
        BuiltinAdapter {
            name: if l4 { "builtin-l4" } else { "builtin" }.to_owned(),
            l4,
            faults: Faults::default(),
            endpoints: None,
            proxy: None,
            version: 0,
        }
    }

    /// The deliberate defects `builtin-fault=` switches on: mirror answers
    /// reaching clients, and an L4 proxy that splits connections by weight.
    pub const FAULTS: [&'static str; 2] = ["mirror-leak", "l4-by-weight"];

    /// The reference proxy with a deliberate defect, named as on the
    /// command line (`builtin-fault=mirror-leak`), for negative controls.
    ///
    /// # Errors
    /// A sentence naming the unknown fault and the known ones.
    pub fn faulty(fault: &str) -> Result<Self, String> {
        let (faults, l4) = match fault {
            "mirror-leak" => (
                Faults {
                    leak_mirror_answers: true,
                    ..Faults::default()
                },
                false,
            ),
            "l4-by-weight" => (
                Faults {
                    l4_by_weight: true,
                    ..Faults::default()
                },
                true,
            ),
            other => {
                return Err(format!(
                    "unknown fault '{other}'\nknown: {}",
                    Self::FAULTS.join(", ")
                ));
            }
        };
        Ok(BuiltinAdapter {
            name: format!("builtin-fault={fault}"),
            faults,
            ..BuiltinAdapter::new(l4)
        })
    }

    fn compile(&mut self, routing: &[Routing]) -> Result<RouteTable, AdapterError> {
        let endpoints = self
            .endpoints
            .as_ref()
            .ok_or_else(|| AdapterError::Start("apply before start".to_owned()))?;
        // The typed objects go straight to the compiler: nothing is re-parsed.
        let objects: Vec<config::Object> = routing.iter().map(|r| r.object().clone()).collect();
        self.version += 1;
        config::compile(&objects, endpoints, self.version)
            .map_err(|e| AdapterError::Refused(e.to_string()))
    }
}

impl ProxyAdapter for BuiltinAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    fn start<'a>(
        &'a mut self,
        services: &'a [Service],
        routing: &'a [Routing],
        settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async move {
            shared_pools(&self.name, settings)?;
            self.endpoints = Some(endpoint_list(services));
            let table = self.compile(routing)?;
            let defaults = ProxyOptions::default();
            let options = ProxyOptions {
                mode: if self.l4 { Mode::L4 } else { Mode::L7 },
                faults: self.faults,
                idle_timeout: settings.idle_timeout.or(defaults.idle_timeout),
                seed: settings.seed.unwrap_or(defaults.seed),
                ..defaults
            };
            let proxy = Proxy::start(table, &options)
                .await
                .map_err(|e| AdapterError::Start(e.to_string()))?;
            let listeners = proxy.listeners().iter().cloned().collect();
            self.proxy = Some(Arc::new(proxy));
            Ok(listeners)
        })
    }

    fn apply<'a>(&'a mut self, routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            let table = self.compile(routing)?;
            let proxy = self
                .proxy
                .as_ref()
                .ok_or_else(|| AdapterError::Start("apply before start".to_owned()))?;
            proxy.apply(table).map_err(AdapterError::Refused)
        })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.proxy.as_ref().map(|p| p.stats().render()) })
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(proxy) = self.proxy.take() {
                proxy.stop().await;
            }
        })
    }
}
