//! Market data on its way to the strategy: one FIFO channel per tape, a
//! queue for the events the strategy subscribed to, and cursors that bring
//! its view of the book up to date for the events it did not.
//!
//! Subscribed L2 records are not queued one by one: consecutive records of
//! one tape share one queue entry (a [`LevelRun`], a range of the mapped
//! tape), and their delivery times are drawn when the run reaches the front
//! of the queue, record by record as they are delivered. Each tape's
//! channel still draws every record's time once and in tape order, so the
//! times are those an eager queue would give.

use std::collections::VecDeque;

use ticktape_sdk::abi::{EventRef, subscribe};
use ticktape_tape::{Level, Quote, Record, RecordKind, Tape};

use super::Venue;
use super::latency::{Latency, LatencySpec};
use crate::error::Result;
use crate::replay::{Event, Replay};

/// An event waiting to reach the strategy.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending<'a> {
    pub(super) ts: i64,
    pub(super) instrument: u32,
    pub(super) event: Event<'a>,
}

/// An entry of the feed queue.
#[derive(Clone, Copy, Debug)]
pub(super) enum Item<'a> {
    /// One event, its delivery time drawn when it was queued.
    One(Pending<'a>),
    /// Consecutive L2 records of one tape.
    Levels(LevelRun),
}

/// L2 records `pos..end` of tape `tape`, waiting in the feed queue.
#[derive(Clone, Copy, Debug)]
pub(super) struct LevelRun {
    pos: usize,
    end: usize,
    /// Delivery time of the record at `pos`: drawn once the run is at the
    /// front of the queue (every earlier record of its tape is then
    /// delivered, so the channel draws in tape order), `None` before.
    ts: Option<i64>,
    tape: u32,
    instrument: u32,
}

/// One tape's channel to the strategy: delivery times in FIFO order.
#[derive(Debug)]
struct Channel {
    /// Shift applied to local receive times (≤ 0), or `None` to use the
    /// feed latency model instead.
    shift: Option<i64>,
    latency: Latency,
    last: i64,
}

impl Channel {
    // Called for every queued event: kept inline (an out-of-line call cost
    // as much as the work).
    #[inline(always)]
    fn delivery(&mut self, te: i64, local: i64) -> i64 {
        let t = match self.shift {
            Some(shift) => (local - shift).max(te),
            None => te + self.latency.sample(),
        };
        let t = t.max(self.last);
        self.last = t;
        t
    }
}

/// The strategy's view of the book fed straight from an L2 or quote tape
/// the strategy did not subscribe to: records are applied when their
/// delivery time has come, just before each strategy callback, with no
/// queue in between.
#[derive(Debug)]
struct ViewCursor<'a> {
    tape: usize,
    instrument: usize,
    source: ViewSource<'a>,
    pos: usize,
    /// Delivery time of the record at `pos`, once drawn.
    head: Option<i64>,
}

#[derive(Debug)]
enum ViewSource<'a> {
    Levels(&'a [Level]),
    Quotes(&'a [Quote]),
}

/// Everything between the exchange's market data and the strategy.
#[derive(Debug)]
pub(super) struct Feed<'a> {
    /// Subscribed events in delivery order. The front's delivery time is
    /// always drawn.
    queue: VecDeque<Item<'a>>,
    /// Per tape: its L2 records when they are queued (else empty).
    levels: Vec<&'a [Level]>,
    channels: Vec<Channel>,
    cursors: Vec<ViewCursor<'a>>,
    /// Per record kind code: whether the strategy is called for it.
    pub(super) wants: [bool; 8],
    /// [`subscribe::BOOK_TOPS`] without `LEVELS`: L2 tapes are queued (their
    /// order against the trades is kept), and only a message end that moved
    /// the top of the strategy's book is delivered.
    pub(super) tops: bool,
    /// Per tape: whether its events go through the queue.
    queued: Vec<bool>,
    /// The tape of the current merge run.
    pub(super) tape: usize,
}

/// Records of each tape used to estimate its clock offset.
const OFFSET_SAMPLE: usize = 100_000;

