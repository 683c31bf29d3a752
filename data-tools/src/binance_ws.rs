//! Binance websocket captures: one message per line, `<local_ts> <json>`, as
//! written by common collectors (hftbacktest's, for one). The local receive
//! time's unit (s, ms, µs, ns) is detected from its digit count. Messages may be
//! combined-stream envelopes (`{"stream":…,"data":{…}}`) or bare events.
//!
//! | message | tape |
//! |---|---|
//! | `depthUpdate` | l2, one batch per message, `ts.exchange` = `T` (or `E` where there is no `T`) |
//! | REST depth snapshot `{"lastUpdateId",…,"bids","asks"}` | l2 snapshot (`SNAPSHOT_START`), `ts.exchange` = its `T` (or `E`; spot has neither: the exchange time of the first held update it may bridge, else of the latest update) |
//! | `trade` (`X` = `MARKET` or absent) | trades, id `t`, taker side from `m` |
//! | `aggTrade` | trades with `AGGREGATED`, id `a`, in `VENUE.SYMBOL.aggtrades.tape` |
//! | `bookTicker` | quotes, `ts.exchange` = `T` (or `E`; spot has neither, so the local time is used) |
//! | `markPriceUpdate` | funding: rate `r`, mark `p`, index `i`, next funding `T`; `ts.exchange` = `E` |
//!
//! # Depth sequencing
//!
//! Updates are applied only after a snapshot. Updates that arrive before the
//! first snapshot (or after a gap) are held, up to 100,000 messages; when a
//! snapshot line arrives, held updates with `u < lastUpdateId` are dropped and
//! the first one applied must bridge it: `U <= lastUpdateId + 1` and
//! `u >= lastUpdateId` (this covers both the spot rule `U <= id+1 <= u` and the
//! futures rule `U <= id <= u`). After that each update's `pu` must equal the
//! previous `u` (spot, without `pu`: `U` = previous `u` + 1). A break is a gap:
//! it is counted, and updates are held again until the next snapshot line
//! resyncs the book. A snapshot line that arrives while the book is in sync is
//! applied only if it is newer than the book (`lastUpdateId` above the last
//! applied `u`); an older one is left out and counted. The summary reports
//! snapshots, gaps and dropped updates.
//! The REST snapshot names no symbol: it belongs to the capture's depth stream
//! (captures hold one symbol's depth each).
//!
//! Depth updates with no snapshot that any of them bridges are an error (no L2
//! tape could be built); `--dataset trades` converts only `trade` and
//! `aggTrade` messages and leaves everything else out (counted).
//!
//! Venue: `--venue`, else `binance-delivery` for symbols with `_` (COIN-M), else
//! `binance-futures`; pass `--venue binance` for spot captures.

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::value::RawValue;
use ticktape_tape::{Funding, Level, Quote, Stamp, Trade, level_flags, side, trade_flags};

use crate::common::{Batcher, StreamCache};
use crate::convert::Ctx;
use crate::decimal::Dec;
use crate::input::{Lines, Member};
use crate::sink::Class::{P, Q, V};
use crate::sink::StreamId;
use crate::time::{Unit, ms};
use crate::{Error, Result};

/// Datasets of this source.
pub(crate) const DATASETS: &[&str] = &["capture", "trades"];

/// Most depth updates held while waiting for a snapshot.
const MAX_PENDING: usize = 100_000;

#[derive(Deserialize, Default)]
struct Msg<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(rename = "lastUpdateId")]
    last_update_id: Option<u64>,
    #[serde(borrow)]
    bids: Option<&'a RawValue>,
    #[serde(borrow)]
    asks: Option<&'a RawValue>,
    e: Option<&'a str>,
    #[serde(rename = "E")]
    event_time: Option<i64>,
    #[serde(rename = "T")]
    tx_time: Option<i64>,
    s: Option<&'a str>,
    #[serde(rename = "U")]
    first_id: Option<u64>,
    u: Option<u64>,
    pu: Option<u64>,
    #[serde(borrow)]
    b: Option<&'a RawValue>,
    #[serde(borrow)]
    a: Option<&'a RawValue>,
    #[serde(rename = "B")]
    bid_qty: Option<&'a str>,
    #[serde(rename = "A")]
    ask_qty: Option<&'a str>,
    p: Option<&'a str>,
    q: Option<&'a str>,
    t: Option<u64>,
    m: Option<bool>,
    #[serde(rename = "X")]
    exec_type: Option<&'a str>,
    i: Option<&'a str>,
    r: Option<&'a str>,
}

