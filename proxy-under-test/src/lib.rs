//! `meshproxy`, the reference layer-7 proxy: it compiles Aeraki `MetaRouter`
//! and Istio `VirtualService` / `DestinationRule` objects into a route table
//! and routes Thrift, Dubbo, HTTP/1.1 and TCP per request.
//!
//! It depends on `meshbench-wire` and never on the harness (`meshbench-sim`).
//!
//! # Layout
//! - [`config`]: the Kubernetes objects and endpoint list in, a [`route::RouteTable`] out.
//! - [`route`]: the compiled table and the pure route selection.
//! - [`dataplane`]: listeners, per-request routing, one module per protocol.
//! - [`balance`]: endpoint picking per load-balancing policy.
//! - [`breaker`]: circuit breaking from `connectionPool`.
//! - [`outlier`]: ejection of failing endpoints from `outlierDetection`.
//! - [`upstream`]: multiplexed (Thrift, Dubbo) and pooled (HTTP) upstream connections.
//! - [`stats`]: the counters the admin API serves.
//! - [`admin`]: readiness, config dump, stats and hot reload over HTTP.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod balance;
pub mod breaker;
pub mod config;
pub mod dataplane;
pub mod outlier;
pub mod route;
pub mod stats;
pub mod upstream;
