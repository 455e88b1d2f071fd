//! The conformance suite: one trial per scenario file against the builtin
//! proxy, and the negative controls that show the bench catches a broken
//! proxy. Trials are discovered from `scenarios/`: adding a file adds a
//! trial, and every scenario with a per-connection `balanced` expectation
//! becomes a layer-4 negative control too.
//!
//! Negative controls break the builtin proxy for real, never the verdicts:
//! its L4 mode, a routing change (25/75 for 20/80, 30% for a 50% mirror, no
//! timeout, a wrong header match type), a workload the proxy must punish
//! (pauses without heartbeats, closed by its idle timer), or a deliberate
//! defect switched on by the `builtin-fault=` adapter. Each must FAIL, and
//! the failing assertion must be the one that names the defect. Positive
//! controls are the other half: a proxy wrong in a way the scenario does
//! not claim (pinned connections, balanced overall, under `per: run`) must
//! PASS.
//!
//! Against each real proxy (`envoy`, `haproxy`, `nginx`), every scenario file is a
//! trial too, judged against the verdict `tests/expected/<proxy>.yaml`
//! commits for it (pass unless listed): an unexpected pass fails as much as
//! an unexpected failure, and a listed failure must fail in the assertion it
//! names. Layer-4 controls run through the proxy's layer-4 mode as well
//! (Envoy's tcp_proxy, HAProxy's `mode tcp`, nginx's `stream`). Without
//! the proxy installed its trials are ignored, unless its
//! `MESHBENCH_REQUIRE_<PROXY>` is set (CI sets all three), when they fail.
//!
//! Trials run one at a time (`--test-threads` overrides): scenarios with a
//! latency window should not share two cores with another run.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use meshbench::report::Report;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::stats::Verdict;
use tokio_util::sync::CancellationToken;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(scenario_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `thrift/mirror.yaml` for a file under scenarios/.
fn relative(file: &Path) -> String {
    file.strip_prefix(root())
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Runs a scenario, given as its text, against `proxy`.
fn run(name: &str, text: &str, proxy: &str) -> Result<Report, Failed> {
    let scenario = Scenario::parse(text, name).map_err(|e| format!("{name}: {e}"))?;
    let proxy: meshbench::adapter::ProxySpec = proxy.parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(meshbench::run_scenario(
            &scenario,
            &proxy,
            1,
            CancellationToken::new(),
        ))
        .map_err(|e| format!("{name}: {e}").into())
}

fn read(file: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()).into())
}

fn passes(file: &Path) -> Result<(), Failed> {
    let report = run(&relative(file), &read(file)?, "builtin")?;
    if report.verdict == Verdict::Pass {
        Ok(())
    } else {
        Err(report.summary().into())
    }
}

/// A routing change or a defect that a scenario must catch.
struct Control {
    /// Its trial name.
    name: &'static str,
    /// The scenario, under scenarios/.
    scenario: &'static str,
    /// Text replacements that break the routing (each must occur).
    edits: &'static [(&'static str, &'static str)],
    /// The proxy adapter.
    proxy: &'static str,
    /// The kind of the assertion that must fail.
    kind: &'static str,
    /// Words its summary or findings must contain.
    naming: &'static str,
}

