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
//! - [`kind`]: a scenario as a run in a Kubernetes cluster with Istio and
//!   Aeraki: its objects and its actions (`meshbench kind`).
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
    let resolved = resolve::resolve(scenario, seed).map_err(ScenarioError::Setup)?;
    let names = (scenario.name.as_str(), scenario.description.as_str());
    if let Some(reason) = adapter.unsupported_setup(&setup(&resolved.spec)) {
        let unsupported = vec![Some(reason); resolved.checks.len()];
        let collected = run::Collected::default();
        let assertions = report::verify(&resolved.checks, &unsupported, &collected);
        return Ok(report::Report::new(
            names,
            adapter.name(),
            seed,
            &collected,
            assertions,
        ));
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
    if unsupported.iter().all(Option::is_some) {
        let collected = run::Collected::default();
        let assertions = report::verify(&checks, &unsupported, &collected);
        return Ok(report::Report::new(
            names,
            adapter.name(),
            seed,
            &collected,
            assertions,
        ));
    }
    let left_out = leave_out(&mut spec, &gaps);
    let mut collected =
        run::execute(spec, adapter.as_mut(), options.placement, progress, cancel).await?;
    collected.notes.extend(left_out);
    if let Some(about) = adapter.description() {
        collected
            .notes
            .insert(0, format!("proxy under test: {about}"));
    }
    let assertions = report::verify(&checks, &unsupported, &collected);
    Ok(report::Report::new(
        names,
        adapter.name(),
        seed,
        &collected,
        assertions,
    ))
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
