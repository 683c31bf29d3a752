//! Plain OHLCV CSV → bar tapes, one per symbol.
//!
//! A header row is required, with `open`, `high`, `low`, `close` and
//! `volume` columns (any case, any order). The time is the bar's **open**
//! time, from `--time-column`, else the first of `date`, `time`,
//! `timestamp`, `datetime`, `t`, `ts`: epoch s/ms/µs/ns by digit count or ISO
//! 8601 text. A file with both a `date` and a `time` column
//! (`Date,Time,Open,...` as in Bincentive's Binance exports) joins the two.
//! A `symbol` column splits the file into one tape per symbol (`--symbol`
//! overrides it; without either, the symbol is the file stem). The symbol is
//! kept as written (the ccxt perp `BTC/USDC:USDC`, as `series-csv` keeps it);
//! only the file name replaces what a path cannot carry
//! (`ohlcv.BTC_USDC_USDC.bars-1d.tape`). Venue: `--venue`, default `ohlcv`.
//!
//! The bar interval is the smallest gap between consecutive open times of a
//! symbol (the smallest over all symbols for a symbol with one row). Bars are
//! stamped at their close, `open + interval − 1 ms`, like Binance and
//! Hyperliquid klines, and the tape is `VENUE.SYMBOL.bars-INTERVAL.tape`
//! (`1d`, `4h`, `1h`, `15m`, ...). Values with more than `--decimals N`
//! (default 8) decimals are rounded half away from zero and counted (float
//! artefacts such as `0.28800000000000003` need it). Refused, as in every
//! converter: bad numbers, low above high, negative volume, dates outside
//! 2009..2100, and two bars of one symbol with the same open time.
//!
//! The file is read whole before anything is written (the interval must be
//! known to name the tapes); OHLCV files are small (one row per bar).

use std::collections::BTreeMap;

use ticktape_tape::{Bar, Stamp, UNDEF};

use crate::common::{find_col, trim};
use crate::convert::Ctx;
use crate::decimal::Dec;
use crate::input::{Fields, Lines, Member};
use crate::sink::Class::{P, Q};
use crate::{Error, Result};

/// Decimals values with more are rounded to, unless `--decimals` says.
pub const DEFAULT_OHLCV_DECIMALS: u8 = 8;

/// One parsed row, kept until the interval is known.
struct Row {
    line: u64,
    open_ts: i64,
    vals: [Dec; 5],
    text: Vec<u8>,
}

