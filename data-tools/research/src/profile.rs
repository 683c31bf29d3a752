//! Trader profiling over one account's fills: the numeric core of `ticktape research profile`.
//!
//! [`Profiler::account`] takes one account's fills in time order (any number of coins, interleaved)
//! and returns its [`AccountProfile`] (tiers 1–3), appending its position [`Cycle`]s and its
//! [`Day`] rows to the caller's vectors. [`Rules::classify`] is tier 4. Nothing here reads files or
//! allocates per fill: the per-coin state and the holding-period scratch are reused across accounts.
//!
//! Definitions (they follow the research notebook `001`, "trader analysis pipeline"):
//!
//! - **volume** `Σ px·sz`; **realised PnL** `Σ closed_pnl`; **fees** `Σ fee`; **net PnL**
//!   `realised − fees`; **taker share** the share of fills with `CROSSED`, **maker share** `1 −` it.
//! - **win rate**: over *closing fills*, the fills with `closed_pnl ≠ 0` (the notebook's definition;
//!   a close at exactly zero PnL is not counted): `winning (closed_pnl > 0) / closing`, undefined
//!   without closing fills.
//! - **MTM/TV** `realised PnL / volume` (the notebook's `mtm_tv`: realised PnL per unit traded).
//! - **liquidation share** fills with `LIQUIDATION` over all fills (as the notebook: the
//!   liquidation field is set, whichever side the account was on).
//! - **daily** rows per UTC day with a fill: trades, volume, realised PnL, fees. **Sharpe**: the
//!   notebook's `mean/std · √365` of the daily realised PnL over trading days (population std);
//!   undefined with fewer than 2 days, 0 when the std is 0.
//! - **ROI** `net PnL / capital`, the capital being the peak gross notional the account held
//!   (`Σ_coins |position|·last fill price`, after each fill); undefined when it never held one.
//! - **Cycles** (tier 2), per (account, coin), from the signed fill sizes (a buy adds `sz`): a cycle
//!   opens when the position leaves zero and ends when it returns to zero. A fill that crosses zero
//!   (a flip) is split: `|position|` closes the cycle (with all of the fill's `closed_pnl`, the
//!   venue's PnL of the closing part, and its share of the fee by size) and the rest opens the next
//!   one. A fill whose `start_position` disagrees with the reconstructed position (fills missing in
//!   the data) ends the open cycle as [`CycleEnd::Gap`], resyncs the position to `start_position`
//!   (counted in [`AccountProfile::gaps`]) and opens a [`CycleStart::Resync`] cycle if it is not
//!   zero. The first fill of a coin with a non-zero `start_position` opens a
//!   [`CycleStart::Before`] cycle (its entry time and price are unknown). A cycle's PnL is the sum of
//!   its fills' `closed_pnl`; it wins when that is positive. Holding-period statistics use the
//!   closed cycles whose opening was seen ([`CycleStart::Open`]); the cycle win rate uses every
//!   closed cycle.

use serde::{Deserialize, Serialize};
use ticktape_tape::fill_flags;

/// Nanoseconds per UTC day.
pub const NS_PER_DAY: i64 = 86_400_000_000_000;
const NS_PER_HOUR: f64 = 3_600_000_000_000.0;

/// `start_position` when the venue did not report it.
pub const NO_START: i64 = i64::MAX;

/// One fill, as the profiler needs it. Quantities are integers on one scale for the whole run
/// (so that a position returns exactly to zero); [`Profiler::account`] gets the scale's unit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProfileFill {
    /// Exchange time, ns since the epoch.
    pub ts: i64,
    /// The coin, as a dense index chosen by the caller.
    pub coin: u32,
    /// Fill price.
    pub price: f64,
    /// Fill size, > 0, in quantity steps.
    pub qty: i64,
    /// Signed position before the fill, in quantity steps, or [`NO_START`].
    pub start_position: i64,
    /// Realised PnL of the fill (0 if absent).
    pub closed_pnl: f64,
    /// Fee paid (negative for a rebate; 0 if absent).
    pub fee: f64,
    /// A buy (else a sell).
    pub buy: bool,
    /// `fill_flags` bits.
    pub flags: u8,
}

