//! The verifiers on synthetic ledgers: a pass, a fail naming the offender,
//! and an inconclusive for each. Counts are chosen, not drawn, so the
//! outcomes are exact.

use std::time::Duration;

use super::*;
use crate::expect::*;
use crate::ledger::{Heartbeats, Ledger, Outcome};
use crate::stats;

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
                order: entries.len() as u64,
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
                    location: None,
                },
            });
        }
    }
    Ledger {
        sent: entries.len() as u64,
        entries,
        heartbeats: Vec::new(),
    }
}

fn split_check(weights: &[(&str, f64)]) -> SplitCheck {
    SplitCheck {
        selection: Selection::default(),
        weights: weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect(),
        per: Per::Run,
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
        per: Per::Connection,
        confidence: Confidence::default(),
    }
}

#[test]
fn balanced_names_the_pinned_connection() {
    // 15 011 per connection is the plan with two connections.
    let even = ledger(&[
        (1, "v1", "a", 7506),
        (1, "v2", "b", 7506),
        (2, "v1", "a", 7506),
        (2, "v2", "b", 7506),
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
            .starts_with("2 of 2 connections do not hold the shares: connection 1"),
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

fn failed(id: &str, code: &str, took: Duration) -> Entry {
    Entry {
        id: id.into(),
        order: 0,
        class: "hello".into(),
        client: 0,
        connection: 1,
        phase: 0,
        switching: false,
        intended: Duration::ZERO,
        latency: took,
        service_time: took,
        outcome: Outcome::Response {
            success: false,
            code: code.into(),
            served_by: None,
            location: None,
        },
    }
}

#[test]
fn fractions_are_tested_exactly_and_zero_or_one_is_deterministic() {
    let confidence = Confidence::default();
    let counted = |k, n, expected| Counted {
        name: "m".into(),
        kind: "mirrored",
        property: "mirrored".into(),
        k,
        n,
        expected,
    };
    // 16 000 samples: above the 14 476 the plan needs for 50% at 3 points.
    assert_eq!(
        fraction(counted(8000, 16_000, 0.5), confidence, vec![]).verdict,
        Verdict::Pass
    );
    let skewed = fraction(counted(3000, 10_000, 0.5), confidence, vec![]);
    assert_eq!(skewed.verdict, Verdict::Fail);
    assert_eq!(
        skewed.summary,
        "30% of requests mirrored (3000 of 10000), expected 50%"
    );
    assert_eq!(
        fraction(counted(1, 10_000, 0.0), confidence, vec![]).verdict,
        Verdict::Fail
    );
    assert_eq!(
        fraction(counted(9_999, 10_000, 1.0), confidence, vec![]).verdict,
        Verdict::Fail
    );
    assert_eq!(
        fraction(counted(5, 10, 0.5), confidence, vec![]).verdict,
        Verdict::Inconclusive
    );
}

#[test]
fn retried_and_timeout_are_zero_tolerance() {
    let mut ok = ledger(&[(1, "v1", "a", 3)]);
    for entry in &mut ok.entries {
        if let Outcome::Response {
            served_by: Some(echo),
            ..
        } = &mut entry.outcome
        {
            echo.attempt = 3;
        }
    }
    let check = RetriedCheck {
        selection: Selection::default(),
        attempts: 3,
        status: None,
        confidence: Confidence::default(),
    };
    assert_eq!(retried(&ok, &check).verdict, Verdict::Pass);
    let once = RetriedCheck {
        attempts: 1,
        status: None,
        ..check.clone()
    };
    assert_eq!(
        retried(&ok, &once).summary,
        "3 of 3 requests did not end in success on attempt 1"
    );
    let mut unretried = ledger(&[(1, "v1", "a", 2)]);
    for entry in &mut unretried.entries {
        if let Outcome::Response { success, code, .. } = &mut entry.outcome {
            (*success, *code) = (false, "503".into());
        }
    }
    let answered_503 = RetriedCheck {
        attempts: 1,
        status: Some(503),
        ..check.clone()
    };
    assert_eq!(retried(&unretried, &answered_503).verdict, Verdict::Pass);
    assert_eq!(
        retried(&ok, &answered_503).summary,
        "3 of 3 requests did not end in 503 on attempt 1"
    );
    assert!(
        retried(&ok, &answered_503).findings[0].contains("success on attempt 3"),
        "{:?}",
        retried(&ok, &answered_503).findings
    );

    let window = TimeoutCheck {
        selection: Selection::default(),
        after: Duration::from_secs(2),
        slack: Duration::from_millis(500),
        early: Duration::ZERO,
        status: None,
        confidence: Confidence::default(),
    };
    let in_window = Ledger {
        sent: 1,
        entries: vec![failed("a", "504", Duration::from_millis(2100))],
        heartbeats: Vec::new(),
    };
    assert_eq!(timeout(&in_window, &window).verdict, Verdict::Pass);
    let early = Ledger {
        sent: 1,
        entries: vec![failed("a", "504", Duration::from_millis(1900))],
        heartbeats: Vec::new(),
    };
    assert_eq!(timeout(&early, &window).verdict, Verdict::Fail);
    let late = Ledger {
        sent: 1,
        entries: vec![failed("a", "504", Duration::from_secs(5))],
        heartbeats: Vec::new(),
    };
    assert_eq!(timeout(&late, &window).verdict, Verdict::Fail);
    // A timer 2 ms early passes only a window that grants it, and one
    // 100 ms early fails even then.
    let slightly_early = Ledger {
        sent: 1,
        entries: vec![failed("a", "504", Duration::from_millis(1998))],
        heartbeats: Vec::new(),
    };
    let tolerant = TimeoutCheck {
        early: Duration::from_millis(5),
        ..window.clone()
    };
    assert_eq!(timeout(&slightly_early, &window).verdict, Verdict::Fail);
    assert_eq!(timeout(&slightly_early, &tolerant).verdict, Verdict::Pass);
    assert_eq!(timeout(&early, &tolerant).verdict, Verdict::Fail);
    // With a status, a failure in the window with another one fails: a
    // gRPC timeout answered UNAVAILABLE (14) is not DEADLINE_EXCEEDED (4).
    let deadline = TimeoutCheck {
        status: Some("4".to_owned()),
        ..window.clone()
    };
    let unavailable = Ledger {
        sent: 1,
        entries: vec![failed("a", "14", Duration::from_millis(2100))],
        heartbeats: Vec::new(),
    };
    let exceeded = Ledger {
        sent: 1,
        entries: vec![failed("a", "4", Duration::from_millis(2100))],
        heartbeats: Vec::new(),
    };
    assert_eq!(timeout(&unavailable, &window).verdict, Verdict::Pass);
    assert_eq!(timeout(&unavailable, &deadline).verdict, Verdict::Fail);
    assert_eq!(timeout(&exceeded, &deadline).verdict, Verdict::Pass);
}

#[test]
fn latency_bounds_are_quantile_tests() {
    let mut fast = ledger(&[(1, "v1", "a", 1000)]);
    for (i, entry) in fast.entries.iter_mut().enumerate() {
        entry.latency = Duration::from_millis(if i < 5 { 50 } else { 2 });
    }
    let check = |bound_ms| LatencyCheck {
        selection: Selection::default(),
        version: None,
        below: vec![(0.99, Duration::from_millis(bound_ms))],
        above: vec![],
        confidence: Confidence::default(),
    };
    // 5 of 1000 above 10 ms: consistent with a p99 at or below 10 ms.
    assert_eq!(latency(&fast, &check(10)).verdict, Verdict::Pass);
    // 1000 of 1000 above 1 ms: the p99 is certainly not below 1 ms.
    assert_eq!(latency(&fast, &check(1)).verdict, Verdict::Fail);
}

#[test]
fn mirror_answers_reaching_clients_fail() {
    let check = MirroredCheck {
        selection: Selection::default(),
        service: "svc".into(),
        to: "v3".into(),
        fraction: 0.5,
        confidence: Confidence::default(),
    };
    let leaked = mirrored(&ledger(&[(1, "v3", "m", 1)]), &[], &check);
    assert_eq!(
        (leaked.verdict, leaked.summary.as_str()),
        (Verdict::Fail, "1 mirror answers reached clients")
    );
    // The mirror `target` is another service: a v3 of the requests' own
    // service answering is not that mirror (the field was dropped before).
    let elsewhere = MirroredCheck {
        service: "mirror-target".into(),
        ..check
    };
    let other = mirrored(&ledger(&[(1, "v3", "m", 1)]), &[], &elsewhere);
    assert_ne!(
        other.summary, "1 mirror answers reached clients",
        "{}",
        other.summary
    );
}

/// A ledger whose versions come in the order `cycle` repeats, `n` requests.
fn interleaved(cycle: &[&str], n: usize) -> Ledger {
    let groups: Vec<(u64, &str, &str, u64)> = (0..n)
        .map(|i| (1, cycle[i % cycle.len()], "pod", 1))
        .collect();
    let mut ledger = ledger(&groups);
    for (i, entry) in ledger.entries.iter_mut().enumerate() {
        entry.intended = Duration::from_millis(i as u64);
    }
    ledger
}

fn sequential_check(weights: &[(&str, f64)]) -> SplitCheck {
    let mut check = split_check(weights);
    check.confidence.mode = Mode::Sequential;
    check
}

#[test]
fn sequential_split_stops_early_on_exact_shares_and_on_a_five_point_skew() {
    let check = sequential_check(&[("v1", 20.0), ("v2", 80.0)]);
    let fixed_plan = 9_707; // the fixed-n plan for 20/80 at 3 points
    let exact = split(
        &interleaved(&["v1", "v2", "v2", "v2", "v2"], 30_000),
        &check,
    );
    assert_eq!(exact.verdict, Verdict::Pass, "{}", exact.summary);
    let stop = exact.evidence.stop.expect("a sequential stop");
    assert!(stop.n < fixed_plan / 2, "{stop:?}");
    assert_eq!(exact.evidence.n, stop.n);
    assert!(stop.cap >= fixed_plan, "{stop:?}");

    let skewed = split(&interleaved(&["v1", "v2", "v2", "v2"], 30_000), &check);
    assert_eq!(skewed.verdict, Verdict::Fail, "{}", skewed.summary);
    assert!(skewed.evidence.stop.expect("stop").n < 5_000);

    let short = split(&interleaved(&["v1", "v2", "v2", "v2", "v2"], 50), &check);
    assert_eq!(short.verdict, Verdict::Inconclusive, "{}", short.summary);
}

#[test]
fn sequential_split_fails_at_the_first_request_outside_the_shares() {
    let check = sequential_check(&[("v1", 50.0), ("v2", 50.0)]);
    let stray = split(&interleaved(&["v1", "v2", "v3"], 3_000), &check);
    assert_eq!(stray.verdict, Verdict::Fail, "{}", stray.summary);
    assert_eq!(stray.evidence.stop.expect("stop").n, 3);
    assert!(stray.summary.contains("'v3'"), "{}", stray.summary);

    // With nothing strictly between 0 and 1, acceptance waits for the
    // zero-leak plan at `detect`: (1 - 0.03)^n <= 1e-6 from n = 454.
    let all = sequential_check(&[("v1", 100.0)]);
    let routed = split(&interleaved(&["v1"], 1_000), &all);
    assert_eq!(routed.verdict, Verdict::Pass, "{}", routed.summary);
    assert_eq!(routed.evidence.stop.expect("stop").n, 454);
}

#[test]
fn ejection_passes_when_the_failing_endpoint_gets_no_new_request_after_the_window() {
    // Requests 1 ms apart alternating a/b; b answers an error at request 10.
    let mut run = interleaved(&["v1", "v2"], 200);
    let fail = |e: &mut Entry| {
        e.outcome = Outcome::Response {
            success: false,
            code: "503".into(),
            served_by: e.outcome.served_by().cloned(),
            location: None,
        }
    };
    fail(&mut run.entries[9]);
    let check = EjectedCheck {
        selection: Selection::default(),
        version: "v2".into(),
        pods: Vec::new(),
        within: Duration::from_millis(20),
        confidence: Confidence::default(),
    };
    let never = ejected(&run, &check);
    assert_eq!(never.verdict, Verdict::Fail, "{}", never.summary);
    assert!(never.summary.starts_with("85 of 170"), "{}", never.summary);

    // Served by v1 from request 30 on: ejected in time.
    for entry in run.entries.iter_mut().skip(30) {
        entry.outcome = Outcome::Response {
            success: true,
            code: "200".into(),
            served_by: Some(echo("v1", "a")),
            location: None,
        };
    }
    let ejected_in_time = ejected(&run, &check);
    assert_eq!(
        ejected_in_time.verdict,
        Verdict::Pass,
        "{}",
        ejected_in_time.summary
    );

    let healthy = ejected(&interleaved(&["v1", "v2"], 200), &check);
    assert_eq!(
        healthy.verdict,
        Verdict::Inconclusive,
        "{}",
        healthy.summary
    );

    // The phase's routing is applied while requests 0–19 are in flight; the
    // only failure is one of them, and the proxy ejects at once: the
    // ejection counts from that failure (it was inconclusive before).
    let mut switched = run.clone();
    for (i, entry) in switched.entries.iter_mut().enumerate() {
        entry.phase = usize::from(i >= 20);
        entry.switching = i < 20;
    }
    let in_phase = EjectedCheck {
        selection: Selection {
            phase: Some(1),
            ..Selection::default()
        },
        ..check.clone()
    };
    let during_switch = ejected(&switched, &in_phase);
    assert_eq!(
        during_switch.verdict,
        Verdict::Pass,
        "{}",
        during_switch.summary
    );
    // Before the switch (not in flight during it) a failure starts nothing.
    for entry in switched.entries.iter_mut().take(20) {
        entry.switching = false;
    }
    let before = ejected(&switched, &in_phase);
    assert_eq!(before.verdict, Verdict::Inconclusive, "{}", before.summary);
}

#[test]
fn send_order_releases_each_request_once_all_sent_before_it_have_ended() {
    let mut run = interleaved(&["v1", "v2"], 5);
    let mut ended: Vec<Entry> = run.entries.drain(..).collect();
    ended.swap(0, 3); // requests 3, 1, 2, 0, 4 end in that order
    let mut order = sequential::SendOrder::default();
    let mut released = Vec::new();
    let mut after_each = Vec::new();
    for entry in ended {
        order.push(entry, |e| released.push(e.order));
        after_each.push(released.len());
    }
    assert_eq!(released, vec![0, 1, 2, 3, 4]);
    assert_eq!(
        after_each,
        vec![0, 0, 0, 4, 5],
        "held back until request 0 ended"
    );
}

#[test]
fn retried_names_each_connection_with_misses() {
    let mut run = ledger(&[(1, "v1", "a", 3), (2, "v1", "a", 2)]);
    for entry in run.entries.iter_mut().filter(|e| e.connection == 2) {
        entry.outcome = Outcome::ConnectionError("connection closed before the answer".into());
    }
    let check = RetriedCheck {
        selection: Selection::default(),
        attempts: 1,
        status: None,
        confidence: Confidence::default(),
    };
    let assertion = retried(&run, &check);
    assert_eq!(assertion.verdict, Verdict::Fail);
    let first = run
        .entries
        .iter()
        .find(|e| e.connection == 2)
        .map(|e| e.id.clone())
        .unwrap_or_default();
    assert_eq!(
        assertion.findings[0],
        format!(
            "connection 2: 2 of 2 requests missed, the first {first}: connection_error: connection closed before the answer"
        )
    );
    assert!(assertion.findings[1].starts_with("request "));
}

fn tally(client: usize, connection: u64, answers: &[Result<(), &str>]) -> Heartbeats {
    let mut tally = Heartbeats::new(client, connection);
    for answer in answers {
        tally.record(answer.map_err(str::to_owned));
    }
    tally
}

#[test]
fn heartbeats_pass_only_when_every_one_was_answered() {
    let check = HeartbeatsCheck {
        selection: Selection::default(),
        confidence: Confidence::default(),
    };
    let mut run = ledger(&[(1, "v1", "a", 3)]);
    assert_eq!(heartbeats(&run, &check).verdict, Verdict::Inconclusive);
    assert_eq!(
        heartbeats(&run, &check).summary,
        "no selected heartbeat was sent"
    );

    run.heartbeats = vec![tally(0, 1, &[Ok(()); 4]), tally(0, 2, &[Ok(()); 4])];
    let pass = heartbeats(&run, &check);
    assert_eq!(pass.verdict, Verdict::Pass);
    assert_eq!(
        pass.summary,
        "all 8 heartbeats were answered by a heartbeat"
    );
    assert_eq!(pass.evidence.counts["answered"], 8);

    run.heartbeats[1] = tally(
        0,
        2,
        &[
            Ok(()),
            Err("connection closed before the answer"),
            Err("late"),
        ],
    );
    let fail = heartbeats(&run, &check);
    assert_eq!(fail.verdict, Verdict::Fail);
    assert_eq!(
        fail.summary,
        "2 of 7 heartbeats were not answered by a heartbeat; the first on connection 2: connection closed before the answer"
    );
    assert_eq!(
        fail.findings,
        [
            "connection 2 (client 0): 3 heartbeats sent, 1 answered, 2 not: connection closed before the answer"
        ]
    );

    // Another client's heartbeats are not this check's.
    let other = HeartbeatsCheck {
        selection: Selection {
            clients: vec![1],
            ..Selection::default()
        },
        ..check
    };
    assert_eq!(heartbeats(&run, &other).verdict, Verdict::Inconclusive);
}

/// An L4 proxy in front of 150 keep-alive connections, weighted round robin
/// 4:1 per connection: every connection pinned to one version, the
/// connections split 80/20.
fn pinned_by_weight(per_connection: u64) -> Ledger {
    let groups: Vec<(u64, &str, &str, u64)> = (0..150)
        .map(|c| {
            let (version, pod) = if c % 5 == 4 { ("v2", "b") } else { ("v1", "a") };
            (c, version, pod, per_connection)
        })
        .collect();
    ledger(&groups)
}

#[test]
fn split_per_connection_fails_an_l4_proxy_that_splits_connections_by_weight() {
    // Defect 1: `per: connection` was dropped when checks were built, so this PASSED.
    let ledger = pinned_by_weight(200);
    let mut check = split_check(&[("v1", 80.0), ("v2", 20.0)]);
    let pooled = split(&ledger, &check);
    assert_eq!(pooled.verdict, Verdict::Pass, "{}", pooled.summary);
    check.per = Per::Connection;
    let within = split(&ledger, &check);
    assert_eq!(within.verdict, Verdict::Fail, "{}", within.summary);
    assert!(
        within.summary.starts_with(
            "150 of 150 connections do not hold the shares: connection 0: 0/200 requests to v2"
        ),
        "{}",
        within.summary
    );
    assert_eq!(within.claim, "split v1=80 v2=20 per connection");
}

#[test]
fn balanced_per_run_passes_pinned_connections_that_are_balanced_overall() {
    // Defect 2: `per: run` was dropped, so this failed as if per connection.
    let ledger = ledger(&[
        (1, "v1", "a", 4000),
        (2, "v2", "b", 4000),
        (3, "v1", "a", 4000),
        (4, "v2", "b", 4000),
    ]);
    let mut check = balanced_check();
    check.per = Per::Run;
    let run = balanced(&ledger, &check);
    assert_eq!(run.verdict, Verdict::Pass, "{}", run.summary);
    check.per = Per::Connection;
    let per_connection = balanced(&ledger, &check);
    assert_eq!(
        per_connection.verdict,
        Verdict::Fail,
        "{}",
        per_connection.summary
    );
    // Pooled 14 000 requests are short of the 14 521 the run plan needs.
    let short = ledger_of_pooled(7000);
    check.per = Per::Run;
    assert_eq!(balanced(&short, &check).verdict, Verdict::Inconclusive);
}

fn ledger_of_pooled(each: u64) -> Ledger {
    ledger(&[(1, "v1", "a", each), (2, "v2", "b", each)])
}

#[test]
fn distribution_plans_are_exact_at_the_alpha_the_test_runs_at() {
    // Defect 9: `balanced` was planned at alpha and tested at alpha/2.
    let c = Confidence::default();
    let run = distribution::plan(&[1.0, 1.0], Per::Run, 1, c).expect("a plan");
    let direct = stats::plan::split(&[1.0, 1.0], c.alpha, c.power, c.detect).expect("a plan");
    assert_eq!(run.n, direct.n);
    assert!(run.power >= 0.99, "{}", run.power);
    let four = distribution::plan(&[1.0, 1.0], Per::Connection, 4, c).expect("a plan");
    let at_quarter =
        stats::plan::split(&[1.0, 1.0], c.alpha.split(4), c.power, c.detect).expect("a plan");
    assert_eq!(four.n, at_quarter.n);
    assert!(four.power >= 0.99, "{}", four.power);
    assert!(four.n > run.n);
}

fn timed(id: usize, code: &str, took: Duration) -> Entry {
    let mut entry = failed(&format!("r{id}"), code, took);
    entry.order = id as u64;
    entry
}

#[test]
fn a_fault_with_abort_and_delay_verifies_both() {
    // Defect 3: only the abort was verified when both were given.
    let check = FractionCheck {
        kind: "fault",
        selection: Selection::default(),
        parts: Parts::Two(
            Part {
                property: Property::Status("503".into()),
                fraction: 0.5,
            },
            Part {
                property: Property::Delayed(Duration::from_secs(1)),
                fraction: 0.5,
            },
        ),
        confidence: Confidence::default(),
    };
    // Half aborted, none delayed: what a VirtualService with only the abort does.
    let entries = (0..20_000)
        .map(|i| {
            timed(
                i,
                if i % 2 == 0 { "503" } else { "200" },
                Duration::from_millis(1),
            )
        })
        .collect::<Vec<_>>();
    let only_abort = Ledger {
        sent: entries.len() as u64,
        entries,
        heartbeats: Vec::new(),
    };
    let verdict = fraction_check(&only_abort, &check);
    assert_eq!(verdict.verdict, Verdict::Fail, "{}", verdict.summary);
    assert!(
        verdict.summary.contains("delayed by 1s"),
        "{}",
        verdict.summary
    );
    // Both, independently: every other request aborted, every other pair delayed.
    let entries = (0..20_000)
        .map(|i| {
            let took = if (i / 2) % 2 == 0 { 1000 } else { 1 };
            timed(
                i,
                if i % 2 == 0 { "503" } else { "200" },
                Duration::from_millis(took),
            )
        })
        .collect::<Vec<_>>();
    let both = Ledger {
        sent: entries.len() as u64,
        entries,
        heartbeats: Vec::new(),
    };
    let verdict = fraction_check(&both, &check);
    assert_eq!(verdict.verdict, Verdict::Pass, "{}", verdict.summary);
    assert_eq!(
        verdict.claim,
        "fault answered 503 50%, delayed by 1s or more 50%"
    );
}

#[test]
fn a_split_over_lost_requests_fails_naming_the_first() {
    // Issue 16's rule: a request lost to a broken connection could have
    // gone anywhere, so the shares cannot pass; a proxy failing wholesale
    // fails rather than leaving the split inconclusive.
    let mut ledger = ledger(&[(1, "v1", "a", 2000), (1, "v2", "b", 8000)]);
    let mut broken = failed("broken-1", "ok", Duration::from_millis(1));
    broken.outcome = Outcome::ConnectionError("connection reset".into());
    ledger.entries.push(broken);
    ledger.sent += 1;
    let check = split_check(&[("v1", 20.0), ("v2", 80.0)]);
    let verdict = split(&ledger, &check);
    assert_eq!(verdict.verdict, Verdict::Fail, "{}", verdict.summary);
    assert_eq!(
        verdict.summary,
        "1 selected requests were lost before an endpoint answered; the first: request broken-1: connection error: connection reset"
    );
    let wholesale = Ledger {
        sent: 100,
        entries: (0..100)
            .map(|i| failed(&format!("r{i}"), "503", Duration::from_millis(1)))
            .collect(),
        heartbeats: Vec::new(),
    };
    assert_eq!(split(&wholesale, &check).verdict, Verdict::Fail);
}
