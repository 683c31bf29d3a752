//! The exchange simulation: latency, orders, cross-only fills, fees,
//! funding and accounting, driven by a replay.
//!
//! # Time
//!
//! Everything happens on one clock (ns since the epoch). Market events are
//! processed at their exchange time: they update the exchange's book and
//! fill resting orders. Each event then travels to the strategy, arriving at
//! its local receive time (tapes with receive times) or after the feed
//! latency. The strategy's orders reach the exchange after the entry latency;
//! the exchange's answers (acks, fills, cancels) reach the strategy after
//! the response latency. Each of these three channels is FIFO, like the TCP
//! connection it models: a message never overtakes the one before it.
//!
//! At equal times the order is: market events at the exchange, then orders
//! arriving at the exchange (an order arriving at `t` does not see a trade
//! printed at `t`), then updates to the strategy, then market data to the
//! strategy, then timers.
//!
//! The strategy sees its own view of the world: its own copy of each book,
//! updated as market data reaches it, and its own position and open orders,
//! updated as updates reach it. The exchange's truth is what results report.
//!
//! # Fills
//!
//! See [`FillModel`]: by default, a resting order fills only when a trade
//! prints strictly through its price, for its whole open quantity, at its
//! own limit price, as maker. An order that crosses the book on arrival
//! executes as taker against the visible levels, walking them (the replayed
//! book is not changed by the strategy's own executions: no market impact).

mod account;
mod backtest;
mod exchange;
mod feed;
mod host;
mod latency;
mod link;
pub mod metrics;

use ticktape_sdk::abi::OrderUpdate;
use ticktape_tape::{UNDEF, funding_flags};

pub use account::{Account, FillEffect, Overflow, Position, Scale};
pub use backtest::{Probe, run, run_probed};
pub use exchange::{Order, OrderStatus};
pub use latency::{Latency, LatencySpec, parse_duration};
pub use ticktape_sdk::abi::MAX_TIMERS_AT_NOW;

use crate::book::Book;
use crate::error::{Error, Result};
use crate::replay::{Instrument, Replay};
use exchange::Resting;
use feed::Feed;
use host::View;
use link::{Link, Timers};

/// When a resting order fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FillModel {
    /// A trade **at** the order's price also fills it (default: only trades
    /// strictly through it).
    pub touch: bool,
    /// A fill is bounded by the trade's size, shared by the strategy's orders
    /// in price-time priority (default: the whole open quantity fills).
    pub partial: bool,
    /// Queue position: an order joins the back of its price level's visible
    /// quantity; trades at its price eat the queue ahead first, and the queue
    /// ahead never exceeds the level's visible size. Trades through the price
    /// still fill it at once.
    pub queue: bool,
    /// The book crossing the order without a trade (best ask strictly below
    /// a resting buy, or at it with `touch`) also fills it, at its price.
    /// Off by default: the tape then shows no trade, because the order was
    /// not really there.
    pub book_cross: bool,
}

/// Which price marks positions to market.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MarkSource {
    /// The exchange book's mid.
    #[default]
    Mid,
    /// The last mark price from a funding tape (the mid until one arrives).
    Mark,
}

/// The largest price or quantity an order may have, in price or quantity
/// units: 2^53, up to which every integer is exact as an `f64` (the
/// account works in floating point). Requests outside 1..=2^53 are
/// rejected as invalid.
pub const MAX_ORDER_UNITS: i64 = 1 << 53;

/// The per-order notional limit when [`SimConfig::max_notional`] is not
/// set, as a multiple of [`SimConfig::capital`].
pub const DEFAULT_MAX_NOTIONAL_X_CAPITAL: f64 = 100.0;

