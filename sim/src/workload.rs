//! The workload: clients holding long-lived connections and sending requests
//! on a schedule, closed loop (N in flight per connection) or open loop (a
//! rate, constant or Poisson, with latency measured from each request's
//! intended start so a slow proxy cannot hide behind coordinated omission).
//!
//! The plan is plain data; [`run`] executes it. Every loop is bounded by a
//! request budget and/or a duration, and every request ends in exactly one
//! [`Outcome`] in the returned [`Ledger`].
//!
//! A closed loop may [`Pause`]: its connections go quiet between rounds of
//! requests, optionally sending Dubbo heartbeats, and then carry on over the
//! same connection. This is how a proxy's downstream idle timer is probed:
//! a heartbeat must keep an idle connection open.

pub mod agent;
mod connection;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshbench_wire::mux::idle::Activity;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::thrift::ThriftOptions;
use crate::ledger::{Entry, Heartbeats, Ledger, Outcome};
use connection::Connection;

/// What one request class sends: the scenario's call with its protocol's
/// defaults filled in. This is the only form of a call past the loader, so
/// every field written in a scenario reaches the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Call {
    /// `HelloService.<method>(name, context)`: `sayHello` by default; the
    /// sample server answers any method with `sayHello`'s arguments.
    Thrift {
        /// The method.
        method: String,
        /// The name argument.
        name: String,
        /// Transport, encoding, multiplexing.
        options: ThriftOptions,
        /// Extra context entries (the request id is added).
        context: BTreeMap<String, String>,
    },
    /// A Dubbo call with one String argument.
    Dubbo {
        /// The interface (service path).
        interface: String,
        /// The method.
        method: String,
        /// The argument.
        name: String,
        /// Attachments (the request id is added).
        attachments: Vec<(String, String)>,
    },
    /// An HTTP/1.1 request.
    Http {
        /// The method.
        method: String,
        /// The request target.
        path: String,
        /// Headers (the request id is added as `x-request-id`).
        headers: Vec<(String, String)>,
        /// The body (sent with its `content-length`; empty: none).
        body: String,
    },
    /// A unary gRPC (Triple) call of the Greeter: `HelloRequest{name}`.
    Grpc {
        /// The gRPC service (`package.Service`).
        service: String,
        /// The method.
        method: String,
        /// The `name` of the `HelloRequest`.
        name: String,
        /// Metadata, sent as HTTP/2 headers (Triple attachments travel so);
        /// the request id is added as `x-request-id`.
        metadata: BTreeMap<String, String>,
    },
    /// A TCP connection to the echo service: the unit is the connection.
    Tcp {
        /// Bytes sent (and expected back) once connected.
        payload: Vec<u8>,
    },
}

impl Call {
    /// The routing attributes the call carries, named as
    /// [`meshbench_wire::attributes`] names them (lower case): thrift
    /// `method` (and `service`), dubbo `interface`, `method` and the
    /// attachments, http `:method`, `:path` and the headers, grpc `:method`
    /// (`POST`), `:path` (`/service/method`) and the metadata; tcp none.
    /// Attributes the client adds itself (request ids, `:authority`) are
    /// not listed.
    pub fn attributes(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let add_all = |pairs: &[(String, String)], out: &mut BTreeMap<String, String>| {
            for (k, v) in pairs {
                out.entry(k.to_ascii_lowercase())
                    .or_insert_with(|| v.clone());
            }
        };
        match self {
            Call::Thrift {
                method, options, ..
            } => {
                out.insert("method".into(), method.clone());
                if let Some(service) = &options.service {
                    out.insert("service".into(), service.clone());
                }
            }
            Call::Dubbo {
                interface,
                method,
                attachments,
                ..
            } => {
                out.insert("interface".into(), interface.clone());
                out.insert("method".into(), method.clone());
                add_all(attachments, &mut out);
            }
            Call::Http {
                method,
                path,
                headers,
                ..
            } => {
                out.insert(":method".into(), method.clone());
                out.insert(":path".into(), path.clone());
                add_all(headers, &mut out);
            }
            Call::Grpc {
                service,
                method,
                metadata,
                ..
            } => {
                out.insert(":method".into(), "POST".into());
                out.insert(":path".into(), meshbench_wire::grpc::path(service, method));
                for (k, v) in metadata {
                    out.entry(k.to_ascii_lowercase())
                        .or_insert_with(|| v.clone());
                }
            }
            Call::Tcp { .. } => {}
        }
        out
    }
}

