//! Charts drawn with plotters into inline SVG: lines over time, areas
//! (drawdown), scatters (fills over the price), histograms, bars and
//! heatmaps.
//!
//! Every chart has a title, labelled axes (put the unit in the label) and a
//! legend when it has more than one series. Time axes take seconds since the
//! Unix epoch and are labelled in UTC at round times. Long series are
//! decimated to a few points per pixel column, keeping each column's extremes,
//! so a chart of a month of one-second samples stays small and looks the same.
//!
//! Text is laid out with plotters' built-in estimate (no system fonts are
//! read) and drawn by the browser, in its sans-serif font.

use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

use crate::error::{Error, Result};

/// Width of a chart, pixels (pages scale charts down to fit).
pub const WIDTH: u32 = 1100;
/// Height of a chart, pixels.
pub const HEIGHT: u32 = 380;

/// One chart as an SVG document, ready to inline into HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    /// The SVG text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A colour, as red, green and blue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Buys, gains.
    pub const GREEN: Rgb = Rgb(0x2c, 0xa0, 0x2c);
    /// Sells, losses.
    pub const RED: Rgb = Rgb(0xd6, 0x27, 0x28);
    /// The first series.
    pub const BLUE: Rgb = Rgb(0x1f, 0x77, 0xb4);
    /// Context (prices behind fills).
    pub const GREY: Rgb = Rgb(0x88, 0x88, 0x88);

    fn color(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// Series colours, in order (the "tab10" palette).
pub const PALETTE: [Rgb; 10] = [
    Rgb(0x1f, 0x77, 0xb4),
    Rgb(0xff, 0x7f, 0x0e),
    Rgb(0x2c, 0xa0, 0x2c),
    Rgb(0xd6, 0x27, 0x28),
    Rgb(0x94, 0x67, 0xbd),
    Rgb(0x8c, 0x56, 0x4b),
    Rgb(0xe3, 0x77, 0xc2),
    Rgb(0x7f, 0x7f, 0x7f),
    Rgb(0xbc, 0xbd, 0x22),
    Rgb(0x17, 0xbe, 0xcf),
];

/// The x axis of a chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// x values are seconds since the Unix epoch; ticks at round UTC times.
    Time,
    /// A numeric axis, with its label (include the unit).
    Linear(String),
}

/// A named series of (x, y) points, in x order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// Colour; `None` takes the next palette colour.
    pub color: Option<Rgb>,
}

impl Series {
    /// A series coloured from the palette.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, color: None }
    }

    /// The same series in `color`.
    pub fn with_color(mut self, color: Rgb) -> Series {
        self.color = Some(color);
        self
    }
}

/// Lines, one per series.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// Title above the chart.
    pub title: String,
    /// The x axis.
    pub x: XAxis,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Draw steps (the value holds until the next point), e.g. positions.
    pub step: bool,
}

/// One series filled down to a baseline, e.g. a drawdown below zero.
#[derive(Clone, Debug, PartialEq)]
pub struct AreaChart {
    /// Title above the chart.
    pub title: String,
    /// The x axis.
    pub x: XAxis,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// The series.
    pub series: Series,
    /// Where the fill ends (0 for a drawdown).
    pub baseline: f64,
}

/// The shape of scatter points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A triangle pointing up (buys).
    Up,
    /// A triangle pointing down (sells).
    Down,
    /// A circle.
    Circle,
}

/// A named set of scatter points.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSet {
    /// Legend name.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// Shape.
    pub marker: Marker,
    /// Filled, or drawn as an outline.
    pub filled: bool,
    /// Colour.
    pub color: Rgb,
}

/// Points over optional context lines (fills over the price).
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterChart {
    /// Title above the chart.
    pub title: String,
    /// The x axis.
    pub x: XAxis,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// Lines drawn first, behind the points.
    pub lines: Vec<Series>,
    /// The points.
    pub points: Vec<PointSet>,
}

/// The distribution of values, in equal-width bins.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Title above the chart.
    pub title: String,
    /// The x axis label (what a value is, and its unit).
    pub x_label: String,
    /// The values; non-finite ones are left out.
    pub values: Vec<f64>,
    /// Number of bins (at least 1).
    pub bins: usize,
}

/// One bar per category, e.g. PnL per order tag.
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// The category axis label.
    pub x_label: String,
    /// The value axis label, with its unit.
    pub y_label: String,
    /// Category names and values, in display order.
    pub bars: Vec<(String, f64)>,
}

