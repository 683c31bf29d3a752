//! The trade-triggered feature computer.

use ticktape_sdk::Trade;
use ticktape_sdk::signal::RollingStats;

use super::{N_FEATURES, OBS, SBS, SPREAD, T_AGE, T_M, V_REL};
use crate::{Error, Result};

const NS_PER_S: f64 = 1e9;

/// Aggressor side codes, as on the tape (`ticktape_sdk::side`).
const BUY: u8 = 1;
const SELL: u8 = 2;

/// The top of the book just before a trade, in human units.
///
/// `bid_depth` and `ask_depth` are the summed sizes of the best `levels` levels of each side (the
/// [`Features`] computer's `levels`; the caller sums them). A side with no level has a non-finite or
/// non-positive price (use `f64::NAN`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BookTop {
    /// Best bid price.
    pub bid: f64,
    /// Best ask price.
    pub ask: f64,
    /// `ask − bid` (computed by the caller; [`BookTop::from_fixed`] takes it in fixed point).
    pub spread: f64,
    /// Size resting on the best `levels` bid levels.
    pub bid_depth: f64,
    /// Size resting on the best `levels` ask levels.
    pub ask_depth: f64,
}

/// Fixed-point to human units for the instrument's decimal exponents.
///
/// A value `v` with exponent `e < 0` becomes `v as f64 / 10^−e` (so `618002` at `e = −1` is exactly
/// the double nearest `61800.2`, not `61800.200000000004` as `v × 0.1` would give); with `e ≥ 0` it
/// is `v as f64 × 10^e`. The research commands and the plugin both convert through this type, so
/// they produce bit-identical inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    price: Scale,
    qty: Scale,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Div(f64),
    Mul(f64),
}

impl Scale {
    fn of(exponent: i8) -> Self {
        if exponent < 0 {
            Scale::Div(10f64.powi(-i32::from(exponent)))
        } else {
            Scale::Mul(10f64.powi(i32::from(exponent)))
        }
    }

    #[inline]
    fn apply(self, v: i64) -> f64 {
        match self {
            Scale::Div(d) => v as f64 / d,
            Scale::Mul(m) => v as f64 * m,
        }
    }
}

impl Units {
    /// The conversion of the given decimal exponents (price, quantity).
    pub fn from_exponents(price_exponent: i8, qty_exponent: i8) -> Self {
        Units { price: Scale::of(price_exponent), qty: Scale::of(qty_exponent) }
    }

    /// A fixed-point price (or price difference) in human units.
    #[inline]
    pub fn price(&self, v: i64) -> f64 {
        self.price.apply(v)
    }

    /// A fixed-point quantity in human units.
    #[inline]
    pub fn qty(&self, v: i64) -> f64 {
        self.qty.apply(v)
    }
}

impl BookTop {
    /// The top of a book given in fixed point: best bid and ask `(price, qty)` (`None` for an empty
    /// side) and the summed quantity of the best `levels` levels of each side. The spread is taken
    /// in fixed point (`ask − bid`) before conversion, so a one-tick spread is exactly one tick.
    #[inline]
    pub fn from_fixed(
        bid: Option<(i64, i64)>,
        ask: Option<(i64, i64)>,
        bid_depth: i64,
        ask_depth: i64,
        u: &Units,
    ) -> Self {
        BookTop {
            bid: bid.map_or(f64::NAN, |(p, _)| u.price(p)),
            ask: ask.map_or(f64::NAN, |(p, _)| u.price(p)),
            spread: match (bid, ask) {
                (Some((b, _)), Some((a, _))) => u.price(a - b),
                _ => f64::NAN,
            },
            bid_depth: u.qty(bid_depth),
            ask_depth: u.qty(ask_depth),
        }
    }
}

impl TradeInput {
    /// A tape trade record, timed by its **exchange** timestamp.
    #[inline]
    pub fn from_record(t: &Trade, u: &Units) -> Self {
        TradeInput { ts: t.ts.exchange, side: t.side, price: u.price(t.price), qty: u.qty(t.qty) }
    }
}

