//! The simulated exchange: order arrival, taker execution against the
//! visible book, resting orders and the fill rules.

use std::collections::BTreeMap;

use ticktape_sdk::abi::{OrderRequest, OrderUpdate, liquidity, order_kind, reason, tif, update_kind};
use ticktape_tape::{Level, Trade, side};

use super::{Action, FillRow, MAX_ORDER_UNITS, Sim};
use crate::book::Book;
use crate::error::Error;

/// Where a resting order sits in its side's [`Resting`] map: (priority,
/// rest sequence).
type RestKey = (i64, u64);

/// The resting orders of one side of one instrument at the exchange, in
/// price-time priority.
///
/// Keyed by (priority, sequence): the priority is the price for sells and
/// minus the price for buys, so the first entry is the best order and,
/// within a price, the one that rested first. Inserting, removing and
/// finding the best order cost O(log n); a trade visits only the orders at
/// or through its price. Prices of resting orders are in 1..=2^53 (checked
/// when the order is sent), so the negation cannot overflow.
#[derive(Debug)]
pub(super) struct Resting {
    buy: bool,
    map: BTreeMap<RestKey, usize>,
    /// Best resting price; `i64::MIN` (buys) or `i64::MAX` (sells) when
    /// empty. Cached for the check every trade makes.
    pub(super) best: i64,
}

impl Resting {
    pub(super) fn new(buy: bool) -> Self {
        Resting { buy, map: BTreeMap::new(), best: if buy { i64::MIN } else { i64::MAX } }
    }

    /// The priority of `price` on this side (wrapping, so a corrupt price
    /// gives a key no resting order has instead of a panic).
    fn priority(&self, price: i64) -> i64 {
        if self.buy { price.wrapping_neg() } else { price }
    }

    fn refresh_best(&mut self) {
        self.best = match self.map.first_key_value() {
            Some((&(k, _), _)) => self.priority(k),
            None if self.buy => i64::MIN,
            None => i64::MAX,
        };
    }

    fn insert(&mut self, price: i64, seq: u64, idx: usize) -> RestKey {
        let key = (self.priority(price), seq);
        self.map.insert(key, idx);
        self.refresh_best();
        key
    }

    fn remove(&mut self, key: RestKey) {
        self.map.remove(&key);
        self.refresh_best();
    }

    /// The best order (first in priority).
    fn first(&self) -> Option<(RestKey, usize)> {
        self.map.first_key_value().map(|(&k, &i)| (k, i))
    }

    /// The first order at or after `from` in priority.
    fn first_from(&self, from: RestKey) -> Option<(RestKey, usize)> {
        self.map.range(from..).next().map(|(&k, &i)| (k, i))
    }

    /// The orders at `price`, in time priority.
    fn at_price(&self, price: i64) -> impl Iterator<Item = usize> + '_ {
        let k = self.priority(price);
        self.map.range((k, 0)..=(k, u64::MAX)).map(|(_, &i)| i)
    }
}

/// Whether `v` is a valid order price or quantity: 1..=[`MAX_ORDER_UNITS`].
fn in_range(v: i64) -> bool {
    (1..=MAX_ORDER_UNITS).contains(&v)
}

/// What makes a request invalid whatever the market: an unknown side,
/// kind or time-in-force code, a reserved byte that is not zero, or a price
/// or quantity outside 1..=[`MAX_ORDER_UNITS`]. `None` if it is well formed.
pub(super) fn request_problem(r: &OrderRequest) -> Option<&'static str> {
    if r.side != side::BUY && r.side != side::SELL {
        return Some("unknown side code");
    }
    if r.kind != order_kind::LIMIT && r.kind != order_kind::MARKET {
        return Some("unknown order kind");
    }
    match r.tif {
        tif::GTC | tif::IOC => {}
        tif::POST_ONLY if r.kind == order_kind::LIMIT => {}
        tif::POST_ONLY => return Some("a market order cannot be post-only"),
        _ => return Some("unknown time-in-force code"),
    }
    if r.reserved != 0 {
        return Some("the reserved byte is not zero");
    }
    if !in_range(r.qty) {
        return Some("quantity not in 1..=2^53 units");
    }
    if r.kind == order_kind::LIMIT && !in_range(r.price) {
        return Some("price not in 1..=2^53 units");
    }
    None
}

/// Where an order stands at the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Sent, not yet arrived.
    Sent,
    /// Resting on the book.
    Open,
    /// Completely filled.
    Filled,
    /// Cancelled (on request, IOC remainder, end of run).
    Cancelled,
    /// Rejected on arrival.
    Rejected,
}

