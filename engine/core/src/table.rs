//! A small column-table builder for the Parquet tables that research
//! commands and sweeps write: one call per column, then [`Table::write`]
//! (temporary name, renamed when complete). Times are
//! `timestamp[ns, tz=UTC]`, so the files open in pyarrow, polars and pandas
//! with the right types.
//!
//! ```
//! use ticktape_engine::table::Table;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("fits.parquet");
//! Table::new()
//!     .utf8("account", vec!["a".to_string(), "b".to_string()])
//!     .f64("r2", vec![0.5, 0.75])
//!     .u64("days", vec![365, 200])
//!     .write(&path)?;
//! assert!(path.exists());
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use ticktape_tape::AtomicFile;

use crate::error::{Error, Result};

/// Columns in the order added. Every column must have the same length; a
/// mismatch is an error at [`Table::write`] naming the column.
#[derive(Debug, Default)]
pub struct Table {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    fn push(mut self, name: &str, data_type: DataType, nullable: bool, column: ArrayRef) -> Table {
        self.fields.push(Field::new(name, data_type, nullable));
        self.columns.push(column);
        self
    }

    /// A `double` column.
    pub fn f64(self, name: &str, values: Vec<f64>) -> Table {
        self.push(name, DataType::Float64, false, Arc::new(Float64Array::from(values)))
    }

    /// A nullable `double` column (`None` is null: undefined, not zero).
    pub fn f64_opt(self, name: &str, values: Vec<Option<f64>>) -> Table {
        self.push(name, DataType::Float64, true, Arc::new(Float64Array::from(values)))
    }

    /// An `int64` column.
    pub fn i64(self, name: &str, values: Vec<i64>) -> Table {
        self.push(name, DataType::Int64, false, Arc::new(Int64Array::from(values)))
    }

    /// A `uint64` column.
    pub fn u64(self, name: &str, values: Vec<u64>) -> Table {
        self.push(name, DataType::UInt64, false, Arc::new(UInt64Array::from(values)))
    }

    /// A `bool` column.
    pub fn bool(self, name: &str, values: Vec<bool>) -> Table {
        self.push(name, DataType::Boolean, false, Arc::new(BooleanArray::from(values)))
    }

    /// A `string` column.
    pub fn utf8(self, name: &str, values: Vec<String>) -> Table {
        self.push(name, DataType::Utf8, false, Arc::new(StringArray::from(values)))
    }

    /// A `string` column built straight from borrowed text, with no `String`
    /// per row (the same column as [`utf8`](Self::utf8)).
    pub fn utf8_iter<'s>(self, name: &str, values: impl IntoIterator<Item = &'s str>) -> Table {
        self.push(name, DataType::Utf8, false, Arc::new(StringArray::from_iter_values(values)))
    }

    /// A nullable `string` column.
    pub fn utf8_opt(self, name: &str, values: Vec<Option<String>>) -> Table {
        self.push(name, DataType::Utf8, true, Arc::new(StringArray::from(values)))
    }

    /// A `timestamp[ns, tz=UTC]` column of nanoseconds since the epoch.
    pub fn ts(self, name: &str, values: Vec<i64>) -> Table {
        let column = Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"));
        self.push(name, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false, column)
    }

    /// A nullable `timestamp[ns, tz=UTC]` column.
    pub fn ts_opt(self, name: &str, values: Vec<Option<i64>>) -> Table {
        let column = Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"));
        self.push(name, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true, column)
    }

    /// A nullable `decimal128(38, scale)` column of fixed-point values: the
    /// number is `value × 10^-scale`, exactly (e.g. `6180030` at scale 2 is
    /// 61800.30). `None` is null. `scale` must be in `0..=38`.
    pub fn decimal(self, name: &str, values: Vec<Option<i128>>, scale: i8) -> Table {
        let array = Decimal128Array::from(values).with_precision_and_scale(38, scale);
        match array {
            Ok(a) => self.push(name, DataType::Decimal128(38, scale), true, Arc::new(a)),
            // Only a scale outside 0..=38; surfaces at `write` as a column
            // whose length differs (an empty column).
            Err(_) => {
                self.push(name, DataType::Decimal128(38, 0), true, Arc::new(Decimal128Array::from(Vec::<i128>::new())))
            }
        }
    }

    /// Rows (the length of the first column; 0 for no columns).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.len())
    }

    fn batch(self, path: &Path) -> Result<RecordBatch> {
        let rows = self.rows();
        if let Some((f, c)) = self.fields.iter().zip(&self.columns).find(|(_, c)| c.len() != rows) {
            return Err(parquet_error(
                path,
                &format!("column `{}` has {} rows, the first column {rows}", f.name(), c.len()),
            ));
        }
        let schema = Arc::new(Schema::new(self.fields));
        RecordBatch::try_new(schema, self.columns).map_err(|e| parquet_error(path, &e))
    }

    /// Writes the table as one Parquet file (Snappy; dictionary pages for
    /// strings, integers and booleans, plain ones for doubles and times), under a temporary name renamed into place when
    /// complete. The columns are encoded on the machine's cores; the bytes do
    /// not depend on how many.
    pub fn write(self, path: &Path) -> Result<()> {
        let batch = self.batch(path)?;
        let mut file = Encoder::create(path, AtomicFile::create(path)?, batch.schema())?;
        file.write(&batch)?;
        file.finish()
    }
}