/// A named kind of request with its share of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestClass {
    /// Its name, as expectations refer to it.
    pub name: String,
    /// Its relative weight in the mix.
    pub weight: u32,
    /// What it sends.
    pub call: Call,
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Pace {
    /// Each of `in_flight` workers per connection sends its next request as
    /// soon as the previous answer arrives.
    Closed,
    /// Requests start at `rate` per second, whatever the answers do.
    Open {
        /// Requests per second for this client.
        rate: f64,
        /// Exponential gaps (Poisson arrivals) rather than constant ones.
        poisson: bool,
    },
}

/// What bounds a client's run; at least one must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Budget {
    /// Stop after this many requests.
    pub requests: Option<u64>,
    /// Stop starting requests after this long.
    pub duration: Option<Duration>,
}

/// How long a connection lives before the client replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifetime {
    /// This many requests started on it.
    Requests(u64),
    /// This long after it was opened: no request starts on it later.
    Duration(Duration),
}

/// Idle stretches of a closed-loop connection: after every `every` requests
/// started on a connection, its workers stop starting requests, wait for
/// every answer, keep the connection idle for `idle` (sending a Dubbo
/// heartbeat every `heartbeat`), then carry on over the same connection.
/// No pause follows a connection's last request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Requests started on a connection between two pauses.
    pub every: u64,
    /// How long the connection stays idle.
    pub idle: Duration,
    /// A heartbeat this often while idle (the first one `heartbeat` into the
    /// pause); `None`: a silent pause.
    pub heartbeat: Option<Duration>,
}

/// One client of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientPlan {
    /// Its name.
    pub name: String,
    /// Where it connects (the proxy's listener for the service).
    pub target: SocketAddr,
    /// The `Host` an HTTP request carries unless its call sets one: the
    /// service's name and port, as an application in a mesh addresses it
    /// (a sidecar picks the virtual host by it). `None`: the target address.
    pub authority: Option<String>,
    /// Long-lived connections it holds.
    pub connections: usize,
    /// Requests in flight per connection (closed loop).
    pub in_flight: usize,
    /// When a connection is replaced by a new one (churn); `None` = never.
    pub lifetime: Option<Lifetime>,
    /// Idle stretches of each connection (closed loop only); `None` = never.
    pub pause: Option<Pause>,
    /// Closed or open loop.
    pub pace: Pace,
    /// What bounds the run.
    pub budget: Budget,
    /// The request classes, drawn by weight for every request.
    pub mix: Vec<RequestClass>,
}

/// The whole workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadPlan {
    /// The clients, run concurrently.
    pub clients: Vec<ClientPlan>,
    /// A request without an answer after this long is recorded as a timeout.
    pub request_timeout: Duration,
    /// Put before every request id, so that the requests of two runs against
    /// the same fleet (a warm-up and the measured run) never share an id.
    pub id_prefix: String,
}

/// Why a plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A client has neither a request budget nor a duration.
    #[error("client '{0}' is unbounded: give it a request budget or a duration")]
    Unbounded(String),
    /// A client has no request class with a positive weight.
    #[error("client '{0}' has no request class with a positive weight")]
    EmptyMix(String),
    /// A client has no connection or no worker.
    #[error("client '{0}' needs at least one connection and one request in flight")]
    NoConnection(String),
    /// A client's pause cannot run as planned.
    #[error("client '{client}' cannot pause: {reason}")]
    Pause {
        /// The client.
        client: String,
        /// Why.
        reason: &'static str,
    },
}

