//! data.binance.vision archives: the `.zip` read directly (verified against its
//! `.CHECKSUM` with `--checksum`) or the extracted `.csv`.
//!
//! The dataset comes from the file name (`SYMBOL-aggTrades-2024-08-08.zip`,
//! `SYMBOL-1m-2024-08-08.zip` for klines; the folder `markPriceKlines`,
//! `indexPriceKlines` or `premiumIndexKlines` for those) or from the header
//! columns; `--dataset` overrides. A header row is optional (sniffed: a first
//! field that is not a number). Times are ms or µs by digit count (spot
//! switched to µs on 2025-01-01); booleans are `true/false` or `True/False`.
//! There is no receive time: `ts.local` = `ts.exchange`.
//!
//! | dataset | tape |
//! |---|---|
//! | `trades` | trades, id, taker side from `is_buyer_maker` |
//! | `aggTrades` | trades with `AGGREGATED`, aggregate id, in `VENUE.SYMBOL.aggtrades.tape` |
//! | `bookTicker` | quotes at `transaction_time` |
//! | `klines`, `markPriceKlines`, `indexPriceKlines`, `premiumIndexKlines` | bars at `close_time`; symbol `SYMBOL` (trade bars join their instrument), `SYMBOL-mark`, `SYMBOL-index`, `SYMBOL-premium`; the interval is in the file name, `VENUE.SYMBOL.bars-1m.tape` |
//! | `fundingRate` | funding settlements (`SETTLEMENT`) at `calc_time` |
//! | `metrics` | series, ids 1–6 = `sum_open_interest`, `sum_open_interest_value`, `count_toptrader_long_short_ratio`, `sum_toptrader_long_short_ratio`, `count_long_short_ratio`, `sum_taker_long_short_vol_ratio`; sorted, repeated `create_time` rows dropped (counted), empty fields skipped |
//! | `depth` | l2 from the T_DEPTH historical order book files (`update_type` `snap` → one snapshot per `last_update_id`, `set` → updates batched by `last_update_id`, `pu` chain checked) |
//!
//! Venue: `--venue`; else from the path (`futures/um`, `futures_um` → `binance-futures`; `cm` → `binance-delivery`;
//! `spot` → `binance`); klines without such a folder: `binance-futures` with a header row, `binance` with µs
//! times, else an error asking for `--venue` (spot and USD-M files look alike); else `binance-delivery` for symbols with `_`, `binance` for 8-column trade files, else
//! `binance-futures`.

use std::collections::HashSet;

use ticktape_tape::{Bar, Funding, Level, Quote, Series, Stamp, Trade, level_flags, side, trade_flags};

use crate::chunked::{Keys, Parse};
use crate::common::{Batcher, StreamCache, find_col, is_header, opt_dec, parse_bool, trim};
use crate::convert::Ctx;
use crate::decimal::{Dec, parse_u64};
use crate::input::{Fields, Lines, Member};
use crate::sink::Class::{P, Q, V};
use crate::{Error, Result};

/// Datasets of this source.
pub(crate) const DATASETS: &[&str] = &[
    "trades",
    "aggTrades",
    "bookTicker",
    "klines",
    "markPriceKlines",
    "indexPriceKlines",
    "premiumIndexKlines",
    "fundingRate",
    "metrics",
    "depth",
];

/// An epoch time in ms or µs (by digits), also in scientific notation (`1.70027E+12`).
#[inline]
fn vision_ts(s: &[u8]) -> Option<i64> {
    let s = trim(s);
    if let Some(v) = crate::time::epoch_ns(s) {
        return Some(v);
    }
    let d = Dec::parse(s).ok()?;
    if d.frac != 0 || d.mant <= 0 {
        return None;
    }
    let digits = d.mant.ilog10() as usize + 1;
    d.mant.checked_mul(crate::time::Unit::from_digits(digits)?.ns())
}

struct Layout<'h> {
    header: Option<&'h [Vec<u8>]>,
}

impl Layout<'_> {
    /// Column by header name, else the documented position.
    fn col(&self, names: &[&str], pos: usize) -> usize {
        self.header.and_then(|h| find_col(h, names)).unwrap_or(pos)
    }
}

