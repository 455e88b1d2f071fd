//! The report's SVG plots: shares with intervals, who served each
//! connection, latency percentiles, and shares over time.

use super::*;

pub(super) fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Draws into a fresh SVG of `size`. A drawing error becomes a note in the
/// page, never a panic or a missing plot.
pub(super) fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> String {
    let mut out = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let filled: Drawn = root.fill(&WHITE).map_err(Into::into);
        filled
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into))
    };
    match drawn {
        Ok(()) => inline(&out),
        Err(error) => plain_note(&format!("the plot could not be drawn: {error}")),
    }
}

/// The SVG as an element of the HTML page: inline SVG needs no namespace
/// declaration, and leaving it out keeps the page free of URLs.
pub(super) fn inline(svg: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// A plot with nothing to show: a short SVG saying why.
pub(super) fn note(text: &str) -> String {
    svg((WIDTH, 60), |root| {
        let style = (FONT, 18).into_font().color(&GREY);
        root.draw(&Text::new(format!("No data: {text}"), (20, 22), style))?;
        Ok(())
    })
}

/// A note written by hand, for when plotters itself failed.
pub(super) fn plain_note(text: &str) -> String {
    format!(
        "<svg width=\"{WIDTH}\" height=\"60\" viewBox=\"0 0 {WIDTH} 60\"><text x=\"20\" y=\"35\" font-family=\"sans-serif\" font-size=\"15\" fill=\"#6e6e6e\">{}</text></svg>",
        escape(text)
    )
}

/// A linear axis with ticks exactly at the given values: category rows and
/// percentile marks. (plotters' `WithKeyPoints` over f64 has no label
/// formatter, so no mesh can be drawn on it.)
#[derive(Debug, Clone)]
pub(super) struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked { range, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span <= 0.0 {
            return limit.0;
        }
        let at = (value - self.range.start) / span;
        limit.0 + (f64::from(limit.1 - limit.0) * at).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

// (a) Observed against expected shares.

pub(super) const LEGEND_HEIGHT: u32 = 34;

pub(super) fn panel_height(figure: &ShareFigure) -> u32 {
    90 + 34 * figure.shares.len() as u32
}

/// The label area's width, estimated from the longest label (the SVG
/// backend cannot measure text; 8 px per character leaves room at this size).
pub(super) fn label_width<'a>(labels: impl Iterator<Item = &'a str>) -> u32 {
    let longest = labels.map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    (longest * 8 + 20).clamp(60, 360)
}

pub(super) fn shares_plot(figures: &[ShareFigure]) -> String {
    if figures.is_empty() {
        return note("no assertion has counted shares with expected shares");
    }
    let heights: Vec<u32> = figures.iter().map(panel_height).collect();
    let total = LEGEND_HEIGHT + heights.iter().sum::<u32>();
    let labels = figures
        .iter()
        .flat_map(|f| f.shares.iter().map(|s| s.label.as_str()));
    let left = label_width(labels);
    svg((WIDTH, total), |root| {
        let (legend, body) = root.split_vertically(LEGEND_HEIGHT);
        shares_legend(&legend)?;
        let breaks: Vec<u32> = heights
            .iter()
            .scan(0, |sum, h| {
                *sum += h;
                Some(*sum)
            })
            .take(heights.len().saturating_sub(1))
            .collect();
        let panels = body.split_by_breakpoints(Vec::<u32>::new(), breaks);
        for (panel, figure) in panels.iter().zip(figures) {
            share_panel(panel, figure, left)?;
        }
        Ok(())
    })
}

/// The key of plot (a), drawn once above the panels.
pub(super) fn shares_legend(area: &Area<'_>) -> Drawn {
    let text = (FONT, 16).into_font().color(&BLACK);
    let y = 17;
    area.draw(&Circle::new((30, y), 5, OBSERVED.filled()))?;
    area.draw(&Text::new("observed share", (42, y - 7), text.clone()))?;
    area.draw(&PathElement::new(
        vec![(210, y), (260, y)],
        OBSERVED.stroke_width(2),
    ))?;
    area.draw(&Text::new(
        "Wilson interval at the assertion's alpha",
        (270, y - 7),
        text.clone(),
    ))?;
    area.draw(&PathElement::new(
        vec![(600, y - 9), (600, y + 9)],
        EXPECTED.stroke_width(3),
    ))?;
    area.draw(&Text::new("expected share", (612, y - 7), text))?;
    Ok(())
}

/// One assertion: a row per label, shares on a 0–100% axis.
pub(super) fn share_panel(area: &Area<'_>, figure: &ShareFigure, left: u32) -> Drawn {
    let rows = figure.shares.len();
    let top = rows as f64 - 0.4;
    let key_points: Vec<f64> = (0..rows).map(|i| i as f64).collect();
    let caption = format!(
        "{} — {} (n = {}, alpha {})",
        figure.assertion,
        label(figure.verdict),
        figure.n,
        alpha_text(figure.alpha)
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 19))
        .margin(8)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(left)
        .build_cartesian_2d(0f64..1f64, Ticked::new(-0.6..top, key_points))?;
    let row_label = |y: &f64| {
        let index = rows as f64 - 1.0 - y.round();
        figure
            .shares
            .get(index as usize)
            .map(|s| s.label.clone())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_labels(11)
        .x_label_formatter(&|x| format!("{:.0}%", x * 100.0))
        .y_label_formatter(&row_label)
        .label_style((FONT, 15))
        .light_line_style(WHITE)
        .draw()?;
    for (i, share) in figure.shares.iter().enumerate() {
        let y = (rows - 1 - i) as f64;
        draw_share(&mut chart, share, figure.n, y)?;
    }
    Ok(())
}

pub(super) type ShareChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Ticked>>;

/// One label: whisker with caps, expected bar, observed dot and its value.
pub(super) fn draw_share(chart: &mut ShareChart<'_, '_>, share: &Share, n: u64, y: f64) -> Drawn {
    let (lo, hi) = share.interval.unwrap_or((share.observed, share.observed));
    let whisker = OBSERVED.stroke_width(2);
    let lines = [
        vec![(lo, y), (hi, y)],
        vec![(lo, y - 0.15), (lo, y + 0.15)],
        vec![(hi, y - 0.15), (hi, y + 0.15)],
    ];
    chart.draw_series(lines.into_iter().map(|l| PathElement::new(l, whisker)))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(share.expected, y - 0.35), (share.expected, y + 0.35)],
        EXPECTED.stroke_width(3),
    )))?;
    chart.draw_series(std::iter::once(Circle::new(
        (share.observed, y),
        5,
        OBSERVED.filled(),
    )))?;
    let text = format!(
        "{} ({} of {n}; expected {})",
        percent(share.observed),
        share.count,
        percent(share.expected)
    );
    // Right of the whisker, or left of it when it ends near 100%.
    let (anchor, dx, pos) = if hi < 0.62 {
        (hi, 10, HPos::Left)
    } else {
        (lo.min(share.expected), -10, HPos::Right)
    };
    let style = (FONT, 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(pos, VPos::Center));
    chart.draw_series(std::iter::once(
        EmptyElement::at((anchor, y)) + Text::new(text, (dx, 0), style),
    ))?;
    Ok(())
}

