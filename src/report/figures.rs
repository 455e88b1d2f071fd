//! The numbers behind the HTML report's plots, computed once from what the
//! run collected. They live in the JSON report too, so a reader can re-plot
//! or check them without the ledger, and the pictures never show a number
//! the JSON does not.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hdrhistogram::Histogram;
use meshbench_sim::fleet::Echo;
use meshbench_sim::ledger::Entry;
use meshbench_sim::stats::{Verdict, wilson};
use meshbench_sim::verify::Assertion;
use serde::Serialize;

use crate::run::Collected;

/// At most this many connections get a heat map row: beyond that a picture
/// stops being readable, and the rest are counted in `omitted`.
pub const MAX_CONNECTIONS: usize = 64;
/// The timeline's resolution: enough to see a traffic shift, few enough
/// that every bucket of a short run still holds a handful of requests.
pub const TIME_BUCKETS: usize = 40;
/// The percentiles of the latency curve, up to the maximum (100).
pub const PERCENTILES: [f64; 9] = [0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0];

/// Everything the HTML report plots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Observed against expected shares, one figure per assertion that has both.
    pub shares: Vec<ShareFigure>,
    /// Who served each connection's requests.
    pub connections: ConnectionMap,
    /// Latency by percentile.
    pub latency: LatencyCurve,
    /// Shares per version over the run, with the phase switches.
    pub timeline: Timeline,
}

impl Figures {
    /// The figures of a finished run and its assertions.
    pub fn new(collected: &Collected, assertions: &[Assertion]) -> Figures {
        let entries = &collected.ledger.entries;
        let labels = ServedLabels::of(entries);
        let latencies = collected.ledger.latencies(|_| true);
        Figures {
            shares: assertions.iter().filter_map(share_figure).collect(),
            connections: connection_map(entries, &labels),
            latency: LatencyCurve {
                corrected: curve(&latencies.corrected),
                uncorrected: curve(&latencies.uncorrected),
            },
            timeline: timeline(entries, &labels, collected),
        }
    }
}

/// One assertion's shares: what was observed against what was configured.
#[derive(Debug, Clone, Serialize)]
pub struct ShareFigure {
    /// The assertion's name.
    pub assertion: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// The alpha the intervals are computed at (the assertion's own).
    pub alpha: f64,
    /// The sum of the counts.
    pub n: u64,
    /// One per label, in label order.
    pub shares: Vec<Share>,
}

/// One label's observed share, its Wilson interval and the expected share.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    /// The label (version, endpoint, outcome).
    pub label: String,
    /// Requests counted under it.
    pub count: u64,
    /// count / n (0 when n is 0).
    pub observed: f64,
    /// The configured share.
    pub expected: f64,
    /// The Wilson interval of `observed` at the assertion's alpha; absent
    /// when nothing was counted.
    pub interval: Option<(f64, f64)>,
}

/// The shares of an assertion whose evidence has counts and expected shares.
fn share_figure(assertion: &Assertion) -> Option<ShareFigure> {
    let evidence = &assertion.evidence;
    if evidence.counts.is_empty() || evidence.expected.is_empty() {
        return None;
    }
    let n: u64 = evidence.counts.values().sum();
    let labels: BTreeSet<&String> = evidence
        .counts
        .keys()
        .chain(evidence.expected.keys())
        .collect();
    let shares = labels
        .into_iter()
        .map(|label| {
            let count = evidence.counts.get(label).copied().unwrap_or(0);
            Share {
                label: label.clone(),
                count,
                observed: if n > 0 { count as f64 / n as f64 } else { 0.0 },
                expected: evidence.expected.get(label).copied().unwrap_or(0.0),
                interval: (n > 0)
                    .then(|| wilson(count, n, evidence.alpha).ok())
                    .flatten(),
            }
        })
        .collect();
    Some(ShareFigure {
        assertion: assertion.name.clone(),
        verdict: assertion.verdict,
        alpha: evidence.alpha.get(),
        n,
        shares,
    })
}