/// Everything that shapes a simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Feed latency (market data to the strategy).
    pub feed: LatencySpec,
    /// Order entry latency (strategy to exchange).
    pub entry: LatencySpec,
    /// Response latency (exchange to strategy).
    pub response: LatencySpec,
    /// Maker fee in basis points of notional (negative: rebate).
    pub maker_fee_bps: f64,
    /// Taker fee in basis points of notional.
    pub taker_fee_bps: f64,
    /// Fill rules.
    pub fills: FillModel,
    /// Largest absolute position per instrument, in human quantity units.
    pub max_position: Option<f64>,
    /// Largest notional per order, quote currency (market orders are
    /// valued at the best opposite price). `None`:
    /// [`DEFAULT_MAX_NOTIONAL_X_CAPITAL`] × capital.
    pub max_notional: Option<f64>,
    /// Starting capital, quote currency.
    pub capital: f64,
    /// Mark-to-market price.
    pub mark: MarkSource,
    /// Equity and inventory sampling interval, ns. A sample is taken at the
    /// first event at or after each multiple of the interval and shows the
    /// account before that event; a last sample closes the run.
    pub sample_ns: i64,
    /// Seed of the latency draws.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            feed: LatencySpec::Local { fallback: Box::new(LatencySpec::Constant(1_000_000)) },
            entry: LatencySpec::Constant(1_000_000),
            response: LatencySpec::Constant(1_000_000),
            maker_fee_bps: 2.0,
            taker_fee_bps: 5.0,
            fills: FillModel::default(),
            max_position: None,
            max_notional: None,
            capital: 100_000.0,
            mark: MarkSource::Mid,
            sample_ns: 1_000_000_000,
            seed: 1,
        }
    }
}

impl SimConfig {
    /// The per-order notional limit in force, quote currency.
    pub fn notional_limit(&self) -> f64 {
        self.max_notional.unwrap_or(DEFAULT_MAX_NOTIONAL_X_CAPITAL * self.capital)
    }

    /// Refuses values a simulation cannot run with: fees that are not
    /// finite or not above -100 % / below 100 % of notional, capital that
    /// is not finite and positive, limits that are not finite and
    /// positive, a sample interval that is not positive, negative or
    /// malformed latencies. The error names the setting (run-file key and
    /// flag).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &'static str, why: String| Err(Error::Config { what, why });
        for (what, bps) in [
            ("maker fee ([fees] maker_bps, --maker-fee-bps)", self.maker_fee_bps),
            ("taker fee ([fees] taker_bps, --taker-fee-bps)", self.taker_fee_bps),
        ] {
            if !(bps.is_finite() && bps.abs() < 10_000.0) {
                return bad(
                    what,
                    format!(
                        "{bps} is not a fee; give basis points of notional between -10000 and 10000 (e.g. 2.0; negative: a rebate)"
                    ),
                );
            }
        }
        if !(self.capital.is_finite() && self.capital > 0.0) {
            return bad(
                "capital ([account] capital, --capital)",
                format!("{} is not a positive, finite amount of quote currency (e.g. 100000)", self.capital),
            );
        }
        for (what, limit) in [
            ("position limit ([limits] max_position)", self.max_position),
            ("notional limit ([limits] max_notional)", self.max_notional),
        ] {
            if let Some(x) = limit
                && !(x.is_finite() && x > 0.0)
            {
                return bad(what, format!("{x} is not a positive, finite number; leave the key out for no limit"));
            }
        }
        if self.sample_ns <= 0 {
            return bad(
                "sample interval ([account] sample, --sample)",
                format!("{} ns: must be positive (e.g. 1s)", self.sample_ns),
            );
        }
        for (what, spec) in [
            ("feed latency ([latency] feed, --feed-latency)", &self.feed),
            ("entry latency ([latency] entry, --entry-latency)", &self.entry),
            ("response latency ([latency] response, --response-latency)", &self.response),
        ] {
            if let Some(why) = spec.problem() {
                return bad(what, why);
            }
        }
        Ok(())
    }
}

