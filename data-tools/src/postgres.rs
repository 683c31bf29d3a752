//! PostgreSQL / TimescaleDB: a fills table → fills tapes (`ticktape convert postgres`).
//!
//! A venue-wide fills table, as a TimescaleDB hypertable keeps Hyperliquid's
//! fills, has one row per fill with the columns
//!
//! | column | accepted types | NULL |
//! |---|---|---|
//! | `time` | `bigint` (ms since 1970), `timestamptz`, `timestamp` (UTC) | no |
//! | `user_address` | `text`, `varchar`, `char(n)`, `bytea` (written as `0x` + hex) | no |
//! | `coin` | text types, at most 16 bytes | no |
//! | `px`, `sz` | `numeric`, text types (decimal text), `float8`/`float4`, integers | no |
//! | `start_position`, `closed_pnl`, `fee` | as `px` | yes (the tape holds `UNDEF`) |
//! | `side` | text types: `B` (buy) or `A` (sell) | no |
//! | `dir` | text types (`Open Long`, `Close Short`, `Long > Short`, `Buy`, …) | yes (`UNKNOWN`) |
//! | `crossed` | `boolean` | yes (maker) |
//! | `twap_id`, `builder` | any type: non-NULL sets `TWAP` / `BUILDER` | yes |
//! | `liquidation` | `jsonb`, `json`, text types | yes |
//! | `tid`, `oid` (optional) | integers, `numeric` | yes (0) |
//!
//! Other columns are ignored. Each row becomes one [`Fill`] with the record
//! semantics of the Hyperliquid JSON converter ([`crate::hyperliquid`]): the
//! account id is [`crate::hyperliquid::account_id`] of the lower-cased address, `dir`
//! codes, `side`, and the flags `CROSSED`, `LIQUIDATION` (the `liquidation`
//! value is set and not JSON `null`), `LIQUIDATED` (its `liquidatedUser` is the
//! row's own address), `TWAP` and `BUILDER`; `VENUE.accounts.csv` beside the
//! tapes maps ids to addresses.
//!
//! # Tape layout (`--split`)
//!
//! - `none` (default): one tape `VENUE.all.fills.tape` for every account and
//!   coin (records carry both). A venue-wide table has ~100k accounts; a file
//!   per account would be 100k files.
//! - `account`: one tape per account, `VENUE.0x<16 hex>.fills.tape`, the layout
//!   of `convert hyperliquid`. Refused beyond [`MAX_SPLIT_TAPES`] accounts.
//! - `coin`: one tape per coin, `VENUE.COIN.fills.tape`.
//!
//! # Reading
//!
//! The rows are streamed with `COPY (query) TO STDOUT (FORMAT binary)`: the
//! server sends binary values (no decimal or date text to render and parse),
//! and the client decodes each row in place from a reused buffer, so memory
//! does not grow with the table (a tape keeps at most its first 64k records in
//! memory while its exponents settle; `--split account`/`coin` hold that much
//! per tape). The query's columns are learned first by preparing it (nothing
//! runs), so a missing table, a missing column or a column of a type that is
//! not accepted is one error before any row is read.
//!
//! Order: `--table T` reads `SELECT … FROM T ORDER BY time` (with every read
//! column after `time` as tie-breaks, so the tape is the same each run). A
//! `--query` must return rows in time order; a row earlier than the one
//! before it stops the conversion with an error asking for `ORDER BY time`.
//! Nothing is written under a final tape name unless every row converted.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use futures_util::{FutureExt, StreamExt};
use ticktape_tape::{Fill, Stamp, dir, fill_flags, side};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Config, CopyOutStream, NoTls};

use crate::convert::{ConvertOptions, Ctx};
use crate::decimal::{Dec, DecError};
use crate::hyperliquid::account_id;
use crate::report::{ConvertReport, InputReport, OffsetSampler};
use crate::sink::Class::{P, Q, V};
use crate::sink::{FixedExps, Sink, SinkConfig, StreamId};
use crate::{Error, Result};

/// Most tapes `--split account` or `--split coin` writes before refusing.
pub const MAX_SPLIT_TAPES: usize = 10_000;

const EXAMPLES: &str = "\
Examples:
  ticktape convert postgres --url postgres://postgres:password@localhost:5432/tsdb --table fills -o tapes/
  ticktape convert postgres --url postgres://ticktape:secret@127.0.0.1:54329/ticktape \\
      --query \"SELECT * FROM fills WHERE coin = 'BTC' AND time >= 1735689600000 ORDER BY time\" -o tapes/btc
  ticktape convert postgres --url postgres://postgres:password@localhost:5432/tsdb \\
      --query \"SELECT * FROM fills WHERE user_address = '0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2' ORDER BY time\" \\
      --split account -o tapes/

The table or query needs the columns time, user_address, coin, px, sz, side, dir, start_position,
closed_pnl, fee, crossed, twap_id, builder, liquidation (tid and oid are read when present; other
columns are ignored). time: bigint ms since 1970, timestamptz or timestamp (UTC); px, sz,
start_position, closed_pnl, fee: numeric, decimal text, float or integer; side: 'B' or 'A';
crossed: boolean; liquidation: jsonb, json or text; user_address, coin, dir: text. Cast others in
--query (SELECT px::numeric AS px, …) or add a missing one as NULL (NULL::text AS builder).

--table T reads SELECT … FROM T ORDER BY time (ties broken by the other columns); a --query must
order its rows by time itself (ORDER BY time): a row earlier than the one before it is an error.
Rows stream through COPY … TO STDOUT (FORMAT binary) in constant memory. TLS is not built in: for a
server that requires it (sslmode=require), connect through an SSH tunnel or a local TLS proxy.";

/// How the fills are spread over tapes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// One tape, `VENUE.all.fills.tape`, for every account and coin.
    #[default]
    None,
    /// One tape per account, `VENUE.0x<16 hex>.fills.tape` (as `convert hyperliquid`).
    Account,
    /// One tape per coin, `VENUE.COIN.fills.tape`.
    Coin,
}