/// Converts one Vision CSV; returns decoded bytes.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    let name = m.name.clone();
    let full_path = ctx.path.to_string_lossy().replace('\\', "/");
    let mut lines = Lines::new(m);
    let mut f = Fields::default();
    // Sniff the first row.
    let (first_line, first_row, header) = match lines.next_line()? {
        Some((n, row)) => {
            f.split(row);
            if is_header(f.get(row, 0)) { (n, None, Some(f.owned(row))) } else { (n, Some(row.to_vec()), None) }
        }
        None => return Err(Error::Format { path: ctx.path.clone(), why: "empty file".into() }),
    };
    let ncols = header.as_ref().map(|h| h.len()).unwrap_or(f.len());
    let ds = detect(ctx, &name, &full_path, header.as_deref())?;
    ctx.stats.dataset = ds.to_owned();
    let stem = name.split('.').next().unwrap_or_default().to_owned();
    let mut parts = stem.split('-');
    let file_symbol = parts.next().unwrap_or_default().to_owned();
    let interval = parts.next().unwrap_or_default().to_owned();
    let symbol = ctx.opts.symbol.clone().unwrap_or(file_symbol);
    let venue = match &ctx.opts.venue {
        Some(v) => v.clone(),
        None if ds == "klines" && folder_venue(&full_path).is_none() && !symbol.contains('_') => {
            // Spot and USD-M klines have the same 12 columns: USD-M files carry a
            // header row since 2022 and spot files never do; spot times are µs since 2025.
            let micros = first_row.as_deref().is_some_and(|r| {
                let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
                (15..=17).contains(&n)
            });
            if header.is_some() {
                "binance-futures".to_owned()
            } else if micros {
                "binance".to_owned()
            } else {
                return Err(Error::Format {
                    path: ctx.path.clone(),
                    why: "cannot tell spot klines from USD-M klines (same columns, no header row, ms times, and no spot/ or futures/um/ folder in the path): pass --venue binance (spot) or --venue binance-futures (USD-M)".into(),
                });
            }
        }
        None => venue_from(&full_path, &symbol, ds, ncols).to_owned(),
    };
    check_columns(ctx, ds, &venue, header.as_deref(), ncols)?;
    let lay = Layout { header: header.as_deref() };
    let first = first_row.map(|r| (first_line, r));
    let par = (ctx.threads, ctx.opts.chunk_bytes);
    match ds {
        "trades" | "aggTrades" => {
            let agg = ds == "aggTrades";
            let c = if agg {
                [
                    lay.col(&["agg_trade_id"], 0),
                    lay.col(&["price"], 1),
                    lay.col(&["quantity", "qty"], 2),
                    lay.col(&["transact_time", "time"], 5),
                    lay.col(&["is_buyer_maker"], 6),
                ]
            } else {
                [
                    lay.col(&["id"], 0),
                    lay.col(&["price"], 1),
                    lay.col(&["qty", "quantity"], 2),
                    lay.col(&["time"], 4),
                    lay.col(&["is_buyer_maker"], 5),
                ]
            };
            trades(ctx, lines, first, par, &venue, &symbol, c, agg)
        }
        "bookTicker" => {
            let c = [
                lay.col(&["best_bid_price"], 1),
                lay.col(&["best_bid_qty"], 2),
                lay.col(&["best_ask_price"], 3),
                lay.col(&["best_ask_qty"], 4),
                lay.col(&["transaction_time"], 5),
            ];
            book_ticker(ctx, lines, first, par, &venue, &symbol, c)
        }
        "fundingRate" | "metrics" | "depth" => {
            let mut rows = Rows { first, lines: &mut lines };
            match ds {
                "fundingRate" => {
                    let c = [lay.col(&["calc_time"], 0), lay.col(&["last_funding_rate"], 2)];
                    funding(ctx, &mut rows, &venue, &symbol, c)?
                }
                "metrics" => metrics(ctx, &mut rows, &venue, &lay)?,
                _ => depth(ctx, &mut rows, &venue, &lay)?,
            }
            Ok(lines.decoded_bytes())
        }
        _ => {
            let kind = match ds {
                "markPriceKlines" => "-mark",
                "indexPriceKlines" => "-index",
                "premiumIndexKlines" => "-premium",
                _ => "",
            };
            // Trade bars keep the instrument's symbol (so they join it); mark,
            // index and premium bars are other prices, with a symbol of their own.
            let bar_symbol = format!("{symbol}{kind}");
            let interval = if is_interval(&interval) { interval.as_str() } else { "" };
            klines(ctx, lines, first, par, &venue, &bar_symbol, interval)
        }
    }
}

