//! A price-level (L2) order book with O(1) updates.
//!
//! # Design
//!
//! Levels live in a **window** of `W` slots on the instrument's tick grid:
//! slot `s` holds the quantity at price `base + s × tick`, one array per
//! side, plus one occupancy bit per slot. An update is a subtraction, a
//! division by the tick (a multiply-high by a precomputed reciprocal, not a
//! hardware divide), a store and, when a level appears or disappears, a bit
//! flip; removing the best level finds the next one by scanning occupancy
//! words (64 levels per instruction). Top-N depth walks set bits from the
//! touch.
//!
//! Prices outside the window, or off the tick grid, go to a small sorted
//! **overflow** list per side, so no level is ever dropped. When an update
//! outside the window would become its side's best, the window is
//! re-centred on it (O(W/64 + levels), rare: the window spans thousands of
//! ticks). Arrays are allocated once per book; nothing allocates per update.
//! The overflow list and the re-centring scratch space grow only when the
//! book holds more out-of-window levels than ever before.

use ticktape_tape::{Level, Quote, UNDEF, side};

/// Default window size in slots (a power of two): 32,768 ticks, e.g. ±1,638
/// USDT around BTCUSDT's mid at a 0.10 tick.
pub const DEFAULT_WINDOW: usize = 1 << 15;

/// Exact division by a fixed `d` with multiplies instead of a divide:
/// with `c = ceil(2^64 / d)`, the high half of `c × n` is `n / d` and the low
/// half is below `c` exactly when `d` divides `n`, for `n < 2^32` (Lemire,
/// Kaser & Kurz, "Faster remainder by direct computation", 2019). Offsets of
/// a window spanning 2^32 or more price units (a fine price exponent with a
/// coarse tick) use the same theorem one size up: `C = ceil(2^128 / d)` for
/// `n < 2^64`, three multiplies. Hand-written because it is the hottest line
/// of the book, where a hardware divide would cost more than the rest of
/// the update.
#[derive(Clone, Copy, Debug)]
struct Divider {
    d: u64,
    c: u64,
    /// `ceil(2^128 / d)` when offsets may reach 2^32, else 0.
    wide: u128,
}

impl Divider {
    /// A divider by `d > 0` for offsets below `span`.
    fn new(d: u64, span: u64) -> Self {
        debug_assert!(d > 0);
        let narrow = span <= 1 << 32 && d < 1 << 32;
        let c = if d == 1 || !narrow { 0 } else { (u64::MAX / d).wrapping_add(1) };
        let wide = if d == 1 || narrow { 0 } else { (u128::MAX / u128::from(d)).wrapping_add(1) };
        Divider { d, c, wide }
    }

    /// `Some(n / d)` if `d` divides `n` (`n` below the span).
    #[inline(always)]
    fn exact(self, n: u64) -> Option<u64> {
        // Branches, not selects: measured faster (CPU time) even with the
        // books of three instruments interleaving. The usual case first:
        // `c` is 0 exactly when `d` is 1 or offsets need the wide form.
        if self.c != 0 {
            let p = u128::from(self.c) * u128::from(n);
            return ((p as u64) < self.c).then_some((p >> 64) as u64);
        }
        if self.d == 1 {
            return Some(n);
        }
        Self::exact_wide(self.wide, n)
    }

    /// The 64-bit form: low 128 bits of `C × n` below `C` ⇔ divisible, and
    /// `⌊C × n / 2^128⌋ = n / d`.
    #[inline(always)]
    fn exact_wide(c: u128, n: u64) -> Option<u64> {
        let n = u128::from(n);
        if c.wrapping_mul(n) >= c {
            return None;
        }
        let lo = (c as u64 as u128) * n;
        let hi = (c >> 64) * n;
        Some(((hi + (lo >> 64)) >> 64) as u64)
    }
}

/// One side's window: quantities, occupancy bits and the best slot.
///
/// Both sides keep their best level at the **highest** occupied slot: bids
/// use slot `s` for price `base + s × tick`, asks use the mirrored slot
/// `s ^ (W − 1)`. One code path then serves both sides without a branch on
/// the side, which is unpredictable in a live feed.
#[derive(Clone, Debug)]
struct Slots {
    qty: Vec<i64>,
    bits: Vec<u64>,
    /// Best occupied slot + 1, or 0 when the side is empty.
    top: usize,
    /// Occupied slots.
    levels: usize,
    /// XOR mask from a window slot to this side's slot: 0 for bids, `W − 1`
    /// for asks (kept here, so the update loads it with the side's arrays
    /// instead of computing it from the side code).
    mirror: usize,
}

