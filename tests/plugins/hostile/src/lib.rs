//! Test fixture: misbehaves on the N-th market event as its configuration
//! says, to test that `ticktape run` contains what a plugin can do.
//!
//! `mode`: `abort`, `segfault`, `oom` (allocates until it fails), `hang`
//! (spins forever), `exit0` (`process::exit(0)`), `huge-qty` (market buys of
//! `i64::MAX` on every event from then on), `many-orders` (a resting limit
//! order far from the touch on every event from then on) or `timer-loop` (a
//! timer re-armed at `now()` forever) or `slow-abort` (from then on spends
//! 30 µs of wall time per event and rests a far buy order every 1000 events,
//! then aborts once `after_secs` seconds of wall time have passed and at
//! least `min_events` events have been seen since `at_event`: a crash after
//! checkpoints, on a loaded machine too). Empty: counts events quietly.

use ticktape_sdk::{Context, Level, Side, Strategy, Trade};

/// What to do, and when.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The misbehaviour (see the crate docs).
    pub mode: String,
    /// On this market event (1-based).
    pub at_event: u64,
    /// `slow-abort`: wall-clock seconds from `at_event` to the abort.
    pub after_secs: f64,
    /// `slow-abort`: events from `at_event` before the abort, at least.
    pub min_events: u64,
}

/// The fixture strategy.
#[derive(Debug)]
pub struct Hostile {
    cfg: Config,
    seen: u64,
    hoard: Vec<Vec<u8>>,
    since: Option<std::time::Instant>,
}

impl Hostile {
    fn event(&mut self, ctx: &mut Context<'_>) {
        self.seen += 1;
        if self.cfg.at_event == 0 || self.seen < self.cfg.at_event {
            return;
        }
        let first = self.seen == self.cfg.at_event;
        match self.cfg.mode.as_str() {
            "abort" if first => std::process::abort(),
            "segfault" if first => {
                let p = std::ptr::null_mut::<u8>();
                // SAFETY: none; this is the fixture's purpose: a write
                // through the null pointer, which the OS answers with SIGSEGV.
                unsafe { p.write_volatile(1) };
            }
            "oom" if first => loop {
                // 64 MiB at a time, touched so the pages are real.
                self.hoard.push(vec![1u8; 64 << 20]);
            },
            "hang" if first => loop {
                std::hint::spin_loop();
            },
            "exit0" if first => std::process::exit(0),
            "huge-qty" => {
                ctx.market(0, Side::Buy, i64::MAX, 0);
            }
            "many-orders" => {
                if let Some((bid, _)) = ctx.best_bid(0) {
                    ctx.limit(0, Side::Buy, (bid / 2).max(1), 1, 0);
                }
            }
            "timer-loop" if first => ctx.set_timer(ctx.now(), 1),
            "slow-abort" => {
                let t0 = *self.since.get_or_insert_with(std::time::Instant::now);
                if t0.elapsed().as_secs_f64() >= self.cfg.after_secs
                    && self.seen - self.cfg.at_event >= self.cfg.min_events
                {
                    std::process::abort();
                }
                let spin = std::time::Instant::now();
                while spin.elapsed() < std::time::Duration::from_micros(30) {
                    std::hint::spin_loop();
                }
                if self.seen.is_multiple_of(1000)
                    && let Some((bid, _)) = ctx.best_bid(0)
                {
                    ctx.limit(0, Side::Buy, (bid / 2).max(1), 1, 0);
                }
            }
            _ => {}
        }
    }
}

impl Strategy for Hostile {
    type Config = Config;
    fn new(cfg: Config) -> Result<Self, String> {
        Ok(Hostile { cfg, seen: 0, hoard: Vec::new(), since: None })
    }
    fn on_trade(&mut self, ctx: &mut Context<'_>, _: u32, _: &Trade) {
        self.event(ctx);
    }
    fn on_level(&mut self, ctx: &mut Context<'_>, _: u32, _: &Level) {
        self.event(ctx);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        if self.cfg.mode == "timer-loop" {
            ctx.set_timer(ctx.now(), token);
        }
    }
    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        ctx.info(&format!("saw {} events, kept {} buffers", self.seen, self.hoard.len()));
    }
}

ticktape_sdk::export_strategy!(Hostile);
