//! The one error type of the tape crate.

use std::path::PathBuf;

use crate::RecordKind;

/// Result alias used throughout the tape crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing a tape.
///
/// Every variant names the file and, where there is one, the byte offset, and
/// its message ends with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error while opening, mapping, writing or renaming.
    #[error("{path}: cannot {action}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What was being done ("open", "map", "write", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A folder was given where a tape file is expected.
    #[error("{path}: is a folder, not a tape file; pass the tapes inside it (e.g. {path}/*.tape)")]
    IsFolder {
        /// The folder.
        path: PathBuf,
    },
    /// The file has no bytes at all.
    #[error("{path}: empty file (0 bytes), not a tape; re-create it with `ticktape gen` or `ticktape convert`")]
    Empty {
        /// The file involved.
        path: PathBuf,
    },
    /// The file ends inside the header.
    #[error(
        "{path}: truncated header: the file is {len} bytes but a tape header needs {need}; the file is incomplete, re-create it"
    )]
    TruncatedHeader {
        /// The file involved.
        path: PathBuf,
        /// The file length in bytes.
        len: u64,
        /// Bytes needed for the header.
        need: u64,
    },
    /// The first 8 bytes are not the tape magic.
    #[error(
        "{path}: not a ticktape tape: bytes 0..8 are {found:02x?}, expected {expected:?}; convert raw data with `ticktape convert`"
    )]
    BadMagic {
        /// The file involved.
        path: PathBuf,
        /// The bytes found.
        found: [u8; 8],
        /// The magic expected.
        expected: &'static str,
    },
    /// The tape was written by a newer ticktape.
    #[error(
        "{path}: tape format version {found} is newer than this ticktape reads (version {supported}); upgrade ticktape"
    )]
    NewerVersion {
        /// The file involved.
        path: PathBuf,
        /// Version in the file.
        found: u16,
        /// Highest version this build reads.
        supported: u16,
    },
    /// The version field is 0, which no ticktape ever wrote.
    #[error("{path}: byte offset 8: invalid tape format version {found}; the header is corrupt, re-create the tape")]
    BadVersion {
        /// The file involved.
        path: PathBuf,
        /// Version in the file.
        found: u16,
    },
    /// The record kind code is not one this build knows.
    #[error(
        "{path}: byte offset 10: unknown record kind {found}; the file was written by a newer ticktape or is corrupt"
    )]
    UnknownKind {
        /// The file involved.
        path: PathBuf,
        /// Kind code in the file.
        found: u16,
    },
    /// The record size in the header does not match the record kind.
    #[error(
        "{path}: byte offset 12: record size {found} does not match {kind} records ({expected} bytes); the header is corrupt, re-create the tape"
    )]
    RecordSize {
        /// The file involved.
        path: PathBuf,
        /// The record kind in the header.
        kind: RecordKind,
        /// Size in the header.
        found: u32,
        /// Size of that kind in this format version.
        expected: u32,
    },
    /// The header size is not a supported value.
    #[error(
        "{path}: byte offset 16: header size {found} is invalid (must be a multiple of 64 and at least {min}); the header is corrupt"
    )]
    HeaderSize {
        /// The file involved.
        path: PathBuf,
        /// Header size in the file.
        found: u32,
        /// Smallest valid header size.
        min: u32,
    },
    /// The file length disagrees with the record count in the header.
    #[error(
        "{path}: file is {len} bytes but the header promises {count} {kind} records of {record_size} bytes after a {header_size}-byte header ({expected} bytes); {hint}"
    )]
    Length {
        /// The file involved.
        path: PathBuf,
        /// Actual length.
        len: u64,
        /// Expected length.
        expected: u64,
        /// Record count in the header.
        count: u64,
        /// Record kind.
        kind: RecordKind,
        /// Record size.
        record_size: u32,
        /// Header size.
        header_size: u32,
        /// What the mismatch most likely means.
        hint: String,
    },
    /// The mapped records are not aligned for in-place reading.
    #[error("{path}: byte offset {offset}: records are not 8-byte aligned in memory; the file cannot be read in place")]
    Misaligned {
        /// The file involved.
        path: PathBuf,
        /// Offset of the first record.
        offset: u64,
    },
    /// Records are out of time order.
    #[error(
        "{path}: byte offset {offset}: record {index} has exchange time {ts} ns, earlier than the previous record's {prev_ts} ns; the tape is not sorted, re-convert it"
    )]
    Unsorted {
        /// The file involved.
        path: PathBuf,
        /// Index of the offending record.
        index: u64,
        /// Byte offset of the offending record.
        offset: u64,
        /// Its timestamp.
        ts: i64,
        /// The previous record's timestamp.
        prev_ts: i64,
    },
    /// A header field disagrees with the records.
    #[error("{path}: byte offset {offset}: {what}; the header is stale or corrupt, re-create the tape")]
    HeaderMismatch {
        /// The file involved.
        path: PathBuf,
        /// Offset of the header field.
        offset: u64,
        /// What disagrees.
        what: String,
    },
    /// A record's time is outside the supported range
    /// ([`TS_MIN`](crate::check::TS_MIN)..=[`TS_MAX`](crate::check::TS_MAX)).
    #[error(
        "{path}: byte offset {offset}: record {index} has {which} time {ts} ns ({}), outside the supported range 2009-01-01 .. 2100-01-01; timestamps must be ns since the Unix epoch (a unit error or a zeroed field?): re-convert the tape",
        crate::check::iso8601(*ts)
    )]
    TimeRange {
        /// The file involved.
        path: PathBuf,
        /// Index of the offending record.
        index: u64,
        /// Byte offset of the offending record.
        offset: u64,
        /// Which time ("exchange" or "local").
        which: &'static str,
        /// The time found.
        ts: i64,
    },
    /// A header field holds a value no valid tape has.
    #[error(
        "{path}: byte offset {offset}: {what}; the header is corrupt (or from a newer ticktape), re-create the tape"
    )]
    BadHeader {
        /// The file involved.
        path: PathBuf,
        /// Offset of the header field.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A record holds a value its kind does not allow.
    #[error(
        "{path}: byte offset {offset}: record {index}: {what}; the tape is corrupt or was written by a newer ticktape, re-convert it"
    )]
    BadRecord {
        /// The file involved.
        path: PathBuf,
        /// Index of the offending record.
        index: u64,
        /// Byte offset of the offending record.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A tape of one kind was given where another kind is expected.
    #[error("{path}: this is a {found} tape, but a {expected} tape is expected here; pass a {expected} tape")]
    WrongKind {
        /// The file involved.
        path: PathBuf,
        /// Kind expected by the caller.
        expected: RecordKind,
        /// Kind found in the header.
        found: RecordKind,
    },
    /// A text field does not fit its fixed-size slot or is not UTF-8.
    #[error("{field} {value:?} is invalid: {why}")]
    Text {
        /// The header field.
        field: &'static str,
        /// The value offered.
        value: String,
        /// Why it was refused.
        why: &'static str,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), action, source }
    }
}
