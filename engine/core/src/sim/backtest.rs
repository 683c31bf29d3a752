//! Running a strategy over a replay: the replay handler that drives the
//! exchange, processes whatever is due (orders arriving, answers and market
//! data reaching the strategy, timers) and calls the strategy.

use ticktape_sdk::abi::{EventRef, HostApi, OrderUpdate};
use ticktape_tape::RecordKind;

use super::{RunOutput, Sim, SimConfig};
use crate::book::Book;
use crate::error::Result;
use crate::plugin::{Driver, PluginError, api};
use crate::replay::{Event, Handler, Replay};

/// Called once per market event of a run (for measurements, progress
/// reports and checkpoints); `()` does nothing and costs nothing.
pub trait Probe {
    /// A market event at exchange time `ts` is about to be processed.
    /// Returns whether a checkpoint is wanted now: then
    /// [`checkpoint`](Probe::checkpoint) receives a copy of everything
    /// simulated before this event.
    fn event(&mut self, ts: i64) -> bool;

    /// A copy of the results simulated so far (orders still open are shown
    /// open; a final account sample at the last simulated event is added to
    /// the copy); the run itself is not disturbed.
    fn checkpoint(&mut self, snapshot: RunOutput) {
        let _ = snapshot;
    }
}

impl Probe for () {
    #[inline(always)]
    fn event(&mut self, _: i64) -> bool {
        false
    }
}

/// Runs `driver` (a strategy) over `replay` with configuration `cfg`.
pub fn run<'a, D: Driver<Sim<'a>>>(replay: &'a Replay, cfg: &SimConfig, driver: &mut D) -> Result<RunOutput> {
    run_probed(replay, cfg, driver, &mut ())
}

/// [`run`], calling `probe` before every market event.
pub fn run_probed<'a, D: Driver<Sim<'a>>, P: Probe>(
    replay: &'a Replay,
    cfg: &SimConfig,
    driver: &mut D,
    probe: &mut P,
) -> Result<RunOutput> {
    let mut sim = Sim::new(replay, cfg.clone(), driver.subscriptions())?;
    let api = api::<Sim<'a>>();
    let mut bt = Backtest {
        sim: &mut sim,
        driver,
        api: &api,
        batch: Vec::with_capacity(256),
        ubatch: Vec::with_capacity(64),
        error: None,
        probe,
    };
    // The strategy starts at the time of the first event.
    let start = replay.tapes().iter().filter(|t| !t.is_empty()).map(|t| t.header().first_ts).min().unwrap_or(0);
    bt.sim.set_clock(start);
    if let Err(e) = bt.driver.start(bt.api, bt.sim) {
        bt.error = Some(e);
    } else {
        replay.run(&mut bt)?;
        if !bt.failed() {
            let end = bt.sim.journal.last_ts;
            bt.sim.set_clock(end);
            if let Err(e) = bt.driver.finish(bt.api, bt.sim) {
                bt.error = Some(e);
            }
        }
    }
    let error = bt.error.take().map(|e| e.to_string());
    Ok(sim.finish(error))
}

/// The replay handler that runs the simulation and calls the strategy.
struct Backtest<'s, 'a, D, P> {
    sim: &'s mut Sim<'a>,
    driver: &'s mut D,
    api: &'s HostApi,
    batch: Vec<EventRef>,
    ubatch: Vec<OrderUpdate>,
    error: Option<PluginError>,
    probe: &'s mut P,
}

impl<'a, D: Driver<Sim<'a>>, P: Probe> Backtest<'_, 'a, D, P> {
    /// Whether the strategy or the simulation failed (the run stops).
    #[inline]
    fn failed(&self) -> bool {
        self.error.is_some() || self.sim.fault.is_some()
    }