impl OrderStatus {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Sent => "sent",
            OrderStatus::Open => "open",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
        }
    }
}

/// One order and everything that happened to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    /// Id (1-based, in submission order).
    pub id: u64,
    /// Strategy tag.
    pub tag: u64,
    /// Instrument index.
    pub instrument: u32,
    /// Side code.
    pub side: u8,
    /// Order kind code.
    pub kind: u8,
    /// Time in force code.
    pub tif: u8,
    /// Limit price (price units; 0 for market orders).
    pub price: i64,
    /// Ordered quantity (after the last replace).
    pub qty: i64,
    /// Open quantity.
    pub leaves: i64,
    /// Filled quantity.
    pub filled: i64,
    /// Σ fill price × fill qty (price units × qty units), for the average.
    pub fill_value: f64,
    /// When the strategy sent it (local time).
    pub submit_ts: i64,
    /// When it reached the exchange (0 if it never did).
    pub arrive_ts: i64,
    /// When it was finished (filled, cancelled, rejected).
    pub done_ts: i64,
    /// Status.
    pub status: OrderStatus,
    /// Reject or cancel reason code.
    pub reason: u8,
    /// Visible quantity ahead of it at its price (queue model only; 0
    /// otherwise).
    pub queue_ahead: i64,
    /// Its key in the resting orders of its side while it rests.
    rest: Option<RestKey>,
}

impl Order {
    pub(super) fn new(id: u64, r: &OrderRequest, now: i64) -> Self {
        Order {
            id,
            tag: r.tag,
            instrument: r.instrument,
            side: r.side,
            kind: r.kind,
            tif: if r.kind == order_kind::MARKET { tif::IOC } else { r.tif },
            price: r.price,
            qty: r.qty,
            leaves: r.qty,
            filled: 0,
            fill_value: 0.0,
            submit_ts: now,
            arrive_ts: 0,
            done_ts: 0,
            status: OrderStatus::Sent,
            reason: reason::NONE,
            queue_ahead: 0,
            rest: None,
        }
    }

    /// Whether nothing can happen to it any more.
    pub fn is_done(&self) -> bool {
        matches!(self.status, OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected)
    }

    /// Average fill price (price units), NaN if unfilled.
    pub fn avg_fill_price(&self) -> f64 {
        if self.filled == 0 { f64::NAN } else { self.fill_value / self.filled as f64 }
    }

    fn is_buy(&self) -> bool {
        self.side == side::BUY
    }
}