/// One depth message, parsed.
struct Upd {
    line: u64,
    local: i64,
    exch: i64,
    first: u64,
    last: u64,
    prev: Option<u64>,
    levels: Vec<(u8, Dec, Dec)>,
}

#[derive(Default)]
struct Depth {
    symbol: Option<String>,
    stream: Option<StreamId>,
    /// `Some(last u)` when synced.
    last_u: Option<u64>,
    need_bridge: bool,
    pending: VecDeque<Upd>,
    /// A snapshot line seen before any depth update: (snapshot, lastUpdateId, has a time).
    held_snapshot: Option<(Upd, u64, bool)>,
    /// Latest exchange time of any depth update seen.
    latest_exch: Option<i64>,
}

/// Converts one capture; returns decoded bytes.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    let trades_only = ctx.opts.dataset.as_deref() == Some("trades");
    ctx.stats.dataset = if trades_only { "trades" } else { "capture" }.into();
    let mut depth_updates = 0u64;
    let mut lines = Lines::new(m);
    let mut depth = Depth::default();
    let mut batch = Batcher::default();
    // Trades, quotes, funding, aggregated trades (a tape of their own).
    let mut caches: [StreamCache; 4] =
        [StreamCache::default(), StreamCache::default(), StreamCache::default(), StreamCache::variant("agg")];
    let mut unit: Option<Unit> = None;
    while let Some((line, row)) = lines.next_line()? {
        if row.is_empty() {
            continue;
        }
        ctx.stats.rows += 1;
        let Some(sp) = memchr::memchr(b' ', row) else {
            ctx.bad(line, row, "no space between the local timestamp and the JSON")?;
            continue;
        };
        let (ts_text, json) = (&row[..sp], &row[sp + 1..]);
        let u = match unit {
            Some(u) => u,
            None => match Unit::from_digits(ts_text.len()) {
                Some(u) => {
                    ctx.stats.local_ts_unit = Some(u.name());
                    unit = Some(u);
                    u
                }
                None => {
                    ctx.bad(line, row, "bad local timestamp")?;
                    continue;
                }
            },
        };
        let Some(local) = crate::time::epoch_in(ts_text, u) else {
            ctx.bad(line, row, "bad local timestamp")?;
            continue;
        };
        let outer: Msg<'_> = match serde_json::from_slice(json) {
            Ok(m) => m,
            Err(_) => {
                ctx.bad(line, row, "not a JSON object")?;
                continue;
            }
        };
        let msg: Msg<'_> = match outer.data {
            Some(d) => match serde_json::from_str(d.get()) {
                Ok(m) => m,
                Err(_) => {
                    ctx.bad(line, row, "bad \"data\" object")?;
                    continue;
                }
            },
            None => outer,
        };
        if trades_only && !matches!(msg.e, Some("trade" | "aggTrade")) {
            ctx.filtered("messages other than trades left out (--dataset trades)");
            continue;
        }
        if let Some(id) = msg.last_update_id {
            let Some(snap) = parse_snapshot(&msg, line, local) else {
                ctx.bad(line, row, "bad depth snapshot")?;
                continue;
            };
            let timed = msg.tx_time.or(msg.event_time).is_some();
            match &depth.symbol {
                Some(_) => apply_snapshot(ctx, &mut depth, &mut batch, snap, id, timed)?,
                None => depth.held_snapshot = Some((snap, id, timed)),
            }
            continue;
        }
        match msg.e {
            Some("depthUpdate") => {
                depth_updates += 1;
                let Some((sym, upd)) = parse_update(&msg, line, local) else {
                    ctx.bad(line, row, "bad depthUpdate")?;
                    continue;
                };
                if depth.symbol.is_none() {
                    depth.symbol = Some(sym.to_owned());
                    if let Some((snap, id, timed)) = depth.held_snapshot.take() {
                        // Held first, so that a snapshot without a time can take this update's.
                        on_update(ctx, &mut depth, &mut batch, upd)?;
                        apply_snapshot(ctx, &mut depth, &mut batch, snap, id, timed)?;
                        continue;
                    }
                } else if depth.symbol.as_deref() != Some(sym) {
                    return Err(Error::Format {
                        path: ctx.path.clone(),
                        why: format!(
                            "line {line}: depth updates for a second symbol {sym:?}: a capture must hold one symbol's depth so that its REST snapshots are unambiguous; split the file per symbol"
                        ),
                    });
                }
                on_update(ctx, &mut depth, &mut batch, upd)?;
            }
            Some(e @ ("trade" | "aggTrade")) => {
                if e == "trade" && msg.exec_type.is_some_and(|x| x != "MARKET") {
                    ctx.filtered("non-MARKET trades (insurance fund, ADL) left out");
                    continue;
                }
                let agg = e == "aggTrade";
                let id = if agg { msg.a.and_then(|a| a.get().parse::<u64>().ok()) } else { msg.t };
                let (Some(sym), Some(pt), Some(qt), Some(t), Some(id), Some(mk)) =
                    (msg.s, msg.p, msg.q, msg.tx_time.or(msg.event_time), id, msg.m)
                else {
                    ctx.bad(line, row, "trade message lacks s, p, q, T, id or m")?;
                    continue;
                };
                let (Ok(price), Ok(qty), Some(exch)) = (Dec::parse(pt.as_bytes()), Dec::parse(qt.as_bytes()), ms(t))
                else {
                    ctx.bad(line, row, "bad trade price, quantity or time")?;
                    continue;
                };
                if qty.mant <= 0 {
                    ctx.bad(line, row, "trade quantity is not positive")?;
                    continue;
                }
                let venue = venue_for(ctx, sym);
                let sid = caches[if agg { 3 } else { 0 }].get::<Trade>(ctx, venue.as_bytes(), sym.as_bytes(), true)?;
                let [price, qty] = match ctx.sink.fit::<Trade, 2>(sid, [(Some(price), P), (Some(qty), Q)]) {
                    Ok(v) => v,
                    Err(m) => {
                        ctx.misfit(m, line, &[pt.as_bytes(), qt.as_bytes()])?;
                        continue;
                    }
                };
                ctx.offset(local, exch);
                let rec = Trade {
                    ts: Stamp { exchange: exch, local },
                    price,
                    qty,
                    trade_id: id,
                    side: if mk { side::SELL } else { side::BUY },
                    flags: if agg { trade_flags::AGGREGATED } else { 0 },
                    ..Trade::default()
                };
                ctx.push(sid, rec, line)?;
            }
            Some("bookTicker") | None if msg.bid_qty.is_some() && msg.ask_qty.is_some() => {
                let (Some(sym), Some(b), Some(bq), Some(a), Some(aq)) = (msg.s, msg.b, msg.bid_qty, msg.a, msg.ask_qty)
                else {
                    ctx.bad(line, row, "bookTicker lacks s, b, B, a or A")?;
                    continue;
                };
                let texts = [unquote(b.get()), bq.as_bytes(), unquote(a.get()), aq.as_bytes()];
                let (Ok(bp), Ok(bq), Ok(ap), Ok(aq)) =
                    (Dec::parse(texts[0]), Dec::parse(texts[1]), Dec::parse(texts[2]), Dec::parse(texts[3]))
                else {
                    ctx.bad(line, row, "bad bookTicker price or quantity")?;
                    continue;
                };
                let exch = match msg.tx_time.or(msg.event_time) {
                    Some(t) => ms(t).unwrap_or(local),
                    None => local,
                };
                let venue = venue_for(ctx, sym);
                let sid = caches[1].get::<Quote>(ctx, venue.as_bytes(), sym.as_bytes(), true)?;
                let v =
                    match ctx.sink.fit::<Quote, 4>(sid, [(Some(bp), P), (Some(bq), Q), (Some(ap), P), (Some(aq), Q)]) {
                        Ok(v) => v,
                        Err(m) => {
                            ctx.misfit(m, line, &texts)?;
                            continue;
                        }
                    };
                if v[1] < 0 || v[3] < 0 {
                    ctx.bad(line, row, "negative quantity")?;
                    continue;
                }
                ctx.offset(local, exch);
                let rec = Quote {
                    ts: Stamp { exchange: exch, local },
                    bid_price: v[0],
                    bid_qty: v[1],
                    ask_price: v[2],
                    ask_qty: v[3],
                };
                ctx.push(sid, rec, line)?;
            }
            Some("markPriceUpdate") => {
                let (Some(sym), Some(e)) = (msg.s, msg.event_time.and_then(ms)) else {
                    ctx.bad(line, row, "markPriceUpdate lacks s or E")?;
                    continue;
                };
                let texts = [msg.r.unwrap_or(""), msg.p.unwrap_or(""), msg.i.unwrap_or("")].map(str::as_bytes);
                let (Ok(r), Ok(p), Ok(i)) = (
                    crate::common::opt_dec(texts[0]),
                    crate::common::opt_dec(texts[1]),
                    crate::common::opt_dec(texts[2]),
                ) else {
                    ctx.bad(line, row, "bad markPriceUpdate value")?;
                    continue;
                };
                let venue = venue_for(ctx, sym);
                let sid = caches[2].get::<Funding>(ctx, venue.as_bytes(), sym.as_bytes(), true)?;
                let [funding_rate, mark_price, index_price] =
                    match ctx.sink.fit::<Funding, 3>(sid, [(r, V), (p, P), (i, P)]) {
                        Ok(v) => v,
                        Err(m) => {
                            ctx.misfit(m, line, &texts)?;
                            continue;
                        }
                    };
                let next = msg.tx_time.and_then(ms).filter(|t| *t > 0).unwrap_or(ticktape_tape::UNDEF);
                ctx.offset(local, e);
                let rec = Funding {
                    ts: Stamp { exchange: e, local },
                    funding_rate,
                    mark_price,
                    index_price,
                    next_funding_ts: next,
                    ..Funding::default()
                };
                ctx.push(sid, rec, line)?;
            }
            _ => ctx.filtered("messages of other kinds left out"),
        }
    }
    // Updates still held never met a snapshot.
    ctx.stats.dropped_updates += depth.pending.len() as u64;
    if depth.held_snapshot.is_some() {
        ctx.stats.notes.push("a depth snapshot was found but no depth updates; it was left out".into());
    }
    batch.end(ctx)?;
    if depth_updates > 0 && ctx.stats.snapshots == 0 {
        return Err(Error::Format {
            path: ctx.path.clone(),
            why: format!(
                "{depth_updates} depth updates but no REST depth snapshot line (`{{\"lastUpdateId\":…}}`) that they bridge, so no L2 tape can be built; capture a snapshot with the stream, or pass --dataset trades to convert only the trades"
            ),
        });
    }
    Ok(lines.decoded_bytes())
}

