//! Route selection, a pure function of the table and the request's
//! attributes: routes in order, first match wins; a route's match blocks are
//! ORed, the conditions within a block ANDed; names case-insensitive, values
//! exact.

use meshbench_wire::attributes::Attributes;

use super::{Condition, Listener, Match, Route, StringMatcher};

/// The first route of `listener` that matches `attributes`, if any.
pub fn select<'a>(listener: &'a Listener, attributes: &Attributes) -> Option<&'a Route> {
    listener
        .routes
        .iter()
        .find(|route| route.matches(attributes))
}

impl Route {
    /// Whether any of the route's match blocks holds (or it has none).
    pub fn matches(&self, attributes: &Attributes) -> bool {
        self.matches.is_empty() || self.matches.iter().any(|m| m.holds(attributes))
    }
}

impl Match {
    /// Whether every condition holds.
    pub fn holds(&self, attributes: &Attributes) -> bool {
        self.conditions.iter().all(|c| c.holds(attributes))
    }
}

impl Condition {
    /// Whether the attribute satisfies the matcher (or, inverted, does not).
    pub fn holds(&self, attributes: &Attributes) -> bool {
        let found = attributes
            .get(&self.attribute)
            .is_some_and(|value| self.matcher.accepts(value));
        found != self.invert
    }
}

impl StringMatcher {
    /// Whether a present value is accepted.
    pub fn accepts(&self, value: &str) -> bool {
        match self {
            StringMatcher::Exact(expected) => value == expected,
            StringMatcher::Prefix(prefix) => value.starts_with(prefix.as_str()),
            StringMatcher::Regex(regex) => regex.is_match(value),
            StringMatcher::Present => true,
        }
    }
}

#[cfg(test)]
mod tests;