/// The stateless part of a row, parsed on worker threads (see
/// [`crate::chunked`]): at least `need` columns, then the dataset's values
/// (`body`), or why the row is bad.
struct Parsed<T, F> {
    need: usize,
    too_few: &'static str,
    body: F,
    _out: std::marker::PhantomData<fn() -> T>,
}

impl<T: Send, F> Parse for Parsed<T, F>
where
    F: Fn(&Fields, &[u8]) -> std::result::Result<T, &'static str> + Sync,
{
    type Out = std::result::Result<T, &'static str>;

    #[inline]
    fn parse(&self, row: &[u8], f: &Fields, _: &mut Keys) -> Self::Out {
        if f.len() < self.need {
            return Err(self.too_few);
        }
        (self.body)(f, row)
    }
}

/// Parses every data row with `body` in parallel chunks and calls `each` in
/// input order for every good one (text, line, values); bad rows are reported
/// in their place. Returns the decoded bytes read.
#[allow(clippy::too_many_arguments)]
fn each_parsed<T: Send, F>(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    first: Option<(u64, Vec<u8>)>,
    (threads, chunk): (usize, usize),
    need: usize,
    too_few: &'static str,
    body: F,
    mut each: impl FnMut(&mut Ctx<'_>, &[u8], u64, &T) -> Result<()> + Send,
) -> Result<u64>
where
    F: Fn(&Fields, &[u8]) -> std::result::Result<T, &'static str> + Sync,
{
    let parser = Parsed { need, too_few, body, _out: std::marker::PhantomData };
    crate::chunked::run(
        ctx,
        lines,
        first,
        &parser,
        |ctx, c, row, line| match &row.val {
            Ok(v) => each(ctx, c.text(row), line, v),
            Err(why) => ctx.bad(line, c.text(row), why),
        },
        threads,
        chunk,
    )
}

/// Field `i` of `row`, split again (for messages, off the hot path).
#[cold]
fn field(row: &[u8], i: usize) -> &[u8] {
    let mut f = Fields::default();
    f.split(row);
    f.get(row, i)
}

/// The first data row (if the first line was not a header), then the rest.
struct Rows<'l, 'a> {
    first: Option<(u64, Vec<u8>)>,
    lines: &'l mut Lines<'a>,
}

impl Rows<'_, '_> {
    /// Calls `each` for every non-empty data row.
    #[inline]
    fn for_each(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut each: impl FnMut(&mut Ctx<'_>, u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        if let Some((n, row)) = self.first.take()
            && !row.is_empty()
        {
            ctx.stats.rows += 1;
            each(ctx, n, &row)?;
        }
        while let Some((n, row)) = self.lines.next_line()? {
            if row.is_empty() {
                continue;
            }
            ctx.stats.rows += 1;
            each(ctx, n, row)?;
        }
        Ok(())
    }
}

/// The columns of each dataset (header names, spot and futures spellings)
/// and how many a file has at most: spot files (venue `binance`) and futures
/// files differ in count.
fn dataset_columns(ds: &str, spot: bool) -> (&'static [&'static str], usize) {
    const KLINES: &[&str] = &[
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "close_time",
        "quote_volume",
        "count",
        "taker_buy_volume",
        "taker_buy_quote_volume",
        "ignore",
    ];
    match ds {
        "trades" => (
            &["id", "price", "qty", "quantity", "quote_qty", "base_qty", "time", "is_buyer_maker", "is_best_match"],
            if spot { 7 } else { 6 },
        ),
        "aggTrades" => (
            &[
                "agg_trade_id",
                "price",
                "quantity",
                "qty",
                "first_trade_id",
                "last_trade_id",
                "transact_time",
                "time",
                "is_buyer_maker",
                "is_best_match",
            ],
            if spot { 8 } else { 7 },
        ),
        "bookTicker" => (
            &[
                "update_id",
                "best_bid_price",
                "best_bid_qty",
                "best_ask_price",
                "best_ask_qty",
                "transaction_time",
                "event_time",
            ],
            7,
        ),
        "fundingRate" => (&["calc_time", "funding_interval_hours", "last_funding_rate"], 3),
        "metrics" => (
            &[
                "create_time",
                "symbol",
                "sum_open_interest",
                "sum_open_interest_value",
                "count_toptrader_long_short_ratio",
                "sum_toptrader_long_short_ratio",
                "count_long_short_ratio",
                "sum_taker_long_short_vol_ratio",
            ],
            8,
        ),
        "depth" => (
            &["symbol", "timestamp", "first_update_id", "last_update_id", "side", "update_type", "price", "qty", "pu"],
            9,
        ),
        _ => (KLINES, 12),
    }
}

/// Refuses columns the dataset does not have: a header name it does not
/// know, or (without a header) more fields in the first row than it has.
/// Extra columns mean an altered file or another dataset, whose values
/// would otherwise be read by position as this one's.
fn check_columns(ctx: &Ctx<'_>, ds: &str, venue: &str, header: Option<&[Vec<u8>]>, ncols: usize) -> Result<()> {
    let (names, max) = dataset_columns(ds, venue == "binance");
    if let Some(h) = header {
        let unknown = h.iter().find(|c| {
            let c = trim(c);
            !c.is_empty() && !names.iter().any(|n| c.eq_ignore_ascii_case(n.as_bytes()))
        });
        if let Some(c) = unknown {
            return Err(Error::Format {
                path: ctx.path.clone(),
                why: format!(
                    "line 1: unknown column {:?} for the Binance Vision {ds} dataset (its columns are {}): the file was altered or is another dataset; remove the column, or pass the right --dataset",
                    String::from_utf8_lossy(c),
                    names.join(", ")
                ),
            });
        }
    }
    if ncols > max {
        return Err(Error::Format {
            path: ctx.path.clone(),
            why: format!(
                "line 1: {ncols} columns, but the Binance Vision {ds} dataset ({}) has at most {max}: the file was altered or is another dataset; remove the extra columns, or pass the right --dataset",
                if venue == "binance" { "spot" } else { "futures" }
            ),
        });
    }
    Ok(())
}

fn is_interval(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&s[digits..], "s" | "m" | "h" | "d" | "w" | "M" | "mo")
}