fn parquet_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), action: "write Parquet", source: std::io::Error::other(e.to_string()) }
}

/// Rows per row group at most (the parquet crate's default, kept so that
/// files are what its `ArrowWriter` would write).
const ROW_GROUP_ROWS: usize = parquet::file::properties::DEFAULT_MAX_ROW_GROUP_ROW_COUNT;

/// The writer properties of a table of `schema`, chosen for the cost of
/// writing (measured on `research profile`'s tables, 2.3 M cycle rows):
///
/// - Snappy for every column, as before: cheap, and the files stay small.
/// - Dictionary encoding (the parquet default) for strings, integers and
///   booleans: names, sides and counts repeat, and their pages shrink to
///   a few bits a value.
/// - No dictionary for `double` and timestamp columns: measured values and
///   event times rarely repeat, so the writer would hash every value into a
///   dictionary it then drops once it passes 1 MB (falling back to plain
///   pages). Writing them plain from the start cut the writer's instructions
///   by a quarter and the files by 5–15 %.
/// - Statistics per page (the default): readers prune row groups and pages
///   by them.
fn properties(schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder().set_compression(Compression::SNAPPY);
    for f in schema.fields() {
        if matches!(f.data_type(), DataType::Float64 | DataType::Timestamp(..)) {
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    b.build()
}

/// Threads that encode a row group's columns: the machine's cores. The
/// columns of a row group are encoded independently and appended in
/// column order, so the bytes written do not depend on it.
fn encode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A Parquet file being written: row groups whose column chunks are
/// encoded on several threads (the parquet crate's column-parallel API),
/// then appended in order. The bytes are those of `ArrowWriter` with the
/// same properties, whatever the thread count.
struct Encoder {
    path: std::path::PathBuf,
    schema: SchemaRef,
    file: SerializedFileWriter<AtomicFile>,
    factory: ArrowRowGroupWriterFactory,
    threads: usize,
}

/// One column of a row group to encode: its writer, its values and their
/// size in memory (the larger first, so the threads finish together).
struct Job {
    writer: ArrowColumnWriter,
    leaf: ArrowLeafColumn,
    bytes: usize,
}

impl Encoder {
    fn create(path: &Path, out: AtomicFile, schema: SchemaRef) -> Result<Encoder> {
        let err = |e: &dyn std::fmt::Display| parquet_error(path, e);
        let w = ArrowWriter::try_new(out, schema.clone(), Some(properties(&schema))).map_err(|e| err(&e))?;
        let (file, factory) = w.into_serialized_writer().map_err(|e| err(&e))?;
        Ok(Encoder { path: path.to_path_buf(), schema, file, factory, threads: encode_threads() })
    }

    /// Appends `batch` as row groups of at most [`ROW_GROUP_ROWS`] rows (none
    /// if it is empty).
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema() != self.schema {
            return Err(parquet_error(&self.path, &"the table's columns differ from the first table's"));
        }
        let mut at = 0;
        while at < batch.num_rows() {
            let n = (batch.num_rows() - at).min(ROW_GROUP_ROWS);
            self.row_group(&batch.slice(at, n)).map_err(|e| parquet_error(&self.path, &e))?;
            at += n;
        }
        Ok(())
    }

    fn row_group(&mut self, batch: &RecordBatch) -> std::result::Result<(), ParquetError> {
        let index = self.file.flushed_row_groups().len();
        let mut writers = self.factory.create_column_writers(index)?.into_iter();
        let mut jobs = Vec::with_capacity(batch.num_columns());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let bytes = column.get_array_memory_size();
            for leaf in compute_leaves(field, column)? {
                let writer =
                    writers.next().ok_or_else(|| ParquetError::General("fewer writers than columns".into()))?;
                jobs.push(Job { writer, leaf, bytes });
            }
        }
        let chunks = encode(jobs, self.threads)?;
        let mut rg = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut rg)?;
        }
        rg.close()?;
        Ok(())
    }

    /// Writes the footer and renames the file into place.
    fn finish(self) -> Result<()> {
        let file = self.file.into_inner().map_err(|e| parquet_error(&self.path, &e))?;
        Ok(file.commit()?)
    }
}

