//! The Istio release whose istiod defaults the translation writes. Istio's
//! defaults move between releases (each from `git log` of istiod's sources,
//! `docs/envoy/README.md` §6.2), and a user asks of the release they run:
//! `--proxy envoy:istio=1.23`.

use std::fmt;
use std::str::FromStr;

/// An Istio minor release, 1.22 to 1.28.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Istio {
    minor: u8,
}

impl Istio {
    /// The releases whose differences are modelled.
    const MODELLED: std::ops::RangeInclusive<u8> = 22..=28;

    /// The newest release modelled, and the default.
    pub const LATEST: Istio = Istio { minor: 28 };

    /// Before 1.24 the default retry policy also retried an application's
    /// 503 (`retriable_status_codes: [503]`; istio#52111 removed it behind
    /// `EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY`).
    pub fn retries_503_by_default(self) -> bool {
        self.minor < 24
    }

    /// Since 1.23 the `previous_hosts` retry predicate is left out for
    /// destinations that hash consistently.
    pub fn hashing_drops_previous_hosts(self) -> bool {
        self.minor >= 23
    }

    /// Since 1.28 mirrored requests keep their Host
    /// (`disable_shadow_host_suffix_append`, `DISABLE_SHADOW_HOST_SUFFIX`);
    /// before, Envoy appends `-shadow`.
    pub fn mirrors_keep_the_host(self) -> bool {
        self.minor >= 28
    }
}

impl Default for Istio {
    fn default() -> Self {
        Istio::LATEST
    }
}

impl fmt::Display for Istio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

impl FromStr for Istio {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let modelled = || {
            format!(
                "Istio {text} is not modelled: 1.{} to 1.{}",
                Istio::MODELLED.start(),
                Istio::MODELLED.end()
            )
        };
        let minor = text
            .strip_prefix("1.")
            .map(|rest| rest.split('.').next().unwrap_or(rest))
            .and_then(|minor| minor.parse::<u8>().ok())
            .ok_or_else(modelled)?;
        match Istio::MODELLED.contains(&minor) {
            true => Ok(Istio { minor }),
            false => Err(modelled()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_within_the_modelled_range() {
        assert_eq!(
            "1.24".parse::<Istio>().map(|i| i.to_string()),
            Ok("1.24".into())
        );
        assert_eq!(
            "1.23.4".parse::<Istio>().map(|i| i.to_string()),
            Ok("1.23".into())
        );
        assert!("1.21".parse::<Istio>().is_err());
        assert!("2.0".parse::<Istio>().is_err());
        assert!("latest".parse::<Istio>().is_err());
    }

    #[test]
    fn defaults_change_where_istiod_changed_them() {
        let at = |v: &str| v.parse::<Istio>().expect("modelled");
        assert!(at("1.23").retries_503_by_default());
        assert!(!at("1.24").retries_503_by_default());
        assert!(!at("1.22").hashing_drops_previous_hosts());
        assert!(at("1.23").hashing_drops_previous_hosts());
        assert!(!at("1.27").mirrors_keep_the_host());
        assert!(Istio::LATEST.mirrors_keep_the_host());
    }
}
