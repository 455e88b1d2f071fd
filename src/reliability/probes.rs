//! The probes, each a bounded load held against one stand, and what they
//! measured.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Stand, Subject};

/// How much load the probes offer: the report's scale, or the tests'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Connections holding a large frame.
    pub held_frames: usize,
    /// Bytes of each held frame.
    pub frame_bytes: usize,
    /// Idle connections held at once.
    pub idle_connections: usize,
    /// Well-formed calls (garbage and reload probes).
    pub calls: usize,
    /// Route switches during the reload probe.
    pub reloads: usize,
    /// The descriptor limit given to the proxy.
    pub descriptor_limit: usize,
}

impl Scale {
    /// The report's: the figures issue 16 was measured with.
    pub const REPORT: Scale = Scale {
        held_frames: 100,
        frame_bytes: 15_000_000,
        idle_connections: 10_000,
        calls: 20_000,
        reloads: 100,
        descriptor_limit: 256,
    };

    /// The tests': the report's idle connections and reloads, fewer
    /// frames and calls, so that each probe takes a few seconds.
    pub const TEST: Scale = Scale {
        held_frames: 30,
        frame_bytes: 15_000_000,
        idle_connections: 10_000,
        calls: 5_000,
        reloads: 100,
        descriptor_limit: 128,
    };
}

/// One probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// Large frames sent but for their last byte, and held.
    HeldFrames,
    /// Unframed calls declaring a 2³¹−1-byte string, then silence.
    DeclaredSize,
    /// Idle connections held, then fresh requests.
    IdleConnections,
    /// Garbage and oversized frames among well-formed calls.
    Garbage,
    /// Route switches under closed-loop load.
    Reloads,
    /// The proxy's descriptor limit below the connections offered.
    Descriptors,
}

/// What one probe measured against one proxy.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// The proxy.
    pub subject: &'static str,
    /// The probe.
    pub probe: Probe,
    /// What was offered, in words.
    pub offered: String,
    /// Resident memory of the proxy's processes, bytes: before, while
    /// held, after release.
    pub rss: [u64; 3],
    /// Open descriptors of the proxy's processes: before, held, after.
    pub descriptors: [usize; 3],
    /// Well-formed requests sent.
    pub sent: usize,
    /// Those answered with success.
    pub ok: usize,
    /// Those that ended in an error (answered, refused or timed out); a
    /// caller stops after three in a row, so these are not all offered.
    pub failed: usize,
    /// Those that ended in no recorded outcome: must be 0.
    pub lost: usize,
    /// The downstream connections the proxy itself counted active while
    /// the idle ones were held (its own gauge), when it reports one.
    pub active: Option<u64>,
    /// Of the hostile connections offered, how many the proxy closed
    /// (within the probe's window), and how many were offered.
    pub closed: Option<[usize; 2]>,
    /// Route switches applied, and asked for.
    pub reloads: Option<[usize; 2]>,
    /// Whether the proxy answered again within 10 s of the load letting go.
    pub recovered: Option<bool>,
    /// Whether 20 calls after the probe all succeeded, and the proxy lives.
    pub answers_after: bool,
    /// What else was seen (connections closed, times, counters).
    pub notes: Vec<String>,
}

impl Measured {
    /// One line for the progress output.
    pub fn summary(&self) -> String {
        let mib = |b: u64| b as f64 / 1_048_576.0;
        format!(
            "RSS {:.0}/{:.0}/{:.0} MiB, fds {}/{}/{}, {} sent, {} ok, {} failed, {} lost; {}",
            mib(self.rss[0]),
            mib(self.rss[1]),
            mib(self.rss[2]),
            self.descriptors[0],
            self.descriptors[1],
            self.descriptors[2],
            self.sent,
            self.ok,
            self.failed,
            self.lost,
            self.notes.join("; ")
        )
    }
}

/// The proxy's resources at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    rss: u64,
    descriptors: usize,
}

fn usage(processes: &[u32]) -> Usage {
    processes.iter().fold(Usage::default(), |sum, pid| Usage {
        rss: sum.rss + rss(*pid),
        descriptors: sum.descriptors + descriptors(*pid),
    })
}

/// `VmRSS` of one process, bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// How well-formed calls ended.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    sent: usize,
    ok: usize,
    failed: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
    }
}

/// A call's bound: past it the call is `failed`.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// After this many failures in a row a caller stops sending: a proxy that
/// stopped answering is seen without waiting out every call.
const GIVE_UP_AFTER: usize = 3;

