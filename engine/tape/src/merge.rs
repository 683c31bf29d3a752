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

use crate::{RecordKind, Tape};

/// Where the merge stands on one stream.
#[derive(Clone, Copy, Debug)]
struct Head {
    /// Exchange time of the next record, or `i64::MAX` when exhausted.
    next_ts: i64,
    /// Position of the next record.
    pos: usize,
    /// Rank (tie-break); lower wins.
    rank: u32,
    exhausted: bool,
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
    heads: Vec<Head>,
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
        let mut heads = vec![Head { next_ts: i64::MAX, pos: 0, rank: 0, exhausted: true }; tapes.len()];
        for (rank, &i) in order.iter().enumerate() {
            heads[i].rank = rank as u32;
        }
        let mut merge = Merge { tapes, heads };
        for i in 0..merge.heads.len() {
            merge.advance(i, 0);
        }
        merge
    }

    /// The tapes, in the caller's order.
    pub fn tapes(&self) -> &[&'a Tape] {
        &self.tapes
    }

    /// The rank of stream `i` (0 = wins ties).
    pub fn rank(&self, i: usize) -> u32 {
        self.heads[i].rank
    }

    /// The next run, or `None` when every stream is exhausted.
    #[inline]
    pub fn next_run(&self) -> Option<Run> {
        let mut best: Option<usize> = None;
        let mut second: Option<usize> = None;
        let key = |h: &Head| (h.next_ts, h.rank);
        for (i, h) in self.heads.iter().enumerate() {
            if h.exhausted {
                continue;
            }
            match best {
                None => best = Some(i),
                Some(b) if key(h) < key(&self.heads[b]) => {
                    second = best;
                    best = Some(i);
                }
                Some(_) => {
                    if second.is_none_or(|s| key(h) < key(&self.heads[s])) {
                        second = Some(i);
                    }
                }
            }
        }
        let b = best?;
        let head = self.heads[b];
        let bound = match second {
            None => i64::MAX,
            Some(s) => {
                let other = self.heads[s];
                if head.rank < other.rank { other.next_ts } else { other.next_ts.saturating_sub(1) }
            }
        };
        Some(Run { stream: b, start: head.pos, bound })
    }

    /// Records that stream `stream` has been consumed up to (not including)
    /// record `pos`.
    #[inline]
    pub fn advance(&mut self, stream: usize, pos: usize) {
        let tape = self.tapes[stream];
        let head = &mut self.heads[stream];
        head.pos = pos;
        match tape.ts_at(pos) {
            Some(ts) if pos < tape.len() => {
                head.next_ts = ts;
                head.exhausted = false;
            }
            _ => {
                head.next_ts = i64::MAX;
                head.exhausted = true;
            }
        }
    }
}
