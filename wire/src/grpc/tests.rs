use proptest::prelude::*;

use super::greeter::{HelloRequest, User, version_id};
use super::*;
use crate::{DecodeError, Limits};

#[test]
fn a_message_round_trips_with_its_prefix() {
    let request = HelloRequest {
        name: "laurence".into(),
    };
    let body = encode(&request);
    // tag 1, length 8, then the bytes; after a 5-byte prefix declaring 10.
    assert_eq!(&body[..5], &[0, 0, 0, 0, 10]);
    assert_eq!(&body[5..7], &[0x0a, 8]);
    assert_eq!(
        decode::<HelloRequest>(&body, Limits::default()),
        Ok(request)
    );
}

#[test]
fn an_empty_message_is_five_bytes() {
    let body = encode(&User::default());
    assert_eq!(&body[..], &[0, 0, 0, 0, 0]);
    assert_eq!(
        decode::<User>(&body, Limits::default()),
        Ok(User::default())
    );
}

#[test]
fn bodies_still_arriving_are_incomplete() {
    let body = encode(&HelloRequest {
        name: "x".repeat(40),
    });
    for end in 0..body.len() {
        assert_eq!(
            decode::<HelloRequest>(&body[..end], Limits::default()),
            Err(DecodeError::Incomplete),
            "{end} bytes"
        );
    }
}

#[test]
fn an_oversized_declaration_is_refused_before_its_bytes_arrive() {
    let head = [0u8, 0x7f, 0xff, 0xff, 0xff];
    match decode::<HelloRequest>(&head, Limits::with_max_frame(1024)) {
        Err(DecodeError::TooLarge { size, max, .. }) => {
            assert_eq!((size, max), (0x7fff_ffff, 1024));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(frame::declared(&head), Some(0x7fff_ffff));
}

#[test]
fn compression_trailing_bytes_and_bad_protobuf_are_invalid() {
    let mut compressed = encode(&HelloRequest { name: "a".into() }).to_vec();
    compressed[0] = 1;
    let mut trailing = encode(&HelloRequest { name: "a".into() }).to_vec();
    trailing.push(0);
    // Field 1 as a length-delimited string that claims 9 bytes but has 1.
    let broken = [0u8, 0, 0, 0, 3, 0x0a, 9, b'a'];
    for body in [&compressed[..], &trailing[..], &broken[..]] {
        assert!(
            matches!(
                decode::<HelloRequest>(body, Limits::default()),
                Err(DecodeError::Invalid { .. })
            ),
            "{body:?}"
        );
    }
}

#[test]
fn codes_parse_by_name_or_number_and_print_their_names() {
    assert_eq!(Code::parse("UNAVAILABLE"), Some(Code::UNAVAILABLE));
    assert_eq!(
        Code::parse("deadline-exceeded"),
        Some(Code::DEADLINE_EXCEEDED)
    );
    assert_eq!(
        Code::parse("resource_exhausted"),
        Some(Code::RESOURCE_EXHAUSTED)
    );
    assert_eq!(Code::parse("14"), Some(Code::UNAVAILABLE));
    assert_eq!(Code::parse("NOT_A_CODE"), None);
    assert_eq!(Code(16).name(), "UNAUTHENTICATED");
    assert_eq!(Code(99).name(), "99");
    assert_eq!(Code::from_header(b"4"), Code::DEADLINE_EXCEEDED);
    assert_eq!(Code::from_header(b"four"), Code::UNKNOWN);
}

#[test]
fn http_statuses_map_as_the_grpc_mapping_says() {
    let expected = [
        (400, 13),
        (401, 16),
        (403, 7),
        (404, 12),
        (429, 14),
        (502, 14),
        (503, 14),
        (504, 14),
        (500, 2),
        (418, 2),
    ];
    for (http, grpc) in expected {
        assert_eq!(Code::from_http(http), Code(grpc), "HTTP {http}");
    }
}

#[test]
fn codes_report_as_envoy_reports_them_to_outlier_detection() {
    let expected = [
        (0, 200),
        (1, 499),
        (4, 504),
        (8, 429),
        (12, 501),
        (13, 500),
        (14, 503),
        (16, 401),
        (42, 500),
    ];
    for (grpc, http) in expected {
        assert_eq!(Code(grpc).to_http(), http, "gRPC {grpc}");
    }
}

#[test]
fn content_types_of_grpc_are_recognised() {
    assert!(is_grpc("application/grpc"));
    assert!(is_grpc("application/grpc+proto"));
    assert!(is_grpc("application/grpc;charset=utf-8"));
    assert!(!is_grpc("application/grpc-web"));
    assert!(!is_grpc("application/json"));
}

#[test]
fn versions_name_their_ids_as_the_sample_does() {
    assert_eq!(version_id("v1"), "v1.0.0");
    assert_eq!(version_id("v2"), "v2.0.0");
    assert_eq!(version_id("canary"), "canary");
    assert_eq!(version_id("v"), "v");
}

#[test]
fn the_routing_view_has_path_authority_and_text_metadata() {
    let mut headers = http::HeaderMap::new();
    headers.insert("user", "admin".parse().expect("header"));
    headers.insert("trace-bin", "AAEC".parse().expect("header"));
    headers.insert("x-request-id", "r-1".parse().expect("header"));
    let uri: http::Uri = "http://greeter:20000/org.apache.dubbogo.samples.api.Greeter/SayHello"
        .parse()
        .expect("uri");
    let view = attributes(&http::Method::POST, &uri, &headers);
    assert_eq!(view.request_id.as_deref(), Some("r-1"));
    let a = &view.attributes;
    assert_eq!(
        a.get(":path"),
        Some("/org.apache.dubbogo.samples.api.Greeter/SayHello")
    );
    assert_eq!(a.get(":authority"), Some("greeter:20000"));
    assert_eq!(a.get(":method"), Some("POST"));
    assert_eq!(a.get("user"), Some("admin"));
    assert_eq!(a.get("trace-bin"), None);
}

proptest! {
    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode::<HelloRequest>(&bytes, Limits::with_max_frame(32));
        let _ = decode::<User>(&bytes, Limits::default());
    }

    #[test]
    fn any_user_round_trips(name in ".{0,40}", id in ".{0,12}", age in any::<i32>()) {
        let user = User { name, id, age };
        prop_assert_eq!(decode::<User>(&encode(&user), Limits::default()), Ok(user));
    }
}
