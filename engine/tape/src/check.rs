//! The record checks, shared by the replay loop and [`Tape::verify`].
//!
//! A tape is checked in three places, each as cheap as it can be:
//!
//! * **at open** ([`Tape::open`]): every header field (magic, version, kind,
//!   sizes, flags, exponents within ±[`MAX_EXPONENT`], reserved bytes) and the
//!   header against its first and last records (`first_ts`, `last_ts`);
//! * **before a replay** ([`Tape::check_ends`]): the first and last records'
//!   values and times within [`TS_MIN`]`..=`[`TS_MAX`];
//! * **per record, as it is replayed**: time order (never earlier than the
//!   record before it, never later than the header's `last_ts`), a local time
//!   within bounds and every code and value the record kind allows
//!   ([`Record::check`]). The replay delivers only records that
//!   [`check_range`] cleared: a branch-free, vectorised pass over a chunk of
//!   [`CHUNK`] mapped records (per-word [`Rule`]s, AVX2 where the CPU has
//!   it), run ahead of the replay loop on a second thread, or by the loop
//!   itself when it catches up. A chunk the fast pass does not clear is
//!   checked record by record ([`scan`]), which names the exact first bad
//!   record; the replay stops there before delivering it, exactly where a
//!   per-record check would have.
//!
//! [`Tape::verify_replayable`] runs [`check_range`] over the whole tape, and
//! [`check_range`] refuses exactly the records [`scan`] refuses (property
//! tests hold it to that), so `ticktape inspect --verify` and a replay refuse
//! exactly the same tapes.
//! [`Tape::verify`] is the same without the time bounds.

use crate::{Error, Record, Tape};

/// Earliest exchange or local time a replayed record may carry:
/// 2009-01-01T00:00:00Z, in ns since the Unix epoch. Earlier times are almost
/// always a unit error (seconds or milliseconds read as nanoseconds) or a
/// zeroed field.
pub const TS_MIN: i64 = 1_230_768_000_000_000_000;

/// Latest exchange or local time a replayed record may carry:
/// 2100-01-01T00:00:00Z, in ns since the Unix epoch.
pub const TS_MAX: i64 = 4_102_444_800_000_000_000;

/// Largest magnitude of a header exponent: 10^19 no longer fits an `i64`.
pub const MAX_EXPONENT: i8 = 18;

/// Whether `ts` is within [`TS_MIN`]`..=`[`TS_MAX`].
#[inline(always)]
pub fn ts_in_range(ts: i64) -> bool {
    (TS_MIN..=TS_MAX).contains(&ts)
}

/// `ts` (ns since the Unix epoch) as an ISO 8601 UTC time, for messages.
pub fn iso8601(ts: i64) -> String {
    let secs = ts.div_euclid(1_000_000_000);
    let nanos = ts.rem_euclid(1_000_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z", sod / 3_600, sod % 3_600 / 60, sod % 60)
}

/// Where a [`scan`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// The record at `end` is later than the bound; `next_ts` is its exchange
    /// time. Records before it were checked and handed out.
    Bound {
        /// First record not handed out.
        end: usize,
        /// Its exchange time.
        next_ts: i64,
    },
    /// Every record to the end was checked and handed out.
    End,
    /// The record at this index failed a check and was not handed out; the
    /// records before it were. [`Tape::record_error`] says why.
    Bad(usize),
}

/// Hands `f` the records `recs[start..]` while their exchange time is
/// `<= bound`, checking each one first: not earlier than the record before
/// it (or [`TS_MIN`] for the first), not later than `last` (the header's
/// `last_ts`), a local time within [`TS_MIN`]`..=`[`TS_MAX`], and
/// [`Record::check`] clean.
///
/// This is the replay's inner loop; it is generic over the record type so
/// each kind gets its own tight loop.
#[inline(always)]
pub fn scan<'a, R: Record>(recs: &'a [R], start: usize, bound: i64, last: i64, f: impl FnMut(&'a R)) -> Scan {
    scan_with::<true, R>(recs, start, bound, last, f)
}

