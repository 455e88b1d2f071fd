//! The two load generators: meshbench's own workload (`sim::workload`),
//! run inside this process (whose CPU ticks are then the generator's), and
//! wrk, run as a child of a shell whose `times` reports wrk's CPU.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use meshbench_sim::ledger::Ledger;
use meshbench_sim::workload::{
    self, Budget, Call, ClientPlan, Pace, Progress, RequestClass, WorkloadPlan,
};
pub use meshbench_wire::Protocol;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::processes::Launcher;
use super::procstat;

/// What one load run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Load {
    /// Requests that ended (any outcome).
    pub requests: u64,
    /// Requests answered with success.
    pub successes: u64,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Successful requests per second.
    pub rps: f64,
    /// CPU seconds the generator used.
    pub generator_cpu_seconds: f64,
    /// Latency percentiles (µs) from the actual send: p50, p90, p99.
    pub service_us: [f64; 3],
    /// Latency percentiles (µs) from the intended send (open loop): p50, p90, p99.
    pub corrected_us: [f64; 3],
}

/// The HTTP service every HTTP comparison serves; requests name it in
/// `Host`, as an application in a mesh does (Envoy picks its virtual host
/// by it; nginx and HAProxy ignore it).
pub const HTTP_SERVICE: &str = "http-sample.bench.svc.cluster.local";

/// The port of [`HTTP_SERVICE`].
pub const HTTP_PORT: u16 = 3000;

/// The gRPC service of the RPC comparison; calls name it in `:authority`
/// for the same reason.
pub const GRPC_SERVICE: &str = "greeter.bench.svc.cluster.local";

/// The port of [`GRPC_SERVICE`].
pub const GRPC_PORT: u16 = 20000;

/// The authority a protocol's calls carry: the service, as a mesh
/// application names it (`None`: the protocol has none).
fn authority(protocol: &Protocol) -> Option<String> {
    match protocol {
        Protocol::Http => Some(format!("{HTTP_SERVICE}:{HTTP_PORT}")),
        Protocol::Grpc => Some(format!("{GRPC_SERVICE}:{GRPC_PORT}")),
        _ => None,
    }
}

/// What the workload sends: a scenario's default call of `protocol`
/// (`GET /hello`, unframed binary `sayHello("Aeraki")`, `DemoService.sayHello("Aeraki")`).
fn call(protocol: &Protocol) -> Call {
    meshbench_sim::scenario::Call::default().spec(*protocol)
}

/// A closed (`rate: None`) or open loop of meshbench's workload against
/// `target` for `seconds`, with `connections` connections; the CPU is this
/// process's, measured around the run.
pub async fn generator(
    protocol: &Protocol,
    target: SocketAddr,
    connections: usize,
    rate: Option<f64>,
    duration: Duration,
    id_prefix: &str,
) -> anyhow::Result<Load> {
    let plan = WorkloadPlan {
        clients: vec![ClientPlan {
            name: "bench".to_owned(),
            target,
            authority: authority(protocol),
            connections,
            in_flight: 1,
            lifetime: None,
            pause: None,
            pace: match rate {
                Some(rate) => Pace::Open {
                    rate,
                    poisson: false,
                },
                None => Pace::Closed,
            },
            budget: Budget {
                // A bound in count as well as in time.
                requests: Some(5_000_000),
                duration: Some(duration),
            },
            mix: vec![RequestClass {
                name: "bench".to_owned(),
                weight: 1,
                call: call(protocol),
            }],
        }],
        request_timeout: Duration::from_secs(5),
        id_prefix: id_prefix.to_owned(),
    };
    let me = std::process::id();
    let before = procstat::read(me).map_or(0, |s| s.ticks());
    let started = tokio::time::Instant::now();
    let ledger = workload::run(
        &plan,
        1,
        Arc::new(Progress::default()),
        CancellationToken::new(),
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let after = procstat::read(me).map_or(0, |s| s.ticks());
    let ticks = after.saturating_sub(before) as f64 / procstat::ticks_per_second() as f64;
    Ok(summarise(&ledger, seconds, ticks))
}

fn summarise(ledger: &Ledger, seconds: f64, cpu: f64) -> Load {
    let successes = ledger
        .entries
        .iter()
        .filter(|e| e.outcome.is_success())
        .count() as u64;
    let latencies = ledger.latencies(|e| e.outcome.is_success());
    let q = |h: &hdrhistogram::Histogram<u64>| {
        [0.5, 0.9, 0.99].map(|q| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(q) as f64
            }
        })
    };
    Load {
        requests: ledger.entries.len() as u64,
        successes,
        seconds,
        rps: successes as f64 / seconds.max(1e-9),
        generator_cpu_seconds: cpu,
        service_us: q(&latencies.uncorrected),
        corrected_us: q(&latencies.corrected),
    }
}

