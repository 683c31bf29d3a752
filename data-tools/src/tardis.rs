//! Tardis.dev downloadable CSV (`.csv` or `.csv.gz`, header row, µs timestamps).
//!
//! | dataset | tape |
//! |---|---|
//! | `trades` | trades; `side` is the taker side; a numeric `id` is the trade id, a UUID gives its first 16 hex digits, anything else 0 |
//! | `incremental_book_L2` | l2; a new run of `is_snapshot=true` rows starts a snapshot (the book is cleared); rows sharing `timestamp` and `local_timestamp` form one batch |
//! | `book_snapshot_25`, `book_snapshot_5` | l2; the first row is a snapshot, later rows only the levels that changed against the previous row (a level that left the top N gets quantity 0), one batch per row: replaying the tape rebuilds each top-N row exactly |
//! | `quotes` | quotes |
//! | `derivative_ticker` | funding: `funding_rate`, `mark_price`, `index_price`, `funding_timestamp` (empty → absent); `open_interest`, `last_price` and `predicted_funding_rate` are not kept |
//!
//! `ts.exchange` is `timestamp`, `ts.local` is `local_timestamp`; venue is the `exchange` column.

use ticktape_tape::{Funding, Level, Quote, Stamp, Trade, level_flags, side};

use crate::chunked::{Keys, Parse};
use crate::common::{Batcher, StreamCache, find_col, opt_dec};
use crate::convert::Ctx;
use crate::decimal::{Dec, parse_u64};
use crate::input::{Fields, Lines, Member};
use crate::sink::Class::{P, Q, V};
use crate::time::{Unit, epoch_in};
use crate::{Error, Result};

/// Datasets of this source.
pub(crate) const DATASETS: &[&str] =
    &["trades", "incremental_book_L2", "book_snapshot_25", "book_snapshot_5", "quotes", "derivative_ticker"];

/// Converts one Tardis CSV; returns the decoded bytes read.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    let name = m.name.clone();
    let mut lines = Lines::new(m);
    let header = lines.header(&ctx.path)?;
    let ds = detect(ctx, &name, &header)?;
    ctx.stats.dataset = ds.to_owned();
    let col = |names: &[&str]| -> Result<usize> {
        find_col(&header, names).ok_or_else(|| Error::Format {
            path: ctx.path.clone(),
            why: format!("{ds}: the header has no column {:?}", names[0]),
        })
    };
    if let Some(h) = header.iter().find(|h| !known_column(ds, h)) {
        return Err(Error::Format {
            path: ctx.path.clone(),
            why: format!(
                "line 1: unknown column {:?} for the Tardis {ds} dataset (it has no such column): the file was altered or is another dataset; remove the column, or pass the right --dataset",
                String::from_utf8_lossy(h)
            ),
        });
    }
    let base = [col(&["exchange"])?, col(&["symbol"])?, col(&["timestamp"])?, col(&["local_timestamp"])?];
    let (threads, chunk) = (ctx.threads, ctx.opts.chunk_bytes);
    match ds {
        "trades" => {
            let c = [col(&["id"])?, col(&["side"])?, col(&["price"])?, col(&["amount"])?];
            trades(ctx, lines, base, c, threads, chunk)
        }
        "incremental_book_L2" => {
            let c = [col(&["is_snapshot"])?, col(&["side"])?, col(&["price"])?, col(&["amount"])?];
            incremental(ctx, lines, base, c, threads, chunk)
        }
        "quotes" => {
            let c = [col(&["bid_price"])?, col(&["bid_amount"])?, col(&["ask_price"])?, col(&["ask_amount"])?];
            quotes(ctx, lines, base, c, threads, chunk)
        }
        "derivative_ticker" => {
            let c =
                [col(&["funding_rate"])?, col(&["mark_price"])?, col(&["index_price"])?, col(&["funding_timestamp"])?];
            ticker(ctx, &mut lines, base, c)?;
            Ok(lines.decoded_bytes())
        }
        _ => {
            let mut levels = Vec::new();
            for i in 0.. {
                let (Some(ap), Some(aa), Some(bp), Some(ba)) = (
                    find_col(&header, &[&format!("asks[{i}].price")]),
                    find_col(&header, &[&format!("asks[{i}].amount")]),
                    find_col(&header, &[&format!("bids[{i}].price")]),
                    find_col(&header, &[&format!("bids[{i}].amount")]),
                ) else {
                    break;
                };
                levels.push([ap, aa, bp, ba]);
            }
            if levels.is_empty() {
                return Err(Error::Format { path: ctx.path.clone(), why: format!("{ds}: no asks[0].price column") });
            }
            snapshots(ctx, &mut lines, base, &levels)?;
            Ok(lines.decoded_bytes())
        }
    }
}

