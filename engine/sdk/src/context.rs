//! What a strategy can do and see during a callback.

use crate::abi::{
    BookTopInfo, HostApi, HostCtx, InstrumentInfo, OrderInfo, OrderRequest, PositionInfo, StrRef, log_level,
    order_kind, status, tif,
};
use ticktape_tape::side;

/// An order id, as returned by [`Context::submit`]. Never 0.
pub type OrderId = u64;

/// Facts about one instrument of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Index of the instrument in the run (what events carry).
    pub index: u32,
    /// Symbol.
    pub symbol: String,
    /// Venue.
    pub venue: String,
    /// Decimal exponent of prices: price = value × 10^price_exponent.
    pub price_exponent: i8,
    /// Decimal exponent of quantities.
    pub qty_exponent: i8,
    /// Decimal exponent of money amounts, rates and series values.
    pub value_exponent: i8,
    /// Tick in price units (≥ 1).
    pub price_tick: i64,
    /// Lot in quantity units (≥ 1).
    pub qty_lot: i64,
}

impl Instrument {
    /// A price in price units as a decimal number.
    pub fn price_to_f64(&self, price: i64) -> f64 {
        price as f64 * 10f64.powi(i32::from(self.price_exponent))
    }
    /// A quantity in quantity units as a decimal number.
    pub fn qty_to_f64(&self, qty: i64) -> f64 {
        qty as f64 * 10f64.powi(i32::from(self.qty_exponent))
    }
    /// The nearest tick-grid price at or below `price` (price units).
    pub fn floor_to_tick(&self, price: f64) -> i64 {
        (price / self.price_tick as f64).floor() as i64 * self.price_tick
    }
    /// The nearest tick-grid price at or above `price` (price units).
    pub fn ceil_to_tick(&self, price: f64) -> i64 {
        (price / self.price_tick as f64).ceil() as i64 * self.price_tick
    }
}

/// The top of a book ([`Context::book_top`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookTop {
    /// Best bid `(price, qty)`, `None` for an empty side.
    pub bid: Option<(i64, i64)>,
    /// Best ask `(price, qty)`.
    pub ask: Option<(i64, i64)>,
    /// Sum of the best `levels` bid levels' quantities.
    pub bid_depth: i64,
    /// Sum of the best `levels` ask levels' quantities.
    pub ask_depth: i64,
}

/// Which side of an order or the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy / bid.
    Buy,
    /// Sell / ask.
    Sell,
}

impl Side {
    /// The tape side code.
    pub fn code(self) -> u8 {
        match self {
            Side::Buy => side::BUY,
            Side::Sell => side::SELL,
        }
    }
    /// The side for a tape side code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            side::BUY => Some(Side::Buy),
            side::SELL => Some(Side::Sell),
            _ => None,
        }
    }
    /// +1 for buys, -1 for sells.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// The strategy's handle on the host during one callback.
///
/// Orders are sent to the simulated exchange and arrive late by the entry
/// latency; what the strategy reads (book, position, open orders, equity)
/// is its own view, late by the feed and response latencies.
#[derive(Debug)]
pub struct Context<'a> {
    host: &'a HostApi,
    ctx: HostCtx,
    /// Set by [`Context::fail`]: the run stops with it after the callback.
    failure: Option<String>,
}

impl<'a> Context<'a> {
    /// Wraps the host table and context handed to a callback.
    ///
    /// # Safety
    ///
    /// `host` must point to a valid [`HostApi`] whose functions accept `ctx`,
    /// both valid for `'a` (the duration of the callback).
    pub unsafe fn from_raw(host: *const HostApi, ctx: HostCtx) -> Self {
        // SAFETY: the caller guarantees `host` is valid for 'a.
        let host = unsafe { &*host };
        Context { host, ctx, failure: None }
    }