impl Slots {
    fn new(w: usize, mirrored: bool) -> Self {
        let mirror = if mirrored { w - 1 } else { 0 };
        Slots { qty: vec![0; w], bits: vec![0; w / 64], top: 0, levels: 0, mirror }
    }

    /// Sets slot `s` to `qty` (0 empties it). Branch-free except when the
    /// best level is removed and the next one must be found.
    ///
    /// `s` must be below the window size (the length of `qty`); every
    /// caller takes it from [`Book::slot`], which only returns offsets
    /// below the span divided by the tick, mirrored within the window.
    #[inline(always)]
    fn set(&mut self, s: usize, qty: i64) {
        debug_assert!(s < self.qty.len() && self.qty.len() == self.bits.len() * 64);
        let (w, m) = (s >> 6, 1u64 << (s & 63));
        // SAFETY: `s < qty.len()`: every caller passes a slot from
        // `Book::slot` (an offset below `w × tick` divided exactly by the
        // tick, so below `w`) XOR the mirror mask (0 or `w - 1`), and `w` is a
        // power of two, so the result stays below `w = qty.len()`; debug
        // builds assert it above. `qty.len() == 64 * bits.len()` from
        // `Slots::new` on (neither is ever resized), so `s >> 6 <
        // bits.len()`. This saves two compare-and-branch pairs per update on
        // the replay's hottest path.
        let (slot, word) = unsafe { (self.qty.get_unchecked_mut(s), self.bits.get_unchecked_mut(w)) };
        let old = std::mem::replace(slot, qty);
        let (was, now) = (old != 0, qty != 0);
        *word = (*word & !m) | (m * u64::from(now));
        self.levels = self.levels + usize::from(now) - usize::from(was);
        // Raise `top` to s + 1 if the slot is now occupied (select, no branch).
        self.top = self.top.max((s + 1) & usize::from(now).wrapping_neg());
        if !now && s + 1 == self.top {
            self.top = self.below(s);
        }
    }

    /// Highest occupied slot below `s`, plus one; 0 if none.
    #[inline]
    fn below(&self, s: usize) -> usize {
        if self.levels == 0 {
            return 0;
        }
        let mut w = s >> 6;
        let mut word = self.bits[w] & ((1u64 << (s & 63)) - 1);
        loop {
            if word != 0 {
                return (w << 6) + 64 - word.leading_zeros() as usize;
            }
            if w == 0 {
                return 0;
            }
            w -= 1;
            word = self.bits[w];
        }
    }

    /// Sum of the quantities of the best `n` occupied slots, walking the
    /// occupancy words from the top.
    #[inline]
    fn top_sum(&self, mut n: usize) -> i64 {
        if self.top == 0 || n == 0 {
            return 0;
        }
        let s = self.top - 1;
        let mut w = s >> 6;
        let b = s & 63;
        let mut word = self.bits[w] & if b == 63 { u64::MAX } else { (2u64 << b) - 1 };
        let mut sum = 0;
        loop {
            while word != 0 {
                let bit = 63 - word.leading_zeros() as usize;
                sum += self.qty[(w << 6) + bit];
                n -= 1;
                if n == 0 {
                    return sum;
                }
                word &= !(1u64 << bit);
            }
            if w == 0 {
                return sum;
            }
            w -= 1;
            word = self.bits[w];
        }
    }

    fn clear(&mut self) {
        if self.levels > 0 {
            for (w, word) in self.bits.iter_mut().enumerate() {
                let mut x = *word;
                while x != 0 {
                    self.qty[(w << 6) + x.trailing_zeros() as usize] = 0;
                    x &= x - 1;
                }
                *word = 0;
            }
        }
        self.top = 0;
        self.levels = 0;
    }

    /// Occupied slots, best (highest) first.
    fn iter_from(&self, top: usize) -> impl Iterator<Item = usize> + '_ {
        let mut next = top;
        std::iter::from_fn(move || {
            if next == 0 {
                return None;
            }
            let s = next - 1;
            next = self.below(s);
            Some(s)
        })
    }
}

/// An L2 book for one instrument. Prices and quantities are the tape's
/// fixed-point integers.
#[derive(Clone, Debug)]
pub struct Book {
    tick: i64,
    div: Divider,
    /// Price of slot 0; meaningful once `anchored`.
    base: i64,
    anchored: bool,
    w: usize,
    /// `w × tick`: offsets at or beyond are outside the window.
    span: u64,
    /// `span` once anchored, 0 before: offsets at or beyond have no slot
    /// (one comparison for both conditions).
    reach: u64,
    /// `[bids, asks]`; asks are mirrored (see [`Slots`]).
    sides: [Slots; 2],
    /// Out-of-window or off-grid levels, ascending by price.
    far_bids: Vec<(i64, i64)>,
    far_asks: Vec<(i64, i64)>,
    scratch: Vec<(u8, i64, i64)>,
    /// `[bid, ask]` prices of the levels the last quote set ([`UNDEF`] if
    /// none): the next quote removes exactly these (see [`Book::apply_quote`]).
    quoted: [i64; 2],
}

