//! `meshproxy`, the reference layer-7 proxy: it compiles Aeraki `MetaRouter` and
//! Istio `VirtualService` / `DestinationRule` objects into a route table and
//! routes Thrift, Dubbo, HTTP/1.1 and TCP per request.
//!
//! Not built yet: this crate only reserves its place in the workspace.
//! It depends on `meshbench-wire` and never on the harness (`meshbench-sim`).
#![forbid(unsafe_code)]
