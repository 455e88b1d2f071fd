//! The loader, the checks, the plan and the schema, on good scenarios and
//! a table of broken ones (each with its exact `line:column: message`).

use std::path::PathBuf;
use std::time::Duration;

use meshbench_wire::Protocol;
use serde_json::Value;

use super::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The scenarios shipped in `scenarios/` and the test fixtures.
const GOOD: [&str; 4] = [
    "scenarios/thrift/traffic-split.yaml",
    "scenarios/thrift/request-level-lb.yaml",
    "scenarios/dubbo/heartbeat-idle.yaml",
    "sim/tests/scenarios/everything.yaml",
];

fn load(relative: &str) -> Scenario {
    match Scenario::load(&repo().join(relative)) {
        Ok(scenario) => scenario,
        Err(error) => panic!("{relative} does not load:\n{error}"),
    }
}

fn first_error(text: &str) -> LoadError {
    match Scenario::parse(text, "bad.yaml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ScenarioError::Invalid(errors)) => {
            errors.into_iter().next().expect("one error at least")
        }
        Err(other) => panic!("unexpected {other}"),
    }
}

const BASE: &str = "\
name: base
fleet:
  - service: hello.demo.svc.cluster.local
    protocol: thrift
    versions:
      v1: { replicas: 1 }
      v2: { replicas: 2, latency: { fixed: 2ms } }
routing:
  - apiVersion: networking.istio.io/v1beta1
    kind: DestinationRule
    metadata: { name: hello, namespace: demo }
    spec:
      host: hello
      subsets:
        - { name: v1, labels: { version: v1 } }
        - { name: v2, labels: { version: v2 } }
  - apiVersion: metaprotocol.aeraki.io/v1alpha1
    kind: MetaRouter
    metadata: { name: hello, namespace: demo }
    spec:
      hosts: [hello.demo.svc.cluster.local]
      routes:
        - route:
            - { destination: { host: hello, subset: v1 }, weight: 30 }
            - { destination: { host: hello, subset: v2 }, weight: 70 }
workload:
  clients:
    - name: c
      service: hello.demo.svc.cluster.local
      connections: 2
      requests: 50000
      mix:
        - { name: hi, weight: 3, call: { method: sayHello } }
        - { name: bye, weight: 1, call: { method: sayBye } }
expect:
  - split: { of: { class: hi }, to: { v1: 30, v2: 70 } }
";

