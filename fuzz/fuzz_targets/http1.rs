//! HTTP/1.1: the input as requests to the server codec and as responses
//! to the client codec, in two pieces; requests read as attributes, and a
//! refused one's answer built. Errors are fine; a panic or a hang is the
//! finding.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use meshbench_wire::Limits;
use meshbench_wire::http1::{ClientCodec, Request, ServerCodec};
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(rest.len());
    let limits = Limits::with_max_frame(1 << 20);
    let mut server = ServerCodec::new(limits);
    let mut buf = BytesMut::from(&rest[..cut]);
    let _ = server.decode(&mut buf);
    buf.extend_from_slice(&rest[cut..]);
    while let Ok(Some(request)) = server.decode(&mut buf) {
        let _ = meshbench_wire::attributes::http(&request);
    }
    let _ = server.refusal();

    let mut client = ClientCodec::new(limits);
    let mut sent = BytesMut::new();
    for _ in 0..4 {
        let _ = client.encode(Request::new("GET", "/"), &mut sent);
    }
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(_)) = client.decode(&mut buf) {}
});
