//! hftbacktest event arrays: `.npy`, or `.npz` (a zip of `.npy` members, as
//! `np.savez_compressed` writes them).
//!
//! Each row is hftbacktest's 64-byte event (`event_dtype`, little-endian):
//! `ev u64, exch_ts i64, local_ts i64, px f64, qty f64, order_id u64, ival i64,
//! fval f64`. The low byte of `ev` is the event type (1 depth, 2 trade,
//! 3 depth clear, 4 depth snapshot, 5 BBO); bit 31 `EXCH_EVENT`, bit 30
//! `LOCAL_EVENT`, bit 29 `BUY_EVENT` (bid side / buyer-initiated), bit 28
//! `SELL_EVENT`. Rows with `EXCH_EVENT` (or neither validity bit) are
//! converted; rows marked `LOCAL_EVENT` only are the local-side copies that
//! hftbacktest's event-order correction adds, and are skipped (counted).
//!
//! | event | tape |
//! |---|---|
//! | depth, BBO | l2 updates; consecutive rows with the same `exch_ts` form one batch |
//! | depth clear | starts the next snapshot (`SNAPSHOT_START` on its first level) |
//!
//! hftbacktest's converters write a snapshot one side at a time (bid clear,
//! bid snapshot rows, ask clear, ask snapshot rows, all at one exchange
//! time); the second side's clear continues the same tape snapshot, since a
//! tape snapshot start clears both sides.
//! | depth snapshot | l2 snapshot levels |
//! | trade | trades (`order_id` becomes the trade id) |
//!
//! Prices and quantities are `f64`, often the result of float arithmetic
//! (`500006 × 0.1` is `50000.600000000006`). Each is read as the shortest
//! decimal that prints as the same `f64` and then **snapped** to the coarsest
//! decimal grid (1, 0.1, 0.01, …) it lies within 10^-9 of a step of
//! ([`Dec::snap_to_grid`]), so that value is 50000.6. The tape's grid is then
//! either given, `--price-decimals`/`--qty-decimals` (the venue's tick and
//! lot; a value farther than 10^-9 of a step from that grid is an error naming
//! its row and value), or inferred: the finest grid any snapped value needs.
//! The tapes state a tick and a lot of one unit of that grid (0.1 and 0.001 for
//! BTCUSDT at 1 and 3 decimals), and the summary reports the grids chosen.
//! Symbol and venue are not in the arrays: `--symbol` (default: the file stem)
//! and `--venue` (default `hftbacktest`).

use std::io::Read;

use ticktape_tape::{Level, Stamp, Trade, level_flags, side};

use crate::common::{Batcher, StreamCache};
use crate::convert::Ctx;
use crate::decimal::{Dec, DecError, GRID_TOLERANCE_DIGITS};
use crate::input::Member;
use crate::sink::Class::{P, Q};
use crate::{Error, Result};

/// `ev` bits and event types, as in hftbacktest's `types`.
pub mod ev {
    /// Depth change at one price level.
    pub const DEPTH_EVENT: u64 = 1;
    /// A trade.
    pub const TRADE_EVENT: u64 = 2;
    /// The book (or one side) is cleared.
    pub const DEPTH_CLEAR_EVENT: u64 = 3;
    /// One level of a snapshot.
    pub const DEPTH_SNAPSHOT_EVENT: u64 = 4;
    /// Best bid/offer update.
    pub const DEPTH_BBO_EVENT: u64 = 5;
    /// Valid for the exchange-side processor.
    pub const EXCH_EVENT: u64 = 1 << 31;
    /// Valid for the local-side processor.
    pub const LOCAL_EVENT: u64 = 1 << 30;
    /// Bid side / buyer-initiated.
    pub const BUY_EVENT: u64 = 1 << 29;
    /// Ask side / seller-initiated.
    pub const SELL_EVENT: u64 = 1 << 28;
}

const FIELDS: [&str; 8] = ["ev", "exch_ts", "local_ts", "px", "qty", "order_id", "ival", "fval"];
const ROW: usize = 64;

