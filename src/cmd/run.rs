//! `meshbench run FILE|DIR [--proxy NAME[,NAME…]] [--seed N] [--out DIR]
//! [--fleet-at IP] [--ready-within DURATION]`:
//! every scenario against the proxy, a verdict each, a report folder each
//! inside one run folder, and a conformance index over them all. With
//! several proxies, each gets its own run folder inside the run folder and
//! `matrix.md` sets them side by side.
//! Exit 0 when every assertion passed (or is unsupported), 1 when one
//! failed or was inconclusive, 2 when a scenario could not be loaded or run
//! (it is still a row of every output, with verdict `error`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meshbench::RunOptions;
use meshbench::adapter::ProxySpec;
use meshbench::containers::Pods;
use meshbench::matrix::{self, Column};
use meshbench::report::Report;
use meshbench::run::{Environment, Placement};
use meshbench::suite::Suite;
use meshbench_sim::duration;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::stats::Verdict;
use meshbench_sim::workload::Progress;
use tokio_util::sync::CancellationToken;

use super::say;
use super::validate::{report as report_error, scenario_files};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or directories searched recursively for *.yaml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The proxy under test: builtin, builtin-l4, builtin-process,
    /// envoy[:istio=1.X][=PATH], envoy-l4[…], haproxy[-l4][=PATH],
    /// nginx[-l4][=PATH], address=HOST:PORT, or a negative control
    /// builtin-fault=mirror-leak|l4-by-weight. Several, comma
    /// separated, run one after the other into one matrix.
    #[arg(long, default_value = "builtin", value_delimiter = ',')]
    proxy: Vec<ProxySpec>,
    /// Seed of the fleet's and the workload's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where reports go (default: reports/runs/<unix time>-<scenario>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The fleet's first loopback address, the others following it in fleet
    /// order, the same in every run: for a proxy configured beforehand
    /// (`meshbench endpoints FILE --fleet-at IP` prints them). Default: free
    /// addresses, different in every run.
    #[arg(long, value_parser = super::parse_loopback_ip, conflicts_with = "env")]
    fleet_at: Option<Ipv4Addr>,
    /// Where the fleet and the proxy run: `loopback` (in this process, each
    /// endpoint on its own 127.x.y.z) or `containers` (a Docker container
    /// per fleet pod on a private network, the proxy in the client pod's
    /// container; needs a running Docker engine).
    #[arg(long, value_enum, default_value_t = Env::Loopback)]
    env: Env,
    /// How long the proxy may take to route each service's first request.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    ready_within: Duration,
    /// Run the workload on the agent serving here (`meshbench workload
    /// --serve ADDR`, on loopback) instead of in this process. In
    /// containers the agent always runs in the client pod.
    #[arg(long, value_name = "ADDR", value_parser = super::parse_loopback, conflicts_with = "env")]
    workload_at: Option<std::net::SocketAddr>,
}

/// `--env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Env {
    Loopback,
    Containers,
}

impl Args {
    /// The options of the run of `file`: a containers run gives every pod
    /// the file.
    fn options_for(&self, file: &Path) -> RunOptions {
        let mut options = self.options();
        if self.env == Env::Containers {
            options.placement.environment = Environment::Containers(Pods::new(file));
        }
        options
    }

