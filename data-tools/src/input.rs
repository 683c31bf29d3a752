//! Opening inputs: plain, gzip or zip (detected by magic bytes), optional
//! `.CHECKSUM` verification, and a line reader that allocates nothing per line.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// How an input is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// A zip archive.
    Zip,
}

/// Detects the compression of `path` from its first bytes.
pub fn detect(path: &Path) -> Result<Compression> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Compression::Gzip
    } else if n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06") {
        Compression::Zip
    } else {
        Compression::None
    })
}

/// A reader that counts the bytes it passes (for progress and throughput).
#[derive(Debug)]
pub(crate) struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: io::Seek> io::Seek for Counting<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One decoded stream of an input: the whole file, the gzip content, or one zip member.
pub(crate) struct Member<'a> {
    /// Path used in messages: the file, or `archive.zip/member` for zip members.
    pub path: PathBuf,
    /// The member's own file name (without `.gz`), for dataset detection.
    pub name: String,
    /// The decoded bytes.
    pub reader: &'a mut dyn Read,
    /// Compression of the container (for error messages).
    pub compression: Compression,
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("path", &self.path).field("name", &self.name).finish()
    }
}

/// Opens `path` and calls `each` for every decoded member: once for a plain or
/// gzip file, once per entry (in archive order) for a zip, skipping directories.
/// `raw_bytes` counts bytes read from the file itself.
pub(crate) fn for_each_member(
    path: &Path,
    raw_bytes: &Arc<AtomicU64>,
    mut each: impl FnMut(Member<'_>) -> Result<()>,
) -> Result<()> {
    let compression = detect(path)?;
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match compression {
        Compression::None => {
            let mut r = Counting { inner: file, count: raw_bytes.clone() };
            each(Member { path: path.to_path_buf(), name: file_name, reader: &mut r, compression })
        }
        Compression::Gzip => {
            let counted = io::BufReader::with_capacity(1 << 16, Counting { inner: file, count: raw_bytes.clone() });
            let mut r = flate2::bufread::MultiGzDecoder::new(counted);
            let name = file_name.strip_suffix(".gz").unwrap_or(&file_name).to_owned();
            each(Member { path: path.to_path_buf(), name, reader: &mut r, compression })
        }
        Compression::Zip => {
            let counted = io::BufReader::new(Counting { inner: file, count: raw_bytes.clone() });
            let mut archive = zip::ZipArchive::new(counted)
                .map_err(|e| Error::Zip { path: path.to_path_buf(), why: e.to_string() })?;
            let names: Vec<String> = archive
                .file_names()
                .filter_map(|n| n.ok().map(|n| n.into_owned()))
                .filter(|n| !n.ends_with('/'))
                .collect();
            let files = names.len();
            let npz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"));
            if files == 0 {
                return Err(Error::Format {
                    path: path.to_path_buf(),
                    why: "the zip archive holds no file: it is empty or incomplete, download it again".into(),
                });
            }
            if files > 1 && !npz {
                return Err(Error::Format {
                    path: path.to_path_buf(),
                    why: format!(
                        "the zip archive holds {files} files ({}), where one CSV is expected; they would be merged as one: unzip it and convert the files you mean",
                        names.join(", ")
                    ),
                });
            }
            for i in 0..archive.len() {
                let mut entry =
                    archive.by_index(i).map_err(|e| Error::Zip { path: path.to_path_buf(), why: e.to_string() })?;
                if entry.is_dir() {
                    continue;
                }
                let full = entry.name().map_err(|e| Error::Zip { path: path.to_path_buf(), why: e.to_string() })?;
                let name = full.rsplit('/').next().unwrap_or_default().to_owned();
                let member_path = path.join(&name);
                each(Member { path: member_path, name, reader: &mut entry, compression })?;
            }
            Ok(())
        }
    }
}

/// Decompresses every member of `path` to the end, to tell a corrupt
/// container from bad rows.
pub(crate) fn check_container(path: &Path) -> Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    for_each_member(path, &counter, |m| {
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match m.reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(k) => n += k as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(&m.path, m.compression, n, e)),
            }
        }
    })
}

