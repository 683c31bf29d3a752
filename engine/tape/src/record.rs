//! Record types: fixed-size `#[repr(C)]` plain-old-data, read in place.
//!
//! Every record starts with the same 16-byte [`Stamp`] (exchange time, local
//! receive time). Prices are `i64` fixed point scaled by the tape header's
//! price exponent, quantities by its quantity exponent, and money amounts,
//! rates and series values by its value exponent. Padding is written out as
//! named `reserved` fields that writers zero.

use std::fmt;

use bytemuck::{Pod, Zeroable};

use crate::check::Rule;

/// Sentinel for "no value" in an `i64` field (dbn uses the same convention).
pub const UNDEF: i64 = i64::MAX;

/// Side codes used by [`Trade::side`], [`Level::side`] and [`Fill::side`].
pub mod side {
    /// Side unknown or not applicable.
    pub const NONE: u8 = 0;
    /// Buy, or the bid side of a book.
    pub const BUY: u8 = 1;
    /// Sell, or the ask side of a book.
    pub const SELL: u8 = 2;
    /// Alias of [`BUY`] for book levels.
    pub const BID: u8 = BUY;
    /// Alias of [`SELL`] for book levels.
    pub const ASK: u8 = SELL;
}

/// Bits of [`Level::flags`].
pub mod level_flags {
    /// The first record of a snapshot: the book is cleared before it applies.
    pub const SNAPSHOT_START: u8 = 1;
    /// The last record of a batch (one exchange message). A book is
    /// consistent only after a batch's last record.
    pub const BATCH_END: u8 = 2;
    /// The record is part of a snapshot (not an incremental update).
    pub const SNAPSHOT: u8 = 4;
}

/// Bits of [`Trade::flags`].
pub mod trade_flags {
    /// The record aggregates several fills of one taker order (Binance
    /// `aggTrade`); `trade_id` is then the aggregate id.
    pub const AGGREGATED: u8 = 1;
}

/// Bits of [`Funding::flags`].
pub mod funding_flags {
    /// Funding settled at this record's exchange time at `funding_rate`
    /// (positions pay or receive). Without it the record is an indication
    /// (mark, index, predicted rate).
    pub const SETTLEMENT: u8 = 1;
}

/// Bits of [`Fill::flags`].
pub mod fill_flags {
    /// The fill took liquidity (crossed the spread); without it the fill was
    /// maker.
    pub const CROSSED: u8 = 1;
    /// The fill is part of a liquidation: the venue's `liquidation` field is
    /// set. The account is the liquidator (or the backstop vault) unless
    /// [`LIQUIDATED`] is also set.
    pub const LIQUIDATION: u8 = 2;
    /// The fill came from a TWAP order (the venue's `twap_id` is set).
    pub const TWAP: u8 = 4;
    /// This account is the liquidated user of the liquidation
    /// (`liquidation.liquidatedUser` is the account's own address). Only set
    /// with [`LIQUIDATION`].
    pub const LIQUIDATED: u8 = 8;
    /// The order was routed through a builder (the venue's `builder` field or
    /// a `builderFee` is set).
    pub const BUILDER: u8 = 16;
    /// Every defined bit.
    pub const ALL: u8 = CROSSED | LIQUIDATION | TWAP | LIQUIDATED | BUILDER;
}

/// Position direction codes used by [`Fill::dir`].
pub mod dir {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// Opened or added to a long.
    pub const OPEN_LONG: u8 = 1;
    /// Reduced or closed a long.
    pub const CLOSE_LONG: u8 = 2;
    /// Opened or added to a short.
    pub const OPEN_SHORT: u8 = 3;
    /// Reduced or closed a short.
    pub const CLOSE_SHORT: u8 = 4;
    /// Flipped from long to short.
    pub const LONG_TO_SHORT: u8 = 5;
    /// Flipped from short to long.
    pub const SHORT_TO_LONG: u8 = 6;
    /// A spot buy.
    pub const BUY: u8 = 7;
    /// A spot sell.
    pub const SELL: u8 = 8;
    /// Anything else the venue reports (dust conversions, vault transfers).
    pub const OTHER: u8 = 9;
}

/// The two timestamps every record starts with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Stamp {
    /// When the event happened at the venue, ns since the Unix epoch (UTC).
    /// Tapes are sorted by this field.
    pub exchange: i64,
    /// When the event was received locally, ns since the Unix epoch (UTC).
    /// Equal to `exchange` on tapes whose header lacks `HAS_LOCAL_TS`.
    pub local: i64,
}

