//! Byte-level tests of the Dubbo2 codec and its hessian2 body: exact vectors
//! for every compact encoding boundary (as Java's Hessian2Output writes them),
//! exact error texts, and properties over arbitrary values and bytes.
//! No sockets.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder as _, Encoder as _};

use super::hessian::{self, Decoder, Encoder, MAX_DEPTH};
use super::*;
use crate::{DecodeError, Limits};

const DEMO: &str = "org.apache.dubbo.samples.basic.api.DemoService";
const STRING: &str = "Ljava/lang/String;";

fn enc(value: impl Into<Value>) -> Vec<u8> {
    hessian::encode(&value.into())
}

fn dec(bytes: &[u8]) -> Value {
    hessian::decode(bytes).expect("decodes")
}

/// The reason of an `Invalid` error, or the display of another error.
fn reason(error: DecodeError) -> String {
    match error {
        DecodeError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn decode_err(bytes: &[u8]) -> String {
    reason(hessian::decode(bytes).expect_err("must not decode"))
}

/// Asserts the exact encoding and that it decodes back.
fn check(value: Value, bytes: &[u8]) {
    assert_eq!(hessian::encode(&value), bytes, "encoding of {value:?}");
    assert_eq!(dec(bytes), value, "decoding of {bytes:02x?}");
}

// === hessian2: exact bytes at every boundary ===

#[test]
fn ints_take_the_shortest_form_at_each_boundary() {
    check(Value::Int(0), &[0x90]);
    check(Value::Int(-16), &[0x80]);
    check(Value::Int(47), &[0xbf]);
    check(Value::Int(48), &[0xc8, 0x30]);
    check(Value::Int(-17), &[0xc7, 0xef]);
    check(Value::Int(-2048), &[0xc0, 0x00]);
    check(Value::Int(2047), &[0xcf, 0xff]);
    check(Value::Int(2048), &[0xd4, 0x08, 0x00]);
    check(Value::Int(-2049), &[0xd3, 0xf7, 0xff]);
    check(Value::Int(262143), &[0xd7, 0xff, 0xff]);
    check(Value::Int(-262144), &[0xd0, 0x00, 0x00]);
    check(Value::Int(262144), &[b'I', 0x00, 0x04, 0x00, 0x00]);
    check(Value::Int(-262145), &[b'I', 0xff, 0xfb, 0xff, 0xff]);
    check(Value::Int(i32::MIN), &[b'I', 0x80, 0x00, 0x00, 0x00]);
}

#[test]
fn longs_take_the_shortest_form_at_each_boundary() {
    check(Value::Long(0), &[0xe0]);
    check(Value::Long(-8), &[0xd8]);
    check(Value::Long(15), &[0xef]);
    check(Value::Long(16), &[0xf8, 0x10]);
    check(Value::Long(-9), &[0xf7, 0xf7]);
    check(Value::Long(-2048), &[0xf0, 0x00]);
    check(Value::Long(2047), &[0xff, 0xff]);
    check(Value::Long(2048), &[0x3c, 0x08, 0x00]);
    check(Value::Long(-2049), &[0x3b, 0xf7, 0xff]);
    check(Value::Long(262143), &[0x3f, 0xff, 0xff]);
    check(Value::Long(-262144), &[0x38, 0x00, 0x00]);
    check(Value::Long(262144), &[0x59, 0x00, 0x04, 0x00, 0x00]);
    check(
        Value::Long(i64::from(i32::MIN)),
        &[0x59, 0x80, 0x00, 0x00, 0x00],
    );
    check(Value::Long(1 << 31), &[b'L', 0, 0, 0, 0, 0x80, 0, 0, 0]);
    check(Value::Long(i64::MIN), &[b'L', 0x80, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn doubles_take_the_forms_java_writes() {
    check(Value::Double(0.0), &[0x5b]);
    check(Value::Double(1.0), &[0x5c]);
    check(Value::Double(127.0), &[0x5d, 0x7f]);
    check(Value::Double(-128.0), &[0x5d, 0x80]);
    check(Value::Double(128.0), &[0x5e, 0x00, 0x80]);
    check(Value::Double(32767.0), &[0x5e, 0x7f, 0xff]);
    check(Value::Double(-32768.0), &[0x5e, 0x80, 0x00]);
    // Whole but past a short: thousandths in an int ("double mill", 0x5f).
    check(Value::Double(32768.0), &[0x5f, 0x01, 0xf4, 0x00, 0x00]);
    // Float-representable, and whole thousandths: 0x5f, as mills.
    check(Value::Double(0.5), &[0x5f, 0x00, 0x00, 0x01, 0xf4]);
    check(Value::Double(12.25), &[0x5f, 0x00, 0x00, 0x2f, 0xda]);
    check(Value::Double(0.1), &[0x5f, 0x00, 0x00, 0x00, 0x64]);
    // Float-representable but not whole thousandths: Java writes all 8 bytes
    // (0x5f is never a 32-bit float in Java's Hessian2Output).
    check(
        Value::Double(0.0001220703125),
        &[b'D', 0x3f, 0x20, 0, 0, 0, 0, 0, 0],
    );
    check(
        Value::Double(1234.5678),
        &[b'D', 0x40, 0x93, 0x4a, 0x45, 0x6d, 0x5c, 0xfa, 0xad],
    );
    // -0.0 is written as 0.0, as Java writes it.
    assert_eq!(enc(-0.0), [0x5b]);
    let nan = dec(&enc(f64::NAN));
    assert!(matches!(nan, Value::Double(v) if v.is_nan()));
}

#[test]
fn strings_count_utf16_units_and_write_each_in_up_to_three_bytes() {
    check(Value::from(""), &[0x00]);
    check(Value::from("a"), &[0x01, b'a']);
    check(Value::from("\0"), &[0x01, 0x00]);
    check(Value::from("é"), &[0x01, 0xc3, 0xa9]);
    check(Value::from("€"), &[0x01, 0xe2, 0x82, 0xac]);
    // U+1F600 is a surrogate pair: length 2, each half in 3 bytes (CESU-8).
    check(
        Value::from("😀"),
        &[0x02, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80],
    );
    check(
        Value::from("a😀b"),
        &[0x04, b'a', 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, b'b'],
    );

    let sized = |len: usize, prefix: &[u8]| {
        let s = "x".repeat(len);
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(s.as_bytes());
        check(Value::String(s), &bytes);
    };
    sized(31, &[0x1f]);
    sized(32, &[0x30, 0x20]);
    sized(1023, &[0x33, 0xff]);
    sized(1024, &[b'S', 0x04, 0x00]);
    sized(0x8000, &[b'S', 0x80, 0x00]);
}

#[test]
fn long_strings_are_chunked_without_splitting_a_surrogate_pair() {
    let s = "a".repeat(0x8001);
    let bytes = enc(s.as_str());
    assert_eq!(bytes[..3], [b'R', 0x80, 0x00]);
    assert_eq!(bytes[3 + 0x8000..], [0x01, b'a']);
    assert_eq!(dec(&bytes), Value::String(s));

    // The pair would straddle unit 0x8000: the first chunk stops before it.
    let s = format!("{}😀b", "a".repeat(0x7fff));
    let bytes = enc(s.as_str());
    assert_eq!(bytes[..3], [b'R', 0x7f, 0xff]);
    assert_eq!(
        bytes[3 + 0x7fff..],
        [0x03, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, b'b']
    );
    assert_eq!(dec(&bytes), Value::String(s));
}

#[test]
fn decoded_strings_may_split_a_pair_across_chunks() {
    // Writers must not, but a reader that joins chunks can still accept it.
    let bytes = [b'R', 0x00, 0x01, 0xed, 0xa0, 0xbd, 0x01, 0xed, 0xb8, 0x80];
    assert_eq!(dec(&bytes), Value::from("😀"));
}

#[test]
fn binaries_take_the_shortest_form_and_4093_byte_chunks() {
    let sized = |len: usize, prefix: &[u8]| {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&data);
        check(Value::Binary(data), &bytes);
    };
    sized(0, &[0x20]);
    sized(15, &[0x2f]);
    sized(16, &[0x34, 0x10]);
    sized(1023, &[0x37, 0xff]);
    sized(1024, &[b'B', 0x04, 0x00]);
    sized(4093, &[b'B', 0x0f, 0xfd]);

    let data: Vec<u8> = (0..4094).map(|i| i as u8).collect();
    let mut bytes = vec![b'A', 0x0f, 0xfd];
    bytes.extend_from_slice(&data[..4093]);
    bytes.extend_from_slice(&[0x21, data[4093]]);
    check(Value::Binary(data), &bytes);
}

#[test]
fn dates_on_a_whole_minute_take_five_bytes() {
    // The hessian2 specification's examples.
    check(
        Value::Date(894_621_091_000),
        &[0x4a, 0, 0, 0, 0xd0, 0x4b, 0x92, 0x84, 0xb8],
    );
    check(
        Value::Date(894_621_060_000),
        &[0x4b, 0x00, 0xe3, 0x83, 0x8f],
    );
    check(Value::Date(0), &[0x4b, 0, 0, 0, 0]);
    check(Value::Date(-60_000), &[0x4b, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn lists_are_fixed_length_and_repeat_types_by_index() {
    let ints = |n: i32| (0..n).map(Value::Int).collect::<Vec<_>>();
    check(
        Value::List {
            type_name: None,
            items: ints(2),
        },
        &[0x7a, 0x90, 0x91],
    );
    check(
        Value::List {
            type_name: Some("[int".into()),
            items: ints(2),
        },
        &[0x72, 0x04, b'[', b'i', b'n', b't', 0x90, 0x91],
    );
    let mut untyped8 = vec![0x58, 0x98];
    untyped8.extend(0x90..0x98);
    check(
        Value::List {
            type_name: None,
            items: ints(8),
        },
        &untyped8,
    );
    // Two lists of one type: the second names it by index (0).
    let typed = Value::List {
        type_name: Some("[int".into()),
        items: ints(8),
    };
    let pair = Value::List {
        type_name: None,
        items: vec![typed.clone(), typed],
    };
    let mut bytes = vec![0x7a, b'V', 0x04, b'[', b'i', b'n', b't', 0x98];
    bytes.extend(0x90..0x98);
    bytes.extend([b'V', 0x90, 0x98]);
    bytes.extend(0x90..0x98);
    check(pair, &bytes);
}

#[test]
fn variable_length_lists_decode() {
    let untyped = [0x57, 0x90, 0x91, b'Z'];
    assert_eq!(
        dec(&untyped),
        Value::List {
            type_name: None,
            items: vec![Value::Int(0), Value::Int(1)]
        }
    );
    let typed = [0x55, 0x01, b'x', 0x90, b'Z'];
    assert_eq!(
        dec(&typed),
        Value::List {
            type_name: Some("x".into()),
            items: vec![Value::Int(0)]
        }
    );
}

#[test]
fn maps_are_h_when_untyped_and_m_with_a_type() {
    check(
        Value::Map {
            type_name: None,
            entries: vec![(Value::Int(1), "fee".into())],
        },
        &[b'H', 0x91, 0x03, b'f', b'e', b'e', b'Z'],
    );
    check(
        Value::Map {
            type_name: Some("java.util.TreeMap".into()),
            entries: vec![("a".into(), Value::Null)],
        },
        &[
            b'M', 0x11, b'j', b'a', b'v', b'a', b'.', b'u', b't', b'i', b'l', b'.', b'T', b'r',
            b'e', b'e', b'M', b'a', b'p', 0x01, b'a', b'N', b'Z',
        ],
    );
}

fn car(color: &str, model: &str) -> Value {
    Value::Object {
        class: "example.Car".into(),
        fields: vec![
            ("color".into(), color.into()),
            ("model".into(), model.into()),
        ],
    }
}

#[test]
fn objects_define_their_class_once_then_refer_to_it() {
    let mut encoder = Encoder::new();
    encoder.write(&car("red", "corvette"));
    encoder.write(&car("green", "civic"));
    let bytes = encoder.finish();
    let mut expected = vec![b'C', 0x0b];
    expected.extend_from_slice(b"example.Car");
    expected.extend([0x92, 0x05]);
    expected.extend_from_slice(b"color");
    expected.push(0x05);
    expected.extend_from_slice(b"model");
    expected.extend([0x60, 0x03]);
    expected.extend_from_slice(b"red");
    expected.push(0x08);
    expected.extend_from_slice(b"corvette");
    expected.extend([0x60, 0x05]);
    expected.extend_from_slice(b"green");
    expected.push(0x05);
    expected.extend_from_slice(b"civic");
    assert_eq!(bytes, expected);

    let mut decoder = Decoder::new(&bytes);
    assert_eq!(decoder.read_value().expect("first"), car("red", "corvette"));
    assert_eq!(decoder.read_value().expect("second"), car("green", "civic"));
    assert_eq!(decoder.remaining(), 0);
    // The long instance form ('O' + index) reads the same.
    let mut long_form = bytes[..bytes.len() - 13].to_vec();
    long_form.extend([b'O', 0x90, 0x05]);
    long_form.extend_from_slice(b"green");
    long_form.push(0x05);
    long_form.extend_from_slice(b"civic");
    let mut decoder = Decoder::new(&long_form);
    decoder.skip_value().expect("first");
    assert_eq!(decoder.read_value().expect("second"), car("green", "civic"));
}

#[test]
fn seventeen_classes_use_the_long_instance_form() {
    let objects: Vec<Value> = (0..17)
        .map(|i| Value::Object {
            class: format!("C{i}").into(),
            fields: vec![],
        })
        .collect();
    let list = Value::List {
        type_name: None,
        items: objects,
    };
    let bytes = enc(list.clone());
    // The 17th definition ('C' 0x03 "C16" 0x90) is followed by 'O' 0xa0 (16).
    assert!(bytes.ends_with(&[b'C', 0x03, b'C', b'1', b'6', 0x90, b'O', 0xa0]));
    assert_eq!(dec(&bytes), list);
}

#[test]
fn references_number_lists_maps_and_objects_in_the_order_they_start() {
    let shared = Value::List {
        type_name: None,
        items: vec![car("red", "corvette"), Value::Ref(1), Value::Ref(0)],
    };
    let bytes = enc(shared.clone());
    assert!(bytes.ends_with(&[b'Q', 0x91, b'Q', 0x90]));
    assert_eq!(dec(&bytes), shared);
}

#[test]
fn decoded_objects_and_lists_share_their_names() {
    // One long field name, then a thousand 2-byte instances: decoding must not
    // copy the name per instance (a 60 KB name would become 60 MB).
    let wide = Value::Object {
        class: "example.Wide".into(),
        fields: vec![("f".repeat(60_000).into(), Value::Null)],
    };
    let typed = Value::List {
        type_name: Some("t".repeat(60_000).into()),
        items: vec![],
    };
    let bytes = enc(Value::List {
        type_name: None,
        items: [vec![wide; 1000], vec![typed; 1000]].concat(),
    });
    assert!(bytes.len() < 2 * 60_000 + 5_000, "{} bytes", bytes.len());
    let Value::List { items, .. } = dec(&bytes) else {
        panic!("not a list");
    };
    let names: Vec<Arc<str>> = items
        .iter()
        .filter_map(|item| match item {
            Value::Object { fields, .. } => fields.first().map(|(name, _)| name.clone()),
            Value::List { type_name, .. } => type_name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(names.len(), 2000);
    assert!(names[..1000].iter().all(|n| Arc::ptr_eq(n, &names[0])));
    assert!(names[1000..].iter().all(|n| Arc::ptr_eq(n, &names[1000])));
}

// === hessian2: skipping ===

#[test]
fn skipping_consumes_exactly_one_value_and_keeps_the_definitions() {
    let mut encoder = Encoder::new();
    encoder.write(&Value::List {
        type_name: Some("[example.Car".into()),
        items: vec![car("red", "corvette")],
    });
    encoder.write(&car("green", "civic"));
    encoder.write(&Value::List {
        type_name: Some("[example.Car".into()),
        items: vec![],
    });
    encoder.write(&Value::Ref(0));
    let bytes = encoder.finish();
    let mut decoder = Decoder::new(&bytes);
    decoder.skip_value().expect("skips the list");
    // The class and the type name defined inside the skipped list still resolve.
    assert_eq!(decoder.read_value().expect("object"), car("green", "civic"));
    assert_eq!(
        decoder.read_value().expect("typed list"),
        Value::List {
            type_name: Some("[example.Car".into()),
            items: vec![]
        }
    );
    assert_eq!(decoder.read_value().expect("reference"), Value::Ref(0));
    assert_eq!(decoder.remaining(), 0);
}

// === hessian2: errors ===

#[test]
fn hessian_errors_name_the_problem_and_the_offset() {
    assert_eq!(
        decode_err(&[0x40]),
        "hessian2: unknown tag 0x40 at offset 0"
    );
    assert_eq!(
        decode_err(&[0x7a, 0x90, b'Z']),
        "hessian2: end marker 0x5a where a value was expected at offset 2"
    );
    assert_eq!(
        decode_err(&[0x05, b'a']),
        "hessian2: body ends inside a string at offset 2"
    );
    assert_eq!(
        decode_err(&[b'I', 0x00]),
        "hessian2: body ends inside an int at offset 1"
    );
    assert_eq!(
        decode_err(&[]),
        "hessian2: body ends inside a value at offset 0"
    );
    assert_eq!(
        decode_err(&[b'H', 0x90, 0x90]),
        "hessian2: body ends inside a map at offset 3"
    );
    assert_eq!(
        decode_err(&[0x01, 0xf0, 0x9f, 0x98, 0x80]),
        "hessian2: bad utf-8 lead byte 0xf0 in a string at offset 1"
    );
    assert_eq!(
        decode_err(&[0x01, 0xed, 0xa0, 0xbd]),
        "hessian2: unpaired surrogate in the string at offset 0"
    );
    assert_eq!(
        decode_err(&[b'Q', 0x90]),
        "hessian2: reference to value 0 but only 0 lists, maps and objects so far, at offset 0"
    );
    assert_eq!(
        decode_err(&[0x60]),
        "hessian2: object of class definition 0 but only 0 defined, at offset 0"
    );
    assert_eq!(
        decode_err(&[0x71, 0x91, 0x90]),
        "hessian2: type reference 1 but only 0 types defined, at offset 1"
    );
    assert_eq!(
        decode_err(&[0x58, 0x8f]),
        "hessian2: negative list length -1 at offset 0"
    );
    assert_eq!(
        decode_err(&[0x90, 0x90]),
        "hessian2: 1 bytes after the value at offset 1"
    );
}

#[test]
fn nesting_is_limited() {
    let mut bytes = vec![0x79; MAX_DEPTH];
    bytes.push(0x90);
    assert!(hessian::decode(&bytes).is_ok());
    let mut bytes = vec![0x79; MAX_DEPTH + 1];
    bytes.push(0x90);
    let expected =
        format!("hessian2: values nested deeper than {MAX_DEPTH} levels at offset {MAX_DEPTH}");
    assert_eq!(decode_err(&bytes), expected);
    let error = Decoder::new(&bytes).skip_value().expect_err("too deep");
    assert_eq!(reason(error), expected);
}

#[test]
fn announced_lengths_are_checked_before_allocating() {
    // Each of these would ask for gigabytes if the length were trusted.
    let hostile: [(&[u8], &str); 6] = [
        (
            &[0x58, b'I', 0x7f, 0xff, 0xff, 0xff, 0x90, 0x90, 0x90, 0x90],
            "hessian2: list of 2147483647 elements at offset 0 is longer than the 4 bytes left",
        ),
        (
            &[b'V', 0x01, b'x', b'I', 0x7f, 0xff, 0xff, 0xff, 0x90, 0x90],
            "hessian2: list of 2147483647 elements at offset 0 is longer than the 2 bytes left",
        ),
        (
            &[b'S', 0xff, 0xff, b'a'],
            "hessian2: body ends inside a string at offset 4",
        ),
        (
            &[b'B', 0xff, 0xff, 0x00],
            "hessian2: body ends inside a binary at offset 3",
        ),
        (
            &[b'C', 0x01, b'x', b'I', 0x7f, 0xff, 0xff, 0xff, 0x01, b'a'],
            "hessian2: body ends inside a field name at offset 10",
        ),
        (
            &[b'R', 0x00, 0x00, b'R', 0x00, 0x00, b'R', 0x00, 0x00, b'R'],
            "hessian2: body ends inside a string at offset 10",
        ),
    ];
    for (bytes, expected) in hostile {
        assert_eq!(decode_err(bytes), expected, "{bytes:02x?}");
        let skipped = Decoder::new(bytes).skip_value().expect_err("must not skip");
        assert_eq!(reason(skipped), expected, "{bytes:02x?}");
    }
}

// === descriptors ===

#[test]
fn descriptors_count_parameters() {
    let count = |d: &str| descriptor::parameter_count(d).expect("valid");
    assert_eq!(count(""), 0);
    assert_eq!(count(STRING), 1);
    assert_eq!(count("IJZDFBSCV"), 9);
    assert_eq!(count("[Ljava/lang/String;[[I"), 2);
    assert_eq!(
        count("Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;"),
        3
    );
    let error = |d: &str| reason(descriptor::parameter_count(d).expect_err("invalid"));
    assert_eq!(
        error("Ljava/lang/String"),
        "bad parameter descriptor \"Ljava/lang/String\": empty or unterminated class name at offset 0"
    );
    assert_eq!(
        error("I["),
        "bad parameter descriptor \"I[\": array without an element type at offset 2"
    );
    assert_eq!(
        error("L;"),
        "bad parameter descriptor \"L;\": empty or unterminated class name at offset 0"
    );
    assert_eq!(
        error("Ix"),
        "bad parameter descriptor \"Ix\": unexpected 'x' at offset 1"
    );
}

// === frames ===

fn frame_bytes(frame: &Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    DubboCodec::new().encode(frame, &mut buf).expect("encodes");
    buf
}

fn codec_error(bytes: &[u8], eof: bool) -> String {
    let mut buf = BytesMut::from(bytes);
    let mut codec = DubboCodec::new();
    let result = if eof {
        codec.decode_eof(&mut buf)
    } else {
        codec.decode(&mut buf)
    };
    result.expect_err("must fail").to_string()
}

#[test]
fn heartbeats_are_the_bytes_dubbo_sends() {
    let ping = Frame::heartbeat_request(7);
    assert_eq!(
        frame_bytes(&ping)[..],
        [
            0xda, 0xbb, 0xe2, 0x00, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, b'N'
        ]
    );
    let pong = Frame::heartbeat_response(7);
    assert_eq!(
        frame_bytes(&pong)[..],
        [
            0xda, 0xbb, 0x22, 20, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, b'N'
        ]
    );
    assert!(ping.is_heartbeat() && pong.is_heartbeat());
    assert_eq!(decode_event(&ping.body).expect("null"), Value::Null);
}

#[test]
fn a_readonly_event_decodes_and_is_no_heartbeat() {
    // What a Dubbo server sends before shutting down: event, one-way, body "R".
    let bytes = [
        0xda, 0xbb, 0xa2, 0x00, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, 0x01, b'R',
    ];
    let frame = DubboCodec::new()
        .decode(&mut BytesMut::from(&bytes[..]))
        .expect("decodes")
        .expect("complete");
    assert!(frame.header.event && frame.header.request && !frame.header.two_way);
    assert!(!frame.is_heartbeat());
    assert_eq!(
        decode_event(&frame.body).expect("a string"),
        Value::from("R")
    );
    assert!(Request::from_frame(&frame).is_err());
}

#[test]
fn frames_arrive_byte_by_byte_and_keep_their_body() {
    let request = say_hello("Aeraki");
    let sent = request.to_frame(0x0102_0304_0506_0708);
    let bytes = frame_bytes(&sent);
    assert_eq!(
        bytes[..12],
        [0xda, 0xbb, 0xc2, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]
    );
    let mut codec = DubboCodec::new();
    let mut buf = BytesMut::new();
    for (i, byte) in bytes.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let decoded = codec.decode(&mut buf).expect("decodes");
        if i + 1 < bytes.len() {
            assert!(decoded.is_none(), "complete early at {i}");
        } else {
            assert_eq!(decoded, Some(sent.clone()));
        }
    }
    assert!(buf.is_empty());
    assert_eq!(Request::from_frame(&sent).expect("request"), request);
}

#[test]
fn request_ids_are_rewritten_without_touching_the_body() {
    let frame = say_hello("x").to_frame(1);
    let rewritten = frame.clone().with_request_id(u64::MAX);
    assert_eq!(rewritten.header.request_id, u64::MAX);
    assert_eq!(rewritten.body, frame.body);
    assert_eq!(frame_bytes(&rewritten)[4..12], [0xff; 8]);
}

#[test]
fn frame_errors_are_exact() {
    assert_eq!(
        codec_error(&[0x12, 0x34, 0, 0], false),
        "dubbo: bad magic 0x1234, expected 0xdabb"
    );
    let mut oversized = vec![0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    oversized.extend((8 * 1024 * 1024 + 1u32).to_be_bytes());
    assert_eq!(
        codec_error(&oversized, false),
        "dubbo: frame of 8388609 bytes exceeds the limit of 8388608 bytes"
    );
    assert_eq!(
        codec_error(&[0xda, 0xbb, 0xc2, 0, 0], true),
        "dubbo: stream ends inside a frame header after 5 of 16 bytes"
    );
    let mut partial = frame_bytes(&say_hello("x").to_frame(1)).to_vec();
    let body_len = partial.len() - 16;
    partial.truncate(20);
    assert_eq!(
        codec_error(&partial, true),
        format!("dubbo: stream ends inside a frame body after 4 of {body_len} bytes")
    );
    assert!(matches!(
        Header::decode(&[0xda, 0xbb, 0xc2]),
        Err(DecodeError::Incomplete)
    ));
}

#[test]
fn an_oversized_body_is_refused_before_it_is_buffered() {
    let mut buf = BytesMut::from(
        &[
            0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff,
        ][..],
    );
    let mut codec = DubboCodec::new().with_limits(Limits::with_max_frame(1024));
    assert!(codec.decode(&mut buf).is_err());
    assert!(buf.capacity() < 1024, "reserved {} bytes", buf.capacity());
    let big = Frame {
        header: Header::response(1, Status::Ok),
        body: Bytes::from(vec![0; 2048]),
    };
    assert!(codec.encode(big, &mut BytesMut::new()).is_err());
}

#[test]
fn statuses_map_to_their_bytes() {
    for byte in 0..=u8::MAX {
        assert_eq!(u8::from(Status::from(byte)), byte);
    }
    assert_eq!(Status::from(20), Status::Ok);
    assert_eq!(Status::from(60), Status::ServiceNotFound);
    assert_eq!(Status::from(100), Status::ThreadpoolExhausted);
    assert_eq!(Status::from(21), Status::Other(21));
}

// === bodies ===

fn say_hello(name: &str) -> Request {
    let mut request = Request::new(DEMO, "sayHello", STRING, vec![name.into()]);
    request.attachments = [("path", DEMO), ("interface", DEMO), ("version", "0.0.0")]
        .into_iter()
        .collect();
    request
}

/// A hessian2 string's bytes (short ASCII strings only).
fn s(text: &str) -> Vec<u8> {
    let mut bytes = match text.len() {
        0..=31 => vec![text.len() as u8],
        len => vec![0x30 + (len >> 8) as u8, len as u8],
    };
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

#[test]
fn say_hello_is_the_body_a_java_consumer_sends() {
    let mut expected = [
        s("2.0.2"),
        s(DEMO),
        s("0.0.0"),
        s("sayHello"),
        s(STRING),
        s("Aeraki"),
    ]
    .concat();
    expected.push(b'H');
    for (k, v) in [("path", DEMO), ("interface", DEMO), ("version", "0.0.0")] {
        expected.extend(s(k));
        expected.extend(s(v));
    }
    expected.push(b'Z');
    let request = say_hello("Aeraki");
    assert_eq!(request.encode()[..], expected[..]);
    assert_eq!(Request::decode(&expected).expect("decodes"), request);
}

#[test]
fn a_null_version_and_missing_attachments_decode() {
    // Java writes a null string as 'N'; very old consumers send no attachments.
    let body = [
        s("2.0.2"),
        s(DEMO),
        vec![b'N'],
        s("sayHello"),
        s(STRING),
        s("x"),
    ]
    .concat();
    let request = Request::decode(&body).expect("decodes");
    assert_eq!(request.version, "");
    assert!(request.attachments.is_empty());
    let head = RequestHead::decode(Bytes::from(body)).expect("decodes");
    assert_eq!((head.method.as_str(), head.arg_count), ("sayHello", 1));
}

#[test]
fn body_errors_are_exact() {
    let bad_descriptor = [s("2.0.2"), s(DEMO), s(""), s("m"), s("Q")].concat();
    assert_eq!(
        reason(Request::decode(&bad_descriptor).expect_err("bad")),
        "bad parameter descriptor \"Q\": unexpected 'Q' at offset 0"
    );
    let int_method = [s("2.0.2"), s(DEMO), s(""), vec![0x90]].concat();
    let offset = int_method.len() - 1;
    assert_eq!(
        reason(Request::decode(&int_method).expect_err("bad")),
        format!("expected a string for the method name, found an int at offset {offset}")
    );
    let list_attachments = [s("2.0.2"), s(DEMO), s(""), s("m"), s(""), vec![0x78]].concat();
    let offset = list_attachments.len() - 1;
    assert_eq!(
        reason(RequestHead::decode(Bytes::from(list_attachments)).expect_err("bad")),
        format!("attachments are a list, expected a map, at offset {offset}")
    );
    assert_eq!(
        reason(Response::decode(&[0x96]).expect_err("bad")),
        "unknown response type 6, expected 0 to 5"
    );
}

fn complex_request() -> Request {
    let mut request = Request::new(
        DEMO,
        "order",
        "Lexample/Car;[Lexample/Car;Ljava/util/Map;J",
        vec![
            car("red", "corvette"),
            Value::List {
                type_name: Some("[example.Car".into()),
                items: vec![car("green", "civic"), Value::Ref(0)],
            },
            Value::Map {
                type_name: Some("java.util.TreeMap".into()),
                entries: vec![("k".into(), Value::Binary(vec![1, 2, 3]))],
            },
            Value::Long(1 << 40),
        ],
    );
    request.attachments = [
        ("interface", Value::from(DEMO)),
        ("group", "blue".into()),
        ("car", car("white", "beetle")),
        (
            "cars",
            Value::List {
                type_name: Some("[example.Car".into()),
                items: vec![Value::Ref(1)],
            },
        ),
    ]
    .into_iter()
    .collect();
    request
}

#[test]
fn the_head_skips_arguments_and_reads_attachments_that_refer_to_them() {
    let request = complex_request();
    let body = request.encode();
    assert_eq!(Request::decode(&body).expect("decodes"), request);
    let head = RequestHead::decode(body).expect("decodes");
    assert_eq!(head.service, DEMO);
    assert_eq!(head.method, "order");
    assert_eq!(head.arg_count, 4);
    assert_eq!(head.attachments, request.attachments);
    assert_eq!(head.attachments.get_str("group"), Some("blue"));
}

#[test]
fn attachments_are_replaced_without_re_encoding_the_arguments() {
    let request = complex_request();
    let body = request.encode();
    let head = RequestHead::decode(body.clone()).expect("decodes");
    let mut attachments = head.attachments.clone();
    attachments.remove("group");
    attachments.insert("group", "green");
    attachments.insert("x-added", car("black", "model t"));
    attachments.insert(
        "cars",
        Value::List {
            type_name: Some("[example.Car".into()),
            items: vec![Value::Ref(1), car("pink", "mini")],
        },
    );
    let spliced = head.with_attachments(&attachments);
    // Everything before the attachments (5 names, 4 arguments) is copied as is.
    let mut decoder = Decoder::new(&body);
    for _ in 0..9 {
        decoder.skip_value().expect("skips");
    }
    let args_end = decoder.position();
    assert_eq!(spliced[..args_end], body[..args_end]);
    let decoded = Request::decode(&spliced).expect("spliced body decodes");
    assert_eq!(decoded.args, request.args);
    assert_eq!(decoded.attachments, attachments);
    assert_eq!(decoded.attachments.get_str("group"), Some("green"));
}

#[test]
fn responses_of_every_type_round_trip() {
    let exception = Value::Object {
        class: "java.lang.RuntimeException".into(),
        fields: vec![("detailMessage".into(), "boom".into())],
    };
    let attached: Attachments = [("dubbo", "2.0.2")].into_iter().collect();
    for (outcome, kind) in [
        (Outcome::Exception(exception.clone()), 0x90),
        (Outcome::Value("Hello".into()), 0x91),
        (Outcome::Null, 0x92),
    ] {
        for attachments in [None, Some(attached.clone())] {
            let response = Response {
                outcome: outcome.clone(),
                attachments: attachments.clone(),
            };
            let body = response.encode();
            let extra = if attachments.is_some() { 3 } else { 0 };
            assert_eq!(body[0], kind + extra);
            assert_eq!(Response::decode(&body).expect("decodes"), response);
            let frame = response.to_frame(5);
            assert_eq!(
                Reply::from_frame(&frame).expect("reply"),
                Reply::Response(response)
            );
        }
    }
    let hello = Response::value("Hello").encode();
    assert_eq!(
        hello[..],
        [0x94, 0x05, b'H', b'e', b'l', b'l', b'o', b'H', b'Z']
    );
}

#[test]
fn error_replies_carry_a_message() {
    let reply = Reply::Error {
        status: Status::ServiceNotFound,
        message: "no route".into(),
    };
    let frame = reply.to_frame(3);
    assert_eq!(frame_bytes(&frame)[2..4], [0x02, 60]);
    assert_eq!(frame.body[..], s("no route")[..]);
    assert_eq!(Reply::from_frame(&frame).expect("reply"), reply);
    let mut wrong = frame.clone();
    wrong.header.serialization = 6;
    assert_eq!(
        reason(Reply::from_frame(&wrong).expect_err("not hessian2")),
        "unsupported serialization id 6, only hessian2 (2) is decoded"
    );
    assert_eq!(
        reason(Request::from_frame(&frame).expect_err("a response")),
        "expected a request, found a response frame"
    );
}

// === properties ===

fn arb_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN never equals itself", |v| !v.is_nan()),
        (-40_000i32..40_000).prop_map(f64::from),
        (-5_000_000i32..5_000_000).prop_map(|mills| 0.001 * f64::from(mills)),
    ]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::Int),
        (-300_000i32..300_000).prop_map(Value::Int),
        any::<i64>().prop_map(Value::Long),
        (-300_000i64..300_000).prop_map(Value::Long),
        arb_double().prop_map(Value::Double),
        any::<String>().prop_map(Value::String),
        vec(any::<u8>(), 0..40).prop_map(Value::Binary),
        any::<i64>().prop_map(Value::Date),
        (-1000i64..1000).prop_map(|m| Value::Date(m * 60_000)),
        (0u32..6).prop_map(Value::Ref),
    ]
}

fn arb_name(names: &'static [&'static str]) -> impl Strategy<Value = Option<Arc<str>>> {
    proptest::option::of(proptest::sample::select(names).prop_map(Arc::from))
}

/// Arbitrary values; `Ref`s may point nowhere until [`Refs::fix`] is applied.
fn arb_value() -> impl Strategy<Value = Value> {
    const TYPES: &[&str] = &["[int", "java.util.LinkedList", "[example.Car"];
    const CLASSES: &[&str] = &["example.Car", "example.Boat", "😀.Ü"];
    const FIELDS: &[&str] = &["color", "model", "size"];
    arb_leaf().prop_recursive(4, 48, 9, |inner| {
        prop_oneof![
            (arb_name(TYPES), vec(inner.clone(), 0..10))
                .prop_map(|(type_name, items)| Value::List { type_name, items }),
            (arb_name(TYPES), vec((inner.clone(), inner.clone()), 0..4))
                .prop_map(|(type_name, entries)| Value::Map { type_name, entries }),
            (
                proptest::sample::select(CLASSES),
                vec((proptest::sample::select(FIELDS), inner), 0..4),
            )
                .prop_map(|(class, fields)| Value::Object {
                    class: class.into(),
                    fields: fields.into_iter().map(|(f, v)| (f.into(), v)).collect(),
                }),
        ]
    })
}

/// Replaces references that point past the lists, maps and objects started
/// so far with null, counting across the values of one body.
#[derive(Default)]
struct Refs {
    started: u32,
}

impl Refs {
    fn fix(&mut self, value: Value) -> Value {
        match value {
            Value::Ref(n) if n >= self.started => Value::Null,
            Value::List { type_name, items } => {
                self.started += 1;
                let items = items.into_iter().map(|v| self.fix(v)).collect();
                Value::List { type_name, items }
            }
            Value::Map { type_name, entries } => {
                self.started += 1;
                let entries = entries
                    .into_iter()
                    .map(|(k, v)| (self.fix(k), self.fix(v)))
                    .collect();
                Value::Map { type_name, entries }
            }
            Value::Object { class, fields } => {
                self.started += 1;
                let fields = fields.into_iter().map(|(f, v)| (f, self.fix(v))).collect();
                Value::Object { class, fields }
            }
            other => other,
        }
    }

    fn attachments(&mut self, pairs: Vec<(String, Value)>) -> Attachments {
        self.started += 1; // the map itself
        Attachments(pairs.into_iter().map(|(k, v)| (k, self.fix(v))).collect())
    }
}

fn arb_valid_value() -> impl Strategy<Value = Value> {
    arb_value().prop_map(|v| Refs::default().fix(v))
}

fn arb_attachments() -> impl Strategy<Value = Vec<(String, Value)>> {
    vec(
        (
            "[a-z]{1,8}",
            prop_oneof![3 => "\\PC{0,12}".prop_map(Value::String), 1 => arb_value()],
        ),
        0..5,
    )
}

fn arb_request() -> impl Strategy<Value = Request> {
    (
        "[a-z.]{0,40}",
        "[a-zA-Z]{1,12}",
        "\\PC{0,8}",
        vec(arb_value(), 0..4),
        arb_attachments(),
    )
        .prop_map(|(service, method, version, args, attachments)| {
            let mut refs = Refs::default();
            let args: Vec<Value> = args.into_iter().map(|v| refs.fix(v)).collect();
            let descriptor = "Ljava/lang/Object;".repeat(args.len());
            let mut request = Request::new(service, method, descriptor, args);
            request.version = version;
            request.attachments = refs.attachments(attachments);
            request
        })
}

fn arb_response() -> impl Strategy<Value = Response> {
    (0..3u8, arb_value(), proptest::option::of(arb_attachments())).prop_map(
        |(kind, value, attachments)| {
            let mut refs = Refs::default();
            let outcome = match kind {
                0 => Outcome::Exception(refs.fix(value)),
                1 => Outcome::Value(refs.fix(value)),
                _ => Outcome::Null,
            };
            let attachments = attachments.map(|pairs| refs.attachments(pairs));
            Response {
                outcome,
                attachments,
            }
        },
    )
}

/// Decodes `bytes` every way there is; only errors are allowed, no panics.
fn decode_every_way(bytes: &[u8]) {
    let _ = hessian::decode(bytes);
    let mut reader = Decoder::new(bytes);
    let mut skipper = Decoder::new(bytes);
    while reader.remaining() > 0 {
        let read = reader.read_value();
        let skipped = skipper.skip_value();
        match (read, skipped) {
            (Ok(_), Ok(())) => assert_eq!(reader.position(), skipper.position()),
            // A skip checks less than a read (string contents), never more.
            (Ok(_), Err(e)) => panic!("read succeeded where skip failed: {e}"),
            (Err(_), _) => break,
        }
    }
    let _ = Request::decode(bytes);
    let _ = RequestHead::decode(Bytes::copy_from_slice(bytes));
    let _ = Response::decode(bytes);
    let _ = decode_event(bytes);
    let mut buf = BytesMut::from(bytes);
    let mut codec = DubboCodec::new().with_limits(Limits::with_max_frame(4096));
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        let _ = Request::from_frame(&frame);
        let _ = Reply::from_frame(&frame);
    }
    assert!(
        buf.capacity() <= 2 * (4096 + 16 + bytes.len()),
        "codec over-reserved"
    );
    let _ = codec.decode_eof(&mut buf);
}

proptest! {
    #[test]
    fn values_round_trip(value in arb_valid_value()) {
        let bytes = hessian::encode(&value);
        prop_assert_eq!(hessian::decode(&bytes)?, value);
    }

    #[test]
    fn encoding_is_stable_even_for_nan(value in arb_valid_value(), bits in any::<u64>()) {
        let value = Value::List { type_name: None, items: vec![value, Value::Double(f64::from_bits(bits))] };
        let bytes = hessian::encode(&value);
        prop_assert_eq!(hessian::encode(&hessian::decode(&bytes)?), bytes);
    }

    #[test]
    fn skipping_consumes_exactly_the_encoded_length(value in arb_valid_value(), tail in vec(any::<u8>(), 0..4)) {
        let mut bytes = hessian::encode(&value);
        let len = bytes.len();
        bytes.extend(tail);
        let mut decoder = Decoder::new(&bytes);
        decoder.skip_value()?;
        prop_assert_eq!(decoder.position(), len);
    }

    #[test]
    fn requests_round_trip_through_frames(request in arb_request(), id in any::<u64>()) {
        let frame = request.to_frame(id);
        let mut buf = BytesMut::new();
        DubboCodec::new().encode(&frame, &mut buf)?;
        let decoded = DubboCodec::new().decode(&mut buf)?.expect("complete");
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(Request::from_frame(&decoded)?, request.clone());

        let head = RequestHead::from_frame(&decoded)?;
        prop_assert_eq!(&head.method, &request.method);
        prop_assert_eq!(head.arg_count, request.args.len());
        prop_assert_eq!(&head.attachments, &request.attachments);
    }

    #[test]
    fn spliced_attachments_keep_the_arguments(request in arb_request(), new in arb_attachments()) {
        let head = RequestHead::decode(request.encode())?;
        let new = Attachments(new.into_iter().map(|(k, v)| (k, strip_refs(v))).collect());
        let spliced = Request::decode(&head.with_attachments(&new))?;
        prop_assert_eq!(spliced.args, request.args);
        prop_assert_eq!(spliced.attachments, new);
    }

    #[test]
    fn responses_round_trip_through_frames(response in arb_response(), id in any::<u64>()) {
        let frame = response.to_frame(id);
        let mut buf = BytesMut::new();
        DubboCodec::new().encode(&frame, &mut buf)?;
        let decoded = DubboCodec::new().decode(&mut buf)?.expect("complete");
        prop_assert_eq!(Reply::from_frame(&decoded)?, Reply::Response(response));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_every_way(&bytes);
    }

    #[test]
    fn damaged_bodies_never_panic(request in arb_request(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut body = request.encode().to_vec();
        if !body.is_empty() {
            let i = at.index(body.len());
            body[i] = byte;
            body.truncate(cut.index(body.len()) + 1);
        }
        decode_every_way(&body);
        let frame = Frame { header: Header::request(1, true), body: Bytes::from(body) };
        let mut buf = BytesMut::new();
        DubboCodec::new().encode(&frame, &mut buf)?;
        decode_every_way(&buf);
    }
}

/// New attachments cannot refer into the old attachments map (it is gone).
fn strip_refs(value: Value) -> Value {
    match value {
        Value::Ref(_) => Value::Null,
        Value::List { type_name, items } => Value::List {
            type_name,
            items: items.into_iter().map(strip_refs).collect(),
        },
        Value::Map { type_name, entries } => Value::Map {
            type_name,
            entries: entries
                .into_iter()
                .map(|(k, v)| (strip_refs(k), strip_refs(v)))
                .collect(),
        },
        Value::Object { class, fields } => Value::Object {
            class,
            fields: fields
                .into_iter()
                .map(|(f, v)| (f, strip_refs(v)))
                .collect(),
        },
        other => other,
    }
}
