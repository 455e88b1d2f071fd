//! The `meshbench` command's library: proxy adapters and (to come) the
//! runner that joins fleet, proxy, workload and verification, and reports.
//! The binary (`main.rs`, `cmd/`) only parses flags and prints.
//!
//! # Layout
//! - [`adapter`]: how a proxy under test is started, configured and stopped.
//! - [`run`]: one run from fleet to collected oracles, stopping everything on every path.
//! - [`resolve`]: a scenario becomes a run spec and one check per expectation.
//! - [`report`]: checks applied to the collected oracles; terminal summary and JSON.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod report;
pub mod resolve;
pub mod run;
