//! The `Strategy` trait every plugin implements.

use serde::de::DeserializeOwned;
use ticktape_tape::{Bar, Funding, Level, Quote, Series, Trade};

use crate::abi::{OrderUpdate, liquidity, reason, update_kind};
use crate::context::{Context, Side};

/// The configuration of a strategy that takes none: an empty file (or no
/// `--config`) is accepted, any key is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// A trading strategy. Implement the callbacks you need; every one has a
/// default that does nothing. Export it with [`export_strategy!`](crate::export_strategy).
///
/// Market callbacks receive records in place (`&Trade`, `&Level`, ...) with
/// the instrument's index; prices and quantities are fixed-point integers in
/// the instrument's units (see [`Context::instrument`]).
pub trait Strategy: Sized + 'static {
    /// The strategy's configuration, read from the TOML file the user passes
    /// with `--config` (an empty file gives an empty table).
    type Config: DeserializeOwned;

    /// Which market events to receive ([`subscribe`](crate::abi::subscribe)
    /// bits; default all). A strategy that acts only on timers and reads the
    /// book through its context subscribes to none and saves the host a call
    /// per event batch.
    const SUBSCRIBE: u32 = crate::abi::subscribe::ALL;

    /// Builds the strategy from its configuration. An `Err` reaches the user
    /// as a configuration error.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Before the first event.
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    /// A trade print.
    fn on_trade(&mut self, ctx: &mut Context<'_>, instrument: u32, trade: &Trade) {
        let _ = (ctx, instrument, trade);
    }

    /// One L2 level update. The book the context shows already includes the
    /// whole message this update arrived with.
    fn on_level(&mut self, ctx: &mut Context<'_>, instrument: u32, level: &Level) {
        let _ = (ctx, instrument, level);
    }

    /// The book of `instrument` changed: called once after the last level
    /// update of an exchange message (the book is consistent).
    fn on_book(&mut self, ctx: &mut Context<'_>, instrument: u32) {
        let _ = (ctx, instrument);
    }

    /// A best bid/offer.
    fn on_quote(&mut self, ctx: &mut Context<'_>, instrument: u32, quote: &Quote) {
        let _ = (ctx, instrument, quote);
    }

    /// Funding rate, mark or index.
    fn on_funding(&mut self, ctx: &mut Context<'_>, instrument: u32, funding: &Funding) {
        let _ = (ctx, instrument, funding);
    }

    /// A completed bar.
    fn on_bar(&mut self, ctx: &mut Context<'_>, instrument: u32, bar: &Bar) {
        let _ = (ctx, instrument, bar);
    }

    /// A series value.
    fn on_series(&mut self, ctx: &mut Context<'_>, instrument: u32, value: &Series) {
        let _ = (ctx, instrument, value);
    }

    /// A timer set with [`Context::set_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let _ = (ctx, token);
    }

    /// The exchange accepted an order.
    fn on_accepted(&mut self, ctx: &mut Context<'_>, update: &OrderUpdate) {
        let _ = (ctx, update);
    }

    /// The exchange rejected an order; `update.reason` says why
    /// ([`reason::describe`]).
    fn on_rejected(&mut self, ctx: &mut Context<'_>, update: &OrderUpdate) {
        let _ = (ctx, update);
    }

    /// (Part of) an order executed: price, quantity, maker or taker, fee.
    fn on_fill(&mut self, ctx: &mut Context<'_>, fill: &OrderUpdate) {
        let _ = (ctx, fill);
    }

    /// An order was cancelled.
    fn on_cancelled(&mut self, ctx: &mut Context<'_>, update: &OrderUpdate) {
        let _ = (ctx, update);
    }

    /// A replace took effect.
    fn on_replaced(&mut self, ctx: &mut Context<'_>, update: &OrderUpdate) {
        let _ = (ctx, update);
    }

    /// After the last event.
    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }
}

impl OrderUpdate {
    /// Whether this is a fill.
    pub fn is_fill(&self) -> bool {
        self.kind == update_kind::FILLED
    }
    /// Whether a fill was maker (added liquidity).
    pub fn is_maker(&self) -> bool {
        self.liquidity == liquidity::MAKER
    }
    /// The order's side.
    pub fn order_side(&self) -> Option<Side> {
        Side::from_code(self.side)
    }
    /// Whether the order is finished (nothing left open) after this update.
    pub fn is_final(&self) -> bool {
        matches!(self.kind, update_kind::REJECTED | update_kind::CANCELLED)
            || (self.kind == update_kind::FILLED && self.leaves_qty == 0)
    }
    /// The reason, in words.
    pub fn reason_text(&self) -> &'static str {
        reason::describe(self.reason)
    }
}
