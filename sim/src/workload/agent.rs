//! The workload as an agent a runner drives over the network, for a
//! workload that runs beside its proxy in another container or pod: the
//! runner sends the plan, relays each routing change and its stop, and the
//! agent streams back every request as it ends. The runner's ledger is
//! made of what arrived, so a request lost between the two is a harness
//! error ([`AgentError::Lost`]), never a gap in the evidence.
//!
//! One TCP connection per run, one JSON object per line each way:
//!
//! - runner to agent: [`Command`]s, `run` first and once;
//! - agent to runner: [`Event`]s, `end` (or `failed`) last.
//!
//! A routing change is stamped on requests only once the agent confirms it
//! ([`Progress::relay_switches`]), so phases mean what they mean in process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_util::codec::{Framed, LinesCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Progress, Switch, WorkloadPlan};
use crate::ledger::{Entry, Heartbeats, Ledger};

/// The longest line either side accepts: a plan with a large mix, or an
/// entry with a long error text, is far below it.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// What `meshbench workload --serve` prints, followed by its address, once
/// it serves: whoever starts an agent waits for this line.
pub const READY: &str = "workload agent on ";

/// How often the agent reports how many requests it has sent.
const REPORT_EVERY: Duration = Duration::from_millis(10);

/// How long the runner tries to reach an agent that is still starting.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(30);

/// How long a cancelled agent may take to report its end, and an agent
/// shutting down may take to finish its runs.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// What the runner tells the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Run this plan with this seed (first, and only once).
    Run {
        /// The workload, its targets the proxy's listeners as the agent reaches them.
        plan: WorkloadPlan,
        /// Seed of the workload's random draws.
        seed: u64,
    },
    /// A step of a routing change: answered by [`Event::Confirmed`] once
    /// requests sent from then on carry it.
    Switch(Switch),
    /// The evidence is decisive: start no new request, finish the others.
    Stop,
    /// The run is interrupted: end now.
    Cancel,
}

/// What the agent tells the runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// This many requests were sent so far (before the entries of any of them).
    Sent(u64),
    /// A request ended.
    Ended(Box<Entry>),
    /// The oldest unconfirmed [`Command::Switch`] is in force; `sent`
    /// requests had been sent when it took effect (every later one carries it).
    Confirmed {
        /// Requests sent before the change took effect.
        sent: u64,
    },
    /// The workload is over: every request it sent was reported.
    End {
        /// Requests sent.
        sent: u64,
        /// Entries reported with [`Event::Ended`].
        ended: u64,
        /// Heartbeat tallies.
        heartbeats: Vec<Heartbeats>,
        /// New connections the HTTP clients had to open.
        reconnects: u64,
    },
    /// The workload could not run (nothing, or nothing more, is sent).
    Failed(String),
}

/// Why a workload agent's run gave no ledger.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent could not be reached.
    #[error("the workload agent at {addr} could not be reached within {within:?}: {error}")]
    Unreachable {
        /// Where it was looked for.
        addr: SocketAddr,
        /// How long it was tried.
        within: Duration,
        /// The last attempt's failure.
        error: String,
    },
    /// The agent refused or failed the run.
    #[error("the workload agent failed the run: {0}")]
    Failed(String),
    /// Requests were lost between the agent and the runner: the connection
    /// ended without the agent's end, or the end counts what did not arrive.
    #[error("requests were lost between the workload agent and the runner: {0}")]
    Lost(String),
    /// The agent spoke out of turn.
    #[error("the workload agent sent what the protocol does not allow: {0}")]
    Protocol(String),
    /// The run was interrupted before the agent ended it.
    #[error("interrupted")]
    Interrupted,
}

/// Where an agent's plans may send traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Loopback only (127.0.0.0/8 and ::1): an agent on this machine.
    Loopback,
    /// Any address: an agent in a pod, whose targets are its own sidecar's
    /// listeners on the pod's private network.
    Pod,
}