/// A fill, as results report it.
#[derive(Clone, Debug, PartialEq)]
pub struct FillRow {
    /// Exchange time of the fill, ns.
    pub ts_exchange: i64,
    /// When the strategy learns of it, ns.
    pub ts_local: i64,
    /// Order id.
    pub order_id: u64,
    /// Strategy tag.
    pub tag: u64,
    /// Instrument index.
    pub instrument: u32,
    /// +1 buy, −1 sell.
    pub side: i64,
    /// Price (price units).
    pub price: i64,
    /// Quantity (quantity units).
    pub qty: i64,
    /// Maker (true) or taker.
    pub maker: bool,
    /// Fee, quote currency.
    pub fee: f64,
    /// Realised PnL of this fill, quote currency.
    pub realized: f64,
    /// Whether it reduced a position.
    pub closing: bool,
    /// Position after the fill (quantity units).
    pub position: i64,
}

/// One sample of the account.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Exchange time, ns.
    pub ts: i64,
    /// Equity, quote currency.
    pub equity: f64,
    /// Cash.
    pub cash: f64,
    /// Realised PnL so far.
    pub realized: f64,
    /// Unrealised PnL.
    pub unrealized: f64,
    /// Fees paid so far.
    pub fees: f64,
    /// Funding received so far.
    pub funding: f64,
    /// Positions (quantity units) per instrument.
    pub positions: Vec<i64>,
    /// Marks (human prices) per instrument.
    pub marks: Vec<f64>,
}

/// A point of a series the strategy recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesPoint {
    /// The time the strategy gave, ns.
    pub ts: i64,
    /// Series id.
    pub series: u32,
    /// The value.
    pub value: f64,
}

/// A log line from the strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Local time, ns.
    pub ts: i64,
    /// [`log_level`](ticktape_sdk::abi::log_level) code.
    pub level: u32,
    /// The text.
    pub text: String,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Instruments, in index order.
    pub instruments: Vec<Instrument>,
    /// Every order the strategy sent.
    pub orders: Vec<Order>,
    /// Every fill.
    pub fills: Vec<FillRow>,
    /// Account samples.
    pub samples: Vec<Sample>,
    /// Final account (exchange truth).
    pub account: Account,
    /// Strategy log.
    pub log: Vec<LogLine>,
    /// Names the strategy gave its order tags
    /// ([`Context::name_tag`](ticktape_sdk::Context::name_tag)).
    pub tag_names: std::collections::BTreeMap<u64, String>,
    /// Names of the series the strategy recorded.
    pub series_names: std::collections::BTreeMap<u32, String>,
    /// Points the strategy recorded ([`Context::record`](ticktape_sdk::Context::record)),
    /// in the order recorded.
    pub series: Vec<SeriesPoint>,
    /// Figures the strategy put into its summary
    /// ([`Context::summary_figure`](ticktape_sdk::Context::summary_figure)), by name.
    pub figures: std::collections::BTreeMap<String, f64>,
    /// Market events processed.
    pub events: u64,
    /// Exchange time of the first and last event.
    pub span: (i64, i64),
    /// Set when the strategy failed; results cover the run up to then.
    pub error: Option<String>,
    /// Configuration used.
    pub config: SimConfig,
}

/// An order action on its way to the exchange.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    /// A new order (index into `Sim::orders`).
    New(usize),
    /// Cancel an order by id.
    Cancel(u64),
    /// New price and quantity for an order by id.
    Replace(u64, i64, i64),
}

