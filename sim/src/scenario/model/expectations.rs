//! The assertions, one struct per kind, and the statistical levels.

use super::*;

/// Which requests an assertion is about; every given field must match.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// A request class: a `mix` entry's name, or a single-call client's name.
    #[serde(default)]
    pub class: Option<Located<String>>,
    /// A client, by name.
    #[serde(default)]
    pub client: Option<Located<String>>,
    /// Routing attributes with exact values, named as the proxy sees them
    /// (thrift `method`; dubbo `interface`, `method`, attachments; http
    /// `:method`, `:path`, headers in lower case).
    #[serde(default)]
    pub attributes: Ordered<String>,
    /// Only requests sent while this phase is in force (`initial`: before the first phase).
    #[serde(default)]
    pub phase: Option<Located<String>>,
}

impl Selector {
    /// Whether nothing narrows the selection.
    pub fn is_all(&self) -> bool {
        self.class.is_none()
            && self.client.is_none()
            && self.attributes.is_empty()
            && self.phase.is_none()
    }
}

/// The fields every assertion has, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// A name for reports.
    pub name: Option<&'a str>,
    /// The service, as written.
    pub service: Option<&'a Located<String>>,
    /// The selection.
    pub of: &'a Selector,
    /// Override of `confidence.alpha`.
    pub alpha: Option<Located<f64>>,
    /// Override of `confidence.power`.
    pub power: Option<Located<f64>>,
    /// Override of `confidence.detect`.
    pub detect: Option<Located<Percent>>,
}

