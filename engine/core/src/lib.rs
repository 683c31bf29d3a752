//! The ticktape engine: replays memory-mapped tapes in time order, keeps an
//! order book per instrument and drives a handler (later: a strategy, a
//! latency model and a simulated exchange) per event.
//!
//! ```
//! use ticktape_engine::{replay::{Event, Handler, Replay}, synth::{generate, SynthConfig}, book::Book};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let tapes = generate(&SynthConfig::new(10_000), dir.path())?;
//! let replay = Replay::open(&tapes.iter().map(|t| t.path.clone()).collect::<Vec<_>>())?;
//!
//! struct CountTrades(u64);
//! impl Handler<'_> for CountTrades {
//!     fn on_event(&mut self, _instrument: usize, event: Event<'_>, _books: &[Book]) {
//!         if let Event::Trade(_) = event { self.0 += 1; }
//!     }
//! }
//! let mut h = CountTrades(0);
//! let outcome = replay.run(&mut h)?;
//! assert_eq!(outcome.events, replay.total_records());
//! assert!(h.0 > 0);
//! let book = &outcome.books[0];
//! assert!(book.best_bid().unwrap().0 < book.best_ask().unwrap().0);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod book;
pub mod error;
pub mod plugin;
pub mod pool;
pub mod replay;
pub mod results;
pub mod sim;
pub mod synth;
pub mod synth_fills;
pub mod table;

pub use error::{Error, Result};
