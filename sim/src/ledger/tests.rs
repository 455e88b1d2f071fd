use std::net::SocketAddr;
use std::sync::Arc;

use super::*;
use crate::fleet::Identity;

fn echo(pod: &str, attempt: u32) -> Echo {
    Echo {
        service: "svc".into(),
        version: "v1".into(),
        pod: pod.into(),
        addr: "127.0.0.1:1".into(),
        request_id: None,
        connection: 1,
        attempt,
        processing_us: 1,
    }
}

fn entry(id: &str, outcome: Outcome) -> Entry {
    Entry {
        id: id.into(),
        order: 0,
        class: "c".into(),
        client: 0,
        connection: 0,
        phase: 0,
        switching: false,
        intended: Duration::ZERO,
        latency: Duration::from_millis(2),
        service_time: Duration::from_millis(1),
        outcome,
    }
}

fn served(pod: &str, attempt: u32) -> Outcome {
    Outcome::Response {
        success: true,
        code: "ok".into(),
        served_by: Some(echo(pod, attempt)),
        location: None,
    }
}

fn record(id: &str, pod: &str, attempt: u32) -> Record {
    let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let mut identity = Identity::new("svc", "svc", ("v1", 0), addr, "run01");
    identity.pod = pod.into();
    Record {
        endpoint: Arc::new(identity),
        at: Duration::ZERO,
        request_id: Some(id.into()),
        connection: 1,
        attempt,
        attributes: vec![],
    }
}

#[test]
fn conservation_counts_and_duplicates() {
    let mut ledger = Ledger {
        sent: 2,
        entries: vec![entry("a", served("p1", 1))],
        heartbeats: Vec::new(),
    };
    assert_eq!(
        ledger.check_conservation(),
        Err(ConservationError::Count {
            sent: 2,
            recorded: 1
        })
    );
    ledger.entries.push(entry("a", Outcome::Timeout));
    assert_eq!(
        ledger.check_conservation(),
        Err(ConservationError::Duplicate("a".into()))
    );
    ledger.entries[1].id = "b".into();
    assert_eq!(ledger.check_conservation(), Ok(()));
    assert_eq!(
        ledger.outcome_counts(),
        BTreeMap::from([("success".into(), 1), ("timeout".into(), 1)])
    );
}

#[test]
fn every_heartbeat_sent_ends_answered_or_failed() {
    let mut tally = Heartbeats::new(0, 7);
    tally.record(Ok(()));
    tally.record(Err("no answer within 3s".into()));
    tally.record(Err("connection closed before the answer".into()));
    assert_eq!((tally.sent, tally.answered, tally.failed), (3, 1, 2));
    assert_eq!(tally.first_failure.as_deref(), Some("no answer within 3s"));
    let mut ledger = Ledger {
        heartbeats: vec![tally],
        ..Ledger::default()
    };
    assert_eq!(ledger.check_conservation(), Ok(()));
    ledger.heartbeats[0].sent = 4;
    assert_eq!(
        ledger.check_conservation(),
        Err(ConservationError::Heartbeats {
            connection: 7,
            sent: 4,
            ended: 3
        })
    );
}

#[test]
fn the_join_finds_mirror_copies_retries_and_lost_requests() {
    let ledger = Ledger {
        sent: 3,
        entries: vec![
            entry("served", served("p1", 1)),
            entry("retried", served("p2", 2)),
            entry("lost", Outcome::Timeout),
        ],
        heartbeats: Vec::new(),
    };
    let received = vec![
        record("served", "p1", 1),
        record("served", "mirror", 2),
        record("retried", "p1", 1),
        record("retried", "p2", 2),
        record("lost", "p1", 1),
        record("stranger", "p1", 1),
    ];
    let joined = ledger.join(&received);
    let copies: Vec<(&str, &str)> = joined
        .copies
        .iter()
        .map(|r| {
            (
                r.request_id.as_deref().unwrap_or_default(),
                r.endpoint.pod.as_str(),
            )
        })
        .collect();
    assert_eq!(
        copies,
        vec![("served", "mirror"), ("retried", "p1"), ("lost", "p1")]
    );
    assert_eq!(joined.arrivals["retried"], 2);
    assert_eq!(joined.lost_after_arrival, vec!["lost".to_owned()]);
    assert_eq!(joined.unknown.len(), 1);
}

#[test]
fn latencies_are_kept_corrected_and_uncorrected() {
    let ledger = Ledger {
        sent: 1,
        entries: vec![entry("a", served("p1", 1))],
        heartbeats: Vec::new(),
    };
    let latencies = ledger.latencies(|_| true);
    assert_eq!(latencies.corrected.len(), 1);
    assert!(latencies.corrected.value_at_quantile(0.5) >= 1990);
    assert!(latencies.uncorrected.value_at_quantile(0.5) <= 1001);
}