impl Default for Book {
    fn default() -> Self {
        Book::new()
    }
}

impl Book {
    /// An empty book with a tick of one price unit.
    pub fn new() -> Self {
        Book::with_tick(1)
    }

    /// An empty book on a grid of `tick` price units (≤ 0 means unknown:
    /// 1 is used, which is always correct, only the window covers a
    /// narrower price range).
    pub fn with_tick(tick: i64) -> Self {
        Book::with_window(tick, DEFAULT_WINDOW)
    }

    /// An empty book with a window of `window` slots (rounded up to a power
    /// of two, at least 64).
    pub fn with_window(tick: i64, window: usize) -> Self {
        let w = window.max(64).next_power_of_two();
        // A window must fit in i64 prices: beyond 2^62 / W a tick is absurd.
        let tick = if tick <= 0 || tick as u64 > (1u64 << 62) / w as u64 { 1 } else { tick };
        let span = w as u64 * tick as u64;
        Book {
            tick,
            div: Divider::new(tick as u64, span),
            base: 0,
            anchored: false,
            w,
            span,
            reach: 0,
            sides: [Slots::new(w, false), Slots::new(w, true)],
            far_bids: Vec::new(),
            far_asks: Vec::new(),
            scratch: Vec::new(),
            quoted: [UNDEF; 2],
        }
    }

    /// The tick (slot width) in price units.
    pub fn tick(&self) -> i64 {
        self.tick
    }

    /// Applies one level update: clears the book first if it starts a
    /// snapshot, then sets the level's new absolute quantity (0 removes it).
    #[inline(always)]
    pub fn apply(&mut self, level: &Level) {
        if level.is_snapshot_start() {
            self.clear();
        }
        self.set(level.side, level.price, level.qty);
    }

    #[inline(always)]
    fn slot(&self, price: i64) -> Option<usize> {
        let off = price.wrapping_sub(self.base) as u64;
        if off >= self.reach {
            return None;
        }
        self.div.exact(off).map(|s| s as usize)
    }

    /// Sets the quantity of one level (`side_code` is [`side::BID`] or
    /// [`side::ASK`]; anything else is ignored). Negative quantities are
    /// treated as 0.
    #[inline(always)]
    pub fn set(&mut self, side_code: u8, price: i64, qty: i64) {
        let k = usize::from(side_code.wrapping_sub(1));
        if k > 1 {
            return;
        }
        let qty = qty.max(0);
        match self.slot(price) {
            Some(s) => {
                let side = &mut self.sides[k];
                side.set(s ^ side.mirror, qty);
            }
            None => self.set_outside(side_code, price, qty),
        }
    }

    /// XOR mask turning a window slot into side `k`'s slot (0 for bids).
    #[inline(always)]
    fn mirror(&self, k: usize) -> usize {
        self.sides[k].mirror
    }

    /// The cold path: a price outside the window or off the grid.
    #[cold]
    fn set_outside(&mut self, side_code: u8, price: i64, qty: i64) {
        let empty = !self.anchored || (self.sides[0].levels == 0 && self.sides[1].levels == 0);
        let on_grid = !self.anchored || (price.wrapping_sub(self.base)).rem_euclid(self.tick) == 0;
        if qty != 0 && on_grid {
            let would_be_best = match side_code {
                side::BID => self.best_bid().is_none_or(|(b, _)| price > b),
                _ => self.best_ask().is_none_or(|(a, _)| price < a),
            };
            if empty || would_be_best {
                self.recenter(price);
                if let Some(s) = self.slot(price) {
                    let k = usize::from(side_code - 1);
                    self.sides[k].set(s ^ self.mirror(k), qty);
                    return;
                }
            }
        }
        let far = if side_code == side::BID { &mut self.far_bids } else { &mut self.far_asks };
        match far.binary_search_by_key(&price, |&(p, _)| p) {
            Ok(i) if qty == 0 => {
                far.remove(i);
            }
            Ok(i) => far[i].1 = qty,
            Err(i) if qty != 0 => far.insert(i, (price, qty)),
            Err(_) => {}
        }
    }

