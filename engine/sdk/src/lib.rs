//! The ticktape strategy SDK: what a strategy plugin depends on.
//!
//! A strategy implements [`Strategy`], is exported with
//! [`export_strategy!`], and is compiled to a shared library (`cdylib`) that
//! `ticktape run --strategy lib<name>.so` loads at run time. The SDK holds
//! the C ABI between host and plugin ([`abi`]), the safe [`Context`]
//! strategies act through, and O(1) signal primitives ([`signal`]).
//!
//! ```
//! use ticktape_sdk::{Context, Side, Strategy, Trade};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { qty: i64 }
//!
//! /// Buys `qty` at the first trade it sees.
//! struct FirstTrade { qty: i64, done: bool }
//!
//! impl Strategy for FirstTrade {
//!     type Config = Config;
//!     fn new(c: Config) -> Result<Self, String> {
//!         if c.qty <= 0 { return Err("qty must be positive".into()); }
//!         Ok(FirstTrade { qty: c.qty, done: false })
//!     }
//!     fn on_trade(&mut self, ctx: &mut Context<'_>, instrument: u32, _t: &Trade) {
//!         if !self.done {
//!             ctx.market(instrument, Side::Buy, self.qty, 1);
//!             self.done = true;
//!         }
//!     }
//! }
//! ticktape_sdk::export_strategy!(FirstTrade);
//! # fn main() {}
//! ```
#![deny(missing_docs)]

pub mod abi;
mod context;
pub mod export;
pub mod signal;
mod strategy;

pub use context::{BookTop, Context, Instrument, OrderId, Side};
pub use export::config_path;
pub use strategy::{NoConfig, Strategy};
pub use ticktape_tape::{Bar, Funding, Level, Quote, Series, Stamp, Trade, level_flags, side};

/// This SDK's version, recorded in every plugin's manifest.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