macro_rules! expectation {
    (
        $(#[$doc:meta])*
        $name:ident {
            $($(#[$fdoc:meta])* $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// A name for reports (default: the kind and its place in `expect`).
            #[serde(default)]
            pub name: Option<String>,
            /// The service whose requests are checked: a fleet FQDN or its
            /// short name. Default: the fleet's only service, or the one
            /// service the (selected) clients call.
            #[serde(default)]
            pub service: Option<Located<String>>,
            /// Which requests (default: all the service receives).
            #[serde(default)]
            pub of: Selector,
            $($(#[$fdoc])* pub $field: $ty,)*
            /// False-failure probability of this assertion (overrides `confidence.alpha`).
            #[serde(default)]
            pub alpha: Option<Located<f64>>,
            /// Probability of detecting a deviation of `detect` (overrides `confidence.power`).
            #[serde(default)]
            pub power: Option<Located<f64>>,
            /// The smallest deviation to detect, in percentage points (overrides `confidence.detect`).
            #[serde(default)]
            pub detect: Option<Located<Percent>>,
        }

        impl $name {
            /// The fields every assertion has.
            pub fn common(&self) -> Common<'_> {
                Common {
                    name: self.name.as_deref(),
                    service: self.service.as_ref(),
                    of: &self.of,
                    alpha: self.alpha,
                    power: self.power,
                    detect: self.detect,
                }
            }
        }
    };
}

expectation! {
    /// Requests spread uniformly over the endpoints (or versions), within
    /// every connection by default: per-request balancing, which a
    /// layer-4 proxy fails.
    Balanced {
        /// `endpoints` (default) or `versions`.
        #[serde(default)]
        over: Over,
        /// Restrict to these versions (default: all of the service's).
        #[serde(default)]
        versions: Option<Vec<Located<String>>>,
        /// `connection` (default: every connection on its own) or `run`.
        #[serde(default = "per_connection")]
        per: Per,
    }
}

expectation! {
    /// Requests split over versions (or subsets) by weight.
    Split {
        /// Version or subset → weight (whole numbers, normalised by their sum).
        to: Ordered<Located<Weight>>,
        /// `run` (default) or `connection` (the split holds within every connection).
        #[serde(default = "per_run")]
        per: Per,
    }
}

expectation! {
    /// Every selected request reaches the named version or subset: zero tolerance.
    Routed {
        /// The version or subset.
        to: Located<String>,
    }
}

expectation! {
    /// Latency quantile bounds, as the client measures them.
    Latency {
        /// Only requests served by this version or subset.
        #[serde(default)]
        version: Option<Located<String>>,
        /// Upper bounds by quantile: `{p50: 5ms, p99: 20ms}`.
        #[serde(default)]
        below: Ordered<Located<TextDuration>>,
        /// Lower bounds by quantile (e.g. an injected delay): `{p50: 2ms}`.
        #[serde(default)]
        above: Ordered<Located<TextDuration>>,
    }
}

expectation! {
    /// Requests to a too-slow backend fail after the route timeout: within
    /// [`after` − `early`, `after` + `slack`], never earlier or later.
    Timeout {
        /// The timeout the routing sets.
        after: Located<TextDuration>,
        /// How late the failure may come (default 50ms).
        #[serde(default = "default_slack")]
        slack: Located<TextDuration>,
        /// How early the failure may come (default 0s): a proxy whose timers
        /// run on a coarse event-loop clock (Envoy fires up to ~2 ms early)
        /// needs a few milliseconds here; a timer that fires far too early
        /// still fails.
        #[serde(default = "default_early")]
        early: Located<TextDuration>,
        /// The status each failure must carry (an HTTP status, or a gRPC
        /// code: 4 is `DEADLINE_EXCEEDED`); absent: any failure counts.
        #[serde(default)]
        status: Option<Located<u32>>,
    }
}

expectation! {
    /// Injected faults: a share of requests delayed and/or aborted.
    Fault {
        /// Delayed requests.
        #[serde(default)]
        delay: Option<Located<FaultDelay>>,
        /// Aborted requests.
        #[serde(default)]
        abort: Option<Located<FaultAbort>>,
    }
}

expectation! {
    /// The mirror target receives a share of the requests; clients never
    /// see its answers, and the primary's answers are unharmed.
    Mirrored {
        /// The version or subset receiving the copies.
        to: Located<String>,
        /// The mirror target's service (default: the expectation's service).
        #[serde(default)]
        target: Option<Located<String>>,
        /// The share of requests mirrored (default `100%`).
        #[serde(default = "all_percent")]
        fraction: Located<Percent>,
    }
}

expectation! {
    /// Circuit breaking: requests beyond the connection-pool limits are
    /// rejected, at about this share, exactly this many, or at least and/or
    /// at most this many (a range where a proxy's count depends on timing).
    Rejected {
        /// The expected share of rejected requests.
        #[serde(default)]
        fraction: Option<Located<Percent>>,
        /// At least this many rejected requests.
        #[serde(default)]
        at_least: Option<Located<u64>>,
        /// At most this many rejected requests.
        #[serde(default)]
        at_most: Option<Located<u64>>,
        /// Exactly this many rejected requests (a deterministic overflow,
        /// with the backends on `hold`).
        #[serde(default)]
        exactly: Option<Located<u64>>,
        /// The status a rejected request gets (HTTP 503 by default).
        #[serde(default)]
        status: Option<u32>,
    }
}

expectation! {
    /// Outlier detection ejects a failing endpoint: after `within`, no new
    /// request reaches it (until its ejection ends).
    Ejected {
        /// The version of the failing endpoint(s).
        version: Located<String>,
        /// Which replica (default: every endpoint of the version).
        #[serde(default)]
        replica: Option<Located<usize>>,
        /// How soon after it starts failing (default 1s).
        #[serde(default = "default_within")]
        within: Located<TextDuration>,
    }
}

expectation! {
    /// TCP traffic shifting: connections (not requests) split by weight.
    Connections {
        /// Version or subset → weight.
        to: Ordered<Located<Weight>>,
    }
}

expectation! {
    /// Redirects: every selected request is answered by the proxy itself
    /// with `status` and exactly this `location`, reaching no endpoint.
    /// Zero tolerance.
    Redirected {
        /// The expected `location`, e.g. `http://greeter:3000/hello`.
        location: Located<String>,
        /// The status (default 301, Istio's default `redirectCode`).
        #[serde(default)]
        status: Option<u32>,
    }
}

expectation! {
    /// What the endpoints received: every selected request arrived with
    /// these attributes, after the proxy's rewrites and header changes.
    /// Zero tolerance.
    Received {
        /// Attribute → exact value, named as `of.attributes` names them
        /// (http `:path` with its query, `:authority`, headers in lower case).
        attributes: Ordered<String>,
    }
}

expectation! {
    /// Heartbeats: every heartbeat the selected clients sent while their
    /// connections paused (`pause.heartbeat`) was answered by a heartbeat.
    /// Zero tolerance; inconclusive when none was sent. Selects by
    /// `of.client` only: a heartbeat has no class, attributes or phase.
    Heartbeats {}
}

expectation! {
    /// Retries: each selected request reaches the backends exactly
    /// `attempts` times (the echo reports the attempt number) and succeeds
    /// there, or with `status` comes back with that status from that
    /// attempt (what the proxy must not retry); zero tolerance.
    Retried {
        /// Attempts per request, the first included.
        attempts: Located<u32>,
        /// The status the last attempt answers and the client gets (default:
        /// success), e.g. 503.
        #[serde(default)]
        status: Option<Located<u32>>,
    }
}

/// `fault.delay`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultDelay {
    /// The share of requests delayed.
    pub fraction: Located<Percent>,
    /// By how long.
    pub by: Located<TextDuration>,
}

/// `fault.abort`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultAbort {
    /// The share of requests aborted.
    pub fraction: Located<Percent>,
    /// The status they get (HTTP status, or the protocol's error code).
    pub status: Located<u32>,
}

/// What `balanced` is uniform over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Over {
    /// Every endpoint (pod) gets the same share.
    #[default]
    Endpoints,
    /// Every version gets the same share.
    Versions,
}

/// Where a distribution must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// Within every connection on its own.
    Connection,
    /// Over the whole run.
    Run,
}