/// The column labels of served requests: versions and endpoints, named the
/// same way in the heat map and the timeline.
struct ServedLabels {
    /// Whether more than one service answered, so versions are qualified
    /// with the service ("reviews:v1"): "v1" alone would merge services.
    qualify: bool,
    /// Version labels, sorted.
    versions: Vec<String>,
    /// Endpoint pods, grouped by version label.
    endpoints: Vec<String>,
}

impl ServedLabels {
    fn of(entries: &[Entry]) -> ServedLabels {
        let echoes: Vec<&Echo> = entries
            .iter()
            .filter_map(|e| e.outcome.served_by())
            .collect();
        let services: BTreeSet<&str> = echoes.iter().map(|e| e.service.as_str()).collect();
        let qualify = services.len() > 1;
        let pods: BTreeSet<(String, String)> = echoes
            .iter()
            .map(|e| (version_label(e, qualify), e.pod.clone()))
            .collect();
        let versions: BTreeSet<String> = pods.iter().map(|(v, _)| v.clone()).collect();
        ServedLabels {
            qualify,
            versions: versions.into_iter().collect(),
            endpoints: pods.into_iter().map(|(_, pod)| pod).collect(),
        }
    }

    fn version(&self, echo: &Echo) -> String {
        version_label(echo, self.qualify)
    }
}

/// The version that served, qualified with the service's short name when
/// several services answered.
fn version_label(echo: &Echo, qualify: bool) -> String {
    if qualify {
        let short = echo.service.split('.').next().unwrap_or(&echo.service);
        format!("{short}:{}", echo.version)
    } else {
        echo.version.clone()
    }
}

/// Counts of `keys` in order, from a map that may lack some.
fn aligned(keys: &[String], counts: &BTreeMap<String, u64>) -> Vec<u64> {
    keys.iter()
        .map(|k| counts.get(k).copied().unwrap_or(0))
        .collect()
}

/// Per-connection counts of who served: the picture of request-level
/// balancing (a layer-4 proxy shows one full cell per row).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionMap {
    /// Column labels of `ConnectionRow::versions`.
    pub versions: Vec<String>,
    /// Column labels of `ConnectionRow::endpoints` (pods, grouped by version).
    pub endpoints: Vec<String>,
    /// The first [`MAX_CONNECTIONS`] connections, by connection number.
    pub rows: Vec<ConnectionRow>,
    /// Connections in the run.
    pub total: usize,
    /// Connections left out of `rows`.
    pub omitted: usize,
}

/// One client connection's requests by who served them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionRow {
    /// The workload client that opened it.
    pub client: usize,
    /// The connection (unique in the run).
    pub connection: u64,
    /// Requests sent on it.
    pub requests: u64,
    /// Requests without an endpoint's answer (timeouts, local errors…).
    pub unserved: u64,
    /// Served requests per version, aligned with `ConnectionMap::versions`.
    pub versions: Vec<u64>,
    /// Served requests per endpoint, aligned with `ConnectionMap::endpoints`.
    pub endpoints: Vec<u64>,
}

/// A connection's counts while the ledger is walked.
#[derive(Default)]
struct Tally {
    client: usize,
    requests: u64,
    unserved: u64,
    versions: BTreeMap<String, u64>,
    endpoints: BTreeMap<String, u64>,
}

