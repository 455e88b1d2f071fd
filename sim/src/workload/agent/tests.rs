//! The workload agent against the fleet directly: a run on an agent gives
//! the ledger an in-process run gives, routing changes are stamped only
//! once confirmed, and every way requests could go missing between agent
//! and runner is an error, never a shorter ledger.

use meshbench_wire::Protocol;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::fleet::{Behaviour, Latency};
use crate::ledger::Outcome;
use crate::workload::tests::{class, client, fleet, thrift_call};
use crate::workload::{Budget, Pace};

/// An agent serving on a free loopback port until the token is cancelled.
async fn agent(reach: Reach) -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(listener, reach, shutdown.clone()));
    (addr, shutdown)
}

/// `requests` Thrift calls to `target` over one connection, one at a time,
/// so that the order of the draws, and so the ledger, is the seed's alone.
fn one_at_a_time(target: SocketAddr, requests: u64) -> WorkloadPlan {
    let mut plan = client(
        target,
        Pace::Closed,
        Budget {
            requests: Some(requests),
            duration: None,
        },
        vec![
            class("hello", 3, thrift_call()),
            class("other", 1, thrift_call()),
        ],
    );
    plan.connections = 1;
    plan.in_flight = 1;
    WorkloadPlan {
        clients: vec![plan],
        request_timeout: Duration::from_secs(10),
        id_prefix: "r-".to_owned(),
    }
}

/// What of an entry depends on neither the clock nor the fleet's count of
/// connections: its id, place, class, connection, phase, and how it ended
/// by whom.
type Timeless = (String, u64, String, u64, usize, String, Option<String>);

