//! The `ticktape convert` subcommand: arguments and runner.
//!
//! The `ticktape` binary adds `Convert(ticktape_data::cli::ConvertArgs)` to its
//! subcommands and calls [`run`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::convert::{ConvertOptions, SourceKind, convert};
use crate::report::ConvertReport;
use crate::sink::FixedExps;
use crate::{Error, Result};

const EXAMPLES: &str = "\
Examples:
  ticktape convert binance-ws usdm_btcusdt_20240808.gz -o tapes/
  ticktape convert binance-vision --checksum BTCUSDT-aggTrades-2024-08-0*.zip -o tapes/
  ticktape convert tardis binance-futures_trades_2020-02-*_BTCUSDT.csv.gz -o tapes/ --jobs 2
  ticktape convert tardis binance-futures_trades_2024-08-08_BTCUSDT.csv -o tapes/ --threads 2
  ticktape convert hyperliquid userFills.json --account 0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2 -o tapes/
  ticktape convert hftbacktest btcusdt.npz --symbol BTCUSDT --venue binance-futures --price-decimals 1 --qty-decimals 3 -o tapes/
  ticktape convert series-csv factor.csv --value-column momentum -o tapes/
  ticktape convert series-csv coinalyze_funding.csv --time-column timestamp --value-column funding_rate --decimals 10 -o tapes/
  ticktape convert ohlcv-csv hyperliquid_ccxt_top10_perps_daily_ohlcv.csv --venue hyperliquid -o tapes/
  ticktape convert binance-ws trades_only_capture.gz --dataset trades -o tapes/
  ticktape convert postgres --url postgres://postgres:password@localhost:5432/tsdb --table fills -o tapes/
  ticktape convert --list

Each (record kind, venue, symbol) becomes one tape named VENUE.SYMBOL.KIND.tape in DIR
(with --per-input: DIR/INPUT_STEM/VENUE.SYMBOL.KIND.tape). Exponents come from the data
unless --price-decimals/--qty-decimals/--value-decimals fix them; values are never rounded
(series-csv and ohlcv-csv excepted: --decimals N, default 12 and 8, counted in the summary). Impossible rows (non-positive
prices, zero-size trades, repeated trade ids, also across the input files of one stream, crossed
quotes, dates outside 2009..2100, the range a replay accepts) are errors, or dropped and counted
with --skip-bad. Columns a dataset does not have are errors (series-csv: unless --value-column
names the columns to read).";

/// Arguments of `ticktape convert`.
#[derive(clap::Args, Clone, Debug, Default)]
#[command(after_help = EXAMPLES, subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct ConvertArgs {
    /// A database source instead of files (`ticktape convert postgres --help`).
    #[command(subcommand)]
    pub db: Option<DbSource>,
    /// Kind of raw data.
    #[arg(value_enum, required_unless_present = "list")]
    pub source: Option<SourceKind>,
    /// Input files (.csv, .gz, .zip, .json, .npy, .npz); `.CHECKSUM` files are ignored.
    #[arg(required_unless_present = "list")]
    pub inputs: Vec<PathBuf>,
    /// Output folder for the tapes (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Dataset within the source (default: detected from file name and columns).
    #[arg(long)]
    pub dataset: Option<String>,
    /// List every source and dataset with an example, then exit.
    #[arg(long)]
    pub list: bool,
    /// Skip malformed rows (and rows later than the tolerance), reporting counts per reason.
    #[arg(long)]
    pub skip_bad: bool,
    /// Verify each .zip against the sha256 in its .zip.CHECKSUM (which must exist).
    #[arg(long)]
    pub checksum: bool,
    /// Fixed decimals for prices (default: from the data).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=18))]
    pub price_decimals: Option<u8>,
    /// Fixed decimals for quantities (default: from the data).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=18))]
    pub qty_decimals: Option<u8>,
    /// Fixed decimals for rates, money and series values (default: from the data).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=18))]
    pub value_decimals: Option<u8>,
    /// Write one set of tapes per input, in DIR/INPUT_STEM/.
    #[arg(long)]
    pub per_input: bool,
    /// Inputs converted at once (0: one per core).
    #[arg(short = 'j', long, default_value_t = 0)]
    pub jobs: usize,
    /// Threads parsing one CSV input in chunks of lines, in parallel (Tardis
    /// trades, quotes and incremental_book_L2; 0: the cores shared among the inputs
    /// converted at once). The tapes are the same for any count; 1 reads, parses and
    /// writes on one thread.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Chunk size of parallel CSV parsing, bytes (0: 1 MiB). For tests.
    #[arg(long, value_name = "BYTES", default_value_t = 0, hide = true)]
    pub chunk_bytes: usize,
    /// Reorder tolerance in ms: records up to this much out of time order are sorted;
    /// later ones are an error (or skipped with --skip-bad). Default 5000.
    #[arg(long, value_name = "MS")]
    pub tolerance_ms: Option<i64>,
    /// Venue name written in the tapes (default: from the data or source).
    #[arg(long)]
    pub venue: Option<String>,
    /// Symbol, for inputs that do not name one (hftbacktest arrays, series and OHLCV CSV).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Account address of Hyperliquid fill files (default: from the file name or data).
    #[arg(long)]
    pub account: Option<String>,
    /// Series / OHLCV CSV: the time column (default: t, ts, time, timestamp, date or datetime;
    /// for OHLCV the bar's open time, and `date` + `time` columns are joined).
    #[arg(long)]
    pub time_column: Option<String>,
    /// Series CSV: value column(s); each becomes a series id 0, 1, … in order (default: `value`).
    #[arg(long)]
    pub value_column: Vec<String>,
    /// Series / OHLCV CSV: round values with more decimals to N (half away from zero),
    /// counted in the summary. Default 12 (series), 8 (OHLCV).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=18))]
    pub decimals: Option<u8>,
    /// No summary on stdout (errors and data warnings still go to stderr).
    /// Not a flag of its own: the `ticktape` binary sets it from its global
    /// `-q`/`--quiet`, which `ticktape convert -q` still spells.
    #[arg(skip)]
    pub quiet: bool,
    /// Where to count the input bytes read, for a progress display (see
    /// [`ConvertOptions::progress`]); set by the `ticktape` binary.
    #[arg(skip)]
    pub progress: Option<Arc<AtomicU64>>,
}

