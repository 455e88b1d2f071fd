//! Typed mesh objects -> one `haproxy.cfg` for HAProxy 2.6 (Debian
//! bookworm), written as an Istio user would hand-translate a
//! VirtualService and its DestinationRules, and nothing HAProxy would do
//! differently is papered over:
//!
//! - one frontend per service on its own loopback port; HTTP services in
//!   `mode http`, TCP services (and every service at layer 4) in `mode tcp`;
//! - routes are tried in order, first match wins: the chosen route's index
//!   is stored in `txn.route` and every later rule is conditional on it; a
//!   VirtualService whose routes all miss answers 404, as Envoy's "no route";
//! - weights are a per-request draw, `rand(total)` against cumulative
//!   thresholds, so a long-lived connection is balanced request by request;
//! - each (route, destination) pair is a backend carrying the route's
//!   timeout and retry policy and the subset's load balancer;
//! - retries as Istio's: 2 on connect failure by default (`retries 2`,
//!   `retry-on conn-failure`), every retry on another server (`option
//!   redispatch 1`, Envoy's previous-hosts predicate).
//!
//! What HAProxy 2.6 cannot say is a [`Gap::Unsupported`] naming the field:
//! fault delays, mirroring, circuit-breaker thresholds, outlier detection,
//! a total timeout across retries, Thrift and Dubbo routing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use meshbench_mesh_api::istio::{
    HeaderOperations, Headers, HttpMatchRequest, HttpRoute, LoadBalancer, SimpleLb, TrafficPolicy,
    VirtualServiceSpec,
};
use meshbench_mesh_api::{Destination, Object, Resource, Routing, StringMatch};
use meshbench_wire::Protocol;

use super::super::Service;
use super::super::mesh::{self, Gap, Layer, RetryOn, RetryPlan, duration, regex_escape, token};

/// Where each frontend binds, by service name, and the Prometheus
/// exporter's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binds {
    /// One port per service.
    pub services: BTreeMap<String, SocketAddr>,
    /// The stats frontend (`/metrics`).
    pub metrics: SocketAddr,
}

/// What the configuration is written for besides the routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Which layer the frontends listen at.
    pub layer: Layer,
    /// `nbthread`.
    pub threads: u32,
    /// The downstream idle timeout (`timeout client`), if the scenario sets one.
    pub idle_timeout: Option<Duration>,
}

/// How long a connection may idle, and a request may take, when nothing
/// says otherwise: Istio sets no route timeout, HAProxy needs one.
const FOREVER: &str = "1h";

/// MeshConfig's default `connectTimeout`.
const CONNECT_TIMEOUT: &str = "10s";

/// The status codes HAProxy 2.6's `retry-on` accepts.
const RETRIABLE: [u16; 10] = [401, 403, 404, 408, 425, 500, 501, 502, 503, 504];

/// `haproxy.cfg` for `routing` over `services`; `socket` is the stats
/// socket's path.
///
/// # Errors
/// [`Gap`] naming the object and field.
pub fn config(
    services: &[Service],
    routing: &[Routing],
    binds: &Binds,
    options: Options,
    socket: &str,
) -> Result<String, Gap> {
    let objects: Vec<&Object> = routing.iter().map(Routing::object).collect();
    let rules = mesh::destination_rules(&objects, services).map_err(Gap::Invalid)?;
    let routers = mesh::routers(&objects, services).map_err(Gap::Invalid)?;
    let mut out = head(binds, options, socket);
    for (index, service) in services.iter().enumerate() {
        let bind = binds
            .services
            .get(&service.name)
            .copied()
            .ok_or_else(|| Gap::Invalid(format!("no listener address for {}", service.name)))?;
        let mut writer = Writer {
            out: &mut out,
            services,
            rules: &rules,
            prefix: format!("s{index}"),
            namespace: "default".to_owned(),
        };
        let router = routers.get(&service.name).copied();
        if let Some(object) = router {
            writer.namespace = object.metadata().namespace.clone();
        }
        match (options.layer, service.protocol, router) {
            (Layer::Four, ..) => writer.tcp(service, bind, None)?,
            (Layer::Seven, Protocol::Http, Some(Object::VirtualService(vs))) => {
                writer.http(service, bind, Some(vs))?
            }
            (Layer::Seven, Protocol::Http, _) => writer.http(service, bind, None)?,
            (Layer::Seven, Protocol::Tcp, Some(Object::VirtualService(vs))) => {
                writer.tcp(service, bind, Some(&vs.spec))?
            }
            (Layer::Seven, Protocol::Tcp, _) => writer.tcp(service, bind, None)?,
            (Layer::Seven, Protocol::Grpc, _) => {
                return Err(Gap::Unsupported(format!(
                    "the HAProxy adapter does not translate gRPC routes (h2c listeners and upstreams) yet: {} can be judged only as TCP (--proxy haproxy-l4, a layer-4 control)",
                    service.name
                )));
            }
            (Layer::Seven, Protocol::Thrift | Protocol::Dubbo, _) => {
                let codec = match service.protocol {
                    Protocol::Thrift => "Thrift",
                    _ => "Dubbo",
                };
                return Err(Gap::Unsupported(format!(
                    "HAProxy has no {codec} codec: it can route {} only as TCP, connection by connection (--proxy haproxy-l4, a layer-4 control)",
                    service.name
                )));
            }
        }
    }
    Ok(out)
}

