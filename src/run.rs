//! One run, in order: start the fleet, start the proxy with the routing,
//! wait until it routes (a convergence probe, not a sleep), run the workload
//! while applying phases, drain until the endpoints go quiet, collect the
//! three oracles (client ledger, endpoint records, proxy stats), and stop
//! everything, whatever happened on the way.

mod environment;
mod probe;

pub use environment::{Environment, RunningFleet};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use meshbench_sim::fleet::{EndpointInfo, Hold, Record, ServiceSpec};
use meshbench_sim::ledger::Ledger;
use meshbench_sim::stats::Decision;
use meshbench_sim::verify::Monitor;
use meshbench_sim::verify::sequential::SendOrder;
use meshbench_sim::workload::agent::{self, AgentError};
use meshbench_sim::workload::{self, Progress, WorkloadPlan};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::adapter::{AdapterError, Listeners, ProxyAdapter, ProxySettings, Routing, Service};

/// The request ids of probes start with this, so verifiers can leave them out.
pub const PROBE_PREFIX: &str = "probe-";
/// The request ids of the warm-up start with this.
pub const WARMUP_PREFIX: &str = "warmup-";

/// When a phase's routing is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// This long after the workload starts.
    After(Duration),
    /// Once this many requests have been sent.
    Requests(u64),
}

/// New routing applied during the run (live traffic shifting).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// When.
    pub trigger: Trigger,
    /// The routing objects that replace the current ones.
    pub routing: Vec<Routing>,
}

/// Builds the workload from the listeners the proxy opened.
pub type WorkloadBuilder<'a> =
    Box<dyn FnOnce(&Listeners) -> Result<WorkloadPlan, String> + Send + 'a>;

/// Everything a run needs, already resolved from the scenario.
pub struct RunSpec<'a> {
    /// The fleet's services.
    pub services: Vec<ServiceSpec>,
    /// The initial routing objects.
    pub routing: Vec<Routing>,
    /// Proxy settings no routing object carries (the idle timeout).
    pub proxy: ProxySettings,
    /// Routing changes during the run, in order.
    pub phases: Vec<Phase>,
    /// Builds the workload once the proxy's listeners are known.
    pub workload: WorkloadBuilder<'a>,
    /// Requests each client sends before the measured workload (not verified).
    pub warmup: Option<u64>,
    /// Sequential tests fed as requests end; once all have decided, no new
    /// request starts. Empty: the workload runs to its budget.
    pub monitors: Vec<Box<dyn Monitor>>,
    /// Seed of the fleet's and the workload's random sources.
    pub seed: u64,
}

/// Where the fleet runs and how long the proxy may take to route, which no
/// scenario says: the command line's `--fleet-at` and `--ready-within`, for
/// a proxy configured by hand before the run (`--proxy address=`).
#[derive(Debug, Clone)]
pub struct Placement {
    /// Where the fleet runs.
    pub environment: Environment,
    /// How long the readiness probe waits for each service to route.
    pub ready_within: Duration,
    /// A workload agent already serving (`meshbench workload --serve`) to
    /// run the workload on, instead of this process; an environment that
    /// runs its own (containers) starts it beside the proxy.
    pub workload_agent: Option<SocketAddr>,
}

impl Placement {
    /// Where runs happen, in words for reports: the fleet's and the
    /// proxy's place, and the workload's when it ran on an agent.
    pub fn describe(&self) -> String {
        let place = self.environment.describe();
        match self.workload_agent {
            Some(agent) => format!("{place}; the workload on the agent at {agent}"),
            None => place,
        }
    }
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            environment: Environment::default(),
            ready_within: probe::READY_WITHIN,
            workload_agent: None,
        }
    }
}

