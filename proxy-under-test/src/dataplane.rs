//! The data plane: one listener per service, each decoding requests on
//! long-lived downstream connections and routing every request on its own.
//!
//! A request goes through the same steps whatever its protocol:
//! 1. the protocol module decodes it and builds its attribute view;
//! 2. `ListenerContext::decide` selects the route (first match), draws the weighted
//!    cluster (an independent draw per request), picks the endpoint (the
//!    cluster's balancer) and draws the mirror;
//! 3. the protocol module forwards it, fires the mirror copy, and answers
//!    the downstream connection with the request's own id.
//!
//! The table arrives through a watch channel, so a reload applies to the
//! next request on connections that stay open.

mod admission;
mod dubbo;
mod grpc;
mod http;
mod policy;
mod tcp;
mod thrift;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use std::future::Future;

use meshbench_wire::attributes::Attributes;
use meshbench_wire::dubbo::DubboCodec;
use meshbench_wire::http1::ServerCodec;
use meshbench_wire::mux::{Answer, Ended, Order, Refusal, serve};
use meshbench_wire::thrift::{ThriftCodec, TransportMode};
use meshbench_wire::{CodecError, Limits, Protocol};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use admission::{Acceptor, Admission};
use meshbench_wire::mux::{Buffered, Metered};
pub use meshbench_wire::mux::{DEFAULT_MEMORY_BUDGET, MemoryBudget};

use crate::balance::{Balancers, Pick};
use crate::breaker::Breakers;
use crate::outlier::Outliers;
use crate::route::{
    Action, Cluster, Forward, OutlierDetection, PoolLimits, Redirect, Route, RouteTable,
    StringMatcher, select,
};
use crate::route::{LbPolicy, WeightedClusters};
use crate::stats::Stats;
use crate::upstream::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_UPSTREAM_IDLE_TIMEOUT, Upstreams};

/// The attribute holding the HTTP path without its query, which Istio
/// `uri` matches test; `@` cannot start a header name, so it never collides.
pub const PATH: &str = "@path";

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not bind.
    #[error("cannot listen for {service} on {ip}: {source}")]
    Bind {
        /// The service.
        service: String,
        /// The address tried.
        ip: IpAddr,
        /// The bind error.
        source: std::io::Error,
    },
}

/// How the proxy handles traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Decode every request and route it on its own (the reference behaviour).
    #[default]
    L7,
    /// Every listener is a `tcp_proxy`: each downstream connection picks an
    /// endpoint of its service once and is spliced to it byte for byte. This
    /// is what Istio does for these ports without Aeraki, and the negative
    /// control: requests on one long-lived connection all reach one endpoint.
    L4,
}

/// How long an idle downstream connection stays open by default.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Where and how the proxy starts.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The address every listener binds (each on its own port).
    pub ip: IpAddr,
    /// Seed of the per-request random draws.
    pub seed: u64,
    /// L7 routing, or the L4 negative control.
    pub mode: Mode,
    /// Downstream connections with nothing in flight and no whole request
    /// for this long are closed (Aeraki's `idle_timeout`); this is also what
    /// ends a peer trickling a frame byte by byte.
    pub idle_timeout: Option<std::time::Duration>,
    /// The most downstream connections open at once, over every listener;
    /// `None` for no limit but the file descriptors. Connections past it
    /// are accepted and closed at once, and counted.
    pub max_connections: Option<usize>,
    /// The bytes every downstream connection's buffers may hold together
    /// ([`MemoryBudget`]): past it the largest holders are closed, then
    /// the connection asking is refused.
    pub memory_budget: usize,
    /// Pooled HTTP keep-alive connections unused for this long are closed.
    pub upstream_idle_timeout: std::time::Duration,
    /// Deliberate defects, for the bench's negative controls only.
    pub faults: Faults,
}

/// Deliberate defects a negative control switches on, to show that the
/// bench catches a proxy that has them. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Answer a mirrored request's client with the mirror's answer (the
    /// primary is still forwarded): shadow traffic leaking to users.
    pub leak_mirror_answers: bool,
    /// In L4 mode, send each connection to a cluster drawn by the weights
    /// of the listener's first route, whatever it matches: a `tcp_proxy`
    /// with weighted clusters, or HAProxy `mode tcp` with weighted servers.
    /// Its connections split by weight, each pinned to one version.
    pub l4_by_weight: bool,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            seed: 1,
            mode: Mode::L7,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_connections: None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            upstream_idle_timeout: DEFAULT_UPSTREAM_IDLE_TIMEOUT,
            faults: Faults::default(),
        }
    }
}