// (b) Who served each connection.

pub(super) fn connections_caption(map: &ConnectionMap) -> String {
    let mut caption = String::from(
        "One row per client connection; a cell's colour and number are the share of that connection's served requests going to the version or endpoint of its column. A request-level balancer spreads every row; a layer-4 proxy fills one cell per row.",
    );
    if map.omitted > 0 {
        caption.push_str(&format!(
            " Showing the first {} of {} connections ({} left out).",
            map.rows.len(),
            map.total,
            map.omitted
        ));
    }
    caption
}

/// Pixel geometry of the heat map, from the number of rows and columns.
pub(super) struct Grid {
    left: i32,
    top: i32,
    cell_w: i32,
    cell_h: i32,
    /// Between the version columns and the endpoint columns.
    gap: i32,
    versions: usize,
    /// The font size of the column labels: smaller when columns are narrow.
    label_size: i32,
    /// The SVG's size: wider than [`WIDTH`] only when many columns need it.
    size: (u32, u32),
}

pub(super) const GRID_RIGHT: i32 = 150;
pub(super) const GRID_FOOTER: i32 = 60;

impl Grid {
    fn of(map: &ConnectionMap) -> Grid {
        let columns = (map.versions.len() + map.endpoints.len()).max(1) as i32;
        let left = 170;
        let gap = 24;
        let cell_w = ((WIDTH as i32 - left - GRID_RIGHT - gap) / columns).clamp(8, 90);
        let longest = map
            .versions
            .iter()
            .chain(&map.endpoints)
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0) as i32;
        // About 5.5 px per character of the rotated 14-pt labels.
        let top = 34 + (longest * 11 / 2 + 14).min(200);
        let cell_h = match map.rows.len() {
            0..=16 => 26,
            17..=40 => 18,
            _ => 13,
        };
        let height = top + cell_h * map.rows.len() as i32 + GRID_FOOTER;
        let width = (left + gap + cell_w * columns + GRID_RIGHT).max(WIDTH as i32);
        Grid {
            left,
            top,
            cell_w,
            cell_h,
            gap,
            versions: map.versions.len(),
            label_size: (cell_w + 3).clamp(9, 14),
            size: (width.max(0) as u32, height.max(0) as u32),
        }
    }

    /// The left edge of column `j` (versions first, then endpoints).
    fn x(&self, j: usize) -> i32 {
        let gap = if j >= self.versions { self.gap } else { 0 };
        self.left + j as i32 * self.cell_w + gap
    }

    fn y(&self, row: usize) -> i32 {
        self.top + row as i32 * self.cell_h
    }

    fn right(&self, columns: usize) -> i32 {
        self.x(columns.max(1) - 1) + self.cell_w
    }
}