/// The kinds of record a tape can hold. The discriminant is the code stored
/// at byte offset 10 of the header.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// [`Trade`]
    Trade = 1,
    /// [`Level`]
    Level = 2,
    /// [`Quote`]
    Quote = 3,
    /// [`Funding`]
    Funding = 4,
    /// [`Bar`]
    Bar = 5,
    /// [`Series`]
    Series = 6,
    /// [`Fill`]
    Fill = 7,
}

impl RecordKind {
    /// Every kind, in code order.
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Trade,
        RecordKind::Level,
        RecordKind::Quote,
        RecordKind::Funding,
        RecordKind::Bar,
        RecordKind::Series,
        RecordKind::Fill,
    ];

    /// The kind for a header code, if known.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u16 == code)
    }

    /// The code stored in the header.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Size in bytes of one record of this kind.
    pub fn record_size(self) -> u32 {
        let size = match self {
            RecordKind::Trade => size_of::<Trade>(),
            RecordKind::Level => size_of::<Level>(),
            RecordKind::Quote => size_of::<Quote>(),
            RecordKind::Funding => size_of::<Funding>(),
            RecordKind::Bar => size_of::<Bar>(),
            RecordKind::Series => size_of::<Series>(),
            RecordKind::Fill => size_of::<Fill>(),
        };
        size as u32
    }

    /// The short plural name used in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Trade => "trades",
            RecordKind::Level => "l2",
            RecordKind::Quote => "quotes",
            RecordKind::Funding => "funding",
            RecordKind::Bar => "bars",
            RecordKind::Series => "series",
            RecordKind::Fill => "fills",
        }
    }

    /// The kind for a [`name`](Self::name), if known.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A record type that can be stored in a tape.
pub trait Record: Pod + fmt::Debug + Send + Sync + 'static {
    /// The kind code stored in the header of tapes of this record.
    const KIND: RecordKind;

    /// The record's timestamps.
    fn stamp(&self) -> Stamp;

    /// A value or code this record kind never holds, if any (an unknown
    /// side or flag bit, a non-zero reserved byte, a negative quantity...).
    /// Checked on every record as it is replayed and by
    /// [`Tape::verify`](crate::Tape::verify) (see [`check`](crate::check)),
    /// so it must stay a few compares.
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        None
    }

    /// Exactly `self.check().is_none()`, in a form the replay loop can
    /// evaluate without branches (kinds on the hottest paths override it; a
    /// property test holds every override to `check`).
    #[inline(always)]
    fn is_valid(&self) -> bool {
        self.check().is_none()
    }

    /// One [`Rule`] per 8-byte word of the record, for the replay's
    /// vectorised chunk pass ([`check::check_range`](crate::check::check_range)),
    /// or empty when the kind has none (its chunks are then checked record
    /// by record). A record that passes every rule must pass [`check`](Self::check)
    /// (and have times within the replay's bounds); a rule may be stricter
    /// than `check` (such a chunk is re-checked exactly). Property tests hold
    /// every kind's rules to that.
    const RULES: &'static [Rule] = &[];
}

/// The little-endian `u64` at byte `at` of a record (a side, flags and
/// reserved bytes checked in one compare).
#[inline(always)]
fn word<R: Pod>(r: &R, at: usize) -> u64 {
    u64::from_le(bytemuck::pod_read_unaligned(&bytemuck::bytes_of(r)[at..at + 8]))
}

/// One trade print.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Trade {
    /// Timestamps.
    pub ts: Stamp,
    /// Trade price (price exponent).
    pub price: i64,
    /// Trade quantity, > 0 (quantity exponent).
    pub qty: i64,
    /// The venue's trade id (or aggregate id), 0 if none.
    pub trade_id: u64,
    /// Aggressor (taker) side: [`side::BUY`], [`side::SELL`] or [`side::NONE`].
    pub side: u8,
    /// [`trade_flags`] bits.
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 6],
}

