//! The routing objects, from the typed mesh API crate, and their loader with
//! [`ConfigError`] positions.

pub use meshbench_mesh_api::*;

use super::ConfigError;

/// Parses every routing object in `yaml`, in the order written.
///
/// # Errors
/// A [`ConfigError`] with line and column for YAML syntax errors, unknown
/// fields, wrong types and an unknown `apiVersion`/`kind` pair.
pub fn load_objects(yaml: &str) -> Result<Vec<Object>, ConfigError> {
    Ok(meshbench_mesh_api::load_objects(yaml)?)
}

/// Parses one YAML (or JSON) document into `T`, as [`load_objects`] does.
///
/// # Errors
/// A [`ConfigError`] with line and column.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    Ok(meshbench_mesh_api::parse_yaml(text)?)
}
