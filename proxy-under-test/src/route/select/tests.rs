//! Table-driven route selection, and weighted picks at their bucket
//! boundaries with the draw injected (as Envoy's route-matcher tests do).

use meshbench_wire::Protocol;
use meshbench_wire::attributes::Attributes;

use super::super::*;

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    let mut a = Attributes::default();
    for (k, v) in pairs {
        a.insert(k, *v);
    }
    a
}

fn cond(attribute: &str, matcher: StringMatcher) -> Condition {
    Condition {
        attribute: attribute.to_owned(),
        matcher,
        invert: false,
    }
}

fn route(name: &str, matches: Vec<Vec<Condition>>) -> Route {
    Route {
        name: name.to_owned(),
        matches: matches
            .into_iter()
            .map(|conditions| Match { conditions })
            .collect(),
        action: Action::Forward(std::sync::Arc::new(Forward {
            clusters: WeightedClusters::single(format!("outbound|9090|{name}|svc")),
            timeout: None,
            retries: None,
            fault: None,
            mirror: None,
            request_mutation: vec![],
            response_mutation: vec![],
            request_remove: vec![],
            rewrite: None,
            hash_key: None,
        })),
    }
}

fn listener(routes: Vec<Route>) -> Listener {
    Listener {
        service: "svc".into(),
        protocol: Protocol::Thrift,
        port: 9090,
        routes,
    }
}

fn anchored(re: &str) -> StringMatcher {
    StringMatcher::Regex(regex::Regex::new(&format!("^(?:{re})$")).expect("regex"))
}

#[test]
fn selection_follows_the_table() {
    let table = listener(vec![
        // Two attributes ANDed (the aeraki #160 regression: not ORed).
        route(
            "and",
            vec![vec![
                cond("method", StringMatcher::Exact("sayHello".into())),
                cond("user", StringMatcher::Exact("admin".into())),
            ]],
        ),
        // Two blocks ORed.
        route(
            "or",
            vec![
                vec![cond("batchjob", StringMatcher::Exact("true".into()))],
                vec![cond("user-agent", anchored(".*Firefox.*"))],
            ],
        ),
        route(
            "prefix",
            vec![vec![cond("method", StringMatcher::Prefix("say".into()))]],
        ),
        route(
            "present",
            vec![vec![cond("x-beta", StringMatcher::Present)]],
        ),
    ]);
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
    let cases: &[Case] = &[
        (&[("method", "sayHello"), ("user", "admin")], Some("and")),
        (&[("method", "sayHello"), ("user", "guest")], Some("prefix")),
        (&[("METHOD", "sayHello"), ("User", "admin")], Some("and")),
        (&[("method", "SayHello"), ("user", "admin")], None),
        (&[("batchJob", "true")], Some("or")),
        (&[("user-agent", "Mozilla/5.0 Firefox/120")], Some("or")),
        (&[("user-agent", "x Firefox")], Some("or")),
        (&[("user-agent", "Chrome")], None),
        (&[("x-beta", "")], Some("present")),
        (&[], None),
    ];
    for (pairs, expected) in cases {
        let chosen = select(&table, &attrs(pairs)).map(|r| r.name.as_str());
        assert_eq!(chosen, *expected, "{pairs:?}");
    }
}

#[test]
fn regex_matches_the_whole_value() {
    let table = listener(vec![route(
        "re",
        vec![vec![cond("method", anchored("say"))]],
    )]);
    assert!(select(&table, &attrs(&[("method", "sayHello")])).is_none());
    assert!(select(&table, &attrs(&[("method", "say")])).is_some());
}

#[test]
fn inverted_conditions_hold_when_the_matcher_does_not() {
    let mut without = cond("x-canary", StringMatcher::Present);
    without.invert = true;
    let table = listener(vec![route("stable", vec![vec![without]])]);
    assert!(select(&table, &attrs(&[])).is_some());
    assert!(select(&table, &attrs(&[("x-canary", "1")])).is_none());
}

#[test]
fn a_route_without_matches_takes_everything() {
    let table = listener(vec![route("default", vec![])]);
    assert!(select(&table, &attrs(&[("anything", "at all")])).is_some());
}

#[test]
fn weighted_picks_follow_envoys_bucket_boundaries() {
    let split = WeightedClusters {
        clusters: vec![("a".into(), 30), ("b".into(), 30), ("c".into(), 40)],
        total_weight: 100,
    };
    let pick = |draw| split.pick(draw).map(String::as_str);
    for (draw, expected) in [
        (0, "a"),
        (29, "a"),
        (30, "b"),
        (59, "b"),
        (60, "c"),
        (99, "c"),
        (100, "a"),
    ] {
        assert_eq!(pick(draw), Some(expected), "draw {draw}");
    }
    let unnormalised = WeightedClusters {
        clusters: vec![("v1".into(), 1), ("v2".into(), 3)],
        total_weight: 4,
    };
    let picks: Vec<_> = (0..4)
        .map(|d| unnormalised.pick(d).map(String::as_str))
        .collect();
    assert_eq!(picks, vec![Some("v1"), Some("v2"), Some("v2"), Some("v2")]);
}

#[test]
fn mirror_fraction_boundary() {
    let half = Mirror {
        cluster: "m".into(),
        per_million: 500_000,
    };
    assert!(half.applies(0));
    assert!(half.applies(499_999));
    assert!(!half.applies(500_000));
    let none = Mirror {
        cluster: "m".into(),
        per_million: 0,
    };
    assert!(!none.applies(0));
}

#[test]
fn fault_fraction_boundaries() {
    let fault = Fault {
        delay: Some((std::time::Duration::from_secs(5), 1_000_000)),
        abort: Some((Abort::Http(503), 100_000)),
    };
    assert_eq!(
        fault.delay_for(999_999),
        Some(std::time::Duration::from_secs(5)),
        "100% delays every draw"
    );
    assert_eq!(fault.abort_for(0), Some(Abort::Http(503)));
    assert_eq!(fault.abort_for(99_999), Some(Abort::Http(503)));
    assert_eq!(
        fault.abort_for(100_000),
        None,
        "10% aborts draws below 100 000 only"
    );
    assert_eq!(Fault::default().delay_for(0), None);
}
