//! `meshbench kind`: a scenario as a run in a Kubernetes cluster with
//! Istio and Aeraki ([`meshbench::kind`]). `manifests` prints the objects;
//! `run --dry-run` prints the actions of a run, then the objects, as one
//! YAML stream that `kubectl apply -f -` takes; `run` takes the actions
//! through the Kubernetes API and writes the report a loopback run
//! writes; `up` and `down` make and remove a kind cluster with Istio and
//! Aeraki, through the tools' own commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use meshbench::ScenarioError;
use meshbench::kind::cluster::{self, Bounds, Target};
use meshbench::kind::{ClusterRun, DEFAULT_IMAGE, cluster_run};
use meshbench::report::Report;
use meshbench_sim::duration;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::workload::Progress;
use tokio_util::sync::CancellationToken;

use super::run::{
    Runs, cancelled_on_ctrl_c, every_scenario_file, exit_code, run_suite, suite_folder,
};
use super::say;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KindCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KindCommand {
    /// Print every object of a cluster run of the scenario, as multi-document YAML.
    Manifests(FileArgs),
    /// Run the scenario in the cluster; --dry-run prints every action and every object.
    Run(RunArgs),
    /// Make a kind cluster with Istio and Aeraki, and load this build's image into it.
    Up(Up),
    /// Delete the kind cluster.
    Down(Down),
}

#[derive(Debug, clap::Args)]
struct FileArgs {
    /// The scenario file.
    file: PathBuf,
    /// The image the fleet and workload pods run (`meshbench kind up` loads it).
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// Seed of the workload's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario files, or directories searched recursively for *.yaml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The image the fleet and workload pods run (`meshbench kind up` loads it).
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// Seed of the workload's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print what the run does instead of doing it.
    #[arg(long)]
    dry_run: bool,
    /// The kubeconfig context (default: the current one).
    #[arg(long)]
    context: Option<String>,
    /// How long the fleet may take to roll out.
    #[arg(long, default_value = "300s", value_parser = duration::parse)]
    rollout_within: Duration,
    /// How long the workload Job may take, its convergence probe included.
    #[arg(long, default_value = "3600s", value_parser = duration::parse)]
    workload_within: Duration,
    /// Where reports go (default: reports/runs/<unix time>-<scenario>/).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct Up {
    /// The cluster's name.
    #[arg(long, default_value = CLUSTER)]
    name: String,
    /// A checkout of aeraki-mesh/aeraki to install Aeraki from (`make
    /// install` there); without it, the step is printed for you to take.
    #[arg(long)]
    aeraki: Option<PathBuf>,
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct Down {
    /// The cluster's name.
    #[arg(long, default_value = CLUSTER)]
    name: String,
    /// Print the command instead of running it.
    #[arg(long)]
    dry_run: bool,
}

/// The kind cluster's name unless told otherwise.
const CLUSTER: &str = "meshbench";

/// The Istio release the runbook pins (Aeraki's e2e workflow pairs it
/// with the Aeraki commit in `kind/README.md`).
const ISTIO: &str = "1.18.1";

/// How long one step of `up` or `down` may take.
const STEP_WITHIN: Duration = Duration::from_secs(900);

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        KindCommand::Manifests(target) => {
            say(&planned(target)?.yaml().map_err(anyhow::Error::msg)?);
            Ok(ExitCode::SUCCESS)
        }
        KindCommand::Run(run) if run.dry_run => dry_run(run),
        KindCommand::Run(run) => live(run).await,
        KindCommand::Up(up) => {
            let done = steps(&up_steps(up), up.dry_run).await?;
            if up.aeraki.is_none() {
                say(
                    "# Aeraki is not installed by this command without --aeraki CHECKOUT: kind/README.md, step 2\n",
                );
            }
            Ok(done)
        }
        KindCommand::Down(down) => steps(&down_steps(down), down.dry_run).await,
    }
}

/// Each scenario's actions and objects, one after the other.
fn dry_run(run: &RunArgs) -> anyhow::Result<ExitCode> {
    for file in every_scenario_file(&run.paths)? {
        let target = FileArgs {
            file,
            image: run.image.clone(),
            seed: run.seed,
        };
        let planned = planned(&target)?;
        say(&format!(
            "# meshbench kind run {} --dry-run\n# The actions of the run, in order (manifests.yaml is the YAML below):\n",
            target.file.display()
        ));
        for (i, action) in planned.actions.iter().enumerate() {
            say(&format!("#   {}. {action}\n", i + 1));
        }
        say(&planned.yaml().map_err(anyhow::Error::msg)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The runs against the cluster, a report each and an index.
async fn live(run: &RunArgs) -> anyhow::Result<ExitCode> {
    let files = every_scenario_file(&run.paths)?;
    let client = cluster::connect(run.context.as_deref()).await?;
    let target = Target {
        client,
        image: run.image.clone(),
        bounds: Bounds {
            rollout: run.rollout_within,
            workload: run.workload_within,
            ..Bounds::default()
        },
    };
    let cancel = cancelled_on_ctrl_c();
    let folder = suite_folder(run.out.as_deref(), &files, &run.paths);
    let runs = InCluster {
        target: &target,
        seed: run.seed,
    };
    let suite = run_suite(&files, &runs, &folder, &cancel).await?;
    Ok(exit_code(suite.verdict))
}

/// Each scenario applied to the cluster, run there and read back.
struct InCluster<'a> {
    target: &'a Target,
    seed: u64,
}

impl Runs for InCluster<'_> {
    fn label(&self) -> String {
        "istio+aeraki in a cluster".to_owned()
    }

    fn seed(&self) -> u64 {
        self.seed
    }

    async fn run(
        &self,
        file: &Path,
        scenario: &Scenario,
        _progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<Report, ScenarioError> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| ScenarioError::Setup(format!("reading {}: {e}", file.display())))?;
        eprintln!(
            "meshbench: applying {} to the cluster; its namespaces are deleted when it ends",
            file.display()
        );
        meshbench::run_scenario_in_cluster(scenario, &source, self.target, self.seed, cancel).await
    }
}

