//! Hyperliquid: `POST /info` JSON responses and websocket captures.
//!
//! | input | dataset | tape |
//! |---|---|---|
//! | `userFills` array, or ws `{"channel":"user"/"userFills","data":{"fills":[…]}}` (old and new field sets; `tid`, `feeToken`, `twapId`, `builderFee`, `liquidation`, `cloid` optional) | `userFills` | fills, one tape per account |
//! | `userFunding` array (`{delta:{coin,fundingRate,…},time}`) | `userFunding` | funding settlements per coin in `hyperliquid.COIN.userfunding.tape` (rate only; `usdc`, `szi` are not kept) |
//! | `fundingHistory` array (`{coin,fundingRate,premium,time}`) | `fundingHistory` | funding settlements per coin (`premium` is not kept) |
//! | `candleSnapshot` array (`{t,T,s,i,o,c,h,l,v,n}`) | `candles` | bars at `T`, symbol `COIN`, in `hyperliquid.COIN.bars-INTERVAL.tape` |
//! | `l2Book` object (`{coin,levels:[bids,asks],time}`) | `l2Book` | l2, one snapshot |
//! | capture lines `<local_ts> <json>` with `l2Book` and `trades` channels | `capture` | l2 (each message a full snapshot: `SNAPSHOT_START`) and trades |
//!
//! Fills: `account` is the first 16 hex digits of the trader's address read as
//! a u64 (right-padded with zeros if the address is shorter). The address comes
//! from `--account`, else a `0x…` in the file name, else a `user` field in the
//! data, else 0. Each account gets the tape `hyperliquid.0x<16 hex>.fills.tape`;
//! records carry their own coin; `hyperliquid.accounts.csv` beside the tapes maps
//! ids to addresses. `fee` and `closedPnl` use the value exponent (fees are in
//! `feeToken`, USDC unless stated). `side` `B` is a buy; `crossed` sets
//! `CROSSED`; a `liquidation` object sets `LIQUIDATION`, and also `LIQUIDATED`
//! when its `liquidatedUser` is the account itself; a non-null `twapId` sets
//! `TWAP`; a `builder` or `builderFee` sets `BUILDER`.
//!
//! JSON documents are read whole (API responses are capped in size, e.g. 2,000
//! fills); captures are streamed line by line. API arrays come newest first, so
//! these datasets are sorted in full.

use serde_json::Value;
use ticktape_tape::{Bar, Fill, Funding, Level, Stamp, Trade, dir, fill_flags, level_flags, side};

use crate::common::{Batcher, StreamCache};
use crate::convert::Ctx;
use crate::decimal::Dec;
use crate::input::{Lines, Member};
use crate::sink::Class::{P, Q, V};
use crate::time::{Unit, ms};
use crate::{Error, Result};

/// Datasets of this source.
pub(crate) const DATASETS: &[&str] = &["userFills", "userFunding", "fundingHistory", "candles", "l2Book", "capture"];

const VENUE: &str = "hyperliquid";

/// Converts one Hyperliquid file; returns decoded bytes.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    let name = m.name.clone();
    let mut buf = Vec::new();
    // Peek: JSON document or capture lines?
    let mut head = [0u8; 1];
    let first = loop {
        match m.reader.read(&mut head) {
            Ok(0) => return Err(Error::Format { path: ctx.path.clone(), why: "empty file".into() }),
            Ok(_) if head[0].is_ascii_whitespace() => continue,
            Ok(_) => break head[0],
            Err(e) => return Err(crate::input::read_error(&ctx.path, m.compression, 0, e)),
        }
    };
    if first.is_ascii_digit() && ctx.opts.dataset.as_deref().is_none_or(|d| d == "capture") {
        ctx.stats.dataset = "capture".into();
        let mut chained = std::io::Read::chain(&head[..], &mut *m.reader);
        let mut mm = Member { path: m.path.clone(), name, reader: &mut chained, compression: m.compression };
        return capture(ctx, &mut mm);
    }
    buf.push(first);
    m.reader
        .read_to_end(&mut buf)
        .map_err(|e| crate::input::read_error(&ctx.path, m.compression, buf.len() as u64, e))?;
    let doc: Value = serde_json::from_slice(&buf)
        .map_err(|e| Error::bad_row(&ctx.path, e.line() as u64, b"", format!("invalid JSON: {e}")))?;
    let (ds, items) = detect(ctx, &doc)?;
    ctx.stats.dataset = ds.to_owned();
    ctx.sort_everything();
    match ds {
        "userFills" => {
            let account = account(ctx, &name, &doc);
            for (i, item) in items.iter().enumerate() {
                fill(ctx, i as u64 + 1, item, &account)?;
            }
        }
        "userFunding" | "fundingHistory" => {
            // An account's funding history repeats the market's rates at the
            // same hours: a tape of its own, so a backtest never applies both.
            let variant = if ds == "userFunding" { "user" } else { "" };
            for (i, item) in items.iter().enumerate() {
                funding(ctx, i as u64 + 1, item, variant)?;
            }
        }
        "candles" => {
            for (i, item) in items.iter().enumerate() {
                candle(ctx, i as u64 + 1, item)?;
            }
        }
        _ => {
            let mut batch = Batcher::default();
            for (i, item) in items.iter().enumerate() {
                ctx.stats.rows += 1;
                let ts = item.get("time").and_then(Value::as_i64).and_then(ms);
                match ts {
                    Some(ts) => book(ctx, &mut batch, i as u64 + 1, item, Stamp { exchange: ts, local: ts }, false)?,
                    None => ctx.bad(i as u64 + 1, item.to_string().as_bytes(), "l2Book lacks time")?,
                }
            }
            batch.end(ctx)?;
        }
    }
    Ok(buf.len() as u64)
}