/// (what, replace this, by this, expected first error `line:col: message`)
const BROKEN: &[(&str, &str, &str, &str)] = &[
    (
        "wrong type",
        "connections: 2",
        "connections: two",
        "30:20: expected a whole number",
    ),
    (
        "unknown field",
        "connections: 2",
        "conections: 2",
        "30:7: unknown field 'conections'",
    ),
    (
        "missing field",
        "    protocol: thrift\n",
        "",
        "4:5: missing field 'protocol'",
    ),
    (
        "bad duration",
        "fixed: 2ms",
        "fixed: 2 ms",
        "7:44: '2 ms' is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1m30s",
    ),
    (
        "bad duration unit",
        "fixed: 2ms",
        "fixed: 2d",
        "7:44: '2d' is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1m30s",
    ),
    (
        "unknown version",
        "to: { v1: 30, v2: 70 }",
        "to: { v1: 30, v3: 70 }",
        "36:47: unknown version 'v3' of service 'hello.demo.svc.cluster.local'",
    ),
    (
        "undefined subset",
        "subset: v2 }",
        "subset: v9 }",
        "25:53: subset 'v9' of 'hello.demo.svc.cluster.local' is not defined by a DestinationRule",
    ),
    (
        "weights not integers (routing)",
        "weight: 70",
        "weight: 70%",
        "25:67: weight '70%' is not a whole number",
    ),
    (
        "weights not integers (routing float)",
        "weight: 70",
        "weight: 70.5",
        "25:67: weight '70.5' is not a whole number",
    ),
    (
        "weights not integers (expectation)",
        "v2: 70 }",
        "v2: 0.7 }",
        "36:51: weight '0.7' is not a whole number",
    ),
    (
        "routing for an unknown service",
        "hosts: [hello.demo.svc.cluster.local]",
        "hosts: [world.demo.svc.cluster.local]",
        "21:15: host 'world.demo.svc.cluster.local' of MetaRouter demo/hello is not a service of the fleet",
    ),
    (
        "routing destination unknown",
        "{ host: hello, subset: v1 }",
        "{ host: hello.other, subset: v1 }",
        "24:38: destination host 'hello.other' of MetaRouter demo/hello is not a service of the fleet",
    ),
    (
        "budget too small",
        "requests: 50000",
        "requests: 5000",
        "31:17: budget too small: 'split-1' needs 12456 requests, the workload sends about 3750 of them",
    ),
    (
        "no bound",
        "      requests: 50000\n",
        "",
        "28:7: client 'c' has no bound: give 'requests', 'duration' or both",
    ),
    (
        "unknown class",
        "class: hi",
        "class: hey",
        "36:27: unknown request class 'hey'",
    ),
    (
        "unknown kind",
        "  - split:",
        "  - splitt:",
        "36:5: unknown value 'splitt'",
    ),
    (
        "percent without sign",
        "  - split: { of:",
        "  - split: { detect: 0.02, of:",
        "36:22: '0.02' is not a percentage",
    ),
    (
        "field beside the kind",
        "to: { v1: 30, v2: 70 } }\n",
        "to: { v1: 30, v2: 70 } }\n    detect: 2%\n",
        "37:5: expected one key here, naming the kind",
    ),
    (
        "client calls unknown service",
        "    - name: c\n      service: hello.demo.svc.cluster.local",
        "    - name: c\n      service: nope",
        "29:16: client 'c' calls 'nope', which is not a service of the fleet",
    ),
    (
        "call field of another protocol",
        "call: { method: sayBye }",
        "call: { method: sayBye, path: /x }",
        "34:65: 'path' does not apply to a thrift call",
    ),
    (
        "unsupported routing kind",
        "kind: MetaRouter",
        "kind: Gateway",
        "18:11: unsupported routing kind 'Gateway'",
    ),
    (
        "subset selects no pod",
        "{ name: v2, labels: { version: v2 } }",
        "{ name: v2, labels: { version: v7 } }",
        "16:19: subset 'v2' of DestinationRule demo/hello selects no pod of 'hello.demo.svc.cluster.local'",
    ),
    (
        "alpha out of range",
        "expect:\n",
        "confidence: { alpha: 2 }\nexpect:\n",
        "35:22: alpha 2 is not between 0 and 1",
    ),
    (
        "unknown phase",
        "of: { class: hi }",
        "of: { class: hi, phase: later }",
        "36:38: unknown phase 'later'",
    ),
    (
        "open loop without rate",
        "connections: 2",
        "connections: 2\n      loop: open",
        "31:13: client 'c' runs an open loop without a rate",
    ),
    (
        "latency quantile",
        "  - split: { of: { class: hi }, to: { v1: 30, v2: 70 } }",
        "  - latency: { below: { q99: 5ms } }",
        "36:25: quantile 'q99' is not of the form p50, p99 or p99.9",
    ),
    (
        "pause on an open loop",
        "connections: 2",
        "connections: 2\n      open: { rate: 1000/s }\n      pause: { every: 10, for: 1s }",
        "32:14: client 'c' runs an open loop, which cannot pause",
    ),
    (
        "pause with a lifetime",
        "connections: 2",
        "connections: 2\n      lifetime: { requests: 100 }\n      pause: { every: 10, for: 1s }",
        "31:17: client 'c' has both 'lifetime' and 'pause'",
    ),
    (
        "pause every 0",
        "connections: 2",
        "connections: 2\n      pause: { every: 0, for: 1s }",
        "31:23: 'every' must be at least 1",
    ),
    (
        "heartbeat on a thrift client",
        "connections: 2",
        "connections: 2\n      pause: { every: 10, for: 1s, heartbeat: 100ms }",
        "31:47: 'heartbeat' applies to dubbo clients, and 'c' calls a thrift service",
    ),
    (
        "idle timeout of 0s",
        "workload:\n",
        "proxy: { idle_timeout: 0s }\nworkload:\n",
        "26:24: 'idle_timeout' must be longer than 0s",
    ),
    (
        "unknown proxy setting",
        "workload:\n",
        "proxy: { idle: 2s }\nworkload:\n",
        "26:10: unknown field 'idle'",
    ),
    (
        "duplicate key",
        "v2: { replicas: 2, latency: { fixed: 2ms } }",
        "v1: { replicas: 2 }",
        "7:7: duplicate key 'v1'",
    ),
];

