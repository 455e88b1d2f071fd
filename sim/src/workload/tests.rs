//! The workload against the fleet directly (no proxy): budgets, pacing,
//! mixes, one outcome per request.

use meshbench_wire::thrift::ServerCodec;
use std::collections::BTreeMap;

use meshbench_wire::Protocol;

use super::*;
use crate::fleet::{Behaviour, Fleet, FleetOptions, Latency, ServiceSpec, VersionSpec};

pub(super) async fn fleet(protocol: Protocol, behaviour: Behaviour) -> Fleet {
    let spec = ServiceSpec {
        service: "svc.default.svc.cluster.local".into(),
        protocol,
        port: 9000,
        thrift: ServerCodec::DETECT,
        versions: vec![VersionSpec {
            name: "v1".into(),
            replicas: 1,
            labels: BTreeMap::new(),
            behaviour,
        }],
    };
    Fleet::start(&[spec], &FleetOptions::default())
        .await
        .expect("fleet starts")
}

pub(super) fn thrift_call() -> Call {
    Call::Thrift {
        method: "sayHello".into(),
        name: "Aeraki".into(),
        options: ThriftOptions::default(),
        context: BTreeMap::new(),
    }
}

pub(super) fn client(
    target: SocketAddr,
    pace: Pace,
    budget: Budget,
    mix: Vec<RequestClass>,
) -> ClientPlan {
    ClientPlan {
        name: "client".into(),
        target,
        authority: None,
        connections: 2,
        in_flight: 4,
        lifetime: None,
        pause: None,
        pace,
        budget,
        mix,
    }
}

pub(super) fn class(name: &str, weight: u32, call: Call) -> RequestClass {
    RequestClass {
        name: name.into(),
        weight,
        call,
    }
}

async fn run_plan(plan: &WorkloadPlan) -> Ledger {
    run(
        plan,
        1,
        Arc::new(Progress::default()),
        CancellationToken::new(),
    )
    .await
    .expect("runs")
}

#[tokio::test]
async fn a_closed_loop_sends_exactly_its_budget_with_one_outcome_each() {
    let fleet = fleet(Protocol::Thrift, Behaviour::default()).await;
    let target = fleet.endpoints()[0].identity.addr;
    let mix = vec![
        class("hello", 3, thrift_call()),
        class("other", 1, thrift_call()),
    ];
    let plan = WorkloadPlan {
        clients: vec![client(
            target,
            Pace::Closed,
            Budget {
                requests: Some(400),
                duration: None,
            },
            mix,
        )],
        request_timeout: Duration::from_secs(10),
        id_prefix: String::new(),
    };
    let ledger = run_plan(&plan).await;
    assert_eq!(ledger.sent, 400);
    ledger
        .check_conservation()
        .expect("one outcome per request");
    assert_eq!(
        ledger.outcome_counts(),
        BTreeMap::from([("success".to_owned(), 400)])
    );
    let connections: std::collections::BTreeSet<u64> =
        ledger.entries.iter().map(|e| e.connection).collect();
    assert_eq!(connections.len(), 2, "two long-lived connections, no more");
    assert!(ledger.entries.iter().any(|e| e.class == "other"));
    assert_eq!(fleet.collector().len(), 400);
    fleet.stop().await;
}

/// One HTTP connection with one request in flight, `requests` in all, its
/// connections living `lifetime`.
fn one_at_a_time(target: SocketAddr, requests: u64, lifetime: Lifetime) -> WorkloadPlan {
    let http = Call::Http {
        method: "GET".into(),
        path: "/hello".into(),
        headers: vec![],
        body: String::new(),
    };
    let budget = Budget {
        requests: Some(requests),
        duration: None,
    };
    let mut plan_client = client(target, Pace::Closed, budget, vec![class("get", 1, http)]);
    plan_client.connections = 1;
    plan_client.in_flight = 1;
    plan_client.lifetime = Some(lifetime);
    WorkloadPlan {
        clients: vec![plan_client],
        request_timeout: Duration::from_secs(10),
        id_prefix: String::new(),
    }
}

