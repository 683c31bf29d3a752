//! The ticktape tape format, version 1: market data as fixed-size records
//! behind a small header, read in place from a memory map.
//!
//! A tape holds records of one [`RecordKind`] for one symbol. Readers map the
//! file and hand out `&[Record]` slices: nothing is parsed, copied or
//! allocated per record. Writers stream records into a temporary file and
//! rename it into place when complete.
//!
//! ```
//! use ticktape_tape::{side, Stamp, Tape, TapeMeta, TapeWriter, Trade};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let meta = TapeMeta { symbol: "BTCUSDT".into(), venue: "binance-futures".into(),
//!                       price_exponent: -2, qty_exponent: -3, ..TapeMeta::default() };
//! let path = dir.path().join(meta.file_name(Trade::KIND));
//! let mut w = TapeWriter::<Trade>::create(&path, &meta)?;
//! w.push(&Trade { ts: Stamp { exchange: 1_000, local: 1_000 }, price: 6_180_030,
//!                 qty: 6, trade_id: 1, side: side::BUY, ..Trade::default() })?;
//! w.finish()?;
//!
//! let tape = Tape::open(&path)?;
//! let trades: &[Trade] = tape.records()?;
//! assert_eq!(trades[0].price, 6_180_030); // 61800.30 at price exponent -2
//! assert_eq!(tape.header().symbol(), "BTCUSDT");
//! # Ok(()) }
//! # use ticktape_tape::Record;
//! ```
//!
//! # Byte layout (format version 1)
//!
//! All integers are little-endian; the crate refuses to build on big-endian
//! targets. Text fields are UTF-8, NUL-padded.
//!
//! ## Header (128 bytes, at offset 0)
//!
//! | offset | size | field | meaning |
//! |---:|---:|---|---|
//! | 0 | 8 | `magic` | `TICKTAPE` |
//! | 8 | 2 | `version` | format version, 1 |
//! | 10 | 2 | `kind` | record kind code (table below) |
//! | 12 | 4 | `record_size` | bytes per record; must match the kind |
//! | 16 | 4 | `header_size` | offset of the first record; multiple of 64, ≥ 128 |
//! | 20 | 4 | `flags` | bit 0 `SORTED`, bit 1 `HAS_LOCAL_TS` |
//! | 24 | 8 | `record_count` | number of records |
//! | 32 | 8 | `first_ts` | `ts.exchange` of the first record, ns |
//! | 40 | 8 | `last_ts` | `ts.exchange` of the last record, ns |
//! | 48 | 1 | `price_exponent` | price = value × 10^e |
//! | 49 | 1 | `qty_exponent` | quantity = value × 10^e |
//! | 50 | 1 | `value_exponent` | money, rates, series values = value × 10^e |
//! | 51 | 5 | `reserved0` | zero |
//! | 56 | 8 | `price_tick` | tick in price units, 0 = unknown |
//! | 64 | 32 | `symbol` | e.g. `BTCUSDT` |
//! | 96 | 16 | `venue` | e.g. `binance-futures` |
//! | 112 | 8 | `qty_lot` | lot in quantity units, 0 = unknown |
//! | 120 | 8 | `reserved1` | zero |
//!
//! The file is exactly `header_size + record_count × record_size` bytes.
//!
//! ## Records
//!
//! Every record starts with a 16-byte [`Stamp`]: `ts.exchange` (offset 0,
//! `i64` ns UTC, the sort key) and `ts.local` (offset 8, receive time).
//!
//! | kind (code) | size | fields after the stamp (offset: type name) |
//! |---|---:|---|
//! | [`Trade`] (1) | 48 | 16: i64 price, 24: i64 qty, 32: u64 trade_id, 40: u8 side, 41: u8 flags, 42: 6 reserved |
//! | [`Level`] (2) | 40 | 16: i64 price, 24: i64 qty (new absolute, 0 removes), 32: u8 side, 33: u8 flags, 34: 6 reserved |
//! | [`Quote`] (3) | 48 | 16: i64 bid_price, 24: i64 bid_qty, 32: i64 ask_price, 40: i64 ask_qty |
//! | [`Funding`] (4) | 56 | 16: i64 funding_rate, 24: i64 mark_price, 32: i64 index_price, 40: i64 next_funding_ts, 48: u8 flags, 49: 7 reserved |
//! | [`Bar`] (5) | 80 | 16: i64 open_ts, 24: open, 32: high, 40: low, 48: close, 56: volume, 64: taker_buy_volume (i64 each), 72: u64 trade_count |
//! | [`Series`] (6) | 32 | 16: u64 id, 24: i64 value |
//! | [`Fill`] (7) | 104 | 16: u64 account, 24: i64 price, 32: i64 qty, 40: i64 start_position, 48: i64 closed_pnl, 56: i64 fee, 64: u64 order_id, 72: u64 trade_id, 80: 16-byte symbol, 96: u8 side, 97: u8 dir, 98: u8 flags, 99: 5 reserved |
//!
//! [`UNDEF`] (`i64::MAX`) marks an absent `i64` value. Codes for sides,
//! directions and flags are in [`side`], [`dir`], [`level_flags`],
//! [`trade_flags`], [`funding_flags`] and [`fill_flags`].
//!
//! Any change to a record's layout bumps [`FORMAT_VERSION`]; the tests in
//! `tests/layout.rs` pin every size and offset above.
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("ticktape tapes are little-endian and read in place; big-endian targets are not supported");

pub mod check;
mod error;
pub mod guard;
pub mod header;
pub mod merge;
mod reader;
mod record;
mod writer;

pub use error::{Error, Result};
pub use header::{FORMAT_VERSION, HEADER_SIZE, Header, MAGIC, TapeMeta, header_flags};
pub use merge::{Merge, Run};
pub use reader::Tape;
pub use record::{
    Bar, Fill, Funding, Level, Quote, Record, RecordKind, Series, Stamp, Trade, UNDEF, dir, fill_flags, funding_flags,
    level_flags, side, trade_flags,
};
pub use writer::{AtomicFile, TapeSummary, TapeWriter};

/// Formats a fixed-point integer with `exponent` as a decimal string, exactly
/// (e.g. `6180030` with exponent -2 is `"61800.30"`). For display only.
pub fn format_fixed(value: i64, exponent: i8) -> String {
    if value == UNDEF {
        return "-".to_owned();
    }
    if exponent >= 0 {
        let mut s = value.to_string();
        s.extend(std::iter::repeat_n('0', exponent as usize));
        return s;
    }
    let digits = exponent.unsigned_abs() as usize;
    let neg = value < 0;
    let abs = value.unsigned_abs().to_string();
    let padded = if abs.len() <= digits { format!("{}{abs}", "0".repeat(digits + 1 - abs.len())) } else { abs };
    let (int, frac) = padded.split_at(padded.len() - digits);
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

/// Converts a fixed-point integer to `f64` (for statistics and display).
#[inline]
pub fn to_f64(value: i64, exponent: i8) -> f64 {
    value as f64 * 10f64.powi(i32::from(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_fixed_is_exact() {
        assert_eq!(format_fixed(6_180_030, -2), "61800.30");
        assert_eq!(format_fixed(-5, -3), "-0.005");
        assert_eq!(format_fixed(0, -2), "0.00");
        assert_eq!(format_fixed(12, 2), "1200");
        assert_eq!(format_fixed(i64::MIN, -1), "-922337203685477580.8");
        assert_eq!(format_fixed(UNDEF, -2), "-");
    }
}
