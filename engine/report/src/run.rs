//! The report of one run folder: what `ticktape run` writes (summary.json,
//! equity.parquet, inventory.parquet, fills.parquet, orders.parquet) drawn
//! as one HTML page.
//!
//! Sections: the summary; equity and PnL components; drawdown; inventory per
//! symbol; fills over the mark price per symbol (buys and sells, maker and
//! taker); the PnL distribution (equity changes between samples, and the
//! realised PnL of each closing fill); attribution per order tag; orders by
//! status.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::chart::{
    self, AreaChart, BarChart, Histogram, LineChart, Marker, PointSet, Rgb, ScatterChart, Series, XAxis, significant,
};
use crate::error::{Error, Result};
use crate::page::{Block, Cell, Page, Section, Table};

/// The files a run folder must hold.
pub const RUN_FILES: [&str; 5] =
    ["summary.json", "equity.parquet", "inventory.parquet", "fills.parquet", "orders.parquet"];

/// At most this many fills are drawn per symbol; more are thinned evenly
/// (the note under the chart says so). Every fill counts in the tables.
pub const MAX_FILL_MARKERS: usize = 20_000;

/// Whether `dir` holds the files of a run folder.
pub fn is_run_folder(dir: &Path) -> bool {
    RUN_FILES.iter().all(|f| dir.join(f).is_file())
}

/// Renders the report of the run folder `dir` into the HTML file `out`
/// (written under a temporary name and renamed when complete).
pub fn render_run_report(dir: &Path, out: &Path) -> Result<()> {
    run_report(dir)?.write(out)
}

/// The report page of the run folder `dir`.
pub fn run_report(dir: &Path) -> Result<Page> {
    let run = RunData::load(dir)?;
    run.page()
}

/// A Parquet table read whole.
struct Parquet {
    path: PathBuf,
    batches: Vec<RecordBatch>,
}

fn read_error(path: &Path, action: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Read { path: path.to_path_buf(), action, message: e.to_string() }
}

impl Parquet {
    fn read(path: PathBuf) -> Result<Parquet> {
        let file = File::open(&path).map_err(|e| read_error(&path, "open", e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| read_error(&path, "read Parquet", e))?;
        let batches =
            reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| read_error(&path, "read Parquet", e))?;
        Ok(Parquet { path, batches })
    }

    fn column<'a, A: Array + 'static>(&'a self, name: &'static str, expected: &'static str) -> Result<Vec<&'a A>> {
        self.batches
            .iter()
            .map(|b| {
                let c = b.column_by_name(name).ok_or_else(|| Error::Column {
                    path: self.path.clone(),
                    column: name,
                    problem: "is missing".into(),
                    expected,
                })?;
                c.as_any().downcast_ref::<A>().ok_or_else(|| Error::Column {
                    path: self.path.clone(),
                    column: name,
                    problem: format!("has type {}", c.data_type()),
                    expected,
                })
            })
            .collect()
    }

    /// A float column; nulls as NaN.
    fn f64(&self, name: &'static str) -> Result<Vec<f64>> {
        let cols = self.column::<Float64Array>(name, "Float64")?;
        Ok(cols.iter().flat_map(|a| a.iter().map(|v| v.unwrap_or(f64::NAN))).collect())
    }

    fn u64(&self, name: &'static str) -> Result<Vec<u64>> {
        let cols = self.column::<UInt64Array>(name, "UInt64")?;
        Ok(cols.iter().flat_map(|a| a.iter().map(|v| v.unwrap_or(0))).collect())
    }

    fn string(&self, name: &'static str) -> Result<Vec<String>> {
        let cols = self.column::<StringArray>(name, "Utf8")?;
        Ok(cols.iter().flat_map(|a| a.iter().map(|v| v.unwrap_or("").to_owned())).collect())
    }

    /// A timestamp column as seconds since the epoch.
    fn time(&self, name: &'static str) -> Result<Vec<f64>> {
        let cols = self.column::<TimestampNanosecondArray>(name, "Timestamp(ns, UTC)")?;
        Ok(cols.iter().flat_map(|a| a.iter().map(|v| v.map_or(f64::NAN, |ns| ns as f64 / 1e9))).collect())
    }
}

struct Equity {
    ts: Vec<f64>,
    equity: Vec<f64>,
    realized: Vec<f64>,
    unrealized: Vec<f64>,
    fees: Vec<f64>,
    funding: Vec<f64>,
}

struct Inventory {
    ts: Vec<f64>,
    symbol: Vec<String>,
    position: Vec<f64>,
    mark: Vec<f64>,
}

struct Fills {
    ts: Vec<f64>,
    tag: Vec<u64>,
    symbol: Vec<String>,
    buy: Vec<bool>,
    price: Vec<f64>,
    qty: Vec<f64>,
    maker: Vec<bool>,
    fee: Vec<f64>,
    realized: Vec<f64>,
}

struct Orders {
    tag: Vec<u64>,
    status: Vec<String>,
    filled: Vec<f64>,
}

/// Everything read from a run folder.
struct RunData {
    dir: PathBuf,
    summary: serde_json::Map<String, Value>,
    equity: Equity,
    inventory: Inventory,
    fills: Fills,
    orders: Orders,
}

impl RunData {
    fn load(dir: &Path) -> Result<RunData> {
        if !dir.is_dir() {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                action: "open the run folder",
                message: "no such folder; pass the folder `ticktape run` wrote".into(),
            });
        }
        let missing: Vec<&str> = RUN_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
        if !missing.is_empty() {
            return Err(Error::NotARunFolder { dir: dir.to_path_buf(), missing: missing.join(", ") });
        }
        let path = dir.join("summary.json");
        let text = std::fs::read(&path).map_err(|e| read_error(&path, "read", e))?;
        let summary = match serde_json::from_slice::<Value>(&text).map_err(|e| read_error(&path, "parse JSON", e))? {
            Value::Object(m) => m,
            _ => return Err(read_error(&path, "read the summary", "the file is not a JSON object")),
        };

