//! Fixtures for meshbench's criterion micro benchmarks (`cargo bench -p
//! meshbench-benches`): the messages, route tables, clusters and ledgers the
//! benches in `benches/` measure, built only through the crates' public APIs,
//! and the criterion settings they share.
//!
//! This package is a workspace member outside `default-members`, so that
//! `cargo test` never builds criterion or a release build of every
//! dependency for it.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use meshbench_proxy_under_test::route::{
    Action, Cluster, Condition, Forward, LbPolicy, Listener, Match, PoolLimits, Route,
    StringMatcher, WeightedClusters,
};
use meshbench_sim::fleet::Echo;
use meshbench_sim::ledger::{Entry, Ledger, Outcome};
use meshbench_wire::Protocol;
use meshbench_wire::attributes::{self, Attributes};
use meshbench_wire::dubbo::{self, Value};
use meshbench_wire::http1;
use meshbench_wire::thrift::hello::SayHello;
use meshbench_wire::thrift::{Encoding, Message, Transport};

/// A `sayHello` call as the fleet's clients send it, with a request id in its context.
pub fn thrift_call(encoding: Encoding) -> Message {
    let mut context = BTreeMap::new();
    context.insert("x-request-id".to_owned(), "c0-1-42".to_owned());
    context.insert("x-user".to_owned(), "admin".to_owned());
    SayHello {
        name: "Aeraki".to_owned(),
        context,
    }
    .encode_call(Transport::Framed, encoding, None, 42)
}

/// A Dubbo request as a consumer sends it: one String argument, two attachments.
pub fn dubbo_request() -> dubbo::Request {
    let mut request = dubbo::Request::new(
        "org.apache.dubbo.samples.basic.api.DemoService",
        "sayHello",
        "Ljava/lang/String;",
        vec![Value::from("Aeraki")],
    );
    request.attachments.insert("x-request-id", "c0-1-42");
    request.attachments.insert("x-user", "admin");
    request
}

/// The whole wire frame (header and body) of [`dubbo_request`].
pub fn dubbo_frame_bytes() -> Bytes {
    let mut out = BytesMut::new();
    // A hessian2 body well under the frame limit always encodes.
    if let Err(error) = dubbo_request().to_frame(42).encode(&mut out) {
        panic!("the fixture frame does not encode: {error}");
    }
    out.freeze()
}

/// A keep-alive GET as a browser-less client sends it, with a few headers.
pub const HTTP_REQUEST: &[u8] = b"GET /hello?name=Aeraki HTTP/1.1\r\n\
Host: http-sample.meta-http.svc.cluster.local:3000\r\n\
User-Agent: meshbench\r\n\
Accept: */*\r\n\
x-request-id: c0-1-42\r\n\
x-user: admin\r\n\r\n";

/// The parsed form of [`HTTP_REQUEST`].
pub fn http_request() -> http1::Request {
    let mut request = http1::Request::new("GET", "/hello?name=Aeraki");
    request
        .headers
        .append("host", "http-sample.meta-http.svc.cluster.local:3000");
    request.headers.append("user-agent", "meshbench");
    request.headers.append("accept", "*/*");
    request.headers.append("x-request-id", "c0-1-42");
    request.headers.append("x-user", "admin");
    request
}

/// How the routes of [`listener`] match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `x-user` exactly `user-<i>`.
    Exact,
    /// `:path` starts with `/svc<i>/`.
    Prefix,
    /// `:path` matches `/svc<i>/[a-z]+`.
    Regex,
}

impl MatchKind {
    /// Its name in bench ids.
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Prefix => "prefix",
            MatchKind::Regex => "regex",
        }
    }
}

