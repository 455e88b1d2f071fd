//! hessian2 bytes cross-checked against hessian.js 2.11.0 (MIT, the hessian
//! codec of Node's Dubbo clients), in both directions:
//! - our encoding of a value must be hessian.js's encoding, byte for byte,
//!   wherever both follow Java's Hessian2Output (every case below does);
//! - hessian.js must decode our bytes to the value we meant, and we must
//!   decode hessian.js's bytes to the value it was given.
//!
//! Values cross the process boundary as the tagged JSON described in
//! `peers/hessian_vectors.js`, which keeps what plain JS numbers lose (int
//! versus long versus double, exact 64-bit longs and double bits).

use std::io::Write as _;
use std::process::Stdio;

use meshbench_wire::dubbo::hessian::{Decoder, Encoder, Value};
use meshbench_wire::dubbo::{Attachments, Request, RequestHead};
use serde_json::{Value as Json, json};

use crate::peer;

const DEMO: &str = "org.apache.dubbo.samples.basic.api.DemoService";

/// A sequence of values written by one encoder (read by one decoder), as the
/// values of one Dubbo body are.
///
/// Every case compares our encoding with hessian.js's byte for byte: both
/// follow Java's Hessian2Output, which picks one encoding per value (0x5f
/// "double mill" included). Other valid encodings that Java or other peers may
/// send are checked as `wire`: bytes that both sides must decode to `values`.
struct Case {
    name: String,
    values: Vec<Value>,
    /// Bytes to decode instead of our encoding (a non-canonical form).
    wire: Option<Vec<u8>>,
}

fn case(name: impl Into<String>, values: Vec<Value>) -> Case {
    Case {
        name: name.into(),
        values,
        wire: None,
    }
}

fn one(name: impl Into<String>, value: impl Into<Value>) -> Case {
    case(name, vec![value.into()])
}

/// Another valid encoding of `value`, which both sides must decode.
fn alternative(name: &str, value: impl Into<Value>, wire: &[u8]) -> Case {
    Case {
        wire: Some(wire.to_vec()),
        ..one(format!("{name} (non-canonical)"), value)
    }
}