/// Arguments of `ticktape convert postgres`.
#[derive(clap::Args, Clone, Debug)]
#[command(after_help = EXAMPLES)]
pub struct PostgresArgs {
    /// Connection URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE (key=value strings work too).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Table (or schema.table) to read whole, in time order.
    #[arg(long, value_name = "T", required_unless_present = "query", conflicts_with = "query")]
    pub table: Option<String>,
    /// A SELECT returning the fills columns, ordered by time (ORDER BY time).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// Output folder for the tapes (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Tape layout: one tape for all (none), one per account, or one per coin.
    #[arg(long, value_enum, default_value_t = Split::None)]
    pub split: Split,
    /// Venue name written in the tapes.
    #[arg(long, default_value = "hyperliquid")]
    pub venue: String,
    /// Skip malformed rows, reporting counts per reason (rows out of time order still stop).
    #[arg(long)]
    pub skip_bad: bool,
    /// Fixed decimals for prices (default: from the data).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=18))]
    pub price_decimals: Option<u8>,
    /// Fixed decimals for sizes and positions (default: from the data).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=18))]
    pub qty_decimals: Option<u8>,
    /// Fixed decimals for PnL and fees (default: from the data).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=18))]
    pub value_decimals: Option<u8>,
    /// No summary on stdout (errors still go to stderr).
    #[arg(short, long)]
    pub quiet: bool,
    /// Where to count the rows read, for a progress display (see
    /// [`PgOptions::progress`]); set by the `ticktape` binary.
    #[arg(skip)]
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

/// What to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A whole table (`schema.table` allowed), read in time order.
    Table(String),
    /// A query returning rows in time order.
    Query(String),
}

/// Options of [`convert_postgres`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Output folder (created if missing).
    pub out_dir: PathBuf,
    /// Tape layout.
    pub split: Split,
    /// Venue written in the tapes.
    pub venue: String,
    /// Skip malformed rows (counted) instead of stopping.
    pub skip_bad: bool,
    /// Fixed decimals (`None` each: from the data).
    pub decimals: FixedExps,
    /// Where to count the rows read so far, for a progress display that
    /// polls it (`None`: not counted). Updated every 16,384 rows and at the
    /// end, so the count costs nothing per row.
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            out_dir: PathBuf::from("."),
            split: Split::None,
            venue: "hyperliquid".into(),
            skip_bad: false,
            decimals: FixedExps::default(),
            progress: None,
        }
    }
}

/// Runs `ticktape convert postgres`: prints the tapes written and a summary.
pub fn run(args: &PostgresArgs) -> Result<ConvertReport> {
    let source = match (&args.table, &args.query) {
        (Some(t), None) => Source::Table(t.clone()),
        (None, Some(q)) => Source::Query(q.clone()),
        _ => return Err(Error::Usage("give one of --table T or --query SQL".into())),
    };
    let opts = PgOptions {
        out_dir: args.out.clone(),
        split: args.split,
        venue: args.venue.clone(),
        skip_bad: args.skip_bad,
        decimals: FixedExps { price: args.price_decimals, qty: args.qty_decimals, value: args.value_decimals },
        progress: args.progress.clone(),
    };
    let report = convert_postgres(&args.url, &source, &opts)?;
    for w in report.warnings() {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        println!("{report}");
    }
    Ok(report)
}

/// The URL without its password, for messages.
fn redacted(cfg: &Config) -> String {
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("");
    let db = cfg.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// One line for a client error: SQLSTATE-specific advice where there is some.
fn pg_error(target: &str, doing: &str, e: &tokio_postgres::Error) -> Error {
    let why = if let Some(db) = e.as_db_error() {
        let code = db.code();
        let msg = db.message();
        let advice = if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            "check the user and password in --url"
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            "check the database name at the end of --url"
        } else if *code == SqlState::UNDEFINED_TABLE {
            "check --table (schema.table) or the FROM of --query, and the database in --url"
        } else if *code == SqlState::UNDEFINED_COLUMN {
            "check the column names in --query (see `ticktape convert postgres --help`)"
        } else if *code == SqlState::SYNTAX_ERROR {
            "fix the SQL of --query"
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            "grant the user SELECT on the table, or connect as another user"
        } else {
            "see the server's message"
        };
        let hint = db.hint().map(|h| format!(" ({h})")).unwrap_or_default();
        format!("{doing}: {msg}{hint} [SQLSTATE {}]; {advice}", code.code())
    } else {
        let mut text = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            let t = s.to_string();
            if !text.contains(&t) {
                text.push_str(": ");
                text.push_str(&t);
            }
            src = s.source();
        }
        let advice = if text.contains("TLS") {
            "this build has no TLS: use sslmode=disable through an SSH tunnel or a local TLS proxy"
        } else if text.contains("refused") || text.contains("timed out") || text.contains("resolve") {
            "is the server running and listening there (host and port in --url)?"
        } else {
            "check --url and the server"
        };
        format!("{doing}: {text}; {advice}")
    };
    Error::Postgres { target: target.to_owned(), why }
}