impl Record for Trade {
    const KIND: RecordKind = RecordKind::Trade;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        if self.side > side::SELL {
            Some("trade side is not 0 (none), 1 (buy) or 2 (sell)")
        } else if self.qty <= 0 {
            Some("trade quantity is not positive")
        } else if self.flags & !trade_flags::AGGREGATED != 0 {
            Some("trade flags set undefined bits (only bit 0, aggregated, is defined)")
        } else if self.reserved != [0; 6] {
            Some("trade reserved bytes 42..48 are not zero")
        } else if self.price == UNDEF {
            Some("trade price is absent (i64::MAX)")
        } else {
            None
        }
    }
    #[inline(always)]
    fn is_valid(&self) -> bool {
        // Bytes 40..48: side <= 2, flags only bit 0, reserved zero.
        let w = word(self, 40);
        ((w & !0x01ff) == 0) & ((w & 0xff) <= 2) & (self.qty > 0) & (self.price != UNDEF)
    }
    // Word 5 (side, flags, reserved): side + 1 (saturating) in 1..=3, flags
    // bit 0 only, the rest zero.
    const RULES: &'static [Rule] =
        &[Rule::TIME, Rule::TIME, Rule::PRICE, Rule::POSITIVE, Rule::ANY, Rule { sat: 0x01, add: 0, clear: !0x0103 }];
}

/// One L2 price-level update: the level's new absolute quantity.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Level {
    /// Timestamps.
    pub ts: Stamp,
    /// Level price (price exponent).
    pub price: i64,
    /// New absolute quantity at this price; 0 removes the level.
    pub qty: i64,
    /// [`side::BID`] or [`side::ASK`].
    pub side: u8,
    /// [`level_flags`] bits.
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 6],
}

impl Level {
    /// Whether this record ends a batch (the book is consistent after it).
    #[inline]
    pub fn is_batch_end(&self) -> bool {
        self.flags & level_flags::BATCH_END != 0
    }
    /// Whether the book is cleared before this record applies.
    #[inline]
    pub fn is_snapshot_start(&self) -> bool {
        self.flags & level_flags::SNAPSHOT_START != 0
    }
}

impl Record for Level {
    const KIND: RecordKind = RecordKind::Level;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        if self.side != side::BID && self.side != side::ASK {
            Some("level side is not 1 (bid) or 2 (ask)")
        } else if self.qty < 0 {
            Some("level quantity is negative")
        } else if self.flags & !(level_flags::SNAPSHOT_START | level_flags::BATCH_END | level_flags::SNAPSHOT) != 0 {
            Some("level flags set undefined bits (only bits 0..2 are defined)")
        } else if self.reserved != [0; 6] {
            Some("level reserved bytes 34..40 are not zero")
        } else if self.price == UNDEF {
            Some("level price is absent (i64::MAX)")
        } else {
            None
        }
    }
    #[inline(always)]
    fn is_valid(&self) -> bool {
        // Bytes 32..40: side 1 or 2, flags only bits 0..2, reserved zero.
        let w = word(self, 32);
        ((w & !0x07ff) == 0) & ((w & 0xff).wrapping_sub(1) < 2) & (self.qty >= 0) & (self.price != UNDEF)
    }
    // Word 4 (side, flags, reserved): minus 1 leaves only bit 0 (side 1 or
    // 2) and bits 8..10 (flags); any other side borrows or sets bits 1..7.
    const RULES: &'static [Rule] =
        &[Rule::TIME, Rule::TIME, Rule::PRICE, Rule::NON_NEGATIVE, Rule { sat: 0, add: u64::MAX, clear: !0x0701 }];
}

/// Best bid and offer (L1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Quote {
    /// Timestamps.
    pub ts: Stamp,
    /// Best bid price ([`UNDEF`] if none).
    pub bid_price: i64,
    /// Best bid quantity.
    pub bid_qty: i64,
    /// Best ask price ([`UNDEF`] if none).
    pub ask_price: i64,
    /// Best ask quantity.
    pub ask_qty: i64,
}

impl Record for Quote {
    const KIND: RecordKind = RecordKind::Quote;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        (self.bid_qty < 0 || self.ask_qty < 0).then_some("quote quantity is negative")
    }
    const RULES: &'static [Rule] =
        &[Rule::TIME, Rule::TIME, Rule::ANY, Rule::NON_NEGATIVE, Rule::ANY, Rule::NON_NEGATIVE];
}

/// Funding rate, mark and index price.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Funding {
    /// Timestamps.
    pub ts: Stamp,
    /// Funding rate per interval (value exponent), [`UNDEF`] if unknown.
    /// Positive: longs pay shorts.
    pub funding_rate: i64,
    /// Mark price (price exponent), [`UNDEF`] if unknown.
    pub mark_price: i64,
    /// Index price (price exponent), [`UNDEF`] if unknown.
    pub index_price: i64,
    /// Next funding time, ns since the epoch, [`UNDEF`] if unknown.
    pub next_funding_ts: i64,
    /// [`funding_flags`] bits.
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