/// Reads the `.npy` header and returns the row count.
fn npy_header(ctx: &Ctx<'_>, r: &mut dyn Read, compression: crate::input::Compression) -> Result<u64> {
    let fail = |why: String| Error::Format { path: ctx.path.clone(), why };
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(|e| crate::input::read_error(&ctx.path, compression, 0, e))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(fail("not a .npy array (no \\x93NUMPY magic)".into()));
    }
    let len = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(|e| crate::input::read_error(&ctx.path, compression, 8, e))?;
            usize::from(u16::from_le_bytes(b))
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|e| crate::input::read_error(&ctx.path, compression, 8, e))?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(fail(format!("unsupported .npy version {v}"))),
    };
    if len > 1 << 20 {
        return Err(fail("the .npy header is implausibly long".into()));
    }
    let mut h = vec![0u8; len];
    r.read_exact(&mut h).map_err(|e| crate::input::read_error(&ctx.path, compression, 10, e))?;
    let h = String::from_utf8_lossy(&h);
    // The dtype must be hftbacktest's: the eight fields, in order, 8-byte little-endian.
    let mut at = 0;
    for f in FIELDS {
        match h[at..].find(&format!("'{f}'")) {
            Some(p) => at += p + f.len() + 2,
            None => {
                return Err(fail(format!(
                    "the array's dtype is not hftbacktest's 64-byte event (missing field {f:?} in order): {h}"
                )));
            }
        }
    }
    if h.contains(">") || !(h.contains("'<u8'") && h.contains("'<f8'")) {
        return Err(fail(format!("the event dtype must be little-endian u8/i8/f8 fields: {h}")));
    }
    if h.contains("'fortran_order': True") {
        return Err(fail("Fortran-ordered arrays are not supported".into()));
    }
    let shape = h
        .find("'shape':")
        .and_then(|i| {
            let rest = &h[i + 8..];
            let open = rest.find('(')?;
            let close = rest.find(')')?;
            Some(rest[open + 1..close].to_owned())
        })
        .ok_or_else(|| fail(format!("no shape in the .npy header: {h}")))?;
    let dims: Vec<&str> = shape.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    match dims.as_slice() {
        [n] => n.parse::<u64>().map_err(|_| fail(format!("bad shape {shape}"))),
        _ => Err(fail(format!("expected a 1-D array of events, the shape is ({shape})"))),
    }
}