const CONTROLS: &[Control] = &[
    Control {
        name: "split-25-75-for-20-80",
        scenario: "thrift/traffic-split.yaml",
        edits: &[
            ("weight: 20\n", "weight: 25\n"),
            ("weight: 80\n", "weight: 75\n"),
        ],
        proxy: "builtin",
        kind: "split",
        naming: "v1 got",
    },
    Control {
        name: "split-25-75-for-20-80-sequential",
        scenario: "thrift/traffic-split-sequential.yaml",
        edits: &[
            ("weight: 20\n", "weight: 25\n"),
            ("weight: 80\n", "weight: 75\n"),
        ],
        proxy: "builtin",
        kind: "split",
        naming: "rejected early",
    },
    Control {
        name: "mirror-30-for-50",
        scenario: "thrift/mirror.yaml",
        edits: &[(
            "mirrorPercentage: { value: 50 }",
            "mirrorPercentage: { value: 30 }",
        )],
        proxy: "builtin",
        kind: "mirrored",
        naming: "expected 50%",
    },
    Control {
        name: "mirror-answers-leak-to-clients",
        scenario: "thrift/mirror.yaml",
        edits: &[],
        proxy: "builtin-fault=mirror-leak",
        kind: "mirrored",
        naming: "mirror answers reached clients",
    },
    Control {
        name: "timeout-not-enforced",
        scenario: "http/request-timeout.yaml",
        edits: &[("          timeout: 2s\n", "")],
        proxy: "builtin",
        kind: "timeout",
        naming: "did not fail within [1.98s, 2.05s]",
    },
    Control {
        name: "header-match-exact-for-regex",
        scenario: "http/greeter-user-agent.yaml",
        edits: &[("regex: '.*Firefox.*'", "exact: '.*Firefox.*'")],
        proxy: "builtin",
        kind: "routed",
        naming: "did not reach v2",
    },
    Control {
        name: "rewrite-not-applied",
        scenario: "http/greeter-rewrite.yaml",
        edits: &[("          rewrite:\n            uri: /hello\n", "")],
        proxy: "builtin",
        kind: "received",
        naming: "did not arrive with :path=/hello?name=Aeraki",
    },
    Control {
        name: "redirect-to-the-wrong-authority",
        scenario: "http/greeter-redirect.yaml",
        edits: &[(
            "authority: greeter-service.default.svc.cluster.local:3000",
            "authority: greeter-service.default.svc.cluster.local:8080",
        )],
        proxy: "builtin",
        kind: "redirected",
        naming: "were not redirected 301",
    },
    Control {
        // Istio's way to switch retries off: the refused connections to the
        // gone pod reach the clients as 503s.
        name: "default-retries-switched-off",
        scenario: "http/default-retries.yaml",
        edits: &[(
            "            - destination: { host: reviews }\n",
            "            - destination: { host: reviews }\n          retries: { attempts: 0 }\n",
        )],
        proxy: "builtin",
        kind: "retried",
        naming: "error:503",
    },
    Control {
        // Silent pauses: the proxy's 2s idle timer closes both connections
        // during their 5s pause, and the workload never reconnects. (The
        // `heartbeats` assertion goes too: with no heartbeat to check, the
        // loader refuses it.)
        name: "heartbeats-removed-idle-timer-closes-connections",
        scenario: "dubbo/heartbeat-idle.yaml",
        edits: &[
            (
                "pause: { every: 1500, for: 5s, heartbeat: 1s }",
                "pause: { every: 1500, for: 5s }",
            ),
            ("  - heartbeats: {}\n", ""),
        ],
        proxy: "builtin",
        kind: "retried",
        naming: "connection closed before the answer",
    },
    Control {
        // An L4 proxy that splits connections by weight, each pinned to one
        // version (HAProxy `mode tcp` with weighted servers): the pooled
        // shares can look right, the split within each connection cannot.
        name: "split-per-connection-l4-by-weight",
        scenario: "thrift/traffic-split.yaml",
        edits: &[
            ("connections: 1 ", "connections: 10 "),
            (
                "      detect: 2%",
                "      per: connection\n      detect: 10%",
            ),
        ],
        proxy: "builtin-fault=l4-by-weight",
        kind: "split",
        naming: "connections do not hold the shares",
    },
    Control {
        name: "circuit-breaker-admits-two",
        scenario: "http/circuit-breaking.yaml",
        edits: &[("tcp: { maxConnections: 1 }", "tcp: { maxConnections: 2 }")],
        proxy: "builtin",
        kind: "rejected",
        naming: "44 to 47 expected",
    },
];

/// A variant that a proxy must pass although it is wrong in another way:
/// what the scenario does *not* claim must not fail it.
struct Positive {
    /// Its trial name.
    name: &'static str,
    /// The scenario, under scenarios/.
    scenario: &'static str,
    /// Text replacements (each must occur).
    edits: &'static [(&'static str, &'static str)],
    /// The proxy adapter.
    proxy: &'static str,
}

const POSITIVES: &[Positive] = &[Positive {
    // An L4 proxy round-robins four connections over two endpoints: every
    // connection pinned, the run balanced overall. `per: run` claims only
    // the overall balance, and must pass (the layer-4 negative control of
    // the same file fails it per connection).
    name: "balanced-per-run-through-layer-4",
    scenario: "thrift/request-level-lb.yaml",
    edits: &[
        ("connections: 1 ", "connections: 4 "),
        ("per: connection", "per: run"),
    ],
    proxy: "builtin-l4",
}];

/// Differences between Istio releases that a scenario must catch through
/// Envoy: the same file, the defaults of another istiod.
const ENVOY_CONTROLS: &[Control] = &[Control {
    name: "istio-1.23-retries-503-by-default",
    scenario: "http/default-retries-503.yaml",
    edits: &[],
    proxy: "envoy:istio=1.23",
    kind: "retried",
    naming: "success on attempt 2",
}];

/// The scenario's text with `edits` applied; each must occur.
fn edited(scenario: &str, edits: &[(&str, &str)]) -> Result<String, Failed> {
    let mut text = read(&root().join(scenario))?;
    for (from, to) in edits {
        if !text.contains(from) {
            return Err(format!("{scenario}: '{from}' no longer occurs").into());
        }
        text = text.replace(from, to);
    }
    Ok(text)
}

