//! Opening a tape: map it, validate the header, hand out records in place.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::header::{FORMAT_VERSION, HEADER_SIZE, Header, MAGIC, RECORD_ALIGN, header_flags};
use crate::{Error, Record, RecordKind, Result};

/// An open, validated tape. Records are read in place from a read-only
/// memory map: nothing is copied or parsed per record.
#[derive(Debug)]
pub struct Tape {
    path: PathBuf,
    map: Mmap,
    header: Header,
    kind: RecordKind,
    /// Index in the file of the first record this tape hands out (0 unless
    /// narrowed by [`Tape::window`]).
    base: usize,
    _guard: crate::guard::Guard,
}

impl Tape {
    /// Opens and validates the tape at `path`.
    ///
    /// This maps the file (see [`Tape::map`] for the contract). ticktape never
    /// modifies a finished tape in place: writers write a new file under a
    /// temporary name and rename it, which leaves existing maps of the old
    /// file intact. The remaining risk is another program truncating the file
    /// while it is mapped: reading a page past the new end raises SIGBUS. On
    /// Linux a handler installed with the first tape turns that into one line,
    /// `error: tape PATH was truncated while mapped (fault at byte offset N);
    /// ...`, and exit status 1 (see the `guard` section of the crate docs);
    /// memory is never read silently wrong. Tapes are treated as immutable,
    /// like any mmap-based reader's input.
    ///
    /// Opening checks every header field and ties the header's `first_ts`
    /// and `last_ts` to the first and last records (see [`check`](crate::check)).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        // SAFETY: the contract of `Tape::map` is that the file is not
        // truncated or modified while mapped. ticktape's own writers only
        // create new files (temporary name + rename) and never write into a
        // finished tape, so the contract holds for every tape ticktape wrote;
        // this function's documentation states the remaining assumption.
        unsafe { Self::map(path) }
    }

    /// Maps and validates the tape at `path`.
    ///
    /// # Safety
    ///
    /// The file must not be modified by anyone while the returned `Tape` (or
    /// any slice borrowed from it) is alive: that would change records under
    /// shared references. Truncation makes later reads fault with SIGBUS; on
    /// Linux that ends the process with a clear `error:` line and exit status
    /// 1 instead of a signal death (the address range is registered before
    /// any byte of the map is read).
    pub unsafe fn map(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, "read metadata of", e))?;
        if meta.is_dir() {
            return Err(Error::IsFolder { path: path.into() });
        }
        let len = meta.len();
        if len == 0 {
            return Err(Error::Empty { path: path.into() });
        }
        if len < u64::from(HEADER_SIZE) {
            return Err(Error::TruncatedHeader { path: path.into(), len, need: u64::from(HEADER_SIZE) });
        }
        // SAFETY: the caller guarantees the file is not truncated or modified
        // while the map is alive (this function's contract). The map is
        // read-only.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "memory-map", e))?;
        let guard = crate::guard::Guard::register(path, map.as_ptr(), map.len());
        #[cfg(unix)]
        {
            // Advice only; a refusal changes nothing about correctness.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let (header, kind) = validate(path, &map)?;
        let tape = Tape { path: path.to_path_buf(), map, header, kind, base: 0, _guard: guard };
        tape.check_header_against_records()?;
        Ok(tape)
    }

    /// The path the tape was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The record kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.header.record_count as usize
    }

    /// Whether the tape holds no records.
    pub fn is_empty(&self) -> bool {
        self.header.record_count == 0
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// The records as a slice of `R`, in place. Fails if the tape holds
    /// another kind.
    pub fn records<R: Record>(&self) -> Result<&[R]> {
        if R::KIND != self.kind {
            return Err(Error::WrongKind { path: self.path.clone(), expected: R::KIND, found: self.kind });
        }
        let bytes = self.record_bytes();
        bytemuck::try_cast_slice(bytes)
            .map_err(|_| Error::Misaligned { path: self.path.clone(), offset: u64::from(self.header.header_size) })
    }

    /// The raw bytes of all records.
    pub fn record_bytes(&self) -> &[u8] {
        let size = self.header.record_size as usize;
        let start = self.header.header_size as usize + self.base * size;
        &self.map[start..start + self.len() * size]
    }

    /// The file's records before this tape's first one: empty unless the
    /// tape was narrowed by [`window`](Self::window) (a replay rebuilds its
    /// order book from them). Fails if the tape holds another kind.
    pub fn records_before<R: Record>(&self) -> Result<&[R]> {
        if R::KIND != self.kind {
            return Err(Error::WrongKind { path: self.path.clone(), expected: R::KIND, found: self.kind });
        }
        let size = self.header.record_size as usize;
        let start = self.header.header_size as usize;
        bytemuck::try_cast_slice(&self.map[start..start + self.base * size])
            .map_err(|_| Error::Misaligned { path: self.path.clone(), offset: u64::from(self.header.header_size) })
    }

    /// The error for record `file_index` of the file (counted from the
    /// file's first record, not the window's), which fails `what`.
    #[cold]
    pub fn file_record_error(&self, file_index: usize, what: &'static str) -> Error {
        Error::BadRecord {
            path: self.path.clone(),
            index: file_index as u64,
            offset: u64::from(self.header.header_size) + file_index as u64 * u64::from(self.header.record_size),
            what,
        }
    }

    /// Index in the file of record `index` of this tape (they differ only
    /// for a tape narrowed by [`window`](Self::window)).
    #[inline]
    pub fn file_index(&self, index: usize) -> usize {
        self.base + index
    }

    /// The records whose exchange time is in `from..to` (half-open; `None`
    /// is unbounded), as an index range, found by binary search on the
    /// records' times: `O(log n)` records are read, never the whole tape.
    /// The tape must be sorted ([`Header::is_sorted`]); on an unsorted tape
    /// the range is meaningless (a replay refuses such tapes anyway).
    pub fn index_range(&self, from: Option<i64>, to: Option<i64>) -> std::ops::Range<usize> {
        let n = self.len();
        // First index whose time is >= t (records are in time order).
        let first_at = |t: i64| {
            let (mut lo, mut hi) = (0usize, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.ts_at(mid).unwrap_or(i64::MAX) < t {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let start = from.map_or(0, first_at);
        let end = to.map_or(n, first_at).max(start);
        start..end
    }

    /// This tape narrowed to the records whose exchange time is in
    /// `from..to` (half-open; `None` is unbounded), found by binary search
    /// ([`index_range`](Self::index_range)): records outside the window are
    /// never read. The narrowed tape's [`header`](Self::header) describes the
    /// window: `record_count`, `first_ts` and `last_ts` are its own (0 and 0
    /// when it is empty); byte offsets in errors ([`offset_of`](Self::offset_of))
    /// and record numbers ([`file_index`](Self::file_index)) are still the
    /// file's, and [`file_len`](Self::file_len) is the whole file's.
    pub fn window(mut self, from: Option<i64>, to: Option<i64>) -> Tape {
        let range = self.index_range(from, to);
        if range == (0..self.len()) {
            return self;
        }
        let (first, last) = match range.len() {
            0 => (0, 0),
            _ => (self.ts_at(range.start).unwrap_or(0), self.ts_at(range.end - 1).unwrap_or(0)),
        };
        self.base += range.start;
        self.header.record_count = range.len() as u64;
        self.header.first_ts = first;
        self.header.last_ts = last;
        self
    }

    /// `ts.exchange` of record `index`, read from the raw bytes (every record
    /// starts with it). `None` past the end.
    #[inline]
    pub fn ts_at(&self, index: usize) -> Option<i64> {
        if index >= self.len() {
            return None;
        }
        let size = self.header.record_size as usize;
        let start = self.header.header_size as usize + (self.base + index).checked_mul(size)?;
        let bytes = self.map.get(start..start + 8)?;
        Some(i64::from_le_bytes(bytes.try_into().ok()?))
    }
}

/// Validates the header against the file length; everything a reader relies
/// on is checked here, before any record is touched.
fn validate(path: &Path, bytes: &[u8]) -> Result<(Header, RecordKind)> {
    let len = bytes.len() as u64;
    let header: Header = bytemuck::pod_read_unaligned(&bytes[..HEADER_SIZE as usize]);
    if header.magic != MAGIC {
        return Err(Error::BadMagic { path: path.into(), found: header.magic, expected: "TICKTAPE" });
    }
    if header.version > FORMAT_VERSION {
        return Err(Error::NewerVersion { path: path.into(), found: header.version, supported: FORMAT_VERSION });
    }
    if header.version == 0 {
        return Err(Error::BadVersion { path: path.into(), found: header.version });
    }
    let kind =
        RecordKind::from_code(header.kind).ok_or(Error::UnknownKind { path: path.into(), found: header.kind })?;
    if header.record_size != kind.record_size() {
        return Err(Error::RecordSize {
            path: path.into(),
            kind,
            found: header.record_size,
            expected: kind.record_size(),
        });
    }
    if header.header_size < HEADER_SIZE || !header.header_size.is_multiple_of(RECORD_ALIGN) {
        return Err(Error::HeaderSize { path: path.into(), found: header.header_size, min: HEADER_SIZE });
    }
    let bad = |offset: u64, what: String| Error::BadHeader { path: path.into(), offset, what };
    let undefined = header.flags & !(header_flags::SORTED | header_flags::HAS_LOCAL_TS);
    if undefined != 0 {
        return Err(bad(20, format!("flags {:#x} set undefined bits {undefined:#x}", header.flags)));
    }
    for (offset, name, e) in [
        (48, "price", header.price_exponent),
        (49, "quantity", header.qty_exponent),
        (50, "value", header.value_exponent),
    ] {
        if e.unsigned_abs() > crate::check::MAX_EXPONENT.unsigned_abs() {
            return Err(bad(
                offset,
                format!("{name} exponent {e} is outside -{m}..={m}", m = crate::check::MAX_EXPONENT),
            ));
        }
    }
    if header.reserved0 != [0; 5] {
        return Err(bad(51, "reserved bytes 51..56 are not zero".to_owned()));
    }
    if header.reserved1 != [0; 8] {
        return Err(bad(120, "reserved bytes 120..128 are not zero".to_owned()));
    }
    if header.price_tick < 0 || header.qty_lot < 0 {
        let (offset, what) = if header.price_tick < 0 { (56, "price tick") } else { (112, "quantity lot") };
        return Err(bad(offset, format!("{what} is negative")));
    }
    let expected = u64::from(header.record_size)
        .checked_mul(header.record_count)
        .and_then(|n| n.checked_add(u64::from(header.header_size)));
    if expected != Some(len) {
        let expected = expected.unwrap_or(u64::MAX);
        let body = len.saturating_sub(u64::from(header.header_size));
        let hint = if len < expected && !body.is_multiple_of(u64::from(header.record_size)) {
            format!(
                "truncated record: byte offset {len} ends inside record {}; the file is incomplete, re-create it",
                body / u64::from(header.record_size)
            )
        } else if len < expected {
            "the file is shorter than its header says (truncated); re-create it".to_owned()
        } else {
            "the file has bytes beyond its last record (the count is stale or the file was appended to); re-create it"
                .to_owned()
        };
        return Err(Error::Length {
            path: path.into(),
            len,
            expected,
            count: header.record_count,
            kind,
            record_size: header.record_size,
            header_size: header.header_size,
            hint,
        });
    }
    Ok((header, kind))
}

impl Tape {
    /// Ties the header's time range to the records: `first_ts` and `last_ts`
    /// are the first and last records' exchange times (both 0 when empty).
    fn check_header_against_records(&self) -> Result<()> {
        let h = &self.header;
        let mismatch = |offset: u64, what: String| Error::HeaderMismatch { path: self.path.clone(), offset, what };
        if self.is_empty() {
            if (h.first_ts, h.last_ts) != (0, 0) {
                return Err(mismatch(
                    32,
                    format!("header time range {}..{} but the tape has no records", h.first_ts, h.last_ts),
                ));
            }
            return Ok(());
        }
        let first = self.ts_at(0).unwrap_or(i64::MIN);
        let last = self.ts_at(self.len() - 1).unwrap_or(i64::MIN);
        if h.first_ts != first {
            return Err(mismatch(32, format!("header first_ts {} but the first record is at {first}", h.first_ts)));
        }
        if h.last_ts != last {
            return Err(mismatch(40, format!("header last_ts {} but the last record is at {last}", h.last_ts)));
        }
        if h.is_sorted() && first > last {
            return Err(mismatch(
                20,
                format!("header says sorted but the first record ({first}) is later than the last ({last})"),
            ));
        }
        Ok(())
    }
}
