//! `heartbeats`: every heartbeat a selected client sent while its
//! connection paused was answered by a heartbeat. The sample is the
//! heartbeat; one decides, and no violation rate is claimed.

use super::Kind;
use crate::scenario::check::Checker;
use crate::scenario::claims::Claiming;
use crate::scenario::plan::{Sizing, Test};
use crate::scenario::{FleetService, ProxySetting, Position, SampleSize, Unit};
use crate::verify::Check;

mod verifier;
pub use verifier::*;

expectation! {
    /// Heartbeats: every heartbeat the selected clients sent while their
    /// connections paused (`pause.heartbeat`) was answered by a heartbeat.
    /// Zero tolerance; inconclusive when none was sent. Selects by
    /// `of.client` only: a heartbeat has no class, attributes or phase.
    Heartbeats {}
}

impl Kind for Heartbeats {
    /// Every heartbeat sent must be answered and no rate is claimed: there is
    /// no false-failure rate or power to measure.
    fn calibration(_cases: &mut Vec<crate::calibration::Case>, _null: crate::stats::Alpha) {}

    fn summary(&self) -> String {
        "every heartbeat answered".to_owned()
    }

    /// A heartbeat has no class, attributes or phase, and some selected
    /// client must send heartbeats.
    fn validate(&self, at: Position, service: &FleetService, checker: &mut Checker<'_>) {
        let of = &self.of;
        let narrowing = [
            ("class", of.class.as_ref().map(|c| c.at)),
            ("attributes", of.attributes.0.first().map(|(k, _)| k.at)),
            ("phase", of.phase.as_ref().map(|p| p.at)),
        ];
        for (field, at) in narrowing {
            if let Some(at) = at {
                checker.push(
                    at,
                    format!("'of.{field}' does not apply to heartbeats"),
                    Some("heartbeats belong to connections: select them by 'client'".into()),
                );
            }
        }
        let scenario = checker.s;
        let beating = scenario.clients().any(|(name, client)| {
            of.client.as_ref().is_none_or(|c| c.value == name)
                && scenario
                    .service(&client.service)
                    .is_some_and(|s| s.service.value == service.service.value)
                && client.pause.as_ref().is_some_and(|p| p.heartbeat.is_some())
        });
        if !beating {
            checker.push(
                at,
                "no selected client sends heartbeats",
                Some("give a closed-loop dubbo client e.g. 'pause: { every: 1000, for: 5s, heartbeat: 1s }'".into()),
            );
        }
    }

    fn unit(&self) -> Unit {
        Unit::Heartbeats
    }

    fn needs(&self) -> &'static [ProxySetting] {
        &[ProxySetting::IdleTimeout]
    }

    fn sample(&self, sizing: &Sizing) -> SampleSize {
        sizing.plan(Unit::Heartbeats, 1.0, Test::EveryOne)
    }

    fn check(&self, claiming: &Claiming<'_>) -> Result<Check, String> {
        let Heartbeats {
            name: _,
            service: _,
            of: _,
            alpha: _,
            power: _,
            detect: _,
        } = self;
        Ok(Check::new(HeartbeatsCheck {
            selection: claiming.selection.clone(),
            confidence: claiming.confidence,
        }))
    }
}
