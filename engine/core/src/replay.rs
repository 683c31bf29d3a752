//! Replaying tapes: merge them in time order, keep a book per instrument,
//! call a handler per event.
//!
//! The order of events is the tape crate's merge order (see
//! [`ticktape_tape::merge`]): non-decreasing exchange time; at equal time,
//! lower record-kind code first (trades before the book updates they cause),
//! then symbol, venue and the order tapes were given in; within a tape, file
//! order. The loop processes each merge run with a typed inner loop, so a
//! record costs one time comparison, its book update and the handler call.
//! Nothing is allocated per event.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam::channel::{Receiver, Sender};

use ticktape_tape::check;
use ticktape_tape::{Bar, Fill, Funding, Level, Merge, Quote, Record, RecordKind, Series, Tape, Trade};

use crate::book::Book;
use crate::error::{Error, Result};

/// One instrument (venue + symbol) seen in the replayed tapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Symbol, as in the tape headers.
    pub symbol: String,
    /// Venue, as in the tape headers.
    pub venue: String,
    /// Decimal exponent of prices.
    pub price_exponent: i8,
    /// Decimal exponent of quantities.
    pub qty_exponent: i8,
    /// Decimal exponent of money amounts, rates and series values.
    pub value_exponent: i8,
    /// Price tick in price units (0 if no tape says).
    pub price_tick: i64,
    /// Quantity lot in quantity units (0 if no tape says).
    pub qty_lot: i64,
    /// Whether an L2 tape drives this instrument's book (otherwise quotes do).
    pub has_l2: bool,
    /// Whether bars drive this instrument's book: it has a bar tape and no
    /// L2 or quote tape. Each bar then sets the book to one level a side
    /// around its close (see [`bar_quote`]), so market orders fill at the
    /// close ± the bar slippage and positions are marked at the close.
    pub bar_driven: bool,
    /// Slot width of the instrument's order books, in price units: the tick
    /// when a tape states it, otherwise the greatest common divisor of the
    /// price differences in the first book records (always a valid grid:
    /// a price off it just takes the book's slower overflow path). Only the
    /// books use it; order validation uses `price_tick`.
    pub book_tick: i64,
}

impl Instrument {
    /// An empty book for this instrument: on its book tick, with the
    /// smallest window for a bar-driven book (it holds two levels that move
    /// with every bar; a wide window would be re-centred at the cost of
    /// clearing it, bar after bar).
    pub fn new_book(&self) -> Book {
        if self.bar_driven { Book::with_window(self.book_tick, 64) } else { Book::with_tick(self.book_tick) }
    }
}

