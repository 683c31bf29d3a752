//! Summary metrics of a run, with their definitions.
//!
//! - **Returns** are equity changes between consecutive samples (the
//!   sampling interval of the run, 1 s by default), in quote currency.
//! - **Sharpe** = mean(return) / sample std(return) × √(periods per year);
//!   a year is 365.25 days (crypto trades every day), so periods per year =
//!   365.25 × 86,400 s / interval. Undefined (null) with fewer than two
//!   returns or zero variance.
//! - **Sortino** = mean(return) / downside deviation × √(periods per year),
//!   downside deviation = √(mean(min(return, 0)²)) over all returns.
//! - **Max drawdown**: the largest fall of equity from a previous peak, in
//!   quote currency and as a fraction of that peak.
//! - **Calmar** = net PnL annualised over the run's duration / max drawdown.
//! - **Gross PnL** = realised + unrealised price PnL; **net PnL** = final
//!   equity − capital = gross − fees + funding.
//! - **Turnover**: traded notional, quote currency (and in multiples of the
//!   capital).
//! - **Fill rate**: orders with at least one fill / orders sent.
//! - **Maker share**: maker fills / fills.
//! - **Win rate**: closing fills (ones that reduce a position) with positive
//!   realised PnL / closing fills.
//! - **Per-tag attribution** (`by_tag`): every order carries the strategy's
//!   tag, so fills, maker share, notional, fees and PnL split by tag. A
//!   fill's PnL is its price PnL marked to the last mark of the run,
//!   side × qty × (last mark − fill price), less its fee; the tags' PnLs add
//!   up to gross PnL − fees (net PnL less funding) exactly, whatever order
//!   the fills of different tags opened and closed the position in.
//!   `realized_pnl` per tag is the realised PnL of the tag's closing fills
//!   (average-cost, so it depends on which tag opened the position).
//! - **Strategy figures** (`strategy_figures`): what the strategy reported
//!   about itself through
//!   [`Context::summary_figure`](ticktape_sdk::Context::summary_figure)
//!   (e.g. the RBSA plugin's tracking error), by name, as given.

use serde::Serialize;

use super::RunOutput;

const YEAR_NS: f64 = 365.25 * 86_400.0 * 1e9;

/// One instrument's final position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Inventory {
    /// Symbol.
    pub symbol: String,
    /// Position in human units (negative: short).
    pub position: f64,
}

/// The orders and fills of one order tag (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TagSummary {
    /// The tag.
    pub tag: u64,
    /// Its name, if the strategy gave it one (`Context::name_tag`).
    pub name: Option<String>,
    /// Orders sent with the tag.
    pub orders: u64,
    /// Fills.
    pub fills: u64,
    /// Maker fills.
    pub maker_fills: u64,
    /// Maker fills / fills.
    pub maker_share: Option<f64>,
    /// Filled quantity bought, human units (summed over instruments).
    pub bought: f64,
    /// Filled quantity sold, human units.
    pub sold: f64,
    /// Traded notional, quote currency.
    pub turnover: f64,
    /// Fees paid, quote currency (negative: rebates).
    pub fees: f64,
    /// Realised PnL of the tag's closing fills, quote currency.
    pub realized_pnl: f64,
    /// PnL of the tag's fills marked to the run's last marks, after fees.
    pub pnl: f64,
}

impl TagSummary {
    /// The tag's name, or `tag N` when it has none.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("tag {}", self.tag))
    }
}

fn tag_slot<'m>(
    tags: &'m mut std::collections::BTreeMap<u64, TagSummary>,
    out: &RunOutput,
    tag: u64,
) -> &'m mut TagSummary {
    tags.entry(tag).or_insert_with(|| TagSummary {
        tag,
        name: out.tag_names.get(&tag).cloned(),
        orders: 0,
        fills: 0,
        maker_fills: 0,
        maker_share: None,
        bought: 0.0,
        sold: 0.0,
        turnover: 0.0,
        fees: 0.0,
        realized_pnl: 0.0,
        pnl: 0.0,
    })
}