/// Reads fills from PostgreSQL at `url` into fills tapes in `opts.out_dir`.
///
/// See the module documentation for the columns, types, order and layout.
pub fn convert_postgres(url: &str, source: &Source, opts: &PgOptions) -> Result<ConvertReport> {
    let start = Instant::now();
    let mut cfg: Config = url.parse().map_err(|e| {
        Error::Usage(format!(
            "--url is not a PostgreSQL connection URL ({e}); write postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        ))
    })?;
    let target = redacted(&cfg);
    if cfg.get_ssl_mode() == SslMode::Require {
        return Err(Error::Postgres {
            target,
            why: "sslmode=require, but this build has no TLS; connect through an SSH tunnel or a local TLS proxy with sslmode=disable".into(),
        });
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(std::time::Duration::from_secs(15));
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("ticktape convert postgres");
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Error::Postgres {
        target: target.clone(),
        why: format!("cannot start the client runtime: {e}"),
    })?;
    let (client, connection) = rt.block_on(cfg.connect(NoTls)).map_err(|e| pg_error(&target, "cannot connect", &e))?;
    // The connection runs whenever the runtime is entered (a block_on below).
    let connection = rt.spawn(async move {
        let _ = connection.await;
    });

    let (label, sql) = match source {
        Source::Table(t) => {
            check_table_name(t)?;
            (format!("postgres:{t}"), format!("SELECT * FROM {t}"))
        }
        Source::Query(q) => ("postgres:query".to_owned(), q.trim().trim_end_matches(';').trim_end().to_owned()),
    };
    let what = match source {
        Source::Table(t) => format!("table {t}"),
        Source::Query(_) => "the query".to_owned(),
    };
    let stmt = rt.block_on(client.prepare(&sql)).map_err(|e| pg_error(&target, &format!("cannot read {what}"), &e))?;
    let cols: Vec<(String, Type)> = stmt.columns().iter().map(|c| (c.name().to_owned(), c.type_().clone())).collect();
    let plan =
        Plan::new(&cols).map_err(|why| Error::Postgres { target: target.clone(), why: format!("{what} {why}") })?;
    let copy_sql = match source {
        Source::Table(t) => format!("COPY ({}) TO STDOUT (FORMAT binary)", plan.table_query(t, &cols)),
        Source::Query(_) => format!("COPY ({sql}) TO STDOUT (FORMAT binary)"),
    };
    // The columns the COPY sends: the table query names them in the plan's order.
    let plan = match source {
        Source::Table(_) => {
            Plan::new(&plan.selected(&cols)).map_err(|why| Error::Postgres { target: target.clone(), why })?
        }
        Source::Query(_) => plan,
    };

    std::fs::create_dir_all(&opts.out_dir).map_err(|e| Error::io(&opts.out_dir, "create output folder", e))?;
    let copts = ConvertOptions {
        out_dir: opts.out_dir.clone(),
        skip_bad: opts.skip_bad,
        decimals: opts.decimals,
        tolerance_ms: Some(0),
        venue: Some(opts.venue.clone()),
        ..ConvertOptions::default()
    };
    let label_path = PathBuf::from(&label);
    let cfg = SinkConfig {
        dir: opts.out_dir.clone(),
        tag: "ticktape-convert-postgres".into(),
        tolerance_ns: 0,
        max_buffered: copts.max_buffered,
        fixed: opts.decimals,
        grid_ticks: false,
    };
    let mut ctx = Ctx {
        opts: &copts,
        path: label_path.clone(),
        sink: Sink::new(cfg),
        stats: InputReport { path: label_path.clone(), dataset: "fills".into(), ..InputReport::default() },
        offsets: OffsetSampler::default(),
        accounts: BTreeMap::new(),
        recent: Vec::new(),
        threads: 1,
    };
    let stream =
        rt.block_on(client.copy_out(&copy_sql)).map_err(|e| pg_error(&target, &format!("cannot read {what}"), &e))?;
    let reader = Messages { rt: &rt, stream: Box::pin(stream), pending: bytes::Bytes::new(), done: false, error: None };
    let mut conv = Converter::new(plan, opts.split, &opts.venue, source);
    conv.progress = opts.progress.clone();
    let mut copy = CopyReader::new(reader);
    let bytes = match conv.run(&mut ctx, &mut copy) {
        Ok(b) => b,
        Err(ReadError::Convert(e)) => return Err(e),
        Err(ReadError::Io(e)) => {
            return Err(match copy.r.error.take() {
                Some(pe) => pg_error(&target, "reading the rows failed", &pe),
                None => Error::Postgres { target: target.clone(), why: format!("reading the rows failed: {e}") },
            });
        }
    };
    drop(copy);
    drop(client);
    connection.abort();
    ctx.stats.bytes_in = bytes;
    ctx.stats.bytes_decoded = bytes;
    if ctx.stats.rows == 0 {
        ctx.stats.notes.push(format!("{what} returned no rows"));
    }
    if !conv.collided.is_empty() {
        ctx.stats.notes.push(format!(
            "{} addresses share their first 16 hex digits (their account id) with another address, e.g. {}; their fills carry that id, and the accounts table names the first address",
            conv.collided.len(),
            conv.collided.iter().next().map_or("", String::as_str)
        ));
    }
    let outs = ctx.sink.finish()?;
    let accounts = std::mem::take(&mut ctx.accounts);
    let stats = ctx.stats;
    let outputs: Vec<_> = outs.into_iter().map(|o| (0usize, o)).collect();
    let parts =
        crate::convert::Parts(outputs.iter().flat_map(|(_, o)| o.segments.iter().map(|s| s.path.clone())).collect());
    let (tapes, _) = crate::convert::finalize(&[label_path], outputs, &copts)?;
    drop(parts);
    let mut side_files = Vec::new();
    if !accounts.is_empty() {
        side_files.push(crate::convert::write_accounts(&opts.out_dir, &opts.venue, &accounts)?);
    }
    Ok(ConvertReport { inputs: vec![stats], tapes, side_files, elapsed: start.elapsed() })
}

/// `name` or `schema.name`, unquoted identifiers or double-quoted ones.
fn check_table_name(t: &str) -> Result<()> {
    let ident = |s: &str| {
        (s.len() >= 2 && s.starts_with('"') && s.ends_with('"') && !s[1..s.len() - 1].contains('"'))
            || (s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$'))
    };
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| ident(p)) {
        return Err(Error::Usage(format!(
            "--table {t:?} is not a table name (name or schema.name); for anything else give --query \"SELECT … ORDER BY time\""
        )));
    }
    Ok(())
}

/// How a time column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeT {
    /// `bigint`, ms since 1970.
    Ms8,
    /// `timestamp`/`timestamptz`, µs since 2000-01-01.
    Us2000,
}

/// How a numeric column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumT {
    Numeric,
    Text,
    F8,
    F4,
    I8,
    I4,
    I2,
}

/// How a text column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextT {
    Text,
    Bytea,
}

/// How a liquidation column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonT {
    Jsonb,
    Text,
}

fn is_text(t: &Type) -> bool {
    [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::CHAR, Type::UNKNOWN].contains(t)
}

fn num_type(t: &Type) -> Option<NumT> {
    Some(match *t {
        Type::NUMERIC => NumT::Numeric,
        Type::FLOAT8 => NumT::F8,
        Type::FLOAT4 => NumT::F4,
        Type::INT8 => NumT::I8,
        Type::INT4 => NumT::I4,
        Type::INT2 => NumT::I2,
        _ if is_text(t) => NumT::Text,
        _ => return None,
    })
}

