//! `meshbench validate`: load and check scenario files (or every `*.yaml` /
//! `*.yml` under a directory), printing each error with `file:line:column`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use meshbench_sim::scenario::{Scenario, ScenarioError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or directories searched recursively for *.yaml and *.yml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Plain text errors even on a terminal (default there: miette's graphical report).
    #[arg(long)]
    plain: bool,
}

/// 0 when every scenario is valid, 1 when one is invalid, 2 when a path
/// cannot be read.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    let mut unreadable = false;
    for path in &args.paths {
        match scenario_files(path) {
            Ok(found) if found.is_empty() => {
                eprintln!(
                    "meshbench: {}: no scenario files (*.yaml, *.yml)",
                    path.display()
                );
                unreadable = true;
            }
            Ok(found) => files.extend(found),
            Err(error) => {
                eprintln!("meshbench: {}: {error}", path.display());
                unreadable = true;
            }
        }
    }
    let mut invalid = 0;
    for file in &files {
        match Scenario::load(file) {
            Ok(scenario) => println!(
                "ok {} ({}, {} assertion{})",
                file.display(),
                scenario.name,
                scenario.expect.len(),
                if scenario.expect.len() == 1 { "" } else { "s" }
            ),
            Err(error @ ScenarioError::Read { .. }) => {
                eprintln!("meshbench: {error}");
                unreadable = true;
            }
            Err(error) => {
                invalid += 1;
                report(&error, args.plain);
            }
        }
    }
    if files.len() > 1 {
        println!("{} scenarios, {invalid} invalid", files.len());
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `path` itself, or the scenario files under it, sorted.
pub fn scenario_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // A named file is read even without a YAML extension; a missing one
        // fails when loaded.
        std::fs::metadata(path)?;
        return Ok(vec![path.to_owned()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_owned()];
    // Each directory once, by its real path: a symlink loop ends here.
    let mut visited = std::collections::BTreeSet::new();
    while let Some(dir) = pending.pop() {
        if !visited.insert(std::fs::canonicalize(&dir)?) {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?.path();
            let hidden = entry
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if entry.is_dir() {
                pending.push(entry);
            } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                found.push(entry);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Prints a scenario's errors to stderr: miette's graphical report on a
/// terminal, else (or with `plain`) `file:line:col: message`, the line with
/// a caret, and the hint.
pub fn report(error: &ScenarioError, plain: bool) {
    let ScenarioError::Invalid(errors) = error else {
        eprintln!("meshbench: {error}");
        return;
    };
    let fancy = !plain && std::io::stderr().is_terminal();
    for (i, error) in errors.iter().enumerate() {
        if i > 0 {
            eprintln!();
        }
        if fancy {
            // The report's source box names file:line:column.
            eprintln!("{:?}", miette::Report::new(error.to_diagnostic()));
        } else {
            eprintln!("{error}");
        }
    }
}