/// [`scan`], with the time bounds ([`TS_MIN`]`..=`[`TS_MAX`]) checked only
/// when `BOUNDS` (a replay always checks them; [`Tape::verify`] does not).
#[inline(always)]
pub fn scan_with<'a, const BOUNDS: bool, R: Record>(
    recs: &'a [R],
    start: usize,
    bound: i64,
    last: i64,
    mut f: impl FnMut(&'a R),
) -> Scan {
    let mut prev = match start.checked_sub(1).and_then(|i| recs.get(i)) {
        Some(r) => r.stamp().exchange,
        None if BOUNDS => TS_MIN,
        None => i64::MIN,
    };
    let rest = recs.get(start..).unwrap_or_default();
    // `ts <= last` rides on the run's bound compare: a record later than
    // `last` ends the loop there and is reported on that (cold) exit.
    let stop = bound.min(last);
    for (k, r) in rest.iter().enumerate() {
        let ts = r.stamp().exchange;
        if ts > stop {
            if ts > last {
                return Scan::Bad(start + k);
            }
            return Scan::Bound { end: start + k, next_ts: ts };
        }
        // prev <= ts, and TS_MIN <= local <= TS_MAX as one unsigned compare,
        // combined with `&` into one never-taken branch.
        let in_order = ts >= prev;
        let local_ok = !BOUNDS || (r.stamp().local.wrapping_sub(TS_MIN) as u64) <= (TS_MAX - TS_MIN) as u64;
        if !(in_order & local_ok & r.is_valid()) {
            return Scan::Bad(start + k);
        }
        prev = ts;
        f(r);
    }
    Scan::End
}

/// A branch-free test of one little-endian 8-byte word of a record, used by
/// the chunk pass ([`check_range`]): add `sat` to each byte with unsigned
/// saturation (no carry between bytes), then add `add` to the word
/// (wrapping); the word passes when the bits in `clear` are then all zero.
///
/// Evaluated four records at a time in vector registers, so one rule costs
/// about two instructions per word; see [`Record::RULES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Added to each byte, saturating at 255.
    pub sat: u64,
    /// Then added to the word, wrapping.
    pub add: u64,
    /// Bits that must then be zero.
    pub clear: u64,
}

impl Rule {
    /// Any value.
    pub const ANY: Rule = Rule { sat: 0, add: 0, clear: 0 };
    /// A time in `TS_MIN..TS_MIN + 2^61` (2009-01-01 .. 2082-01-27), inside
    /// [`TS_MIN`]`..=`[`TS_MAX`]; later times take the exact path. Keeps
    /// differences of exchange times exact in 64 bits.
    pub const TIME: Rule = Rule { sat: 0, add: TS_MIN.wrapping_neg() as u64, clear: !((1 << 61) - 1) };
    /// A signed value `>= 0`.
    pub const NON_NEGATIVE: Rule = Rule { sat: 0, add: 0, clear: 1 << 63 };
    /// A signed value in `1..=2^62` (larger positive values take the exact path).
    pub const POSITIVE: Rule = Rule { sat: 0, add: u64::MAX, clear: 0b11 << 62 };
    /// A price in `-2^62..2^62`, so never [`UNDEF`](crate::UNDEF) (larger
    /// magnitudes take the exact path).
    pub const PRICE: Rule = Rule { sat: 0, add: 1 << 62, clear: 1 << 63 };

    /// Whether `word` passes (the scalar form of what the chunk pass
    /// computes).
    pub fn passes(self, word: u64) -> bool {
        let mut b = word.to_le_bytes();
        for (x, s) in b.iter_mut().zip(self.sat.to_le_bytes()) {
            *x = x.saturating_add(s);
        }
        u64::from_le_bytes(b).wrapping_add(self.add) & self.clear == 0
    }
}

/// Records per chunk of a replay's checks and of [`Tape::verify_replayable`]:
/// 24..48 KiB.
pub const CHUNK: usize = 1024;