fn venue_for(ctx: &Ctx<'_>, symbol: &str) -> String {
    match &ctx.opts.venue {
        Some(v) => v.clone(),
        None if symbol.contains('_') => "binance-delivery".into(),
        None => "binance-futures".into(),
    }
}

fn unquote(s: &str) -> &[u8] {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s).as_bytes()
}

fn parse_levels(raw: Option<&RawValue>, s: u8, out: &mut Vec<(u8, Dec, Dec)>) -> Option<()> {
    let Some(raw) = raw else { return Some(()) };
    let levels: Vec<[&str; 2]> = serde_json::from_str(raw.get()).ok()?;
    for [p, q] in levels {
        let (p, q) = (Dec::parse(p.as_bytes()).ok()?, Dec::parse(q.as_bytes()).ok()?);
        if q.mant < 0 {
            return None;
        }
        out.push((s, p, q));
    }
    Some(())
}

fn parse_update<'m>(msg: &Msg<'m>, line: u64, local: i64) -> Option<(&'m str, Upd)> {
    let mut levels = Vec::new();
    parse_levels(msg.b, side::BID, &mut levels)?;
    parse_levels(msg.a, side::ASK, &mut levels)?;
    let exch = ms(msg.tx_time.or(msg.event_time)?)?;
    Some((msg.s?, Upd { line, local, exch, first: msg.first_id?, last: msg.u?, prev: msg.pu, levels }))
}