fn detect(ctx: &Ctx<'_>, name: &str, header: &[Vec<u8>]) -> Result<&'static str> {
    if let Some(ds) = &ctx.opts.dataset {
        return DATASETS.iter().find(|d| **d == ds).copied().ok_or_else(|| Error::UnknownDataset {
            path: ctx.path.clone(),
            why: format!("tardis has no dataset {ds:?}"),
        });
    }
    let has = |c: &str| find_col(header, &[c]).is_some();
    let by_columns = if has("is_snapshot") {
        Some("incremental_book_L2")
    } else if has("asks[5].price") {
        Some("book_snapshot_25")
    } else if has("asks[0].price") {
        Some("book_snapshot_5")
    } else if has("ask_amount") {
        Some("quotes")
    } else if has("funding_rate") || has("mark_price") {
        Some("derivative_ticker")
    } else if has("id") && has("side") && has("amount") {
        Some("trades")
    } else {
        None
    };
    let by_name =
        ["incremental_book_L2", "book_snapshot_25", "book_snapshot_5", "derivative_ticker", "quotes", "trades"]
            .into_iter()
            .find(|d| name.contains(d));
    by_columns.or(by_name).ok_or_else(|| Error::UnknownDataset {
        path: ctx.path.clone(),
        why: format!(
            "cannot tell the Tardis dataset from the file name {name:?} or its columns {:?}",
            header.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect::<Vec<_>>()
        ),
    })
}

/// Parses the two µs timestamps of a row.
#[inline]
fn stamp(f: &Fields, row: &[u8], base: [usize; 4]) -> Option<Stamp> {
    let exchange = epoch_in(f.get(row, base[2]), Unit::Us)?;
    let local = epoch_in(f.get(row, base[3]), Unit::Us)?;
    Some(Stamp { exchange, local })
}

/// Whether a timestamp text is in another unit than µs: Tardis documents µs,
/// and a value of 10–14 or 18–19 digits is s, ms or ns by magnitude.
#[inline]
fn wrong_unit(text: &[u8]) -> bool {
    let digits = text.len();
    !(15..=17).contains(&digits) && (10..=19).contains(&digits) && text.iter().all(u8::is_ascii_digit)
}

/// A timestamp in another unit than µs (see [`wrong_unit`]) is an error
/// whatever `--skip-bad` says (every row would be wrong).
#[inline]
fn unit_check(ctx: &Ctx<'_>, line: u64, column: &'static str, text: &[u8]) -> Result<()> {
    if !wrong_unit(text) {
        return Ok(());
    }
    let digits = text.len();
    let looks_like = crate::time::Unit::from_digits(digits).map_or("?", |u| u.name());
    Err(Error::TimeUnit {
        path: ctx.path.clone(),
        line,
        column,
        value: String::from_utf8_lossy(text).into_owned(),
        digits,
        expected: "µs",
        looks_like,
    })
}

/// The columns each dataset has; any other is an error.
fn known_column(ds: &str, name: &[u8]) -> bool {
    let name = std::str::from_utf8(crate::common::trim(name)).unwrap_or_default();
    let base = ["exchange", "symbol", "timestamp", "local_timestamp"];
    let extra: &[&str] = match ds {
        "trades" => &["id", "side", "price", "amount"],
        "incremental_book_L2" => &["is_snapshot", "side", "price", "amount"],
        "quotes" => &["bid_price", "bid_amount", "ask_price", "ask_amount"],
        "derivative_ticker" => &[
            "funding_timestamp",
            "funding_rate",
            "predicted_funding_rate",
            "open_interest",
            "last_price",
            "index_price",
            "mark_price",
        ],
        _ => {
            // asks[i].price, asks[i].amount, bids[i].price, bids[i].amount
            let level = name
                .strip_prefix("asks[")
                .or_else(|| name.strip_prefix("bids["))
                .and_then(|r| r.split_once("]."))
                .is_some_and(|(i, f)| i.parse::<u32>().is_ok() && (f == "price" || f == "amount"));
            return level || base.contains(&name);
        }
    };
    base.contains(&name) || extra.contains(&name)
}

/// Calls `each` for every non-empty row, with its fields split (at least
/// `ncols` of them) and its exchange and local times parsed; a short row or
/// one with bad times is reported as bad instead.
fn each_row(
    ctx: &mut Ctx<'_>,
    lines: &mut Lines<'_>,
    base: [usize; 4],
    ncols: usize,
    mut each: impl FnMut(&mut Ctx<'_>, &Fields, u64, &[u8], Stamp) -> Result<()>,
) -> Result<()> {
    let mut f = Fields::default();
    while let Some((line, row)) = lines.next_line()? {
        if row.is_empty() {
            continue;
        }
        ctx.stats.rows += 1;
        f.split(row);
        if f.len() < ncols {
            ctx.bad(line, row, "too few columns")?;
            continue;
        }
        for (i, column) in [(base[2], "timestamp"), (base[3], "local_timestamp")] {
            unit_check(ctx, line, column, f.get(row, i))?;
        }
        let Some(ts) = stamp(&f, row, base) else {
            ctx.bad(line, row, "bad timestamp")?;
            continue;
        };
        each(ctx, &f, line, row, ts)?;
    }
    Ok(())
}

/// What a worker makes of a row before the sink sees it (see [`crate::chunked`]).
#[derive(Debug)]
enum Parsed<T> {
    /// Times and values parsed; `key` numbers the row's (exchange, symbol) in its chunk.
    Ok { ts: Stamp, key: u32, v: T },
    /// A malformed row, and why.
    Bad(&'static str),
    /// Column `0` (timestamp) or `1` (local_timestamp) is in another unit: always an error.
    Unit(u8),
}

/// The stateless part of a row of any dataset: columns, times, then the
/// dataset's own values (`body`). The same checks in the same order as a
/// single-threaded reading, so the same row is bad for the same reason.
struct Rows<T, F> {
    base: [usize; 4],
    ncols: usize,
    body: F,
    _out: std::marker::PhantomData<fn() -> T>,
}

impl<T, F> Rows<T, F>
where
    F: Fn(&Fields, &[u8]) -> std::result::Result<T, &'static str> + Sync,
{
    fn new(base: [usize; 4], c: &[usize], body: F) -> Self {
        let ncols = base.iter().chain(c).max().copied().unwrap_or(0) + 1;
        Rows { base, ncols, body, _out: std::marker::PhantomData }
    }
}

impl<T: Send, F> Parse for Rows<T, F>
where
    F: Fn(&Fields, &[u8]) -> std::result::Result<T, &'static str> + Sync,
{
    type Out = Parsed<T>;

    #[inline]
    fn parse(&self, row: &[u8], f: &Fields, keys: &mut Keys) -> Parsed<T> {
        if f.len() < self.ncols {
            return Parsed::Bad("too few columns");
        }
        if wrong_unit(f.get(row, self.base[2])) {
            return Parsed::Unit(0);
        }
        if wrong_unit(f.get(row, self.base[3])) {
            return Parsed::Unit(1);
        }
        let Some(ts) = stamp(f, row, self.base) else {
            return Parsed::Bad("bad timestamp");
        };
        match (self.body)(f, row) {
            Ok(v) => Parsed::Ok { ts, key: keys.id(f.get(row, self.base[0]), f.get(row, self.base[1])), v },
            Err(why) => Parsed::Bad(why),
        }
    }
}

/// Runs `rows` over the rest of the input in parallel chunks and calls `each`
/// in input order for every good row, with its text, line, times, exchange,
/// symbol and values; bad rows are reported in their place. Returns the
/// decoded bytes read.
fn each_parsed<T: Send, F>(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    rows: Rows<T, F>,
    (threads, chunk): (usize, usize),
    mut each: impl FnMut(&mut Ctx<'_>, &[u8], u64, Stamp, Key<'_>, &T) -> Result<()> + Send,
) -> Result<u64>
where
    F: Fn(&Fields, &[u8]) -> std::result::Result<T, &'static str> + Sync,
{
    let base = rows.base;
    crate::chunked::run(
        ctx,
        lines,
        None,
        &rows,
        |ctx, c, row, line| match &row.val {
            Parsed::Ok { ts, key, v } => {
                let (venue, symbol) = c.keys.get(*key);
                each(ctx, c.text(row), line, *ts, Key { token: (c.index(), *key), venue, symbol }, v)
            }
            Parsed::Bad(why) => ctx.bad(line, c.text(row), why),
            Parsed::Unit(k) => {
                let (i, column) = if *k == 0 { (base[2], "timestamp") } else { (base[3], "local_timestamp") };
                unit_check(ctx, line, column, field(c.text(row), i))
            }
        },
        threads,
        chunk,
    )
}

/// The exchange and symbol of a row, and a token that is the same for rows
/// of one chunk with the same pair (for [`StreamCache::get_by`]).
struct Key<'a> {
    token: (u64, u32),
    venue: &'a [u8],
    symbol: &'a [u8],
}

impl Key<'_> {
    /// The stream of `R` for this row.
    #[inline]
    fn stream<R: crate::sink::Rec>(&self, cache: &mut StreamCache, ctx: &mut Ctx<'_>) -> Result<usize> {
        cache.get_by::<R>(ctx, self.token, self.venue, self.symbol, true)
    }
}

/// Field `i` of `row`, split again (for messages, off the hot path).
#[cold]
fn field(row: &[u8], i: usize) -> &[u8] {
    let mut f = Fields::default();
    f.split(row);
    f.get(row, i)
}

fn trades(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    base: [usize; 4],
    c: [usize; 4],
    threads: usize,
    chunk: usize,
) -> Result<u64> {
    let mut cache = StreamCache::default();
    let rows = Rows::new(base, &c, |f: &Fields, row: &[u8]| {
        let (Ok(price), Ok(qty)) = (Dec::parse(f.get(row, c[2])), Dec::parse(f.get(row, c[3]))) else {
            return Err("bad price or amount");
        };
        if qty.mant <= 0 {
            return Err("trade amount is not positive");
        }
        let side = match f.get(row, c[1]) {
            b"buy" => side::BUY,
            b"sell" => side::SELL,
            _ => side::NONE,
        };
        Ok((price, qty, side, trade_id(f.get(row, c[0]))))
    });
    each_parsed(ctx, lines, rows, (threads, chunk), |ctx, row, line, ts, key, &(price, qty, side, id)| {
        let sid = key.stream::<Trade>(&mut cache, ctx)?;
        let [price, qty] = match ctx.sink.fit::<Trade, 2>(sid, [(Some(price), P), (Some(qty), Q)]) {
            Ok(v) => v,
            Err(m) => return ctx.misfit(m, line, &[field(row, c[2]), field(row, c[3])]),
        };
        ctx.offset(ts.local, ts.exchange);
        ctx.push(sid, Trade { ts, price, qty, trade_id: id, side, ..Trade::default() }, line)
    })
}

/// A numeric id, or the first 16 hex digits of a UUID, or 0.
fn trade_id(s: &[u8]) -> u64 {
    if let Some(v) = parse_u64(s) {
        return v;
    }
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b'-' => continue,
            _ => return 0,
        };
        if n < 16 {
            v = v << 4 | u64::from(d);
            n += 1;
        }
    }
    if n == 16 { v } else { 0 }
}