/// Live state the runner reads (progress bars, phases, sequential tests) and
/// writes (phase, stop). What the runner waits for arrives as events, not
/// by looking again and again: a count reached ([`Progress::sent_reaches`]),
/// every ended request in turn ([`Progress::subscribe`]), a stop
/// ([`Progress::stop`], a cancellation token) and the moment requests last
/// moved or were last answered ([`Progress::moved`], [`Progress::answers`]).
#[derive(Debug)]
pub struct Progress {
    /// Requests started so far, over all clients.
    pub sent: AtomicU64,
    /// Requests ended so far.
    pub done: AtomicU64,
    /// Requests ended with an answer (any status) so far: what moves while
    /// the proxy is alive, even when every request times out elsewhere.
    pub answered: AtomicU64,
    /// The routing phase in force (changes applied); stamped on every request sent.
    pub phase: AtomicUsize,
    /// Routing changes begun (set before a change is applied): a request
    /// that sees this move past its phase while in flight overlapped a switch.
    pub switches_begun: AtomicUsize,
    /// Cancelled when the evidence is already decisive: no request starts
    /// after it, the ones in flight finish and are recorded.
    pub stop: CancellationToken,
    /// New connections the HTTP clients opened because a server closed a
    /// kept-alive one (see [`crate::client::http`]), counted as each
    /// workload connection ends: a report says so, so that a proxy that
    /// keeps closing connections is seen even when no request was lost.
    pub reconnects: AtomicU64,
    /// When a request was last sent or ended.
    pub moved: Arc<Activity>,
    /// When a request was last answered, or when one was sent with none in
    /// flight before it (so a silence counts only time spent waiting).
    pub answers: Arc<Activity>,
    /// The smallest `sent` count a waiter waits for (`u64::MAX`: none).
    mark: AtomicU64,
    marked: Notify,
    /// The requests ended so far, in the order they ended; the ledger is
    /// made of them when the run is over.
    finished: Mutex<Finished>,
    /// The heartbeat tallies of the connections that sent heartbeats.
    heartbeats: Mutex<Vec<Heartbeats>>,
    /// Where routing changes are relayed, for a workload elsewhere.
    relay: Mutex<Option<mpsc::UnboundedSender<Relayed>>>,
}

/// A routing change relayed to a workload elsewhere, and the means to
/// say it is in force there.
#[derive(Debug)]
pub struct Relayed {
    /// The step of the change.
    pub switch: Switch,
    /// Sent once requests sent from then on carry it.
    pub confirm: oneshot::Sender<()>,
}

/// A step of a routing change, as relayed to a workload elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    /// The change to this phase began.
    Begun(usize),
    /// This phase's routing is in force.
    Applied(usize),
}

#[derive(Debug, Default)]
struct Finished {
    entries: Vec<Entry>,
    /// Where each ended request is also sent as it ends, once subscribed.
    subscriber: Option<mpsc::UnboundedSender<Entry>>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            sent: AtomicU64::new(0),
            done: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            phase: AtomicUsize::new(0),
            switches_begun: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            reconnects: AtomicU64::new(0),
            moved: Activity::new(),
            answers: Activity::new(),
            mark: AtomicU64::new(u64::MAX),
            marked: Notify::new(),
            finished: Mutex::default(),
            heartbeats: Mutex::default(),
            relay: Mutex::default(),
        }
    }
}