/// Checks `recs[from..to]` exactly as [`scan`] would check them on the way
/// (time order from the record before `from`, or [`TS_MIN`]; not later than
/// `last`, the header's `last_ts`; local time within bounds;
/// [`Record::check`] clean) and returns the index of the first record that
/// fails, or `None`.
///
/// Runs the vectorised rule pass ([`Record::RULES`], with AVX2) over whole
/// groups of four records, and [`scan`] over the rest and over any range the
/// fast pass does not clear, so the answer is always [`scan`]'s.
pub fn check_range<R: Record>(recs: &[R], from: usize, to: usize, last: i64) -> Option<usize> {
    let to = to.min(recs.len());
    if from >= to {
        return None;
    }
    let prev = if from == 0 { TS_MIN } else { recs[from - 1].stamp().exchange };
    let body = (to - from) / 4 * 4;
    let exact_from = if body > 0 && fast::passes(&recs[from..from + body], prev, last) { from + body } else { from };
    if exact_from == to {
        return None;
    }
    match scan(&recs[..to], exact_from, i64::MAX, last, |_| ()) {
        Scan::Bad(i) => Some(i),
        Scan::Bound { .. } | Scan::End => None,
    }
}

/// The vectorised chunk pass.
mod fast {
    use crate::Record;

    /// Whether every record of `recs` (a multiple of four) passes its kind's
    /// rules, is not earlier than the one before (the first: not earlier
    /// than `prev`, a time within the replay's bounds) and the last is not
    /// later than `last`. `false` only means "check exactly".
    #[inline]
    pub(super) fn passes<R: Record>(recs: &[R], prev: i64, last: i64) -> bool {
        let words = size_of::<R>() / 8;
        if R::RULES.len() != words || !size_of::<R>().is_multiple_of(8) || !recs.len().is_multiple_of(4) {
            return false;
        }
        if recs.last().is_some_and(|r| r.stamp().exchange > last) {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above); `recs` holds
            // whole records of `words` 8-byte words each, a multiple of four.
            return unsafe { avx2::passes(recs, prev) };
        }
        let _ = prev;
        false
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use std::arch::x86_64::*;

        use crate::Record;
        use crate::check::Rule;

        /// Most words per record the vector pass handles (larger kinds take
        /// the exact path).
        const MAX_WORDS: usize = 8;

        /// The rules of the four lanes of vector `k` of a group of four
        /// records (`4 * words` words in `words` vectors).
        #[inline(always)]
        fn lanes(rules: &[Rule], words: usize, k: usize, f: impl Fn(&Rule) -> u64) -> __m256i {
            let w = |l: usize| f(&rules[(4 * k + l) % words]) as i64;
            // SAFETY: `_mm256_set_epi64x` only builds a value (AVX, implied by
            // the caller's AVX2).
            unsafe { _mm256_set_epi64x(w(3), w(2), w(1), w(0)) }
        }

