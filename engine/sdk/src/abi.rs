//! The C ABI between the `ticktape` host and strategy plugins.
//!
//! Only `#[repr(C)]` types cross. Status codes, kinds and reasons are plain
//! integers with named constants, never Rust enums (an unknown value from a
//! newer peer must not be undefined behaviour). Strings and buffers cross as
//! pointer + length and are freed by the side that allocated them.
//!
//! A plugin exports one symbol, [`INIT_SYMBOL`], an `extern "C" fn() ->
//! *const PluginManifest`. The manifest and everything it points to are
//! `'static` in the plugin, which is never unloaded. Tables of functions
//! ([`PluginVTable`], [`HostApi`]) start with their own size and are
//! append-only: a new SDK version may add entries at the end, and a reader
//! uses only the entries both sides have.
//!
//! [`layout_hash`] fingerprints the size and field offsets of every type
//! that crosses; host and plugin must agree on it exactly.

use std::ffi::c_void;
use std::mem::{offset_of, size_of};

use ticktape_tape::{Bar, Fill, Funding, Level, Quote, Series, Trade};

/// The ABI version. Bumped on any incompatible change to this module.
pub const ABI_VERSION: u32 = 1;

/// Name of the symbol every plugin exports (NUL-terminated for `dlsym`).
pub const INIT_SYMBOL: &[u8] = b"ticktape_plugin_init\0";

/// Status codes returned by plugin and host functions.
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// The plugin's configuration was refused; the error buffer says why.
    pub const CONFIG_ERROR: i32 = 1;
    /// The plugin panicked; the error buffer holds the panic message.
    pub const PANIC: i32 = 2;
    /// The plugin reported an error; the error buffer says why.
    pub const ERROR: i32 = 3;
    /// A host call was given an argument it cannot use (unknown instrument,
    /// unknown order id).
    pub const INVALID: i32 = 4;
}

/// A borrowed UTF-8 string or byte buffer: pointer + length. Valid only for
/// the duration of the call that hands it over, unless documented as
/// `'static` (manifest strings).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrRef {
    /// First byte (may dangle when `len` is 0).
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// A reference to a static string.
    pub const fn from_static(s: &'static str) -> Self {
        StrRef { ptr: s.as_ptr(), len: s.len() }
    }

    /// A reference to `s`, valid while `s` is.
    pub fn new(s: &str) -> Self {
        StrRef { ptr: s.as_ptr(), len: s.len() }
    }

    /// An empty string.
    pub const fn empty() -> Self {
        StrRef { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 }
    }

    /// The string, lossily decoded.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be readable and unchanged for `'a`.
    pub unsafe fn as_str<'a>(self) -> std::borrow::Cow<'a, str> {
        if self.len == 0 || self.ptr.is_null() {
            return std::borrow::Cow::Borrowed("");
        }
        // SAFETY: the caller guarantees the range is readable for 'a.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        String::from_utf8_lossy(bytes)
    }
}

/// A buffer allocated by the plugin and handed to the host, which must give
/// it back through [`PluginVTable::free_buffer`] once read.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// First byte, or null when empty.
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: usize,
    /// Capacity of the allocation (needed to free it).
    pub cap: usize,
}

impl OwnedBuf {
    /// An empty buffer (nothing to free).
    pub const fn empty() -> Self {
        OwnedBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 }
    }
}

