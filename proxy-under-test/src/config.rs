//! Configuration in: the Kubernetes objects a user would `kubectl apply`
//! (Aeraki `MetaRouter`, Istio `VirtualService` and `DestinationRule`) and the
//! endpoint list the harness supplies; a [`RouteTable`](crate::route::RouteTable) out.
//!
//! Two stages, as ripgrep turns low-level flags into high-level arguments:
//! [`load_objects`] parses YAML into serde types that mirror the CRDs field by
//! field (unknown fields are errors, so nothing is silently ignored), then
//! [`compile`] checks them against the endpoint list and produces the plain
//! table. The serde types are never seen past the compiler.
//!
//! # Layout
//! - [`objects`]: the serde types of the three kinds, and the loader.
//! - [`endpoints`]: the endpoint list (services, ports, labelled addresses).
//! - `compile`: objects + endpoints -> route table, one file per kind of object.
//! - `duration`: Go duration strings (`2s`, `0.5s`, `100ms`).
//! - `error`: [`ConfigError`] (YAML in) and [`CompileError`] (objects to table).

mod compile;
mod duration;
pub mod endpoints;
mod error;
pub mod objects;

pub use compile::{ExtensionUse, ROUTE_POLICIES_ANNOTATION, compile, extensions_used};
pub use duration::parse as parse_go_duration;
pub use endpoints::{Endpoint, EndpointList, ServiceEndpoints, load_endpoints};
pub use error::{CompileError, ConfigError, Reason};
pub use objects::{Object, load_objects};

#[cfg(test)]
mod tests;
