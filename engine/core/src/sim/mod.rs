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
mod exchange;
mod latency;
pub mod metrics;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use ticktape_sdk::abi::{
    EventRef, HostApi, InstrumentInfo, OrderInfo, OrderRequest, OrderUpdate, PositionInfo, StrRef, log_level,
    update_kind,
};
use ticktape_tape::{RecordKind, UNDEF, funding_flags, side};

pub use account::{Account, FillEffect, Position, Scale};
pub use exchange::{Order, OrderStatus};
pub use latency::{Latency, LatencySpec, parse_duration};

use crate::book::Book;
use crate::error::{Error, Result};
use crate::plugin::{Driver, Host, PluginError, api};
use crate::replay::{Event, Handler, Instrument, Replay};

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
    /// Largest notional per order, quote currency.
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

/// A log line from the strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Local time, ns.
    pub ts: i64,
    /// [`log_level`] code.
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
    /// Market events processed.
    pub events: u64,
    /// Exchange time of the first and last event.
    pub span: (i64, i64),
    /// Set when the strategy failed; results cover the run up to then.
    pub error: Option<String>,
    /// Configuration used.
    pub config: SimConfig,
}

/// An event waiting to reach the strategy.
#[derive(Clone, Copy, Debug)]
struct Pending<'a> {
    ts: i64,
    instrument: u32,
    event: Event<'a>,
}

/// An order action on its way to the exchange.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    New(usize),
    Cancel(u64),
    Replace(u64, i64, i64),
}

/// Per-instrument state: the exchange's side and the strategy's view.
#[derive(Debug)]
struct Venue {
    /// The strategy's copy of the book.
    view: Book,
    scale: Scale,
    tick: i64,
    lot: i64,
    /// Resting buy orders (indices into `orders`), best price first, then
    /// time priority.
    buys: Vec<usize>,
    /// Resting sell orders, best (lowest) price first.
    sells: Vec<usize>,
    /// Last mark price from a funding tape (human), NaN if none.
    mark: f64,
    /// Whether an L2 tape drives the book (otherwise quotes do).
    has_l2: bool,
    symbol: String,
    venue: String,
    price_exponent: i8,
    qty_exponent: i8,
    value_exponent: i8,
}

/// The simulated world a strategy runs in. Implements [`Host`].
#[derive(Debug)]
pub struct Sim<'a> {
    cfg: SimConfig,
    /// The strategy's clock during a callback.
    now: i64,
    venues: Vec<Venue>,
    orders: Vec<Order>,
    /// Order id → index in `orders` is `id - 1`.
    to_exchange: VecDeque<(i64, Action)>,
    last_arrival: i64,
    updates: VecDeque<OrderUpdate>,
    last_update: i64,
    feed: VecDeque<Pending<'a>>,
    /// Per tape: its channel to the strategy.
    channels: Vec<Channel>,
    /// Tapes whose events only update the strategy's view of the book.
    cursors: Vec<ViewCursor<'a>>,
    /// The tape of the current merge run.
    tape: usize,
    timers: BinaryHeap<Reverse<(i64, u64, u64)>>,
    timer_seq: u64,
    entry: Latency,
    response: Latency,
    account: Account,
    view: Account,
    view_orders: BTreeMap<u64, OrderInfo>,
    scales: Vec<Scale>,
    fills: Vec<FillRow>,
    samples: Vec<Sample>,
    next_sample: i64,
    log: Vec<LogLine>,
    events: u64,
    first_ts: i64,
    last_ts: i64,
    /// Earliest pending time over all queues.
    next_due: i64,
    /// Per record kind code: whether the strategy is called for it.
    wants: [bool; 8],
    /// Per tape: whether its events go through the delivery queue (the
    /// strategy subscribed to them).
    queued: Vec<bool>,
}

/// One tape's channel to the strategy: delivery times in FIFO order.
#[derive(Debug)]
struct Channel {
    /// Shift applied to local receive times (≤ 0), or `None` to use the
    /// feed latency model instead.
    shift: Option<i64>,
    latency: Latency,
    last: i64,
}

