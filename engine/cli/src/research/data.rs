//! Inputs of the account research commands (`rbsa`, `styles`): per-account
//! daily PnL series and daily benchmark closes, keyed by UTC date.
//!
//! - PnL: a CSV or Parquet table with the columns `account`, `date`, `pnl`
//!   (any order, other columns ignored), or Hyperliquid fills tapes
//!   (`*.fills.tape`), from which the daily PnL is built (see [`fills_pnl`]).
//! - Closes: a CSV with `date`, `symbol` and `close` columns (like the
//!   `perp_basket_daily` files), or daily bar tapes (`*.bars-1d.tape`, or a
//!   folder of them). A bar's date is the UTC date of its open time.
//!
//! Dates are days since 1970-01-01 (UTC). CSV dates are `YYYY-MM-DD`,
//! optionally followed by a time (`2024-06-11 00:00:00`, `2024-06-11T00:00:00Z`):
//! only the date part is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ticktape_tape::{Bar, Fill, RecordKind, Tape, side, to_f64};

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Per-account daily PnL, accounts in name order, each series in date order.
#[derive(Debug, Default)]
pub(crate) struct Panel {
    /// Account names.
    pub(crate) accounts: Vec<String>,
    /// Per account: (date, pnl), dates strictly increasing.
    pub(crate) series: Vec<Vec<(i32, f64)>>,
}

/// Daily closes of several symbols on one calendar.
#[derive(Debug, Default)]
pub(crate) struct Closes {
    /// Symbols, in name order.
    pub(crate) symbols: Vec<String>,
    /// Every date any symbol has a close on, increasing.
    pub(crate) dates: Vec<i32>,
    /// `close[s][t]`: close of symbol `s` on `dates[t]`, NaN if none.
    pub(crate) close: Vec<Vec<f64>>,
}

impl Closes {
    /// The index of a symbol, matched exactly or by its base (`BTC` matches
    /// `BTC/USDC:USDC`; `BTCUSDT` matches `BTC` only exactly).
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.symbols.iter().position(|s| s == name).or_else(|| {
            let hits: Vec<usize> = (0..self.symbols.len()).filter(|&i| base(&self.symbols[i]) == name).collect();
            // Prefer the perp (`X/USDC:USDC`) over the spot pair when both exist.
            hits.iter().copied().find(|&i| self.symbols[i].contains(':')).or(hits.first().copied())
        })
    }

    /// Simple daily returns `close[t]/close[t-1] − 1` of symbol `s`, keyed by
    /// date; defined only where both closes exist and the dates are consecutive.
    pub(crate) fn returns(&self, s: usize) -> BTreeMap<i32, f64> {
        let c = &self.close[s];
        (1..self.dates.len())
            .filter(|&t| self.dates[t] == self.dates[t - 1] + 1 && c[t].is_finite() && c[t - 1].is_finite())
            .filter(|&t| c[t - 1] != 0.0)
            .map(|t| (self.dates[t], c[t] / c[t - 1] - 1.0))
            .collect()
    }

    /// Close of `s` on `date`, if any.
    pub(crate) fn close_on(&self, s: usize, date: i32) -> Option<f64> {
        let t = self.dates.binary_search(&date).ok()?;
        Some(self.close[s][t]).filter(|c| c.is_finite())
    }
}

/// The part of a symbol before `/` (`BTC/USDC:USDC` → `BTC`).
pub(crate) fn base(symbol: &str) -> &str {
    symbol.split('/').next().unwrap_or(symbol)
}

/// `YYYY-MM-DD` (followed by anything) as days since 1970-01-01.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    let b = s.trim().as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || (b.len() > 10 && !matches!(b[10], b' ' | b'T')) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).ok()?.parse::<u32>().ok();
    let d = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    Some((d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

/// Days since the epoch as `YYYY-MM-DD`.
pub(crate) fn format_date(day: i32) -> String {
    let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(day.max(0) as u64);
    d.format("%Y-%m-%d").to_string()
}

/// A CSV file's header and rows, split on commas (no quoted fields: the
/// research tables are names, dates and numbers).
struct Csv {
    path: PathBuf,
    text: String,
}

impl Csv {
    fn open(path: &Path) -> Result<Csv> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {} (is it a UTF-8 CSV file?)", path.display()))?;
        Ok(Csv { path: path.to_path_buf(), text })
    }

    /// Column indices of `names` in the header; an error names the missing one.
    fn columns(&self, names: &[&str]) -> Result<Vec<usize>> {
        let header: Vec<&str> = self.text.lines().next().unwrap_or("").split(',').map(str::trim).collect();
        names
            .iter()
            .map(|n| {
                header.iter().position(|h| h.eq_ignore_ascii_case(n)).with_context(|| {
                    format!(
                        "{}: line 1: no `{n}` column (header is `{}`); the file needs the columns {}",
                        self.path.display(),
                        header.join(","),
                        names.join(",")
                    )
                })
            })
            .collect()
    }

    /// Data lines with their 1-based line numbers (blank lines skipped).
    fn rows(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l))
    }
}