/// White at share 0 to dark blue at 1.
pub(super) fn heat(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * s).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

pub(super) fn connections_plot(map: &ConnectionMap) -> String {
    if map.rows.is_empty() {
        return note("no requests were sent");
    }
    if map.versions.is_empty() {
        return note("no request was answered by an endpoint");
    }
    let grid = Grid::of(map);
    svg(grid.size, |root| {
        grid_headers(root, map, &grid)?;
        for (r, row) in map.rows.iter().enumerate() {
            grid_row(root, row, r, &grid)?;
        }
        grid_footer(root, map, &grid)
    })
}

/// Group titles and the rotated column labels above the grid.
pub(super) fn grid_headers(root: &Area<'_>, map: &ConnectionMap, grid: &Grid) -> Drawn {
    let title = (FONT, 16).into_font().color(&BLACK);
    let columns = map.versions.len() + map.endpoints.len();
    root.draw(&Text::new("versions", (grid.x(0), 8), title.clone()))?;
    if !map.endpoints.is_empty() {
        root.draw(&Text::new("endpoints", (grid.x(grid.versions), 8), title))?;
    }
    let style = (FONT, grid.label_size)
        .into_font()
        .color(&BLACK)
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let labels = map.versions.iter().chain(&map.endpoints);
    for (j, text) in labels.enumerate().take(columns) {
        let x = grid.x(j) + grid.cell_w / 2;
        root.draw(&Text::new(text.as_str(), (x, grid.top - 6), style.clone()))?;
    }
    Ok(())
}

/// One connection: its label, a cell per column, its request count.
pub(super) fn grid_row(root: &Area<'_>, row: &ConnectionRow, r: usize, grid: &Grid) -> Drawn {
    let y = grid.y(r);
    let middle = y + grid.cell_h / 2;
    let right = (FONT, 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let name = format!("client {} · conn {}", row.client, row.connection);
    root.draw(&Text::new(name, (grid.left - 8, middle), right))?;
    let served: u64 = row.versions.iter().sum();
    let counts = row.versions.iter().chain(&row.endpoints);
    for (j, &count) in counts.enumerate() {
        let share = if served > 0 {
            count as f64 / served as f64
        } else {
            0.0
        };
        grid_cell(root, (grid.x(j), y), grid, share, served > 0)?;
    }
    let columns = row.versions.len() + row.endpoints.len();
    let mut total = format!("{} req", row.requests);
    if row.unserved > 0 {
        total.push_str(&format!(", {} unserved", row.unserved));
    }
    let left = (FONT, 14)
        .into_font()
        .color(&GREY)
        .pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(total, (grid.right(columns) + 8, middle), left))?;
    Ok(())
}

pub(super) fn grid_cell(
    root: &Area<'_>,
    at: (i32, i32),
    grid: &Grid,
    share: f64,
    served: bool,
) -> Drawn {
    let (x, y) = at;
    let fill = if served {
        heat(share)
    } else {
        RGBColor(225, 225, 225)
    };
    let corner = (x + grid.cell_w - 1, y + grid.cell_h - 1);
    root.draw(&Rectangle::new([(x, y), corner], fill.filled()))?;
    if served && grid.cell_w >= 36 && grid.cell_h >= 14 {
        let ink = if share > 0.5 { WHITE } else { BLACK };
        let style = (FONT, 13)
            .into_font()
            .color(&ink)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let text = format!("{:.0}%", share * 100.0);
        root.draw(&Text::new(
            text,
            (x + grid.cell_w / 2, y + grid.cell_h / 2),
            style,
        ))?;
    }
    Ok(())
}

