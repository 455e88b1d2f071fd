//! Counters and gauges the admin API serves in Prometheus text format: a
//! second oracle next to the client's ledger and the endpoints' records.
//! A metric whose name ends in `_active` is a gauge; every other a counter.

use std::cell::RefCell;
use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

/// A series as `name`, a NUL, then its rendered labels (`k="v",…`). A
/// lookup borrows a reused buffer, so counting a series seen before
/// allocates nothing; the NUL sorts below every name character, so once
/// sorted for rendering all series of one name stay together.
type Key = String;

/// Series by key, hashed with a fast non-cryptographic hash (the keys are
/// the proxy's own label values, not chosen by a peer to collide).
type Series<V> = HashMap<Key, V, RandomState>;

const SEPARATOR: char = '\0';

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labelled counters, gauges and latency histograms.
#[derive(Debug, Default)]
pub struct Stats {
    values: Mutex<Series<i64>>,
    histograms: Mutex<Series<Histogram>>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative), plus the overflow past the last bound.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

thread_local! {
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The labels of a series, given as slices that follow each other (a
/// listener's own label, then the caller's), so no caller builds a vector.
type Labels<'a> = &'a [&'a [(&'a str, &'a str)]];

/// Calls `with` on the key of `name{labels}`, built in a per-thread buffer.
fn with_key<T>(name: &str, labels: Labels<'_>, with: impl FnOnce(&str) -> T) -> T {
    KEY.with(|buffer| {
        let mut key = buffer.borrow_mut();
        key.clear();
        key.push_str(name);
        key.push(SEPARATOR);
        for (i, (label, value)) in labels.iter().copied().flatten().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(label);
            key.push_str("=\"");
            if value.contains(['\\', '"']) {
                for c in value.chars() {
                    if matches!(c, '\\' | '"') {
                        key.push('\\');
                    }
                    key.push(c);
                }
            } else {
                key.push_str(value);
            }
            key.push('"');
        }
        with(&key)
    })
}

/// The name and the rendered labels of a key.
fn split(key: &str) -> (&str, &str) {
    key.split_once(SEPARATOR).unwrap_or((key, ""))
}

/// The entry of `key` in `map`, inserted with a default when new.
fn entry<'m, V: Default>(map: &'m mut Series<V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("present: inserted above")
}

/// The series of `map` in key order (by name, then labels).
fn sorted<V>(map: &Series<V>) -> Vec<(&str, &V)> {
    let mut series: Vec<(&str, &V)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    series.sort_unstable_by_key(|(k, _)| *k);
    series
}

impl Stats {
    /// Adds one to `name{labels}`.
    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Adds `delta` to `name{labels}` (a gauge goes down with a negative delta).
    pub fn add(&self, name: &str, labels: &[(&str, &str)], delta: i64) {
        self.add_parts(name, &[labels], delta);
    }

    /// Adds `delta` to the series whose labels are `parts`, one after the other.
    pub fn add_parts(&self, name: &str, parts: Labels<'_>, delta: i64) {
        with_key(name, parts, |key| *entry(&mut self.lock(), key) += delta);
    }

    /// The value of `name{labels}` (0 if never counted).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> i64 {
        with_key(name, &[labels], |key| {
            self.lock().get(key).copied().unwrap_or(0)
        })
    }

    /// The sum of `name` over every label set.
    pub fn total(&self, name: &str) -> i64 {
        self.lock()
            .iter()
            .filter(|(key, _)| split(key).0 == name)
            .map(|(_, v)| v)
            .sum()
    }

    /// Records one duration in the histogram `name{labels}`.
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], seconds: f64) {
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        with_key(name, &[labels], |key| {
            let mut histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
            let histogram = entry(&mut histograms, key);
            histogram.counts[bucket] += 1;
            histogram.sum += seconds;
        });
    }

    /// How many durations the histogram `name` holds, over every label set.
    pub fn observed(&self, name: &str) -> u64 {
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        histograms
            .iter()
            .filter(|(key, _)| split(key).0 == name)
            .map(|(_, h)| h.counts.iter().sum::<u64>())
            .sum()
    }

    /// Every metric, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = self.render_values();
        self.render_histograms(&mut out);
        out
    }

    fn render_histograms(&self, out: &mut String) {
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = "";
        for (key, histogram) in sorted(&histograms) {
            let (name, labels) = split(key);
            if name != last {
                let _ = writeln!(out, "# TYPE {name} histogram");
                last = name;
            }
            let separator = if labels.is_empty() { "" } else { "," };
            let mut cumulative = 0;
            for (bound, count) in BUCKETS
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_owned()])
                .zip(histogram.counts)
            {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
        }
    }

    fn render_values(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        let values = self.lock();
        for (key, value) in sorted(&values) {
            let (name, labels) = split(key);
            if name != last {
                let kind = if name.ends_with("_active") {
                    "gauge"
                } else {
                    "counter"
                };
                let _ = writeln!(out, "# TYPE {name} {kind}");
                last = name;
            }
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Series<i64>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let stats = Stats::default();
        stats.observe(
            "meshproxy_request_duration_seconds",
            &[("listener", "svc")],
            0.003,
        );
        stats.observe(
            "meshproxy_request_duration_seconds",
            &[("listener", "svc")],
            20.0,
        );
        let text = stats.render();
        assert!(
            text.contains("# TYPE meshproxy_request_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "meshproxy_request_duration_seconds_bucket{listener=\"svc\",le=\"0.0025\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "meshproxy_request_duration_seconds_bucket{listener=\"svc\",le=\"0.005\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "meshproxy_request_duration_seconds_bucket{listener=\"svc\",le=\"+Inf\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("meshproxy_request_duration_seconds_count{listener=\"svc\"} 2\n"),
            "{text}"
        );
        assert_eq!(stats.observed("meshproxy_request_duration_seconds"), 2);
    }

    #[test]
    fn a_name_that_prefixes_another_keeps_its_series_together() {
        let stats = Stats::default();
        stats.inc("m", &[("a", "1")]);
        stats.inc("m_x", &[]);
        stats.inc("m", &[("a", "2")]);
        stats.inc("m", &[]);
        assert_eq!(
            stats.render(),
            "# TYPE m counter\nm{} 1\nm{a=\"1\"} 1\nm{a=\"2\"} 1\n\
             # TYPE m_x counter\nm_x{} 1\n"
        );
        assert_eq!((stats.total("m"), stats.total("m_x")), (3, 1));
    }

    #[test]
    fn counters_and_gauges_render_as_prometheus_text() {
        let stats = Stats::default();
        stats.inc(
            "meshproxy_requests_total",
            &[("listener", "svc"), ("route", "r\"1")],
        );
        stats.inc(
            "meshproxy_requests_total",
            &[("listener", "svc"), ("route", "r\"1")],
        );
        stats.add(
            "meshproxy_downstream_connections_active",
            &[("listener", "svc")],
            1,
        );
        stats.add(
            "meshproxy_downstream_connections_active",
            &[("listener", "svc")],
            -1,
        );
        assert_eq!(
            stats.get(
                "meshproxy_requests_total",
                &[("listener", "svc"), ("route", "r\"1")]
            ),
            2
        );
        assert_eq!(
            stats.render(),
            "# TYPE meshproxy_downstream_connections_active gauge\n\
             meshproxy_downstream_connections_active{listener=\"svc\"} 0\n\
             # TYPE meshproxy_requests_total counter\n\
             meshproxy_requests_total{listener=\"svc\",route=\"r\\\"1\"} 2\n"
        );
    }
}