impl Reach {
    /// Why `plan` may not run here, if it may not.
    fn refuses(self, plan: &WorkloadPlan) -> Option<String> {
        let Reach::Loopback = self else {
            return None;
        };
        plan.clients
            .iter()
            .find(|client| !client.target.ip().is_loopback())
            .map(|client| {
                format!(
                    "client '{}' targets {}, off loopback: this agent sends traffic only inside \
                     127.0.0.0/8 and ::1 (in a pod, serve with --in-pod)",
                    client.name, client.target
                )
            })
    }
}

/// Serves runs on `listener` until `shutdown`, each connection one run,
/// refusing plans that target what `reach` does not allow.
pub async fn serve(listener: TcpListener, reach: Reach, shutdown: CancellationToken) {
    let runs = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shutdown = shutdown.clone();
                runs.spawn(async move {
                    // A run's workload ends at the shutdown; a runner that
                    // says nothing, or reads nothing, is not waited for.
                    let over = async {
                        shutdown.cancelled().await;
                        tokio::time::sleep(CANCEL_GRACE).await;
                    };
                    let served = tokio::select! {
                        served = serve_run(stream, reach, shutdown.clone()) => served,
                        () = over => Err("shut down before the run ended".to_owned()),
                    };
                    if let Err(e) = served {
                        tracing::warn!(%peer, "workload agent run: {e}");
                    }
                });
            }
            Err(e) => tracing::warn!("workload agent accept: {e}"),
        }
    }
    runs.close();
    runs.wait().await;
}

type Lines = Framed<TcpStream, LinesCodec>;

async fn send(lines: &mut Lines, event: &Event) -> Result<(), String> {
    let line = serde_json::to_string(event).map_err(|e| e.to_string())?;
    lines.send(line).await.map_err(|e| e.to_string())
}

async fn feed(lines: &mut Lines, event: &Event) -> Result<(), String> {
    let line = serde_json::to_string(event).map_err(|e| e.to_string())?;
    lines.feed(line).await.map_err(|e| e.to_string())
}

/// One run: the plan, then the workload with its commands and its events.
async fn serve_run(
    stream: TcpStream,
    reach: Reach,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    let (plan, seed) = match read_command(&mut lines).await {
        Some(Ok(Command::Run { plan, seed })) => (plan, seed),
        Some(Ok(other)) => {
            let refusal = format!("the first command must be `run`, not {other:?}");
            send(&mut lines, &Event::Failed(refusal.clone())).await?;
            return Err(refusal);
        }
        Some(Err(e)) => {
            send(&mut lines, &Event::Failed(e.clone())).await?;
            return Err(e);
        }
        None => return Ok(()),
    };
    if let Some(refusal) = reach.refuses(&plan) {
        send(&mut lines, &Event::Failed(refusal.clone())).await?;
        return Err(refusal);
    }
    let progress = Arc::new(Progress::default());
    let mut ended = progress.subscribe();
    let cancel = shutdown.child_token();
    let workload = super::run(&plan, seed, Arc::clone(&progress), cancel.clone());
    tokio::pin!(workload);
    let mut report = tokio::time::interval(REPORT_EVERY);
    let mut reported = Reported::default();
    let mut runner_gone = false;
    let result = loop {
        tokio::select! {
            result = &mut workload => break result,
            entry = ended.recv() => if let Some(entry) = entry
                && !runner_gone
                && reported.entry(&mut lines, &progress, entry).await.is_err()
            {
                runner_gone = true;
                cancel.cancel();
            },
            command = read_command(&mut lines), if !runner_gone => {
                if obey(command, &progress, &cancel, &mut lines).await.is_err() {
                    runner_gone = true;
                    cancel.cancel();
                }
            }
            _ = report.tick(), if !runner_gone => {
                if reported.sent(&mut lines, &progress).await.is_err()
                    || SinkExt::<String>::flush(&mut lines).await.is_err()
                {
                    runner_gone = true;
                    cancel.cancel();
                }
            }
        }
    };
    if runner_gone {
        return Err("the runner went away; the run was cancelled".to_owned());
    }
    let ledger = match result {
        Ok(ledger) => ledger,
        Err(e) => return send(&mut lines, &Event::Failed(e.to_string())).await,
    };
    while let Some(entry) = ended.recv().await {
        reported.entry(&mut lines, &progress, entry).await?;
    }
    let end = Event::End {
        sent: ledger.sent,
        ended: reported.ended,
        heartbeats: ledger.heartbeats,
        reconnects: progress.reconnects.load(Ordering::Relaxed),
    };
    send(&mut lines, &end).await
}

