//! `ticktape export`: a tape as a table (Parquet or CSV) in human units.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ticktape_engine::table::{Table, TableWriter};
use ticktape_tape::{
    AtomicFile, Bar, Fill, Funding, Header, Level, Quote, Record, RecordKind, Series, Tape, Trade, UNDEF, dir,
    fill_flags, format_fixed, funding_flags, level_flags, side, trade_flags,
};

use crate::fmt;

/// Export a tape as a table in human units: Parquet or CSV.
///
/// One row per record, every record kind. Prices, quantities and values are
/// exact decimals from the header's exponents (Parquet `decimal128(38, s)`,
/// CSV text such as `61800.30`); times are `timestamp[ns, UTC]` in Parquet
/// and RFC 3339 with nanoseconds in CSV; sides, directions and level actions
/// are names (`buy`, `sell`, `bid`, `ask`, `open_long`, `delete`...); an
/// absent value (i64::MAX in the tape) is null (an empty CSV field). Every
/// record is checked as a replay checks its values; a bad one is an error
/// naming its byte offset.
#[derive(Debug, clap::Args)]
#[command(after_help = "Columns, after `ts` (exchange time) and `local_ts` (receive time):
  trades   price qty trade_id side aggregated
  l2       side price qty action snapshot_start batch_end   (action: snapshot | update | delete)
  quotes   bid_price bid_qty ask_price ask_qty
  funding  funding_rate mark_price index_price next_funding_ts settlement
  bars     open_ts open high low close volume taker_buy_volume trade_count
  series   id value
  fills    account symbol side dir price qty start_position closed_pnl fee order_id trade_id
           crossed liquidation

Examples:
  ticktape export data/synthetic.BTCUSDT.trades.tape -o trades.parquet
  ticktape export data/synthetic.BTCUSDT.l2.tape -o l2.csv --from 2024-05-01T00:10:00Z --to 2024-05-01T00:11:00Z
  ticktape export x.tape -o x.out --format csv

Then, in Python:  pl.read_parquet(\"trades.parquet\")  or  pd.read_parquet(\"trades.parquet\")")]
pub(crate) struct ExportArgs {
    /// The tape to export.
    #[arg(value_name = "TAPE")]
    tape: PathBuf,
    /// Output file; written under a temporary name and renamed when
    /// complete (an existing file is replaced only then).
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// Table format. Default: from the extension of --out (.parquet/.pq or .csv).
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[command(flatten)]
    slice: crate::slice::SliceArgs,
}

/// Output table formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Parquet,
    Csv,
}

/// Rows per Parquet row group (and per CSV chunk).
const CHUNK: usize = 1 << 16;

/// One column of a chunk of rows.
enum Col {
    /// ns since the epoch.
    Ts(Vec<i64>),
    /// ns since the epoch, `UNDEF` is null.
    TsOpt(Vec<i64>),
    /// Fixed point with this exponent, `UNDEF` is null.
    Dec(Vec<i64>, i8),
    U64(Vec<u64>),
    Str(Vec<String>),
    Name(Vec<&'static str>),
    Bool(Vec<bool>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Ts(v) | Col::TsOpt(v) | Col::Dec(v, _) => v.len(),
            Col::U64(v) => v.len(),
            Col::Str(v) => v.len(),
            Col::Name(v) => v.len(),
            Col::Bool(v) => v.len(),
        }
    }

    /// Appends row `i` as a CSV field.
    fn csv(&self, i: usize, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Col::Ts(v) => out.push_str(&ticktape_tape::check::iso8601(v[i])),
            Col::TsOpt(v) if v[i] == UNDEF => {}
            Col::TsOpt(v) => out.push_str(&ticktape_tape::check::iso8601(v[i])),
            Col::Dec(v, _) if v[i] == UNDEF => {}
            Col::Dec(v, e) => out.push_str(&format_fixed(v[i], *e)),
            Col::U64(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Col::Str(v) => csv_text(&v[i], out),
            Col::Name(v) => out.push_str(v[i]),
            Col::Bool(v) => out.push_str(if v[i] { "true" } else { "false" }),
        }
    }

