//! JVM parameter descriptors ("Ljava/lang/String;[IJ"): a Dubbo request names
//! its parameter types this way, and the descriptor is the only place that
//! says how many arguments follow. Counting them is how a proxy skips the
//! arguments to reach the attachments.

use crate::{DecodeError, Protocol};

/// The number of parameters in a JVM method descriptor's parameter list
/// (without the parentheses): `""` has none, `"Ljava/lang/String;[[IJ"` three.
///
/// Primitives are `Z B C S I J F D` and `V` (Dubbo's pattern accepts it too),
/// classes `L` name `;`, and arrays any number of `[` before either.
///
/// # Errors
/// `Invalid` for anything else, quoting the descriptor and the offset.
pub fn parameter_count(descriptor: &str) -> Result<usize, DecodeError> {
    let bytes = descriptor.as_bytes();
    let mut count = 0;
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        while bytes.get(at) == Some(&b'[') {
            at += 1;
        }
        at = match bytes.get(at) {
            Some(b'Z' | b'B' | b'C' | b'S' | b'I' | b'J' | b'F' | b'D' | b'V') => at + 1,
            Some(b'L') => class_end(bytes, at)
                .ok_or_else(|| bad(descriptor, start, "empty or unterminated class name"))?,
            Some(other) => {
                return Err(bad(
                    descriptor,
                    at,
                    &format!("unexpected {:?}", char::from(*other)),
                ));
            }
            None => return Err(bad(descriptor, at, "array without an element type")),
        };
        count += 1;
    }
    Ok(count)
}

/// The offset after the `;` closing the class name that starts with `L` at `at`.
fn class_end(bytes: &[u8], at: usize) -> Option<usize> {
    let name = bytes.get(at + 1..)?;
    let semicolon = name.iter().position(|&b| b == b';')?;
    (semicolon > 0).then_some(at + 1 + semicolon + 1)
}

fn bad(descriptor: &str, at: usize, what: &str) -> DecodeError {
    DecodeError::invalid(
        Protocol::Dubbo,
        format!("bad parameter descriptor {descriptor:?}: {what} at offset {at}"),
    )
}
