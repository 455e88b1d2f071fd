//! Typed mesh objects -> one `nginx.conf` for nginx 1.22 (Debian
//! bookworm), written as an Istio user would hand-translate a
//! VirtualService and its DestinationRules:
//!
//! - one `server` per HTTP service on its own loopback port; TCP services
//!   (and every service at layer 4) in the `stream` module;
//! - routes are tried in order, first match wins: each condition of a match
//!   is a `map` to 0 or 1, a match the concatenation of its conditions, and
//!   the route the first regex over all matches' flags that says "1"; a
//!   VirtualService whose routes all miss answers 404, as Envoy's "no route";
//! - the chosen route's rules run in an internal location of its own
//!   (`/__meshbench/rN/…`), where nginx allows per-route timeouts and
//!   retries: abort, redirect, rewrite, headers, mirror, then `proxy_pass`;
//! - weights are `split_clients` over `$request_id`, a fresh random key per
//!   request, so a long-lived connection is balanced request by request;
//!   nginx takes percentages to two decimals (a 1/3 weight is 33.33 %);
//! - retries as Istio's default: 2 on connection errors, each on another
//!   server (`proxy_next_upstream error non_idempotent`, 3 tries); servers
//!   are never marked down (`max_fails=0`), which would be an ejection no
//!   DestinationRule asked for.
//!
//! What nginx 1.22 cannot say is a [`Gap::Unsupported`] naming the field:
//! fault delays, mirroring a share below 100 %, circuit breakers, outlier
//! detection, a total timeout across retries, Thrift and Dubbo routing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use meshbench_mesh_api::istio::{
    DestinationRuleSpec, HeaderOperations, HttpMatchRequest, HttpRoute, SimpleLb, TrafficPolicy,
    VirtualServiceSpec,
};
use meshbench_mesh_api::{Destination, Object, Resource, Routing, StringMatch};
use meshbench_wire::Protocol;

use super::super::Service;
use super::super::mesh::{self, Gap, Layer, RetryOn, RetryPlan, regex_escape, token};

/// Where each server listens, by service name, and the control server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binds {
    /// One port per service.
    pub services: BTreeMap<String, SocketAddr>,
    /// Answers `/__meshbench/version` with the configuration's version, so
    /// the adapter knows when the workers of a reload serve.
    pub control: SocketAddr,
}

/// What the configuration is written for besides the routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Which layer the servers listen at.
    pub layer: Layer,
    /// `worker_processes`.
    pub workers: u32,
    /// The downstream idle timeout (`keepalive_timeout`, the stream's
    /// `proxy_timeout`), if the scenario sets one.
    pub idle_timeout: Option<Duration>,
}

/// Where the files live and which version this is.
#[derive(Debug, Clone, Copy)]
pub struct Paths<'a> {
    /// The prefix directory (pid, logs, temp files).
    pub dir: &'a str,
    /// `ngx_stream_module.so`, when the configuration needs the stream module.
    pub stream_module: Option<&'a str>,
    /// The configuration's version, as the control server answers it.
    pub version: u64,
}

/// No route timeout, as Istio writes none: nginx needs a number.
const FOREVER: &str = "3600s";

