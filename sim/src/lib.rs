//! The meshbench harness: the sample fleet, protocol clients, the scenario
//! model, the workload, the ledger, the statistics and the verdicts.
//!
//! It reaches a proxy only over sockets and configuration, and never depends
//! on the reference proxy's crate, so any proxy can be swapped in.
//!
//! # Layout
//! - [`fleet`]: multi-version sample servers on their own loopback addresses,
//!   their behaviour knobs, the echo contract and the received-request log.
//! - [`client`]: long-lived, pipelining clients for Thrift, Dubbo and HTTP.
//! - [`ledger`]: one outcome per request sent, conservation, the join with endpoint records,
//!   and per-connection heartbeat tallies.
//! - [`workload`]: closed- and open-loop clients on long-lived connections, bounded by budget or
//!   time; closed loops may pause, idle or with Dubbo heartbeats, on the same connection.
//! - [`duration`]: durations as written in scenarios and on command lines
//!   (Go's grammar, as Istio writes them: `2ms`, `1m30s`).
//! - [`expect`]: the expectation kinds, one module each (file form, checks,
//!   sample size, the check it becomes) and the one registry of them.
//! - [`scenario`]: scenario files: the model, the loader with `file:line:column`
//!   errors, the semantic checks, planned sample sizes and the JSON Schema.
//! - [`stats`]: exact tests, intervals, sample-size plans, sequential tests and verdict evidence.
//! - [`verify`]: one verifier per expectation kind, oracles in, verdict and evidence
//!   out; [`verify::Claim`] is an expectation's named check.
//! - [`calibration`]: the verifiers' false-failure rates and powers, measured on synthetic runs.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod calibration;
pub mod client;
pub mod duration;
pub mod expect;
pub mod fleet;
pub mod ledger;
pub mod scenario;
pub mod stats;
pub mod verify;
pub mod workload;
