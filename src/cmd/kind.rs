//! `meshbench kind`: a scenario as a run in a Kubernetes cluster with
//! Istio and Aeraki ([`meshbench::kind`]). `manifests` prints the objects;
//! `run --dry-run` prints the actions of a run, then the objects, as one
//! YAML stream that `kubectl apply -f -` takes.

use std::process::ExitCode;

use anyhow::Context;
use meshbench::kind::{ClusterRun, DEFAULT_IMAGE, cluster_run};
use meshbench_sim::scenario::Scenario;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KindCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KindCommand {
    /// Print every object of a cluster run of the scenario, as multi-document YAML.
    Manifests(Target),
    /// Run the scenario in the cluster; --dry-run prints every action and every object.
    Run {
        #[command(flatten)]
        target: Target,
        /// Print what the run does instead of doing it.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, clap::Args)]
struct Target {
    /// The scenario file.
    file: std::path::PathBuf,
    /// The image the fleet and workload pods run (`kind/README.md` builds it).
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        KindCommand::Manifests(target) => {
            print!("{}", planned(target)?.yaml().map_err(anyhow::Error::msg)?);
            Ok(ExitCode::SUCCESS)
        }
        KindCommand::Run {
            target,
            dry_run: true,
        } => {
            let run = planned(target)?;
            println!("# meshbench kind run {} --dry-run", target.file.display());
            println!("# The actions of the run, in order (manifests.yaml is the YAML below):");
            for (i, action) in run.actions.iter().enumerate() {
                println!("#   {}. {action}", i + 1);
            }
            print!("{}", run.yaml().map_err(anyhow::Error::msg)?);
            Ok(ExitCode::SUCCESS)
        }
        KindCommand::Run { dry_run: false, .. } => anyhow::bail!(
            "the run against a live cluster is not built yet: --dry-run prints its actions and objects, and kind/README.md takes them by hand"
        ),
    }
}

fn planned(target: &Target) -> anyhow::Result<ClusterRun> {
    let source = std::fs::read_to_string(&target.file)
        .with_context(|| format!("reading {}", target.file.display()))?;
    let scenario = Scenario::load(&target.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    cluster_run(&scenario, &source, &target.image).map_err(anyhow::Error::from)
}
