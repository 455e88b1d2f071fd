//! The bench's report: ratio tables computed from the samples (medians of
//! rounds, with spread), the Markdown summary, the JSON, the SVG plots, and
//! comparison 5 (the cost of deciding the seed split scenario).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::Serialize;

use super::spread::{Spread, ratio};
use super::{Comparison, Report, Sample};

/// One verification-cost run: a seed scenario decided in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRun {
    /// The scenario file.
    pub scenario: String,
    /// `fixed` or `sequential`.
    pub mode: String,
    /// Requests sent.
    pub requests: u64,
    /// Wall seconds of the workload.
    pub seconds: f64,
    /// The verdict.
    pub verdict: String,
}

/// Comparison 5: runs the fixed and the sequential Thrift split scenarios
/// against the in-process reference proxy and records what deciding cost.
///
/// # Errors
/// A scenario that does not load or run.
pub async fn verification_cost() -> anyhow::Result<Vec<VerifyRun>> {
    eprintln!("comparison 5: cost of deciding the seed split scenario, fixed vs sequential");
    let mut runs = Vec::new();
    for (file, mode) in [
        ("scenarios/thrift/traffic-split.yaml", "fixed"),
        (
            "scenarios/thrift/traffic-split-sequential.yaml",
            "sequential",
        ),
    ] {
        let scenario = meshbench_sim::scenario::Scenario::load(Path::new(file))
            .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let report = crate::run_scenario(
            &scenario,
            &crate::adapter::ProxySpec::Builtin,
            1,
            tokio_util::sync::CancellationToken::new(),
        )
        .await?;
        eprintln!(
            "  {mode:10} {} requests in {:.2} s: {:?}",
            report.sent, report.duration_seconds, report.verdict
        );
        runs.push(VerifyRun {
            scenario: file.to_owned(),
            mode: mode.to_owned(),
            requests: report.sent,
            seconds: report.duration_seconds,
            verdict: format!("{:?}", report.verdict).to_lowercase(),
        });
    }
    Ok(runs)
}

/// The current UTC time as `YYYY-MM-DDTHHMMZ` (folder-name safe).
pub fn now_utc() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H%MZ")
        .to_string()
}

/// Samples of one cell, in round order.
fn cell<'a>(
    samples: &'a [Sample],
    comparison: Comparison,
    protocol: &str,
    target: &str,
    mode: &str,
) -> Vec<&'a Sample> {
    let mut cell: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.comparison == comparison
                && s.protocol == protocol
                && s.target == target
                && s.mode == mode
        })
        .collect();
    cell.sort_by_key(|s| s.round);
    cell
}