        let t = Parquet::read(dir.join("equity.parquet"))?;
        let equity = Equity {
            ts: t.time("ts")?,
            equity: t.f64("equity")?,
            realized: t.f64("realized_pnl")?,
            unrealized: t.f64("unrealized_pnl")?,
            fees: t.f64("fees")?,
            funding: t.f64("funding")?,
        };
        let t = Parquet::read(dir.join("inventory.parquet"))?;
        let inventory = Inventory {
            ts: t.time("ts")?,
            symbol: t.string("symbol")?,
            position: t.f64("position")?,
            mark: t.f64("mark")?,
        };
        let t = Parquet::read(dir.join("fills.parquet"))?;
        let fills = Fills {
            ts: t.time("ts")?,
            tag: t.u64("tag")?,
            symbol: t.string("symbol")?,
            buy: t.string("side")?.iter().map(|s| s == "buy").collect(),
            price: t.f64("price")?,
            qty: t.f64("qty")?,
            maker: t.string("liquidity")?.iter().map(|s| s == "maker").collect(),
            fee: t.f64("fee")?,
            realized: t.f64("realized_pnl")?,
        };
        let t = Parquet::read(dir.join("orders.parquet"))?;
        let orders = Orders { tag: t.u64("tag")?, status: t.string("status")?, filled: t.f64("filled_qty")? };
        Ok(RunData { dir: dir.to_path_buf(), summary, equity, inventory, fills, orders })
    }

    /// Symbols, sorted.
    fn symbols(&self) -> Vec<String> {
        let mut s: Vec<String> = self.inventory.symbol.iter().chain(&self.fills.symbol).cloned().collect();
        s.sort();
        s.dedup();
        s
    }

    /// The quote currency when every symbol ends in the same well-known one.
    fn quote(&self) -> String {
        let symbols = self.symbols();
        for q in ["USDT", "USDC", "FDUSD", "BUSD", "USD"] {
            if !symbols.is_empty() && symbols.iter().all(|s| s.ends_with(q) && s.len() > q.len()) {
                return q.to_owned();
            }
        }
        "quote currency".to_owned()
    }

    fn page(&self) -> Result<Page> {
        let quote = self.quote();
        let strategy = self.summary.get("strategy").and_then(Value::as_str).unwrap_or("a strategy");
        let mut page = Page::new(format!("Backtest of {strategy}"));
        page.subtitle = Some(format!("run folder {}", self.dir.display()));
        page.push(self.summary_section(&quote));
        page.push(self.equity_section(&quote)?);
        page.push(self.inventory_section()?);
        page.push(self.fills_section(&quote)?);
        page.push(self.distribution_section(&quote)?);
        page.push(self.attribution_section(&quote)?);
        page.push(self.orders_section());
        Ok(page)
    }

    fn summary_section(&self, quote: &str) -> Section {
        let mut s = Section::new("Summary");
        if let Some(Value::String(e)) = self.summary.get("error") {
            s.push(Block::Note(format!("The strategy failed: {e}. The figures cover the run up to the failure.")));
        }
        s.push(Block::KeyValue(summary_pairs(&self.summary, quote)));
        s.push(Block::Note(
            "Ratios are annualised from the per-sample equity changes; over a run of minutes they are formally \
             correct but not meaningful. A dash is an undefined value."
                .into(),
        ));
        s
    }

    fn equity_section(&self, quote: &str) -> Result<Section> {
        let e = &self.equity;
        let capital = self.summary.get("capital").and_then(Value::as_f64).or_else(|| e.equity.first().copied());
        let pts = |v: &[f64]| e.ts.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
        let mut s = Section::new("Equity and drawdown");
        s.push(Block::Chart(chart::line_chart(&LineChart {
            title: "Equity".into(),
            x: XAxis::Time,
            y_label: format!("equity ({quote})"),
            series: vec![Series::new("equity", pts(&e.equity))],
            step: false,
        })?));
        let net: Vec<f64> = e.equity.iter().map(|v| v - capital.unwrap_or(0.0)).collect();
        let fees: Vec<f64> = e.fees.iter().map(|v| -v).collect();
        s.push(Block::Chart(chart::line_chart(&LineChart {
            title: "PnL components".into(),
            x: XAxis::Time,
            y_label: format!("cumulative PnL ({quote})"),
            series: vec![
                Series::new("net (equity − capital)", pts(&net)).with_color(Rgb(0x22, 0x22, 0x22)),
                Series::new("realised", pts(&e.realized)).with_color(chart::PALETTE[0]),
                Series::new("unrealised", pts(&e.unrealized)).with_color(chart::PALETTE[1]),
                Series::new("− fees", pts(&fees)).with_color(chart::PALETTE[3]),
                Series::new("funding", pts(&e.funding)).with_color(chart::PALETTE[4]),
            ],
            step: false,
        })?));
        let mut peak = f64::NEG_INFINITY;
        let dd: Vec<(f64, f64)> =
            e.ts.iter()
                .zip(&e.equity)
                .map(|(&t, &v)| {
                    peak = peak.max(v);
                    (t, v - peak)
                })
                .collect();
        s.push(Block::Chart(chart::area_chart(&AreaChart {
            title: "Drawdown".into(),
            x: XAxis::Time,
            y_label: format!("equity − running peak ({quote})"),
            series: Series::new("drawdown", dd).with_color(Rgb::RED),
            baseline: 0.0,
        })?));
        s.push(Block::Note(format!(
            "{} equity samples. Net = realised + unrealised − fees + funding. The drawdown is the fall of equity \
             from its highest earlier sample.",
            e.ts.len()
        )));
        Ok(s)
    }

    fn inventory_section(&self) -> Result<Section> {
        let mut s = Section::new("Inventory");
        let quote = self.quote();
        for sym in self.symbols() {
            let inv = &self.inventory;
            let points: Vec<(f64, f64)> =
                (0..inv.ts.len()).filter(|&i| inv.symbol[i] == sym).map(|i| (inv.ts[i], inv.position[i])).collect();
            let unit = sym.strip_suffix(quote.as_str()).filter(|b| !b.is_empty()).unwrap_or("contracts");
            s.push(Block::Chart(chart::line_chart(&LineChart {
                title: format!("Position in {sym}"),
                x: XAxis::Time,
                y_label: format!("position ({unit})"),
                series: vec![Series::new(sym.clone(), points)],
                step: true,
            })?));
        }
        s.push(Block::Note("The position at each equity sample (long positive, short negative).".into()));
        Ok(s)
    }

    fn fills_section(&self, quote: &str) -> Result<Section> {
        let mut s = Section::new("Fills over the price");
        let (inv, f) = (&self.inventory, &self.fills);
        for sym in self.symbols() {
            let mark: Vec<(f64, f64)> = (0..inv.ts.len())
                .filter(|&i| inv.symbol[i] == sym && inv.mark[i].is_finite())
                .map(|i| (inv.ts[i], inv.mark[i]))
                .collect();
            let idx: Vec<usize> = (0..f.ts.len()).filter(|&i| f.symbol[i] == sym).collect();
            let stride = idx.len().div_ceil(MAX_FILL_MARKERS).max(1);
            let shown: Vec<usize> = idx.iter().copied().step_by(stride).collect();
            let set = |name: &str, buy: bool, maker: bool| PointSet {
                name: name.into(),
                points: shown
                    .iter()
                    .filter(|&&i| f.buy[i] == buy && f.maker[i] == maker)
                    .map(|&i| (f.ts[i], f.price[i]))
                    .collect(),
                marker: if buy { Marker::Up } else { Marker::Down },
                filled: maker,
                color: if buy { Rgb::GREEN } else { Rgb::RED },
            };
            let points: Vec<PointSet> = [
                set("buy, maker", true, true),
                set("buy, taker", true, false),
                set("sell, maker", false, true),
                set("sell, taker", false, false),
            ]
            .into_iter()
            .filter(|p| !p.points.is_empty())
            .collect();
            s.push(Block::Chart(chart::scatter_chart(&ScatterChart {
                title: format!("Fills in {sym} over the mark price"),
                x: XAxis::Time,
                y_label: format!("price ({quote})"),
                lines: vec![Series::new("mark (per sample)", mark).with_color(Rgb::GREY)],
                points,
            })?));
            if idx.is_empty() {
                s.push(Block::Note(format!("No fills in {sym}.")));
            }
            if stride > 1 {
                s.push(Block::Note(format!(
                    "{} of {} fills drawn (every {stride}th); the tables count all of them.",
                    shown.len(),
                    idx.len()
                )));
            }
        }
        s.push(Block::Note(
            "Triangles up are buys, down are sells; filled triangles are maker fills, outlines taker fills. \
             The line is the mark price at each equity sample."
                .into(),
        ));
        Ok(s)
    }

    fn distribution_section(&self, quote: &str) -> Result<Section> {
        let mut s = Section::new("PnL distribution");
        let changes: Vec<f64> = self.equity.equity.windows(2).map(|w| w[1] - w[0]).collect();
        let interval = self.summary.get("sample_interval_s").and_then(Value::as_f64);
        let every = interval.map_or_else(String::new, |i| format!(" (every {} s)", significant(i, 3)));
        s.push(Block::Chart(chart::histogram(&Histogram {
            title: format!("Equity change between samples{every}"),
            x_label: format!("equity change per sample ({quote})"),
            bins: chart::bins_for(changes.len()),
            values: changes,
        })?));
        let closing: Vec<f64> = self.fills.realized.iter().copied().filter(|v| *v != 0.0).collect();
        s.push(Block::Chart(chart::histogram(&Histogram {
            title: "Realised PnL per closing fill".into(),
            x_label: format!("realised PnL of the fill, before fees ({quote})"),
            bins: chart::bins_for(closing.len()),
            values: closing,
        })?));
        s.push(Block::Note(
            "Top: the per-sample equity changes the Sharpe and Sortino ratios are computed from. Bottom: the \
             realised PnL of each fill that reduced a position (fills that only opened or added realise nothing \
             and are left out)."
                .into(),
        ));
        Ok(s)
    }

    fn attribution_section(&self, quote: &str) -> Result<Section> {
        #[derive(Default)]
        struct Tag {
            orders: u64,
            orders_filled: u64,
            fills: u64,
            maker: u64,
            buy_qty: f64,
            sell_qty: f64,
            notional: f64,
            realized: f64,
            fees: f64,
        }
        let mut tags: BTreeMap<u64, Tag> = BTreeMap::new();
        for (i, &tag) in self.orders.tag.iter().enumerate() {
            let t = tags.entry(tag).or_default();
            t.orders += 1;
            t.orders_filled += u64::from(self.orders.filled[i] > 0.0);
        }
        let f = &self.fills;
        for i in 0..f.ts.len() {
            let t = tags.entry(f.tag[i]).or_default();
            t.fills += 1;
            t.maker += u64::from(f.maker[i]);
            if f.buy[i] {
                t.buy_qty += f.qty[i];
            } else {
                t.sell_qty += f.qty[i];
            }
            t.notional += f.qty[i] * f.price[i];
            t.realized += f.realized[i];
            t.fees += f.fee[i];
        }
        let mut s = Section::new("Attribution per order tag");
        s.push(Block::Chart(chart::bar_chart(&BarChart {
            title: "Realised PnL after fees per order tag".into(),
            x_label: "order tag".into(),
            y_label: format!("realised − fees ({quote})"),
            bars: tags.iter().map(|(tag, t)| (tag.to_string(), t.realized - t.fees)).collect(),
        })?));
        let mut table = Table::new(&[
            "tag",
            "orders",
            "orders filled",
            "fills",
            "maker share",
            "bought",
            "sold",
            &format!("notional ({quote})"),
            &format!("realised ({quote})"),
            &format!("fees ({quote})"),
            &format!("realised − fees ({quote})"),
        ]);
        for (tag, t) in &tags {
            table.rows.push(vec![
                Cell::Number(Some(*tag as f64), tag.to_string()),
                Cell::count(t.orders),
                Cell::count(t.orders_filled),
                Cell::count(t.fills),
                Cell::percent((t.fills > 0).then(|| t.maker as f64 / t.fills as f64)),
                Cell::number(t.buy_qty, 6),
                Cell::number(t.sell_qty, 6),
                Cell::number(t.notional, 6),
                Cell::number(t.realized, 6),
                Cell::number(t.fees, 6),
                Cell::number(t.realized - t.fees, 6),
            ]);
        }
        s.push(Block::Table(table));
        s.push(Block::Note(
            "Per tag the strategy set on its orders (fills.parquet's and orders.parquet's `tag`). Realised PnL \
             is booked to the tag of the closing fill; unrealised PnL and funding belong to the shared position \
             and are not attributed. Fees are positive when paid, negative for rebates. Click a column to sort."
                .into(),
        ));
        Ok(s)
    }

    fn orders_section(&self) -> Section {
        let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
        for st in &self.orders.status {
            *by_status.entry(st.as_str()).or_default() += 1;
        }
        let total = self.orders.status.len() as f64;
        let mut table = Table::new(&["status", "orders", "share"]);
        for (st, n) in by_status {
            table.rows.push(vec![
                Cell::text(st),
                Cell::count(n),
                Cell::percent((total > 0.0).then(|| n as f64 / total)),
            ]);
        }
        Section::new("Orders by final status").with(Block::Table(table))
    }
}