    /// Moves the window so that `price` sits in its middle, keeping the
    /// grid's alignment, and redistributes every level.
    fn recenter(&mut self, price: i64) {
        let half = (self.w / 2) as i64 * self.tick;
        let new_base = if self.anchored {
            let shift = (price - half - self.base).div_euclid(self.tick);
            self.base + shift * self.tick
        } else {
            price - half
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for k in 0..2 {
            let slots = &self.sides[k];
            for s in slots.iter_from(slots.top) {
                let price = self.base + (s ^ self.mirror(k)) as i64 * self.tick;
                scratch.push((k as u8 + 1, price, slots.qty[s]));
            }
        }
        scratch.extend(self.far_bids.drain(..).map(|(p, q)| (side::BID, p, q)));
        scratch.extend(self.far_asks.drain(..).map(|(p, q)| (side::ASK, p, q)));
        self.sides[0].clear();
        self.sides[1].clear();
        self.base = new_base;
        self.anchored = true;
        self.reach = self.span;
        for &(code, p, q) in &scratch {
            let k = usize::from(code - 1);
            match self.slot(p) {
                Some(s) => self.sides[k].set(s ^ self.mirror(k), q),
                None if k == 0 => self.far_bids.push((p, q)),
                None => self.far_asks.push((p, q)),
            }
        }
        self.far_bids.sort_unstable();
        self.far_asks.sort_unstable();
        self.scratch = scratch;
    }

    /// Applies a best bid/offer record (used for instruments that have quotes
    /// but no L2 tape), in O(1): removes the bid and ask levels the previous
    /// quote set, then sets this quote's levels (a side whose price is
    /// [`UNDEF`] or whose quantity is not positive is left empty). A book fed
    /// only by quotes therefore holds exactly the last quote's two levels.
    ///
    /// In a book that also receives L2 updates, a quote acts as these two
    /// level updates and nothing more: it owns the levels at its own prices
    /// (the next quote removes them, whatever L2 set there meanwhile) and
    /// leaves every other level alone, so levels better than the quote stay
    /// until L2 removes them. The replay and the simulator never mix the
    /// two: they apply quotes only to instruments without an L2 tape.
    #[inline]
    pub fn apply_quote(&mut self, q: &Quote) {
        // Both old levels go first, so a quote that moved out of the window
        // recentres an empty book (bar-driven books move every bar).
        let bid = Self::quoted_price(q.bid_price, q.bid_qty);
        let ask = Self::quoted_price(q.ask_price, q.ask_qty);
        self.unquote(0, side::BID, bid);
        self.unquote(1, side::ASK, ask);
        if self.is_empty() {
            // Nothing else to keep (a quote- or bar-driven book between two
            // quotes): place the two levels directly.
            self.place_quote(bid, q.bid_qty, ask, q.ask_qty);
            return;
        }
        if bid != UNDEF {
            self.set(side::BID, bid, q.bid_qty);
        }
        if ask != UNDEF {
            self.set(side::ASK, ask, q.ask_qty);
        }
    }

    /// Whether the book holds no level (window and overflow).
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.sides[0].levels == 0 && self.sides[1].levels == 0 && self.far_bids.is_empty() && self.far_asks.is_empty()
    }

    /// Sets a quote's levels in an empty book without re-centring: when a
    /// level lies outside the window (or off its grid), the window is first
    /// re-anchored with that level (the bid if both are absent from it) in
    /// its middle, which costs nothing in an empty book; a level that still
    /// does not fit (a spread wider than half the window) goes to the
    /// overflow list, where the other level being best does not matter.
    /// Where a level is stored is not observable: the book holds exactly
    /// these levels either way.
    #[inline]
    fn place_quote(&mut self, bid: i64, bid_qty: i64, ask: i64, ask_qty: i64) {
        let fits = |b: &Self, p: i64| p == UNDEF || b.slot(p).is_some();
        if !(fits(self, bid) && fits(self, ask)) {
            let anchor = if bid != UNDEF { bid } else { ask };
            self.base = anchor.wrapping_sub((self.w / 2) as i64 * self.tick);
            self.anchored = true;
            // As `recenter` does: an anchored window has its slots (without
            // this, a book only ever placed by quotes kept `reach` 0 and put
            // every level in the overflow lists, a vector insert and remove
            // per level and quote).
            self.reach = self.span;
        }
        for (k, price, qty) in [(0, bid, bid_qty), (1, ask, ask_qty)] {
            if price == UNDEF {
                continue;
            }
            match self.slot(price) {
                Some(s) => self.sides[k].set(s ^ self.mirror(k), qty),
                None if k == 0 => self.far_bids.push((price, qty)),
                None => self.far_asks.push((price, qty)),
            }
        }
    }