fn spread_of(cell: &[&Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<Spread> {
    let values: Vec<f64> = cell.iter().filter_map(|s| f(s)).collect();
    Spread::of(&values)
}

/// Per-round differences of a latency percentile against the direct path.
/// Rounds whose target or direct run answered nothing have no latency to
/// compare: they are left out, not read as 0 µs.
fn added(target: &[&Sample], direct: &[&Sample], index: usize) -> Option<Spread> {
    let values: Vec<f64> = target
        .iter()
        .filter(|t| t.load.successes > 0)
        .filter_map(|t| {
            let d = direct
                .iter()
                .find(|d| d.round == t.round && d.load.successes > 0)?;
            Some(t.load.service_us[index] - d.load.service_us[index])
        })
        .collect();
    Spread::of(&values)
}

fn show(spread: Option<&Spread>, digits: usize) -> String {
    spread.map_or_else(|| "–".to_owned(), |s| s.show(digits))
}

/// A difference: the median and the range of the rounds, in µs (a
/// percentage of a median near zero says nothing).
fn show_range(spread: Option<&Spread>) -> String {
    spread.map_or_else(
        || "–".to_owned(),
        |s| format!("{:+.0} ({:+.0}…{:+.0})", s.median, s.min, s.max),
    )
}

fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
}

/// The HTTP targets, in table order.
const HTTP_TARGETS: [&str; 5] = ["direct", "meshproxy", "nginx", "haproxy", "envoy"];

/// The Thrift, Dubbo and gRPC targets, in table order (direct first).
const RPC_TARGETS: [&str; 5] = [
    "direct",
    "meshproxy",
    "meshproxy split+route",
    "envoy",
    "envoy split+route",
];

/// The Envoy target with the same routing as `target`: meshproxy ÷ Envoy
/// compares like with like.
fn envoy_twin(target: &str) -> String {
    target.replacen("meshproxy", "envoy", 1)
}

/// The figures the tables and targets are made of.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Proxy CPU-µs/request at saturation, per HTTP target.
    pub http_proxy_cpu: BTreeMap<String, Spread>,
    /// Throughput at saturation, per HTTP target.
    pub http_rps: BTreeMap<String, Spread>,
    /// Added p50/p90/p99 at the fixed rate, per HTTP proxy.
    pub http_added: BTreeMap<String, [Option<Spread>; 3]>,
    /// (protocol, target) → proxy CPU-µs/request at saturation.
    pub rpc_proxy_cpu: BTreeMap<String, Spread>,
    /// (protocol, target) → added p50/p90/p99.
    pub rpc_added: BTreeMap<String, [Option<Spread>; 3]>,
    /// Generator CPU-µs/request, meshbench and wrk.
    pub generator_cpu: BTreeMap<String, Spread>,
    /// Fleet server CPU-µs/request per protocol (direct, saturation).
    pub fleet_cpu: BTreeMap<String, Spread>,
}

/// Computes the figures from the samples.
pub fn figures(samples: &[Sample]) -> Figures {
    let mut f = Figures::default();
    let direct_rate = cell(samples, Comparison::Http, "http", "direct", "rate");
    for target in HTTP_TARGETS {
        let sat = cell(samples, Comparison::Http, "http", target, "saturation");
        if let Some(s) = spread_of(&sat, |s| s.cpu_us_per_request("proxy")) {
            f.http_proxy_cpu.insert(target.to_owned(), s);
        }
        if let Some(s) = spread_of(&sat, |s| Some(s.load.rps)) {
            f.http_rps.insert(target.to_owned(), s);
        }
        if target != "direct" {
            let rate = cell(samples, Comparison::Http, "http", target, "rate");
            if !rate.is_empty() {
                f.http_added.insert(
                    target.to_owned(),
                    [0, 1, 2].map(|i| added(&rate, &direct_rate, i)),
                );
            }
        }
    }
    for protocol in ["thrift", "dubbo", "grpc"] {
        let direct = cell(samples, Comparison::Rpc, protocol, "direct", "rate");
        for target in &RPC_TARGETS[1..] {
            let key = format!("{protocol} {target}");
            let sat = cell(samples, Comparison::Rpc, protocol, target, "saturation");
            if let Some(s) = spread_of(&sat, |s| s.cpu_us_per_request("proxy")) {
                f.rpc_proxy_cpu.insert(key.clone(), s);
            }
            let rate = cell(samples, Comparison::Rpc, protocol, target, "rate");
            if !rate.is_empty() {
                f.rpc_added
                    .insert(key, [0, 1, 2].map(|i| added(&rate, &direct, i)));
            }
        }
    }
    for target in ["meshbench", "wrk"] {
        let sat = cell(samples, Comparison::Generator, "http", target, "saturation");
        if let Some(s) = spread_of(&sat, |s| s.cpu_us_per_request("generator")) {
            f.generator_cpu.insert(target.to_owned(), s);
        }
    }
    for (comparison, protocol) in [
        (Comparison::Http, "http"),
        (Comparison::Rpc, "thrift"),
        (Comparison::Rpc, "dubbo"),
        (Comparison::Rpc, "grpc"),
    ] {
        let sat = cell(samples, comparison, protocol, "direct", "saturation");
        if let Some(s) = spread_of(&sat, |s| s.cpu_us_per_request("backend")) {
            f.fleet_cpu.insert(protocol.to_owned(), s);
        }
    }
    f
}