impl<'a> Feed<'a> {
    /// Channels and cursors for `replay`'s tapes; `has_l2[i]` tells whether
    /// instrument `i`'s book comes from an L2 tape (else from quotes).
    pub(super) fn new(
        replay: &'a Replay,
        feed: &LatencySpec,
        seed: u64,
        subscriptions: u32,
        has_l2: &[bool],
    ) -> Result<Self> {
        // Receive times: shift each tape's by its most negative
        // (local − exchange) among its first records, an estimate of the
        // clock offset between capture host and exchange. Delivery is also
        // never earlier than the exchange time.
        let use_local = matches!(feed, LatencySpec::Local { .. });
        let channels = replay
            .tapes()
            .iter()
            .enumerate()
            .map(|(i, tape)| Channel {
                shift: (use_local && tape.header().has_local_ts()).then(|| min_local_minus_exchange(tape).min(0)),
                latency: Latency::new(feed, seed ^ (0x100 + i as u64)),
                last: i64::MIN,
            })
            .collect();
        let wants: [bool; 8] = std::array::from_fn(|k| subscriptions & (1 << k) != 0);
        let tops = subscriptions & subscribe::BOOK_TOPS != 0 && !wants[RecordKind::Level.code() as usize];
        let mut cursors = Vec::new();
        let mut queued = Vec::new();
        let mut levels = Vec::new();
        for (i, (tape, &inst)) in replay.tapes().iter().zip(replay.tape_instruments()).enumerate() {
            let kind = tape.kind();
            let wanted = wants[kind.code() as usize] || (tops && kind == RecordKind::Level);
            let source = match kind {
                RecordKind::Level if !wanted => Some(ViewSource::Levels(tape.records()?)),
                RecordKind::Quote if !wanted && !has_l2[inst] => Some(ViewSource::Quotes(tape.records()?)),
                _ => None,
            };
            if let Some(source) = source {
                cursors.push(ViewCursor { tape: i, instrument: inst, source, pos: 0, head: None });
            }
            queued.push(wanted && kind != RecordKind::Fill);
            levels.push(if wanted && kind == RecordKind::Level { tape.records()? } else { &[][..] });
        }
        Ok(Feed { queue: VecDeque::with_capacity(4096), levels, channels, cursors, wants, tops, queued, tape: 0 })
    }

    /// Queues an event of the current tape if the strategy subscribed to
    /// it; returns its delivery time when it is the new front of the queue
    /// or an event other than an L2 record (`None` otherwise: the front,
    /// which is due first, was already reported). Called for every event:
    /// the check for unsubscribed tapes must stay inline.
    #[inline(always)]
    pub(super) fn push(&mut self, instrument: usize, event: Event<'a>, te: i64, local: i64) -> Option<i64> {
        if !self.queued[self.tape] {
            return None;
        }
        if let Event::Level(r) = event {
            return self.push_level(instrument, r);
        }
        let ts = self.channels[self.tape].delivery(te, local);
        self.queue.push_back(Item::One(Pending { ts, instrument: instrument as u32, event }));
        Some(ts)
    }

    /// Queues an L2 record of the current tape: extends the run at the back
    /// of the queue when the record follows it on the same tape.
    #[inline(always)]
    fn push_level(&mut self, instrument: usize, r: &'a Level) -> Option<i64> {
        let tape = self.tape;
        // The record's index on its tape (it is one of `levels[tape]`).
        let at = (r as *const Level as usize).wrapping_sub(self.levels[tape].as_ptr() as usize)
            / std::mem::size_of::<Level>();
        if let Some(Item::Levels(run)) = self.queue.back_mut()
            && run.end == at
            && run.tape as usize == tape
        {
            run.end += 1;
            return None;
        }
        let front = self.queue.is_empty();
        let ts = front.then(|| self.channels[tape].delivery(r.ts.exchange, r.ts.local));
        self.queue.push_back(Item::Levels(LevelRun {
            pos: at,
            end: at + 1,
            ts,
            tape: tape as u32,
            instrument: instrument as u32,
        }));
        ts
    }

    /// Delivery time of the next queued event (`i64::MAX` when none).
    #[inline]
    pub(super) fn next_time(&self) -> i64 {
        match self.queue.front() {
            None => i64::MAX,
            Some(Item::One(p)) => p.ts,
            Some(Item::Levels(run)) => run.ts.unwrap_or(i64::MIN),
        }
    }