/// What a plugin tells the host about itself. `'static` in the plugin.
#[repr(C)]
#[derive(Debug)]
pub struct PluginManifest {
    /// [`ABI_VERSION`] the plugin was built for. Read first: nothing else is
    /// trusted until it matches.
    pub abi_version: u32,
    /// `size_of::<PluginManifest>()` as the plugin saw it.
    pub manifest_size: u32,
    /// Version of `ticktape-sdk` the plugin was built against.
    pub sdk_version: StrRef,
    /// Plugin (crate) name.
    pub name: StrRef,
    /// Plugin (crate) version.
    pub version: StrRef,
    /// `rustc --version` of the build.
    pub build_rustc: StrRef,
    /// Target triple of the build.
    pub build_target: StrRef,
    /// Cargo profile of the build (`debug`, `release`).
    pub build_profile: StrRef,
    /// 1 if the plugin was built with `panic = "unwind"` (required: panics
    /// must be caught at the boundary), 0 for `panic = "abort"`.
    pub panic_unwind: u32,
    /// Which market events the strategy wants ([`subscribe`] bits). The
    /// host still keeps the strategy's view of the book current; it only
    /// skips calling the plugin for events it did not ask for.
    pub subscriptions: u32,
    /// Tape format version of the records the plugin reads in place.
    pub tape_format_version: u32,
    /// [`layout_hash`] as the plugin computed it.
    pub layout_hash: u64,
    /// The plugin's functions.
    pub vtable: *const PluginVTable,
}

// SAFETY: the manifest is immutable static data; its pointers refer to
// immutable static strings and functions, safe to read from any thread.
unsafe impl Sync for PluginManifest {}

/// Bits of [`PluginManifest::subscriptions`]: bit `k` is record kind code `k`;
/// bit 8 is [`subscribe::BOOK_TOPS`].
pub mod subscribe {
    /// Trades.
    pub const TRADES: u32 = 1 << 1;
    /// L2 level updates (and `on_book` after each batch).
    pub const LEVELS: u32 = 1 << 2;
    /// Best bid/offer quotes.
    pub const QUOTES: u32 = 1 << 3;
    /// Funding, mark and index.
    pub const FUNDING: u32 = 1 << 4;
    /// Bars.
    pub const BARS: u32 = 1 << 5;
    /// Series values.
    pub const SERIES: u32 = 1 << 6;
    /// Every market event.
    pub const ALL: u32 = TRADES | LEVELS | QUOTES | FUNDING | BARS | SERIES;
    /// Instead of [`LEVELS`] (which wins when both are set): of an L2 tape's
    /// level updates, only the level that ends an exchange message, and only
    /// when the message changed the best bid or ask price (or emptied or
    /// refilled a side) of the strategy's book since the previous message's
    /// end (the first message always counts). The other updates still reach
    /// the strategy's book, in the same order and at the same times, without
    /// a call. For a strategy that reads the book itself and needs to see
    /// every move of the top but not every level (a mid-change clock).
    pub const BOOK_TOPS: u32 = 1 << 8;
    /// No market events: the strategy acts on timers and order updates and
    /// reads the book through its context.
    pub const NONE: u32 = 0;
}

/// An opaque strategy instance owned by the plugin.
pub type Instance = *mut c_void;
/// An opaque host context, passed back to [`HostApi`] functions.
pub type HostCtx = *mut c_void;

/// The plugin's functions. Append-only; `size` comes first. Every function
/// catches panics and reports them as [`status::PANIC`].
#[repr(C)]
#[derive(Debug)]
pub struct PluginVTable {
    /// `size_of::<PluginVTable>()` as the plugin saw it.
    pub size: usize,
    /// Creates an instance from its TOML configuration text. On success
    /// writes the instance to `out`; on failure fills `err`.
    pub create: unsafe extern "C" fn(config: StrRef, out: *mut Instance, err: *mut OwnedBuf) -> i32,
    /// Called once before the first event.
    pub on_start: unsafe extern "C" fn(inst: Instance, host: *const HostApi, ctx: HostCtx, err: *mut OwnedBuf) -> i32,
    /// Delivers a batch of market events that share one local time.
    pub on_events: unsafe extern "C" fn(
        inst: Instance,
        host: *const HostApi,
        ctx: HostCtx,
        events: *const EventRef,
        n: usize,
        err: *mut OwnedBuf,
    ) -> i32,
    /// Delivers a batch of order updates that share one local time.
    pub on_orders: unsafe extern "C" fn(
        inst: Instance,
        host: *const HostApi,
        ctx: HostCtx,
        updates: *const OrderUpdate,
        n: usize,
        err: *mut OwnedBuf,
    ) -> i32,
    /// A timer set with [`HostApi::set_timer`] fired.
    pub on_timer:
        unsafe extern "C" fn(inst: Instance, host: *const HostApi, ctx: HostCtx, token: u64, err: *mut OwnedBuf) -> i32,
    /// Called once after the last event.
    pub on_finish: unsafe extern "C" fn(inst: Instance, host: *const HostApi, ctx: HostCtx, err: *mut OwnedBuf) -> i32,
    /// Drops an instance.
    pub destroy: unsafe extern "C" fn(inst: Instance),
    /// Frees a buffer the plugin allocated.
    pub free_buffer: unsafe extern "C" fn(buf: OwnedBuf),
    /// As `create`, with the folder relative paths in the configuration are
    /// relative to (`dir`: the folder of the run file or config file that
    /// holds the configuration; empty: the working directory). The SDK's
    /// [`crate::config_path`] resolves against it while the strategy is
    /// created. Hosts call this one; `create` is `create_in` with an empty
    /// `dir`.
    pub create_in: unsafe extern "C" fn(config: StrRef, dir: StrRef, out: *mut Instance, err: *mut OwnedBuf) -> i32,
}

