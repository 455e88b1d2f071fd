//! `meshproxy`, the reference layer-7 proxy: it compiles Aeraki `MetaRouter`
//! and Istio `VirtualService` / `DestinationRule` objects into a route table
//! and routes Thrift, Dubbo, HTTP/1.1 and TCP per request.
//!
//! It depends on `meshbench-wire` and never on the harness (`meshbench-sim`).
//!
//! # Layout
//! - [`config`]: the Kubernetes objects and endpoint list in, a [`route::RouteTable`] out.
//! - [`route`]: the compiled table and the pure route selection.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod route;