fn detect<'d>(ctx: &Ctx<'_>, doc: &'d Value) -> Result<(&'static str, Vec<&'d Value>)> {
    let items: Vec<&Value> = match doc {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => match o.get("data").and_then(|d| d.get("fills")).and_then(Value::as_array) {
            Some(f) => f.iter().collect(),
            None => vec![doc],
        },
        _ => vec![],
    };
    if let Some(ds) = &ctx.opts.dataset {
        let ds = DATASETS.iter().find(|d| **d == ds).copied().ok_or_else(|| Error::UnknownDataset {
            path: ctx.path.clone(),
            why: format!("hyperliquid has no dataset {ds:?}"),
        })?;
        return Ok((ds, items));
    }
    let first = items.first().copied().unwrap_or(&Value::Null);
    let has = |k: &str| first.get(k).is_some();
    let ds = if has("closedPnl") || has("startPosition") {
        "userFills"
    } else if has("delta") {
        "userFunding"
    } else if has("fundingRate") {
        "fundingHistory"
    } else if has("t") && has("T") && has("o") {
        "candles"
    } else if has("levels") {
        "l2Book"
    } else if items.is_empty() {
        return Err(Error::UnknownDataset { path: ctx.path.clone(), why: "an empty JSON array or object".into() });
    } else {
        return Err(Error::UnknownDataset {
            path: ctx.path.clone(),
            why: format!(
                "cannot tell the Hyperliquid dataset from its first element {}",
                crate::error::snippet(first.to_string().as_bytes())
            ),
        });
    };
    Ok((ds, items))
}

/// The account address: `--account`, a `0x…` in the file name, or a `user` field.
fn account(ctx: &mut Ctx<'_>, name: &str, doc: &Value) -> (u64, String) {
    let from_name = name.find("0x").map(|i| {
        let hex: String = name[i + 2..].chars().take_while(char::is_ascii_hexdigit).collect();
        format!("0x{hex}")
    });
    let from_data = doc.get("data").and_then(|d| d.get("user")).and_then(Value::as_str).map(str::to_owned);
    let addr = ctx.opts.account.clone().or(from_name).or(from_data).unwrap_or_default().to_ascii_lowercase();
    let id = account_id(&addr);
    if addr.is_empty() {
        ctx.stats.notes.push("no account address (pass --account): fills get account id 0".into());
    }
    ctx.accounts.insert(id, if addr.is_empty() { "unknown".into() } else { addr.clone() });
    (id, addr)
}

/// The first 16 hex digits of an address as a u64, right-padded with zeros.
pub fn account_id(addr: &str) -> u64 {
    let hex = addr.strip_prefix("0x").unwrap_or(addr);
    let mut v: u64 = 0;
    let mut n = 0;
    for c in hex.chars().take(16) {
        let Some(d) = c.to_digit(16) else { break };
        v = v << 4 | u64::from(d);
        n += 1;
    }
    if n == 0 { 0 } else { v << (4 * (16 - n)) }
}

fn s<'v>(v: &'v Value, k: &str) -> Option<&'v str> {
    v.get(k).and_then(Value::as_str)
}

