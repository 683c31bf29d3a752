//! The feature cache on disk: one Parquet file of trade features and one of mids per UTC day, and a
//! manifest (`manifest.json`) that says what they were made from.
//!
//! Files are written by a background thread in row groups of [`ROW_GROUP`] rows, each under a
//! temporary name renamed into place when complete, so memory stays bounded on a week of trades.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{Array, ArrayRef, Float64Array, Int8Array, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use ticktape_research::clusterlob::{FEATURES, FeatureRow, N_FEATURES};
use ticktape_tape::AtomicFile;

/// Rows per Parquet row group (and per batch handed to the writer thread).
pub(crate) const ROW_GROUP: usize = 1 << 20;

/// The feature table's columns, in order.
pub(crate) const COLUMNS: [&str; 16] = [
    "ts", "side", "price", "qty", "v_rel", "sbs", "obs", "spread", "t_m", "t_age", "z_v_rel", "z_sbs", "z_obs",
    "z_spread", "z_t_m", "z_t_age",
];

/// Name of the z-score column of feature `j`.
pub(crate) fn z_column(j: usize) -> &'static str {
    COLUMNS[4 + N_FEATURES + j]
}

pub(crate) const NS_PER_DAY: i64 = 86_400_000_000_000;

/// UTC day number of a timestamp.
pub(crate) fn day_of(ts: i64) -> i64 {
    ts.div_euclid(NS_PER_DAY)
}

/// `YYYY-MM-DD` of a UTC day number.
pub(crate) fn day_name(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// Parses `YYYY-MM-DD` into a UTC day number.
pub(crate) fn parse_day(s: &str) -> Result<i64, String> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a UTC day; write it as YYYY-MM-DD, e.g. 2024-05-01"))?;
    Ok(d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days())
}

fn features_schema() -> Arc<Schema> {
    let mut fields = vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("side", DataType::Int8, false),
    ];
    fields.extend(COLUMNS[2..].iter().map(|c| Field::new(*c, DataType::Float64, false)));
    Arc::new(Schema::new(fields))
}

fn mid_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("mid", DataType::Float64, true),
    ]))
}

/// Column buffers of feature rows, filled on the hot path without allocating (capacity reserved once).
#[derive(Debug)]
pub(crate) struct RowBuf {
    ts: Vec<i64>,
    side: Vec<i8>,
    cols: Vec<Vec<f64>>,
}