/// `global`, `defaults` and the Prometheus exporter.
fn head(binds: &Binds, options: Options, socket: &str) -> String {
    let idle = options
        .idle_timeout
        .map_or_else(|| FOREVER.to_owned(), milliseconds);
    format!(
        "# Generated by meshbench from the scenario's routing objects.\n\
         global\n    nbthread {threads}\n\
         \x20   stats socket {socket} mode 600 level admin\n\n\
         defaults\n    # A reload answers the next request on an idle keep-alive connection\n\
         \x20   # with `Connection: close` instead of closing it under the client.\n\
         \x20   option idle-close-on-response\n    timeout connect {CONNECT_TIMEOUT}\n    timeout client {idle}\n\
         \x20   timeout http-keep-alive {idle}\n    timeout server {FOREVER}\n\
         \x20   timeout tunnel {FOREVER}\n\n\
         frontend metrics\n    mode http\n    bind {metrics}\n\
         \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n\n",
        threads = options.threads,
        metrics = binds.metrics,
    )
}

/// A duration as HAProxy's milliseconds (`2000ms`); never 0, which HAProxy
/// reads as "no timeout".
fn milliseconds(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

/// Writes one service's frontend and its backends.
struct Writer<'a, 'o> {
    out: &'a mut String,
    services: &'a [Service],
    rules: &'a BTreeMap<String, &'o Resource<meshbench_mesh_api::istio::DestinationRuleSpec>>,
    /// Names this service's sections (`s0`, `s0_r1_d0`).
    prefix: String,
    /// The namespace of the object routing the service.
    namespace: String,
}

/// One backend to write: a destination with, for HTTP, a route's policy
/// and the destination's own header operations.
struct Backend<'b> {
    name: String,
    destination: &'b Destination,
    /// The namespace the destination was written in.
    namespace: &'b str,
    /// A route's timeout and retries; `None` for a TCP backend.
    policy: Option<&'b str>,
    headers: Option<&'b Headers>,
}

/// One route's weighted destination.
struct Leg<'d> {
    destination: &'d Destination,
    weight: u32,
    headers: Option<&'d Headers>,
}

impl Writer<'_, '_> {
    /// A `mode tcp` frontend: the first TCP route's weights, or the whole
    /// service.
    fn tcp(
        &mut self,
        service: &Service,
        bind: SocketAddr,
        vs: Option<&VirtualServiceSpec>,
    ) -> Result<(), Gap> {
        let name = self.prefix.clone();
        let _ = write!(
            self.out,
            "frontend {name}\n    # {} ({})\n    mode tcp\n    bind {bind}\n",
            service.name, service.protocol
        );
        let route = vs.and_then(|vs| {
            vs.tcp.iter().find(|r| {
                r.match_.is_empty()
                    || r.match_
                        .iter()
                        .any(|m| m.port.is_none_or(|p| p == u32::from(service.port)))
            })
        });
        let Some(route) = route else {
            let _ = writeln!(self.out, "    default_backend {name}_all\n");
            return self.backend(Backend {
                name: format!("{name}_all"),
                destination: &whole(service),
                namespace: "default",
                policy: None,
                headers: None,
            });
        };
        let namespace = vs.map_or("default", |_| self.namespace.as_str()).to_owned();
        let legs: Vec<Leg> = route
            .route
            .iter()
            .map(|d| Leg {
                destination: &d.destination,
                weight: d.weight,
                headers: None,
            })
            .collect();
        self.pick(&format!("{name}_r0"), "tcp-request content", "", &legs)?;
        self.out.push('\n');
        for (k, leg) in legs.iter().enumerate() {
            self.backend(Backend {
                name: format!("{name}_r0_d{k}"),
                destination: leg.destination,
                namespace: &namespace,
                policy: None,
                headers: None,
            })?;
        }
        Ok(())
    }

