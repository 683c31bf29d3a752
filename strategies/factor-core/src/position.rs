//! The position engine: ensemble signals to target positions to orders.
//!
//! At each bar, for balance B (the account's equity), ensembles k with
//! signal s_k and normalised weight w_k on symbol i(k), prices p_i and lot
//! steps L_i (human units):
//!
//! 1. target_usd_i = Σ_{k: i(k) = i} s_k × B × w_k;
//! 2. long-only (the default): target_usd_i = max(target_usd_i, 0);
//! 3. leverage = Σ_i |target_usd_i| / B; if it exceeds the cap (default
//!    0.99), every target is multiplied by cap / leverage;
//! 4. target_qty_i = target_usd_i / p_i rounded **toward zero** to a
//!    multiple of L_i;
//! 5. delta_i = target_qty_i − position_i; a delta whose notional
//!    |delta_i| × p_i is under the minimum (default 2 USD) is skipped (0).
//!
//! A symbol without a price (NaN or ≤ 0) gets no order. Nothing allocates
//! after [`PositionEngine::new`].

/// Limits of the position engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionConfig {
    /// Largest Σ |target notional| / balance (default 0.99).
    pub max_leverage: f64,
    /// Orders under this notional, quote currency, are skipped (default 2).
    pub min_notional: f64,
    /// Allow negative targets (default false: long-only).
    pub allow_short: bool,
}

impl Default for PositionConfig {
    fn default() -> Self {
        PositionConfig { max_leverage: 0.99, min_notional: 2.0, allow_short: false }
    }
}

/// Targets and deltas per symbol, recomputed at each bar.
#[derive(Clone, Debug)]
pub struct PositionEngine {
    cfg: PositionConfig,
    /// Target notional per symbol after the cap, quote currency.
    pub target_usd: Vec<f64>,
    /// Target position per symbol, in lots.
    pub target_lots: Vec<i64>,
    /// Orders per symbol, in lots (+ buy, − sell, 0 none).
    pub delta_lots: Vec<i64>,
    /// Leverage before the cap.
    pub leverage: f64,
    /// Factor applied by the cap (1 when under it).
    pub scale: f64,
}

impl PositionEngine {
    /// An engine for `symbols` symbols.
    pub fn new(cfg: PositionConfig, symbols: usize) -> Self {
        PositionEngine {
            cfg,
            target_usd: vec![0.0; symbols],
            target_lots: vec![0; symbols],
            delta_lots: vec![0; symbols],
            leverage: 0.0,
            scale: 1.0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> PositionConfig {
        self.cfg
    }

    /// One rebalance. `exposures` yields (symbol, signal × weight) per
    /// ensemble; `prices`, `lots` (human lot step) and `positions_lots` are
    /// per symbol. Returns the orders in lots ([`Self::delta_lots`]).
    pub fn rebalance(
        &mut self,
        balance: f64,
        exposures: impl IntoIterator<Item = (usize, f64)>,
        prices: &[f64],
        lots: &[f64],
        positions_lots: &[i64],
    ) -> &[i64] {
        self.target_usd.fill(0.0);
        for (i, sw) in exposures {
            self.target_usd[i] += sw * balance;
        }
        let mut gross = 0.0;
        for t in &mut self.target_usd {
            if !self.cfg.allow_short {
                *t = t.max(0.0);
            }
            gross += t.abs();
        }
        self.leverage = if balance > 0.0 { gross / balance } else { 0.0 };
        self.scale = if self.leverage > self.cfg.max_leverage { self.cfg.max_leverage / self.leverage } else { 1.0 };
        for i in 0..self.target_usd.len() {
            self.target_usd[i] *= self.scale;
            let (p, l) = (prices[i], lots[i]);
            if !(p > 0.0 && l > 0.0) || balance <= 0.0 {
                self.target_lots[i] = positions_lots[i];
                self.delta_lots[i] = 0;
                continue;
            }
            // Toward zero; the tiny nudge keeps 0.3 / 0.1 from becoming 2.
            let x = self.target_usd[i] / p / l;
            let lots_t = (x + x.signum() * 1e-9).trunc() as i64;
            self.target_lots[i] = lots_t;
            let d = lots_t - positions_lots[i];
            self.delta_lots[i] = if (d as f64 * l * p).abs() < self.cfg.min_notional { 0 } else { d };
        }
        &self.delta_lots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_sum_per_symbol_and_round_toward_zero() {
        let mut e = PositionEngine::new(PositionConfig::default(), 2);
        // Balance 1000; BTC gets 0.5×0.4 + 1×0.2 = 0.4 → 400 USD at 30000 with
        // lot 0.001: 0.01333 → 13 lots (0.013). ETH 1×0.3 = 300 at 2000, lot 0.01: 0.15 → 15 lots.
        let d = e.rebalance(1000.0, [(0, 0.5 * 0.4), (0, 0.2), (1, 0.3)], &[30_000.0, 2000.0], &[0.001, 0.01], &[0, 5]);
        assert_eq!(d, [13, 10]);
        assert_eq!(e.target_lots, [13, 15]);
        assert!((e.leverage - 0.7).abs() < 1e-12);
        assert_eq!(e.scale, 1.0);
    }

    #[test]
    fn leverage_cap_scales_every_target_in_proportion() {
        let mut e = PositionEngine::new(PositionConfig::default(), 2);
        // Targets 800 + 400 = 1200 on 1000: leverage 1.2 → scale 0.99 / 1.2 = 0.825:
        // 660 and 330 USD. At price 1, lot 1: 660 and 330 units.
        let d = e.rebalance(1000.0, [(0, 0.8), (1, 0.4)], &[1.0, 1.0], &[1.0, 1.0], &[0, 0]).to_vec();
        assert!((e.leverage - 1.2).abs() < 1e-12);
        assert!((e.scale - 0.825).abs() < 1e-12);
        assert_eq!(d, [660, 330]);
        let gross: f64 = e.target_usd.iter().map(|x| x.abs()).sum();
        assert!((gross / 1000.0 - 0.99).abs() < 1e-12);
    }

    #[test]
    fn small_orders_skipped_and_shorts_only_when_allowed() {
        let mut e = PositionEngine::new(PositionConfig::default(), 1);
        // Target 100 USD at price 10, lot 0.1 → 100 lots; holding 99.9 lots would need 0.1 lots = 1 USD < 2.
        assert_eq!(e.rebalance(1000.0, [(0, 0.1)], &[10.0], &[0.1], &[99]), &[0]);
        assert_eq!(e.rebalance(1000.0, [(0, 0.1)], &[10.0], &[0.1], &[97]), &[3], "3 lots = 3 USD");
        assert_eq!(e.rebalance(1000.0, [(0, -0.1)], &[10.0], &[0.1], &[0]), &[0], "long-only");
        let mut s = PositionEngine::new(PositionConfig { allow_short: true, ..PositionConfig::default() }, 1);
        assert_eq!(s.rebalance(1000.0, [(0, -0.1)], &[10.0], &[0.1], &[0]), &[-100]);
        // −0.0999… rounds toward zero: −99 lots, not −100.
        assert_eq!(s.rebalance(1000.0, [(0, -0.09999)], &[10.0], &[0.1], &[0]), &[-99]);
        // A symbol without a price gets no order.
        assert_eq!(s.rebalance(1000.0, [(0, 0.5)], &[f64::NAN], &[0.1], &[4]), &[0]);
    }
}
