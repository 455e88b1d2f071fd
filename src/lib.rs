//! The `meshbench` command's library: proxy adapters and (to come) the
//! runner that joins fleet, proxy, workload and verification, and reports.
//! The binary (`main.rs`, `cmd/`) only parses flags and prints.
//!
//! # Layout
//! - [`adapter`]: how a proxy under test is started, configured and stopped.
#![forbid(unsafe_code)]

pub mod adapter;
