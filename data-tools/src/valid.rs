//! Checks every record passes before it is stored: values no market produces,
//! timestamps outside any plausible date, and repeated trade ids.

use ticktape_tape::{Bar, Fill, Funding, Level, Quote, Series, Trade, UNDEF};

/// Earliest plausible exchange time: the tape crate's
/// [`TS_MIN`](ticktape_tape::check::TS_MIN) (2009-01-01 UTC), the same bound a
/// replay checks, so a converter never writes a tape that a replay refuses.
/// A µs column that holds ms lands in January 1970, far before it.
pub(crate) const MIN_TS: i64 = ticktape_tape::check::TS_MIN;
/// Latest plausible exchange time, inclusive: the tape crate's
/// [`TS_MAX`](ticktape_tape::check::TS_MAX) (2100-01-01 UTC).
pub(crate) const MAX_TS: i64 = ticktape_tape::check::TS_MAX;
/// [`MIN_TS`]..=[`MAX_TS`] as text, for messages.
pub(crate) const RANGE_TEXT: &str = "2009..2100";

/// What a record of one kind can never hold.
pub(crate) trait Sane {
    /// Why this record is impossible, if it is.
    fn impossible(&self) -> Option<&'static str>;
    /// The venue's trade id, or 0 where there is none (duplicates are looked for among non-zero ids).
    #[inline]
    fn trade_id(&self) -> u64 {
        0
    }
}

impl Sane for Trade {
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        if self.price <= 0 {
            Some("trade price is not positive")
        } else if self.qty <= 0 {
            Some("trade size is not positive (the venue has no zero-size trades)")
        } else {
            None
        }
    }
    #[inline]
    fn trade_id(&self) -> u64 {
        self.trade_id
    }
}

impl Sane for Level {
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        if self.price <= 0 {
            Some("book level price is not positive")
        } else if self.qty < 0 {
            Some("book level quantity is negative")
        } else {
            None
        }
    }
}

impl Sane for Quote {
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        let bid = self.bid_price != UNDEF;
        let ask = self.ask_price != UNDEF;
        if (bid && self.bid_price <= 0) || (ask && self.ask_price <= 0) {
            Some("quote price is not positive")
        } else if self.bid_qty < 0 || self.ask_qty < 0 {
            Some("quote quantity is negative")
        } else if bid && ask && self.bid_qty > 0 && self.ask_qty > 0 && self.bid_price > self.ask_price {
            Some("crossed quote: the bid is above the ask")
        } else {
            None
        }
    }
}

impl Sane for Funding {
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        if (self.mark_price != UNDEF && self.mark_price <= 0) || (self.index_price != UNDEF && self.index_price <= 0) {
            Some("mark or index price is not positive")
        } else {
            None
        }
    }
}

impl Sane for Bar {
    /// Prices are not required to be positive: premium-index bars are often negative.
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        if self.low > self.high {
            Some("bar low is above its high")
        } else if self.volume != UNDEF && self.volume < 0 {
            Some("bar volume is negative")
        } else {
            None
        }
    }
}

impl Sane for Series {
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        None
    }
}

impl Sane for Fill {
    #[inline]
    fn impossible(&self) -> Option<&'static str> {
        if self.price <= 0 { Some("fill price is not positive") } else { None }
    }
}

/// The last trade ids of one stream, to find repeated rows.
///
/// Ids usually rise: an id above every id seen is new without a search. Any
/// other id is looked for among the last [`RecentIds::WINDOW`] ids, so a row
/// repeated within that many trades is found.
#[derive(Debug)]
pub(crate) struct RecentIds {
    max: u64,
    ring: Box<[u64]>,
    pos: usize,
}

impl Default for RecentIds {
    fn default() -> Self {
        RecentIds { max: 0, ring: vec![0; Self::WINDOW].into_boxed_slice(), pos: 0 }
    }
}

impl RecentIds {
    /// How many recent ids a repeat is looked for among.
    pub(crate) const WINDOW: usize = 4096;

    /// Records `id` (non-zero); `true` if it was seen among the recent ids.
    #[inline]
    pub(crate) fn repeated(&mut self, id: u64) -> bool {
        if id > self.max {
            self.max = id;
        } else if self.ring.contains(&id) {
            return true;
        }
        self.ring[self.pos] = id;
        self.pos = (self.pos + 1) % Self::WINDOW;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_are_found_in_and_out_of_order() {
        let mut r = RecentIds::default();
        assert!(!r.repeated(5));
        assert!(!r.repeated(6));
        assert!(r.repeated(6));
        assert!(!r.repeated(3), "an older id not seen before is new");
        assert!(r.repeated(3));
        assert!(r.repeated(5));
    }
}