/// What a run leaves for verification and reports.
#[derive(Debug, Default)]
pub struct Collected {
    /// The client side: one outcome per request.
    pub ledger: Ledger,
    /// What the run noticed that is no assertion's (a probe's malformed answer).
    pub notes: Vec<String>,
    /// The endpoint side: every arrival (probes included; their ids say so).
    pub records: Vec<Record>,
    /// The proxy's own counters, when it offers them.
    pub stats: Option<String>,
    /// The fleet's endpoints.
    pub endpoints: Vec<EndpointInfo>,
    /// Where each service's traffic went.
    pub listeners: Listeners,
    /// When each phase was applied, from the workload's start.
    pub phases_applied: Vec<Duration>,
    /// How long the workload ran.
    pub duration: Duration,
    /// Where the run happened ([`Environment::describe`]).
    pub environment: String,
}

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The fleet could not start.
    #[error("the fleet could not start: {0}")]
    Fleet(String),
    /// The proxy could not start or refused a phase.
    #[error(transparent)]
    Proxy(#[from] AdapterError),
    /// The proxy never answered the probe.
    #[error("the proxy did not route {service} within {waited:?}: {last}")]
    NotReady {
        /// The service probed.
        service: String,
        /// How long the probe tried.
        waited: Duration,
        /// The last probe's failure.
        last: String,
    },
    /// The proxy under test exited during the run: no verdict is taken
    /// from a run whose proxy died.
    #[error("the proxy under test died during the run: {0}")]
    ProxyExited(String),
    /// The proxy stopped answering: requests were in flight and none was
    /// answered for twice the request timeout (a frozen proxy, whose every
    /// request would otherwise wait out its own timeout, one after another).
    #[error(
        "the proxy stopped answering: no request was answered for {silence:?} while some were in flight; {sent} requests sent, outcomes {outcomes:?}"
    )]
    Stalled {
        /// How long nothing was answered.
        silence: Duration,
        /// Requests sent.
        sent: u64,
        /// Requests per outcome when the run was stopped.
        outcomes: std::collections::BTreeMap<String, u64>,
    },
    /// The workload could not be built or run.
    #[error("the workload cannot run: {0}")]
    Workload(String),
    /// The ledger lost or doubled a request (a harness bug, never a proxy's).
    #[error("the ledger is inconsistent: {0}")]
    Ledger(String),
    /// The run was interrupted.
    #[error("interrupted")]
    Interrupted,
}

/// How long the endpoints must stay quiet before the run is drained.
const QUIET: Duration = Duration::from_millis(200);
/// The longest a drain waits (for mirrored copies, late retries).
const MAX_DRAIN: Duration = Duration::from_secs(5);

