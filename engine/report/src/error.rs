//! The report module's error type.

use std::path::PathBuf;

/// Result alias for the report module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a report can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The folder lacks the files `ticktape run` writes.
    #[error(
        "{dir}: not a run folder (missing {missing}); pass the folder `ticktape run` wrote (its `out` or `--out`), which holds summary.json, equity.parquet, inventory.parquet, fills.parquet and orders.parquet"
    )]
    NotARunFolder {
        /// The folder.
        dir: PathBuf,
        /// The missing files, comma-separated.
        missing: String,
    },
    /// A results file could not be read or parsed.
    #[error("{path}: cannot {action}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        message: String,
    },
    /// A Parquet table lacks a column or has it with another type.
    #[error(
        "{path}: column `{column}` {problem} (expected {expected}); the file was not written by this version of `ticktape run`, re-run the backtest"
    )]
    Column {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        problem: String,
        /// The expected Arrow type.
        expected: &'static str,
    },
    /// Plotting a chart failed.
    #[error("cannot draw the chart \"{chart}\": {message}")]
    Draw {
        /// The chart's title.
        chart: String,
        /// The plotting library's error.
        message: String,
    },
    /// The report could not be written.
    #[error(transparent)]
    Write(#[from] ticktape_tape::Error),
}