/// A metric over two parameters: one cell per (x, y) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    /// Title above the chart.
    pub title: String,
    /// The first parameter's name.
    pub x_label: String,
    /// The second parameter's name.
    pub y_label: String,
    /// The metric's name and unit (the colour bar's label).
    pub z_label: String,
    /// The first parameter's values, in display order.
    pub x: Vec<String>,
    /// The second parameter's values, bottom to top.
    pub y: Vec<String>,
    /// `z[j][i]` is the metric at `(x[i], y[j])`; `None` for a run that is
    /// missing or failed.
    pub z: Vec<Vec<Option<f64>>>,
}

fn draw_error(title: &str) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Draw { chart: title.to_owned(), message: e.to_string() }
}

/// Runs `draw` on a fresh white SVG canvas and returns the SVG.
fn canvas(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<Svg> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(title)(&e))?;
        draw(&root)?;
        root.present().map_err(|e| draw_error(title)(&e))?;
    }
    // Inline SVG in HTML needs no namespace, and a page with no URL in it is
    // easy to check for external references.
    let text = text.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1);
    Ok(Svg(text))
}

/// Labels of the time axis: tick positions and their format.
#[derive(Debug)]
struct TimeTicks {
    ticks: Vec<f64>,
    format: &'static str,
    label: String,
}

const TIME_STEPS: [f64; 31] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0, 604800.0, 1209600.0, 2592000.0,
];

fn utc(secs: f64, format: &str) -> String {
    let ns = (secs * 1e9).round() as i64;
    chrono::DateTime::from_timestamp_nanos(ns).format(format).to_string()
}

fn time_ticks(x0: f64, x1: f64) -> TimeTicks {
    let span = x1 - x0;
    let step = TIME_STEPS.iter().copied().find(|s| span / s <= 10.0).unwrap_or(2592000.0);
    let first = (x0 / step).ceil() as i64;
    let last = (x1 / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    let one_day = utc(x0, "%Y-%m-%d") == utc(x1, "%Y-%m-%d");
    let format = match () {
        _ if step < 1.0 => "%H:%M:%S%.3f",
        _ if step < 60.0 => "%H:%M:%S",
        _ if one_day => "%H:%M",
        _ if step < 86400.0 => "%m-%d %H:%M",
        _ => "%Y-%m-%d",
    };
    let label = if one_day { format!("time (UTC, {})", utc(x0, "%Y-%m-%d")) } else { "time (UTC)".to_owned() };
    TimeTicks { ticks, format, label }
}

/// The range of finite values, widened a little so nothing sits on the frame.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.01 };
        return Some((lo - pad, hi + pad));
    }
    let pad = (hi - lo) * 0.05;
    Some((lo - pad, hi + pad))
}

/// Formats an axis value with as many decimals as ticks `step` apart need.
fn axis_number(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() { (-step.log10().floor()).clamp(0.0, 9.0) as usize } else { 2 };
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    format!("{v:.decimals$}")
}

/// The distance between the round ticks [`nice_ticks`] puts in `lo..=hi`.
fn tick_step(lo: f64, hi: f64, target: usize) -> f64 {
    nice_ticks(lo, hi, target, 0.0).windows(2).next().map_or(hi - lo, |w| w[1] - w[0])
}

/// Formats a value with about `digits` significant digits.
pub fn significant(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        return format!("{v:.*e}", digits.saturating_sub(1));
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    format!("{v:.decimals$}")
}

/// At most about `columns` × 4 points: each chunk of the series keeps its
/// first, lowest, highest and last point, in x order.
pub fn decimate(points: &[(f64, f64)], columns: usize) -> Vec<(f64, f64)> {
    if points.len() <= columns.max(1) * 4 {
        return points.to_vec();
    }
    let chunk = points.len().div_ceil(columns.max(1));
    let mut out = Vec::with_capacity(columns * 4);
    for c in points.chunks(chunk) {
        let mut idx = vec![0, c.len() - 1];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in c.iter().enumerate() {
            if p.1 < c[lo].1 {
                lo = i;
            }
            if p.1 > c[hi].1 {
                hi = i;
            }
        }
        idx.extend([lo, hi]);
        idx.sort_unstable();
        idx.dedup();
        out.extend(idx.into_iter().map(|i| c[i]));
    }
    out
}

