//! What the strategy sees and does: its own view of its account and open
//! orders (updated as answers reach it), and the [`Host`] implementation
//! behind its context.

use ticktape_sdk::abi::{
    BookTopInfo, InstrumentInfo, MAX_TIMERS_AT_NOW, OrderInfo, OrderRequest, OrderUpdate, PositionInfo, StrRef,
    log_level, reason, update_kind,
};
use ticktape_tape::side;

use super::account::{Account, Scale};
use super::exchange::{Order, request_problem};
use super::{Action, LogLine, Sim};
use crate::error::Error;
use crate::plugin::Host;

/// The strategy's view of its account and orders.
#[derive(Debug)]
pub(super) struct View {
    pub(super) account: Account,
    /// Open orders by id, as the strategy knows them.
    pub(super) orders: OpenOrders,
}

/// Open orders by id: a vector sorted by id. Ids grow with every order, so
/// an insert is a push; a lookup is a binary search; a removal moves the
/// later orders down one slot. Unlike a B-tree map it allocates nothing
/// once it has held as many orders as it ever holds (a map that empties
/// frees its node and allocates a new one at the next insert).
#[derive(Debug, Default)]
pub(super) struct OpenOrders(Vec<OrderInfo>);

impl OpenOrders {
    #[inline]
    fn find(&self, id: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |o| o.order_id)
    }

    #[inline]
    pub(super) fn get_mut(&mut self, id: &u64) -> Option<&mut OrderInfo> {
        let i = self.find(*id).ok()?;
        Some(&mut self.0[i])
    }

    #[inline]
    pub(super) fn contains_key(&self, id: &u64) -> bool {
        self.find(*id).is_ok()
    }

    /// Inserts or replaces order `o` (keyed by `o.order_id`).
    #[inline]
    pub(super) fn insert(&mut self, o: OrderInfo) {
        if self.0.last().is_none_or(|l| l.order_id < o.order_id) {
            self.0.push(o);
            return;
        }
        match self.find(o.order_id) {
            Ok(i) => self.0[i] = o,
            Err(i) => self.0.insert(i, o),
        }
    }

    #[inline]
    pub(super) fn remove(&mut self, id: &u64) {
        if let Ok(i) = self.find(*id) {
            self.0.remove(i);
        }
    }

    /// In id order.
    pub(super) fn values(&self) -> impl Iterator<Item = &OrderInfo> {
        self.0.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

impl View {
    pub(super) fn new(capital: f64, instruments: usize) -> Self {
        View { account: Account::new(capital, instruments), orders: OpenOrders::default() }
    }

    /// Applies an update the strategy receives. `exchange` is the
    /// exchange's record of every order (to tell whether a rejected cancel
    /// or replace concerns an order that is gone).
    pub(super) fn apply(&mut self, u: &OrderUpdate, scales: &[Scale], exchange: &[Order]) {
        match u.kind {
            update_kind::ACCEPTED => {
                if let Some(o) = self.orders.get_mut(&u.order_id) {
                    o.acked = 1;
                }
            }
            update_kind::FILLED => {
                let i = u.instrument as usize;
                let side = if u.side == side::BUY { 1 } else { -1 };
                // The exchange booked the same fill in the same order, so
                // this cannot overflow where that did not.
                let _ = self.account.fill(i, scales[i], side, u.price, u.qty, u.fee);
                if u.leaves_qty == 0 {
                    self.orders.remove(&u.order_id);
                } else if let Some(o) = self.orders.get_mut(&u.order_id) {
                    o.leaves_qty = u.leaves_qty;
                }
            }
            update_kind::REPLACED => {
                if let Some(o) = self.orders.get_mut(&u.order_id) {
                    o.price = u.price;
                    o.leaves_qty = u.leaves_qty;
                }
            }
            update_kind::CANCELLED => {
                self.orders.remove(&u.order_id);
            }
            update_kind::REJECTED => {
                // A rejected new order is gone; a rejected cancel or replace
                // leaves the order as it was, unless the exchange no longer
                // knows it.
                let gone = usize::try_from(u.order_id)
                    .ok()
                    .and_then(|id| exchange.get(id.checked_sub(1)?))
                    .is_none_or(Order::is_done);
                if gone {
                    self.orders.remove(&u.order_id);
                }
            }
            _ => {}
        }
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
        if let Some(problem) = request_problem(req) {
            // A malformed request (a plugin bug): rejected here, without a
            // trip to the exchange, and counted in the summary.
            if !self.warned_invalid {
                self.warned_invalid = true;
                let text = format!(
                    "order {id} (tag {}) rejected as invalid: {problem} (side {}, kind {}, tif {}, reserved {}, price {}, qty {}); the summary counts every invalid order (invalid_orders)",
                    req.tag, req.side, req.kind, req.tif, req.reserved, req.price, req.qty
                );
                self.journal.log.push(LogLine { ts: self.now, level: log_level::WARN, text });
            }
            self.reject(id as usize - 1, self.now, reason::INVALID);
            return id;
        }
        self.view.orders.insert(OrderInfo {
            order_id: id,
            tag: req.tag,
            instrument: req.instrument,
            side: req.side,
            kind: req.kind,
            tif: req.tif,
            acked: 0,
            price: req.price,
            leaves_qty: req.qty,
        });
        self.send(Action::New(id as usize - 1));
        id
    }

    fn cancel(&mut self, order_id: u64) -> bool {
        if !self.view.orders.contains_key(&order_id) {
            return false;
        }
        self.send(Action::Cancel(order_id));
        true
    }

    fn cancel_all(&mut self, instrument: u32) {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        ids.extend(
            self.view
                .orders
                .values()
                .filter(|o| instrument == u32::MAX || o.instrument == instrument)
                .map(|o| o.order_id),
        );
        for &id in &ids {
            self.send(Action::Cancel(id));
        }
        self.scratch = ids;
    }

    fn replace(&mut self, order_id: u64, price: i64, qty: i64) -> bool {
        if !self.view.orders.contains_key(&order_id) {
            return false;
        }
        self.send(Action::Replace(order_id, price, qty));
        true
    }

    fn set_timer(&mut self, at: i64, token: u64) {
        if self.fault.is_some() {
            return;
        }
        if at <= self.now {
            // Fires once, at now; counted per instant to catch a timer that
            // re-arms itself at now forever.
            if self.timers_at_now.0 != self.now {
                self.timers_at_now = (self.now, 0);
            }
            self.timers_at_now.1 += 1;
            if self.timers_at_now.1 > MAX_TIMERS_AT_NOW {
                self.fault =
                    Some(Error::TimerLoop { token, at: super::metrics::rfc3339(self.now), limit: MAX_TIMERS_AT_NOW });
                return;
            }
        }
        let at = at.max(self.now);
        self.next_due = self.next_due.min(at);
        self.timers.set(at, token);
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

    #[inline]
    fn book_top(&self, instrument: u32, levels: u32) -> Option<BookTopInfo> {
        let b = &self.venues.get(instrument as usize)?.view;
        let (bid, ask) = (b.best_bid(), b.best_ask());
        let n = levels as usize;
        Some(BookTopInfo {
            bid_price: bid.map_or(0, |b| b.0),
            bid_qty: bid.map_or(0, |b| b.1),
            ask_price: ask.map_or(0, |a| a.0),
            ask_qty: ask.map_or(0, |a| a.1),
            bid_depth: if n == 0 { 0 } else { b.bid_depth(n) },
            ask_depth: if n == 0 { 0 } else { b.ask_depth(n) },
            has_bid: u8::from(bid.is_some()),
            has_ask: u8::from(ask.is_some()),
            reserved: [0; 6],
        })
    }

    fn position(&self, instrument: u32) -> Option<PositionInfo> {
        let p = self.view.account.positions.get(instrument as usize)?;
        let s = self.scales[instrument as usize];
        Some(PositionInfo { position: p.qty, avg_entry: p.avg_entry / s.px, realized_pnl: p.realized, fees: p.fees })
    }

    fn open_orders(&self, out: &mut [OrderInfo]) -> usize {
        for (slot, o) in out.iter_mut().zip(self.view.orders.values()) {
            *slot = *o;
        }
        self.view.orders.len()
    }

    fn equity(&self) -> f64 {
        // Cash plus positions marked at the strategy's view of each mid
        // (the entry price where it has no two-sided book).
        let a = &self.view.account;
        a.cash
            + a.positions
                .iter()
                .zip(&self.venues)
                .map(|(p, v)| {
                    let mark = v.view.mid().map_or(p.avg_entry, |m| m * v.scale.px);
                    p.qty as f64 * v.scale.qx * mark
                })
                .sum::<f64>()
    }

    fn log(&mut self, level: u32, msg: &str) {
        let level = level.clamp(log_level::ERROR, log_level::DEBUG);
        self.journal.log.push(LogLine { ts: self.now, level, text: msg.to_owned() });
    }

    fn name_tag(&mut self, tag: u64, name: &str) -> bool {
        if name.is_empty() || name.len() > ticktape_sdk::abi::MAX_TAG_NAME {
            return false;
        }
        if self.journal.tag_names.get(&tag).is_none_or(|n| n != name) {
            self.journal.tag_names.insert(tag, name.to_owned());
        }
        true
    }

    fn name_series(&mut self, series: u32, name: &str) -> bool {
        if name.is_empty() || name.len() > ticktape_sdk::abi::MAX_TAG_NAME {
            return false;
        }
        if self.journal.series_names.get(&series).is_none_or(|n| n != name) {
            self.journal.series_names.insert(series, name.to_owned());
        }
        true
    }

    fn record(&mut self, series: u32, ts: i64, value: f64) {
        self.journal.series.push(super::SeriesPoint { ts, series, value });
    }

    fn summary_figure(&mut self, name: &str, value: f64) -> bool {
        if name.is_empty() || name.len() > ticktape_sdk::abi::MAX_TAG_NAME {
            return false;
        }
        match self.journal.figures.get_mut(name) {
            Some(v) => *v = value,
            None => {
                self.journal.figures.insert(name.to_owned(), value);
            }
        }
        true
    }
}
