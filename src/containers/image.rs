//! The one image every container of a run starts from: a root filesystem
//! holding `meshbench`, `meshproxy` and the shared libraries they link
//! (what `ldd` names), imported with `docker import`. Its tag is the
//! binaries' sizes and modification times, so a rebuild makes a new image
//! and an unchanged build reuses the one it made.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::ContainerError;
use crate::adapter::meshproxy_path;

/// The image's repository name.
pub(super) const REPOSITORY: &str = "meshbench-local";

/// Where the binaries are inside the image.
pub(super) const MESHBENCH: &str = "/bin/meshbench";
/// Where `meshproxy` is inside the image.
pub(super) const MESHPROXY: &str = "/bin/meshproxy";

static BUILT: tokio::sync::OnceCell<Image> = tokio::sync::OnceCell::const_new();
static REFERENCE: OnceLock<String> = OnceLock::new();

/// An image in the local engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its tag.
    pub tag: String,
}

impl Image {
    /// The image of this build, made once per process (and once per build:
    /// an image already in the engine is reused).
    ///
    /// # Errors
    /// [`ContainerError::Image`] naming the step that failed.
    pub async fn of_this_build() -> Result<&'static Image, ContainerError> {
        BUILT
            .get_or_try_init(|| async {
                let image = tokio::task::spawn_blocking(build)
                    .await
                    .map_err(|e| ContainerError::Image(e.to_string()))??;
                let _ = REFERENCE.set(image.reference());
                Ok(image)
            })
            .await
    }

    /// `meshbench-local:<tag>`.
    pub fn reference(&self) -> String {
        format!("{REPOSITORY}:{}", self.tag)
    }

    /// The image's reference once made, for reports.
    pub fn tag_hint() -> String {
        REFERENCE
            .get()
            .cloned()
            .unwrap_or_else(|| format!("{REPOSITORY}:(not built)"))
    }
}

fn image_error(step: &str) -> impl Fn(std::io::Error) -> ContainerError + '_ {
    move |e| ContainerError::Image(format!("{step}: {e}"))
}

/// `meshbench` next to the running program (a test binary is one level down).
fn meshbench_path() -> Result<PathBuf, ContainerError> {
    let exe = std::env::current_exe().map_err(image_error("finding this program"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| ContainerError::Image("no folder for the running binary".to_owned()))?;
    [dir.join("meshbench"), dir.join("../meshbench")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ContainerError::Image(format!(
                "meshbench not found next to {}; build it with `cargo build`",
                exe.display()
            ))
        })
}

fn build() -> Result<Image, ContainerError> {
    let binaries = [
        (meshbench_path()?, MESHBENCH),
        (
            meshproxy_path().map_err(|e| ContainerError::Image(e.to_string()))?,
            MESHPROXY,
        ),
    ];
    let image = Image {
        tag: tag(&binaries)?,
    };
    if exists(&image) {
        return Ok(image);
    }
    let root = tempfile::Builder::new()
        .prefix("meshbench-rootfs-")
        .tempdir()
        .map_err(image_error("a folder for the root filesystem"))?;
    lay_out(root.path(), &binaries)?;
    import(root.path(), &image)?;
    remove_older(&image);
    Ok(image)
}

/// Removes the images earlier builds made (a debug image is 200 MB); one a
/// running container still uses stays.
fn remove_older(image: &Image) {
    let Ok(listed) = Command::new("docker")
        .args(["images", REPOSITORY, "--format", "{{.Tag}}"])
        .output()
    else {
        return;
    };
    for tag in String::from_utf8_lossy(&listed.stdout).lines() {
        if tag != image.tag {
            let _ = Command::new("docker")
                .args(["rmi", &format!("{REPOSITORY}:{tag}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The binaries' sizes and modification times, hashed.
fn tag(binaries: &[(PathBuf, &str)]) -> Result<String, ContainerError> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (path, _) in binaries {
        let meta = std::fs::metadata(path).map_err(image_error("reading a binary's size"))?;
        meta.len().hash(&mut hasher);
        meta.modified()
            .map_err(image_error("reading a binary's time"))?
            .hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

fn exists(image: &Image) -> bool {
    Command::new("docker")
        .args(["image", "inspect", &image.reference()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The root filesystem: the binaries, their libraries, and the folders the
/// pods are given their files in.
fn lay_out(root: &Path, binaries: &[(PathBuf, &str)]) -> Result<(), ContainerError> {
    for dir in ["bin", "etc/meshbench", "etc/meshproxy", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).map_err(image_error("a folder"))?;
    }
    std::fs::write(root.join("etc/nsswitch.conf"), "hosts: files dns\n")
        .map_err(image_error("nsswitch.conf"))?;
    let mut libraries = std::collections::BTreeSet::new();
    for (binary, inside) in binaries {
        copy(binary, &root.join(inside.trim_start_matches('/')))?;
        libraries.extend(linked(binary)?);
    }
    for library in libraries {
        let inside = root.join(library.strip_prefix("/").unwrap_or(&library));
        copy(&library, &inside)?;
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), ContainerError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(image_error("a folder"))?;
    }
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| ContainerError::Image(format!("copying {}: {e}", from.display())))
}

/// The shared libraries `binary` links, as absolute paths (`ldd`).
fn linked(binary: &Path) -> Result<Vec<PathBuf>, ContainerError> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(image_error("running ldd"))?;
    if !output.status.success() {
        // A static binary: nothing to carry.
        return Ok(Vec::new());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or
            // `/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has no file.
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// `tar -C root -c . | docker import - image`.
fn import(root: &Path, image: &Image) -> Result<(), ContainerError> {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(image_error("running tar"))?;
    let stdout = tar
        .stdout
        .take()
        .ok_or_else(|| ContainerError::Image("tar gave no output".to_owned()))?;
    let imported = Command::new("docker")
        .args([
            "import",
            "--message",
            "meshbench: this build's binaries",
            "-",
        ])
        .arg(image.reference())
        .stdin(stdout)
        .stdout(Stdio::null())
        .output()
        .map_err(image_error("running docker import"))?;
    let tarred = tar.wait().map_err(image_error("waiting for tar"))?;
    if !tarred.success() || !imported.status.success() {
        return Err(ContainerError::Image(format!(
            "docker import {}: {}",
            image.reference(),
            String::from_utf8_lossy(&imported.stderr).trim()
        )));
    }
    Ok(())
}