    /// Adds the column to a Parquet table.
    fn into_table(self, t: Table, name: &str) -> Table {
        let opt = |v: Vec<i64>| v.into_iter().map(|x| (x != UNDEF).then_some(x)).collect::<Vec<_>>();
        match self {
            Col::Ts(v) => t.ts(name, v),
            Col::TsOpt(v) => t.ts_opt(name, opt(v)),
            Col::Dec(v, e) => {
                // value × 10^e = (value × 10^max(e, 0)) × 10^-scale.
                let (scale, mult) = if e <= 0 { (-e, 1i128) } else { (0, 10i128.pow(u32::from(e.unsigned_abs()))) };
                t.decimal(name, opt(v).into_iter().map(|x| x.map(|x| i128::from(x) * mult)).collect(), scale)
            }
            Col::U64(v) => t.u64(name, v),
            Col::Str(v) => t.utf8(name, v),
            Col::Name(v) => t.utf8(name, v.into_iter().map(str::to_owned).collect()),
            Col::Bool(v) => t.bool(name, v),
        }
    }
}

/// `s` as a CSV field, quoted when it holds a comma, quote or line break.
fn csv_text(s: &str, out: &mut String) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// A record kind's columns: names and how to fill them from a chunk.
trait Columns: Record {
    fn columns(h: &Header, recs: &[Self]) -> Vec<(&'static str, Col)>;
}

fn stamps<R: Record>(recs: &[R]) -> [(&'static str, Col); 2] {
    [
        ("ts", Col::Ts(recs.iter().map(|r| r.stamp().exchange).collect())),
        ("local_ts", Col::Ts(recs.iter().map(|r| r.stamp().local).collect())),
    ]
}

fn dec<R>(recs: &[R], e: i8, f: impl Fn(&R) -> i64) -> Col {
    Col::Dec(recs.iter().map(f).collect(), e)
}

fn side_name(code: u8) -> &'static str {
    match code {
        side::BUY => "buy",
        side::SELL => "sell",
        _ => "none",
    }
}

fn dir_name(code: u8) -> &'static str {
    match code {
        dir::OPEN_LONG => "open_long",
        dir::CLOSE_LONG => "close_long",
        dir::OPEN_SHORT => "open_short",
        dir::CLOSE_SHORT => "close_short",
        dir::LONG_TO_SHORT => "long_to_short",
        dir::SHORT_TO_LONG => "short_to_long",
        dir::BUY => "buy",
        dir::SELL => "sell",
        dir::OTHER => "other",
        _ => "unknown",
    }
}

impl Columns for Trade {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("price", dec(r, h.price_exponent, |t| t.price)),
            ("qty", dec(r, h.qty_exponent, |t| t.qty)),
            ("trade_id", Col::U64(r.iter().map(|t| t.trade_id).collect())),
            ("side", Col::Name(r.iter().map(|t| side_name(t.side)).collect())),
            ("aggregated", Col::Bool(r.iter().map(|t| t.flags & trade_flags::AGGREGATED != 0).collect())),
        ]);
        c
    }
}

impl Columns for Level {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let action = |l: &Level| {
            if l.flags & (level_flags::SNAPSHOT | level_flags::SNAPSHOT_START) != 0 {
                "snapshot"
            } else if l.qty == 0 {
                "delete"
            } else {
                "update"
            }
        };
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("side", Col::Name(r.iter().map(|l| if l.side == side::BID { "bid" } else { "ask" }).collect())),
            ("price", dec(r, h.price_exponent, |l| l.price)),
            ("qty", dec(r, h.qty_exponent, |l| l.qty)),
            ("action", Col::Name(r.iter().map(action).collect())),
            ("snapshot_start", Col::Bool(r.iter().map(Level::is_snapshot_start).collect())),
            ("batch_end", Col::Bool(r.iter().map(Level::is_batch_end).collect())),
        ]);
        c
    }
}