/// `nginx.conf` for `routing` over `services`.
///
/// # Errors
/// [`Gap`] naming the object and field.
pub fn config(
    services: &[Service],
    routing: &[Routing],
    binds: &Binds,
    options: Options,
    paths: Paths,
) -> Result<String, Gap> {
    let objects: Vec<&Object> = routing.iter().map(Routing::object).collect();
    let rules = mesh::destination_rules(&objects, services).map_err(Gap::Invalid)?;
    let routers = mesh::routers(&objects, services).map_err(Gap::Invalid)?;
    let mut http = Section::default();
    let mut stream = Section::default();
    for (index, service) in services.iter().enumerate() {
        let bind = binds
            .services
            .get(&service.name)
            .copied()
            .ok_or_else(|| Gap::Invalid(format!("no listener address for {}", service.name)))?;
        let writer = Writer {
            services,
            rules: &rules,
            prefix: format!("s{index}"),
        };
        let vs = match routers.get(&service.name).copied() {
            Some(Object::VirtualService(vs)) => Some(vs),
            _ => None,
        };
        match (options.layer, service.protocol) {
            (Layer::Four, _) => writer.tcp(&mut stream, service, bind, None, "default")?,
            (Layer::Seven, Protocol::Http) => writer.http(&mut http, service, bind, vs)?,
            (Layer::Seven, Protocol::Tcp) => writer.tcp(
                &mut stream,
                service,
                bind,
                vs.map(|vs| &vs.spec),
                vs.map_or("default", |vs| vs.metadata.namespace.as_str()),
            )?,
            (Layer::Seven, Protocol::Grpc) => {
                return Err(Gap::Unsupported(format!(
                    "the nginx adapter does not translate gRPC routes (h2c listeners and upstreams) yet: {} can be judged only as TCP (--proxy nginx-l4, a layer-4 control)",
                    service.name
                )));
            }
            (Layer::Seven, Protocol::Thrift | Protocol::Dubbo) => {
                let codec = match service.protocol {
                    Protocol::Thrift => "Thrift",
                    _ => "Dubbo",
                };
                return Err(Gap::Unsupported(format!(
                    "nginx has no {codec} codec: it can route {} only as TCP, connection by connection (--proxy nginx-l4, a layer-4 control)",
                    service.name
                )));
            }
        }
    }
    let stream_needed = !stream.text.is_empty();
    let module = match (stream_needed, paths.stream_module) {
        (false, _) => String::new(),
        (true, Some(module)) => format!("load_module {module};\n"),
        (true, None) => {
            return Err(Gap::Unsupported(
                "nginx's stream module (Debian's libnginx-mod-stream) is not installed: TCP proxying needs it".to_owned(),
            ));
        }
    };
    Ok(document(&module, &http, &stream, binds, options, paths))
}

/// `nginx.conf` for nginx as a plain web server on `listen`, answering
/// `200 hello` to every request, with the control server the adapter's
/// configurations have (so it starts the same way).
pub fn web_server(listen: SocketAddr, control: SocketAddr, workers: u32, paths: Paths) -> String {
    let mut http = Section::default();
    http.line("server {");
    http.line(&format!("    listen {listen};"));
    http.line("    location / { default_type text/plain; return 200 \"hello\\n\"; }");
    http.line("}");
    let binds = Binds {
        services: BTreeMap::new(),
        control,
    };
    let options = Options {
        layer: Layer::Seven,
        workers,
        idle_timeout: None,
    };
    document("", &http, &Section::default(), &binds, options, paths)
}

/// The whole file: main context, `http` with the control server, `stream`.
fn document(
    module: &str,
    http: &Section,
    stream: &Section,
    binds: &Binds,
    options: Options,
    paths: Paths,
) -> String {
    let dir = paths.dir;
    let idle = options
        .idle_timeout
        .map_or_else(|| FOREVER.to_owned(), seconds);
    let mut out = format!(
        "# Generated by meshbench from the scenario's routing objects.\n{module}\
         daemon off;\nmaster_process on;\nworker_processes {workers};\npid {dir}/nginx.pid;\n\
         error_log stderr warn;\nevents {{ worker_connections 8192; }}\n\n\
         http {{\n    access_log off;\n    keepalive_timeout {idle};\n    keepalive_requests 100000000;\n\
         \x20   client_body_temp_path {dir}/client_body;\n    proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n\n\
         \x20   server {{\n        listen {control};\n\
         \x20       location = /__meshbench/version {{ return 200 \"{version}\"; }}\n\
         \x20       location = /__meshbench/status {{ stub_status; }}\n    }}\n\n{http}}}\n",
        workers = options.workers,
        control = binds.control,
        version = paths.version,
        http = http.text,
    );
    if !stream.text.is_empty() {
        let _ = write!(
            out,
            "\nstream {{\n    proxy_timeout {idle};\n\n{}}}\n",
            stream.text
        );
    }
    out
}