/// One market event handed to a plugin: a pointer to a tape record, read in
/// place. Valid for the duration of the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EventRef {
    /// Record kind code ([`ticktape_tape::RecordKind`] codes).
    pub kind: u32,
    /// Index of the instrument in the run ([`HostApi::instrument`]).
    pub instrument: u32,
    /// Local time at which the strategy receives the event, ns.
    pub ts: i64,
    /// The record (a `Trade`, `Level`, ... per `kind`).
    pub record: *const c_void,
}

/// Order types for [`OrderRequest::kind`].
pub mod order_kind {
    /// A limit order.
    pub const LIMIT: u8 = 1;
    /// A market order: executes against the book at any price.
    pub const MARKET: u8 = 2;
}

/// Times in force for [`OrderRequest::tif`].
pub mod tif {
    /// Good till cancelled: rests on the book.
    pub const GTC: u8 = 1;
    /// Immediate or cancel: whatever does not execute on arrival is cancelled.
    pub const IOC: u8 = 2;
    /// Post only: rejected if it would execute on arrival.
    pub const POST_ONLY: u8 = 3;
}

/// How many timers a strategy may set at or before `now()` at one instant
/// (time not advancing). Such a timer fires once, at `now()`; a strategy
/// that keeps re-arming one at `now()` would never let time move on, so
/// the run stops with an error naming the timer after this many.
pub const MAX_TIMERS_AT_NOW: u32 = 10_000;

/// A new order.
///
/// The host rejects a request with reason [`reason::INVALID`] as it is sent
/// (it never reaches the exchange; the rejection is heard after the
/// response latency) when a code is unknown (side, kind, time in force;
/// a market order cannot be post-only), `reserved` is not zero, or the
/// quantity, or a limit order's price, is outside 1..=2^53 units.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderRequest {
    /// Instrument index.
    pub instrument: u32,
    /// `side::BUY` or `side::SELL` (tape side codes).
    pub side: u8,
    /// [`order_kind`] code.
    pub kind: u8,
    /// [`tif`] code (market orders are always IOC).
    pub tif: u8,
    /// Zero.
    pub reserved: u8,
    /// Limit price (price units); ignored for market orders.
    pub price: i64,
    /// Quantity (quantity units), > 0.
    pub qty: i64,
    /// The strategy's own tag, echoed in every update of the order.
    pub tag: u64,
}

/// Kinds of [`OrderUpdate`].
pub mod update_kind {
    /// The exchange accepted the order (it rests, or is about to execute).
    pub const ACCEPTED: u8 = 1;
    /// The exchange refused the order; see the reason.
    pub const REJECTED: u8 = 2;
    /// (Part of) the order executed.
    pub const FILLED: u8 = 3;
    /// The order was cancelled (on request, or the rest of an IOC).
    pub const CANCELLED: u8 = 4;
    /// A replace took effect: new price and quantity.
    pub const REPLACED: u8 = 5;
}