impl Columns for Quote {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("bid_price", dec(r, h.price_exponent, |q| q.bid_price)),
            ("bid_qty", dec(r, h.qty_exponent, |q| q.bid_qty)),
            ("ask_price", dec(r, h.price_exponent, |q| q.ask_price)),
            ("ask_qty", dec(r, h.qty_exponent, |q| q.ask_qty)),
        ]);
        c
    }
}

impl Columns for Funding {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("funding_rate", dec(r, h.value_exponent, |f| f.funding_rate)),
            ("mark_price", dec(r, h.price_exponent, |f| f.mark_price)),
            ("index_price", dec(r, h.price_exponent, |f| f.index_price)),
            ("next_funding_ts", Col::TsOpt(r.iter().map(|f| f.next_funding_ts).collect())),
            ("settlement", Col::Bool(r.iter().map(|f| f.flags & funding_flags::SETTLEMENT != 0).collect())),
        ]);
        c
    }
}

impl Columns for Bar {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let p = h.price_exponent;
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("open_ts", Col::Ts(r.iter().map(|b| b.open_ts).collect())),
            ("open", dec(r, p, |b| b.open)),
            ("high", dec(r, p, |b| b.high)),
            ("low", dec(r, p, |b| b.low)),
            ("close", dec(r, p, |b| b.close)),
            ("volume", dec(r, h.qty_exponent, |b| b.volume)),
            ("taker_buy_volume", dec(r, h.qty_exponent, |b| b.taker_buy_volume)),
            ("trade_count", Col::U64(r.iter().map(|b| b.trade_count).collect())),
        ]);
        c
    }
}

impl Columns for Series {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("id", Col::U64(r.iter().map(|s| s.id).collect())),
            ("value", dec(r, h.value_exponent, |s| s.value)),
        ]);
        c
    }
}

impl Columns for Fill {
    fn columns(h: &Header, r: &[Self]) -> Vec<(&'static str, Col)> {
        let (p, q, v) = (h.price_exponent, h.qty_exponent, h.value_exponent);
        let mut c = Vec::from(stamps(r));
        c.extend([
            ("account", Col::U64(r.iter().map(|f| f.account).collect())),
            ("symbol", Col::Str(r.iter().map(|f| f.symbol().to_owned()).collect())),
            ("side", Col::Name(r.iter().map(|f| side_name(f.side)).collect())),
            ("dir", Col::Name(r.iter().map(|f| dir_name(f.dir)).collect())),
            ("price", dec(r, p, |f| f.price)),
            ("qty", dec(r, q, |f| f.qty)),
            ("start_position", dec(r, q, |f| f.start_position)),
            ("closed_pnl", dec(r, v, |f| f.closed_pnl)),
            ("fee", dec(r, v, |f| f.fee)),
            ("order_id", Col::U64(r.iter().map(|f| f.order_id).collect())),
            ("trade_id", Col::U64(r.iter().map(|f| f.trade_id).collect())),
            ("crossed", Col::Bool(r.iter().map(|f| f.flags & fill_flags::CROSSED != 0).collect())),
            ("liquidation", Col::Bool(r.iter().map(|f| f.flags & fill_flags::LIQUIDATION != 0).collect())),
            ("liquidated", Col::Bool(r.iter().map(|f| f.flags & fill_flags::LIQUIDATED != 0).collect())),
            ("twap", Col::Bool(r.iter().map(|f| f.flags & fill_flags::TWAP != 0).collect())),
            ("builder", Col::Bool(r.iter().map(|f| f.flags & fill_flags::BUILDER != 0).collect())),
        ]);
        c
    }
}

/// Where rows go.
enum Sink {
    Parquet(Box<TableWriter>),
    Csv(AtomicFile, bool),
}