/// Turns points into steps: each value holds until the next point.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &p) in points.iter().enumerate() {
        if i > 0 {
            out.push((p.0, points[i - 1].1));
        }
        out.push(p);
    }
    out
}

fn color_of(series: &Series, i: usize) -> RGBColor {
    series.color.unwrap_or(PALETTE[i % PALETTE.len()]).color()
}

/// A frame with no data says so instead of drawing empty axes.
fn empty(title: &str, why: &str) -> Result<Svg> {
    canvas(title, (WIDTH, 120), |root| {
        root.titled(title, ("sans-serif", 20)).map_err(|e| draw_error(title)(&e))?;
        root.draw(&Text::new(why.to_owned(), (40, 70), ("sans-serif", 16).into_font().color(&BLACK.mix(0.6))))
            .map_err(|e| draw_error(title)(&e))?;
        Ok(())
    })
}

/// The coordinates of line, area, scatter and histogram charts: `f64` both
/// ways, with the x ticks chosen here (round UTC times, or round numbers).
type XyChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// An `f64` axis with the ticks (grid lines and labels) chosen here, and no
/// light grid lines between them.
#[derive(Clone, Debug)]
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (f64::from(limit.1 - limit.0) * f).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// About `target` round ticks (1, 2 or 5 × a power of ten, at least
/// `min_step` apart) inside `lo..=hi`.
fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / target.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| span / s <= target as f64)
        .unwrap_or(10.0 * power)
        .max(min_step);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A legend entry: a name and what its series looks like.
struct Entry {
    name: String,
    swatch: Swatch,
}

enum Swatch {
    Line(RGBColor),
    Marker(Marker, bool, RGBColor),
}

/// Height of the band above a chart holding its title (and legend).
const TITLE_BAND: u32 = 34;
const LEGEND_BAND: u32 = 26;

/// Draws the title, and the legend in one row under it, into the top of
/// `root`, and returns the area left for the chart. A legend above the plot
/// never hides data.
fn title_and_legend<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    title: &str,
    legend: &[Entry],
) -> Result<DrawingArea<SVGBackend<'a>, Shift>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let err = draw_error(title);
    let width = root.dim_in_pixel().0 as i32;
    let band = TITLE_BAND + if legend.is_empty() { 0 } else { LEGEND_BAND };
    let (top, rest) = root.split_vertically(band);
    let title_font = ("sans-serif", 22).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    top.draw(&Text::new(title.to_owned(), (width / 2, 8), title_font)).map_err(|e| err(&e))?;
    if !legend.is_empty() {
        // The browser's sans-serif at 14 px is about 7 px per character.
        let item_width = |e: &Entry| 30 + 7 * e.name.chars().count() as i32 + 22;
        let total: i32 = legend.iter().map(item_width).sum();
        let mut x = ((width - total) / 2).max(8);
        let y = TITLE_BAND as i32 + LEGEND_BAND as i32 / 2 - 2;
        let font = ("sans-serif", 15).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        for e in legend {
            match &e.swatch {
                Swatch::Line(c) => {
                    top.draw(&PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(2))).map_err(|e| err(&e))?;
                }
                Swatch::Marker(m, filled, c) => {
                    let at = |p: &(i32, i32)| (p.0 + x + 11, p.1 + y);
                    let shape = marker_shape(*m);
                    if *filled {
                        top.draw(&Polygon::new(shape.iter().map(at).collect::<Vec<_>>(), c.mix(0.85).filled()))
                            .map_err(|e| err(&e))?;
                    } else {
                        let mut outline: Vec<_> = shape.iter().map(at).collect();
                        outline.push(outline[0]);
                        top.draw(&PathElement::new(outline, c.stroke_width(1))).map_err(|e| err(&e))?;
                    }
                }
            }
            top.draw(&Text::new(e.name.clone(), (x + 28, y), font.clone())).map_err(|e| err(&e))?;
            x += item_width(e);
        }
    }
    Ok(rest)
}