/// One instrument: its facts, its resting orders at the exchange, and the
/// strategy's view of its book.
#[derive(Debug)]
struct Venue {
    /// The strategy's copy of the book.
    view: Book,
    scale: Scale,
    tick: i64,
    lot: i64,
    /// Resting buy orders, best (highest) price first, then time priority.
    buys: Resting,
    /// Resting sell orders, best (lowest) price first.
    sells: Resting,
    /// Last mark price from a funding tape (human), NaN if none.
    mark: f64,
    /// Whether an L2 tape drives the book (otherwise quotes do).
    has_l2: bool,
    /// Whether bars drive the book ([`crate::replay::Instrument::bar_driven`]).
    bar_driven: bool,
    /// Best bid and ask prices of the exchange's book at the last message
    /// end ([`NO_PRICE`] for an empty side), `None` before the first: what
    /// [`subscribe::BOOK_TOPS`](ticktape_sdk::abi::subscribe::BOOK_TOPS)
    /// compares against. The strategy's `view` starts from the same book
    /// and takes the same records in the same order, only later, so its top
    /// moves at exactly the message ends where this one does.
    top: Option<[i64; 2]>,
    symbol: String,
    venue: String,
    price_exponent: i8,
    qty_exponent: i8,
    value_exponent: i8,
}

/// A side without a level in [`Venue::top`].
const NO_PRICE: i64 = i64::MIN;

impl Venue {
    /// At a message end: whether the best bid or ask price of `book` (the
    /// exchange's), or whether a side is empty, differs from the last
    /// message end's (always true at the first); remembers the new top.
    #[inline]
    fn top_moved(&mut self, book: &Book) -> bool {
        let price = |l: Option<(i64, i64)>| l.map_or(NO_PRICE, |l| l.0);
        let top = [price(book.best_bid()), price(book.best_ask())];
        self.top.replace(top) != Some(top)
    }
}

/// What a run records for its results.
#[derive(Debug, Default)]
struct Journal {
    fills: Vec<FillRow>,
    samples: Vec<Sample>,
    log: Vec<LogLine>,
    tag_names: std::collections::BTreeMap<u64, String>,
    series_names: std::collections::BTreeMap<u32, String>,
    series: Vec<SeriesPoint>,
    figures: std::collections::BTreeMap<String, f64>,
    /// Exchange time at or after which the next sample is taken.
    next_sample: i64,
    events: u64,
    first_ts: i64,
    last_ts: i64,
}

/// The simulated world a strategy runs in. Implements
/// [`Host`](crate::plugin::Host) for the strategy's context.
#[derive(Debug)]
pub struct Sim<'a> {
    cfg: SimConfig,
    /// The strategy's clock during a callback.
    now: i64,
    venues: Vec<Venue>,
    scales: Vec<Scale>,
    /// Every order sent; order id `n` is at index `n - 1`.
    orders: Vec<Order>,
    /// The exchange's truth.
    account: Account,
    /// Order actions on their way to the exchange.
    to_exchange: Link<Action>,
    /// The exchange's answers on their way to the strategy.
    responses: Link<OrderUpdate>,
    timers: Timers,
    feed: Feed<'a>,
    /// The strategy's view of its account and orders.
    view: View,
    journal: Journal,
    /// Earliest time anything queued is due.
    next_due: i64,
    /// Reused buffer for order ids.
    scratch: Vec<u64>,
    /// Sequence number of the last order put on the book (time priority).
    rest_seq: u64,
    /// What stopped the simulation (an accounting overflow, a timer loop);
    /// the run ends with it as its error.
    fault: Option<Error>,
    /// The instant at which timers were last set at or before the clock,
    /// and how many were set then.
    timers_at_now: (i64, u32),
    /// Whether the strategy log already says that an order was invalid.
    warned_invalid: bool,
    /// Bar slippage of bar-driven books, basis points.
    bar_slippage_bps: f64,
}