/// Reasons for rejections and cancellations.
pub mod reason {
    /// None.
    pub const NONE: u8 = 0;
    /// The price is not a multiple of the tick.
    pub const PRICE_NOT_ON_TICK: u8 = 1;
    /// The quantity is not a multiple of the lot.
    pub const QTY_NOT_ON_LOT: u8 = 2;
    /// A post-only order would have crossed the book.
    pub const POST_ONLY_WOULD_CROSS: u8 = 3;
    /// The order could take the position beyond its limit.
    pub const POSITION_LIMIT: u8 = 4;
    /// The order's notional exceeds the limit.
    pub const NOTIONAL_LIMIT: u8 = 5;
    /// No such open order (already filled or cancelled).
    pub const UNKNOWN_ORDER: u8 = 6;
    /// A malformed request: an unknown side, kind or time-in-force code, or
    /// a quantity or price outside 1..=2^53 units.
    pub const INVALID: u8 = 7;
    /// A market or IOC order found no liquidity.
    pub const NO_LIQUIDITY: u8 = 8;
    /// Cancelled because the strategy asked.
    pub const REQUESTED: u8 = 9;
    /// The unfilled rest of an IOC or market order.
    pub const IOC_REMAINDER: u8 = 10;
    /// Cancelled at the end of the run.
    pub const END_OF_RUN: u8 = 11;

    /// A short description of a reason code.
    pub fn describe(code: u8) -> &'static str {
        match code {
            NONE => "none",
            PRICE_NOT_ON_TICK => "price not on the tick grid",
            QTY_NOT_ON_LOT => "quantity not on the lot grid",
            POST_ONLY_WOULD_CROSS => "post-only order would cross",
            POSITION_LIMIT => "position limit exceeded",
            NOTIONAL_LIMIT => "notional limit exceeded",
            UNKNOWN_ORDER => "unknown order",
            INVALID => "invalid request (unknown code, or price or quantity out of range)",
            NO_LIQUIDITY => "no liquidity",
            REQUESTED => "cancel requested",
            IOC_REMAINDER => "IOC remainder",
            END_OF_RUN => "end of run",
            _ => "unknown reason",
        }
    }
}

/// Liquidity flags for fills.
pub mod liquidity {
    /// Not a fill.
    pub const NONE: u8 = 0;
    /// The fill added liquidity (a resting order was hit).
    pub const MAKER: u8 = 1;
    /// The fill took liquidity.
    pub const TAKER: u8 = 2;
}

/// What happened to an order, as the strategy learns it (late by the
/// response latency).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OrderUpdate {
    /// Local time at which the strategy receives the update, ns.
    pub ts: i64,
    /// Exchange time at which it happened, ns.
    pub exchange_ts: i64,
    /// The order's id (as returned by [`HostApi::submit`]).
    pub order_id: u64,
    /// The strategy's tag from the request.
    pub tag: u64,
    /// Instrument index.
    pub instrument: u32,
    /// [`update_kind`] code.
    pub kind: u8,
    /// `side::BUY` or `side::SELL`.
    pub side: u8,
    /// [`liquidity`] code (fills only).
    pub liquidity: u8,
    /// [`reason`] code (rejections and cancellations).
    pub reason: u8,
    /// Fill price for fills; the order's price otherwise (price units).
    pub price: i64,
    /// Filled quantity for fills; the order's quantity otherwise.
    pub qty: i64,
    /// Quantity still open after this update.
    pub leaves_qty: i64,
    /// Fee paid for this fill in quote currency (negative = rebate).
    pub fee: f64,
}

/// A strategy's own position in one instrument, as it knows it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PositionInfo {
    /// Signed position (quantity units).
    pub position: i64,
    /// Average entry price of the open position (price units, fractional).
    pub avg_entry: f64,
    /// Realised PnL in quote currency.
    pub realized_pnl: f64,
    /// Fees paid in quote currency.
    pub fees: f64,
}