/// Up to `calls` calls on one connection (a fresh one after a failure),
/// each bounded by [`CALL_TIMEOUT`]: every call sent ends in `ok` or
/// `failed`; after [`GIVE_UP_AFTER`] failures in a row no more are sent.
async fn calls(addr: SocketAddr, calls: usize) -> Tally {
    calls_until(addr, calls, &AtomicBool::new(false)).await
}

/// [`calls`], stopping early once `stop` is set.
async fn calls_until(addr: SocketAddr, calls: usize, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut client = None;
    let mut failures_in_a_row = 0;
    for _ in 0..calls {
        if failures_in_a_row == GIVE_UP_AFTER || stop.load(Ordering::Relaxed) {
            break;
        }
        tally.sent += 1;
        if client.is_none() {
            let connect = ThriftClient::connect(addr, ThriftOptions::default());
            client = tokio::time::timeout(CALL_TIMEOUT, connect)
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(connected) = &client else {
            tally.failed += 1;
            failures_in_a_row += 1;
            continue;
        };
        let call = connected.say_hello("probe", None, BTreeMap::new());
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(reply)) if reply.echo.is_some() => {
                tally.ok += 1;
                failures_in_a_row = 0;
            }
            _ => {
                tally.failed += 1;
                failures_in_a_row += 1;
                client = None;
            }
        }
    }
    tally
}

/// Well-formed calls over `connections` connections at once.
async fn calls_over(addr: SocketAddr, total: usize, connections: usize) -> Tally {
    calls_over_until(addr, total, connections, Arc::new(AtomicBool::new(false))).await
}

/// [`calls_over`], stopping early once `stop` is set.
async fn calls_over_until(
    addr: SocketAddr,
    total: usize,
    connections: usize,
    stop: Arc<AtomicBool>,
) -> Tally {
    let each = total.div_ceil(connections.max(1));
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move { calls_until(addr, each, &stop).await })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        if let Ok(done) = task.await {
            tally.add(done);
        }
    }
    tally
}

/// Whether the peer closes `stream` within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            // An error answer before the close: read on.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A framed binary `sayHello` call of `bytes` bytes whose string argument
/// fills it.
fn large_frame(bytes: usize) -> Vec<u8> {
    let header = [0x80, 0x01, 0x00, 0x01, 0, 0, 0, 8];
    let mut frame = Vec::with_capacity(bytes);
    frame.extend(u32::try_from(bytes - 4).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend(header);
    frame.extend(b"sayHello");
    frame.extend([0, 0, 0, 1, 11, 0, 1]);
    let string = bytes.saturating_sub(frame.len() + 4 + 1);
    frame.extend(u32::try_from(string).unwrap_or(u32::MAX).to_be_bytes());
    frame.resize(bytes - 1, b'x');
    frame
}

impl Probe {
    /// Every probe, in report order.
    pub const ALL: [Probe; 6] = [
        Probe::HeldFrames,
        Probe::DeclaredSize,
        Probe::IdleConnections,
        Probe::Garbage,
        Probe::Reloads,
        Probe::Descriptors,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Probe::HeldFrames => "held-frames",
            Probe::DeclaredSize => "declared-size",
            Probe::IdleConnections => "idle-connections",
            Probe::Garbage => "garbage",
            Probe::Reloads => "reloads",
            Probe::Descriptors => "descriptors",
        }
    }

    /// Runs against `stand` (and stops it), checking afterwards that the
    /// proxy still answers.
    ///
    /// # Errors
    /// The stand failing in a way that leaves nothing to measure.
    pub async fn run(
        self,
        subject: Subject,
        mut stand: Stand,
        scale: Scale,
    ) -> anyhow::Result<Measured> {
        let processes = stand.processes();
        let before = usage(&processes);
        let mut measured = Measured {
            subject: subject.name(),
            probe: self,
            offered: String::new(),
            rss: [before.rss, 0, 0],
            descriptors: [before.descriptors, 0, 0],
            sent: 0,
            ok: 0,
            failed: 0,
            lost: 0,
            active: None,
            closed: None,
            reloads: None,
            recovered: None,
            answers_after: false,
            notes: Vec::new(),
        };
        let held = match self {
            Probe::HeldFrames => held_frames(&stand, scale, &mut measured).await,
            Probe::DeclaredSize => declared_size(&stand, &mut measured).await,
            Probe::IdleConnections => idle_connections(&stand, scale, &mut measured).await,
            Probe::Garbage => garbage(&stand, scale, &mut measured).await,
            Probe::Reloads => reloads(&mut stand, scale, &mut measured).await,
            Probe::Descriptors => descriptor_limit(&stand, scale, &mut measured).await,
        };
        measured.rss[1] = held.rss;
        measured.descriptors[1] = held.descriptors;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = usage(&processes);
        measured.rss[2] = after.rss;
        measured.descriptors[2] = after.descriptors;
        let check = calls(stand.listener, 20).await;
        measured.answers_after = check.ok == 20;
        if check.ok != 20 {
            measured.notes.push(format!(
                "afterwards {} of {} calls failed",
                check.failed, check.sent
            ));
        }
        if let Some(exit) = stand.exited() {
            measured.answers_after = false;
            measured.notes.push(format!("the proxy died: {exit}"));
        }
        stand.stop().await;
        Ok(measured)
    }
}

