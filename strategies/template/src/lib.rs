//! The template strategy: a reference market maker, and the smallest
//! complete ticktape plugin. `ticktape new-strategy NAME` copies this file.
//!
//! Every `requote_ms` it cancels its quotes and posts a bid and an ask
//! `half_spread_ticks` around the micro-price, shifted against its inventory
//! (`skew_ticks_per_lot` per lot held), and stops quoting the side that
//! would take it beyond `max_position_lots`.

// The SDK: the Strategy trait, the Context strategies act through, and the
// export macro that turns the type into a plugin.
use ticktape_sdk::{Context, Instrument, Side, Strategy};

/// The configuration, read from the TOML file given with `--config` (or the
/// `[strategy]` table of a run file). Unknown keys are errors, so typos do
/// not silently fall back to defaults.
#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which instrument to quote (default: the first of the run).
    pub symbol: Option<String>,
    /// Distance of each quote from the (skewed) micro-price, in ticks.
    pub half_spread_ticks: i64,
    /// Size of each quote, in lots.
    pub size_lots: i64,
    /// Requote interval, milliseconds (the research log's 200 ms).
    pub requote_ms: i64,
    /// Stop quoting the side that would exceed this inventory, in lots.
    pub max_position_lots: i64,
    /// Shift of both quotes against inventory, ticks per lot held.
    pub skew_ticks_per_lot: f64,
}

// Defaults used for every key the file leaves out.
impl Default for Config {
    fn default() -> Self {
        Config {
            symbol: None,
            half_spread_ticks: 2,
            size_lots: 1,
            requote_ms: 200,
            max_position_lots: 10,
            skew_ticks_per_lot: 0.5,
        }
    }
}

/// The strategy's state.
#[derive(Debug)]
pub struct Template {
    /// Its configuration.
    cfg: Config,
    /// The instrument it quotes, resolved in `on_start`.
    instrument: Option<Instrument>,
}

/// Timer token for requotes (a strategy may run several timers).
const REQUOTE: u64 = 1;

impl Strategy for Template {
    // The configuration type the SDK deserialises from TOML.
    type Config = Config;

    // This strategy acts on its timer and reads the book through the
    // context, so it asks for no market events (the host still keeps its
    // view of the book current). Leave this out to receive every event.
    const SUBSCRIBE: u32 = ticktape_sdk::abi::subscribe::NONE;

    // Validates the configuration; an Err reaches the user as a config error.
    fn new(cfg: Config) -> Result<Self, String> {
        if cfg.half_spread_ticks < 1 || cfg.size_lots < 1 || cfg.requote_ms < 1 || cfg.max_position_lots < 0 {
            return Err(
                "half_spread_ticks, size_lots and requote_ms must be at least 1, max_position_lots at least 0".into()
            );
        }
        Ok(Template { cfg, instrument: None })
    }

    // Called once before the first event: find the instrument, arm the timer.
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.instrument = match &self.cfg.symbol {
            Some(s) => ctx.find_instrument(s),
            None => ctx.instrument(0),
        };
        match &self.instrument {
            Some(i) => ctx.info(&format!("quoting {} every {} ms", i.symbol, self.cfg.requote_ms)),
            None => ctx.warn("no such instrument in this run; not quoting"),
        }
        let next = ctx.now() + self.cfg.requote_ms * 1_000_000;
        ctx.set_timer(next, REQUOTE);
    }

    // The requote loop: runs on the timer, not on every book update.
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        if token != REQUOTE {
            return;
        }
        // Re-arm first, so the loop continues whatever happens below.
        let next = ctx.now() + self.cfg.requote_ms * 1_000_000;
        ctx.set_timer(next, REQUOTE);
        let Some(inst) = &self.instrument else { return };
        let i = inst.index;
        // Replace the previous quotes.
        ctx.cancel_all(Some(i));
        // No two-sided book yet: nothing to quote around. (A strategy that
        // reads the book at every trade or book message takes
        // `ctx.book_top(i, n)`: both best levels and both top-n depths in one
        // host call instead of four.)
        let Some(micro) = ctx.micro_price(i) else { return };
        // Inventory in lots, from the fills the strategy has been told about.
        let lots = ctx.position(i).position / inst.qty_lot;
        let tick = inst.price_tick as f64;
        // Lean against inventory: long → lower both quotes, short → raise them.
        let centre = micro - self.cfg.skew_ticks_per_lot * lots as f64 * tick;
        let bid = inst.floor_to_tick(centre - self.cfg.half_spread_ticks as f64 * tick);
        let ask = inst.ceil_to_tick(centre + self.cfg.half_spread_ticks as f64 * tick);
        let qty = self.cfg.size_lots * inst.qty_lot;
        // Post-only: never pay the taker fee by accident.
        if lots + self.cfg.size_lots <= self.cfg.max_position_lots {
            ctx.post_only(i, Side::Buy, bid, qty, 0);
        }
        if lots - self.cfg.size_lots >= -self.cfg.max_position_lots {
            ctx.post_only(i, Side::Sell, ask, qty, 0);
        }
    }

    // At the end: say where we stand (the host also reports it).
    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        if let Some(inst) = &self.instrument {
            let p = ctx.position(inst.index);
            ctx.info(&format!("final position {} lots, realised {:.2}", p.position / inst.qty_lot, p.realized_pnl));
        }
    }
}

// Generates the `ticktape_plugin_init` entry point and the manifest.
ticktape_sdk::export_strategy!(Template);
