//! The record checks, shared by the replay loop and [`Tape::verify`].
//!
//! A tape is checked in three places, each as cheap as it can be:
//!
//! * **at open** ([`Tape::open`]): every header field (magic, version, kind,
//!   sizes, flags, exponents within ±[`MAX_EXPONENT`], reserved bytes) and the
//!   header against its first and last records (`first_ts`, `last_ts`);
//! * **before a replay** ([`Tape::check_ends`]): the first and last records'
//!   values and times within [`TS_MIN`]`..=`[`TS_MAX`];
//! * **per record, as it is replayed** ([`scan`]): time order (never earlier
//!   than the record before it, never later than the header's `last_ts`) and
//!   every code and value the record kind allows ([`Record::check`]). The
//!   checks are a few compares on the cache line the replay reads anyway, and
//!   a bad record leaves the loop on a cold path.
//!
//! [`Tape::verify_replayable`] runs the same [`scan`] over the whole tape, so
//! `ticktape inspect --verify` and a replay refuse exactly the same tapes.
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
    /// ([`check_ends`](Self::check_ends), then a [`scan`] of every record,
    /// times within [`TS_MIN`]`..=`[`TS_MAX`]), plus the `SORTED` flag: what
    /// `ticktape inspect --verify` runs.
    pub fn verify_replayable(&self) -> crate::Result<()> {
        self.check_ends()?;
        self.verify_as::<true>()
    }

    fn verify_as<const BOUNDS: bool>(&self) -> crate::Result<()> {
        use crate::RecordKind as K;
        let last = self.header().last_ts;
        let end = match self.kind() {
            K::Trade => scan_with::<BOUNDS, _>(self.records::<crate::Trade>()?, 0, i64::MAX, last, |_| ()),
            K::Level => scan_with::<BOUNDS, _>(self.records::<crate::Level>()?, 0, i64::MAX, last, |_| ()),
            K::Quote => scan_with::<BOUNDS, _>(self.records::<crate::Quote>()?, 0, i64::MAX, last, |_| ()),
            K::Funding => scan_with::<BOUNDS, _>(self.records::<crate::Funding>()?, 0, i64::MAX, last, |_| ()),
            K::Bar => scan_with::<BOUNDS, _>(self.records::<crate::Bar>()?, 0, i64::MAX, last, |_| ()),
            K::Series => scan_with::<BOUNDS, _>(self.records::<crate::Series>()?, 0, i64::MAX, last, |_| ()),
            K::Fill => scan_with::<BOUNDS, _>(self.records::<crate::Fill>()?, 0, i64::MAX, last, |_| ()),
        };
        if let Scan::Bad(i) = end {
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