impl Channel {
    #[inline]
    fn delivery(&mut self, te: i64, local: i64) -> i64 {
        let t = match self.shift {
            Some(shift) => (local - shift).max(te),
            None => te + self.latency.sample(),
        };
        let t = t.max(self.last);
        self.last = t;
        t
    }
}

/// The strategy's view of the book fed straight from an L2 or quote tape
/// the strategy did not subscribe to: records are applied when their
/// delivery time has come, just before each strategy callback, with no
/// queue in between.
#[derive(Debug)]
struct ViewCursor<'a> {
    tape: usize,
    instrument: usize,
    source: ViewSource<'a>,
    pos: usize,
    /// Delivery time of the record at `pos`, once computed.
    head: Option<i64>,
}

#[derive(Debug)]
enum ViewSource<'a> {
    Levels(&'a [ticktape_tape::Level]),
    Quotes(&'a [ticktape_tape::Quote]),
}

/// Called once per market event of a run (for measurements); `()` does
/// nothing and costs nothing.
pub trait Probe {
    /// One event was processed.
    fn event(&mut self);
}

impl Probe for () {
    #[inline(always)]
    fn event(&mut self) {}
}

/// Runs `driver` (a strategy) over `replay` with configuration `cfg`.
pub fn run<'a, D: Driver<Sim<'a>>>(replay: &'a Replay, cfg: &SimConfig, driver: &mut D) -> Result<RunOutput> {
    run_probed(replay, cfg, driver, &mut ())
}

/// [`run`], calling `probe` after every market event.
pub fn run_probed<'a, D: Driver<Sim<'a>>, P: Probe>(
    replay: &'a Replay,
    cfg: &SimConfig,
    driver: &mut D,
    probe: &mut P,
) -> Result<RunOutput> {
    let mut sim = Sim::new(replay, cfg.clone(), driver.subscriptions())?;
    let api = api::<Sim<'a>>();
    let mut bt = Backtest {
        sim: &mut sim,
        driver,
        api: &api,
        batch: Vec::with_capacity(256),
        ubatch: Vec::with_capacity(64),
        error: None,
        probe,
    };
    // The strategy starts at the time of the first event.
    bt.sim.now = replay.tapes().iter().filter(|t| !t.is_empty()).map(|t| t.header().first_ts).min().unwrap_or(0);
    bt.sim.sync_view(bt.sim.now);
    let started = bt.driver.start(bt.api, bt.sim);
    if let Err(e) = started {
        bt.error = Some(e);
    } else {
        replay.run(&mut bt)?;
        if bt.error.is_none() {
            bt.sim.now = bt.sim.last_ts;
            bt.sim.sync_view(bt.sim.now);
            if let Err(e) = bt.driver.finish(bt.api, bt.sim) {
                bt.error = Some(e);
            }
        }
    }
    let error = bt.error.take().map(|e| e.to_string());
    Ok(sim.finish(error))
}

impl<'a> Sim<'a> {
    fn new(replay: &'a Replay, cfg: SimConfig, subscriptions: u32) -> Result<Self> {
        let n = replay.instruments().len();
        let venues: Vec<Venue> = replay
            .instruments()
            .iter()
            .map(|i| Venue {
                view: Book::with_tick(i.price_tick),
                scale: Scale::new(i.price_exponent, i.qty_exponent),
                tick: i.price_tick.max(1),
                lot: i.qty_lot.max(1),
                buys: Vec::with_capacity(16),
                sells: Vec::with_capacity(16),
                mark: f64::NAN,
                has_l2: i.has_l2,
                symbol: i.symbol.clone(),
                venue: i.venue.clone(),
                price_exponent: i.price_exponent,
                qty_exponent: i.qty_exponent,
                value_exponent: i.value_exponent,
            })
            .collect();
        // Receive times: shift each tape's by its most negative
        // (local − exchange) among its first records, an estimate of the
        // clock offset between capture host and exchange. Delivery is also
        // never earlier than the exchange time.
        let use_local = matches!(cfg.feed, LatencySpec::Local { .. });
        let channels = replay
            .tapes()
            .iter()
            .enumerate()
            .map(|(i, tape)| Channel {
                shift: (use_local && tape.header().has_local_ts()).then(|| min_local_minus_exchange(tape).min(0)),
                latency: Latency::new(&cfg.feed, cfg.seed ^ (0x100 + i as u64)),
                last: i64::MIN,
            })
            .collect();
        let wants: [bool; 8] = std::array::from_fn(|k| subscriptions & (1 << k) != 0);
        let mut cursors = Vec::new();
        let mut queued = Vec::new();
        for (i, (tape, &inst)) in replay.tapes().iter().zip(replay.tape_instruments()).enumerate() {
            let kind = tape.kind();
            let wanted = wants[kind.code() as usize];
            let source = match kind {
                RecordKind::Level if !wanted => Some(ViewSource::Levels(tape.records()?)),
                RecordKind::Quote if !wanted && !venues[inst].has_l2 => Some(ViewSource::Quotes(tape.records()?)),
                _ => None,
            };
            if let Some(source) = source {
                cursors.push(ViewCursor { tape: i, instrument: inst, source, pos: 0, head: None });
            }
            queued.push(wanted && kind != RecordKind::Fill);
        }
        if cfg.sample_ns <= 0 {
            return Err(Error::Config { what: "sample interval", why: "must be positive".into() });
        }
        let scales = venues.iter().map(|v| v.scale).collect();
        Ok(Sim {
            now: 0,
            venues,
            orders: Vec::new(),
            to_exchange: VecDeque::with_capacity(256),
            last_arrival: i64::MIN,
            updates: VecDeque::with_capacity(256),
            last_update: i64::MIN,
            feed: VecDeque::with_capacity(4096),
            channels,
            cursors,
            tape: 0,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            entry: Latency::new(&cfg.entry, cfg.seed ^ 0x01),
            response: Latency::new(&cfg.response, cfg.seed ^ 0x02),
            account: Account::new(cfg.capital, n),
            view: Account::new(cfg.capital, n),
            view_orders: BTreeMap::new(),
            scales,
            fills: Vec::new(),
            samples: Vec::new(),
            next_sample: i64::MIN,
            log: Vec::new(),
            events: 0,
            first_ts: 0,
            last_ts: 0,
            next_due: i64::MAX,
            wants,
            queued,
            cfg,
        })
    }

    fn finish(mut self, error: Option<String>) -> RunOutput {
        // Orders still open at the end are cancelled for the record.
        let end = self.last_ts;
        for o in &mut self.orders {
            if matches!(o.status, OrderStatus::Sent | OrderStatus::Open) {
                o.status = OrderStatus::Cancelled;
                o.reason = ticktape_sdk::abi::reason::END_OF_RUN;
                o.done_ts = end;
                o.leaves = 0;
            }
        }
        let instruments = self
            .venues
            .iter()
            .map(|v| Instrument {
                symbol: v.symbol.clone(),
                venue: v.venue.clone(),
                price_exponent: v.price_exponent,
                qty_exponent: v.qty_exponent,
                value_exponent: v.value_exponent,
                price_tick: v.tick,
                qty_lot: v.lot,
                has_l2: false,
            })
            .collect();
        RunOutput {
            instruments,
            orders: self.orders,
            fills: self.fills,
            samples: self.samples,
            account: self.account,
            log: self.log,
            events: self.events,
            span: (self.first_ts, self.last_ts),
            error,
            config: self.cfg,
        }
    }

    fn fee(&self, inst: usize, price: i64, qty: i64, maker: bool) -> f64 {
        let s = self.scales[inst];
        let bps = if maker { self.cfg.maker_fee_bps } else { self.cfg.taker_fee_bps };
        price as f64 * s.px * qty as f64 * s.qx * bps * 1e-4
    }

    /// Sends an update toward the strategy (FIFO after the response latency).
    fn respond(&mut self, mut u: OrderUpdate) {
        let t = (u.exchange_ts + self.response.sample()).max(self.last_update);
        self.last_update = t;
        u.ts = t;
        self.next_due = self.next_due.min(t);
        self.updates.push_back(u);
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
            .zip(&self.scales)
            .map(|((v, b), s)| match self.cfg.mark {
                MarkSource::Mark if !v.mark.is_nan() => v.mark,
                _ => b.mid().map_or(f64::NAN, |m| m * s.px),
            })
            .collect()
    }

    fn sample(&mut self, ts: i64, books: &[Book]) {
        let marks = self.marks(books);
        let (realized, fees, funding, _) = self.account.totals();
        self.samples.push(Sample {
            ts,
            equity: self.account.equity(&self.scales, &marks),
            cash: self.account.cash,
            realized,
            unrealized: self.account.unrealized(&self.scales, &marks),
            fees,
            funding,
            positions: self.account.positions.iter().map(|p| p.qty).collect(),
            marks,
        });
    }

    /// Brings the strategy's view of the books up to local time `t`: applies
    /// every record of the view cursors delivered at or before `t`.
    #[inline]
    fn sync_view(&mut self, t: i64) {
        if !self.cursors.is_empty() {
            self.sync_cursors(t);
        }
    }

    fn sync_cursors(&mut self, t: i64) {
        for c in &mut self.cursors {
            let ch = &mut self.channels[c.tape];
            let view = &mut self.venues[c.instrument].view;
            match c.source {
                ViewSource::Levels(recs) => c.pos = advance(recs, c.pos, &mut c.head, ch, t, |r| view.apply(r)),
                ViewSource::Quotes(recs) => c.pos = advance(recs, c.pos, &mut c.head, ch, t, |r| view.apply_quote(r)),
            }
        }
    }
}

/// Applies `recs[pos..]` while delivered by `t`; returns the new position.
/// `head` caches the delivery time of the record at `pos` (drawn once).
fn advance<R: ticktape_tape::Record>(
    recs: &[R],
    mut pos: usize,
    head: &mut Option<i64>,
    ch: &mut Channel,
    t: i64,
    mut apply: impl FnMut(&R),
) -> usize {
    while let Some(r) = recs.get(pos) {
        let s = r.stamp();
        let d = *head.get_or_insert_with(|| ch.delivery(s.exchange, s.local));
        if d > t {
            break;
        }
        apply(r);
        pos += 1;
        *head = None;
    }
    pos
}

/// Records of each tape used to estimate its clock offset.
const OFFSET_SAMPLE: usize = 100_000;

/// Smallest `ts.local − ts.exchange` over a tape's first [`OFFSET_SAMPLE`]
/// records (0 for an empty tape).
fn min_local_minus_exchange(tape: &ticktape_tape::Tape) -> i64 {
    fn min_of<R: ticktape_tape::Record>(t: &ticktape_tape::Tape) -> i64 {
        t.records::<R>()
            .map(|rs| rs.iter().take(OFFSET_SAMPLE).map(|r| r.stamp().local - r.stamp().exchange).min().unwrap_or(0))
            .unwrap_or(0)
    }
    match tape.kind() {
        RecordKind::Trade => min_of::<ticktape_tape::Trade>(tape),
        RecordKind::Level => min_of::<ticktape_tape::Level>(tape),
        RecordKind::Quote => min_of::<ticktape_tape::Quote>(tape),
        RecordKind::Funding => min_of::<ticktape_tape::Funding>(tape),
        RecordKind::Bar => min_of::<ticktape_tape::Bar>(tape),
        RecordKind::Series => min_of::<ticktape_tape::Series>(tape),
        RecordKind::Fill => min_of::<ticktape_tape::Fill>(tape),
    }
}

/// The replay handler that runs the simulation and calls the strategy.
struct Backtest<'s, 'a, D, P> {
    sim: &'s mut Sim<'a>,
    driver: &'s mut D,
    api: &'s HostApi,
    batch: Vec<EventRef>,
    ubatch: Vec<OrderUpdate>,
    error: Option<PluginError>,
    probe: &'s mut P,
}

impl<'a, D: Driver<Sim<'a>>, P: Probe> Backtest<'_, 'a, D, P> {
    /// Processes every queued item due before `limit` (exclusive), in time
    /// order; exchange arrivals match against `books`.
    fn process_due(&mut self, limit: i64, books: &[Book]) {
        loop {
            let s = &*self.sim;
            let ta = s.to_exchange.front().map_or(i64::MAX, |a| a.0);
            let tu = s.updates.front().map_or(i64::MAX, |u| u.ts);
            let tf = s.feed.front().map_or(i64::MAX, |p| p.ts);
            let tt = s.timers.peek().map_or(i64::MAX, |t| t.0.0);
            let t = ta.min(tu).min(tf).min(tt);
            if t >= limit || self.error.is_some() {
                self.sim.next_due = t;
                return;
            }
            if ta == t {
                let (ts, action) = self.sim.to_exchange.pop_front().expect("non-empty");
                self.sim.arrive(ts, action, books);
            } else if tf == t {
                // Market data flows until an arrival is due (arrivals go first at
                // equal times); updates and timers at the same time come after it.
                self.deliver_feed(ta.min(limit), tu.min(tt));
            } else if tu == t {
                self.deliver_updates(t);
            } else {
                let Reverse((at, _, token)) = self.sim.timers.pop().expect("non-empty");
                self.sim.now = at;
                self.sim.sync_view(at);
                if let Err(e) = self.driver.timer(self.api, self.sim, token) {
                    self.error = Some(e);
                }
            }
        }
    }

    fn deliver_updates(&mut self, t: i64) {
        self.ubatch.clear();
        while let Some(u) = self.sim.updates.front() {
            if u.ts != t {
                break;
            }
            let u = self.sim.updates.pop_front().expect("non-empty");
            self.sim.view_apply(&u);
            self.ubatch.push(u);
        }
        self.sim.now = t;
        self.sim.sync_view(t);
        if let Err(e) = self.driver.orders(self.api, self.sim, &self.ubatch) {
            self.error = Some(e);
        }
    }

    /// Delivers subscribed market data in batches of equal local time, while
    /// batches are due before `before` (exclusive) and not after `until`
    /// (updates and timers at the same time come after the data). Applies
    /// each event to the strategy's view of the book, calls the strategy,
    /// and returns after each call (the strategy may have queued something
    /// due earlier than the next batch).
    fn deliver_feed(&mut self, before: i64, until: i64) {
        loop {
            let Some(t) = self.sim.feed.front().map(|p| p.ts) else { return };
            if t >= before || t > until {
                return;
            }
            self.batch.clear();
            while let Some(p) = self.sim.feed.front().copied() {
                if p.ts != t {
                    break;
                }
                self.sim.feed.pop_front();
                let v = &mut self.sim.venues[p.instrument as usize];
                let (kind, record): (RecordKind, *const std::ffi::c_void) = match p.event {
                    Event::Level(r) => {
                        v.view.apply(r);
                        (RecordKind::Level, (r as *const ticktape_tape::Level).cast())
                    }
                    Event::Trade(r) => (RecordKind::Trade, (r as *const ticktape_tape::Trade).cast()),
                    Event::Quote(r) => {
                        if !v.has_l2 {
                            v.view.apply_quote(r);
                        }
                        (RecordKind::Quote, (r as *const ticktape_tape::Quote).cast())
                    }
                    Event::Funding(r) => (RecordKind::Funding, (r as *const ticktape_tape::Funding).cast()),
                    Event::Bar(r) => (RecordKind::Bar, (r as *const ticktape_tape::Bar).cast()),
                    Event::Series(r) => (RecordKind::Series, (r as *const ticktape_tape::Series).cast()),
                    Event::Fill(_) => continue,
                };
                if self.sim.wants[kind.code() as usize] {
                    self.batch.push(EventRef { kind: u32::from(kind.code()), instrument: p.instrument, ts: t, record });
                }
            }
            if !self.batch.is_empty() {
                self.sim.now = t;
                self.sim.sync_view(t);
                if let Err(e) = self.driver.events(self.api, self.sim, &self.batch) {
                    self.error = Some(e);
                }
                return;
            }
        }
    }
}

impl<'a, D: Driver<Sim<'a>>, P: Probe> Handler<'a> for Backtest<'_, 'a, D, P> {
    #[inline(always)]
    fn begin_run(&mut self, tape: usize) {
        self.sim.tape = tape;
    }

    #[inline(always)]
    fn before(&mut self, ts: i64, books: &[Book]) {
        if self.sim.next_due < ts {
            self.process_due(ts, books);
        }
    }

    fn end(&mut self, books: &[Book]) {
        if self.sim.events == 0 {
            return;
        }
        // Everything due up to the last event's time still happens.
        if self.error.is_none() {
            self.process_due(self.sim.last_ts.saturating_add(1), books);
        }
        // A final sample at the last event, so metrics cover the whole run.
        let last = self.sim.last_ts;
        if self.sim.samples.last().is_none_or(|s| s.ts < last) {
            self.sim.sample(last, books);
        }
    }

    #[inline]
    fn on_event(&mut self, instrument: usize, event: Event<'a>, books: &[Book]) {
        self.probe.event();
        let sim = &mut *self.sim;
        let te = event.ts_exchange();
        if sim.events == 0 {
            sim.first_ts = te;
            sim.next_sample = te;
        }
        sim.events += 1;
        sim.last_ts = te;
        if te >= sim.next_sample {
            sim.sample(te, books);
            sim.next_sample = te - te.rem_euclid(sim.cfg.sample_ns) + sim.cfg.sample_ns;
        }
        let local = match event {
            Event::Trade(r) => {
                sim.on_trade(instrument, r);
                r.ts.local
            }
            Event::Level(r) => {
                if sim.cfg.fills.queue || sim.cfg.fills.book_cross {
                    sim.on_book_change(instrument, r, books);
                }
                r.ts.local
            }
            Event::Funding(r) => {
                sim.on_funding(instrument, r, books);
                r.ts.local
            }
            Event::Quote(r) => r.ts.local,
            Event::Bar(r) => r.ts.local,
            Event::Series(r) => r.ts.local,
            Event::Fill(_) => return,
        };
        if !sim.queued[sim.tape] {
            return;
        }
        let t = sim.channels[sim.tape].delivery(te, local);
        sim.next_due = sim.next_due.min(t);
        sim.feed.push_back(Pending { ts: t, instrument: instrument as u32, event });
    }

    #[inline(always)]
    fn stop(&self) -> bool {
        self.error.is_some()
    }
}