impl<'a> Sim<'a> {
    fn new(replay: &'a Replay, cfg: SimConfig, subscriptions: u32) -> Result<Self> {
        cfg.validate()?;
        let n = replay.instruments().len();
        // The strategy's view starts as the exchange's books do: warmed to
        // the slice's start when the replay is a time slice.
        let views = replay.books_at_start()?;
        let venues: Vec<Venue> = replay
            .instruments()
            .iter()
            .zip(views)
            .map(|(i, view)| Venue {
                view,
                scale: Scale::new(i.price_exponent, i.qty_exponent),
                tick: i.price_tick.max(1),
                lot: i.qty_lot.max(1),
                buys: Resting::new(true),
                sells: Resting::new(false),
                mark: f64::NAN,
                has_l2: i.has_l2,
                bar_driven: i.bar_driven,
                top: None,
                symbol: i.symbol.clone(),
                venue: i.venue.clone(),
                price_exponent: i.price_exponent,
                qty_exponent: i.qty_exponent,
                value_exponent: i.value_exponent,
            })
            .collect();
        let has_l2: Vec<bool> = venues.iter().map(|v| v.has_l2).collect();
        let feed = Feed::new(replay, &cfg.feed, cfg.seed, subscriptions, &has_l2)?;
        Ok(Sim {
            now: 0,
            scales: venues.iter().map(|v| v.scale).collect(),
            venues,
            orders: Vec::new(),
            account: Account::new(cfg.capital, n),
            to_exchange: Link::new(Latency::new(&cfg.entry, cfg.seed ^ 0x01)),
            responses: Link::new(Latency::new(&cfg.response, cfg.seed ^ 0x02)),
            timers: Timers::default(),
            feed,
            view: View::new(cfg.capital, n),
            journal: Journal { next_sample: i64::MIN, ..Journal::default() },
            next_due: i64::MAX,
            scratch: Vec::new(),
            rest_seq: 0,
            fault: None,
            timers_at_now: (i64::MIN, 0),
            warned_invalid: false,
            bar_slippage_bps: replay.bar_slippage_bps(),
            cfg,
        })
    }

    /// Sets the strategy's clock for a callback at `t` and brings its view
    /// of the books up to `t`.
    #[inline]
    fn set_clock(&mut self, t: i64) {
        self.now = t;
        self.feed.sync(&mut self.venues, t);
    }

    /// [`set_clock`](Self::set_clock) for a market-data batch at `t`.
    #[inline]
    fn set_batch_clock(&mut self, t: i64) {
        self.now = t;
        self.feed.sync_batch(&mut self.venues, t);
    }

    fn finish(mut self, error: Option<String>) -> RunOutput {
        let error = error.or_else(|| self.fault.take().map(|e| e.to_string()));
        // Orders still open at the end are cancelled for the record.
        let end = self.journal.last_ts;
        for o in &mut self.orders {
            if matches!(o.status, OrderStatus::Sent | OrderStatus::Open) {
                o.status = OrderStatus::Cancelled;
                o.reason = ticktape_sdk::abi::reason::END_OF_RUN;
                o.done_ts = end;
                o.leaves = 0;
            }
        }
        let instruments = self.instruments();
        let j = self.journal;
        RunOutput {
            instruments,
            orders: self.orders,
            fills: j.fills,
            samples: j.samples,
            account: self.account,
            log: j.log,
            tag_names: j.tag_names,
            series_names: j.series_names,
            series: j.series,
            figures: j.figures,
            events: j.events,
            span: (j.first_ts, j.last_ts),
            error,
            config: self.cfg,
        }
    }

    fn instruments(&self) -> Vec<Instrument> {
        self.venues
            .iter()
            .map(|v| Instrument {
                symbol: v.symbol.clone(),
                venue: v.venue.clone(),
                price_exponent: v.price_exponent,
                qty_exponent: v.qty_exponent,
                value_exponent: v.value_exponent,
                price_tick: v.tick,
                qty_lot: v.lot,
                has_l2: v.has_l2,
                bar_driven: v.bar_driven,
                book_tick: v.view.tick(),
            })
            .collect()
    }

