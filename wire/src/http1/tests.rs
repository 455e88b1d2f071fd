//! Byte-level tests of the HTTP/1.1 codecs: no sockets.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::Limits;

fn decode_request(bytes: &[u8]) -> Result<Option<Request>, String> {
    let mut buf = BytesMut::from(bytes);
    ServerCodec::default()
        .decode(&mut buf)
        .map_err(|e| e.to_string())
}

#[test]
fn a_request_round_trips() {
    let mut request = Request::new("POST", "/hello?delay=5ms&codes=503");
    request.headers.append("Host", "travels.uk");
    request.headers.append("x-request-id", "r-1");
    request.body = "payload".into();
    let mut buf = BytesMut::new();
    ClientCodec::default()
        .encode(&request, &mut buf)
        .expect("encodes");
    let decoded = ServerCodec::default()
        .decode(&mut buf)
        .expect("decodes")
        .expect("complete");
    assert_eq!(decoded.path(), "/hello");
    assert_eq!(decoded.query("codes"), Some("503"));
    assert_eq!(decoded.headers.get("HOST"), Some("travels.uk"));
    assert_eq!(decoded.headers.get("content-length"), Some("7"));
    assert_eq!(&decoded.body[..], b"payload");
    assert!(decoded.keep_alive());
}

#[test]
fn a_chunked_request_is_dechunked() {
    let wire = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    let mut codec = ServerCodec::default();
    let mut buf = BytesMut::from(&wire[..]);
    let first = codec.decode(&mut buf).expect("decodes").expect("complete");
    assert_eq!(&first.body[..], b"hello world");
    let second = codec.decode(&mut buf).expect("decodes").expect("complete");
    assert_eq!(second.target, "/next");
    assert!(buf.is_empty());
}

#[test]
fn every_split_point_of_a_chunked_response_decodes_the_same() {
    let wire =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: b\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for cut in 0..wire.len() {
        let mut codec = ClientCodec::default();
        codec
            .encode(Request::new("GET", "/"), &mut BytesMut::new())
            .expect("encodes");
        let mut buf = BytesMut::from(&wire[..cut]);
        let early = codec.decode(&mut buf).expect("no error");
        assert!(early.is_none(), "complete at cut {cut}");
        buf.extend_from_slice(&wire[cut..]);
        let response = codec.decode(&mut buf).expect("decodes").expect("complete");
        assert_eq!(&response.body[..], b"abc", "cut at {cut}");
    }
}

#[test]
fn a_response_to_head_has_no_body_and_interim_responses_are_skipped() {
    let mut codec = ClientCodec::default();
    codec
        .encode(Request::new("HEAD", "/"), &mut BytesMut::new())
        .expect("encodes");
    codec
        .encode(Request::new("GET", "/"), &mut BytesMut::new())
        .expect("encodes");
    let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    let mut buf = BytesMut::from(&wire[..]);
    let head = codec.decode(&mut buf).expect("decodes").expect("complete");
    assert!(head.body.is_empty());
    let second = codec.decode(&mut buf).expect("decodes").expect("complete");
    assert_eq!(second.status, 204);
}

#[test]
fn a_response_without_length_ends_at_close() {
    let mut codec = ClientCodec::default();
    codec
        .encode(Request::new("GET", "/"), &mut BytesMut::new())
        .expect("encodes");
    let mut buf = BytesMut::from(&b"HTTP/1.0 200 OK\r\n\r\nall of it"[..]);
    assert!(codec.decode(&mut buf).expect("no error").is_none());
    let response = codec
        .decode_eof(&mut buf)
        .expect("decodes")
        .expect("complete");
    assert_eq!(&response.body[..], b"all of it");
    assert!(!response.keep_alive());
}