/// Per-tag attribution of `out` (see the module docs), in tag order: every
/// tag that placed an order or was named.
pub fn by_tag(out: &RunOutput) -> Vec<TagSummary> {
    let mut tags = std::collections::BTreeMap::new();
    for &tag in out.tag_names.keys() {
        tag_slot(&mut tags, out, tag);
    }
    for o in &out.orders {
        tag_slot(&mut tags, out, o.tag).orders += 1;
    }
    let marks = out.samples.last().map(|s| s.marks.as_slice()).unwrap_or(&[]);
    for f in &out.fills {
        let inst = &out.instruments[f.instrument as usize];
        let (price, qty) = (
            f.price as f64 * 10f64.powi(i32::from(inst.price_exponent)),
            f.qty as f64 * 10f64.powi(i32::from(inst.qty_exponent)),
        );
        // Without a mark (no two-sided book at the end) the fill is valued
        // at its own price: no price PnL.
        let mark = marks.get(f.instrument as usize).copied().filter(|m| !m.is_nan()).unwrap_or(price);
        let t = tag_slot(&mut tags, out, f.tag);
        t.fills += 1;
        t.maker_fills += u64::from(f.maker);
        if f.side > 0 {
            t.bought += qty;
        } else {
            t.sold += qty;
        }
        t.turnover += price * qty;
        t.fees += f.fee;
        t.realized_pnl += f.realized;
        t.pnl += f.side as f64 * qty * (mark - price) - f.fee;
    }
    tags.into_values()
        .map(|mut t| {
            t.maker_share = ratio(t.maker_fills as f64, t.fills as f64);
            t
        })
        .collect()
}

/// The summary of a run (see the module docs for definitions).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Strategy name and version.
    pub strategy: String,
    /// Market events processed.
    pub events: u64,
    /// First and last exchange time, RFC 3339.
    pub start: String,
    /// Last exchange time.
    pub end: String,
    /// Duration, seconds.
    pub duration_s: f64,
    /// Starting capital.
    pub capital: f64,
    /// Final equity.
    pub final_equity: f64,
    /// Net PnL.
    pub net_pnl: f64,
    /// Gross PnL.
    pub gross_pnl: f64,
    /// Realised PnL.
    pub realized_pnl: f64,
    /// Unrealised PnL at the end.
    pub unrealized_pnl: f64,
    /// Fees paid.
    pub fees: f64,
    /// Funding received (negative: paid).
    pub funding: f64,
    /// Orders sent.
    pub orders: u64,
    /// Orders rejected as invalid (unknown codes, price or quantity out of
    /// range): a strategy bug, see the strategy log.
    pub invalid_orders: u64,
    /// Fills.
    pub fills: u64,
    /// Orders with a fill / orders sent.
    pub fill_rate: Option<f64>,
    /// Maker fills / fills.
    pub maker_share: Option<f64>,
    /// Annualised Sharpe ratio; `None` when undefined or when the run is
    /// shorter than [`MIN_ANNUALISED_S`] (see `ratios_meaningful`).
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio; `None` as `sharpe`.
    pub sortino: Option<f64>,
    /// Calmar ratio; `None` as `sharpe`.
    pub calmar: Option<f64>,
    /// Whether the run is long enough (at least a day) for annualised ratios
    /// to mean anything. When it is not, `sharpe`, `sortino` and `calmar` are
    /// `None` and only the per-sample figures below are given.
    pub ratios_meaningful: bool,
    /// Mean / sample std of the per-sample equity changes, not annualised.
    pub sharpe_per_sample: Option<f64>,
    /// Mean / downside deviation of the per-sample equity changes, not
    /// annualised.
    pub sortino_per_sample: Option<f64>,
    /// Max drawdown, quote currency.
    pub max_drawdown: f64,
    /// Max drawdown as a fraction of the peak.
    pub max_drawdown_pct: Option<f64>,
    /// Traded notional, quote currency.
    pub turnover: f64,
    /// Turnover / capital.
    pub turnover_x_capital: Option<f64>,
    /// Winning closing fills / closing fills.
    pub win_rate: Option<f64>,
    /// Final positions.
    pub ending_inventory: Vec<Inventory>,
    /// Orders, fills, maker share and PnL per order tag.
    pub by_tag: Vec<TagSummary>,
    /// Figures the strategy reported about itself
    /// ([`Context::summary_figure`](ticktape_sdk::Context::summary_figure)),
    /// by name; `None` (`null`) for a value that is not finite.
    pub strategy_figures: std::collections::BTreeMap<String, Option<f64>>,
    /// Equity sampling interval, seconds.
    pub sample_interval_s: f64,
    /// Set when the strategy failed; metrics cover the run up to then.
    pub error: Option<String>,
}