/// Draws a cartesian frame (title, legend, mesh, axis labels), then `draw`
/// into it; the shared body of line, area, scatter and histogram charts.
/// `y_counts` makes the y ticks whole numbers.
#[allow(clippy::too_many_arguments)]
fn xy_frame(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    x_axis: &XAxis,
    y_label: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    y_counts: bool,
    legend: &[Entry],
    draw: impl FnOnce(&mut XyChart<'_, '_>) -> Result<()>,
) -> Result<()> {
    let err = draw_error(title);
    let area = title_and_legend(root, title, legend)?;
    let (ticks, format, x_label) = match x_axis {
        XAxis::Time => {
            let t = time_ticks(x0, x1);
            (t.ticks, Some(t.format), t.label)
        }
        XAxis::Linear(label) => (nice_ticks(x0, x1, 10, 0.0), None, label.clone()),
    };
    let x_step = if ticks.len() > 1 { ticks[1] - ticks[0] } else { x1 - x0 };
    let y_ticks = nice_ticks(y0, y1, 8, if y_counts { 1.0 } else { 0.0 });
    let y_step = if y_ticks.len() > 1 { y_ticks[1] - y_ticks[0] } else { y1 - y0 };
    let mut chart = ChartBuilder::on(&area)
        .margin(8)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(96)
        .build_cartesian_2d(Ticked { lo: x0, hi: x1, ticks }, Ticked { lo: y0, hi: y1, ticks: y_ticks })
        .map_err(|e| err(&e))?;
    let y_fmt = |v: &f64| axis_number(*v, y_step);
    let x_fmt = |v: &f64| match format {
        Some(f) => utc(*v, f),
        None => axis_number(*v, x_step),
    };
    chart
        .configure_mesh()
        .x_desc(x_label.as_str())
        .y_desc(y_label)
        .x_labels(12)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .bold_line_style(BLACK.mix(0.1))
        .draw()
        .map_err(|e| err(&e))?;
    draw(&mut chart)
}

/// A series ready to draw: its (decimated) points, colour and name.
type Drawn<'a> = (Vec<(f64, f64)>, RGBColor, &'a str);

/// Lines over time or a numeric axis.
pub fn line_chart(c: &LineChart) -> Result<Svg> {
    let series: Vec<Drawn<'_>> = c
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = decimate(&s.points, WIDTH as usize);
            (if c.step { steps(&p) } else { p }, color_of(s, i), s.name.as_str())
        })
        .collect();
    let all = || series.iter().flat_map(|s| s.0.iter());
    let (Some(xr), Some(yr)) = (range_exact(all().map(|p| p.0)), range(all().map(|p| p.1))) else {
        return empty(&c.title, "no data");
    };
    let legend: Vec<Entry> = if series.len() > 1 {
        series.iter().map(|s| Entry { name: s.2.to_owned(), swatch: Swatch::Line(s.1) }).collect()
    } else {
        Vec::new()
    };
    canvas(&c.title, (WIDTH, HEIGHT), |root| {
        xy_frame(root, &c.title, &c.x, &c.y_label, xr, yr, false, &legend, |chart| {
            for (points, color, _) in &series {
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| draw_error(&c.title)(&e))?;
            }
            Ok(())
        })
    })
}

/// The x range exactly (time axes start and end at the data).
fn range_exact(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        None
    } else if lo == hi {
        Some((lo - 0.5, hi + 0.5))
    } else {
        Some((lo, hi))
    }
}

/// One series filled down to its baseline.
pub fn area_chart(c: &AreaChart) -> Result<Svg> {
    let points = decimate(&c.series.points, WIDTH as usize);
    let (Some(xr), Some(yr)) =
        (range_exact(points.iter().map(|p| p.0)), range(points.iter().map(|p| p.1).chain([c.baseline])))
    else {
        return empty(&c.title, "no data");
    };
    let color = color_of(&c.series, 0);
    canvas(&c.title, (WIDTH, HEIGHT), |root| {
        xy_frame(root, &c.title, &c.x, &c.y_label, xr, yr, false, &[], |chart| {
            chart
                .draw_series(
                    AreaSeries::new(points.iter().copied(), c.baseline, color.mix(0.25))
                        .border_style(color.stroke_width(2)),
                )
                .map_err(|e| draw_error(&c.title)(&e))?;
            Ok(())
        })
    })
}