fn per_connection() -> Per {
    Per::Connection
}

fn per_run() -> Per {
    Per::Run
}

fn default_slack() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::from_millis(50)))
}

fn default_early() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::ZERO))
}

fn default_within() -> Located<TextDuration> {
    Located::unlocated(TextDuration(Duration::from_secs(1)))
}

fn all_percent() -> Located<Percent> {
    Located::unlocated(Percent::new(100.0).unwrap_or_default())
}

/// One assertion; the key names its kind.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    /// Uniform over endpoints or versions.
    Balanced(Balanced),
    /// Weights over versions.
    Split(Split),
    /// Every request reaches one version: zero tolerance.
    Routed(Routed),
    /// Quantile bounds.
    Latency(Latency),
    /// Fails within [T, T + slack].
    Timeout(Timeout),
    /// Injected delays and aborts.
    Fault(Fault),
    /// Mirroring.
    Mirrored(Mirrored),
    /// Circuit-breaker overflow.
    Rejected(Rejected),
    /// Outlier ejection.
    Ejected(Ejected),
    /// Weights over connections (TCP).
    Connections(Connections),
    /// Attempt counts.
    Retried(Retried),
    /// What the endpoints received (rewrites, header mutation).
    Received(Received),
    /// Redirects answered by the proxy.
    Redirected(Redirected),
    /// Heartbeats answered on paused connections.
    Heartbeats(Heartbeats),
}