fn dec(v: &Value, k: &str) -> Option<Dec> {
    match v.get(k)? {
        Value::String(t) => Dec::parse(t.as_bytes()).ok(),
        Value::Number(n) => Dec::parse(n.to_string().as_bytes()).ok(),
        _ => None,
    }
}

fn text(v: &Value, k: &str) -> Vec<u8> {
    match v.get(k) {
        Some(Value::String(t)) => t.as_bytes().to_vec(),
        Some(x) => x.to_string().into_bytes(),
        None => Vec::new(),
    }
}

pub(crate) fn dir_code(d: &str) -> u8 {
    dir_code_bytes(d.as_bytes())
}

/// [`dir_code`] of the text's bytes.
pub(crate) fn dir_code_bytes(d: &[u8]) -> u8 {
    match d {
        b"Open Long" => dir::OPEN_LONG,
        b"Close Long" => dir::CLOSE_LONG,
        b"Open Short" => dir::OPEN_SHORT,
        b"Close Short" => dir::CLOSE_SHORT,
        b"Long > Short" => dir::LONG_TO_SHORT,
        b"Short > Long" => dir::SHORT_TO_LONG,
        b"Buy" => dir::BUY,
        b"Sell" => dir::SELL,
        _ => dir::OTHER,
    }
}

fn fill(ctx: &mut Ctx<'_>, line: u64, f: &Value, account: &(u64, String)) -> Result<()> {
    ctx.stats.rows += 1;
    let row = || f.to_string().into_bytes();
    let (Some(coin), Some(sd), Some(t)) = (s(f, "coin"), s(f, "side"), f.get("time").and_then(Value::as_i64)) else {
        return ctx.bad(line, &row(), "fill lacks coin, side or time");
    };
    let (Some(px), Some(sz), Some(ts)) = (dec(f, "px"), dec(f, "sz"), ms(t)) else {
        return ctx.bad(line, &row(), "bad px, sz or time");
    };
    let side = match sd {
        "B" => side::BUY,
        "A" => side::SELL,
        _ => return ctx.bad(line, &row(), "side is not B or A"),
    };
    if sz.mant <= 0 {
        return ctx.bad(line, &row(), "fill size is not positive");
    }
    let mut symbol = [0u8; 16];
    if coin.len() > 16 {
        return ctx.bad(line, &row(), "coin name longer than 16 bytes");
    }
    symbol[..coin.len()].copy_from_slice(coin.as_bytes());
    let (sp, pnl, fee) = (dec(f, "startPosition"), dec(f, "closedPnl"), dec(f, "fee"));
    let tape_symbol = format!("0x{:016x}", account.0);
    let sid = StreamCache::default().get::<Fill>(ctx, VENUE.as_bytes(), tape_symbol.as_bytes(), false)?;
    let vals = [(Some(px), P), (Some(sz), Q), (sp, Q), (pnl, V), (fee, V)];
    let v = match ctx.sink.fit::<Fill, 5>(sid, vals) {
        Ok(v) => v,
        Err(m) => {
            let texts = ["px", "sz", "startPosition", "closedPnl", "fee"].map(|k| text(f, k));
            let refs: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
            return ctx.misfit(m, line, &refs);
        }
    };
    let mut flags = 0;
    if f.get("crossed").and_then(Value::as_bool) == Some(true) {
        flags |= fill_flags::CROSSED;
    }
    if let Some(liq) = f.get("liquidation").filter(|l| !l.is_null()) {
        flags |= fill_flags::LIQUIDATION;
        let victim = liq.get("liquidatedUser").and_then(Value::as_str).map(|a| account_id(&a.to_ascii_lowercase()));
        if account.0 != 0 && victim == Some(account.0) {
            flags |= fill_flags::LIQUIDATED;
        }
    }
    if f.get("twapId").is_some_and(|t| !t.is_null()) {
        flags |= fill_flags::TWAP;
    }
    if ["builder", "builderFee"].iter().any(|k| f.get(*k).is_some_and(|b| !b.is_null())) {
        flags |= fill_flags::BUILDER;
    }
    let rec = Fill {
        ts: Stamp { exchange: ts, local: ts },
        account: account.0,
        price: v[0],
        qty: v[1],
        start_position: v[2],
        closed_pnl: v[3],
        fee: v[4],
        order_id: f.get("oid").and_then(Value::as_u64).unwrap_or(0),
        trade_id: f.get("tid").and_then(Value::as_u64).unwrap_or(0),
        symbol,
        side,
        dir: s(f, "dir").map(dir_code).unwrap_or(dir::UNKNOWN),
        flags,
        ..Fill::default()
    };
    ctx.push(sid, rec, line)
}

