//! The counter strategy: subscribes to every market event and counts them.
//!
//! It sends no orders. It is the cheapest strategy that is still called for
//! every event, so running it natively and as a plugin measures what the
//! plugin boundary costs (`ticktape bench run`), and it is the simplest
//! example of an event-driven (rather than timer-driven) plugin.

use ticktape_sdk::{Bar, Context, Funding, Level, NoConfig, Quote, Series, Strategy, Trade};

/// Counts every market event by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Events received, by record kind code.
    pub by_kind: [u64; 8],
    /// `on_book` calls.
    pub books: u64,
}

impl Strategy for Counter {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Counter::default())
    }
    fn on_trade(&mut self, _: &mut Context<'_>, _: u32, _: &Trade) {
        self.by_kind[1] += 1;
    }
    fn on_level(&mut self, _: &mut Context<'_>, _: u32, _: &Level) {
        self.by_kind[2] += 1;
    }
    fn on_book(&mut self, _: &mut Context<'_>, _: u32) {
        self.books += 1;
    }
    fn on_quote(&mut self, _: &mut Context<'_>, _: u32, _: &Quote) {
        self.by_kind[3] += 1;
    }
    fn on_funding(&mut self, _: &mut Context<'_>, _: u32, _: &Funding) {
        self.by_kind[4] += 1;
    }
    fn on_bar(&mut self, _: &mut Context<'_>, _: u32, _: &Bar) {
        self.by_kind[5] += 1;
    }
    fn on_series(&mut self, _: &mut Context<'_>, _: u32, _: &Series) {
        self.by_kind[6] += 1;
    }
    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        let total: u64 = self.by_kind.iter().sum();
        ctx.info(&format!(
            "{total} events: {} trades, {} level updates ({} books), {} quotes, {} funding, {} bars, {} series",
            self.by_kind[1],
            self.by_kind[2],
            self.books,
            self.by_kind[3],
            self.by_kind[4],
            self.by_kind[5],
            self.by_kind[6]
        ));
    }
}

ticktape_sdk::export_strategy!(Counter);
