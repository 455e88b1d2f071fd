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