impl Sim<'_> {
    /// An order action reaches the exchange at `ts`.
    pub(super) fn arrive(&mut self, ts: i64, action: Action, books: &[Book]) {
        match action {
            Action::New(idx) => self.arrive_new(ts, idx, books),
            Action::Cancel(id) => self.arrive_cancel(ts, id),
            Action::Replace(id, price, qty) => self.arrive_replace(ts, id, price, qty, books),
        }
    }

    pub(super) fn reject(&mut self, idx: usize, ts: i64, why: u8) {
        let o = &mut self.orders[idx];
        o.status = OrderStatus::Rejected;
        o.reason = why;
        o.done_ts = ts;
        o.leaves = 0;
        let u = self.update_for(idx, update_kind::REJECTED, ts);
        self.respond(u);
    }

    /// Checks the ranges, the grid and the limits of order `idx` at `price`
    /// and `qty` against `book`; the reason to reject, if any.
    fn check(&self, idx: usize, price: i64, qty: i64, book: &Book) -> Option<u8> {
        let o = &self.orders[idx];
        let i = o.instrument as usize;
        let v = &self.venues[i];
        let s = self.scales[i];
        let limit = o.kind == order_kind::LIMIT;
        if !in_range(qty) || (limit && !in_range(price)) {
            return Some(reason::INVALID);
        }
        if limit && price % v.tick != 0 {
            return Some(reason::PRICE_NOT_ON_TICK);
        }
        if qty % v.lot != 0 {
            return Some(reason::QTY_NOT_ON_LOT);
        }
        if let Some(max) = self.cfg.max_position {
            let pos = self.account.positions[i].qty;
            let after = pos.saturating_add(if o.is_buy() { qty } else { -qty });
            if (after as f64 * s.qx).abs() > max + 1e-12 && after.unsigned_abs() > pos.unsigned_abs() {
                return Some(reason::POSITION_LIMIT);
            }
        }
        // A market order's notional is taken at the best opposite price.
        let at = if limit {
            Some(price)
        } else if o.is_buy() {
            book.best_ask().map(|(p, _)| p)
        } else {
            book.best_bid().map(|(p, _)| p)
        };
        if let Some(p) = at
            && (p as f64 * s.px * qty as f64 * s.qx).abs() > self.cfg.notional_limit()
        {
            return Some(reason::NOTIONAL_LIMIT);
        }
        None
    }

    fn arrive_new(&mut self, ts: i64, idx: usize, books: &[Book]) {
        self.orders[idx].arrive_ts = ts;
        let (price, qty) = (self.orders[idx].price, self.orders[idx].qty);
        let o = &self.orders[idx];
        let i = o.instrument as usize;
        let book = &books[i];
        if let Some(why) = self.check(idx, price, qty, book) {
            return self.reject(idx, ts, why);
        }
        let crosses = match (o.kind, o.is_buy()) {
            (order_kind::MARKET, _) => true,
            (_, true) => book.best_ask().is_some_and(|(a, _)| price >= a),
            (_, false) => book.best_bid().is_some_and(|(b, _)| price <= b),
        };
        if crosses && o.tif == tif::POST_ONLY {
            return self.reject(idx, ts, reason::POST_ONLY_WOULD_CROSS);
        }
        if o.kind == order_kind::MARKET && !crosses_any(book, o.is_buy()) {
            return self.reject(idx, ts, reason::NO_LIQUIDITY);
        }
        self.orders[idx].status = OrderStatus::Open;
        let u = self.update_for(idx, update_kind::ACCEPTED, ts);
        self.respond(u);
        if crosses && !self.take(idx, ts, book) {
            return;
        }
        let o = &self.orders[idx];
        if o.leaves == 0 {
            return;
        }
        if o.tif == tif::IOC {
            let why = if o.filled == 0 { reason::NO_LIQUIDITY } else { reason::IOC_REMAINDER };
            return self.cancel_order(idx, ts, why);
        }
        self.rest(idx, book);
    }

    /// Executes order `idx` as taker against the visible levels, best first,
    /// up to its limit (any price for market orders). False if the account
    /// overflowed (the run stops).
    fn take(&mut self, idx: usize, ts: i64, book: &Book) -> bool {
        let o = &self.orders[idx];
        let (buy, limit, market) = (o.is_buy(), o.price, o.kind == order_kind::MARKET);
        let mut left = o.leaves;
        let levels = if buy { book.ask_levels() } else { book.bid_levels() };
        for (price, qty) in levels {
            if left == 0 || (!market && if buy { price > limit } else { price < limit }) {
                break;
            }
            let q = left.min(qty);
            if q <= 0 {
                continue;
            }
            left -= q;
            if !self.execute(idx, ts, price, q, false) {
                return false;
            }
        }
        true
    }

    /// Puts an open order on the book (price-time priority) and, with the
    /// queue model, sets its queue position.
    fn rest(&mut self, idx: usize, book: &Book) {
        let o = &self.orders[idx];
        let (i, buy, price) = (o.instrument as usize, o.is_buy(), o.price);
        if self.cfg.fills.queue {
            let ahead = if buy { level_qty(book.bid_levels(), price) } else { level_qty(book.ask_levels(), price) };
            self.orders[idx].queue_ahead = ahead;
        }
        self.rest_seq += 1;
        let v = &mut self.venues[i];
        let resting = if buy { &mut v.buys } else { &mut v.sells };
        let key = resting.insert(price, self.rest_seq, idx);
        self.orders[idx].rest = Some(key);
    }

    /// Takes order `idx` off the book, if it rests.
    fn unrest(&mut self, idx: usize) {
        let o = &mut self.orders[idx];
        if let Some(key) = o.rest.take() {
            let v = &mut self.venues[o.instrument as usize];
            let resting = if o.side == side::BUY { &mut v.buys } else { &mut v.sells };
            resting.remove(key);
        }
    }

    fn cancel_order(&mut self, idx: usize, ts: i64, why: u8) {
        let o = &mut self.orders[idx];
        o.status = OrderStatus::Cancelled;
        o.reason = why;
        o.done_ts = ts;
        o.leaves = 0;
        let u = self.update_for(idx, update_kind::CANCELLED, ts);
        self.respond(u);
    }

    fn open_index(&self, id: u64) -> Option<usize> {
        let idx = usize::try_from(id).ok()?.checked_sub(1)?;
        (self.orders.get(idx)?.status == OrderStatus::Open).then_some(idx)
    }

    /// Answers a cancel or replace for an order the exchange does not know
    /// (any more): a rejection naming the order.
    fn reject_request(&mut self, ts: i64, id: u64) {
        let (tag, instrument, side_code, price, qty) =
            match usize::try_from(id).ok().and_then(|i| self.orders.get(i.checked_sub(1)?)) {
                Some(o) => (o.tag, o.instrument, o.side, o.price, o.qty),
                None => (0, 0, side::NONE, 0, 0),
            };
        self.respond(OrderUpdate {
            ts: 0,
            exchange_ts: ts,
            order_id: id,
            tag,
            instrument,
            kind: update_kind::REJECTED,
            side: side_code,
            liquidity: liquidity::NONE,
            reason: reason::UNKNOWN_ORDER,
            price,
            qty,
            leaves_qty: 0,
            fee: 0.0,
        });
    }

    fn arrive_cancel(&mut self, ts: i64, id: u64) {
        match self.open_index(id) {
            Some(idx) => {
                self.unrest(idx);
                self.cancel_order(idx, ts, reason::REQUESTED);
            }
            None => self.reject_request(ts, id),
        }
    }

    fn arrive_replace(&mut self, ts: i64, id: u64, price: i64, qty: i64, books: &[Book]) {
        let Some(idx) = self.open_index(id) else { return self.reject_request(ts, id) };
        let o = &self.orders[idx];
        let book = &books[o.instrument as usize];
        let crosses = if o.is_buy() {
            book.best_ask().is_some_and(|(a, _)| price >= a)
        } else {
            book.best_bid().is_some_and(|(b, _)| price <= b)
        };
        let total = o.filled.checked_add(qty).filter(|&t| t <= MAX_ORDER_UNITS);
        let why = match self.check(idx, price, qty, book) {
            None if total.is_none() => Some(reason::INVALID),
            None if crosses && o.tif == tif::POST_ONLY => Some(reason::POST_ONLY_WOULD_CROSS),
            why => why,
        };
        if let Some(why) = why {
            // The order stays as it was; the request is refused.
            let mut u = self.update_for(idx, update_kind::REJECTED, ts);
            u.reason = why;
            u.price = price;
            u.qty = qty;
            self.respond(u);
            return;
        }
        self.unrest(idx);
        let o = &mut self.orders[idx];
        o.price = price;
        o.qty = total.unwrap_or(o.qty);
        o.leaves = qty;
        let u = self.update_for(idx, update_kind::REPLACED, ts);
        self.respond(u);
        if crosses && !self.take(idx, ts, book) {
            return;
        }
        if self.orders[idx].leaves > 0 {
            self.rest(idx, book);
        }
    }

    /// Books one execution of order `idx`: exchange account, fill record,
    /// update toward the strategy. False if the account cannot book it (an
    /// overflow): the run then stops with an error naming the order, and
    /// nothing of this execution is booked.
    fn execute(&mut self, idx: usize, ts: i64, price: i64, qty: i64, maker: bool) -> bool {
        let i = self.orders[idx].instrument as usize;
        let fee = self.fee(i, price, qty, maker);
        let side_sign = if self.orders[idx].is_buy() { 1 } else { -1 };
        let effect = match self.account.fill(i, self.scales[i], side_sign, price, qty, fee) {
            Ok(e) => e,
            Err(e) => {
                self.overflow(idx, ts, price, qty, e.what);
                return false;
            }
        };
        let o = &mut self.orders[idx];
        o.leaves -= qty;
        o.filled += qty;
        o.fill_value += price as f64 * qty as f64;
        if o.leaves == 0 {
            o.status = OrderStatus::Filled;
            o.done_ts = ts;
        }
        let mut u = self.update_for(idx, update_kind::FILLED, ts);
        u.liquidity = if maker { liquidity::MAKER } else { liquidity::TAKER };
        u.price = price;
        u.qty = qty;
        u.fee = fee;
        let heard = self.respond(u);
        let o = &self.orders[idx];
        self.journal.fills.push(FillRow {
            ts_exchange: ts,
            ts_local: heard,
            order_id: o.id,
            tag: o.tag,
            instrument: i as u32,
            side: side_sign,
            price,
            qty,
            maker,
            fee,
            realized: effect.realized,
            closing: effect.closing,
            position: effect.position,
        });
        true
    }

    /// Records an accounting overflow on order `idx` as the run's failure
    /// (the first one stands).
    #[cold]
    fn overflow(&mut self, idx: usize, ts: i64, price: i64, qty: i64, what: &'static str) {
        if self.fault.is_some() {
            return;
        }
        let o = &self.orders[idx];
        self.fault = Some(Error::AccountingOverflow {
            what,
            order_id: o.id,
            tag: o.tag,
            symbol: self.venues[o.instrument as usize].symbol.clone(),
            side: if o.is_buy() { "buy" } else { "sell" },
            price,
            qty,
            at: super::metrics::rfc3339(ts),
        });
    }

    /// A trade printed: fill resting orders it went through.
    #[inline]
    pub(super) fn on_trade(&mut self, inst: usize, t: &Trade) {
        let v = &self.venues[inst];
        let at_price = self.cfg.fills.touch || self.cfg.fills.queue;
        let (buy, sell) = (v.buys.best, v.sells.best);
        if t.price < buy || (at_price && t.price == buy) {
            self.fill_resting(inst, true, t);
        }
        if t.price > sell || (at_price && t.price == sell) {
            self.fill_resting(inst, false, t);
        }
    }

    /// Fills resting orders on one side hit by trade `t`, in price-time
    /// priority. A trade strictly through an order's price fills it; a trade
    /// at its price fills it only with `touch`, or, with the queue model,
    /// once the trade's volume has gone through the visible queue ahead of
    /// it. With `partial`, fills are bounded by what is left of the trade.
    ///
    /// Visits only the orders through the trade's price and, with `touch`
    /// or the queue model, those at it.
    #[cold]
    fn fill_resting(&mut self, inst: usize, buys: bool, t: &Trade) {
        if self.fault.is_some() {
            return;
        }
        let f = self.cfg.fills;
        let ts = t.ts.exchange;
        let mut available = t.qty;
        let mut from: RestKey = (i64::MIN, 0);
        loop {
            let resting = if buys { &self.venues[inst].buys } else { &self.venues[inst].sells };
            let Some((key, idx)) = resting.first_from(from) else { break };
            let o = &mut self.orders[idx];
            let through = if buys { t.price < o.price } else { t.price > o.price };
            if !through && (t.price != o.price || !(f.touch || f.queue)) {
                break; // price priority: no later order can fill either
            }
            if through && f.partial && available <= 0 {
                // Nothing left of the trade for orders through its price;
                // with the queue model the trade still moves the queue of
                // the orders at its price.
                let at = (resting.priority(t.price), 0);
                if f.queue && at > key {
                    from = at;
                    continue;
                }
                break;
            }
            let mut q = if through {
                o.leaves
            } else if f.queue {
                let beyond = t.qty - o.queue_ahead;
                o.queue_ahead = (o.queue_ahead - t.qty).max(0);
                if beyond > 0 && f.partial {
                    beyond.min(o.leaves)
                } else if beyond > 0 {
                    o.leaves
                } else {
                    0
                }
            } else {
                o.leaves // touch
            };
            if f.partial {
                q = q.min(available);
                available -= q.max(0);
            }
            from = (key.0, key.1 + 1);
            if q <= 0 {
                continue;
            }
            let price = o.price;
            if !self.execute(idx, ts, price, q, true) {
                return;
            }
            if self.orders[idx].leaves == 0 {
                self.unrest(idx);
            }
        }
    }

    /// A level of the exchange book changed (queue model, book crossing).
    #[cold]
    pub(super) fn on_book_change(&mut self, inst: usize, l: &Level, books: &[Book]) {
        if self.fault.is_some() {
            return;
        }
        let f = self.cfg.fills;
        if f.queue {
            let resting = if l.side == side::BID { &self.venues[inst].buys } else { &self.venues[inst].sells };
            for j in resting.at_price(l.price) {
                let o = &mut self.orders[j];
                o.queue_ahead = o.queue_ahead.min(l.qty);
            }
        }
        if f.book_cross && l.is_batch_end() {
            let book = &books[inst];
            let ts = l.ts.exchange;
            if let Some((ask, _)) = book.best_ask() {
                while let Some((_, j)) = self.venues[inst].buys.first() {
                    let p = self.orders[j].price;
                    if !(ask < p || (f.touch && ask == p)) {
                        break;
                    }
                    let q = self.orders[j].leaves;
                    self.unrest(j);
                    if !self.execute(j, ts, p, q, true) {
                        return;
                    }
                }
            }
            if let Some((bid, _)) = book.best_bid() {
                while let Some((_, j)) = self.venues[inst].sells.first() {
                    let p = self.orders[j].price;
                    if !(bid > p || (f.touch && bid == p)) {
                        break;
                    }
                    let q = self.orders[j].leaves;
                    self.unrest(j);
                    if !self.execute(j, ts, p, q, true) {
                        return;
                    }
                }
            }
        }
    }
}

fn crosses_any(book: &Book, buy: bool) -> bool {
    if buy { book.best_ask().is_some() } else { book.best_bid().is_some() }
}

fn level_qty(mut levels: impl Iterator<Item = (i64, i64)>, price: i64) -> i64 {
    levels.find(|&(p, _)| p == price).map_or(0, |(_, q)| q)
}