/// The colour scale and, when rows were left out, how many.
pub(super) fn grid_footer(root: &Area<'_>, map: &ConnectionMap, grid: &Grid) -> Drawn {
    let y = grid.y(map.rows.len()) + 16;
    let text = (FONT, 14).into_font().color(&BLACK);
    root.draw(&Text::new(
        "share of the row:",
        (grid.left - 150, y + 2),
        text.clone(),
    ))?;
    for step in 0..=10 {
        let x = grid.left + step * 24;
        let fill = heat(f64::from(step) / 10.0);
        root.draw(&Rectangle::new([(x, y), (x + 23, y + 16)], fill.filled()))?;
        root.draw(&Rectangle::new(
            [(x, y), (x + 23, y + 16)],
            GREY.stroke_width(1),
        ))?;
    }
    root.draw(&Text::new("0%", (grid.left, y + 20), text.clone()))?;
    let end = text.pos(Pos::new(HPos::Right, VPos::Top));
    root.draw(&Text::new("100%", (grid.left + 11 * 24 - 1, y + 20), end))?;
    let shown = format!(
        "{} of {} connections shown{}",
        map.rows.len(),
        map.total,
        if map.omitted > 0 {
            format!(" ({} left out)", map.omitted)
        } else {
            String::new()
        }
    );
    let after = (FONT, 14).into_font().color(&BLACK);
    root.draw(&Text::new(shown, (grid.left + 11 * 24 + 30, y + 2), after))?;
    Ok(())
}

// (c) Latency by percentile.

/// Where the maximum sits on the "nines" axis: one past 99.99%.
pub(super) const MAX_NINES: f64 = 5.0;

/// A percentile's position on a nines axis: 90% is 1, 99% is 2, 99.9% is 3;
/// the maximum is put at [`MAX_NINES`].
pub(super) fn nines(percentile: f64) -> f64 {
    if percentile >= 100.0 {
        MAX_NINES
    } else {
        (-(1.0 - percentile / 100.0).log10()).clamp(0.0, MAX_NINES)
    }
}

pub(super) fn percentile_label(percentile: f64) -> String {
    match percentile {
        p if p <= 0.0 => "min".to_owned(),
        p if p >= 100.0 => "max".to_owned(),
        p => format!("p{p}"),
    }
}

/// A latency in the unit that keeps it short.
pub(super) fn micros_text(micros: f64) -> String {
    match micros {
        m if m >= 1e6 => format!("{} s", trim(m / 1e6)),
        m if m >= 1e3 => format!("{} ms", trim(m / 1e3)),
        m => format!("{m:.0} µs"),
    }
}

/// Up to two decimals, trailing zeros dropped (`2 ms`, `1.5 ms`, `1.25 ms`).
pub(super) fn trim(x: f64) -> String {
    let text = format!("{x:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Ticks of a log10 axis at 1, 2 and 5 times the powers of ten in `range`
/// (plotters' own log axis labels only the powers over short ranges).
pub(super) fn log_ticks(range: &Range<f64>) -> Vec<f64> {
    let (first, last) = (range.start.floor() as i32, range.end.ceil() as i32);
    (first..=last)
        .flat_map(|power| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(power)).log10()))
        .filter(|tick| range.contains(tick))
        .collect()
}

/// Latency curve points: (nines, log10 of microseconds).
pub(super) fn curve_points(curve: &[Quantile]) -> Vec<(f64, f64)> {
    curve
        .iter()
        .map(|q| (nines(q.percentile), (q.micros.max(1) as f64).log10()))
        .collect()
}

/// How one curve is drawn. Without coordinated omission (a closed loop) the
/// corrected and uncorrected curves coincide, so one is dashed over the
/// other to keep both visible, and their values go on opposite sides of the
/// rising line: above-left for one, below-right for the other (`label`).
pub(super) struct Series {
    name: String,
    paint: RGBColor,
    dashed: bool,
    label: (HPos, i32, i32),
}

pub(super) fn latency_series_styles() -> [Series; 2] {
    [
        Series {
            name: "corrected (from intended start)".to_owned(),
            paint: colour(0),
            dashed: false,
            label: (HPos::Right, -5, -17),
        },
        Series {
            name: "uncorrected (from actual send)".to_owned(),
            paint: colour(1),
            dashed: true,
            label: (HPos::Left, 5, 3),
        },
    ]
}

