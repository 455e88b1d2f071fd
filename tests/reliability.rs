//! The reliability probes (`meshbench reliability`) against meshproxy
//! (`--proxy builtin-process`) at the tests' scale, each held to what the
//! proxy promises: no call lost or failed among the well-formed ones,
//! memory within its budget and given back, declared sizes and garbage
//! closed at once, descriptors refused cleanly and recovered from. Every
//! property is deterministic (counts, and bounds on memory with the
//! budget's own slack); nothing here is a timing target.

use meshbench::reliability::{Measured, Probe, Scale, Stand, Subject};

const MIB: u64 = 1024 * 1024;

/// One probe at a time: each measures one proxy's memory and descriptors,
/// and none should compete with another's load for the two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn probe(probe: Probe) -> Measured {
    let _alone = ONE_AT_A_TIME.lock().await;
    let stand = Stand::start(Subject::Meshproxy)
        .await
        .expect("fleet and meshproxy start");
    let measured = probe
        .run(Subject::Meshproxy, stand, Scale::TEST)
        .await
        .expect("the probe runs");
    eprintln!("{}: {}", probe.name(), measured.summary());
    assert_eq!(measured.lost, 0, "every call sent has an outcome");
    assert_eq!(measured.failed, 0, "every well-formed call succeeds");
    assert!(measured.sent > 0);
    assert!(
        measured.answers_after,
        "still answers: {:?}",
        measured.notes
    );
    measured
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_frames_stay_within_the_budget_and_memory_comes_back() {
    let m = probe(Probe::HeldFrames).await;
    let [before, held, after] = m.rss;
    // meshproxy's default budget is 256 MiB; 30 frames of 15 MB are 429 MiB.
    assert!(held <= before + 256 * MIB + 48 * MIB, "{m:?}");
    assert!(after <= before + 32 * MIB, "given back: {m:?}");
    let [closed, offered] = m.closed.expect("counted");
    assert!(
        closed > 0 && closed < offered,
        "some refused, some held: {m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_sizes_past_the_limit_are_closed_at_once() {
    let m = probe(Probe::DeclaredSize).await;
    let [closed, offered] = m.closed.expect("counted");
    assert_eq!(closed, offered, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_held_and_released() {
    let m = probe(Probe::IdleConnections).await;
    let [before, held, after] = m.descriptors;
    // The proxy counts every one of them open, and each is one of its
    // descriptors (its others may close between the readings, so `before`
    // is no floor to add to).
    let offered = Scale::TEST.idle_connections;
    assert!(m.active.is_some_and(|n| n >= offered as u64), "{m:?}");
    assert!(held >= offered, "{m:?}");
    assert!(after <= before + 8, "descriptors released: {m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_closed_and_good_calls_all_succeed() {
    let m = probe(Probe::Garbage).await;
    let [closed, offered] = m.closed.expect("counted");
    assert_eq!(closed, offered, "{m:?}");
    assert_eq!(m.ok, m.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_switches_under_load_lose_nothing() {
    let m = probe(Probe::Reloads).await;
    let reloads = Scale::TEST.reloads;
    assert_eq!(
        m.reloads,
        Some([reloads, reloads]),
        "every switch applied under load: {m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_descriptor_limit_connections_are_refused_and_service_recovers() {
    let m = probe(Probe::Descriptors).await;
    let [closed, _] = m.closed.expect("counted");
    assert!(
        closed > 0,
        "refused cleanly, not left in the backlog: {m:?}"
    );
    assert_eq!(m.recovered, Some(true), "{m:?}");
}