/// Sources read from a database rather than files.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum DbSource {
    /// Fills from a PostgreSQL / TimescaleDB table or query (--url, --table or --query).
    Postgres(crate::postgres::PostgresArgs),
}

impl ConvertArgs {
    /// The library options these arguments stand for.
    pub fn options(&self) -> ConvertOptions {
        ConvertOptions {
            out_dir: self.out.clone(),
            dataset: self.dataset.clone(),
            skip_bad: self.skip_bad,
            checksum: self.checksum,
            decimals: FixedExps { price: self.price_decimals, qty: self.qty_decimals, value: self.value_decimals },
            per_input: self.per_input,
            jobs: self.jobs,
            threads: self.threads,
            chunk_bytes: self.chunk_bytes,
            tolerance_ms: self.tolerance_ms,
            venue: self.venue.clone(),
            symbol: self.symbol.clone(),
            account: self.account.clone(),
            time_column: self.time_column.clone(),
            value_columns: self.value_column.clone(),
            series_decimals: self.decimals,
            progress: self.progress.clone(),
            ..ConvertOptions::default()
        }
    }
}

/// The text of `--list`.
pub fn list_text() -> String {
    let mut s = String::from("Sources (ticktape convert SOURCE INPUT... -o DIR):\n");
    for k in SourceKind::ALL {
        s.push_str(&format!("\n{}  [datasets: {}]\n  {}\n", k.name(), k.datasets().join(", "), k.example()));
    }
    s.push_str("\npostgres  [a fills table or query; see `ticktape convert postgres --help`]\n  PostgreSQL / TimescaleDB fills table (seed columns time, user_address, coin, px, sz, side, dir, …) → fills tapes\n    ticktape convert postgres --url postgres://postgres:password@localhost:5432/tsdb --table fills -o tapes/\n");
    s
}

/// Runs `ticktape convert`: prints the tapes written and a summary to stdout,
/// warnings (skipped rows, gaps, out-of-order rows) to stderr.
pub fn run(args: &ConvertArgs) -> Result<ConvertReport> {
    if let Some(DbSource::Postgres(p)) = &args.db {
        return crate::postgres::run(p);
    }
    if args.list {
        print!("{}", list_text());
        return Ok(ConvertReport::default());
    }
    let source = args.source.ok_or_else(|| Error::Usage("SOURCE is required (see --list)".into()))?;
    if args.tolerance_ms.is_some_and(|t| t < 0) {
        return Err(Error::Usage("--tolerance-ms must not be negative".into()));
    }
    let report = convert(source, &args.inputs, &args.options())?;
    for w in report.warnings() {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        println!("{report}");
    }
    Ok(report)
}