/// The height of the legend row above the latency and timeline charts.
pub(super) const KEY_HEIGHT: i32 = 30;

/// A legend as one row above a chart, where it cannot cover data.
pub(super) fn legend_row(area: &Area<'_>, entries: &[Series]) -> Drawn {
    let style = (FONT, 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (mut x, y) = (110, KEY_HEIGHT / 2 + 2);
    for entry in entries {
        let line = vec![(x, y), (x + 28, y)];
        let stroke = entry.paint.stroke_width(3);
        if entry.dashed {
            for dash in [(x, x + 8), (x + 12, x + 20), (x + 24, x + 28)] {
                area.draw(&PathElement::new(vec![(dash.0, y), (dash.1, y)], stroke))?;
            }
        } else {
            area.draw(&PathElement::new(line, stroke))?;
        }
        area.draw(&Text::new(entry.name.as_str(), (x + 36, y), style.clone()))?;
        x += 36 + 8 * entry.name.chars().count() as i32 + 30;
    }
    Ok(())
}

pub(super) fn latency_plot(curve: &LatencyCurve) -> String {
    let all = curve.corrected.iter().chain(&curve.uncorrected);
    let logs: Vec<f64> = all.map(|q| (q.micros.max(1) as f64).log10()).collect();
    let (Some(lo), Some(hi)) = (
        logs.iter().copied().reduce(f64::min),
        logs.iter().copied().reduce(f64::max),
    ) else {
        return note("no latencies were recorded");
    };
    // A fifth of a decade of room around the data, at least one decade shown.
    let (lo, hi) = (lo - 0.2, (hi + 0.2).max(lo + 1.0));
    let styles = latency_series_styles();
    svg((WIDTH, 500), |root| {
        let (key, body) = root.split_vertically(KEY_HEIGHT);
        legend_row(&key, &styles)?;
        let x_ticks: Vec<f64> = crate::report::figures::PERCENTILES
            .iter()
            .map(|&p| nines(p))
            .collect();
        let y_range = lo..hi;
        let y_ticks = log_ticks(&y_range);
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .margin_right(70)
            .x_label_area_size(56)
            .y_label_area_size(90)
            .build_cartesian_2d(
                Ticked::new(-0.35..MAX_NINES + 0.15, x_ticks),
                Ticked::new(y_range, y_ticks),
            )?;
        let x_label = |x: &f64| {
            crate::report::figures::PERCENTILES
                .iter()
                .find(|&&p| (nines(p) - x).abs() < 1e-9)
                .map_or_else(String::new, |&p| percentile_label(p))
        };
        chart
            .configure_mesh()
            .x_label_formatter(&x_label)
            .y_label_formatter(&|y| micros_text(10f64.powf(*y)))
            .x_desc("percentile (axis in nines: 90%, 99%, 99.9%…)")
            .y_desc("latency (log scale)")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()?;
        latency_series(&mut chart, &curve.corrected, &styles[0])?;
        latency_series(&mut chart, &curve.uncorrected, &styles[1])?;
        Ok(())
    })
}

pub(super) type LatencyChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// One curve: a line with a dot and the value at each percentile.
pub(super) fn latency_series(
    chart: &mut LatencyChart<'_, '_>,
    curve: &[Quantile],
    series: &Series,
) -> Drawn {
    if curve.is_empty() {
        return Ok(());
    }
    let points = curve_points(curve);
    let paint = series.paint;
    if series.dashed {
        let line = paint.stroke_width(2);
        chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, line))?;
    } else {
        chart.draw_series(LineSeries::new(points.clone(), paint.stroke_width(4)))?;
    }
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, paint.filled())))?;
    let (h, dx, dy) = series.label;
    let style = (FONT, 12)
        .into_font()
        .color(&paint)
        .pos(Pos::new(h, VPos::Top));
    let labels = points.iter().map(|&(x, y)| {
        let text = micros_text(10f64.powf(y));
        EmptyElement::at((x, y)) + Text::new(text, (dx, dy), style.clone())
    });
    chart.draw_series(labels)?;
    Ok(())
}

// (d) Shares over time.