impl Sim<'_> {
    fn on_funding(&mut self, inst: usize, f: &ticktape_tape::Funding, books: &[Book]) {
        let s = self.scales[inst];
        if f.mark_price != UNDEF {
            self.venues[inst].mark = f.mark_price as f64 * s.px;
        }
        if f.flags & funding_flags::SETTLEMENT != 0 && f.funding_rate != UNDEF {
            let rate = f.funding_rate as f64 * 10f64.powi(i32::from(self.venues[inst].value_exponent));
            let mark = if !self.venues[inst].mark.is_nan() {
                self.venues[inst].mark
            } else {
                books[inst].mid().map_or(f64::NAN, |m| m * s.px)
            };
            if !mark.is_nan() {
                self.account.funding(inst, s, mark, rate);
            }
        }
    }

    /// The strategy's view: applies an update it receives.
    fn view_apply(&mut self, u: &OrderUpdate) {
        match u.kind {
            update_kind::ACCEPTED => {
                if let Some(o) = self.view_orders.get_mut(&u.order_id) {
                    o.acked = 1;
                }
            }
            update_kind::FILLED => {
                let i = u.instrument as usize;
                let side = if u.side == side::BUY { 1 } else { -1 };
                self.view.fill(i, self.scales[i], side, u.price, u.qty, u.fee);
                if u.leaves_qty == 0 {
                    self.view_orders.remove(&u.order_id);
                } else if let Some(o) = self.view_orders.get_mut(&u.order_id) {
                    o.leaves_qty = u.leaves_qty;
                }
            }
            update_kind::REPLACED => {
                if let Some(o) = self.view_orders.get_mut(&u.order_id) {
                    o.price = u.price;
                    o.leaves_qty = u.leaves_qty;
                }
            }
            update_kind::CANCELLED => {
                self.view_orders.remove(&u.order_id);
            }
            update_kind::REJECTED => {
                // A rejected new order is gone; a rejected cancel or replace
                // leaves the order as it was, unless the exchange no longer
                // knows it.
                let gone = self.orders.get(u.order_id as usize - 1).is_none_or(|o| o.is_done());
                if gone {
                    self.view_orders.remove(&u.order_id);
                }
            }
            _ => {}
        }
    }

    fn send(&mut self, action: Action) {
        let t = (self.now + self.entry.sample()).max(self.last_arrival);
        self.last_arrival = t;
        self.next_due = self.next_due.min(t);
        self.to_exchange.push_back((t, action));
    }
}

