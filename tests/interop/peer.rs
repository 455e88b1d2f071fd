//! Finding the third-party peers and running them as child processes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding this suite's peer scripts and their installed environments.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// A peer script under `tests/interop/peers/`.
pub fn script(name: &str) -> PathBuf {
    interop_dir().join("peers").join(name)
}

/// Returns `found`, or handles its absence: under `CI=true` a missing peer
/// is a failure (CI installs every peer), elsewhere the test is skipped.
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    if found.is_some() {
        return found;
    }
    let hint = "install the peers with `bash tests/interop/setup.sh`";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("interop peer missing under CI: {what}\n{hint}");
    }
    eprintln!("skipped: interop peer missing: {what} ({hint})");
    None
}

/// The virtualenv's Python with the Python peers installed.
pub fn python() -> Option<PathBuf> {
    let python = interop_dir().join(".venv/bin/python");
    require("python virtualenv tests/interop/.venv", python.exists().then_some(python))
}

/// `node` with `tests/interop/node_modules` on its module path.
pub fn node() -> Option<Command> {
    let modules = interop_dir().join("node_modules");
    let present = modules.join("hessian.js").exists();
    require("node modules tests/interop/node_modules", present.then_some(()))?;
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", modules);
    Some(cmd)
}
