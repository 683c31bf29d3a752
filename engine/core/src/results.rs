//! Writing a run's results: Parquet tables (fills, orders, equity,
//! inventory), `summary.json` and the strategy log. Every file is written
//! under a temporary name and renamed when complete.
//!
//! Prices and quantities are written as decimal numbers (`f64`) in human
//! units; times as `timestamp[ns, tz=UTC]`. The files open in pyarrow,
//! polars and pandas.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use ticktape_sdk::abi::{order_kind, reason, tif};
use ticktape_tape::{AtomicFile, side};

use crate::error::{Error, Result};
use crate::sim::RunOutput;
use crate::sim::metrics::{Summary, rfc3339};

/// What [`write()`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Files, in the order written.
    pub files: Vec<PathBuf>,
}

fn ts_col(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC"))
}

fn ts_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), nullable)
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), action: "write Parquet", source: std::io::Error::other(e.to_string()) }
}

fn write_table(path: &Path, fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<()> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| parquet_error(path, e))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut file = AtomicFile::create(path)?;
    {
        let mut w = ArrowWriter::try_new(file.writer(), schema, Some(props)).map_err(|e| parquet_error(path, e))?;
        w.write(&batch).map_err(|e| parquet_error(path, e))?;
        w.close().map_err(|e| parquet_error(path, e))?;
    }
    file.commit()?;
    Ok(())
}

fn side_name(code: u8) -> &'static str {
    match code {
        side::BUY => "buy",
        side::SELL => "sell",
        _ => "none",
    }
}

/// Writes every result of `out` into `dir` (created if missing).
pub fn write(dir: &Path, out: &RunOutput, summary: &Summary) -> Result<Written> {
    write_with(dir, out, summary, None)
}