impl Sink {
    fn push(&mut self, cols: Vec<(&'static str, Col)>) -> Result<()> {
        match self {
            Sink::Parquet(w) => {
                let t = cols.into_iter().fold(Table::new(), |t, (name, c)| c.into_table(t, name));
                w.push(t)?;
            }
            Sink::Csv(f, header_done) => {
                let mut text = String::new();
                if !*header_done {
                    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
                    text.push_str(&names.join(","));
                    text.push('\n');
                    *header_done = true;
                }
                let rows = cols.first().map_or(0, |c| c.1.len());
                for i in 0..rows {
                    for (k, (_, c)) in cols.iter().enumerate() {
                        if k > 0 {
                            text.push(',');
                        }
                        c.csv(i, &mut text);
                    }
                    text.push('\n');
                }
                f.write_all(text.as_bytes())?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Parquet(w) => w.finish()?,
            Sink::Csv(mut f, _) => {
                f.flush().context("cannot write the CSV file")?;
                f.commit()?;
            }
        }
        Ok(())
    }
}

/// Writes `tape`'s records (already narrowed to the slice) into `sink`,
/// checking each one's values; returns the number of rows.
fn export<R: Columns>(tape: &Tape, sink: &mut Sink) -> Result<u64> {
    let recs = tape.records::<R>()?;
    for (i, r) in recs.iter().enumerate() {
        if let Some(what) = r.check() {
            return Err(tape.file_record_error(tape.file_index(i), what).into());
        }
    }
    if recs.is_empty() {
        // A table with the columns and no rows.
        sink.push(R::columns(tape.header(), &[]))?;
    }
    for chunk in recs.chunks(CHUNK) {
        sink.push(R::columns(tape.header(), chunk))?;
    }
    Ok(recs.len() as u64)
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "parquet" | "pq" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

pub(crate) fn run(a: ExportArgs) -> Result<()> {
    let slice = a.slice.check()?;
    let Some(format) = a.format.or_else(|| format_of(&a.out)) else {
        bail!(
            "{}: cannot tell the table format from the extension; name it .parquet or .csv, or pass --format parquet|csv",
            a.out.display()
        );
    };
    let tape = Tape::open(&a.tape)?;
    if slice.is_set() && !tape.header().is_sorted() && !tape.is_empty() {
        bail!(
            "{}: the header's SORTED flag is clear, so --from/--to cannot seek in it; export it whole, or re-convert it",
            a.tape.display()
        );
    }
    let tape = tape.window(slice.from, slice.to);
    let mut sink = match format {
        Format::Parquet => Sink::Parquet(Box::new(TableWriter::create(&a.out)?)),
        Format::Csv => Sink::Csv(AtomicFile::create(&a.out)?, false),
    };
    let rows = match tape.kind() {
        RecordKind::Trade => export::<Trade>(&tape, &mut sink)?,
        RecordKind::Level => export::<Level>(&tape, &mut sink)?,
        RecordKind::Quote => export::<Quote>(&tape, &mut sink)?,
        RecordKind::Funding => export::<Funding>(&tape, &mut sink)?,
        RecordKind::Bar => export::<Bar>(&tape, &mut sink)?,
        RecordKind::Series => export::<Series>(&tape, &mut sink)?,
        RecordKind::Fill => export::<Fill>(&tape, &mut sink)?,
    };
    sink.finish()?;
    let h = tape.header();
    let span = if rows > 0 {
        format!("  {} .. {}", fmt::timestamp(h.first_ts), fmt::timestamp(h.last_ts))
    } else {
        String::new()
    };
    println!(
        "wrote {}  {} {} rows ({} @ {}){span}",
        a.out.display(),
        fmt::thousands(rows),
        tape.kind(),
        h.symbol(),
        if h.venue().is_empty() { "?" } else { h.venue() }
    );
    Ok(())
}
