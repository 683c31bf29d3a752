//! Factor ensembles: the signal models, parameter ensembles, strategy file,
//! as-of alignment and position engine of the multi-factor research
//! (`shared/seeds/004`), shared by the `factor-ensemble` plugin and
//! `ticktape research factors`. No I/O beyond reading a strategy file.
//!
//! ```
//! use ticktape_factors::signal::{Direction, Ensemble, Model, ParamSet, Params};
//!
//! # fn main() -> Result<(), ticktape_factors::Error> {
//! // Rank momentum over 3 bars, threshold 0.2: long on a new 3-bar high.
//! let set = ParamSet { model: Model::R, direction: Direction::M, log: false,
//!                      params: Params { short: 1, long: 3, threshold: 0.2 } };
//! let mut e = Ensemble::new(&[set], false)?;
//! e.update(1.0);
//! e.update(2.0);
//! assert_eq!(e.update(3.0), 1.0);
//! assert_eq!(e.update(0.5), 0.0);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod align;
mod error;
pub mod file;
pub mod grid;
pub mod position;
pub mod signal;
pub mod synth;
#[cfg(feature = "weights")]
pub mod weights;

pub use error::{Error, Result};