fn fields<'a>(line: &'a str, buf: &mut Vec<&'a str>) {
    buf.clear();
    buf.extend(line.split(',').map(str::trim));
}

fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn is_tape(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tape")
}

/// Tapes in `paths`, folders expanded to their `*.tape` files (sorted).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list the folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_tape(f))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{}: the folder holds no .tape files", p.display());
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Loads daily closes from one CSV or from bar tapes / folders of them.
pub(crate) fn load_closes(paths: &[PathBuf]) -> Result<Closes> {
    let mut by_symbol: BTreeMap<String, BTreeMap<i32, f64>> = BTreeMap::new();
    for path in expand(paths)? {
        if is_tape(&path) {
            let tape = Tape::open(&path)?;
            if tape.kind() != RecordKind::Bar {
                bail!(
                    "{}: a {} tape given as closes; closes are daily bar tapes (bars-1d) or a CSV",
                    path.display(),
                    tape.kind()
                );
            }
            let h = tape.header();
            let e = h.price_exponent;
            let m = by_symbol.entry(h.symbol().to_owned()).or_default();
            for b in tape.records::<Bar>()? {
                m.insert(b.open_ts.div_euclid(NS_PER_DAY) as i32, to_f64(b.close, e));
            }
        } else {
            let csv = Csv::open(&path)?;
            let c = csv.columns(&["date", "symbol", "close"])?;
            let mut f = Vec::new();
            for (line, row) in csv.rows() {
                fields(row, &mut f);
                let get = |i: usize| f.get(c[i]).copied().unwrap_or("");
                let date = parse_date(get(0))
                    .with_context(|| format!("{}: line {line}: date `{}` is not YYYY-MM-DD", path.display(), get(0)))?;
                let close: f64 =
                    get(2).parse().ok().filter(|v: &f64| v.is_finite() && *v > 0.0).with_context(|| {
                        format!("{}: line {line}: close `{}` is not a positive number", path.display(), get(2))
                    })?;
                if by_symbol.entry(get(1).to_owned()).or_default().insert(date, close).is_some() {
                    bail!(
                        "{}: line {line}: a second close for {} on {}; give one row per symbol and date",
                        path.display(),
                        get(1),
                        get(0)
                    );
                }
            }
        }
    }
    if by_symbol.is_empty() {
        bail!("no closes in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let mut dates: Vec<i32> = by_symbol.values().flat_map(|m| m.keys().copied()).collect();
    dates.sort_unstable();
    dates.dedup();
    let close =
        by_symbol.values().map(|m| dates.iter().map(|d| m.get(d).copied().unwrap_or(f64::NAN)).collect()).collect();
    Ok(Closes { symbols: by_symbol.into_keys().collect(), dates, close })
}

/// Loads per-account daily PnL from a CSV or Parquet table, or from fills
/// tapes (which need `closes` to mark positions to market).
pub(crate) fn load_pnl(paths: &[PathBuf], closes: Option<&Closes>) -> Result<Panel> {
    let mut rows: Vec<(String, i32, f64)> = Vec::new();
    let mut fills = Vec::new();
    for path in expand(paths)? {
        if is_tape(&path) {
            fills.push(path);
        } else if is_parquet(&path) {
            read_parquet(&path, &mut rows)?;
        } else {
            let csv = Csv::open(&path)?;
            let c = csv.columns(&["account", "date", "pnl"])?;
            let mut f = Vec::new();
            rows.reserve(csv.text.len() / 24);
            for (line, row) in csv.rows() {
                fields(row, &mut f);
                let get = |i: usize| f.get(c[i]).copied().unwrap_or("");
                let date = parse_date(get(1))
                    .with_context(|| format!("{}: line {line}: date `{}` is not YYYY-MM-DD", path.display(), get(1)))?;
                let pnl: f64 = get(2).parse().ok().filter(|v: &f64| v.is_finite()).with_context(|| {
                    format!("{}: line {line}: pnl `{}` is not a finite number", path.display(), get(2))
                })?;
                if get(0).is_empty() {
                    bail!("{}: line {line}: empty account", path.display());
                }
                rows.push((get(0).to_owned(), date, pnl));
            }
        }
    }
    if !fills.is_empty() {
        let closes = closes.context("daily PnL from fills needs closes to mark positions to market: pass --closes")?;
        rows.extend(fills_pnl(&fills, closes)?);
    }
    panel(rows)
}

fn panel(mut rows: Vec<(String, i32, f64)>) -> Result<Panel> {
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut p = Panel::default();
    for (acct, date, pnl) in rows {
        if p.accounts.last() != Some(&acct) {
            p.accounts.push(acct);
            p.series.push(Vec::new());
        }
        let s = p.series.last_mut().expect("pushed");
        if s.last().is_some_and(|&(d, _)| d == date) {
            bail!(
                "two PnL rows for account {} on {}; give one row per account and date",
                p.accounts.last().expect("pushed"),
                format_date(date)
            );
        }
        s.push((date, pnl));
    }
    if p.accounts.is_empty() {
        bail!("the PnL input has no rows");
    }
    Ok(p)
}

fn read_parquet(path: &Path, rows: &mut Vec<(String, i32, f64)>) -> Result<()> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampNanosecondType, UInt64Type};
    use arrow_schema::{DataType, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?
        .build()
        .with_context(|| format!("{}: cannot read the Parquet file", path.display()))?;
    let mut offset = 0usize;
    for batch in reader {
        let batch = batch.with_context(|| format!("{}: cannot read a Parquet row group", path.display()))?;
        let col = |n: &str| {
            batch.column_by_name(n).with_context(|| {
                format!("{}: no `{n}` column; the table needs the columns account, date, pnl", path.display())
            })
        };
        let (a, d, v) = (col("account")?, col("date")?, col("pnl")?);
        let unsupported = |n: &str, t: &DataType| {
            anyhow::anyhow!("{}: column `{n}` has type {t}, which this command cannot read", path.display())
        };
        for i in 0..batch.num_rows() {
            let at = || format!("{}: row {}", path.display(), offset + i + 1);
            let account = match a.data_type() {
                DataType::Utf8 => a.as_string::<i32>().value(i).to_owned(),
                DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_owned(),
                DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
                DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
                t => return Err(unsupported("account", t)),
            };
            let date = match d.data_type() {
                DataType::Date32 => d.as_primitive::<Date32Type>().value(i),
                DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                    d.as_primitive::<TimestampNanosecondType>().value(i).div_euclid(NS_PER_DAY) as i32
                }
                DataType::Utf8 => {
                    let s = d.as_string::<i32>().value(i);
                    parse_date(s).with_context(|| format!("{}: date `{s}` is not YYYY-MM-DD", at()))?
                }
                t => return Err(unsupported("date", t)),
            };
            let pnl = match v.data_type() {
                DataType::Float64 => v.as_primitive::<Float64Type>().value(i),
                DataType::Int64 => v.as_primitive::<Int64Type>().value(i) as f64,
                t => return Err(unsupported("pnl", t)),
            };
            if !pnl.is_finite() || a.is_null(i) || d.is_null(i) || v.is_null(i) {
                bail!("{}: null or non-finite value in account, date or pnl", at());
            }
            rows.push((account, date, pnl));
        }
        offset += batch.num_rows();
    }
    Ok(())
}

