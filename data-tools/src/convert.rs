//! The conversion driver: options, per-input context, parallel inputs, and the
//! final merge of each stream's segments into one tape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use ticktape_tape::{AtomicFile, Bar, Fill, Funding, Level, Quote, RecordKind, Series, Tape, TapeWriter, Trade};

use crate::input::{self, Compression, Member};
use crate::report::{ConvertReport, InputReport, OffsetSampler, TapeReport};
use crate::sink::{Exps, FixedExps, Late, Misfit, Rec, Segment, Sink, SinkConfig, StreamId, StreamOutput, meta_for};
use crate::{Error, Result};

/// The kinds of raw data `convert` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum SourceKind {
    /// Binance websocket captures: lines `<local_ts> <json>`.
    BinanceWs,
    /// data.binance.vision archives (.zip or .csv).
    BinanceVision,
    /// Tardis.dev CSV (.csv or .csv.gz).
    Tardis,
    /// Hyperliquid API JSON and websocket captures.
    Hyperliquid,
    /// hftbacktest `.npy` / `.npz` event arrays.
    Hftbacktest,
    /// Factor series CSV (`t,value`).
    SeriesCsv,
    /// Plain OHLCV CSV (`date,symbol,open,high,low,close,volume`) to bar tapes.
    OhlcvCsv,
}

