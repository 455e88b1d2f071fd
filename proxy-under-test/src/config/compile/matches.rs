//! `StringMatch` -> [`StringMatcher`]: the one translation both MetaRouter
//! attributes and VirtualService headers, uri, method and authority use.
//!
//! "Present" follows Aeraki's translator and Envoy's legacy header matcher:
//! a missing or empty match, `exact: ""` (Envoy treats an empty exact value
//! as a presence check) and `regex: "*"` (Aeraki's `isCatchAllHeaderMatch`).

use regex::Regex;

use super::{At, CompileError, Reason};
use crate::config::objects::StringMatch;
use crate::route::{Condition, StringMatcher};

/// The condition that attribute `attribute` matches `string_match` (written
/// at `at`), or does not when `invert`.
pub(super) fn condition(
    attribute: &str,
    string_match: Option<&StringMatch>,
    invert: bool,
    at: &At,
) -> Result<Condition, CompileError> {
    Ok(Condition {
        attribute: attribute.to_ascii_lowercase(),
        matcher: matcher(string_match, false, at)?,
        invert,
    })
}

/// Translates one `StringMatch`; `ignore_case` (Istio's `ignoreUriCase`)
/// turns exact and prefix matches into case-insensitive regexes.
///
/// # Errors
/// Two of exact/prefix/regex set, or a regex that does not compile.
pub(super) fn matcher(
    string_match: Option<&StringMatch>,
    ignore_case: bool,
    at: &At,
) -> Result<StringMatcher, CompileError> {
    let Some(m) = string_match else {
        return Ok(StringMatcher::Present);
    };
    let set: Vec<&'static str> = [
        ("exact", m.exact.is_some()),
        ("prefix", m.prefix.is_some()),
        ("regex", m.regex.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if let [first, second, ..] = set[..] {
        return Err(at.field(second).error(Reason::Exclusive(first)));
    }
    Ok(match (&m.exact, &m.prefix, &m.regex) {
        (Some(exact), _, _) if exact.is_empty() => StringMatcher::Present,
        (Some(exact), _, _) if ignore_case => anchored(&regex::escape(exact), true, at)?,
        (Some(exact), _, _) => StringMatcher::Exact(exact.clone()),
        (_, Some(prefix), _) if ignore_case => {
            anchored(&format!("{}.*", regex::escape(prefix)), true, at)?
        }
        (_, Some(prefix), _) => StringMatcher::Prefix(prefix.clone()),
        (_, _, Some(regex)) if regex == "*" => StringMatcher::Present,
        (_, _, Some(regex)) => anchored(regex, ignore_case, at)?,
        (None, None, None) => StringMatcher::Present,
    })
}

/// A whole-value regex (Envoy's `safe_regex` is a full match), stored as
/// `^(?:…)$` as [`StringMatcher::Regex`] expects.
fn anchored(source: &str, ignore_case: bool, at: &At) -> Result<StringMatcher, CompileError> {
    let flags = if ignore_case { "(?i)" } else { "" };
    Regex::new(&format!("^(?:{flags}{source})$"))
        .map(StringMatcher::Regex)
        .map_err(|_| {
            at.field("regex")
                .error(Reason::InvalidRegex(source.to_owned()))
        })
}