/// Column positions and storage of one query's result.
#[derive(Clone, Copy, Debug)]
struct Plan {
    ncols: usize,
    time: (usize, TimeT),
    user: (usize, TextT),
    coin: usize,
    px: (usize, NumT),
    sz: (usize, NumT),
    side: usize,
    dir: usize,
    start_position: (usize, NumT),
    closed_pnl: (usize, NumT),
    fee: (usize, NumT),
    crossed: usize,
    twap_id: usize,
    builder: usize,
    liquidation: (usize, JsonT),
    tid: Option<(usize, NumT)>,
    oid: Option<(usize, NumT)>,
}

/// The seed's fills columns, in the order the table query selects them.
const COLUMNS: [&str; 14] = [
    "time",
    "user_address",
    "coin",
    "px",
    "sz",
    "side",
    "dir",
    "start_position",
    "closed_pnl",
    "fee",
    "crossed",
    "twap_id",
    "builder",
    "liquidation",
];

impl Plan {
    /// Finds and checks the columns; `Err` is the end of a message starting with "the query"/"table T".
    fn new(cols: &[(String, Type)]) -> std::result::Result<Plan, String> {
        let find = |name: &str| cols.iter().position(|(n, _)| n == name);
        let names = || cols.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
        let col = |name: &str| -> std::result::Result<(usize, &Type), String> {
            match find(name) {
                Some(i) => Ok((i, &cols[i].1)),
                None => Err(format!(
                    "has no column {name:?} (it has: {}); a fills table needs {}: name or cast columns in --query (… AS {name}), or add a missing one as NULL (NULL::text AS {name})",
                    names(),
                    COLUMNS.join(", ")
                )),
            }
        };
        let wrong = |name: &str, t: &Type, want: &str, cast: &str| {
            format!(
                "column {name} is of type {}; {name} must be {want}: cast it in --query (SELECT {name}::{cast} AS {name}, …)",
                t.name()
            )
        };
        let num = |name: &str| -> std::result::Result<(usize, NumT), String> {
            let (i, t) = col(name)?;
            num_type(t).map(|n| (i, n)).ok_or_else(|| {
                wrong(name, t, "numeric, decimal text (text/varchar), float8, float4 or an integer type", "numeric")
            })
        };
        let text = |name: &str| -> std::result::Result<usize, String> {
            let (i, t) = col(name)?;
            if is_text(t) { Ok(i) } else { Err(wrong(name, t, "text, varchar or char", "text")) }
        };
        let (ti, tt) = col("time")?;
        let time = match *tt {
            Type::INT8 => TimeT::Ms8,
            Type::TIMESTAMPTZ | Type::TIMESTAMP => TimeT::Us2000,
            _ => {
                return Err(wrong("time", tt, "bigint (ms since 1970), timestamptz or timestamp", "timestamptz"));
            }
        };
        let (ui, ut) = col("user_address")?;
        let user = if is_text(ut) {
            TextT::Text
        } else if *ut == Type::BYTEA {
            TextT::Bytea
        } else {
            return Err(wrong("user_address", ut, "text, varchar, char or bytea", "text"));
        };
        let (ci, ct) = col("crossed")?;
        if *ct != Type::BOOL {
            return Err(wrong("crossed", ct, "boolean", "boolean"));
        }
        let (li, lt) = col("liquidation")?;
        let liq = if *lt == Type::JSONB {
            JsonT::Jsonb
        } else if *lt == Type::JSON || is_text(lt) {
            JsonT::Text
        } else {
            return Err(wrong("liquidation", lt, "jsonb, json or text", "jsonb"));
        };
        let id = |name: &str| -> std::result::Result<Option<(usize, NumT)>, String> {
            match find(name) {
                None => Ok(None),
                Some(i) => match num_type(&cols[i].1) {
                    Some(n @ (NumT::Numeric | NumT::I8 | NumT::I4 | NumT::I2)) => Ok(Some((i, n))),
                    _ => Err(wrong(name, &cols[i].1, "bigint, integer or numeric", "bigint")),
                },
            }
        };
        Ok(Plan {
            ncols: cols.len(),
            time: (ti, time),
            user: (ui, user),
            coin: text("coin")?,
            px: num("px")?,
            sz: num("sz")?,
            side: text("side")?,
            dir: text("dir")?,
            start_position: num("start_position")?,
            closed_pnl: num("closed_pnl")?,
            fee: num("fee")?,
            crossed: ci,
            twap_id: col("twap_id")?.0,
            builder: col("builder")?.0,
            liquidation: (li, liq),
            tid: id("tid")?,
            oid: id("oid")?,
        })
    }

    /// The columns the table query selects: the 14, then `tid` and `oid` if present.
    fn selected(&self, cols: &[(String, Type)]) -> Vec<(String, Type)> {
        let mut idx: Vec<usize> = vec![
            self.time.0,
            self.user.0,
            self.coin,
            self.px.0,
            self.sz.0,
            self.side,
            self.dir,
            self.start_position.0,
            self.closed_pnl.0,
            self.fee.0,
            self.crossed,
            self.twap_id,
            self.builder,
            self.liquidation.0,
        ];
        idx.extend(self.tid.map(|t| t.0));
        idx.extend(self.oid.map(|t| t.0));
        idx.into_iter().map(|i| cols[i].clone()).collect()
    }

    /// `SELECT <columns> FROM t ORDER BY time, <tie-breaks>`.
    fn table_query(&self, table: &str, cols: &[(String, Type)]) -> String {
        let sel = self.selected(cols);
        let list: Vec<&str> = sel.iter().map(|(n, _)| n.as_str()).collect();
        // Every sortable column after time, so equal times come in one order each run.
        let sortable = |t: &Type| {
            *t != Type::JSON
                && (num_type(t).is_some()
                    || is_text(t)
                    || [Type::BOOL, Type::JSONB, Type::BYTEA, Type::TIMESTAMPTZ, Type::TIMESTAMP].contains(t))
        };
        let mut order: Vec<&str> = vec!["time"];
        if self.tid.is_some() {
            order.push("tid");
        }
        for (n, t) in &sel {
            if !order.contains(&n.as_str()) && sortable(t) {
                order.push(n);
            }
        }
        format!("SELECT {} FROM {table} ORDER BY {}", list.join(", "), order.join(", "))
    }
}

/// A failure while streaming: the connection, or a row.
#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Convert(Error),
}

