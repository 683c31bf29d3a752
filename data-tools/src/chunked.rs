//! Parallel CSV parsing in chunks, with the output order kept exactly.
//!
//! The decoded input is cut into chunks at line ends. The calling thread reads
//! (and for gzip, decompresses) chunks; worker threads split the lines of a
//! chunk into fields and parse them into a row buffer with a pure per-line
//! function; one applying thread takes the row buffers back in input order and
//! feeds them to the sink (exponents, checks, reorder buffer, tape writer),
//! which is sequential by nature. So the result is byte for byte the one of a
//! single thread, whatever the thread count or chunk size.
//!
//! Rows carry their line number relative to their chunk; the applying thread
//! adds the lines of the chunks before, so every message names the line of the
//! whole file. Memory is bounded: at most `2 × threads + 2` chunks (text and
//! rows) exist at once, and the reader waits for a free one.
//!
//! With one thread nothing is spawned: chunks are read, parsed and applied in turn.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::convert::Ctx;
use crate::input::{Compression, Fields, Lines};
use crate::{Error, Result};

/// Default chunk size (bytes of decoded text).
pub(crate) const DEFAULT_CHUNK: usize = 1 << 20;

/// One parsed line: its line number within the chunk (1-based), where its text
/// lies in the chunk, and what the parser made of it.
#[derive(Debug)]
pub(crate) struct Row<T> {
    /// Line number within the chunk (the first line of a chunk is 1).
    pub rel_line: u64,
    start: usize,
    end: usize,
    /// The parsed value.
    pub val: T,
}

/// The (venue, symbol) pairs of one chunk, numbered in order of appearance
/// runs: a row stores the index, so workers need no stream table.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    list: Vec<(Vec<u8>, Vec<u8>)>,
    len: usize,
}

impl Keys {
    /// The index of (a, b): the last pair if it is the same, else a new one.
    #[inline]
    pub(crate) fn id(&mut self, a: &[u8], b: &[u8]) -> u32 {
        if self.len > 0 {
            let (x, y) = &self.list[self.len - 1];
            if x == a && y == b {
                return (self.len - 1) as u32;
            }
        }
        self.push(a, b)
    }

    #[cold]
    fn push(&mut self, a: &[u8], b: &[u8]) -> u32 {
        if self.len == self.list.len() {
            self.list.push((Vec::new(), Vec::new()));
        }
        let (x, y) = &mut self.list[self.len];
        x.clear();
        x.extend_from_slice(a);
        y.clear();
        y.extend_from_slice(b);
        self.len += 1;
        (self.len - 1) as u32
    }

    /// The pair with index `i`.
    #[inline]
    pub(crate) fn get(&self, i: u32) -> (&[u8], &[u8]) {
        let (a, b) = &self.list[i as usize];
        (a, b)
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// A chunk: its text, and once parsed its rows, keys and line count.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    index: u64,
    text: Vec<u8>,
    len: usize,
    /// Lines in the chunk (blank ones included).
    lines: u64,
    rows: Vec<Row<T>>,
    /// The keys rows refer to.
    pub keys: Keys,
}

impl<T> Chunk<T> {
    fn new() -> Self {
        Chunk { index: 0, text: Vec::new(), len: 0, lines: 0, rows: Vec::new(), keys: Keys::default() }
    }

    /// A number no other chunk of this input has.
    #[inline]
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    /// The text of `row` (without its line end).
    #[inline]
    pub(crate) fn text(&self, row: &Row<T>) -> &[u8] {
        &self.text[row.start..row.end]
    }
}

/// How to parse: a pure function of one non-empty line (already split into
/// `f`), run on worker threads. Shared state is not allowed, only `&self`.
pub(crate) trait Parse: Sync {
    /// What a line becomes.
    type Out: Send;
    /// Parses `line`; `keys` numbers the (venue, symbol) pairs of the chunk.
    fn parse(&self, line: &[u8], f: &Fields, keys: &mut Keys) -> Self::Out;
}

/// Splits and parses every line of `chunk.text[..chunk.len]`.
fn parse_chunk<P: Parse>(p: &P, c: &mut Chunk<P::Out>, f: &mut Fields) {
    c.rows.clear();
    c.keys.clear();
    let text = &c.text[..c.len];
    let mut start = 0;
    let mut rel = 0u64;
    while start < text.len() {
        let nl = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |p| start + p);
        let mut end = nl;
        if end > start && text[end - 1] == b'\r' {
            end -= 1;
        }
        rel += 1;
        if end > start {
            let line = &text[start..end];
            f.split(line);
            let val = p.parse(line, f, &mut c.keys);
            c.rows.push(Row { rel_line: rel, start, end, val });
        }
        start = nl + 1;
    }
    c.lines = rel;
}