impl Progress {
    /// Every request that ended so far, then each one as it ends, in the
    /// order they ended (one subscriber: a later one replaces it).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Entry> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        for entry in &finished.entries {
            let _ = sender.send(entry.clone());
        }
        finished.subscriber = Some(sender);
        receiver
    }

    /// Resolves once `n` requests have been sent.
    pub async fn sent_reaches(&self, n: u64) {
        loop {
            let notified = self.marked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.mark.fetch_min(n, Ordering::SeqCst);
            if self.sent.load(Ordering::SeqCst) >= n {
                // Ours may be the mark that hid another waiter's larger
                // one: clear it and wake them all to set theirs again.
                if self
                    .mark
                    .compare_exchange(n, u64::MAX, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    self.marked.notify_waiters();
                }
                return;
            }
            notified.await;
        }
    }

    /// Counts a request sent; returns its place in the send order.
    fn count_sent(&self) -> u64 {
        if self.sent.load(Ordering::SeqCst) == self.done.load(Ordering::SeqCst) {
            self.answers.touch();
        }
        let order = self.sent.fetch_add(1, Ordering::SeqCst);
        if order + 1 >= self.mark.load(Ordering::SeqCst) {
            self.marked.notify_waiters();
        }
        self.moved.touch();
        order
    }

    /// A routing change to phase `to` begins: a request still in flight
    /// once this returns is marked as overlapping the switch. With a relay
    /// ([`Progress::relay_switches`]), it returns once the relay confirms.
    pub async fn begin_switch(&self, to: usize) {
        self.switches_begun.store(to, Ordering::SeqCst);
        self.relay(Switch::Begun(to)).await;
    }

    /// Phase `to`'s routing is in force: requests sent from now on carry it.
    pub async fn end_switch(&self, to: usize) {
        self.phase.store(to, Ordering::SeqCst);
        self.relay(Switch::Applied(to)).await;
    }

    /// Every routing change from now on, each with the means to confirm
    /// it, for a workload that runs elsewhere: [`Progress::begin_switch`]
    /// and [`Progress::end_switch`] wait for the confirmation, so no
    /// request is stamped with a phase its routing was not in.
    pub fn relay_switches(&self) -> mpsc::UnboundedReceiver<Relayed> {
        let (sender, receiver) = mpsc::unbounded_channel();
        *self.relay.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        receiver
    }

    async fn relay(&self, switch: Switch) {
        let relay = self.relay.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(relay) = relay {
            let (confirm, confirmed) = oneshot::channel();
            // A relay gone means its workload ended: nothing left to stamp.
            if relay.send(Relayed { switch, confirm }).is_ok() {
                let _ = confirmed.await;
            }
        }
    }

    /// A workload elsewhere has sent `total` requests so far.
    pub fn observe_sent(&self, total: u64) {
        while self.sent.load(Ordering::SeqCst) < total {
            self.count_sent();
        }
    }

    /// A request of a workload elsewhere ended.
    pub fn observe_ended(&self, entry: Entry) {
        self.record(entry);
    }

    /// The ledger of a workload that ran elsewhere: its requests as they
    /// were observed, `sent` and the heartbeat tallies as it reported them.
    pub fn observed_ledger(&self, sent: u64, heartbeats: Vec<Heartbeats>) -> Ledger {
        Ledger {
            sent,
            entries: self.take_finished(),
            heartbeats,
        }
    }

    fn record(&self, entry: Entry) {
        if matches!(entry.outcome, Outcome::Response { .. }) {
            self.answered.fetch_add(1, Ordering::Relaxed);
            self.answers.touch();
        }
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(subscriber) = &finished.subscriber
            && subscriber.send(entry.clone()).is_err()
        {
            finished.subscriber = None;
        }
        finished.entries.push(entry);
        drop(finished);
        self.done.fetch_add(1, Ordering::Relaxed);
        self.moved.touch();
    }

    fn take_finished(&self) -> Vec<Entry> {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.subscriber = None;
        std::mem::take(&mut finished.entries)
    }

    /// Keeps a connection's heartbeat tally, when it sent any.
    fn record_heartbeats(&self, tally: Heartbeats) {
        if tally.sent > 0 {
            self.heartbeats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(tally);
        }
    }

    fn take_heartbeats(&self) -> Vec<Heartbeats> {
        let mut tallies =
            std::mem::take(&mut *self.heartbeats.lock().unwrap_or_else(|p| p.into_inner()));
        tallies.sort_by_key(|t| t.connection);
        tallies
    }
}

impl WorkloadPlan {
    /// Checks that every client is bounded and can send.
    ///
    /// # Errors
    /// The first client that cannot run.
    pub fn check(&self) -> Result<(), PlanError> {
        for client in &self.clients {
            if client.budget.requests.is_none() && client.budget.duration.is_none() {
                return Err(PlanError::Unbounded(client.name.clone()));
            }
            if client.mix.iter().all(|c| c.weight == 0) {
                return Err(PlanError::EmptyMix(client.name.clone()));
            }
            if client.connections == 0 || client.in_flight == 0 {
                return Err(PlanError::NoConnection(client.name.clone()));
            }
            if let Some(pause) = client.pause {
                client
                    .check_pause(pause)
                    .map_err(|reason| PlanError::Pause {
                        client: client.name.clone(),
                        reason,
                    })?;
            }
        }
        Ok(())
    }
}

impl ClientPlan {
    /// Why `pause` cannot run on this client, if it cannot.
    fn check_pause(&self, pause: Pause) -> Result<(), &'static str> {
        if pause.every == 0 {
            return Err("it must send at least 1 request between pauses");
        }
        if self.pace != Pace::Closed {
            return Err("an open loop starts requests whatever its connections do");
        }
        if self.lifetime.is_some() {
            return Err("a lifetime replaces the connection a pause keeps");
        }
        let Some(heartbeat) = pause.heartbeat else {
            return Ok(());
        };
        if heartbeat.is_zero() || heartbeat >= pause.idle {
            return Err("the heartbeat interval must be above 0 and below the pause");
        }
        let dubbo = self
            .mix
            .iter()
            .all(|class| matches!(class.call, Call::Dubbo { .. }));
        if !dubbo {
            return Err("heartbeats are Dubbo's, and it sends another protocol");
        }
        Ok(())
    }
}

