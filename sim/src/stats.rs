//! The statistics of the bench: pure functions and small state machines that
//! turn counts into verdicts with a stated false-failure rate (alpha) and a
//! stated power against a stated deviation. No sockets, no scenario types:
//! verifiers feed counts in and get tests, intervals, plans and evidence out.
//!
//! The contract (DESIGN.md, "Statistical contract"): every statistical
//! assertion states alpha (default 1e-6), the deviation it must detect
//! (default 3 points) and the power (default 0.99); n is computed by the
//! [`plan`] module, never guessed; deterministic properties have zero
//! tolerance; and the rates are themselves checked by simulation (the
//! calibration tests of this module).
//!
//! Which test carries a verdict, and why:
//! - a single share (2-way split, fault, abort or mirror fraction): the exact
//!   binomial test ([`binomial_test`]), sized by [`plan::share`];
//! - a k-way split: exact per-share binomial tests with Holm
//!   ([`share_tests`]), sized by [`plan::split`]; the chi-square / G omnibus
//!   ([`goodness_of_fit`]) is reported alongside, being only asymptotic;
//! - per-connection balancing: [`homogeneity()`] (independence test plus exact
//!   per-connection fits, Holm over connections), sized by [`plan::pinning`];
//! - zero tolerance: any event fails; [`plan::zero_leak`] sizes the run that
//!   rules out a leak rate;
//! - streaming or slow traffic: the truncated [`Sprt`] or the anytime-valid
//!   [`MixtureEProcess`].
//!
//! # Layout
//! - [`types`]: [`Alpha`], [`Power`], [`Share`], [`Deviation`] and [`StatsError`].
//! - [`binomial`]: exact binomial probabilities, tails, the two-sided test
//!   and its acceptance region.
//! - [`multinomial`]: chi-square / G goodness of fit (asymptotic or Monte
//!   Carlo) and the per-share exact tests of a split.
//! - [`homogeneity`](mod@homogeneity): connection × endpoint tables: independence and
//!   per-connection fits.
//! - [`multiple`]: Holm's step-down correction.
//! - [`interval`]: Wilson and Clopper–Pearson intervals, zero-event bounds.
//! - [`plan`]: sample sizes for shares, splits, pinning, leaks and mirrors.
//! - [`sequential`]: truncated SPRT and mixture e-process.
//! - [`evidence`]: [`Verdict`] and [`Evidence`], what verifiers report.
//! - `calibration` (tests only): the false-failure rates and powers of all
//!   of the above, measured by seeded simulation.

pub mod binomial;
pub mod evidence;
pub mod homogeneity;
pub mod interval;
pub mod multinomial;
pub mod multiple;
pub mod plan;
pub mod sequential;
pub mod types;

#[cfg(test)]
mod calibration;

pub use binomial::{AcceptanceRegion, BinomialTest, Tail, acceptance_region, binomial_test};
pub use evidence::{Evidence, Verdict};
pub use homogeneity::{ContingencyTable, Homogeneity, RowFit, homogeneity, independence, row_fits};
pub use interval::{clopper_pearson, wilson, zero_event_trials, zero_event_upper};
pub use multinomial::{
    Gof, GofStatistic, MonteCarlo, PValueMethod, ShareTest, SplitTest, goodness_of_fit, share_tests,
};
pub use multiple::{Holm, holm};
pub use plan::{Detect, Plan, Unit};
pub use sequential::{Decision, MixtureEProcess, Sprt, Stop};
pub use types::{Alpha, Deviation, Power, Share, StatsError};