/// How a cycle began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleStart {
    /// A fill took the position away from zero (or a flip opened it).
    Open,
    /// The coin's first fill found a position already held (`start_position ≠ 0`).
    Before,
    /// Resynced to `start_position` after a gap in the data.
    Resync,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleEnd {
    /// A fill brought the position exactly to zero.
    Close,
    /// A fill crossed zero: it closed this cycle and opened the next.
    Flip,
    /// A fill's `start_position` disagreed with the reconstructed position (fills are missing).
    Gap,
    /// Still open at the end of the data.
    Open,
}

impl CycleStart {
    /// The name written to the tables.
    pub fn name(self) -> &'static str {
        match self {
            CycleStart::Open => "open",
            CycleStart::Before => "before",
            CycleStart::Resync => "resync",
        }
    }
}

impl CycleEnd {
    /// The name written to the tables.
    pub fn name(self) -> &'static str {
        match self {
            CycleEnd::Close => "close",
            CycleEnd::Flip => "flip",
            CycleEnd::Gap => "gap",
            CycleEnd::Open => "open",
        }
    }
    /// Whether the position was seen going back to zero (close or flip).
    pub fn closed(self) -> bool {
        matches!(self, CycleEnd::Close | CycleEnd::Flip)
    }
}

/// One open → close cycle of a position in one coin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cycle {
    /// The account, as the caller numbered it.
    pub account: u32,
    /// The coin index.
    pub coin: u32,
    /// Long (else short).
    pub long: bool,
    /// Time of the opening fill (for [`CycleStart::Before`]/[`CycleStart::Resync`], the first fill
    /// seen in the cycle).
    pub open_ts: i64,
    /// Time of the closing fill (for a gap, the last fill seen in the cycle); `None` while open.
    pub close_ts: Option<i64>,
    /// How it began.
    pub start: CycleStart,
    /// How it ended.
    pub end: CycleEnd,
    /// Fills that touched the cycle (a flip counts in both cycles).
    pub fills: u32,
    /// Fills that added to the position.
    pub adds: u32,
    /// Fills that reduced it without closing it.
    pub partial_closes: u32,
    /// Largest absolute position, in units.
    pub max_size: f64,
    /// Volume-weighted price of the opening and adding fills (`None` if none was seen).
    pub entry_price: Option<f64>,
    /// Volume-weighted price of the reducing and closing parts (`None` if none).
    pub exit_price: Option<f64>,
    /// Σ closed_pnl of its fills.
    pub pnl: f64,
    /// Fees of its fills (a flip's fee split by size).
    pub fees: f64,
}

impl Cycle {
    /// Holding period in hours, when closed.
    pub fn holding_hours(&self) -> Option<f64> {
        self.close_ts.filter(|_| self.end.closed()).map(|c| (c - self.open_ts) as f64 / NS_PER_HOUR)
    }
}

/// One account's fills on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    /// The account, as the caller numbered it.
    pub account: u32,
    /// Days since 1970-01-01.
    pub day: i32,
    /// Fills.
    pub trades: u64,
    /// Σ px·sz.
    pub volume: f64,
    /// Σ closed_pnl.
    pub pnl: f64,
    /// Σ fee.
    pub fees: f64,
}

