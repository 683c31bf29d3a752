//! Deterministic synthetic markets: trades and L2 updates that are
//! consistent with each other (every trade consumes the book it prints
//! against), for tests, demos and benchmarks.
//!
//! The model, per instrument:
//! - a two-sided book of `DEPTH` price levels per side on the tick grid, level
//!   sizes following a depth profile that grows away from the touch, with
//!   log-normal noise and holes;
//! - a latent momentum signal (AR(1)) that tilts the aggressor side, so the
//!   price trends for a while and then reverts;
//! - a two-state volatility regime (calm, burst) that multiplies the message
//!   rate, the share of trades and their sizes and thins the book;
//! - taker orders with Pareto (heavy-tailed) sizes that arrive in bursts and
//!   sweep through levels when large, printing one trade per level and
//!   moving the price;
//! - book messages (batches of 1–5 level updates, mostly at or near the
//!   touch) that modify sizes, cancel levels and improve the spread.
//!
//! With [`SynthConfig::quotes`] the book is published as a best bid/offer
//! tape instead: one quote per book message (the touch after the message),
//! as a bookTicker feed would, so the quote-driven book path can be measured
//! against the L2 one at the same event count.
//!
//! The same seed, instruments and event count give byte-identical tapes on
//! any machine and thread count: each instrument draws from its own
//! xoshiro256++ stream derived from the seed and its position in the list.

use std::collections::VecDeque;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal, Pareto, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use ticktape_tape::{Level, Quote, RecordKind, Stamp, TapeMeta, TapeSummary, TapeWriter, Trade, level_flags, side};

use crate::error::{Error, Result};

/// Price levels kept per side.
const DEPTH: usize = 50;

/// One synthetic instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct SymbolSpec {
    /// Symbol written to the tape headers.
    pub symbol: String,
    /// Starting mid price in human units.
    pub mid: f64,
    /// Decimal exponent of prices.
    pub price_exponent: i8,
    /// Tick in price units.
    pub tick: i64,
    /// Decimal exponent of quantities.
    pub qty_exponent: i8,
    /// Lot in quantity units.
    pub lot: i64,
    /// Mean size of the touch level, in lots.
    pub touch_lots: f64,
}

impl SymbolSpec {
    /// A spec resembling the named Binance USD-M perpetual (BTCUSDT, ETHUSDT,
    /// SOLUSDT); any other name gets a generic 100-dollar instrument.
    pub fn preset(symbol: &str) -> Self {
        let (mid, price_exponent, tick, qty_exponent, lot, touch_lots) = match symbol {
            "BTCUSDT" => (60_000.0, -2, 10, -3, 1, 2_000.0),
            "ETHUSDT" => (3_000.0, -2, 1, -3, 1, 20_000.0),
            "SOLUSDT" => (150.0, -3, 10, 0, 1, 300.0),
            _ => (100.0, -4, 10, -1, 1, 1_000.0),
        };
        SymbolSpec { symbol: symbol.to_owned(), mid, price_exponent, tick, qty_exponent, lot, touch_lots }
    }

