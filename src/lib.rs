//! The `meshbench` command's library: proxy adapters and (to come) the
//! runner that joins fleet, proxy, workload and verification, and reports.
//! The binary (`main.rs`, `cmd/`) only parses flags and prints.
//!
//! # Layout
//! - [`adapter`]: how a proxy under test is started, configured and stopped.
//! - [`run`]: one run from fleet to collected oracles, stopping everything on every path.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod run;