    /// Processes every queued item due before `limit` (exclusive), in time
    /// order; exchange arrivals match against `books`.
    fn process_due(&mut self, limit: i64, books: &[Book]) {
        loop {
            let s = &*self.sim;
            let (ta, tf, tu, tt) =
                (s.to_exchange.next_time(), s.feed.next_time(), s.responses.next_time(), s.timers.next_time());
            let t = ta.min(tu).min(tf).min(tt);
            if t >= limit || self.failed() {
                self.sim.next_due = t;
                return;
            }
            if ta == t {
                if let Some((ts, action)) = self.sim.to_exchange.pop() {
                    self.sim.arrive(ts, action, books);
                }
            } else if tf == t {
                // Market data flows until an arrival is due (arrivals go first at
                // equal times); updates and timers at the same time come after it.
                self.deliver_feed(limit, ta, tu.min(tt));
            } else if tu == t {
                self.deliver_updates(t);
            } else if let Some((at, token)) = self.sim.timers.pop() {
                self.sim.set_clock(at);
                if let Err(e) = self.driver.timer(self.api, self.sim, token) {
                    self.error = Some(e);
                }
            }
        }
    }

    /// Hands the probe a copy of what has been simulated so far.
    #[cold]
    #[inline(never)]
    fn checkpoint(&mut self, books: &[Book]) {
        if self.sim.journal.events > 0 {
            self.probe.checkpoint(self.sim.snapshot(books));
        }
    }

    /// Delivers every order update arriving at `t` in one batch.
    fn deliver_updates(&mut self, t: i64) {
        self.ubatch.clear();
        while let Some(u) = self.sim.responses.pop_at(t) {
            self.sim.view.apply(&u, &self.sim.scales, &self.sim.orders);
            self.ubatch.push(u);
        }
        self.sim.set_clock(t);
        if let Err(e) = self.driver.orders(self.api, self.sim, &self.ubatch) {
            self.error = Some(e);
        }
    }

    /// Delivers subscribed market data in batches of equal local time, while
    /// batches are due before `limit` and the next arrival at the exchange
    /// `arrival` (both exclusive) and not after `until` (updates and timers
    /// at the same time come after the data). Applies each event to the
    /// strategy's view of the book and calls the strategy. After each call
    /// the other queues' times are read again (the strategy may have queued
    /// something due before the next batch), so this is the order
    /// [`process_due`](Self::process_due) would pick, without going back to
    /// it for every batch.
    fn deliver_feed(&mut self, limit: i64, mut arrival: i64, mut until: i64) {
        loop {
            let t = self.sim.feed.next_time();
            if t == i64::MAX || t >= limit || t >= arrival || t > until || self.failed() {
                return;
            }
            self.batch.clear();
            // A batch never lets the strategy's view of the book run ahead of
            // a trade it holds: a level update that follows a delivered trade
            // (one the trade caused, or a later message clamped to the same
            // local time by the FIFO feed) starts the next batch, and a batch
            // ends with the level that ends an exchange message. So during
            // `on_trade` the book is the one just before the trade, and
            // during `on_book` the one after that message, as at the exchange.
            //
            // With `tops`, the levels before an event that are not delivered
            // (its gaps) count as levels here: the batch takes them, and the
            // event after them, only if they all came at `t` and it holds no
            // trade. The first event of a batch takes its gaps whatever their
            // times: `t` is when the last of them is due (`next_time`).
            let mut holds_trade = false;
            let mut first = true;
            while let Some(p) = self.sim.feed.queue.front().copied() {
                if p.gmax != i64::MIN && !first && (holds_trade || p.gmin != t || p.gmax != t) {
                    break;
                }
                // The gaps before `p` are taken now (into the view), even if
                // `p` itself waits for a later batch.
                if p.gmax != i64::MIN || p.gaps > 0 {
                    self.sim.feed.take_front_gaps(&mut self.sim.venues);
                }
                if p.ts != t {
                    break;
                }
                if holds_trade && matches!(p.event, Event::Level(_)) {
                    break;
                }
                self.sim.feed.queue.pop_front();
                first = false;
                let v = &mut self.sim.venues[p.instrument as usize];
                let (kind, record): (RecordKind, *const std::ffi::c_void) = match p.event {
                    Event::Level(r) => {
                        v.view.apply(r);
                        let kind = RecordKind::Level;
                        let feed = &self.sim.feed;
                        // With `tops`, only the message ends that move the
                        // top are queued (`Feed::push_top`).
                        if r.is_batch_end() && (feed.wants[kind.code() as usize] || feed.tops) {
                            self.batch.push(EventRef {
                                kind: u32::from(kind.code()),
                                instrument: p.instrument,
                                ts: t,
                                record: (r as *const ticktape_tape::Level).cast(),
                            });
                            break;
                        }
                        (kind, (r as *const ticktape_tape::Level).cast())
                    }
                    Event::Trade(r) => (RecordKind::Trade, (r as *const ticktape_tape::Trade).cast()),
                    Event::Quote(r) => {
                        if !v.has_l2 {
                            v.view.apply_quote(r);
                        }
                        (RecordKind::Quote, (r as *const ticktape_tape::Quote).cast())
                    }
                    Event::Funding(r) => (RecordKind::Funding, (r as *const ticktape_tape::Funding).cast()),
                    Event::Bar(r) => {
                        if v.bar_driven {
                            v.view.apply_quote(&crate::replay::bar_quote(r, v.tick, self.sim.bar_slippage_bps));
                        }
                        (RecordKind::Bar, (r as *const ticktape_tape::Bar).cast())
                    }
                    Event::Series(r) => (RecordKind::Series, (r as *const ticktape_tape::Series).cast()),
                    Event::Fill(_) => continue,
                };
                if self.sim.feed.wants[kind.code() as usize] {
                    holds_trade |= kind == RecordKind::Trade;
                    self.batch.push(EventRef { kind: u32::from(kind.code()), instrument: p.instrument, ts: t, record });
                }
            }
            if !self.batch.is_empty() {
                self.sim.set_batch_clock(t);
                if let Err(e) = self.driver.events(self.api, self.sim, &self.batch) {
                    self.error = Some(e);
                }
                let s = &*self.sim;
                arrival = s.to_exchange.next_time();
                until = s.responses.next_time().min(s.timers.next_time());
            }
        }
    }
}