fn funding(ctx: &mut Ctx<'_>, line: u64, item: &Value, variant: &'static str) -> Result<()> {
    ctx.stats.rows += 1;
    let body = item.get("delta").unwrap_or(item);
    let (Some(coin), Some(rate), Some(ts)) =
        (s(body, "coin"), dec(body, "fundingRate"), item.get("time").and_then(Value::as_i64).and_then(ms))
    else {
        return ctx.bad(line, item.to_string().as_bytes(), "funding lacks coin, fundingRate or time");
    };
    let sid = StreamCache::variant(variant).get::<Funding>(ctx, VENUE.as_bytes(), coin.as_bytes(), false)?;
    let [funding_rate] = match ctx.sink.fit::<Funding, 1>(sid, [(Some(rate), V)]) {
        Ok(v) => v,
        Err(m) => return ctx.misfit(m, line, &[&text(body, "fundingRate")]),
    };
    ctx.push(sid, Funding::settlement(Stamp { exchange: ts, local: ts }, funding_rate), line)
}

fn candle(ctx: &mut Ctx<'_>, line: u64, c: &Value) -> Result<()> {
    ctx.stats.rows += 1;
    let row = || c.to_string().into_bytes();
    let (Some(coin), Some(open_ts), Some(close_ts)) =
        (s(c, "s"), c.get("t").and_then(Value::as_i64).and_then(ms), c.get("T").and_then(Value::as_i64).and_then(ms))
    else {
        return ctx.bad(line, &row(), "candle lacks s, t or T");
    };
    let (Some(o), Some(h), Some(l), Some(cl), Some(v)) =
        (dec(c, "o"), dec(c, "h"), dec(c, "l"), dec(c, "c"), dec(c, "v"))
    else {
        return ctx.bad(line, &row(), "bad candle price or volume");
    };
    let interval = s(c, "i").unwrap_or_default().to_owned();
    let sid = crate::common::bar_stream(ctx, VENUE, coin, &interval)?;
    let x = match ctx.sink.fit::<Bar, 5>(sid, [(Some(o), P), (Some(h), P), (Some(l), P), (Some(cl), P), (Some(v), Q)]) {
        Ok(x) => x,
        Err(m) => {
            let texts = ["o", "h", "l", "c", "v"].map(|k| text(c, k));
            let refs: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
            return ctx.misfit(m, line, &refs);
        }
    };
    if x[2] > x[1] || x[4] < 0 {
        return ctx.bad(line, &row(), "low above high, or negative volume");
    }
    let rec = Bar {
        ts: Stamp { exchange: close_ts, local: close_ts },
        open_ts,
        open: x[0],
        high: x[1],
        low: x[2],
        close: x[3],
        volume: x[4],
        taker_buy_volume: ticktape_tape::UNDEF,
        trade_count: c.get("n").and_then(Value::as_u64).unwrap_or(0),
    };
    ctx.push(sid, rec, line)
}

/// One `l2Book` message as a full snapshot batch.
fn book(ctx: &mut Ctx<'_>, batch: &mut Batcher, line: u64, b: &Value, ts: Stamp, has_local: bool) -> Result<()> {
    let row = || b.to_string().into_bytes();
    let (Some(coin), Some(levels)) = (s(b, "coin"), b.get("levels").and_then(Value::as_array)) else {
        return ctx.bad(line, &row(), "l2Book lacks coin or levels");
    };
    let mut parsed = Vec::new();
    for (sd, side_levels) in [(side::BID, levels.first()), (side::ASK, levels.get(1))] {
        for l in side_levels.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            match (dec(l, "px"), dec(l, "sz")) {
                (Some(p), Some(q)) if q.mant >= 0 => parsed.push((sd, p, q)),
                _ => return ctx.bad(line, &row(), "bad level px or sz"),
            }
        }
    }
    if parsed.is_empty() {
        ctx.filtered("empty l2Book messages left out");
        return Ok(());
    }
    let sid = StreamCache::default().get::<Level>(ctx, VENUE.as_bytes(), coin.as_bytes(), has_local)?;
    batch.end(ctx)?;
    for (n, (sd, p, q)) in parsed.iter().enumerate() {
        let [price, qty] = match ctx.sink.fit::<Level, 2>(sid, [(Some(*p), P), (Some(*q), Q)]) {
            Ok(v) => v,
            Err(m) => {
                let t = if m.index == 0 { p.to_string() } else { q.to_string() };
                return Err(m.error(&ctx.path, line, t.as_bytes()));
            }
        };
        let flags = level_flags::SNAPSHOT | if n == 0 { level_flags::SNAPSHOT_START } else { 0 };
        batch.add(ctx, sid, Level { ts, price, qty, side: *sd, flags, ..Level::default() }, line)?;
    }
    ctx.stats.snapshots += 1;
    batch.end(ctx)
}