    /// A `mode http` frontend: routes in order, first match wins.
    fn http(
        &mut self,
        service: &Service,
        bind: SocketAddr,
        vs: Option<&Resource<VirtualServiceSpec>>,
    ) -> Result<(), Gap> {
        let name = self.prefix.clone();
        let _ = write!(
            self.out,
            "frontend {name}\n    # {}\n    mode http\n    bind {bind}\n",
            service.name
        );
        let Some(vs) = vs else {
            // No VirtualService: the default route, with Istio's default retries.
            let _ = writeln!(self.out, "    default_backend {name}_all\n");
            return self.backend(Backend {
                name: format!("{name}_all"),
                destination: &whole(service),
                namespace: "default",
                policy: Some(&directives(
                    &RetryPlan::default_route(),
                    "the default route",
                )?),
                headers: None,
            });
        };
        let at = format!(
            "VirtualService {}/{}",
            vs.metadata.namespace, vs.metadata.name
        );
        for (j, route) in vs.spec.http.iter().enumerate() {
            let at = format!("{at} http[{j}]");
            unsupported_route(route, &at)?;
            let terms = route
                .match_
                .iter()
                .map(|m| conditions(m, &at))
                .collect::<Result<Vec<_>, _>>()?;
            let unset = "!{ var(txn.route) -m found }";
            let when = match terms.as_slice() {
                [] => unset.to_owned(),
                terms => terms
                    .iter()
                    .map(|t| format!("{unset} {t}"))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let _ = writeln!(
                self.out,
                "    http-request set-var(txn.route) int({j}) if {when}"
            );
        }
        let _ = writeln!(
            self.out,
            "    http-request return status 404 if !{{ var(txn.route) -m found }}"
        );
        let mut backends = Vec::new();
        for (j, route) in vs.spec.http.iter().enumerate() {
            let at = format!(
                "VirtualService {}/{} http[{j}]",
                vs.metadata.namespace, vs.metadata.name
            );
            let chosen = format!("{{ var(txn.route) -m int eq {j} }}");
            self.actions(route, &chosen, &at)?;
            if route.redirect.is_some() {
                continue;
            }
            let legs: Vec<Leg> = route
                .route
                .iter()
                .map(|d| Leg {
                    destination: &d.destination,
                    weight: d.weight,
                    headers: d.headers.as_ref(),
                })
                .collect();
            self.pick(&format!("{name}_r{j}"), "http-request", &chosen, &legs)?;
            backends.push((j, route, legs));
        }
        self.out.push('\n');
        for (j, route, legs) in backends {
            let at = format!(
                "VirtualService {}/{} http[{j}]",
                vs.metadata.namespace, vs.metadata.name
            );
            let policy = directives(&RetryPlan::of(route, &at, "HAProxy")?, &at)?;
            for (k, leg) in legs.iter().enumerate() {
                self.backend(Backend {
                    name: format!("{name}_r{j}_d{k}"),
                    destination: leg.destination,
                    namespace: &vs.metadata.namespace,
                    policy: Some(&policy),
                    headers: leg.headers,
                })?;
            }
        }
        Ok(())
    }

    /// The chosen route's own rules, in Envoy's order: fault abort, then
    /// redirect, then rewrite and request headers; response headers last.
    fn actions(&mut self, route: &HttpRoute, chosen: &str, at: &str) -> Result<(), Gap> {
        if let Some(abort) = route.fault.as_ref().and_then(|f| f.abort.as_ref()) {
            let status = abort.http_status.unwrap_or(503);
            let percent = abort.percentage.as_ref().map_or(100.0, |p| p.value);
            // istiod truncates value × 10 000 to a fraction of a million.
            let millionths = (percent * 10_000.0) as u32;
            let _ = writeln!(
                self.out,
                "    http-request return status {status} if {chosen} {{ rand(1000000) lt {millionths} }}"
            );
        }
        if let Some(redirect) = &route.redirect {
            let code = mesh::redirect_code(redirect, at)?;
            let host = match &redirect.authority {
                Some(authority) => literal(authority, &format!("{at}.redirect.authority"))?,
                None => "%[req.hdr(host)]".to_owned(),
            };
            let redirect_to = |location: &str, when: &str| {
                format!(
                    "    http-request redirect location 'http://{host}{location}' code {code} if {chosen}{when}\n"
                )
            };
            match &redirect.uri {
                // Envoy keeps the query unless the new path has its own.
                Some(uri) if !uri.contains('?') => {
                    let uri = literal(uri, &format!("{at}.redirect.uri"))?;
                    let with_query =
                        redirect_to(&format!("{uri}?%[query]"), " { query -m len gt 0 }");
                    self.out.push_str(&with_query);
                    self.out.push_str(&redirect_to(&uri, ""));
                }
                Some(uri) => {
                    let uri = literal(uri, &format!("{at}.redirect.uri"))?;
                    self.out.push_str(&redirect_to(&uri, ""));
                }
                None => self.out.push_str(&redirect_to("%[url]", "")),
            }
            return Ok(());
        }
        if let Some(rewrite) = &route.rewrite {
            if let Some(uri) = &rewrite.uri {
                self.rewrite(route, uri, chosen, at)?;
            }
            if let Some(authority) = &rewrite.authority {
                let host = literal(authority, &format!("{at}.rewrite.authority"))?;
                let _ = writeln!(
                    self.out,
                    "    http-request set-header host '{host}' if {chosen}"
                );
            }
        }
        let headers = route.headers.as_ref();
        if let Some(ops) = headers.and_then(|h| h.request.as_ref()) {
            self.header_ops(
                "http-request",
                ops,
                chosen,
                &format!("{at}.headers.request"),
            )?;
        }
        if let Some(ops) = headers.and_then(|h| h.response.as_ref()) {
            self.header_ops(
                "http-response",
                ops,
                chosen,
                &format!("{at}.headers.response"),
            )?;
        }
        Ok(())
    }

    /// `rewrite.uri` as istiod's `prefix_rewrite`: the matched prefix is
    /// replaced (the whole path for an exact match; `/` when no uri matched).
    fn rewrite(&mut self, route: &HttpRoute, uri: &str, chosen: &str, at: &str) -> Result<(), Gap> {
        let new = literal(uri, &format!("{at}.rewrite.uri"))?;
        let uris: Vec<Option<&StringMatch>> = match route.match_.as_slice() {
            [] => vec![None],
            matches => matches.iter().map(|m| m.uri.as_ref()).collect(),
        };
        for matched in uris {
            match matched {
                Some(StringMatch { exact: Some(_), .. }) => {
                    let _ = writeln!(self.out, "    http-request set-path '{new}' if {chosen}");
                }
                Some(StringMatch { regex: Some(_), .. }) => {
                    return Err(Gap::Unsupported(format!(
                        "{at}.rewrite.uri after a regex uri match: Envoy's prefix_rewrite has no HAProxy equivalent"
                    )));
                }
                Some(StringMatch {
                    prefix: Some(prefix),
                    ..
                }) => {
                    let prefix = literal(prefix, &format!("{at}.match.uri.prefix"))?;
                    let _ = writeln!(
                        self.out,
                        "    http-request replace-path '^{}(.*)' '{new}\\1' if {chosen} {{ path -m beg '{prefix}' }}",
                        regex_escape(&prefix)
                    );
                }
                _ => {
                    let _ = writeln!(
                        self.out,
                        "    http-request replace-path '^/(.*)' '{new}\\1' if {chosen}"
                    );
                }
            }
        }
        Ok(())
    }

    /// `set`, `add` and `remove` of a `headers` block.
    fn header_ops(
        &mut self,
        directive: &str,
        ops: &HeaderOperations,
        when: &str,
        at: &str,
    ) -> Result<(), Gap> {
        let when = match when {
            "" => String::new(),
            when => format!(" if {when}"),
        };
        for (name, value) in &ops.set {
            let (name, value) = (token(name, at)?, log_format(value, at)?);
            let _ = writeln!(
                self.out,
                "    {directive} set-header {name} '{value}'{when}"
            );
        }
        for (name, value) in &ops.add {
            let (name, value) = (token(name, at)?, log_format(value, at)?);
            let _ = writeln!(
                self.out,
                "    {directive} add-header {name} '{value}'{when}"
            );
        }
        for name in &ops.remove {
            let _ = writeln!(
                self.out,
                "    {directive} del-header {}{when}",
                token(name, at)?
            );
        }
        Ok(())
    }

    /// `use_backend` rules for weighted `legs` under `chosen`: one draw
    /// of `rand(total)` per request against cumulative thresholds (weight-0
    /// legs dropped, as istiod drops them).
    fn pick(&mut self, name: &str, rules: &str, chosen: &str, legs: &[Leg]) -> Result<(), Gap> {
        let live: Vec<(usize, u32)> = legs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.weight > 0 || legs.len() == 1)
            .map(|(k, l)| (k, l.weight))
            .collect();
        let Some(&(last, _)) = live.last() else {
            return Err(Gap::Invalid(format!(
                "{name}: a route without a destination"
            )));
        };
        let when = match chosen {
            "" => String::new(),
            chosen => format!(" {chosen}"),
        };
        let total: u32 = live.iter().map(|(_, w)| w).sum();
        let var = format!("txn.{name}");
        if live.len() > 1 {
            let draw = format!("    {rules} set-var({var}) rand({total})");
            let _ = match when.is_empty() {
                true => writeln!(self.out, "{draw}"),
                false => writeln!(self.out, "{draw} if{when}"),
            };
        }
        let mut below = 0;
        for &(k, weight) in &live {
            below += weight;
            let threshold = match k == last {
                true => String::new(),
                false => format!(" {{ var({var}) -m int lt {below} }}"),
            };
            let condition = format!("{when}{threshold}");
            let _ = match condition.is_empty() {
                true => writeln!(self.out, "    use_backend {name}_d{k}"),
                false => writeln!(self.out, "    use_backend {name}_d{k} if{condition}"),
            };
        }
        Ok(())
    }

