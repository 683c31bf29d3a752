//! Market data on its way to the strategy: one FIFO channel per tape, a
//! queue for the events the strategy subscribed to, and cursors that bring
//! its view of the book up to date for the events it did not.

use std::collections::VecDeque;

use ticktape_sdk::abi::subscribe;
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
    /// How many [`Feed::gaps`] (at the ring's front once this event is at
    /// the queue's) came before it and are not yet in the strategy's view.
    pub(super) gaps: u32,
    /// Smallest and largest delivery time of the gaps before this event
    /// that still hold it back (`gmax == i64::MIN`: none). A gap is a level
    /// that moves no top (see [`Gap`]); it still takes its place in the
    /// tape's FIFO channel, so the event cannot reach the strategy before
    /// the clock has passed every gap ahead of it.
    pub(super) gmin: i64,
    pub(super) gmax: i64,
    pub(super) event: Event<'a>,
}

/// With [`subscribe::BOOK_TOPS`]: a level record the strategy is not
/// called for (not a message end, or one that leaves the top where it
/// was, decided on the exchange's book, which the strategy's view follows
/// record for record). It is not queued as an event: it waits in a ring, in
/// delivery order, and is applied to the strategy's view just before the
/// next callback that must see it. So the simulator wakes only for the
/// events the strategy is called for, not for every book update.
#[derive(Clone, Copy, Debug)]
struct Gap<'a> {
    /// Delivery time.
    d: i64,
    instrument: u32,
    record: &'a Level,
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
    /// Subscribed events in delivery order.
    pub(super) queue: VecDeque<Pending<'a>>,
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
    /// With `tops`: the levels not delivered, in merge order, each owned by
    /// the first queued event after it (or by none yet: `trailing`).
    gaps: VecDeque<Gap<'a>>,
    /// How many gaps at the ring's back no queued event owns yet.
    trailing: u32,
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
        }
        Ok(Feed {
            queue: VecDeque::with_capacity(4096),
            channels,
            cursors,
            wants,
            tops,
            queued,
            gaps: VecDeque::with_capacity(if tops { 4096 } else { 0 }),
            trailing: 0,
            tape: 0,
        })
    }

    /// Queues an event of the current tape if the strategy subscribed to
    /// it; returns its delivery time. Called for every event: the check
    /// for unsubscribed tapes must stay inline.
    #[inline(always)]
    pub(super) fn push(&mut self, instrument: usize, event: Event<'a>, te: i64, local: i64) -> Option<i64> {
        if !self.queued[self.tape] {
            return None;
        }
        let ts = self.channels[self.tape].delivery(te, local);
        Some(self.enqueue(ts, instrument, event, te))
    }

    /// With `tops`, for a level of the current (L2) tape at exchange time
    /// `te`: queues it if `moved` (a message end that moved the top of the
    /// exchange's book, so of the strategy's view once it gets there), else
    /// keeps it as a gap. Returns the queued event's due time, if queued.
    #[inline(always)]
    pub(super) fn push_top(&mut self, instrument: usize, r: &'a Level, moved: bool) -> Option<i64> {
        let d = self.channels[self.tape].delivery(r.ts.exchange, r.ts.local);
        if moved {
            return Some(self.enqueue(d, instrument, Event::Level(r), r.ts.exchange));
        }
        self.gaps.push_back(Gap { d, instrument: instrument as u32, record: r });
        self.trailing += 1;
        None
    }

    /// Queues `event` (delivery `ts`), handed at exchange time `te`, as the
    /// owner of the trailing gaps; returns when it is due.
    #[inline(always)]
    fn enqueue(&mut self, ts: i64, instrument: usize, event: Event<'a>, te: i64) -> i64 {
        let (gaps, gmin, gmax) = if self.trailing == 0 { (0, i64::MAX, i64::MIN) } else { self.take_trailing(te) };
        self.queue.push_back(Pending { ts, instrument: instrument as u32, gaps, gmin, gmax, event });
        ts.max(gmax)
    }

    /// The trailing gaps, for an event queued at exchange time `te`: their
    /// count and the delivery times of those that still hold it back. With
    /// nothing queued, the clock has already passed (up to `te`, exclusive)
    /// the gaps at the front whose time came, as it would have taken them
    /// one by one; the rest, from the first not yet due, hold it back.
    #[inline(never)]
    fn take_trailing(&mut self, te: i64) -> (u32, i64, i64) {
        let n = std::mem::take(&mut self.trailing);
        let start = self.gaps.len() - n as usize;
        let passed = if self.queue.is_empty() {
            self.gaps.range(start..).position(|g| g.d >= te).unwrap_or(n as usize)
        } else {
            0
        };
        let rest = self.gaps.range(start + passed..);
        let (lo, hi) = rest.fold((i64::MAX, i64::MIN), |(lo, hi), g| (lo.min(g.d), hi.max(g.d)));
        (n, lo, hi)
    }

    /// When the next queued event is due (`i64::MAX` when none): at its
    /// delivery time, or later while gaps before it hold it back.
    #[inline]
    pub(super) fn next_time(&self) -> i64 {
        self.queue.front().map_or(i64::MAX, |p| p.ts.max(p.gmax))
    }

    /// The gaps before the front event have all been delivered: applies
    /// them to the strategy's view, and the event waits for no gap now.
    #[inline]
    pub(super) fn take_front_gaps(&mut self, venues: &mut [Venue]) {
        let Some(p) = self.queue.front_mut() else { return };
        p.gmax = i64::MIN;
        for g in self.gaps.drain(..std::mem::take(&mut p.gaps) as usize) {
            venues[g.instrument as usize].view.apply(g.record);
        }
    }

    /// Before a callback at `t` that is not a market-data batch (a timer,
    /// order updates, the end): applies the gaps the clock has reached, in
    /// order, up to the first not yet delivered or owned by an event still
    /// queued behind the front one.
    fn sync_gaps(&mut self, venues: &mut [Venue], t: i64) {
        let owned = match self.queue.front_mut() {
            Some(p) => &mut p.gaps,
            None => &mut self.trailing,
        };
        while *owned > 0 {
            let Some(g) = self.gaps.front().filter(|g| g.d <= t) else { break };
            venues[g.instrument as usize].view.apply(g.record);
            self.gaps.pop_front();
            *owned -= 1;
        }
    }

    /// Brings the strategy's view of the books up to local time `t`: applies
    /// every record of the view cursors delivered at or before `t`.
    #[inline]
    pub(super) fn sync(&mut self, venues: &mut [Venue], t: i64) {
        if !self.cursors.is_empty() {
            self.sync_cursors(venues, t);
        }
        if !self.gaps.is_empty() {
            self.sync_gaps(venues, t);
        }
    }

    /// [`sync`](Self::sync) for a market-data batch at `t`: the view cursors
    /// only, as the batch itself applied the gaps its events own, and the
    /// gaps after its last event are not delivered before that event's
    /// batch ends.
    #[inline]
    pub(super) fn sync_batch(&mut self, venues: &mut [Venue], t: i64) {
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
