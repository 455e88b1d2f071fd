//! Timeouts, retries, faults and percentages, shared by the VirtualService
//! fields and the MetaRouter extension that borrows their shapes; and the
//! extension itself, the `meshbench.io/route-policies` annotation.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::{At, CompileError, Reason};
use crate::config::duration as go_duration;
use crate::config::objects::aeraki::RoutePolicy;
use crate::config::objects::istio::{FaultAbort, HttpFault, HttpRetry};
use crate::config::objects::{Metadata, Object, Percent};
use crate::route::{Abort, Fault, RetryPolicy};
use meshbench_wire::Protocol;
use meshbench_wire::grpc::Code;

/// The annotation that gives MetaRouter routes the timeout, retry and fault
/// policies Aeraki's MetaRouter has no fields for: a YAML (or JSON) map from
/// route name to `{timeout, retries, fault}`, each shaped as in a
/// VirtualService.
///
/// ```yaml
/// metadata:
///   annotations:
///     meshbench.io/route-policies: |
///       traffic-split:
///         timeout: 2s
///         retries: { attempts: 2, perTryTimeout: 500ms, retryOn: "5xx,connect-failure" }
///         fault: { abort: { httpStatus: 500, percentage: { value: 10 } } }
/// ```
pub use meshbench_mesh_api::aeraki::ROUTE_POLICIES_ANNOTATION;

/// Everything in a million: the denominator of every fraction in the table.
const MILLION: u32 = 1_000_000;

/// An object that relies on a meshbench extension, so that a report can say
/// the configuration would not behave the same under Aeraki or Istio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionUse {
    /// `Kind namespace/name`.
    pub object: String,
    /// The extension, e.g. [`ROUTE_POLICIES_ANNOTATION`].
    pub extension: &'static str,
}

impl fmt::Display for ExtensionUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} uses {}", self.object, self.extension)
    }
}

/// The meshbench extensions `objects` rely on, in object order.
pub fn extensions_used(objects: &[Object]) -> Vec<ExtensionUse> {
    objects
        .iter()
        .filter(|o| {
            o.metadata()
                .annotations
                .contains_key(ROUTE_POLICIES_ANNOTATION)
        })
        .map(|o| ExtensionUse {
            object: o.describe(),
            extension: ROUTE_POLICIES_ANNOTATION,
        })
        .collect()
}

/// The route policies of a MetaRouter, by route name.
///
/// # Errors
/// The annotation does not parse, or names a route not in `route_names`.
pub(super) fn route_policies(
    metadata: &Metadata,
    route_names: &[&str],
    root: &At,
) -> Result<BTreeMap<String, RoutePolicy>, CompileError> {
    let Some(text) = metadata.annotations.get(ROUTE_POLICIES_ANNOTATION) else {
        return Ok(BTreeMap::new());
    };
    let at = annotation_at(root);
    let policies: BTreeMap<String, RoutePolicy> = crate::config::objects::parse_yaml(text)
        .map_err(|e| at.error(Reason::InvalidPolicies(e.to_string())))?;
    if let Some(unknown) = policies
        .keys()
        .find(|name| !route_names.contains(&name.as_str()))
    {
        return Err(at.key(unknown).error(Reason::UnknownRoute(unknown.clone())));
    }
    Ok(policies)
}

/// Where the route-policies annotation of the object at `root` is.
pub(super) fn annotation_at<'a>(root: &At<'a>) -> At<'a> {
    root.field("metadata")
        .field("annotations")
        .key(ROUTE_POLICIES_ANNOTATION)
}

/// Refuses the route-policies annotation on the kinds that have native fields.
pub(super) fn check_extension_absent(metadata: &Metadata, root: &At) -> Result<(), CompileError> {
    if metadata.annotations.contains_key(ROUTE_POLICIES_ANNOTATION) {
        let at = annotation_at(root);
        return Err(at.error(Reason::MisplacedExtension));
    }
    Ok(())
}

/// A Go duration at `at`.
pub(super) fn duration(text: &str, at: &At) -> Result<Duration, CompileError> {
    go_duration::parse(text).ok_or_else(|| at.error(Reason::InvalidDuration(text.to_owned())))
}

/// A route `timeout`: absent or `0s` means none (Istio disables the
/// timeout with 0).
pub(super) fn timeout(text: Option<&str>, at: &At) -> Result<Option<Duration>, CompileError> {
    match text {
        Some(text) => Ok(Some(duration(text, at)?).filter(|d| !d.is_zero())),
        None => Ok(None),
    }
}

/// A VirtualService route's `retries`, as Istio converts them
/// (`retry.ConvertPolicy`): absent, Istio's default policy; `attempts: 0`,
/// none; otherwise `attempts` retries on `retryOn` (absent: Istio's default
/// conditions), where a number is a retriable status code.
pub(super) fn istio_retries(
    retry: Option<&HttpRetry>,
    at: &At,
) -> Result<Option<RetryPolicy>, CompileError> {
    match retry {
        None => Ok(Some(RetryPolicy::istio_default())),
        Some(retry) => retries(Some(retry), at),
    }
}