/// The conventional name of a bar interval in ns (`1d`, `4h`, `15m`, `30s`).
pub fn interval_name(ns: i64) -> String {
    const S: i64 = 1_000_000_000;
    for (unit, name) in [(7 * 86_400 * S, "w"), (86_400 * S, "d"), (3_600 * S, "h"), (60 * S, "m"), (S, "s")] {
        if ns >= unit && ns % unit == 0 && (name != "w" || ns == unit) {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{}ms", ns / 1_000_000)
}

/// Converts one OHLCV CSV; returns decoded bytes.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    ctx.stats.dataset = "ohlcv".into();
    ctx.sort_everything();
    let stem = m.name.split('.').next().unwrap_or_default().to_owned();
    let mut lines = Lines::new(m);
    let header = lines.header(&ctx.path)?;
    let missing = |what: String| Error::Format { path: ctx.path.clone(), why: what };
    let (tc, dc) = match &ctx.opts.time_column {
        Some(c) => {
            (find_col(&header, &[c]).ok_or_else(|| missing(format!("no time column {c:?} in the header")))?, None)
        }
        None => match (find_col(&header, &["date"]), find_col(&header, &["time"])) {
            (Some(d), Some(t)) => (t, Some(d)),
            (Some(d), None) => (d, None),
            _ => (
                find_col(&header, &["time", "timestamp", "datetime", "t", "ts", "open_time"]).ok_or_else(|| {
                    missing("no time column (date, time, timestamp, datetime, t or ts); pass --time-column".into())
                })?,
                None,
            ),
        },
    };
    let mut cols = [0usize; 5];
    for (k, name) in ["open", "high", "low", "close", "volume"].iter().enumerate() {
        cols[k] = find_col(&header, &[name]).ok_or_else(|| missing(format!("no `{name}` column in the header")))?;
    }
    let sc = if ctx.opts.symbol.is_some() { None } else { find_col(&header, &["symbol"]) };
    let fixed_symbol = ctx.opts.symbol.clone().unwrap_or(stem);
    let venue = ctx.opts.venue.clone().unwrap_or_else(|| "ohlcv".into());
    let decimals = ctx.opts.series_decimals.unwrap_or(DEFAULT_OHLCV_DECIMALS);
    let mut rounded = 0u64;
    let mut by_symbol: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut f = Fields::default();
    let mut joined = Vec::new();
    while let Some((line, row)) = lines.next_line()? {
        if row.is_empty() {
            continue;
        }
        ctx.stats.rows += 1;
        f.split(row);
        let time = match dc {
            Some(d) => {
                joined.clear();
                joined.extend_from_slice(trim(f.get(row, d)));
                joined.push(b'T');
                joined.extend_from_slice(trim(f.get(row, tc)));
                &joined[..]
            }
            None => trim(f.get(row, tc)),
        };
        let Some(open_ts) = crate::time::any_ns(time) else {
            ctx.bad(line, row, "bad time")?;
            continue;
        };
        let mut vals = [Dec::default(); 5];
        let mut bad = None;
        for (k, &c) in cols.iter().enumerate() {
            match Dec::parse_rounded(trim(f.get(row, c)), decimals) {
                Ok((v, r)) => {
                    rounded += u64::from(r);
                    vals[k] = v;
                }
                Err(e) => {
                    bad = Some(e.why());
                    break;
                }
            }
        }
        if let Some(why) = bad {
            ctx.bad(line, row, why)?;
            continue;
        }
        let symbol = match sc {
            Some(c) => String::from_utf8_lossy(trim(f.get(row, c))).into_owned(),
            None => fixed_symbol.clone(),
        };
        if symbol.is_empty() {
            ctx.bad(line, row, "empty symbol")?;
            continue;
        }
        by_symbol.entry(symbol).or_default().push(Row { line, open_ts, vals, text: row.to_vec() });
    }
    // Per symbol: sort by open time (stable), refuse repeated times, find the interval.
    let mut gaps: BTreeMap<String, i64> = BTreeMap::new();
    for (sym, rows) in &mut by_symbol {
        rows.sort_by_key(|r| r.open_ts);
        let mut keep: Vec<Row> = Vec::with_capacity(rows.len());
        for r in rows.drain(..) {
            if let Some(prev) = keep.last()
                && prev.open_ts == r.open_ts
            {
                let why = format!("a second {sym} bar opening at the same time as line {}", prev.line);
                if !ctx.opts.skip_bad {
                    return Err(Error::bad_row(&ctx.path, r.line, &r.text, why));
                }
                ctx.bad(r.line, &r.text, "a second bar with the same open time")?;
                continue;
            }
            keep.push(r);
        }
        *rows = keep;
        if let Some(g) = rows.windows(2).map(|w| w[1].open_ts - w[0].open_ts).min() {
            gaps.insert(sym.clone(), g);
        }
    }
    let Some(&global) = gaps.values().min() else {
        if by_symbol.is_empty() {
            return Ok(lines.decoded_bytes());
        }
        return Err(Error::Format {
            path: ctx.path.clone(),
            why: "every symbol has a single bar, so the bar interval cannot be inferred; add rows".into(),
        });
    };
    let intervals: BTreeMap<String, i64> =
        by_symbol.keys().map(|s| (s.clone(), gaps.get(s).copied().unwrap_or(global))).collect();
    for (sym, rows) in &by_symbol {
        let interval = intervals[sym];
        let sid = crate::common::bar_stream(ctx, &venue, sym, &interval_name(interval))?;
        for r in rows {
            let vals = [
                (Some(r.vals[0]), P),
                (Some(r.vals[1]), P),
                (Some(r.vals[2]), P),
                (Some(r.vals[3]), P),
                (Some(r.vals[4]), Q),
            ];
            let x = match ctx.sink.fit::<Bar, 5>(sid, vals) {
                Ok(x) => x,
                Err(mf) => {
                    ctx.misfit(mf, r.line, &[&r.text])?;
                    continue;
                }
            };
            if x[2] > x[1] || x[4] < 0 {
                ctx.bad(r.line, &r.text, "low above high, or negative volume")?;
                continue;
            }
            let close_ts = r.open_ts + interval - 1_000_000;
            let rec = Bar {
                ts: Stamp { exchange: close_ts, local: close_ts },
                open_ts: r.open_ts,
                open: x[0],
                high: x[1],
                low: x[2],
                close: x[3],
                volume: x[4],
                taker_buy_volume: UNDEF,
                trade_count: 0,
            };
            ctx.push(sid, rec, r.line)?;
        }
    }
    if rounded > 0 {
        ctx.stats.notes.push(format!(
            "{rounded} values had more than {decimals} decimals and were rounded to {decimals} (--decimals)"
        ));
    }
    Ok(lines.decoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_named_like_other_bar_converters() {
        const H: i64 = 3_600_000_000_000;
        assert_eq!(interval_name(24 * H), "1d");
        assert_eq!(interval_name(4 * H), "4h");
        assert_eq!(interval_name(H / 4), "15m");
        assert_eq!(interval_name(7 * 24 * H), "1w");
        assert_eq!(interval_name(14 * 24 * H), "14d");
    }
}