        /// [`super::passes`] with AVX2.
        ///
        /// # Safety
        /// The CPU must support AVX2; `recs.len()` must be a multiple of 4
        /// and `size_of::<R>()` a multiple of 8.
        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn passes<R: Record>(recs: &[R], prev: i64) -> bool {
            let words = size_of::<R>() / 8;
            if words > MAX_WORDS || words == 0 {
                return false;
            }
            let rules = R::RULES;
            let zero = _mm256_setzero_si256();
            let mut sat = [zero; MAX_WORDS];
            let mut add = [zero; MAX_WORDS];
            let mut clear = [zero; MAX_WORDS];
            let mut use_sat = [false; MAX_WORDS];
            for k in 0..words {
                sat[k] = lanes(rules, words, k, |r| r.sat);
                add[k] = lanes(rules, words, k, |r| r.add);
                clear[k] = lanes(rules, words, k, |r| r.clear);
                use_sat[k] = (0..4).any(|l| rules[(4 * k + l) % words].sat != 0);
            }
            // Exchange times of the four records of a group, gathered.
            let stride = words as i64;
            let idx = _mm256_set_epi64x(3 * stride, 2 * stride, stride, 0);
            let mut acc = [zero; MAX_WORDS];
            let mut order = zero;
            let mut before = _mm256_set1_epi64x(prev); // lane 0: the time before the group
            let base: *const u64 = recs.as_ptr().cast();
            for g in 0..recs.len() / 4 {
                // SAFETY: group `g` spans words `4 * words * g ..` of `recs`,
                // in bounds (whole groups only); unaligned loads.
                let p = unsafe { base.add(4 * words * g) };
                for k in 0..words {
                    // SAFETY: vector `k` of the group is in bounds (see above).
                    let mut v = unsafe { _mm256_loadu_si256(p.add(4 * k).cast()) };
                    if use_sat[k] {
                        v = _mm256_adds_epu8(v, sat[k]);
                    }
                    acc[k] = _mm256_or_si256(acc[k], _mm256_add_epi64(v, add[k]));
                }
                // SAFETY: the four exchange times are words 0, w, 2w, 3w of
                // the group, in bounds.
                let ts = unsafe { _mm256_i64gather_epi64::<8>(p.cast(), idx) };
                // [t3, t0, t1, t2], then lane 0 from the previous group.
                let rot = _mm256_permute4x64_epi64::<0b10_01_00_11>(ts);
                let prev_ts = _mm256_blend_epi32::<0b0000_0011>(rot, before);
                order = _mm256_or_si256(order, _mm256_sub_epi64(ts, prev_ts));
                before = rot;
            }
            // A negative difference is a record earlier than the one before.
            // Differences are exact when every time passed Rule::TIME
            // (tested next) and `prev` is a checked time (or TS_MIN).
            if _mm256_movemask_pd(_mm256_castsi256_pd(order)) != 0 {
                return false;
            }
            let mut bad = zero;
            for k in 0..words {
                bad = _mm256_or_si256(bad, _mm256_and_si256(acc[k], clear[k]));
            }
            _mm256_testz_si256(bad, bad) == 1
        }
    }
}

impl Tape {
    /// Byte offset of record `index` in the file.
    pub fn offset_of(&self, index: usize) -> u64 {
        u64::from(self.header().header_size) + self.file_index(index) as u64 * u64::from(self.header().record_size)
    }