impl Expectation {
    /// The kind, as the YAML key writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Expectation::Balanced(_) => "balanced",
            Expectation::Split(_) => "split",
            Expectation::Routed(_) => "routed",
            Expectation::Latency(_) => "latency",
            Expectation::Timeout(_) => "timeout",
            Expectation::Fault(_) => "fault",
            Expectation::Mirrored(_) => "mirrored",
            Expectation::Rejected(_) => "rejected",
            Expectation::Ejected(_) => "ejected",
            Expectation::Connections(_) => "connections",
            Expectation::Retried(_) => "retried",
            Expectation::Received(_) => "received",
            Expectation::Redirected(_) => "redirected",
            Expectation::Heartbeats(_) => "heartbeats",
        }
    }

    /// The fields every assertion has.
    pub fn common(&self) -> Common<'_> {
        match self {
            Expectation::Balanced(e) => e.common(),
            Expectation::Split(e) => e.common(),
            Expectation::Routed(e) => e.common(),
            Expectation::Latency(e) => e.common(),
            Expectation::Timeout(e) => e.common(),
            Expectation::Fault(e) => e.common(),
            Expectation::Mirrored(e) => e.common(),
            Expectation::Rejected(e) => e.common(),
            Expectation::Ejected(e) => e.common(),
            Expectation::Connections(e) => e.common(),
            Expectation::Retried(e) => e.common(),
            Expectation::Received(e) => e.common(),
            Expectation::Redirected(e) => e.common(),
            Expectation::Heartbeats(e) => e.common(),
        }
    }

    /// The versions or subsets the assertion names, with their positions
    /// (of its own service; `mirrored` names the target's).
    pub fn named_versions(&self) -> Vec<&Located<String>> {
        match self {
            Expectation::Balanced(e) => e.versions.iter().flatten().collect(),
            Expectation::Split(e) => e.to.0.iter().map(|(k, _)| k).collect(),
            Expectation::Connections(e) => e.to.0.iter().map(|(k, _)| k).collect(),
            Expectation::Routed(e) => vec![&e.to],
            Expectation::Latency(e) => e.version.iter().collect(),
            Expectation::Ejected(e) => vec![&e.version],
            Expectation::Mirrored(_)
            | Expectation::Timeout(_)
            | Expectation::Fault(_)
            | Expectation::Rejected(_)
            | Expectation::Retried(_)
            | Expectation::Received(_)
            | Expectation::Redirected(_)
            | Expectation::Heartbeats(_) => Vec::new(),
        }
    }

    /// A one-line description for plans and reports, e.g. `v1 20, v2 80`.
    pub fn summary(&self) -> String {
        let weights = |to: &Ordered<Located<Weight>>| {
            to.iter()
                .map(|(k, w)| format!("{} {}", k.value, w.value.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Expectation::Balanced(e) => format!(
                "uniform over {} per {}",
                match e.over {
                    Over::Endpoints => "endpoints",
                    Over::Versions => "versions",
                },
                match e.per {
                    Per::Connection => "connection",
                    Per::Run => "run",
                }
            ),
            Expectation::Split(e) => weights(&e.to),
            Expectation::Connections(e) => weights(&e.to),
            Expectation::Routed(e) => format!("all to {}", e.to.value),
            Expectation::Latency(e) => {
                let mut parts: Vec<String> = e
                    .below
                    .iter()
                    .map(|(q, d)| format!("{} <= {}", q.value, d.value))
                    .collect();
                parts.extend(
                    e.above
                        .iter()
                        .map(|(q, d)| format!("{} >= {}", q.value, d.value)),
                );
                parts.join(", ")
            }
            Expectation::Timeout(e) => format!(
                "fails{} within [{}, {} + {}]",
                e.status
                    .as_ref()
                    .map(|s| format!(" with {}", s.value))
                    .unwrap_or_default(),
                e.after.value,
                e.after.value,
                e.slack.value
            ),
            Expectation::Fault(e) => {
                let mut parts = Vec::new();
                if let Some(d) = &e.delay {
                    parts.push(format!("{} delayed by {}", d.fraction.value, d.by.value));
                }
                if let Some(a) = &e.abort {
                    parts.push(format!(
                        "{} aborted with {}",
                        a.fraction.value, a.status.value
                    ));
                }
                parts.join(", ")
            }
            Expectation::Mirrored(e) => format!("{} mirrored to {}", e.fraction.value, e.to.value),
            Expectation::Rejected(e) => match (&e.fraction, &e.at_least, &e.exactly) {
                (Some(f), _, _) => format!("{} rejected", f.value),
                (_, Some(n), _) if e.at_most.is_some() => format!(
                    "{} to {} rejected",
                    n.value,
                    e.at_most.as_ref().map_or(0, |m| m.value)
                ),
                (_, Some(n), _) => format!("at least {} rejected", n.value),
                (_, _, Some(n)) => format!("exactly {} rejected", n.value),
                (None, None, None) => match &e.at_most {
                    Some(m) => format!("at most {} rejected", m.value),
                    None => "rejected".into(),
                },
            },
            Expectation::Ejected(e) => {
                format!("{} ejected within {}", e.version.value, e.within.value)
            }
            Expectation::Retried(e) => format!("{} attempts each", e.attempts.value),
            Expectation::Redirected(e) => format!(
                "redirected {} to {}",
                e.status.unwrap_or(301),
                e.location.value
            ),
            Expectation::Received(e) => {
                let parts: Vec<String> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", k.value))
                    .collect();
                format!("arrived with {}", parts.join(", "))
            }
            Expectation::Heartbeats(_) => "every heartbeat answered".to_owned(),
        }
    }
}

/// The statistical levels of the assertions.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confidence {
    /// False-failure probability per assertion, a number in (0, 1) (default 1e-6).
    #[serde(default = "default_alpha")]
    pub alpha: Located<f64>,
    /// Probability of detecting a deviation of `detect`, a number in (0, 1) (default 0.99).
    #[serde(default = "default_power")]
    pub power: Located<f64>,
    /// The smallest deviation to detect, in percentage points (default `3%`).
    #[serde(default = "default_detect")]
    pub detect: Located<Percent>,
    /// `fixed` (default): every planned sample, then one test. `sequential`:
    /// `split` and `fault` shares are tested as requests end and the run
    /// stops once every assertion is decided.
    #[serde(default)]
    pub mode: Mode,
}

/// How the assertions consume the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fixed-n test on every sample.
    #[default]
    Fixed,
    /// Tests that stop early when decisive (truncated SPRT).
    Sequential,
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence {
            alpha: default_alpha(),
            power: default_power(),
            detect: default_detect(),
            mode: Mode::Fixed,
        }
    }
}

fn default_alpha() -> Located<f64> {
    Located::unlocated(1e-6)
}

fn default_power() -> Located<f64> {
    Located::unlocated(0.99)
}

fn default_detect() -> Located<Percent> {
    Located::unlocated(Percent::new(3.0).unwrap_or_default())
}

/// Alpha, power and detect of one assertion, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// False-failure probability.
    pub alpha: f64,
    /// Detection probability.
    pub power: f64,
    /// Smallest deviation detected, as a fraction (0.03 for `3%`).
    pub detect: f64,
}

impl Expectation {
    /// This assertion's levels: its overrides, else `defaults`.
    pub fn levels(&self, defaults: &Confidence) -> Levels {
        let common = self.common();
        Levels {
            alpha: common.alpha.unwrap_or(defaults.alpha).value,
            power: common.power.unwrap_or(defaults.power).value,
            detect: common.detect.unwrap_or(defaults.detect).value.fraction(),
        }
    }
}