    fn options(&self) -> RunOptions {
        RunOptions {
            seed: self.seed,
            placement: Placement {
                environment: self
                    .fleet_at
                    .map_or(Environment::Loopback, Environment::LoopbackFrom),
                ready_within: self.ready_within,
                workload_agent: self.workload_at,
            },
        }
    }
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let files = every_scenario_file(&args.paths)?;
    let cancel = cancelled_on_ctrl_c();
    let suite_folder = suite_folder(args.out.as_deref(), &files, &args.paths);
    let mut suites = Vec::new();
    for proxy in &args.proxy {
        let folder = match args.proxy.len() {
            1 => suite_folder.clone(),
            _ => suite_folder.join(meshbench::report::slug(&proxy.to_string())),
        };
        let suite = run_suite(&files, &Through { proxy, args }, &folder, &cancel).await?;
        suites.push((suite, folder));
    }
    if suites.len() > 1 {
        let columns: Vec<Column> = suites
            .iter()
            .map(|(suite, folder)| Column {
                suite,
                folder: folder
                    .strip_prefix(&suite_folder)
                    .unwrap_or(folder)
                    .display()
                    .to_string(),
            })
            .collect();
        let path = suite_folder.join("matrix.md");
        std::fs::write(&path, matrix::markdown(&columns))
            .with_context(|| format!("writing {}", path.display()))?;
        say(&format!("matrix: {}\n", path.display()));
    }
    // A suite that could not run a scenario makes the whole run an error.
    let verdict = match suites.iter().any(|(s, _)| s.verdict == Verdict::Error) {
        true => Verdict::Error,
        false => Verdict::merge_all(suites.iter().map(|(suite, _)| suite.verdict)),
    };
    Ok(exit_code(verdict))
}

/// The scenario files of `paths` (files, or directories searched), at
/// least one.
pub(crate) fn every_scenario_file(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(scenario_files(path).with_context(|| format!("reading {}", path.display()))?);
    }
    if files.is_empty() {
        anyhow::bail!("no scenario files (*.yaml) in {paths:?}");
    }
    Ok(files)
}

/// A token cancelled when the user presses Ctrl-C: a run stops, and
/// removes what it started, instead of dying.
pub(crate) fn cancelled_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });
    cancel
}

/// 0 when every assertion passed (or could not be judged), 1 when one
/// failed or was inconclusive, 2 when a scenario could not be run.
pub(crate) fn exit_code(verdict: Verdict) -> ExitCode {
    match verdict {
        Verdict::Error => ExitCode::from(2),
        Verdict::Pass | Verdict::Unsupported => ExitCode::SUCCESS,
        Verdict::Fail | Verdict::Inconclusive => ExitCode::from(1),
    }
}

/// How a suite runs each of its scenarios: through a proxy adapter here,
/// or in a cluster (`meshbench kind run`).
pub(crate) trait Runs {
    /// What the scenarios run against, as the index names it.
    fn label(&self) -> String;

    /// The seed of every run.
    fn seed(&self) -> u64;

    /// One scenario, loaded from `file`, to its report.
    async fn run(
        &self,
        file: &Path,
        scenario: &Scenario,
        progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<Report, meshbench::ScenarioError>;
}

/// `meshbench run`'s scenarios, through `proxy`, placed as `args` say.
struct Through<'a> {
    proxy: &'a ProxySpec,
    args: &'a Args,
}

impl Runs for Through<'_> {
    fn label(&self) -> String {
        self.proxy.to_string()
    }

    fn seed(&self) -> u64 {
        self.args.seed
    }

    async fn run(
        &self,
        file: &Path,
        scenario: &Scenario,
        progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<Report, meshbench::ScenarioError> {
        let options = self.args.options_for(file);
        meshbench::run_scenario_watched(scenario, self.proxy, options, progress, cancel).await
    }
}

/// Every scenario of `files` as `runs` runs it, reports and index in `folder`.
pub(crate) async fn run_suite(
    files: &[PathBuf],
    runs: &impl Runs,
    suite_folder: &Path,
    cancel: &CancellationToken,
) -> anyhow::Result<Suite> {
    let mut suite = Suite::new(&runs.label(), runs.seed());
    let mut folders = Folders::default();
    for file in files {
        if cancel.is_cancelled() {
            break;
        }
        let scenario = match Scenario::load(file) {
            Ok(scenario) => scenario,
            Err(error) => {
                report_error(&error, false);
                let name = file.display().to_string();
                say(&format!("ERROR {name}: the scenario did not load\n"));
                suite.add_error(&name, &group(file), &error.to_string());
                continue;
            }
        };
        let progress = Arc::new(Progress::default());
        let bar = ProgressDisplay::start(&scenario, Arc::clone(&progress));
        let report = runs.run(file, &scenario, progress, cancel.clone()).await;
        bar.finish().await;
        match report {
            Ok(report) => {
                let folder = folders.claim(&report.scenario);
                let path = write(&report, &suite_folder.join(&folder))?;
                say(&format!(
                    "{}  report: {}\n",
                    report.summary(),
                    path.join("report.html").display()
                ));
                suite.add(&report, &group(file), &folder);
            }
            Err(error) => {
                say(&format!(
                    "ERROR {} ({}): {error}\n",
                    scenario.name,
                    file.display()
                ));
                suite.add_error(&scenario.name, &group(file), &error.to_string());
            }
        }
    }
    write_index(&suite, suite_folder)?;
    say(&format!(
        "{}: {} scenarios ({}) through {}; index: {}\n",
        suite.verdict.to_string().to_uppercase(),
        suite.scenarios.len(),
        totals(&suite),
        runs.label(),
        suite_folder.join("index.html").display()
    ));
    Ok(suite)
}