/// Best bid and ask prices in human units from fixed-point `(price, qty)` sides (NaN for an empty one),
/// for [`Features::on_book`].
#[inline]
pub fn best_prices(bid: Option<(i64, i64)>, ask: Option<(i64, i64)>, u: &Units) -> (f64, f64) {
    (bid.map_or(f64::NAN, |(p, _)| u.price(p)), ask.map_or(f64::NAN, |(p, _)| u.price(p)))
}

/// One trade print, in human units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradeInput {
    /// Exchange time, ns since the Unix epoch.
    pub ts: i64,
    /// Aggressor side: 1 buy, 2 sell (the tape's codes); 0 (unknown) gives no row.
    pub side: u8,
    /// Price.
    pub price: f64,
    /// Size (> 0).
    pub qty: f64,
}

/// The features of one trade: one row of the feature table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureRow {
    /// Exchange time, ns.
    pub ts: i64,
    /// Aggressor side, 1 buy or 2 sell.
    pub side: u8,
    /// Price.
    pub price: f64,
    /// Size.
    pub qty: f64,
    /// Raw features in [`FEATURES`](super::FEATURES) order.
    pub raw: [f64; N_FEATURES],
    /// Rolling z-scores, same order.
    pub z: [f64; N_FEATURES],
}

/// Computes the ClusterLOB features trade by trade (see the [module docs](super) for definitions).
///
/// ```
/// use ticktape_research::clusterlob::{BookTop, Features, TradeInput, SBS, OBS, T_M};
///
/// let mut f = Features::new(5, 100).unwrap();
/// f.on_book(0, 100.0, 100.5);
/// let book = BookTop { bid: 100.0, ask: 100.5, spread: 0.5, bid_depth: 3.0, ask_depth: 1.0 };
/// let row = f.on_trade(&TradeInput { ts: 2_000_000_000, side: 1, price: 100.5, qty: 0.2 }, &book).unwrap();
/// assert_eq!(row.raw[SBS], 3.0); // a buy rests on the bid
/// assert_eq!(row.raw[OBS], 1.0); // and trades into the ask
/// assert_eq!(row.raw[T_M], 2.0); // seconds since the mid last changed
/// ```
#[derive(Debug, Clone)]
pub struct Features {
    levels: usize,
    window: usize,
    qty: RollingStats,
    z: [RollingStats; N_FEATURES],
    /// Mid of the last two-sided book seen, NaN before any.
    mid: f64,
    /// When that mid was first seen.
    mid_since: i64,
    /// Time of the previous trade.
    last_trade: Option<i64>,
}

impl Features {
    /// A computer summing `levels` book levels per side, with rolling windows of `window` trades.
    ///
    /// # Errors
    ///
    /// [`Error::Option`] if `levels` or `window` is 0.
    pub fn new(levels: usize, window: usize) -> Result<Self> {
        if levels == 0 {
            return Err(Error::Option { name: "levels", detail: "must be at least 1".into() });
        }
        let stats = || {
            RollingStats::new(window)
                .map_err(|_| Error::Option { name: "window", detail: "must be at least 1 trade".into() })
        };
        Ok(Features {
            levels,
            window,
            qty: stats()?,
            z: [stats()?, stats()?, stats()?, stats()?, stats()?, stats()?],
            mid: f64::NAN,
            mid_since: 0,
            last_trade: None,
        })
    }

    /// Book levels per side that the caller sums into [`BookTop`]'s depths.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// The rolling window, in trades.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Records a book change at `ts` (ns) with its new best bid and ask. Call it after every change
    /// of the book (a one-sided book is ignored). Only the mid is used, for `t_m`.
    #[inline]
    pub fn on_book(&mut self, ts: i64, bid: f64, ask: f64) {
        if two_sided(bid, ask) {
            self.see_mid(ts, 0.5 * (bid + ask));
        }
    }