    /// The front of the queue.
    #[inline]
    pub(super) fn front(&self) -> Option<&Item<'a>> {
        self.queue.front()
    }

    /// Removes the front of the queue; draws the delivery time of the new
    /// front if it is a run of L2 records.
    #[inline]
    pub(super) fn pop_front(&mut self) {
        self.queue.pop_front();
        if let Some(Item::Levels(run)) = self.queue.front_mut()
            && run.ts.is_none()
        {
            let r = &self.levels[run.tape as usize][run.pos];
            run.ts = Some(self.channels[run.tape as usize].delivery(r.ts.exchange, r.ts.local));
        }
    }

    /// Delivers the L2 records at the front of the queue that arrive at `*t`
    /// (the front is a run due at `*t`): applies each to the strategy's view
    /// of the book, adds each to `batch` when the strategy subscribed to
    /// levels, and stops after a message end that is delivered (every one
    /// with levels; with [`subscribe::BOOK_TOPS`] one that moved the top,
    /// added to `batch`). Returns whether it stopped there (the batch ends).
    ///
    /// While `batch` is empty, records arriving later but at or before
    /// `horizon` are applied too, advancing `*t` to each one's time: a batch
    /// of records that reach the strategy's book and not the strategy
    /// changes nothing else, so this is what delivering them batch by
    /// batch would do, in one loop.
    pub(super) fn deliver_levels(
        &mut self,
        venues: &mut [Venue],
        t: &mut i64,
        horizon: i64,
        batch: &mut Vec<EventRef>,
    ) -> bool {
        let Some(Item::Levels(run)) = self.queue.front_mut() else { return false };
        let (tape, inst) = (run.tape as usize, run.instrument);
        let recs = &self.levels[tape][..run.end];
        let ch = &mut self.channels[tape];
        let v = &mut venues[inst as usize];
        let (all, tops) = (self.wants[RecordKind::Level.code() as usize], self.tops);
        let kind = u32::from(RecordKind::Level.code());
        let mut pos = run.pos;
        let mut now = *t;
        let delivered = loop {
            let r = &recs[pos];
            v.view.apply(r);
            pos += 1;
            let delivered = r.is_batch_end() && (all || (tops && v.top_moved()));
            if all || delivered {
                batch.push(EventRef { kind, instrument: inst, ts: now, record: (r as *const Level).cast() });
            }
            let Some(n) = recs.get(pos) else { break delivered };
            let d = ch.delivery(n.ts.exchange, n.ts.local);
            if !delivered && (d == now || (d <= horizon && batch.is_empty())) {
                now = d;
                continue;
            }
            run.pos = pos;
            run.ts = Some(d);
            *t = now;
            return delivered;
        };
        *t = now;
        self.pop_front();
        delivered
    }

    /// Brings the strategy's view of the books up to local time `t`: applies
    /// every record of the view cursors delivered at or before `t`.
    #[inline]
    pub(super) fn sync(&mut self, venues: &mut [Venue], t: i64) {
        if !self.cursors.is_empty() {
            self.sync_cursors(venues, t);
        }
    }

    fn sync_cursors(&mut self, venues: &mut [Venue], t: i64) {
        for c in &mut self.cursors {
            let ch = &mut self.channels[c.tape];
            let view = &mut venues[c.instrument].view;
            match c.source {
                ViewSource::Levels(recs) => c.pos = advance(recs, c.pos, &mut c.head, ch, t, |r| view.apply(r)),
                ViewSource::Quotes(recs) => c.pos = advance(recs, c.pos, &mut c.head, ch, t, |r| view.apply_quote(r)),
            }
        }
    }
}

/// Applies `recs[pos..]` while delivered by `t`; returns the new position.
/// `head` caches the delivery time of the record at `pos` (drawn once).
fn advance<R: Record>(
    recs: &[R],
    mut pos: usize,
    head: &mut Option<i64>,
    ch: &mut Channel,
    t: i64,
    mut apply: impl FnMut(&R),
) -> usize {
    while let Some(r) = recs.get(pos) {
        let s = r.stamp();
        let d = *head.get_or_insert_with(|| ch.delivery(s.exchange, s.local));
        if d > t {
            break;
        }
        apply(r);
        pos += 1;
        *head = None;
    }
    pos
}

/// Smallest `ts.local − ts.exchange` over a tape's first [`OFFSET_SAMPLE`]
/// records (0 for an empty tape).
fn min_local_minus_exchange(tape: &Tape) -> i64 {
    fn min_of<R: Record>(t: &Tape) -> i64 {
        t.records::<R>()
            .map(|rs| rs.iter().take(OFFSET_SAMPLE).map(|r| r.stamp().local - r.stamp().exchange).min().unwrap_or(0))
            .unwrap_or(0)
    }
    match tape.kind() {
        RecordKind::Trade => min_of::<ticktape_tape::Trade>(tape),
        RecordKind::Level => min_of::<Level>(tape),
        RecordKind::Quote => min_of::<Quote>(tape),
        RecordKind::Funding => min_of::<ticktape_tape::Funding>(tape),
        RecordKind::Bar => min_of::<ticktape_tape::Bar>(tape),
        RecordKind::Series => min_of::<ticktape_tape::Series>(tape),
        RecordKind::Fill => min_of::<ticktape_tape::Fill>(tape),
    }
}