    /// A copy of everything simulated so far (orders, fills, samples,
    /// account, log, event count and span), for a checkpoint; the run is not
    /// disturbed. Orders still open are shown open; a final account sample
    /// at the last event (priced on `books`) is added to the copy only.
    pub(crate) fn snapshot(&self, books: &[Book]) -> RunOutput {
        let j = &self.journal;
        let mut samples = j.samples.clone();
        if samples.last().is_none_or(|s| s.ts < j.last_ts) {
            samples.push(self.sample_at(j.last_ts, books));
        }
        RunOutput {
            instruments: self.instruments(),
            orders: self.orders.clone(),
            fills: j.fills.clone(),
            samples,
            account: self.account.clone(),
            log: j.log.clone(),
            tag_names: j.tag_names.clone(),
            series_names: j.series_names.clone(),
            series: j.series.clone(),
            figures: j.figures.clone(),
            events: j.events,
            span: (j.first_ts, j.last_ts),
            error: None,
            config: self.cfg.clone(),
        }
    }

    fn fee(&self, inst: usize, price: i64, qty: i64, maker: bool) -> f64 {
        let s = self.scales[inst];
        let bps = if maker { self.cfg.maker_fee_bps } else { self.cfg.taker_fee_bps };
        price as f64 * s.px * qty as f64 * s.qx * bps * 1e-4
    }

    /// Sends an update toward the strategy (it leaves the exchange at its
    /// exchange time); returns when the strategy will receive it.
    fn respond(&mut self, mut u: OrderUpdate) -> i64 {
        let t = self.responses.send(u.exchange_ts, |t| {
            u.ts = t;
            u
        });
        self.next_due = self.next_due.min(t);
        t
    }

    /// Sends an order action toward the exchange at the strategy's clock.
    fn send(&mut self, action: Action) {
        let t = self.to_exchange.send(self.now, |_| action);
        self.next_due = self.next_due.min(t);
    }

    fn update_for(&self, idx: usize, kind: u8, ts: i64) -> OrderUpdate {
        let o = &self.orders[idx];
        OrderUpdate {
            ts: 0,
            exchange_ts: ts,
            order_id: o.id,
            tag: o.tag,
            instrument: o.instrument,
            kind,
            side: o.side,
            liquidity: 0,
            reason: o.reason,
            price: o.price,
            qty: o.qty,
            leaves_qty: o.leaves,
            fee: 0.0,
        }
    }

    /// Marks (human prices) per instrument from the exchange books.
    fn marks(&self, books: &[Book]) -> Vec<f64> {
        self.venues
            .iter()
            .zip(books)
            .map(|(v, b)| match self.cfg.mark {
                MarkSource::Mark if !v.mark.is_nan() => v.mark,
                _ => b.mid().map_or(f64::NAN, |m| m * v.scale.px),
            })
            .collect()
    }

    fn sample(&mut self, ts: i64, books: &[Book]) {
        let s = self.sample_at(ts, books);
        self.journal.samples.push(s);
    }

    fn sample_at(&self, ts: i64, books: &[Book]) -> Sample {
        let marks = self.marks(books);
        let (realized, fees, funding, _) = self.account.totals();
        Sample {
            ts,
            equity: self.account.equity(&self.scales, &marks),
            cash: self.account.cash,
            realized,
            unrealized: self.account.unrealized(&self.scales, &marks),
            fees,
            funding,
            positions: self.account.positions.iter().map(|p| p.qty).collect(),
            marks,
        }
    }

    fn on_funding(&mut self, inst: usize, f: &ticktape_tape::Funding, books: &[Book]) {
        let v = &mut self.venues[inst];
        let s = v.scale;
        if f.mark_price != UNDEF {
            v.mark = f.mark_price as f64 * s.px;
        }
        if f.flags & funding_flags::SETTLEMENT != 0 && f.funding_rate != UNDEF {
            let rate = f.funding_rate as f64 * 10f64.powi(i32::from(v.value_exponent));
            let mark = if v.mark.is_nan() { books[inst].mid().map_or(f64::NAN, |m| m * s.px) } else { v.mark };
            if !mark.is_nan() {
                self.account.funding(inst, s, mark, rate);
            }
        }
    }
}