    /// Checks the first and last records: their values ([`Record::check`])
    /// and their times within [`TS_MIN`]`..=`[`TS_MAX`]. Together with the
    /// header checks of [`Tape::open`] (which tie `first_ts` and `last_ts` to
    /// these records), this bounds every time a [`scan`] can hand out.
    /// Reads two records.
    pub fn check_ends(&self) -> crate::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        for index in [0, self.len() - 1] {
            if let Some(e) = self.record_problem(index, None, true) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The error for record `index`, which a [`scan`] reported as
    /// [`Scan::Bad`]: out of time order, out of range or holding a value its
    /// kind does not allow. Names the tape and the record's byte offset.
    #[cold]
    pub fn record_error(&self, index: usize) -> Error {
        let prev = index.checked_sub(1).and_then(|i| self.ts_at(i));
        self.record_problem(index, prev, true).unwrap_or_else(|| Error::BadRecord {
            path: self.path().to_path_buf(),
            index: self.file_index(index) as u64,
            offset: self.offset_of(index),
            what: "record reported as bad but no check fails (internal error; please report it)",
        })
    }

    /// What is wrong with record `index` (whose predecessor has exchange
    /// time `prev`, if any), or `None`.
    fn record_problem(&self, index: usize, prev: Option<i64>, bounds: bool) -> Option<Error> {
        let path = || self.path().to_path_buf();
        let offset = self.offset_of(index);
        let i = self.file_index(index) as u64;
        let (stamp, what) = self.with_record(index, |r| (r.stamp(), r.check()))?;
        if let Some(prev_ts) = prev.filter(|&p| stamp.exchange < p) {
            return Some(Error::Unsorted { path: path(), index: i, offset, ts: stamp.exchange, prev_ts });
        }
        for (which, ts) in [("exchange", stamp.exchange), ("local", stamp.local)] {
            if bounds && !ts_in_range(ts) {
                return Some(Error::TimeRange { path: path(), index: i, offset, which, ts });
            }
        }
        if stamp.exchange > self.header().last_ts {
            return Some(Error::HeaderMismatch {
                path: path(),
                offset,
                what: format!(
                    "record {index} has exchange time {} ns, later than the header's last_ts {} ns",
                    stamp.exchange,
                    self.header().last_ts
                ),
            });
        }
        what.map(|what| Error::BadRecord { path: path(), index: i, offset, what })
    }

    /// Calls `f` on record `index` as its own type.
    fn with_record<T>(&self, index: usize, f: impl FnOnce(&dyn Probe) -> T) -> Option<T> {
        fn get<R: Record>(t: &Tape, i: usize) -> Option<&R> {
            t.records::<R>().ok()?.get(i)
        }
        use crate::RecordKind as K;
        Some(match self.kind() {
            K::Trade => f(get::<crate::Trade>(self, index)?),
            K::Level => f(get::<crate::Level>(self, index)?),
            K::Quote => f(get::<crate::Quote>(self, index)?),
            K::Funding => f(get::<crate::Funding>(self, index)?),
            K::Bar => f(get::<crate::Bar>(self, index)?),
            K::Series => f(get::<crate::Series>(self, index)?),
            K::Fill => f(get::<crate::Fill>(self, index)?),
        })
    }

    /// Checks every record and the header against them: time order, every
    /// record's codes and values ([`Record::check`]) and the `SORTED` flag.
    /// Times may lie anywhere (tests and converters write any); see
    /// [`verify_replayable`](Self::verify_replayable) for what a replay checks.
    pub fn verify(&self) -> crate::Result<()> {
        self.verify_as::<false>()
    }

    /// Exactly what a replay checks, over the whole file
    /// ([`check_ends`](Self::check_ends), then [`check_range`] chunk by
    /// chunk, times within [`TS_MIN`]`..=`[`TS_MAX`]), plus the `SORTED`
    /// flag: what `ticktape inspect --verify` runs.
    pub fn verify_replayable(&self) -> crate::Result<()> {
        self.check_ends()?;
        self.verify_as::<true>()
    }

    fn verify_as<const BOUNDS: bool>(&self) -> crate::Result<()> {
        use crate::RecordKind as K;
        /// The first bad record: [`check_range`] chunk by chunk (what a
        /// replay runs) with the time bounds, else [`scan_with`] without.
        fn first_bad<const BOUNDS: bool, R: Record>(recs: &[R], last: i64) -> Option<usize> {
            if BOUNDS {
                (0..recs.len()).step_by(CHUNK).find_map(|from| check_range(recs, from, from + CHUNK, last))
            } else {
                match scan_with::<false, R>(recs, 0, i64::MAX, last, |_| ()) {
                    Scan::Bad(i) => Some(i),
                    Scan::Bound { .. } | Scan::End => None,
                }
            }
        }
        let last = self.header().last_ts;
        let bad = match self.kind() {
            K::Trade => first_bad::<BOUNDS, _>(self.records::<crate::Trade>()?, last),
            K::Level => first_bad::<BOUNDS, _>(self.records::<crate::Level>()?, last),
            K::Quote => first_bad::<BOUNDS, _>(self.records::<crate::Quote>()?, last),
            K::Funding => first_bad::<BOUNDS, _>(self.records::<crate::Funding>()?, last),
            K::Bar => first_bad::<BOUNDS, _>(self.records::<crate::Bar>()?, last),
            K::Series => first_bad::<BOUNDS, _>(self.records::<crate::Series>()?, last),
            K::Fill => first_bad::<BOUNDS, _>(self.records::<crate::Fill>()?, last),
        };
        if let Some(i) = bad {
            let prev = i.checked_sub(1).and_then(|j| self.ts_at(j));
            return Err(self.record_problem(i, prev, BOUNDS).unwrap_or_else(|| self.record_error(i)));
        }
        if !self.header().is_sorted() && !self.is_empty() {
            return Err(Error::HeaderMismatch {
                path: self.path().to_path_buf(),
                offset: 20,
                what: "records are in time order but the header's SORTED flag is clear".to_owned(),
            });
        }
        Ok(())
    }
}

/// Object-safe view of a record for the cold diagnosis path.
trait Probe {
    fn stamp(&self) -> crate::Stamp;
    fn check(&self) -> Option<&'static str>;
}

impl<R: Record> Probe for R {
    fn stamp(&self) -> crate::Stamp {
        Record::stamp(self)
    }
    fn check(&self) -> Option<&'static str> {
        Record::check(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Level, Quote, Stamp, Trade};

