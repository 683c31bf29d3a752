//! Converters from raw exchange archives to ticktape tapes.
//!
//! `ticktape convert SOURCE INPUT... -o DIR` is [`cli::run`]; the library entry
//! point is [`convert()`]. Each source has its own module ([`binance_ws`],
//! [`binance_vision`], [`tardis`], [`hyperliquid`], [`hftbacktest`],
//! [`factor_csv`], [`ohlcv_csv`]; fills from a PostgreSQL / TimescaleDB table: [`postgres`]); they share an exact decimal parser ([`decimal`]), timestamp
//! parsing ([`time`]), input decoding ([`input`]) and a sink that sorts records
//! within a tolerance and writes one tape per (kind, venue, symbol) through the
//! tape crate's writer. Aggregated trades (Binance `aggTrade`/`aggTrades`)
//! get a tape of their own, `VENUE.SYMBOL.aggtrades.tape`: they describe the
//! same market trades as raw trades, and a backtest given both would count
//! every trade twice.
//!
//! ```
//! use ticktape_data::{ConvertOptions, SourceKind, convert};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let csv = dir.path().join("binance-futures_trades_2020-02-22_BTCUSDT.csv");
//! std::fs::write(&csv, "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
//!     binance-futures,BTCUSDT,1582329602111000,1582329602418379,42377944,buy,9682,0.132\n")?;
//! let opts = ConvertOptions { out_dir: dir.path().join("tapes"), ..ConvertOptions::default() };
//! let report = convert(SourceKind::Tardis, &[csv], &opts)?;
//! assert_eq!(report.tapes[0].records, 1);
//! assert!(report.tapes[0].path.ends_with("binance-futures.BTCUSDT.trades.tape"));
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - Decimal text becomes fixed point exactly ([`decimal::Dec`]); a value that
//!   does not fit is an error, never rounded. Exponents come from the data in
//!   one pass: a stream starts at 0 decimals and *widens* when a value needs
//!   more; records still in memory are rescaled exactly, and what was already
//!   written becomes a finished segment at the old exponents. The first 64k
//!   records of a stream stay in memory before anything is written (an implicit
//!   pre-scan), so a tape almost always has one segment, renamed into place; if
//!   not, segments are merged and rescaled at the end. `--price-decimals`,
//!   `--qty-decimals` and `--value-decimals` fix the exponents instead.
//! - Tapes are sorted by `ts.exchange`, ties in input order. Records later than
//!   the tolerance (default 5 s) are an error, or skipped and counted with `--skip-bad`.
//! - A malformed row is one error naming file, line and text; `--skip-bad`
//!   counts skips by reason instead. Nothing is written under a final tape name
//!   unless the whole conversion succeeded.
#![deny(missing_docs)]

pub mod binance_vision;
pub mod binance_ws;
mod chunked;
pub mod cli;
mod common;
mod convert;
pub mod decimal;
mod error;
pub mod factor_csv;
pub mod hftbacktest;
pub mod hyperliquid;
pub mod input;
pub mod ohlcv_csv;
pub mod postgres;
mod report;
mod sink;
pub mod synthetic;
pub mod tardis;
pub mod time;
mod valid;

pub use convert::{ConvertOptions, DEFAULT_SERIES_DECIMALS, DEFAULT_TOLERANCE_MS, SourceKind, convert};
pub use error::{Error, Result};
pub use report::{ConvertReport, InputReport, TapeReport};
pub use sink::{Exps, FixedExps};