/// Converts one `.npy` (or `.npz` member); returns decoded bytes.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    if !m.name.ends_with(".npy") && m.path.extension().is_some_and(|e| e == "npz") {
        return Ok(0);
    }
    ctx.stats.dataset = "events".into();
    let rows = npy_header(ctx, m.reader, m.compression)?;
    let stem = ctx.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = if m.path.parent().is_some_and(|p| p.extension().is_some_and(|e| e == "npz")) {
        m.path.parent().and_then(|p| p.file_stem()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        stem.split('.').next().unwrap_or_default().to_owned()
    };
    let symbol = ctx.opts.symbol.clone().unwrap_or(stem);
    let venue = ctx.opts.venue.clone().unwrap_or_else(|| "hftbacktest".into());
    ctx.sink.set_grid_ticks();
    let mut grid = Grid::default();
    let mut used = [None; 2];
    let mut levels = StreamCache::default();
    let mut trades = StreamCache::default();
    let mut batch = Batcher::default();
    let mut open_batch: Option<(i64, bool)> = None;
    let mut clear_pending = true;
    let mut in_snapshot = false;
    // Sides (bit 1 bid, bit 2 ask) cleared for the current snapshot, and its exchange time.
    let (mut snap_sides, mut snap_exch) = (0u8, i64::MIN);
    let mut buf = vec![0u8; ROW * 4096];
    let mut done: u64 = 0;
    while done < rows {
        let n = ((rows - done) as usize).min(4096);
        m.reader
            .read_exact(&mut buf[..n * ROW])
            .map_err(|e| crate::input::read_error(&ctx.path, m.compression, done * ROW as u64, e))?;
        for row in buf[..n * ROW].chunks_exact(ROW) {
            done += 1;
            ctx.stats.rows += 1;
            let word = |i: usize| u64::from_le_bytes(row[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let (evw, exch, local) = (word(0), word(1) as i64, word(2) as i64);
            let (px, qty, order_id) = (f64::from_bits(word(3)), f64::from_bits(word(4)), word(5));
            if evw & ev::EXCH_EVENT == 0 && evw & ev::LOCAL_EVENT != 0 {
                ctx.filtered("local-only rows (hftbacktest's reordered copies) left out");
                continue;
            }
            let s = if evw & ev::BUY_EVENT != 0 {
                side::BUY
            } else if evw & ev::SELL_EVENT != 0 {
                side::SELL
            } else {
                side::NONE
            };
            let ts = Stamp { exchange: exch, local };
            match evw & 0xff {
                ev::DEPTH_CLEAR_EVENT => {
                    let bit = match s {
                        side::BUY => 1,
                        side::SELL => 2,
                        _ => 3,
                    };
                    if in_snapshot && snap_exch == exch && bit != 3 && snap_sides & bit == 0 {
                        // The other side's half of the same snapshot.
                        snap_sides |= bit;
                        continue;
                    }
                    snap_sides = bit;
                    batch.end(ctx)?;
                    open_batch = None;
                    clear_pending = true;
                }
                t @ (ev::DEPTH_EVENT | ev::DEPTH_SNAPSHOT_EVENT | ev::DEPTH_BBO_EVENT) => {
                    let snap = t == ev::DEPTH_SNAPSHOT_EVENT;
                    if s == side::NONE {
                        ctx.bad(done, &row_text(row), "depth event without BUY_EVENT or SELL_EVENT")?;
                        continue;
                    }
                    let (Ok(p), Ok(q)) = (grid.snap(px), grid.snap(qty)) else {
                        ctx.bad(done, &row_text(row), "price or quantity is not a finite number")?;
                        continue;
                    };
                    if let Some(why) = off_grid(ctx, done, px, p, qty, q) {
                        ctx.bad(done, &row_text(row), &why)?;
                        continue;
                    }
                    if q.mant < 0 {
                        ctx.bad(done, &row_text(row), "negative quantity")?;
                        continue;
                    }
                    let sid = levels.get::<Level>(ctx, venue.as_bytes(), symbol.as_bytes(), true)?;
                    used[0] = Some(sid);
                    let [price, q] = match ctx.sink.fit::<Level, 2>(sid, [(Some(p), P), (Some(q), Q)]) {
                        Ok(v) => v,
                        Err(mf) => {
                            let t = [px.to_string(), qty.to_string()];
                            ctx.misfit(mf, done, &[t[0].as_bytes(), t[1].as_bytes()])?;
                            continue;
                        }
                    };
                    let starts = snap && (clear_pending || !in_snapshot);
                    if open_batch != Some((exch, snap)) || starts {
                        batch.end(ctx)?;
                        open_batch = Some((exch, snap));
                    }
                    let mut flags = 0;
                    if snap {
                        flags = level_flags::SNAPSHOT;
                        if starts {
                            snap_exch = exch;
                            flags |= level_flags::SNAPSHOT_START;
                            ctx.stats.snapshots += 1;
                        }
                        clear_pending = false;
                    }
                    in_snapshot = snap;
                    ctx.offset(local, exch);
                    batch.add(ctx, sid, Level { ts, price, qty: q, side: s, flags, ..Level::default() }, done)?;
                }
                ev::TRADE_EVENT => {
                    let (Ok(p), Ok(q)) = (grid.snap(px), grid.snap(qty)) else {
                        ctx.bad(done, &row_text(row), "price or quantity is not a finite number")?;
                        continue;
                    };
                    if let Some(why) = off_grid(ctx, done, px, p, qty, q) {
                        ctx.bad(done, &row_text(row), &why)?;
                        continue;
                    }
                    if q.mant <= 0 {
                        ctx.bad(done, &row_text(row), "trade quantity is not positive")?;
                        continue;
                    }
                    let sid = trades.get::<Trade>(ctx, venue.as_bytes(), symbol.as_bytes(), true)?;
                    used[1] = Some(sid);
                    let [price, q] = match ctx.sink.fit::<Trade, 2>(sid, [(Some(p), P), (Some(q), Q)]) {
                        Ok(v) => v,
                        Err(mf) => {
                            let t = [px.to_string(), qty.to_string()];
                            ctx.misfit(mf, done, &[t[0].as_bytes(), t[1].as_bytes()])?;
                            continue;
                        }
                    };
                    ctx.offset(local, exch);
                    ctx.push(sid, Trade { ts, price, qty: q, trade_id: order_id, side: s, ..Trade::default() }, done)?;
                }
                _ => ctx.filtered("events of other types left out"),
            }
        }
    }
    batch.end(ctx)?;
    let exps = used.into_iter().flatten().map(|id| ctx.sink.exps(id)).fold(crate::sink::Exps::default(), |a, e| {
        crate::sink::Exps { price: a.price.max(e.price), qty: a.qty.max(e.qty), value: 0 }
    });
    let how = |given: Option<u8>| if given.is_some() { "given" } else { "inferred" };
    ctx.stats.grids = Some(format!(
        "grids: price {} ({}), qty {} ({}); tapes state that tick and lot; {} f64 values snapped to them (within 1e-{GRID_TOLERANCE_DIGITS} of a step)",
        grid_text(exps.price),
        how(ctx.opts.decimals.price),
        grid_text(exps.qty),
        how(ctx.opts.decimals.qty),
        grid.snapped
    ));
    let mut rest = [0u8; 1];
    if m.reader.read(&mut rest).map_err(|e| crate::input::read_error(&ctx.path, m.compression, done * 64, e))? != 0 {
        ctx.stats.notes.push("bytes after the last row were ignored".into());
    }
    Ok(done * ROW as u64)
}

/// Reads f64 values as decimals snapped to their grid, counting the snaps.
#[derive(Default)]
struct Grid {
    snapped: u64,
}

impl Grid {
    #[inline]
    fn snap(&mut self, x: f64) -> std::result::Result<Dec, DecError> {
        let d = Dec::from_f64(x)?;
        let s = d.snap_to_grid();
        self.snapped += u64::from(s != d);
        Ok(s)
    }
}

/// `10^-d` as text: `1`, `0.1`, `0.001`.
fn grid_text(d: u8) -> String {
    ticktape_tape::format_fixed(1, -(d as i8))
}

/// Why a snapped price or quantity is off the grid given on the command
/// line, if it is.
fn off_grid(ctx: &Ctx<'_>, row: u64, px: f64, p: Dec, qty: f64, q: Dec) -> Option<String> {
    let fixed = ctx.opts.decimals;
    for (name, x, v, given) in [("price", px, p, fixed.price), ("qty", qty, q, fixed.qty)] {
        if let Some(d) = given
            && v.frac > d
        {
            return Some(format!(
                "row {row}: {name} {x:?} is off the {} grid of --{name}-decimals {d} (more than 1e-{GRID_TOLERANCE_DIGITS} of a step from a grid point; it needs {} decimals)",
                grid_text(d),
                v.frac
            ));
        }
    }
    None
}

/// A row as text for error messages.
fn row_text(row: &[u8]) -> Vec<u8> {
    let w = |i: usize| u64::from_le_bytes(row[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    format!(
        "ev={:#x} exch_ts={} local_ts={} px={} qty={} order_id={}",
        w(0),
        w(1) as i64,
        w(2) as i64,
        f64::from_bits(w(3)),
        f64::from_bits(w(4)),
        w(5)
    )
    .into_bytes()
}