impl SourceKind {
    /// Every source, in `--list` order.
    pub const ALL: [SourceKind; 7] = [
        SourceKind::BinanceWs,
        SourceKind::BinanceVision,
        SourceKind::Tardis,
        SourceKind::Hyperliquid,
        SourceKind::Hftbacktest,
        SourceKind::SeriesCsv,
        SourceKind::OhlcvCsv,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::BinanceWs => "binance-ws",
            SourceKind::BinanceVision => "binance-vision",
            SourceKind::Tardis => "tardis",
            SourceKind::Hyperliquid => "hyperliquid",
            SourceKind::Hftbacktest => "hftbacktest",
            SourceKind::SeriesCsv => "series-csv",
            SourceKind::OhlcvCsv => "ohlcv-csv",
        }
    }

    /// The datasets this source knows (for `--dataset` and `--list`).
    pub fn datasets(self) -> &'static [&'static str] {
        match self {
            SourceKind::BinanceWs => crate::binance_ws::DATASETS,
            SourceKind::BinanceVision => crate::binance_vision::DATASETS,
            SourceKind::Tardis => crate::tardis::DATASETS,
            SourceKind::Hyperliquid => crate::hyperliquid::DATASETS,
            SourceKind::Hftbacktest => &["events"],
            SourceKind::SeriesCsv => &["series"],
            SourceKind::OhlcvCsv => &["ohlcv"],
        }
    }

    /// One-line description with an example command.
    pub fn example(self) -> &'static str {
        match self {
            SourceKind::BinanceWs => {
                "Binance websocket capture, `<local_ts> <json>` lines (.gz ok): depthUpdate+REST snapshot → l2, trade/aggTrade → trades, bookTicker → quotes, markPrice → funding\n    ticktape convert binance-ws usdm_btcusdt_20240808.gz -o tapes/"
            }
            SourceKind::BinanceVision => {
                "data.binance.vision .zip (or its .csv): trades, aggTrades, bookTicker, klines (mark/index/premium), fundingRate, metrics, T_DEPTH depth\n    ticktape convert binance-vision --checksum BTCUSDT-aggTrades-2024-08-08.zip -o tapes/"
            }
            SourceKind::Tardis => {
                "Tardis.dev CSV (.csv.gz ok): trades, incremental_book_L2, book_snapshot_25/5, quotes, derivative_ticker\n    ticktape convert tardis binance-futures_trades_2020-02-01_BTCUSDT.csv.gz -o tapes/"
            }
            SourceKind::Hyperliquid => {
                "Hyperliquid JSON: userFills (http/ws), userFunding, fundingHistory, candleSnapshot, l2Book; `<local_ts> <json>` l2Book/trades captures\n    ticktape convert hyperliquid userFills_0xb7b6….json --account 0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2 -o tapes/"
            }
            SourceKind::Hftbacktest => {
                "hftbacktest event arrays (.npz / .npy, 64-byte rows); f64 prices land on a decimal grid\n    ticktape convert hftbacktest btcusdt_20240808.npz --symbol BTCUSDT --venue binance-futures --price-decimals 1 --qty-decimals 3 -o tapes/"
            }
            SourceKind::SeriesCsv => {
                "factor series CSV: a time column (t/ts/time/timestamp/date: epoch s/ms/µs/ns or ISO 8601), a value column, optional symbol and id columns\n    ticktape convert series-csv momentum.csv --value-column value -o tapes/"
            }
            SourceKind::OhlcvCsv => {
                "plain OHLCV CSV: date|time (bar open), optional symbol, open, high, low, close, volume → VENUE.SYMBOL.bars-INTERVAL.tape per symbol (interval inferred)\n    ticktape convert ohlcv-csv hyperliquid_ccxt_top10_perps_daily_ohlcv.csv --venue hyperliquid -o tapes/"
            }
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to convert.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// Output folder (created if missing).
    pub out_dir: PathBuf,
    /// Dataset override (otherwise detected from file name and columns).
    pub dataset: Option<String>,
    /// Skip malformed rows (counted) instead of stopping.
    pub skip_bad: bool,
    /// Verify `.zip` inputs against their `.zip.CHECKSUM`.
    pub checksum: bool,
    /// Fixed decimals (`None` each: from the data).
    pub decimals: FixedExps,
    /// One set of tapes per input (in `OUT/<input stem>/`) instead of one per (kind, symbol).
    pub per_input: bool,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Threads parsing one CSV input in chunks (0: the cores shared among the
    /// inputs converted at once). The output does not depend on it.
    pub threads: usize,
    /// Chunk size for parallel CSV parsing, bytes (0: 1 MiB). For tests.
    pub chunk_bytes: usize,
    /// Reorder tolerance in ms (`None`: the dataset's default, 5000 ms for streams,
    /// unlimited for small daily datasets that are known to be unsorted).
    pub tolerance_ms: Option<i64>,
    /// Most records a reorder buffer holds.
    pub max_buffered: usize,
    /// Venue override.
    pub venue: Option<String>,
    /// Symbol override (sources whose files do not name one).
    pub symbol: Option<String>,
    /// Account address for fill files (Hyperliquid).
    pub account: Option<String>,
    /// Time column for series CSV.
    pub time_column: Option<String>,
    /// Value column(s) for series CSV.
    pub value_columns: Vec<String>,
    /// Series CSV: decimals values with more are rounded to (`None`: [`DEFAULT_SERIES_DECIMALS`]).
    pub series_decimals: Option<u8>,
    /// Where to count the raw input bytes read so far (compressed bytes of
    /// compressed inputs), for a progress display that polls it: the
    /// `ticktape` binary draws its bar or plain lines from it. `None`: not
    /// counted for anyone.
    pub progress: Option<Arc<AtomicU64>>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            out_dir: PathBuf::from("."),
            dataset: None,
            skip_bad: false,
            checksum: false,
            decimals: FixedExps::default(),
            per_input: false,
            jobs: 0,
            threads: 0,
            chunk_bytes: 0,
            tolerance_ms: None,
            max_buffered: 1 << 22,
            venue: None,
            symbol: None,
            account: None,
            time_column: None,
            value_columns: Vec::new(),
            series_decimals: None,
            progress: None,
        }
    }
}

/// Decimals a series CSV value is rounded to by default (a float printed
/// with 17 significant digits needs more than a tape can hold).
pub const DEFAULT_SERIES_DECIMALS: u8 = 12;

/// Default reorder tolerance for streaming datasets.
pub const DEFAULT_TOLERANCE_MS: i64 = 5_000;

/// The state of one input's conversion, handed to a source module.
pub(crate) struct Ctx<'a> {
    pub opts: &'a ConvertOptions,
    /// Path of the member being read, for messages.
    pub path: PathBuf,
    pub sink: Sink,
    pub stats: InputReport,
    pub offsets: OffsetSampler,
    /// Account table (id → address) for fill tapes.
    pub accounts: BTreeMap<u64, String>,
    /// Recent trade ids per stream, to find repeated rows.
    pub recent: Vec<crate::valid::RecentIds>,
    /// Threads parsing this input's CSV chunks.
    pub threads: usize,
}

