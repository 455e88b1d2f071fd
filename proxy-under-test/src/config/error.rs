//! The two errors of configuration: [`ConfigError`] when YAML does not parse
//! into the CRD types, [`CompileError`] when valid objects cannot become a
//! route table. Both read like compiler diagnostics: where, then why, lower
//! case, values quoted, no trailing period.
//!
//! [`At`] is the one place that builds field paths
//! (`spec.routes[0].route[1].destination.subset`), so every error spells them
//! the same way.

use std::fmt;

use meshbench_wire::Protocol;

/// YAML or JSON that does not parse into the expected objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// 1-based line of the offending node, when the parser knows it.
    pub line: Option<u64>,
    /// 1-based column of the offending node, when the parser knows it.
    pub column: Option<u64>,
    /// What is wrong, without the position.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `line:column: message`, so that a caller prefixing the file name gets
    /// the `file:line:column:` form editors jump to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{line}:{column}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl From<serde_saphyr::Error> for ConfigError {
    fn from(error: serde_saphyr::Error) -> Self {
        let location = error.location();
        let plain = error.without_snippet().to_string();
        // The plain rendering appends the position; it is kept apart here.
        let message = match plain.split_once(" at line ") {
            Some((message, _)) if location.is_some() => message.to_owned(),
            _ => plain,
        };
        ConfigError {
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message,
        }
    }
}

/// Valid objects that cannot become a route table, and where.
///
/// Displays as `MetaRouter meta-thrift/route: spec.routes[0].route[1].destination.subset:
/// subset 'v3' is not defined by any DestinationRule for <host>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{object}: {path}: {reason}")]
pub struct CompileError {
    /// `Kind namespace/name`, or `endpoint list`.
    pub object: String,
    /// The field path inside the object, as `kubectl explain` spells it.
    pub path: String,
    /// Why it cannot compile.
    pub reason: Reason,
}

/// Why an object cannot compile. Each variant is one rule of the compiler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// A host names no service of the endpoint list, even after short-name
    /// expansion; the bench refuses config it would silently drop.
    #[error("host '{0}' is not a service of the endpoint list")]
    UnknownHost(String),
    /// A destination names a subset no DestinationRule defines (Istio and
    /// Aeraki would blackhole the traffic; the bench refuses).
    #[error("subset '{subset}' is not defined by any DestinationRule for {host}")]
    UnknownSubset {
        /// The subset.
        subset: String,
        /// The service FQDN.
        host: String,
    },
    /// A port differs from the service's only port in the endpoint list.
    #[error("port {port} is not the port of {host} ({expected})")]
    WrongPort {
        /// The port written.
        port: u32,
        /// The service FQDN.
        host: String,
        /// The service port.
        expected: u16,
    },
    /// A routing object of one kind names a service that kind cannot route.
    #[error("{host} speaks {protocol}: {hint}")]
    WrongProtocol {
        /// The service FQDN.
        host: String,
        /// What it speaks.
        protocol: Protocol,
        /// Which object kind routes it instead.
        hint: &'static str,
    },
    /// A route sends traffic to a service speaking another protocol than the
    /// listener the route belongs to.
    #[error("destination {host} speaks {protocol}, not {listener}")]
    DestinationProtocol {
        /// The destination FQDN.
        host: String,
        /// What it speaks.
        protocol: Protocol,
        /// What the listener speaks.
        listener: Protocol,
    },
    /// A section of a VirtualService that none of its hosts can use.
    #[error("no host of this VirtualService speaks {0}")]
    UnusedSection(Protocol),
    /// Two objects route the same host; Aeraki picks one at random, Istio the
    /// oldest: the bench refuses to guess.
    #[error("host {host} is already configured by {other}")]
    Duplicate {
        /// The service FQDN.
        host: String,
        /// `Kind namespace/name` of the first object.
        other: String,
    },
    /// A name that must be unique appears twice.
    #[error("'{0}' is defined twice")]
    DefinedTwice(String),
    /// A valid field meshproxy does not implement.
    #[error("not supported by meshproxy")]
    Unsupported,
    /// A valid value meshproxy does not implement.
    #[error("'{0}' is not supported by meshproxy")]
    UnsupportedValue(String),
    /// A required field is absent or empty.
    #[error("required")]
    Missing,
    /// Two fields that exclude each other are both set.
    #[error("exclusive with '{0}'")]
    Exclusive(&'static str),
    /// Two or more destinations whose weights are all 0: no traffic could go anywhere.
    #[error("weights sum to 0")]
    WeightsSumToZero,
    /// The weights overflow the 32-bit total Envoy uses.
    #[error("weights sum to more than {}", u32::MAX)]
    WeightsOverflow,
    /// A regex that does not compile.
    #[error("invalid regex '{0}'")]
    InvalidRegex(String),
    /// A duration that is not a Go duration string.
    #[error("invalid duration '{0}': expected a Go duration such as '2s', '0.5s' or '100ms'")]
    InvalidDuration(String),
    /// A `grpcStatus` that names no gRPC status.
    #[error("'{0}' is not a gRPC status name (such as UNAVAILABLE or DEADLINE_EXCEEDED)")]
    UnknownGrpcStatus(String),
    /// A percentage outside [0, 100].
    #[error("percentage {0} is outside [0, 100]")]
    PercentOutOfRange(f64),
    /// Set although the field it qualifies is not.
    #[error("set without '{0}'")]
    Orphan(&'static str),
    /// More than one TCP route: with one port per service, all but the first are unreachable.
    #[error("only one tcp route is supported: with one port per service the others never match")]
    TooManyTcpRoutes,
    /// The object applies only to gateways other than the mesh.
    #[error("applies only to gateways {0}, and meshproxy routes as the 'mesh' gateway")]
    GatewaysOnly(String),
    /// The route-policies annotation does not parse.
    #[error("invalid route policies: {0}")]
    InvalidPolicies(String),
    /// The route-policies annotation names a route the MetaRouter does not have.
    #[error("no route named '{0}'")]
    UnknownRoute(String),
    /// The route-policies annotation on a kind that has native fields for it.
    #[error("the route-policies extension applies to MetaRouter only")]
    MisplacedExtension,
}

/// Where in which object: builds field paths and the errors that carry them.
#[derive(Debug, Clone)]
pub(crate) struct At<'a> {
    object: &'a str,
    path: String,
}

impl<'a> At<'a> {
    /// The root of `object` (`Kind namespace/name`).
    pub(crate) fn root(object: &'a str) -> Self {
        At {
            object,
            path: String::new(),
        }
    }

    /// A named field below this one: `spec` then `routes` gives `spec.routes`.
    pub(crate) fn field(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        };
        At { path, ..*self }
    }

    /// An element of a list: `routes[0]`.
    pub(crate) fn index(&self, index: usize) -> Self {
        At {
            path: format!("{}[{index}]", self.path),
            ..*self
        }
    }

    /// A map entry: `attributes.method`, or `annotations["a/b"]` when the
    /// key is not a plain word.
    pub(crate) fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if plain {
            self.field(key)
        } else {
            At {
                path: format!("{}[\"{key}\"]", self.path),
                ..*self
            }
        }
    }

    /// The error `reason`, here.
    pub(crate) fn error(&self, reason: Reason) -> CompileError {
        CompileError {
            object: self.object.to_owned(),
            path: self.path.clone(),
            reason,
        }
    }
}
