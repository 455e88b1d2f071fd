//! Go duration strings, as Istio's YAML writes them: `2s`, `0.5s`, `100ms`,
//! `1m30s`, `0`. The one duration grammar of meshbench: routing objects,
//! scenarios and every command line read durations with it. The CRD types
//! keep them as strings so that a bad one is reported with its field path.

use std::time::Duration;

/// Nanoseconds per unit. The longest unit that matches wins, so that `ms`
/// is not read as `m` followed by garbage.
const UNITS: [(&str, f64); 8] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parses a Go duration (`time.ParseDuration` syntax, without a sign).
/// Returns `None` when `text` is not one.
pub fn parse(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut nanos = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| tail.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())?;
        nanos += value * scale;
        rest = &tail[unit.len()..];
    }
    nanos
        .is_finite()
        .then(|| Duration::from_nanos(nanos.round() as u64))
}

/// [`parse`], with a sentence naming the input when `text` is not a duration.
///
/// # Errors
/// `'5' is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1m30s`.
pub fn parse_text(text: &str) -> Result<Duration, String> {
    parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1m30s"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            ("2s", Some(Duration::from_secs(2))),
            ("0.5s", Some(Duration::from_millis(500))),
            ("100ms", Some(Duration::from_millis(100))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("1h", Some(Duration::from_secs(3600))),
            ("250us", Some(Duration::from_micros(250))),
            ("10ns", Some(Duration::from_nanos(10))),
            ("0s", Some(Duration::ZERO)),
            ("0", Some(Duration::ZERO)),
            ("", None),
            ("2", None),
            ("2x", None),
            ("s", None),
            ("-1s", None),
            ("1..2s", None),
            ("2 s", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }
}