/// Tiers 1–3 of one account (see the module docs for the definitions).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountProfile {
    /// Fills.
    pub trades: u64,
    /// Σ px·sz.
    pub volume: f64,
    /// Distinct coins traded.
    pub unique_coins: u32,
    /// First fill time, ns.
    pub first_ts: i64,
    /// Last fill time, ns.
    pub last_ts: i64,
    /// Σ closed_pnl.
    pub realized_pnl: f64,
    /// Σ fee.
    pub fees: f64,
    /// Fills with `CROSSED`.
    pub taker_fills: u64,
    /// Fills with closed_pnl ≠ 0.
    pub closing_fills: u64,
    /// Fills with closed_pnl > 0.
    pub winning_fills: u64,
    /// Fills with `LIQUIDATION`.
    pub liquidation_fills: u64,
    /// Fills with `LIQUIDATED` (the account was liquidated).
    pub liquidated_fills: u64,
    /// Σ px·sz of the `LIQUIDATION` fills.
    pub liquidation_volume: f64,
    /// Σ px·sz of the `LIQUIDATED` fills.
    pub liquidated_volume: f64,
    /// Fills with `TWAP`.
    pub twap_fills: u64,
    /// Fills with `BUILDER`.
    pub builder_fills: u64,
    /// Closed cycles (end close or flip).
    pub cycles_closed: u64,
    /// Closed cycles with a positive PnL.
    pub cycles_won: u64,
    /// Cycles still open at the end of the data.
    pub cycles_open: u64,
    /// Fills that crossed zero.
    pub flips: u64,
    /// Fills that reduced a position without closing it.
    pub partial_closes: u64,
    /// Fills that added to a position.
    pub adds: u64,
    /// Resyncs to `start_position` (gaps in the data).
    pub gaps: u64,
    /// Mean holding period of the closed cycles with a seen opening, hours.
    pub avg_hold_hours: Option<f64>,
    /// Median of the same, hours.
    pub median_hold_hours: Option<f64>,
    /// UTC days with a fill.
    pub trading_days: u32,
    /// Annualised Sharpe of the daily realised PnL.
    pub sharpe: Option<f64>,
    /// Peak gross notional held.
    pub capital: f64,
}