/// One request's place: its number within its client, and within the run.
#[derive(Debug, Clone, Copy)]
struct Slot {
    n: u64,
    order: u64,
}

/// State one client's tasks share.
struct ClientRun {
    index: usize,
    plan: ClientPlan,
    started: Instant,
    deadline: Option<Instant>,
    slots: AtomicU64,
    next_connection: Arc<AtomicU64>,
    rng: Mutex<StdRng>,
    id_prefix: String,
    progress: Arc<Progress>,
    request_timeout: Duration,
    cancel: CancellationToken,
}

impl ClientRun {
    /// Takes the next request slot and its place in the run's send order,
    /// or `None` when the budget or time is spent.
    fn take_slot(&self) -> Option<Slot> {
        let n = self.reserve()?;
        self.commit(n)
    }

    /// Whether the run goes on: not cancelled, not stopped by a decided test.
    fn running(&self) -> bool {
        !self.cancel.is_cancelled() && !self.progress.stop.is_cancelled()
    }

    /// Takes the next request number from the budget, or `None` when the
    /// budget or time is spent. The request is not sent (nor counted in
    /// `sent`) until [`ClientRun::commit`].
    fn reserve(&self) -> Option<u64> {
        if !self.running() || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let n = self.slots.fetch_add(1, Ordering::Relaxed);
        if self.plan.budget.requests.is_some_and(|max| n >= max) {
            return None;
        }
        Some(n)
    }

    /// Gives reserved request `n` its place in the run's send order, unless
    /// the run has ended meanwhile.
    fn commit(&self, n: u64) -> Option<Slot> {
        if !self.running() || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let order = self.progress.count_sent();
        Some(Slot { n, order })
    }

    /// Reserves the first request after a pause of `idle`, so that a pause
    /// is only taken when a request follows it; `None` when none could
    /// (budget spent, or the time bound falls within the pause).
    fn reserve_after(&self, idle: Duration) -> Option<u64> {
        if self.deadline.is_some_and(|d| Instant::now() + idle >= d) {
            return None;
        }
        self.reserve()
    }