fn incremental(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    base: [usize; 4],
    c: [usize; 4],
    threads: usize,
    chunk: usize,
) -> Result<u64> {
    let mut cache = StreamCache::default();
    let mut batch = Batcher::default();
    // Batch key of the open batch: (stream, exchange ts, local ts, snapshot).
    let mut open: Option<(usize, i64, i64, bool)> = None;
    // Per stream: whether the last row was a snapshot row.
    let mut in_snapshot: Vec<bool> = Vec::new();
    let rows = Rows::new(base, &c, |f: &Fields, row: &[u8]| {
        let Some(snap) = crate::common::parse_bool(f.get(row, c[0])) else {
            return Err("is_snapshot is not true/false");
        };
        let lside = match f.get(row, c[1]) {
            b"bid" | b"buy" => side::BID,
            b"ask" | b"sell" => side::ASK,
            _ => return Err("side is not bid/ask"),
        };
        let (Ok(price), Ok(qty)) = (Dec::parse(f.get(row, c[2])), Dec::parse(f.get(row, c[3]))) else {
            return Err("bad price or amount");
        };
        if qty.mant < 0 {
            return Err("negative amount");
        }
        Ok((snap, lside, price, qty))
    });
    let decoded =
        each_parsed(ctx, lines, rows, (threads, chunk), |ctx, row, line, ts, key, &(snap, lside, price, qty)| {
            let sid = key.stream::<Level>(&mut cache, ctx)?;
            let [price, qty] = match ctx.sink.fit::<Level, 2>(sid, [(Some(price), P), (Some(qty), Q)]) {
                Ok(v) => v,
                Err(m) => return ctx.misfit(m, line, &[field(row, c[2]), field(row, c[3])]),
            };
            if in_snapshot.len() <= sid {
                in_snapshot.resize(sid + 1, false);
            }
            let key = (sid, ts.exchange, ts.local, snap);
            let starts_snapshot = snap && !in_snapshot[sid];
            if open != Some(key) || starts_snapshot {
                batch.end(ctx)?;
                open = Some(key);
            }
            in_snapshot[sid] = snap;
            let mut flags = 0;
            if snap {
                flags |= level_flags::SNAPSHOT;
                if starts_snapshot {
                    flags |= level_flags::SNAPSHOT_START;
                    ctx.stats.snapshots += 1;
                }
            }
            ctx.offset(ts.local, ts.exchange);
            batch.add(ctx, sid, Level { ts, price, qty, side: lside, flags, ..Level::default() }, line)
        })?;
    batch.end(ctx)?;
    Ok(decoded)
}