/// Points (markers) over context lines.
pub fn scatter_chart(c: &ScatterChart) -> Result<Svg> {
    let lines: Vec<Drawn<'_>> = c
        .lines
        .iter()
        .enumerate()
        .map(|(i, s)| (decimate(&s.points, WIDTH as usize), color_of(s, i), s.name.as_str()))
        .collect();
    let xs = lines
        .iter()
        .flat_map(|l| l.0.iter().map(|p| p.0))
        .chain(c.points.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = lines
        .iter()
        .flat_map(|l| l.0.iter().map(|p| p.1))
        .chain(c.points.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let (Some(xr), Some(yr)) = (range_exact(xs), range(ys)) else {
        return empty(&c.title, "no data");
    };
    let mut legend: Vec<Entry> =
        lines.iter().map(|l| Entry { name: l.2.to_owned(), swatch: Swatch::Line(l.1) }).collect();
    legend.extend(
        c.points
            .iter()
            .map(|p| Entry { name: p.name.clone(), swatch: Swatch::Marker(p.marker, p.filled, p.color.color()) }),
    );
    if legend.len() < 2 {
        legend.clear();
    }
    canvas(&c.title, (WIDTH, HEIGHT), |root| {
        xy_frame(root, &c.title, &c.x, &c.y_label, xr, yr, false, &legend, |chart| {
            let err = draw_error(&c.title);
            for (points, color, _) in &lines {
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), color.mix(0.8).stroke_width(1)))
                    .map_err(|e| err(&e))?;
            }
            for set in &c.points {
                let color = set.color.color();
                let shape = marker_shape(set.marker);
                if set.filled {
                    let style = color.mix(0.85).filled();
                    chart
                        .draw_series(
                            set.points.iter().map(|&p| EmptyElement::at(p) + Polygon::new(shape.clone(), style)),
                        )
                        .map_err(|e| err(&e))?;
                } else {
                    let style = color.stroke_width(1);
                    let mut outline = shape.clone();
                    outline.push(shape[0]);
                    chart
                        .draw_series(
                            set.points.iter().map(|&p| EmptyElement::at(p) + PathElement::new(outline.clone(), style)),
                        )
                        .map_err(|e| err(&e))?;
                }
            }
            Ok(())
        })
    })
}

fn marker_shape(m: Marker) -> Vec<(i32, i32)> {
    match m {
        Marker::Up => vec![(0, -5), (5, 4), (-5, 4)],
        Marker::Down => vec![(0, 5), (5, -4), (-5, -4)],
        Marker::Circle => (0..12)
            .map(|i| {
                let a = f64::from(i) * std::f64::consts::TAU / 12.0;
                ((4.0 * a.cos()).round() as i32, (4.0 * a.sin()).round() as i32)
            })
            .collect(),
    }
}

/// A number of bins for `n` values: twice the square root, between 10 and 60.
pub fn bins_for(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()).ceil() as usize).clamp(10, 60)
}

/// Equal-width bins over the finite values: (lower edge, width, counts).
fn bin(values: &[f64], bins: usize) -> Option<(f64, f64, Vec<u64>)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo == hi {
        let w = if lo == 0.0 { 1.0 } else { lo.abs() * 0.02 };
        return Some((lo - w / 2.0, w, vec![finite.len() as u64]));
    }
    let n = bins.max(1);
    let width = (hi - lo) / n as f64;
    let mut counts = vec![0u64; n];
    for v in finite {
        let i = (((v - lo) / width) as usize).min(n - 1);
        counts[i] += 1;
    }
    Some((lo, width, counts))
}

/// A histogram: counts of values per equal-width bin, with a line at zero
/// when zero is inside the range.
pub fn histogram(c: &Histogram) -> Result<Svg> {
    let Some((lo, width, counts)) = bin(&c.values, c.bins) else {
        return empty(&c.title, "no values");
    };
    let hi = lo + width * counts.len() as f64;
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.08;
    let total: u64 = counts.iter().sum();
    let pad = width / 2.0;
    canvas(&c.title, (WIDTH, HEIGHT), |root| {
        xy_frame(
            root,
            &c.title,
            &XAxis::Linear(c.x_label.clone()),
            &format!("count (of {total})"),
            (lo - pad, hi + pad),
            (0.0, top),
            true,
            &[],
            |chart| {
                let err = draw_error(&c.title);
                let fill = Rgb::BLUE.color().mix(0.7).filled();
                chart
                    .draw_series(counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, &n)| {
                        let x = lo + width * i as f64;
                        Rectangle::new([(x, 0.0), (x + width, n as f64)], fill)
                    }))
                    .map_err(|e| err(&e))?;
                if lo < 0.0 && hi > 0.0 {
                    chart
                        .draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (0.0, top)], BLACK.mix(0.6))))
                        .map_err(|e| err(&e))?;
                }
                Ok(())
            },
        )
    })
}