    #[inline]
    fn see_mid(&mut self, ts: i64, mid: f64) {
        // `!=` is also true when `self.mid` is NaN (no book yet).
        if mid != self.mid {
            self.mid = mid;
            self.mid_since = ts;
        }
    }

    /// The features of a trade given the book just before it; `None` when the aggressor is unknown or
    /// the book is not two-sided (see the [module docs](super)).
    ///
    /// A book whose mid differs from the last one passed to [`on_book`](Self::on_book) counts as a
    /// mid change at the trade's time (so a caller that misses a book change gets `t_m = 0`, not a
    /// stale age).
    #[inline]
    pub fn on_trade(&mut self, trade: &TradeInput, book: &BookTop) -> Option<FeatureRow> {
        let previous = self.last_trade.replace(trade.ts);
        if !(trade.side == BUY || trade.side == SELL) || !two_sided(book.bid, book.ask) {
            return None;
        }
        self.see_mid(trade.ts, 0.5 * (book.bid + book.ask));
        self.qty.update(trade.qty);
        let mean_qty = self.qty.mean();
        let mut raw = [0.0; N_FEATURES];
        raw[V_REL] = if mean_qty > 0.0 { trade.qty / mean_qty } else { 0.0 };
        let (own, into) =
            if trade.side == BUY { (book.bid_depth, book.ask_depth) } else { (book.ask_depth, book.bid_depth) };
        raw[SBS] = own;
        raw[OBS] = into;
        raw[SPREAD] = book.spread;
        raw[T_M] = seconds(trade.ts - self.mid_since);
        raw[T_AGE] = previous.map_or(0.0, |p| seconds(trade.ts - p));
        let mut z = [0.0; N_FEATURES];
        for j in 0..N_FEATURES {
            self.z[j].update(raw[j]);
            z[j] = self.z[j].zscore();
        }
        Some(FeatureRow { ts: trade.ts, side: trade.side, price: trade.price, qty: trade.qty, raw, z })
    }

    /// Forgets every trade and book seen; keeps the parameters and allocations.
    pub fn reset(&mut self) {
        self.qty.reset();
        self.z.iter_mut().for_each(RollingStats::reset);
        self.mid = f64::NAN;
        self.mid_since = 0;
        self.last_trade = None;
    }
}

#[inline]
fn two_sided(bid: f64, ask: f64) -> bool {
    bid.is_finite() && ask.is_finite() && bid > 0.0 && ask > 0.0
}