/// `<local_ts> <json>` lines with `l2Book` and `trades` channels.
fn capture(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    let mut lines = Lines::new(m);
    let mut batch = Batcher::default();
    let mut trades = StreamCache::default();
    let mut unit: Option<Unit> = None;
    while let Some((line, row)) = lines.next_line()? {
        if row.is_empty() {
            continue;
        }
        let Some(sp) = memchr::memchr(b' ', row) else {
            ctx.stats.rows += 1;
            ctx.bad(line, row, "no space between the local timestamp and the JSON")?;
            continue;
        };
        let u = *unit.get_or_insert_with(|| Unit::from_digits(sp).unwrap_or(Unit::Ns));
        ctx.stats.local_ts_unit = Some(u.name());
        let (Some(local), Ok(msg)) =
            (crate::time::epoch_in(&row[..sp], u), serde_json::from_slice::<Value>(&row[sp + 1..]))
        else {
            ctx.stats.rows += 1;
            ctx.bad(line, row, "bad local timestamp or JSON")?;
            continue;
        };
        let data = msg.get("data").unwrap_or(&Value::Null);
        match s(&msg, "channel") {
            Some("l2Book") => {
                ctx.stats.rows += 1;
                let Some(t) = data.get("time").and_then(Value::as_i64).and_then(ms) else {
                    ctx.bad(line, row, "l2Book lacks time")?;
                    continue;
                };
                ctx.offset(local, t);
                book(ctx, &mut batch, line, data, Stamp { exchange: t, local }, true)?;
            }
            Some("trades") => {
                for tr in data.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    ctx.stats.rows += 1;
                    let (Some(coin), Some(p), Some(q), Some(t), Some(sd)) = (
                        s(tr, "coin"),
                        dec(tr, "px"),
                        dec(tr, "sz"),
                        tr.get("time").and_then(Value::as_i64).and_then(ms),
                        s(tr, "side"),
                    ) else {
                        ctx.bad(line, row, "trade lacks coin, px, sz, time or side")?;
                        continue;
                    };
                    if q.mant <= 0 {
                        ctx.bad(line, row, "trade size is not positive")?;
                        continue;
                    }
                    let sid = trades.get::<Trade>(ctx, VENUE.as_bytes(), coin.as_bytes(), true)?;
                    let [price, qty] = match ctx.sink.fit::<Trade, 2>(sid, [(Some(p), P), (Some(q), Q)]) {
                        Ok(v) => v,
                        Err(m) => {
                            ctx.misfit(m, line, &[&text(tr, "px"), &text(tr, "sz")])?;
                            continue;
                        }
                    };
                    ctx.offset(local, t);
                    let rec = Trade {
                        ts: Stamp { exchange: t, local },
                        price,
                        qty,
                        trade_id: tr.get("tid").and_then(Value::as_u64).unwrap_or(0),
                        side: match sd {
                            "B" => side::BUY,
                            "A" => side::SELL,
                            _ => side::NONE,
                        },
                        ..Trade::default()
                    };
                    ctx.push(sid, rec, line)?;
                }
            }
            _ => {
                ctx.stats.rows += 1;
                ctx.filtered("messages of other channels left out");
            }
        }
    }
    batch.end(ctx)?;
    Ok(lines.decoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert_eq!(account_id("0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2"), 0xb7b6f3cea3f66bf5);
        assert_eq!(account_id("0xb7b6f3ce"), 0xb7b6f3ce00000000);
        assert_eq!(account_id(""), 0);
    }

    #[test]
    fn dirs() {
        assert_eq!(dir_code("Long > Short"), dir::LONG_TO_SHORT);
        assert_eq!(dir_code("Spot Dust Conversion"), dir::OTHER);
    }
}