fn detect(ctx: &Ctx<'_>, name: &str, path: &str, header: Option<&[Vec<u8>]>) -> Result<&'static str> {
    if let Some(ds) = &ctx.opts.dataset {
        return DATASETS.iter().find(|d| **d == ds).copied().ok_or_else(|| Error::UnknownDataset {
            path: ctx.path.clone(),
            why: format!("binance-vision has no dataset {ds:?}"),
        });
    }
    if let Some(h) = header {
        let has = |c: &str| find_col(h, &[c]).is_some();
        if has("update_type") && has("first_update_id") {
            return Ok("depth");
        }
        if has("create_time") && has("sum_open_interest") {
            return Ok("metrics");
        }
    }
    for ds in ["markPriceKlines", "indexPriceKlines", "premiumIndexKlines"] {
        if path.contains(ds) {
            return Ok(ds);
        }
    }
    let stem = name.split('.').next().unwrap_or_default();
    let mut parts = stem.split('-');
    let _symbol = parts.next();
    let second = parts.next().unwrap_or_default();
    if let Some(ds) = DATASETS.iter().find(|d| **d == second) {
        return Ok(ds);
    }
    if is_interval(second) {
        return Ok("klines");
    }
    if let Some(h) = header {
        let has = |c: &str| find_col(h, &[c]).is_some();
        if has("agg_trade_id") {
            return Ok("aggTrades");
        }
        if has("best_bid_price") {
            return Ok("bookTicker");
        }
        if has("last_funding_rate") {
            return Ok("fundingRate");
        }
        if has("open_time") {
            return Ok("klines");
        }
        if has("is_buyer_maker") {
            return Ok("trades");
        }
    }
    Err(Error::UnknownDataset {
        path: ctx.path.clone(),
        why: format!(
            "cannot tell the Binance Vision dataset from the file name {name:?} (expected SYMBOL-DATASET-DATE or SYMBOL-INTERVAL-DATE) or a header row"
        ),
    })
}

/// The venue a Vision folder name says (`futures/um`, `futures_um_…` → USD-M,
/// `cm` → COIN-M, `spot` → spot), if any.
fn folder_venue(path: &str) -> Option<&'static str> {
    let p = path.to_ascii_lowercase();
    // Whole folder names only (Vision's `data/futures/um/...`, `data/spot/...`,
    // or folders such as `futures_um_daily_...`): a user's `/home/despot/` is
    // not a spot archive.
    let parts: Vec<&str> = p.split(['/', '\\']).collect();
    let folder = |word: &str| {
        parts.iter().any(|c| {
            *c == word || c.strip_prefix(word).is_some_and(|rest| rest.starts_with('_') || rest.starts_with('-'))
        })
    };
    if folder("um") || folder("futures_um") {
        Some("binance-futures")
    } else if folder("cm") || folder("futures_cm") {
        Some("binance-delivery")
    } else if folder("spot") || p.split(['/', '\\', '_', '-', '.']).any(|w| w == "spot") {
        // Also `binance_spot_1d_concat/`, `ARBUSDT-1d-spot-….csv`: "spot" as a whole word.
        Some("binance")
    } else {
        None
    }
}

