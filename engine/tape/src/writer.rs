//! Writing tapes (streaming) and files in general (atomically).

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::header::{Header, TapeMeta, header_flags};
use crate::{Error, Record, Result};

/// A file written under a temporary name in the target's folder and renamed
/// to its final name only by [`commit`](AtomicFile::commit). Dropping it
/// without committing (an error, a panic) removes the temporary file, so a
/// failed write never leaves a file under the final name. An interrupted
/// process leaves at most a hidden `.NAME.tmp.PID.N` file beside the target.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    out: Option<BufWriter<File>>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicFile {
    /// Starts writing `target` (the folder must exist).
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref().to_path_buf();
        let name = target
            .file_name()
            .ok_or_else(|| {
                Error::io(&target, "create", std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))
            })?
            .to_string_lossy()
            .into_owned();
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = target.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&target, "create (temporary file)", e))?;
        Ok(AtomicFile { tmp, target, out: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The buffered writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.out.as_mut().expect("AtomicFile used after commit")
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let target = &self.target;
        self.out
            .as_mut()
            .expect("AtomicFile used after commit")
            .write_all(bytes)
            .map_err(|e| Error::io(target, "write", e))
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<()> {
        let out = self.out.take().expect("AtomicFile committed twice");
        let file = out.into_inner().map_err(|e| Error::io(&self.target, "write", e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.target, "sync", e))?;
        drop(file);
        fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, "rename into place", e))?;
        Ok(())
    }

    fn patch(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let target = &self.target;
        let out = self.out.as_mut().expect("AtomicFile used after commit");
        out.flush().map_err(|e| Error::io(target, "write", e))?;
        let file = out.get_mut();
        file.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(target, "seek", e))?;
        file.write_all(bytes).map_err(|e| Error::io(target, "write", e))?;
        file.seek(SeekFrom::End(0)).map_err(|e| Error::io(target, "seek", e))?;
        Ok(())
    }
}

/// Writes through the buffer (for writers that take a `Write`, such as a
/// Parquet writer); [`commit`](AtomicFile::commit) still decides whether the
/// file appears.
impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// What a finished tape holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapeSummary {
    /// Where it was written.
    pub path: PathBuf,
    /// Number of records.
    pub records: u64,
    /// First `ts.exchange` (0 if empty).
    pub first_ts: i64,
    /// Last `ts.exchange` (0 if empty).
    pub last_ts: i64,
    /// Whether the records came in time order.
    pub sorted: bool,
    /// File size in bytes.
    pub bytes: u64,
}

/// Streams records of one kind into a new tape. The header is completed by
/// [`finish`](TapeWriter::finish); until then the file exists only under a
/// temporary name.
#[derive(Debug)]
pub struct TapeWriter<R: Record> {
    file: AtomicFile,
    header: Header,
    sorted: bool,
    _record: PhantomData<R>,
}

impl<R: Record> TapeWriter<R> {
    /// Starts a tape of `R` records at `path`.
    pub fn create(path: impl AsRef<Path>, meta: &TapeMeta) -> Result<Self> {
        let header = meta.to_header(R::KIND)?;
        let mut file = AtomicFile::create(path)?;
        file.write_all(bytemuck::bytes_of(&header))?;
        Ok(TapeWriter { file, header, sorted: true, _record: PhantomData })
    }

    /// Appends one record.
    #[inline]
    pub fn push(&mut self, record: &R) -> Result<()> {
        let ts = record.stamp().exchange;
        if self.header.record_count == 0 {
            self.header.first_ts = ts;
        } else if ts < self.header.last_ts {
            self.sorted = false;
        }
        self.header.last_ts = ts;
        self.header.record_count += 1;
        self.file.write_all(bytemuck::bytes_of(record))
    }

    /// Appends many records.
    pub fn extend<'a>(&mut self, records: impl IntoIterator<Item = &'a R>) -> Result<()> {
        for r in records {
            self.push(r)?;
        }
        Ok(())
    }

    /// Number of records written so far.
    pub fn len(&self) -> u64 {
        self.header.record_count
    }

    /// Whether no record was written yet.
    pub fn is_empty(&self) -> bool {
        self.header.record_count == 0
    }

    /// Completes the header and renames the tape into place.
    pub fn finish(mut self) -> Result<TapeSummary> {
        if self.sorted {
            self.header.flags |= header_flags::SORTED;
        }
        let header = self.header;
        self.file.patch(0, bytemuck::bytes_of(&header))?;
        let path = self.file.target().to_path_buf();
        self.file.commit()?;
        Ok(TapeSummary {
            path,
            records: header.record_count,
            first_ts: header.first_ts,
            last_ts: header.last_ts,
            sorted: self.sorted,
            bytes: u64::from(header.header_size) + header.record_count * u64::from(header.record_size),
        })
    }
}
