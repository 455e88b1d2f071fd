//! Go duration strings, as Istio's YAML writes them: the mesh API's grammar.

pub use meshbench_mesh_api::duration::parse;
