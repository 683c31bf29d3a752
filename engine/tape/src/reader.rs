//! Opening a tape: map it, validate the header, hand out records in place.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::header::{FORMAT_VERSION, HEADER_SIZE, Header, MAGIC, RECORD_ALIGN};
use crate::{Error, Record, RecordKind, Result};

/// An open, validated tape. Records are read in place from a read-only
/// memory map: nothing is copied or parsed per record.
#[derive(Debug)]
pub struct Tape {
    path: PathBuf,
    map: Mmap,
    header: Header,
    kind: RecordKind,
}

impl Tape {
    /// Opens and validates the tape at `path`.
    ///
    /// This maps the file (see [`Tape::map`] for the contract). ticktape never
    /// modifies a finished tape in place: writers write a new file under a
    /// temporary name and rename it, which leaves existing maps of the old
    /// file intact. The remaining risk is another program truncating the file
    /// while it is mapped, which would fault on access (SIGBUS), not corrupt
    /// memory silently; tapes are treated as immutable, like any mmap-based
    /// reader's input.
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
    /// The file must not be truncated or modified by anyone while the
    /// returned `Tape` (or any slice borrowed from it) is alive. Truncation
    /// makes later reads fault; modification changes records under shared
    /// references.
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
        #[cfg(unix)]
        {
            // Advice only; a refusal changes nothing about correctness.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let (header, kind) = validate(path, &map)?;
        Ok(Tape { path: path.to_path_buf(), map, header, kind })
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
        &self.map[self.header.header_size as usize..]
    }

    /// `ts.exchange` of record `index`, read from the raw bytes (every record
    /// starts with it). `None` past the end.
    #[inline]
    pub fn ts_at(&self, index: usize) -> Option<i64> {
        let size = self.header.record_size as usize;
        let start = self.header.header_size as usize + index.checked_mul(size)?;
        let bytes = self.map.get(start..start + 8)?;
        Some(i64::from_le_bytes(bytes.try_into().ok()?))
    }

    /// Checks what opening does not: that records are in time order, that
    /// the header's time range matches them, and that every record holds
    /// values its kind allows. Reads the whole file.
    pub fn verify(&self) -> Result<()> {
        match self.kind {
            RecordKind::Trade => self.verify_as::<crate::Trade>(),
            RecordKind::Level => self.verify_as::<crate::Level>(),
            RecordKind::Quote => self.verify_as::<crate::Quote>(),
            RecordKind::Funding => self.verify_as::<crate::Funding>(),
            RecordKind::Bar => self.verify_as::<crate::Bar>(),
            RecordKind::Series => self.verify_as::<crate::Series>(),
            RecordKind::Fill => self.verify_as::<crate::Fill>(),
        }
    }

    fn verify_as<R: Record>(&self) -> Result<()> {
        let records = self.records::<R>()?;
        let size = u64::from(self.header.record_size);
        let base = u64::from(self.header.header_size);
        let offset_of = |i: usize| base + i as u64 * size;
        let mut prev = i64::MIN;
        for (i, r) in records.iter().enumerate() {
            let ts = r.stamp().exchange;
            if ts < prev {
                return Err(Error::Unsorted {
                    path: self.path.clone(),
                    index: i as u64,
                    offset: offset_of(i),
                    ts,
                    prev_ts: prev,
                });
            }
            prev = ts;
            if let Some(what) = r.check() {
                return Err(Error::BadRecord { path: self.path.clone(), index: i as u64, offset: offset_of(i), what });
            }
        }
        let (first, last) = match (records.first(), records.last()) {
            (Some(f), Some(l)) => (f.stamp().exchange, l.stamp().exchange),
            _ => (0, 0),
        };
        let mismatch = |offset: u64, what: String| Error::HeaderMismatch { path: self.path.clone(), offset, what };
        if self.header.first_ts != first {
            return Err(mismatch(
                32,
                format!("header first_ts {} but the first record is at {first}", self.header.first_ts),
            ));
        }
        if self.header.last_ts != last {
            return Err(mismatch(
                40,
                format!("header last_ts {} but the last record is at {last}", self.header.last_ts),
            ));
        }
        if !self.header.is_sorted() && !records.is_empty() {
            return Err(mismatch(20, "records are in time order but the header's SORTED flag is clear".to_owned()));
        }
        Ok(())
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
