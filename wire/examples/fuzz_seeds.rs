//! Writes the fuzz targets' seed corpus (`fuzz/seeds/<target>/`) from the
//! encoders the codec tests use: well-formed Thrift calls in every
//! transport and encoding, Dubbo requests, replies and heartbeats, HTTP/1.1
//! requests and responses, and the seed scenario files.
//!
//! `cargo run -p meshbench-wire --example fuzz_seeds -- fuzz/seeds`

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use meshbench_wire::dubbo::{self, DubboCodec, Frame};
use meshbench_wire::thrift::hello::SayHello;
use meshbench_wire::thrift::{Encoding, ThriftCodec, Transport, TransportMode};
use tokio_util::codec::Encoder;

const DEMO: &str = "org.apache.dubbo.samples.basic.api.DemoService";

fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/seeds"), PathBuf::from);
    write(&out.join("thrift"), thrift())?;
    write(&out.join("dubbo"), dubbo())?;
    write(&out.join("http1"), http())?;
    write(&out.join("scenario"), scenarios()?)?;
    Ok(())
}

/// Each seed as `seed-N`; a target that splits its input reads the first
/// byte as the split point, so every seed starts with one.
fn write(dir: &Path, seeds: Vec<Vec<u8>>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (n, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{n}")), seed)?;
    }
    Ok(())
}

fn thrift() -> Vec<Vec<u8>> {
    let call = SayHello {
        name: "Aeraki".to_owned(),
        context: [("x-user".to_owned(), "batchjob".to_owned())].into(),
    };
    let mut seeds = Vec::new();
    for transport in [Transport::Framed, Transport::Unframed] {
        for encoding in [Encoding::Binary, Encoding::Compact] {
            for service in [None, Some("Greeter")] {
                let message = call.encode_call(transport, encoding, service, 7);
                let mut buf = BytesMut::new();
                if ThriftCodec::new(TransportMode::Auto)
                    .encode(&message, &mut buf)
                    .is_ok()
                {
                    seeds.push([&[9u8][..], &buf].concat());
                }
            }
        }
    }
    seeds
}

fn dubbo() -> Vec<Vec<u8>> {
    let mut request = dubbo::Request::new(
        DEMO,
        "sayHello",
        "Ljava/lang/String;",
        vec!["Aeraki".into()],
    );
    request.attachments = [("path", DEMO), ("interface", DEMO), ("x-user", "batchjob")]
        .into_iter()
        .collect();
    let frames = [
        request.to_frame(1),
        dubbo::Response::value("Hello Aeraki").to_frame(1),
        Frame::heartbeat_request(2),
    ];
    frames
        .into_iter()
        .filter_map(|frame| {
            let mut buf = BytesMut::new();
            DubboCodec::new().encode(frame, &mut buf).ok()?;
            Some(buf.to_vec())
        })
        .collect()
}

fn http() -> Vec<Vec<u8>> {
    [
        &b"\x10GET /hello HTTP/1.1\r\nhost: web\r\nx-user: batchjob\r\n\r\n"[..],
        b"\x20POST /echo HTTP/1.1\r\nhost: web\r\ncontent-length: 5\r\n\r\nhello",
        b"\x30PUT /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n",
        b"\x05HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"\x00GET / HTTP/1.0\r\n\r\nGET /a HTTP/1.1\r\nconnection: close\r\n\r\n",
    ]
    .map(<[u8]>::to_vec)
    .to_vec()
}

fn scenarios() -> std::io::Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for dir in ["scenarios/thrift", "scenarios/dubbo", "scenarios/http"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten().take(4) {
            seeds.push(std::fs::read(entry.path())?);
        }
    }
    Ok(seeds)
}
