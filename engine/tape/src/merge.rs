//! Ordering several tapes into one time-ordered stream.
//!
//! The merge does not touch records beyond their first 8 bytes (`ts.exchange`);
//! it hands out *runs*: "take records of stream `s` from `start` while their
//! exchange time is `<= bound`". The caller processes a run with a tight,
//! typed loop and reports where it stopped. Long runs (a burst of book
//! updates) therefore cost one comparison per record.
//!
//! # Order and tie-break
//!
//! Records are delivered in non-decreasing `ts.exchange`. Records with equal
//! time are delivered by stream **rank**, lowest first, and within a stream in
//! file order. A stream's rank is its position after sorting all streams by
//! (record kind code, symbol, venue, position in the caller's list). So at
//! equal time trades (kind 1) come before the book updates (kind 2) they
//! caused, and the result does not depend on the order tapes are listed in
//! unless two tapes share kind, symbol and venue.

use std::cell::Cell;

use crate::{RecordKind, Tape};

/// A stream that still has records: its next record's time and position.
#[derive(Clone, Copy, Debug)]
struct Head {
    ts: i64,
    pos: usize,
    stream: usize,
}

/// One run to process: records `start..` of stream `stream` while their
/// `ts.exchange <= bound`. At least the record at `start` qualifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Index of the stream in the list given to [`Merge::new`].
    pub stream: usize,
    /// First record of the run.
    pub start: usize,
    /// Inclusive upper bound on `ts.exchange` for records of this run.
    pub bound: i64,
}

/// A k-way merge over tapes. See the [module docs](self) for the order.
#[derive(Debug)]
pub struct Merge<'a> {
    tapes: Vec<&'a Tape>,
    /// Streams with records left, in rank order: scanning with a strict `<`
    /// on time alone then breaks ties by rank.
    active: Vec<Head>,
    /// Per stream: its index in `active` (stale once exhausted).
    slot: Vec<usize>,
    ranks: Vec<u32>,
    /// The last run handed out, while it is the first of several streams
    /// tied at its time: `(index in active, time)`; `usize::MAX` otherwise.
    last: Cell<(usize, i64)>,
    /// The next run's winner, known without a scan: the first stream after
    /// the last run's in rank order at that run's time, when yet another
    /// stream shares that time (its bound is then that time).
    hint: Option<usize>,
}

/// The sort key that gives each stream its rank.
pub fn rank_key(kind: RecordKind, symbol: &str, venue: &str) -> (u16, String, String) {
    (kind.code(), symbol.to_owned(), venue.to_owned())
}

impl<'a> Merge<'a> {
    /// A merge over `tapes`; [`Run::stream`] indexes this list.
    pub fn new(tapes: Vec<&'a Tape>) -> Self {
        let mut order: Vec<usize> = (0..tapes.len()).collect();
        order.sort_by_cached_key(|&i| {
            let h = tapes[i].header();
            (rank_key(tapes[i].kind(), h.symbol(), h.venue()), i)
        });
        let mut ranks = vec![0; tapes.len()];
        for (rank, &i) in order.iter().enumerate() {
            ranks[i] = rank as u32;
        }
        let active: Vec<Head> = order
            .iter()
            .filter_map(|&stream| {
                let t = tapes[stream];
                (!t.is_empty()).then(|| Head { ts: t.ts_at(0).unwrap_or(i64::MAX), pos: 0, stream })
            })
            .collect();
        let mut slot = vec![usize::MAX; tapes.len()];
        for (i, h) in active.iter().enumerate() {
            slot[h.stream] = i;
        }
        Merge { tapes, active, slot, ranks, last: Cell::new((usize::MAX, 0)), hint: None }
    }

    /// The tapes, in the caller's order.
    pub fn tapes(&self) -> &[&'a Tape] {
        &self.tapes
    }

    /// The rank of stream `i` (0 = wins ties).
    pub fn rank(&self, i: usize) -> u32 {
        self.ranks[i]
    }

    /// The next run, or `None` when every stream is exhausted.
    #[inline]
    pub fn next_run(&self) -> Option<Run> {
        if let Some(k) = self.hint {
            // Streams tied at one time (bars of many symbols at one close):
            // each next one in rank order, without a scan of them all.
            let head = self.active[k];
            self.last.set((k, head.ts));
            return Some(Run { stream: head.stream, start: head.pos, bound: head.ts });
        }
        let (first, rest) = self.active.split_first()?;
        // Best and runner-up by (time, rank); `active` is in rank order, so a
        // strict `<` keeps the lower rank on equal times.
        // Branches, not selects: the stream that wins is unpredictable
        // either way (the caller dispatches on it next), and selects
        // measured slower (CPU time, one and three symbols).
        let (mut b, mut bts) = (0, first.ts);
        let (mut r, mut rts) = (usize::MAX, i64::MAX);
        for (j, h) in rest.iter().enumerate() {
            let j = j + 1;
            if h.ts < bts {
                (r, rts) = (b, bts);
                (b, bts) = (j, h.ts);
            } else if r == usize::MAX || h.ts < rts {
                (r, rts) = (j, h.ts);
            }
        }
        let bound = if r == usize::MAX {
            i64::MAX
        } else if b < r {
            rts
        } else {
            rts.saturating_sub(1)
        };
        let head = self.active[b];
        self.last.set(if rts == bts { (b, bts) } else { (usize::MAX, 0) });
        Some(Run { stream: head.stream, start: head.pos, bound })
    }

    /// After the run of `active[i]` at time `t`, the first of several
    /// still tied at `t`, if the next run is one of them: every stream before
    /// `i` in rank order is later than `t` (else it would have won), so the
    /// next winner is the first one after `i` at `t`, and its bound is `t`
    /// if one more stream after it is at `t` too.
    #[inline]
    fn tied_after(&self, i: usize, t: i64) -> Option<usize> {
        let rest = self.active.get(i + 1..)?;
        let k = rest.iter().position(|h| h.ts == t)?;
        rest[k + 1..].iter().any(|h| h.ts == t).then_some(i + 1 + k)
    }

    /// Records that stream `stream` has been consumed up to (not including)
    /// record `pos`, whose exchange time the caller already read (`None`
    /// when the stream is exhausted). Saves re-reading it from the tape.
    #[inline]
    pub fn advance_to(&mut self, stream: usize, pos: usize, next_ts: Option<i64>) {
        let i = self.slot[stream];
        let (li, lt) = self.last.replace((usize::MAX, 0));
        self.hint = None;
        let Some(head) = self.active.get_mut(i) else { return };
        match next_ts {
            Some(ts) => {
                head.ts = ts;
                head.pos = pos;
                if li == i && ts > lt {
                    self.hint = self.tied_after(i, lt);
                }
            }
            None => {
                // Rare (once per tape): keep rank order, re-index the rest.
                self.active.remove(i);
                self.slot[stream] = usize::MAX;
                for (j, h) in self.active.iter().enumerate().skip(i) {
                    self.slot[h.stream] = j;
                }
            }
        }
    }

    /// How many records of stream `stream` have been consumed.
    pub fn consumed(&self, stream: usize) -> usize {
        match self.active.get(self.slot[stream]) {
            Some(h) if h.stream == stream => h.pos,
            _ => self.tapes[stream].len(),
        }
    }

    /// Records that stream `stream` has been consumed up to (not including)
    /// record `pos`.
    #[inline]
    pub fn advance(&mut self, stream: usize, pos: usize) {
        let tape = self.tapes[stream];
        let next = if pos < tape.len() { tape.ts_at(pos) } else { None };
        self.advance_to(stream, pos, next);
    }
}