/// The summary as labelled pairs: the known metrics first, in reading
/// order with their units, then any other keys in name order.
fn summary_pairs(m: &serde_json::Map<String, Value>, quote: &str) -> Vec<(String, String)> {
    let known: [(&str, &str, Unit); 31] = [
        ("strategy", "strategy", Unit::Plain),
        ("start", "start (UTC)", Unit::Plain),
        ("end", "end (UTC)", Unit::Plain),
        ("duration_s", "duration", Unit::Seconds),
        ("events", "market events", Unit::Plain),
        ("capital", "capital", Unit::Quote),
        ("final_equity", "final equity", Unit::Quote),
        ("net_pnl", "net PnL", Unit::Quote),
        ("gross_pnl", "gross PnL", Unit::Quote),
        ("realized_pnl", "realised PnL", Unit::Quote),
        ("unrealized_pnl", "unrealised PnL", Unit::Quote),
        ("fees", "fees paid", Unit::Quote),
        ("funding", "funding received", Unit::Quote),
        ("orders", "orders sent", Unit::Plain),
        ("fills", "fills", Unit::Plain),
        ("fill_rate", "fill rate", Unit::Percent),
        ("maker_share", "maker share", Unit::Percent),
        ("win_rate", "win rate (closing fills)", Unit::Percent),
        ("sharpe", "Sharpe (annualised)", Unit::Ratio),
        ("sortino", "Sortino (annualised)", Unit::Ratio),
        ("calmar", "Calmar", Unit::Ratio),
        ("ratios_meaningful", "annualised ratios meaningful (run of a day or more)", Unit::Plain),
        ("sharpe_per_sample", "Sharpe per sample (not annualised)", Unit::Ratio),
        ("sortino_per_sample", "Sortino per sample (not annualised)", Unit::Ratio),
        ("invalid_orders", "orders rejected as invalid", Unit::Plain),
        ("max_drawdown", "max drawdown", Unit::Quote),
        ("max_drawdown_pct", "max drawdown (of peak)", Unit::Percent),
        ("turnover", "turnover (traded notional)", Unit::Quote),
        ("turnover_x_capital", "turnover / capital", Unit::Ratio),
        ("sample_interval_s", "equity sample interval", Unit::Seconds),
        ("error", "error", Unit::Plain),
    ];
    let mut out = Vec::new();
    for (key, label, unit) in known {
        if let Some(v) = m.get(key) {
            if key == "error" && v.is_null() {
                continue;
            }
            out.push((label.to_owned(), format_value(v, unit, quote)));
        }
    }
    if let Some(Value::Array(inv)) = m.get("ending_inventory") {
        for item in inv {
            let sym = item.get("symbol").and_then(Value::as_str).unwrap_or("?");
            let pos = item.get("position").map_or("–".to_owned(), |v| format_value(v, Unit::Plain, quote));
            out.push((format!("ending position {sym}"), pos));
        }
    }
    for (k, v) in m {
        if k != "ending_inventory" && !known.iter().any(|(key, ..)| key == k) {
            out.push((k.clone(), format_value(v, Unit::Plain, quote)));
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Unit {
    Plain,
    Quote,
    Percent,
    Ratio,
    Seconds,
}

fn format_value(v: &Value, unit: Unit, quote: &str) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Number(n) => {
            let Some(x) = n.as_f64() else { return n.to_string() };
            if n.is_u64() || n.is_i64() {
                return n.to_string();
            }
            match unit {
                Unit::Quote => format!("{} {quote}", trim(&format!("{x:.6}"))),
                Unit::Percent => format!("{:.2}%", x * 100.0),
                Unit::Ratio => significant(x, 4),
                Unit::Seconds => format!("{} s", significant(x, 6)),
                Unit::Plain => trim(&significant(x, 6)),
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "12.500000" → "12.5".
fn trim(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_run_files_is_refused_with_the_missing_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.json"), "{}").unwrap();
        let err = run_report(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::NotARunFolder { .. }), "{msg}");
        assert!(msg.contains("(missing equity.parquet, inventory.parquet, fills.parquet, orders.parquet)"), "{msg}");
        let err = run_report(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("no such folder"), "{err}");
    }

    #[test]
    fn a_results_file_that_is_not_parquet_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for f in RUN_FILES {
            std::fs::write(dir.path().join(f), "{}").unwrap();
        }
        let err = run_report(dir.path()).unwrap_err().to_string();
        assert!(err.contains("equity.parquet: cannot read Parquet"), "{err}");
    }

    #[test]
    fn summary_pairs_label_units_and_keep_unknown_keys() {
        let m: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"net_pnl": 12.5, "maker_share": 0.25, "sharpe": null, "fills": 3, "error": null,
                "ending_inventory": [{"symbol": "BTCUSDT", "position": 0.002}], "new_metric": 1.5}"#,
        )
        .unwrap();
        let p = summary_pairs(&m, "USDT");
        let get = |k: &str| p.iter().find(|(l, _)| l == k).map(|(_, v)| v.as_str());
        assert_eq!(get("net PnL"), Some("12.5 USDT"));
        assert_eq!(get("maker share"), Some("25.00%"));
        assert_eq!(get("Sharpe (annualised)"), Some("–"));
        assert_eq!(get("fills"), Some("3"));
        assert_eq!(get("ending position BTCUSDT"), Some("0.002"));
        assert_eq!(get("new_metric"), Some("1.5"));
        assert_eq!(get("error"), None, "no error, no row");
    }
}