impl<'a, D: Driver<Sim<'a>>, P: Probe> Handler<'a> for Backtest<'_, 'a, D, P> {
    #[inline(always)]
    fn begin_run(&mut self, tape: usize) {
        self.sim.feed.tape = tape;
    }

    #[inline(always)]
    fn before(&mut self, ts: i64, books: &[Book]) {
        // Before anything due up to `ts` is processed: a checkpoint holds
        // nothing later than the last event's time.
        if self.probe.event(ts) {
            self.checkpoint(books);
        }
        if self.sim.next_due < ts {
            self.process_due(ts, books);
        }
    }

    fn end(&mut self, books: &[Book]) {
        if self.sim.journal.events == 0 {
            return;
        }
        let last = self.sim.journal.last_ts;
        // Everything due up to the last event's time still happens.
        if !self.failed() {
            self.process_due(last.saturating_add(1), books);
        }
        // A final sample at the last event, so metrics cover the whole run.
        if self.sim.journal.samples.last().is_none_or(|s| s.ts < last) {
            self.sim.sample(last, books);
        }
    }

    #[inline]
    fn on_event(&mut self, instrument: usize, event: Event<'a>, books: &[Book]) {
        let sim = &mut *self.sim;
        let te = event.ts_exchange();
        let j = &mut sim.journal;
        if j.events == 0 {
            j.first_ts = te;
            j.next_sample = te;
        }
        j.events += 1;
        j.last_ts = te;
        if te >= j.next_sample {
            j.next_sample = te - te.rem_euclid(sim.cfg.sample_ns) + sim.cfg.sample_ns;
            sim.sample(te, books);
        }
        let local = match event {
            Event::Trade(r) => {
                sim.on_trade(instrument, r);
                r.ts.local
            }
            Event::Level(r) => {
                if sim.cfg.fills.queue || sim.cfg.fills.book_cross {
                    sim.on_book_change(instrument, r, books);
                }
                if sim.feed.tops {
                    // Every L2 tape is queued with `tops`.
                    let moved = r.is_batch_end() && sim.venues[instrument].top_moved(&books[instrument]);
                    if let Some(t) = sim.feed.push_top(instrument, r, moved) {
                        sim.next_due = sim.next_due.min(t);
                    }
                    return;
                }
                r.ts.local
            }
            Event::Funding(r) => {
                sim.on_funding(instrument, r, books);
                r.ts.local
            }
            Event::Quote(r) => r.ts.local,
            Event::Bar(r) => r.ts.local,
            Event::Series(r) => r.ts.local,
            Event::Fill(_) => return,
        };
        if let Some(t) = sim.feed.push(instrument, event, te, local) {
            sim.next_due = sim.next_due.min(t);
        }
    }

    #[inline(always)]
    fn stop(&self) -> bool {
        self.failed()
    }
}