/// Verifies `zip` against the sha256 in `zip.CHECKSUM` (`"<hex>  <name>"`).
pub fn verify_checksum(zip: &Path) -> Result<()> {
    use sha2::{Digest, Sha256};
    let mut sum_path = zip.as_os_str().to_owned();
    sum_path.push(".CHECKSUM");
    let sum_path = PathBuf::from(sum_path);
    let text = std::fs::read_to_string(&sum_path).map_err(|e| Error::io(&sum_path, "read checksum file", e))?;
    let expected = text.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Format {
            path: sum_path,
            why: "not a sha256 checksum file (expected \"<64 hex digits>  <file name>\")".into(),
        });
    }
    let mut f = File::open(zip).map_err(|e| Error::io(zip, "open", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(zip, "read", e)),
        };
        hasher.update(&buf[..n]);
    }
    let actual: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if actual != expected {
        return Err(Error::Checksum { path: zip.to_path_buf(), checksum_file: sum_path, expected, actual });
    }
    Ok(())
}

/// Reads lines from a decoded member into one reused buffer. A line ends at
/// `\n`; a trailing `\r` is removed. Yields `(line number, bytes)`.
pub(crate) struct Lines<'a> {
    src: &'a mut dyn Read,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line: u64,
    decoded: u64,
    path: &'a Path,
    compression: Compression,
}

impl<'a> Lines<'a> {
    /// The first line split into owned fields: the header row of a CSV
    /// whose header is required. An empty input is an error naming `path`.
    pub(crate) fn header(&mut self, path: &Path) -> Result<Vec<Vec<u8>>> {
        match self.next_line()? {
            Some((_, h)) => {
                let mut f = Fields::default();
                f.split(h);
                Ok(f.owned(h))
            }
            None => Err(Error::Format { path: path.to_path_buf(), why: "empty file, no header row".into() }),
        }
    }

    pub(crate) fn new(member: &'a mut Member<'_>) -> Self {
        Lines {
            src: member.reader,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            decoded: 0,
            path: &member.path,
            compression: member.compression,
        }
    }

    /// Hands over what is left: the bytes buffered but not yet returned as
    /// lines, and the source to read on from (for [`crate::chunked`]).
    pub(crate) fn into_rest(self) -> Rest<'a> {
        Rest {
            buffered: self.buf[self.start..self.end].to_vec(),
            src: self.src,
            eof: self.eof,
            line: self.line,
            decoded: self.decoded,
            path: self.path,
            compression: self.compression,
        }
    }

    /// Decoded bytes read so far.
    pub(crate) fn decoded_bytes(&self) -> u64 {
        self.decoded
    }

    /// The next line, or `None` at the end.
    #[inline]
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let s = self.start;
                let mut e = s + pos;
                self.start = e + 1;
                if e > s && self.buf[e - 1] == b'\r' {
                    e -= 1;
                }
                self.line += 1;
                return Ok(Some((self.line, &self.buf[s..e])));
            }
            if self.eof {
                if self.start < self.end {
                    let s = self.start;
                    let mut e = self.end;
                    self.start = self.end;
                    if self.buf[e - 1] == b'\r' {
                        e -= 1;
                    }
                    self.line += 1;
                    return Ok(Some((self.line, &self.buf[s..e])));
                }
                return Ok(None);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let new_len = self.buf.len() * 2;
            self.buf.resize(new_len, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    self.decoded += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(self.path, self.compression, self.decoded, e)),
            }
        }
    }
}

/// The unread part of a [`Lines`]: see [`Lines::into_rest`].
pub(crate) struct Rest<'a> {
    /// Decoded bytes read from `src` but not yet returned as lines.
    pub buffered: Vec<u8>,
    /// Where the rest comes from.
    pub src: &'a mut dyn Read,
    /// `src` is at its end.
    pub eof: bool,
    /// Lines returned so far.
    pub line: u64,
    /// Decoded bytes read so far (`buffered` included).
    pub decoded: u64,
    /// Path for messages.
    pub path: &'a Path,
    /// Compression of the container, for read errors.
    pub compression: Compression,
}