impl RowBuf {
    pub(crate) fn new() -> Self {
        RowBuf {
            ts: Vec::with_capacity(ROW_GROUP),
            side: Vec::with_capacity(ROW_GROUP),
            cols: (0..14).map(|_| Vec::with_capacity(ROW_GROUP)).collect(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, r: &FeatureRow) {
        self.ts.push(r.ts);
        self.side.push(if r.side == 1 { 1 } else { -1 });
        self.cols[0].push(r.price);
        self.cols[1].push(r.qty);
        for j in 0..N_FEATURES {
            self.cols[2 + j].push(r.raw[j]);
            self.cols[2 + N_FEATURES + j].push(r.z[j]);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    /// The column buffers of a batch made by [`RowBuf::into_batch`], emptied, once nothing else
    /// holds them (`None` otherwise): the next rows reuse their pages instead of faulting in fresh
    /// ones.
    fn recycle(batch: RecordBatch) -> Option<RowBuf> {
        fn vec_of<T: arrow_array::ArrowPrimitiveType>(a: ArrayRef) -> Option<Vec<T::Native>> {
            let p = a.as_any().downcast_ref::<arrow_array::PrimitiveArray<T>>()?.clone();
            drop(a);
            let mut v = p.into_parts().1.into_inner().into_vec::<T::Native>().ok()?;
            v.clear();
            Some(v)
        }
        let (_, columns, _) = batch.into_parts();
        let mut it = columns.into_iter();
        let ts = vec_of::<arrow_array::types::TimestampNanosecondType>(it.next()?)?;
        let side = vec_of::<arrow_array::types::Int8Type>(it.next()?)?;
        let cols = it.map(vec_of::<arrow_array::types::Float64Type>).collect::<Option<Vec<_>>>()?;
        (ts.capacity() >= ROW_GROUP && cols.len() == 14).then_some(RowBuf { ts, side, cols })
    }

    fn into_batch(self) -> RecordBatch {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(TimestampNanosecondArray::from(self.ts).with_timezone("UTC")),
            Arc::new(Int8Array::from(self.side)),
        ];
        arrays.extend(self.cols.into_iter().map(|c| Arc::new(Float64Array::from(c)) as ArrayRef));
        RecordBatch::try_new(features_schema(), arrays).expect("columns match the schema")
    }
}

enum Msg {
    Rows(i64, RowBuf),
    Mids(i64, Vec<i64>, Vec<Option<f64>>),
}

/// What was written for one day.
#[derive(Debug, Clone, Default)]
pub(crate) struct DayFiles {
    pub(crate) rows: u64,
    pub(crate) first_ts: Option<i64>,
    pub(crate) last_ts: Option<i64>,
    pub(crate) mids: u64,
}

fn props() -> WriterProperties {
    // Float columns of market data rarely repeat: dictionary pages would only be tried and dropped.
    // Min/max statistics cost about a tenth of the writer's time and no reader here uses them: only
    // `ts` and `side` (what a reader would filter row groups on) keep them, per column chunk.
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("ts"), EnabledStatistics::Chunk)
        .set_column_statistics_enabled(ColumnPath::from("side"), EnabledStatistics::Chunk)
        .build()
}

pub(crate) fn features_file(day: i64) -> String {
    format!("features-{}.parquet", day_name(day))
}

pub(crate) fn mid_file(day: i64) -> String {
    format!("mid-{}.parquet", day_name(day))
}

struct Open {
    day: i64,
    file: AtomicFile,
    writer: ArrowWriter<File>,
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}: cannot write Parquet: {e}", path.display())
}

/// The background writer of a features folder.
pub(crate) struct Writer {
    tx: Option<SyncSender<Msg>>,
    /// Emptied row buffers coming back from the writer thread.
    spare: Receiver<RowBuf>,
    handle: Option<JoinHandle<Result<BTreeMap<i64, DayFiles>>>>,
}

impl Writer {
    pub(crate) fn new(dir: &Path) -> Writer {
        let (tx, rx) = sync_channel::<Msg>(2);
        let (spare_tx, spare) = sync_channel::<RowBuf>(1);
        let dir = dir.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("features-writer".into())
            .spawn(move || write_loop(&dir, rx, spare_tx))
            .expect("spawn the writer thread");
        Writer { tx: Some(tx), spare, handle: Some(handle) }
    }

    /// An empty row buffer: one the writer has finished with, else a new one.
    pub(crate) fn buffer(&mut self) -> RowBuf {
        self.spare.try_recv().unwrap_or_else(|_| RowBuf::new())
    }

    /// Hands rows of `day` to the writer (returns a fresh buffer). Fails only if the writer stopped.
    pub(crate) fn rows(&mut self, day: i64, buf: RowBuf) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(Msg::Rows(day, buf)).is_ok())
    }

    pub(crate) fn mids(&mut self, day: i64, ts: Vec<i64>, mid: Vec<Option<f64>>) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(Msg::Mids(day, ts, mid)).is_ok())
    }

    /// Closes the last files and returns what was written per day.
    pub(crate) fn finish(mut self) -> Result<BTreeMap<i64, DayFiles>> {
        drop(self.tx.take());
        self.handle.take().expect("joined once").join().map_err(|_| anyhow!("the features writer thread panicked"))?
    }
}