/// Bars per category, green above zero and red below.
pub fn bar_chart(c: &BarChart) -> Result<Svg> {
    if c.bars.is_empty() {
        return empty(&c.title, "no categories");
    }
    let Some(yr) = range(c.bars.iter().map(|b| b.1).chain([0.0])) else {
        return empty(&c.title, "no finite values");
    };
    let n = c.bars.len();
    // A few categories get bars of a sensible width, centred.
    let pad = (6.0 - n as f64).max(0.0) / 2.0;
    let (x0, x1) = (-0.5 - pad, n as f64 - 0.5 + pad);
    let title = c.title.as_str();
    canvas(title, (WIDTH, HEIGHT), |root| {
        let err = draw_error(title);
        let area = title_and_legend(root, title, &[])?;
        let names: Vec<&str> = c.bars.iter().map(|b| b.0.as_str()).collect();
        let x_fmt = |v: &f64| label_at(&names, *v);
        let y_ticks = nice_ticks(yr.0, yr.1, 8, 0.0);
        let y_step = tick_step(yr.0, yr.1, 8);
        let y_fmt = |v: &f64| axis_number(*v, y_step);
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(96)
            .build_cartesian_2d(
                Ticked { lo: x0, hi: x1, ticks: (0..n).map(|i| i as f64).collect() },
                Ticked { lo: yr.0, hi: yr.1, ticks: y_ticks },
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(c.x_label.as_str())
            .y_desc(c.y_label.as_str())
            .x_labels(n)
            .x_label_formatter(&x_fmt)
            .y_labels(8)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .bold_line_style(BLACK.mix(0.1))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(c.bars.iter().enumerate().filter(|b| b.1.1.is_finite()).map(|(i, (_, v))| {
                let color = if *v >= 0.0 { Rgb::GREEN } else { Rgb::RED }.color();
                let x = i as f64;
                Rectangle::new([(x - 0.35, 0.0), (x + 0.35, *v)], color.mix(0.8).filled())
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(x0, 0.0), (x1, 0.0)], BLACK.mix(0.6))))
            .map_err(|e| err(&e))?;
        Ok(())
    })
}

/// Viridis, sampled at nine stops; `t` in 0..=1.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heatmap of a metric over two parameters, with a colour bar; cells show
/// their value when there are few enough to read.
pub fn heatmap(c: &Heatmap) -> Result<Svg> {
    let (nx, ny) = (c.x.len(), c.y.len());
    if nx == 0 || ny == 0 {
        return empty(&c.title, "no parameter values");
    }
    if c.z.len() != ny || c.z.iter().any(|row| row.len() != nx) {
        return Err(Error::Draw {
            chart: c.title.clone(),
            message: format!("the grid must be {ny} rows of {nx} values (one per y and x value)"),
        });
    }
    let values = || c.z.iter().flatten().filter_map(|v| *v).filter(|v| v.is_finite());
    let (zmin, zmax) = values().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (zmin, zmax) = if zmin > zmax {
        (0.0, 1.0)
    } else if zmin == zmax {
        (zmin - 0.5, zmax + 0.5)
    } else {
        (zmin, zmax)
    };
    let height = (HEIGHT + 20 * ny.saturating_sub(8) as u32).min(1200);
    let title = c.title.as_str();
    canvas(title, (WIDTH, height), |root| {
        let err = draw_error(title);
        let (main, bar) = root.split_horizontally(WIDTH - 130);
        let x_fmt = |v: &f64| label_at(&c.x, *v);
        let y_fmt = |v: &f64| label_at(&c.y, *v);
        let main = title_and_legend(&main, title, &[])?;
        let mut chart = ChartBuilder::on(&main)
            .margin(8)
            .x_label_area_size(48)
            .y_label_area_size(96)
            .build_cartesian_2d(
                Ticked { lo: -0.5, hi: nx as f64 - 0.5, ticks: (0..nx).map(|i| i as f64).collect() },
                Ticked { lo: -0.5, hi: ny as f64 - 0.5, ticks: (0..ny).map(|i| i as f64).collect() },
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(c.x_label.as_str())
            .y_desc(c.y_label.as_str())
            .x_labels(nx)
            .y_labels(ny)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(|e| err(&e))?;
        let cells = c.z.iter().enumerate().flat_map(|(j, row)| row.iter().enumerate().map(move |(i, v)| (i, j, *v)));
        chart
            .draw_series(cells.clone().map(|(i, j, v)| {
                let color = match v {
                    Some(v) if v.is_finite() => viridis((v - zmin) / (zmax - zmin)).filled(),
                    _ => RGBColor(0xdd, 0xdd, 0xdd).filled(),
                };
                let (x, y) = (i as f64, j as f64);
                Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], color)
            }))
            .map_err(|e| err(&e))?;
        if nx * ny <= 400 {
            let anchor = plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            );
            chart
                .draw_series(cells.map(|(i, j, v)| {
                    let (text, ink) = match v {
                        Some(v) if v.is_finite() => {
                            let light = (v - zmin) / (zmax - zmin) > 0.6;
                            (significant(v, 3), if light { BLACK } else { WHITE })
                        }
                        _ => ("–".to_owned(), BLACK),
                    };
                    Text::new(text, (i as f64, j as f64), ("sans-serif", 15).into_font().color(&ink).pos(anchor))
                }))
                .map_err(|e| err(&e))?;
        }
        // Colour bar.
        let mut scale = ChartBuilder::on(&bar)
            .margin_top(TITLE_BAND + 8)
            .margin_bottom(56)
            .margin_right(8)
            .y_label_area_size(0)
            .right_y_label_area_size(80)
            .build_cartesian_2d(0.0..1.0, zmin..zmax)
            .map_err(|e| err(&e))?;
        let z_span = zmax - zmin;
        let z_step = tick_step(zmin, zmax, 8);
        let z_fmt = |v: &f64| axis_number(*v, z_step);
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(c.z_label.as_str())
            .y_labels(8)
            .y_label_formatter(&z_fmt)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(|e| err(&e))?;
        let steps = 64;
        scale
            .draw_series((0..steps).map(|k| {
                let a = zmin + z_span * k as f64 / steps as f64;
                let b = zmin + z_span * (k + 1) as f64 / steps as f64;
                Rectangle::new([(0.0, a), (1.0, b)], viridis((k as f64 + 0.5) / steps as f64).filled())
            }))
            .map_err(|e| err(&e))?;
        Ok(())
    })
}