fn take(measured: &mut Measured, tally: Tally) {
    measured.sent += tally.sent;
    measured.ok += tally.ok;
    measured.failed += tally.failed;
    measured.lost += tally.sent - tally.ok - tally.failed;
}

/// Connections each sending all but the last byte of a large frame.
async fn held_frames(stand: &Stand, scale: Scale, measured: &mut Measured) -> Usage {
    measured.offered = format!(
        "{} connections, each {} MB of a Thrift frame held",
        scale.held_frames,
        scale.frame_bytes / 1_000_000
    );
    let frame = Arc::new(large_frame(scale.frame_bytes));
    let senders: Vec<_> = (0..scale.held_frames)
        .map(|_| {
            let (frame, addr) = (Arc::clone(&frame), stand.listener);
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.ok()?;
                let sent = tokio::time::timeout(Duration::from_secs(30), stream.write_all(&frame));
                matches!(sent.await, Ok(Ok(()))).then_some(stream)
            })
        })
        .collect();
    let mut open = Vec::new();
    for sender in senders {
        if let Ok(Some(stream)) = sender.await {
            open.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut still_open = 0;
    for stream in &mut open {
        if !closed_within(stream, Duration::from_millis(20)).await {
            still_open += 1;
        }
    }
    let held = usage(&stand.processes());
    measured.notes.push(format!(
        "{still_open} of {} connections held their frame; the rest were closed",
        scale.held_frames
    ));
    measured.closed = Some([scale.held_frames - still_open, scale.held_frames]);
    take(measured, calls(stand.listener, 20).await);
    held
}

/// Unframed calls declaring a string of 2³¹−1 bytes, then nothing.
async fn declared_size(stand: &Stand, measured: &mut Measured) -> Usage {
    const CONNECTIONS: usize = 20;
    measured.offered =
        format!("{CONNECTIONS} unframed calls declaring a 2147483647-byte string, then silence");
    let mut call = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 8];
    call.extend(b"sayHello");
    call.extend([0, 0, 0, 1, 11, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
    let mut streams = Vec::new();
    for _ in 0..CONNECTIONS {
        if let Ok(mut stream) = TcpStream::connect(stand.listener).await
            && stream.write_all(&call).await.is_ok()
        {
            streams.push(stream);
        }
    }
    let started = Instant::now();
    let mut closed = 0;
    for stream in &mut streams {
        let left = Duration::from_secs(1).saturating_sub(started.elapsed());
        if closed_within(stream, left).await {
            closed += 1;
        }
    }
    let held = usage(&stand.processes());
    measured.notes.push(format!(
        "{closed} of {CONNECTIONS} closed within 1 s of the declaration"
    ));
    measured.closed = Some([closed, CONNECTIONS]);
    take(measured, calls(stand.listener, 20).await);
    held
}

/// The proxy's gauge of open downstream connections, summed over its
/// listeners.
fn active_gauge(subject: &str) -> &'static str {
    match subject {
        "envoy" => "envoy_listener_downstream_cx_active",
        _ => "meshproxy_downstream_connections_active",
    }
}

/// Thousands of idle connections, then requests on fresh ones.
async fn idle_connections(stand: &Stand, scale: Scale, measured: &mut Measured) -> Usage {
    measured.offered = format!("{} idle connections held", scale.idle_connections);
    let mut idle = Vec::with_capacity(scale.idle_connections);
    let mut refused = 0;
    for _ in 0..scale.idle_connections {
        match TcpStream::connect(stand.listener).await {
            Ok(stream) => idle.push(stream),
            Err(_) => refused += 1,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = usage(&stand.processes());
    measured.active = stand.counter(active_gauge(measured.subject)).await;
    take(measured, calls_over(stand.listener, 1000, 10).await);
    let per_connection = held.rss.saturating_sub(measured.rss[0]) / idle.len().max(1) as u64;
    measured.notes.push(format!(
        "{} held ({refused} refused at connect), {per_connection} B of RSS each; 1000 calls on fresh connections while held",
        idle.len()
    ));
    drop(idle);
    held
}

/// Garbage and oversized frames on their own connections, among
/// well-formed calls on long-lived ones.
async fn garbage(stand: &Stand, scale: Scale, measured: &mut Measured) -> Usage {
    const BAD: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01],
        &[0x80, 0x01, 0x00, 0x07, 0, 0, 0, 0],
        &[0x82, 0x21, 0x01, 0x01, b'm', 0x1e, 0x00],
        &[0, 0, 0, 3, 0x80, 0x01, 0x00],
    ];
    let bad_connections = scale.calls / 10;
    measured.offered = format!(
        "{} well-formed calls on 10 connections, {bad_connections} connections of garbage among them",
        scale.calls
    );
    let good = tokio::spawn(calls_over(stand.listener, scale.calls, 10));
    let addr = stand.listener;
    let bad = tokio::spawn(async move {
        let mut closed = 0;
        for i in 0..bad_connections {
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                continue;
            };
            if stream.write_all(BAD[i % BAD.len()]).await.is_ok() {
                let _ = stream.shutdown().await;
            }
            if closed_within(&mut stream, Duration::from_secs(5)).await {
                closed += 1;
            }
        }
        closed
    });
    let closed = bad.await.unwrap_or(0);
    let held = usage(&stand.processes());
    if let Ok(tally) = good.await {
        take(measured, tally);
    }
    measured.notes.push(format!(
        "{closed} of {bad_connections} garbage connections closed by the proxy"
    ));
    measured.closed = Some([closed, bad_connections]);
    held
}