/// Nanoseconds (an `i64` difference, exact) to seconds. Negative differences (out-of-order input) are
/// clamped to 0.
#[inline]
fn seconds(dt_ns: i64) -> f64 {
    dt_ns.max(0) as f64 / NS_PER_S
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(bid: f64, ask: f64, bd: f64, ad: f64) -> BookTop {
        BookTop { bid, ask, spread: ask - bid, bid_depth: bd, ask_depth: ad }
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn raw_features_by_hand() {
        let mut f = Features::new(5, 3).unwrap();
        f.on_book(0, 100.0, 101.0);
        f.on_book(S, 100.0, 101.0); // same mid: not a change
        let r = f.on_trade(&TradeInput { ts: 2 * S, side: BUY, price: 101.0, qty: 2.0 }, &book(100.0, 101.0, 7.0, 3.0));
        let r = r.unwrap();
        assert_eq!(r.raw, [1.0, 7.0, 3.0, 1.0, 2.0, 0.0]);
        assert_eq!(r.z, [0.0; 6]);
        f.on_book(3 * S, 100.5, 101.0); // mid moves at 3 s
        let r = f
            .on_trade(
                &TradeInput { ts: 3 * S + S / 2, side: SELL, price: 100.5, qty: 4.0 },
                &book(100.5, 101.0, 2.0, 9.0),
            )
            .unwrap();
        // v_rel = 4 / mean(2, 4) = 4/3; a sell rests on the ask (9) and hits the bid (2).
        assert_eq!(r.raw[V_REL], 4.0 / 3.0);
        assert_eq!((r.raw[SBS], r.raw[OBS]), (9.0, 2.0));
        assert_eq!(r.raw[SPREAD], 0.5);
        assert_eq!(r.raw[T_M], 0.5);
        assert_eq!(r.raw[T_AGE], 1.5);
        // Two values: z of the newer = (x − mean)/std = (d/2)/(|d|/√2) = ±1/√2.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        for j in [V_REL, SBS] {
            assert!((r.z[j] - h).abs() < 1e-12, "{j}: {}", r.z[j]);
        }
        assert!((r.z[OBS] + h).abs() < 1e-12);
    }

    #[test]
    fn unknown_side_and_one_sided_books_give_no_row_but_count_for_t_age() {
        let mut f = Features::new(1, 10).unwrap();
        let b = book(10.0, 11.0, 1.0, 1.0);
        assert!(f.on_trade(&TradeInput { ts: S, side: 0, price: 10.0, qty: 1.0 }, &b).is_none());
        assert!(
            f.on_trade(&TradeInput { ts: 2 * S, side: BUY, price: 10.0, qty: 1.0 }, &book(f64::NAN, 11.0, 0.0, 1.0))
                .is_none()
        );
        let r = f.on_trade(&TradeInput { ts: 5 * S, side: BUY, price: 11.0, qty: 1.0 }, &b).unwrap();
        assert_eq!(r.raw[T_AGE], 3.0);
        // The trade's book is the first two-sided one seen: the mid "changed" now.
        assert_eq!(r.raw[T_M], 0.0);
    }

    #[test]
    fn a_missed_book_change_resets_t_m() {
        let mut f = Features::new(1, 10).unwrap();
        f.on_book(0, 10.0, 11.0);
        let r = f.on_trade(&TradeInput { ts: 4 * S, side: BUY, price: 11.0, qty: 1.0 }, &book(10.0, 12.0, 1.0, 1.0));
        assert_eq!(r.unwrap().raw[T_M], 0.0);
        let r = f.on_trade(&TradeInput { ts: 6 * S, side: BUY, price: 12.0, qty: 1.0 }, &book(10.0, 12.0, 1.0, 1.0));
        assert_eq!(r.unwrap().raw[T_M], 2.0);
    }

    #[test]
    fn zscores_match_a_two_pass_window() {
        let w = 7;
        let mut f = Features::new(5, w).unwrap();
        let mut sbs = Vec::new();
        for i in 0..50i64 {
            let d = ((i * 37) % 11) as f64 + 0.5;
            sbs.push(d);
            let r = f
                .on_trade(
                    &TradeInput { ts: i * S, side: BUY, price: 1.0, qty: 1.0 + (i % 3) as f64 },
                    &book(1.0, 2.0, d, 1.0),
                )
                .unwrap();
            let win = &sbs[sbs.len().saturating_sub(w)..];
            let n = win.len() as f64;
            let m = win.iter().sum::<f64>() / n;
            let sd =
                if win.len() < 2 { 0.0 } else { (win.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() };
            let want = if sd > 0.0 { (d - m) / sd } else { 0.0 };
            assert!((r.z[SBS] - want).abs() < 1e-9, "trade {i}: {} vs {want}", r.z[SBS]);
        }
    }

    #[test]
    fn fixed_point_converts_to_the_nearest_decimal() {
        let u = Units::from_exponents(-1, -3);
        assert_eq!(u.price(618_002), 61800.2);
        assert_eq!(u.qty(15), 0.015);
        let b = BookTop::from_fixed(Some((618_002, 5)), Some((618_003, 7)), 1_665, 25_408, &u);
        assert_eq!((b.bid, b.ask, b.spread, b.bid_depth, b.ask_depth), (61800.2, 61800.3, 0.1, 1.665, 25.408));
        let b = BookTop::from_fixed(None, Some((618_003, 7)), 0, 25_408, &u);
        assert!(b.bid.is_nan() && b.spread.is_nan());
        assert_eq!(Units::from_exponents(2, 0).price(3), 300.0);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Features::new(0, 10).is_err());
        assert!(Features::new(5, 0).is_err());
    }
}