#[test]
fn good_scenarios_load() {
    for file in GOOD {
        let scenario = load(file);
        assert!(!scenario.expect.is_empty(), "{file} states something");
        assert_eq!(
            scenario.plan().len(),
            scenario.expect.len(),
            "{file}: every assertion planned"
        );
    }
    Scenario::parse(BASE, "base.yaml").expect("the table's base parses");
}

#[test]
fn the_readme_example_is_a_valid_scenario() {
    let readme = std::fs::read_to_string(repo().join("scenarios/README.md")).expect("reads");
    let example = readme
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block");
    let scenario = match Scenario::parse(example, "README.md") {
        Ok(scenario) => scenario,
        Err(error) => panic!("the README example does not load:\n{error}"),
    };
    assert_eq!(scenario.name, "http-canary-shift");
    assert_eq!(scenario.plan().len(), 5);
}

#[test]
fn broken_scenarios_fail_with_their_position_and_message() {
    let mut failures = Vec::new();
    for (what, from, to, expected) in BROKEN {
        assert!(BASE.contains(from), "{what}: the base has no {from:?}");
        let error = first_error(&BASE.replacen(from, to, 1));
        let got = format!("{}:{}: {}", error.line, error.column, error.message);
        if got != *expected {
            failures.push(format!("{what}:\n  expected {expected}\n  got      {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_show_file_line_column_the_line_a_caret_and_a_hint() {
    let error = first_error(&BASE.replacen("v2: 70 }", "v3: 70 }", 1));
    assert_eq!(
        error.to_string(),
        "bad.yaml:36:47: unknown version 'v3' of service 'hello.demo.svc.cluster.local'\n   \
         |\n36 |   - split: { of: { class: hi }, to: { v1: 30, v3: 70 } }\n   \
         |                                               ^\n\
         hint: its versions are 'v1' and 'v2', its subsets 'v1' and 'v2'"
    );
    let syntax = first_error(&BASE.replacen("requests: 50000", "requests: [50000", 1));
    assert_eq!(syntax.file, "bad.yaml");
    assert!(syntax.line >= 31, "{syntax}");
    assert!(
        syntax
            .to_string()
            .starts_with(&format!("bad.yaml:{}:{}: ", syntax.line, syntax.column))
    );
}

#[test]
fn every_semantic_error_is_reported_in_file_order() {
    let text = BASE
        .replacen("subset: v2 }", "subset: v9 }", 1)
        .replacen("v2: 70 }", "v3: 70 }", 1)
        .replacen("      requests: 50000\n", "", 1);
    let Err(ScenarioError::Invalid(errors)) = Scenario::parse(&text, "bad.yaml") else {
        panic!("accepted");
    };
    let found: Vec<String> = errors
        .iter()
        .map(|e| format!("{}:{}", e.line, e.column))
        .collect();
    assert_eq!(found, ["25:53", "28:7", "35:47"]);
}

#[test]
fn unknown_services_of_destination_rules_and_expectations_are_named() {
    let error = first_error(&BASE.replacen("host: hello\n", "host: world\n", 1));
    assert_eq!(
        error.message,
        "host 'world' of DestinationRule demo/hello is not a service of the fleet"
    );
    let error = first_error(&BASE.replacen("  - split: {", "  - split: { service: world,", 1));
    assert_eq!(error.message, "service 'world' is not in the fleet");
    let error =
        first_error(&BASE.replacen("to: { v1: 30, v2: 70 } }", "to: { v1: 0, v2: 0 } }", 1));
    assert_eq!(error.message, "the weights add up to 0");
}

#[test]
fn missing_files_are_read_errors_not_invalid_scenarios() {
    let error = Scenario::load(&repo().join("scenarios/no-such-file.yaml")).expect_err("no file");
    assert!(matches!(error, ScenarioError::Read { .. }), "{error}");
}

#[test]
fn the_fleet_converts_into_service_specs() {
    let everything = load("sim/tests/scenarios/everything.yaml");
    let specs = everything.fleet_specs();
    assert_eq!(specs.len(), 3);
    let reviews = &specs[0];
    assert_eq!(reviews.service, "reviews.bookinfo.svc.cluster.local");
    assert_eq!(reviews.protocol, Protocol::Http);
    assert_eq!(reviews.port, 9080);
    let names: Vec<&str> = reviews.versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["v1", "v2", "v3"],
        "versions keep their written order"
    );
    assert_eq!(reviews.versions[0].replicas, 2);
    assert_eq!(
        reviews.versions[1].labels.get("track").map(String::as_str),
        Some("canary")
    );
    assert_eq!(
        reviews.versions[1].behaviour.latency,
        crate::fleet::Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3)
        }
    );
    let v3 = &reviews.versions[2].behaviour;
    assert_eq!(v3.error_rate.get(), 0.5);
    assert_eq!(v3.close_rate.get(), 0.005);
    assert_eq!((v3.succeed_after, v3.response_size), (1, 128));
    assert_eq!(specs[1].port, 3000, "http's default port");
    assert_eq!(specs[2].port, 3306, "tcp's default port");
}

#[test]
fn routing_objects_stay_raw_and_convert_to_json() {
    let split = load("scenarios/thrift/traffic-split.yaml");
    let router = split.routing[1].to_json();
    assert_eq!(router["kind"], "MetaRouter");
    assert_eq!(router["spec"]["routes"][0]["route"][0]["weight"], 20);
    assert_eq!(
        router["spec"]["routes"][0]["match"]["attributes"]["method"]["exact"],
        "sayHello"
    );
    assert_eq!(
        split.routing[1].describe(),
        "MetaRouter meta-thrift/test-metaprotocol-thrift-route"
    );
    let lb = load("scenarios/thrift/request-level-lb.yaml");
    assert!(
        lb.routing.is_empty(),
        "request-level balancing needs no routing object"
    );
}

#[test]
fn phases_replace_objects_of_the_same_identity() {
    let everything = load("sim/tests/scenarios/everything.yaml");
    assert_eq!(everything.phase_names(), ["initial", "shift"]);
    let before = everything.routing_in_phase(0);
    let after = everything.routing_in_phase(1);
    assert_eq!(before.len(), 4);
    assert_eq!(after.len(), 4, "the VirtualService is replaced, not added");
    let weights = |objects: &[&RoutingObject]| {
        objects[1].to_json()["spec"]["http"]
            .as_array()
            .and_then(|rules| rules.last().cloned())
            .map(|rule| rule["route"][1]["weight"].clone())
    };
    assert_eq!(weights(&before), Some(Value::from(10)));
    assert_eq!(weights(&after), Some(Value::from(50)));
}

#[test]
fn names_resolve_like_the_mesh_resolves_them() {
    let everything = load("sim/tests/scenarios/everything.yaml");
    let fqdn = |s: Option<&FleetService>| s.map(|s| s.service.value.clone());
    let reviews = Some("reviews.bookinfo.svc.cluster.local".to_owned());
    assert_eq!(fqdn(everything.service("reviews")), reviews);
    assert_eq!(fqdn(everything.service("reviews.bookinfo")), reviews);
    assert_eq!(
        fqdn(everything.service("reviews.bookinfo.svc.cluster.local")),
        reviews
    );
    assert_eq!(
        fqdn(everything.service_for_host("reviews", "bookinfo")),
        reviews
    );
    assert_eq!(
        fqdn(everything.service_for_host("reviews", "default")),
        None
    );
    assert_eq!(
        fqdn(everything.service_for_host("reviews.bookinfo", "x")),
        reviews
    );
    let service = "reviews.bookinfo.svc.cluster.local";
    assert_eq!(
        everything.versions_of(service, "v3"),
        Some(vec!["v3".to_owned()])
    );
    assert_eq!(
        everything.versions_of(service, "canary"),
        Some(vec!["v2".to_owned()])
    );
    assert_eq!(everything.versions_of(service, "v9"), None);
}

#[test]
fn calls_fill_in_protocol_defaults_and_name_their_attributes() {
    let call = Call::default();
    assert_eq!(
        call.spec(Protocol::Thrift),
        crate::workload::Call::Thrift {
            method: "sayHello".into(),
            name: "Aeraki".into(),
            options: crate::client::thrift::ThriftOptions::default(),
            context: Default::default(),
        }
    );
    let everything = load("sim/tests/scenarios/everything.yaml");
    let (_, browser) = everything.clients().next().expect("a client");
    let classes = browser.classes("browser");
    assert_eq!(
        classes
            .iter()
            .map(|c| (c.name, c.share))
            .collect::<Vec<_>>(),
        [("admin", 0.25), ("anonymous", 0.75)]
    );
    let attributes = classes[0].call.spec(Protocol::Http).attributes();
    assert_eq!(attributes.get(":method").map(String::as_str), Some("GET"));
    assert_eq!(
        attributes.get(":path").map(String::as_str),
        Some("/reviews/1")
    );
    assert_eq!(attributes.get("x-user").map(String::as_str), Some("admin"));
    assert_eq!(
        browser.expected_requests(),
        Some(100_000.0),
        "the budget, below rate x duration"
    );
    assert_eq!(
        browser.expected_connections(),
        Some(20.0),
        "4 held, reconnecting every 5000"
    );
}

#[test]
fn plans_follow_the_documented_formulas() {
    let split = load("scenarios/thrift/traffic-split.yaml").plan();
    // The exact binomial plan the verifier holds the run to (the normal
    // approximation says 21,321).
    assert_eq!(split[0].plan.n, 21_516);
    assert_eq!(split[0].plan.unit, Unit::Requests);
    assert_eq!(split[0].supply.samples, Some(30_000.0));
    assert!(split[0].supply.closed_loop);
    assert_eq!(
        split[0].expected_duration(),
        None,
        "a closed loop depends on latency"
    );
    // The exact per-connection plan at alpha over one connection, as the
    // verifier tests it (the normal approximation said 14,456).
    let lb = load("scenarios/thrift/request-level-lb.yaml").plan();
    assert_eq!(
        (lb[0].plan.n, lb[0].plan.per_connection),
        (14_476, Some(14_476))
    );

    let everything = load("sim/tests/scenarios/everything.yaml").plan();
    let by_name = |name: &str| {
        everything
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no assertion {name}"))
    };
    // Zero leaks in n bound the leak rate below 3% at 1e-6: 0.97^n <= 1e-6.
    assert_eq!(by_name("routed-1").plan.n, 454);
    assert_eq!(by_name("routed-1").plan.test, Test::ZeroTolerance);
    // The shift comes after 40,000 of the 112,000 requests of both clients;
    // a quarter of the browser's 100,000 are admin.
    let admin = by_name("routed-1").supply.samples.unwrap_or_default();
    assert!(
        (admin - 100_000.0 * 0.25 * 40_000.0 / 112_000.0).abs() < 1e-6,
        "{admin}"
    );
    // Open loop: 2000/s of which 3/4 anonymous.
    let before = by_name("before-the-shift");
    assert_eq!(before.supply.rate, Some(1500.0));
    let seconds = before.expected_duration().map(|d| d.as_secs_f64());
    assert!(
        seconds.is_some_and(|s| (s - before.plan.n as f64 / 1500.0).abs() < 1e-6),
        "{seconds:?}"
    );
    let connections = by_name("connections-12");
    assert_eq!(connections.plan.unit, Unit::Connections);
    assert_eq!(
        connections.supply.samples,
        Some(12_000.0),
        "one connection per request"
    );
    let after = by_name("after-the-shift");
    assert_eq!(
        after.plan.levels,
        Levels {
            alpha: 1e-4,
            power: 0.95,
            detect: 0.04
        }
    );
}

#[test]
fn values_have_one_written_form_each() {
    let percent = |text: &str| serde_saphyr::from_str::<Percent>(text).map(Percent::fraction);
    assert_eq!(percent("5%").ok(), Some(0.05));
    assert_eq!(percent("0.5%").ok(), Some(0.005));
    assert!(percent("0.05").is_err() && percent("150%").is_err());
    assert_eq!(Rate::parse("5000/s").map(Rate::per_second), Ok(5000.0));
    assert_eq!(Rate::parse("60/m").map(Rate::per_second), Ok(1.0));
    assert!(Rate::parse("5000").is_err() && Rate::parse("-1/s").is_err());
    assert_eq!(values::show_duration(Duration::from_millis(2)), "2ms");
    assert_eq!(values::show_duration(Duration::from_millis(1500)), "1.5s");
    assert!(plan::quantile("p99.9").is_some_and(|q| (q - 0.999).abs() < 1e-12));
    assert_eq!(plan::quantile("p100"), None);
}

// === the JSON Schema ===

/// A small validator for the subset of JSON Schema the generator emits:
/// `$ref`, `type`, `properties`, `required`, `additionalProperties`,
/// `items`, `enum`, `const`, `oneOf`, `anyOf`, `minimum`. Patterns are not
/// checked (the loader parses those values). Returns the first mismatch.
fn validate(schema: &Value, root: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        let target = root["$defs"]
            .get(name)
            .ok_or_else(|| format!("{path}: dangling {reference}"))?;
        return validate(target, root, value, path);
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = names.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !fits {
            return Err(format!("{path}: {value} is not {names:?}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{path}: {value} is not {constant}"));
    }
    if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
        && value.as_f64().is_some_and(|v| v < minimum)
    {
        return Err(format!("{path}: {value} is below {minimum}"));
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let fits = options
                .iter()
                .filter(|option| validate(option, root, value, path).is_ok())
                .count();
            if fits == 0 || (exactly_one && fits > 1) {
                return Err(format!(
                    "{path}: {value} fits {fits} of the {keyword} options"
                ));
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{path}: missing {name}"));
            }
        }
        for (key, item) in object {
            let inner = format!("{path}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(property) => validate(property, root, item, &inner)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{inner}: not allowed")),
                    Some(extra @ Value::Object(_)) => validate(extra, root, item, &inner)?,
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(items, root, item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn as_json(relative: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(relative)).expect("reads");
    serde_saphyr::from_str::<Node>(&text)
        .expect("YAML")
        .to_json()
}

#[test]
fn the_schema_names_the_top_level_fields_and_validates_the_examples() {
    let schema = schema();
    let text = serde_json::to_string_pretty(&schema).expect("serialises");
    let reparsed: Value = serde_json::from_str(&text).expect("valid JSON");
    let properties = reparsed["properties"].as_object().expect("properties");
    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
    for field in [
        "name",
        "description",
        "fleet",
        "routing",
        "proxy",
        "workload",
        "phases",
        "expect",
        "confidence",
    ] {
        assert!(
            names.contains(&field),
            "the schema lacks {field}: {names:?}"
        );
    }
    assert_eq!(
        reparsed["additionalProperties"], false,
        "unknown fields are errors"
    );
    for file in GOOD {
        if let Err(mismatch) = validate(&reparsed, &reparsed, &as_json(file), "$") {
            panic!("{file} does not fit the schema: {mismatch}");
        }
    }
    let readme = std::fs::read_to_string(repo().join("scenarios/README.md")).expect("reads");
    let example = readme
        .split("```yaml\n")
        .nth(1)
        .and_then(|r| r.split("```").next());
    let example = serde_saphyr::from_str::<Node>(example.expect("a yaml block")).expect("YAML");
    if let Err(mismatch) = validate(&reparsed, &reparsed, &example.to_json(), "$") {
        panic!("the README example does not fit the schema: {mismatch}");
    }
    let mut typo = as_json(GOOD[0]);
    typo["workload"]["clients"][0]["conections"] = Value::from(1);
    assert!(
        validate(&reparsed, &reparsed, &typo, "$").is_err(),
        "the schema rejects a typo"
    );
}

fn heartbeat_idle() -> String {
    std::fs::read_to_string(repo().join("scenarios/dubbo/heartbeat-idle.yaml")).expect("reads")
}

#[test]
fn pauses_and_the_idle_timeout_load_and_plan_heartbeats() {
    let scenario = load("scenarios/dubbo/heartbeat-idle.yaml");
    assert_eq!(
        scenario.proxy.idle_timeout.map(|d| d.value.get()),
        Some(Duration::from_secs(2))
    );
    let (_, client) = scenario.clients().next().expect("a client");
    let pause = client.pause.as_ref().expect("a pause").value;
    assert_eq!(pause.every.value, 1500);
    assert_eq!(pause.idle.value.get(), Duration::from_secs(5));
    assert_eq!(pause.heartbeats_each(), 4, "at 1s, 2s, 3s and 4s of 5s");
    // 2 connections of ~2,000 calls: one pause each.
    assert_eq!(client.expected_heartbeats(), Some(8.0));
    let plan = scenario.plan();
    let heartbeats = plan
        .iter()
        .find(|a| a.kind == "heartbeats")
        .expect("planned");
    assert_eq!(
        (
            heartbeats.plan.unit,
            heartbeats.plan.n,
            heartbeats.plan.test
        ),
        (Unit::Heartbeats, 1, Test::EveryOne)
    );
    assert_eq!(heartbeats.supply.samples, Some(8.0));
}

#[test]
fn heartbeat_mistakes_are_named_where_they_are_written() {
    let text = heartbeat_idle();
    // (replace this, by this, the message, a text of the line it points at)
    let cases = [
        (
            "heartbeat: 1s }",
            "heartbeat: 5s }",
            "the heartbeat interval '5s' must be above 0s and below the pause ('for: 5s')",
            "heartbeat: 5s",
        ),
        (
            "heartbeat: 1s }",
            "heartbeat: 0s }",
            "the heartbeat interval '0s' must be above 0s and below the pause ('for: 5s')",
            "heartbeat: 0s",
        ),
        (
            ", heartbeat: 1s }",
            " }",
            "no selected client sends heartbeats",
            "- heartbeats: {}",
        ),
        (
            "  - heartbeats: {}",
            "  - heartbeats: { of: { class: dubbo-sample-consumer } }",
            "'of.class' does not apply to heartbeats",
            "class: dubbo-sample-consumer",
        ),
        (
            "every: 1500",
            "every: 2000",
            "budget too small: 'heartbeats-1' needs 1 heartbeat, the workload sends about 0 of them",
            "every: 2000",
        ),
    ];
    for (from, to, message, line) in cases {
        assert!(text.contains(from), "{from}");
        let broken = text.replacen(from, to, 1);
        let error = first_error(&broken);
        assert_eq!(error.message, message, "{from} -> {to}");
        let written = broken
            .lines()
            .nth(error.line as usize - 1)
            .unwrap_or_default();
        assert!(written.contains(line), "{message}: points at {written:?}");
    }
}

/// The numbers after "plans" in the comments of `text` (`plans 14,476 calls`).
fn quoted_plans(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.split_once('#').map(|(_, comment)| comment))
        .flat_map(|comment| comment.split("plans ").skip(1))
        .filter_map(|rest| {
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .filter(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// A scenario comment that quotes a plan size quotes one the planner gives
/// for that file: comments cannot go stale when the planner changes.
#[test]
fn plan_sizes_quoted_in_scenario_comments_are_the_planners() {
    let mut checked = 0;
    for dir in ["dubbo", "http", "tcp", "thrift"] {
        let Ok(entries) = std::fs::read_dir(repo().join("scenarios").join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let quoted = quoted_plans(&text);
            if quoted.is_empty() {
                continue;
            }
            let relative = format!("scenarios/{dir}/{}", entry.file_name().to_string_lossy());
            let planned: Vec<u64> = load(&relative)
                .plan()
                .iter()
                .flat_map(|a| [Some(a.plan.n), a.plan.per_connection])
                .flatten()
                .collect();
            for n in quoted {
                assert!(
                    planned.contains(&n),
                    "{relative} quotes a plan of {n}; the planner gives {planned:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} quoted plans found");
}