/// One event handed to a [`Handler`], borrowing the record in place.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A trade print.
    Trade(&'a Trade),
    /// An L2 level update (already applied to the book).
    Level(&'a Level),
    /// A best bid/offer (applied to the book when the instrument has no L2 tape).
    Quote(&'a Quote),
    /// Funding, mark or index.
    Funding(&'a Funding),
    /// A completed bar.
    Bar(&'a Bar),
    /// A series value.
    Series(&'a Series),
    /// A trader fill.
    Fill(&'a Fill),
}

impl Event<'_> {
    /// The record's exchange time, ns.
    #[inline]
    pub fn ts_exchange(&self) -> i64 {
        match self {
            Event::Trade(r) => r.ts.exchange,
            Event::Level(r) => r.ts.exchange,
            Event::Quote(r) => r.ts.exchange,
            Event::Funding(r) => r.ts.exchange,
            Event::Bar(r) => r.ts.exchange,
            Event::Series(r) => r.ts.exchange,
            Event::Fill(r) => r.ts.exchange,
        }
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Event::Trade(_) => RecordKind::Trade,
            Event::Level(_) => RecordKind::Level,
            Event::Quote(_) => RecordKind::Quote,
            Event::Funding(_) => RecordKind::Funding,
            Event::Bar(_) => RecordKind::Bar,
            Event::Series(_) => RecordKind::Series,
            Event::Fill(_) => RecordKind::Fill,
        }
    }
}

/// Receives every event of a replay, in order. `'a` is the lifetime of the
/// tapes, so a handler may keep events (e.g. to deliver them later).
pub trait Handler<'a> {
    /// Called before each merge run with the index of the tape (in the order
    /// given to [`Replay::open`]) whose records follow. The default does
    /// nothing.
    #[inline(always)]
    fn begin_run(&mut self, tape: usize) {
        let _ = tape;
    }

    /// Called once per record **before** it is applied to `books`, with its
    /// exchange time. The default does nothing.
    #[inline(always)]
    fn before(&mut self, ts_exchange: i64, books: &[Book]) {
        let _ = (ts_exchange, books);
    }

    /// Called once per record after it has been applied to `books`
    /// (`books[instrument]` is the event's instrument). The default does
    /// nothing.
    #[inline(always)]
    fn on_event(&mut self, instrument: usize, event: Event<'a>, books: &[Book]) {
        let _ = (instrument, event, books);
    }

    /// Called once after the last event (or after an early stop), with the
    /// final books. The default does nothing.
    fn end(&mut self, books: &[Book]) {
        let _ = books;
    }

    /// Checked between merge runs; `true` ends the replay early.
    #[inline(always)]
    fn stop(&self) -> bool {
        false
    }
}

/// The handler that does nothing (books are still maintained).
impl Handler<'_> for () {}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// Events delivered.
    pub events: u64,
    /// Events delivered per record kind, indexed by kind code.
    pub by_kind: [u64; 8],
    /// Merge runs (stretches of consecutive events from one tape); events /
    /// runs is the mean run length, which bounds the merge overhead.
    pub runs: u64,
    /// Every instrument's book after the last event.
    pub books: Vec<Book>,
}

/// How a set of tapes may be combined.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplayOptions {
    /// Accept streams whose time ranges do not overlap (by default a replay
    /// refuses them: it would run through the gap with one stream silent).
    pub allow_gaps: bool,
    /// Replay only records whose exchange time is at or after this (ns).
    /// Each tape seeks to it by binary search ([`Tape::window`]); records
    /// before it are not read.
    pub from: Option<i64>,
    /// Replay only records whose exchange time is before this (ns; the
    /// slice is half-open, `from..to`).
    pub to: Option<i64>,
    /// Bar-driven books (see [`Instrument::bar_driven`]): the distance of
    /// the bid and the ask from the close, basis points of the close
    /// (rounded to the tick, at least 0). Default 0: both at the close.
    pub bar_slippage_bps: f64,
    /// Plan the merge order on a second thread when there are three tapes or
    /// more ([`Replay::run`]): faster by wall time on an otherwise idle
    /// second core, but the planner costs CPU of its own and stalls the loop
    /// when the cores are contended, so it is for a lone replay
    /// (`ticktape replay`, `bench replay`), not for backtests and sweeps.
    /// Off by default. Events, order, books and errors are the same.
    pub plan_ahead: bool,
}

/// Depth of each side of a bar-driven book, quantity units: 2^53, the
/// largest order, so a market order fills whole at one price.
pub const BAR_BOOK_DEPTH: i64 = 1 << 53;

/// The one-level-a-side quote a bar sets on a bar-driven book: bid at
/// close − h and ask at close + h, h = round(close × bps / 10⁴ / tick) × tick,
/// each side [`BAR_BOOK_DEPTH`] deep (a side whose price would not be
/// positive is left empty).
#[inline]
pub fn bar_quote(bar: &Bar, tick: i64, slippage_bps: f64) -> ticktape_tape::Quote {
    let tick = tick.max(1);
    // No slippage, no arithmetic: `round` is a libm call on the default
    // target, and this runs twice per bar (the exchange's book and the view).
    let h = if slippage_bps == 0.0 {
        0
    } else {
        ((bar.close as f64 * slippage_bps / 10_000.0 / tick as f64).round().max(0.0) as i64) * tick
    };
    let bid = bar.close - h;
    ticktape_tape::Quote {
        ts: bar.ts,
        bid_price: if bid > 0 { bid } else { ticktape_tape::UNDEF },
        bid_qty: BAR_BOOK_DEPTH,
        ask_price: bar.close + h,
        ask_qty: BAR_BOOK_DEPTH,
    }
}

/// A set of open tapes ready to replay.
///
/// Opening checks every header, the first and last record of every tape
/// (values, times within [`check::TS_MIN`]`..=`[`check::TS_MAX`]), that no
/// stream is given twice and that the streams overlap in time; the replay then
/// checks every record before it delivers it, a chunk at a time and mostly
/// on a second thread that runs ahead of the loop (see [`Replay::run`] and
/// [`ticktape_tape::check`]), and
/// fails with the tape and byte offset of the first bad one.
#[derive(Debug)]
pub struct Replay {
    tapes: Vec<Tape>,
    instruments: Vec<Instrument>,
    tape_instrument: Vec<usize>,
    bar_slippage_bps: f64,
    plan_ahead: bool,
    /// Per tape: records `..checked[i]` are known good ([`check::check_range`]),
    /// shared by every run of this replay and by its check-ahead thread.
    checked: Vec<AtomicUsize>,
}

enum Source<'a> {
    Trade(&'a [Trade]),
    Level(&'a [Level]),
    Quote(&'a [Quote]),
    Funding(&'a [Funding]),
    Bar(&'a [Bar]),
    Series(&'a [Series]),
    Fill(&'a [Fill]),
}

impl<'a> Source<'a> {
    fn of(tape: &'a Tape) -> Result<Self> {
        Ok(match tape.kind() {
            RecordKind::Trade => Source::Trade(tape.records()?),
            RecordKind::Level => Source::Level(tape.records()?),
            RecordKind::Quote => Source::Quote(tape.records()?),
            RecordKind::Funding => Source::Funding(tape.records()?),
            RecordKind::Bar => Source::Bar(tape.records()?),
            RecordKind::Series => Source::Series(tape.records()?),
            RecordKind::Fill => Source::Fill(tape.records()?),
        })
    }

    /// [`check::check_range`] over records `from..to` of this tape.
    fn check_range(&self, from: usize, to: usize, last: i64) -> Option<usize> {
        match *self {
            Source::Trade(r) => check::check_range(r, from, to, last),
            Source::Level(r) => check::check_range(r, from, to, last),
            Source::Quote(r) => check::check_range(r, from, to, last),
            Source::Funding(r) => check::check_range(r, from, to, last),
            Source::Bar(r) => check::check_range(r, from, to, last),
            Source::Series(r) => check::check_range(r, from, to, last),
            Source::Fill(r) => check::check_range(r, from, to, last),
        }
    }
}

/// One tape as the run loop sees it.
struct Lane<'a, 's> {
    source: Source<'a>,
    /// Its instrument.
    inst: usize,
    /// The header's `last_ts`.
    last: i64,
    checked: Checked<'s>,
}

/// How far the run loop has checked one tape: records `..to` are good,
/// `bad` is the first bad one once found.
#[derive(Clone, Copy)]
struct Checked<'s> {
    to: usize,
    bad: usize,
    /// The replay's shared mark for this tape (see [`Replay::check_ahead`]).
    shared: &'s AtomicUsize,
}

impl Checked<'_> {
    /// Moves `to` past the next chunk: up to the shared mark if the
    /// check-ahead thread got further, else by checking the chunk here.
    #[inline(never)]
    fn extend<R: Record>(&mut self, recs: &[R], last: i64) {
        let shared = self.shared.load(Ordering::Acquire);
        if shared > self.to {
            self.to = shared;
            return;
        }
        let to = (self.to + check::CHUNK).min(recs.len());
        match check::check_range(recs, self.to, to, last) {
            None => self.to = to,
            Some(bad) => (self.to, self.bad) = (bad, bad),
        }
        self.shared.fetch_max(self.to, Ordering::Release);
    }
}

/// Runs `f` over `recs[start..]` while records are within `bound`; returns
/// where it stopped and the exchange time of the record there, if any, or
/// the index of a bad record. Records are delivered only once checked
/// ([`check::check_range`], the same answer as the per-record [`check::scan`]):
/// by the replay's check-ahead thread, which normally runs well ahead on
/// another core, or a chunk at a time here when the loop catches up with it.
/// A bad record ends the run exactly as a per-record check would: reported
/// when the run reaches it, unless its time is beyond `bound` (then the run
/// stops before it as usual).
#[inline(always)]
fn drive<'a, R: Record>(
    recs: &'a [R],
    start: usize,
    bound: i64,
    last: i64,
    checked: &mut Checked<'_>,
    mut f: impl FnMut(&'a R),
) -> Result<(usize, Option<i64>), usize> {
    let mut i = start;
    loop {
        if i >= checked.to {
            if i == recs.len() {
                return Ok((i, None));
            }
            if i == checked.bad {
                let ts = recs[i].stamp().exchange;
                return if ts > bound && ts <= last { Ok((i, Some(ts))) } else { Err(i) };
            }
            checked.extend(recs, last);
            continue;
        }
        let end = checked.to;
        for (k, r) in recs[i..end].iter().enumerate() {
            let ts = r.stamp().exchange;
            if ts > bound {
                return Ok((i + k, Some(ts)));
            }
            f(r);
        }
        i = end;
    }
}

/// What delivering a record needs beyond its instrument's book: which
/// instruments quotes and bars drive, and the bar quote's parameters.
struct Ctx {
    quote_driven: Vec<bool>,
    bar_driven: Vec<bool>,
    bar_ticks: Vec<i64>,
    slip: f64,
}

/// Delivering one record: `before`, the book update its kind makes (if
/// any), then `on_event`.
trait Deliver: Record {
    fn deliver<'a, H: Handler<'a> + ?Sized>(&'a self, inst: usize, books: &mut [Book], ctx: &Ctx, handler: &mut H);
}

/// [`Deliver`] for kinds that do not touch the book.
macro_rules! deliver_plain {
    ($($kind:ident),*) => {$(
        impl Deliver for $kind {
            #[inline(always)]
            fn deliver<'a, H: Handler<'a> + ?Sized>(&'a self, inst: usize, books: &mut [Book], _: &Ctx, handler: &mut H) {
                handler.before(self.ts.exchange, books);
                handler.on_event(inst, Event::$kind(self), books);
            }
        }
    )*};
}
deliver_plain!(Trade, Funding, Series, Fill);

impl Deliver for Level {
    #[inline(always)]
    fn deliver<'a, H: Handler<'a> + ?Sized>(&'a self, inst: usize, books: &mut [Book], _: &Ctx, handler: &mut H) {
        handler.before(self.ts.exchange, books);
        books[inst].apply(self);
        handler.on_event(inst, Event::Level(self), books);
    }
}

impl Deliver for Quote {
    #[inline(always)]
    fn deliver<'a, H: Handler<'a> + ?Sized>(&'a self, inst: usize, books: &mut [Book], ctx: &Ctx, handler: &mut H) {
        handler.before(self.ts.exchange, books);
        if ctx.quote_driven[inst] {
            books[inst].apply_quote(self);
        }
        handler.on_event(inst, Event::Quote(self), books);
    }
}

impl Deliver for Bar {
    #[inline(always)]
    fn deliver<'a, H: Handler<'a> + ?Sized>(&'a self, inst: usize, books: &mut [Book], ctx: &Ctx, handler: &mut H) {
        handler.before(self.ts.exchange, books);
        if ctx.bar_driven[inst] {
            books[inst].apply_quote(&bar_quote(self, ctx.bar_ticks[inst], ctx.slip));
        }
        handler.on_event(inst, Event::Bar(self), books);
    }
}

/// One run of `lane` from `start` while records are within `bound` (see
/// [`drive`]).
#[inline(always)]
fn run_lane<'a, H: Handler<'a> + ?Sized>(
    lane: &mut Lane<'a, '_>,
    start: usize,
    bound: i64,
    books: &mut [Book],
    ctx: &Ctx,
    handler: &mut H,
) -> Result<(usize, Option<i64>), usize> {
    let (inst, last, ck) = (lane.inst, lane.last, &mut lane.checked);
    match lane.source {
        Source::Level(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Trade(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Quote(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Funding(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Bar(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Series(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Fill(recs) => drive(recs, start, bound, last, ck, |r| r.deliver(inst, books, ctx, handler)),
    }
}

/// One of the two streams of [`run_pair`].
struct PairSide<'a, 's, R> {
    recs: &'a [R],
    stream: usize,
    inst: usize,
    last: i64,
    checked: Checked<'s>,
    /// Next record, and its exchange time unless the stream is done.
    pos: usize,
    ts: Option<i64>,
}

impl<'a, 's, R> PairSide<'a, 's, R> {
    fn new(recs: &'a [R], lane: &Lane<'a, 's>, stream: usize, pos: usize, ts: i64) -> Self {
        PairSide { recs, stream, inst: lane.inst, last: lane.last, checked: lane.checked, pos, ts: Some(ts) }
    }
}

/// The replay of exactly two streams (one instrument's trades and book,
/// the commonest replay), with the merge's runs but not its bookkeeping:
/// runs alternate strictly between the two, because a run ends where the
/// other stream's head comes first. So each run is bounded by the other
/// head's time (`lo`, the lower rank, wins ties: it runs up to and
/// including that time, `hi` up to just before it), and both kinds are
/// known here, so nothing dispatches per run. Returns when a stream is
/// exhausted or the handler stops (`Ok(true)`), or with the stream and
/// index of a bad record.
#[inline(never)]
fn run_pair<'a, A: Deliver, B: Deliver, H: Handler<'a> + ?Sized>(
    lo: &mut PairSide<'a, '_, A>,
    hi: &mut PairSide<'a, '_, B>,
    hi_first: bool,
    books: &mut [Book],
    ctx: &Ctx,
    handler: &mut H,
    runs: &mut u64,
) -> Result<bool, (usize, usize)> {
    let mut skip_lo = hi_first;
    loop {
        if !skip_lo {
            let Some(bound) = hi.ts else { return Ok(false) };
            handler.begin_run(lo.stream);
            *runs += 1;
            let inst = lo.inst;
            match drive(lo.recs, lo.pos, bound, lo.last, &mut lo.checked, |r| r.deliver(inst, books, ctx, handler)) {
                Ok((end, next)) => (lo.pos, lo.ts) = (end, next),
                Err(bad) => return Err((lo.stream, bad)),
            }
            if handler.stop() {
                return Ok(true);
            }
        }
        skip_lo = false;
        let Some(lo_ts) = lo.ts else { return Ok(false) };
        let bound = lo_ts.saturating_sub(1);
        handler.begin_run(hi.stream);
        *runs += 1;
        let inst = hi.inst;
        match drive(hi.recs, hi.pos, bound, hi.last, &mut hi.checked, |r| r.deliver(inst, books, ctx, handler)) {
            Ok((end, next)) => (hi.pos, hi.ts) = (end, next),
            Err(bad) => return Err((hi.stream, bad)),
        }
        if handler.stop() {
            return Ok(true);
        }
    }
}

/// Replays of at least this many records over two or more tapes plan their
/// merge order on a second thread ([`Replay::run_planned`]).
const PLAN_MIN: u64 = 1 << 16;

/// Planned runs per buffer, and buffers in flight: the planner runs at most
/// about 16 k runs ahead of the loop that follows it (a few hundred KiB of
/// records, still in cache when the follower reads them).
const PLAN_CHUNK: usize = 2048;
const PLAN_CHUNKS: usize = 8;

/// A planned run's token: the stream in the bits from this one up, the run's
/// length in records below [`PLAN_BAD_END`].
const PLAN_STREAM_SHIFT: u32 = 48;

/// Set in a token when the record after the run has an exchange time beyond
/// its tape's `last_ts`: a bad record, which the run loop reports as it
/// reaches it (its time is beyond the run's bound, but no later run can
/// take it).
const PLAN_BAD_END: u64 = 1 << 47;

/// Follows the runs that [`Replay::plan`] sends, delivering each run's
/// records from its tape's next position (`pos`, advanced here), calling
/// [`Handler::begin_run`] before and [`Handler::stop`] after each run, and
/// handing every emptied buffer back. Returns the number of runs, or the
/// stream and index of the first bad record reached.
#[inline(never)]
fn follow<'a, H: Handler<'a> + ?Sized>(
    full: &Receiver<Vec<u64>>,
    empty: &Sender<Vec<u64>>,
    pos: &mut [usize],
    lanes: &mut [Lane<'a, '_>],
    books: &mut [Book],
    ctx: &Ctx,
    handler: &mut H,
) -> Result<u64, (usize, usize)> {
    let mut runs = 0u64;
    while let Ok(chunk) = full.recv() {
        for &token in &chunk {
            let stream = (token >> PLAN_STREAM_SHIFT) as usize;
            let len = (token & (PLAN_BAD_END - 1)) as usize;
            runs += 1;
            handler.begin_run(stream);
            let (Some(lane), Some(at)) = (lanes.get_mut(stream), pos.get_mut(stream)) else { return Ok(runs) };
            let start = *at;
            let end = start + len;
            let out = follow_lane(lane, start, end, books, ctx, handler);
            *at = end;
            if let Err(bad) = out {
                *at = bad;
                return Err((stream, bad));
            }
            if token & PLAN_BAD_END != 0 {
                return Err((stream, end));
            }
            if handler.stop() {
                return Ok(runs);
            }
        }
        let _ = empty.send(chunk);
    }
    Ok(runs)
}

/// Delivers records `start..end` of `lane` (one planned run), each checked
/// first (see [`drive`]): a bad record among them ends the run there, with
/// the records before it delivered.
#[inline(always)]
fn follow_lane<'a, H: Handler<'a> + ?Sized>(
    lane: &mut Lane<'a, '_>,
    start: usize,
    end: usize,
    books: &mut [Book],
    ctx: &Ctx,
    handler: &mut H,
) -> Result<(), usize> {
    let (inst, last, ck) = (lane.inst, lane.last, &mut lane.checked);
    match lane.source {
        Source::Level(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Trade(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Quote(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Funding(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Bar(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Series(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
        Source::Fill(recs) => deliver_range(recs, start, end, last, ck, |r| r.deliver(inst, books, ctx, handler)),
    }
}

/// Runs `f` over `recs[start..end]` once checked ([`Checked::extend`]);
/// returns the index of a bad record among them after delivering the
/// records before it.
#[inline(always)]
fn deliver_range<'a, R: Record>(
    recs: &'a [R],
    start: usize,
    end: usize,
    last: i64,
    checked: &mut Checked<'_>,
    mut f: impl FnMut(&'a R),
) -> Result<(), usize> {
    let mut stop = end.min(recs.len());
    while checked.to < stop {
        if checked.bad != usize::MAX {
            // `extend` stopped at the bad record: `to == bad`.
            stop = checked.bad;
            break;
        }
        checked.extend(recs, last);
    }
    for r in recs.get(start..stop).unwrap_or_default() {
        f(r);
    }
    if stop < end { Err(stop) } else { Ok(()) }
}

/// A tape's exchange times in place: the records as 8-byte words, a record
/// every `stride` words, its time first.
#[derive(Clone, Copy)]
struct Stamps<'a> {
    words: &'a [i64],
    stride: usize,
    /// Records.
    len: usize,
    /// The header's `last_ts`.
    last: i64,
}

impl<'a> Stamps<'a> {
    fn of(tape: &'a Tape) -> Self {
        let stride = (tape.header().record_size as usize / 8).max(1);
        // Records are 8-byte aligned in the map (the typed views rely on it
        // too); an unreadable tape plans as empty and fails in the run loop.
        let words = bytemuck::try_cast_slice(tape.record_bytes()).unwrap_or_default();
        Stamps { words, stride, len: words.len() / stride, last: tape.header().last_ts }
    }
}

/// The merge keys of [`Merge`] packed in 64 bits for [`Planner::kway`]:
/// `(ts − t0) << bits | rank`, which orders like Merge's `(ts, rank)` when
/// every time that can become a key lies in `t0 ..= t0 + 2^(64 − bits) − 2`
/// (a key is a stream's next record's time, between the earliest
/// `first_ts` and the latest `last_ts`; a record beyond its `last_ts` ends
/// the plan instead). `u64::MAX` marks an exhausted stream.
struct PackedKeys {
    /// Indexed by rank.
    keys: Vec<u64>,
    /// Next record per rank.
    pos: Vec<usize>,
    /// Stream of each rank.
    stream: Vec<usize>,
    t0: i64,
    bits: u32,
}

impl PackedKeys {
    /// `None` when there are fewer than three streams (the pair loop's
    /// case) or more than 64, or their time span does not fit.
    fn new(merge: &Merge<'_>, tapes: &[Tape]) -> Option<Self> {
        let n = tapes.len();
        if !(3..=64).contains(&n) {
            return None;
        }
        let bits = usize::BITS - (n - 1).leading_zeros();
        let full = || tapes.iter().filter(|t| !t.is_empty());
        let t0 = full().map(|t| t.header().first_ts).min()?;
        let t1 = full().map(|t| t.header().last_ts).max()?;
        let span = u64::try_from(i128::from(t1) - i128::from(t0)).ok()?;
        if span >= (u64::MAX >> bits) {
            return None;
        }
        let mut keys = vec![u64::MAX; n];
        let mut stream = vec![0; n];
        for (i, t) in tapes.iter().enumerate() {
            let rank = merge.rank(i) as usize;
            stream[rank] = i;
            if let Some(ts) = t.ts_at(0) {
                keys[rank] = Self::pack(ts, t0, bits, rank);
            }
        }
        Some(PackedKeys { keys, pos: vec![0; n], stream, t0, bits })
    }

    #[inline(always)]
    fn pack(ts: i64, t0: i64, bits: u32, rank: usize) -> u64 {
        ((ts.wrapping_sub(t0) as u64) << bits) | rank as u64
    }
}

/// The state of [`Replay::plan`]: the buffer being filled, the channels,
/// and the checks it makes ahead of the runs it plans.
struct Planner<'a, 'c> {
    full: &'c Sender<Vec<u64>>,
    empty: &'c Receiver<Vec<u64>>,
    buf: Vec<u64>,
    stamps: Vec<Stamps<'a>>,
    /// Per tape, with checks: the tape's records, how far they are checked
    /// and whether that is done (all checked or a bad record found).
    sources: Vec<Option<Source<'a>>>,
    checked: Vec<usize>,
    done: Vec<bool>,
    shared: &'a [AtomicUsize],
}

impl Planner<'_, '_> {
    /// Plans one run of `stream` from `start` while times are within
    /// `bound`: returns where it ends and the time of the record there (if
    /// any), or `None` when planning is over (the follower hung up, or the
    /// run ends at a record beyond `last_ts`, where the follower fails).
    #[inline(always)]
    fn run(&mut self, stream: usize, start: usize, bound: i64) -> Option<(usize, Option<i64>)> {
        let Stamps { words, stride, len, last } = self.stamps[stream];
        if !self.done[stream] && self.checked[stream] < (start + 2 * check::CHUNK).min(len) {
            self.check(stream, len, last);
        }
        let mut end = start;
        let mut next = None;
        while let Some(&ts) = words.get(end * stride) {
            if ts > bound {
                next = Some(ts);
                break;
            }
            end += 1;
        }
        let bad_end = next.is_some_and(|ts| ts > last);
        let token = ((stream as u64) << PLAN_STREAM_SHIFT) | (end - start) as u64;
        self.buf.push(token | if bad_end { PLAN_BAD_END } else { 0 });
        if bad_end {
            let _ = self.full.send(std::mem::take(&mut self.buf));
            return None;
        }
        if self.buf.len() >= PLAN_CHUNK {
            self.full.send(std::mem::take(&mut self.buf)).ok()?;
            self.buf = self.empty.recv().ok()?;
            self.buf.clear();
        }
        Some((end, next))
    }

    /// Checks the next stretch of `stream` and publishes how far it is good.
    #[cold]
    fn check(&mut self, stream: usize, len: usize, last: i64) {
        let from = self.checked[stream];
        let to = (from + 16 * check::CHUNK).min(len);
        let bad = self.sources[stream].as_ref().and_then(|src| src.check_range(from, to, last));
        self.checked[stream] = bad.unwrap_or(to);
        self.shared[stream].fetch_max(self.checked[stream], Ordering::Release);
        self.done[stream] = bad.is_some() || self.checked[stream] >= len;
    }

    /// The k-way plan over packed keys: each run is the stream of the
    /// smallest key, bounded by the second smallest (minus one when that
    /// stream ranks lower: it wins the tie), both found by a pass of
    /// selects over every key (no branch on which stream wins). The same
    /// runs as [`Merge`]. Returns whether every stream was planned to its
    /// end (`false`: planning stopped early, see [`Planner::run`]).
    fn kway(&mut self, mut k: PackedKeys) -> bool {
        let (mask, bits) = ((1u64 << k.bits) - 1, k.bits);
        loop {
            let (mut first, mut second) = (u64::MAX, u64::MAX);
            for &key in &k.keys {
                second = second.min(first.max(key));
                first = first.min(key);
            }
            if first == u64::MAX {
                return true;
            }
            let rank = (first & mask) as usize;
            let bound = if second == u64::MAX {
                i64::MAX
            } else {
                let ts = k.t0.wrapping_add((second >> bits) as i64);
                ts - i64::from(rank as u64 > second & mask)
            };
            let Some((end, next)) = self.run(k.stream[rank], k.pos[rank], bound) else { return false };
            k.pos[rank] = end;
            k.keys[rank] = next.map_or(u64::MAX, |ts| PackedKeys::pack(ts, k.t0, bits, rank));
        }
    }

    /// The two-stream plan: runs alternate strictly (see [`run_pair`]).
    /// `lo` and `hi` are (stream, next record, its time or `None` once
    /// done), updated as planned. Returns `Some(true)` when a stream is
    /// exhausted, `None` when planning is over.
    fn pair(
        &mut self,
        lo: &mut (usize, usize, Option<i64>),
        hi: &mut (usize, usize, Option<i64>),
        hi_first: bool,
    ) -> Option<bool> {
        let mut skip_lo = hi_first;
        loop {
            if !skip_lo {
                let Some(bound) = hi.2 else { return Some(true) };
                (lo.1, lo.2) = self.run(lo.0, lo.1, bound)?;
            }
            skip_lo = false;
            let Some(lo_ts) = lo.2 else { return Some(true) };
            (hi.1, hi.2) = self.run(hi.0, hi.1, lo_ts.saturating_sub(1))?;
        }
    }
}

/// Replays with at least this many records get a check-ahead thread; smaller
/// ones are checked by the run loop alone.
const CHECK_AHEAD_MIN: u64 = 1 << 20;

/// Book records read to estimate a tick.
const TICK_SAMPLE: usize = 100_000;

/// The greatest common divisor of the price differences among the first
/// 100,000 records of an L2 or quote tape (0 if there are none).
pub fn estimate_tick(tape: &Tape) -> i64 {
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let prices: Box<dyn Iterator<Item = i64> + '_> = match tape.kind() {
        RecordKind::Level => match tape.records::<Level>() {
            Ok(r) => Box::new(r.iter().take(TICK_SAMPLE).map(|l| l.price)),
            Err(_) => return 0,
        },
        RecordKind::Quote => match tape.records::<Quote>() {
            Ok(r) => Box::new(
                r.iter()
                    .take(TICK_SAMPLE)
                    .flat_map(|q| [q.bid_price, q.ask_price])
                    .filter(|&p| p != ticktape_tape::UNDEF),
            ),
            Err(_) => return 0,
        },
        _ => return 0,
    };
    let mut first = None;
    let mut g = 0u64;
    for p in prices {
        let f = *first.get_or_insert(p);
        g = gcd(g, p.abs_diff(f));
        if g == 1 {
            break;
        }
    }
    i64::try_from(g).unwrap_or(0)
}

/// Whether records of this kind carry prices and quantities in the
/// instrument's units (and so must agree on exponents).
fn carries_prices(kind: RecordKind) -> bool {
    matches!(kind, RecordKind::Trade | RecordKind::Level | RecordKind::Quote | RecordKind::Funding | RecordKind::Bar)
}

/// The stream a tape belongs to: (record kind, venue, symbol, bar length).
///
/// Bars of one instrument at different intervals (1m and 1h) are different
/// streams. The header has no interval field (the file name carries it, e.g.
/// `binance.BTCUSDT.bars-1h.tape`, but names can change), and using a reserved
/// header field would break the format's promise that reserved bytes are
/// zero (every reader refuses a tape otherwise), so the length comes from the
/// records: the first bar's `ts.exchange - open_ts` (close minus open time).
/// It is 0 for other kinds.
fn stream_of(t: &Tape) -> (RecordKind, &str, &str, i64) {
    (t.kind(), t.header().venue(), t.header().symbol(), bar_length(t))
}

/// The first bar's close minus open time, ns (0 for other kinds or no bars).
fn bar_length(t: &Tape) -> i64 {
    match t.records::<Bar>() {
        Ok(bars) => bars.first().map_or(0, |b| b.ts.exchange.saturating_sub(b.open_ts)),
        Err(_) => 0,
    }
}

/// `a..b` as ISO 8601 times.
fn range_text(first: i64, last: i64) -> String {
    format!("{} .. {}", check::iso8601(first), check::iso8601(last))
}

/// A duration in ns, roughly, in the largest sensible unit.
fn duration_text(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    if s >= 2.0 * 86_400.0 {
        format!("{:.1} days", s / 86_400.0)
    } else if s >= 2.0 * 3_600.0 {
        format!("{:.1} h", s / 3_600.0)
    } else if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.3} s")
    }
}

/// Refuses the same stream twice and, unless allowed, streams that do not
/// overlap in time.
fn check_streams(tapes: &[Tape], options: ReplayOptions) -> Result<()> {
    let canonical: Vec<_> = tapes.iter().map(|t| std::fs::canonicalize(t.path()).ok()).collect();
    for (j, b) in tapes.iter().enumerate() {
        for (i, a) in tapes[..j].iter().enumerate() {
            let same_file = canonical[i].is_some() && canonical[i] == canonical[j];
            if !same_file && stream_of(a) != stream_of(b) {
                continue;
            }
            let (ha, hb) = (a.header(), b.header());
            let overlap = !a.is_empty() && !b.is_empty() && ha.first_ts <= hb.last_ts && hb.first_ts <= ha.last_ts;
            if !same_file && !overlap {
                continue; // one stream in consecutive pieces
            }
            let why = if same_file {
                " given twice (the same file)".to_owned()
            } else {
                format!(
                    " with overlapping time ranges ({} and {})",
                    range_text(ha.first_ts, ha.last_ts),
                    range_text(hb.first_ts, hb.last_ts)
                )
            };
            return Err(Error::DuplicateStream {
                first: a.path().to_path_buf(),
                second: b.path().to_path_buf(),
                kind: a.kind(),
                symbol: ha.symbol().to_owned(),
                venue: ha.venue().to_owned(),
                why,
            });
        }
    }
    if options.allow_gaps {
        return Ok(());
    }
    // Each stream's time range (over its pieces); every stream must share an
    // instant with every other: the latest start is no later than the
    // earliest end.
    // (stream, first ts, last ts, tape with the first, tape with the last)
    type Span<'t> = ((RecordKind, &'t str, &'t str, i64), i64, i64, usize, usize);
    let mut streams: Vec<Span<'_>> = Vec::new();
    for (i, t) in tapes.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
        let (f, l) = (t.header().first_ts, t.header().last_ts);
        match streams.iter_mut().find(|s| s.0 == stream_of(t)) {
            Some(s) => {
                if f < s.1 {
                    (s.1, s.3) = (f, i);
                }
                if l > s.2 {
                    (s.2, s.4) = (l, i);
                }
            }
            None => streams.push((stream_of(t), f, l, i, i)),
        }
    }
    let late = streams.iter().max_by_key(|s| s.1);
    let early = streams.iter().min_by_key(|s| s.2);
    if let (Some(late), Some(early)) = (late, early)
        && late.1 > early.2
    {
        return Err(Error::NoOverlap {
            early: tapes[early.4].path().to_path_buf(),
            early_range: range_text(early.1, early.2),
            late: tapes[late.3].path().to_path_buf(),
            late_range: range_text(late.1, late.2),
            gap: duration_text(late.1 - early.2),
        });
    }
    Ok(())
}

/// Narrows every tape to `options.from..options.to` (binary search, see
/// [`Tape::window`]); refuses a slice that holds no record of any tape.
fn window(tapes: Vec<Tape>, options: ReplayOptions) -> Result<Vec<Tape>> {
    if options.from.is_none() && options.to.is_none() {
        return Ok(tapes);
    }
    for tape in &tapes {
        if !tape.header().is_sorted() && !tape.is_empty() {
            return Err(Error::NotSorted { path: tape.path().to_path_buf() });
        }
    }
    let span = |ts: &[Tape]| {
        let full: Vec<&Tape> = ts.iter().filter(|t| !t.is_empty()).collect();
        let first = full.iter().map(|t| t.header().first_ts).min();
        let last = full.iter().map(|t| t.header().last_ts).max();
        first.zip(last)
    };
    let whole = span(&tapes);
    let tapes: Vec<Tape> = tapes.into_iter().map(|t| t.window(options.from, options.to)).collect();
    if let (Some((first, last)), None) = (whole, span(&tapes)) {
        let bound = |t: Option<i64>, open: &str| t.map_or_else(|| open.to_owned(), check::iso8601);
        return Err(Error::Config {
            what: "time slice",
            why: format!(
                "[{}, {}) selects no record: the tapes span {}; pick times inside that range",
                bound(options.from, "start"),
                bound(options.to, "end"),
                range_text(first, last)
            ),
        });
    }
    Ok(tapes)
}

impl Replay {
    /// Opens and validates the tapes at `paths` with the default options.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        Self::open_with(paths, ReplayOptions::default())
    }

    /// Opens and validates the tapes at `paths`, narrowed to the time slice
    /// of `options` if it has one.
    pub fn open_with<P: AsRef<Path>>(paths: &[P], options: ReplayOptions) -> Result<Self> {
        let tapes = paths.iter().map(Tape::open).collect::<Result<Vec<_>, _>>()?;
        Self::from_tapes_with(tapes, options)
    }

    /// Builds a replay over already open tapes with the default options.
    pub fn from_tapes(tapes: Vec<Tape>) -> Result<Self> {
        Self::from_tapes_with(tapes, ReplayOptions::default())
    }

    /// Builds a replay over already open tapes. Every tape must be sorted
    /// with valid first and last records, tapes of one instrument must agree
    /// on their exponents, no stream may be given twice, and the streams
    /// must overlap in time unless [`ReplayOptions::allow_gaps`].
    pub fn from_tapes_with(tapes: Vec<Tape>, options: ReplayOptions) -> Result<Self> {
        if tapes.is_empty() {
            return Err(Error::NoTapes);
        }
        let tapes = window(tapes, options)?;
        for tape in &tapes {
            if !tape.header().is_sorted() && !tape.is_empty() {
                return Err(Error::NotSorted { path: tape.path().to_path_buf() });
            }
            tape.check_ends()?;
        }
        check_streams(&tapes, options)?;
        let mut instruments: Vec<Instrument> = Vec::new();
        let mut first_tape: Vec<usize> = Vec::new();
        let mut tape_of: Vec<usize> = Vec::with_capacity(tapes.len());
        for (ti, tape) in tapes.iter().enumerate() {
            let h = tape.header();
            if !h.is_sorted() && !tape.is_empty() {
                return Err(Error::NotSorted { path: tape.path().to_path_buf() });
            }
            let idx = instruments.iter().position(|i| i.symbol == h.symbol() && i.venue == h.venue());
            let idx = match idx {
                Some(i) => i,
                None => {
                    instruments.push(Instrument {
                        symbol: h.symbol().to_owned(),
                        venue: h.venue().to_owned(),
                        price_exponent: h.price_exponent,
                        qty_exponent: h.qty_exponent,
                        value_exponent: h.value_exponent,
                        price_tick: 0,
                        qty_lot: 0,
                        has_l2: false,
                        bar_driven: false,
                        book_tick: 0,
                    });
                    first_tape.push(usize::MAX);
                    instruments.len() - 1
                }
            };
            let inst = &mut instruments[idx];
            if carries_prices(tape.kind()) {
                if first_tape[idx] == usize::MAX {
                    first_tape[idx] = ti;
                    inst.price_exponent = h.price_exponent;
                    inst.qty_exponent = h.qty_exponent;
                } else if (inst.price_exponent, inst.qty_exponent) != (h.price_exponent, h.qty_exponent) {
                    let other = tapes[first_tape[idx]].path().display();
                    return Err(Error::Config {
                        what: "tape set",
                        why: format!(
                            "{} has price/qty exponents {}/{} but {other} has {}/{} for the same instrument {}; \
                             re-convert one of them with matching --price-decimals/--qty-decimals",
                            tape.path().display(),
                            h.price_exponent,
                            h.qty_exponent,
                            inst.price_exponent,
                            inst.qty_exponent,
                            inst.symbol
                        ),
                    });
                }
                if inst.price_tick == 0 {
                    inst.price_tick = h.price_tick;
                }
                if inst.qty_lot == 0 {
                    inst.qty_lot = h.qty_lot;
                }
            }
            if tape.kind() == RecordKind::Level {
                inst.has_l2 = true;
            }
            tape_of.push(idx);
        }
        for (idx, inst) in instruments.iter_mut().enumerate() {
            let kinds = || tapes.iter().zip(&tape_of).filter(move |&(_, &i)| i == idx).map(|(t, _)| t.kind());
            inst.bar_driven = kinds().any(|k| k == RecordKind::Bar)
                && !kinds().any(|k| matches!(k, RecordKind::Level | RecordKind::Quote));
        }
        // Book slot widths: the stated tick, else estimated from the L2 tape
        // (or the quotes when there is none: best prices alone can suggest a
        // coarser grid than the book's).
        for inst in &mut instruments {
            inst.book_tick = inst.price_tick;
        }
        for kind in [RecordKind::Level, RecordKind::Quote] {
            for (tape, &idx) in tapes.iter().zip(&tape_of) {
                if instruments[idx].book_tick == 0 && tape.kind() == kind {
                    instruments[idx].book_tick = estimate_tick(tape);
                }
            }
        }
        // Instruments in a canonical order, whatever the order of the tapes.
        let mut order: Vec<usize> = (0..instruments.len()).collect();
        order.sort_by(|&a, &b| {
            (&instruments[a].venue, &instruments[a].symbol).cmp(&(&instruments[b].venue, &instruments[b].symbol))
        });
        let sorted: Vec<Instrument> = order.iter().map(|&i| instruments[i].clone()).collect();
        let tape_instrument = tapes
            .iter()
            .map(|t| {
                let h = t.header();
                sorted.iter().position(|i| i.symbol == h.symbol() && i.venue == h.venue()).unwrap_or(0)
            })
            .collect();
        let checked = tapes.iter().map(|_| AtomicUsize::new(0)).collect();
        Ok(Replay {
            tapes,
            instruments: sorted,
            tape_instrument,
            bar_slippage_bps: options.bar_slippage_bps.max(0.0),
            plan_ahead: options.plan_ahead,
            checked,
        })
    }

    /// The instruments, in canonical (venue, symbol) order; handler
    /// `instrument` arguments index this slice.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// The tapes, in the order given.
    pub fn tapes(&self) -> &[Tape] {
        &self.tapes
    }

    /// The bar slippage of bar-driven books, basis points ([`ReplayOptions::bar_slippage_bps`]).
    pub fn bar_slippage_bps(&self) -> f64 {
        self.bar_slippage_bps
    }

    /// Which instrument each tape belongs to.
    pub fn tape_instruments(&self) -> &[usize] {
        &self.tape_instrument
    }

    /// Total number of records over all tapes.
    pub fn total_records(&self) -> u64 {
        self.tapes.iter().map(|t| t.len() as u64).sum()
    }

    /// One book per instrument as it stands when the replay starts: empty
    /// for whole tapes, rebuilt from the records before the slice for a
    /// time slice ([`ReplayOptions::from`]). The replay's own books start
    /// so; a simulator starts the strategy's view of the books from the
    /// same state, so that both agree on the market from the first event.
    pub fn books_at_start(&self) -> Result<Vec<Book>> {
        let mut books: Vec<Book> = self.instruments.iter().map(Instrument::new_book).collect();
        self.warm_books(&mut books)?;
        Ok(books)
    }

    /// For tapes narrowed to a time slice ([`ReplayOptions::from`]): the
    /// books as they stood at the slice's start, rebuilt from the records
    /// before it, which are not delivered. An L2 tape replays its records
    /// from the last snapshot start before the slice (or its first record);
    /// a quote-driven book takes the last quote before it. Pieces of one
    /// stream (one tape per day) are applied in time order, whatever the
    /// order the tapes were given in.
    fn warm_books(&self, books: &mut [Book]) -> Result<()> {
        // (time of the first record applied, tape, first record applied)
        let mut jobs: Vec<(i64, usize, usize)> = Vec::new();
        for (ti, tape) in self.tapes.iter().enumerate() {
            let inst = self.tape_instrument[ti];
            match tape.kind() {
                RecordKind::Level => {
                    let before = tape.records_before::<Level>()?;
                    let from = before.iter().rposition(Level::is_snapshot_start).unwrap_or(0);
                    if let Some(r) = before.get(from) {
                        jobs.push((r.ts.exchange, ti, from));
                    }
                }
                RecordKind::Quote if !self.instruments[inst].has_l2 => {
                    let before = tape.records_before::<Quote>()?;
                    if let Some(r) = before.last() {
                        jobs.push((r.ts.exchange, ti, before.len() - 1));
                    }
                }
                _ => {}
            }
        }
        jobs.sort_unstable();
        for (_, ti, from) in jobs {
            let (tape, inst) = (&self.tapes[ti], self.tape_instrument[ti]);
            if tape.kind() == RecordKind::Level {
                for (k, r) in tape.records_before::<Level>()?.iter().enumerate().skip(from) {
                    if let Some(what) = r.check() {
                        return Err(tape.file_record_error(k, what).into());
                    }
                    books[inst].apply(r);
                }
            } else if let Some(r) = tape.records_before::<Quote>()?.get(from) {
                if let Some(what) = r.check() {
                    return Err(tape.file_record_error(from, what).into());
                }
                books[inst].apply_quote(r);
            }
        }
        Ok(())
    }

    /// Reads every record byte of every tape once, in file order, doing
    /// nothing with it but a wrapping sum of its 8-byte words (returned, so
    /// the read cannot be optimised away): a plain sequential scan of the
    /// mapped tapes, the memory-bandwidth limit a replay can approach.
    /// `ticktape bench replay` reports replay speed as a fraction of it.
    pub fn scan(&self) -> u64 {
        let mut acc = [0u64; 8];
        for t in &self.tapes {
            let bytes = t.record_bytes();
            let mut lines = bytes.chunks_exact(64);
            for line in &mut lines {
                for (a, w) in acc.iter_mut().zip(line.chunks_exact(8)) {
                    *a = a.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or_default()));
                }
            }
            for w in lines.remainder().chunks_exact(8) {
                acc[0] = acc[0].wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or_default()));
            }
        }
        acc.iter().fold(0, |s, &a| s.wrapping_add(a))
    }

    /// Checks every tape ahead of the run loop, a chunk at a time, oldest
    /// chunk first (the order a replay reaches them), publishing how far each
    /// tape is good in `checked`. Stops at a tape's first bad record (the run
    /// loop finds it there itself), when every tape is done, or at `stop`.
    fn check_ahead(&self, stop: &AtomicBool) {
        // A tape whose records cannot be read is left to the run loop, which
        // reports it.
        let sources: Vec<Option<Source<'_>>> = self.tapes.iter().map(|t| Source::of(t).ok()).collect();
        let mut done: Vec<bool> = sources.iter().map(Option::is_none).collect();
        while !stop.load(Ordering::Relaxed) {
            // The tape whose next unchecked record is the oldest.
            let mut next: Option<(i64, usize, usize)> = None;
            for (i, tape) in self.tapes.iter().enumerate() {
                let at = self.checked[i].load(Ordering::Acquire);
                if done[i] || at >= tape.len() {
                    done[i] = true;
                    continue;
                }
                let ts = tape.ts_at(at).unwrap_or(i64::MAX);
                if next.is_none_or(|(t, _, _)| ts < t) {
                    next = Some((ts, i, at));
                }
            }
            let Some((_, i, at)) = next else { return };
            let tape = &self.tapes[i];
            let to = (at + 16 * check::CHUNK).min(tape.len());
            let Some(source) = &sources[i] else { continue };
            let bad = source.check_range(at, to, tape.header().last_ts);
            self.checked[i].fetch_max(bad.unwrap_or(to), Ordering::Release);
            done[i] = bad.is_some();
        }
    }

    /// Replays every tape in merge order into `handler`.
    ///
    /// Records are checked before they are delivered. Unless every tape was
    /// already checked by an earlier run of this replay, a scoped thread
    /// checks ahead of the loop on another core, so the loop itself only
    /// compares each record's time with its run's bound; the
    /// thread ends with the run. With [`ReplayOptions::plan_ahead`], three
    /// tapes or more and at least 64 k records, that thread plans the merge
    /// order (and checks) instead, and the loop follows the planned runs
    /// (see `Replay::run_planned`).
    pub fn run<'a, H: Handler<'a> + ?Sized>(&'a self, handler: &mut H) -> Result<ReplayOutcome> {
        let unchecked = self.tapes.iter().zip(&self.checked).any(|(t, c)| c.load(Ordering::Acquire) < t.len());
        if self.plan_ahead && self.tapes.len() >= 3 && self.total_records() >= PLAN_MIN {
            return self.run_planned(handler, unchecked);
        }
        if !unchecked || self.total_records() < CHECK_AHEAD_MIN {
            return self.run_loop(handler);
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let ahead =
                std::thread::Builder::new().name("ticktape-check".into()).spawn_scoped(s, || self.check_ahead(&stop));
            let out = self.run_loop(handler);
            stop.store(true, Ordering::Relaxed);
            if let Ok(h) = ahead {
                let _ = h.join();
            }
            out
        })
    }

    /// Hands the last two streams to [`run_pair`] when their kinds have a
    /// specialised pair loop (trades with L2 or quotes), then records in
    /// `merge` how far each got. Returns whether the handler stopped.
    fn pair<'a, H: Handler<'a> + ?Sized>(
        &'a self,
        merge: &mut Merge<'a>,
        lanes: &mut [Lane<'a, '_>],
        books: &mut [Book],
        ctx: &Ctx,
        handler: &mut H,
        runs: &mut u64,
    ) -> Result<bool> {
        let (Some(first), Some(second)) = (merge.head(0), merge.head(1)) else { return Ok(false) };
        // `lo`: the stream of lower rank (it wins ties).
        let hi_first = merge.rank(first.0) > merge.rank(second.0);
        let (lo, hi) = if hi_first { (second, first) } else { (first, second) };
        let (lo_lane, hi_lane) = (&lanes[lo.0], &lanes[hi.0]);
        let done = match (&lo_lane.source, &hi_lane.source) {
            (&Source::Trade(a), &Source::Level(b)) => {
                let mut x = PairSide::new(a, lo_lane, lo.0, lo.1, lo.2);
                let mut y = PairSide::new(b, hi_lane, hi.0, hi.1, hi.2);
                let out = run_pair(&mut x, &mut y, hi_first, books, ctx, handler, runs);
                (out, [(x.stream, x.pos, x.ts, x.checked), (y.stream, y.pos, y.ts, y.checked)])
            }
            (&Source::Trade(a), &Source::Quote(b)) => {
                let mut x = PairSide::new(a, lo_lane, lo.0, lo.1, lo.2);
                let mut y = PairSide::new(b, hi_lane, hi.0, hi.1, hi.2);
                let out = run_pair(&mut x, &mut y, hi_first, books, ctx, handler, runs);
                (out, [(x.stream, x.pos, x.ts, x.checked), (y.stream, y.pos, y.ts, y.checked)])
            }
            _ => return Ok(false),
        };
        let (out, sides) = done;
        for (stream, pos, ts, checked) in sides {
            lanes[stream].checked = checked;
            merge.advance_to(stream, pos, ts);
        }
        match out {
            Ok(stopped) => Ok(stopped),
            Err((stream, bad)) => Err(self.tapes[stream].record_error(bad).into()),
        }
    }

    /// The replay with its merge order computed ahead on a second thread
    /// ([`Replay::plan`], which also checks the tapes when `unchecked`):
    /// this thread follows the planned runs ([`follow`]), so it compares no
    /// heads and no times, only delivers. Same events, order, runs, books
    /// and errors as [`Replay::run_loop`].
    fn run_planned<'a, H: Handler<'a> + ?Sized>(&'a self, handler: &mut H, unchecked: bool) -> Result<ReplayOutcome> {
        let (mut books, ctx, mut lanes) = self.prepare()?;
        let (full_tx, full_rx) = crossbeam::channel::bounded::<Vec<u64>>(PLAN_CHUNKS);
        let (empty_tx, empty_rx) = crossbeam::channel::bounded::<Vec<u64>>(PLAN_CHUNKS);
        for _ in 0..PLAN_CHUNKS {
            let _ = empty_tx.send(Vec::with_capacity(PLAN_CHUNK));
        }
        std::thread::scope(|s| {
            let planner = std::thread::Builder::new()
                .name("ticktape-plan".into())
                .spawn_scoped(s, move || self.plan(&full_tx, &empty_rx, unchecked));
            let Ok(planner) = planner else {
                // No second thread: the single-threaded loop (its own checks).
                drop((full_rx, empty_tx));
                return self.run_loop(handler);
            };
            let mut pos = vec![0usize; self.tapes.len()];
            let out = follow(&full_rx, &empty_tx, &mut pos, &mut lanes, &mut books, &ctx, handler);
            // Dropping the channels ends the planner wherever it waits.
            drop((full_rx, empty_tx));
            let _ = planner.join();
            let runs = match out {
                Ok(runs) => runs,
                Err((stream, bad)) => return Err(self.tapes[stream].record_error(bad).into()),
            };
            handler.end(&books);
            let mut by_kind = [0u64; 8];
            for (t, &p) in self.tapes.iter().zip(&pos) {
                by_kind[t.kind().code() as usize] += p as u64;
            }
            Ok(ReplayOutcome { events: by_kind.iter().sum(), by_kind, runs, books })
        })
    }

    /// The merge order of a replay, as planned runs for [`follow`]: the
    /// tape crate's [`Merge`] over the records' exchange times (8 bytes
    /// each, read in place), each run sent as one token (see [`PLAN_BAD_END`]),
    /// [`PLAN_CHUNK`] tokens at a time through a pool of [`PLAN_CHUNKS`]
    /// buffers, so nothing is allocated per run. With `check`, it checks
    /// each tape a stretch ahead of the runs it plans (as
    /// [`Replay::check_ahead`] would), publishing in `checked`. Ends when
    /// the merge does, at a run that ends at a record beyond its tape's
    /// `last_ts` (the follower fails there), or when the follower hangs up.
    fn plan(&self, full: &Sender<Vec<u64>>, empty: &Receiver<Vec<u64>>, check: bool) {
        let Ok(buf) = empty.recv() else { return };
        let sources: Vec<Option<Source<'_>>> =
            self.tapes.iter().map(|t| if check { Source::of(t).ok() } else { None }).collect();
        let mut planner = Planner {
            full,
            empty,
            buf,
            stamps: self.tapes.iter().map(Stamps::of).collect(),
            done: sources.iter().map(Option::is_none).collect(),
            checked: self.checked.iter().map(|c| c.load(Ordering::Acquire)).collect(),
            sources,
            shared: &self.checked,
        };
        planner.buf.clear();
        let mut merge = Merge::new(self.tapes.iter().collect());
        if let Some(keys) = PackedKeys::new(&merge, self.tapes()) {
            if planner.kway(keys) {
                let _ = full.send(planner.buf);
            }
            return;
        }
        // Whether two streams are left and were planned by the pair loop.
        let mut paired = false;
        let finished = loop {
            if !paired && merge.active() == 2 {
                paired = true;
                let (Some(a), Some(b)) = (merge.head(0), merge.head(1)) else { break false };
                // `lo`: the stream of lower rank (it wins ties).
                let hi_first = merge.rank(a.0) > merge.rank(b.0);
                let (lo, hi) = if hi_first { (b, a) } else { (a, b) };
                let mut lo = (lo.0, lo.1, Some(lo.2));
                let mut hi = (hi.0, hi.1, Some(hi.2));
                let out = planner.pair(&mut lo, &mut hi, hi_first);
                for (stream, pos, ts) in [lo, hi] {
                    merge.advance_to(stream, pos, ts);
                }
                match out {
                    Some(true) => continue,
                    _ => break out.is_some(),
                }
            }
            let Some(run) = merge.next_run() else { break true };
            let Some((end, next)) = planner.run(run.stream, run.start, run.bound) else { break false };
            merge.advance_to(run.stream, end, next);
        };
        if finished && !planner.buf.is_empty() {
            let _ = full.send(planner.buf);
        }
    }

    /// The books (warmed for a time slice), the delivery context and one
    /// lane per tape: everything a run loop needs before its first run.
    fn prepare(&self) -> Result<(Vec<Book>, Ctx, Vec<Lane<'_, '_>>)> {
        let books = self.books_at_start()?;
        let sources = self.tapes.iter().map(Source::of).collect::<Result<Vec<_>>>()?;
        let ctx = Ctx {
            quote_driven: self.instruments.iter().map(|i| !i.has_l2).collect(),
            bar_driven: self.instruments.iter().map(|i| i.bar_driven).collect(),
            bar_ticks: self.instruments.iter().map(|i| i.price_tick.max(1)).collect(),
            slip: self.bar_slippage_bps,
        };
        // Everything a run needs about its tape, behind one index.
        let lanes: Vec<Lane<'_, '_>> = sources
            .into_iter()
            .zip(&self.checked)
            .enumerate()
            .map(|(i, (source, shared))| Lane {
                source,
                inst: self.tape_instrument[i],
                last: self.tapes[i].header().last_ts,
                checked: Checked { to: 0, bad: usize::MAX, shared },
            })
            .collect();
        Ok((books, ctx, lanes))
    }

    fn run_loop<'a, H: Handler<'a> + ?Sized>(&'a self, handler: &mut H) -> Result<ReplayOutcome> {
        let (mut books, ctx, mut lanes) = self.prepare()?;
        let mut merge = Merge::new(self.tapes.iter().collect());
        let mut by_kind = [0u64; 8];
        let mut runs = 0u64;
        // Whether two streams are left and were offered to `run_pair` (the
        // count of streams only falls).
        let mut paired = false;
        loop {
            if !paired && merge.active() == 2 {
                paired = true;
                if self.pair(&mut merge, &mut lanes, &mut books, &ctx, handler, &mut runs)? {
                    break;
                }
                continue;
            }
            let Some(run) = merge.next_run() else { break };
            runs += 1;
            handler.begin_run(run.stream);
            let lane = &mut lanes[run.stream];
            let (end, next_ts) = match run_lane(lane, run.start, run.bound, &mut books, &ctx, handler) {
                Ok(stop) => stop,
                Err(bad) => return Err(self.tapes[run.stream].record_error(bad).into()),
            };
            merge.advance_to(run.stream, end, next_ts);
            if handler.stop() {
                break;
            }
        }
        handler.end(&books);
        // Count per kind from how far each tape was consumed (all of it,
        // unless the handler stopped early).
        for (i, t) in self.tapes.iter().enumerate() {
            by_kind[t.kind().code() as usize] += merge.consumed(i) as u64;
        }
        Ok(ReplayOutcome { events: by_kind.iter().sum(), by_kind, runs, books })
    }
}