/// Route switches, v1 and v2 in turn, under closed-loop load that lasts
/// until the last switch (at most ten times the probe's calls).
async fn reloads(stand: &mut Stand, scale: Scale, measured: &mut Measured) -> Usage {
    measured.offered = format!(
        "{} route switches, 10 ms apart, under closed-loop calls on 10 connections until the last",
        scale.reloads
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(calls_over_until(
        stand.listener,
        scale.calls * 10,
        10,
        Arc::clone(&stop),
    ));
    let mut applied = 0;
    for i in 0..scale.reloads {
        let subset = if i % 2 == 0 { "v2" } else { "v1" };
        match stand.route_to(subset).await {
            Ok(()) => applied += 1,
            Err(error) => {
                measured.notes.push(format!("a reload failed: {error}"));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let held = usage(&stand.processes());
    if let Ok(tally) = load.await {
        take(measured, tally);
    }
    measured.notes.push(format!(
        "{applied} of {} reloads applied under load",
        scale.reloads
    ));
    measured.reloads = Some([applied, scale.reloads]);
    held
}

/// The proxy's descriptor limit lowered below the connections offered.
async fn descriptor_limit(stand: &Stand, scale: Scale, measured: &mut Measured) -> Usage {
    let limit = scale.descriptor_limit;
    let offered = 2 * limit;
    measured.offered = format!("{offered} connections against a descriptor limit of {limit}");
    for pid in stand.processes() {
        let lowered = tokio::process::Command::new("prlimit")
            .args([
                "--pid",
                &pid.to_string(),
                &format!("--nofile={limit}:{limit}"),
            ])
            .status()
            .await;
        if !matches!(lowered, Ok(status) if status.success()) {
            measured
                .notes
                .push(format!("prlimit could not lower process {pid}'s limit"));
        }
    }
    let mut streams = Vec::new();
    for _ in 0..offered {
        if let Ok(stream) = TcpStream::connect(stand.listener).await {
            streams.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut closed = 0;
    for stream in &mut streams {
        if closed_within(stream, Duration::from_millis(20)).await {
            closed += 1;
        }
    }
    let left_waiting = streams.len() - closed;
    let held = usage(&stand.processes());
    measured.notes.push(format!(
        "{closed} of {offered} closed at once, {left_waiting} held or left waiting"
    ));
    measured.closed = Some([closed, offered]);
    if let Some(counted) = stand
        .counter("meshproxy_downstream_connections_refused_total")
        .await
    {
        measured
            .notes
            .push(format!("its refusal counter says {counted}"));
    }
    drop(streams);
    let (recovered, said) = recovery(stand.listener).await;
    measured.recovered = Some(recovered);
    measured.notes.push(said);
    take(measured, calls(stand.listener, 20).await);
    held
}

/// How long after its clients let go the proxy answers a call again (ten
/// seconds at most).
async fn recovery(addr: SocketAddr) -> (bool, String) {
    let released = Instant::now();
    while released.elapsed() < Duration::from_secs(10) {
        let tally = calls(addr, 1).await;
        if tally.ok == 1 {
            let ms = released.elapsed().as_millis();
            return (
                true,
                format!("answered again {ms} ms after the clients let go"),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (
        false,
        "did not answer again within 10 s of the clients letting go".to_owned(),
    )
}
