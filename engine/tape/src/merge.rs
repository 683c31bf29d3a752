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

/// A stream that still has records: its next record's merge key and
/// position.
#[derive(Clone, Copy, Debug)]
struct Head {
    /// `(ts << 32) | rank`: ordering heads by this orders them by time, then
    /// rank, in one 128-bit comparison.
    key: i128,
    pos: usize,
    stream: usize,
}

impl Head {
    #[inline(always)]
    fn key(ts: i64, rank: u32) -> i128 {
        (i128::from(ts) << 32) | i128::from(rank)
    }

    #[inline(always)]
    fn ts(&self) -> i64 {
        (self.key >> 32) as i64
    }

    #[inline(always)]
    fn rank(&self) -> u32 {
        self.key as u32
    }
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
    /// Streams with records left, sorted by (time, rank) of their next
    /// record: the first one runs next, bounded by the second. After a run
    /// the winner's new head is later than the runner-up's, so it moves
    /// back by insertion (with two streams: one comparison); finding the
    /// next run needs no scan over the heads.
    ///
    /// The heads are `buf[lo..]`: a winner that goes behind every other
    /// stream (many streams tied at one time, e.g. the bars of one instant:
    /// each runs one record and goes to the back) leaves the front
    /// (`lo += 1`) and is pushed at the back, in O(1) instead of moving
    /// every other head forward. The dead prefix is dropped once it is as
    /// long as the live part (one block move per that many pushes).
    buf: Vec<Head>,
    lo: usize,
    ranks: Vec<u32>,
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
        let mut heads: Vec<Head> = (0..tapes.len())
            .filter(|&stream| !tapes[stream].is_empty())
            .map(|stream| Head {
                key: Head::key(tapes[stream].ts_at(0).unwrap_or(i64::MAX), ranks[stream]),
                pos: 0,
                stream,
            })
            .collect();
        heads.sort_unstable_by_key(|h| h.key);
        // Room for as many pushes as there are heads before a compaction.
        heads.reserve(heads.len() + 1);
        Merge { tapes, buf: heads, lo: 0, ranks }
    }

    /// The tapes, in the caller's order.
    pub fn tapes(&self) -> &[&'a Tape] {
        &self.tapes
    }

    /// The rank of stream `i` (0 = wins ties).
    pub fn rank(&self, i: usize) -> u32 {
        self.ranks[i]
    }

    /// The streams with records left, in merge order.
    #[inline(always)]
    fn heads(&self) -> &[Head] {
        &self.buf[self.lo..]
    }

    /// How many streams have records left.
    #[inline]
    pub fn active(&self) -> usize {
        self.heads().len()
    }

    /// The `i`-th stream with records left in merge order (0 runs next):
    /// `(stream, next record, its exchange time)`.
    pub fn head(&self, i: usize) -> Option<(usize, usize, i64)> {
        self.heads().get(i).map(|h| (h.stream, h.pos, h.ts()))
    }

    /// The next run, or `None` when every stream is exhausted.
    #[inline]
    pub fn next_run(&self) -> Option<Run> {
        let (head, rest) = self.heads().split_first()?;
        // The runner-up's records come first from its time on (the winner
        // ranks lower: after it; the winner ranks higher: from it).
        // A select, not a branch: which of the two ranks lower is as
        // unpredictable as which stream wins.
        let bound = match rest.first() {
            None => i64::MAX,
            Some(r) => r.ts().saturating_sub(i64::from(head.rank() > r.rank())),
        };
        Some(Run { stream: head.stream, start: head.pos, bound })
    }

    /// Records that stream `stream` has been consumed up to (not including)
    /// record `pos`, whose exchange time the caller already read (`None`
    /// when the stream is exhausted). Saves re-reading it from the tape.
    #[inline]
    pub fn advance_to(&mut self, stream: usize, pos: usize, next_ts: Option<i64>) {
        // Normally the stream that just ran (the first head) moves back.
        match (self.heads().first(), next_ts) {
            (Some(h), Some(ts)) if h.stream == stream => {
                let head = Head { key: Head::key(ts, self.ranks[stream]), pos, stream };
                let heads = &mut self.buf[self.lo..];
                let n = heads.len();
                if n > 2 && heads[n - 1].key < head.key {
                    // Behind every other stream: off the front, onto the back.
                    self.lo += 1;
                    if self.lo >= n {
                        self.buf.drain(..self.lo);
                        self.lo = 0;
                    }
                    self.buf.push(head);
                    return;
                }
                let mut j = 0;
                while j + 1 < heads.len() && heads[j + 1].key < head.key {
                    heads[j] = heads[j + 1];
                    j += 1;
                }
                heads[j] = head;
            }
            _ => self.advance_any(stream, pos, next_ts),
        }
    }

    /// [`Merge::advance_to`] for any stream and either direction.
    #[cold]
    fn advance_any(&mut self, stream: usize, pos: usize, next_ts: Option<i64>) {
        let Some(i) = self.heads().iter().position(|h| h.stream == stream) else { return };
        let Some(ts) = next_ts else {
            // Once per tape.
            self.buf.remove(self.lo + i);
            return;
        };
        let head = Head { key: Head::key(ts, self.ranks[stream]), pos, stream };
        let heads = &mut self.buf[self.lo..];
        let mut j = i;
        while j + 1 < heads.len() && heads[j + 1].key < head.key {
            heads[j] = heads[j + 1];
            j += 1;
        }
        // Earlier (only through [`Merge::advance`] to an earlier position).
        while j > 0 && heads[j - 1].key > head.key {
            heads[j] = heads[j - 1];
            j -= 1;
        }
        heads[j] = head;
    }

    /// How many records of stream `stream` have been consumed.
    pub fn consumed(&self, stream: usize) -> usize {
        match self.heads().iter().find(|h| h.stream == stream) {
            Some(h) => h.pos,
            None => self.tapes[stream].len(),
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