fn control(control: &Control) -> Result<(), Failed> {
    let text = edited(control.scenario, control.edits)?;
    let report = run(control.scenario, &text, control.proxy)?;
    fails_naming(&report, control.kind, control.naming)
}

fn positive(positive: &Positive) -> Result<(), Failed> {
    let text = edited(positive.scenario, positive.edits)?;
    let report = run(positive.scenario, &text, positive.proxy)?;
    match report.verdict {
        Verdict::Pass => Ok(()),
        _ => Err(report.summary().into()),
    }
}

/// The report fails, and an assertion of `kind` fails saying `naming`.
fn fails_naming(report: &Report, kind: &str, naming: &str) -> Result<(), Failed> {
    if report.verdict != Verdict::Fail {
        return Err(format!("the control did not fail:\n{}", report.summary()).into());
    }
    let named = report.assertions.iter().any(|a| {
        a.kind == kind
            && a.verdict == Verdict::Fail
            && (a.summary.contains(naming) || a.findings.iter().any(|f| f.contains(naming)))
    });
    if named {
        Ok(())
    } else {
        Err(format!(
            "no failing '{kind}' assertion says '{naming}':\n{}",
            report.summary()
        )
        .into())
    }
}

/// Whether the scenario expects balance within every connection.
fn balances_per_connection(text: &str) -> bool {
    Scenario::parse(text, "scenario").is_ok_and(|s| {
        s.expect.iter().any(|e| {
            matches!(
                &e.value,
                meshbench_sim::scenario::model::Expectation::Balanced(b)
                    if b.per == meshbench_sim::scenario::model::Per::Connection
            )
        })
    })
}

/// Through a layer-4 proxy a connection sticks to one endpoint: the
/// balancing assertion must fail and name a pinned connection.
fn pinned_by_layer_4(file: &Path) -> Result<(), Failed> {
    let report = run(&relative(file), &read(file)?, "builtin-l4")?;
    fails_naming(&report, "balanced", "connection")
}

/// What a scenario is expected to do against a real proxy.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// `fail`, `unsupported` or `error` (a scenario not listed must pass).
    verdict: String,
    /// The assertions that do not pass (for `fail`: exactly these fail).
    #[serde(default)]
    assertions: Vec<String>,
    /// For `error`: words the run's error must contain.
    #[serde(default)]
    error: Option<String>,
    /// `unsupported` when the proxy's layer-4 mode cannot run the scenario
    /// either, so it controls nothing there.
    #[serde(default)]
    layer_4: Option<String>,
    /// Why, in words an Istio user would accept.
    reason: String,
}

/// A real proxy the suite judges when it is installed: its adapter at
/// layer 7 and at layer 4, and the committed verdicts
/// `tests/expected/<name>.yaml`.
struct RealProxy {
    /// The adapter, and the expectations file's stem.
    name: &'static str,
    /// The same proxy as a layer-4 control.
    l4: &'static str,
    /// Whether it is installed.
    installed: fn() -> bool,
    /// The variable that makes a missing install a failure (CI sets it).
    required_by: &'static str,
}

const REAL_PROXIES: &[RealProxy] = &[
    RealProxy {
        name: "envoy",
        l4: "envoy-l4",
        installed: || meshbench::adapter::envoy::locate().is_ok(),
        required_by: "MESHBENCH_REQUIRE_ENVOY",
    },
    RealProxy {
        name: "haproxy",
        l4: "haproxy-l4",
        installed: || meshbench::adapter::haproxy::locate().is_ok(),
        required_by: "MESHBENCH_REQUIRE_HAPROXY",
    },
    RealProxy {
        name: "nginx",
        l4: "nginx-l4",
        installed: || meshbench::adapter::nginx::locate().is_ok(),
        required_by: "MESHBENCH_REQUIRE_NGINX",
    },
];

impl RealProxy {
    /// Whether its trials run: installed, or required.
    fn runs(&self) -> bool {
        (self.installed)() || std::env::var_os(self.required_by).is_some()
    }