impl AccountProfile {
    /// `realised − fees`.
    pub fn net_pnl(&self) -> f64 {
        self.realized_pnl - self.fees
    }
    /// Share of fills that took liquidity.
    pub fn taker_share(&self) -> f64 {
        ratio(self.taker_fills, self.trades).unwrap_or(0.0)
    }
    /// `1 − taker share`.
    pub fn maker_share(&self) -> f64 {
        1.0 - self.taker_share()
    }
    /// Winning over closing fills.
    pub fn win_rate(&self) -> Option<f64> {
        ratio(self.winning_fills, self.closing_fills)
    }
    /// Realised PnL over volume.
    pub fn mtm_tv(&self) -> Option<f64> {
        (self.volume > 0.0).then(|| self.realized_pnl / self.volume)
    }
    /// Liquidation fills over fills.
    pub fn liquidation_share(&self) -> f64 {
        ratio(self.liquidation_fills, self.trades).unwrap_or(0.0)
    }
    /// Won over closed cycles.
    pub fn cycle_win_rate(&self) -> Option<f64> {
        ratio(self.cycles_won, self.cycles_closed)
    }
    /// Net PnL over the peak gross notional.
    pub fn roi(&self) -> Option<f64> {
        (self.capital > 0.0).then(|| self.net_pnl() / self.capital)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The notebook's annualised Sharpe of a daily PnL series: `mean/std·√365` with the population
/// std; `None` below 2 values, 0 for a constant series.
pub fn sharpe(daily: impl Iterator<Item = f64> + Clone) -> Option<f64> {
    let (mut n, mut sum) = (0usize, 0.0);
    for v in daily.clone() {
        n += 1;
        sum += v;
    }
    if n < 2 {
        return None;
    }
    let mean = sum / n as f64;
    let var = daily.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    let std = var.sqrt();
    Some(if std == 0.0 { 0.0 } else { mean / std * 365f64.sqrt() })
}

#[derive(Debug, Clone, Copy)]
struct Open {
    long: bool,
    open_ts: i64,
    last_ts: i64,
    start: CycleStart,
    fills: u32,
    adds: u32,
    partial_closes: u32,
    max_abs: i64,
    entry_notional: f64,
    entry_qty: i64,
    exit_notional: f64,
    exit_qty: i64,
    pnl: f64,
    fees: f64,
}

#[derive(Debug, Clone, Copy)]
struct CoinState {
    coin: u32,
    pos: i64,
    /// Gross notional contribution `|pos|·price` at the last fill.
    notional: f64,
    open: Option<Open>,
}

/// Reusable state of the per-account pass (one per thread).
#[derive(Debug, Default)]
pub struct Profiler {
    coins: Vec<CoinState>,
    holds: Vec<f64>,
}

impl Profiler {
    /// A profiler with empty scratch.
    pub fn new() -> Self {
        Profiler::default()
    }

    /// Profiles one account's `fills` (time order) with quantities in steps of `unit`, appending
    /// its cycles and days (tagged `account`).
    pub fn account(
        &mut self,
        account: u32,
        fills: impl IntoIterator<Item = ProfileFill>,
        unit: f64,
        cycles: &mut Vec<Cycle>,
        days: &mut Vec<Day>,
    ) -> AccountProfile {
        self.coins.clear();
        self.holds.clear();
        let mut p = AccountProfile { first_ts: i64::MAX, last_ts: i64::MIN, ..AccountProfile::default() };
        let day0 = days.len();
        let mut gross = 0.0f64;
        for f in fills {
            let sz = f.qty as f64 * unit;
            let notional = f.price * sz;
            p.trades += 1;
            p.volume += notional;
            p.first_ts = p.first_ts.min(f.ts);
            p.last_ts = p.last_ts.max(f.ts);
            p.realized_pnl += f.closed_pnl;
            p.fees += f.fee;
            p.taker_fills += u64::from(f.flags & fill_flags::CROSSED != 0);
            p.closing_fills += u64::from(f.closed_pnl != 0.0);
            p.winning_fills += u64::from(f.closed_pnl > 0.0);
            p.liquidation_fills += u64::from(f.flags & fill_flags::LIQUIDATION != 0);
            p.liquidated_fills += u64::from(f.flags & fill_flags::LIQUIDATED != 0);
            if f.flags & fill_flags::LIQUIDATION != 0 {
                p.liquidation_volume += notional;
                if f.flags & fill_flags::LIQUIDATED != 0 {
                    p.liquidated_volume += notional;
                }
            }
            p.twap_fills += u64::from(f.flags & fill_flags::TWAP != 0);
            p.builder_fills += u64::from(f.flags & fill_flags::BUILDER != 0);
            let day = f.ts.div_euclid(NS_PER_DAY) as i32;
            let mine = days.len() > day0;
            match days.last_mut() {
                Some(d) if mine && d.day == day => {
                    d.trades += 1;
                    d.volume += notional;
                    d.pnl += f.closed_pnl;
                    d.fees += f.fee;
                }
                _ => days.push(Day { account, day, trades: 1, volume: notional, pnl: f.closed_pnl, fees: f.fee }),
            }
            let k = match self.coins.iter().position(|c| c.coin == f.coin) {
                Some(k) => k,
                None => {
                    self.coins.push(CoinState { coin: f.coin, pos: 0, notional: 0.0, open: None });
                    let k = self.coins.len() - 1;
                    if f.start_position != NO_START && f.start_position != 0 {
                        self.coins[k].pos = f.start_position;
                        self.coins[k].open =
                            Some(open(f.start_position > 0, f.ts, CycleStart::Before, f.start_position));
                    }
                    k
                }
            };
            let st = &mut self.coins[k];
            if f.start_position != NO_START && f.start_position != st.pos {
                p.gaps += 1;
                if let Some(o) = st.open.take() {
                    emit(cycles, &mut self.holds, &mut p, account, f.coin, &o, Some(o.last_ts), CycleEnd::Gap, unit);
                }
                st.pos = f.start_position;
                if st.pos != 0 {
                    st.open = Some(open(st.pos > 0, f.ts, CycleStart::Resync, st.pos));
                }
            }
            let signed = if f.buy { f.qty } else { -f.qty };
            let old = st.pos;
            let new = old + signed;
            if old == 0 || (old > 0) == (signed > 0) {
                // Opens or adds.
                let o = st.open.get_or_insert_with(|| open(signed > 0, f.ts, CycleStart::Open, 0));
                if old != 0 {
                    o.adds += 1;
                    p.adds += 1;
                }
                o.fills += 1;
                o.last_ts = f.ts;
                o.entry_notional += f.price * sz;
                o.entry_qty += f.qty;
                o.max_abs = o.max_abs.max(new.abs());
                o.pnl += f.closed_pnl;
                o.fees += f.fee;
            } else {
                // Reduces, closes or flips.
                let closing = f.qty.min(old.abs());
                let share = if closing == f.qty { f.fee } else { f.fee * closing as f64 / f.qty as f64 };
                let mut o = st.open.take().unwrap_or_else(|| open(old > 0, f.ts, CycleStart::Before, old));
                o.fills += 1;
                o.last_ts = f.ts;
                o.exit_notional += f.price * closing as f64 * unit;
                o.exit_qty += closing;
                o.pnl += f.closed_pnl;
                o.fees += share;
                if new == 0 {
                    emit(cycles, &mut self.holds, &mut p, account, f.coin, &o, Some(f.ts), CycleEnd::Close, unit);
                } else if (new > 0) == (old > 0) {
                    o.partial_closes += 1;
                    p.partial_closes += 1;
                    st.open = Some(o);
                } else {
                    p.flips += 1;
                    emit(cycles, &mut self.holds, &mut p, account, f.coin, &o, Some(f.ts), CycleEnd::Flip, unit);
                    let mut n = open(new > 0, f.ts, CycleStart::Open, new);
                    n.fills = 1;
                    n.entry_notional = f.price * (f.qty - closing) as f64 * unit;
                    n.entry_qty = f.qty - closing;
                    n.fees = f.fee - share;
                    st.open = Some(n);
                }
            }
            st.pos = new;
            let contrib = new.unsigned_abs() as f64 * unit * f.price;
            gross += contrib - st.notional;
            st.notional = contrib;
            p.capital = p.capital.max(gross);
        }
        for k in 0..self.coins.len() {
            if let Some(o) = self.coins[k].open.take() {
                p.cycles_open += 1;
                let coin = self.coins[k].coin;
                emit(cycles, &mut self.holds, &mut p, account, coin, &o, None, CycleEnd::Open, unit);
            }
        }
        p.unique_coins = self.coins.len() as u32;
        if p.trades == 0 {
            p.first_ts = 0;
            p.last_ts = 0;
        }
        let mine = &days[day0..];
        p.trading_days = mine.len() as u32;
        p.sharpe = sharpe(mine.iter().map(|d| d.pnl));
        if !self.holds.is_empty() {
            let n = self.holds.len();
            p.avg_hold_hours = Some(self.holds.iter().sum::<f64>() / n as f64);
            self.holds.sort_unstable_by(f64::total_cmp);
            let m = if n % 2 == 1 { self.holds[n / 2] } else { 0.5 * (self.holds[n / 2 - 1] + self.holds[n / 2]) };
            p.median_hold_hours = Some(m);
        }
        p
    }
}

fn open(long: bool, ts: i64, start: CycleStart, pos: i64) -> Open {
    Open {
        long,
        open_ts: ts,
        last_ts: ts,
        start,
        fills: 0,
        adds: 0,
        partial_closes: 0,
        max_abs: pos.abs(),
        entry_notional: 0.0,
        entry_qty: 0,
        exit_notional: 0.0,
        exit_qty: 0,
        pnl: 0.0,
        fees: 0.0,
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    cycles: &mut Vec<Cycle>,
    holds: &mut Vec<f64>,
    p: &mut AccountProfile,
    account: u32,
    coin: u32,
    o: &Open,
    close_ts: Option<i64>,
    end: CycleEnd,
    unit: f64,
) {
    let c = Cycle {
        account,
        coin,
        long: o.long,
        open_ts: o.open_ts,
        close_ts,
        start: o.start,
        end,
        fills: o.fills,
        adds: o.adds,
        partial_closes: o.partial_closes,
        max_size: o.max_abs as f64 * unit,
        entry_price: (o.entry_qty > 0).then(|| o.entry_notional / (o.entry_qty as f64 * unit)),
        exit_price: (o.exit_qty > 0).then(|| o.exit_notional / (o.exit_qty as f64 * unit)),
        pnl: o.pnl,
        fees: o.fees,
    };
    if end.closed() {
        p.cycles_closed += 1;
        p.cycles_won += u64::from(c.pnl > 0.0);
        if c.start == CycleStart::Open
            && let Some(h) = c.holding_hours()
        {
            holds.push(h);
        }
    }
    cycles.push(c);
}

/// A trader class (tier 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Mostly liquidation fills.
    Liquidator,
    /// High maker share, small edge per unit traded.
    Hft,
    /// Large net PnL with edge and a good Sharpe.
    SmartDirectional,
    /// Long holding periods.
    Basis,
    /// Everything else.
    Retail,
}

impl Class {
    /// Every class, in rule order.
    pub const ALL: [Class; 5] = [Class::Liquidator, Class::Hft, Class::SmartDirectional, Class::Basis, Class::Retail];

    /// The name written to the tables (the notebook's).
    pub fn name(self) -> &'static str {
        match self {
            Class::Liquidator => "LIQUIDATOR",
            Class::Hft => "HFT",
            Class::SmartDirectional => "SMART_DIRECTIONAL",
            Class::Basis => "BASIS",
            Class::Retail => "RETAIL",
        }
    }
}

/// The LIQUIDATOR rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidatorRule {
    /// Liquidation share at or above which an account is a LIQUIDATOR.
    pub min_liquidation_share: f64,
}