fn quotes(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    base: [usize; 4],
    c: [usize; 4],
    threads: usize,
    chunk: usize,
) -> Result<u64> {
    let mut cache = StreamCache::default();
    let rows = Rows::new(base, &c, |f: &Fields, row: &[u8]| {
        let t = [f.get(row, c[0]), f.get(row, c[1]), f.get(row, c[2]), f.get(row, c[3])];
        let (Ok(bp), Ok(bq), Ok(ap), Ok(aq)) = (opt_dec(t[0]), opt_dec(t[1]), opt_dec(t[2]), opt_dec(t[3])) else {
            return Err("bad price or amount");
        };
        Ok([bp, bq, ap, aq])
    });
    each_parsed(ctx, lines, rows, (threads, chunk), |ctx, row, line, ts, key, &[bp, bq, ap, aq]| {
        let sid = key.stream::<Quote>(&mut cache, ctx)?;
        let [bid_price, bid_qty, ask_price, ask_qty] =
            match ctx.sink.fit::<Quote, 4>(sid, [(bp, P), (bq, Q), (ap, P), (aq, Q)]) {
                Ok(v) => v,
                Err(m) => {
                    let t = [field(row, c[0]), field(row, c[1]), field(row, c[2]), field(row, c[3])];
                    return ctx.misfit(m, line, &t);
                }
            };
        let (bid_qty, ask_qty) = (absent_zero(bid_qty), absent_zero(ask_qty));
        if bid_qty < 0 || ask_qty < 0 {
            return ctx.bad(line, row, "negative amount");
        }
        ctx.offset(ts.local, ts.exchange);
        ctx.push(sid, Quote { ts, bid_price, bid_qty, ask_price, ask_qty }, line)
    })
}