fn loaded(target: &FileArgs) -> anyhow::Result<(Scenario, String)> {
    let source = std::fs::read_to_string(&target.file)
        .with_context(|| format!("reading {}", target.file.display()))?;
    let scenario = Scenario::load(&target.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((scenario, source))
}

fn planned(target: &FileArgs) -> anyhow::Result<ClusterRun> {
    let (scenario, source) = loaded(target)?;
    cluster_run(&scenario, &source, &target.image, target.seed).map_err(anyhow::Error::from)
}

/// One command of `up` or `down`: what it does, and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    why: String,
    program: String,
    args: Vec<String>,
    /// Run in this folder (a checkout of Aeraki), else here.
    dir: Option<PathBuf>,
}

impl Step {
    fn new(why: &str, program: &str, args: &[&str]) -> Step {
        Step {
            why: why.to_owned(),
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            dir: None,
        }
    }

    fn line(&self) -> String {
        let command = std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        match &self.dir {
            Some(dir) => format!("(cd {} && {command})", dir.display()),
            None => command,
        }
    }
}

/// The cluster, this build's image in it, Istio with DNS capture, Aeraki.
fn up_steps(up: &Up) -> Vec<Step> {
    let name = up.name.as_str();
    let mut steps = vec![
        Step::new(
            "the cluster (Kubernetes 1.33, kind/cluster.yaml)",
            "kind",
            &[
                "create",
                "cluster",
                "--name",
                name,
                "--config",
                "kind/cluster.yaml",
            ],
        ),
        Step::new(
            "the image the pods run, from this checkout",
            "docker",
            &["build", "-f", "kind/Dockerfile", "-t", DEFAULT_IMAGE, "."],
        ),
        Step::new(
            "the image, into the cluster's node (no registry)",
            "kind",
            &["load", "docker-image", DEFAULT_IMAGE, "--name", name],
        ),
        Step::new(
            &format!("Istio {ISTIO} with DNS capture (Aeraki's Dubbo hosts resolve through it)"),
            "istioctl",
            &[
                "install",
                "-y",
                "--set",
                "profile=default",
                "--set",
                "meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE=true",
            ],
        ),
    ];
    if let Some(checkout) = &up.aeraki {
        let mut aeraki = Step::new("Aeraki, from its checkout", "make", &["install"]);
        aeraki.dir = Some(checkout.clone());
        steps.push(aeraki);
        steps.push(Step::new(
            "Aeraki rolled out",
            "kubectl",
            &[
                "-n",
                "istio-system",
                "rollout",
                "status",
                "deployment/aeraki",
                "--timeout=300s",
            ],
        ));
    }
    steps
}

fn down_steps(down: &Down) -> Vec<Step> {
    vec![Step::new(
        "the cluster, and all in it",
        "kind",
        &["delete", "cluster", "--name", &down.name],
    )]
}

/// Runs (or prints) `steps` in order, each bounded; the first that fails
/// or whose program is missing ends it, saying so.
async fn steps(steps: &[Step], dry_run: bool) -> anyhow::Result<ExitCode> {
    for step in steps {
        say(&format!("# {}\n{}\n", step.why, step.line()));
        if dry_run {
            continue;
        }
        let mut command = tokio::process::Command::new(&step.program);
        command.args(&step.args).kill_on_drop(true);
        if let Some(dir) = &step.dir {
            command.current_dir(dir);
        }
        let status = match tokio::time::timeout(STEP_WITHIN, command.status()).await {
            Err(_) => anyhow::bail!("{} took longer than {STEP_WITHIN:?}", step.line()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "'{}' is not installed: kind/README.md lists the tools (docker, kind, kubectl, istioctl {ISTIO})",
                step.program
            ),
            Ok(status) => status.with_context(|| format!("running {}", step.line()))?,
        };
        if !status.success() {
            anyhow::bail!("{} failed ({status})", step.line());
        }
    }
    Ok(ExitCode::SUCCESS)
}