/// [`write()`], with `provenance` (what the run was made of: versions, tapes
/// and their hashes, the effective config) recorded in `summary.json` under
/// the key `provenance`.
pub fn write_with(
    dir: &Path,
    out: &RunOutput,
    summary: &Summary,
    provenance: Option<&serde_json::Value>,
) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        action: "create folder",
        source,
    })?;
    let mut files = Vec::new();
    let inst = &out.instruments;
    let px = |i: u32, p: i64| p as f64 * 10f64.powi(i32::from(inst[i as usize].price_exponent));
    let qx = |i: u32, q: i64| q as f64 * 10f64.powi(i32::from(inst[i as usize].qty_exponent));
    let sym = |i: u32| inst[i as usize].symbol.as_str();

    // fills
    let f = &out.fills;
    let path = dir.join("fills.parquet");
    write_table(
        &path,
        vec![
            ts_field("ts", false),
            ts_field("ts_local", false),
            Field::new("order_id", DataType::UInt64, false),
            Field::new("tag", DataType::UInt64, false),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("side", DataType::Utf8, false),
            Field::new("price", DataType::Float64, false),
            Field::new("qty", DataType::Float64, false),
            Field::new("liquidity", DataType::Utf8, false),
            Field::new("fee", DataType::Float64, false),
            Field::new("realized_pnl", DataType::Float64, false),
            Field::new("position", DataType::Float64, false),
        ],
        vec![
            ts_col(f.iter().map(|r| Some(r.ts_exchange)).collect()),
            ts_col(f.iter().map(|r| Some(r.ts_local)).collect()),
            Arc::new(UInt64Array::from_iter_values(f.iter().map(|r| r.order_id))),
            Arc::new(UInt64Array::from_iter_values(f.iter().map(|r| r.tag))),
            Arc::new(StringArray::from_iter_values(f.iter().map(|r| sym(r.instrument)))),
            Arc::new(StringArray::from_iter_values(f.iter().map(|r| if r.side > 0 { "buy" } else { "sell" }))),
            Arc::new(Float64Array::from_iter_values(f.iter().map(|r| px(r.instrument, r.price)))),
            Arc::new(Float64Array::from_iter_values(f.iter().map(|r| qx(r.instrument, r.qty)))),
            Arc::new(StringArray::from_iter_values(f.iter().map(|r| if r.maker { "maker" } else { "taker" }))),
            Arc::new(Float64Array::from_iter_values(f.iter().map(|r| r.fee))),
            Arc::new(Float64Array::from_iter_values(f.iter().map(|r| r.realized))),
            Arc::new(Float64Array::from_iter_values(f.iter().map(|r| qx(r.instrument, r.position)))),
        ],
    )?;
    files.push(path);

    // orders
    let o = &out.orders;
    let path = dir.join("orders.parquet");
    let nz = |t: i64| (t != 0).then_some(t);
    write_table(
        &path,
        vec![
            Field::new("order_id", DataType::UInt64, false),
            Field::new("tag", DataType::UInt64, false),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("side", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("time_in_force", DataType::Utf8, false),
            Field::new("price", DataType::Float64, true),
            Field::new("qty", DataType::Float64, false),
            Field::new("filled_qty", DataType::Float64, false),
            Field::new("avg_fill_price", DataType::Float64, true),
            Field::new("status", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, true),
            ts_field("submit_ts", false),
            ts_field("arrive_ts", true),
            ts_field("done_ts", true),
        ],
        vec![
            Arc::new(UInt64Array::from_iter_values(o.iter().map(|r| r.id))),
            Arc::new(UInt64Array::from_iter_values(o.iter().map(|r| r.tag))),
            Arc::new(StringArray::from_iter_values(o.iter().map(|r| sym(r.instrument)))),
            Arc::new(StringArray::from_iter_values(o.iter().map(|r| side_name(r.side)))),
            Arc::new(StringArray::from_iter_values(o.iter().map(|r| match r.kind {
                order_kind::LIMIT => "limit",
                order_kind::MARKET => "market",
                _ => "unknown",
            }))),
            Arc::new(StringArray::from_iter_values(o.iter().map(|r| match r.tif {
                tif::GTC => "gtc",
                tif::IOC => "ioc",
                tif::POST_ONLY => "post_only",
                _ => "unknown",
            }))),
            Arc::new(Float64Array::from(
                o.iter().map(|r| (r.kind != order_kind::MARKET).then(|| px(r.instrument, r.price))).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from_iter_values(o.iter().map(|r| qx(r.instrument, r.qty)))),
            Arc::new(Float64Array::from_iter_values(o.iter().map(|r| qx(r.instrument, r.filled)))),
            Arc::new(Float64Array::from(
                o.iter()
                    .map(|r| {
                        let a = r.avg_fill_price();
                        (!a.is_nan()).then(|| a * 10f64.powi(i32::from(inst[r.instrument as usize].price_exponent)))
                    })
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from_iter_values(o.iter().map(|r| r.status.name()))),
            Arc::new(StringArray::from(
                o.iter().map(|r| (r.reason != reason::NONE).then(|| reason::describe(r.reason))).collect::<Vec<_>>(),
            )),
            ts_col(o.iter().map(|r| Some(r.submit_ts)).collect()),
            ts_col(o.iter().map(|r| nz(r.arrive_ts)).collect()),
            ts_col(o.iter().map(|r| nz(r.done_ts)).collect()),
        ],
    )?;
    files.push(path);

    // equity
    let s = &out.samples;
    let path = dir.join("equity.parquet");
    let col =
        |f: fn(&crate::sim::Sample) -> f64| -> ArrayRef { Arc::new(Float64Array::from_iter_values(s.iter().map(f))) };
    write_table(
        &path,
        vec![
            ts_field("ts", false),
            Field::new("equity", DataType::Float64, false),
            Field::new("cash", DataType::Float64, false),
            Field::new("realized_pnl", DataType::Float64, false),
            Field::new("unrealized_pnl", DataType::Float64, false),
            Field::new("fees", DataType::Float64, false),
            Field::new("funding", DataType::Float64, false),
        ],
        vec![
            ts_col(s.iter().map(|r| Some(r.ts)).collect()),
            col(|r| r.equity),
            col(|r| r.cash),
            col(|r| r.realized),
            col(|r| r.unrealized),
            col(|r| r.fees),
            col(|r| r.funding),
        ],
    )?;
    files.push(path);

    // inventory (long format: one row per sample and instrument)
    let path = dir.join("inventory.parquet");
    let rows = || s.iter().flat_map(|r| (0..inst.len()).map(move |i| (r, i)));
    write_table(
        &path,
        vec![
            ts_field("ts", false),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("position", DataType::Float64, false),
            Field::new("mark", DataType::Float64, true),
        ],
        vec![
            ts_col(rows().map(|(r, _)| Some(r.ts)).collect()),
            Arc::new(StringArray::from_iter_values(rows().map(|(_, i)| inst[i].symbol.as_str()))),
            Arc::new(Float64Array::from_iter_values(rows().map(|(r, i)| qx(i as u32, r.positions[i])))),
            Arc::new(Float64Array::from(
                rows().map(|(r, i)| (!r.marks[i].is_nan()).then_some(r.marks[i])).collect::<Vec<_>>(),
            )),
        ],
    )?;
    files.push(path);

    // series.parquet: what the strategy recorded (only when it did)
    if !out.series.is_empty() || !out.series_names.is_empty() {
        let path = dir.join("series.parquet");
        let p = &out.series;
        let names: std::collections::BTreeMap<u32, String> = p
            .iter()
            .map(|x| x.series)
            .chain(out.series_names.keys().copied())
            .map(|id| (id, out.series_names.get(&id).cloned().unwrap_or_else(|| format!("series {id}"))))
            .collect();
        write_table(
            &path,
            vec![
                ts_field("ts", false),
                Field::new("series_id", DataType::UInt32, false),
                Field::new("series", DataType::Utf8, false),
                Field::new("value", DataType::Float64, false),
            ],
            vec![
                ts_col(p.iter().map(|r| Some(r.ts)).collect()),
                Arc::new(arrow_array::UInt32Array::from_iter_values(p.iter().map(|r| r.series))),
                Arc::new(StringArray::from_iter_values(p.iter().map(|r| names[&r.series].as_str()))),
                Arc::new(Float64Array::from_iter_values(p.iter().map(|r| r.value))),
            ],
        )?;
        files.push(path);
    }

    // summary.json
    let path = dir.join("summary.json");
    let mut value = serde_json::to_value(summary).map_err(|e| parquet_error(&path, e))?;
    if let (Some(p), Some(map)) = (provenance, value.as_object_mut()) {
        map.insert("provenance".into(), p.clone());
    }
    write_json(&path, &value)?;
    files.push(path);

    // strategy.log
    let path = dir.join("strategy.log");
    let mut file = AtomicFile::create(&path)?;
    for l in &out.log {
        let level = match l.level {
            1 => "ERROR",
            2 => "WARN",
            3 => "INFO",
            _ => "DEBUG",
        };
        writeln!(file.writer(), "{} {level:<5} {}", rfc3339(l.ts), l.text).map_err(|source| Error::Io {
            path: path.clone(),
            action: "write",
            source,
        })?;
    }
    file.commit()?;
    files.push(path);
    Ok(Written { files })
}

/// Writes `value` as pretty JSON to `path` (temporary name, then renamed).
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| parquet_error(path, e))?;
    json.push(b'\n');
    let mut file = AtomicFile::create(path)?;
    file.write_all(&json)?;
    file.commit()?;
    Ok(())
}