/// One open order, as the strategy knows it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderInfo {
    /// Order id.
    pub order_id: u64,
    /// Strategy tag.
    pub tag: u64,
    /// Instrument index.
    pub instrument: u32,
    /// Side code.
    pub side: u8,
    /// [`order_kind`] code.
    pub kind: u8,
    /// [`tif`] code.
    pub tif: u8,
    /// 1 once the exchange acknowledged it.
    pub acked: u8,
    /// Price (price units).
    pub price: i64,
    /// Open quantity.
    pub leaves_qty: i64,
}

/// Static facts about an instrument of the run.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InstrumentInfo {
    /// Symbol (valid for the whole run).
    pub symbol: StrRef,
    /// Venue (valid for the whole run).
    pub venue: StrRef,
    /// Decimal exponent of prices.
    pub price_exponent: i8,
    /// Decimal exponent of quantities.
    pub qty_exponent: i8,
    /// Decimal exponent of values.
    pub value_exponent: i8,
    /// Zero.
    pub reserved: [u8; 5],
    /// Tick (price units), ≥ 1.
    pub price_tick: i64,
    /// Lot (quantity units), ≥ 1.
    pub qty_lot: i64,
}

/// The top of one book in one call ([`HostApi::book_top`]): best bid and
/// ask and the summed quantity of the best `levels` levels of each side.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookTopInfo {
    /// Best bid price (price units); 0 when [`has_bid`](Self::has_bid) is 0.
    pub bid_price: i64,
    /// Quantity at the best bid.
    pub bid_qty: i64,
    /// Best ask price (price units); 0 when [`has_ask`](Self::has_ask) is 0.
    pub ask_price: i64,
    /// Quantity at the best ask.
    pub ask_qty: i64,
    /// Sum of the best `levels` bid levels' quantities (0 for `levels = 0`).
    pub bid_depth: i64,
    /// Sum of the best `levels` ask levels' quantities.
    pub ask_depth: i64,
    /// 1 if the book has a bid level.
    pub has_bid: u8,
    /// 1 if the book has an ask level.
    pub has_ask: u8,
    /// Zero.
    pub reserved: [u8; 6],
}

/// Log levels for [`HostApi::log`].
pub mod log_level {
    /// Errors.
    pub const ERROR: u32 = 1;
    /// Warnings.
    pub const WARN: u32 = 2;
    /// Information.
    pub const INFO: u32 = 3;
    /// Debugging detail.
    pub const DEBUG: u32 = 4;
}