impl From<Error> for ReadError {
    fn from(e: Error) -> Self {
        ReadError::Convert(e)
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The COPY stream's messages as bytes: each `read` enters the runtime once
/// and takes every message already received (the first one waited for), so
/// the runtime is entered once per batch of rows, not once per row.
struct Messages<'r> {
    rt: &'r tokio::runtime::Runtime,
    stream: std::pin::Pin<Box<CopyOutStream>>,
    pending: bytes::Bytes,
    /// CopyDone came: the stream must not be polled again.
    done: bool,
    /// The server's error that ended the stream.
    error: Option<tokio_postgres::Error>,
}

impl Read for Messages<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let Messages { rt, stream, pending, done, error } = self;
        if *done && pending.is_empty() {
            return Ok(0);
        }
        rt.block_on(async {
            let mut n = 0;
            loop {
                if !pending.is_empty() {
                    let k = pending.len().min(out.len() - n);
                    out[n..n + k].copy_from_slice(&pending[..k]);
                    bytes::Buf::advance(pending, k);
                    n += k;
                    if n == out.len() {
                        return Ok(n);
                    }
                }
                if *done {
                    return Ok(n);
                }
                let next = if n == 0 {
                    stream.next().await
                } else {
                    match stream.next().now_or_never() {
                        Some(x) => x,
                        None => return Ok(n),
                    }
                };
                match next {
                    None => {
                        *done = true;
                        return Ok(n);
                    }
                    Some(Err(e)) => {
                        let text = e.to_string();
                        *error = Some(e);
                        return Err(std::io::Error::other(text));
                    }
                    Some(Ok(b)) => *pending = b,
                }
            }
        })
    }
}

/// The binary COPY stream: a signature, then tuples (`i16` field count, then
/// per field an `i32` length, -1 for NULL, and the bytes), then `-1`.
struct CopyReader<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    total: u64,
}

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// One parse attempt over buffered bytes.
enum Parsed {
    /// A tuple of this many bytes.
    Tuple(usize),
    /// The end marker.
    Trailer,
    /// More bytes are needed.
    Incomplete,
}

impl<R: Read> CopyReader<R> {
    fn new(r: R) -> Self {
        CopyReader { r, buf: vec![0; 1 << 20], pos: 0, end: 0, total: 0 }
    }

    /// Reads more bytes, keeping the unparsed tail; `false` at the end of the stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    self.total += n as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn header(&mut self) -> std::io::Result<()> {
        while self.end - self.pos < 19 {
            if !self.fill()? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the COPY stream ended in its header",
                ));
            }
        }
        let b = &self.buf[self.pos..self.end];
        if &b[..11] != SIGNATURE {
            return Err(std::io::Error::other("the COPY stream does not start with the binary signature"));
        }
        let ext = u32::from_be_bytes([b[15], b[16], b[17], b[18]]) as usize;
        while self.end - self.pos < 19 + ext {
            if !self.fill()? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the COPY stream ended in its header",
                ));
            }
        }
        self.pos += 19 + ext;
        Ok(())
    }

    /// The next tuple's bytes with each field's range in `fields` (`None`: NULL);
    /// `None` after the last tuple.
    #[inline]
    fn next(&mut self, fields: &mut [Option<(u32, u32)>]) -> std::io::Result<Option<&[u8]>> {
        loop {
            match parse_tuple(&self.buf[self.pos..self.end], fields)? {
                Parsed::Tuple(n) => {
                    let t = &self.buf[self.pos..self.pos + n];
                    self.pos += n;
                    return Ok(Some(t));
                }
                Parsed::Trailer => return Ok(None),
                Parsed::Incomplete => {
                    if !self.fill()? {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the COPY stream ended inside a row (the connection was lost?)",
                        ));
                    }
                }
            }
        }
    }
}

#[inline]
fn parse_tuple(b: &[u8], fields: &mut [Option<(u32, u32)>]) -> std::io::Result<Parsed> {
    if b.len() < 2 {
        return Ok(Parsed::Incomplete);
    }
    let n = i16::from_be_bytes([b[0], b[1]]);
    if n == -1 {
        return Ok(Parsed::Trailer);
    }
    if n as usize != fields.len() {
        return Err(std::io::Error::other(format!("a COPY row has {n} fields, the query {}", fields.len())));
    }
    let mut at = 2usize;
    for f in fields.iter_mut() {
        if b.len() < at + 4 {
            return Ok(Parsed::Incomplete);
        }
        let len = i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        at += 4;
        if len < 0 {
            *f = None;
        } else {
            let len = len as usize;
            if b.len() < at + len {
                return Ok(Parsed::Incomplete);
            }
            *f = Some((at as u32, (at + len) as u32));
            at += len;
        }
    }
    Ok(Parsed::Tuple(at))
}

/// The decimal of a binary `numeric`: digits in base 10,000, a weight, a sign.
/// Integer arithmetic in `u64` only (no 128-bit division on the hot path).
#[inline]
fn numeric(b: &[u8]) -> std::result::Result<Dec, DecError> {
    if b.len() < 8 {
        return Err(DecError::Malformed);
    }
    let nd = u16::from_be_bytes([b[0], b[1]]) as usize;
    let weight = i32::from(i16::from_be_bytes([b[2], b[3]]));
    let sign = u16::from_be_bytes([b[4], b[5]]);
    if sign != 0 && sign != 0x4000 {
        return Err(DecError::Malformed); // NaN, ±Infinity
    }
    if b.len() != 8 + 2 * nd {
        return Err(DecError::Malformed);
    }
    let digit = |i: usize| u64::from(u16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]));
    // Trailing zero groups carry no digits.
    let mut n = nd;
    while n > 0 && digit(n - 1) == 0 {
        n -= 1;
    }
    if n == 0 {
        return Ok(Dec::default());
    }
    // The last group stands for 10000^last.
    let last = weight - (n as i32 - 1);
    let mut m: u64 = 0;
    for i in 0..n - 1 {
        m = m.checked_mul(10_000).and_then(|m| m.checked_add(digit(i))).ok_or(DecError::TooLarge)?;
    }
    let d = digit(n - 1);
    let mut frac: i32 = 0;
    if last < 0 {
        // A fractional group: its trailing decimal zeros are not digits either.
        let z = if d % 1000 == 0 {
            3
        } else if d % 100 == 0 {
            2
        } else if d % 10 == 0 {
            1
        } else {
            0
        };
        let scale = [10_000u64, 1_000, 100, 10][z];
        m = m.checked_mul(scale).and_then(|m| m.checked_add(d / (10_000 / scale))).ok_or(DecError::TooLarge)?;
        frac = -4 * last - z as i32;
    } else {
        m = m.checked_mul(10_000).and_then(|m| m.checked_add(d)).ok_or(DecError::TooLarge)?;
        for _ in 0..last {
            m = m.checked_mul(10_000).ok_or(DecError::TooLarge)?;
        }
    }
    if frac > i32::from(crate::decimal::MAX_DECIMALS) {
        return Err(DecError::TooPrecise);
    }
    if m > i64::MAX as u64 {
        return Err(DecError::TooLarge);
    }
    let m = m as i64;
    Ok(Dec { mant: if sign == 0x4000 { -m } else { m }, frac: frac as u8 })
}