fn parse_snapshot(msg: &Msg<'_>, line: u64, local: i64) -> Option<Upd> {
    let mut levels = Vec::new();
    parse_levels(msg.bids, side::BID, &mut levels)?;
    parse_levels(msg.asks, side::ASK, &mut levels)?;
    let exch = match msg.tx_time.or(msg.event_time) {
        Some(t) => ms(t)?,
        None => local,
    };
    Some(Upd { line, local, exch, first: 0, last: msg.last_update_id?, prev: None, levels })
}

fn stream(ctx: &mut Ctx<'_>, depth: &mut Depth) -> StreamId {
    if let Some(id) = depth.stream {
        return id;
    }
    let sym = depth.symbol.clone().unwrap_or_default();
    let venue = venue_for(ctx, &sym);
    let id = ctx.sink.stream::<Level>(&venue, &sym, true);
    depth.stream = Some(id);
    id
}

/// Writes one message's levels as a batch.
fn emit(ctx: &mut Ctx<'_>, depth: &mut Depth, batch: &mut Batcher, upd: &Upd, snapshot: bool) -> Result<()> {
    let sid = stream(ctx, depth);
    batch.end(ctx)?;
    for (n, (s, p, q)) in upd.levels.iter().enumerate() {
        let [price, qty] = match ctx.sink.fit::<Level, 2>(sid, [(Some(*p), P), (Some(*q), Q)]) {
            Ok(v) => v,
            Err(m) => {
                let text = [p.to_string(), q.to_string()];
                return Err(m.error(&ctx.path, upd.line, text[if m.index == 0 { 0 } else { 1 }].as_bytes()));
            }
        };
        let flags =
            if snapshot { level_flags::SNAPSHOT | if n == 0 { level_flags::SNAPSHOT_START } else { 0 } } else { 0 };
        let rec = Level {
            ts: Stamp { exchange: upd.exch, local: upd.local },
            price,
            qty,
            side: *s,
            flags,
            ..Level::default()
        };
        batch.add(ctx, sid, rec, upd.line)?;
    }
    ctx.offset(upd.local, upd.exch);
    batch.end(ctx)
}