    /// One backend: the destination's endpoints under its subset's load
    /// balancer, with a route's policy and header operations.
    fn backend(&mut self, backend: Backend) -> Result<(), Gap> {
        let Backend {
            name,
            destination,
            namespace,
            policy,
            headers,
        } = backend;
        let service = mesh::find(self.services, &destination.host, namespace).ok_or_else(|| {
            Gap::Invalid(format!(
                "destination host '{}' is no service of the fleet",
                destination.host
            ))
        })?;
        let subset_name = destination.subset.as_deref().filter(|s| !s.is_empty());
        let rule = self.rules.get(&service.name).copied();
        let subset = mesh::subset(service, rule, subset_name).map_err(Gap::Invalid)?;
        let at = format!("the DestinationRule of {}", service.name);
        let mode = if policy.is_some() { "http" } else { "tcp" };
        let _ = write!(
            self.out,
            "backend {name}\n    # {}{}\n    mode {mode}\n",
            service.name,
            subset_name
                .map(|s| format!(" subset {s}"))
                .unwrap_or_default()
        );
        let _ = writeln!(self.out, "    {}", balance(&subset.policy, &at)?);
        if let Some(connect) = connect_timeout(&subset.policy, &at)? {
            let _ = writeln!(self.out, "    timeout connect {connect}");
        }
        if let Some(policy) = policy {
            self.out.push_str(policy);
        }
        // The route's own operations are in the frontend; these are the
        // destination's.
        if let Some(ops) = headers.and_then(|h| h.request.as_ref()) {
            self.header_ops("http-request", ops, "", &format!("{name}.headers.request"))?;
        }
        if let Some(ops) = headers.and_then(|h| h.response.as_ref()) {
            self.header_ops(
                "http-response",
                ops,
                "",
                &format!("{name}.headers.response"),
            )?;
        }
        if subset.endpoints.is_empty() {
            let _ = writeln!(self.out, "    # no endpoint carries the subset's labels");
        }
        for (i, endpoint) in subset.endpoints.iter().enumerate() {
            let _ = writeln!(self.out, "    server p{i} {}", endpoint.identity.addr);
        }
        self.out.push('\n');
        Ok(())
    }
}