fn be8(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

fn be4(b: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(b.try_into().ok()?))
}

fn be2(b: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(b.try_into().ok()?))
}

/// A numeric field as an exact decimal.
#[inline]
fn dec(b: &[u8], t: NumT) -> std::result::Result<Dec, DecError> {
    match t {
        NumT::Numeric => numeric(b),
        NumT::Text => Dec::parse(crate::common::trim(b)),
        NumT::F8 => Dec::from_f64(f64::from_be_bytes(b.try_into().map_err(|_| DecError::Malformed)?)),
        NumT::F4 => Dec::from_f64(f64::from(f32::from_be_bytes(b.try_into().map_err(|_| DecError::Malformed)?))),
        NumT::I8 => Ok(Dec { mant: be8(b).ok_or(DecError::Malformed)?, frac: 0 }),
        NumT::I4 => Ok(Dec { mant: i64::from(be4(b).ok_or(DecError::Malformed)?), frac: 0 }),
        NumT::I2 => Ok(Dec { mant: i64::from(be2(b).ok_or(DecError::Malformed)?), frac: 0 }),
    }
}

/// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// The fill time as ns since 1970.
#[inline]
fn time_ns(b: &[u8], t: TimeT) -> Option<i64> {
    match t {
        TimeT::Ms8 => crate::time::ms(be8(b)?),
        TimeT::Us2000 => be8(b)?.checked_add(PG_EPOCH_US)?.checked_mul(1_000),
    }
}

/// Row → record, with the stream lookups and account table.
struct Converter {
    plan: Plan,
    split: Split,
    venue: String,
    /// `true` for `--query` (its order is checked), `false` for `--table`.
    check_order: bool,
    /// Rows read so far (see [`PgOptions::progress`]).
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    fields: Vec<Option<(u32, u32)>>,
    /// Scratch for a bytea address as hex.
    lower: String,
    streams: HashMap<u64, StreamId>,
    coin_streams: HashMap<[u8; 16], StreamId>,
    single: Option<StreamId>,
    prev_ts: i64,
    /// Addresses whose id an earlier, other address already has.
    collided: std::collections::BTreeSet<String>,
}

impl Converter {
    fn new(plan: Plan, split: Split, venue: &str, source: &Source) -> Self {
        Converter {
            fields: vec![None; plan.ncols],
            plan,
            split,
            venue: venue.to_owned(),
            check_order: matches!(source, Source::Query(_)),
            progress: None,
            lower: String::new(),
            streams: HashMap::new(),
            coin_streams: HashMap::new(),
            single: None,
            prev_ts: i64::MIN,
            collided: std::collections::BTreeSet::new(),
        }
    }

    /// Streams every row into `ctx`; returns the bytes read.
    fn run<R: Read>(&mut self, ctx: &mut Ctx<'_>, copy: &mut CopyReader<R>) -> std::result::Result<u64, ReadError> {
        copy.header()?;
        let mut fields = std::mem::take(&mut self.fields);
        let mut row = 0u64;
        let progress = self.progress.clone();
        let count = |n: u64| {
            if let Some(p) = &progress {
                p.store(n, std::sync::atomic::Ordering::Relaxed);
            }
        };
        while let Some(t) = copy.next(&mut fields)? {
            row += 1;
            self.row(ctx, row, t, &fields)?;
            if row.is_multiple_of(16_384) {
                count(row);
            }
        }
        count(row);
        self.fields = fields;
        // Drain to the end of the COPY so the connection stays usable.
        let mut sink = [0u8; 4096];
        while copy.r.read(&mut sink)? > 0 {}
        Ok(copy.total)
    }

    /// Text of the row for messages (cold).
    #[cold]
    fn show(&self, t: &[u8], f: &[Option<(u32, u32)>]) -> Vec<u8> {
        let p = &self.plan;
        let get = |i: usize| f[i].map(|(a, b)| &t[a as usize..b as usize]);
        let txt = |i: usize| get(i).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_else(|| "NULL".into());
        let num = |c: (usize, NumT)| match get(c.0) {
            None => "NULL".to_owned(),
            Some(b) => dec(b, c.1).map(|d| d.to_string()).unwrap_or_else(|e| format!("<{}>", e.why())),
        };
        let time = get(p.time.0)
            .and_then(|b| time_ns(b, p.time.1))
            .map(crate::time::date_text)
            .unwrap_or_else(|| "NULL".into());
        let user = match p.user.1 {
            TextT::Text => txt(p.user.0),
            TextT::Bytea => get(p.user.0).map(hex_address).unwrap_or_else(|| "NULL".into()),
        };
        format!(
            "time={time} user_address={user} coin={} px={} sz={} side={} dir={}",
            txt(p.coin),
            num(p.px),
            num(p.sz),
            txt(p.side),
            txt(p.dir)
        )
        .into_bytes()
    }

    /// The account id of the row's address, recording new ones in `ctx.accounts`.
    /// No allocation and no UTF-8 check for an address seen before.
    #[inline]
    fn account(&mut self, ctx: &mut Ctx<'_>, addr: &[u8], bytea: bool) -> u64 {
        let text: &[u8] = if bytea {
            self.lower.clear();
            push_hex(&mut self.lower, addr);
            self.lower.as_bytes()
        } else {
            crate::common::trim(addr)
        };
        let id = account_id_bytes(text);
        match ctx.accounts.get(&id) {
            Some(a) if !a.as_bytes().eq_ignore_ascii_case(text) => {
                let lower = String::from_utf8_lossy(text).to_ascii_lowercase();
                if !self.collided.contains(&lower) {
                    self.collided.insert(lower);
                }
            }
            Some(_) => {}
            None => {
                let lower = String::from_utf8_lossy(text).to_ascii_lowercase();
                ctx.accounts.insert(id, if lower.is_empty() { "unknown".into() } else { lower });
            }
        }
        id
    }