    /// The price a quote side sets: [`UNDEF`] when absent or not positive.
    #[inline(always)]
    fn quoted_price(price: i64, qty: i64) -> i64 {
        if price != UNDEF && qty > 0 { price } else { UNDEF }
    }

    /// Removes side `k`'s previously quoted level unless `price` sets it again.
    #[inline(always)]
    fn unquote(&mut self, k: usize, side_code: u8, price: i64) {
        let old = std::mem::replace(&mut self.quoted[k], price);
        if old != UNDEF && old != price {
            self.set(side_code, old, 0);
        }
    }

    /// Removes every level (the window stays where it is).
    pub fn clear(&mut self) {
        self.sides[0].clear();
        self.sides[1].clear();
        self.far_bids.clear();
        self.far_asks.clear();
        self.quoted = [UNDEF; 2];
    }

    /// Price of side `k`'s slot `s`.
    #[inline]
    fn price_of(&self, k: usize, s: usize) -> i64 {
        self.base + (s ^ self.mirror(k)) as i64 * self.tick
    }

    /// The best level inside the window of side `k`.
    #[inline]
    fn window_best(&self, k: usize) -> Option<(i64, i64)> {
        let side = &self.sides[k];
        let s = side.top.checked_sub(1)?;
        Some((self.price_of(k, s), side.qty[s]))
    }

    /// Best bid `(price, qty)`.
    #[inline]
    pub fn best_bid(&self) -> Option<(i64, i64)> {
        match (self.window_best(0), self.far_bids.last()) {
            (Some(w), Some(&f)) => Some(if f.0 > w.0 { f } else { w }),
            (w, f) => w.or(f.copied()),
        }
    }

    /// Best ask `(price, qty)`.
    #[inline]
    pub fn best_ask(&self) -> Option<(i64, i64)> {
        match (self.window_best(1), self.far_asks.first()) {
            (Some(w), Some(&f)) => Some(if f.0 < w.0 { f } else { w }),
            (w, f) => w.or(f.copied()),
        }
    }

    /// Mid price in price units (may be fractional).
    pub fn mid(&self) -> Option<f64> {
        let (b, _) = self.best_bid()?;
        let (a, _) = self.best_ask()?;
        Some((b as f64 + a as f64) / 2.0)
    }

    /// Best ask minus best bid, in price units.
    pub fn spread(&self) -> Option<i64> {
        Some(self.best_ask()?.0 - self.best_bid()?.0)
    }

    /// Micro-price: the mid weighted by the opposite side's size,
    /// `(bid × ask_qty + ask × bid_qty) / (bid_qty + ask_qty)`, in price units.
    pub fn micro_price(&self) -> Option<f64> {
        let (b, bq) = self.best_bid()?;
        let (a, aq) = self.best_ask()?;
        let (bq, aq) = (bq as f64, aq as f64);
        Some((b as f64 * aq + a as f64 * bq) / (bq + aq))
    }

    /// Sum of quantities of the best `n` bid levels.
    #[inline]
    pub fn bid_depth(&self, n: usize) -> i64 {
        if self.far_bids.is_empty() {
            self.sides[0].top_sum(n)
        } else {
            self.bid_levels().take(n).map(|(_, q)| q).sum()
        }
    }

    /// Sum of quantities of the best `n` ask levels.
    #[inline]
    pub fn ask_depth(&self, n: usize) -> i64 {
        if self.far_asks.is_empty() {
            self.sides[1].top_sum(n)
        } else {
            self.ask_levels().take(n).map(|(_, q)| q).sum()
        }
    }

    /// Number of bid levels.
    pub fn bid_count(&self) -> usize {
        self.sides[0].levels + self.far_bids.len()
    }

    /// Number of ask levels.
    pub fn ask_count(&self) -> usize {
        self.sides[1].levels + self.far_asks.len()
    }

    /// Bid levels from the best down, as `(price, qty)`.
    pub fn bid_levels(&self) -> Levels<'_> {
        Levels { book: self, bid: true, top: self.sides[0].top, far: self.far_bids.len() }
    }

    /// Ask levels from the best up, as `(price, qty)`.
    pub fn ask_levels(&self) -> Levels<'_> {
        Levels { book: self, bid: false, top: self.sides[1].top, far: 0 }
    }
}

/// Iterator over one side's levels from the best outward: a two-way merge
/// of the window (walked through its occupancy bits) and the overflow list.
#[derive(Debug)]
pub struct Levels<'a> {
    book: &'a Book,
    bid: bool,
    /// Next window slot of this side + 1, or 0 when the window is done.
    top: usize,
    /// Bids: overflow entries `..far` remain (taken from the end).
    /// Asks: overflow entries `far..` remain (taken from the start).
    far: usize,
}

