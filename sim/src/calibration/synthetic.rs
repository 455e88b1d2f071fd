//! Synthetic runs: ledgers, endpoint answers and endpoint records built once
//! per case and redrawn in place for every repetition, so a repetition costs
//! one random draw per request and no allocation (answers are copied into
//! the existing strings with `clone_from`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution};

use crate::fleet::{Echo, Identity, Record};
use crate::ledger::{Entry, Ledger, Outcome};
use crate::stats::StatsError;

/// The service every synthetic endpoint belongs to.
pub(crate) const SERVICE: &str = "calibration.bench.svc.cluster.local";

/// The answer of endpoint `pod` of `version`, as its echo says it.
pub(crate) fn endpoint(version: &str, pod: &str) -> Echo {
    Echo {
        service: SERVICE.to_owned(),
        version: version.to_owned(),
        pod: pod.to_owned(),
        addr: "127.0.0.1:9090".to_owned(),
        request_id: None,
        connection: 1,
        attempt: 1,
        processing_us: 1,
    }
}

/// A successful answer from `by`.
pub(crate) fn served(by: &Echo) -> Outcome {
    Outcome::Response {
        success: true,
        code: "ok".to_owned(),
        served_by: Some(by.clone()),
        location: None,
    }
}

/// A failed answer the proxy made itself (a route timeout's 504), with no echo.
pub(crate) fn gateway_timeout() -> Outcome {
    Outcome::Response {
        success: false,
        code: "504".to_owned(),
        served_by: None,
        location: None,
    }
}

/// One request drawn in `k` categories with fixed probabilities.
#[derive(Debug, Clone)]
pub(crate) struct Categorical {
    cumulative: Vec<f64>,
}

impl Categorical {
    /// Categories with these shares (normalised).
    ///
    /// # Errors
    /// When a share is negative or not finite, or they sum to 0.
    pub(crate) fn new(shares: &[f64]) -> Result<Self, StatsError> {
        let shares = crate::stats::types::normalise(shares)?;
        let mut total = 0.0;
        let cumulative = shares
            .iter()
            .map(|s| {
                total += s;
                total
            })
            .collect();
        Ok(Categorical { cumulative })
    }

    /// The category of one draw.
    pub(crate) fn draw(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.random();
        let last = self.cumulative.len().saturating_sub(1);
        self.cumulative.iter().position(|&c| u < c).unwrap_or(last)
    }
}

/// Successes in `n` independent trials of probability `p`: the same law as
/// drawing every trial, in one draw. `p` is a constant of a calibration case
/// (a share in [0, 1]); anything else draws 0.
pub fn binomial(rng: &mut StdRng, n: u64, p: f64) -> u64 {
    Binomial::new(n, p).map_or(0, |law| law.sample(rng))
}

/// The requests of one synthetic run: `connections × per_connection`
/// entries with unique ids, on connections `0..connections`, all with the
/// same prepared outcome; the methods below redraw who served each request,
/// its timing or its attempt in place.
pub(crate) struct Traffic {
    /// The ledger the verifiers read.
    pub(crate) ledger: Ledger,
}

impl Traffic {
    pub(crate) fn new(connections: u64, per_connection: u64, outcome: &Outcome) -> Traffic {
        let class = "call".to_owned();
        let entries: Vec<Entry> = (0..connections)
            .flat_map(|connection| (0..per_connection).map(move |i| (connection, i)))
            .map(|(connection, i)| Entry {
                id: format!("c{connection}-r{i}"),
                order: connection * per_connection + i,
                class: class.clone(),
                client: 0,
                connection,
                phase: 0,
                switching: false,
                intended: Duration::ZERO,
                latency: Duration::from_millis(1),
                service_time: Duration::from_millis(1),
                outcome: outcome.clone(),
            })
            .collect();
        Traffic {
            ledger: Ledger {
                sent: entries.len() as u64,
                entries,
                heartbeats: Vec::new(),
            },
        }
    }

    /// Every request served by `endpoints[pick(connection)]` (an index
    /// outside `endpoints` leaves the request as it was).
    pub(crate) fn serve(&mut self, endpoints: &[Echo], mut pick: impl FnMut(u64) -> usize) {
        for entry in &mut self.ledger.entries {
            if let Some(by) = endpoints.get(pick(entry.connection)) {
                answer(entry, by);
            }
        }
    }

    /// Every request took `took()`, from its intended start and from its send.
    pub(crate) fn time(&mut self, mut took: impl FnMut() -> Duration) {
        for entry in &mut self.ledger.entries {
            let d = took();
            entry.latency = d;
            entry.service_time = d;
        }
    }

    /// Every served request answered on attempt `attempt()`.
    pub(crate) fn attempts(&mut self, mut attempt: impl FnMut() -> u32) {
        for entry in &mut self.ledger.entries {
            if let Outcome::Response {
                served_by: Some(echo),
                ..
            } = &mut entry.outcome
            {
                echo.attempt = attempt();
            }
        }
    }

    /// Requests sent.
    pub(crate) fn len(&self) -> u64 {
        self.ledger.entries.len() as u64
    }
}

/// Makes `entry` a success answered by `by`, reusing its strings.
fn answer(entry: &mut Entry, by: &Echo) {
    match &mut entry.outcome {
        Outcome::Response {
            success: true,
            served_by: Some(echo),
            ..
        } => {
            echo.version.clone_from(&by.version);
            echo.pod.clone_from(&by.pod);
            echo.attempt = by.attempt;
        }
        other => *other = served(by),
    }
}

/// What endpoint `pod` of `version` recorded: one arrival per request of
/// `traffic`, in the ledger's order, on `attempt`, with `attributes`.
/// Mirroring passes the first k to the verifier as the copies (which request
/// ids were copied does not change its verdict, only how many).
pub(crate) fn arrivals(
    traffic: &Traffic,
    version: &str,
    pod: &str,
    attempt: u32,
    attributes: &[(String, String)],
) -> Vec<Record> {
    let identity = Arc::new(Identity {
        service: SERVICE.to_owned(),
        version: version.to_owned(),
        pod: pod.to_owned(),
        addr: SocketAddr::from(([127, 0, 0, 2], 9090)),
    });
    traffic
        .ledger
        .entries
        .iter()
        .map(|entry| Record {
            endpoint: Arc::clone(&identity),
            at: Duration::ZERO,
            request_id: Some(entry.id.clone()),
            connection: 1,
            attempt,
            attributes: attributes.to_vec(),
        })
        .collect()
}