fn apply_snapshot(
    ctx: &mut Ctx<'_>,
    depth: &mut Depth,
    batch: &mut Batcher,
    mut snap: Upd,
    id: u64,
    timed: bool,
) -> Result<()> {
    if snap.levels.is_empty() {
        ctx.stats.notes.push(format!("line {}: an empty depth snapshot was left out", snap.line));
        return Ok(());
    }
    // In sync, a snapshot no newer than the book (a REST request usually lags
    // the stream) would set the book back and break the update chain.
    if let Some(last) = depth.last_u
        && !depth.need_bridge
        && id <= last
    {
        ctx.filtered("depth snapshots older than the synced book left out");
        return Ok(());
    }
    // A snapshot without a time (spot) must still sort after the updates applied
    // before it and before the one that bridges it, whatever the capture clock:
    // it takes the exchange time of the first held update it may bridge, else
    // of the latest update seen.
    if !timed && let Some(t) = depth.pending.iter().find(|u| u.last >= id).map(|u| u.exch).or(depth.latest_exch) {
        snap.exch = t;
    }
    emit(ctx, depth, batch, &snap, true)?;
    ctx.stats.snapshots += 1;
    depth.last_u = Some(id);
    depth.need_bridge = true;
    let held = std::mem::take(&mut depth.pending);
    for upd in held {
        on_update(ctx, depth, batch, upd)?;
    }
    Ok(())
}

fn on_update(ctx: &mut Ctx<'_>, depth: &mut Depth, batch: &mut Batcher, upd: Upd) -> Result<()> {
    depth.latest_exch = depth.latest_exch.max(Some(upd.exch));
    let Some(last) = depth.last_u else {
        if depth.pending.len() == MAX_PENDING {
            depth.pending.pop_front();
            ctx.stats.dropped_updates += 1;
        }
        depth.pending.push_back(upd);
        return Ok(());
    };
    let ok = if depth.need_bridge {
        if upd.last < last {
            // Already contained in the snapshot.
            ctx.stats.dropped_updates += 1;
            return Ok(());
        }
        upd.first <= last + 1 && upd.last >= last
    } else {
        match upd.prev {
            Some(pu) => pu == last,
            None => upd.first == last + 1,
        }
    };
    if !ok {
        ctx.stats.gaps += 1;
        depth.last_u = None;
        depth.need_bridge = false;
        depth.pending.push_back(upd);
        return Ok(());
    }
    depth.need_bridge = false;
    depth.last_u = Some(upd.last);
    if !upd.levels.is_empty() {
        emit(ctx, depth, batch, &upd, false)?;
    }
    Ok(())
}
