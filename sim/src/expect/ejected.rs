//! `ejected`: outlier detection takes a failing endpoint out of the pool:
//! once ejection is due, no new request reaches it. Zero tolerance. The
//! failing pods are known only once the fleet runs, so its check fills
//! them in from the oracles.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::Sizing;
use crate::scenario::{FleetService, Located, Position, SampleSize, TextDuration};
use crate::verify::{Assertion, Check, Oracles, Verifier};
use std::time::Duration;

mod calibration;
mod verifier;
pub use verifier::*;

expectation! {
    /// Outlier detection ejects a failing endpoint: after `within`, no new
    /// request reaches it (until its ejection ends).
    Ejected {
        /// The version of the failing endpoint(s).
        version: Located<String>,
        /// Which replica (default: every endpoint of the version).
        #[serde(default)]
        replica: Option<Located<usize>>,
        /// How soon after it starts failing (default 1s).
        #[serde(default = "default_within")]
        within: Located<TextDuration>,
    }
}

fn default_within() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::from_secs(1)))
}

impl Kind for Ejected {
    fn calibration(cases: &mut Vec<crate::calibration::Case>, null: crate::stats::Alpha) {
        calibration::cases(cases, null);
    }

    fn named_versions(&self) -> Vec<&Located<String>> {
        vec![&self.version]
    }

    fn summary(&self) -> String {
        format!(
            "{} ejected within {}",
            self.version.value, self.within.value
        )
    }

    fn validate(&self, _at: Position, service: &FleetService, checker: &mut Checker<'_>) {
        if let (Some(replica), Some(version)) = (&self.replica, service.versions.get(&self.version))
            && replica.value >= version.replicas
        {
            checker.push(
                replica.at,
                format!(
                    "replica {} of version '{}' does not exist",
                    replica.value, self.version.value
                ),
                Some(format!(
                    "it has {} replica(s), counted from 0",
                    version.replicas
                )),
            );
        }
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.zero_tolerance()
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Ejected {
            version,
            replica,
            within,
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(OfReplica {
            check: EjectedCheck {
                selection: claiming.selection.clone(),
                version: claiming.version(&version.value),
                pods: Vec::new(),
                within: within.value.get(),
                confidence: claiming.confidence,
            },
            replica: replica.as_ref().map(|r| r.value),
            service: claiming.fqdn().to_owned(),
        }))
    }
}

/// The ejection check, its pod the named replica of the version (known
/// only once the fleet runs); none named: every pod of the version.
#[derive(Debug)]
struct OfReplica {
    check: EjectedCheck,
    replica: Option<usize>,
    service: String,
}

impl Verifier for OfReplica {
    fn verify(&self, oracles: &Oracles<'_>) -> Assertion {
        let mut check = self.check.clone();
        let pods = oracles.pods(&self.service, Some(&check.version));
        check.pods = match self.replica {
            Some(index) => pods.into_iter().skip(index).take(1).collect(),
            None => Vec::new(),
        };
        ejected(oracles.ledger, &check)
    }
}