/// An absent quantity is 0 (no quantity), unlike an absent price.
fn absent_zero(v: i64) -> i64 {
    if v == ticktape_tape::UNDEF { 0 } else { v }
}

fn ticker(ctx: &mut Ctx<'_>, lines: &mut Lines<'_>, base: [usize; 4], c: [usize; 4]) -> Result<()> {
    let mut cache = StreamCache::default();
    let ncols = base.iter().chain(&c).max().copied().unwrap_or(0) + 1;
    each_row(ctx, lines, base, ncols, |ctx, f, line, row, ts| {
        let t = [f.get(row, c[0]), f.get(row, c[1]), f.get(row, c[2])];
        let (Ok(rate), Ok(mark), Ok(index)) = (opt_dec(t[0]), opt_dec(t[1]), opt_dec(t[2])) else {
            ctx.bad(line, row, "bad rate or price")?;
            return Ok(());
        };
        let ft = f.get(row, c[3]);
        let next_funding_ts = if ft.is_empty() {
            ticktape_tape::UNDEF
        } else if let Some(v) = epoch_in(ft, Unit::Us) {
            v
        } else {
            ctx.bad(line, row, "bad funding_timestamp")?;
            return Ok(());
        };
        let sid = cache.get::<Funding>(ctx, f.get(row, base[0]), f.get(row, base[1]), true)?;
        let [funding_rate, mark_price, index_price] =
            match ctx.sink.fit::<Funding, 3>(sid, [(rate, V), (mark, P), (index, P)]) {
                Ok(v) => v,
                Err(m) => {
                    ctx.misfit(m, line, &t)?;
                    return Ok(());
                }
            };
        ctx.offset(ts.local, ts.exchange);
        let rec = Funding { ts, funding_rate, mark_price, index_price, next_funding_ts, ..Funding::default() };
        ctx.push(sid, rec, line)?;
        Ok(())
    })?;
    Ok(())
}

