//! From a scenario to what a run needs: the fleet, the routing per phase,
//! the workload (once listeners are known) and one check per expectation.
//! The scenario model stays free of run-time types; this is the one place
//! that joins the two.

use meshbench_sim::scenario::Scenario;
use meshbench_sim::scenario::model::{Arrival, Lifetime, PhaseStart};
use meshbench_sim::verify::{Claim, Monitor};
use meshbench_sim::workload::{self, Budget, ClientPlan, Pace, Pause, RequestClass, WorkloadPlan};

use crate::adapter::{ProxySettings, Routing};
use crate::run::{Phase, RunSpec, Trigger};

/// How long a request may go unanswered before it counts as a timeout.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A scenario resolved for running.
pub struct Resolved<'a> {
    /// The run.
    pub spec: RunSpec<'a>,
    /// One named check per expectation, in order.
    pub checks: Vec<Claim>,
}

/// Resolves `scenario` (already validated).
///
/// # Errors
/// A sentence when the scenario holds something the runner cannot do.
pub fn resolve(scenario: &Scenario, seed: u64) -> Result<Resolved<'_>, String> {
    // Checked by the loader already: typed here once, for every adapter.
    let routing = |index: usize| {
        scenario
            .routing_in_phase(index)
            .iter()
            .map(|o| Routing::from_json(o.to_json()).map_err(|e| format!("{}: {e}", o.describe())))
            .collect::<Result<Vec<_>, String>>()
    };
    let phases = scenario
        .phases
        .iter()
        .enumerate()
        .map(|(i, phase)| {
            Ok(Phase {
                trigger: match phase.value.start {
                    PhaseStart::Time(at) => Trigger::After(at.get()),
                    PhaseStart::Requests(n) => Trigger::Requests(n),
                },
                routing: routing(i + 1)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let checks = scenario.claims()?;
    // The run stops early only when every check can say it has seen enough.
    let monitors: Option<Vec<Box<dyn Monitor>>> =
        checks.iter().map(|c| c.check.monitor()).collect();
    let spec = RunSpec {
        monitors: monitors.unwrap_or_default(),
        services: scenario.fleet_specs(),
        routing: routing(0)?,
        proxy: ProxySettings {
            idle_timeout: scenario.proxy.idle_timeout.map(|d| d.value.get()),
            workers: scenario.proxy.workers.map(|w| w.value),
            seed: Some(seed),
        },
        phases,
        workload: Box::new(move |listeners| workload(scenario, listeners)),
        warmup: scenario.workload.warmup.as_ref().map(|w| w.value),
        seed,
    };
    Ok(Resolved { spec, checks })
}

fn workload(
    scenario: &Scenario,
    listeners: &crate::adapter::Listeners,
) -> Result<WorkloadPlan, String> {
    let mut clients = Vec::new();
    for (name, client) in scenario.clients() {
        let service = scenario
            .service(&client.service)
            .ok_or_else(|| format!("client '{name}' calls an unknown service"))?;
        let fqdn = &service.service.value;
        let target = *listeners
            .get(fqdn)
            .ok_or_else(|| format!("the proxy opened no listener for {fqdn}"))?;
        let protocol = service.protocol.value;
        let mix = client
            .classes(&name)
            .into_iter()
            .map(|class| RequestClass {
                name: class.name.to_owned(),
                weight: (class.share * 1_000_000.0).round() as u32,
                call: class.call.spec(protocol),
            })
            .collect();
        let pace = match &client.open {
            Some(open) => Pace::Open {
                rate: open.value.rate.per_second(),
                poisson: open.value.arrival == Arrival::Poisson,
            },
            None => Pace::Closed,
        };
        let lifetime = client.lifetime.as_ref().map(|l| match l.value {
            Lifetime::Requests(n) => workload::Lifetime::Requests(n),
            Lifetime::Duration(d) => workload::Lifetime::Duration(d.get()),
        });
        let pause = client.pause.as_ref().map(|p| Pause {
            every: p.every.value,
            idle: p.idle.value.get(),
            heartbeat: p.heartbeat.map(|h| h.value.get()),
        });
        clients.push(ClientPlan {
            name,
            target,
            authority: Some(format!("{fqdn}:{}", service.port())),
            connections: client.connections.value as usize,
            in_flight: client.in_flight.value as usize,
            lifetime,
            pause,
            pace,
            budget: Budget {
                requests: client.requests.as_ref().map(|r| r.value),
                duration: client.duration.as_ref().map(|d| d.value.get()),
            },
            mix,
        });
    }
    Ok(WorkloadPlan {
        clients,
        request_timeout: REQUEST_TIMEOUT,
        id_prefix: String::new(),
    })
}