    /// The stream of a fill of `account` in `coin`.
    #[inline]
    fn stream(&mut self, ctx: &mut Ctx<'_>, account: u64, coin: &[u8; 16], coin_b: &[u8]) -> Result<StreamId> {
        match self.split {
            Split::None => {
                if let Some(s) = self.single {
                    return Ok(s);
                }
                let s = ctx.sink.stream::<Fill>(&self.venue, "all", false);
                self.single = Some(s);
                Ok(s)
            }
            Split::Account => {
                if let Some(&s) = self.streams.get(&account) {
                    return Ok(s);
                }
                self.too_many(self.streams.len(), "account")?;
                let s = ctx.sink.stream::<Fill>(&self.venue, &format!("0x{account:016x}"), false);
                self.streams.insert(account, s);
                Ok(s)
            }
            Split::Coin => {
                if let Some(&s) = self.coin_streams.get(coin) {
                    return Ok(s);
                }
                self.too_many(self.coin_streams.len(), "coin")?;
                let s = ctx.sink.stream::<Fill>(&self.venue, &String::from_utf8_lossy(coin_b), false);
                self.coin_streams.insert(*coin, s);
                Ok(s)
            }
        }
    }

    fn too_many(&self, n: usize, what: &str) -> Result<()> {
        if n >= MAX_SPLIT_TAPES {
            return Err(Error::Usage(format!(
                "more than {MAX_SPLIT_TAPES} {what}s: --split {what} would write a tape for each; use --split none (one tape, the default), or narrow the query with WHERE"
            )));
        }
        Ok(())
    }

    #[inline]
    fn row(&mut self, ctx: &mut Ctx<'_>, line: u64, t: &[u8], f: &[Option<(u32, u32)>]) -> Result<()> {
        ctx.stats.rows += 1;
        let p = self.plan;
        let get = |i: usize| f[i].map(|(a, b)| &t[a as usize..b as usize]);
        let Some(ts) = get(p.time.0).and_then(|b| time_ns(b, p.time.1)) else {
            return ctx.bad(line, &self.show(t, f), "time is NULL or out of range");
        };
        if ts < self.prev_ts && self.check_order {
            return Err(Error::Postgres {
                target: ctx.path.display().to_string(),
                why: format!(
                    "row {line}: time {} UTC is before the previous row's {} UTC: the query's rows are not in time order; add ORDER BY time to --query",
                    crate::time::date_text(ts),
                    crate::time::date_text(self.prev_ts)
                ),
            });
        }
        self.prev_ts = self.prev_ts.max(ts);
        // Text as sent; char(n) pads with spaces, which are not part of a name.
        let text = |i: usize| get(i).map(crate::common::trim);
        let (Some(addr), Some(coin_b), Some(side_b)) = (get(p.user.0), text(p.coin), text(p.side)) else {
            return ctx.bad(line, &self.show(t, f), "user_address, coin or side is NULL");
        };
        let sd = match side_b {
            b"B" => side::BUY,
            b"A" => side::SELL,
            _ => return ctx.bad(line, &self.show(t, f), "side is not B or A"),
        };
        let (Some(px), Some(sz)) = (get(p.px.0), get(p.sz.0)) else {
            return ctx.bad(line, &self.show(t, f), "px or sz is NULL");
        };
        let (Ok(px), Ok(sz)) = (dec(px, p.px.1), dec(sz, p.sz.1)) else {
            return ctx.bad(line, &self.show(t, f), "bad px or sz");
        };
        if sz.mant <= 0 {
            return ctx.bad(line, &self.show(t, f), "fill size is not positive");
        }
        if coin_b.len() > 16 {
            return ctx.bad(line, &self.show(t, f), "coin name longer than 16 bytes");
        }
        let opt = |c: (usize, NumT)| get(c.0).map(|b| dec(b, c.1)).transpose();
        let (Ok(sp), Ok(pnl), Ok(fee)) = (opt(p.start_position), opt(p.closed_pnl), opt(p.fee)) else {
            return ctx.bad(line, &self.show(t, f), "bad start_position, closed_pnl or fee");
        };
        let id_of = |c: Option<(usize, NumT)>| -> std::result::Result<u64, ()> {
            match c.and_then(|c| get(c.0).map(|b| (b, c.1))) {
                None => Ok(0),
                Some((b, nt)) => match dec(b, nt) {
                    Ok(d) if d.frac == 0 && d.mant >= 0 => Ok(d.mant as u64),
                    _ => Err(()),
                },
            }
        };
        let (Ok(tid), Ok(oid)) = (id_of(p.tid), id_of(p.oid)) else {
            return ctx.bad(line, &self.show(t, f), "tid or oid is not a non-negative integer");
        };
        let account = self.account(ctx, addr, p.user.1 == TextT::Bytea);
        let mut symbol = [0u8; 16];
        symbol[..coin_b.len()].copy_from_slice(coin_b);
        let sid = self.stream(ctx, account, &symbol, coin_b)?;
        let vals = [(Some(px), P), (Some(sz), Q), (sp, Q), (pnl, V), (fee, V)];
        let v = match ctx.sink.fit::<Fill, 5>(sid, vals) {
            Ok(v) => v,
            Err(m) => {
                let texts = vals.map(|(d, _)| d.map(|d| d.to_string().into_bytes()).unwrap_or_default());
                let refs: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
                return ctx.misfit(m, line, &refs);
            }
        };
        let mut flags = 0;
        if get(p.crossed) == Some(&[1u8][..]) {
            flags |= fill_flags::CROSSED;
        }
        if let Some(liq) = get(p.liquidation.0) {
            let json = match p.liquidation.1 {
                JsonT::Jsonb => liq.get(1..).unwrap_or_default(),
                JsonT::Text => liq,
            };
            let trimmed = crate::common::trim(json);
            if !trimmed.is_empty() && trimmed != b"null" {
                flags |= fill_flags::LIQUIDATION;
                if account != 0 && liquidated(json) == Some(account) {
                    flags |= fill_flags::LIQUIDATED;
                }
            }
        }
        if get(p.twap_id).is_some() {
            flags |= fill_flags::TWAP;
        }
        if get(p.builder).is_some() {
            flags |= fill_flags::BUILDER;
        }
        let dir = text(p.dir).map(crate::hyperliquid::dir_code_bytes).unwrap_or(dir::UNKNOWN);
        let rec = Fill {
            ts: Stamp { exchange: ts, local: ts },
            account,
            price: v[0],
            qty: v[1],
            start_position: v[2],
            closed_pnl: v[3],
            fee: v[4],
            order_id: oid,
            trade_id: tid,
            symbol,
            side: sd,
            dir,
            flags,
            ..Fill::default()
        };
        ctx.push(sid, rec, line)
    }
}