/// Runs `spec` against `proxy`. The fleet and the proxy are stopped on every
/// path out, errors and interruption included.
///
/// # Errors
/// [`RunError`] naming the step that failed.
pub async fn execute(
    spec: RunSpec<'_>,
    proxy: &mut dyn ProxyAdapter,
    placement: Placement,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<Collected, RunError> {
    let fleet = placement
        .environment
        .start_fleet(&spec.services, spec.seed)
        .await?;
    let result = with_fleet(spec, &*fleet, proxy, (&placement, progress), cancel).await;
    proxy.stop().await;
    let endpoints = fleet.endpoints().to_vec();
    let records = fleet.records().await;
    let described = placement.describe();
    fleet.stop().await;
    let partial = result?;
    Ok(Collected {
        records: records?,
        endpoints,
        environment: described,
        ..partial
    })
}

/// The call the readiness probe sends to the listener `addr`: the first
/// call of the first client that targets it, so the probe speaks the
/// scenario's transport, encoding, interface and path; the protocol's
/// default call when no client does.
/// Probes each of `services` at its listener, with the plan's own first
/// call to it, until the proxy routes it: the readiness probe of a run,
/// and in a cluster's workload pod the convergence probe through its
/// sidecar. What the probes noticed, as notes for the report.
///
/// # Errors
/// [`RunError::NotReady`] for a service not routed `within`, or
/// [`RunError::Interrupted`].
pub async fn until_routed(
    services: &[Service],
    listeners: &Listeners,
    plan: &WorkloadPlan,
    within: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<String>, RunError> {
    let mut notes = Vec::new();
    for service in services {
        if let Some(addr) = listeners.get(&service.name) {
            let call = probe_call(plan, *addr, service.protocol);
            let probed = probe::until_routed(service, *addr, &call, within, cancel).await?;
            notes.extend(probed.malformed);
        }
    }
    Ok(notes)
}

fn probe_call(
    plan: &WorkloadPlan,
    addr: std::net::SocketAddr,
    protocol: meshbench_wire::Protocol,
) -> workload::Call {
    plan.clients
        .iter()
        .filter(|c| c.target == addr)
        .find_map(|c| c.mix.first())
        .map(|class| class.call.clone())
        .unwrap_or_else(|| meshbench_sim::scenario::Call::default().spec(protocol))
}

async fn with_fleet(
    spec: RunSpec<'_>,
    fleet: &dyn RunningFleet,
    proxy: &mut dyn ProxyAdapter,
    (placement, progress): (&Placement, Arc<Progress>),
    cancel: CancellationToken,
) -> Result<Collected, RunError> {
    let services = services(&spec.services, fleet.endpoints());
    let listeners = proxy.start(&services, &spec.routing, spec.proxy).await?;
    let agent = placement
        .environment
        .workload_agent(placement.workload_agent)
        .await?;
    let ready_within = placement.ready_within;
    let plan = (spec.workload)(&listeners).map_err(RunError::Workload)?;
    let probed = until_routed(&services, &listeners, &plan, ready_within, &cancel).await;
    if let (Err(_), Some(exit)) = (&probed, proxy.exited()) {
        return Err(RunError::ProxyExited(exit));
    }
    let mut notes = probed?;
    if let Some(requests) = spec.warmup {
        warm_up(&plan, requests, (agent, spec.seed), &cancel).await?;
    }
    let holding = spec
        .services
        .iter()
        .any(|s| s.versions.iter().any(|v| v.behaviour.hold));
    if holding {
        fleet.hold().arm();
    }
    let started = Instant::now();
    let finished = CancellationToken::new();
    // Ends the workload when the run is interrupted or the proxy stops answering.
    let stop = cancel.child_token();
    let workload = async {
        let ledger =
            run_workload(agent, &plan, spec.seed, Arc::clone(&progress), stop.clone()).await;
        finished.cancel();
        ledger
    };
    let stall = stalled(&progress, 2 * plan.request_timeout, &stop, &finished);
    let phases = apply_phases(
        &spec.phases,
        proxy,
        &progress,
        started,
        (&cancel, &finished),
    );
    let watch = stop_when_decided(spec.monitors, &progress, &finished);
    let hold = holding.then(|| fleet.hold());
    let release = release_when_still(hold, &progress, &finished);
    let (ledger, phases_applied, (), (), stalled) =
        tokio::join!(workload, phases, watch, release, stall);
    let ledger = ledger?;
    if let Some(exit) = proxy.exited() {
        return Err(RunError::ProxyExited(exit));
    }
    if let Some(silence) = stalled {
        return Err(RunError::Stalled {
            silence,
            sent: ledger.sent,
            outcomes: ledger.outcome_counts(),
        });
    }
    let phases_applied = phases_applied?;
    let duration = started.elapsed();
    if cancel.is_cancelled() {
        return Err(RunError::Interrupted);
    }
    ledger
        .check_conservation()
        .map_err(|e| RunError::Ledger(e.to_string()))?;
    drain(fleet).await;
    let reconnects = progress
        .reconnects
        .load(std::sync::atomic::Ordering::Relaxed);
    if reconnects > 0 {
        notes.push(format!(
            "the HTTP clients opened {reconnects} new connection(s) because the proxy closed kept-alive ones (Connection: close, an idle close, or a reset under an idempotent request, which was sent once more; the endpoints count every try)"
        ));
    }
    Ok(Collected {
        ledger,
        notes,
        records: Vec::new(),
        stats: proxy.stats().await,
        endpoints: Vec::new(),
        listeners,
        phases_applied,
        duration,
        environment: String::new(),
    })
}

/// Runs `requests` of every client's mix on connections of their own and
/// forgets them, but for a lost request (a harness bug). Warm-up clients do
/// not pause: idling warms nothing up.
async fn warm_up(
    plan: &WorkloadPlan,
    requests: u64,
    (agent, seed): (Option<SocketAddr>, u64),
    cancel: &CancellationToken,
) -> Result<(), RunError> {
    let mut warmup = plan.clone();
    warmup.id_prefix = WARMUP_PREFIX.to_owned();
    for client in &mut warmup.clients {
        client.budget = workload::Budget {
            requests: Some(requests),
            duration: None,
        };
        client.pause = None;
    }
    let progress = Arc::new(Progress::default());
    let ledger = run_workload(
        agent,
        &warmup,
        seed.wrapping_add(1),
        progress,
        cancel.clone(),
    )
    .await?;
    ledger
        .check_conservation()
        .map_err(|e| RunError::Ledger(format!("warm-up: {e}")))
}

/// Runs `plan` in this process, or on the workload agent at `agent`.
async fn run_workload(
    agent: Option<SocketAddr>,
    plan: &WorkloadPlan,
    seed: u64,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<Ledger, RunError> {
    let Some(addr) = agent else {
        return workload::run(plan, seed, progress, cancel)
            .await
            .map_err(|e| RunError::Workload(e.to_string()));
    };
    agent::run_remote(addr, plan, seed, progress, cancel)
        .await
        .map_err(|e| match e {
            AgentError::Interrupted => RunError::Interrupted,
            lost @ AgentError::Lost(_) => RunError::Ledger(lost.to_string()),
            other => RunError::Workload(other.to_string()),
        })
}

/// Feeds every ended request to the monitors, in send order, as it ends,
/// and stops the workload once all of them have decided.
async fn stop_when_decided(
    mut monitors: Vec<Box<dyn Monitor>>,
    progress: &Progress,
    finished: &CancellationToken,
) {
    if monitors.is_empty() {
        return;
    }
    let mut ended = progress.subscribe();
    let mut in_order = SendOrder::default();
    loop {
        let entry = tokio::select! {
            () = finished.cancelled() => return,
            entry = ended.recv() => entry,
        };
        let Some(entry) = entry else { return };
        in_order.push(entry, |entry| {
            monitors.iter_mut().for_each(|m| m.observe(entry));
        });
        if monitors.iter().all(|m| m.decision() != Decision::Continue) {
            progress.stop.cancel();
            return;
        }
    }
}

/// Stops the workload (through `stop`) when requests are in flight and
/// none has been answered for `silence`; returns how long it waited then.
/// It wakes only when a silence could have run out, until the workload ends.
async fn stalled(
    progress: &Progress,
    silence: Duration,
    stop: &CancellationToken,
    finished: &CancellationToken,
) -> Option<Duration> {
    loop {
        tokio::select! {
            () = finished.cancelled() => return None,
            () = progress.answers.idle(Some(silence)) => {}
        }
        // An answer may have come between the wake and this look.
        if progress.answers.since() < silence {
            continue;
        }
        let in_flight =
            progress.sent.load(Ordering::Relaxed) > progress.done.load(Ordering::Relaxed);
        if in_flight {
            stop.cancel();
            return Some(progress.answers.since());
        }
        // Nothing was waiting for an answer: the silence starts again.
        progress.answers.touch();
    }
}

/// How long nothing may move (no request sent, ended or newly held) before
/// held requests are released: every request that can get through the proxy
/// has then reached its endpoint, and every other one was rejected.
const STILL: Duration = Duration::from_secs(1);

/// Releases the fleet's held requests once the run stands still with some
/// held, or when the workload ends. It wakes only when a still period could
/// have run out.
async fn release_when_still(
    hold: Option<&Hold>,
    progress: &Progress,
    finished: &CancellationToken,
) {
    let Some(hold) = hold else {
        return;
    };
    loop {
        let still = async {
            progress.moved.idle(Some(STILL)).await;
            hold.moved().idle(Some(STILL)).await;
        };
        tokio::select! {
            () = finished.cancelled() => break,
            () = still => {}
        }
        let quiet = progress.moved.since().min(hold.moved().since());
        if quiet >= STILL && hold.held() > 0 {
            break;
        }
        if quiet >= STILL {
            // Still, but nothing held: wait for the next move.
            progress.moved.touch();
        }
    }
    hold.release();
}

/// The fleet's services as adapters see them, each with its running endpoints.
pub fn services(specs: &[ServiceSpec], endpoints: &[EndpointInfo]) -> Vec<Service> {
    specs
        .iter()
        .map(|spec| Service {
            name: spec.service.clone(),
            protocol: spec.protocol,
            port: spec.port,
            thrift: spec.thrift,
            endpoints: endpoints
                .iter()
                .filter(|e| e.identity.service == spec.service)
                .cloned()
                .collect(),
        })
        .collect()
}

/// Applies each phase when its trigger comes; the phase index every request
/// carries moves with it.
async fn apply_phases(
    phases: &[Phase],
    proxy: &mut dyn ProxyAdapter,
    progress: &Progress,
    started: Instant,
    (cancel, finished): (&CancellationToken, &CancellationToken),
) -> Result<Vec<Duration>, RunError> {
    let mut applied = Vec::with_capacity(phases.len());
    for (index, phase) in phases.iter().enumerate() {
        // A workload that ended early (interrupted, decided, stalled)
        // leaves later phases unapplied.
        if !due(phase.trigger, progress, started, (cancel, finished)).await {
            return Ok(applied);
        }
        progress.begin_switch(index + 1).await;
        proxy.apply(&phase.routing).await?;
        progress.end_switch(index + 1).await;
        applied.push(started.elapsed());
    }
    Ok(applied)
}

/// Waits until `trigger` is due: a time trigger sleeps until its moment, a
/// request-count trigger until the workload says the count is reached.
/// `false` when the run ended or was interrupted first.
async fn due(
    trigger: Trigger,
    progress: &Progress,
    started: Instant,
    (cancel, finished): (&CancellationToken, &CancellationToken),
) -> bool {
    let reached = async {
        match trigger {
            Trigger::After(at) => tokio::time::sleep_until(started + at).await,
            Trigger::Requests(n) => progress.sent_reaches(n).await,
        }
    };
    tokio::select! {
        biased;
        () = reached => true,
        () = cancel.cancelled() => false,
        () = finished.cancelled() => false,
    }
}

/// Waits until no endpoint has received anything for [`QUIET`] (mirrored
/// copies and late retries land), at most [`MAX_DRAIN`].
async fn drain(fleet: &dyn RunningFleet) {
    let read = || async { Ok::<_, std::convert::Infallible>(fleet.received().await) };
    let _ = until_still(read).await;
}

/// Reads `count` every [`QUIET`] until two readings agree, at most
/// [`MAX_DRAIN`]: how a run waits for its fleet to drain, wherever the
/// fleet runs.
///
/// # Errors
/// The first reading that fails.
pub(crate) async fn until_still<T, E, F, Fut>(mut count: F) -> Result<(), E>
where
    T: PartialEq,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + MAX_DRAIN;
    let mut last = count().await?;
    while Instant::now() < deadline {
        tokio::time::sleep(QUIET).await;
        let now = count().await?;
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}
