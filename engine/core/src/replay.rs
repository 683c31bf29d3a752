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
    /// Slot width of the instrument's order books, in price units: the tick
    /// when a tape states it, otherwise the greatest common divisor of the
    /// price differences in the first book records (always a valid grid:
    /// a price off it just takes the book's slower overflow path). Only the
    /// books use it; order validation uses `price_tick`.
    pub book_tick: i64,
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

/// A set of open tapes ready to replay. Opening validates everything, so a
/// replay itself cannot fail on bad input.
#[derive(Debug)]
pub struct Replay {
    tapes: Vec<Tape>,
    instruments: Vec<Instrument>,
    tape_instrument: Vec<usize>,
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
}

/// Runs `f` over `recs[start..]` while records are within `bound`; returns
/// where it stopped and the exchange time of the record there, if any.
#[inline(always)]
fn drive<'a, R: Record>(recs: &'a [R], start: usize, bound: i64, mut f: impl FnMut(&'a R)) -> (usize, Option<i64>) {
    let rest = recs.get(start..).unwrap_or_default();
    for (k, r) in rest.iter().enumerate() {
        let ts = r.stamp().exchange;
        if ts > bound {
            return (start + k, Some(ts));
        }
        f(r);
    }
    (recs.len(), None)
}

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

impl Replay {
    /// Opens and validates the tapes at `paths`.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let tapes = paths.iter().map(Tape::open).collect::<Result<Vec<_>, _>>()?;
        Self::from_tapes(tapes)
    }

    /// Builds a replay over already open tapes. Every tape must be sorted,
    /// and tapes of one instrument must agree on their exponents.
    pub fn from_tapes(tapes: Vec<Tape>) -> Result<Self> {
        if tapes.is_empty() {
            return Err(Error::NoTapes);
        }
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
        Ok(Replay { tapes, instruments: sorted, tape_instrument })
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

    /// Which instrument each tape belongs to.
    pub fn tape_instruments(&self) -> &[usize] {
        &self.tape_instrument
    }

    /// Total number of records over all tapes.
    pub fn total_records(&self) -> u64 {
        self.tapes.iter().map(|t| t.len() as u64).sum()
    }

    /// Replays every tape in merge order into `handler`.
    pub fn run<'a, H: Handler<'a> + ?Sized>(&'a self, handler: &mut H) -> Result<ReplayOutcome> {
        let mut books: Vec<Book> = self.instruments.iter().map(|i| Book::with_tick(i.book_tick)).collect();
        let sources = self.tapes.iter().map(Source::of).collect::<Result<Vec<_>>>()?;
        let quote_driven: Vec<bool> = self.instruments.iter().map(|i| !i.has_l2).collect();
        let mut merge = Merge::new(self.tapes.iter().collect());
        let mut by_kind = [0u64; 8];
        let mut runs = 0u64;
        while let Some(run) = merge.next_run() {
            runs += 1;
            let inst = self.tape_instrument[run.stream];
            let (start, bound) = (run.start, run.bound);
            handler.begin_run(run.stream);
            let (end, next_ts) = match sources[run.stream] {
                Source::Level(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    books[inst].apply(r);
                    handler.on_event(inst, Event::Level(r), &books);
                }),
                Source::Trade(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    handler.on_event(inst, Event::Trade(r), &books);
                }),
                Source::Quote(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    if quote_driven[inst] {
                        books[inst].apply_quote(r);
                    }
                    handler.on_event(inst, Event::Quote(r), &books);
                }),
                Source::Funding(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    handler.on_event(inst, Event::Funding(r), &books);
                }),
                Source::Bar(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    handler.on_event(inst, Event::Bar(r), &books);
                }),
                Source::Series(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    handler.on_event(inst, Event::Series(r), &books);
                }),
                Source::Fill(recs) => drive(recs, start, bound, |r| {
                    handler.before(r.ts.exchange, &books);
                    handler.on_event(inst, Event::Fill(r), &books);
                }),
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
