//! `heartbeats`: every heartbeat the selected clients sent while a
//! connection paused was answered by a heartbeat response. Zero tolerance:
//! one heartbeat unanswered, answered with something else, or lost with
//! its connection fails. The unit is the heartbeat, not the request, so
//! the ledger's per-connection tallies are read, never its entries.
//! Inconclusive when no heartbeat was sent (nothing paused with
//! `heartbeat`).

use crate::ledger::{Heartbeats, Ledger};

use crate::verify::{Assertion, Confidence, Selection, every_one_of};

/// A `heartbeats` expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatsCheck {
    /// Which clients (classes and phases do not apply to heartbeats).
    pub selection: Selection,
    /// Alpha, power, detect (for the evidence only: the check is deterministic).
    pub confidence: Confidence,
}

const ANSWERED: &str = "answered";
const FAILED: &str = "not answered";

/// At most this many connections are named in the findings.
const NAMED: usize = 10;

/// Runs the check.
pub fn heartbeats(ledger: &Ledger, check: &HeartbeatsCheck) -> Assertion {
    let selected: Vec<&Heartbeats> = ledger
        .heartbeats
        .iter()
        .filter(|t| {
            check.selection.clients.is_empty() || check.selection.clients.contains(&t.client)
        })
        .collect();
    let answered: u64 = selected.iter().map(|t| t.answered).sum();
    let failed: u64 = selected.iter().map(|t| t.failed).sum();
    let (verdict, mut summary, evidence) = every_one_of(
        ("heartbeat", "heartbeats"),
        [(ANSWERED.to_owned(), answered), (FAILED.to_owned(), failed)],
        ANSWERED,
        check.confidence,
        (
            "were answered by a heartbeat",
            "were not answered by a heartbeat",
        ),
    );
    if let Some(first) = selected.iter().find(|t| t.failed > 0) {
        let reason = first.first_failure.as_deref().unwrap_or("unknown");
        summary.push_str(&format!(
            "; the first on connection {}: {reason}",
            first.connection
        ));
    }
    let findings = selected
        .iter()
        .filter(|t| t.failed > 0)
        .take(NAMED)
        .map(|t| finding(t))
        .collect();
    Assertion {
        name: String::new(),
        claim: "heartbeats answered".to_owned(),
        kind: "heartbeats".to_owned(),
        verdict,
        summary,
        evidence,
        findings,
    }
}

/// `connection 3 (client 0): 4 heartbeats sent, 1 answered, 3 not: <reason>`.
fn finding(tally: &Heartbeats) -> String {
    format!(
        "connection {} (client {}): {} heartbeats sent, {} answered, {} not: {}",
        tally.connection,
        tally.client,
        tally.sent,
        tally.answered,
        tally.failed,
        tally.first_failure.as_deref().unwrap_or("unknown")
    )
}

impl crate::verify::Verifier for HeartbeatsCheck {
    fn verify(&self, oracles: &crate::verify::Oracles<'_>) -> Assertion {
        heartbeats(oracles.ledger, self)
    }
}