/// The service itself, as a destination.
fn whole(service: &Service) -> Destination {
    Destination {
        host: service.name.clone(),
        subset: None,
        port: None,
    }
}

/// A route's timeout and retries as a backend's directives: `retry-on`
/// keywords for the plan's conditions, each retry on another server
/// (`option redispatch 1`, Envoy's previous-hosts predicate).
fn directives(plan: &RetryPlan, at: &str) -> Result<String, Gap> {
    let mut keywords: Vec<String> = Vec::new();
    for condition in &plan.on {
        let these: Vec<String> = match condition {
            RetryOn::ConnectFailure => vec!["conn-failure".to_owned()],
            RetryOn::Reset => vec!["empty-response".to_owned()],
            RetryOn::Timeout => vec!["response-timeout".to_owned()],
            // HAProxy 2.6 retries no 5xx beyond 504.
            RetryOn::ServerError => [500, 501, 502, 503, 504].map(|c| c.to_string()).to_vec(),
            RetryOn::Status(code) if RETRIABLE.contains(code) => vec![code.to_string()],
            RetryOn::Status(code) => {
                return Err(Gap::Unsupported(format!(
                    "{at}.retries.retryOn {code}: HAProxy 2.6 retries on {RETRIABLE:?} only"
                )));
            }
        };
        for keyword in these {
            if !keywords.contains(&keyword) {
                keywords.push(keyword);
            }
        }
    }
    let mut out = String::new();
    if let Some(timeout) = plan.timeout {
        let _ = writeln!(out, "    timeout server {}", milliseconds(timeout));
    }
    let _ = writeln!(out, "    retries {}", plan.retries);
    match (plan.retries, keywords.is_empty()) {
        (0, _) | (_, true) => out.push_str("    retry-on none\n"),
        _ => {
            let _ = writeln!(out, "    retry-on {}", keywords.join(" "));
            out.push_str("    option redispatch 1\n");
        }
    }
    Ok(out)
}