fn timeless(ledger: &Ledger) -> Vec<Timeless> {
    let mut entries: Vec<_> = ledger
        .entries
        .iter()
        .map(|e| {
            (
                e.id.clone(),
                e.order,
                e.class.clone(),
                e.connection,
                e.phase,
                e.outcome.label(),
                e.outcome.served_by().map(|echo| echo.pod.clone()),
            )
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

#[tokio::test]
async fn a_run_on_an_agent_gives_the_ledger_of_a_run_in_process() {
    let fleet = fleet(Protocol::Thrift, Behaviour::default()).await;
    let plan = one_at_a_time(fleet.endpoints()[0].identity.addr, 300);
    let here = super::super::run(
        &plan,
        7,
        Arc::new(Progress::default()),
        CancellationToken::new(),
    )
    .await
    .expect("runs in process");
    let (addr, shutdown) = agent(Reach::Loopback).await;
    let progress = Arc::new(Progress::default());
    let mut mirrored = progress.subscribe();
    let there = run_remote(
        addr,
        &plan,
        7,
        Arc::clone(&progress),
        CancellationToken::new(),
    )
    .await
    .expect("runs on the agent");
    assert_eq!(there.sent, 300);
    there.check_conservation().expect("one outcome per request");
    let (there_now, here_now) = (timeless(&there), timeless(&here));
    assert!(
        there_now == here_now,
        "the agent's ledger differs from the in-process one, first at {:?}",
        there_now.iter().zip(&here_now).find(|(a, b)| a != b)
    );
    assert_eq!(progress.sent.load(Ordering::SeqCst), 300);
    let mut streamed = 0;
    while mirrored.recv().await.is_some() {
        streamed += 1;
    }
    assert_eq!(
        streamed, 300,
        "every entry reached the runner's monitors as it ended"
    );
    assert_eq!(fleet.collector().len(), 600);
    shutdown.cancel();
    fleet.stop().await;
}

/// Runs `plan` on a fresh agent while `change` runs against the runner's
/// progress; the ledger, and what `change` returned.
async fn run_with_change<F, Fut>(plan: &WorkloadPlan, change: F) -> (Ledger, (u64, u64))
where
    F: FnOnce(Arc<Progress>) -> Fut,
    Fut: Future<Output = (u64, u64)>,
{
    let (addr, shutdown) = agent(Reach::Loopback).await;
    let progress = Arc::new(Progress::default());
    let (ledger, marks) = tokio::join!(
        run_remote(
            addr,
            plan,
            3,
            Arc::clone(&progress),
            CancellationToken::new()
        ),
        change(Arc::clone(&progress))
    );
    shutdown.cancel();
    (ledger.expect("runs on the agent"), marks)
}

/// Every request sent before `begun` carries phase 0, every one from
/// `confirmed` on phase 1; and the change happened.
fn stamped_as_confirmed(ledger: &Ledger, (begun, confirmed): (u64, u64)) {
    assert!(begun <= confirmed, "{begun} > {confirmed}");
    for entry in &ledger.entries {
        if entry.order < begun {
            assert_eq!(entry.phase, 0, "sent before the change began: {entry:?}");
        }
        if entry.order >= confirmed {
            assert_eq!(
                entry.phase, 1,
                "sent once the change was confirmed: {entry:?}"
            );
        }
    }
    assert!(
        ledger.entries.iter().any(|e| e.phase == 1),
        "the change reached the agent"
    );
}

#[tokio::test]
async fn a_routing_change_is_stamped_only_once_the_agent_confirms_it() {
    let behaviour = Behaviour {
        latency: Latency::Fixed(Duration::from_millis(2)),
        ..Behaviour::default()
    };
    let fleet = fleet(Protocol::Thrift, behaviour).await;
    let mut plan = one_at_a_time(fleet.endpoints()[0].identity.addr, 400);
    plan.clients[0].in_flight = 4;
    let (ledger, marks) = run_with_change(&plan, |progress| async move {
        progress.sent_reaches(100).await;
        // What the runner has seen is at most what the agent has sent.
        let begun = progress.sent.load(Ordering::SeqCst);
        progress.begin_switch(1).await;
        progress.end_switch(1).await;
        // The confirmation carries the agent's count when it took effect.
        (begun, progress.sent.load(Ordering::SeqCst))
    })
    .await;
    assert_eq!(ledger.sent, 400);
    stamped_as_confirmed(&ledger, marks);
    fleet.stop().await;
}

/// A change due at once (a time trigger of 0 s) comes before the agent is
/// even reached: it is queued for it, not missed.
#[tokio::test]
async fn a_change_due_before_the_agent_is_reached_is_relayed_not_missed() {
    let fleet = fleet(Protocol::Thrift, Behaviour::default()).await;
    let plan = one_at_a_time(fleet.endpoints()[0].identity.addr, 200);
    let (ledger, marks) = run_with_change(&plan, |progress| async move {
        progress.begin_switch(1).await;
        progress.end_switch(1).await;
        (0, progress.sent.load(Ordering::SeqCst))
    })
    .await;
    stamped_as_confirmed(&ledger, marks);
    fleet.stop().await;
}

#[tokio::test]
async fn an_agent_on_loopback_refuses_a_plan_that_leaves_it() {
    let (addr, shutdown) = agent(Reach::Loopback).await;
    let target: SocketAddr = "10.213.0.2:9090".parse().expect("an address");
    let result = run_remote(
        addr,
        &one_at_a_time(target, 10),
        1,
        Arc::new(Progress::default()),
        CancellationToken::new(),
    )
    .await;
    match result {
        Err(AgentError::Failed(reason)) => assert!(reason.contains("off loopback"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    shutdown.cancel();
}

/// Cancelled (Ctrl-C, or a stalled proxy), the agent ends every request
/// in flight as `unfinished` and the runner gets the whole ledger, for
/// the caller to say why the run ended.
#[tokio::test]
async fn a_cancelled_run_gives_the_whole_ledger_with_what_was_in_flight_unfinished() {
    let behaviour = Behaviour {
        latency: Latency::Fixed(Duration::from_millis(5)),
        ..Behaviour::default()
    };
    let fleet = fleet(Protocol::Thrift, behaviour).await;
    let plan = one_at_a_time(fleet.endpoints()[0].identity.addr, 1_000_000);
    let (addr, shutdown) = agent(Reach::Loopback).await;
    let progress = Arc::new(Progress::default());
    let cancel = CancellationToken::new();
    let interrupt = async {
        progress.sent_reaches(20).await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(
        run_remote(addr, &plan, 1, Arc::clone(&progress), cancel.clone()),
        interrupt
    );
    let ledger = result.expect("the whole ledger");
    ledger
        .check_conservation()
        .expect("one outcome per request");
    assert!(
        ledger.sent >= 20 && ledger.sent < 1_000_000,
        "{}",
        ledger.sent
    );
    assert!(
        ledger
            .entries
            .iter()
            .any(|e| e.outcome == Outcome::Unfinished),
        "the request in flight at the cancel is unfinished"
    );
    shutdown.cancel();
    fleet.stop().await;
}

/// A fake agent that reads the runner's `run` and answers with `lines`,
/// then closes the connection.
async fn scripted(lines: Vec<String>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("a runner");
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut run = String::new();
        read.read_line(&mut run).await.expect("the run");
        for line in lines {
            write.write_all(line.as_bytes()).await.expect("writes");
            write.write_all(b"\n").await.expect("writes");
        }
    });
    addr
}

fn ended_entry(n: u64) -> String {
    let entry = Entry {
        id: format!("r-{n}"),
        order: n,
        class: "hello".to_owned(),
        client: 0,
        connection: 1,
        phase: 0,
        switching: false,
        intended: Duration::ZERO,
        latency: Duration::from_millis(1),
        service_time: Duration::from_millis(1),
        outcome: Outcome::Timeout,
    };
    serde_json::to_string(&Event::Ended(Box::new(entry))).expect("serialises")
}

async fn run_against(lines: Vec<String>) -> Result<Ledger, AgentError> {
    let addr = scripted(lines).await;
    let target: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    run_remote(
        addr,
        &one_at_a_time(target, 3),
        1,
        Arc::new(Progress::default()),
        CancellationToken::new(),
    )
    .await
}

#[tokio::test]
async fn requests_lost_between_agent_and_runner_are_an_error_not_a_short_ledger() {
    let end = |ended: u64| {
        serde_json::to_string(&Event::End {
            sent: 3,
            ended,
            heartbeats: vec![],
            reconnects: 0,
        })
        .expect("serialises")
    };
    let sent = serde_json::to_string(&Event::Sent(3)).expect("serialises");
    let cut_short = run_against(vec![sent.clone(), ended_entry(0), ended_entry(1)]).await;
    assert!(
        matches!(cut_short, Err(AgentError::Lost(_))),
        "{cut_short:?}"
    );
    let miscounted = run_against(vec![sent.clone(), ended_entry(0), ended_entry(1), end(3)]).await;
    assert!(
        matches!(miscounted, Err(AgentError::Lost(_))),
        "{miscounted:?}"
    );
    let unanswered = run_against(vec![sent.clone(), ended_entry(0), ended_entry(1), end(2)]).await;
    match unanswered {
        Err(AgentError::Lost(e)) => assert!(e.contains("own ledger"), "{e}"),
        other => panic!("a ledger without an outcome for each request sent: {other:?}"),
    }
    let whole = run_against(vec![
        sent,
        ended_entry(0),
        ended_entry(1),
        ended_entry(2),
        end(3),
    ])
    .await
    .expect("a whole run");
    assert_eq!(whole.entries.len(), 3);
    let garbage = run_against(vec!["{\"ended\": 7}".to_owned()]).await;
    assert!(
        matches!(garbage, Err(AgentError::Protocol(_))),
        "{garbage:?}"
    );
    let stray = run_against(vec![
        serde_json::to_string(&Event::Confirmed { sent: 0 }).expect("json"),
    ])
    .await;
    assert!(matches!(stray, Err(AgentError::Protocol(_))), "{stray:?}");
}

#[tokio::test]
async fn a_runner_that_speaks_out_of_turn_is_refused() {
    let (addr, shutdown) = agent(Reach::Loopback).await;
    let stream = TcpStream::connect(addr).await.expect("connects");
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    lines
        .send(serde_json::to_string(&Command::Stop).expect("json"))
        .await
        .expect("sends");
    let answer = lines.next().await.expect("an answer").expect("a line");
    let event: Event = serde_json::from_str(&answer).expect("an event");
    assert!(
        matches!(event, Event::Failed(ref r) if r.contains("first command")),
        "{event:?}"
    );
    let stream = TcpStream::connect(addr).await.expect("connects");
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    lines.send("not json".to_owned()).await.expect("sends");
    let answer = lines.next().await.expect("an answer").expect("a line");
    let event: Event = serde_json::from_str(&answer).expect("an event");
    assert!(
        matches!(event, Event::Failed(ref r) if r.contains("malformed")),
        "{event:?}"
    );
    shutdown.cancel();
}

#[test]
fn the_plan_crosses_the_wire_unchanged() {
    let target: SocketAddr = "127.0.0.1:9090".parse().expect("an address");
    let plan = one_at_a_time(target, 5);
    let run = Command::Run {
        plan: plan.clone(),
        seed: 9,
    };
    let back: Command =
        serde_json::from_str(&serde_json::to_string(&run).expect("json")).expect("reads back");
    assert_eq!(back, run);
}

/// A whole log of `n` requests, as `run_logging` writes it.
fn whole_log(n: u64) -> Vec<String> {
    let mut lines: Vec<String> = (0..n).map(ended_entry).collect();
    lines.push(
        serde_json::to_string(&Event::End {
            sent: n,
            ended: n,
            heartbeats: vec![],
            reconnects: 0,
        })
        .expect("serialises"),
    );
    lines
}

proptest::proptest! {
    /// A log cut short, missing a line or holding one twice is never read
    /// as a ledger: the requests it lost (or counts twice) are an error.
    #[test]
    fn a_damaged_log_is_never_a_ledger(
        n in 1u64..40,
        at in proptest::prelude::any::<proptest::sample::Index>(),
        damage in 0u8..3,
    ) {
        let mut lines = whole_log(n);
        let i = at.index(lines.len());
        match damage {
            0 => lines.truncate(i),
            1 => { lines.remove(i); }
            _ => { let twice = lines[i].clone(); lines.insert(i, twice); }
        }
        proptest::prop_assert!(ledger_of_log(&lines.join("\n")).is_err());
    }

    /// The whole log reads back whole; any text at all reads without a panic.
    #[test]
    fn a_whole_log_reads_back_and_any_text_reads_without_panic(n in 1u64..40, text in ".*") {
        let (ledger, notes) = ledger_of_log(&whole_log(n).join("\n")).expect("a whole log");
        proptest::prop_assert_eq!(ledger.entries.len() as u64, n);
        proptest::prop_assert!(notes.is_empty());
        let _ = ledger_of_log(&text);
    }
}
