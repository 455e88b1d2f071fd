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
    require(
        "python virtualenv tests/interop/.venv",
        python.exists().then_some(python),
    )
}

/// `node` with `tests/interop/node_modules` on its module path.
pub fn node() -> Option<Command> {
    let modules = interop_dir().join("node_modules");
    let present = modules.join("hessian.js").exists();
    require(
        "node modules tests/interop/node_modules",
        present.then_some(()),
    )?;
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", modules);
    Some(cmd)
}

/// Runs a client peer to completion (bounded by `--max-seconds` in the peer
/// and by a kill here) and returns its JSON lines.
pub fn run_client(mut cmd: Command) -> Vec<serde_json::Value> {
    let output = cmd.output().expect("the peer starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("peer printed non-JSON '{line}': {e}"))
        })
        .collect();
    assert!(
        !lines.is_empty(),
        "peer printed nothing; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    lines
}

/// A server peer, killed when dropped.
pub struct ServerPeer {
    child: std::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl ServerPeer {
    /// Starts `cmd` and waits for its `{"listening": "HOST:PORT"}` line.
    pub fn start(mut cmd: Command) -> ServerPeer {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the server peer starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the listening line");
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("server peer printed '{line}' instead of its address: {e}"));
        let addr = value["listening"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in '{line}'"));
        ServerPeer { child, addr }
    }
}

impl Drop for ServerPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