/// Encodes `jobs` on up to `threads` threads (largest first, each thread
/// taking the next), returning the chunks in the jobs' order.
fn encode(jobs: Vec<Job>, threads: usize) -> std::result::Result<Vec<ArrowColumnChunk>, ParquetError> {
    let run = |mut j: Job| j.writer.write(&j.leaf).and_then(|()| j.writer.close());
    let threads = threads.min(jobs.len());
    if threads <= 1 {
        return jobs.into_iter().map(run).collect();
    }
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].bytes));
    let slots: Vec<Mutex<Option<Job>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let done: Vec<Mutex<Option<std::result::Result<ArrowColumnChunk, ParquetError>>>> =
        slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let job = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(job) = job {
                        *done[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(run(job));
                    }
                }
            });
        }
    });
    done.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(ParquetError::General("a column was not encoded".into())))
        })
        .collect()
}

/// One Parquet file written in pieces: each [`TableWriter::push`] appends a
/// [`Table`] (with the same columns every time) as a row group, so a table
/// too large for memory is written in bounded memory. The file appears
/// under its name only after [`TableWriter::finish`]; dropped before, it
/// leaves nothing.
pub struct TableWriter {
    path: std::path::PathBuf,
    /// The temporary file, until the first table gives the schema.
    out: Option<AtomicFile>,
    file: Option<Encoder>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter").field("path", &self.path).finish_non_exhaustive()
    }
}

impl TableWriter {
    /// Starts a Parquet file at `path` (under a temporary name until
    /// [`finish`](Self::finish)).
    pub fn create(path: &Path) -> Result<TableWriter> {
        Ok(TableWriter { path: path.to_path_buf(), out: Some(AtomicFile::create(path)?), file: None })
    }

    /// Appends `table`'s rows as a row group; every table pushed must have
    /// the columns of the first.
    pub fn push(&mut self, table: Table) -> Result<()> {
        let batch = table.batch(&self.path)?;
        let file = match (&mut self.file, self.out.take()) {
            (Some(f), _) => f,
            (None, Some(out)) => self.file.insert(Encoder::create(&self.path, out, batch.schema())?),
            (None, None) => return Err(parquet_error(&self.path, &"written after an error")),
        };
        file.write(&batch)
    }

