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
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
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

    /// Writes the table as one Parquet file (Snappy), under a temporary name
    /// renamed into place when complete.
    pub fn write(self, path: &Path) -> Result<()> {
        let err = |e: &dyn std::fmt::Display| Error::Io {
            path: path.to_path_buf(),
            action: "write Parquet",
            source: std::io::Error::other(e.to_string()),
        };
        let rows = self.rows();
        if let Some((f, c)) = self.fields.iter().zip(&self.columns).find(|(_, c)| c.len() != rows) {
            return Err(err(&format!("column `{}` has {} rows, the first column {rows}", f.name(), c.len())));
        }
        let schema = Arc::new(Schema::new(self.fields));
        let batch = RecordBatch::try_new(schema.clone(), self.columns).map_err(|e| err(&e))?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut file = AtomicFile::create(path)?;
        {
            let mut w = ArrowWriter::try_new(file.writer(), schema, Some(props)).map_err(|e| err(&e))?;
            w.write(&batch).map_err(|e| err(&e))?;
            w.close().map_err(|e| err(&e))?;
        }
        file.commit()?;
        Ok(())
    }
}

fn parquet_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), action: "write Parquet", source: std::io::Error::other(e.to_string()) }
}

/// One Parquet file written in pieces: each [`TableWriter::push`] appends a
/// [`Table`] (with the same columns every time) as a row group, so a table
/// too large for memory is written in bounded memory. The file appears
/// under its name only after [`TableWriter::finish`]; dropped before, it
/// leaves nothing.
pub struct TableWriter {
    path: std::path::PathBuf,
    file: Option<AtomicFile>,
    writer: Option<ArrowWriter<AtomicFile>>,
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
        Ok(TableWriter { path: path.to_path_buf(), file: Some(AtomicFile::create(path)?), writer: None })
    }

    /// Appends `table`'s rows as a row group; every table pushed must have
    /// the columns of the first.
    pub fn push(&mut self, table: Table) -> Result<()> {
        let batch = table.batch(&self.path)?;
        let err = |e: &dyn std::fmt::Display| parquet_error(&self.path, e);
        if let Some(file) = self.file.take() {
            let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
            self.writer = Some(ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| err(&e))?);
        }
        let Some(w) = self.writer.as_mut() else { return Err(err(&"written after an error")) };
        w.write(&batch).map_err(|e| err(&e))?;
        w.flush().map_err(|e| err(&e))
    }

    /// Completes the file and renames it into place. A writer that was
    /// never pushed to writes nothing and fails.
    pub fn finish(mut self) -> Result<()> {
        let Some(w) = self.writer.take() else {
            return Err(parquet_error(&self.path, &"no rows or columns were pushed"));
        };
        let file = w.into_inner().map_err(|e| parquet_error(&self.path, &e))?;
        Ok(file.commit()?)
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
        let dropped = dir.path().join("d.parquet");
        let mut w = TableWriter::create(&dropped).unwrap();
        w.push(Table::new().i64("x", vec![1])).unwrap();
        drop(w);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "a dropped writer leaves no file: {names:?}");
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