/// A listener of `routes` routes of one match kind; only the last one
/// matches [`route_request`], so selection walks the whole table.
pub fn listener(kind: MatchKind, routes: usize) -> Listener {
    let routes = (0..routes)
        .map(|i| {
            let (attribute, matcher) = match kind {
                MatchKind::Exact => ("x-user", StringMatcher::Exact(format!("user-{i}"))),
                MatchKind::Prefix => (":path", StringMatcher::Prefix(format!("/svc{i}/"))),
                MatchKind::Regex => (
                    ":path",
                    StringMatcher::Regex(anchored(&format!("/svc{i}/[a-z]+"))),
                ),
            };
            Route {
                name: format!("route-{i}"),
                matches: vec![Match {
                    conditions: vec![Condition {
                        attribute: attribute.to_owned(),
                        matcher,
                        invert: false,
                    }],
                }],
                action: Action::Forward(std::sync::Arc::new(Forward::to(
                    WeightedClusters::single(format!("outbound|3000|v{i}|http-sample")),
                ))),
            }
        })
        .collect();
    Listener {
        service: "http-sample.meta-http.svc.cluster.local".to_owned(),
        protocol: Protocol::Http,
        port: 3000,
        routes,
    }
}

fn anchored(pattern: &str) -> regex::Regex {
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(regex) => regex,
        Err(error) => panic!("fixture regex {pattern}: {error}"),
    }
}

/// The attributes of a request only the last of `routes` routes matches.
pub fn route_request(routes: usize) -> Attributes {
    let last = routes.saturating_sub(1);
    let mut request = http_request();
    request.target = format!("/svc{last}/hello");
    request.headers.set("x-user", format!("user-{last}"));
    attributes::http(&request).attributes
}

/// Weighted clusters with these weights.
pub fn weighted(weights: &[u32]) -> WeightedClusters {
    WeightedClusters {
        clusters: weights
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("outbound|9090|v{i}|svc"), *w))
            .collect(),
        total_weight: weights.iter().sum(),
    }
}

/// A cluster of `endpoints` endpoints balanced by `lb`.
pub fn cluster(lb: LbPolicy, endpoints: u16) -> Cluster {
    Cluster {
        name: "outbound|9090|v1|svc".to_owned(),
        service: "svc".to_owned(),
        port: 9090,
        subset: Some("v1".to_owned()),
        endpoints: (0..endpoints)
            .map(|i| SocketAddr::from(([127, 0, 1, (i % 250 + 1) as u8], 9090)))
            .collect(),
        lb,
        pool: PoolLimits::default(),
        outlier: None,
    }
}

/// One ledger entry, served by version `v<version>`, pod `p<pod>`.
pub fn entry(n: u64, version: usize, pod: usize, connection: u64) -> Entry {
    let id = format!("c0-{connection}-{n}");
    Entry {
        id: id.clone(),
        order: n,
        class: "hello".to_owned(),
        client: 0,
        connection,
        phase: 0,
        switching: false,
        intended: Duration::from_micros(n * 200),
        latency: Duration::from_micros(150 + n % 97),
        service_time: Duration::from_micros(120 + n % 89),
        outcome: Outcome::Response {
            success: true,
            code: "200".to_owned(),
            served_by: Some(Echo {
                service: "svc".to_owned(),
                version: format!("v{version}"),
                pod: format!("p{pod}"),
                addr: format!("127.0.1.{}:9090", pod + 1),
                request_id: Some(id),
                connection,
                attempt: 1,
                processing_us: 5,
            }),
            location: None,
        },
    }
}

/// A ledger of `n` requests split 20/80 over v0/v1 (a deterministic
/// 1-in-5 pattern), over 8 connections and 4 pods per version.
pub fn ledger(n: u64) -> Ledger {
    let entries = (0..n)
        .map(|i| {
            let version = usize::from(i % 5 != 0);
            let pod = version * 4 + (i as usize / 5) % 4;
            entry(i, version, pod, i % 8)
        })
        .collect();
    Ledger {
        sent: n,
        entries,
        heartbeats: Vec::new(),
    }
}

/// The criterion settings of every bench: 20 samples of 2 s after 0.5 s of
/// warm-up, so `cargo bench` ends in minutes on two cores.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}