/// What the host offers a strategy during a callback. Append-only; `size`
/// comes first. `ctx` is the value the host passed to the callback.
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as the host saw it.
    pub size: usize,
    /// The strategy's clock (local time), ns.
    pub now: unsafe extern "C" fn(ctx: HostCtx) -> i64,
    /// Number of instruments in the run.
    pub instrument_count: unsafe extern "C" fn(ctx: HostCtx) -> u32,
    /// Facts about instrument `i`; [`status::INVALID`] if out of range.
    pub instrument: unsafe extern "C" fn(ctx: HostCtx, i: u32, out: *mut InstrumentInfo) -> i32,
    /// Sends an order; returns its id (> 0), or 0 if the request is
    /// malformed beyond what the exchange would answer (unknown instrument).
    pub submit: unsafe extern "C" fn(ctx: HostCtx, req: *const OrderRequest) -> u64,
    /// Requests cancellation of an order.
    pub cancel: unsafe extern "C" fn(ctx: HostCtx, order_id: u64) -> i32,
    /// Requests cancellation of every open order of an instrument
    /// (`u32::MAX`: of all instruments).
    pub cancel_all: unsafe extern "C" fn(ctx: HostCtx, instrument: u32) -> i32,
    /// Requests a new price and a new open quantity for an open order (the
    /// order keeps its id and loses its queue position; what already filled
    /// stays filled).
    pub replace: unsafe extern "C" fn(ctx: HostCtx, order_id: u64, price: i64, qty: i64) -> i32,
    /// Asks for [`PluginVTable::on_timer`] with `token` at local time `at`
    /// (at or before now: it fires once, at now; more than
    /// [`MAX_TIMERS_AT_NOW`] of those at one instant stop the run with an
    /// error).
    pub set_timer: unsafe extern "C" fn(ctx: HostCtx, at: i64, token: u64) -> i32,
    /// Best bid (`side::BID`) or ask of the book the strategy sees; returns 1
    /// and fills `price`/`qty` if the side has a level, 0 otherwise.
    pub best: unsafe extern "C" fn(ctx: HostCtx, instrument: u32, side: u8, price: *mut i64, qty: *mut i64) -> i32,
    /// Sum of the best `n` levels' quantities on one side.
    pub depth: unsafe extern "C" fn(ctx: HostCtx, instrument: u32, side: u8, n: u32) -> i64,
    /// Micro-price in price units, NaN if either side is empty.
    pub micro_price: unsafe extern "C" fn(ctx: HostCtx, instrument: u32) -> f64,
    /// The strategy's position in an instrument.
    pub position: unsafe extern "C" fn(ctx: HostCtx, instrument: u32, out: *mut PositionInfo) -> i32,
    /// Copies up to `cap` open orders into `out`; returns how many there are.
    pub open_orders: unsafe extern "C" fn(ctx: HostCtx, out: *mut OrderInfo, cap: usize) -> usize,
    /// Account equity in quote currency (cash + marked positions), as the
    /// strategy knows it.
    pub equity: unsafe extern "C" fn(ctx: HostCtx) -> f64,
    /// Writes a line to the run's strategy log.
    pub log: unsafe extern "C" fn(ctx: HostCtx, level: u32, msg: StrRef),
    /// Names an order tag (e.g. the signal that places orders with it) for
    /// the run's per-tag attribution in the summary; the last name given to
    /// a tag wins. [`status::INVALID`] for an empty name or one longer than
    /// [`MAX_TAG_NAME`] bytes.
    pub name_tag: unsafe extern "C" fn(ctx: HostCtx, tag: u64, name: StrRef) -> i32,
    /// Names a recorded series (for [`record`](Self::record)); the name
    /// appears in the results' `series.parquet`. [`status::INVALID`] as
    /// for [`name_tag`](Self::name_tag).
    pub name_series: unsafe extern "C" fn(ctx: HostCtx, series: u32, name: StrRef) -> i32,
    /// Records a value of a series at time `ts` (ns; e.g. a signal at the
    /// exchange time of the trade that moved it). The points land in the
    /// results' `series.parquet` in the order recorded. The host keeps every
    /// point in memory until the run ends: record what you will read.
    pub record: unsafe extern "C" fn(ctx: HostCtx, series: u32, ts: i64, value: f64) -> i32,
    /// Puts a named figure into the run's summary (`strategy_figures` of
    /// `summary.json` and the printed summary), e.g. a tracking error
    /// computed in `on_finish`; the last value given to a name wins.
    /// [`status::INVALID`] for an empty name or one longer than
    /// [`MAX_TAG_NAME`] bytes.
    pub summary_figure: unsafe extern "C" fn(ctx: HostCtx, name: StrRef, value: f64) -> i32,
    /// The top of the book the strategy sees in one call: what
    /// [`best`](Self::best) gives for both sides and [`depth`](Self::depth)
    /// for the best `levels` levels of each (`levels = 0`: no depth, 0).
    /// Writes `out`; [`status::INVALID`] for an unknown instrument (then
    /// `out` is all zero). A strategy that reads the book at every trade or
    /// book message makes one boundary crossing instead of four.
    pub book_top: unsafe extern "C" fn(ctx: HostCtx, instrument: u32, levels: u32, out: *mut BookTopInfo) -> i32,
}

/// The longest tag name [`HostApi::name_tag`] accepts, bytes.
pub const MAX_TAG_NAME: usize = 64;

