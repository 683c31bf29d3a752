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

    /// One fill of a test tape: (day, hour, symbol, side, price, qty, start_position, fee).
    type TestFill<'a> = (i64, i64, &'a str, u8, f64, f64, f64, f64);

    /// Writes a fills tape of [`TestFill`] rows.
    fn fills_tape(path: &Path, account: u64, rows: &[TestFill<'_>]) {
        use ticktape_tape::{Stamp, TapeMeta, TapeWriter};
        let meta = TapeMeta {
            symbol: format!("0x{account:016x}"),
            venue: "hyperliquid".into(),
            price_exponent: -2,
            qty_exponent: -4,
            value_exponent: -6,
            ..TapeMeta::default()
        };
        let mut w = TapeWriter::<Fill>::create(path, &meta).unwrap();
        for &(day, hour, sym, s, p, q, start, fee) in rows {
            let ts = day * NS_PER_DAY + hour * 3_600_000_000_000;
            let mut symbol = [0u8; 16];
            symbol[..sym.len()].copy_from_slice(sym.as_bytes());
            w.push(&Fill {
                ts: Stamp { exchange: ts, local: ts },
                account,
                price: (p * 100.0).round() as i64,
                qty: (q * 1e4).round() as i64,
                start_position: (start * 1e4).round() as i64,
                fee: (fee * 1e6).round() as i64,
                symbol,
                side: s,
                ..Fill::default()
            })
            .unwrap();
        }
        w.finish().unwrap();
    }

    /// Daily PnL from fills on a constructed multi-day case, computed by
    /// hand: realised plus mark-to-market at each daily close, fees
    /// subtracted, a flip from long to short through zero, and a position
    /// held before the first fill marked from the close of the day before.
    #[test]
    fn fills_pnl_is_realised_plus_mark_to_market_at_the_closes() {
        let dir = tempfile::tempdir().unwrap();
        let d0 = 19_723; // 2024-01-01
        let (a, b) = (dir.path().join("a.fills.tape"), dir.path().join("b.fills.tape"));
        // Account 0xa, BTC: day 0 buy 2 @ 100 (fee 0.1); day 1 sell 5 @ 104 (fee 0.2):
        // long 2 → short 3; day 3 buy 3 @ 97 (fee 0.05): flat.
        fills_tape(
            &a,
            0xa,
            &[
                (d0, 5, "BTC", side::BUY, 100.0, 2.0, 0.0, 0.1),
                (d0 + 1, 7, "BTC", side::SELL, 104.0, 5.0, 2.0, 0.2),
                (d0 + 3, 9, "BTC", side::BUY, 97.0, 3.0, -3.0, 0.05),
            ],
        );
        // Account 0xb, ETH: holds 1 before its first fill (start_position 1) and
        // sells it on day 2 at 50.
        fills_tape(&b, 0xb, &[(d0 + 2, 12, "ETH", side::SELL, 50.0, 1.0, 1.0, 0.0)]);
        let closes = Closes {
            symbols: vec!["BTC/USDC:USDC".into(), "ETH/USDC:USDC".into()],
            dates: (d0 as i32..d0 as i32 + 5).collect(),
            close: vec![vec![101.0, 103.0, 99.0, 98.0, 100.0], vec![47.0, 48.0, 49.0, 45.0, 44.0]],
        };
        let rows = fills_pnl(&[a, b], &closes).unwrap();
        let d = |k: i32| d0 as i32 + k;
        // By hand:
        // day 0: cash −200 − 0.1, long 2 at 101: −200.1 + 202 = 1.9
        // day 1: +2 × (104 − 101) on the long, +3 × (104 − 103) on the new short, −0.2 fee = 8.8
        // day 2: short 3 × (103 − 99) = 12
        // day 3: short 3 × (99 − 97) − 0.05 = 5.95; flat after its last fill: the series ends.
        // 0xb day 2: the held 1 ETH marked from day 1's close 48, sold at 50: +2.
        let want = [
            ("0x000000000000000a", d(0), 1.9),
            ("0x000000000000000a", d(1), 8.8),
            ("0x000000000000000a", d(2), 12.0),
            ("0x000000000000000a", d(3), 5.95),
            ("0x000000000000000b", d(2), 2.0),
        ];
        assert_eq!(rows.len(), want.len(), "{rows:?}");
        for ((acct, date, pnl), (wa, wd, wp)) in rows.iter().zip(want) {
            assert_eq!((acct.as_str(), *date), (wa, wd), "{rows:?}");
            assert!((pnl - wp).abs() < 1e-9, "{acct} on day {}: {pnl}, by hand {wp}", date - d0 as i32);
        }
        // Summed, the daily PnL is the realised PnL less fees (both end flat):
        // 2 × (104 − 100) + 3 × (104 − 97) − 0.35 = 28.65.
        let total_a: f64 = rows.iter().filter(|r| r.0.ends_with('a')).map(|r| r.2).sum();
        assert!((total_a - 28.65).abs() < 1e-9, "{total_a}");
        // Still short at the end of the closes: marked on every remaining day.
        let c = dir.path().join("c.fills.tape");
        fills_tape(&c, 0xc, &[(d0 + 2, 1, "BTC", side::SELL, 100.0, 1.0, 0.0, 0.0)]);
        let rows = fills_pnl(&[c], &closes).unwrap();
        let got: Vec<(i32, f64)> = rows.iter().map(|r| (r.1 - d0 as i32, r.2)).collect();
        // day 2: 100 − 99 = 1; day 3: 99 − 98 = 1; day 4: 98 − 100 = −2.
        assert_eq!(got.len(), 3, "{got:?}");
        for ((k, p), (wk, wp)) in got.iter().zip([(2, 1.0), (3, 1.0), (4, -2.0)]) {
            assert!(*k == wk && (p - wp).abs() < 1e-9, "{got:?}");
        }
    }

    /// The real Hyperliquid fills (500 fills of one account over five
    /// minutes of 2023-05-05, 15 coins, with flips through zero) through the
    /// converter, marked at constructed closes on 2023-05-04 (the day before:
    /// the position held before each coin's first fill), 2023-05-05 and
    /// 2023-05-06. The day's PnL is checked against a sum computed here from
    /// the JSON: per coin, start_position × (close₅ − close₄) plus each fill's
    /// side × size × (close₅ − price) less its fee; the next day, the end
    /// position × (close₆ − close₅).
    #[test]
    fn fills_pnl_on_real_hyperliquid_fills() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let shared = std::env::var_os("TICKTAPE_SHARED").map(PathBuf::from).unwrap_or_else(|| root.join("../shared"));
        let json = shared.join("data/real/hyperliquid/hl_sdk_userFills_0xb7b6f3ce.json");
        if !json.is_file() {
            eprintln!("skipped: fills_pnl_on_real_hyperliquid_fills: ../shared/data/real not found");
            return;
        }
        let account = "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2";
        let dir = tempfile::tempdir().unwrap();
        let opts = ticktape_data::ConvertOptions {
            out_dir: dir.path().to_path_buf(),
            account: Some(account.into()),
            ..ticktape_data::ConvertOptions::default()
        };
        ticktape_data::convert(ticktape_data::SourceKind::Hyperliquid, std::slice::from_ref(&json), &opts).unwrap();
        let tapes: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".fills.tape"))
            .collect();
        assert_eq!(tapes.len(), 1, "{tapes:?}");

        let fills: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let num = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap().parse::<f64>().unwrap();
        // Per coin, in time order (the JSON is newest first; fills of one
        // time keep the exchange's order, reversed).
        let mut by_coin: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
        for f in fills.iter().rev() {
            by_coin.entry(f["coin"].as_str().unwrap().to_owned()).or_default().push(f);
        }
        let day = 19_482; // 2023-05-05
        assert!(fills.iter().all(|f| f["time"].as_i64().unwrap().div_euclid(86_400_000) == day));
        let (mut symbols, mut close) = (Vec::new(), Vec::new());
        let (mut want5, mut want6, mut flips) = (0.0, 0.0, 0);
        for (k, (coin, fs)) in by_coin.iter().enumerate() {
            // Closes a little away from the traded prices, different per coin.
            let p = num(fs[0], "px");
            let c = [p * (1.0 - 0.01 * (k + 1) as f64), p * (1.0 + 0.002 * k as f64), p * 1.03];
            symbols.push(format!("{coin}/USDC:USDC"));
            close.push(c.to_vec());
            let start = num(fs[0], "startPosition");
            let mut pos = start;
            want5 += start * (c[1] - c[0]);
            for f in fs {
                let sign = if f["side"] == "B" { 1.0 } else { -1.0 };
                let q = num(f, "sz");
                want5 += sign * q * (c[1] - num(f, "px")) - num(f, "fee");
                let before = pos;
                pos += sign * q;
                flips += usize::from(before * pos < 0.0);
            }
            if pos.abs() > 1e-9 {
                want6 += pos * (c[2] - c[1]);
            }
        }
        assert!(flips > 0, "the sample has flips through zero");
        let closes = Closes { symbols, dates: vec![day as i32 - 1, day as i32, day as i32 + 1], close };
        let rows = fills_pnl(&tapes, &closes).unwrap();
        assert!(rows.iter().all(|r| r.0 == rows[0].0), "one account: {rows:?}");
        let on = |d: i32| rows.iter().filter(|r| r.1 == d).map(|r| r.2).sum::<f64>();
        assert_eq!(rows.len(), if want6 != 0.0 { 2 } else { 1 }, "{rows:?}");
        let tol = 1e-9 * want5.abs().max(1.0);
        assert!((on(day as i32) - want5).abs() < tol, "2023-05-05: {} from the tape, {want5} by hand", on(day as i32));
        assert!((on(day as i32 + 1) - want6).abs() < tol, "2023-05-06: {}, by hand {want6}", on(day as i32 + 1));
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