/// `3 pass, 1 error`.
fn totals(suite: &Suite) -> String {
    let parts: Vec<String> = suite
        .scenarios_by_verdict
        .iter()
        .map(|(verdict, n)| format!("{n} {verdict}"))
        .collect();
    parts.join(", ")
}

/// Report folders inside the run folder: one per scenario, named by a safe
/// slug of its name (a scenario name is text, never a path), unique within
/// the run.
#[derive(Default)]
struct Folders {
    taken: std::collections::BTreeSet<String>,
}

impl Folders {
    fn claim(&mut self, name: &str) -> String {
        let slug = meshbench::report::slug(name);
        let mut folder = slug.clone();
        let mut n = 2;
        while !self.taken.insert(folder.clone()) {
            folder = format!("{slug}-{n}");
            n += 1;
        }
        folder
    }
}

/// `--out`, or `reports/runs/<unix time>-<name>/` named after the one
/// scenario file or the one directory given (`suite` for several).
pub(crate) fn suite_folder(out: Option<&Path>, files: &[PathBuf], paths: &[PathBuf]) -> PathBuf {
    if let Some(out) = out {
        return out.to_owned();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stem = |path: &Path| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let name = match (files, paths) {
        ([file], _) => stem(file),
        (_, [path]) => stem(path),
        _ => "suite".to_owned(),
    };
    PathBuf::from("reports/runs").join(format!("{now}-{name}"))
}

/// A scenario's protocol group: the folder it lives in (`thrift`, `http`…).
fn group(file: &Path) -> String {
    file.parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write_index(suite: &Suite, folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let files = [
        ("conformance.json", serde_json::to_string_pretty(suite)?),
        ("junit.xml", suite.junit()),
        ("index.md", suite.markdown()),
        ("index.html", suite.html()?),
    ];
    for (name, contents) in files {
        let path = folder.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A progress bar on stderr (hidden when stderr is not a terminal): requests
/// ended against the clients' budgets, and the routing phase in force.
struct ProgressDisplay {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl ProgressDisplay {
    fn start(scenario: &Scenario, progress: Arc<Progress>) -> ProgressDisplay {
        let budget: Option<u64> = scenario
            .clients()
            .map(|(_, client)| client.requests.as_ref().map(|r| r.value))
            .sum();
        let bar = ProgressBar::with_draw_target(budget, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:.bold} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(scenario.name.clone());
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                ticking.set_position(progress.done.load(Ordering::Relaxed));
                let phase = progress.phase.load(Ordering::Relaxed);
                let sent = progress.sent.load(Ordering::Relaxed);
                ticking.set_message(format!("sent {sent}, phase {phase}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        ProgressDisplay { bar, ticker }
    }

    async fn finish(self) {
        self.ticker.abort();
        let _ = self.ticker.await;
        self.bar.finish_and_clear();
    }
}

fn write(report: &Report, folder: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let files = [
        ("report.json", json),
        ("junit.xml", report.junit()),
        ("report.md", report.markdown()),
        ("report.html", report.html()),
    ];
    for (name, contents) in files {
        let path = folder.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(folder.to_owned())
}
