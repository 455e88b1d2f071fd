use super::*;
use crate::thrift::hello::SayHello;
use crate::thrift::{Encoding, Transport};

#[test]
fn thrift_exports_method_and_multiplexed_service_only() {
    let mut args = SayHello::default();
    args.context.insert("user".into(), "admin".into());
    let plain = args.encode_call(Transport::Framed, Encoding::Binary, None, 42);
    let view = thrift(&plain);
    assert_eq!(view.request_id.as_deref(), Some("42"));
    assert_eq!(
        view.attributes.iter().collect::<Vec<_>>(),
        vec![("method", "sayHello")]
    );

    let multiplexed = args.encode_call(
        Transport::Framed,
        Encoding::Compact,
        Some("HelloService"),
        1,
    );
    let view = thrift(&multiplexed);
    assert_eq!(view.attributes.get("Method"), Some("sayHello"));
    assert_eq!(view.attributes.get("service"), Some("HelloService"));
}

#[test]
fn http_exports_pseudo_headers_and_lower_cased_headers() {
    let mut request = http1::Request::new("GET", "/hotels?x=1");
    request.headers.append("Host", "travels.uk");
    request
        .headers
        .append("User-Agent", "Mozilla/5.0 Firefox/120.0");
    request.headers.append("x-request-id", "r-7");
    request.headers.append("X-Dup", "first");
    request.headers.append("x-dup", "second");
    let view = http(&request);
    assert_eq!(view.request_id.as_deref(), Some("r-7"));
    let a = &view.attributes;
    assert_eq!(a.get(":method"), Some("GET"));
    assert_eq!(a.get(":path"), Some("/hotels?x=1"));
    assert_eq!(a.get(":authority"), Some("travels.uk"));
    assert_eq!(a.get("user-agent"), Some("Mozilla/5.0 Firefox/120.0"));
    assert_eq!(a.get("x-dup"), Some("first"));
}

mod model {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use crate::attributes::Attributes;
    use crate::http1::Headers;

    fn name() -> impl Strategy<Value = String> {
        "[a-cA-C:@-]{1,4}"
    }

    proptest! {
        /// The packed attributes behave as a map from lower-cased names in
        /// which the first value set wins.
        #[test]
        fn attributes_are_a_first_wins_lower_case_map(
            pairs in prop::collection::vec((name(), "[a-z0-9 ]{0,6}"), 0..24),
            probes in prop::collection::vec(name(), 0..8),
        ) {
            let mut packed = Attributes::default();
            let mut model = BTreeMap::new();
            for (name, value) in &pairs {
                packed.insert(name, value);
                model.entry(name.to_ascii_lowercase()).or_insert_with(|| value.clone());
            }
            let expected: Vec<(&str, &str)> =
                model.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(packed.iter().collect::<Vec<_>>(), expected);
            prop_assert_eq!(packed.len(), model.len());
            for probe in &probes {
                prop_assert_eq!(
                    packed.get(probe),
                    model.get(&probe.to_ascii_lowercase()).map(String::as_str)
                );
            }
        }

        /// The packed headers behave as a list of fields: appended in
        /// order, set replacing every field of a name, removal by name
        /// whatever its case.
        #[test]
        fn headers_are_an_ordered_field_list(
            steps in prop::collection::vec((0u8..3, name(), "[a-z0-9]{0,5}"), 0..24),
        ) {
            let mut packed = Headers::new();
            let mut model: Vec<(String, String)> = Vec::new();
            for (op, name, value) in &steps {
                let same = |n: &String| n.eq_ignore_ascii_case(name);
                match op {
                    0 => {
                        packed.append(name, value);
                        model.push((name.clone(), value.clone()));
                    }
                    1 => {
                        packed.set(name, value);
                        model.retain(|(n, _)| !same(n));
                        model.push((name.clone(), value.clone()));
                    }
                    _ => {
                        packed.remove(name);
                        model.retain(|(n, _)| !same(n));
                    }
                }
                let first = model.iter().find(|(n, _)| same(n)).map(|(_, v)| v.as_str());
                prop_assert_eq!(packed.get(name), first);
            }
            let expected: Vec<(&str, &str)> =
                model.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            prop_assert_eq!(packed.iter().collect::<Vec<_>>(), expected);
        }
    }
}