/// A listening proxy. Dropping it stops it.
#[derive(Debug)]
pub struct Proxy {
    listeners: Vec<(String, SocketAddr)>,
    table: watch::Sender<Arc<RouteTable>>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl Proxy {
    /// Binds one listener per service of `table` on `ip` (each on its own
    /// port) and starts serving.
    ///
    /// # Errors
    /// [`ProxyError::Bind`] when a listener cannot bind.
    pub async fn start(table: RouteTable, options: &ProxyOptions) -> Result<Proxy, ProxyError> {
        let (ip, seed, mode) = (options.ip, options.seed, options.mode);
        let (sender, receiver) = watch::channel(Arc::new(table));
        let shared = Arc::new(Shared {
            table: receiver,
            balancers: Balancers::default(),
            breakers: Breakers::default(),
            outliers: Outliers::default(),
            upstreams: Upstreams::default(),
            stats: Stats::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            idle_timeout: options.idle_timeout,
            admission: Admission::new(options.max_connections),
            budget: Arc::new(MemoryBudget::new(options.memory_budget)),
            faults: options.faults,
        });
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(trim_upstreams(
            Arc::clone(&shared),
            options.upstream_idle_timeout,
            cancel.clone(),
        ));
        let mut listeners = Vec::new();
        let current = shared.table.borrow().clone();
        for (index, listener) in current.listeners.iter().enumerate() {
            let bound = TcpListener::bind(SocketAddr::new(ip, 0))
                .await
                .map_err(|source| ProxyError::Bind {
                    service: listener.service.clone(),
                    ip,
                    source,
                })?;
            let addr = bound.local_addr().map_err(|source| ProxyError::Bind {
                service: listener.service.clone(),
                ip,
                source,
            })?;
            listeners.push((listener.service.clone(), addr));
            let context = Arc::new(ListenerContext {
                index,
                service: listener.service.clone(),
                shared: Arc::clone(&shared),
            });
            let protocol = if mode == Mode::L4 {
                Protocol::Tcp
            } else {
                listener.protocol
            };
            tracker.spawn(accept(
                bound,
                protocol,
                context,
                tracker.clone(),
                cancel.clone(),
            ));
        }
        Ok(Proxy {
            listeners,
            table: sender,
            shared,
            _stop_on_drop: cancel.clone().drop_guard(),
            cancel,
            tracker,
        })
    }

    /// `(service, listener address)` for every service, in table order.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// The table in force.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.borrow().clone()
    }

    /// Applies a new table to the next request of every connection.
    ///
    /// # Errors
    /// A sentence when the new table's listeners are not the running ones
    /// (services cannot be added or removed while running).
    pub fn apply(&self, table: RouteTable) -> Result<(), String> {
        let running: Vec<&str> = self.listeners.iter().map(|(s, _)| s.as_str()).collect();
        let offered: Vec<&str> = table.listeners.iter().map(|l| l.service.as_str()).collect();
        if running != offered {
            return Err(format!(
                "the new table serves {offered:?}, the proxy listens for {running:?}"
            ));
        }
        self.table.send_replace(Arc::new(table));
        Ok(())
    }

    /// The bytes downstream connections hold of the memory budget now.
    pub fn memory_held(&self) -> usize {
        self.shared.budget.held()
    }

    /// HTTP keep-alive connections to endpoints idle in the pool now.
    pub fn pooled_http_connections(&self) -> usize {
        self.shared.upstreams.trim_http(std::time::Duration::MAX)
    }

    /// The proxy's counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Stops listening and closes every connection.
    pub async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.tracker.wait()).await;
    }
}

/// What every connection of every listener shares.
#[derive(Debug)]
pub(crate) struct Shared {
    table: watch::Receiver<Arc<RouteTable>>,
    balancers: Balancers,
    pub(crate) breakers: Breakers,
    pub(crate) outliers: Outliers,
    pub(crate) upstreams: Upstreams,
    pub(crate) stats: Stats,
    rng: Mutex<StdRng>,
    idle_timeout: Option<std::time::Duration>,
    admission: Admission,
    pub(crate) budget: Arc<MemoryBudget>,
    pub(crate) faults: Faults,
}