impl Case {
    /// The bytes both decoders read.
    fn wire(&self) -> Vec<u8> {
        self.wire
            .clone()
            .unwrap_or_else(|| encode_all(&self.values))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from the peer"))
        .collect()
}

/// The tagged JSON form of a value (see `peers/hessian_vectors.js`).
fn repr(value: &Value) -> Json {
    match value {
        Value::Null => json!({"t": "null"}),
        Value::Bool(v) => json!({"t": "bool", "v": v}),
        Value::Int(v) => json!({"t": "int", "v": v}),
        Value::Long(v) => json!({"t": "long", "v": v.to_string()}),
        Value::Double(v) => json!({"t": "double", "v": hex(&v.to_bits().to_be_bytes())}),
        Value::String(v) => json!({"t": "string", "v": v}),
        Value::Binary(v) => json!({"t": "binary", "v": hex(v)}),
        Value::Date(v) => json!({"t": "date", "v": v}),
        Value::List { type_name, items } => {
            json!({"t": "list", "type": type_name.as_deref(), "items": items.iter().map(repr).collect::<Vec<_>>()})
        }
        Value::Map { type_name, entries } => json!({
            "t": "map",
            "type": type_name.as_deref(),
            "entries": entries.iter().map(|(k, v)| json!([repr(k), repr(v)])).collect::<Vec<_>>(),
        }),
        Value::Object { class, fields } => json!({
            "t": "object",
            "class": &**class,
            "fields": fields.iter().map(|(name, v)| json!([&**name, repr(v)])).collect::<Vec<_>>(),
        }),
        Value::Ref(n) => json!({"t": "ref", "v": n}),
    }
}

fn encode_all(values: &[Value]) -> Vec<u8> {
    let mut encoder = Encoder::new();
    for value in values {
        encoder.write(value);
    }
    encoder.finish()
}

fn decode_all(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let mut decoder = Decoder::new(bytes);
    let mut values = Vec::new();
    while decoder.remaining() > 0 {
        values.push(decoder.read_value().map_err(|e| e.to_string())?);
    }
    Ok(values)
}

/// What hessian.js made of one case.
struct Verdict {
    theirs: Vec<u8>,
}

/// Runs every case through hessian.js and checks both directions; returns
/// hessian.js's bytes per case, or None when node is missing (skipped).
fn cross_check(cases: &[Case]) -> Option<Vec<Verdict>> {
    let mut node = peer::node()?;
    let input: Vec<Json> = cases
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "values": c.values.iter().map(repr).collect::<Vec<_>>(),
                "ours": hex(&c.wire()),
            })
        })
        .collect();
    let mut child = node
        .arg(peer::script("hessian_vectors.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // The script reads all of stdin before it writes: no deadlock.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Json::Array(input).to_string().as_bytes())
        .expect("writes the cases");
    let output = child.wait_with_output().expect("node runs");
    assert!(
        output.status.success(),
        "hessian_vectors.js failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Json> = serde_json::from_slice(&output.stdout).expect("JSON from the peer");
    assert_eq!(results.len(), cases.len());

    let mut failures = Vec::new();
    let mut verdicts = Vec::new();
    for (case, result) in cases.iter().zip(&results) {
        let name = &case.name;
        let Some(theirs) = result["theirs"].as_str() else {
            failures.push(format!(
                "{name}: hessian.js cannot encode it: {}",
                result["encode_error"]
            ));
            continue;
        };
        let theirs = unhex(theirs);
        let ours = encode_all(&case.values);
        if ours != theirs {
            failures.push(format!(
                "{name}: bytes differ\n  ours   {}\n  theirs {}",
                hex(&ours),
                hex(&theirs)
            ));
        }
        let expected: Vec<Json> = case.values.iter().map(repr).collect();
        if result["decoded"] != Json::Array(expected.clone()) {
            failures.push(format!(
                "{name}: hessian.js decodes {} differently\n  meant   {}\n  decoded {} {}",
                hex(&case.wire()),
                Json::Array(expected),
                result["decoded"],
                result["decode_error"]
            ));
        }
        for (whose, bytes) in [("hessian.js's", &theirs), ("the wire", &case.wire())] {
            match decode_all(bytes) {
                Ok(values) if values == case.values => {}
                other => failures.push(format!(
                    "{name}: we decode {whose} bytes differently: {other:?}"
                )),
            }
        }
        verdicts.push(Verdict { theirs });
    }
    let alternatives = cases.iter().filter(|c| c.wire.is_some()).count();
    eprintln!(
        "hessian.js cross-check: {} cases, all compared byte for byte, {alternatives} of them also decode a non-canonical form",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Some(verdicts)
}

fn list(type_name: Option<&str>, items: Vec<Value>) -> Value {
    Value::List {
        type_name: type_name.map(Into::into),
        items,
    }
}

fn map(type_name: Option<&str>, entries: Vec<(Value, Value)>) -> Value {
    Value::Map {
        type_name: type_name.map(Into::into),
        entries,
    }
}

fn object(class: &str, fields: Vec<(&str, Value)>) -> Value {
    Value::Object {
        class: class.into(),
        fields: fields.into_iter().map(|(n, v)| (n.into(), v)).collect(),
    }
}

fn car(color: &str, model: &str) -> Value {
    object(
        "org.apache.dubbo.samples.Car",
        vec![("color", color.into()), ("model", model.into())],
    )
}

fn value_cases() -> Vec<Case> {
    let mut cases = vec![
        one("null", Value::Null),
        one("true", true),
        one("false", false),
    ];
    let ints = [
        0,
        -16,
        47,
        48,
        -17,
        -2048,
        2047,
        2048,
        -2049,
        262143,
        -262144,
        262144,
        -262145,
        i32::MIN,
        i32::MAX,
    ];
    cases.extend(ints.map(|v| one(format!("int {v}"), v)));
    let longs = [
        0,
        -8,
        15,
        16,
        -9,
        -2048,
        2047,
        2048,
        -2049,
        262143,
        -262144,
        262144,
        i64::from(i32::MIN),
        i64::from(i32::MAX),
        1 << 31,
        -(1 << 31) - 1,
        (1 << 53) + 1,
        i64::MIN,
        i64::MAX,
    ];
    cases.extend(longs.map(|v| one(format!("long {v}"), v)));
    let doubles = [
        0.0,
        1.0,
        127.0,
        -128.0,
        128.0,
        32767.0,
        -32768.0,
        32768.0,
        100_000.0,
        3e9,
        0.5,
        12.25,
        0.1,
        -1.5,
        2_147_483.647,
        0.0001220703125,
        1234.5678,
        1e300,
        -1e-300,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    cases.extend(doubles.map(|v| one(format!("double {v:e}"), v)));

    let strings = [
        String::new(),
        "a".into(),
        "\0".into(),
        "é€😀".into(),
        "你好, Dubbo 🚀".into(),
        "x".repeat(31),
        "x".repeat(32),
        "x".repeat(1023),
        "x".repeat(1024),
        "x".repeat(0x8000),
        "x".repeat(0x8001),
        format!("{}😀b", "a".repeat(0x7fff)),
        "😀".repeat(20_000),
    ];
    cases.extend(strings.map(|s| {
        let units = s.encode_utf16().count();
        one(format!("string of {units} units"), s)
    }));

    for len in [0usize, 15, 16, 1023, 1024, 4093, 4094, 10_000] {
        let data = (0..len).map(|i| (i * 7) as u8).collect();
        cases.push(one(format!("binary of {len} bytes"), Value::Binary(data)));
    }
    for ms in [
        0,
        894_621_091_000,
        894_621_060_000,
        -60_000,
        1_700_000_000_123,
    ] {
        cases.push(one(format!("date {ms}"), Value::Date(ms)));
    }

    let ints = |n: i32| (0..n).map(Value::Int).collect::<Vec<_>>();
    let typed_ints = list(Some("[int"), ints(8));
    cases.extend([
        one("empty list", list(None, vec![])),
        one("list of 2", list(None, ints(2))),
        one("list of 8", list(None, ints(8))),
        one("typed list of 2", list(Some("[int"), ints(2))),
        one("typed list of 8", typed_ints.clone()),
        one(
            "a type named twice is referred to by index",
            list(
                None,
                vec![typed_ints.clone(), typed_ints, list(Some("[int"), vec![])],
            ),
        ),
        one(
            "nested lists",
            list(
                None,
                vec![list(None, vec![list(None, vec!["deep".into()])])],
            ),
        ),
        one(
            "map with string keys",
            map(
                None,
                vec![("a".into(), 1.into()), ("b".into(), Value::Null)],
            ),
        ),
        one(
            "map with int and long keys",
            map(
                None,
                vec![(1.into(), "fee".into()), (Value::Long(2), "fie".into())],
            ),
        ),
        one(
            "typed map",
            map(
                Some("java.util.TreeMap"),
                vec![("k".into(), Value::Double(0.5))],
            ),
        ),
        one(
            "typed maps share the type name",
            list(
                None,
                vec![
                    map(Some("java.util.TreeMap"), vec![]),
                    map(Some("java.util.TreeMap"), vec![("x".into(), true.into())]),
                ],
            ),
        ),
        one("object", car("red", "corvette")),
        case(
            "two objects of one class in one body",
            vec![car("red", "corvette"), car("green", "civic")],
        ),
        one(
            "object with every field type",
            object(
                "org.apache.dubbo.samples.Everything",
                vec![
                    ("flag", true.into()),
                    ("count", (-2049).into()),
                    ("total", Value::Long(1 << 40)),
                    ("ratio", 0.25.into()),
                    ("label", "é😀".into()),
                    ("blob", Value::Binary(vec![0, 255])),
                    ("when", Value::Date(1_700_000_000_123)),
                    ("tags", list(Some("java.util.LinkedList"), vec!["a".into()])),
                    ("attrs", map(None, vec![("k".into(), "v".into())])),
                    ("owner", car("white", "beetle")),
                    ("nothing", Value::Null),
                ],
            ),
        ),
        one(
            "seventeen classes (the long instance form)",
            list(
                None,
                (0..17)
                    .map(|i| object(&format!("org.example.C{i}"), vec![("n", i.into())]))
                    .collect(),
            ),
        ),
        one(
            "repeated object reference",
            list(
                None,
                vec![car("red", "corvette"), Value::Ref(1), Value::Ref(1)],
            ),
        ),
        one(
            "a list that contains itself",
            list(None, vec!["self".into(), Value::Ref(0)]),
        ),
        one(
            "repeated map reference",
            list(
                None,
                vec![map(None, vec![("k".into(), "v".into())]), Value::Ref(1)],
            ),
        ),
        one(
            "object referring to itself",
            object("org.example.Node", vec![("next", Value::Ref(0))]),
        ),
    ]);
    cases
}

/// Valid encodings Java never writes for these values but other peers may:
/// longer forms, small chunks, the long instance form.
fn alternative_cases() -> Vec<Case> {
    let object_bytes = || {
        let mut bytes = vec![b'C', 0x0b];
        bytes.extend_from_slice(b"example.Car");
        bytes.extend([0x91, 0x05]);
        bytes.extend_from_slice(b"color");
        bytes.extend([b'O', 0x90, 0x03]);
        bytes.extend_from_slice(b"red");
        bytes
    };
    vec![
        alternative("int 1 in 5 bytes", 1, &[b'I', 0, 0, 0, 1]),
        alternative("int -1 in 2 bytes", -1, &[0xc7, 0xff]),
        alternative(
            "long 1 in 9 bytes",
            Value::Long(1),
            &[b'L', 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        alternative("long 5 as an int", Value::Long(5), &[0x59, 0, 0, 0, 5]),
        alternative("long -1 in 3 bytes", Value::Long(-1), &[0x3b, 0xff, 0xff]),
        alternative(
            "double 0.5 in 9 bytes",
            0.5,
            &[b'D', 0x3f, 0xe0, 0, 0, 0, 0, 0, 0],
        ),
        alternative("double 2.0 as mills", 2.0, &[0x5f, 0, 0, 0x07, 0xd0]),
        alternative("double 1.0 as a byte", 1.0, &[0x5d, 0x01]),
        alternative("string in an S chunk", "a", &[b'S', 0, 1, b'a']),
        alternative(
            "string in two chunks",
            "a😀",
            &[b'R', 0, 1, b'a', 0x02, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80],
        ),
        alternative(
            "binary in a B chunk",
            Value::Binary(vec![1, 2]),
            &[b'B', 0, 2, 1, 2],
        ),
        alternative(
            "binary in two chunks",
            Value::Binary(vec![1, 2]),
            &[b'A', 0, 1, 1, 0x21, 2],
        ),
        alternative(
            "date on a minute in 9 bytes",
            Value::Date(60_000),
            &[0x4a, 0, 0, 0, 0, 0, 0, 0xea, 0x60],
        ),
        alternative(
            "untyped list with a length",
            list(None, vec![1.into(), 2.into()]),
            &[0x58, 0x92, 0x91, 0x92],
        ),
        alternative(
            "typed list with a length",
            list(Some("[int"), vec![1.into(), 2.into()]),
            &[b'V', 0x04, b'[', b'i', b'n', b't', 0x92, 0x91, 0x92],
        ),
        alternative(
            "object in the long instance form",
            object("example.Car", vec![("color", "red".into())]),
            &object_bytes(),
        ),
    ]
}

#[test]
fn hessian_js_and_we_agree_on_every_value_type() {
    let mut cases = value_cases();
    cases.extend(alternative_cases());
    cross_check(&cases);
}

fn say_hello() -> Request {
    let mut request = Request::new(
        DEMO,
        "sayHello",
        "Ljava/lang/String;",
        vec!["Aeraki".into()],
    );
    request.attachments = [
        ("path", DEMO),
        ("interface", DEMO),
        ("version", "0.0.0"),
        ("group", "blue"),
    ]
    .into_iter()
    .collect();
    request
}

fn order() -> Request {
    let mut request = Request::new(
        "org.apache.dubbo.samples.OrderService",
        "order",
        "Lorg/apache/dubbo/samples/Car;[Lorg/apache/dubbo/samples/Car;Ljava/util/Map;JI[B",
        vec![
            car("red", "corvette"),
            list(
                Some("[org.apache.dubbo.samples.Car"),
                vec![car("green", "civic"), Value::Ref(0)],
            ),
            map(
                Some("java.util.TreeMap"),
                vec![("when".into(), Value::Date(60_000))],
            ),
            Value::Long(1 << 40),
            Value::Int(-1),
            Value::Binary(vec![1, 2, 3]),
        ],
    );
    request.version = "1.0.0".into();
    request.attachments = Attachments(vec![
        (
            "interface".into(),
            "org.apache.dubbo.samples.OrderService".into(),
        ),
        ("timeout".into(), Value::Int(3000)),
        ("car".into(), car("white", "beetle")),
        ("first".into(), Value::Ref(0)),
    ]);
    request
}

/// A request's body as the sequence of values Dubbo writes into it.
fn body_values(request: &Request) -> Vec<Value> {
    let names = [
        &request.dubbo_version,
        &request.service,
        &request.version,
        &request.method,
        &request.parameter_types,
    ];
    let mut values: Vec<Value> = names.into_iter().map(|s| s.as_str().into()).collect();
    values.extend(request.args.iter().cloned());
    let entries = request
        .attachments
        .iter()
        .map(|(k, v)| (k.into(), v.clone()))
        .collect();
    values.push(map(None, entries));
    values
}

#[test]
fn request_bodies_written_by_hessian_js_decode() {
    let requests = [say_hello(), order()];
    let cases: Vec<Case> = requests
        .iter()
        .map(|r| case(format!("request {}", r.method), body_values(r)))
        .collect();
    let Some(verdicts) = cross_check(&cases) else {
        return;
    };
    for (request, verdict) in requests.iter().zip(verdicts) {
        assert_eq!(request.encode()[..], encode_all(&body_values(request))[..]);
        assert_eq!(Request::decode(&verdict.theirs).expect("decodes"), *request);
        let head = RequestHead::decode(verdict.theirs.into()).expect("head decodes");
        assert_eq!(head.service, request.service);
        assert_eq!(head.method, request.method);
        assert_eq!(head.version, request.version);
        assert_eq!(head.arg_count, request.args.len());
        assert_eq!(head.attachments, request.attachments);
    }
}