/// What the agent has told the runner so far.
#[derive(Debug, Default)]
struct Reported {
    sent: u64,
    ended: u64,
}

impl Reported {
    /// Reports the count of requests sent, when it moved.
    async fn sent(&mut self, lines: &mut Lines, progress: &Progress) -> Result<(), String> {
        let sent = progress.sent.load(Ordering::SeqCst);
        if sent > self.sent {
            self.sent = sent;
            feed(lines, &Event::Sent(sent)).await?;
        }
        Ok(())
    }

    /// Reports an ended request, after a count that includes it (one
    /// already reported mostly does: a count is sent only when it must be).
    async fn entry(
        &mut self,
        lines: &mut Lines,
        progress: &Progress,
        entry: Entry,
    ) -> Result<(), String> {
        if entry.order >= self.sent {
            self.sent(lines, progress).await?;
        }
        feed(lines, &Event::Ended(Box::new(entry))).await?;
        self.ended += 1;
        Ok(())
    }
}

/// Carries out one command from the runner; an error when the runner is gone.
async fn obey(
    command: Option<Result<Command, String>>,
    progress: &Progress,
    cancel: &CancellationToken,
    lines: &mut Lines,
) -> Result<(), String> {
    match command {
        Some(Ok(Command::Switch(switch))) => {
            match switch {
                Switch::Begun(to) => progress.switches_begun.store(to, Ordering::SeqCst),
                Switch::Applied(to) => progress.phase.store(to, Ordering::SeqCst),
            }
            let sent = progress.sent.load(Ordering::SeqCst);
            send(lines, &Event::Confirmed { sent }).await
        }
        Some(Ok(Command::Stop)) => {
            progress.stop.cancel();
            Ok(())
        }
        Some(Ok(Command::Cancel)) => {
            cancel.cancel();
            Ok(())
        }
        Some(Ok(Command::Run { .. })) => {
            cancel.cancel();
            let refusal = "a second `run` on one connection".to_owned();
            send(lines, &Event::Failed(refusal.clone())).await?;
            Err(refusal)
        }
        Some(Err(e)) => {
            cancel.cancel();
            send(lines, &Event::Failed(e.clone())).await?;
            Err(e)
        }
        None => Err("the runner closed the connection".to_owned()),
    }
}

async fn read_command(lines: &mut Lines) -> Option<Result<Command, String>> {
    let line = lines.next().await?;
    Some(
        line.map_err(|e| format!("reading a command: {e}"))
            .and_then(|line| {
                serde_json::from_str(&line).map_err(|e| format!("a malformed command: {e}"))
            }),
    )
}