    /// Completes the file and renames it into place. A writer that was
    /// never pushed to writes nothing and fails.
    pub fn finish(self) -> Result<()> {
        let Some(file) = self.file else {
            return Err(parquet_error(&self.path, &"no rows or columns were pushed"));
        };
        file.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_writer_appends_row_groups_and_leaves_nothing_unless_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut w = TableWriter::create(&path).unwrap();
        for k in 0..3 {
            w.push(Table::new().i64("x", vec![k, k + 10]).decimal("p", vec![Some(12_345), None], 2)).unwrap();
        }
        assert!(!path.exists(), "not under its name before finish");
        w.finish().unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        assert_eq!((b.metadata().num_row_groups(), b.metadata().file_metadata().num_rows()), (3, 6));
        let mut w = TableWriter::create(&dir.path().join("m.parquet")).unwrap();
        w.push(Table::new().i64("x", vec![1])).unwrap();
        let e = w.push(Table::new().f64("x", vec![1.0])).unwrap_err();
        let why = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert!(why.contains("columns differ"), "{e}: {why}");
        drop(w);
        let dropped = dir.path().join("d.parquet");
        let mut w = TableWriter::create(&dropped).unwrap();
        w.push(Table::new().i64("x", vec![1])).unwrap();
        drop(w);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "a dropped writer leaves no file: {names:?}");
    }

    fn sample(rows: usize, k: i64) -> Table {
        let r = 0..rows as i64;
        Table::new()
            .utf8_iter("account", r.clone().map(|i| if (i + k) % 3 == 0 { "0xabc" } else { "0xdef0123456789" }))
            .f64("x", r.clone().map(|i| (i * 7919 + k) as f64 / 13.0).collect())
            .f64_opt("y", r.clone().map(|i| (i % 5 != 0).then_some(i as f64)).collect())
            .u64("n", r.clone().map(|i| (i % 17) as u64).collect())
            .ts_opt("t", r.clone().map(|i| (i % 7 != 0).then_some(1_700_000_000_000_000_000 + i)).collect())
            .decimal("p", r.clone().map(|i| Some(i128::from(i) * 101)).collect(), 2)
            .bool("b", r.map(|i| i % 2 == 0).collect())
    }

    /// The column-parallel writer writes the bytes the parquet crate's `ArrowWriter` writes with
    /// the same properties, on any number of threads.
    #[test]
    fn columns_encoded_on_threads_give_the_bytes_of_the_arrow_writer() {
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().join("ref.parquet");
        {
            let mut w = ArrowWriter::try_new(
                std::fs::File::create(&reference).unwrap(),
                sample(1, 0).batch(&reference).unwrap().schema(),
                Some(properties(&sample(1, 0).batch(&reference).unwrap().schema())),
            )
            .unwrap();
            for k in 0..2 {
                w.write(&sample(5000, k).batch(&reference).unwrap()).unwrap();
                w.flush().unwrap();
            }
            w.close().unwrap();
        }
        let want = std::fs::read(&reference).unwrap();
        for threads in [1, 2, 3, 8] {
            let path = dir.path().join(format!("t{threads}.parquet"));
            let b = sample(1, 0).batch(&path).unwrap();
            let mut e = Encoder::create(&path, AtomicFile::create(&path).unwrap(), b.schema()).unwrap();
            e.threads = threads;
            for k in 0..2 {
                e.write(&sample(5000, k).batch(&path).unwrap()).unwrap();
            }
            e.finish().unwrap();
            assert!(std::fs::read(&path).unwrap() == want, "{threads} threads: not the ArrowWriter's bytes");
        }
    }

    #[test]
    fn columns_of_different_lengths_are_an_error_naming_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let e = Table::new().f64("a", vec![1.0, 2.0]).i64("b", vec![1]).write(&path).unwrap_err();
        // The reason is the error's source (the CLI prints the whole chain).
        let why = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert!(why.contains("column `b` has 1 rows"), "{e}: {why}");
        assert!(!path.exists());
    }
}
