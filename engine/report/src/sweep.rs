//! Pieces of the sweep report, ready for `ticktape sweep`: the grid of a
//! metric over two parameters (for [`chart::heatmap`](crate::chart::heatmap))
//! and the sortable table of runs.

use std::collections::BTreeMap;

use crate::chart::Heatmap;
use crate::page::{Cell, Table};

/// One run's value of the metric at one point of the two parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GridPoint {
    /// The first parameter's value, as written in the sweep.
    pub x: String,
    /// The second parameter's value.
    pub y: String,
    /// The metric; `None` for a failed run or an undefined metric.
    pub value: Option<f64>,
}

/// Parameter values in display order: numerically when every value is a
/// number, else as text.
fn axis_values<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = values.map(str::to_owned).collect();
    v.sort();
    v.dedup();
    if v.iter().all(|s| s.parse::<f64>().is_ok_and(f64::is_finite)) {
        v.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
    }
    v
}

/// The heatmap of a metric over two parameters. Runs that share a cell (the
/// same two values over several tape sets, or other parameters) are
/// averaged over their defined values; a cell with none is missing.
pub fn metric_grid(
    title: impl Into<String>,
    x_label: impl Into<String>,
    y_label: impl Into<String>,
    z_label: impl Into<String>,
    points: &[GridPoint],
) -> Heatmap {
    let x = axis_values(points.iter().map(|p| p.x.as_str()));
    let y = axis_values(points.iter().map(|p| p.y.as_str()));
    let xi: BTreeMap<&str, usize> = x.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
    let yi: BTreeMap<&str, usize> = y.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
    let mut sums = vec![vec![(0.0, 0u64); x.len()]; y.len()];
    for p in points {
        if let Some(v) = p.value.filter(|v| v.is_finite()) {
            let cell = &mut sums[yi[p.y.as_str()]][xi[p.x.as_str()]];
            cell.0 += v;
            cell.1 += 1;
        }
    }
    let z = sums.iter().map(|row| row.iter().map(|&(s, n)| (n > 0).then(|| s / n as f64)).collect()).collect();
    Heatmap { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), z_label: z_label.into(), x, y, z }
}

/// One value of a run in the table of runs.
#[derive(Clone, Debug, PartialEq)]
pub enum RunValue {
    /// Text (a parameter, the status, an error).
    Text(String),
    /// A number; `None` when undefined.
    Number(Option<f64>),
}

/// The sortable table of runs: one row per run, in the order given (the
/// sweep's deterministic order), with numbers to 6 significant digits.
pub fn runs_table(columns: &[&str], runs: &[Vec<RunValue>]) -> Table {
    let mut t = Table::new(columns);
    t.rows = runs
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    RunValue::Text(s) => Cell::text(s.clone()),
                    RunValue::Number(Some(x)) => Cell::number(*x, 6),
                    RunValue::Number(None) => Cell::Number(None, "–".into()),
                })
                .collect()
        })
        .collect();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{Block, Page, Section};

    fn p(x: &str, y: &str, value: Option<f64>) -> GridPoint {
        GridPoint { x: x.into(), y: y.into(), value }
    }

    #[test]
    fn grid_orders_numbers_numerically_and_averages_shared_cells() {
        let g = metric_grid(
            "net PnL",
            "half_spread_ticks",
            "size_lots",
            "USDT",
            &[
                p("10", "1", Some(1.0)),
                p("2", "1", Some(2.0)),
                p("2", "1", Some(4.0)),
                p("2", "1", None),
                p("10", "5", None),
                p("2", "5", Some(f64::NAN)),
            ],
        );
        assert_eq!(g.x, vec!["2", "10"], "numeric order, not text order");
        assert_eq!(g.y, vec!["1", "5"]);
        assert_eq!(g.z, vec![vec![Some(3.0), Some(1.0)], vec![None, None]], "mean of the defined values");
        assert!(crate::chart::heatmap(&g).is_ok());
        let text = metric_grid("t", "a", "b", "c", &[p("b", "1", Some(1.0)), p("a", "1", Some(2.0))]);
        assert_eq!(text.x, vec!["a", "b"]);
    }

    #[test]
    fn runs_table_sorts_in_the_page() {
        let t = runs_table(
            &["run", "half_spread_ticks", "net PnL", "status"],
            &[
                vec![
                    RunValue::Number(Some(0.0)),
                    RunValue::Text("1".into()),
                    RunValue::Number(Some(1.25)),
                    RunValue::Text("ok".into()),
                ],
                vec![
                    RunValue::Number(Some(1.0)),
                    RunValue::Text("2".into()),
                    RunValue::Number(None),
                    RunValue::Text("failed: panic".into()),
                ],
            ],
        );
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0][2], Cell::Number(Some(1.25), "1.25".into()));
        assert_eq!(t.rows[1][2], Cell::Number(None, "–".into()));
        let mut page = Page::new("sweep");
        page.push(Section::new("Runs").with(Block::Table(t)));
        let h = page.to_html();
        assert!(h.contains("<table class=\"sortable\">") && h.contains("data-v=\"1.25\""));
    }
}
