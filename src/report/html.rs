//! The HTML report: one self-contained page (inline CSS and SVG, no script,
//! no external resource), so a CI artefact viewer or a mail attachment shows
//! it as is, offline. The plots are drawn with plotters' SVG backend, whose
//! text is SVG `<text>`: no font is loaded when building or rendering.
//!
//! The page is a minijinja template (`report.html.j2`) rendered with
//! autoescape, so scenario names, summaries and findings cannot inject
//! markup; only the SVG drawn here goes in unescaped (plotters escapes the
//! text it puts there).

use std::error::Error;
use std::ops::Range;

use meshbench_sim::stats::{Alpha, Verdict};
use meshbench_sim::verify::Assertion;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::figures::{
    ConnectionMap, ConnectionRow, LatencyCurve, Quantile, Share, ShareFigure, TimeBucket, Timeline,
};
use super::{Report, escape, label};

/// The page template; its name ends in `.html` so minijinja autoescapes.
mod plots;

use plots::*;

const TEMPLATE: &str = include_str!("report.html.j2");
const TEMPLATE_NAME: &str = "report.html";

/// Findings listed per assertion; the rest are counted (the JSON has all).
const MAX_FINDINGS: usize = 20;

/// Every plot's width in pixels (the page scales them down to fit).
const WIDTH: u32 = 1100;
const FONT: &str = "sans-serif";
/// Colours of versions and series (Tableau 10: distinct, colour-blind-safe enough).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const GREY: RGBColor = RGBColor(110, 110, 110);
const EXPECTED: RGBColor = RGBColor(214, 39, 40);
const OBSERVED: RGBColor = RGBColor(31, 119, 180);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn Error>>;

impl Report {
    /// The report as one self-contained HTML page: the verdict, a table of
    /// assertions with their evidence, and four plots (shares against
    /// expectations, who served each connection, latency by percentile,
    /// shares over time).
    pub fn html(&self) -> String {
        match self.render_html() {
            Ok(page) => page,
            Err(error) => format!(
                "<!doctype html>\n<meta charset=\"utf-8\"><title>meshbench report</title>\n<p>The report page could not be rendered: {}</p>\n",
                escape(&error.to_string())
            ),
        }
    }

    fn render_html(&self) -> Result<String, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template(TEMPLATE_NAME, TEMPLATE)?;
        let outcomes: Vec<(String, u64)> =
            self.outcomes.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let rows: Vec<Row<'_>> = self.assertions.iter().map(Row::of).collect();
        let ctx = context! {
            scenario => &self.scenario,
            description => &self.description,
            proxy => &self.proxy,
            environment => &self.environment,
            seed => self.seed,
            verdict => label(self.verdict),
            verdict_class => class(self.verdict),
            duration => format!("{:.1}", self.duration_seconds),
            sent => self.sent,
            outcomes => Value::from(Serde(&outcomes)),
            latency => Value::from(Serde(&self.latency_us)),
            rows => Value::from(Serde(&rows)),
            plots => self.plots(),
            proxy_stats => &self.proxy_stats,
            schema => self.schema,
        };
        env.get_template(TEMPLATE_NAME)?.render(ctx)
    }

    /// The four plot sections, in page order.
    fn plots(&self) -> Vec<Value> {
        let figures = &self.figures;
        vec![
            plot(
                "shares",
                "Observed and expected shares",
                "Per assertion: each label's observed share (dot) with its Wilson interval at the assertion's alpha (whisker), and the configured share (red bar).",
                shares_plot(&figures.shares),
            ),
            plot(
                "connections",
                "Who served each connection",
                &connections_caption(&figures.connections),
                connections_plot(&figures.connections),
            ),
            plot(
                "latency",
                "Latency by percentile",
                "Corrected latency is measured from each request's intended start (no coordinated omission); uncorrected from its actual send. Logarithmic axes.",
                latency_plot(&figures.latency),
            ),
            plot(
                "timeline",
                "Shares over time",
                "Share of served requests per version, by intended start; dashed lines mark when a routing phase was applied.",
                timeline_plot(&figures.timeline),
            ),
        ]
    }
}

/// One plot section of the page; the SVG is marked safe (plotters escaped
/// its text), the title and caption are escaped by the template.
fn plot(id: &str, title: &str, caption: &str, svg: String) -> Value {
    context! {
        id => id,
        title => title,
        caption => caption,
        svg => Value::from_safe_string(svg),
    }
}

fn class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Unsupported => "unsupported",
        Verdict::Error => "error",
    }
}

/// One line of the assertions table, its numbers already formatted.
#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    claim: &'a str,
    kind: &'a str,
    verdict: &'static str,
    class: &'static str,
    summary: &'a str,
    n: u64,
    p_value: String,
    interval: String,
    alpha: String,
    power: String,
    detectable: String,
    method: &'a str,
    findings: &'a [String],
    more_findings: usize,
}

impl<'a> Row<'a> {
    fn of(assertion: &'a Assertion) -> Row<'a> {
        let evidence = &assertion.evidence;
        let shown = assertion.findings.len().min(MAX_FINDINGS);
        Row {
            name: &assertion.name,
            claim: &assertion.claim,
            kind: &assertion.kind,
            verdict: label(assertion.verdict),
            class: class(assertion.verdict),
            summary: &assertion.summary,
            n: evidence.n,
            p_value: evidence.p_value.map_or_else(|| "—".to_owned(), number),
            interval: evidence.interval.map_or_else(
                || "—".to_owned(),
                |(lo, hi)| format!("{} – {}", percent(lo), percent(hi)),
            ),
            alpha: evidence.alpha.to_string(),
            power: evidence.power.to_string(),
            detectable: evidence.detectable.to_string(),
            method: &evidence.method,
            findings: &assertion.findings[..shown],
            more_findings: assertion.findings.len() - shown,
        }
    }
}

/// A p-value or statistic: scientific below 1e-3, where fixed digits would
/// print zeros.
fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

/// An alpha as the rest of the report writes it (`1e-6`).
fn alpha_text(alpha: f64) -> String {
    Alpha::new(alpha).map_or_else(|_| alpha.to_string(), |a| a.to_string())
}

fn percent(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}