/// The HFT rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HftRule {
    /// Maker share at or above.
    pub min_maker_share: f64,
    /// |MTM/TV| at or below.
    pub max_abs_mtm_tv: f64,
}

/// The SMART_DIRECTIONAL rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartDirectionalRule {
    /// Net PnL at or above.
    pub min_net_pnl: f64,
    /// MTM/TV at or above.
    pub min_mtm_tv: f64,
    /// Sharpe at or above.
    pub min_sharpe: f64,
}

/// The BASIS rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasisRule {
    /// Mean holding period at or above, hours.
    pub min_avg_hold_hours: f64,
    /// The mean holding period assumed for an account without a closed cycle (the notebook's 999,
    /// which makes such accounts BASIS unless an earlier rule matched).
    pub missing_hold_hours: f64,
}

/// The classification rules, applied in order; the first that matches wins, else RETAIL. An
/// undefined MTM/TV or Sharpe counts as 0 (as the notebook's `or 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// LIQUIDATOR.
    pub liquidator: LiquidatorRule,
    /// HFT.
    pub hft: HftRule,
    /// SMART_DIRECTIONAL.
    pub smart_directional: SmartDirectionalRule,
    /// BASIS.
    pub basis: BasisRule,
}

impl Default for Rules {
    /// The notebook's thresholds.
    fn default() -> Self {
        Rules {
            liquidator: LiquidatorRule { min_liquidation_share: 0.20 },
            hft: HftRule { min_maker_share: 0.70, max_abs_mtm_tv: 0.001 },
            smart_directional: SmartDirectionalRule { min_net_pnl: 10_000.0, min_mtm_tv: 0.001, min_sharpe: 1.0 },
            basis: BasisRule { min_avg_hold_hours: 24.0, missing_hold_hours: 999.0 },
        }
    }
}

