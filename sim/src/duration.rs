//! Durations as people write them in scenarios and on the command line:
//! `250us`, `2ms`, `1.5s`, `1m`.

use std::time::Duration;

/// Parses `<number><unit>` with unit `ns`, `us`, `ms`, `s` or `m`.
///
/// # Errors
/// A sentence naming the input when the number or the unit is not understood.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration '{text}' has no unit (ns, us, ms, s or m)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration '{text}' does not start with a number"))?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        other => return Err(format!("duration '{text}' has unknown unit '{other}'")),
    };
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("duration '{text}' is out of range"))
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
    }

    #[test]
    fn errors_name_the_input() {
        assert_eq!(
            parse("5"),
            Err("duration '5' has no unit (ns, us, ms, s or m)".into())
        );
        assert_eq!(
            parse("5h"),
            Err("duration '5h' has unknown unit 'h'".into())
        );
        assert_eq!(
            parse("ms"),
            Err("duration 'ms' does not start with a number".into())
        );
    }
}
