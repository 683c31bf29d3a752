//! Positions, cash and PnL in quote currency.
//!
//! Contracts are linear: a fill of `q` at price `p` moves `p × q` of quote
//! currency. Realised PnL is booked against the average entry price when a
//! position is reduced; fees are paid in quote currency (negative fees are
//! rebates); funding payments are `-position × mark × rate` (longs pay when
//! the rate is positive).

/// One instrument's position.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Position {
    /// Signed position in quantity units.
    pub qty: i64,
    /// Average entry price (human units) of the open position.
    pub avg_entry: f64,
    /// Realised PnL, quote currency.
    pub realized: f64,
    /// Fees paid, quote currency.
    pub fees: f64,
    /// Funding received (negative: paid), quote currency.
    pub funding: f64,
    /// Traded notional, quote currency.
    pub turnover: f64,
}

/// Decimal scales of an instrument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// 10^price_exponent.
    pub px: f64,
    /// 10^qty_exponent.
    pub qx: f64,
}

impl Scale {
    /// Scale for the given exponents.
    pub fn new(price_exponent: i8, qty_exponent: i8) -> Self {
        Scale { px: 10f64.powi(i32::from(price_exponent)), qx: 10f64.powi(i32::from(qty_exponent)) }
    }
}

/// A fill the account cannot book: it would overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {what} would overflow")]
pub struct Overflow {
    /// What would overflow: `position` (beyond the `i64` range of quantity
    /// units), `cash` or `realised PnL` (no longer finite).
    pub what: &'static str,
}

/// Cash plus positions.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// Starting capital, quote currency.
    pub capital: f64,
    /// Cash, quote currency (capital − bought + sold − fees + funding).
    pub cash: f64,
    /// Positions by instrument index.
    pub positions: Vec<Position>,
}

/// What one fill did to the account.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FillEffect {
    /// Realised PnL of this fill (0 when it only adds to the position).
    pub realized: f64,
    /// Whether the fill reduced or closed a position.
    pub closing: bool,
    /// Position after the fill.
    pub position: i64,
}

impl Account {
    /// An account with `capital` and `n` flat positions.
    pub fn new(capital: f64, n: usize) -> Self {
        Account { capital, cash: capital, positions: vec![Position::default(); n] }
    }

    /// Books a fill: `side` is +1 (buy) or −1 (sell).
    ///
    /// The position is computed in checked integer arithmetic and the cash,
    /// fee and PnL must stay finite; otherwise nothing is booked and the
    /// error says what would overflow.
    pub fn fill(
        &mut self,
        i: usize,
        scale: Scale,
        side: i64,
        price: i64,
        qty: i64,
        fee: f64,
    ) -> Result<FillEffect, Overflow> {
        let p = &self.positions[i];
        let before = p.qty;
        let after = side.checked_mul(qty).and_then(|d| before.checked_add(d)).ok_or(Overflow { what: "position" })?;
        let px = price as f64 * scale.px;
        let q = qty as f64 * scale.qx;
        let notional = px * q;
        let cash = self.cash - (side as f64 * notional + fee);
        let closing = before != 0 && before.signum() != side;
        let realized = if closing {
            let closed = qty.unsigned_abs().min(before.unsigned_abs());
            (px - p.avg_entry) * closed as f64 * scale.qx * before.signum() as f64
        } else {
            0.0
        };
        let avg_entry = if after == 0 {
            0.0
        } else if before == 0 || before.signum() != after.signum() {
            // Opened, or flipped through zero: the new position's entry is this fill.
            px
        } else if !closing {
            // Added to the position: volume-weighted average entry.
            (p.avg_entry * before.unsigned_abs() as f64 + px * qty as f64) / after.unsigned_abs() as f64
        } else {
            p.avg_entry
        };
        let (fees, turnover, total_realized) = (p.fees + fee, p.turnover + notional, p.realized + realized);
        if !(cash.is_finite() && fees.is_finite() && turnover.is_finite()) {
            return Err(Overflow { what: "cash" });
        }
        if !(avg_entry.is_finite() && total_realized.is_finite()) {
            return Err(Overflow { what: "realised PnL" });
        }
        let p = &mut self.positions[i];
        p.qty = after;
        p.avg_entry = avg_entry;
        p.realized = total_realized;
        p.fees = fees;
        p.turnover = turnover;
        self.cash = cash;
        Ok(FillEffect { realized, closing, position: after })
    }