impl Shared {
    /// The proxy's random source: every weighted, mirror and fault draw is
    /// an independent draw from it.
    pub(crate) fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One listener's view of the shared state.
#[derive(Debug)]
pub(crate) struct ListenerContext {
    index: usize,
    pub(crate) service: String,
    pub(crate) shared: Arc<Shared>,
}

/// What to do with one request.
#[derive(Debug)]
pub(crate) enum Decision {
    /// No route matched.
    NoRoute,
    /// A route matched, but its cluster has no endpoint to send to.
    NoHealthyUpstream { cluster: String },
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Send it upstream.
    Forward(Box<Target>),
}

/// Where a forwarded request goes.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) route: String,
    pub(crate) cluster: String,
    pub(crate) endpoint: Pick,
    pub(crate) forward: Arc<Forward>,
    pub(crate) connect_timeout: std::time::Duration,
    /// The cluster's circuit-breaker limits.
    pub(crate) pool: PoolLimits,
    /// The cluster's outlier detection, if any.
    pub(crate) outlier: Option<OutlierDetection>,
    /// How many endpoints the cluster has (for `maxEjectionPercent`).
    pub(crate) cluster_size: usize,
    /// The mirror endpoint, when this request is mirrored.
    pub(crate) mirror: Option<(String, SocketAddr)>,
    /// The consistent-hash value the endpoint was picked by, if any.
    pub(crate) hash: Option<String>,
    /// The `@path` prefix the matching block required, which an HTTP
    /// rewrite replaces (Istio rewrites the matched prefix).
    pub(crate) path_prefix: Option<String>,
}

impl ListenerContext {
    /// Routes one request: route, weighted cluster, endpoint, mirror.
    pub(crate) fn decide(&self, attributes: &Attributes) -> Decision {
        let table = self.shared.table.borrow().clone();
        let Some(listener) = table.listeners.get(self.index) else {
            return Decision::NoRoute;
        };
        let Some(route) = select(listener, attributes) else {
            self.count("meshproxy_no_route_total", &[]);
            return Decision::NoRoute;
        };
        self.decide_on(&table, route, attributes)
    }

    /// Routes one request by `route`: weighted cluster, endpoint, mirror.
    fn decide_on(&self, table: &RouteTable, route: &Route, attributes: &Attributes) -> Decision {
        let forward = match &route.action {
            Action::Redirect(redirect) => return Decision::Redirect(redirect.clone()),
            Action::Forward(forward) => forward,
        };
        let mut rng = self.shared.rng();
        let cluster_name = forward
            .clusters
            .pick(rng.random::<u64>())
            .cloned()
            .unwrap_or_default();
        let hash = forward
            .hash_key
            .as_deref()
            .and_then(|key| attributes.get(key));
        let picked = table.clusters.get(&cluster_name).and_then(|cluster| {
            let ejected = self.shared.outliers.ejected(&cluster.name);
            let pick = self
                .shared
                .balancers
                .pick(cluster, &ejected, hash, &mut *rng)?;
            Some((cluster, pick))
        });
        let Some((cluster, endpoint)) = picked else {
            self.count(
                "meshproxy_no_healthy_upstream_total",
                &[("route", &route.name), ("cluster", &cluster_name)],
            );
            return Decision::NoHealthyUpstream {
                cluster: cluster_name,
            };
        };
        let mirror = forward
            .mirror
            .as_ref()
            .filter(|m| m.applies(rng.random_range(0..1_000_000)))
            .and_then(|m| {
                let mirror_cluster = table.clusters.get(&m.cluster)?;
                let pick = self
                    .shared
                    .balancers
                    .pick(mirror_cluster, &[], None, &mut *rng)?;
                Some((m.cluster.clone(), pick.addr))
            });
        Decision::Forward(Box::new(Target {
            route: route.name.clone(),
            cluster: cluster_name,
            endpoint,
            forward: Arc::clone(forward),
            connect_timeout: connect_timeout(cluster),
            pool: cluster.pool.clone(),
            outlier: cluster.outlier.clone(),
            cluster_size: cluster.endpoints.len(),
            mirror,
            hash: hash.map(str::to_owned),
            path_prefix: matched_path_prefix(route, attributes),
        }))
    }