    fn meta(&self, venue: &str) -> TapeMeta {
        TapeMeta {
            symbol: self.symbol.clone(),
            venue: venue.to_owned(),
            price_exponent: self.price_exponent,
            qty_exponent: self.qty_exponent,
            value_exponent: -8,
            price_tick: self.tick,
            qty_lot: self.lot,
            has_local_ts: true,
        }
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    /// Instruments; events are split evenly between them.
    pub symbols: Vec<SymbolSpec>,
    /// Total number of records (trades + level updates, or trades + quotes)
    /// over all instruments.
    pub events: u64,
    /// RNG seed.
    pub seed: u64,
    /// Exchange time of the first record, ns since the epoch.
    pub start_ns: i64,
    /// Venue name in the headers.
    pub venue: String,
    /// Publish the book as quotes (best bid/offer, one per book message)
    /// instead of L2 level updates.
    pub quotes: bool,
    /// Scales the chance that a step is a taker burst rather than a book
    /// message: 1.0 is the default mix (about 4.3 book updates per trade),
    /// smaller values give more book updates per trade (0.4: about 10, the
    /// mix of seed 002's week). In (0, 2.5].
    pub trade_rate: f64,
}

impl SynthConfig {
    /// Defaults: BTCUSDT only, seed 42, starting 2024-05-01 00:00:00 UTC.
    pub fn new(events: u64) -> Self {
        SynthConfig {
            symbols: vec![SymbolSpec::preset("BTCUSDT")],
            events,
            seed: 42,
            start_ns: 1_714_521_600_000_000_000,
            venue: "synthetic".to_owned(),
            quotes: false,
            trade_rate: 1.0,
        }
    }
}

/// Generates one trades tape and one L2 (or quotes) tape per instrument in
/// `out_dir` (named by [`TapeMeta::file_name`]); instruments run on parallel
/// threads. Returns the summaries in instrument order, trades before book.
pub fn generate(cfg: &SynthConfig, out_dir: &Path) -> Result<Vec<TapeSummary>> {
    if cfg.symbols.is_empty() {
        return Err(Error::Config { what: "symbols", why: "at least one symbol is needed".into() });
    }
    if !(cfg.trade_rate > 0.0 && cfg.trade_rate <= 2.5) {
        return Err(Error::Config {
            what: "trade rate",
            why: format!(
                "{} is outside (0, 2.5]; give 1 for the default mix, 0.4 for about 10 book updates per trade",
                cfg.trade_rate
            ),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &cfg.symbols {
        if s.symbol.is_empty() || !seen.insert(s.symbol.as_str()) {
            return Err(Error::Config {
                what: "symbols",
                why: format!("{:?} is empty or given twice; name each symbol once (e.g. BTCUSDT,ETHUSDT)", s.symbol),
            });
        }
        if s.tick <= 0
            || s.lot <= 0
            || !s.mid.is_finite()
            || s.mid <= 0.0
            || !(s.touch_lots.is_finite() && s.touch_lots >= 1.0)
        {
            return Err(Error::Config {
                what: "symbol spec",
                why: format!("{}: tick, lot, mid must be positive and touch size at least 1 lot", s.symbol),
            });
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Io {
        path: out_dir.to_path_buf(),
        action: "create folder",
        source,
    })?;
    let n = cfg.symbols.len() as u64;
    let results: Vec<Result<Vec<TapeSummary>>> = crossbeam::thread::scope(|scope| {
        let handles: Vec<_> = cfg
            .symbols
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let events = cfg.events / n + u64::from((i as u64) < cfg.events % n);
                let seed = split_mix(cfg.seed ^ split_mix(i as u64 + 1));
                scope.spawn(move |_| generate_one(spec, cfg, events, seed, out_dir))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
    .unwrap_or_else(|p| std::panic::resume_unwind(p));
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn split_mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn generate_one(spec: &SymbolSpec, cfg: &SynthConfig, events: u64, seed: u64, dir: &Path) -> Result<Vec<TapeSummary>> {
    let meta = spec.meta(&cfg.venue);
    let trades = TapeWriter::<Trade>::create(dir.join(meta.file_name(RecordKind::Trade)), &meta)?;
    let book = if cfg.quotes {
        BookSink::Quotes(TapeWriter::create(dir.join(meta.file_name(RecordKind::Quote)), &meta)?)
    } else {
        BookSink::Levels(TapeWriter::create(dir.join(meta.file_name(RecordKind::Level)), &meta)?)
    };
    let mut m = Market::new(spec, seed, cfg.start_ns, trades, book);
    m.trade_rate = cfg.trade_rate;
    m.snapshot()?;
    while m.emitted < events {
        m.step()?;
    }
    let Market { trades, book, .. } = m;
    let book = match book {
        BookSink::Levels(w) => w.finish()?,
        BookSink::Quotes(w) => w.finish()?,
    };
    Ok(vec![trades.finish()?, book])
}

/// Where book messages go: L2 level updates, or one quote per message.
enum BookSink {
    Levels(TapeWriter<Level>),
    Quotes(TapeWriter<Quote>),
}

struct Market<'a> {
    spec: &'a SymbolSpec,
    rng: Xoshiro256PlusPlus,
    /// `bids[d]` is the size in lots `d` ticks below the best bid; `bids[0] > 0`.
    bids: VecDeque<i64>,
    /// `asks[d]` is the size in lots `d` ticks above the best ask; `asks[0] > 0`.
    asks: VecDeque<i64>,
    bid_tick: i64,
    ask_tick: i64,
    t: i64,
    local_lag: i64,
    burst: bool,
    /// [`SynthConfig::trade_rate`].
    trade_rate: f64,
    alpha: f64,
    trade_id: u64,
    emitted: u64,
    batch: Vec<Level>,
    trades: TapeWriter<Trade>,
    book: BookSink,
    gap: Exp<f64>,
    noise: LogNormal<f64>,
    lag: LogNormal<f64>,
    size: Pareto<f64>,
}

impl<'a> Market<'a> {
    fn new(spec: &'a SymbolSpec, seed: u64, start_ns: i64, trades: TapeWriter<Trade>, book: BookSink) -> Self {
        let mid_ticks = (spec.mid * 10f64.powi(-i32::from(spec.price_exponent)) / spec.tick as f64).round() as i64;
        let mid_ticks = mid_ticks.max(DEPTH as i64 * 4);
        let size_scale = (spec.touch_lots / 300.0).max(1.0);
        Market {
            spec,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            bids: VecDeque::with_capacity(DEPTH * 2),
            asks: VecDeque::with_capacity(DEPTH * 2),
            bid_tick: mid_ticks - 1,
            ask_tick: mid_ticks,
            t: start_ns,
            local_lag: 0,
            burst: false,
            trade_rate: 1.0,
            alpha: 0.0,
            trade_id: 1,
            emitted: 0,
            batch: Vec::with_capacity(DEPTH * 4),
            trades,
            book,
            // Mean gap between messages in calm markets: 250 µs.
            gap: Exp::new(1.0 / 250_000.0).expect("valid rate"),
            noise: LogNormal::new(0.0, 0.5).expect("valid sigma"),
            // Feed latency: median 1.5 ms, heavy right tail.
            lag: LogNormal::new(1_500_000f64.ln(), 0.35).expect("valid sigma"),
            size: Pareto::new(size_scale, 1.3).expect("valid shape"),
        }
    }

    fn profile(&self, d: usize) -> f64 {
        let thin = if self.burst { 0.5 } else { 1.0 };
        self.spec.touch_lots * thin * (1.0 + d as f64 / 8.0)
    }

    fn draw_level(&mut self, d: usize) -> i64 {
        let x = self.profile(d) * self.noise.sample(&mut self.rng);
        (x.round() as i64).max(1)
    }

    fn price(&self, side_code: u8, d: usize) -> i64 {
        let tick = if side_code == side::BID { self.bid_tick - d as i64 } else { self.ask_tick + d as i64 };
        tick * self.spec.tick
    }

    fn push_level(&mut self, side_code: u8, d: usize, lots: i64) {
        let price = self.price(side_code, d);
        self.batch.push(Level {
            ts: Stamp { exchange: self.t, local: self.t + self.local_lag },
            price,
            qty: lots * self.spec.lot,
            side: side_code,
            flags: 0,
            reserved: [0; 6],
        });
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(last) = self.batch.last_mut() {
            last.flags |= level_flags::BATCH_END;
        }
        match &mut self.book {
            BookSink::Levels(w) => {
                for l in &self.batch {
                    w.push(l)?;
                }
                self.emitted += self.batch.len() as u64;
            }
            BookSink::Quotes(w) => {
                if let Some(last) = self.batch.last() {
                    w.push(&Quote {
                        ts: last.ts,
                        bid_price: self.bid_tick * self.spec.tick,
                        bid_qty: self.bids[0] * self.spec.lot,
                        ask_price: self.ask_tick * self.spec.tick,
                        ask_qty: self.asks[0] * self.spec.lot,
                    })?;
                    self.emitted += 1;
                }
            }
        }
        self.batch.clear();
        Ok(())
    }

    fn new_message_time(&mut self, mean_scale: f64) {
        let gap = (self.gap.sample(&mut self.rng) * mean_scale) as i64;
        self.t += gap.max(1);
        self.local_lag = self.lag.sample(&mut self.rng) as i64;
    }

    fn snapshot(&mut self) -> Result<()> {
        self.local_lag = self.lag.sample(&mut self.rng) as i64;
        for d in 0..DEPTH {
            let b = self.draw_level(d);
            let a = self.draw_level(d);
            self.bids.push_back(b);
            self.asks.push_back(a);
        }
        for d in 0..DEPTH {
            self.push_level(side::BID, d, self.bids[d]);
        }
        for d in 0..DEPTH {
            self.push_level(side::ASK, d, self.asks[d]);
        }
        for l in &mut self.batch {
            l.flags |= level_flags::SNAPSHOT;
        }
        self.batch[0].flags |= level_flags::SNAPSHOT_START;
        self.flush()
    }

    fn step(&mut self) -> Result<()> {
        // Regime switches: bursts are rare and short.
        let u: f64 = self.rng.random();
        if self.burst {
            self.burst = u >= 0.003;
        } else {
            self.burst = u < 0.0002;
        }
        let z: f64 = StandardNormal.sample(&mut self.rng);
        self.alpha = 0.998 * self.alpha + 0.06 * z;
        let speed = if self.burst { 0.2 } else { 1.0 };
        self.new_message_time(speed);
        let p_trade = (if self.burst { 0.35 } else { 0.22 }) * self.trade_rate;
        if self.rng.random::<f64>() < p_trade { self.taker_burst() } else { self.book_message() }
    }

    /// One or more taker orders in quick succession on the same side.
    fn taker_burst(&mut self) -> Result<()> {
        // Keep prices well away from zero whatever the walk does.
        let floor = self.bid_tick < DEPTH as i64 * 2;
        let p_buy = if floor { 0.9 } else { 0.5 + 0.3 * self.alpha.tanh() };
        let buy = self.rng.random::<f64>() < p_buy;
        let orders = 1 + self.geometric(if self.burst { 0.35 } else { 0.6 });
        for k in 0..orders {
            if k > 0 {
                // Follow-on orders within a few microseconds.
                self.t += 1 + (self.gap.sample(&mut self.rng) * 0.02) as i64;
            }
            let mut lots = self.size.sample(&mut self.rng);
            if self.burst {
                lots *= 2.0;
            }
            let lots = (lots.round() as i64).clamp(1, (self.spec.touch_lots * 20.0) as i64);
            self.sweep(buy, lots)?;
        }
        Ok(())
    }

    /// Executes a taker order of `lots` against the book, one trade per level.
    fn sweep(&mut self, buy: bool, mut lots: i64) -> Result<()> {
        let (book_side, taker_side) = if buy { (side::ASK, side::BUY) } else { (side::BID, side::SELL) };
        while lots > 0 {
            let resting = if buy { self.asks[0] } else { self.bids[0] };
            let take = lots.min(resting);
            let price = self.price(book_side, 0);
            self.trades.push(&Trade {
                ts: Stamp { exchange: self.t, local: self.t + self.local_lag },
                price,
                qty: take * self.spec.lot,
                trade_id: self.trade_id,
                side: taker_side,
                flags: 0,
                reserved: [0; 6],
            })?;
            self.trade_id += 1;
            self.emitted += 1;
            lots -= take;
            let left = resting - take;
            self.push_level(book_side, 0, left);
            if left > 0 {
                if buy {
                    self.asks[0] = left;
                } else {
                    self.bids[0] = left;
                }
            } else {
                self.drop_touch(book_side);
            }
        }
        self.flush()
    }

    /// Removes an emptied touch level (and any empty levels behind it): the
    /// best moves outward to the next non-empty level, and the far end is
    /// refilled (those new levels are published).
    fn drop_touch(&mut self, side_code: u8) {
        let (ladder, tick, step) = if side_code == side::BID {
            (&mut self.bids, &mut self.bid_tick, -1)
        } else {
            (&mut self.asks, &mut self.ask_tick, 1)
        };
        let mut exhausted = false;
        loop {
            ladder.pop_front();
            *tick += step;
            match ladder.front() {
                Some(&q) if q > 0 => break,
                Some(_) => {}
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        if exhausted {
            let q = self.draw_level(0);
            let ladder = if side_code == side::BID { &mut self.bids } else { &mut self.asks };
            ladder.push_back(q);
            self.push_level(side_code, 0, q);
        }
        self.refill(side_code);
    }

    fn refill(&mut self, side_code: u8) {
        loop {
            let len = if side_code == side::BID { self.bids.len() } else { self.asks.len() };
            if len >= DEPTH {
                break;
            }
            let q = self.draw_level(len);
            if side_code == side::BID {
                self.bids.push_back(q);
            } else {
                self.asks.push_back(q);
            }
            self.push_level(side_code, len, q);
        }
    }

    fn book_message(&mut self) -> Result<()> {
        let updates = 1 + self.geometric(0.55).min(4);
        for _ in 0..updates {
            let side_code = if self.rng.random::<bool>() { side::BID } else { side::ASK };
            let spread = self.ask_tick - self.bid_tick;
            if spread > 1 && self.rng.random::<f64>() < 0.6 {
                self.improve(side_code);
                continue;
            }
            let d = self.geometric(0.35).min(DEPTH - 1);
            let current = if side_code == side::BID { self.bids[d] } else { self.asks[d] };
            let new = if d == 0 {
                if self.rng.random::<f64>() < 0.04 {
                    0
                } else {
                    ((current as f64 * self.noise.sample(&mut self.rng)).round() as i64).max(1)
                }
            } else if self.rng.random::<f64>() < 0.3 {
                0
            } else {
                self.draw_level(d)
            };
            if new == current {
                continue;
            }
            self.push_level(side_code, d, new);
            if side_code == side::BID {
                self.bids[d] = new;
            } else {
                self.asks[d] = new;
            }
            if d == 0 && new == 0 {
                self.drop_touch(side_code);
            }
        }
        self.flush()
    }

    /// A new best level one tick inside the spread.
    fn improve(&mut self, side_code: u8) {
        let q = self.draw_level(0);
        if side_code == side::BID {
            self.bid_tick += 1;
            self.bids.push_front(q);
        } else {
            self.ask_tick -= 1;
            self.asks.push_front(q);
        }
        self.push_level(side_code, 0, q);
        let len = if side_code == side::BID { self.bids.len() } else { self.asks.len() };
        if len > DEPTH {
            let last = if side_code == side::BID { self.bids.pop_back() } else { self.asks.pop_back() };
            if last.is_some_and(|q| q > 0) {
                self.push_level(side_code, DEPTH, 0);
            }
        }
    }

    /// Number of failures before the first success, success probability `p`.
    fn geometric(&mut self, p: f64) -> usize {
        let mut n = 0;
        while self.rng.random::<f64>() >= p && n < 64 {
            n += 1;
        }
        n
    }
}