    /// Sleeps until `at`; false when the run stopped first. `stop` is a
    /// flag, not a signal, so it is looked at every [`STOP_POLL`].
    async fn wait_until(&self, at: Instant) -> bool {
        while Instant::now() < at {
            if !self.running() {
                return false;
            }
            let next = at.min(Instant::now() + STOP_POLL);
            tokio::select! {
                _ = self.cancel.cancelled() => return false,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
        self.running()
    }

    /// Sends one heartbeat on `connection` and waits for its answer, at most
    /// three intervals (a Dubbo consumer gives up on a channel after three
    /// heartbeat intervals without a read) and never beyond the request timeout.
    async fn heartbeat(&self, connection: &Connection, interval: Duration) -> Result<(), String> {
        let limit = (interval * 3).min(self.request_timeout);
        tokio::select! {
            _ = self.cancel.cancelled() => Err("still in flight when the run was interrupted".to_owned()),
            answered = tokio::time::timeout(limit, connection.heartbeat()) => {
                answered.unwrap_or_else(|_| Err(format!("no answer within {limit:?}")))
            }
        }
    }

    fn pick_class(&self) -> &RequestClass {
        let total: u64 = self.plan.mix.iter().map(|c| u64::from(c.weight)).sum();
        let mut point = self
            .rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random_range(0..total.max(1));
        for class in &self.plan.mix {
            if point < u64::from(class.weight) {
                return class;
            }
            point -= u64::from(class.weight);
        }
        &self.plan.mix[0]
    }

    /// Sends one request on `connection` and records its outcome.
    async fn request(&self, connection: &Connection, slot: Slot, intended: Instant) {
        let class = self.pick_class();
        let id = format!(
            "{}c{}-{}-{}",
            self.id_prefix,
            self.index,
            connection.id(),
            slot.n
        );
        let phase = self.progress.phase.load(Ordering::SeqCst);
        let sent_at = Instant::now();
        let outcome = tokio::select! {
            _ = self.cancel.cancelled() => Outcome::Unfinished,
            answered = tokio::time::timeout(self.request_timeout, connection.send(&class.call, &id)) => {
                answered.unwrap_or(Outcome::Timeout)
            }
        };
        let now = Instant::now();
        let switching = self.progress.switches_begun.load(Ordering::SeqCst) > phase;
        let entry = Entry {
            id,
            order: slot.order,
            class: class.name.clone(),
            client: self.index,
            connection: connection.id(),
            phase,
            switching,
            intended: intended.saturating_duration_since(self.started),
            latency: now.saturating_duration_since(intended),
            service_time: now.saturating_duration_since(sent_at),
            outcome,
        };
        self.progress.record(entry);
    }
}

/// Runs the workload to its bounds (or until `cancel`) and returns the ledger.
///
/// # Errors
/// [`PlanError`] when the plan is not runnable; nothing is sent then.
pub async fn run(
    plan: &WorkloadPlan,
    seed: u64,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<Ledger, PlanError> {
    plan.check()?;
    let next_connection = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in plan.clients.iter().enumerate() {
        let run = Arc::new(ClientRun {
            index,
            plan: client.clone(),
            started,
            deadline: client.budget.duration.map(|d| started + d),
            slots: AtomicU64::new(0),
            next_connection: Arc::clone(&next_connection),
            rng: Mutex::new(StdRng::seed_from_u64(
                seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            )),
            id_prefix: plan.id_prefix.clone(),
            progress: Arc::clone(&progress),
            request_timeout: plan.request_timeout,
            cancel: cancel.clone(),
        });
        match client.pace {
            Pace::Closed => {
                for _ in 0..client.connections {
                    tasks.spawn(closed_loop(Arc::clone(&run)));
                }
            }
            Pace::Open { rate, poisson } => {
                tasks.spawn(open_loop(Arc::clone(&run), rate, poisson));
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(Ledger {
        sent: progress.sent.load(Ordering::Relaxed),
        entries: progress.take_finished(),
        heartbeats: progress.take_heartbeats(),
    })
}

/// How often a pause looks at [`Progress::stop`].
const STOP_POLL: Duration = Duration::from_millis(50);

/// One connection with `in_flight` workers, replaced when its lifetime is up.
async fn closed_loop(run: Arc<ClientRun>) {
    loop {
        let connection = Connection::open(&run.plan, &run.next_connection, &run.progress).await;
        if rounds(&run, &connection).await == Stopped::Done {
            return;
        }
    }
}

/// Why a connection's workers stopped starting requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stopped {
    /// The round before the next pause is complete.
    Paused,
    /// The connection's lifetime is up: the client reconnects.
    Expired,
    /// The client's budget or time is spent, or the run is stopping.
    Done,
}

/// The requests of one connection between two pauses (all of them, without
/// a pause).
struct Round {
    /// How many requests the round starts; `None`: no bound but the others.
    quota: Option<u64>,
    started: AtomicU64,
    /// The budget slot reserved before the pause, for the round's first request.
    carried: Mutex<Option<u64>>,
}

impl Round {
    fn new(quota: Option<u64>, carried: Option<u64>) -> Round {
        Round {
            quota,
            started: AtomicU64::new(0),
            carried: Mutex::new(carried),
        }
    }

    /// Counts one more request of the round if its quota allows it.
    fn admits_one(&self) -> bool {
        self.quota
            .is_none_or(|quota| self.started.fetch_add(1, Ordering::Relaxed) < quota)
    }

    /// The next request's slot: the one carried over the pause, else a new one.
    fn take_slot(&self, run: &ClientRun) -> Option<Slot> {
        let carried = self
            .carried
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match carried {
            Some(n) => run.commit(n),
            None => run.take_slot(),
        }
    }
}

/// The rounds of requests of one connection and the pauses between them,
/// until the client is done or the connection's lifetime is up. The
/// connection's heartbeats are tallied in the run's progress.
async fn rounds(run: &ClientRun, connection: &Connection) -> Stopped {
    let life = Life::new(run.plan.lifetime);
    let mut tally = Heartbeats::new(run.index, connection.id());
    let mut carried = None;
    let stopped = loop {
        let round = Round::new(run.plan.pause.map(|p| p.every), carried.take());
        let workers = (0..run.plan.in_flight).map(|_| worker(run, connection, &life, &round));
        // Done over Expired over Paused: a round is over only when every
        // worker stopped for it, and then every answer of the round is in.
        let stopped = futures::future::join_all(workers)
            .await
            .into_iter()
            .max()
            .unwrap_or(Stopped::Done);
        let pause = match (stopped, run.plan.pause) {
            (Stopped::Paused, Some(pause)) => pause,
            _ => break stopped,
        };
        let Some(next) = run.reserve_after(pause.idle) else {
            break Stopped::Done;
        };
        idle(run, connection, pause, &mut tally).await;
        carried = Some(next);
    };
    run.progress.record_heartbeats(tally);
    stopped
}

/// One worker of a round: starts a request whenever its previous one is
/// answered, while the round, the connection's life and the budget allow.
async fn worker(run: &ClientRun, connection: &Connection, life: &Life, round: &Round) -> Stopped {
    loop {
        if !round.admits_one() {
            return Stopped::Paused;
        }
        if !life.admits_one() {
            return Stopped::Expired;
        }
        let Some(slot) = round.take_slot(run) else {
            return Stopped::Done;
        };
        run.request(connection, slot, Instant::now()).await;
    }
}

/// Keeps `connection` idle for `pause.idle` with nothing in flight, sending
/// a heartbeat every `pause.heartbeat` (each awaited and tallied, so the
/// pause may run over by a late answer); ends early when the run stops.
async fn idle(run: &ClientRun, connection: &Connection, pause: Pause, tally: &mut Heartbeats) {
    let start = Instant::now();
    let end = start + pause.idle;
    if let Some(interval) = pause.heartbeat {
        let mut beat = start + interval;
        while beat < end {
            if !run.wait_until(beat).await {
                return;
            }
            tally.record(run.heartbeat(connection, interval).await);
            beat += interval;
        }
    }
    run.wait_until(end).await;
}

/// How much of a connection's lifetime is used.
struct Life {
    lifetime: Option<Lifetime>,
    opened: Instant,
    started: AtomicU64,
}

impl Life {
    fn new(lifetime: Option<Lifetime>) -> Life {
        Life {
            lifetime,
            opened: Instant::now(),
            started: AtomicU64::new(0),
        }
    }

    /// Counts one more request on the connection if its life allows it.
    fn admits_one(&self) -> bool {
        match self.lifetime {
            None => true,
            Some(Lifetime::Requests(max)) => self.started.fetch_add(1, Ordering::Relaxed) < max,
            Some(Lifetime::Duration(max)) => self.opened.elapsed() < max,
        }
    }
}

/// An open-loop connection and its life so far.
struct Lived {
    connection: Arc<Connection>,
    life: Life,
}

impl Lived {
    async fn open(run: &ClientRun) -> Lived {
        Lived {
            connection: Arc::new(
                Connection::open(&run.plan, &run.next_connection, &run.progress).await,
            ),
            life: Life::new(run.plan.lifetime),
        }
    }
}

/// Requests started on schedule, spread over the client's connections; a
/// connection whose life is up is replaced before its next request.
async fn open_loop(run: Arc<ClientRun>, rate: f64, poisson: bool) {
    let mut connections = Vec::with_capacity(run.plan.connections);
    for _ in 0..run.plan.connections {
        connections.push(Lived::open(&run).await);
    }
    let mean_gap = 1.0 / rate.max(1e-9);
    let mut intended = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut turn = 0usize;
    loop {
        let gap = if poisson {
            let u: f64 = run.rng.lock().unwrap_or_else(|p| p.into_inner()).random();
            -mean_gap * (1.0 - u).ln()
        } else {
            mean_gap
        };
        intended += Duration::from_secs_f64(gap.min(3600.0));
        tokio::select! {
            _ = run.cancel.cancelled() => break,
            _ = tokio::time::sleep_until(intended) => {}
        }
        let Some(slot) = run.take_slot() else { break };
        let index = turn % connections.len();
        turn += 1;
        if !connections[index].life.admits_one() {
            connections[index] = Lived::open(&run).await;
            connections[index].life.admits_one();
        }
        let connection = Arc::clone(&connections[index].connection);
        let run = Arc::clone(&run);
        in_flight.spawn(async move { run.request(&connection, slot, intended).await });
    }
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests;