fn venue_from(path: &str, symbol: &str, ds: &str, ncols: usize) -> &'static str {
    if let Some(v) = folder_venue(path) {
        v
    } else if symbol.contains('_') && ds != "depth" {
        "binance-delivery"
    } else if (ds == "aggTrades" && ncols == 8) || (ds == "trades" && ncols == 7) {
        "binance"
    } else {
        "binance-futures"
    }
}

#[allow(clippy::too_many_arguments)]
fn trades(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    first: Option<(u64, Vec<u8>)>,
    par: (usize, usize),
    venue: &str,
    symbol: &str,
    c: [usize; 5],
    agg: bool,
) -> Result<u64> {
    let mut cache = if agg { StreamCache::variant("agg") } else { StreamCache::default() };
    let sid = cache.get::<Trade>(ctx, venue.as_bytes(), symbol.as_bytes(), false)?;
    let need = c.iter().max().copied().unwrap_or(0) + 1;
    let body = |f: &Fields, row: &[u8]| {
        let (Some(id), Ok(price), Ok(qty), Some(ts), Some(maker)) = (
            parse_u64(f.get(row, c[0])),
            Dec::parse(f.get(row, c[1])),
            Dec::parse(f.get(row, c[2])),
            vision_ts(f.get(row, c[3])),
            parse_bool(f.get(row, c[4])),
        ) else {
            return Err("bad id, price, quantity, time or is_buyer_maker");
        };
        if qty.mant <= 0 {
            return Err("trade quantity is not positive");
        }
        Ok((id, price, qty, ts, maker))
    };
    each_parsed(
        ctx,
        lines,
        first,
        par,
        need,
        "too few columns",
        body,
        |ctx, row, line, &(id, price, qty, ts, maker)| {
            let [price, qty] = match ctx.sink.fit::<Trade, 2>(sid, [(Some(price), P), (Some(qty), Q)]) {
                Ok(v) => v,
                Err(m) => return ctx.misfit(m, line, &[field(row, c[1]), field(row, c[2])]),
            };
            let rec = Trade {
                ts: Stamp { exchange: ts, local: ts },
                price,
                qty,
                trade_id: id,
                side: if maker { side::SELL } else { side::BUY },
                flags: if agg { trade_flags::AGGREGATED } else { 0 },
                ..Trade::default()
            };
            ctx.push(sid, rec, line)
        },
    )
}