fn label_at<S: AsRef<str>>(labels: &[S], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
        labels[i as usize].as_ref().to_owned()
    } else {
        String::new()
    }
}

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends `s` to `out` with HTML's special characters escaped.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => {
                let _ = out.write_char(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> f64 {
        1_723_075_200.0 // 2024-08-08T00:00:00Z
    }

    #[test]
    fn time_ticks_fall_on_round_utc_times() {
        let t = time_ticks(t0() + 7.3, t0() + 127.9);
        assert_eq!(t.ticks.first().copied(), Some(t0() + 15.0));
        assert!(t.ticks.windows(2).all(|w| (w[1] - w[0] - 15.0).abs() < 1e-6), "{t:?}");
        assert_eq!(t.label, "time (UTC, 2024-08-08)");
        assert_eq!(utc(t.ticks[0], t.format), "00:00:15");
        let days = time_ticks(t0(), t0() + 12.0 * 86400.0);
        assert_eq!(days.label, "time (UTC)");
        assert_eq!(utc(days.ticks[0], days.format), "2024-08-09", "whole days, every second one");
    }

    #[test]
    fn decimation_keeps_every_extreme_and_the_ends() {
        let points: Vec<(f64, f64)> = (0..100_000).map(|i| (f64::from(i), f64::from(i % 997) - 500.0)).collect();
        let d = decimate(&points, 100);
        assert!(d.len() <= 400, "{}", d.len());
        assert_eq!(d.first(), points.first());
        assert_eq!(d.last(), points.last());
        let (lo, hi) = d.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        assert_eq!((lo, hi), (-500.0, 496.0));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "x order kept");
    }

    #[test]
    fn line_chart_has_axes_legend_and_no_external_reference() {
        let s1 = Series::new("equity", (0..50).map(|i| (t0() + f64::from(i), f64::from(i).sin())).collect());
        let s2 = Series::new("cash", (0..50).map(|i| (t0() + f64::from(i), f64::from(i).cos())).collect());
        let svg = line_chart(&LineChart {
            title: "Equity".into(),
            x: XAxis::Time,
            y_label: "USDT".into(),
            series: vec![s1, s2],
            step: false,
        })
        .unwrap();
        let s = svg.as_str();
        assert!(s.starts_with("<svg"), "{}", &s[..80]);
        assert!(!s.contains("http"), "no URL, not even the namespace");
        for text in ["Equity", "USDT", "time (UTC, 2024-08-08)", "equity", "cash", "00:00:10"] {
            assert!(s.contains(text), "missing {text:?}");
        }
    }

    #[test]
    fn empty_series_draw_a_notice_instead_of_failing() {
        let svg = line_chart(&LineChart {
            title: "Inventory".into(),
            x: XAxis::Time,
            y_label: "BTC".into(),
            series: vec![Series::new("x", vec![])],
            step: true,
        })
        .unwrap();
        assert!(svg.as_str().contains("no data"));
        assert!(
            histogram(&Histogram { title: "h".into(), x_label: "x".into(), values: vec![f64::NAN], bins: 10 })
                .unwrap()
                .as_str()
                .contains("no values")
        );
    }

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from(i) / 10.0).chain([f64::NAN, f64::INFINITY]).collect();
        let (lo, width, counts) = bin(&values, 7).unwrap();
        assert_eq!(counts.iter().sum::<u64>(), 1000);
        assert_eq!(lo, 0.0);
        assert!((lo + width * 7.0 - 99.9).abs() < 1e-9);
        let (_, _, one) = bin(&[3.0, 3.0, 3.0], 20).unwrap();
        assert_eq!(one, vec![3], "equal values land in one bin");
        let svg =
            histogram(&Histogram { title: "dist".into(), x_label: "PnL (USDT)".into(), values, bins: 7 }).unwrap();
        assert!(svg.as_str().contains("count (of 1000)"));
    }

    #[test]
    fn heatmap_labels_cells_and_marks_missing_ones() {
        let svg = heatmap(&Heatmap {
            title: "net PnL over the grid".into(),
            x_label: "half_spread_ticks".into(),
            y_label: "size_lots".into(),
            z_label: "net PnL (USDT)".into(),
            x: vec!["1".into(), "2".into(), "3".into()],
            y: vec!["1".into(), "5".into()],
            z: vec![vec![Some(-1.5), Some(0.25), None], vec![Some(2.0), Some(3.0), Some(4.0)]],
        })
        .unwrap();
        let s = svg.as_str();
        for text in ["half_spread_ticks", "size_lots", "net PnL (USDT)", "-1.50", "0.250", "4.00", "–"] {
            assert!(s.contains(text), "missing {text:?}");
        }
        let bad = heatmap(&Heatmap {
            title: "t".into(),
            x_label: "a".into(),
            y_label: "b".into(),
            z_label: "c".into(),
            x: vec!["1".into()],
            y: vec!["1".into()],
            z: vec![vec![Some(1.0), Some(2.0)]],
        });
        assert!(matches!(bad, Err(Error::Draw { .. })));
    }

    #[test]
    fn bar_and_scatter_charts_draw_their_categories_and_legends() {
        let svg = bar_chart(&BarChart {
            title: "PnL per tag".into(),
            x_label: "order tag".into(),
            y_label: "USDT".into(),
            bars: vec![("bid".into(), 1.5), ("ask".into(), -0.5)],
        })
        .unwrap();
        assert!(svg.as_str().contains("\nbid\n") && svg.as_str().contains("\nask\n"));
        let svg = scatter_chart(&ScatterChart {
            title: "Fills".into(),
            x: XAxis::Time,
            y_label: "price".into(),
            lines: vec![Series::new("mid", vec![(t0(), 1.0), (t0() + 60.0, 2.0)]).with_color(Rgb::GREY)],
            points: vec![
                PointSet {
                    name: "buy maker".into(),
                    points: vec![(t0() + 1.0, 1.1)],
                    marker: Marker::Up,
                    filled: true,
                    color: Rgb::GREEN,
                },
                PointSet {
                    name: "sell taker".into(),
                    points: vec![(t0() + 2.0, 1.2)],
                    marker: Marker::Down,
                    filled: false,
                    color: Rgb::RED,
                },
            ],
        })
        .unwrap();
        for text in ["mid", "buy maker", "sell taker", "<polygon", "<polyline"] {
            assert!(svg.as_str().contains(text), "missing {text:?}");
        }
    }

    #[test]
    fn significant_digits() {
        assert_eq!(significant(1234.5678, 3), "1235");
        assert_eq!(significant(0.012345, 3), "0.0123");
        assert_eq!(significant(-2.0, 3), "-2.00");
        assert_eq!(significant(0.0, 3), "0");
    }
}
