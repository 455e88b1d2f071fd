//! The verifiers on synthetic ledgers: a pass, a fail naming the offender,
//! and an inconclusive for each. Counts are chosen, not drawn, so the
//! outcomes are exact.

use std::time::Duration;

use super::*;
use crate::ledger::{Ledger, Outcome};

fn echo(version: &str, pod: &str) -> Echo {
    Echo {
        service: "svc".into(),
        version: version.into(),
        pod: pod.into(),
        addr: "127.0.0.1:1".into(),
        request_id: None,
        connection: 1,
        attempt: 1,
        processing_us: 1,
    }
}

/// A ledger with `(connection, version, pod, count)` groups of served requests.
fn ledger(groups: &[(u64, &str, &str, u64)]) -> Ledger {
    let mut entries = Vec::new();
    for (connection, version, pod, count) in groups {
        for i in 0..*count {
            entries.push(Entry {
                id: format!("{connection}-{version}-{pod}-{i}"),
                class: "hello".into(),
                client: 0,
                connection: *connection,
                phase: 0,
                switching: false,
                intended: Duration::ZERO,
                latency: Duration::from_millis(1),
                service_time: Duration::from_millis(1),
                outcome: Outcome::Response {
                    success: true,
                    code: "ok".into(),
                    served_by: Some(echo(version, pod)),
                },
            });
        }
    }
    Ledger {
        sent: entries.len() as u64,
        entries,
    }
}

fn split_check(weights: &[(&str, f64)]) -> SplitCheck {
    SplitCheck {
        selection: Selection::default(),
        weights: weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect(),
        confidence: Confidence::default(),
    }
}

#[test]
fn split_passes_exact_weights_fails_a_five_point_skew_and_waits_for_samples() {
    let check = split_check(&[("v1", 20.0), ("v2", 80.0)]);
    let pass = split(
        &ledger(&[(1, "v1", "a", 2000), (1, "v2", "b", 8000)]),
        &check,
    );
    assert_eq!(pass.verdict, Verdict::Pass, "{}", pass.summary);
    let skewed = split(
        &ledger(&[(1, "v1", "a", 2500), (1, "v2", "b", 7500)]),
        &check,
    );
    assert_eq!(skewed.verdict, Verdict::Fail);
    assert!(
        skewed.summary.starts_with("v1 got 25%"),
        "{}",
        skewed.summary
    );
    let small = split(&ledger(&[(1, "v1", "a", 20), (1, "v2", "b", 80)]), &check);
    assert_eq!(small.verdict, Verdict::Inconclusive, "{}", small.summary);
    let stray = split(
        &ledger(&[
            (1, "v1", "a", 2000),
            (1, "v2", "b", 8000),
            (1, "v3", "c", 1),
        ]),
        &check,
    );
    assert_eq!(
        (stray.verdict, stray.summary.as_str()),
        (Verdict::Fail, "1 requests reached 'v3', outside the split")
    );
}

fn balanced_check() -> BalancedCheck {
    BalancedCheck {
        selection: Selection::default(),
        over: Over::Endpoints,
        labels: vec!["a".into(), "b".into()],
        confidence: Confidence::default(),
    }
}

#[test]
fn balanced_names_the_pinned_connection() {
    let even = ledger(&[
        (1, "v1", "a", 50),
        (1, "v2", "b", 50),
        (2, "v1", "a", 50),
        (2, "v2", "b", 50),
    ]);
    let pass = balanced(&even, &balanced_check());
    assert_eq!(pass.verdict, Verdict::Pass, "{}", pass.summary);

    // Two connections pinned to opposite endpoints: the pooled shares are
    // perfectly even, only the per-connection view sees the problem.
    let pinned = ledger(&[(1, "v1", "a", 100), (2, "v2", "b", 100)]);
    let fail = balanced(&pinned, &balanced_check());
    assert_eq!(fail.verdict, Verdict::Fail);
    assert!(
        fail.summary
            .starts_with("2 of 2 connections are not balanced: connection 1"),
        "{}",
        fail.summary
    );
    assert!(
        fail.findings.iter().any(|f| f.starts_with("connection 2")),
        "{:?}",
        fail.findings
    );

    let small = balanced(
        &ledger(&[(1, "v1", "a", 3), (1, "v2", "b", 3)]),
        &balanced_check(),
    );
    assert_eq!(small.verdict, Verdict::Inconclusive, "{}", small.summary);
}

#[test]
fn routed_has_zero_tolerance() {
    let check = RoutedCheck {
        selection: Selection::default(),
        to: "v2".into(),
        confidence: Confidence::default(),
    };
    let clean = routed(&ledger(&[(1, "v2", "b", 1000)]), &check);
    assert_eq!(clean.verdict, Verdict::Pass, "{}", clean.summary);
    let leak = routed(&ledger(&[(1, "v2", "b", 1000), (1, "v1", "a", 1)]), &check);
    assert_eq!(
        (leak.verdict, leak.summary.as_str()),
        (
            Verdict::Fail,
            "1 of 1001 requests did not reach v2: 1 to v1"
        )
    );
    let few = routed(&ledger(&[(1, "v2", "b", 10)]), &check);
    assert_eq!(few.verdict, Verdict::Inconclusive, "{}", few.summary);
}