fn book_ticker(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    first: Option<(u64, Vec<u8>)>,
    par: (usize, usize),
    venue: &str,
    symbol: &str,
    c: [usize; 5],
) -> Result<u64> {
    let sid = StreamCache::default().get::<Quote>(ctx, venue.as_bytes(), symbol.as_bytes(), false)?;
    let need = c.iter().max().copied().unwrap_or(0) + 1;
    let body = |f: &Fields, row: &[u8]| {
        let t = [f.get(row, c[0]), f.get(row, c[1]), f.get(row, c[2]), f.get(row, c[3])];
        let (Ok(bp), Ok(bq), Ok(ap), Ok(aq), Some(ts)) =
            (Dec::parse(t[0]), Dec::parse(t[1]), Dec::parse(t[2]), Dec::parse(t[3]), vision_ts(f.get(row, c[4])))
        else {
            return Err("bad price, quantity or time");
        };
        if bq.mant < 0 || aq.mant < 0 {
            return Err("negative quantity");
        }
        Ok(([bp, bq, ap, aq], ts))
    };
    each_parsed(ctx, lines, first, par, need, "too few columns", body, |ctx, row, line, &([bp, bq, ap, aq], ts)| {
        let v = match ctx.sink.fit::<Quote, 4>(sid, [(Some(bp), P), (Some(bq), Q), (Some(ap), P), (Some(aq), Q)]) {
            Ok(v) => v,
            Err(m) => {
                let t = [field(row, c[0]), field(row, c[1]), field(row, c[2]), field(row, c[3])];
                return ctx.misfit(m, line, &t);
            }
        };
        let rec = Quote {
            ts: Stamp { exchange: ts, local: ts },
            bid_price: v[0],
            bid_qty: v[1],
            ask_price: v[2],
            ask_qty: v[3],
        };
        ctx.push(sid, rec, line)
    })
}

fn funding(ctx: &mut Ctx<'_>, rows: &mut Rows<'_, '_>, venue: &str, symbol: &str, c: [usize; 2]) -> Result<()> {
    ctx.sort_everything();
    let sid = StreamCache::default().get::<Funding>(ctx, venue.as_bytes(), symbol.as_bytes(), false)?;
    let mut f = Fields::default();
    let need = c.iter().max().copied().unwrap_or(0) + 1;
    rows.for_each(ctx, |ctx, line, row| {
        f.split(row);
        if f.len() < need {
            return ctx.bad(line, row, "too few columns");
        }
        let rt = f.get(row, c[1]);
        let (Some(ts), Ok(rate)) = (vision_ts(f.get(row, c[0])), Dec::parse(rt)) else {
            return ctx.bad(line, row, "bad calc_time or last_funding_rate");
        };
        let [funding_rate] = match ctx.sink.fit::<Funding, 1>(sid, [(Some(rate), V)]) {
            Ok(v) => v,
            Err(m) => return ctx.misfit(m, line, &[rt]),
        };
        ctx.push(sid, Funding::settlement(Stamp { exchange: ts, local: ts }, funding_rate), line)
    })
}