/// gRPC at saturation driven by h2load (nghttp2), a generator nobody here
/// wrote, beside meshbench's own: throughput and CPU per request only (h2load
/// reports no percentiles).
fn h2load_table(md: &mut String, s: &[Sample]) {
    let rows: Vec<(&str, Vec<&Sample>)> = RPC_TARGETS
        .iter()
        .map(|t| (*t, cell(s, Comparison::Rpc, "grpc", t, "h2load")))
        .filter(|(_, samples)| !samples.is_empty())
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\ngRPC driven by h2load (`-t1 -m10`, as many connections as the closed loop):\n"
    );
    table_head(
        md,
        &[
            "target",
            "throughput (rps)",
            "proxy CPU-µs/request",
            "backend CPU-µs/request",
        ],
    );
    for (target, samples) in rows {
        let _ = writeln!(
            md,
            "| {target} | {} | {} | {} |",
            show(spread_of(&samples, |s| Some(s.load.rps)).as_ref(), 0),
            show(
                spread_of(&samples, |s| s.cpu_us_per_request("proxy")).as_ref(),
                1
            ),
            show(
                spread_of(&samples, |s| s.cpu_us_per_request("backend")).as_ref(),
                1
            ),
        );
    }
}

/// The Markdown summary.
pub fn markdown(report: &Report) -> String {
    let f = figures(&report.samples);
    let mut md = String::new();
    header(&mut md, report);
    http(&mut md, report, &f);
    rpc(&mut md, report, &f);
    generator(&mut md, report, &f);
    fleet(&mut md, &f);
    verification(&mut md, report);
    targets(&mut md, &f);
    md
}