impl Iterator for Levels<'_> {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        let b = self.book;
        let k = usize::from(!self.bid);
        let slots = &b.sides[k];
        let far_next =
            if self.bid { self.far.checked_sub(1).map(|i| b.far_bids[i]) } else { b.far_asks.get(self.far).copied() };
        let window_next = self.top.checked_sub(1).map(|s| (b.price_of(k, s), slots.qty[s]));
        let take_far = match (window_next, far_next) {
            (None, None) => return None,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(w), Some(f)) => {
                if self.bid {
                    f.0 > w.0
                } else {
                    f.0 < w.0
                }
            }
        };
        if take_far {
            if self.bid {
                self.far -= 1;
            } else {
                self.far += 1;
            }
            far_next
        } else {
            self.top = slots.below(self.top - 1);
            window_next
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn divider_is_exact() {
        for d in [1u64, 2, 3, 7, 10, 100, 12345, (1 << 31) - 1, (1 << 32) - 1] {
            let div = Divider::new(d, 1 << 32);
            for n in [0u64, 1, d - 1, d, d + 1, 2 * d, 123_456_789, (1 << 32) - 1].into_iter().filter(|&n| n < 1 << 32)
            {
                let want = n.is_multiple_of(d).then_some(n / d);
                assert_eq!(div.exact(n), want, "{n} / {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn divider_matches_hardware_division(d in 1u64..(1 << 32), n in 0u64..(1 << 32)) {
            prop_assert_eq!(Divider::new(d, 1 << 32).exact(n), n.is_multiple_of(d).then_some(n / d));
        }

        #[test]
        fn wide_divider_matches_hardware_division(d in 1u64..(1 << 40), n in 0u64..(1 << 62)) {
            prop_assert_eq!(Divider::new(d, 1 << 62).exact(n), n.is_multiple_of(d).then_some(n / d));
        }

        #[test]
        fn wide_divider_on_multiples(d in 1u64..(1 << 40), q in 0u64..(1 << 22), off in 0u64..3) {
            let n = d * q + off;
            prop_assert_eq!(Divider::new(d, 1 << 62).exact(n), n.is_multiple_of(d).then_some(n / d));
        }
    }

    #[test]
    fn levels_are_kept_best_first() {
        let mut b = Book::with_tick(1);
        b.set(side::BID, 100, 5);
        b.set(side::BID, 102, 7);
        b.set(side::BID, 101, 1);
        b.set(side::ASK, 105, 2);
        b.set(side::ASK, 103, 4);
        assert_eq!(b.best_bid(), Some((102, 7)));
        assert_eq!(b.best_ask(), Some((103, 4)));
        assert_eq!(b.bid_levels().collect::<Vec<_>>(), vec![(102, 7), (101, 1), (100, 5)]);
        assert_eq!(b.ask_levels().collect::<Vec<_>>(), vec![(103, 4), (105, 2)]);
        assert_eq!(b.bid_depth(2), 8);
        assert_eq!(b.ask_depth(10), 6);
        assert_eq!(b.spread(), Some(1));
        assert_eq!(b.mid(), Some(102.5));
        assert!((b.micro_price().unwrap() - (102.0 * 4.0 + 103.0 * 7.0) / 11.0).abs() < 1e-9);
        b.set(side::BID, 102, 0);
        assert_eq!(b.best_bid(), Some((101, 1)));
        b.set(side::BID, 999, 0); // removing an absent level is a no-op
        assert_eq!(b.bid_count(), 2);
    }

    #[test]
    fn snapshot_start_clears_the_book() {
        let mut b = Book::new();
        b.set(side::BID, 100, 5);
        b.set(side::ASK, 101, 5);
        let snap = Level {
            price: 90,
            qty: 3,
            side: side::BID,
            flags: ticktape_tape::level_flags::SNAPSHOT_START,
            ..Level::default()
        };
        b.apply(&snap);
        assert_eq!(b.best_bid(), Some((90, 3)));
        assert_eq!(b.best_ask(), None);
    }

    #[test]
    fn quote_replaces_the_previous_quote() {
        let mut b = Book::new();
        b.apply_quote(&Quote { bid_price: 10, bid_qty: 2, ask_price: 12, ask_qty: 3, ..Quote::default() });
        b.apply_quote(&Quote { bid_price: 11, bid_qty: 4, ask_price: 13, ask_qty: 5, ..Quote::default() });
        assert_eq!(b.bid_levels().collect::<Vec<_>>(), vec![(11, 4)]);
        assert_eq!(b.ask_levels().collect::<Vec<_>>(), vec![(13, 5)]);
        // A side without a price or with no size empties that side.
        b.apply_quote(&Quote { bid_price: UNDEF, bid_qty: 4, ask_price: 13, ask_qty: 0, ..Quote::default() });
        assert_eq!((b.bid_count(), b.ask_count()), (0, 0));
    }

    #[test]
    fn quote_in_an_l2_book_only_touches_its_own_levels() {
        let mut b = Book::new();
        b.set(side::BID, 1, 1);
        b.set(side::BID, 10, 9);
        b.apply_quote(&Quote { bid_price: 10, bid_qty: 2, ask_price: 12, ask_qty: 3, ..Quote::default() });
        assert_eq!(b.bid_levels().collect::<Vec<_>>(), vec![(10, 2), (1, 1)]);
        b.apply_quote(&Quote { bid_price: 9, bid_qty: 2, ask_price: 12, ask_qty: 3, ..Quote::default() });
        // The previous quote's level at 10 goes; the L2 level at 1 stays.
        assert_eq!(b.bid_levels().collect::<Vec<_>>(), vec![(9, 2), (1, 1)]);
        assert_eq!(b.ask_levels().collect::<Vec<_>>(), vec![(12, 3)]);
    }

    #[test]
    fn far_and_off_grid_levels_are_kept_in_order() {
        let mut b = Book::with_window(10, 64);
        b.set(side::BID, 10_000, 1); // anchors the window around 10,000
        b.set(side::BID, 10_005, 2); // off grid, inside the window range
        b.set(side::BID, 1_000, 3); // far below the window
        b.set(side::ASK, 10_010, 4);
        b.set(side::ASK, 50_000, 5); // far above
        assert_eq!(b.bid_levels().collect::<Vec<_>>(), vec![(10_005, 2), (10_000, 1), (1_000, 3)]);
        assert_eq!(b.ask_levels().collect::<Vec<_>>(), vec![(10_010, 4), (50_000, 5)]);
        assert_eq!(b.best_bid(), Some((10_005, 2)));
        // A new best far above the window re-centres it; nothing is lost.
        b.set(side::ASK, 9_000_000, 0);
        b.set(side::BID, 20_000, 6);
        assert_eq!(b.best_bid(), Some((20_000, 6)));
        assert_eq!(b.bid_count(), 4);
        assert_eq!(b.bid_depth(10), 12);
    }

    fn check_against_model(
        b: &Book,
        bids: &BTreeMap<i64, i64>,
        asks: &BTreeMap<i64, i64>,
    ) -> Result<(), TestCaseError> {
        let want_bids: Vec<(i64, i64)> = bids.iter().rev().map(|(&p, &q)| (p, q)).collect();
        let want_asks: Vec<(i64, i64)> = asks.iter().map(|(&p, &q)| (p, q)).collect();
        prop_assert_eq!(b.bid_levels().collect::<Vec<_>>(), want_bids.clone());
        prop_assert_eq!(b.ask_levels().collect::<Vec<_>>(), want_asks.clone());
        prop_assert_eq!(b.best_bid(), want_bids.first().copied());
        prop_assert_eq!(b.best_ask(), want_asks.first().copied());
        prop_assert_eq!(b.bid_count(), want_bids.len());
        prop_assert_eq!(b.ask_count(), want_asks.len());
        prop_assert_eq!(b.bid_depth(5), want_bids.iter().take(5).map(|l| l.1).sum::<i64>());
        prop_assert_eq!(b.ask_depth(5), want_asks.iter().take(5).map(|l| l.1).sum::<i64>());
        Ok(())
    }

    proptest! {
        /// The fast top-N sums agree with the level iterator when levels span
        /// many occupancy words (prices within half a window of each other,
        /// so nothing overflows).
        #[test]
        fn depth_fast_path_matches_the_iterator(prices in prop::collection::vec((1u8..3, 0i64..2000, 1i64..100), 1..300)) {
            let mut b = Book::with_window(1, 4096);
            for (side_code, p, q) in prices {
                b.set(side_code, 100_000 + p, q);
            }
            prop_assert!(b.far_bids.is_empty() && b.far_asks.is_empty());
            for n in [1usize, 2, 5, 10, 63, 64, 65, 200, 10_000] {
                prop_assert_eq!(b.bid_depth(n), b.bid_levels().take(n).map(|l| l.1).sum::<i64>());
                prop_assert_eq!(b.ask_depth(n), b.ask_levels().take(n).map(|l| l.1).sum::<i64>());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The book agrees with a BTreeMap model after every update, with a
        /// tiny window so that re-centring, overflow and off-grid prices are
        /// all exercised, and with snapshot clears in between.
        #[test]
        fn book_matches_a_map_model(
            tick in prop::sample::select(vec![1i64, 5, 10, 100_000_000]),
            ops in prop::collection::vec((0u8..40, 1u8..3, -300i64..300, 0i64..4), 0..400)
        ) {
            let mut b = Book::with_window(tick, 64);
            let mut bids = BTreeMap::new();
            let mut asks = BTreeMap::new();
            for (op, s, p, q) in ops {
                if op == 0 {
                    b.clear();
                    bids.clear();
                    asks.clear();
                    continue;
                }
                // Mostly on-grid prices around 10,000, some off-grid, some far away.
                let price = match op {
                    1 => 10_000 + p * 1_000,
                    2 => 10_000 + p * tick + 1,
                    _ => 10_000 + p * tick,
                };
                b.set(s, price, q);
                let m = if s == side::BID { &mut bids } else { &mut asks };
                if q == 0 { m.remove(&price); } else { m.insert(price, q); }
                check_against_model(&b, &bids, &asks)?;
            }
        }
    }

    /// A quote as `(bid offset, bid qty, ask offset, ask qty)`; offset 0 means
    /// no price ([`UNDEF`]), qty 0 an empty side.
    fn quote_at(tick: i64, far: bool, (bp, bq, ap, aq): (i64, i64, i64, i64)) -> Quote {
        let price = |o: i64| {
            if o == 0 {
                UNDEF
            } else if far {
                10_000 + o * 1_000 * tick
            } else {
                10_000 + o * tick + i64::from(o % 7 == 0)
            }
        };
        Quote { bid_price: price(bp), bid_qty: bq, ask_price: price(ap), ask_qty: aq, ..Quote::default() }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A book fed only by quotes holds exactly the last quote's levels
        /// after every quote: random walks, far jumps that re-centre the
        /// tiny window, off-grid prices, missing sides, crossed quotes.
        #[test]
        fn quote_book_matches_the_last_quote(
            tick in prop::sample::select(vec![1i64, 5, 100_000_000]),
            quotes in prop::collection::vec((0u8..10, (-40i64..40, 0i64..3, -40i64..40, 0i64..3)), 0..300)
        ) {
            let mut b = Book::with_window(tick, 64);
            for (far, q) in quotes {
                let q = quote_at(tick, far == 0, q);
                b.apply_quote(&q);
                let mut bids = BTreeMap::new();
                let mut asks = BTreeMap::new();
                if q.bid_price != UNDEF && q.bid_qty > 0 { bids.insert(q.bid_price, q.bid_qty); }
                if q.ask_price != UNDEF && q.ask_qty > 0 { asks.insert(q.ask_price, q.ask_qty); }
                check_against_model(&b, &bids, &asks)?;
            }
        }

        /// A book fed by L2 updates, quotes and clears agrees with a map
        /// model of the documented rule: a quote removes the previous
        /// quote's two levels and sets its own, nothing else.
        #[test]
        fn mixed_l2_and_quote_book_matches_a_map_model(
            tick in prop::sample::select(vec![1i64, 10]),
            ops in prop::collection::vec(
                (0u8..20, 1u8..3, -30i64..30, 0i64..3, (-30i64..30, 0i64..3, -30i64..30, 0i64..3)), 0..300)
        ) {
            let mut b = Book::with_window(tick, 64);
            let mut m = [BTreeMap::new(), BTreeMap::new()];
            let mut quoted = [UNDEF; 2];
            for (op, s, p, q, quote) in ops {
                match op {
                    0 => {
                        b.clear();
                        m = [BTreeMap::new(), BTreeMap::new()];
                        quoted = [UNDEF; 2];
                    }
                    1..=9 => {
                        let price = 10_000 + p * tick;
                        b.set(s, price, q);
                        let side = &mut m[usize::from(s - 1)];
                        if q == 0 { side.remove(&price); } else { side.insert(price, q); }
                    }
                    _ => {
                        let qt = quote_at(tick, op == 10, quote);
                        b.apply_quote(&qt);
                        for (k, (price, qty)) in [(qt.bid_price, qt.bid_qty), (qt.ask_price, qt.ask_qty)].into_iter().enumerate() {
                            m[k].remove(&quoted[k]);
                            quoted[k] = UNDEF;
                            if price != UNDEF && qty > 0 {
                                m[k].insert(price, qty);
                                quoted[k] = price;
                            }
                        }
                    }
                }
                check_against_model(&b, &m[0], &m[1])?;
            }
        }
    }
}