fn write_loop(dir: &Path, rx: Receiver<Msg>, spare: SyncSender<RowBuf>) -> Result<BTreeMap<i64, DayFiles>> {
    let mut days: BTreeMap<i64, DayFiles> = BTreeMap::new();
    let mut open: Option<Open> = None;
    let close = |o: Open| -> Result<()> {
        let path = o.file.target().to_path_buf();
        o.writer.close().map_err(|e| write_err(&path, e))?;
        o.file.commit()?;
        Ok(())
    };
    for msg in rx {
        match msg {
            Msg::Rows(day, buf) => {
                if open.as_ref().is_some_and(|o| o.day != day) {
                    close(open.take().expect("open"))?;
                }
                let d = days.entry(day).or_default();
                d.rows += buf.len() as u64;
                d.first_ts = d.first_ts.or(buf.ts.first().copied());
                d.last_ts = buf.ts.last().copied().or(d.last_ts);
                if open.is_none() {
                    let path = dir.join(features_file(day));
                    let mut file = AtomicFile::create(&path)?;
                    // The Parquet writer buffers whole row groups itself; it writes through a second
                    // handle of the temporary file (same open file, same offset), and the atomic file's
                    // own buffer stays empty until `commit` syncs and renames it.
                    let writer =
                        ArrowWriter::try_new(file.writer().get_ref().try_clone()?, features_schema(), Some(props()))
                            .map_err(|e| write_err(&path, e))?;
                    open = Some(Open { day, file, writer });
                }
                let o = open.as_mut().expect("open");
                let path = o.file.target().to_path_buf();
                let batch = buf.into_batch();
                o.writer.write(&batch).map_err(|e| write_err(&path, e))?;
                // Best effort: a full return channel or a buffer still shared drops it.
                if let Some(b) = RowBuf::recycle(batch) {
                    let _ = spare.try_send(b);
                }
            }
            Msg::Mids(day, ts, mid) => {
                let path = dir.join(mid_file(day));
                days.entry(day).or_default().mids = ts.len() as u64;
                let batch = RecordBatch::try_new(
                    mid_schema(),
                    vec![
                        Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
                        Arc::new(Float64Array::from(mid)),
                    ],
                )
                .expect("columns match the schema");
                let mut file = AtomicFile::create(&path)?;
                let mut w = ArrowWriter::try_new(file.writer().get_ref().try_clone()?, mid_schema(), Some(props()))
                    .map_err(|e| write_err(&path, e))?;
                w.write(&batch).map_err(|e| write_err(&path, e))?;
                w.close().map_err(|e| write_err(&path, e))?;
                file.commit()?;
            }
        }
    }
    if let Some(o) = open.take() {
        close(o)?;
    }
    Ok(days)
}

/// Reads the named columns of a Parquet file, one call of `f` per record batch with the columns in
/// the order asked.
pub(crate) fn read_columns(path: &Path, names: &[&str], mut f: impl FnMut(&[ArrayRef]) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("{}: cannot open the feature table", path.display()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        anyhow!("{}: not a readable Parquet file ({e}); re-run `ticktape research clusterlob features`", path.display())
    })?;
    let schema = b.parquet_schema();
    let mut indices = Vec::with_capacity(names.len());
    for n in names {
        let i = (0..schema.num_columns()).find(|&i| schema.column(i).name() == *n).ok_or_else(|| {
            anyhow!("{}: no column `{n}`; re-run `ticktape research clusterlob features` to rebuild it", path.display())
        })?;
        indices.push(i);
    }
    let mask = ProjectionMask::leaves(schema, indices.iter().copied());
    let reader = b
        .with_projection(mask)
        .with_batch_size(1 << 16)
        .build()
        .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    for batch in reader {
        let batch = batch.map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
        let cols: Vec<ArrayRef> = names
            .iter()
            .map(|n| {
                batch.column_by_name(n).cloned().ok_or_else(|| anyhow!("{}: column `{n}` missing", path.display()))
            })
            .collect::<Result<_>>()?;
        f(&cols)?;
    }
    Ok(())
}