/// The title, the machine, the versions and the settings.
fn header(md: &mut String, report: &Report) {
    let m = &report.machine;
    let v = &report.versions;
    let _ = writeln!(md, "# meshbench bench, {}\n", report.date);
    let _ = writeln!(
        md,
        "Machine: {} × {} ({}), {}, {}, {}. Load average (1/5/15 min) {} before, {} after. \
         Generator on cores {}, servers on cores {}{}.\n",
        m.cpus,
        m.cpu,
        m.memory,
        m.os,
        m.kernel,
        if m.pinned {
            "pinned with taskset"
        } else {
            "not pinned"
        },
        m.load_before,
        m.load_after,
        setting(report, "generator cores"),
        setting(report, "server cores"),
        if m.pinned { "" } else { " (unpinned)" },
    );
    let _ = writeln!(
        md,
        "Versions: {}; {}; {}; {}; meshbench {}; {}.\n",
        v.nginx, v.haproxy, v.wrk, v.h2load, v.meshbench, v.rustc
    );
    let _ = writeln!(
        md,
        "Settings: {}. Every cell is the median of the rounds, ± half the range in percent of the median; \
         targets alternate within each round. CPU is utime+stime from /proc/<pid>/stat of each process \
         (generator: the meshbench process itself; wrk: the shell's `times`), divided by successful requests. \
         Every proxy is started by the adapter `meshbench run --proxy` judges it with, with one worker \
         (`proxy.workers: 1`: nginx `worker_processes 1` beside its master, HAProxy `nbthread 1` beside its master, \
         meshproxy `TOKIO_WORKER_THREADS=1`, Envoy `--concurrency 1` with Istio's default retry policy and the \
         fault filter in its chain, as a sidecar has them); the fleet runs `TOKIO_WORKER_THREADS=1`. \
         A proxy's CPU is the sum over its master and workers.\n",
        report
            .settings
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !report.failures.is_empty() {
        let _ = writeln!(md, "**Could not run:** {}\n", report.failures.join("; "));
    }
}

/// The HTTP/1.1 comparison: saturation and added latency.
fn http(md: &mut String, report: &Report, f: &Figures) {
    let s = &report.samples;
    if !f.http_rps.is_empty() {
        let _ = writeln!(
            md,
            "## 1. HTTP/1.1 keep-alive: meshproxy vs nginx vs HAProxy vs Envoy vs direct\n"
        );
        let _ = writeln!(
            md,
            "Saturation: closed loop, {} connections, one request in flight each.\n",
            setting(report, "closed-loop connections")
        );
        table_head(
            md,
            &[
                "target",
                "throughput (rps)",
                "proxy CPU-µs/request",
                "÷ nginx",
                "÷ HAProxy",
                "÷ Envoy",
                "backend CPU-µs/request",
                "generator CPU-µs/request",
            ],
        );
        let nginx = f.http_proxy_cpu.get("nginx");
        let haproxy = f.http_proxy_cpu.get("haproxy");
        let envoy = f.http_proxy_cpu.get("envoy");
        for target in HTTP_TARGETS {
            let sat = cell(s, Comparison::Http, "http", target, "saturation");
            if sat.is_empty() {
                continue;
            }
            let cpu = f.http_proxy_cpu.get(target);
            let _ = writeln!(
                md,
                "| {target} | {} | {} | {} | {} | {} | {} | {} |",
                show(f.http_rps.get(target), 0),
                show(cpu, 1),
                show_ratio(cpu.zip(nginx).and_then(|(a, b)| ratio(a, b))),
                show_ratio(cpu.zip(haproxy).and_then(|(a, b)| ratio(a, b))),
                show_ratio(cpu.zip(envoy).and_then(|(a, b)| ratio(a, b))),
                show(
                    spread_of(&sat, |s| s.cpu_us_per_request("backend")).as_ref(),
                    1
                ),
                show(
                    spread_of(&sat, |s| s.cpu_us_per_request("generator")).as_ref(),
                    1
                ),
            );
        }
        let _ = writeln!(
            md,
            "\nAdded latency at a fixed open-loop rate of {} rps ({} connections), µs over the direct path in the same round, \
             median (range of the rounds); latency from the actual send (the corrected figures are in bench.json). \
             The open loop's schedule runs on tokio's 1 ms timer, so requests leave in bursts of about rate/1000.\n",
            setting(report, "open-loop rate (rps)"),
            setting(report, "open-loop connections"),
        );
        table_head(
            md,
            &[
                "target",
                "achieved rps",
                "p50",
                "p90",
                "p99",
                "added p50",
                "added p90",
                "added p99",
            ],
        );
        for target in HTTP_TARGETS {
            let rate = cell(s, Comparison::Http, "http", target, "rate");
            if rate.is_empty() {
                continue;
            }
            let added = f.http_added.get(target);
            let a = |i: usize| show_range(added.and_then(|a| a[i].as_ref()));
            let _ = writeln!(
                md,
                "| {target} | {} | {} | {} | {} | {} | {} | {} |",
                show(spread_of(&rate, |s| Some(s.load.rps)).as_ref(), 0),
                show(spread_of(&rate, |s| Some(s.load.service_us[0])).as_ref(), 0),
                show(spread_of(&rate, |s| Some(s.load.service_us[1])).as_ref(), 0),
                show(spread_of(&rate, |s| Some(s.load.service_us[2])).as_ref(), 0),
                if target == "direct" {
                    "–".to_owned()
                } else {
                    a(0)
                },
                if target == "direct" {
                    "–".to_owned()
                } else {
                    a(1)
                },
                if target == "direct" {
                    "–".to_owned()
                } else {
                    a(2)
                },
            );
        }
        let _ = writeln!(
            md,
            "\n![proxy CPU per request](http-cpu.svg) ![added latency](http-latency.svg)\n"
        );
    }
}

/// The Thrift, Dubbo and gRPC comparison.
fn rpc(md: &mut String, report: &Report, f: &Figures) {
    let s = &report.samples;
    if s.iter().any(|x| x.comparison == Comparison::Rpc) {
        let _ = writeln!(
            md,
            "## 2. Thrift, Dubbo and gRPC through meshproxy vs Envoy vs direct\n"
        );
        let _ = writeln!(
            md,
            "`split+route`: a MetaRouter whose first route matches an attribute the traffic never carries \
             (Thrift `method: ping`, Dubbo `x-user: batchjob`), then a 20/80 v1/v2 split on `method: sayHello`; \
             for gRPC, a VirtualService whose first `http` route matches `x-user: batchjob` metadata, then the \
             20/80 split. gRPC rides one HTTP/2 connection per client connection, a stream per call.\n"
        );
        table_head(
            md,
            &[
                "protocol",
                "target",
                "throughput (rps)",
                "proxy CPU-µs/request",
                "÷ nginx HTTP",
                "÷ Envoy",
                "backend CPU-µs/request",
                "added p50",
                "added p90",
                "added p99",
            ],
        );
        let nginx = f.http_proxy_cpu.get("nginx");
        for protocol in ["thrift", "dubbo", "grpc"] {
            for target in RPC_TARGETS {
                let sat = cell(s, Comparison::Rpc, protocol, target, "saturation");
                if sat.is_empty() {
                    continue;
                }
                let key = format!("{protocol} {target}");
                let cpu = f.rpc_proxy_cpu.get(&key);
                let twin = f
                    .rpc_proxy_cpu
                    .get(&format!("{protocol} {}", envoy_twin(target)));
                let added = f.rpc_added.get(&key);
                let a = |i: usize| show_range(added.and_then(|a| a[i].as_ref()));
                let _ = writeln!(
                    md,
                    "| {protocol} | {target} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    show(spread_of(&sat, |s| Some(s.load.rps)).as_ref(), 0),
                    show(cpu, 1),
                    show_ratio(cpu.zip(nginx).and_then(|(a, b)| ratio(a, b))),
                    show_ratio(cpu.zip(twin).and_then(|(a, b)| ratio(a, b))),
                    show(
                        spread_of(&sat, |s| s.cpu_us_per_request("backend")).as_ref(),
                        1
                    ),
                    a(0),
                    a(1),
                    a(2),
                );
            }
        }
        h2load_table(md, s);
        let _ = writeln!(
            md,
            "\n![Thrift, Dubbo and gRPC proxy CPU per request](rpc-cpu.svg)\n"
        );
    }
}

/// meshbench's load generator beside wrk.
fn generator(md: &mut String, report: &Report, f: &Figures) {
    let s = &report.samples;
    if !f.generator_cpu.is_empty() {
        let _ = writeln!(md, "## 3. Load generator vs wrk against the same nginx\n");
        let _ = writeln!(
            md,
            "Closed loop, {} connections, nginx answering `hello` (`return 200`). meshbench's generator records \
             every request in its ledger (id, timings, outcome) and HdrHistogram; wrk runs one thread.\n",
            setting(report, "closed-loop connections")
        );
        table_head(
            md,
            &[
                "generator",
                "throughput (rps)",
                "generator CPU-µs/request",
                "÷ wrk",
                "nginx CPU-µs/request",
                "p50 µs",
                "p99 µs",
            ],
        );
        let wrk = f.generator_cpu.get("wrk");
        for target in ["meshbench", "wrk"] {
            let sat = cell(s, Comparison::Generator, "http", target, "saturation");
            let cpu = f.generator_cpu.get(target);
            let _ = writeln!(
                md,
                "| {target} | {} | {} | {} | {} | {} | {} |",
                show(spread_of(&sat, |s| Some(s.load.rps)).as_ref(), 0),
                show(cpu, 1),
                show_ratio(cpu.zip(wrk).and_then(|(a, b)| ratio(a, b))),
                show(
                    spread_of(&sat, |s| s.cpu_us_per_request("server")).as_ref(),
                    1
                ),
                show(spread_of(&sat, |s| Some(s.load.service_us[0])).as_ref(), 0),
                show(spread_of(&sat, |s| Some(s.load.service_us[2])).as_ref(), 0),
            );
        }
        let _ = writeln!(md, "\n![generator CPU per request](generator-cpu.svg)\n");
    }
}

/// The fleet servers' own cost per protocol.
fn fleet(md: &mut String, f: &Figures) {
    if !f.fleet_cpu.is_empty() {
        let _ = writeln!(md, "## 4. Fleet servers: CPU-µs/request per protocol\n");
        let _ = writeln!(
            md,
            "The sample servers at saturation on the direct path (one tokio worker each; every request is \
             also recorded in the fleet's received-request log).\n"
        );
        table_head(md, &["protocol", "fleet CPU-µs/request"]);
        for (protocol, cpu) in &f.fleet_cpu {
            let _ = writeln!(md, "| {protocol} | {} |", cpu.show(1));
        }
        md.push('\n');
    }
}

/// What verification costs, fixed against sequential.
fn verification(md: &mut String, report: &Report) {
    if !report.verification.is_empty() {
        let _ = writeln!(
            md,
            "## 5. Verification cost: the Thrift 20/80 split scenario, fixed vs sequential\n"
        );
        let _ = writeln!(
            md,
            "Run against the in-process reference proxy (`--proxy builtin`), one connection, one call in flight.\n"
        );
        table_head(
            md,
            &[
                "scenario",
                "mode",
                "requests",
                "workload wall time (s)",
                "verdict",
            ],
        );
        for run in &report.verification {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {:.2} | {} |",
                run.scenario, run.mode, run.requests, run.seconds, run.verdict
            );
        }
        md.push('\n');
    }
}

