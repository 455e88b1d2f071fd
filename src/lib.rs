//! The `meshbench` command's library: proxy adapters, the runner that joins
//! fleet, proxy and workload, and the reports. Verdicts are decided in
//! `meshbench-sim`; this crate runs and renders.
//! The binary (`main.rs`, `cmd/`) only parses flags and prints.
//!
//! # Layout
//! - [`adapter`]: how a proxy under test is started, configured and stopped.
//! - [`run`]: one run from fleet to collected oracles, stopping everything on every path.
//! - [`resolve`]: a scenario becomes a run spec and its named checks.
//! - [`report`]: the checks applied to the collected oracles; terminal summary, JSON,
//!   JUnit, Markdown and HTML.
//! - [`bench`]: `meshbench bench`, the proxies and generators measured side by side.
//! - [`reliability`]: `meshbench reliability`, probes of a proxy under hostile and careless clients.
//! - [`suite`]: many scenarios' reports as one conformance summary (features
//!   supported, unsupported, failed).
//! - [`containers`]: the container environment (`--env containers`): a
//!   container per fleet pod, the proxy as the client pod's sidecar.
//! - [`kind`]: a scenario as a run in a Kubernetes cluster with Istio and
//!   Aeraki: its objects, its actions, and the run through the Kubernetes
//!   API (`meshbench kind`).
#![forbid(unsafe_code)]

pub mod adapter;
pub mod bench;
pub mod containers;
pub mod kind;
pub mod matrix;
pub mod reliability;
pub mod report;
pub mod resolve;
pub mod run;
pub mod suite;

use std::sync::Arc;

use meshbench_sim::scenario::Scenario;
use meshbench_sim::workload::Progress;
use tokio_util::sync::CancellationToken;

/// Why a scenario could not be run to a report.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The proxy adapter name or the scenario could not be turned into a run.
    #[error("{0}")]
    Setup(String),
    /// The run itself failed.
    #[error(transparent)]
    Run(#[from] run::RunError),
}

/// One scenario against the proxy `proxy`, from resolution to report:
/// resolve, ask the adapter what it cannot be judged on, run, verify, report.
/// The command line and the conformance suite both go through here.
///
/// # Errors
/// [`ScenarioError`] when the scenario cannot be run at all.
pub async fn run_scenario(
    scenario: &Scenario,
    proxy: &adapter::ProxySpec,
    seed: u64,
    cancel: CancellationToken,
) -> Result<report::Report, ScenarioError> {
    let progress = Arc::new(Progress::default());
    let options = RunOptions {
        seed,
        placement: run::Placement::default(),
    };
    run_scenario_watched(scenario, proxy, options, progress, cancel).await
}

/// What a run is given besides the scenario and the proxy.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Seed of the fleet's, the workload's and the proxy's random draws.
    pub seed: u64,
    /// Where the fleet runs, and how long the proxy may take to route.
    pub placement: run::Placement,
}

