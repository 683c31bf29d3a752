//! ClusterLOB: trade-triggered order-book features and the clustering model of the seed
//! `002` research (Binance Futures BTCUSDT).
//!
//! One implementation serves the research commands (`ticktape research clusterlob …`, which replay
//! tapes) and the `clusterlob` market-maker plugin (which sees the SDK's book views), so the plugin
//! sees exactly the features the model was trained on. Both feed [`Features`] the same plain numbers:
//!
//! - every book change: [`Features::on_book`]`(ts, best_bid, best_ask)`;
//! - every trade, with the book **just before** it (the replay orders a trade before the book
//!   updates it caused): [`Features::on_trade`]`(&TradeInput, &BookTop)`.
//!
//! The recipe both follow, with [`Units`] from the instrument's exponents and exchange timestamps:
//!
//! - on a trade record `t`: `on_trade(&TradeInput::from_record(t, &u), &BookTop::from_fixed(best_bid,
//!   best_ask, bid_depth(levels), ask_depth(levels), &u))`;
//! - on an L2 level record `l` that ends its batch (`l.is_batch_end()`, where the plugin gets
//!   `on_book`), and on every quote of an instrument driven by quotes: `let (b, a) =
//!   best_prices(best_bid, best_ask, &u); on_book(l.ts.exchange, b, a)`.
//!
//! # Features
//!
//! For a trade at time `t` (ns), aggressor side `s`, price `p`, size `q`, and the book before it with
//! best bid `b`, best ask `a`, depth `D_bid` and `D_ask` summed over the top `levels` levels of each side
//! (default 5), all in human units (prices and sizes as decimals, times in seconds):
//!
//! | name | definition |
//! |---|---|
//! | `v_rel` | `q / mean(q over the last W trades, this one included)` |
//! | `sbs` | resting depth on the aggressor's own side: `D_bid` for a buy, `D_ask` for a sell |
//! | `obs` | depth on the side it trades into: `D_ask` for a buy, `D_bid` for a sell |
//! | `spread` | `a − b` (taken in fixed point, then converted: one tick is exactly one tick) |
//! | `t_m` | seconds since the last change of the mid `(a + b)/2` (0 when the trade's book is the first seen) |
//! | `t_age` | seconds since the previous trade (0 for the first) |
//!
//! Each raw feature `x` also gets its rolling z-score over the last `W` trades (default 100), this
//! trade included: `z_x = (x − mean) / std` with the sample std (`ddof = 1`, pandas' `rolling(W)`),
//! and 0 while the std is 0 (the first trade, a constant window). The windows fill from the first
//! trade, so the first `W − 1` rows are standardised over fewer trades. Everything is O(1) per trade
//! through [`ticktape_sdk::signal::RollingStats`], with no allocation after [`Features::new`].
//!
//! Trades whose aggressor side is unknown, or whose book has no bid or no ask, produce no row; they
//! still count as "the previous trade" for `t_age`.
//!
//! # Model
//!
//! [`Model`] is the fitted clustering, saved as JSON: centroids in z-space, one label per cluster
//! from the microstructure rule ([`Model::fit`] documents it), counts, inertia, the feature and
//! training parameters. [`Model::assign`] maps a z-row to its cluster.

mod features;
mod model;

pub use features::{BookTop, FeatureRow, Features, TradeInput, Units, best_prices};
pub use model::{FitOptions, Label, MODEL_VERSION, Model, ModelError, Scaling, Signals, Tally};

/// Number of features (raw and z-scored).
pub const N_FEATURES: usize = 6;

/// Feature names, in the order of every feature array and of the model's centroid columns.
pub const FEATURES: [&str; N_FEATURES] = ["v_rel", "sbs", "obs", "spread", "t_m", "t_age"];

/// Index of `v_rel` in a feature array.
pub const V_REL: usize = 0;
/// Index of `sbs` in a feature array.
pub const SBS: usize = 1;
/// Index of `obs` in a feature array.
pub const OBS: usize = 2;
/// Index of `spread` in a feature array.
pub const SPREAD: usize = 3;
/// Index of `t_m` in a feature array.
pub const T_M: usize = 4;
/// Index of `t_age` in a feature array.
pub const T_AGE: usize = 5;

/// Version of the feature definitions above; bumped whenever a definition or its numerics change,
/// so cached feature tables made by another version are recomputed.
pub const FEATURES_VERSION: u32 = 2;

/// Default number of book levels per side summed into `sbs` and `obs`.
pub const DEFAULT_LEVELS: usize = 5;
/// Default rolling window (trades) of `v_rel`'s mean and of the z-scores.
pub const DEFAULT_WINDOW: usize = 100;
