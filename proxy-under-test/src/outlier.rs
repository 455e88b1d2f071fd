//! Outlier detection from a DestinationRule's `outlierDetection`: an
//! endpoint that returns N consecutive errors is ejected from its cluster's
//! balancing for `baseEjectionTime` times the number of its ejections, never
//! ejecting more than `maxEjectionPercent` of the cluster (but at least one
//! endpoint, as recent Envoy does). Ejection happens as the error arrives;
//! return happens when the time has passed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::route::OutlierDetection;

/// How an upstream exchange went, in the terms retry and outlier policies use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// A successful answer (HTTP < 500, a Thrift reply, Dubbo status OK).
    Success,
    /// An error answer: HTTP 5xx other than the gateway ones, a Thrift
    /// exception, a Dubbo error status.
    Error,
    /// HTTP 502, 503 or 504, a connect failure, a reset or a per-try timeout.
    GatewayError,
}

#[derive(Debug, Default)]
struct EndpointHealth {
    consecutive_errors: u32,
    consecutive_gateway_errors: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
}

/// Endpoint health of every cluster, by cluster name.
#[derive(Debug, Default)]
pub struct Outliers {
    clusters: Mutex<HashMap<String, HashMap<SocketAddr, EndpointHealth>>>,
}

impl Outliers {
    /// Records an outcome; ejects the endpoint when it crosses a threshold.
    ///
    /// # Returns
    /// Whether this outcome ejected the endpoint.
    pub fn observe(
        &self,
        cluster: &str,
        endpoint: SocketAddr,
        health: Health,
        policy: Option<&OutlierDetection>,
        cluster_size: usize,
    ) -> bool {
        let Some(policy) = policy else { return false };
        let now = Instant::now();
        let mut clusters = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        let endpoints = clusters.entry(cluster.to_owned()).or_default();
        let ejected_now = endpoints
            .values()
            .filter(|e| e.ejected_until.is_some_and(|t| t > now))
            .count();
        let state = endpoints.entry(endpoint).or_default();
        match health {
            Health::Success => {
                state.consecutive_errors = 0;
                state.consecutive_gateway_errors = 0;
                return false;
            }
            Health::Error => {
                state.consecutive_errors += 1;
                state.consecutive_gateway_errors = 0;
            }
            Health::GatewayError => {
                state.consecutive_errors += 1;
                state.consecutive_gateway_errors += 1;
            }
        }
        let over = |count: u32, limit: Option<u32>| limit.is_some_and(|l| l > 0 && count >= l);
        let tripped = over(state.consecutive_errors, policy.consecutive_errors)
            || over(
                state.consecutive_gateway_errors,
                policy.consecutive_gateway_errors,
            );
        let already = state.ejected_until.is_some_and(|t| t > now);
        let eject = tripped && !already && within_cap(ejected_now, cluster_size, policy);
        if eject {
            state.ejections += 1;
            state.ejected_until = Some(now + policy.base_ejection_time * state.ejections);
            state.consecutive_errors = 0;
            state.consecutive_gateway_errors = 0;
        }
        eject
    }

    /// The endpoints of `cluster` ejected right now.
    pub fn ejected(&self, cluster: &str) -> Vec<SocketAddr> {
        let now = Instant::now();
        let clusters = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        clusters
            .get(cluster)
            .map(|endpoints| {
                endpoints
                    .iter()
                    .filter(|(_, e)| e.ejected_until.is_some_and(|t| t > now))
                    .map(|(addr, _)| *addr)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether one more ejection keeps the ejected share at or below
/// `max_ejection_percent`, counting the host about to be ejected, as Envoy
/// 1.40 decides (`DetectorImpl::ejectHost`; no `always_eject_one_host`,
/// which no Istio field sets). Istio leaves the cap at Envoy's 10 %: with
/// fewer than ten hosts nothing is ejected unless the DestinationRule
/// raises `maxEjectionPercent`.
fn within_cap(ejected_now: usize, cluster_size: usize, policy: &OutlierDetection) -> bool {
    let share = 100.0 * (ejected_now + 1) as f64 / cluster_size.max(1) as f64;
    share <= f64::from(policy.max_ejection_percent)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy(errors: u32) -> OutlierDetection {
        OutlierDetection {
            consecutive_errors: Some(errors),
            consecutive_gateway_errors: None,
            interval: Duration::from_secs(1),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_percent: 100,
        }
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 80))
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_errors_eject_for_the_base_time_then_return() {
        let outliers = Outliers::default();
        let p = policy(2);
        outliers.observe("c", addr(1), Health::Error, Some(&p), 2);
        assert!(outliers.ejected("c").is_empty());
        outliers.observe("c", addr(1), Health::Success, Some(&p), 2);
        outliers.observe("c", addr(1), Health::Error, Some(&p), 2);
        assert!(
            outliers.ejected("c").is_empty(),
            "a success resets the count"
        );
        outliers.observe("c", addr(1), Health::GatewayError, Some(&p), 2);
        assert_eq!(outliers.ejected("c"), vec![addr(1)]);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(outliers.ejected("c"), vec![addr(1)]);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            outliers.ejected("c").is_empty(),
            "back after baseEjectionTime"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn max_ejection_percent_keeps_part_of_the_cluster() {
        let outliers = Outliers::default();
        let mut p = policy(1);
        p.max_ejection_percent = 50;
        for n in 1..=4 {
            outliers.observe("c", addr(n), Health::Error, Some(&p), 4);
        }
        assert_eq!(outliers.ejected("c").len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_counts_the_host_about_to_be_ejected() {
        let outliers = Outliers::default();
        let mut p = policy(1);
        p.max_ejection_percent = 33;
        for n in 1..=3 {
            outliers.observe("c", addr(n), Health::Error, Some(&p), 3);
        }
        assert!(outliers.ejected("c").is_empty(), "1 of 3 is 33.3 % > 33 %");
        p.max_ejection_percent = 34;
        outliers.observe("c", addr(1), Health::Error, Some(&p), 3);
        assert_eq!(outliers.ejected("c").len(), 1);
    }
}
