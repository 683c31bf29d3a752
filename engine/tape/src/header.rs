//! The 128-byte tape header.

use bytemuck::{Pod, Zeroable};

use crate::{Error, RecordKind, Result};

/// The 8 bytes every tape starts with.
pub const MAGIC: [u8; 8] = *b"TICKTAPE";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the version-1 header; records start at this offset.
pub const HEADER_SIZE: u32 = 128;
/// Records start at a multiple of this many bytes.
pub const RECORD_ALIGN: u32 = 64;

/// Bits of [`Header::flags`].
pub mod header_flags {
    /// Records are in non-decreasing `ts.exchange` order (set by the writer
    /// only when it saw them so).
    pub const SORTED: u32 = 1;
    /// `ts.local` holds a real receive time (a capture), not a copy of
    /// `ts.exchange`.
    pub const HAS_LOCAL_TS: u32 = 2;
}

/// Length of the symbol field.
pub const SYMBOL_LEN: usize = 32;
/// Length of the venue field.
pub const VENUE_LEN: usize = 16;

/// The tape header, stored little-endian at byte 0. See the crate docs for
/// the byte layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u16,
    /// [`RecordKind`] code.
    pub kind: u16,
    /// Size of one record in bytes.
    pub record_size: u32,
    /// Offset of the first record; a multiple of [`RECORD_ALIGN`].
    pub header_size: u32,
    /// [`header_flags`] bits.
    pub flags: u32,
    /// Number of records.
    pub record_count: u64,
    /// `ts.exchange` of the first record (0 if none).
    pub first_ts: i64,
    /// `ts.exchange` of the last record (0 if none).
    pub last_ts: i64,
    /// Prices are `value × 10^price_exponent`.
    pub price_exponent: i8,
    /// Quantities are `value × 10^qty_exponent`.
    pub qty_exponent: i8,
    /// Money amounts, rates and series values are `value × 10^value_exponent`.
    pub value_exponent: i8,
    /// Zero.
    pub reserved0: [u8; 5],
    /// Price tick in price units (0 if unknown).
    pub price_tick: i64,
    /// Symbol, UTF-8, NUL-padded.
    pub symbol: [u8; SYMBOL_LEN],
    /// Venue, UTF-8, NUL-padded.
    pub venue: [u8; VENUE_LEN],
    /// Quantity lot in quantity units (0 if unknown).
    pub qty_lot: i64,
    /// Zero.
    pub reserved1: [u8; 8],
}

const _: () = assert!(size_of::<Header>() == HEADER_SIZE as usize);

impl Header {
    /// The record kind (validated when the tape was opened).
    pub fn record_kind(&self) -> Option<RecordKind> {
        RecordKind::from_code(self.kind)
    }
    /// The symbol as text.
    pub fn symbol(&self) -> &str {
        text_field(&self.symbol)
    }
    /// The venue as text.
    pub fn venue(&self) -> &str {
        text_field(&self.venue)
    }
    /// Whether the writer saw the records in time order.
    pub fn is_sorted(&self) -> bool {
        self.flags & header_flags::SORTED != 0
    }
    /// Whether `ts.local` holds real receive times.
    pub fn has_local_ts(&self) -> bool {
        self.flags & header_flags::HAS_LOCAL_TS != 0
    }
}

/// What a writer needs to know to start a tape; the rest of the header is
/// filled in from the records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TapeMeta {
    /// Instrument symbol as the venue spells it (at most 32 bytes).
    pub symbol: String,
    /// Venue name, e.g. `binance-futures` (at most 16 bytes).
    pub venue: String,
    /// Decimal exponent of prices.
    pub price_exponent: i8,
    /// Decimal exponent of quantities.
    pub qty_exponent: i8,
    /// Decimal exponent of money amounts, rates and series values.
    pub value_exponent: i8,
    /// Price tick in price units (0 if unknown).
    pub price_tick: i64,
    /// Quantity lot in quantity units (0 if unknown).
    pub qty_lot: i64,
    /// Whether records carry real local receive times.
    pub has_local_ts: bool,
}

impl TapeMeta {
    /// The conventional file name of a tape of `kind` with this metadata:
    /// `{venue}.{symbol}.{kind}.tape`, e.g. `binance-futures.BTCUSDT.trades.tape`.
    pub fn file_name(&self, kind: RecordKind) -> String {
        let venue = if self.venue.is_empty() { "unknown" } else { &self.venue };
        let symbol: String = self
            .symbol
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        format!("{venue}.{symbol}.{kind}.tape")
    }

    pub(crate) fn to_header(&self, kind: RecordKind) -> Result<Header> {
        Ok(Header {
            magic: MAGIC,
            version: FORMAT_VERSION,
            kind: kind.code(),
            record_size: kind.record_size(),
            header_size: HEADER_SIZE,
            flags: if self.has_local_ts { header_flags::HAS_LOCAL_TS } else { 0 },
            record_count: 0,
            first_ts: 0,
            last_ts: 0,
            price_exponent: self.price_exponent,
            qty_exponent: self.qty_exponent,
            value_exponent: self.value_exponent,
            reserved0: [0; 5],
            price_tick: self.price_tick,
            symbol: pack_text("symbol", &self.symbol)?,
            venue: pack_text("venue", &self.venue)?,
            qty_lot: self.qty_lot,
            reserved1: [0; 8],
        })
    }

    /// The metadata of an existing header (to write a derived tape).
    pub fn from_header(h: &Header) -> Self {
        TapeMeta {
            symbol: h.symbol().to_owned(),
            venue: h.venue().to_owned(),
            price_exponent: h.price_exponent,
            qty_exponent: h.qty_exponent,
            value_exponent: h.value_exponent,
            price_tick: h.price_tick,
            qty_lot: h.qty_lot,
            has_local_ts: h.has_local_ts(),
        }
    }
}

/// Packs `value` into a NUL-padded fixed-size field.
pub fn pack_text<const N: usize>(field: &'static str, value: &str) -> Result<[u8; N]> {
    if value.len() > N {
        return Err(Error::Text {
            field,
            value: value.to_owned(),
            why: if N == SYMBOL_LEN { "longer than 32 bytes" } else { "longer than the field" },
        });
    }
    if value.contains('\0') {
        return Err(Error::Text { field, value: value.to_owned(), why: "contains a NUL byte" });
    }
    let mut out = [0u8; N];
    out[..value.len()].copy_from_slice(value.as_bytes());
    Ok(out)
}

/// The text of a NUL-padded field, up to the first NUL. Invalid UTF-8 (only
/// in a corrupt file) reads as the longest valid prefix.
pub fn text_field(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match std::str::from_utf8(&bytes[..end]) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    }
}