/// Shortest run, in seconds, whose annualised ratios (Sharpe, Sortino,
/// Calmar) are reported: a day. Annualising minutes of data gives figures
/// like a Sharpe of 940 that are formally right and mean nothing.
pub const MIN_ANNUALISED_S: f64 = 86_400.0;

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    if b == 0.0 { None } else { finite(a / b) }
}

/// Computes the summary of `out`.
pub fn summarize(out: &RunOutput, strategy: &str) -> Summary {
    let cap = out.config.capital;
    let eq: Vec<f64> = out.samples.iter().map(|s| s.equity).collect();
    let rets: Vec<f64> = eq.windows(2).map(|w| w[1] - w[0]).collect();
    let periods = YEAR_NS / out.config.sample_ns as f64;
    let n = rets.len() as f64;
    let mean = if rets.is_empty() { 0.0 } else { rets.iter().sum::<f64>() / n };
    let sharpe_per_sample = if rets.len() < 2 {
        None
    } else {
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
        ratio(mean, var.sqrt())
    };
    let sortino_per_sample = if rets.len() < 2 {
        None
    } else {
        let dd = (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
        ratio(mean, dd)
    };
    let (mut peak, mut mdd, mut mdd_pct) = (f64::NEG_INFINITY, 0.0f64, None::<f64>);
    for &e in &eq {
        peak = peak.max(e);
        let dd = peak - e;
        if dd > mdd {
            mdd = dd;
            mdd_pct = ratio(dd, peak).filter(|_| peak > 0.0);
        }
    }
    let last = out.samples.last();
    let final_equity = last.map_or(cap, |s| s.equity);
    let (realized, fees, funding, turnover) = out.account.totals();
    let unrealized = last.map_or(0.0, |s| s.unrealized);
    let net = final_equity - cap;
    let duration_ns = (out.span.1 - out.span.0).max(0) as f64;
    let annual = if duration_ns > 0.0 { net * YEAR_NS / duration_ns } else { f64::NAN };
    let meaningful = duration_ns >= MIN_ANNUALISED_S * 1e9;
    let annualised = |x: Option<f64>| x.filter(|_| meaningful).and_then(|x| finite(x * periods.sqrt()));
    let filled_orders = out.orders.iter().filter(|o| o.filled > 0).count();
    let makers = out.fills.iter().filter(|f| f.maker).count();
    let closing: Vec<_> = out.fills.iter().filter(|f| f.closing).collect();
    let wins = closing.iter().filter(|f| f.realized > 0.0).count();
    let ts = rfc3339;
    Summary {
        strategy: strategy.to_owned(),
        events: out.events,
        start: ts(out.span.0),
        end: ts(out.span.1),
        duration_s: duration_ns / 1e9,
        capital: cap,
        final_equity,
        net_pnl: net,
        gross_pnl: realized + unrealized,
        realized_pnl: realized,
        unrealized_pnl: unrealized,
        fees,
        funding,
        orders: out.orders.len() as u64,
        invalid_orders: out.orders.iter().filter(|o| o.reason == ticktape_sdk::abi::reason::INVALID).count() as u64,
        fills: out.fills.len() as u64,
        fill_rate: ratio(filled_orders as f64, out.orders.len() as f64),
        maker_share: ratio(makers as f64, out.fills.len() as f64),
        sharpe: annualised(sharpe_per_sample),
        sortino: annualised(sortino_per_sample),
        calmar: if mdd > 0.0 && meaningful { finite(annual / mdd) } else { None },
        ratios_meaningful: meaningful,
        sharpe_per_sample,
        sortino_per_sample,
        max_drawdown: mdd,
        max_drawdown_pct: mdd_pct,
        turnover,
        turnover_x_capital: if cap > 0.0 { Some(turnover / cap) } else { None },
        win_rate: ratio(wins as f64, closing.len() as f64),
        ending_inventory: out
            .instruments
            .iter()
            .zip(&out.account.positions)
            .map(|(i, p)| Inventory {
                symbol: i.symbol.clone(),
                position: p.qty as f64 * 10f64.powi(i32::from(i.qty_exponent)),
            })
            .collect(),
        by_tag: by_tag(out),
        strategy_figures: out.figures.iter().map(|(k, &v)| (k.clone(), finite(v))).collect(),
        sample_interval_s: out.config.sample_ns as f64 / 1e9,
        error: out.error.clone(),
    }
}

/// ns since the epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_714_521_600_000_000_001), "2024-05-01T00:00:00.000000001Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