/// nginx's seconds (`2s`, `0.5s` as `500ms`); never 0, which nginx reads
/// as "no wait at all".
fn seconds(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

/// The text of one context (`http` or `stream`), indented once.
#[derive(Default)]
struct Section {
    text: String,
}

impl Section {
    fn line(&mut self, line: &str) {
        let _ = writeln!(self.text, "    {line}");
    }
}

/// Writes one service's maps, server and upstreams.
struct Writer<'a, 'o> {
    services: &'a [Service],
    rules: &'a BTreeMap<String, &'o Resource<DestinationRuleSpec>>,
    /// Names this service's maps and upstreams (`s0`, `s0_r1_d0`).
    prefix: String,
}

impl Writer<'_, '_> {
    /// A `stream` server: the first TCP route's weights, or the whole service.
    fn tcp(
        &self,
        out: &mut Section,
        service: &Service,
        bind: SocketAddr,
        vs: Option<&VirtualServiceSpec>,
        namespace: &str,
    ) -> Result<(), Gap> {
        let name = &self.prefix;
        let route = vs.and_then(|vs| {
            vs.tcp.iter().find(|r| {
                r.match_.is_empty()
                    || r.match_
                        .iter()
                        .any(|m| m.port.is_none_or(|p| p == u32::from(service.port)))
            })
        });
        let target = match route {
            None => {
                self.upstream(
                    out,
                    &format!("{name}_all"),
                    &whole(service),
                    "default",
                    false,
                )?;
                format!("{name}_all")
            }
            Some(route) => {
                let legs: Vec<(&Destination, u32)> = route
                    .route
                    .iter()
                    .map(|d| (&d.destination, d.weight))
                    .collect();
                // A connection's key: its client address and port.
                let pick = self.split(
                    out,
                    &format!("{name}_r0"),
                    "$remote_addr$remote_port",
                    &legs,
                )?;
                for (k, (destination, _)) in legs.iter().enumerate() {
                    self.upstream(
                        out,
                        &format!("{name}_r0_d{k}"),
                        destination,
                        namespace,
                        false,
                    )?;
                }
                pick
            }
        };
        out.line(&format!(
            "server {{ # {} ({})",
            service.name, service.protocol
        ));
        out.line(&format!("    listen {bind};"));
        out.line(&format!("    proxy_pass {target};"));
        out.line("}\n");
        Ok(())
    }

    /// An HTTP server: routes in order, first match wins.
    fn http(
        &self,
        out: &mut Section,
        service: &Service,
        bind: SocketAddr,
        vs: Option<&Resource<VirtualServiceSpec>>,
    ) -> Result<(), Gap> {
        let name = &self.prefix;
        let Some(vs) = vs else {
            // No VirtualService: the default route, with Istio's default retries.
            self.upstream(
                out,
                &format!("{name}_all"),
                &whole(service),
                "default",
                true,
            )?;
            out.line(&format!("server {{ # {}", service.name));
            out.line(&format!("    listen {bind};"));
            out.line("    location / {");
            proxy(
                out,
                &format!("http://{name}_all"),
                &RetryPlan::default_route(),
                "the default route",
            )?;
            out.line("    }");
            out.line("}\n");
            return Ok(());
        };
        let at = format!(
            "VirtualService {}/{}",
            vs.metadata.namespace, vs.metadata.name
        );
        let mut flags = Vec::new();
        for (j, route) in vs.spec.http.iter().enumerate() {
            let at = format!("{at} http[{j}]");
            unsupported_route(route, &at)?;
            flags.push(self.route_flag(out, route, j, &at)?);
        }
        let choice = format!("${name}_route");
        out.line(&format!("map \"{}\" {choice} {{", concatenated(&flags)));
        for j in 0..flags.len() {
            out.line(&format!("    ~^{}1 {j};", "0".repeat(j)));
        }
        out.line("    default none;");
        out.line("}");
        let mut locations = Section::default();
        for (j, route) in vs.spec.http.iter().enumerate() {
            let at = format!("{at} http[{j}]");
            self.route_location(out, &mut locations, (route, j), &vs.metadata.namespace, &at)?;
        }
        out.line(&format!("server {{ # {}", service.name));
        out.line(&format!("    listen {bind};"));
        out.line("    location / {");
        out.line(&format!("        if ({choice} = none) {{ return 404; }}"));
        out.line(&format!(
            "        rewrite ^ /__meshbench/r{choice}$uri last;"
        ));
        out.line("    }");
        out.text.push_str(&locations.text);
        out.line("}\n");
        Ok(())
    }

    /// `1` or `0` for route `j` as a variable: its matches ORed, each
    /// match its conditions ANDed, each condition a `map`.
    fn route_flag(
        &self,
        out: &mut Section,
        route: &HttpRoute,
        j: usize,
        at: &str,
    ) -> Result<String, Gap> {
        let name = &self.prefix;
        if route.match_.is_empty() {
            return Ok("1".to_owned());
        }
        let mut matches = Vec::new();
        for (k, m) in route.match_.iter().enumerate() {
            let conditions = conditions(m, &format!("{at}.match[{k}]"))?;
            let flag = format!("${name}_r{j}_m{k}");
            match conditions.as_slice() {
                [] => matches.push("1".to_owned()),
                _ => {
                    let mut keys = Vec::new();
                    for (c, condition) in conditions.iter().enumerate() {
                        let var = format!("${name}_r{j}_m{k}_c{c}");
                        condition.write(out, &var);
                        keys.push(var);
                    }
                    out.line(&format!("map \"{}\" {flag} {{", concatenated(&keys)));
                    out.line(&format!("    {} 1;", "1".repeat(keys.len())));
                    out.line("    default 0;");
                    out.line("}");
                    matches.push(flag);
                }
            }
        }
        let flag = format!("${name}_r{j}");
        out.line(&format!("map \"{}\" {flag} {{", concatenated(&matches)));
        out.line("    ~1 1;");
        out.line("    default 0;");
        out.line("}");
        Ok(flag)
    }

    /// Route `j`'s internal location, and its maps and upstreams.
    fn route_location(
        &self,
        out: &mut Section,
        locations: &mut Section,
        (route, j): (&HttpRoute, usize),
        namespace: &str,
        at: &str,
    ) -> Result<(), Gap> {
        let name = &self.prefix;
        let path = format!("/__meshbench/r{j}");
        locations.line(&format!("    location ^~ {path}/ {{"));
        locations.line("        internal;");
        if let Some(abort) = route.fault.as_ref().and_then(|f| f.abort.as_ref()) {
            let status = abort.http_status.unwrap_or(503);
            let percent = abort.percentage.as_ref().map_or(100.0, |p| p.value);
            let var = format!("${name}_r{j}_abort");
            out.line(&format!("split_clients \"${{request_id}}\" {var} {{"));
            out.line(&format!("    {}% 1;", percent_text(percent)));
            out.line("    * 0;");
            out.line("}");
            locations.line(&format!("        if ({var} = 1) {{ return {status}; }}"));
        }
        if let Some(redirect) = &route.redirect {
            let code = mesh::redirect_code(redirect, at)?;
            let host = match &redirect.authority {
                Some(authority) => literal(authority, &format!("{at}.redirect.authority"))?,
                None => "$http_host".to_owned(),
            };
            // Envoy keeps the query unless the new path has its own.
            let location = match &redirect.uri {
                Some(uri) if uri.contains('?') => literal(uri, &format!("{at}.redirect.uri"))?,
                Some(uri) => format!(
                    "{}$is_args$args",
                    literal(uri, &format!("{at}.redirect.uri"))?
                ),
                None => "$request_uri".to_owned(),
            };
            locations.line(&format!(
                "        return {code} \"http://{host}{location}\";"
            ));
            locations.line("    }");
            return Ok(());
        }
        locations.text.push_str(&rewrite(route, &path, at)?);
        let headers = route.headers.as_ref();
        if let Some(ops) = headers.and_then(|h| h.request.as_ref()) {
            request_headers(locations, ops, &format!("{at}.headers.request"))?;
        }
        if let Some(ops) = headers.and_then(|h| h.response.as_ref()) {
            response_headers(locations, ops, &format!("{at}.headers.response"))?;
        }
        if route.route.iter().any(|d| d.headers.is_some()) {
            return Err(Gap::Unsupported(format!(
                "{at}.route[].headers: nginx sets headers per location, not per weighted destination"
            )));
        }
        let mut mirror_location = Section::default();
        if let Some(mirror) = &route.mirror {
            let target = format!("{name}_r{j}_mirror");
            self.upstream(out, &target, mirror, namespace, true)?;
            let uri = format!("/__meshbench/mirror{j}");
            locations.line(&format!("        mirror {uri};"));
            mirror_location.line(&format!("    location = {uri} {{"));
            mirror_location.line("        internal;");
            mirror_location.line(&format!("        proxy_pass http://{target}$request_uri;"));
            mirror_location.line("        proxy_set_header Host $http_host;");
            mirror_location.line("        proxy_http_version 1.1;");
            mirror_location.line("        proxy_set_header Connection \"\";");
            mirror_location.line("    }");
        }
        let legs: Vec<(&Destination, u32)> = route
            .route
            .iter()
            .map(|d| (&d.destination, d.weight))
            .collect();
        let pick = self.split(out, &format!("{name}_r{j}"), "${request_id}", &legs)?;
        for (k, (destination, _)) in legs.iter().enumerate() {
            self.upstream(
                out,
                &format!("{name}_r{j}_d{k}"),
                destination,
                namespace,
                true,
            )?;
        }
        proxy(
            locations,
            &format!("http://{pick}"),
            &RetryPlan::of(route, at, "nginx")?,
            at,
        )?;
        locations.line("    }");
        locations.text.push_str(&mirror_location.text);
        Ok(())
    }

    /// A `split_clients` over `key` choosing among weighted `legs` (weight-0
    /// legs dropped, as istiod drops them); the variable, or the one
    /// upstream's name.
    fn split(
        &self,
        out: &mut Section,
        name: &str,
        key: &str,
        legs: &[(&Destination, u32)],
    ) -> Result<String, Gap> {
        let live: Vec<(usize, u32)> = legs
            .iter()
            .enumerate()
            .filter(|(_, (_, w))| *w > 0 || legs.len() == 1)
            .map(|(k, (_, w))| (k, *w))
            .collect();
        match live.as_slice() {
            [] => Err(Gap::Invalid(format!(
                "{name}: a route without a destination"
            ))),
            [(k, _)] => Ok(format!("{name}_d{k}")),
            several => {
                let total: u32 = several.iter().map(|(_, w)| w).sum();
                let var = format!("${name}_pick");
                out.line(&format!("split_clients \"{key}\" {var} {{"));
                for (i, (k, weight)) in several.iter().enumerate() {
                    match i + 1 == several.len() {
                        true => out.line(&format!("    * {name}_d{k};")),
                        false => out.line(&format!(
                            "    {}% {name}_d{k};",
                            percent_text(f64::from(*weight) * 100.0 / f64::from(total))
                        )),
                    }
                }
                out.line("}");
                Ok(var)
            }
        }
    }

    /// One upstream: the destination's endpoints under its subset's load
    /// balancer, kept alive when `http`.
    fn upstream(
        &self,
        out: &mut Section,
        name: &str,
        destination: &Destination,
        namespace: &str,
        http: bool,
    ) -> Result<(), Gap> {
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
        refuse_policies(&subset.policy, &at)?;
        out.line(&format!(
            "upstream {name} {{ # {}{}",
            service.name,
            subset_name
                .map(|s| format!(" subset {s}"))
                .unwrap_or_default()
        ));
        if let Some(balance) = balance(&subset.policy, &at)? {
            out.line(&format!("    {balance}"));
        }
        if subset.endpoints.is_empty() {
            // nginx refuses an empty upstream; a port nothing listens on
            // answers every request 502, as Envoy's empty cluster 503s.
            out.line(
                "    server 127.0.0.1:9 max_fails=0; # no endpoint carries the subset's labels",
            );
        }
        for endpoint in &subset.endpoints {
            out.line(&format!(
                "    server {} max_fails=0;",
                endpoint.identity.addr
            ));
        }
        if http {
            // Kept-alive upstream connections for as many requests as the
            // client sends, as Envoy's pools do (nginx closes one after
            // 1000 by default).
            out.line("    keepalive 64;");
            out.line("    keepalive_requests 100000000;");
        }
        out.line("}");
        Ok(())
    }
}

/// Variables and literal flags as one map source: `${a}${b}1`, braced so
/// that a literal after a variable does not extend its name.
fn concatenated(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| match p.strip_prefix('$') {
            Some(name) => format!("${{{name}}}"),
            None => p.clone(),
        })
        .collect()
}