/// A fill with its tape's (price, qty, value) exponents and the tape's index.
type ExFill = (Fill, [i8; 3], usize);

/// Daily PnL of each account in fills tapes, realised plus mark-to-market at
/// the daily closes, net of fees (funding is not in fills and not included).
///
/// Per account and symbol, with `pos` the position and `cash` the cash flow
/// of its fills (a buy of `q` at `p` adds `q` to `pos` and `−q·p` to `cash`;
/// fees are subtracted from `cash`), the value on date `d` is
/// `cash_d + pos_d · close_d` and the day's PnL is its change from `d − 1`.
/// Summed over days this is the realised PnL plus the change in unrealised
/// PnL. A position held before the first fill (its `start_position`) is
/// marked from the close of the day before that fill (its price when there
/// is no such close). A symbol's series ends on its last fill date when the
/// position is then flat, else on the last close.
pub(crate) fn fills_pnl(paths: &[PathBuf], closes: &Closes) -> Result<Vec<(String, i32, f64)>> {
    // (account, symbol) -> fills in time order, with the tape's exponents.
    let mut groups: BTreeMap<(u64, String), Vec<ExFill>> = BTreeMap::new();
    let mut tapes = Vec::new();
    for path in paths {
        let tape = Tape::open(path)?;
        if tape.kind() != RecordKind::Fill {
            bail!(
                "{}: a {} tape given as --pnl; give fills tapes, or a CSV/Parquet account,date,pnl table",
                path.display(),
                tape.kind()
            );
        }
        tapes.push(tape);
    }
    for (ti, tape) in tapes.iter().enumerate() {
        let h = tape.header();
        let ex = [h.price_exponent, h.qty_exponent, h.value_exponent];
        for f in tape.records::<Fill>()? {
            groups.entry((f.account, f.symbol().to_owned())).or_default().push((*f, ex, ti));
        }
    }
    let mut daily: BTreeMap<(u64, i32), f64> = BTreeMap::new();
    for ((account, symbol), mut fs) in groups {
        fs.sort_by_key(|(f, _, _)| f.ts.exchange);
        let tape = tapes[fs[0].2].path();
        let s = closes.find(&symbol).with_context(|| {
            format!(
                "{}: fills of {symbol} but no closes for it; add {symbol} to --closes (closes have {})",
                tape.display(),
                closes.symbols.join(", ")
            )
        })?;
        let day_of = |f: &Fill| f.ts.exchange.div_euclid(NS_PER_DAY) as i32;
        let (f0, ex0, _) = &fs[0];
        let first = day_of(f0);
        let mut pos = to_f64(f0.start_position, ex0[1]);
        let p0 = closes.close_on(s, first - 1).unwrap_or(to_f64(f0.price, ex0[0]));
        let mut cash = -pos * p0;
        let mut prev_value = 0.0;
        let mut k = 0;
        let last_fill = day_of(&fs[fs.len() - 1].0);
        let mut day = first;
        loop {
            while k < fs.len() && day_of(&fs[k].0) == day {
                let (f, ex, _) = &fs[k];
                let (p, q) = (to_f64(f.price, ex[0]), to_f64(f.qty, ex[1]));
                let sign = if f.side == side::BUY { 1.0 } else { -1.0 };
                pos += sign * q;
                cash -= sign * q * p;
                if f.fee != ticktape_tape::UNDEF {
                    cash -= to_f64(f.fee, ex[2]);
                }
                k += 1;
            }
            let close = closes.close_on(s, day).with_context(|| {
                format!(
                    "{}: no close of {} on {} to mark the {symbol} position to market; the closes must cover every day the account holds it",
                    tape.display(),
                    closes.symbols[s],
                    format_date(day)
                )
            })?;
            let value = cash + pos * close;
            *daily.entry((account, day)).or_default() += value - prev_value;
            prev_value = value;
            let done = k == fs.len() && (pos.abs() < 1e-12 || day >= *closes.dates.last().expect("closes"));
            if done && day >= last_fill {
                break;
            }
            day += 1;
        }
    }
    Ok(daily.into_iter().map(|((a, d), v)| (format!("0x{a:016x}"), d, v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_with_or_without_a_time() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("2024-06-11 00:00:00"), parse_date("2024-06-11T00:00:00Z"));
        assert_eq!(format_date(parse_date("2024-06-11").unwrap()), "2024-06-11");
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("20240611"), None);
    }

    #[test]
    fn returns_need_consecutive_days() {
        let c = Closes {
            symbols: vec!["BTC/USDC:USDC".into()],
            dates: vec![0, 1, 3, 4],
            close: vec![vec![100.0, 110.0, 50.0, 55.0]],
        };
        let r = c.returns(0);
        assert_eq!(r.len(), 2);
        assert!((r[&1] - 0.1).abs() < 1e-12 && (r[&4] - 0.1).abs() < 1e-12);
        assert_eq!(c.find("BTC"), Some(0));
    }
}
