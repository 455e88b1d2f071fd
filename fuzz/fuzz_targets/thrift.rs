//! Thrift: every transport and encoding the codec detects, fed the input
//! in two pieces (split where the first byte says), then whatever decoded
//! read as a request's attributes. Errors are fine; a panic, a hang or an
//! allocation past the limit is the finding.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use meshbench_wire::Limits;
use meshbench_wire::attributes;
use meshbench_wire::thrift::{Encoding, ThriftCodec, TransportMode};
use tokio_util::codec::Decoder;

const LIMITS: Limits = Limits {
    max_frame: 1 << 20,
    max_head: 1 << 16,
    max_headers: Limits::DEFAULT_MAX_HEADERS,
};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(rest.len());
    for (mode, hint) in [
        (TransportMode::Auto, None),
        (TransportMode::EachMessage, None),
        (TransportMode::Auto, Some(Encoding::LaxBinary)),
    ] {
        let mut codec = ThriftCodec::new(mode).with_limits(LIMITS);
        if let Some(hint) = hint {
            codec = codec.with_encoding_hint(hint);
        }
        let mut buf = BytesMut::from(&rest[..cut]);
        let _ = codec.decode(&mut buf);
        buf.extend_from_slice(&rest[cut..]);
        while let Ok(Some(message)) = codec.decode(&mut buf) {
            let _ = attributes::thrift(&message);
        }
    }
});