/// A level change: side, price, quantity, and their texts.
type Change<'r> = (u8, Dec, Dec, &'r [u8], &'r [u8]);

/// The previous top-N row of one stream, as exact decimals.
#[derive(Default)]
struct TopN {
    bids: Vec<(Dec, Dec)>,
    asks: Vec<(Dec, Dec)>,
    seen: bool,
}

fn snapshots(ctx: &mut Ctx<'_>, lines: &mut Lines<'_>, base: [usize; 4], levels: &[[usize; 4]]) -> Result<()> {
    let mut cache = StreamCache::default();
    let mut batch = Batcher::default();
    let mut prev: Vec<TopN> = Vec::new();
    let ncols = base.iter().chain(levels.iter().flatten()).max().copied().unwrap_or(0) + 1;
    each_row(ctx, lines, base, ncols, |ctx, f, line, row, ts| {
        let mut bids: Vec<(Dec, Dec, &[u8], &[u8])> = Vec::with_capacity(levels.len());
        let mut asks: Vec<(Dec, Dec, &[u8], &[u8])> = Vec::with_capacity(levels.len());
        for l in levels {
            for (pc, qc, out) in [(l[0], l[1], &mut asks), (l[2], l[3], &mut bids)] {
                let (pt, qt) = (f.get(row, pc), f.get(row, qc));
                if pt.is_empty() && qt.is_empty() {
                    continue;
                }
                match (Dec::parse(pt), Dec::parse(qt)) {
                    (Ok(p), Ok(q)) if q.mant >= 0 => out.push((p, q, pt, qt)),
                    _ => {
                        ctx.bad(line, row, "bad level price or amount")?;
                        return Ok(());
                    }
                }
            }
        }
        let sid = cache.get::<Level>(ctx, f.get(row, base[0]), f.get(row, base[1]), true)?;
        if prev.len() <= sid {
            prev.resize_with(sid + 1, TopN::default);
        }
        // Changes against the previous row: removed levels, then new or resized ones.
        let first = !prev[sid].seen;
        let mut changes: Vec<Change<'_>> = Vec::new();
        for (s, now, before) in [(side::BID, &bids, &prev[sid].bids), (side::ASK, &asks, &prev[sid].asks)] {
            if !first {
                for (p, _) in before.iter() {
                    if !now.iter().any(|n| n.0 == *p) {
                        changes.push((s, *p, Dec::default(), b"", b"0"));
                    }
                }
            }
            for (p, q, pt, qt) in now.iter() {
                if first || !before.iter().any(|b| b.0 == *p && b.1 == *q) {
                    changes.push((s, *p, *q, pt, qt));
                }
            }
        }
        for (i, (s, p, q, pt, qt)) in changes.iter().enumerate() {
            let [price, qty] = match ctx.sink.fit::<Level, 2>(sid, [(Some(*p), P), (Some(*q), Q)]) {
                Ok(v) => v,
                Err(m) => {
                    // A misfit inside a row would break the batch: drop the whole row.
                    batch.end(ctx)?;
                    ctx.misfit(m, line, &[pt, qt])?;
                    return Ok(());
                }
            };
            let mut flags = 0;
            if first {
                flags = level_flags::SNAPSHOT | if i == 0 { level_flags::SNAPSHOT_START } else { 0 };
            }
            batch.add(ctx, sid, Level { ts, price, qty, side: *s, flags, ..Level::default() }, line)?;
        }
        batch.end(ctx)?;
        if first && !changes.is_empty() {
            ctx.stats.snapshots += 1;
        }
        ctx.offset(ts.local, ts.exchange);
        let p = &mut prev[sid];
        p.seen = p.seen || !changes.is_empty();
        p.bids.clear();
        p.bids.extend(bids.iter().map(|(a, b, _, _)| (*a, *b)));
        p.asks.clear();
        p.asks.extend(asks.iter().map(|(a, b, _, _)| (*a, *b)));
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::trade_id;

    #[test]
    fn trade_ids() {
        assert_eq!(trade_id(b"42377944"), 42_377_944);
        assert_eq!(trade_id(b"ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf"), 0xccc3c1fa212ce8b0);
        assert_eq!(trade_id(b"x"), 0);
    }
}
