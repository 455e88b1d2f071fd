//! `balanced`: requests spread uniformly over the endpoints (or versions),
//! within every connection by default: per-request balancing, which a
//! layer-4 proxy fails. Endpoint labels are only known once the fleet
//! runs, so its check fills them in from the oracles.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Kind, Per};
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Located, SampleSize, Unit};
use crate::verify::{Assertion, Check, Oracles, Verifier};

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Requests spread uniformly over the endpoints (or versions), within
    /// every connection by default: per-request balancing, which a
    /// layer-4 proxy fails.
    Balanced {
        /// `endpoints` (default) or `versions`.
        #[serde(default)]
        over: Over,
        /// Restrict to these versions (default: all of the service's).
        #[serde(default)]
        versions: Option<Vec<Located<String>>>,
        /// `connection` (default: every connection on its own) or `run`.
        #[serde(default = "super::per_connection")]
        per: Per,
    }
}

/// What `balanced` is uniform over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Over {
    /// Every endpoint (pod) gets the same share.
    #[default]
    Endpoints,
    /// Every version gets the same share.
    Versions,
}

impl Kind for Balanced {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn named_versions(&self) -> Vec<&Located<String>> {
        self.versions.iter().flatten().collect()
    }

    fn summary(&self) -> String {
        let over = match self.over {
            Over::Endpoints => "endpoints",
            Over::Versions => "versions",
        };
        let per = match self.per {
            Per::Connection => "connection",
            Per::Run => "run",
        };
        format!("uniform over {over} per {per}")
    }

    fn categories(&self, service: &FleetService) -> usize {
        let versions: Vec<&str> = match &self.versions {
            Some(named) => named.iter().map(|v| v.value.as_str()).collect(),
            None => service.versions.keys().collect(),
        };
        match self.over {
            Over::Versions => versions.len(),
            Over::Endpoints => versions
                .iter()
                .filter_map(|v| service.versions.get(v))
                .map(|v| v.replicas)
                .sum(),
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        let uniform = vec![1.0; sizing.shape.categories.max(2)];
        sizing.distribution(uniform, self.per, Unit::Requests)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Balanced {
            over,
            versions,
            per,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        let (over, labels) = match (over, versions) {
            (Over::Versions, Some(versions)) => (
                Over::Versions,
                versions
                    .iter()
                    .map(|v| claiming.version(&v.value))
                    .collect(),
            ),
            (Over::Versions, None) => (
                Over::Versions,
                claiming
                    .service
                    .versions
                    .keys()
                    .map(str::to_owned)
                    .collect(),
            ),
            (Over::Endpoints, _) => (Over::Endpoints, Vec::new()),
        };
        Ok(Check::new(OverEndpoints {
            check: BalancedCheck {
                selection: claiming.selection.clone(),
                over,
                labels,
                per: *per,
                confidence: claiming.confidence,
            },
            service: claiming.fqdn().to_owned(),
        }))
    }
}

/// The balance check, its labels the service's endpoints when it is over
/// endpoints (known only once the fleet runs).
#[derive(Debug)]
struct OverEndpoints {
    check: BalancedCheck,
    service: String,
}

impl Verifier for OverEndpoints {
    fn verify(&self, oracles: &Oracles<'_>) -> Assertion {
        let mut check = self.check.clone();
        if check.over == Over::Endpoints {
            check.labels = oracles.pods(&self.service, None);
        }
        balanced(oracles.ledger, &check)
    }
}