    /// Stops the run with an error: once this callback returns, the host
    /// ends the run and reports `strategy NAME failed in CALLBACK (status
    /// 3): MESSAGE` (results cover the run up to then). For an input the
    /// strategy cannot work with (e.g. bars of another interval than its
    /// configuration names), found only once the data arrives; make the
    /// message one line saying what is wrong and what to do. The first
    /// failure of a callback wins.
    pub fn fail(&mut self, message: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(message.into());
        }
    }

    /// The failure set by [`Context::fail`] during this callback, taken (the
    /// SDK's exported glue and native drivers call it after each callback).
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// The strategy's clock (local time), ns since the epoch.
    pub fn now(&self) -> i64 {
        // SAFETY: `host` and `ctx` are valid for this callback (from_raw's contract).
        unsafe { (self.host.now)(self.ctx) }
    }

    /// Number of instruments in the run.
    pub fn instrument_count(&self) -> u32 {
        // SAFETY: as in `now`.
        unsafe { (self.host.instrument_count)(self.ctx) }
    }

    /// Facts about instrument `i`.
    pub fn instrument(&self, i: u32) -> Option<Instrument> {
        let mut info = InstrumentInfo {
            symbol: StrRef::empty(),
            venue: StrRef::empty(),
            price_exponent: 0,
            qty_exponent: 0,
            value_exponent: 0,
            reserved: [0; 5],
            price_tick: 1,
            qty_lot: 1,
        };
        // SAFETY: as in `now`; `info` is a valid place to write.
        if unsafe { (self.host.instrument)(self.ctx, i, &mut info) } != status::OK {
            return None;
        }
        Some(Instrument {
            index: i,
            // SAFETY: the host keeps instrument strings alive for the whole run.
            symbol: unsafe { info.symbol.as_str() }.into_owned(),
            // SAFETY: as above.
            venue: unsafe { info.venue.as_str() }.into_owned(),
            price_exponent: info.price_exponent,
            qty_exponent: info.qty_exponent,
            value_exponent: info.value_exponent,
            price_tick: info.price_tick,
            qty_lot: info.qty_lot,
        })
    }

    /// Instrument with this symbol, if in the run.
    pub fn find_instrument(&self, symbol: &str) -> Option<Instrument> {
        (0..self.instrument_count()).filter_map(|i| self.instrument(i)).find(|i| i.symbol == symbol)
    }

    /// Sends an order; returns its id. The exchange answers with an
    /// accepted or rejected update after the round trip.
    pub fn submit(&mut self, req: OrderRequest) -> OrderId {
        // SAFETY: as in `now`; `req` outlives the call.
        unsafe { (self.host.submit)(self.ctx, &req) }
    }

    /// A good-till-cancelled limit order.
    pub fn limit(&mut self, instrument: u32, side: Side, price: i64, qty: i64, tag: u64) -> OrderId {
        self.submit(OrderRequest {
            instrument,
            side: side.code(),
            kind: order_kind::LIMIT,
            tif: tif::GTC,
            reserved: 0,
            price,
            qty,
            tag,
        })
    }

    /// A post-only limit order: rejected if it would execute on arrival.
    pub fn post_only(&mut self, instrument: u32, side: Side, price: i64, qty: i64, tag: u64) -> OrderId {
        self.submit(OrderRequest {
            instrument,
            side: side.code(),
            kind: order_kind::LIMIT,
            tif: tif::POST_ONLY,
            reserved: 0,
            price,
            qty,
            tag,
        })
    }

    /// An immediate-or-cancel limit order.
    pub fn ioc(&mut self, instrument: u32, side: Side, price: i64, qty: i64, tag: u64) -> OrderId {
        self.submit(OrderRequest {
            instrument,
            side: side.code(),
            kind: order_kind::LIMIT,
            tif: tif::IOC,
            reserved: 0,
            price,
            qty,
            tag,
        })
    }

    /// A market order.
    pub fn market(&mut self, instrument: u32, side: Side, qty: i64, tag: u64) -> OrderId {
        self.submit(OrderRequest {
            instrument,
            side: side.code(),
            kind: order_kind::MARKET,
            tif: tif::IOC,
            reserved: 0,
            price: 0,
            qty,
            tag,
        })
    }

    /// Requests cancellation; false if the id is unknown to the strategy.
    pub fn cancel(&mut self, order: OrderId) -> bool {
        // SAFETY: as in `now`.
        unsafe { (self.host.cancel)(self.ctx, order) == status::OK }
    }

    /// Requests cancellation of all open orders of `instrument` (`None`: of
    /// every instrument).
    pub fn cancel_all(&mut self, instrument: Option<u32>) {
        // SAFETY: as in `now`.
        unsafe { (self.host.cancel_all)(self.ctx, instrument.unwrap_or(u32::MAX)) };
    }

    /// Requests a new price and a new open quantity for an open order (it
    /// keeps its id and loses its queue position; fills so far stand);
    /// false if the id is unknown to the strategy.
    pub fn replace(&mut self, order: OrderId, price: i64, qty: i64) -> bool {
        // SAFETY: as in `now`.
        unsafe { (self.host.replace)(self.ctx, order, price, qty) == status::OK }
    }

    /// Asks for `on_timer(token)` at local time `at` (ns).
    ///
    /// A timer at or before [`now`](Self::now) fires once, at now (after
    /// the current callback). Re-arming one at now from its own `on_timer`
    /// would loop without time advancing: more than
    /// [`MAX_TIMERS_AT_NOW`](crate::abi::MAX_TIMERS_AT_NOW) timers set at or
    /// before now at one instant stop the run with an error naming the
    /// timer's token. To wait, set `at` strictly after `ctx.now()`.
    pub fn set_timer(&mut self, at: i64, token: u64) {
        // SAFETY: as in `now`.
        unsafe { (self.host.set_timer)(self.ctx, at, token) };
    }

    fn best(&self, instrument: u32, side_code: u8) -> Option<(i64, i64)> {
        let (mut p, mut q) = (0, 0);
        // SAFETY: as in `now`; `p` and `q` are valid places to write.
        let ok = unsafe { (self.host.best)(self.ctx, instrument, side_code, &mut p, &mut q) };
        (ok == 1).then_some((p, q))
    }

    /// Best bid `(price, qty)` of the book the strategy sees.
    pub fn best_bid(&self, instrument: u32) -> Option<(i64, i64)> {
        self.best(instrument, side::BID)
    }

    /// Best ask `(price, qty)` of the book the strategy sees.
    pub fn best_ask(&self, instrument: u32) -> Option<(i64, i64)> {
        self.best(instrument, side::ASK)
    }

    /// Sum of the best `n` levels on one side.
    pub fn depth(&self, instrument: u32, side: Side, n: u32) -> i64 {
        // SAFETY: as in `now`.
        unsafe { (self.host.depth)(self.ctx, instrument, side.code(), n) }
    }

    /// Best bid and ask and the summed quantity of the best `levels` levels
    /// of each side, in one call to the host (what [`best_bid`](Self::best_bid),
    /// [`best_ask`](Self::best_ask) and two [`depth`](Self::depth) calls give;
    /// `levels = 0` skips the depths). For strategies that read the book at
    /// every trade or book message.
    #[inline]
    pub fn book_top(&self, instrument: u32, levels: u32) -> BookTop {
        let mut t = BookTopInfo::default();
        // SAFETY: as in `now`; `t` is a valid place to write.
        unsafe { (self.host.book_top)(self.ctx, instrument, levels, &mut t) };
        BookTop {
            bid: (t.has_bid != 0).then_some((t.bid_price, t.bid_qty)),
            ask: (t.has_ask != 0).then_some((t.ask_price, t.ask_qty)),
            bid_depth: t.bid_depth,
            ask_depth: t.ask_depth,
        }
    }

    /// Micro-price in price units.
    pub fn micro_price(&self, instrument: u32) -> Option<f64> {
        // SAFETY: as in `now`.
        let m = unsafe { (self.host.micro_price)(self.ctx, instrument) };
        (!m.is_nan()).then_some(m)
    }

    /// The strategy's position in `instrument`, from the fills it has been
    /// told about.
    pub fn position(&self, instrument: u32) -> PositionInfo {
        let mut p = PositionInfo::default();
        // SAFETY: as in `now`; `p` is a valid place to write.
        unsafe { (self.host.position)(self.ctx, instrument, &mut p) };
        p
    }

    /// The strategy's open orders, copied into `buf` (reused; no allocation
    /// once it is large enough).
    pub fn open_orders<'b>(&self, buf: &'b mut Vec<OrderInfo>) -> &'b [OrderInfo] {
        loop {
            let cap = buf.capacity();
            // SAFETY: as in `now`; the host writes at most `cap` entries into
            // the spare capacity and returns how many exist in total.
            let n = unsafe { (self.host.open_orders)(self.ctx, buf.as_mut_ptr(), cap) };
            if n <= cap {
                // SAFETY: the host initialised the first `n <= cap` entries.
                unsafe { buf.set_len(n) };
                return buf;
            }
            buf.reserve(n);
        }
    }

    /// Account equity in quote currency as the strategy knows it.
    pub fn equity(&self) -> f64 {
        // SAFETY: as in `now`.
        unsafe { (self.host.equity)(self.ctx) }
    }

    /// Writes a line to the run's strategy log.
    pub fn log(&self, level: u32, msg: &str) {
        // SAFETY: as in `now`; `msg` outlives the call.
        unsafe { (self.host.log)(self.ctx, level, StrRef::new(msg)) };
    }

    /// Names an order tag for the run's attribution: the summary reports
    /// PnL, fills and maker share per tag, under this name (e.g. the signal
    /// that places orders with the tag). Call it once, in `on_start`; false
    /// if the name is empty or longer than
    /// [`MAX_TAG_NAME`](crate::abi::MAX_TAG_NAME) bytes.
    pub fn name_tag(&mut self, tag: u64, name: &str) -> bool {
        // SAFETY: as in `now`; `name` outlives the call.
        unsafe { (self.host.name_tag)(self.ctx, tag, StrRef::new(name)) == status::OK }
    }

    /// Names series `series` of [`record`](Self::record) (its name in the
    /// results' `series.parquet`); false as for [`name_tag`](Self::name_tag).
    pub fn name_series(&mut self, series: u32, name: &str) -> bool {
        // SAFETY: as in `now`; `name` outlives the call.
        unsafe { (self.host.name_series)(self.ctx, series, StrRef::new(name)) == status::OK }
    }

    /// Records `value` of series `series` at time `ts` (ns): it lands in the
    /// results' `series.parquet` (columns `ts, series, value`), e.g. a
    /// signal, to study beside the fills. The host keeps every point until
    /// the run ends (16 bytes each): record what you will read.
    pub fn record(&mut self, series: u32, ts: i64, value: f64) {
        // SAFETY: as in `now`.
        unsafe { (self.host.record)(self.ctx, series, ts, value) };
    }

    /// Puts figure `name` = `value` into the run's summary: `summary.json`
    /// (`strategy_figures`, by name; a value that is not finite is `null`)
    /// and the summary `ticktape run` prints. For what the strategy computes
    /// about itself, e.g. a tracking error in `on_finish`. The last value
    /// given to a name wins; false if the name is empty or longer than
    /// [`MAX_TAG_NAME`](crate::abi::MAX_TAG_NAME) bytes.
    pub fn summary_figure(&mut self, name: &str, value: f64) -> bool {
        // SAFETY: as in `now`; `name` outlives the call.
        unsafe { (self.host.summary_figure)(self.ctx, StrRef::new(name), value) == status::OK }
    }

    /// Logs at info level.
    pub fn info(&self, msg: &str) {
        self.log(log_level::INFO, msg);
    }

    /// Logs at warning level.
    pub fn warn(&self, msg: &str) {
        self.log(log_level::WARN, msg);
    }
}