impl Ctx<'_> {
    /// A malformed row: an error, or a counted skip with `--skip-bad`.
    #[cold]
    pub(crate) fn bad(&mut self, line: u64, text: &[u8], why: &str) -> Result<()> {
        if !self.opts.skip_bad {
            return Err(Error::bad_row(&self.path, line, text, why));
        }
        self.skip(line, why);
        Ok(())
    }

    fn skip(&mut self, line: u64, why: &str) {
        match self.stats.skipped.get_mut(why) {
            Some(n) => *n += 1,
            None => {
                self.stats.skipped.insert(why.to_owned(), 1);
            }
        }
        if self.stats.first_skipped.is_none() {
            self.stats.first_skipped = Some((line, why.to_owned()));
        }
    }

    /// A value that does not fit the tape's decimals: an error, or a skip.
    #[cold]
    pub(crate) fn misfit(&mut self, m: Misfit, line: u64, texts: &[&[u8]]) -> Result<()> {
        let text = texts.get(m.index).copied().unwrap_or(b"");
        if !self.opts.skip_bad {
            return Err(m.error(&self.path, line, text));
        }
        self.skip(line, "value does not fit the tape's decimals");
        Ok(())
    }

    /// A row deliberately not converted.
    pub(crate) fn filtered(&mut self, why: &'static str) {
        match self.stats.filtered.get_mut(why) {
            Some(n) => *n += 1,
            None => {
                self.stats.filtered.insert(why.to_owned(), 1);
            }
        }
    }

    /// A record that parsed but cannot be true: an error, or a counted skip
    /// (under `reason`) with `--skip-bad`.
    #[cold]
    pub(crate) fn reject(&mut self, line: u64, reason: &'static str, detail: impl FnOnce() -> String) -> Result<()> {
        if !self.opts.skip_bad {
            return Err(Error::BadRecord { path: self.path.clone(), line, why: detail() });
        }
        self.skip(line, reason);
        Ok(())
    }

    /// Checks a record (plausible date, possible values, no repeated trade
    /// id); `Ok(false)` if it was rejected and skipped.
    #[inline]
    pub(crate) fn check<R: Rec>(&mut self, id: StreamId, r: &R, line: u64) -> Result<bool> {
        let ts = r.stamp().exchange;
        if !(crate::valid::MIN_TS..=crate::valid::MAX_TS).contains(&ts) {
            self.reject(line, "exchange time outside 2009..2100 (wrong unit?)", || {
                format!(
                    "exchange time {ts} ns is {} UTC, outside {}: the timestamp unit is probably wrong (a µs column holding ms lands in January 1970)",
                    crate::time::date_text(ts),
                    crate::valid::RANGE_TEXT
                )
            })?;
            return Ok(false);
        }
        let local = r.stamp().local;
        if local != ts && !(crate::valid::MIN_TS..=crate::valid::MAX_TS).contains(&local) {
            self.reject(line, "local time outside 2009..2100 (wrong unit?)", || {
                format!(
                    "local (receive) time {local} ns is {} UTC, outside {}: a replay refuses it; the receive-time unit is probably wrong",
                    crate::time::date_text(local),
                    crate::valid::RANGE_TEXT
                )
            })?;
            return Ok(false);
        }
        if let Some(why) = r.impossible() {
            self.reject(line, why, || why.to_owned())?;
            return Ok(false);
        }
        let tid = r.trade_id();
        if tid != 0 {
            if self.recent.len() <= id {
                self.recent.resize_with(id + 1, Default::default);
            }
            if self.recent[id].repeated(tid) {
                self.reject(line, "duplicate trade id", || {
                    format!("trade id {tid} repeats an earlier trade of this stream (a duplicated row)")
                })?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Stores a record, handling one that is impossible or later than the tolerance.
    #[inline]
    pub(crate) fn push<R: Rec>(&mut self, id: StreamId, r: R, line: u64) -> Result<()> {
        if !self.check(id, &r, line)? {
            return Ok(());
        }
        match self.sink.push(id, r)? {
            Ok(()) => {
                self.stats.records += 1;
                Ok(())
            }
            Err(late) => self.late(late, line),
        }
    }

    #[cold]
    fn late(&mut self, late: Late, line: u64) -> Result<()> {
        self.stats.out_of_order += 1;
        if self.stats.first_out_of_order.is_none() {
            self.stats.first_out_of_order = Some(line);
        }
        if !self.opts.skip_bad {
            let tol = self.tolerance_ns();
            return Err(Error::OutOfOrder {
                path: self.path.clone(),
                line,
                ts: late.ts,
                latest: late.latest,
                behind_ms: (late.latest - late.ts) / 1_000_000,
                tolerance_ms: tol / 1_000_000,
                count: self.stats.out_of_order,
            });
        }
        self.skip(line, "out of order beyond the tolerance");
        Ok(())
    }

    fn tolerance_ns(&self) -> i64 {
        self.opts.tolerance_ms.unwrap_or(DEFAULT_TOLERANCE_MS).saturating_mul(1_000_000)
    }

    /// Records a local − exchange offset for the median in the summary.
    #[inline]
    pub(crate) fn offset(&mut self, local: i64, exchange: i64) {
        self.offsets.add(local - exchange);
    }

    /// Sets the reorder tolerance for datasets known to be unsorted, unless the user chose one.
    pub(crate) fn sort_everything(&mut self) {
        if self.opts.tolerance_ms.is_none() {
            self.sink.set_tolerance(i64::MAX, usize::MAX);
        }
    }
}

/// Converts `inputs` of `source` into tapes in `opts.out_dir`.
///
/// Inputs are converted in parallel (`opts.jobs` threads). Nothing appears
/// under a final tape name unless every input converted; on error the partial
/// segment files are removed.
pub fn convert(source: SourceKind, inputs: &[PathBuf], opts: &ConvertOptions) -> Result<ConvertReport> {
    let start = Instant::now();
    let inputs: Vec<PathBuf> = inputs.iter().filter(|p| !p.to_string_lossy().ends_with(".CHECKSUM")).cloned().collect();
    if inputs.is_empty() {
        return Err(Error::Usage("no input files given (a .CHECKSUM file is not an input)".into()));
    }
    if let Some(ds) = &opts.dataset
        && !source.datasets().contains(&ds.as_str())
    {
        return Err(Error::UnknownDataset {
            path: inputs[0].clone(),
            why: format!("{source} has no dataset {ds:?} (it has: {})", source.datasets().join(", ")),
        });
    }
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| Error::io(&opts.out_dir, "create output folder", e))?;
    let raw = opts.progress.clone().unwrap_or_default();
    let jobs =
        if opts.jobs == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { opts.jobs }
            .clamp(1, inputs.len());
    let threads = crate::chunked::threads_for(opts.threads, jobs);

    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    type Done = (InputReport, Vec<StreamOutput>, BTreeMap<u64, String>);
    let results: Mutex<Vec<Option<Result<Done>>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());

    crossbeam::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|_| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= inputs.len() {
                            break;
                        }
                        let r = if failed.load(Ordering::Relaxed) {
                            Err(Error::Cancelled)
                        } else {
                            convert_input(source, i, &inputs[i], opts, &raw, threads)
                        };
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
    })
    .map_err(|_| Error::Usage("a conversion thread panicked".into()))?;

    let mut reports = Vec::new();
    let mut outputs = Vec::new();
    let mut accounts = BTreeMap::new();
    let mut first_err = None;
    for (i, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().enumerate() {
        match r {
            Some(Ok((rep, outs, acc))) => {
                reports.push(rep);
                outputs.extend(outs.into_iter().map(|o| (i, o)));
                accounts.extend(acc);
            }
            Some(Err(Error::Cancelled)) | None => {}
            Some(Err(e)) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    // Segment files of every stream are removed when `parts` drops, whatever happens.
    let parts = Parts(outputs.iter().flat_map(|(_, o)| o.segments.iter().map(|s| s.path.clone())).collect());
    if let Some(e) = first_err {
        drop(parts);
        return Err(e);
    }
    let (tapes, dropped) = finalize(&inputs, outputs, opts)?;
    drop(parts);
    for (i, n) in dropped {
        if let Some(rep) = reports.iter_mut().find(|r| r.path == inputs[i]) {
            *rep.skipped.entry(CROSS_FILE_DUPLICATE.to_owned()).or_default() += n;
        }
    }
    let mut side_files = Vec::new();
    if !accounts.is_empty() {
        side_files.push(write_accounts(&opts.out_dir, "hyperliquid", &accounts)?);
    }
    Ok(ConvertReport { inputs: reports, tapes, side_files, elapsed: start.elapsed() })
}

/// Writes `VENUE.accounts.csv` (`account_id,address`) in `dir`; returns its path.
pub(crate) fn write_accounts(dir: &Path, venue: &str, accounts: &BTreeMap<u64, String>) -> Result<PathBuf> {
    let path = dir.join(format!("{venue}.accounts.csv"));
    let mut f = AtomicFile::create(&path)?;
    f.write_all(b"account_id,address\n")?;
    for (id, addr) in accounts {
        f.write_all(format!("0x{id:016x},{addr}\n").as_bytes())?;
    }
    f.commit()?;
    Ok(path)
}

/// Files removed on drop.
pub(crate) struct Parts(pub(crate) Vec<PathBuf>);

impl Drop for Parts {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn convert_input(
    source: SourceKind,
    index: usize,
    path: &Path,
    opts: &ConvertOptions,
    raw: &Arc<AtomicU64>,
    threads: usize,
) -> Result<(InputReport, Vec<StreamOutput>, BTreeMap<u64, String>)> {
    let compression = input::detect(path)?;
    if opts.checksum && compression == Compression::Zip {
        input::verify_checksum(path)?;
    }
    let bytes_in = std::fs::metadata(path).map_err(|e| Error::io(path, "stat", e))?.len();
    let cfg = SinkConfig {
        dir: opts.out_dir.clone(),
        tag: format!("ticktape-convert.{index}"),
        tolerance_ns: opts.tolerance_ms.unwrap_or(DEFAULT_TOLERANCE_MS).saturating_mul(1_000_000),
        max_buffered: opts.max_buffered,
        fixed: opts.decimals,
        grid_ticks: false,
    };
    let mut ctx = Ctx {
        opts,
        path: path.to_path_buf(),
        sink: Sink::new(cfg),
        stats: InputReport { path: path.to_path_buf(), bytes_in, ..InputReport::default() },
        offsets: OffsetSampler::default(),
        accounts: BTreeMap::new(),
        recent: Vec::new(),
        threads,
    };
    let mut decoded = 0u64;
    let result = input::for_each_member(path, raw, |mut m: Member<'_>| {
        ctx.path = m.path.clone();
        let n = match source {
            SourceKind::BinanceWs => crate::binance_ws::convert(&mut ctx, &mut m)?,
            SourceKind::BinanceVision => crate::binance_vision::convert(&mut ctx, &mut m)?,
            SourceKind::Tardis => crate::tardis::convert(&mut ctx, &mut m)?,
            SourceKind::Hyperliquid => crate::hyperliquid::convert(&mut ctx, &mut m)?,
            SourceKind::Hftbacktest => crate::hftbacktest::convert(&mut ctx, &mut m)?,
            SourceKind::SeriesCsv => crate::factor_csv::convert(&mut ctx, &mut m)?,
            SourceKind::OhlcvCsv => crate::ohlcv_csv::convert(&mut ctx, &mut m)?,
        };
        decoded += n;
        Ok(())
    });
    if let Err(e) = result {
        // Damaged compressed data often shows first as garbled rows: if the
        // container itself is corrupt, say so rather than blame a row.
        if compression != Compression::None
            && matches!(
                e,
                Error::BadRow { .. }
                    | Error::BadRecord { .. }
                    | Error::TimeUnit { .. }
                    | Error::DoesNotFit { .. }
                    | Error::OutOfOrder { .. }
                    | Error::Format { .. }
            )
            && let Err(container) = input::check_container(path)
        {
            return Err(container);
        }
        return Err(e);
    }
    ctx.stats.bytes_decoded = decoded;
    ctx.stats.median_local_offset_ns = ctx.offsets.median();
    let outs = ctx.sink.finish()?;
    Ok((ctx.stats, outs, ctx.accounts))
}

/// Why `--skip-bad` dropped a trade found in two input files of one stream.
const CROSS_FILE_DUPLICATE: &str = "duplicate trade id across input files";

/// Merges the segments of every output tape and moves them into place;
/// also returns, per input index, how many trades it repeated from an earlier
/// input of the same stream (dropped with `--skip-bad`, else an error).
pub(crate) fn finalize(
    inputs: &[PathBuf],
    outputs: Vec<(usize, StreamOutput)>,
    opts: &ConvertOptions,
) -> Result<(Vec<TapeReport>, BTreeMap<usize, u64>)> {
    // Group by destination; BTreeMap keeps the order deterministic.
    let mut groups: BTreeMap<PathBuf, Vec<(usize, StreamOutput)>> = BTreeMap::new();
    for (i, o) in outputs {
        if o.segments.is_empty() {
            continue;
        }
        let name = o.key.file_name();
        let dest = if opts.per_input {
            let stem = inputs[i].file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let stem = stem.split('.').next().unwrap_or_default().to_owned();
            opts.out_dir.join(stem).join(name)
        } else {
            opts.out_dir.join(name)
        };
        groups.entry(dest).or_default().push((i, o));
    }
    // Tapes of one instrument (same folder, venue and symbol) share price and
    // quantity exponents, so they replay together (a replay refuses tapes of
    // one instrument whose units differ): each takes the finest among them.
    let prices = |k: RecordKind| {
        matches!(k, RecordKind::Trade | RecordKind::Level | RecordKind::Quote | RecordKind::Funding | RecordKind::Bar)
    };
    let qtys = |k: RecordKind| matches!(k, RecordKind::Trade | RecordKind::Level | RecordKind::Quote | RecordKind::Bar);
    let mut shared: BTreeMap<(PathBuf, String, String), Exps> = BTreeMap::new();
    for (dest, group) in &groups {
        let key = &group[0].1.key;
        let e = shared.entry((dest.with_file_name(""), key.venue.clone(), key.symbol.clone())).or_default();
        for seg in group.iter().flat_map(|(_, o)| &o.segments) {
            if prices(key.kind) {
                e.price = e.price.max(seg.exps.price);
            }
            if qtys(key.kind) {
                e.qty = e.qty.max(seg.exps.qty);
            }
        }
    }
    let mut reports = Vec::new();
    let mut dropped: BTreeMap<usize, u64> = BTreeMap::new();
    for (dest, mut group) in groups {
        group.sort_by_key(|(i, _)| *i);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create output folder", e))?;
        }
        let key = group[0].1.key.clone();
        let has_local_ts = group.iter().all(|(_, o)| o.has_local_ts);
        let grid_ticks = group.iter().all(|(_, o)| o.grid_ticks);
        let segments: Vec<Segment> = group.iter().flat_map(|(_, o)| o.segments.iter().cloned()).collect();
        // The input each segment came from (to name it in a duplicate error).
        let seg_input: Vec<usize> = group.iter().flat_map(|(i, o)| o.segments.iter().map(move |_| *i)).collect();
        let dup = Dups { inputs, seg_input: &seg_input, skip_bad: opts.skip_bad, what: &key };
        let mut exps = segments.iter().fold(Exps::default(), |a, s| Exps {
            price: a.price.max(s.exps.price),
            qty: a.qty.max(s.exps.qty),
            value: a.value.max(s.exps.value),
        });
        let inst = shared[&(dest.with_file_name(""), key.venue.clone(), key.symbol.clone())];
        if prices(key.kind) {
            exps.price = exps.price.max(inst.price);
        }
        if qtys(key.kind) {
            exps.qty = exps.qty.max(inst.qty);
        }
        let same_meta = segments.len() == 1
            && segments[0].exps == exps
            && group[0].1.has_local_ts == has_local_ts
            && group[0].1.grid_ticks == grid_ticks;
        if same_meta {
            std::fs::rename(&segments[0].path, &dest).map_err(|e| Error::io(&dest, "rename into place", e))?;
        } else {
            let meta = meta_for(&key, exps, has_local_ts, grid_ticks);
            let d = match key.kind {
                RecordKind::Trade => merge::<Trade>(&segments, exps, &dest, &meta, &dup)?,
                RecordKind::Level => merge::<Level>(&segments, exps, &dest, &meta, &dup)?,
                RecordKind::Quote => merge::<Quote>(&segments, exps, &dest, &meta, &dup)?,
                RecordKind::Funding => merge::<Funding>(&segments, exps, &dest, &meta, &dup)?,
                RecordKind::Bar => merge::<Bar>(&segments, exps, &dest, &meta, &dup)?,
                RecordKind::Series => merge::<Series>(&segments, exps, &dest, &meta, &dup)?,
                RecordKind::Fill => merge::<Fill>(&segments, exps, &dest, &meta, &dup)?,
            };
            for (i, n) in d {
                *dropped.entry(i).or_default() += n;
            }
        }
        let tape = Tape::open(&dest)?;
        let h = tape.header();
        reports.push(TapeReport {
            path: dest.clone(),
            kind: key.kind,
            venue: key.venue.clone(),
            symbol: key.symbol.clone(),
            records: h.record_count,
            price_exponent: h.price_exponent,
            qty_exponent: h.qty_exponent,
            value_exponent: h.value_exponent,
            first_ts: h.first_ts,
            last_ts: h.last_ts,
            bytes: tape.file_len(),
            inputs: group.len(),
        });
    }
    Ok((reports, dropped))
}

/// How a merge treats a trade id seen in two input files of one stream.
struct Dups<'a> {
    inputs: &'a [PathBuf],
    /// Input index of each segment.
    seg_input: &'a [usize],
    skip_bad: bool,
    what: &'a crate::sink::StreamKey,
}