/// The performance targets, tracked and never asserted.
fn targets(md: &mut String, f: &Figures) {
    let _ = writeln!(md, "## Targets (tracked, never asserted)\n");
    table_head(md, &["target", "measured", "verdict"]);
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    };
    let mesh = f.http_proxy_cpu.get("meshproxy");
    let nginx = f.http_proxy_cpu.get("nginx");
    let r = mesh.zip(nginx).and_then(|(a, b)| ratio(a, b));
    let _ = writeln!(
        md,
        "| meshproxy HTTP CPU-µs/request ≤ 0.8 × nginx's | {} | {} |",
        r.map_or("–".to_owned(), |r| format!(
            "{:.1} vs {:.1} µs = {r:.2}×",
            mesh.map_or(0.0, |s| s.median),
            nginx.map_or(0.0, |s| s.median)
        )),
        verdict(r.map(|r| r <= 0.8))
    );
    let p50 = |t: &str| {
        f.http_added
            .get(t)
            .and_then(|a| a[0].as_ref())
            .map(|s| s.median)
    };
    let lat = p50("meshproxy").zip(p50("nginx"));
    let _ = writeln!(
        md,
        "| meshproxy added p50 ≤ nginx's | {} | {} |",
        lat.map_or("–".to_owned(), |(a, b)| format!("{a:+.0} vs {b:+.0} µs")),
        verdict(lat.map(|(a, b)| a <= b))
    );
    for (key, cpu) in f
        .rpc_proxy_cpu
        .iter()
        .filter(|(k, _)| k.contains("meshproxy"))
    {
        let ok = nginx.map(|n| cpu.median <= n.median);
        let _ = writeln!(
            md,
            "| meshproxy CPU-µs/request ({}) ≤ nginx's HTTP | {:.1} vs {} µs | {} |",
            key.replace(" meshproxy", "")
                .replace(" split+route", ", split+route"),
            cpu.median,
            nginx.map_or("–".to_owned(), |n| format!("{:.1}", n.median)),
            verdict(ok)
        );
    }
    let generators = f
        .generator_cpu
        .get("meshbench")
        .zip(f.generator_cpu.get("wrk"));
    let _ = writeln!(
        md,
        "| load generator CPU-µs/request ≤ wrk's | {} | {} |",
        generators.map_or("–".to_owned(), |(a, b)| format!(
            "{:.1} vs {:.1} µs = {:.2}×",
            a.median,
            b.median,
            a.median / b.median
        )),
        verdict(generators.map(|(a, b)| a.median <= b.median))
    );
}