    /// Routes a whole connection. A TCP listener uses its weighted route; in
    /// L4 mode an L7 listener (whose routes match on requests it no longer
    /// decodes) sends each connection to any endpoint of its service, round
    /// robin, as a `tcp_proxy` to the service's cluster does.
    pub(crate) fn decide_connection(&self) -> Decision {
        let table = self.shared.table.borrow().clone();
        let Some(listener) = table.listeners.get(self.index) else {
            return Decision::NoRoute;
        };
        if listener.protocol == Protocol::Tcp {
            return self.decide(&Attributes::default());
        }
        if self.shared.faults.l4_by_weight
            && let Some(route) = listener.routes.first()
        {
            return self.decide_on(&table, route, &Attributes::default());
        }
        let mut endpoints: Vec<SocketAddr> = table
            .clusters
            .values()
            .filter(|c| c.service == listener.service)
            .flat_map(|c| c.endpoints.iter().copied())
            .collect();
        endpoints.sort();
        endpoints.dedup();
        let name = format!("outbound|{}||{}", listener.port, listener.service);
        let cluster = Cluster {
            name: name.clone(),
            service: listener.service.clone(),
            port: listener.port,
            subset: None,
            endpoints,
            lb: LbPolicy::RoundRobin,
            pool: PoolLimits::default(),
            outlier: None,
        };
        let picked = self
            .shared
            .balancers
            .pick(&cluster, &[], None, &mut *self.shared.rng());
        let Some(endpoint) = picked else {
            return Decision::NoHealthyUpstream { cluster: name };
        };
        Decision::Forward(Box::new(Target {
            route: "tcp_proxy".to_owned(),
            forward: Arc::new(Forward::to(WeightedClusters::single(name.clone()))),
            cluster: name,
            endpoint,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            pool: PoolLimits::default(),
            outlier: None,
            cluster_size: cluster.endpoints.len(),
            mirror: None,
            hash: None,
            path_prefix: None,
        }))
    }

    /// The endpoint of a retry: the balancer runs again and skips ejected
    /// endpoints. Without a hash it prefers one not `tried` yet, as Istio's
    /// `previous_hosts` predicate does, and takes a tried one only when no
    /// other is left; with a hash it picks the same endpoint again, as Istio
    /// drops the predicate under consistent hashing.
    pub(crate) fn repick(&self, target: &Target, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let table = self.shared.table.borrow().clone();
        let cluster = table.clusters.get(&target.cluster)?;
        let ejected = self.shared.outliers.ejected(&cluster.name);
        let hash = target.hash.as_deref();
        let mut rng = self.shared.rng();
        let balancers = &self.shared.balancers;
        let fresh = match hash {
            Some(_) => None,
            None => {
                let avoided: Vec<SocketAddr> = ejected.iter().chain(tried).copied().collect();
                balancers.pick(cluster, &avoided, None, &mut *rng)
            }
        };
        fresh
            .or_else(|| balancers.pick(cluster, &ejected, hash, &mut *rng))
            .map(|p| p.addr)
    }

    /// Counts `name` for this listener plus `labels`.
    pub(crate) fn count(&self, name: &str, labels: &[(&str, &str)]) {
        let listener = [("listener", self.service.as_str())];
        self.shared.stats.add_parts(name, &[&listener, labels], 1);
    }

    /// Counts a forwarded request's outcome under its route, cluster and endpoint.
    pub(crate) fn count_forwarded(&self, target: &Target, outcome: &str) {
        self.count(
            "meshproxy_requests_total",
            &[
                ("route", &target.route),
                ("cluster", &target.cluster),
                ("endpoint", target.endpoint.label()),
                ("outcome", outcome),
            ],
        );
    }

    /// Counts a mirror copy's fate.
    pub(crate) fn count_mirror(&self, cluster: &str, outcome: &str) {
        self.count(
            "meshproxy_mirror_requests_total",
            &[("cluster", cluster), ("outcome", outcome)],
        );
    }
}

fn matched_path_prefix(route: &Route, attributes: &Attributes) -> Option<String> {
    let block = route.matches.iter().find(|m| m.holds(attributes))?;
    block
        .conditions
        .iter()
        .find_map(|c| match (&c.matcher, c.attribute.as_str()) {
            (StringMatcher::Prefix(prefix), PATH) => Some(prefix.clone()),
            _ => None,
        })
}

fn connect_timeout(cluster: &Cluster) -> std::time::Duration {
    cluster
        .pool
        .connect_timeout
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
}

