//! The third-party programs the bench runs, found on `PATH`, with their
//! versions, and a description of the machine. The bench installs nothing:
//! a missing program is named with the Debian package that provides it.

use std::path::PathBuf;
use std::process::Command;

use serde::Serialize;

/// A program the bench needs and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Needed {
    /// The executable's name.
    pub program: &'static str,
    /// The Debian package.
    pub package: &'static str,
    /// What it is used for.
    pub role: &'static str,
}

/// Everything `meshbench bench` runs besides itself and `meshproxy`.
pub const NEEDED: [Needed; 5] = [
    Needed {
        program: "nginx",
        package: "nginx",
        role: "the reverse proxy and web server compared with meshproxy",
    },
    Needed {
        program: "haproxy",
        package: "haproxy",
        role: "the reverse proxy compared with meshproxy",
    },
    Needed {
        program: "wrk",
        package: "wrk",
        role: "the load generator compared with meshbench's",
    },
    Needed {
        program: "h2load",
        package: "nghttp2-client",
        role: "the HTTP/2 load generator that drives gRPC beside meshbench's",
    },
    Needed {
        program: "taskset",
        package: "util-linux",
        role: "pins the generator and the servers to separate cores",
    },
];

/// The path of `program` on `PATH` (or in the sbin folders, where nginx
/// and haproxy live for users whose PATH lacks them).
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The programs found, or the sentence naming every missing one and the
/// command that installs them.
///
/// # Errors
/// The sentence, when something is missing.
pub fn check() -> Result<Tools, String> {
    let missing: Vec<&Needed> = NEEDED
        .iter()
        .filter(|n| find(n.program).is_none())
        .collect();
    if !missing.is_empty() {
        let lines: Vec<String> = missing
            .iter()
            .map(|n| {
                format!(
                    "  {} (Debian package `{}`): {}",
                    n.program, n.package, n.role
                )
            })
            .collect();
        let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
        return Err(format!(
            "meshbench bench needs programs that are not installed:\n{}\n\
             install them with: apt-get install -y {}\n(the bench installs nothing itself; see reports/bench/README.md)",
            lines.join("\n"),
            packages.join(" ")
        ));
    }
    let path = |p: &str| find(p).unwrap_or_else(|| PathBuf::from(p));
    Ok(Tools {
        nginx: path("nginx"),
        haproxy: path("haproxy"),
        wrk: path("wrk"),
        h2load: path("h2load"),
        taskset: path("taskset"),
    })
}

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// nginx.
    pub nginx: PathBuf,
    /// haproxy.
    pub haproxy: PathBuf,
    /// wrk.
    pub wrk: PathBuf,
    /// h2load (nghttp2).
    pub h2load: PathBuf,
    /// taskset.
    pub taskset: PathBuf,
}

/// The first line a program prints for `args` (stdout or stderr).
fn first_line(program: &PathBuf, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Versions of the compared programs.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// `nginx -v`.
    pub nginx: String,
    /// `haproxy -v`.
    pub haproxy: String,
    /// `wrk --version`.
    pub wrk: String,
    /// `h2load --version`.
    pub h2load: String,
    /// This meshbench.
    pub meshbench: String,
    /// `rustc --version` where available.
    pub rustc: String,
}

impl Tools {
    /// Asks every program its version.
    pub fn versions(&self) -> Versions {
        let rustc = first_line(&PathBuf::from("rustc"), &["--version"]);
        Versions {
            nginx: first_line(&self.nginx, &["-v"]),
            haproxy: first_line(&self.haproxy, &["-v"]),
            wrk: first_line(&self.wrk, &["--version"]),
            h2load: first_line(&self.h2load, &["--version"]),
            meshbench: env!("CARGO_PKG_VERSION").to_owned(),
            rustc,
        }
    }
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// MemTotal from /proc/meminfo.
    pub memory: String,
    /// `uname -sr`.
    pub kernel: String,
    /// PRETTY_NAME from /etc/os-release.
    pub os: String,
    /// /proc/loadavg when the bench started.
    pub load_before: String,
    /// /proc/loadavg when it ended.
    pub load_after: String,
    /// Whether processes were pinned to cores with taskset.
    pub pinned: bool,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The load average, as /proc/loadavg's first three fields.
pub fn load() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one-minute load average.
pub fn load1() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0)
}

/// Online CPUs, from /proc/cpuinfo (not this process's affinity, which
/// pinning narrows).
pub fn cpus() -> usize {
    read("/proc/cpuinfo")
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1)
}

/// Describes this machine.
pub fn machine(pinned: bool) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let value = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    Machine {
        cpu: value(&cpuinfo, "model name"),
        cpus: cpus(),
        memory: value(&read("/proc/meminfo"), "MemTotal"),
        kernel: first_line(&PathBuf::from("uname"), &["-sr"]),
        os,
        load_before: load(),
        load_after: String::new(),
        pinned,
    }
}