impl Host for Sim<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn instrument_count(&self) -> u32 {
        self.venues.len() as u32
    }

    fn instrument(&self, i: u32) -> Option<InstrumentInfo> {
        let v = self.venues.get(i as usize)?;
        Some(InstrumentInfo {
            symbol: StrRef::new(&v.symbol),
            venue: StrRef::new(&v.venue),
            price_exponent: v.price_exponent,
            qty_exponent: v.qty_exponent,
            value_exponent: v.value_exponent,
            reserved: [0; 5],
            price_tick: v.tick,
            qty_lot: v.lot,
        })
    }

    fn submit(&mut self, req: &OrderRequest) -> u64 {
        if req.instrument as usize >= self.venues.len() {
            return 0;
        }
        let id = self.orders.len() as u64 + 1;
        self.orders.push(Order::new(id, req, self.now));
        self.view_orders.insert(
            id,
            OrderInfo {
                order_id: id,
                tag: req.tag,
                instrument: req.instrument,
                side: req.side,
                kind: req.kind,
                tif: req.tif,
                acked: 0,
                price: req.price,
                leaves_qty: req.qty,
            },
        );
        self.send(Action::New(id as usize - 1));
        id
    }

    fn cancel(&mut self, order_id: u64) -> bool {
        if !self.view_orders.contains_key(&order_id) {
            return false;
        }
        self.send(Action::Cancel(order_id));
        true
    }

    fn cancel_all(&mut self, instrument: u32) {
        let ids: Vec<u64> = self
            .view_orders
            .values()
            .filter(|o| instrument == u32::MAX || o.instrument == instrument)
            .map(|o| o.order_id)
            .collect();
        for id in ids {
            self.send(Action::Cancel(id));
        }
    }

    fn replace(&mut self, order_id: u64, price: i64, qty: i64) -> bool {
        if !self.view_orders.contains_key(&order_id) {
            return false;
        }
        self.send(Action::Replace(order_id, price, qty));
        true
    }

    fn set_timer(&mut self, at: i64, token: u64) {
        self.timer_seq += 1;
        let at = at.max(self.now);
        self.next_due = self.next_due.min(at);
        self.timers.push(Reverse((at, self.timer_seq, token)));
    }

    fn best(&self, instrument: u32, side_code: u8) -> Option<(i64, i64)> {
        let v = self.venues.get(instrument as usize)?;
        match side_code {
            side::BID => v.view.best_bid(),
            side::ASK => v.view.best_ask(),
            _ => None,
        }
    }

    fn depth(&self, instrument: u32, side_code: u8, n: u32) -> i64 {
        let Some(v) = self.venues.get(instrument as usize) else { return 0 };
        match side_code {
            side::BID => v.view.bid_depth(n as usize),
            side::ASK => v.view.ask_depth(n as usize),
            _ => 0,
        }
    }

    fn micro_price(&self, instrument: u32) -> f64 {
        self.venues.get(instrument as usize).and_then(|v| v.view.micro_price()).unwrap_or(f64::NAN)
    }

    fn position(&self, instrument: u32) -> Option<PositionInfo> {
        let p = self.view.positions.get(instrument as usize)?;
        let s = self.scales[instrument as usize];
        Some(PositionInfo { position: p.qty, avg_entry: p.avg_entry / s.px, realized_pnl: p.realized, fees: p.fees })
    }

    fn open_orders(&self, out: &mut [OrderInfo]) -> usize {
        for (slot, o) in out.iter_mut().zip(self.view_orders.values()) {
            *slot = *o;
        }
        self.view_orders.len()
    }

    fn equity(&self) -> f64 {
        let marks: Vec<f64> =
            self.venues.iter().zip(&self.scales).map(|(v, s)| v.view.mid().map_or(f64::NAN, |m| m * s.px)).collect();
        self.view.equity(&self.scales, &marks)
    }

    fn log(&mut self, level: u32, msg: &str) {
        let level = level.clamp(log_level::ERROR, log_level::DEBUG);
        self.log.push(LogLine { ts: self.now, level, text: msg.to_owned() });
    }
}
