//! How a version behaves: latency, errors, retries that eventually succeed,
//! dropped connections and response size. Each request draws its fate from
//! these knobs with the endpoint's seeded random source.

use std::time::Duration;

use rand::RngExt;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

use crate::duration::serde_text;

/// A probability in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize)]
pub struct Probability(f64);

impl Probability {
    /// Checks that `p` is a probability.
    ///
    /// # Errors
    /// When `p` is not in [0, 1].
    pub fn new(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) {
            Ok(Probability(p))
        } else {
            Err(format!("probability {p} is not between 0 and 1"))
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Probability::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// How long an endpoint takes before answering.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Latency {
    /// Answer at once.
    #[default]
    None,
    /// Always this long.
    Fixed(#[serde(with = "serde_text")] Duration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// The shortest.
        #[serde(with = "serde_text")]
        min: Duration,
        /// The longest.
        #[serde(with = "serde_text")]
        max: Duration,
    },
    /// Log-normal with this median and shape (sigma of the underlying normal).
    Lognormal {
        /// The median.
        #[serde(with = "serde_text")]
        median: Duration,
        /// The shape; 0.5 gives a p99 about 3.2 times the median.
        sigma: f64,
    },
}

impl Latency {
    fn draw(&self, rng: &mut impl rand::Rng) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } if max > min => rng.random_range(min..=max),
            Latency::Uniform { min, .. } => min,
            Latency::Lognormal { median, sigma } => {
                match LogNormal::new(median.as_secs_f64().max(1e-9).ln(), sigma) {
                    Ok(dist) => Duration::from_secs_f64(dist.sample(rng).min(3600.0)),
                    Err(_) => median,
                }
            }
        }
    }
}

/// The behaviour knobs of one version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Processing time before the answer.
    #[serde(default)]
    pub latency: Latency,
    /// The chance that a request is answered with the protocol's error
    /// (HTTP 503, Dubbo status 80, Thrift `TApplicationException`).
    #[serde(default)]
    pub error_rate: Probability,
    /// Fail the first N attempts of each request id, then succeed (for retries).
    #[serde(default)]
    pub succeed_after: u32,
    /// The chance that the endpoint closes the connection instead of answering.
    #[serde(default)]
    pub close_rate: Probability,
    /// Bytes of padding added to each successful answer.
    #[serde(default)]
    pub response_size: usize,
    /// Keep every request until the run releases the fleet's [`super::Hold`]
    /// (a barrier for circuit-breaking runs).
    #[serde(default)]
    pub hold: bool,
    /// Listed among the endpoints but not listening: a pod that is gone
    /// while the proxy still has it (a rolling restart). Connecting to it
    /// is refused.
    #[serde(default)]
    pub down: bool,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// How long to wait before answering.
    pub delay: Duration,
    /// Whether to answer with an error.
    pub fail: bool,
    /// Whether to close the connection instead of answering.
    pub close: bool,
}

impl Behaviour {
    /// Draws the fate of the `attempt`-th arrival of a request.
    pub fn fate(&self, attempt: u32, rng: &mut impl rand::Rng) -> Fate {
        let close = self.close_rate.get() > 0.0 && rng.random_bool(self.close_rate.get());
        let fail = attempt <= self.succeed_after
            || (self.error_rate.get() > 0.0 && rng.random_bool(self.error_rate.get()));
        Fate {
            delay: self.latency.draw(rng),
            fail,
            close,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn succeed_after_fails_exactly_the_first_attempts() {
        let behaviour = Behaviour {
            succeed_after: 2,
            ..Behaviour::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        let fails: Vec<bool> = (1..=4).map(|a| behaviour.fate(a, &mut rng).fail).collect();
        assert_eq!(fails, vec![true, true, false, false]);
    }

    #[test]
    fn latencies_stay_in_their_bounds() {
        let mut rng = StdRng::seed_from_u64(2);
        let uniform = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3),
        };
        for _ in 0..1000 {
            let d = uniform.draw(&mut rng);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(3));
        }
        assert_eq!(
            Latency::Fixed(Duration::from_millis(2)).draw(&mut rng),
            Duration::from_millis(2)
        );
    }

    #[test]
    fn probabilities_outside_the_unit_interval_are_refused() {
        assert_eq!(
            Probability::new(1.5),
            Err("probability 1.5 is not between 0 and 1".into())
        );
        assert!(serde_json::from_str::<Behaviour>(r#"{"error_rate": -0.1}"#).is_err());
        let parsed: Behaviour =
            serde_json::from_str(r#"{"latency": {"fixed": "2ms"}, "error_rate": 0.5}"#)
                .expect("parses");
        assert_eq!(parsed.latency, Latency::Fixed(Duration::from_millis(2)));
    }
}
