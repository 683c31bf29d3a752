//! Test fixture: panics in `new`, on the N-th market event, or in
//! `on_finish`, as configured; otherwise counts events quietly.

use ticktape_sdk::{Context, Level, Strategy, Trade};

/// Where to panic.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `create`, `event` or `finish` (empty: never).
    pub panic_in: String,
    /// For `event`: panic on this event (1-based).
    pub at_event: u64,
}

/// The fixture strategy.
#[derive(Debug)]
pub struct Faulty {
    cfg: Config,
    seen: u64,
}

impl Faulty {
    fn event(&mut self) {
        self.seen += 1;
        if self.cfg.panic_in == "event" && self.seen == self.cfg.at_event {
            panic!("fixture panic on event {}", self.seen);
        }
    }
}

impl Strategy for Faulty {
    type Config = Config;
    fn new(cfg: Config) -> Result<Self, String> {
        if cfg.panic_in == "create" {
            panic!("fixture panic in create");
        }
        Ok(Faulty { cfg, seen: 0 })
    }
    fn on_trade(&mut self, _: &mut Context<'_>, _: u32, _: &Trade) {
        self.event();
    }
    fn on_level(&mut self, _: &mut Context<'_>, _: u32, _: &Level) {
        self.event();
    }
    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        if self.cfg.panic_in == "finish" {
            panic!("fixture panic in finish");
        }
        ctx.info(&format!("saw {} events", self.seen));
    }
}

ticktape_sdk::export_strategy!(Faulty);
