//! The simulated exchange: order arrival, taker execution against the
//! visible book, resting orders and the fill rules.

use ticktape_sdk::abi::{OrderRequest, OrderUpdate, liquidity, order_kind, reason, tif, update_kind};
use ticktape_tape::{Level, Trade, side};

use super::{Action, FillRow, Sim};
use crate::book::Book;

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
    /// Visible quantity ahead of it at its price (queue model).
    pub queue_ahead: i64,
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

    fn reject(&mut self, idx: usize, ts: i64, why: u8) {
        let o = &mut self.orders[idx];
        o.status = OrderStatus::Rejected;
        o.reason = why;
        o.done_ts = ts;
        o.leaves = 0;
        let u = self.update_for(idx, update_kind::REJECTED, ts);
        self.respond(u);
    }

    /// Checks the grid, positivity and limits; the reason to reject, if any.
    fn check(&self, idx: usize, price: i64, qty: i64) -> Option<u8> {
        let o = &self.orders[idx];
        let i = o.instrument as usize;
        let v = &self.venues[i];
        let s = self.scales[i];
        if qty <= 0 || (o.kind == order_kind::LIMIT && price <= 0) || o.side == side::NONE || o.side > side::SELL {
            return Some(reason::INVALID);
        }
        if o.kind == order_kind::LIMIT && price % v.tick != 0 {
            return Some(reason::PRICE_NOT_ON_TICK);
        }
        if qty % v.lot != 0 {
            return Some(reason::QTY_NOT_ON_LOT);
        }
        if let Some(max) = self.cfg.max_position {
            let pos = self.account.positions[i].qty;
            let after = pos + if o.is_buy() { qty } else { -qty };
            if (after as f64 * s.qx).abs() > max + 1e-12 && after.abs() > pos.abs() {
                return Some(reason::POSITION_LIMIT);
            }
        }
        if let (Some(max), true) = (self.cfg.max_notional, o.kind == order_kind::LIMIT)
            && price as f64 * s.px * qty as f64 * s.qx > max
        {
            return Some(reason::NOTIONAL_LIMIT);
        }
        None
    }

    fn arrive_new(&mut self, ts: i64, idx: usize, books: &[Book]) {
        self.orders[idx].arrive_ts = ts;
        let (price, qty) = (self.orders[idx].price, self.orders[idx].qty);
        if let Some(why) = self.check(idx, price, qty) {
            return self.reject(idx, ts, why);
        }
        let o = &self.orders[idx];
        let i = o.instrument as usize;
        let book = &books[i];
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
        if crosses {
            self.take(idx, ts, book);
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
    /// up to its limit (any price for market orders).
    fn take(&mut self, idx: usize, ts: i64, book: &Book) {
        let o = &self.orders[idx];
        let (buy, limit, market) = (o.is_buy(), o.price, o.kind == order_kind::MARKET);
        let mut left = o.leaves;
        let levels: Box<dyn Iterator<Item = (i64, i64)> + '_> =
            if buy { Box::new(book.ask_levels()) } else { Box::new(book.bid_levels()) };
        for (price, qty) in levels {
            if left == 0 || (!market && if buy { price > limit } else { price < limit }) {
                break;
            }
            let q = left.min(qty);
            left -= q;
            self.execute(idx, ts, price, q, false);
        }
    }

    /// Puts an open order on the book (price-time priority) and sets its
    /// queue position.
    fn rest(&mut self, idx: usize, book: &Book) {
        let o = &self.orders[idx];
        let i = o.instrument as usize;
        let buy = o.is_buy();
        let price = o.price;
        let ahead = if buy { level_qty(book.bid_levels(), price) } else { level_qty(book.ask_levels(), price) };
        self.orders[idx].queue_ahead = ahead;
        let orders = &self.orders;
        let list = if buy { &mut self.venues[i].buys } else { &mut self.venues[i].sells };
        let pos = list.partition_point(|&j| {
            let p = orders[j].price;
            if buy { p >= price } else { p <= price }
        });
        list.insert(pos, idx);
    }

    fn unrest(&mut self, idx: usize) {
        let o = &self.orders[idx];
        let v = &mut self.venues[o.instrument as usize];
        let list = if o.is_buy() { &mut v.buys } else { &mut v.sells };
        if let Some(p) = list.iter().position(|&j| j == idx) {
            list.remove(p);
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
            match usize::try_from(id).ok().and_then(|i| self.orders.get(i - 1)) {
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
        if let Some(why) = self.check(idx, price, qty) {
            // The order stays as it was; the request is refused.
            let mut u = self.update_for(idx, update_kind::REJECTED, ts);
            u.reason = why;
            u.price = price;
            u.qty = qty;
            self.respond(u);
            return;
        }
        let o = &self.orders[idx];
        let book = &books[o.instrument as usize];
        let crosses = if o.is_buy() {
            book.best_ask().is_some_and(|(a, _)| price >= a)
        } else {
            book.best_bid().is_some_and(|(b, _)| price <= b)
        };
        if crosses && o.tif == tif::POST_ONLY {
            let mut u = self.update_for(idx, update_kind::REJECTED, ts);
            u.reason = reason::POST_ONLY_WOULD_CROSS;
            u.price = price;
            u.qty = qty;
            self.respond(u);
            return;
        }
        self.unrest(idx);
        let o = &mut self.orders[idx];
        o.price = price;
        o.qty = o.filled + qty;
        o.leaves = qty;
        let u = self.update_for(idx, update_kind::REPLACED, ts);
        self.respond(u);
        if crosses {
            self.take(idx, ts, book);
        }
        if self.orders[idx].leaves > 0 {
            self.rest(idx, book);
        }
    }

    /// Books one execution of order `idx`: exchange account, fill record,
    /// update toward the strategy.
    fn execute(&mut self, idx: usize, ts: i64, price: i64, qty: i64, maker: bool) {
        let i = self.orders[idx].instrument as usize;
        let fee = self.fee(i, price, qty, maker);
        let o = &mut self.orders[idx];
        o.leaves -= qty;
        o.filled += qty;
        o.fill_value += price as f64 * qty as f64;
        if o.leaves == 0 {
            o.status = OrderStatus::Filled;
            o.done_ts = ts;
        }
        let side_sign = if o.is_buy() { 1 } else { -1 };
        let effect = self.account.fill(i, self.scales[i], side_sign, price, qty, fee);
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
    }

    /// A trade printed: fill resting orders it went through.
    #[inline]
    pub(super) fn on_trade(&mut self, inst: usize, t: &Trade) {
        let v = &self.venues[inst];
        let f = self.cfg.fills;
        let at_price = f.touch || f.queue;
        let hits_buys = v
            .buys
            .first()
            .is_some_and(|&j| self.orders[j].price > t.price || (at_price && self.orders[j].price == t.price));
        let hits_sells = v
            .sells
            .first()
            .is_some_and(|&j| self.orders[j].price < t.price || (at_price && self.orders[j].price == t.price));
        if hits_buys {
            self.fill_resting(inst, true, t);
        }
        if hits_sells {
            self.fill_resting(inst, false, t);
        }
    }

    /// Fills resting orders on one side hit by trade `t`, in price-time
    /// priority. A trade strictly through an order's price fills it; a trade
    /// at its price fills it only with `touch`, or, with the queue model,
    /// once the trade's volume has gone through the visible queue ahead of
    /// it. With `partial`, fills are bounded by what is left of the trade.
    #[cold]
    fn fill_resting(&mut self, inst: usize, buys: bool, t: &Trade) {
        let f = self.cfg.fills;
        let ts = t.ts.exchange;
        let mut available = t.qty;
        let mut k = 0;
        loop {
            let list = if buys { &self.venues[inst].buys } else { &self.venues[inst].sells };
            let Some(&idx) = list.get(k) else { break };
            let o = &mut self.orders[idx];
            let through = if buys { t.price < o.price } else { t.price > o.price };
            if !through && t.price != o.price {
                break; // price priority: no later order can fill either
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
            } else if f.touch {
                o.leaves
            } else {
                0
            };
            if f.partial {
                q = q.min(available);
                available -= q.max(0);
            }
            if q <= 0 {
                k += 1;
                continue;
            }
            let price = o.price;
            self.execute(idx, ts, price, q, true);
            if self.orders[idx].leaves == 0 {
                let list = if buys { &mut self.venues[inst].buys } else { &mut self.venues[inst].sells };
                list.remove(k);
            } else {
                k += 1;
            }
        }
    }

    /// A level of the exchange book changed (queue model, book crossing).
    #[cold]
    pub(super) fn on_book_change(&mut self, inst: usize, l: &Level, books: &[Book]) {
        let f = self.cfg.fills;
        if f.queue {
            let list = if l.side == side::BID { &self.venues[inst].buys } else { &self.venues[inst].sells };
            for &j in list {
                let o = &mut self.orders[j];
                if o.price == l.price {
                    o.queue_ahead = o.queue_ahead.min(l.qty);
                }
            }
        }
        if f.book_cross && l.is_batch_end() {
            let book = &books[inst];
            let ts = l.ts.exchange;
            if let Some((ask, _)) = book.best_ask() {
                while let Some(&j) = self.venues[inst].buys.first() {
                    let p = self.orders[j].price;
                    if !(ask < p || (f.touch && ask == p)) {
                        break;
                    }
                    let q = self.orders[j].leaves;
                    self.venues[inst].buys.remove(0);
                    self.execute(j, ts, p, q, true);
                }
            }
            if let Some((bid, _)) = book.best_bid() {
                while let Some(&j) = self.venues[inst].sells.first() {
                    let p = self.orders[j].price;
                    if !(bid > p || (f.touch && bid == p)) {
                        break;
                    }
                    let q = self.orders[j].leaves;
                    self.venues[inst].sells.remove(0);
                    self.execute(j, ts, p, q, true);
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