/// A fresh temporary folder beside a run's output folder: the run writes
/// into it, and [`Staging::promote`] renames it into place, so `--out` never
/// mixes files of two runs and never shows a half-written run as complete.
#[derive(Debug)]
pub struct Staging {
    tmp: PathBuf,
    out: PathBuf,
}

/// Checks that `out` may be written and creates its temporary sibling
/// (`.NAME.tmp-PID`) before the run starts. A non-empty existing `out` is
/// refused unless `force`; with `force` it is replaced only by
/// [`Staging::promote`].
pub fn stage(out: &Path, force: bool) -> Result<Staging> {
    let io = |path: &Path, action: &'static str| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, action, source }
    };
    if out.exists() {
        if !out.is_dir() {
            return Err(Error::Io {
                path: out.to_path_buf(),
                action: "use it as the output folder",
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a file of that name exists"),
            });
        }
        let mut entries = std::fs::read_dir(out).map_err(io(out, "read the output folder"))?;
        if !force && entries.next().is_some() {
            return Err(Error::OutNotEmpty { path: out.to_path_buf() });
        }
    }
    let name = out.file_name().map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent, "create the folder of --out"))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp, "remove a stale temporary folder"))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp, "create the temporary output folder (is --out's folder writable?)"))?;
    Ok(Staging { tmp, out: out.to_path_buf() })
}

impl Staging {
    /// The temporary folder the run writes into.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// The final output folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Renames the temporary folder into place, replacing an existing `out`.
    pub fn promote(self) -> Result<()> {
        let io = |path: &Path, action: &'static str| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, action, source }
        };
        if self.out.exists() {
            let old = self.tmp.with_file_name(format!(
                "{}.old",
                self.tmp.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            std::fs::rename(&self.out, &old).map_err(io(&self.out, "move the previous results aside"))?;
            std::fs::rename(&self.tmp, &self.out).map_err(io(&self.out, "rename the results into place"))?;
            std::fs::remove_dir_all(&old).map_err(io(&old, "remove the previous results"))?;
        } else {
            std::fs::rename(&self.tmp, &self.out).map_err(io(&self.out, "rename the results into place"))?;
        }
        Ok(())
    }
}