impl Rules {
    /// The class of an account.
    pub fn classify(&self, p: &AccountProfile) -> Class {
        let mtm = p.mtm_tv().unwrap_or(0.0);
        let sharpe = p.sharpe.unwrap_or(0.0);
        let hold = p.avg_hold_hours.unwrap_or(self.basis.missing_hold_hours);
        if p.liquidation_share() >= self.liquidator.min_liquidation_share {
            Class::Liquidator
        } else if p.maker_share() >= self.hft.min_maker_share && mtm.abs() <= self.hft.max_abs_mtm_tv {
            Class::Hft
        } else if p.net_pnl() >= self.smart_directional.min_net_pnl
            && mtm >= self.smart_directional.min_mtm_tv
            && sharpe >= self.smart_directional.min_sharpe
        {
            Class::SmartDirectional
        } else if hold >= self.basis.min_avg_hold_hours {
            Class::Basis
        } else {
            Class::Retail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    fn f(ts_h: i64, buy: bool, qty: i64, start: i64, pnl: f64) -> ProfileFill {
        ProfileFill {
            ts: ts_h * H,
            coin: 0,
            price: 100.0,
            qty,
            start_position: start,
            closed_pnl: pnl,
            fee: 0.1 * qty as f64,
            buy,
            flags: 0,
        }
    }

    fn run(fills: &[ProfileFill]) -> (AccountProfile, Vec<Cycle>) {
        let (mut c, mut d) = (Vec::new(), Vec::new());
        let p = Profiler::new().account(7, fills.iter().copied(), 1.0, &mut c, &mut d);
        (p, c)
    }

    #[test]
    fn open_then_close_is_one_cycle() {
        let (p, c) = run(&[f(0, true, 2, 0, 0.0), f(5, false, 2, 2, 30.0)]);
        assert_eq!(c.len(), 1);
        let c = c[0];
        assert!(c.long && c.start == CycleStart::Open && c.end == CycleEnd::Close);
        assert_eq!((c.open_ts, c.close_ts, c.fills, c.adds, c.partial_closes), (0, Some(5 * H), 2, 0, 0));
        assert_eq!(c.holding_hours(), Some(5.0));
        assert_eq!((c.pnl, c.fees, c.max_size), (30.0, 0.4, 2.0));
        assert_eq!((p.cycles_closed, p.cycles_won, p.cycles_open, p.gaps), (1, 1, 0, 0));
        assert_eq!((p.avg_hold_hours, p.median_hold_hours, p.cycle_win_rate()), (Some(5.0), Some(5.0), Some(1.0)));
        assert_eq!((p.trades, p.volume, p.realized_pnl, p.win_rate()), (2, 400.0, 30.0, Some(1.0)));
        assert_eq!(p.capital, 200.0);
    }

    #[test]
    fn adds_and_partial_closes_stay_in_one_cycle() {
        // Short 1, add 2 (short 3), cover 1 (short 2), cover 2 (flat).
        let fills = [f(0, false, 1, 0, 0.0), f(1, false, 2, -1, 0.0), f(2, true, 1, -3, -5.0), f(4, true, 2, -2, 8.0)];
        let (p, c) = run(&fills);
        assert_eq!(c.len(), 1);
        let c = c[0];
        assert!(!c.long && c.end == CycleEnd::Close);
        assert_eq!((c.fills, c.adds, c.partial_closes, c.max_size), (4, 1, 1, 3.0));
        assert_eq!(c.pnl, 3.0);
        assert_eq!(c.holding_hours(), Some(4.0));
        assert_eq!((p.adds, p.partial_closes, p.closing_fills, p.winning_fills), (1, 1, 2, 1));
        assert_eq!(p.win_rate(), Some(0.5));
    }

    #[test]
    fn a_flip_closes_one_cycle_and_opens_the_next_with_the_fee_split() {
        // Long 2, then sell 5: closes the long (2) and opens a short (3), then buy 3 closes it.
        let fills = [f(0, true, 2, 0, 0.0), f(2, false, 5, 2, 10.0), f(3, true, 3, -3, -1.0)];
        let (p, c) = run(&fills);
        assert_eq!(c.len(), 2);
        assert!(c[0].long && c[0].end == CycleEnd::Flip && c[0].close_ts == Some(2 * H));
        assert_eq!(c[0].pnl, 10.0);
        assert!((c[0].fees - (0.2 + 0.5 * 2.0 / 5.0)).abs() < 1e-12);
        assert!(!c[1].long && c[1].start == CycleStart::Open && c[1].open_ts == 2 * H);
        assert!((c[1].fees - (0.5 * 3.0 / 5.0 + 0.3)).abs() < 1e-12);
        assert_eq!((c[1].max_size, c[1].pnl, c[1].end), (3.0, -1.0, CycleEnd::Close));
        assert_eq!((p.flips, p.cycles_closed, p.cycles_won), (1, 2, 1));
        assert_eq!(p.avg_hold_hours, Some(1.5));
        // Fees of the cycles add up to the account's.
        assert!((c[0].fees + c[1].fees - p.fees).abs() < 1e-12);
    }

    #[test]
    fn a_gap_ends_the_cycle_and_resyncs() {
        // Long 2; the next fill says the position was 5 (fills missing): gap, resync, then close 5.
        let fills = [f(0, true, 2, 0, 0.0), f(1, false, 5, 5, 4.0)];
        let (p, c) = run(&fills);
        assert_eq!(p.gaps, 1);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].end, c[0].close_ts), (CycleEnd::Gap, Some(0)));
        assert_eq!((c[1].start, c[1].end, c[1].max_size), (CycleStart::Resync, CycleEnd::Close, 5.0));
        // Neither counts for holding periods (the resynced opening was not seen); the close counts
        // for the cycle win rate.
        assert_eq!((p.cycles_closed, p.avg_hold_hours, p.cycle_win_rate()), (1, None, Some(1.0)));
    }

    #[test]
    fn a_first_fill_mid_position_opens_a_before_cycle() {
        // First fill: already short 4, buy 1 (partial), then buy 3 (flat); a second coin stays open.
        let mut fills = vec![f(0, true, 1, -4, 1.0), f(1, true, 3, -3, 2.0)];
        fills.push(ProfileFill { coin: 1, ..f(2, true, 1, 0, 0.0) });
        let (p, c) = run(&fills);
        assert_eq!(p.gaps, 0);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].start, c[0].end, c[0].long, c[0].partial_closes),
            (CycleStart::Before, CycleEnd::Close, false, 1)
        );
        assert_eq!((c[0].entry_price, c[0].exit_price), (None, Some(100.0)));
        assert_eq!((c[1].coin, c[1].end, c[1].close_ts), (1, CycleEnd::Open, None));
        assert_eq!((p.unique_coins, p.cycles_open, p.cycles_closed), (2, 1, 1));
        assert_eq!(p.avg_hold_hours, None);
    }

    #[test]
    fn unknown_start_positions_are_not_gaps() {
        let fills = [f(0, true, 2, NO_START, 0.0), f(1, false, 2, NO_START, 1.0)];
        let (p, c) = run(&fills);
        assert_eq!((p.gaps, c.len(), c[0].end), (0, 1, CycleEnd::Close));
    }

    #[test]
    fn daily_rows_and_sharpe_follow_the_notebook() {
        let d = 24;
        let fills =
            [f(0, true, 1, 0, 0.0), f(1, false, 1, 1, 10.0), f(d, true, 1, 0, -2.0), f(2 * d, false, 1, 1, 4.0)];
        let (mut c, mut days) = (Vec::new(), Vec::new());
        let p = Profiler::new().account(3, fills.iter().copied(), 1.0, &mut c, &mut days);
        assert_eq!(days.len(), 3);
        assert_eq!((days[0].trades, days[0].pnl, days[0].account), (2, 10.0, 3));
        let v = [10.0, -2.0, 4.0];
        let mean = 4.0;
        let std = (v.iter().map(|x: &f64| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((p.sharpe.unwrap() - mean / std * 365f64.sqrt()).abs() < 1e-12);
        assert_eq!(p.trading_days, 3);
        assert_eq!(sharpe([1.0].into_iter()), None);
        assert_eq!(sharpe([1.0, 1.0].into_iter()), Some(0.0));
    }

    #[test]
    fn classes_follow_the_rules_in_order() {
        let r = Rules::default();
        let base = AccountProfile { trades: 100, volume: 1e6, ..AccountProfile::default() };
        let liq = AccountProfile { liquidation_fills: 20, ..base.clone() };
        assert_eq!(r.classify(&liq), Class::Liquidator);
        let hft = AccountProfile { taker_fills: 30, realized_pnl: 500.0, avg_hold_hours: Some(0.1), ..base.clone() };
        assert_eq!(r.classify(&hft), Class::Hft);
        let smart = AccountProfile {
            taker_fills: 90,
            realized_pnl: 20_000.0,
            sharpe: Some(2.0),
            avg_hold_hours: Some(1.0),
            ..base.clone()
        };
        assert_eq!(r.classify(&smart), Class::SmartDirectional);
        let retail = AccountProfile { taker_fills: 90, avg_hold_hours: Some(1.0), ..base.clone() };
        assert_eq!(r.classify(&retail), Class::Retail);
        // No closed cycle: the notebook's 999 hours makes it BASIS.
        let basis = AccountProfile { taker_fills: 90, ..base };
        assert_eq!(r.classify(&basis), Class::Basis);
    }
}