    /// Books a funding payment for instrument `i` at `mark` (human price):
    /// `-position × mark × rate`.
    pub fn funding(&mut self, i: usize, scale: Scale, mark: f64, rate: f64) -> f64 {
        let p = &mut self.positions[i];
        let pay = -(p.qty as f64 * scale.qx) * mark * rate;
        p.funding += pay;
        self.cash += pay;
        pay
    }

    /// Equity: cash + Σ position × mark (marks in human prices; NaN marks
    /// count as the entry price).
    pub fn equity(&self, scales: &[Scale], marks: &[f64]) -> f64 {
        self.cash
            + self
                .positions
                .iter()
                .zip(scales)
                .zip(marks)
                .map(|((p, s), &m)| {
                    let m = if m.is_nan() { p.avg_entry } else { m };
                    p.qty as f64 * s.qx * m
                })
                .sum::<f64>()
    }

    /// Unrealised PnL: Σ position × (mark − entry).
    pub fn unrealized(&self, scales: &[Scale], marks: &[f64]) -> f64 {
        self.positions
            .iter()
            .zip(scales)
            .zip(marks)
            .map(|((p, s), &m)| if m.is_nan() { 0.0 } else { p.qty as f64 * s.qx * (m - p.avg_entry) })
            .sum()
    }

    /// Totals over instruments: (realised, fees, funding, turnover).
    pub fn totals(&self) -> (f64, f64, f64, f64) {
        self.positions
            .iter()
            .fold((0.0, 0.0, 0.0, 0.0), |a, p| (a.0 + p.realized, a.1 + p.fees, a.2 + p.funding, a.3 + p.turnover))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const S: Scale = Scale { px: 0.01, qx: 0.001 };

    #[test]
    fn round_trip_books_realised_pnl() {
        let mut a = Account::new(1000.0, 1);
        // Buy 2.000 at 100.00, sell 1.000 at 101.00, sell 1.000 at 99.00.
        a.fill(0, S, 1, 10_000, 2_000, 0.1).unwrap();
        assert_eq!(a.positions[0].avg_entry, 100.0);
        let e = a.fill(0, S, -1, 10_100, 1_000, 0.1).unwrap();
        assert!(e.closing && (e.realized - 1.0).abs() < 1e-9);
        let e = a.fill(0, S, -1, 9_900, 1_000, 0.1).unwrap();
        assert!((e.realized + 1.0).abs() < 1e-9 && e.position == 0);
        assert!((a.cash - (1000.0 - 200.0 + 101.0 + 99.0 - 0.3)).abs() < 1e-9);
        assert_eq!(a.positions[0].avg_entry, 0.0);
    }

    #[test]
    fn flip_resets_entry_and_funding_has_the_right_sign() {
        let mut a = Account::new(0.0, 1);
        a.fill(0, S, 1, 10_000, 1_000, 0.0).unwrap(); // long 1 at 100
        let e = a.fill(0, S, -1, 11_000, 3_000, 0.0).unwrap(); // sell 3 at 110: +10 realised, short 2 at 110
        assert!((e.realized - 10.0).abs() < 1e-9);
        assert_eq!(a.positions[0].qty, -2_000);
        assert!((a.positions[0].avg_entry - 110.0).abs() < 1e-9);
        // Positive rate: shorts receive.
        let pay = a.funding(0, S, 110.0, 0.0001);
        assert!((pay - 2.0 * 110.0 * 0.0001).abs() < 1e-12);
    }

    proptest! {
        /// Equity computed from cash equals capital plus realised +
        /// unrealised − fees + funding, after any sequence of fills and
        /// funding payments.
        #[test]
        fn equity_identity(ops in prop::collection::vec((any::<bool>(), 9_000i64..11_000, 1i64..5_000, 0u8..10), 1..200), mark in 9_000i64..11_000) {
            let mut a = Account::new(10_000.0, 1);
            for (buy, price, qty, f) in ops {
                if f == 0 {
                    a.funding(0, S, price as f64 * S.px, 0.0001);
                } else {
                    a.fill(0, S, if buy { 1 } else { -1 }, price, qty, f as f64 * 0.01).unwrap();
                }
            }
            let m = [mark as f64 * S.px];
            let eq = a.equity(&[S], &m);
            let (realized, fees, funding, _) = a.totals();
            let via_pnl = a.capital + realized + a.unrealized(&[S], &m) - fees + funding;
            prop_assert!((eq - via_pnl).abs() < 1e-6 * (1.0 + eq.abs()), "{eq} vs {via_pnl}");
        }
    }
}
