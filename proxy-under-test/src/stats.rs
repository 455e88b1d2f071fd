//! Counters the admin API serves in Prometheus text format: a second oracle
//! next to the client's ledger and the endpoints' records.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Labelled counters.
#[derive(Debug, Default)]
pub struct Stats {
    counters: Mutex<BTreeMap<(String, Vec<(String, String)>), u64>>,
}

impl Stats {
    /// Adds one to `name{labels}`.
    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        let key = (
            name.to_owned(),
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        *self.lock().entry(key).or_insert(0) += 1;
    }

    /// The value of `name{labels}` (0 if never counted).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = (
            name.to_owned(),
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self.lock().get(&key).copied().unwrap_or(0)
    }

    /// The sum of `name` over every label set.
    pub fn total(&self, name: &str) -> u64 {
        self.lock()
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }

    /// Every counter, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        let counters = self.lock();
        for ((name, labels), value) in counters.iter() {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
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

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, Vec<(String, String)>), u64>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let stats = Stats::default();
        stats.inc(
            "meshproxy_requests_total",
            &[("listener", "svc"), ("route", "r\"1")],
        );
        stats.inc(
            "meshproxy_requests_total",
            &[("listener", "svc"), ("route", "r\"1")],
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
            "# TYPE meshproxy_requests_total counter\nmeshproxy_requests_total{listener=\"svc\",route=\"r\\\"1\"} 2\n"
        );
    }
}