/// [`account_id`] of the lower-cased text, without lower-casing it: the first
/// 16 hex digits after an optional `0x`, right-padded with zeros.
#[inline]
fn account_id_bytes(b: &[u8]) -> u64 {
    let hex = b.strip_prefix(b"0x").or_else(|| b.strip_prefix(b"0X")).unwrap_or(b);
    let mut v: u64 = 0;
    let mut n = 0;
    for &c in hex.iter().take(16) {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        v = v << 4 | u64::from(d);
        n += 1;
    }
    if n == 0 { 0 } else { v << (4 * (16 - n)) }
}

/// The account id of `liquidation.liquidatedUser`, if the JSON has one.
#[cold]
fn liquidated(json: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let a = v.get("liquidatedUser")?.as_str()?;
    Some(account_id(&a.to_ascii_lowercase()))
}

/// `0x` and the lower-case hex of a binary address.
fn hex_address(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    push_hex(&mut s, b);
    s
}

/// Appends `0x` and the lower-case hex of `b`.
fn push_hex(s: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.push_str("0x");
    for x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num_bytes(nd: &[u16], weight: i16, neg: bool, dscale: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(nd.len() as u16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in nd {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_binary() {
        // 66653.0 = 6 6653 (weight 1), dscale 1.
        assert_eq!(numeric(&num_bytes(&[6, 6653], 1, false, 1)).unwrap(), Dec { mant: 66653, frac: 0 });
        // -0.009997 = 0.0099 97 → digits [99, 9700] weight -1.
        assert_eq!(numeric(&num_bytes(&[99, 9700], -1, true, 6)).unwrap(), Dec { mant: -9997, frac: 6 });
        // 1.3189
        assert_eq!(numeric(&num_bytes(&[1, 3189], 0, false, 4)).unwrap(), Dec { mant: 13189, frac: 4 });
        // 12.5 = 12 . 5000; 100.0001 = 100 . 0001; 1e8 = 1 0000 0000 sent as [1] weight 2.
        assert_eq!(numeric(&num_bytes(&[12, 5000], 0, false, 1)).unwrap(), Dec { mant: 125, frac: 1 });
        assert_eq!(numeric(&num_bytes(&[100, 1], 0, false, 4)).unwrap(), Dec { mant: 1_000_001, frac: 4 });
        assert_eq!(numeric(&num_bytes(&[1], 2, false, 0)).unwrap(), Dec { mant: 100_000_000, frac: 0 });
        assert_eq!(numeric(&num_bytes(&[1, 2300, 0], 1, false, 2)).unwrap(), Dec { mant: 12_300, frac: 0 });
        // 18 significant digits whose last group has trailing zeros still fit.
        assert_eq!(
            numeric(&num_bytes(&[12, 3456, 7890, 1234, 5678, 9000], 4, false, 4)).unwrap(),
            Dec { mant: 1_234_567_890_123_456_789, frac: 1 }
        );
        // 20000 = 2 (weight 1) with trailing groups dropped.
        assert_eq!(numeric(&num_bytes(&[2], 1, false, 0)).unwrap(), Dec { mant: 20000, frac: 0 });
        assert_eq!(numeric(&num_bytes(&[], 0, false, 2)).unwrap(), Dec::default());
        assert!(numeric(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).is_err());
        assert_eq!(numeric(&num_bytes(&[1], -5, false, 20)), Err(DecError::TooPrecise));
    }

    #[test]
    fn copy_tuples_across_refills() {
        let mut s = Vec::new();
        s.extend_from_slice(SIGNATURE);
        s.extend_from_slice(&0u32.to_be_bytes());
        s.extend_from_slice(&0u32.to_be_bytes());
        for i in 0..1000i64 {
            s.extend_from_slice(&2i16.to_be_bytes());
            s.extend_from_slice(&8i32.to_be_bytes());
            s.extend_from_slice(&i.to_be_bytes());
            s.extend_from_slice(&(-1i32).to_be_bytes());
        }
        s.extend_from_slice(&(-1i16).to_be_bytes());
        // A reader that hands out 7 bytes at a time.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(7).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = CopyReader::new(Slow(&s));
        r.buf = vec![0; 16];
        r.header().unwrap();
        let mut f = vec![None; 2];
        let mut n = 0i64;
        while let Some(t) = r.next(&mut f).unwrap() {
            let (a, b) = f[0].unwrap();
            assert_eq!(be8(&t[a as usize..b as usize]), Some(n));
            assert!(f[1].is_none());
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn account_ids_match_the_json_converters() {
        for a in ["0xB7B6f3cea3f66bf525f5d8f965f6dbf6d9b017b2", "0xb7b6f3ce", "", "0x", "abc", "0Xff", "0x12zz", "0xé1"]
        {
            assert_eq!(account_id_bytes(a.as_bytes()), account_id(&a.to_ascii_lowercase()), "{a}");
        }
        assert_eq!(account_id_bytes(hex_address(&[0xb7, 0xb6, 0xf3]).as_bytes()), 0xb7b6f3 << 40);
    }

    #[test]
    fn table_names() {
        assert!(check_table_name("fills").is_ok());
        assert!(check_table_name("public.fills").is_ok());
        assert!(check_table_name("\"Fills\"").is_ok());
        assert!(check_table_name("fills; DROP TABLE x").is_err());
        assert!(check_table_name("a.b.c").is_err());
    }
}
