//! The reference proxy's per-request decisions: route selection (exact,
//! prefix and regex matches over 1, 10 and 100 routes, the matching route
//! last), the weighted cluster pick and the endpoint pick per LB policy.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use meshbench_benches::{MatchKind, cluster, listener, route_request, weighted};
use meshbench_proxy_under_test::balance::Balancers;
use meshbench_proxy_under_test::route::{self, LbPolicy};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn route_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_match");
    group.throughput(Throughput::Elements(1));
    for kind in [MatchKind::Exact, MatchKind::Prefix, MatchKind::Regex] {
        for routes in [1usize, 10, 100] {
            let table = listener(kind, routes);
            let request = route_request(routes);
            if route::select(&table, &request).is_none() {
                panic!("the fixture request matches no {} route", kind.name());
            }
            group.bench_with_input(BenchmarkId::new(kind.name(), routes), &routes, |b, _| {
                b.iter(|| {
                    route::select(black_box(&table), black_box(&request)).map(|r| r.name.len())
                })
            });
        }
    }
    group.finish();
}

fn weighted_pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("weighted_pick");
    group.throughput(Throughput::Elements(1));
    let mut rng = StdRng::seed_from_u64(7);
    for (name, weights) in [
        ("20-80", vec![20u32, 80]),
        ("30-30-40", vec![30, 30, 40]),
        ("10-way", vec![10; 10]),
    ] {
        let clusters = weighted(&weights);
        group.bench_function(name, |b| {
            b.iter(|| {
                let draw: u64 = rng.random();
                clusters.pick(black_box(draw)).map(String::len)
            })
        });
    }
    group.finish();
}

fn endpoint_pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("endpoint_pick");
    group.throughput(Throughput::Elements(1));
    let mut rng = StdRng::seed_from_u64(7);
    for (name, lb) in [
        ("round_robin", LbPolicy::RoundRobin),
        ("random", LbPolicy::Random),
        ("least_request", LbPolicy::LeastRequest),
        (
            "consistent_hash",
            LbPolicy::ConsistentHash("x-user".to_owned()),
        ),
    ] {
        let target = cluster(lb, 4);
        let balancers = Balancers::default();
        let hash = matches!(target.lb, LbPolicy::ConsistentHash(_)).then_some("admin");
        group.bench_function(name, |b| {
            b.iter(|| {
                balancers
                    .pick(black_box(&target), &[], hash, &mut rng)
                    .map(|pick| pick.addr.port())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = meshbench_benches::criterion_config();
    targets = route_match, weighted_pick, endpoint_pick
}
criterion_main!(benches);