/// Runs `plan` on the agent at `addr`, mirroring its requests into
/// `progress` as they end (the monitors, phase triggers and stall watch
/// read it as they read an in-process run), and returns the ledger made of
/// what arrived.
///
/// # Errors
/// [`AgentError`]: unreachable, refused, interrupted, or requests lost.
pub async fn run_remote(
    addr: SocketAddr,
    plan: &WorkloadPlan,
    seed: u64,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<Ledger, AgentError> {
    // Before anything else: a change due at once (a time trigger) is
    // queued for the agent, not missed while it is reached.
    let mut switches = progress.relay_switches();
    let stream = connect(addr, &cancel).await?;
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    let run = Command::Run {
        plan: plan.clone(),
        seed,
    };
    command(&mut lines, &run).await?;
    let mut unconfirmed = std::collections::VecDeque::<oneshot::Sender<()>>::new();
    let mut arrivals = Arrivals::new(&progress);
    let (mut stopping, mut cancelling) = (false, false);
    // Once cancelled, the agent ends its requests at once; one that does
    // not end within this is given up on.
    let given_up = tokio::time::sleep(Duration::MAX);
    tokio::pin!(given_up);
    loop {
        tokio::select! {
            event = lines.next() => match arrivals.take(event_of(event)?)? {
                Step::More => {}
                Step::Confirmed => {
                    let Some(done) = unconfirmed.pop_front() else {
                        return Err(AgentError::Protocol("a confirmation of no routing change".to_owned()));
                    };
                    let _ = done.send(());
                }
                // Cancelled or not, the ledger is whole: the caller, who
                // cancelled, says why the run ended (interrupted, stalled).
                Step::Ended(ledger) => return Ok(ledger),
            },
            relayed = switches.recv() => if let Some(relayed) = relayed {
                command(&mut lines, &Command::Switch(relayed.switch)).await?;
                unconfirmed.push_back(relayed.confirm);
            },
            () = progress.stop.cancelled(), if !stopping => {
                stopping = true;
                command(&mut lines, &Command::Stop).await?;
            }
            () = cancel.cancelled(), if !cancelling => {
                cancelling = true;
                given_up.as_mut().reset(tokio::time::Instant::now() + CANCEL_GRACE);
                command(&mut lines, &Command::Cancel).await?;
            }
            () = &mut given_up, if cancelling => return Err(AgentError::Interrupted),
        }
    }
}

/// The runner's side of an agent's events: each mirrored into a
/// [`Progress`] as it arrives, and the ledger made of them at the end.
struct Arrivals<'a> {
    progress: &'a Progress,
    /// Entries that arrived.
    arrived: u64,
}

/// What one event meant.
enum Step {
    /// Carry on reading.
    More,
    /// The oldest routing change relayed is in force.
    Confirmed,
    /// The agent ended, every request accounted for: the ledger.
    Ended(Ledger),
}