/// Turns a read error into the right error for the container.
pub(crate) fn read_error(path: &Path, compression: Compression, offset: u64, e: io::Error) -> Error {
    match compression {
        Compression::Gzip if e.kind() != io::ErrorKind::PermissionDenied => {
            Error::Gzip { path: path.to_path_buf(), offset, why: e.to_string() }
        }
        Compression::Zip if e.kind() != io::ErrorKind::PermissionDenied => {
            Error::Zip { path: path.to_path_buf(), why: format!("after {offset} decompressed bytes: {e}") }
        }
        _ => Error::io(path, "read", e),
    }
}

/// The field boundaries of one CSV line, kept as ranges so one allocation is
/// reused for every line. Fields in double quotes may hold commas (the quotes
/// are dropped); our datasets never need `""` escapes, which are kept as is.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    ranges: Vec<(usize, usize)>,
}

impl Fields {
    /// Splits `line` on commas.
    #[inline]
    pub(crate) fn split(&mut self, line: &[u8]) {
        self.ranges.clear();
        if memchr::memchr(b'"', line).is_none() {
            let mut start = 0;
            for p in memchr::memchr_iter(b',', line) {
                self.ranges.push((start, p));
                start = p + 1;
            }
            self.ranges.push((start, line.len()));
            return;
        }
        let mut i = 0;
        loop {
            if line.get(i) == Some(&b'"') {
                let start = i + 1;
                let mut j = start;
                while j < line.len() && !(line[j] == b'"' && line.get(j + 1) != Some(&b'"')) {
                    j += if line[j] == b'"' { 2 } else { 1 };
                }
                let j = j.min(line.len());
                self.ranges.push((start, j));
                i = j + 1;
                match memchr::memchr(b',', &line[i.min(line.len())..]) {
                    Some(p) => i += p + 1,
                    None => return,
                }
            } else {
                match memchr::memchr(b',', &line[i..]) {
                    Some(p) => {
                        self.ranges.push((i, i + p));
                        i += p + 1;
                    }
                    None => {
                        self.ranges.push((i, line.len()));
                        return;
                    }
                }
            }
        }
    }

    /// Number of fields.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Field `i` of `line` (empty if absent).
    #[inline]
    pub(crate) fn get<'l>(&self, line: &'l [u8], i: usize) -> &'l [u8] {
        match self.ranges.get(i) {
            Some(&(a, b)) => &line[a..b],
            None => b"",
        }
    }

    /// All fields of `line`, owned (for header rows).
    pub(crate) fn owned(&self, line: &[u8]) -> Vec<Vec<u8>> {
        self.ranges.iter().map(|&(a, b)| line[a..b].to_vec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Vec<Vec<u8>> {
        let mut f = Fields::default();
        f.split(line);
        f.owned(line)
    }

    #[test]
    fn splits_plain_and_quoted() {
        assert_eq!(split(b"a,b,,c"), vec![b"a".to_vec(), b"b".to_vec(), b"".to_vec(), b"c".to_vec()]);
        assert_eq!(split(b"\"x,y\",2,\"z\""), vec![b"x,y".to_vec(), b"2".to_vec(), b"z".to_vec()]);
        assert_eq!(split(b""), vec![b"".to_vec()]);
    }

    #[test]
    fn lines_cross_buffer_boundaries() {
        let text: Vec<u8> = (0..300_000).flat_map(|i| format!("{i},x\r\n").into_bytes()).collect();
        let mut r = &text[..];
        let mut m = Member { path: "t".into(), name: "t".into(), reader: &mut r, compression: Compression::None };
        let mut lines = Lines::new(&mut m);
        let mut n = 0;
        while let Some((no, l)) = lines.next_line().unwrap() {
            assert_eq!(l, format!("{n},x").as_bytes());
            n += 1;
            assert_eq!(no, n);
        }
        assert_eq!(n, 300_000);
    }
}