/// Runs of consecutive buckets with `share` defined, as (bucket middle, share).
pub(super) fn segments(
    timeline: &Timeline,
    share: impl Fn(&TimeBucket) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for bucket in &timeline.buckets {
        let middle = bucket.start_seconds + timeline.bucket_seconds / 2.0;
        match (share(bucket), runs.last_mut()) {
            (Some(s), Some(run)) => run.push((middle, s)),
            (None, Some(run)) if !run.is_empty() => runs.push(Vec::new()),
            _ => {}
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// The share of version `v` among a bucket's served requests.
pub(super) fn version_share(bucket: &TimeBucket, v: usize) -> Option<f64> {
    let total: u64 = bucket.counts.iter().sum();
    let count = bucket.counts.get(v).copied().unwrap_or(0);
    (total > 0).then(|| count as f64 / total as f64)
}

/// The share of a bucket's requests that no endpoint answered.
pub(super) fn unserved_share(bucket: &TimeBucket) -> Option<f64> {
    let total = bucket.counts.iter().sum::<u64>() + bucket.unserved;
    (total > 0).then(|| bucket.unserved as f64 / total as f64)
}

pub(super) fn timeline_plot(timeline: &Timeline) -> String {
    let served: u64 = timeline.buckets.iter().flat_map(|b| &b.counts).sum();
    if timeline.buckets.is_empty() || served == 0 {
        return note("no request was answered by an endpoint");
    }
    let end = timeline.bucket_seconds * timeline.buckets.len() as f64;
    let mut styles: Vec<Series> = timeline
        .versions
        .iter()
        .enumerate()
        .map(|(v, name)| Series {
            name: name.clone(),
            paint: colour(v),
            dashed: false,
            label: (HPos::Center, 0, 0),
        })
        .collect();
    let unserved = timeline.buckets.iter().any(|b| b.unserved > 0);
    if unserved {
        styles.push(Series {
            name: "no endpoint answer (share of all requests)".to_owned(),
            paint: GREY,
            dashed: true,
            label: (HPos::Center, 0, 0),
        });
    }
    svg((WIDTH, 480), |root| {
        let (key, body) = root.split_vertically(KEY_HEIGHT);
        legend_row(&key, &styles)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .margin_right(40)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..end, 0f64..1.08f64)?;
        chart
            .configure_mesh()
            .y_labels(11)
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .x_label_formatter(&|x| seconds_text(*x, end))
            .light_line_style(RGBColor(245, 245, 245))
            .x_desc("intended start, seconds since the workload began")
            .y_desc("share of served requests")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()?;
        for (v, style) in styles.iter().enumerate().take(timeline.versions.len()) {
            let runs = segments(timeline, |b| version_share(b, v));
            timeline_series(&mut chart, runs, style)?;
        }
        if let Some(style) = styles.last().filter(|_| unserved) {
            timeline_series(&mut chart, segments(timeline, unserved_share), style)?;
        }
        phase_lines(&mut chart, &timeline.phases_seconds)
    })
}

/// Seconds with as many decimals as the run's length needs for distinct ticks.
pub(super) fn seconds_text(seconds: f64, span: f64) -> String {
    match span {
        s if s >= 20.0 => format!("{seconds:.0} s"),
        s if s >= 2.0 => format!("{seconds:.1} s"),
        s if s >= 0.2 => format!("{seconds:.2} s"),
        _ => format!("{:.1} ms", seconds * 1e3),
    }
}

pub(super) type TimeChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

pub(super) fn timeline_series(
    chart: &mut TimeChart<'_, '_>,
    runs: Vec<Vec<(f64, f64)>>,
    series: &Series,
) -> Drawn {
    let paint = series.paint;
    let dots: Vec<(f64, f64)> = runs.iter().flatten().copied().collect();
    for run in runs {
        if series.dashed {
            chart.draw_series(DashedLineSeries::new(run, 8, 5, paint.stroke_width(2)))?;
        } else {
            chart.draw_series(LineSeries::new(run, paint.stroke_width(2)))?;
        }
    }
    chart.draw_series(dots.into_iter().map(|p| Circle::new(p, 3, paint.filled())))?;
    Ok(())
}

/// A dashed vertical line and a name at each phase switch.
pub(super) fn phase_lines(chart: &mut TimeChart<'_, '_>, phases: &[f64]) -> Drawn {
    let style = (FONT, 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Top));
    for (i, &at) in phases.iter().enumerate() {
        chart.draw_series(DashedLineSeries::new(
            vec![(at, 0.0), (at, 1.08)],
            6,
            4,
            BLACK.stroke_width(1),
        ))?;
        let name = format!("phase {}", i + 1);
        chart.draw_series(std::iter::once(
            EmptyElement::at((at, 1.08)) + Text::new(name, (4, 2), style.clone()),
        ))?;
    }
    Ok(())
}
