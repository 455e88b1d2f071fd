//! The data plane through real sockets: the harness's fleet behind the
//! proxy, the harness's clients in front, on one long-lived connection each.
//!
//! Weighted choices are checked where they are deterministic (all traffic to
//! one side, a weight of 0) or with bounds whose false-failure probability is
//! stated next to them; the statistical verdicts proper live in the harness.

#[path = "dataplane/support.rs"]
mod support;

#[path = "dataplane/routing.rs"]
mod routing;

#[path = "dataplane/policies.rs"]
mod policies;

#[path = "dataplane/admin.rs"]
mod admin;

#[path = "dataplane/bad_input.rs"]
mod bad_input;

#[path = "dataplane/limits.rs"]
mod limits;

#[path = "dataplane/grpc.rs"]
mod grpc;

#[path = "dataplane/memory.rs"]
mod memory;