impl Funding {
    /// A funding settlement at `ts` with only the rate known (mark, index
    /// and next funding time absent).
    pub fn settlement(ts: Stamp, funding_rate: i64) -> Self {
        Funding {
            ts,
            funding_rate,
            mark_price: UNDEF,
            index_price: UNDEF,
            next_funding_ts: UNDEF,
            flags: funding_flags::SETTLEMENT,
            reserved: [0; 7],
        }
    }
}

impl Record for Funding {
    const KIND: RecordKind = RecordKind::Funding;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        if self.flags & !funding_flags::SETTLEMENT != 0 {
            Some("funding flags set undefined bits (only bit 0, settlement, is defined)")
        } else if self.reserved != [0; 7] {
            Some("funding reserved bytes 49..56 are not zero")
        } else if self.flags & funding_flags::SETTLEMENT != 0 && self.funding_rate == UNDEF {
            Some("funding settlement without a rate")
        } else {
            None
        }
    }
}

/// One OHLCV bar. Its exchange time is the bar's **close** time (when it
/// became known), so replaying bars never looks ahead.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Bar {
    /// Timestamps; `ts.exchange` is the close time.
    pub ts: Stamp,
    /// Open time, ns since the epoch.
    pub open_ts: i64,
    /// Open price.
    pub open: i64,
    /// High price.
    pub high: i64,
    /// Low price.
    pub low: i64,
    /// Close price.
    pub close: i64,
    /// Base volume (quantity exponent).
    pub volume: i64,
    /// Base volume bought by takers (quantity exponent), [`UNDEF`] if unknown.
    pub taker_buy_volume: i64,
    /// Number of trades, 0 if unknown.
    pub trade_count: u64,
}

impl Record for Bar {
    const KIND: RecordKind = RecordKind::Bar;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        if self.low > self.high {
            Some("bar low is above its high")
        } else if self.volume < 0 {
            Some("bar volume is negative")
        } else {
            None
        }
    }
}

/// One value of a scalar series (a factor, a signal, an external metric).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Series {
    /// Timestamps.
    pub ts: Stamp,
    /// Which series within the tape.
    pub id: u64,
    /// The value (value exponent).
    pub value: i64,
}

impl Record for Series {
    const KIND: RecordKind = RecordKind::Series;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    const RULES: &'static [Rule] = &[Rule::TIME, Rule::TIME, Rule::ANY, Rule::ANY];
}

/// One fill of a trader's account, as exchanges report it (Hyperliquid
/// `userFills`). A fills tape may mix symbols, so each record names its own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Fill {
    /// Timestamps.
    pub ts: Stamp,
    /// Account id (assigned by the converter; see its account table).
    pub account: u64,
    /// Fill price (price exponent).
    pub price: i64,
    /// Fill size, > 0 (quantity exponent).
    pub qty: i64,
    /// Position before the fill, signed (quantity exponent).
    pub start_position: i64,
    /// Realised PnL of the fill (value exponent).
    pub closed_pnl: i64,
    /// Fee paid, negative for a rebate (value exponent).
    pub fee: i64,
    /// The venue's order id, 0 if none.
    pub order_id: u64,
    /// The venue's trade id, 0 if none.
    pub trade_id: u64,
    /// Symbol, UTF-8, NUL-padded.
    pub symbol: [u8; 16],
    /// [`side::BUY`] or [`side::SELL`].
    pub side: u8,
    /// [`dir`] code.
    pub dir: u8,
    /// [`fill_flags`] bits.
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 5],
}

impl Fill {
    /// The symbol as text (up to the first NUL).
    pub fn symbol(&self) -> &str {
        crate::header::text_field(&self.symbol)
    }
}

impl Record for Fill {
    const KIND: RecordKind = RecordKind::Fill;
    fn stamp(&self) -> Stamp {
        self.ts
    }
    #[inline(always)]
    fn check(&self) -> Option<&'static str> {
        if self.side != side::BUY && self.side != side::SELL {
            Some("fill side is not 1 (buy) or 2 (sell)")
        } else if self.qty <= 0 {
            Some("fill quantity is not positive")
        } else if self.dir > dir::OTHER {
            Some("fill direction code is unknown")
        } else if self.flags & !fill_flags::ALL != 0 {
            Some("fill flags set undefined bits (only bits 0 to 4 are defined)")
        } else if self.flags & fill_flags::LIQUIDATED != 0 && self.flags & fill_flags::LIQUIDATION == 0 {
            Some("fill flag LIQUIDATED (bit 3) set without LIQUIDATION (bit 1)")
        } else if self.reserved != [0; 5] {
            Some("fill reserved bytes 99..104 are not zero")
        } else {
            None
        }
    }
}
