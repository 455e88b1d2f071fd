//! Durations as scenarios and command lines write them: Go's grammar, as
//! Istio writes durations (`250us`, `2ms`, `1.5s`, `1m30s`), the same
//! grammar the routing objects use ([`meshbench_mesh_api::duration`]).

use std::time::Duration;

/// Parses a Go duration.
///
/// # Errors
/// A sentence naming the input when it is not a duration.
pub fn parse(text: &str) -> Result<Duration, String> {
    meshbench_mesh_api::duration::parse_text(text.trim())
}

/// Serde support: a duration written as a string such as `2ms`.
pub mod serde_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Reads `"2ms"`.
    ///
    /// # Errors
    /// When the text is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }

    /// Writes the duration in milliseconds, e.g. `"2.5ms"`.
    ///
    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", value.as_secs_f64() * 1e3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("2ms"), Ok(Duration::from_millis(2)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn errors_name_the_input() {
        assert_eq!(
            parse("5"),
            Err("'5' is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1m30s".into())
        );
        assert!(parse("5x").is_err() && parse("ms").is_err() && parse("-1s").is_err());
    }
}