fn klines(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    first: Option<(u64, Vec<u8>)>,
    par: (usize, usize),
    venue: &str,
    symbol: &str,
    interval: &str,
) -> Result<u64> {
    ctx.sort_everything();
    let sid = crate::common::bar_stream(ctx, venue, symbol, interval)?;
    const TEXTS: [usize; 6] = [1, 2, 3, 4, 5, 9];
    let body = |f: &Fields, row: &[u8]| {
        let t = TEXTS.map(|i| f.get(row, i));
        let (Some(open_ts), Some(close_ts), Ok(o), Ok(h), Ok(l), Ok(c), Ok(v), Ok(tb)) = (
            vision_ts(f.get(row, 0)),
            vision_ts(f.get(row, 6)),
            Dec::parse(t[0]),
            Dec::parse(t[1]),
            Dec::parse(t[2]),
            Dec::parse(t[3]),
            Dec::parse(t[4]),
            opt_dec(t[5]),
        ) else {
            return Err("bad kline time, price or volume");
        };
        let Some(count) = parse_u64(trim(f.get(row, 8))) else {
            return Err("bad trade count");
        };
        Ok((open_ts, close_ts, [o, h, l, c, v], tb, count))
    };
    let too_few = "too few columns (klines have 12)";
    each_parsed(ctx, lines, first, par, 11, too_few, body, |ctx, row, line, &(open_ts, close_ts, d, tb, count)| {
        let vals = [(Some(d[0]), P), (Some(d[1]), P), (Some(d[2]), P), (Some(d[3]), P), (Some(d[4]), Q), (tb, Q)];
        let x = match ctx.sink.fit::<Bar, 6>(sid, vals) {
            Ok(x) => x,
            Err(m) => return ctx.misfit(m, line, &TEXTS.map(|i| field(row, i))),
        };
        if x[2] > x[1] || x[4] < 0 {
            return ctx.bad(line, row, "low above high, or negative volume");
        }
        let rec = Bar {
            ts: Stamp { exchange: close_ts, local: close_ts },
            open_ts,
            open: x[0],
            high: x[1],
            low: x[2],
            close: x[3],
            volume: x[4],
            taker_buy_volume: x[5],
            trade_count: count,
        };
        ctx.push(sid, rec, line)
    })
}

fn metrics(ctx: &mut Ctx<'_>, rows: &mut Rows<'_, '_>, venue: &str, lay: &Layout<'_>) -> Result<()> {
    ctx.sort_everything();
    let tc = lay.col(&["create_time"], 0);
    let sc = lay.col(&["symbol"], 1);
    let names = [
        "sum_open_interest",
        "sum_open_interest_value",
        "count_toptrader_long_short_ratio",
        "sum_toptrader_long_short_ratio",
        "count_long_short_ratio",
        "sum_taker_long_short_vol_ratio",
    ];
    let vc: Vec<usize> = names.iter().enumerate().map(|(i, n)| lay.col(&[n], 2 + i)).collect();
    let mut f = Fields::default();
    let mut cache = StreamCache::default();
    let mut seen: HashSet<(Vec<u8>, i64)> = HashSet::new();
    let symbol_override = ctx.opts.symbol.clone();
    rows.for_each(ctx, |ctx, line, row| {
        f.split(row);
        let t = f.get(row, tc);
        let Some(ts) = crate::time::iso_ns(trim(t)).or_else(|| vision_ts(t)) else {
            return ctx.bad(line, row, "bad create_time");
        };
        let sym = match &symbol_override {
            Some(s) => s.as_bytes(),
            None => f.get(row, sc),
        };
        if !seen.insert((sym.to_vec(), ts)) {
            ctx.filtered("repeated create_time rows dropped");
            return Ok(());
        }
        let sid = cache.get::<Series>(ctx, venue.as_bytes(), sym, false)?;
        for (i, &c) in vc.iter().enumerate() {
            let vt = trim(f.get(row, c));
            if vt.is_empty() {
                continue;
            }
            let Ok(v) = Dec::parse(vt) else {
                return ctx.bad(line, row, "bad metric value");
            };
            let [value] = match ctx.sink.fit::<Series, 1>(sid, [(Some(v), V)]) {
                Ok(v) => v,
                Err(m) => return ctx.misfit(m, line, &[vt]),
            };
            ctx.push(sid, Series { ts: Stamp { exchange: ts, local: ts }, id: i as u64 + 1, value }, line)?;
        }
        Ok(())
    })
}