/// A grouped bar chart: one group per label, one bar per series.
fn bars(
    path: &Path,
    title: &str,
    y_label: &str,
    labels: &[String],
    series: &[(&str, Vec<f64>)],
) -> anyhow::Result<()> {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.15;
    let min = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::min)
        * 1.15;
    let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let groups = labels.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..groups as f64, min..max)?;
    let names = labels.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .draw()?;
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN];
    let width = 0.8 / series.len().max(1) as f64;
    for (j, (name, values)) in series.iter().enumerate() {
        let color = palette[j % palette.len()];
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let x0 = i as f64 + 0.1 + j as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.9, *v)], color.filled())
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// A bar chart of one median per target (`series` names the bars' colour);
/// nothing when nothing was measured.
fn median_bars(
    file: &Path,
    (title, series): (&str, &str),
    medians: &BTreeMap<String, Spread>,
) -> anyhow::Result<()> {
    if medians.is_empty() {
        return Ok(());
    }
    let (labels, values): (Vec<String>, Vec<f64>) =
        medians.iter().map(|(k, v)| (k.clone(), v.median)).unzip();
    bars(
        file,
        title,
        "CPU µs / request",
        &labels,
        &[(series, values)],
    )
}

/// A run setting as the report lists it, `?` when it was not recorded.
fn setting<'r>(report: &'r Report, key: &str) -> &'r str {
    report.settings.get(key).map_or("?", String::as_str)
}

