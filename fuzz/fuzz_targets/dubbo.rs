//! Dubbo: frames cut from the input, each body read as a request, a
//! request head, a response and an event; and the input as one hessian2
//! value. Errors are fine; a panic or a hang is the finding.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use meshbench_wire::Limits;
use meshbench_wire::dubbo::{self, DubboCodec, RequestHead};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let _ = dubbo::hessian::decode(data);
    let _ = dubbo::Request::decode(data);
    let _ = RequestHead::decode(Bytes::copy_from_slice(data));
    let _ = dubbo::Response::decode(data);
    let _ = dubbo::decode_event(data);
    let mut codec = DubboCodec::new().with_limits(Limits::with_max_frame(1 << 20));
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let Ok(head) = RequestHead::from_frame(&frame) {
            let _ = meshbench_wire::attributes::dubbo(1, &head);
        }
        let _ = dubbo::Request::from_frame(&frame);
        let _ = dubbo::Reply::from_frame(&frame);
    }
});