    const T0: i64 = 1_714_521_600_000_000_000;

    fn stamp(i: i64) -> Stamp {
        Stamp { exchange: T0 + i / 3, local: T0 + i }
    }

    /// The fast pass clears valid records (else a replay would silently run
    /// the slow exact path) and refuses each kind of bad record.
    #[test]
    fn fast_pass_clears_valid_chunks_and_refuses_bad_ones() {
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        let levels: Vec<Level> = (0..64)
            .map(|i| Level {
                ts: stamp(i),
                price: 100 + i,
                qty: i % 5,
                side: 1 + (i % 2) as u8,
                flags: (i % 8) as u8,
                ..Level::default()
            })
            .collect();
        let trades: Vec<Trade> = (0..64)
            .map(|i| Trade {
                ts: stamp(i),
                price: -5 + i,
                qty: 1 + i,
                trade_id: u64::MAX - i as u64,
                side: (i % 3) as u8,
                flags: (i % 2) as u8,
                ..Trade::default()
            })
            .collect();
        let quotes: Vec<Quote> = (0..64)
            .map(|i| Quote { ts: stamp(i), bid_price: crate::UNDEF, bid_qty: 0, ask_price: 7, ask_qty: i })
            .collect();
        let last = T0 + 64;
        assert_eq!(fast::passes(&levels, TS_MIN, last), avx2);
        assert_eq!(fast::passes(&trades, TS_MIN, last), avx2);
        assert_eq!(fast::passes(&quotes, TS_MIN, last), avx2);
        assert_eq!(check_range(&levels, 0, 64, last), None);
        assert_eq!(check_range(&trades, 3, 61, last), None);
        // Too late for `last`, before `prev`, a bad side, a bad local time:
        // the fast pass refuses, the exact path names the record.
        assert!(!fast::passes(&levels, TS_MIN, T0 + 5));
        assert!(!fast::passes(&levels[..8], T0 + 1, last));
        let mut bad = levels.clone();
        bad[37].side = 3;
        assert!(!fast::passes(&bad, TS_MIN, last));
        assert_eq!(check_range(&bad, 0, 64, last), Some(37));
        let mut bad = trades.clone();
        bad[50].ts.local = TS_MAX + 1;
        assert!(!fast::passes(&bad, TS_MIN, last));
        assert_eq!(check_range(&bad, 0, 64, last), Some(50));
        let mut bad = trades.clone();
        bad[21].ts.exchange = bad[20].ts.exchange - 1;
        assert_eq!(check_range(&bad, 0, 64, last), Some(21));
        let mut bad = quotes.clone();
        bad[63].ask_qty = -1;
        assert_eq!(check_range(&bad, 0, 64, last), Some(63));
        // Stricter than the checks (a price of 2^62): refused by the fast
        // pass, cleared by the exact path.
        let mut big = trades.clone();
        big[9].price = 1 << 62;
        assert!(!fast::passes(&big, TS_MIN, last));
        assert_eq!(check_range(&big, 0, 64, last), None);
    }
}