/// Reads decoded text in chunks that end at a line end (the last one at the end of input).
struct Reader<'a> {
    src: &'a mut dyn Read,
    /// Bytes read but not yet handed out from `carry_pos` on (a partial
    /// line, or at the start what the header reader had buffered).
    carry: Vec<u8>,
    carry_pos: usize,
    eof: bool,
    chunk: usize,
    decoded: u64,
    path: &'a Path,
    compression: Compression,
    next_index: u64,
}

impl Reader<'_> {
    /// Fills `c` with the next chunk; `false` at the end of input.
    fn next(&mut self, c: &mut Chunk<impl Sized>) -> Result<bool> {
        c.index = self.next_index;
        // What is carried may be longer than a chunk (the header reader's
        // buffer): it is handed out in pieces of about a chunk, at line ends.
        let pending = &self.carry[self.carry_pos..];
        if pending.len() > self.chunk {
            let cut = memchr::memrchr(b'\n', &pending[..self.chunk])
                .map(|p| p + 1)
                .or_else(|| memchr::memchr(b'\n', &pending[self.chunk..]).map(|p| self.chunk + p + 1));
            if let Some(cut) = cut {
                if c.text.len() < cut {
                    c.text.resize(cut, 0);
                }
                c.text[..cut].copy_from_slice(&pending[..cut]);
                self.carry_pos += cut;
                c.len = cut;
                self.next_index += 1;
                return Ok(true);
            }
        }
        // `c.text` keeps its length (no zeroing per read); `filled` bytes of it are data.
        let carried = pending.len();
        let size = self.chunk.max(carried + 1);
        if c.text.len() < size {
            c.text.resize(size, 0);
        }
        c.text[..carried].copy_from_slice(&self.carry[self.carry_pos..]);
        self.carry.clear();
        self.carry_pos = 0;
        let mut filled = carried;
        loop {
            while !self.eof && filled < c.text.len() {
                match self.src.read(&mut c.text[filled..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => {
                        filled += n;
                        self.decoded += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(crate::input::read_error(self.path, self.compression, self.decoded, e)),
                }
            }
            if self.eof {
                break;
            }
            // Cut after the last line end; a chunk without one grows.
            match memchr::memrchr(b'\n', &c.text[..filled]) {
                Some(p) => {
                    self.carry.extend_from_slice(&c.text[p + 1..filled]);
                    filled = p + 1;
                    break;
                }
                None => {
                    let n = c.text.len() * 2;
                    c.text.resize(n, 0);
                }
            }
        }
        c.len = filled;
        self.next_index += 1;
        Ok(filled > 0)
    }
}

/// Parses the rest of `lines` with `parser` on `threads` threads (in chunks
/// of `chunk` bytes, 0: the default) and calls `apply` for every row in input
/// order with the row's line number in the whole input. `first` is a line
/// already taken from `lines` (number, text) that is data, not a header: it
/// is parsed and applied first. Returns the decoded bytes read, the header's included.
pub(crate) fn run<P, A>(
    ctx: &mut Ctx<'_>,
    lines: Lines<'_>,
    first: Option<(u64, Vec<u8>)>,
    parser: &P,
    mut apply: A,
    threads: usize,
    chunk: usize,
) -> Result<u64>
where
    P: Parse,
    A: FnMut(&mut Ctx<'_>, &Chunk<P::Out>, &Row<P::Out>, u64) -> Result<()> + Send,
{
    let rest = lines.into_rest();
    let mut reader = Reader {
        src: rest.src,
        carry: rest.buffered,
        carry_pos: 0,
        eof: rest.eof,
        chunk: if chunk == 0 { DEFAULT_CHUNK } else { chunk },
        decoded: rest.decoded,
        path: rest.path,
        compression: rest.compression,
        next_index: 0,
    };
    let mut base = rest.line;
    // Applies a parsed chunk in order.
    let mut apply_chunk = |ctx: &mut Ctx<'_>, c: &Chunk<P::Out>, base: &mut u64| -> Result<()> {
        for row in &c.rows {
            ctx.stats.rows += 1;
            apply(ctx, c, row, *base + row.rel_line)?;
        }
        *base += c.lines;
        Ok(())
    };

    if let Some((n, text)) = first {
        let mut c = Chunk::new();
        c.len = text.len();
        c.text = text;
        c.index = u64::MAX;
        parse_chunk(parser, &mut c, &mut Fields::default());
        let mut at = n - 1;
        apply_chunk(ctx, &c, &mut at)?;
    }
    if threads <= 1 {
        let mut c = Chunk::new();
        let mut f = Fields::default();
        while reader.next(&mut c)? {
            parse_chunk(parser, &mut c, &mut f);
            apply_chunk(ctx, &c, &mut base)?;
        }
        return Ok(reader.decoded);
    }

    let pool = 2 * threads + 2;
    let (free_tx, free_rx) = crossbeam::channel::unbounded::<Chunk<P::Out>>();
    let (job_tx, job_rx) = crossbeam::channel::unbounded::<Chunk<P::Out>>();
    let (done_tx, done_rx) = crossbeam::channel::unbounded::<Chunk<P::Out>>();
    let stop = AtomicBool::new(false);
    let mut read_result: Result<()> = Ok(());
    let applied = std::thread::scope(|s| {
        for _ in 0..threads {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            s.spawn(move || {
                let mut f = Fields::default();
                for mut c in job_rx {
                    parse_chunk(parser, &mut c, &mut f);
                    if done_tx.send(c).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, done_tx));
        let stop = &stop;
        let applier = s.spawn(move || -> Result<()> {
            // Chunks come back in any order: hold the early ones until their turn.
            let mut waiting = std::collections::BTreeMap::new();
            let mut next = 0u64;
            let result = (|| {
                for c in &done_rx {
                    waiting.insert(c.index, c);
                    while let Some(c) = waiting.remove(&next) {
                        apply_chunk(ctx, &c, &mut base)?;
                        next += 1;
                        let _ = free_tx.send(c);
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            // Dropping free_tx (with the closure) wakes a reader waiting for a free chunk.
            drop(free_tx);
            result
        });
        let mut made = 0;
        read_result = (|| {
            while !stop.load(Ordering::Relaxed) {
                let mut c = if made < pool {
                    made += 1;
                    Chunk::new()
                } else {
                    match free_rx.recv() {
                        Ok(c) => c,
                        Err(_) => break,
                    }
                };
                if !reader.next(&mut c)? {
                    break;
                }
                if job_tx.send(c).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(job_tx);
        applier.join().unwrap_or_else(|_| Err(Error::Usage("a conversion thread panicked".into())))
    });
    // A row error comes before a read error: it lies before the point where reading failed.
    applied?;
    read_result?;
    Ok(reader.decoded)
}

/// Parse threads for one input: `threads` if given, else the cores shared
/// among `jobs` inputs converted at once.
pub(crate) fn threads_for(threads: usize, jobs: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores / jobs.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Member;

    /// Every chunk ends at a line end and is about the chunk size, also while
    /// the header reader's buffer is handed out; together they are the input.
    #[test]
    fn chunks_cut_at_line_ends_and_cover_the_input() {
        let text: Vec<u8> = (0..20_000).flat_map(|i| format!("{i},{}\n", "x".repeat(i % 37)).into_bytes()).collect();
        for chunk in [1, 7, 100, 4096, 1 << 20] {
            let mut src = &text[..];
            let mut m = Member { path: "t".into(), name: "t".into(), reader: &mut src, compression: Compression::None };
            let mut lines = Lines::new(&mut m);
            let (_, first) = lines.next_line().unwrap().unwrap();
            assert_eq!(first, b"0,");
            let rest = lines.into_rest();
            let mut r = Reader {
                src: rest.src,
                carry: rest.buffered,
                carry_pos: 0,
                eof: rest.eof,
                chunk,
                decoded: rest.decoded,
                path: rest.path,
                compression: rest.compression,
                next_index: 0,
            };
            let mut c = Chunk::<()>::new();
            let mut all = b"0,\n".to_vec();
            let mut n = 0;
            while r.next(&mut c).unwrap() {
                let t = &c.text[..c.len];
                assert_eq!(t.last(), Some(&b'\n'), "chunk {n} of {chunk} bytes ends mid-line");
                // No longer than the chunk size and one more line (lines are at most 46 bytes).
                assert!(t.len() <= chunk + 46, "chunk {n}: {} bytes at chunk size {chunk}", t.len());
                assert_eq!(c.index, n);
                all.extend_from_slice(t);
                n += 1;
            }
            assert_eq!(all, text, "chunk size {chunk}");
            assert_eq!(r.decoded, text.len() as u64);
            if chunk < 4096 {
                assert!(n as usize > text.len() / (chunk + 46), "only {n} chunks at chunk size {chunk}");
            }
        }
    }
}