/// Fields HAProxy 2.6 has no way to say.
fn unsupported_route(route: &HttpRoute, at: &str) -> Result<(), Gap> {
    let missing = if route.fault.as_ref().is_some_and(|f| f.delay.is_some()) {
        Some("fault.delay: HAProxy 2.6 cannot delay a request")
    } else if route.mirror.is_some() {
        Some("mirror: HAProxy 2.6 does not mirror requests")
    } else {
        None
    };
    match missing {
        Some(what) => Err(Gap::Unsupported(format!("{at}.{what}"))),
        None => Ok(()),
    }
}

/// A match block's conditions, ANDed (HAProxy's juxtaposition).
fn conditions(m: &HttpMatchRequest, at: &str) -> Result<String, Gap> {
    let at = format!("{at}.match");
    if m.source_labels.is_some() || m.query_params.is_some() {
        return Err(Gap::Unsupported(format!(
            "{at}: sourceLabels and queryParams are not translated for HAProxy"
        )));
    }
    let mut terms = Vec::new();
    let case = if m.ignore_uri_case { " -i" } else { "" };
    if let Some(uri) = &m.uri {
        terms.push(matcher(&format!("path{case}"), uri, &format!("{at}.uri"))?);
    }
    if let Some(method) = &m.method {
        terms.push(matcher("method", method, &format!("{at}.method"))?);
    }
    if let Some(authority) = &m.authority {
        terms.push(matcher(
            "req.hdr(host)",
            authority,
            &format!("{at}.authority"),
        )?);
    }
    if let Some(port) = m.port {
        terms.push(format!("{{ dst_port eq {port} }}"));
    }
    for (name, value) in &m.headers {
        let fetch = format!("req.hdr({})", token(name, &at)?);
        terms.push(header(
            &fetch,
            value.as_ref(),
            &format!("{at}.headers.{name}"),
        )?);
    }
    for (name, value) in &m.without_headers {
        let fetch = format!("req.hdr({})", token(name, &at)?);
        terms.push(format!(
            "!{}",
            header(
                &fetch,
                value.as_ref(),
                &format!("{at}.withoutHeaders.{name}")
            )?
        ));
    }
    Ok(terms.join(" "))
}

/// A header condition; no value, `{}`, `exact: ""` and `regex: "*"` mean present.
fn header(fetch: &str, value: Option<&StringMatch>, at: &str) -> Result<String, Gap> {
    let present = value.is_none_or(|v| {
        matches!(
            (v.exact.as_deref(), v.prefix.as_deref(), v.regex.as_deref()),
            (None, None, None) | (Some(""), None, None) | (None, None, Some("*"))
        )
    });
    match (present, value) {
        (false, Some(value)) => matcher(fetch, value, at),
        _ => Ok(format!("{{ {fetch} -m found }}")),
    }
}