fn depth(ctx: &mut Ctx<'_>, rows: &mut Rows<'_, '_>, venue: &str, lay: &Layout<'_>) -> Result<()> {
    let c = [
        lay.col(&["symbol"], 0),
        lay.col(&["timestamp"], 1),
        lay.col(&["last_update_id"], 3),
        lay.col(&["side"], 4),
        lay.col(&["update_type"], 5),
        lay.col(&["price"], 6),
        lay.col(&["qty"], 7),
        lay.col(&["pu"], 8),
    ];
    let mut f = Fields::default();
    let mut cache = StreamCache::default();
    let mut batch = Batcher::default();
    // (last_update_id, snapshot) of the open batch, and the last applied update id.
    let mut open: Option<(u64, bool)> = None;
    let mut last_u: Option<u64> = None;
    let need = c.iter().max().copied().unwrap_or(0) + 1;
    rows.for_each(ctx, |ctx, line, row| {
        f.split(row);
        if f.len() < need {
            return ctx.bad(line, row, "too few columns");
        }
        let (pt, qt) = (f.get(row, c[5]), f.get(row, c[6]));
        let (Some(ts), Some(u), Ok(p), Ok(q)) =
            (vision_ts(f.get(row, c[1])), parse_u64(f.get(row, c[2])), Dec::parse(pt), Dec::parse(qt))
        else {
            return ctx.bad(line, row, "bad timestamp, update id, price or qty");
        };
        let s = match f.get(row, c[3]) {
            b"b" | b"bid" => side::BID,
            b"a" | b"ask" => side::ASK,
            _ => return ctx.bad(line, row, "side is not a/b"),
        };
        let snap = match f.get(row, c[4]) {
            b"snap" => true,
            b"set" => false,
            _ => return ctx.bad(line, row, "update_type is not snap/set"),
        };
        if q.mant < 0 {
            return ctx.bad(line, row, "negative qty");
        }
        let sid = cache.get::<Level>(ctx, venue.as_bytes(), f.get(row, c[0]), false)?;
        let [price, qty] = match ctx.sink.fit::<Level, 2>(sid, [(Some(p), P), (Some(q), Q)]) {
            Ok(v) => v,
            Err(m) => return ctx.misfit(m, line, &[pt, qt]),
        };
        // A snapshot row continues the open snapshot only if it has the same
        // last_update_id; otherwise it is the next snapshot, from an empty book.
        let starts = snap && open != Some((u, true));
        let new_batch = if snap { starts } else { open != Some((u, false)) };
        if new_batch {
            batch.end(ctx)?;
            let pu = crate::decimal::parse_i64(f.get(row, c[7]));
            if !snap
                && let (Some(prev), Some(pu)) = (last_u, pu)
                && pu >= 0
                && pu as u64 != prev
            {
                ctx.stats.gaps += 1;
            }
            open = Some((u, snap));
        }
        if starts {
            ctx.stats.snapshots += 1;
        }
        last_u = Some(u);
        let flags = if snap { level_flags::SNAPSHOT | if starts { level_flags::SNAPSHOT_START } else { 0 } } else { 0 };
        batch.add(
            ctx,
            sid,
            Level { ts: Stamp { exchange: ts, local: ts }, price, qty, side: s, flags, ..Level::default() },
            line,
        )
    })?;
    batch.end(ctx)
}

#[cfg(test)]
mod tests {
    use super::venue_from;

    #[test]
    fn venue_comes_from_whole_folder_names() {
        assert_eq!(
            venue_from("/d/data/futures/um/daily/trades/BTCUSDT/x.zip", "BTCUSDT", "trades", 6),
            "binance-futures"
        );
        assert_eq!(
            venue_from("/d/data/futures/cm/daily/trades/X/x.zip", "BTCUSD_PERP", "trades", 6),
            "binance-delivery"
        );
        assert_eq!(venue_from("/d/data/spot/daily/klines/BTCUSDT/1m/x.zip", "BTCUSDT", "klines", 12), "binance");
        assert_eq!(venue_from("/d/spot_daily_klines/x.csv", "BTCUSDT", "klines", 12), "binance");
        assert_eq!(
            venue_from("/d/futures_um_monthly_fundingRate/x.csv", "BTCUSDT", "fundingRate", 3),
            "binance-futures"
        );
        // A folder whose name merely contains "spot" or "um" says nothing.
        assert_eq!(
            venue_from("/home/despot/sum/BTCUSDT-trades-2024-01-01.csv", "BTCUSDT", "trades", 6),
            "binance-futures"
        );
        assert_eq!(venue_from("/home/despot/x/BTCUSDT-trades-2024-01-01.csv", "BTCUSDT", "trades", 7), "binance");
    }
}