/// k-way merge of sorted segments by exchange time; ties go to the earlier
/// segment (input order, then segment order), so the result is a stable sort.
/// A trade whose id an earlier segment of another input already holds (the
/// same row in two daily files) is an error, or dropped and counted per input
/// with `--skip-bad` (the returned counts).
fn merge<R: Rec>(
    segments: &[Segment],
    exps: Exps,
    dest: &Path,
    meta: &ticktape_tape::TapeMeta,
    dup: &Dups<'_>,
) -> Result<BTreeMap<usize, u64>> {
    let mut recent = crate::valid::RecentIds::default();
    let mut dropped: BTreeMap<usize, u64> = BTreeMap::new();
    let several_inputs = dup.seg_input.windows(2).any(|w| w[0] != w[1]);
    let tapes: Vec<Tape> = segments.iter().map(|s| Tape::open(&s.path)).collect::<ticktape_tape::Result<_>>()?;
    let recs: Vec<&[R]> = tapes.iter().map(|t| t.records::<R>()).collect::<ticktape_tape::Result<_>>()?;
    let deltas: Vec<Exps> = segments
        .iter()
        .map(|s| Exps {
            price: exps.price - s.exps.price,
            qty: exps.qty - s.exps.qty,
            value: exps.value - s.exps.value,
        })
        .collect();
    let mut pos = vec![0usize; recs.len()];
    let mut w = TapeWriter::<R>::create(dest, meta)?;
    loop {
        let mut best: Option<(i64, usize)> = None;
        for (k, r) in recs.iter().enumerate() {
            if let Some(x) = r.get(pos[k]) {
                let ts = x.stamp().exchange;
                if best.is_none_or(|(b, _)| ts < b) {
                    best = Some((ts, k));
                }
            }
        }
        let Some((_, k)) = best else { break };
        let mut x = recs[k][pos[k]];
        pos[k] += 1;
        let tid = x.trade_id();
        if several_inputs && tid != 0 && recent.repeated(tid) {
            let input = dup.seg_input.get(k).copied().unwrap_or(0);
            if dup.skip_bad {
                *dropped.entry(input).or_default() += 1;
                continue;
            }
            return Err(Error::Format {
                path: dup.inputs.get(input).cloned().unwrap_or_default(),
                why: format!(
                    "trade id {tid} ({} UTC) repeats a trade of an earlier input file of the same stream ({} {} @ {}): the input files overlap (a duplicated row); leave out the overlapping file, or pass --skip-bad to drop the repeats (counted in the summary)",
                    crate::time::date_text(x.stamp().exchange),
                    dup.what.symbol,
                    dup.what.kind,
                    dup.what.venue
                ),
            });
        }
        if !x.rescale(deltas[k]) {
            return Err(Error::Format {
                path: dest.to_path_buf(),
                why: format!(
                    "a value overflows a 64-bit integer at {} price / {} qty / {} value decimals while merging; pass smaller --price-decimals/--qty-decimals/--value-decimals, or convert the inputs separately (--per-input)",
                    exps.price, exps.qty, exps.value
                ),
            });
        }
        w.push(&x)?;
    }
    w.finish()?;
    Ok(dropped)
}