/// [`run_scenario`] with every [`RunOptions`], and the measured workload's
/// live counters in `progress` for a progress display.
///
/// # Errors
/// [`ScenarioError`] when the scenario cannot be run at all.
pub async fn run_scenario_watched(
    scenario: &Scenario,
    proxy: &adapter::ProxySpec,
    options: RunOptions,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<report::Report, ScenarioError> {
    let adapter = match &options.placement.environment {
        run::Environment::Containers(pods) => pods.sidecar(proxy).map_err(ScenarioError::Setup)?,
        _ => proxy.adapter(),
    };
    run_scenario_on(scenario, adapter, options, progress, cancel).await
}

/// [`run_scenario_watched`] against an adapter value: any proxy a caller
/// can put behind [`adapter::ProxyAdapter`].
///
/// # Errors
/// [`ScenarioError`] when the scenario cannot be run at all.
pub async fn run_scenario_on(
    scenario: &Scenario,
    mut adapter: Box<dyn adapter::ProxyAdapter>,
    options: RunOptions,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<report::Report, ScenarioError> {
    let seed = options.seed;
    let mut judging = judging(scenario, adapter.as_ref(), seed)?;
    let Some(spec) = judging.spec.take() else {
        return Ok(judging.report(adapter.name(), run::Collected::default()));
    };
    let mut collected =
        run::execute(spec, adapter.as_mut(), options.placement, progress, cancel).await?;
    if let Some(about) = adapter.description() {
        collected
            .notes
            .insert(0, format!("proxy under test: {about}"));
    }
    Ok(judging.report(adapter.name(), collected))
}

/// A scenario in a Kubernetes cluster with Istio and Aeraki, from its
/// objects to its report: applied, run and read back through the API
/// ([`kind::cluster`]), judged as a run on loopback is.
///
/// # Errors
/// [`ScenarioError`] when the scenario cannot run in a cluster, or the
/// cluster run gave no evidence.
pub async fn run_scenario_in_cluster(
    scenario: &Scenario,
    source: &str,
    cluster: &kind::cluster::Target,
    seed: u64,
    cancel: CancellationToken,
) -> Result<report::Report, ScenarioError> {
    let mesh = kind::cluster::Mesh;
    let judging = judging(scenario, &mesh, seed)?;
    if judging.spec.is_none() {
        return Ok(judging.report(
            adapter::ProxyAdapter::name(&mesh),
            run::Collected::default(),
        ));
    }
    let objects = kind::cluster_run(scenario, source, &cluster.image, seed)
        .map_err(|e| ScenarioError::Setup(e.to_string()))?;
    let gathered = kind::cluster::execute(&cluster.client, &objects, cluster.bounds, &cancel)
        .await
        .map_err(|e| ScenarioError::Setup(format!("the cluster run: {e}")))?;
    let collected = run::Collected {
        ledger: gathered.ledger,
        notes: gathered.notes,
        records: gathered.records,
        stats: None,
        endpoints: gathered.endpoints,
        listeners: adapter::Listeners::new(),
        phases_applied: Vec::new(),
        duration: gathered.duration,
        environment: gathered.versions.describe(),
    };
    Ok(judging.report(adapter::ProxyAdapter::name(&mesh), collected))
}

/// A scenario resolved against what its proxy can be judged on.
struct Judging<'s> {
    names: (&'s str, &'s str),
    seed: u64,
    /// What runs, with what the proxy cannot be given left out; `None`
    /// when no assertion can be judged, and nothing runs.
    spec: Option<run::RunSpec<'s>>,
    checks: Vec<meshbench_sim::verify::Claim>,
    /// Per check, why the proxy cannot be judged on it.
    unsupported: Vec<Option<String>>,
    /// The settings left out, as notes.
    left_out: Vec<String>,
}

/// Resolves `scenario` and asks `adapter` what it cannot be judged on.
fn judging<'s>(
    scenario: &'s Scenario,
    adapter: &dyn adapter::ProxyAdapter,
    seed: u64,
) -> Result<Judging<'s>, ScenarioError> {
    let resolved = resolve::resolve(scenario, seed).map_err(ScenarioError::Setup)?;
    let names = (scenario.name.as_str(), scenario.description.as_str());
    if let Some(reason) = adapter.unsupported_setup(&setup(&resolved.spec)) {
        return Ok(Judging {
            names,
            seed,
            spec: None,
            unsupported: vec![Some(reason); resolved.checks.len()],
            checks: resolved.checks,
            left_out: Vec::new(),
        });
    }
    let gaps = adapter.unsupported_settings(&setup(&resolved.spec));
    let resolve::Resolved { mut spec, checks } = resolved;
    let unsupported: Vec<Option<String>> = checks
        .iter()
        .map(|claim| {
            let setting = claim.needs.iter().find_map(|need| gaps.get(need));
            setting.cloned().or_else(|| {
                adapter.unsupported(&adapter::Feature {
                    protocol: claim.protocol,
                    kind: claim.kind,
                })
            })
        })
        .collect();
    let runs = !unsupported.iter().all(Option::is_some);
    let left_out = match runs {
        true => leave_out(&mut spec, &gaps),
        false => Vec::new(),
    };
    Ok(Judging {
        names,
        seed,
        spec: runs.then_some(spec),
        checks,
        unsupported,
        left_out,
    })
}

impl Judging<'_> {
    /// The checks applied to what was collected.
    fn report(&self, proxy: &str, mut collected: run::Collected) -> report::Report {
        collected.notes.extend(self.left_out.iter().cloned());
        let assertions = report::verify(&self.checks, &self.unsupported, &collected);
        report::Report::new(self.names, proxy, self.seed, &collected, assertions)
    }
}

/// Takes out of the run what the adapter cannot give its proxy; a note
/// for the report on each.
fn leave_out(
    spec: &mut run::RunSpec<'_>,
    gaps: &std::collections::BTreeMap<adapter::ProxySetting, String>,
) -> Vec<String> {
    gaps.iter()
        .map(|(setting, reason)| {
            match setting {
                adapter::ProxySetting::Phases => spec.phases.clear(),
                adapter::ProxySetting::IdleTimeout => spec.proxy.idle_timeout = None,
                adapter::ProxySetting::Workers => spec.proxy.workers = None,
            }
            format!(
                "{setting} left out ({reason}): the assertions that depend on it are unsupported"
            )
        })
        .collect()
}

/// The scenario as adapters see it before it starts.
fn setup<'a>(spec: &'a run::RunSpec<'_>) -> adapter::Setup<'a> {
    let services = spec
        .services
        .iter()
        .map(|s| adapter::Service {
            name: s.service.clone(),
            protocol: s.protocol,
            port: s.port,
            thrift: s.thrift,
            endpoints: Vec::new(),
        })
        .collect();
    let routing = std::iter::once(spec.routing.as_slice())
        .chain(spec.phases.iter().map(|p| p.routing.as_slice()))
        .collect();
    adapter::Setup {
        services,
        routing,
        settings: spec.proxy,
    }
}