fn connection_map(entries: &[Entry], labels: &ServedLabels) -> ConnectionMap {
    let mut tallies: BTreeMap<u64, Tally> = BTreeMap::new();
    for entry in entries {
        let tally = tallies.entry(entry.connection).or_default();
        tally.client = entry.client;
        tally.requests += 1;
        match entry.outcome.served_by() {
            Some(echo) => {
                *tally.versions.entry(labels.version(echo)).or_insert(0) += 1;
                *tally.endpoints.entry(echo.pod.clone()).or_insert(0) += 1;
            }
            None => tally.unserved += 1,
        }
    }
    let total = tallies.len();
    let rows = tallies
        .into_iter()
        .take(MAX_CONNECTIONS)
        .map(|(connection, t)| ConnectionRow {
            client: t.client,
            connection,
            requests: t.requests,
            unserved: t.unserved,
            versions: aligned(&labels.versions, &t.versions),
            endpoints: aligned(&labels.endpoints, &t.endpoints),
        })
        .collect();
    ConnectionMap {
        versions: labels.versions.clone(),
        endpoints: labels.endpoints.clone(),
        rows,
        total,
        omitted: total.saturating_sub(MAX_CONNECTIONS),
    }
}

/// Latency by percentile, corrected for coordinated omission and not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyCurve {
    /// From each request's intended start.
    pub corrected: Vec<Quantile>,
    /// From each request's actual send.
    pub uncorrected: Vec<Quantile>,
}

/// One point of a latency curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quantile {
    /// 0 to 100; 0 is the minimum and 100 the maximum.
    pub percentile: f64,
    /// Microseconds.
    pub micros: u64,
}

/// The [`PERCENTILES`] of `histogram`; none when it is empty (an empty
/// histogram answers 0 for every percentile, which would plot as data).
fn curve(histogram: &Histogram<u64>) -> Vec<Quantile> {
    if histogram.is_empty() {
        return Vec::new();
    }
    PERCENTILES
        .iter()
        .map(|&percentile| Quantile {
            percentile,
            micros: match percentile {
                p if p <= 0.0 => histogram.min(),
                p if p >= 100.0 => histogram.max(),
                p => histogram.value_at_percentile(p),
            },
        })
        .collect()
}

/// Served requests per version over time, by intended start.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    /// The width of a bucket, in seconds.
    pub bucket_seconds: f64,
    /// Column labels of `TimeBucket::counts`.
    pub versions: Vec<String>,
    /// [`TIME_BUCKETS`] buckets from the start of the run (none without requests).
    pub buckets: Vec<TimeBucket>,
    /// When each phase was applied, in seconds from the workload's start.
    pub phases_seconds: Vec<f64>,
}

/// The requests that were meant to start in one bucket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimeBucket {
    /// The bucket's start, in seconds.
    pub start_seconds: f64,
    /// Requests without an endpoint's answer.
    pub unserved: u64,
    /// Served requests per version, aligned with `Timeline::versions`.
    pub counts: Vec<u64>,
}

fn timeline(entries: &[Entry], labels: &ServedLabels, collected: &Collected) -> Timeline {
    let phases_seconds = collected
        .phases_applied
        .iter()
        .map(Duration::as_secs_f64)
        .collect();
    let last = entries.iter().map(|e| e.intended).max();
    let span = last.map_or(0.0, |last| {
        // Past the last intended start, so that one lands in the last bucket.
        collected.duration.max(last).as_secs_f64() * (1.0 + 1e-9)
    });
    if span <= 0.0 {
        return Timeline {
            versions: labels.versions.clone(),
            phases_seconds,
            ..Timeline::default()
        };
    }
    let width = span / TIME_BUCKETS as f64;
    let mut buckets: Vec<TimeBucket> = (0..TIME_BUCKETS)
        .map(|i| TimeBucket {
            start_seconds: i as f64 * width,
            unserved: 0,
            counts: vec![0; labels.versions.len()],
        })
        .collect();
    for entry in entries {
        let index = ((entry.intended.as_secs_f64() / width) as usize).min(TIME_BUCKETS - 1);
        let bucket = &mut buckets[index];
        let column = entry
            .outcome
            .served_by()
            .and_then(|echo| labels.versions.binary_search(&labels.version(echo)).ok());
        match column {
            Some(column) => bucket.counts[column] += 1,
            None => bucket.unserved += 1,
        }
    }
    Timeline {
        bucket_seconds: width,
        versions: labels.versions.clone(),
        buckets,
        phases_seconds,
    }
}