/// A column as `f64` values.
pub(crate) fn f64s<'a>(path: &Path, a: &'a ArrayRef) -> Result<&'a Float64Array> {
    a.as_any().downcast_ref::<Float64Array>().ok_or_else(|| anyhow!("{}: a column is not double", path.display()))
}

/// A timestamp column as ns.
pub(crate) fn timestamps<'a>(path: &Path, a: &'a ArrayRef) -> Result<&'a TimestampNanosecondArray> {
    a.as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| anyhow!("{}: the ts column is not a ns timestamp", path.display()))
}

/// The side column.
pub(crate) fn sides<'a>(path: &Path, a: &'a ArrayRef) -> Result<&'a Int8Array> {
    a.as_any().downcast_ref::<Int8Array>().ok_or_else(|| anyhow!("{}: the side column is not int8", path.display()))
}

/// The manifest of a features folder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) kind: String,
    pub(crate) version: u32,
    pub(crate) ticktape_version: String,
    /// `ticktape_research::clusterlob::FEATURES_VERSION` of the code that computed the tables.
    pub(crate) features_version: u32,
    pub(crate) levels: usize,
    pub(crate) window: usize,
    pub(crate) symbol: String,
    pub(crate) venue: String,
    /// Spacing of the mid samples, ns.
    pub(crate) mid_step_ns: i64,
    pub(crate) tapes: Vec<TapeId>,
    pub(crate) days: Vec<DayEntry>,
    pub(crate) rows: u64,
    pub(crate) skipped_trades: u64,
}

/// A tape by content.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TapeId {
    pub(crate) xxh3_128: String,
    pub(crate) bytes: u64,
    pub(crate) path: String,
}

/// One day of the cache.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct DayEntry {
    pub(crate) day: String,
    pub(crate) features: String,
    pub(crate) mid: String,
    pub(crate) rows: u64,
    pub(crate) first_ts: Option<i64>,
    pub(crate) last_ts: Option<i64>,
}

pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const MANIFEST_KIND: &str = "ticktape clusterlob features";
pub(crate) const MANIFEST_VERSION: u32 = 1;

impl Manifest {
    /// Reads `DIR/manifest.json`.
    pub(crate) fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: no feature manifest; make the folder with `ticktape research clusterlob features TAPE... -o {}`",
                path.display(),
                dir.display()
            )
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "{}: line {}: not a feature manifest ({e}); re-run `ticktape research clusterlob features`",
                path.display(),
                e.line()
            )
        })?;
        if m.kind != MANIFEST_KIND || m.version != MANIFEST_VERSION {
            bail!(
                "{}: a {:?} manifest of version {}, this build reads {MANIFEST_KIND:?} version {MANIFEST_VERSION}; re-run `ticktape research clusterlob features`",
                path.display(),
                m.kind,
                m.version
            );
        }
        Ok(m)
    }

    /// The days, with their numbers, within `from..=to` (UTC day numbers, either open).
    pub(crate) fn days_in(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<(i64, &DayEntry)>> {
        let mut out = Vec::new();
        for d in &self.days {
            let n = parse_day(&d.day).map_err(|e| anyhow!("manifest: {e}"))?;
            if from.is_none_or(|f| n >= f) && to.is_none_or(|t| n <= t) {
                out.push((n, d));
            }
        }
        Ok(out)
    }
}

/// Features folder paths of one day.
pub(crate) fn day_paths(dir: &Path, d: &DayEntry) -> (PathBuf, PathBuf) {
    (dir.join(&d.features), dir.join(&d.mid))
}

/// All z-score column names, in feature order.
pub(crate) fn z_columns() -> [&'static str; N_FEATURES] {
    std::array::from_fn(z_column)
}

const _: () = assert!(FEATURES.len() == N_FEATURES);