/// The service itself, as a destination.
fn whole(service: &Service) -> Destination {
    Destination {
        host: service.name.clone(),
        subset: None,
        port: None,
    }
}

/// A percentage as nginx's `split_clients` takes it: at most two decimals.
fn percent_text(percent: f64) -> String {
    let text = format!("{percent:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `rewrite … break` from the route's internal path back to the request's
/// path, with `rewrite.uri` as istiod's `prefix_rewrite` (the matched prefix
/// replaced; the whole path for an exact match; `/` when no uri matched).
fn rewrite(route: &HttpRoute, path: &str, at: &str) -> Result<String, Gap> {
    let mut out = String::new();
    let Some(uri) = route.rewrite.as_ref().and_then(|r| r.uri.as_deref()) else {
        let _ = writeln!(out, "        rewrite ^{path}(.*)$ $1 break;");
        return Ok(out);
    };
    let new = literal(uri, &format!("{at}.rewrite.uri"))?;
    let uris: Vec<Option<&StringMatch>> = match route.match_.as_slice() {
        [] => vec![None],
        matches => matches.iter().map(|m| m.uri.as_ref()).collect(),
    };
    for matched in uris {
        let line = match matched {
            Some(StringMatch {
                exact: Some(exact), ..
            }) => {
                format!("rewrite ^{path}{}$ {new} break;", regex_escape(exact))
            }
            Some(StringMatch { regex: Some(_), .. }) => {
                return Err(Gap::Unsupported(format!(
                    "{at}.rewrite.uri after a regex uri match: Envoy's prefix_rewrite has no nginx equivalent"
                )));
            }
            Some(StringMatch {
                prefix: Some(prefix),
                ..
            }) => format!(
                "rewrite ^{path}{}(.*)$ {new}$1 break;",
                regex_escape(prefix)
            ),
            _ => format!("rewrite ^{path}/(.*)$ {new}$1 break;"),
        };
        let _ = writeln!(out, "        {line}");
    }
    // A request another match block chose keeps its path.
    let _ = writeln!(out, "        rewrite ^{path}(.*)$ $1 break;");
    if route
        .rewrite
        .as_ref()
        .is_some_and(|r| r.authority.is_some())
    {
        return Err(Gap::Unsupported(format!(
            "{at}.rewrite.authority is not translated for nginx"
        )));
    }
    Ok(out)
}

/// `proxy_pass` to `target` with the route's timeout and retries.
fn proxy(out: &mut Section, target: &str, plan: &RetryPlan, at: &str) -> Result<(), Gap> {
    out.line(&format!("        proxy_pass {target};"));
    out.line("        proxy_set_header Host $http_host;");
    out.line("        proxy_http_version 1.1;");
    out.line("        proxy_set_header Connection \"\";");
    let timeout = plan.timeout.map_or_else(|| FOREVER.to_owned(), seconds);
    out.line(&format!("        proxy_read_timeout {timeout};"));
    out.line(&format!("        proxy_send_timeout {timeout};"));
    out.line(&format!(
        "        proxy_next_upstream {};",
        next_upstream(plan, at)?.join(" ")
    ));
    out.line(&format!(
        "        proxy_next_upstream_tries {};",
        plan.retries + 1
    ));
    Ok(())
}

/// Request header operations: `proxy_set_header` (an empty value removes).
fn request_headers(out: &mut Section, ops: &HeaderOperations, at: &str) -> Result<(), Gap> {
    if !ops.add.is_empty() {
        return Err(Gap::Unsupported(format!(
            "{at}.add: nginx's proxy_set_header replaces a header, it cannot append one"
        )));
    }
    for (name, value) in &ops.set {
        let value = variable_free(value, at)?;
        out.line(&format!(
            "        proxy_set_header {} \"{value}\";",
            token(name, at)?
        ));
    }
    for name in &ops.remove {
        out.line(&format!(
            "        proxy_set_header {} \"\";",
            token(name, at)?
        ));
    }
    Ok(())
}

/// Response header operations: `add_header … always`, `proxy_hide_header`.
fn response_headers(out: &mut Section, ops: &HeaderOperations, at: &str) -> Result<(), Gap> {
    for (name, value) in &ops.set {
        let name = token(name, at)?;
        out.line(&format!("        proxy_hide_header {name};"));
        out.line(&format!(
            "        add_header {name} \"{}\" always;",
            variable_free(value, at)?
        ));
    }
    for (name, value) in &ops.add {
        let name = token(name, at)?;
        out.line(&format!(
            "        add_header {name} \"{}\" always;",
            variable_free(value, at)?
        ));
    }
    for name in &ops.remove {
        out.line(&format!("        proxy_hide_header {};", token(name, at)?));
    }
    Ok(())
}

/// The `proxy_next_upstream` conditions of a plan: `off` without any, and
/// `non_idempotent` with any, as Envoy retries every method.
fn next_upstream(plan: &RetryPlan, at: &str) -> Result<Vec<&'static str>, Gap> {
    let mut next: Vec<&'static str> = Vec::new();
    for condition in &plan.on {
        let these: &[&'static str] = match condition {
            RetryOn::ConnectFailure | RetryOn::Reset => &["error"],
            RetryOn::Timeout => &["timeout"],
            // nginx retries no 5xx but these.
            RetryOn::ServerError => &["http_500", "http_502", "http_503", "http_504"],
            RetryOn::Status(403) => &["http_403"],
            RetryOn::Status(404) => &["http_404"],
            RetryOn::Status(429) => &["http_429"],
            RetryOn::Status(500) => &["http_500"],
            RetryOn::Status(502) => &["http_502"],
            RetryOn::Status(503) => &["http_503"],
            RetryOn::Status(504) => &["http_504"],
            RetryOn::Status(other) => {
                return Err(Gap::Unsupported(format!(
                    "{at}.retries.retryOn {other}: nginx retries on 403, 404, 429, 500, 502, 503 and 504 only"
                )));
            }
        };
        for keyword in these {
            if !next.contains(keyword) {
                next.push(keyword);
            }
        }
    }
    match (plan.retries, next.is_empty()) {
        (0, _) | (_, true) => Ok(vec!["off"]),
        _ => {
            next.push("non_idempotent");
            Ok(next)
        }
    }
}

/// Fields nginx 1.22 has no way to say.
fn unsupported_route(route: &HttpRoute, at: &str) -> Result<(), Gap> {
    if route.fault.as_ref().is_some_and(|f| f.delay.is_some()) {
        return Err(Gap::Unsupported(format!(
            "{at}.fault.delay: nginx 1.22 cannot delay a request"
        )));
    }
    let share = route
        .mirror_percentage
        .as_ref()
        .map(|p| p.value)
        .or(route.mirror_percent.map(f64::from));
    if route.mirror.is_some() && share.is_some_and(|s| s < 100.0) {
        return Err(Gap::Unsupported(format!(
            "{at}.mirrorPercentage: nginx's mirror copies every request, not a share"
        )));
    }
    Ok(())
}

/// One condition of a match: a `map` from one nginx variable to 1 or 0.
struct Condition {
    variable: String,
    /// `~` or `~*` and the regex.
    pattern: String,
    /// `withoutHeaders`: the map's answers swapped.
    negated: bool,
}

impl Condition {
    fn write(&self, out: &mut Section, var: &str) {
        let (hit, miss) = if self.negated { (0, 1) } else { (1, 0) };
        out.line(&format!("map {} {var} {{", self.variable));
        out.line(&format!("    \"{}\" {hit};", self.pattern));
        out.line(&format!("    default {miss};"));
        out.line("}");
    }
}

/// A match block's conditions.
fn conditions(m: &HttpMatchRequest, at: &str) -> Result<Vec<Condition>, Gap> {
    if m.source_labels.is_some() || m.query_params.is_some() {
        return Err(Gap::Unsupported(format!(
            "{at}: sourceLabels and queryParams are not translated for nginx"
        )));
    }
    let mut out = Vec::new();
    if let Some(uri) = &m.uri {
        out.push(condition("$uri", uri, m.ignore_uri_case, at)?);
    }
    if let Some(method) = &m.method {
        out.push(condition("$request_method", method, false, at)?);
    }
    if let Some(authority) = &m.authority {
        out.push(condition("$http_host", authority, false, at)?);
    }
    if let Some(port) = m.port {
        out.push(Condition {
            variable: "$server_port".to_owned(),
            pattern: format!("~^{port}$"),
            negated: false,
        });
    }
    for (name, value) in &m.headers {
        out.push(header(name, value.as_ref(), false, at)?);
    }
    for (name, value) in &m.without_headers {
        out.push(header(name, value.as_ref(), true, at)?);
    }
    Ok(out)
}

/// A header condition on `$http_<name>`; no value, `{}`, `exact: ""` and
/// `regex: "*"` mean present (nginx sees an empty header as absent).
fn header(
    name: &str,
    value: Option<&StringMatch>,
    negated: bool,
    at: &str,
) -> Result<Condition, Gap> {
    let variable = format!(
        "$http_{}",
        token(name, at)?.to_ascii_lowercase().replace('-', "_")
    );
    let present = value.is_none_or(|v| {
        matches!(
            (v.exact.as_deref(), v.prefix.as_deref(), v.regex.as_deref()),
            (None, None, None) | (Some(""), None, None) | (None, None, Some("*"))
        )
    });
    let mut condition = match (present, value) {
        (false, Some(value)) => condition(&variable, value, false, at)?,
        _ => Condition {
            variable,
            pattern: "~.".to_owned(),
            negated: false,
        },
    };
    condition.negated = negated;
    Ok(condition)
}

/// A StringMatch as an anchored regex over `variable`.
fn condition(
    variable: &str,
    value: &StringMatch,
    caseless: bool,
    at: &str,
) -> Result<Condition, Gap> {
    let pattern = match (&value.exact, &value.prefix, &value.regex) {
        (Some(exact), None, None) => format!("^{}$", regex_escape(&literal(exact, at)?)),
        (None, Some(prefix), None) => format!("^{}", regex_escape(&literal(prefix, at)?)),
        // RE2 over the whole value; PCRE anchored the same way.
        (None, None, Some(regex)) => format!("^(?:{})$", literal(regex, at)?),
        _ => {
            return Err(Gap::Invalid(format!(
                "{at}: a StringMatch sets exactly one of exact, prefix, regex"
            )));
        }
    };
    let operator = if caseless { "~*" } else { "~" };
    Ok(Condition {
        variable: variable.to_owned(),
        pattern: format!("{operator}{pattern}"),
        negated: false,
    })
}

/// A value that can stand in double quotes in nginx.conf (no quote,
/// backslash, `$` or control character).
fn literal(text: &str, at: &str) -> Result<String, Gap> {
    if text.contains(['"', '\\']) || text.chars().any(char::is_control) {
        return Err(Gap::Unsupported(format!(
            "{at}: '{}' holds a quote, a backslash or a control character, which the generated nginx.conf does not escape",
            text.escape_debug()
        )));
    }
    Ok(text.to_owned())
}

/// A header value without nginx variables (`$` would be expanded).
fn variable_free(text: &str, at: &str) -> Result<String, Gap> {
    let text = literal(text, at)?;
    match text.contains('$') {
        true => Err(Gap::Unsupported(format!(
            "{at}: '{text}' holds a '$', which nginx would expand"
        ))),
        false => Ok(text),
    }
}

/// The upstream's balancer line: LEAST_REQUEST (Istio's default) as
/// `least_conn`; round robin is nginx's default (no line).
fn balance(policy: &TrafficPolicy, at: &str) -> Result<Option<String>, Gap> {
    let Some(lb) = &policy.load_balancer else {
        return Ok(Some("least_conn;".to_owned()));
    };
    if let Some(hash) = &lb.consistent_hash {
        return match &hash.http_header_name {
            Some(header) => Ok(Some(format!(
                "hash $http_{} consistent;",
                token(header, at)?.to_ascii_lowercase().replace('-', "_")
            ))),
            None => Err(Gap::Unsupported(format!(
                "{at}: loadBalancer.consistentHash other than httpHeaderName is not translated for nginx"
            ))),
        };
    }
    Ok(match lb.simple {
        None | Some(SimpleLb::Unspecified | SimpleLb::LeastRequest | SimpleLb::LeastConn) => {
            Some("least_conn;".to_owned())
        }
        Some(SimpleLb::RoundRobin) => None,
        Some(SimpleLb::Random) => Some("random;".to_owned()),
        Some(SimpleLb::Passthrough) => {
            return Err(Gap::Unsupported(format!(
                "{at}: loadBalancer.simple PASSTHROUGH has no nginx equivalent"
            )));
        }
    })
}

/// nginx (open source) has neither circuit breakers (`max_conns` queues
/// only in nginx Plus) nor an ejection like Envoy's; a connect timeout is
/// per location, not per upstream.
fn refuse_policies(policy: &TrafficPolicy, at: &str) -> Result<(), Gap> {
    if policy.outlier_detection.is_some() {
        return Err(Gap::Unsupported(format!(
            "{at}: outlierDetection: nginx's max_fails/fail_timeout count failed tries, not Envoy's consecutive errors with a growing ejection"
        )));
    }
    if policy.connection_pool.is_some() {
        return Err(Gap::Unsupported(format!(
            "{at}: connectionPool: open-source nginx has no circuit breaker"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