impl<'a> Arrivals<'a> {
    fn new(progress: &'a Progress) -> Arrivals<'a> {
        Arrivals {
            progress,
            arrived: 0,
        }
    }

    fn take(&mut self, event: Event) -> Result<Step, AgentError> {
        match event {
            Event::Sent(total) => self.progress.observe_sent(total),
            Event::Ended(entry) => {
                self.arrived += 1;
                self.progress.observe_ended(*entry);
            }
            Event::Confirmed { sent } => {
                // Every request the runner counts from here on was sent
                // with the change in force at the agent.
                self.progress.observe_sent(sent);
                return Ok(Step::Confirmed);
            }
            Event::End {
                sent,
                ended,
                heartbeats,
                reconnects,
            } => {
                if ended != self.arrived {
                    return Err(AgentError::Lost(format!(
                        "the agent reported {ended} ended requests, {} arrived",
                        self.arrived
                    )));
                }
                self.progress
                    .reconnects
                    .store(reconnects, Ordering::Relaxed);
                let ledger = self.progress.observed_ledger(sent, heartbeats);
                return match ledger.check_conservation() {
                    Ok(()) => Ok(Step::Ended(ledger)),
                    Err(e) => Err(AgentError::Lost(format!("the agent's own ledger: {e}"))),
                };
            }
            Event::Failed(reason) => return Err(AgentError::Failed(reason)),
        }
        Ok(Step::More)
    }
}

/// Runs `plan` in this process, writing its events to `out` as they
/// happen, one JSON line each, `end` last: what a workload pod writes to
/// its log for a runner that reads the log back ([`ledger_of_log`]).
///
/// # Errors
/// When the plan cannot run, or `out` cannot be written.
pub async fn run_logging(
    plan: &WorkloadPlan,
    seed: u64,
    out: &mut impl std::io::Write,
    cancel: CancellationToken,
) -> Result<Ledger, String> {
    let progress = Arc::new(Progress::default());
    let mut ended = progress.subscribe();
    let workload = super::run(plan, seed, Arc::clone(&progress), cancel);
    tokio::pin!(workload);
    let mut written = 0u64;
    let mut write = |event: &Event| -> Result<(), String> {
        let line = serde_json::to_string(event).map_err(|e| e.to_string())?;
        writeln!(out, "{line}").map_err(|e| format!("writing the ledger: {e}"))
    };
    let result = loop {
        tokio::select! {
            result = &mut workload => break result,
            Some(entry) = ended.recv() => {
                write(&Event::Ended(Box::new(entry)))?;
                written += 1;
            }
        }
    };
    let ledger = match result {
        Ok(ledger) => ledger,
        Err(e) => {
            write(&Event::Failed(e.to_string()))?;
            return Err(e.to_string());
        }
    };
    while let Some(entry) = ended.recv().await {
        write(&Event::Ended(Box::new(entry)))?;
        written += 1;
    }
    write(&Event::End {
        sent: ledger.sent,
        ended: written,
        heartbeats: ledger.heartbeats.clone(),
        reconnects: progress.reconnects.load(Ordering::Relaxed),
    })?;
    Ok(ledger)
}

/// The ledger in a workload's log ([`run_logging`]'s lines), and the log's
/// other lines (what the command said on its standard error), in order.
/// A log that ends before the workload's `end`, or whose counts disagree,
/// lost requests; an event after the `end` makes it no one run's log.
///
/// # Errors
/// [`AgentError::Lost`], [`AgentError::Failed`] or [`AgentError::Protocol`].
pub fn ledger_of_log(log: &str) -> Result<(Ledger, Vec<String>), AgentError> {
    let progress = Progress::default();
    let mut arrivals = Arrivals::new(&progress);
    let mut notes = Vec::new();
    let mut ended = None;
    for line in log.lines() {
        if !line.starts_with('{') {
            notes.push(line.to_owned());
            continue;
        }
        if ended.is_some() {
            // Two runs' logs as one, or a repeated end: never one ledger.
            return Err(AgentError::Protocol(format!(
                "an event after the workload's end: {line:.200}"
            )));
        }
        let event = serde_json::from_str(line).map_err(|e| {
            AgentError::Protocol(format!("a malformed line in the log ({e}): {line:.200}"))
        })?;
        match arrivals.take(event)? {
            Step::More => {}
            Step::Confirmed => {
                return Err(AgentError::Protocol(
                    "a confirmation in a log: no routing change is relayed to a logged run"
                        .to_owned(),
                ));
            }
            Step::Ended(ledger) => ended = Some(ledger),
        }
    }
    match ended {
        Some(ledger) => Ok((ledger, notes)),
        None => Err(AgentError::Lost(format!(
            "the log ends before the workload's end, after {} requests",
            arrivals.arrived
        ))),
    }
}

/// Connects to the agent, trying again while it starts.
async fn connect(addr: SocketAddr, cancel: &CancellationToken) -> Result<TcpStream, AgentError> {
    let deadline = tokio::time::Instant::now() + CONNECT_WITHIN;
    let unreachable = |error: String| AgentError::Unreachable {
        addr,
        within: CONNECT_WITHIN,
        error,
    };
    loop {
        // Each attempt bounded by what is left: an address that drops SYNs
        // would otherwise hold the runner for the kernel's retries.
        let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(addr));
        let error = tokio::select! {
            () = cancel.cancelled() => return Err(AgentError::Interrupted),
            attempt = attempt => match attempt {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => e.to_string(),
                Err(_) => return Err(unreachable("no answer".to_owned())),
            },
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(unreachable(error));
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(AgentError::Interrupted),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

async fn command(lines: &mut Lines, command: &Command) -> Result<(), AgentError> {
    let line = serde_json::to_string(command).map_err(|e| AgentError::Protocol(e.to_string()))?;
    lines
        .send(line)
        .await
        .map_err(|e| AgentError::Lost(format!("sending to the agent: {e}")))
}

/// The next event, or why there is none: a stream that ends before the
/// agent's end loses the requests it did not report.
fn event_of(
    line: Option<Result<String, tokio_util::codec::LinesCodecError>>,
) -> Result<Event, AgentError> {
    let line = line
        .ok_or_else(|| {
            AgentError::Lost("the agent closed the connection before its end".to_owned())
        })?
        .map_err(|e| AgentError::Lost(format!("reading from the agent: {e}")))?;
    serde_json::from_str(&line)
        .map_err(|e| AgentError::Protocol(format!("a malformed event ({e}): {line:.200}")))
}

#[cfg(test)]
mod tests;
