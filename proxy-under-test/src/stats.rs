//! Counters and gauges the admin API serves in Prometheus text format: a
//! second oracle next to the client's ledger and the endpoints' records.
//! A metric whose name ends in `_active` is a gauge; every other a counter.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

type Key = (String, Vec<(String, String)>);

/// Labelled counters and gauges.
#[derive(Debug, Default)]
pub struct Stats {
    values: Mutex<BTreeMap<Key, i64>>,
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

    /// Every metric, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
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
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
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
