//! Codec costs: Thrift and Dubbo header decode/encode, whole-frame decode,
//! HTTP/1.1 request parsing and the routing attribute views.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshbench_benches::{HTTP_REQUEST, dubbo_frame_bytes, http_request, thrift_call};
use meshbench_wire::Limits;
use meshbench_wire::attributes;
use meshbench_wire::dubbo::{self, DubboCodec, RequestHead};
use meshbench_wire::http1::ServerCodec;
use meshbench_wire::thrift::{Encoding, MessageType, ThriftCodec, TransportMode, header};
use tokio_util::codec::{Decoder, Encoder};

fn thrift(c: &mut Criterion) {
    let mut group = c.benchmark_group("thrift");
    group.throughput(Throughput::Elements(1));
    for encoding in [Encoding::Binary, Encoding::Compact] {
        let name = format!("{encoding:?}").to_lowercase();
        let message = thrift_call(encoding);
        let bytes = message.bytes.clone();
        group.bench_function(format!("header_decode/{name}"), |b| {
            b.iter(|| header::parse(black_box(&bytes), None, Limits::default()))
        });
        let mut out = BytesMut::with_capacity(64);
        group.bench_function(format!("header_encode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                header::encode(
                    encoding,
                    black_box("sayHello"),
                    MessageType::Call,
                    42,
                    &mut out,
                );
                out.len()
            })
        });
        let mut framed = BytesMut::new();
        if let Err(error) = ThriftCodec::new(TransportMode::Auto).encode(&message, &mut framed) {
            panic!("encoding the fixture: {error}");
        }
        let framed = framed.freeze();
        group.bench_function(format!("frame_decode/{name}"), |b| {
            b.iter(|| {
                let mut src = BytesMut::from(&framed[..]);
                ThriftCodec::new(TransportMode::Auto).decode(black_box(&mut src))
            })
        });
        group.bench_function(format!("attributes/{name}"), |b| {
            b.iter(|| attributes::thrift(black_box(&message)))
        });
    }
    group.finish();
}

fn dubbo(c: &mut Criterion) {
    let mut group = c.benchmark_group("dubbo");
    group.throughput(Throughput::Elements(1));
    let frame = dubbo_frame_bytes();
    group.bench_function("header_decode", |b| {
        b.iter(|| dubbo::Header::decode(black_box(&frame)))
    });
    let header = dubbo::Header::request(42, true);
    let mut out = BytesMut::with_capacity(16);
    group.bench_function("header_encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&header).encode(120, &mut out);
            out.len()
        })
    });
    group.bench_function("frame_decode", |b| {
        b.iter(|| {
            let mut src = BytesMut::from(&frame[..]);
            DubboCodec::new().decode(black_box(&mut src))
        })
    });
    let body: Bytes = frame.slice(dubbo::frame::HEADER_LEN..);
    group.bench_function("request_head_decode", |b| {
        b.iter(|| RequestHead::decode(black_box(body.clone())))
    });
    let head = match RequestHead::decode(body.clone()) {
        Ok(head) => head,
        Err(error) => panic!("decoding the fixture: {error}"),
    };
    group.bench_function("attributes", |b| {
        b.iter(|| attributes::dubbo(42, black_box(&head)))
    });
    group.finish();
}

fn http(c: &mut Criterion) {
    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Elements(1));
    group.bench_function("request_parse", |b| {
        b.iter(|| {
            let mut src = BytesMut::from(black_box(HTTP_REQUEST));
            ServerCodec::new(Limits::default()).decode(&mut src)
        })
    });
    let request = http_request();
    group.bench_function("attributes", |b| {
        b.iter(|| attributes::http(black_box(&request)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = meshbench_benches::criterion_config();
    targets = thrift, dubbo, http
}
criterion_main!(benches);