/// `wrk -t1 -c<connections> -d<seconds> --latency http://<target>/hello`
/// on the generator cores, its CPU from the shell's `times`.
pub async fn wrk(
    launcher: &Launcher,
    wrk: &Path,
    target: SocketAddr,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Load> {
    let command = format!(
        "{} -t1 -c{connections} -d{}s --latency http://{target}/hello",
        wrk.display(),
        duration.as_secs().max(1)
    );
    peer_generator(launcher, ("wrk", &command), duration, parse_wrk).await
}

/// Runs a peer load generator's `command` on the generator cores and reads
/// its output with `parse`, its CPU from the shell's `times` after it.
async fn peer_generator(
    launcher: &Launcher,
    (name, command): (&str, &str),
    duration: Duration,
    parse: fn(&str) -> Option<Load>,
) -> anyhow::Result<Load> {
    let pin = match &launcher.taskset {
        Some(taskset) => format!("{} -c {} ", taskset.display(), launcher.generator_cpus),
        None => String::new(),
    };
    let script = format!("{pin}{command}; times");
    let output = tokio::time::timeout(
        duration + Duration::from_secs(30),
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut load =
        parse(&text).ok_or_else(|| anyhow::anyhow!("could not read {name}'s output:\n{text}"))?;
    load.generator_cpu_seconds = procstat::parse_times(&text)
        .ok_or_else(|| anyhow::anyhow!("no `times` line after {name}'s output"))?;
    Ok(load)
}

/// `h2load -t1 -c<connections> -m<streams> -D<seconds>` POSTing one
/// `SayHello` message as a gRPC call to `target`, on the generator cores,
/// its CPU from the shell's `times`. h2load counts an HTTP 200 as a
/// success; a gRPC error in the trailers is a 200 too, so its figures are
/// read only against targets that answer every call.
pub async fn h2load(
    launcher: &Launcher,
    h2load: &Path,
    target: SocketAddr,
    (connections, streams): (usize, usize),
    duration: Duration,
) -> anyhow::Result<Load> {
    use meshbench_wire::grpc::{self, greeter};
    let body = tempfile::NamedTempFile::new()?;
    std::fs::write(
        body.path(),
        grpc::encode(&greeter::HelloRequest {
            name: greeter::DEFAULT_NAME.to_owned(),
        }),
    )?;
    let path = grpc::path(greeter::SERVICE, greeter::METHOD);
    let command = format!(
        "{} -t1 -c{connections} -m{streams} -D{} -d {} -H 'content-type: {}' -H 'te: trailers' -H ':authority: {GRPC_SERVICE}:{GRPC_PORT}' http://{target}{path}",
        h2load.display(),
        duration.as_secs().max(1),
        body.path().display(),
        grpc::CONTENT_TYPE,
    );
    peer_generator(launcher, ("h2load", &command), duration, parse_h2load).await
}

/// Reads h2load's summary: seconds, rate, requests and 2xx answers. h2load
/// gives no latency percentiles (only min, max, mean and deviation), so the
/// latency fields stay 0: its samples are read for throughput and CPU only.
pub fn parse_h2load(text: &str) -> Option<Load> {
    let mut load = Load::default();
    let mut found = (false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["finished", "in", secs, rps, "req/s,", ..] => {
                load.seconds = secs
                    .trim_end_matches(',')
                    .trim_end_matches('s')
                    .parse()
                    .ok()?;
                load.rps = rps.parse().ok()?;
                found.0 = true;
            }
            ["requests:", total, "total,", ..] => {
                load.requests = total.parse().ok()?;
            }
            ["status", "codes:", ok, "2xx,", ..] => {
                load.successes = ok.parse().ok()?;
                found.1 = true;
            }
            _ => {}
        }
    }
    (found.0 && found.1).then_some(load)
}

/// Reads wrk's summary: requests, seconds, latency distribution.
pub fn parse_wrk(text: &str) -> Option<Load> {
    let mut load = Load::default();
    let mut found = (false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", secs, ..] => {
                load.requests = n.parse().ok()?;
                load.seconds = secs
                    .trim_end_matches(',')
                    .trim_end_matches('s')
                    .parse()
                    .ok()?;
                found.0 = true;
            }
            ["Requests/sec:", rps] => {
                load.rps = rps.parse().ok()?;
                found.1 = true;
            }
            [pct, value] if pct.ends_with('%') => {
                let index = match *pct {
                    "50%" => 0,
                    "90%" => 1,
                    "99%" => 2,
                    _ => continue,
                };
                load.service_us[index] = micros(value)?;
            }
            _ => {}
        }
    }
    let errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    load.successes = load.requests.saturating_sub(errors);
    load.corrected_us = load.service_us;
    (found.0 && found.1).then_some(load)
}