/// Closes idle pooled upstream connections, checking a few times per
/// timeout, so that a burst's connections do not stay open for good.
async fn trim_upstreams(shared: Arc<Shared>, idle: std::time::Duration, cancel: CancellationToken) {
    let every = (idle / 4).max(std::time::Duration::from_millis(100));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        shared.upstreams.trim_http(idle);
    }
}

async fn accept(
    listener: TcpListener,
    protocol: Protocol,
    context: Arc<ListenerContext>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let mut acceptor = Acceptor::new(listener);
    loop {
        let (stream, slot) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = acceptor.next(&context) => accepted,
        };
        let _ = stream.set_nodelay(true);
        context.count("meshproxy_downstream_connections_total", &[]);
        let (context, cancel) = (Arc::clone(&context), cancel.clone());
        tracker.spawn(async move {
            let active = "meshproxy_downstream_connections_active";
            context
                .shared
                .stats
                .add(active, &[("listener", &context.service)], 1);
            let connection = Arc::clone(&context);
            match protocol {
                Protocol::Thrift => {
                    let codec = ThriftCodec::new(TransportMode::Auto);
                    serve_requests(
                        stream,
                        connection,
                        cancel,
                        codec,
                        Order::Multiplexed,
                        thrift::handle,
                    )
                    .await
                }
                Protocol::Dubbo => {
                    serve_requests(
                        stream,
                        connection,
                        cancel,
                        DubboCodec::new(),
                        Order::Multiplexed,
                        dubbo::handle,
                    )
                    .await
                }
                Protocol::Http => {
                    serve_requests(
                        stream,
                        connection,
                        cancel,
                        ServerCodec::new(
                            Limits::default().with_max_headers(Limits::PROXY_MAX_HEADERS),
                        ),
                        Order::Sequential,
                        http::handle,
                    )
                    .await
                }
                Protocol::Grpc => grpc::serve_downstream(stream, connection, cancel).await,
                Protocol::Tcp => tcp::serve_downstream(stream, connection, cancel).await,
            }
            context
                .shared
                .stats
                .add(active, &[("listener", &context.service)], -1);
            drop(slot);
        });
    }
}

/// Serves one request/response connection: each decoded request goes to
/// `handle`; a connection that ends on a bad frame is counted.
async fn serve_requests<C, Req, Resp, H, Fut>(
    stream: TcpStream,
    context: Arc<ListenerContext>,
    cancel: CancellationToken,
    codec: C,
    order: Order,
    handle: H,
) where
    C: Decoder<Item = Req, Error = CodecError> + Encoder<Resp, Error = CodecError> + Buffered,
    Metered<C>: Refusal<Resp>,
    H: Fn(Arc<ListenerContext>, Req) -> Fut,
    Fut: Future<Output = Answer<Resp>> + Send + 'static,
    Resp: Send + 'static,
{
    let idle = context.shared.idle_timeout;
    // The budget cancels this one connection to make room for smaller requests.
    let close = cancel.child_token();
    let codec = Metered::new(codec, &context.shared.budget, close.clone());
    let ended = serve(stream, codec, order, idle, close.clone(), |request| {
        let timed = Arc::clone(&context);
        let answer = handle(Arc::clone(&context), request);
        async move {
            let started = tokio::time::Instant::now();
            let answer = answer.await;
            let labels = [("listener", timed.service.as_str())];
            timed.shared.stats.observe(
                "meshproxy_request_duration_seconds",
                &labels,
                started.elapsed().as_secs_f64(),
            );
            answer
        }
    })
    .await;
    // Closed by the budget, however the connection noticed: a read may
    // have failed on the eviction before the cancellation was seen.
    if close.is_cancelled() && !cancel.is_cancelled() {
        return context.count(
            "meshproxy_downstream_overload_total",
            &[("action", "closed")],
        );
    }
    match ended {
        Ended::BadFrame(CodecError::Io(e)) if e.kind() == std::io::ErrorKind::OutOfMemory => {
            context.count(
                "meshproxy_downstream_overload_total",
                &[("action", "refused")],
            )
        }
        Ended::BadFrame(_) => context.count("meshproxy_downstream_decode_errors_total", &[]),
        Ended::Idle => context.count("meshproxy_downstream_idle_timeouts_total", &[]),
        Ended::Closed | Ended::Cancelled => {}
    }
}