#[tokio::test]
async fn lifetime_replaces_connections() {
    let fleet = fleet(Protocol::Http, Behaviour::default()).await;
    let target = fleet.endpoints()[0].identity.addr;
    let plan = one_at_a_time(target, 40, Lifetime::Requests(10));
    let ledger = run_plan(&plan).await;
    ledger.check_conservation().expect("conserved");
    let connections: std::collections::BTreeSet<u64> =
        ledger.entries.iter().map(|e| e.connection).collect();
    assert_eq!(connections.len(), 4, "40 requests, 10 per connection");
    fleet.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_lifetime_in_time_replaces_connections_when_it_is_up() {
    let slow = Behaviour {
        latency: Latency::Fixed(Duration::from_millis(10)),
        ..Behaviour::default()
    };
    let fleet = fleet(Protocol::Http, slow).await;
    let target = fleet.endpoints()[0].identity.addr;
    let life = Duration::from_millis(100);
    let plan = one_at_a_time(target, 60, Lifetime::Duration(life));
    let ledger = run_plan(&plan).await;
    ledger.check_conservation().expect("conserved");
    let mut spans: BTreeMap<u64, (Duration, Duration)> = BTreeMap::new();
    for entry in &ledger.entries {
        let span = spans
            .entry(entry.connection)
            .or_insert((entry.intended, entry.intended));
        span.0 = span.0.min(entry.intended);
        span.1 = span.1.max(entry.intended);
    }
    // 60 requests of 10 ms each take 600 ms: several connections, and none
    // started a request after its 100 ms were up.
    assert!(spans.len() >= 4, "{} connections", spans.len());
    for (connection, (first, last)) in spans {
        assert!(
            last - first < life,
            "connection {connection}: {first:?}..{last:?}"
        );
    }
    fleet.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_open_loop_keeps_its_schedule_and_counts_latency_from_the_intended_start() {
    // 100/s against a backend that takes 50 ms on ONE HTTP connection (one
    // request at a time): answers fall behind, but the schedule does not slip
    // (no coordinated omission) and each latency includes the queueing.
    let slow = Behaviour {
        latency: Latency::Fixed(Duration::from_millis(50)),
        ..Behaviour::default()
    };
    let fleet = fleet(Protocol::Http, slow).await;
    let target = fleet.endpoints()[0].identity.addr;
    let http = Call::Http {
        method: "GET".into(),
        path: "/hello".into(),
        headers: vec![],
        body: String::new(),
    };
    let mut plan_client = client(
        target,
        Pace::Open {
            rate: 100.0,
            poisson: false,
        },
        Budget {
            requests: Some(20),
            duration: None,
        },
        vec![class("get", 1, http)],
    );
    plan_client.connections = 1;
    let plan = WorkloadPlan {
        clients: vec![plan_client],
        request_timeout: Duration::from_secs(30),
        id_prefix: String::new(),
    };
    let ledger = run_plan(&plan).await;
    ledger.check_conservation().expect("conserved");
    let mut intended: Vec<Duration> = ledger.entries.iter().map(|e| e.intended).collect();
    intended.sort();
    let expected: Vec<Duration> = (1..=20).map(|i| Duration::from_millis(10 * i)).collect();
    assert_eq!(
        intended, expected,
        "requests start on schedule, whatever the answers do"
    );
    let last = ledger
        .entries
        .iter()
        .max_by_key(|e| e.intended)
        .expect("entries");
    // 20 answers x 50 ms one at a time end near 1 s; the last was due at 200 ms.
    assert!(
        last.latency >= Duration::from_millis(800),
        "{:?}",
        last.latency
    );
    fleet.stop().await;
}

#[tokio::test]
async fn an_unreachable_target_records_connection_errors_not_nothing() {
    let plan = WorkloadPlan {
        clients: vec![client(
            "127.0.0.1:9".parse().expect("addr"),
            Pace::Closed,
            Budget {
                requests: Some(10),
                duration: None,
            },
            vec![class("x", 1, thrift_call())],
        )],
        request_timeout: Duration::from_secs(1),
        id_prefix: String::new(),
    };
    let ledger = run_plan(&plan).await;
    ledger.check_conservation().expect("conserved");
    assert_eq!(
        ledger.outcome_counts(),
        BTreeMap::from([("connection_error".to_owned(), 10)])
    );
}

#[test]
fn unbounded_plans_are_refused() {
    let plan = WorkloadPlan {
        clients: vec![client(
            "127.0.0.1:9".parse().expect("addr"),
            Pace::Closed,
            Budget::default(),
            vec![class("x", 1, thrift_call())],
        )],
        request_timeout: Duration::from_secs(1),
        id_prefix: String::new(),
    };
    assert_eq!(plan.check(), Err(PlanError::Unbounded("client".into())));
}

fn dubbo_call() -> Call {
    Call::Dubbo {
        interface: crate::client::dubbo::DEMO_SERVICE.into(),
        method: "sayHello".into(),
        name: "Aeraki".into(),
        attachments: vec![],
    }
}

/// Two connections of 4 workers, 60 requests, a 5s pause every 10 requests:
/// `heartbeat` decides whether the pauses send heartbeats.
fn pausing(target: SocketAddr, heartbeat: Option<Duration>) -> WorkloadPlan {
    let mut plan_client = client(
        target,
        Pace::Closed,
        Budget {
            requests: Some(60),
            duration: None,
        },
        vec![class("hello", 1, dubbo_call())],
    );
    plan_client.pause = Some(Pause {
        every: 10,
        idle: Duration::from_secs(5),
        heartbeat,
    });
    WorkloadPlan {
        clients: vec![plan_client],
        request_timeout: Duration::from_secs(10),
        id_prefix: String::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_pause_keeps_the_connection_and_tallies_its_heartbeats() {
    let fleet = fleet(Protocol::Dubbo, Behaviour::default()).await;
    let target = fleet.endpoints()[0].identity.addr;
    let ledger = run_plan(&pausing(target, Some(Duration::from_secs(1)))).await;
    ledger.check_conservation().expect("conserved");
    assert_eq!(ledger.sent, 60);
    assert_eq!(
        ledger.outcome_counts(),
        BTreeMap::from([("success".to_owned(), 60)])
    );
    let mut per_connection: BTreeMap<u64, u64> = BTreeMap::new();
    for entry in &ledger.entries {
        *per_connection.entry(entry.connection).or_insert(0) += 1;
    }
    assert_eq!(per_connection.len(), 2, "no reconnection across the pauses");
    assert!(
        per_connection.values().all(|n| *n > 10),
        "each connection carried on after its first pause: {per_connection:?}"
    );
    let tallied: Vec<u64> = ledger.heartbeats.iter().map(|t| t.connection).collect();
    assert_eq!(
        tallied,
        per_connection.keys().copied().collect::<Vec<_>>(),
        "one tally per connection, by id"
    );
    for tally in &ledger.heartbeats {
        // A 5s pause with a heartbeat every 1s sends 4 (at 1s..4s), and
        // the fleet answers each; no pause after a connection's last request.
        let pauses = (per_connection[&tally.connection] - 1) / 10;
        assert_eq!(tally.sent, 4 * pauses, "{tally:?}");
        assert_eq!((tally.answered, tally.failed), (tally.sent, 0), "{tally:?}");
        assert_eq!(tally.first_failure, None);
    }
    fleet.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_pause_sends_no_heartbeat() {
    let fleet = fleet(Protocol::Dubbo, Behaviour::default()).await;
    let target = fleet.endpoints()[0].identity.addr;
    let ledger = run_plan(&pausing(target, None)).await;
    ledger.check_conservation().expect("conserved");
    assert_eq!(ledger.sent, 60);
    assert!(ledger.heartbeats.is_empty(), "{:?}", ledger.heartbeats);
    fleet.stop().await;
}

#[test]
fn pauses_that_cannot_run_are_refused() {
    let target: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let refused = |plan: &WorkloadPlan| match plan.check() {
        Err(PlanError::Pause { reason, .. }) => reason,
        other => panic!("not refused: {other:?}"),
    };
    let mut open = pausing(target, None);
    open.clients[0].pace = Pace::Open {
        rate: 10.0,
        poisson: false,
    };
    assert!(refused(&open).contains("open loop"));
    let mut thrift = pausing(target, Some(Duration::from_secs(1)));
    thrift.clients[0].mix = vec![class("x", 1, thrift_call())];
    assert!(refused(&thrift).contains("Dubbo"));
    let mut too_slow = pausing(target, Some(Duration::from_secs(5)));
    assert!(refused(&too_slow).contains("below the pause"));
    too_slow.clients[0].pause = Some(Pause {
        every: 0,
        idle: Duration::from_secs(1),
        heartbeat: None,
    });
    assert!(refused(&too_slow).contains("at least 1"));
    let mut churn = pausing(target, None);
    churn.clients[0].lifetime = Some(Lifetime::Requests(5));
    assert!(refused(&churn).contains("lifetime"));
    assert_eq!(pausing(target, None).check(), Ok(()));
}

/// Every field of a call reaches the wire (defect 4: the Thrift `method`
/// and the HTTP `body` were accepted but never sent): a `sayGoodbye` call
/// arrives as `sayGoodbye` and is answered, a body arrives with its length.
#[tokio::test]
async fn the_thrift_method_and_the_http_body_are_sent() {
    let budget = Budget {
        requests: Some(10),
        duration: None,
    };
    let thrift = fleet(Protocol::Thrift, Behaviour::default()).await;
    let goodbye = Call::Thrift {
        method: "sayGoodbye".into(),
        name: "Aeraki".into(),
        options: ThriftOptions::default(),
        context: BTreeMap::new(),
    };
    let target = thrift.endpoints()[0].identity.addr;
    let plan = WorkloadPlan {
        clients: vec![client(
            target,
            Pace::Closed,
            budget,
            vec![class("bye", 1, goodbye)],
        )],
        request_timeout: Duration::from_secs(10),
        id_prefix: String::new(),
    };
    let ledger = run_plan(&plan).await;
    assert_eq!(
        ledger.outcome_counts(),
        BTreeMap::from([("success".to_owned(), 10)])
    );
    let records = thrift.collector().records();
    assert_eq!(records.len(), 10);
    for record in &records {
        assert!(
            record
                .attributes
                .contains(&("method".to_owned(), "sayGoodbye".to_owned())),
            "{:?}",
            record.attributes
        );
    }
    thrift.stop().await;

    let http = fleet(Protocol::Http, Behaviour::default()).await;
    let post = Call::Http {
        method: "POST".into(),
        path: "/hello".into(),
        headers: vec![],
        body: "name=Aeraki".into(),
    };
    let target = http.endpoints()[0].identity.addr;
    let plan = WorkloadPlan {
        clients: vec![client(
            target,
            Pace::Closed,
            budget,
            vec![class("post", 1, post)],
        )],
        request_timeout: Duration::from_secs(10),
        id_prefix: String::new(),
    };
    run_plan(&plan).await;
    let records = http.collector().records();
    assert_eq!(records.len(), 10);
    for record in &records {
        assert!(
            record
                .attributes
                .contains(&("content-length".to_owned(), "11".to_owned())),
            "{:?}",
            record.attributes
        );
    }
    http.stop().await;
}

fn ended(order: u64) -> Entry {
    Entry {
        id: format!("r{order}"),
        order,
        class: "c".into(),
        client: 0,
        connection: 0,
        phase: 0,
        switching: false,
        intended: Duration::ZERO,
        latency: Duration::ZERO,
        service_time: Duration::ZERO,
        outcome: Outcome::Timeout,
    }
}

#[tokio::test]
async fn waiters_for_different_counts_each_wake_at_their_own() {
    let progress = Arc::new(Progress::default());
    let waiter = |n: u64| {
        let progress = Arc::clone(&progress);
        tokio::spawn(async move { progress.sent_reaches(n).await })
    };
    let (ten, twenty) = (waiter(10), waiter(20));
    tokio::task::yield_now().await;
    for _ in 0..5 {
        progress.count_sent();
    }
    // A count already reached resolves at once, and must not hide the
    // marks of those still waiting.
    progress.sent_reaches(3).await;
    for _ in 5..10 {
        progress.count_sent();
    }
    tokio::time::timeout(Duration::from_secs(5), ten)
        .await
        .expect("the waiter for 10 wakes at 10")
        .expect("joins");
    assert!(!twenty.is_finished(), "19 short of 20 is not 20");
    for _ in 10..20 {
        progress.count_sent();
    }
    tokio::time::timeout(Duration::from_secs(5), twenty)
        .await
        .expect("the waiter for 20 wakes at 20")
        .expect("joins");
}

#[tokio::test]
async fn a_subscriber_gets_what_ended_before_and_after_it_subscribed() {
    let progress = Progress::default();
    progress.record(ended(0));
    progress.record(ended(1));
    let mut ends = progress.subscribe();
    progress.record(ended(2));
    let mut orders = Vec::new();
    while let Ok(entry) = ends.try_recv() {
        orders.push(entry.order);
    }
    assert_eq!(orders, [0, 1, 2]);
    assert_eq!(progress.done.load(Ordering::SeqCst), 3);
    assert_eq!(
        progress.take_finished().len(),
        3,
        "the ledger keeps them all"
    );
}
