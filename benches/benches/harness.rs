//! The harness's bookkeeping: recording a request in the ledger, and each
//! verifier's cost per sample on a 20,000-request ledger (a 20/80 split over
//! two versions, four pods each, eight connections).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use meshbench_benches::{entry, ledger};
use meshbench_sim::expect::{
    self, BalancedCheck, EjectedCheck, LatencyCheck, MirroredCheck, Over, RetriedCheck,
    RoutedCheck, SplitCheck, TimeoutCheck,
};
use meshbench_sim::ledger::Ledger;
use meshbench_sim::verify::sequential::SendOrder;
use meshbench_sim::verify::{self, Confidence, Counted, Mode, Per, Selection};

const SAMPLES: u64 = 20_000;

fn ledger_insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(SAMPLES));
    group.bench_function("insert", |b| {
        b.iter(|| {
            let mut ledger = Ledger::default();
            for n in 0..SAMPLES {
                ledger
                    .entries
                    .push(entry(n, usize::from(n % 5 != 0), 0, n % 8));
                ledger.sent += 1;
            }
            ledger.entries.len()
        })
    });
    group.bench_function("send_order", |b| {
        b.iter_batched(
            || ledger(SAMPLES).entries,
            |entries| {
                let mut order = SendOrder::default();
                let mut released = 0u64;
                // Answers arrive out of order in pairs.
                let mut it = entries.into_iter();
                while let (Some(a), next) = (it.next(), it.next()) {
                    if let Some(b) = next {
                        order.push(b, |_| released += 1);
                    }
                    order.push(a, |_| released += 1);
                }
                released
            },
            BatchSize::LargeInput,
        )
    });
    let full = ledger(SAMPLES);
    group.bench_function("check_conservation", |b| {
        b.iter(|| black_box(&full).check_conservation().is_ok())
    });
    group.bench_function("latencies", |b| {
        b.iter(|| black_box(&full).latencies(|_| true).corrected.len())
    });
    group.finish();
}

fn verifiers(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(SAMPLES));
    let run = ledger(SAMPLES);
    let fixed = Confidence::default();
    let sequential = Confidence {
        mode: Mode::Sequential,
        ..Confidence::default()
    };
    let weights = vec![("v0".to_owned(), 0.2), ("v1".to_owned(), 0.8)];
    let split = |confidence| SplitCheck {
        selection: Selection::default(),
        weights: weights.clone(),
        per: Per::Run,
        confidence,
    };
    let (split_fixed, split_sequential) = (split(fixed), split(sequential));
    group.bench_function("split_fixed", |b| {
        b.iter(|| expect::split(black_box(&run), &split_fixed).verdict)
    });
    group.bench_function("split_sequential", |b| {
        b.iter(|| expect::split(black_box(&run), &split_sequential).verdict)
    });
    let balanced = BalancedCheck {
        selection: Selection::default(),
        over: Over::Endpoints,
        labels: (4..8).map(|p| format!("p{p}")).collect(),
        per: Per::Connection,
        confidence: fixed,
    };
    group.bench_function("balanced", |b| {
        b.iter(|| expect::balanced(black_box(&run), &balanced).verdict)
    });
    let routed = RoutedCheck {
        selection: Selection::default(),
        to: "v1".to_owned(),
        confidence: fixed,
    };
    group.bench_function("routed", |b| {
        b.iter(|| expect::routed(black_box(&run), &routed).verdict)
    });
    let mirrored = MirroredCheck {
        selection: Selection::default(),
        service: "svc".to_owned(),
        to: "v2".to_owned(),
        fraction: 0.0,
        confidence: fixed,
    };
    group.bench_function("mirrored", |b| {
        b.iter(|| expect::mirrored(black_box(&run), &[], &mirrored).verdict)
    });
    let latency = LatencyCheck {
        selection: Selection::default(),
        version: None,
        below: vec![
            (0.5, Duration::from_micros(200)),
            (0.99, Duration::from_micros(300)),
        ],
        above: Vec::new(),
        confidence: fixed,
    };
    group.bench_function("latency", |b| {
        b.iter(|| expect::latency(black_box(&run), &latency).verdict)
    });
    let retried = RetriedCheck {
        selection: Selection::default(),
        attempts: 1,
        status: None,
        confidence: fixed,
    };
    group.bench_function("retried", |b| {
        b.iter(|| expect::retried(black_box(&run), &retried).verdict)
    });
    let timeout = TimeoutCheck {
        selection: Selection::default(),
        after: Duration::from_millis(100),
        slack: Duration::from_millis(50),
        early: Duration::ZERO,
        status: None,
        confidence: fixed,
    };
    group.bench_function("timeout", |b| {
        b.iter(|| expect::timeout(black_box(&run), &timeout).verdict)
    });
    let ejected = EjectedCheck {
        selection: Selection::default(),
        version: "v0".to_owned(),
        pods: Vec::new(),
        within: Duration::from_secs(1),
        confidence: fixed,
    };
    group.bench_function("ejected", |b| {
        b.iter(|| expect::ejected(black_box(&run), &ejected).verdict)
    });
    group.bench_function("fraction", |b| {
        b.iter(|| {
            let n = black_box(SAMPLES);
            verify::fraction(
                Counted {
                    name: "fault abort".to_owned(),
                    kind: "fraction",
                    property: "aborted".to_owned(),
                    k: n / 10,
                    n,
                    expected: 0.1,
                },
                fixed,
                Vec::new(),
            )
            .verdict
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = meshbench_benches::criterion_config();
    targets = ledger_insert, verifiers
}
criterion_main!(benches);