/// `{ fetch -m str|beg|reg 'value' }`; the `-i` of a case-blind fetch kept.
fn matcher(fetch: &str, value: &StringMatch, at: &str) -> Result<String, Gap> {
    let (fetch, flags) = match fetch.split_once(' ') {
        Some((fetch, flags)) => (fetch, format!(" {flags}")),
        None => (fetch, String::new()),
    };
    let (method, text) = match (&value.exact, &value.prefix, &value.regex) {
        (Some(exact), None, None) => ("str", exact),
        (None, Some(prefix), None) => ("beg", prefix),
        // RE2 over the whole value; PCRE2 anchored the same way.
        (None, None, Some(regex)) => ("reg", regex),
        _ => {
            return Err(Gap::Invalid(format!(
                "{at}: a StringMatch sets exactly one of exact, prefix, regex"
            )));
        }
    };
    let text = literal(text, at)?;
    let text = match method {
        "reg" => format!("^(?:{text})$"),
        _ => text,
    };
    Ok(format!("{{ {fetch}{flags} -m {method} '{text}' }}"))
}

/// A value that can stand in single quotes (no quote, no control character).
fn literal(text: &str, at: &str) -> Result<String, Gap> {
    if text.contains('\'') || text.chars().any(char::is_control) {
        return Err(Gap::Unsupported(format!(
            "{at}: '{}' holds a quote or a control character, which the generated haproxy.cfg does not escape",
            text.escape_debug()
        )));
    }
    Ok(text.to_owned())
}

/// A header value as a log-format string: `%` doubled.
fn log_format(text: &str, at: &str) -> Result<String, Gap> {
    Ok(literal(text, at)?.replace('%', "%%"))
}

/// `balance …` for a subset's load balancer: LEAST_REQUEST (Istio's
/// default) as `leastconn`, which counts requests in flight per server on
/// HTTP/1.1.
fn balance(policy: &TrafficPolicy, at: &str) -> Result<String, Gap> {
    let Some(lb) = &policy.load_balancer else {
        return Ok("balance leastconn".to_owned());
    };
    load_balancer(lb, at)
}

fn load_balancer(lb: &LoadBalancer, at: &str) -> Result<String, Gap> {
    if let Some(hash) = &lb.consistent_hash {
        return match &hash.http_header_name {
            Some(header) => Ok(format!(
                "balance hdr({})\n    hash-type consistent",
                token(header, at)?
            )),
            None => Err(Gap::Unsupported(format!(
                "{at}: loadBalancer.consistentHash other than httpHeaderName is not translated for HAProxy"
            ))),
        };
    }
    Ok(match lb.simple {
        None | Some(SimpleLb::Unspecified | SimpleLb::LeastRequest | SimpleLb::LeastConn) => {
            "balance leastconn".to_owned()
        }
        Some(SimpleLb::RoundRobin) => "balance roundrobin".to_owned(),
        Some(SimpleLb::Random) => "balance random".to_owned(),
        Some(SimpleLb::Passthrough) => {
            return Err(Gap::Unsupported(format!(
                "{at}: loadBalancer.simple PASSTHROUGH has no HAProxy equivalent"
            )));
        }
    })
}

/// `connectionPool.tcp.connectTimeout`; every other pool and the outlier
/// detection are refused: HAProxy's `maxconn`/`maxqueue` queue where
/// Envoy's circuit breakers answer 503 at once, and its `observe layer7`
/// needs health checks to bring a server back.
fn connect_timeout(policy: &TrafficPolicy, at: &str) -> Result<Option<String>, Gap> {
    if policy.outlier_detection.is_some() {
        return Err(Gap::Unsupported(format!(
            "{at}: outlierDetection: HAProxy marks a server down only with health checks, not as Envoy's ejection"
        )));
    }
    let Some(pool) = &policy.connection_pool else {
        return Ok(None);
    };
    if pool.http.is_some()
        || pool
            .tcp
            .as_ref()
            .is_some_and(|t| t.max_connections.is_some())
    {
        return Err(Gap::Unsupported(format!(
            "{at}: connectionPool limits: HAProxy queues where Envoy's circuit breakers answer 503 at once"
        )));
    }
    pool.tcp
        .as_ref()
        .and_then(|t| t.connect_timeout.as_deref())
        .map(|t| duration(t, &format!("{at}.connectionPool.tcp.connectTimeout")).map(milliseconds))
        .transpose()
}

#[cfg(test)]
mod tests;