const fn mix(h: u64, v: u64) -> u64 {
    // FNV-1a over the 8 bytes of `v`.
    let mut h = h;
    let mut i = 0;
    while i < 8 {
        h ^= (v >> (i * 8)) & 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! fingerprint {
    ($h:expr, $t:ty { $($f:ident),* $(,)? }) => {{
        let mut h = mix($h, size_of::<$t>() as u64);
        $( h = mix(h, offset_of!($t, $f) as u64); )*
        h
    }};
}

/// A fingerprint of the size and field offsets of every type that crosses
/// the boundary, as this build laid them out. Host and plugin compare it.
pub const fn layout_hash() -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    h = mix(h, ABI_VERSION as u64);
    // The subscription bits beyond the record kinds are part of the
    // protocol: a host that does not know `BOOK_TOPS` would silently deliver
    // no levels to a plugin that asks for it, so the two must not load.
    h = mix(h, subscribe::BOOK_TOPS as u64);
    h = fingerprint!(h, StrRef { ptr, len });
    h = fingerprint!(h, OwnedBuf { ptr, len, cap });
    h = fingerprint!(
        h,
        PluginManifest {
            abi_version,
            manifest_size,
            sdk_version,
            name,
            version,
            build_rustc,
            build_target,
            build_profile,
            panic_unwind,
            subscriptions,
            tape_format_version,
            layout_hash,
            vtable
        }
    );
    h = fingerprint!(
        h,
        PluginVTable {
            size,
            create,
            on_start,
            on_events,
            on_orders,
            on_timer,
            on_finish,
            destroy,
            free_buffer,
            create_in
        }
    );
    h = fingerprint!(h, EventRef { kind, instrument, ts, record });
    h = fingerprint!(h, OrderRequest { instrument, side, kind, tif, reserved, price, qty, tag });
    h = fingerprint!(
        h,
        OrderUpdate {
            ts,
            exchange_ts,
            order_id,
            tag,
            instrument,
            kind,
            side,
            liquidity,
            reason,
            price,
            qty,
            leaves_qty,
            fee
        }
    );
    h = fingerprint!(h, PositionInfo { position, avg_entry, realized_pnl, fees });
    h = fingerprint!(h, OrderInfo { order_id, tag, instrument, side, kind, tif, acked, price, leaves_qty });
    h = fingerprint!(
        h,
        InstrumentInfo { symbol, venue, price_exponent, qty_exponent, value_exponent, reserved, price_tick, qty_lot }
    );
    h = fingerprint!(
        h,
        HostApi {
            size,
            now,
            instrument_count,
            instrument,
            submit,
            cancel,
            cancel_all,
            replace,
            set_timer,
            best,
            depth,
            micro_price,
            position,
            open_orders,
            equity,
            log,
            name_tag,
            name_series,
            record,
            summary_figure,
            book_top
        }
    );
    h = fingerprint!(
        h,
        BookTopInfo { bid_price, bid_qty, ask_price, ask_qty, bid_depth, ask_depth, has_bid, has_ask, reserved }
    );
    h = fingerprint!(h, Trade { ts, price, qty, trade_id, side, flags, reserved });
    h = fingerprint!(h, Level { ts, price, qty, side, flags, reserved });
    h = fingerprint!(h, Quote { ts, bid_price, bid_qty, ask_price, ask_qty });
    h = fingerprint!(h, Funding { ts, funding_rate, mark_price, index_price, next_funding_ts, flags, reserved });
    h = fingerprint!(h, Bar { ts, open_ts, open, high, low, close, volume, taker_buy_volume, trade_count });
    h = fingerprint!(h, Series { ts, id, value });
    h = fingerprint!(
        h,
        Fill {
            ts,
            account,
            price,
            qty,
            start_position,
            closed_pnl,
            fee,
            order_id,
            trade_id,
            symbol,
            side,
            dir,
            flags,
            reserved
        }
    );
    h
}

/// [`layout_hash`] of this build.
pub const LAYOUT_HASH: u64 = layout_hash();
