//! Counters and gauges the admin API serves in Prometheus text format: a
//! second oracle next to the client's ledger and the endpoints' records.
//! A metric whose name ends in `_active` is a gauge; every other a counter.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

type Key = (String, Vec<(String, String)>);

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labelled counters, gauges and latency histograms.
#[derive(Debug, Default)]
pub struct Stats {
    values: Mutex<BTreeMap<Key, i64>>,
    histograms: Mutex<BTreeMap<Key, Histogram>>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative), plus the overflow past the last bound.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

fn render_labels(labels: &[(String, String)]) -> String {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    labels.join(",")
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name.to_owned(), labels)
}

impl Stats {
    /// Adds one to `name{labels}`.
    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Adds `delta` to `name{labels}` (a gauge goes down with a negative delta).
    pub fn add(&self, name: &str, labels: &[(&str, &str)], delta: i64) {
        *self.lock().entry(key(name, labels)).or_insert(0) += delta;
    }

    /// The value of `name{labels}` (0 if never counted).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> i64 {
        self.lock().get(&key(name, labels)).copied().unwrap_or(0)
    }

    /// The sum of `name` over every label set.
    pub fn total(&self, name: &str) -> i64 {
        self.lock()
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }

    /// Records one duration in the histogram `name{labels}`.
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], seconds: f64) {
        let mut histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let histogram = histograms.entry(key(name, labels)).or_default();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        histogram.counts[bucket] += 1;
        histogram.sum += seconds;
    }

    /// How many durations the histogram `name` holds, over every label set.
    pub fn observed(&self, name: &str) -> u64 {
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        histograms
            .iter()
            .filter(|((n, _), _)| n == name)
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
        for ((name, labels), histogram) in histograms.iter() {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} histogram");
                last = name;
            }
            let labels = render_labels(labels);
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
        for ((name, labels), value) in values.iter() {
            if name != last {
                let kind = if name.ends_with("_active") {
                    "gauge"
                } else {
                    "counter"
                };
                let _ = writeln!(out, "# TYPE {name} {kind}");
                last = name;
            }
            let _ = writeln!(out, "{name}{{{}}} {value}", render_labels(labels));
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, i64>> {
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