    fn expectations(&self) -> Result<std::collections::BTreeMap<String, Expected>, Failed> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/expected")
            .join(format!("{}.yaml", self.name));
        let text = read(&path)?;
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()).into())
    }

    /// The scenario gives the committed verdict, failing (when it fails)
    /// in exactly the listed assertions.
    fn as_expected(&self, file: &Path) -> Result<(), Failed> {
        let name = relative(file);
        let expectations = self.expectations()?;
        let outcome = run(&name, &read(file)?, self.name);
        if let Some(words) = expectations.get(&name).and_then(|e| e.error.as_deref()) {
            return ends_in_error(outcome, words);
        }
        let report = outcome?;
        let (verdict, listed) = match expectations.get(&name) {
            Some(e) => (e.verdict.as_str(), e.assertions.clone()),
            None => ("pass", Vec::new()),
        };
        if report.verdict.to_string() != verdict {
            let why = expectations.get(&name).map_or("", |e| e.reason.as_str());
            return Err(format!(
                "expected {verdict} through {} ({why}), got:\n{}",
                self.name,
                report.summary()
            )
            .into());
        }
        let not_passing: Vec<String> = report
            .assertions
            .iter()
            .filter(|a| a.verdict != Verdict::Pass)
            .map(|a| a.name.clone())
            .collect();
        if verdict != "pass" && !listed.is_empty() && not_passing != listed {
            return Err(format!(
                "expected {listed:?} not to pass, but {not_passing:?} did not:\n{}",
                report.summary()
            )
            .into());
        }
        Ok(())
    }

    /// Through the proxy at layer 4 a connection sticks to one endpoint.
    fn pins_connections(&self, file: &Path) -> Result<(), Failed> {
        let report = run(&relative(file), &read(file)?, self.l4)?;
        fails_naming(&report, "balanced", "connection")
    }

    /// Every file its expectations name exists.
    fn names_real_files(&self, files: &[PathBuf]) -> Result<(), Failed> {
        let known: Vec<String> = files.iter().map(|f| relative(f)).collect();
        let stale: Vec<String> = self
            .expectations()?
            .into_keys()
            .filter(|k| !known.contains(k))
            .collect();
        match stale.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "tests/expected/{}.yaml lists no such scenarios: {stale:?}",
                self.name
            )
            .into()),
        }
    }

    /// Its trials: every scenario, and a layer-4 control for each scenario
    /// that balances per connection and that the proxy can run.
    fn trials(&'static self, files: &[PathBuf]) -> Vec<Trial> {
        let ignored = !self.runs();
        let mut trials = Vec::new();
        for file in files {
            let path = file.clone();
            let name = format!("{}::scenario::{}", self.name, relative(file));
            trials.push(
                Trial::test(name, move || self.as_expected(&path)).with_ignored_flag(ignored),
            );
            let l4_unsupported = self.expectations().is_ok_and(|e| {
                e.get(&relative(file))
                    .is_some_and(|e| e.layer_4.as_deref() == Some("unsupported"))
            });
            if !l4_unsupported
                && std::fs::read_to_string(file).is_ok_and(|t| balances_per_connection(&t))
            {
                let path = file.clone();
                let name = format!("{}::negative::layer-4::{}", self.name, relative(file));
                trials.push(
                    Trial::test(name, move || self.pins_connections(&path))
                        .with_ignored_flag(ignored),
                );
            }
        }
        let files = files.to_vec();
        trials.push(Trial::test(
            format!("{}-expectations-name-real-files", self.name),
            move || self.names_real_files(&files),
        ));
        trials
    }
}

/// The run ended in an error naming `words` (a proxy that died, say).
fn ends_in_error(outcome: Result<Report, Failed>, words: &str) -> Result<(), Failed> {
    match outcome {
        Err(error) if error.message().is_some_and(|m| m.contains(words)) => Ok(()),
        Err(error) => Err(format!("expected an error naming {words:?}, got: {error:?}").into()),
        Ok(report) => Err(format!(
            "expected an error naming {words:?}, got a verdict:\n{}",
            report.summary()
        )
        .into()),
    }
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(1);
    let files = scenario_files(&root());
    let mut trials = Vec::new();
    for file in &files {
        let name = format!("scenario::{}", relative(file));
        let path = file.clone();
        trials.push(Trial::test(name, move || passes(&path)));
    }
    for file in &files {
        if std::fs::read_to_string(file).is_ok_and(|t| balances_per_connection(&t)) {
            let name = format!("negative::layer-4::{}", relative(file));
            let path = file.clone();
            trials.push(Trial::test(name, move || pinned_by_layer_4(&path)));
        }
    }
    for c in CONTROLS {
        trials.push(Trial::test(format!("negative::{}", c.name), move || {
            control(c)
        }));
    }
    for p in POSITIVES {
        trials.push(Trial::test(format!("positive::{}", p.name), move || {
            positive(p)
        }));
    }
    for proxy in REAL_PROXIES {
        trials.extend(proxy.trials(&files));
    }
    let ignored = !REAL_PROXIES[0].runs();
    for c in ENVOY_CONTROLS {
        trials.push(
            Trial::test(format!("envoy::negative::{}", c.name), move || control(c))
                .with_ignored_flag(ignored),
        );
    }
    trials.push(Trial::test("scenarios-exist", move || {
        if files.is_empty() {
            Err(format!("no scenario files under {}", root().display()).into())
        } else {
            Ok(())
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}