fn micros(value: &str) -> Option<f64> {
    let (number, scale) = if let Some(v) = value.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1e6)
    } else {
        (value, 1.0)
    };
    Some(number.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.13.1:8080/hello
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   620.15us  200.00us   5.00ms   90.00%
    Req/Sec    80.12k     3.00k   85.00k    70.00%
  Latency Distribution
     50%  590.00us
     75%  700.00us
     90%    1.20ms
     99%    2.00s
  400600 requests in 5.00s, 60.00MB read
Requests/sec:  80120.00
Transfer/sec:     12.00MB
0m0.000000s 0m0.001000s
0m1.500000s 0m2.000000s
";
        let load = parse_wrk(text).expect("parses");
        assert_eq!(load.requests, 400_600);
        assert_eq!(load.successes, 400_600);
        assert!((load.seconds - 5.0).abs() < 1e-9);
        assert!((load.rps - 80_120.0).abs() < 1e-9);
        assert_eq!(load.service_us, [590.0, 1_200.0, 2_000_000.0]);
        let cpu = procstat::parse_times(text).expect("times");
        assert!((cpu - 3.5).abs() < 1e-9);
        assert!(parse_wrk("connection refused").is_none());
    }

    #[test]
    fn reads_h2load_output() {
        let text = "starting benchmark...
spawning thread #0: 50 total client(s). Timing-based test with 0s of warm-up time and 3s of main duration for measurements.
finished in 3.00s, 41234.67 req/s, 2.10MB/s
requests: 123704 total, 123754 started, 123704 done, 123704 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 123704 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 6.30MB (6606208) total, 1.20MB (1258240) headers (space savings 95.10%), 2.36MB (2474080) data
                     min         max         mean         sd        +/- sd
time for request:      210us     12.10ms      1.19ms       500us    75.00%
0m0.000000s 0m0.001000s
0m1.250000s 0m1.000000s
";
        let load = parse_h2load(text).expect("parses");
        assert_eq!((load.requests, load.successes), (123_704, 123_704));
        assert!((load.seconds - 3.0).abs() < 1e-9);
        assert!((load.rps - 41_234.67).abs() < 1e-6);
        assert!(parse_h2load("connect: Connection refused").is_none());
    }
}