/// A Markdown table's header row and its separator.
fn table_head(md: &mut String, columns: &[&str]) {
    let _ = writeln!(md, "| {} |", columns.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(columns.len()));
}

fn plots(report: &Report, folder: &Path) -> anyhow::Result<()> {
    let f = figures(&report.samples);
    median_bars(
        &folder.join("http-cpu.svg"),
        ("HTTP/1.1 proxy CPU per request (median)", "proxy"),
        &f.http_proxy_cpu,
    )?;
    if !f.http_added.is_empty() {
        let labels: Vec<String> = f.http_added.keys().cloned().collect();
        let series: Vec<(&str, Vec<f64>)> = ["p50", "p90", "p99"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    *name,
                    f.http_added
                        .values()
                        .map(|a| a[i].as_ref().map_or(0.0, |s| s.median))
                        .collect(),
                )
            })
            .collect();
        bars(
            &folder.join("http-latency.svg"),
            "Added latency over the direct path (median)",
            "µs",
            &labels,
            &series,
        )?;
    }
    median_bars(
        &folder.join("rpc-cpu.svg"),
        (
            "meshproxy CPU per request, Thrift, Dubbo and gRPC (median)",
            "proxy",
        ),
        &f.rpc_proxy_cpu,
    )?;
    median_bars(
        &folder.join("generator-cpu.svg"),
        ("Load generator CPU per request (median)", "generator"),
        &f.generator_cpu,
    )
}

/// Writes `<out>/<date>/{bench.json, summary.md, *.svg}` and, when asked,
/// `<out>/latest.md`; returns the folder.
///
/// # Errors
/// A file that cannot be written.
pub fn write(report: &Report, out: &Path, latest: bool) -> anyhow::Result<PathBuf> {
    let folder = out.join(&report.date);
    std::fs::create_dir_all(&folder)?;
    let json = serde_json::json!({
        "report": report,
        "figures": figures(&report.samples),
    });
    std::fs::write(
        folder.join("bench.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    let md = markdown(report);
    std::fs::write(folder.join("summary.md"), &md)?;
    plots(report, &folder)?;
    if latest {
        // latest.md sits one folder up: point its images into the run folder.
        let linked = md.replace("](", &format!("]({}/", report.date));
        std::fs::write(out.join("latest.md"), linked)?;
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_a_folder_name() {
        let date = now_utc();
        assert_eq!(date.len(), "2026-12-03T0812Z".len(), "{date}");
        assert!(date.ends_with('Z') && !date.contains(':'), "{date}");
    }
}