/// Written `retries`: none without the object or with `attempts: 0`;
/// `retryOn` split on commas, numbers taken as retriable status codes.
pub(super) fn retries(
    retry: Option<&HttpRetry>,
    at: &At,
) -> Result<Option<RetryPolicy>, CompileError> {
    let Some(retry) = retry.filter(|r| r.attempts > 0) else {
        return Ok(None);
    };
    let per_try_timeout = timeout(retry.per_try_timeout.as_deref(), &at.field("perTryTimeout"))?;
    let mut policy = RetryPolicy {
        attempts: retry.attempts,
        per_try_timeout,
        ..RetryPolicy::istio_default()
    };
    if let Some(written) = retry.retry_on.as_deref().filter(|r| !r.trim().is_empty()) {
        let (conditions, codes) = meshbench_mesh_api::istio::parse_retry_on(written);
        policy.retry_on = conditions;
        policy.retriable_status_codes = codes;
    }
    Ok(Some(policy))
}

/// `fault`: a delay needs `fixedDelay`, an abort `httpStatus` or, on a gRPC
/// service, `grpcStatus` (a canonical name, as Istio takes it); each share is
/// `percentage.value` (or the delay's deprecated integer `percent`), 100 %
/// when absent.
pub(super) fn fault(
    fault: Option<&HttpFault>,
    protocol: Protocol,
    at: &At,
) -> Result<Option<Fault>, CompileError> {
    let Some(fault) = fault else { return Ok(None) };
    let mut out = Fault::default();
    if let Some(delay) = &fault.delay {
        let at = at.field("delay");
        let fixed = delay
            .fixed_delay
            .as_deref()
            .ok_or_else(|| at.field("fixedDelay").error(Reason::Missing))?;
        let fixed = duration(fixed, &at.field("fixedDelay"))?;
        let share = match (&delay.percentage, delay.percent) {
            (Some(_), Some(_)) => {
                return Err(at.field("percent").error(Reason::Exclusive("percentage")));
            }
            (Some(percentage), None) => {
                per_million(percentage.value, &at.field("percentage").field("value"))?
            }
            (None, Some(percent)) => per_million(f64::from(percent), &at.field("percent"))?,
            (None, None) => MILLION,
        };
        out.delay = Some((fixed, share));
    }
    if let Some(abort) = &fault.abort {
        let at = at.field("abort");
        let status = abort_answer(abort, protocol, &at)?;
        let share = match &abort.percentage {
            Some(percentage) => {
                per_million(percentage.value, &at.field("percentage").field("value"))?
            }
            None => MILLION,
        };
        out.abort = Some((status, share));
    }
    Ok(Some(out))
}

/// Exactly one of `httpStatus` and `grpcStatus`; the latter only where the
/// service speaks gRPC.
fn abort_answer(abort: &FaultAbort, protocol: Protocol, at: &At) -> Result<Abort, CompileError> {
    match (abort.http_status, abort.grpc_status.as_deref()) {
        (Some(_), Some(_)) => Err(at
            .field("grpcStatus")
            .error(Reason::Exclusive("httpStatus"))),
        (Some(status), None) => Ok(Abort::Http(status)),
        (None, Some(_)) if protocol != Protocol::Grpc => {
            Err(at.field("grpcStatus").error(Reason::Unsupported))
        }
        (None, Some(name)) => Code::parse(name)
            .filter(|_| !name.trim().bytes().all(|b| b.is_ascii_digit()))
            .map(|code| Abort::Grpc(code.0))
            .ok_or_else(|| {
                at.field("grpcStatus")
                    .error(Reason::UnknownGrpcStatus(name.to_owned()))
            }),
        (None, None) => Err(at.field("httpStatus").error(Reason::Missing)),
    }
}

/// A percentage in [0, 100] as a fraction of a million, rounded (Aeraki
/// truncates `value × 10 000`; the two differ only below 0.0001 %).
pub(super) fn per_million(value: f64, at: &At) -> Result<u32, CompileError> {
    if !(0.0..=100.0).contains(&value) {
        return Err(at.error(Reason::PercentOutOfRange(value)));
    }
    Ok((value * 10_000.0).round() as u32)
}

/// Aeraki's MetaRouter `mirrorPercentage`: absent **or 0** means 100 %
/// (Aeraki's translator cannot tell 0 from unset, so mirroring cannot be
/// switched off with 0). Compare [`istio_mirror_share`].
pub(super) fn aeraki_mirror_share(
    percentage: Option<&Percent>,
    at: &At,
) -> Result<u32, CompileError> {
    match percentage {
        Some(p) if p.value != 0.0 => per_million(p.value, &at.field("value")),
        _ => Ok(MILLION),
    }
}

/// Istio's VirtualService mirror share: `mirrorPercentage` absent means
/// 100 % (Istio mirrors everything when unset), but **`value: 0` means 0 %**,
/// unlike Aeraki's MetaRouter ([`aeraki_mirror_share`]). The deprecated
/// integer `mirrorPercent` is read when `mirrorPercentage` is absent.
pub(super) fn istio_mirror_share(
    percentage: Option<&Percent>,
    percent: Option<u32>,
    at: &At,
) -> Result<u32, CompileError> {
    match (percentage, percent) {
        (Some(_), Some(_)) => Err(at
            .field("mirrorPercent")
            .error(Reason::Exclusive("mirrorPercentage"))),
        (Some(p), None) => per_million(p.value, &at.field("mirrorPercentage").field("value")),
        (None, Some(percent)) => per_million(f64::from(percent), &at.field("mirrorPercent")),
        (None, None) => Ok(MILLION),
    }
}
