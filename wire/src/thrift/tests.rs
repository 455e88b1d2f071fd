//! Byte-level tests of the Thrift framing: no sockets.

use std::collections::BTreeMap;

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use super::hello::{self, SayHello};
use super::*;
use crate::{DecodeError, Limits};

const ENCODINGS: [Encoding; 3] = [Encoding::Binary, Encoding::LaxBinary, Encoding::Compact];
const TRANSPORTS: [Transport; 2] = [Transport::Framed, Transport::Unframed];

fn call(name: &str, context: &[(&str, &str)]) -> SayHello {
    SayHello {
        name: name.to_owned(),
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn codec_for(transport: Transport, encoding: Encoding) -> ThriftCodec {
    let codec = match transport {
        // Lax binary cannot be auto-detected: fix the transport for it.
        _ if encoding == Encoding::LaxBinary => ThriftCodec::new(TransportMode::Fixed(transport)),
        _ => ThriftCodec::new(TransportMode::Auto),
    };
    codec.with_encoding_hint(encoding)
}

fn wire_bytes(message: &Message) -> BytesMut {
    let mut buf = BytesMut::new();
    ThriftCodec::new(TransportMode::Auto)
        .encode(message, &mut buf)
        .expect("encoding to memory");
    buf
}

#[test]
fn strict_binary_call_header_is_the_canonical_bytes() {
    let message = call("Aeraki", &[]).encode_call(Transport::Unframed, Encoding::Binary, None, 7);
    let expected_header = [
        0x80, 0x01, 0x00, 0x01, // version word, type call
        0x00, 0x00, 0x00, 0x08, b's', b'a', b'y', b'H', b'e', b'l', b'l', b'o', // name
        0x00, 0x00, 0x00, 0x07, // seqid
    ];
    assert_eq!(&message.bytes[..expected_header.len()], &expected_header);
    // Field 1 (string "Aeraki"), then stop: nothing else when context is empty.
    let expected_body = [
        0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, b'A', b'e', b'r', b'a', b'k', b'i', 0x00,
    ];
    assert_eq!(message.body(), &expected_body);
}

#[test]
fn compact_call_header_is_the_canonical_bytes() {
    let message = call("x", &[]).encode_call(
        Transport::Unframed,
        Encoding::Compact,
        Some("HelloService"),
        300,
    );
    let mut expected = vec![0x82, 0x21, 0xac, 0x02, 21];
    expected.extend_from_slice(b"HelloService:sayHello");
    assert_eq!(&message.bytes[..expected.len()], &expected[..]);
    assert_eq!(message.service(), Some("HelloService"));
    assert_eq!(message.method(), "sayHello");
}

#[test]
fn every_transport_and_encoding_round_trips_through_the_codec() {
    for transport in TRANSPORTS {
        for encoding in ENCODINGS {
            let args = call("Aeraki", &[("x-request-id", "r-1"), ("user", "admin")]);
            let sent = args.encode_call(transport, encoding, Some(hello::SERVICE), -5);
            let mut buf = wire_bytes(&sent);
            // Two messages back to back, to check the first ends where it should.
            buf.extend_from_slice(&wire_bytes(&sent.with_seqid(6)));
            let mut codec = codec_for(transport, encoding);
            let first = codec.decode(&mut buf).expect("decodes").expect("complete");
            let second = codec.decode(&mut buf).expect("decodes").expect("complete");
            assert_eq!(first, sent, "{transport:?} {encoding:?}");
            assert_eq!(second.header.seqid, 6);
            assert_eq!(SayHello::decode_call(&second).expect("args decode"), args);
            assert!(buf.is_empty());
            assert_eq!(codec.transport(), Some(transport));
        }
    }
}

#[test]
fn replies_and_exceptions_decode() {
    for encoding in ENCODINGS {
        let request = call("A", &[]).encode_call(Transport::Framed, encoding, None, 9);
        let ok = hello::encode_reply(&request, &Ok("Hello A".to_owned()));
        assert_eq!(ok.header.kind, MessageType::Reply);
        assert_eq!(ok.header.seqid, 9);
        assert_eq!(
            hello::decode_reply(&ok).expect("decodes"),
            Ok("Hello A".to_owned())
        );

        let error =
            hello::application_error(thrift::ApplicationErrorKind::InternalError, "no route");
        let exception = hello::encode_exception(&request, &error);
        assert_eq!(exception.header.kind, MessageType::Exception);
        let decoded = hello::decode_reply(&exception).expect("decodes");
        assert_eq!(decoded, Err(error));
    }
}

#[test]
fn a_call_without_context_decodes_to_an_empty_context() {
    let message = call("A", &[]).encode_call(Transport::Unframed, Encoding::Binary, None, 1);
    let decoded = SayHello::decode_call(&message).expect("decodes");
    assert_eq!(decoded.context, BTreeMap::new());
}

#[test]
fn a_split_stream_waits_for_the_rest() {
    for transport in TRANSPORTS {
        for encoding in [Encoding::Binary, Encoding::Compact] {
            let sent = call("Aeraki", &[("k", "v")]).encode_call(transport, encoding, None, 1);
            let whole = wire_bytes(&sent);
            for cut in 0..whole.len() {
                let mut codec = codec_for(transport, encoding);
                let mut buf = BytesMut::from(&whole[..cut]);
                assert!(
                    codec.decode(&mut buf).expect("no error").is_none(),
                    "cut at {cut}"
                );
                buf.extend_from_slice(&whole[cut..]);
                assert_eq!(codec.decode(&mut buf).expect("decodes"), Some(sent.clone()));
            }
        }
    }
}

fn decode_error(bytes: &[u8], limits: Limits) -> String {
    let mut codec = ThriftCodec::new(TransportMode::Auto).with_limits(limits);
    let mut buf = BytesMut::from(bytes);
    match codec.decode(&mut buf) {
        Err(e) => e.to_string(),
        Ok(m) => panic!("expected an error, decoded {m:?}"),
    }
}

#[test]
fn bad_input_gives_exact_errors() {
    let limits = Limits::default();
    assert_eq!(
        decode_error(b"GET / HTTP/1.1\r\n", limits),
        "thrift: bytes 0x4745 start no known protocol (binary 0x8001, compact 0x82)"
    );
    assert_eq!(
        decode_error(&[0x80, 0x01, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0], limits),
        "thrift: unknown message type 7"
    );
    assert_eq!(
        decode_error(&[0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01], limits),
        "thrift: frame of 2147483647 bytes exceeds the limit of 16777216 bytes"
    );
    assert_eq!(
        decode_error(&[0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff], limits),
        "thrift: frame of 2147483647 bytes exceeds the limit of 16777216 bytes"
    );
    // A compact call whose args struct has a field of type 14, which compact lacks.
    assert_eq!(
        decode_error(&[0x82, 0x21, 0x01, 0x01, b'm', 0x1e, 0x00], limits),
        "thrift: unknown compact field type 14"
    );
    let framed_garbage = [0, 0, 0, 3, 0x80, 0x01, 0x00];
    assert_eq!(
        decode_error(&framed_garbage, limits),
        "thrift: frame ends inside the message header"
    );
}

#[test]
fn an_unframed_message_larger_than_the_limit_is_refused_while_buffering() {
    // 300 i32 fields: no declared size says how long it is, the bytes do.
    let mut big = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 1, b'm', 0, 0, 0, 1];
    for id in 1..=300u16 {
        big.push(8);
        big.extend(id.to_be_bytes());
        big.extend(7i32.to_be_bytes());
    }
    let limits = Limits::with_max_frame(1024);
    let mut codec = ThriftCodec::new(TransportMode::Auto).with_limits(limits);
    let mut buf = BytesMut::from(&big[..1500]);
    let error = codec.decode(&mut buf).expect_err("too large");
    assert_eq!(
        error.to_string(),
        "thrift: frame of 1500 bytes exceeds the limit of 1024 bytes"
    );
}

/// A string length, list count or map count that cannot fit the limit is
/// refused as soon as it is read, on bytes that end right after it: the
/// connection is not held open waiting for 2 GiB that will never come.
#[test]
fn declared_sizes_past_the_limit_are_refused_before_their_bytes() {
    let binary_call = [0x80, 0x01, 0x00, 0x01, 0, 0, 0, 1, b'm', 0, 0, 0, 1];
    let max = [0x7f, 0xff, 0xff, 0xff];
    let with = |prefix: &[u8], field: &[u8]| [prefix, field].concat();
    let cases = [
        (
            "binary string",
            with(&binary_call, &[&[11, 0, 1][..], &max].concat()),
        ),
        (
            "binary list",
            with(&binary_call, &[&[15, 0, 1, 8][..], &max].concat()),
        ),
        (
            "binary map",
            with(&binary_call, &[&[13, 0, 1, 11, 11][..], &max].concat()),
        ),
        // Compact: call, seqid 1, name "m", field 1 of type binary, list, map.
        (
            "compact binary",
            vec![0x82, 0x21, 1, 1, b'm', 0x18, 0xff, 0xff, 0xff, 0xff, 0x07],
        ),
        (
            "compact list",
            vec![
                0x82, 0x21, 1, 1, b'm', 0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07,
            ],
        ),
        (
            "compact map",
            vec![0x82, 0x21, 1, 1, b'm', 0x1b, 0xff, 0xff, 0xff, 0xff, 0x07],
        ),
    ];
    for (what, bytes) in cases {
        let error = decode_error(&bytes, Limits::default());
        assert!(
            error.starts_with("thrift: frame of ")
                && error.ends_with("exceeds the limit of 16777216 bytes"),
            "{what}: {error}"
        );
    }
    // Within the limit, the same declarations wait for their bytes.
    let small = with(&binary_call, &[11, 0, 1, 0, 0, 0x10, 0]);
    let mut codec = ThriftCodec::new(TransportMode::Auto);
    let mut buf = BytesMut::from(&small[..]);
    assert!(codec.decode(&mut buf).expect("no error").is_none());
}

#[test]
fn nesting_beyond_the_limit_is_invalid() {
    // A call whose body nests lists 100 deep: field 1 of type list, of lists …
    let mut body = vec![0x0f, 0x00, 0x01];
    for _ in 0..100 {
        body.extend_from_slice(&[0x0f, 0, 0, 0, 1]);
    }
    let message = Message::new(
        Transport::Unframed,
        Encoding::Binary,
        "m",
        MessageType::Call,
        1,
        &body,
    );
    let error = decode_error(&message.bytes, Limits::default());
    assert_eq!(error, "thrift: nesting deeper than 64");
}

#[test]
fn with_seqid_keeps_the_body() {
    for encoding in ENCODINGS {
        let message = call("A", &[("a", "b")]).encode_call(Transport::Framed, encoding, None, 1);
        let moved = message.with_seqid(i32::MIN);
        assert_eq!(moved.header.seqid, i32::MIN);
        assert_eq!(moved.body(), message.body());
        let reparsed = Message::parse(
            Transport::Framed,
            moved.bytes.clone(),
            Some(encoding),
            Limits::default(),
        )
        .expect("parses");
        assert_eq!(reparsed, moved);
    }
}

fn encoding_strategy() -> impl Strategy<Value = Encoding> {
    prop::sample::select(ENCODINGS.to_vec())
}

fn transport_strategy() -> impl Strategy<Value = Transport> {
    prop::sample::select(TRANSPORTS.to_vec())
}

proptest! {
    #[test]
    fn calls_round_trip(
        name in ".{0,40}",
        context in prop::collection::btree_map(".{0,8}", ".{0,8}", 0..4),
        seqid in any::<i32>(),
        service in prop::option::of("[A-Za-z]{1,12}"),
        encoding in encoding_strategy(),
        transport in transport_strategy(),
    ) {
        let args = SayHello { name, context };
        let sent = args.encode_call(transport, encoding, service.as_deref(), seqid);
        let mut buf = wire_bytes(&sent);
        let received = codec_for(transport, encoding).decode(&mut buf).expect("decodes").expect("complete");
        prop_assert_eq!(&received, &sent);
        prop_assert_eq!(SayHello::decode_call(&received).expect("args"), args);
        let reply = hello::encode_reply(&received, &Ok(format!("seq {seqid}")));
        prop_assert_eq!(hello::decode_reply(&reply).expect("reply"), Ok(format!("seq {seqid}")));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), lax in any::<bool>()) {
        let limits = Limits::with_max_frame(256);
        let mut codec = ThriftCodec::new(TransportMode::Auto).with_limits(limits);
        if lax {
            codec = codec.with_encoding_hint(Encoding::LaxBinary);
        }
        let mut buf = BytesMut::from(&bytes[..]);
        // Decode until the codec stops: every outcome is fine but a panic.
        while let Ok(Some(message)) = codec.decode(&mut buf) {
            let _ = SayHello::decode_call(&message);
            let _ = hello::decode_reply(&message);
        }
    }

    #[test]
    fn a_walk_in_pieces_ends_as_a_whole_walk_does(
        body in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(0usize..256, 0..8),
        encoding in encoding_strategy(),
    ) {
        let limits = Limits::default();
        let whole = skip::struct_end(encoding, &body, 0, limits);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
        cuts.sort_unstable();
        let mut walk = skip::Walk::new(encoding, 0);
        let pieces = cuts
            .into_iter()
            .map(|cut| walk.resume(&body[..cut], limits))
            .find(|r| !matches!(r, Err(DecodeError::Incomplete)));
        let walked = pieces.unwrap_or_else(|| walk.resume(&body, limits));
        prop_assert_eq!(format!("{walked:?}"), format!("{whole:?}"));
    }

    #[test]
    fn arbitrary_bodies_never_panic_the_skipper(body in prop::collection::vec(any::<u8>(), 0..256), encoding in encoding_strategy()) {
        let _ = skip::struct_end(encoding, &body, 0, Limits::default());
    }
}
