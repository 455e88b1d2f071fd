//! Interop with implementations nobody here wrote: Apache Thrift's and
//! thriftpy2's Python libraries, dubbo-ssl-python, dubbo2.js and hessian.js,
//! grpcio and @grpc/grpc-js.
//!
//! The peers are installed by `tests/interop/setup.sh` (run by `.ci/run`).
//! Under `CI=true` a missing peer fails its test; elsewhere it is skipped with
//! a message saying how to install it.

#[path = "interop/peer.rs"]
mod peer;

#[path = "interop/hessian.rs"]
mod hessian;

#[path = "interop/thrift.rs"]
mod thrift;

#[path = "interop/dubbo.rs"]
mod dubbo;

#[path = "interop/grpc.rs"]
mod grpc;
