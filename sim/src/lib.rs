//! The meshbench harness.
#![deny(missing_docs)]