#[test]
fn connection_close_and_http10_end_keep_alive() {
    let close = decode_request(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
        .expect("ok")
        .expect("some");
    assert!(!close.keep_alive());
    let old = decode_request(b"GET / HTTP/1.0\r\n\r\n")
        .expect("ok")
        .expect("some");
    assert!(!old.keep_alive());
    let old_kept = decode_request(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
        .expect("ok")
        .expect("some");
    assert!(old_kept.keep_alive());
}

#[test]
fn bad_input_gives_exact_errors() {
    assert_eq!(
        decode_request(b"\x16\x03\x01 hello\r\n\r\n"),
        Err("http: bad request head: invalid token".to_owned())
    );
    assert_eq!(
        decode_request(b"POST / HTTP/1.1\r\ncontent-length: ten\r\n\r\n"),
        Err("http: bad content-length 'ten'".to_owned())
    );
    assert_eq!(
        decode_request(b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
        Err("http: conflicting content-length headers".to_owned())
    );
    assert_eq!(
        decode_request(b"POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"),
        Err("http: unsupported transfer-encoding 'gzip'".to_owned())
    );
    assert_eq!(
        decode_request(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"),
        Err("http: bad chunk size 'zz'".to_owned())
    );
    assert_eq!(
        decode_request(b"POST / HTTP/1.1\r\ncontent-length: 99999999999\r\n\r\n"),
        Err("http: frame of 99999999999 bytes exceeds the limit of 16777216 bytes".to_owned())
    );
}

#[test]
fn a_head_that_never_ends_is_refused_at_the_limit() {
    let mut codec = ServerCodec::new(Limits::with_max_frame(64));
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nx-long: "[..]);
    buf.extend_from_slice(&[b'a'; 100]);
    let error = codec.decode(&mut buf).expect_err("too large").to_string();
    assert_eq!(
        error,
        "http: frame of 124 bytes exceeds the limit of 64 bytes"
    );
}

/// The status a server answers a request it cannot decode with, before
/// it closes: 431 for a head over its bound or too many fields, 413 for a
/// body over the frame limit (announced or grown), 400 for non-HTTP.
#[test]
fn undecodable_requests_get_the_status_that_says_why() {
    let refused = |limits: Limits, bytes: Vec<u8>| {
        let mut codec = ServerCodec::new(limits);
        assert!(codec.refusal().is_none(), "nothing refused yet");
        let mut buf = BytesMut::from(&bytes[..]);
        codec.decode(&mut buf).expect_err("does not decode");
        let response = codec.refusal().expect("an answer");
        assert_eq!(response.headers.get("connection"), Some("close"));
        response.status
    };
    let mut long_head = b"GET / HTTP/1.1\r\nx-long: ".to_vec();
    long_head.extend(std::iter::repeat_n(b'a', Limits::DEFAULT_MAX_HEAD));
    assert_eq!(refused(Limits::default(), long_head), 431);
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..129 {
        many.extend(format!("x-{i}: v\r\n").bytes());
    }
    many.extend(b"\r\n");
    assert_eq!(refused(Limits::default(), many), 431);
    let announced = b"PUT / HTTP/1.1\r\ncontent-length: 16777217\r\n\r\n".to_vec();
    assert_eq!(refused(Limits::default(), announced), 413);
    let mut grown = b"PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n100\r\n".to_vec();
    grown.extend([b'a'; 0x100]);
    assert_eq!(refused(Limits::with_max_frame(128), grown), 413);
    // A chunk announcing more than the limit, with none of its bytes sent.
    let declared = b"PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n7fffffff\r\n".to_vec();
    assert_eq!(refused(Limits::default(), declared), 413);
    assert_eq!(
        refused(Limits::default(), b"\x16\x03\x01 TLS?\r\n\r\n".to_vec()),
        400
    );
}

/// A head sent in many small pieces is re-parsed only up to its bound: a
/// 15 MiB head in 2 KiB pieces is refused after 60 KiB, not parsed 7,680 times.
#[test]
fn a_head_in_pieces_is_refused_at_its_bound() {
    let mut codec = ServerCodec::default();
    let start = b"GET / HTTP/1.1\r\nx-long: ";
    let mut buf = BytesMut::from(&start[..]);
    let mut pieces = 0;
    let error = loop {
        buf.extend_from_slice(&[b'a'; 2048]);
        pieces += 1;
        match codec.decode(&mut buf) {
            Ok(None) => continue,
            Ok(Some(_)) => panic!("no head ends"),
            Err(error) => break error,
        }
    };
    // The first piece that takes the head past its bound.
    let expected = (Limits::DEFAULT_MAX_HEAD - start.len()) / 2048 + 1;
    assert_eq!(pieces, expected, "{error}");
    assert_eq!(codec.refusal().map(|r| r.status), Some(431));
}

proptest! {
    #[test]
    fn responses_round_trip(status in 200u16..600, body in prop::collection::vec(any::<u8>(), 0..300), value in "[a-z0-9 ]{0,20}") {
        let mut response = Response::new(status, body.clone());
        response.headers.append("x-meshbench-version", value.trim());
        let mut buf = BytesMut::new();
        ServerCodec::default().encode(response.clone(), &mut buf).expect("encodes");
        let mut client = ClientCodec::default();
        client.encode(Request::new("GET", "/"), &mut BytesMut::new()).expect("encodes");
        let decoded = client.decode(&mut buf).expect("decodes").expect("complete");
        prop_assert_eq!(decoded.status, status);
        let expected: &[u8] = if response.may_have_body() { &body } else { &[] };
        prop_assert_eq!(&decoded.body[..], expected);
        prop_assert_eq!(decoded.headers.get("x-meshbench-version"), Some(value.trim()));
    }

    #[test]
    fn requests_round_trip(
        method in "(GET|POST|PUT|DELETE|HEAD)",
        path in "/[a-z0-9/]{0,20}",
        headers in prop::collection::vec(("[a-z][a-z0-9-]{0,10}", "[ -~]{0,20}"), 0..6),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut request = Request::new(&method, &path);
        for (name, value) in &headers {
            request.headers.append(format!("x-{name}"), value.trim());
        }
        request.body = body.clone().into();
        let mut buf = BytesMut::new();
        ClientCodec::default().encode(&request, &mut buf).expect("encodes");
        let decoded = ServerCodec::default().decode(&mut buf).expect("decodes").expect("complete");
        prop_assert_eq!(&decoded.method, &method);
        prop_assert_eq!(&decoded.target, &path);
        prop_assert_eq!(&decoded.body[..], &body[..]);
        for (name, value) in &headers {
            let first = headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim());
            prop_assert_eq!(decoded.headers.get(&format!("x-{name}")), first, "{}={}", name, value);
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits::with_max_frame(256);
        let mut server = ServerCodec::new(limits);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = server.decode(&mut buf) {}
        let mut client = ClientCodec::new(limits);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = client.decode(&mut buf) {}
        let _ = client.decode_eof(&mut buf);
    }

    #[test]
    fn arbitrary_chunked_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut wire = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        wire.extend_from_slice(&bytes);
        let mut buf = BytesMut::from(&wire[..]);
        let _ = ServerCodec::new(Limits::with_max_frame(128)).decode(&mut buf);
    }
}
