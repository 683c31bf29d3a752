//! The one error type of the converters.

use std::path::PathBuf;

/// Result alias used throughout `ticktape_data`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a conversion.
///
/// Every variant names the input file and, where there is one, the line (1-based) or
/// byte offset; its message ends with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error reading an input or writing an output.
    #[error("{path}: cannot {action}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A gzip stream is corrupt or truncated.
    #[error(
        "{path}: corrupt gzip data after {offset} decompressed bytes: {why}; the file is damaged or incomplete, download it again"
    )]
    Gzip {
        /// The file involved.
        path: PathBuf,
        /// Decompressed bytes read before the failure.
        offset: u64,
        /// The decoder's message.
        why: String,
    },
    /// A zip archive is corrupt, truncated or unsupported.
    #[error("{path}: corrupt or unsupported zip archive: {why}; the file is damaged or incomplete, download it again")]
    Zip {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The zip does not match its `.CHECKSUM` file.
    #[error(
        "{path}: sha256 {actual} does not match {expected} from {checksum_file}; the archive is damaged or was regenerated, download both again"
    )]
    Checksum {
        /// The archive.
        path: PathBuf,
        /// The checksum file.
        checksum_file: PathBuf,
        /// The sha256 it names.
        expected: String,
        /// The sha256 of the archive.
        actual: String,
    },
    /// A row cannot be parsed.
    #[error("{path}:{line}: {why}: {text:?}; fix or remove the row, or pass --skip-bad to skip such rows")]
    BadRow {
        /// The file involved.
        path: PathBuf,
        /// 1-based line (or row / element number for JSON arrays and npy rows).
        line: u64,
        /// The offending text (truncated to 200 bytes).
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// A row parses but describes something impossible (a negative price, a
    /// zero-size trade, a repeated trade id, a crossed quote).
    #[error("{path}:{line}: {why}; fix or remove the row, or pass --skip-bad to count and drop such rows")]
    BadRecord {
        /// The file involved.
        path: PathBuf,
        /// 1-based line (or element number).
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// A timestamp's magnitude does not match the unit its dataset documents.
    #[error(
        "{path}:{line}: {column} {value} has {digits} digits: it looks like {looks_like}, but this dataset documents {expected}; the file was altered or is not what its name says: convert the column to {expected} (or pass the right --dataset)"
    )]
    TimeUnit {
        /// The file involved.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The column.
        column: &'static str,
        /// The value as written.
        value: String,
        /// Its digit count.
        digits: usize,
        /// The documented unit.
        expected: &'static str,
        /// The unit its magnitude suggests.
        looks_like: &'static str,
    },
    /// A value has more decimals than the fixed exponent allows, or is too large for i64 at it.
    #[error(
        "{path}:{line}: value {text:?} ({field}) does not fit a tape with {decimals} decimals: {why}; pass --{field}-decimals with a value that fits every row (values are never rounded)"
    )]
    DoesNotFit {
        /// The file involved.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The value as written in the input.
        text: String,
        /// `price`, `qty` or `value`.
        field: &'static str,
        /// Decimals of the tape.
        decimals: u8,
        /// Why it does not fit.
        why: &'static str,
    },
    /// A record arrived earlier than the reorder tolerance allows.
    #[error(
        "{path}:{line}: out of order: exchange time {ts} ns is {behind_ms} ms before the latest {latest} ns, beyond the {tolerance_ms} ms tolerance ({count} such rows so far); raise --tolerance-ms, or pass --skip-bad to drop such rows"
    )]
    OutOfOrder {
        /// The file involved.
        path: PathBuf,
        /// 1-based line of the first offending row.
        line: u64,
        /// Its exchange time.
        ts: i64,
        /// The latest exchange time seen before it.
        latest: i64,
        /// How far behind, ms.
        behind_ms: i64,
        /// The tolerance, ms.
        tolerance_ms: i64,
        /// How many.
        count: u64,
    },
    /// The dataset of an input cannot be determined, or is not supported.
    #[error("{path}: {why}; pass --dataset NAME (see `ticktape convert --list`)")]
    UnknownDataset {
        /// The file involved.
        path: PathBuf,
        /// What was found.
        why: String,
    },
    /// The input does not have the structure its dataset needs.
    #[error("{path}: {why}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A PostgreSQL server refused a connection or a query, or its rows do
    /// not have the columns a conversion needs.
    #[error("{target}: {why}")]
    Postgres {
        /// The server and database (`postgres://USER@HOST:PORT/DB`, no
        /// password), or the table or query read.
        target: String,
        /// What failed, and what to do.
        why: String,
    },
    /// The command line or options are inconsistent.
    #[error("{0}")]
    Usage(String),
    /// Writing or merging a tape failed.
    #[error(transparent)]
    Tape(#[from] ticktape_tape::Error),
    /// Another worker failed first; this input was abandoned.
    #[error("cancelled because another input failed")]
    Cancelled,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), action, source }
    }

    /// A bad-row error; `text` is cut to 200 bytes.
    pub(crate) fn bad_row(path: impl Into<PathBuf>, line: u64, text: &[u8], why: impl Into<String>) -> Self {
        Error::BadRow { path: path.into(), line, text: snippet(text), why: why.into() }
    }
}

/// Up to 200 bytes of `text` as lossy UTF-8, for error messages.
pub(crate) fn snippet(text: &[u8]) -> String {
    const MAX: usize = 200;
    let cut = &text[..text.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if text.len() > MAX {
        s.push('…');
    }
    s
}
