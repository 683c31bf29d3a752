//! `ticktape inspect`: what a tape holds, in human units.

use std::path::PathBuf;

use anyhow::Result;
use ticktape_tape::{Bar, Fill, Funding, Header, Level, Quote, Record, RecordKind, Series, Tape, Trade, format_fixed};

use crate::fmt;

/// Show a tape's header, counts, time range and first and last records.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape inspect data/synthetic.BTCUSDT.l2.tape
  ticktape inspect data/*.tape --verify --head 5 --tail 0")]
pub(crate) struct InspectArgs {
    /// Tape files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Also read every record: the same checks a replay makes (time order,
    /// codes and values, times within 2009..2100, the header's time range);
    /// fails with the first offending byte offset.
    #[arg(long)]
    verify: bool,
    /// How many records to show from the start.
    #[arg(long, default_value_t = 3)]
    head: usize,
    /// How many records to show from the end.
    #[arg(long, default_value_t = 3)]
    tail: usize,
}

pub(crate) fn run(a: InspectArgs) -> Result<()> {
    for (i, path) in a.files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let tape = Tape::open(path)?;
        show(&tape, a.head, a.tail);
        if a.verify {
            tape.verify_replayable()?;
            println!("verify      ok: {} records in time order, header consistent", fmt::thousands(tape.len() as u64));
        }
    }
    Ok(())
}

fn show(tape: &Tape, head: usize, tail: usize) {
    let h = tape.header();
    let kind = tape.kind();
    println!("file        {}", tape.path().display());
    println!("kind        {kind} ({}-byte records), format version {}", h.record_size, h.version);
    println!("instrument  {} @ {}", h.symbol(), if h.venue().is_empty() { "?" } else { h.venue() });
    println!("records     {}", fmt::thousands(h.record_count));
    if h.record_count > 0 {
        println!(
            "time        {} .. {} ({})",
            fmt::timestamp(h.first_ts),
            fmt::timestamp(h.last_ts),
            fmt::duration_ns(h.last_ts - h.first_ts)
        );
    }
    let unit = |v: i64, e: i8| if v == 0 { "unknown".to_owned() } else { format_fixed(v, e) };
    println!(
        "units       price 10^{} (tick {}), qty 10^{} (lot {}), value 10^{}",
        h.price_exponent,
        unit(h.price_tick, h.price_exponent),
        h.qty_exponent,
        unit(h.qty_lot, h.qty_exponent),
        h.value_exponent
    );
    let mut flags = vec![if h.is_sorted() { "sorted" } else { "NOT sorted" }];
    if h.has_local_ts() {
        flags.push("local receive times");
    }
    println!("flags       {}", flags.join(", "));
    println!("size        {} ({} bytes)", fmt::bytes(tape.file_len()), fmt::thousands(tape.file_len()));
    match kind {
        RecordKind::Trade => rows::<Trade>(tape, head, tail, trade),
        RecordKind::Level => rows::<Level>(tape, head, tail, level),
        RecordKind::Quote => rows::<Quote>(tape, head, tail, quote),
        RecordKind::Funding => rows::<Funding>(tape, head, tail, funding),
        RecordKind::Bar => rows::<Bar>(tape, head, tail, bar),
        RecordKind::Series => rows::<Series>(tape, head, tail, series),
        RecordKind::Fill => rows::<Fill>(tape, head, tail, fill),
    }
}

fn rows<R: Record>(tape: &Tape, head: usize, tail: usize, f: fn(&Header, &R) -> String) {
    let Ok(recs) = tape.records::<R>() else { return };
    let h = tape.header();
    let line = |i: usize, r: &R| {
        let s = r.stamp();
        println!(
            "  #{i:<10} {}  local {:>+9}  {}",
            fmt::timestamp(s.exchange),
            fmt::duration_ns(s.local - s.exchange),
            f(h, r)
        );
    };
    let head = head.min(recs.len());
    if head > 0 {
        println!("first records:");
        for (i, r) in recs[..head].iter().enumerate() {
            line(i, r);
        }
    }
    let tail_start = recs.len().saturating_sub(tail).max(head);
    if tail_start < recs.len() {
        println!("last records:");
        for (i, r) in recs.iter().enumerate().skip(tail_start) {
            line(i, r);
        }
    }
}

fn side(code: u8) -> &'static str {
    match code {
        1 => "BUY ",
        2 => "SELL",
        _ => "----",
    }
}

fn trade(h: &Header, t: &Trade) -> String {
    format!(
        "{} {} x {}  id {}",
        side(t.side),
        format_fixed(t.price, h.price_exponent),
        format_fixed(t.qty, h.qty_exponent),
        t.trade_id
    )
}

fn level(h: &Header, l: &Level) -> String {
    let mut flags = Vec::new();
    if l.is_snapshot_start() {
        flags.push("snapshot-start");
    } else if l.flags & ticktape_tape::level_flags::SNAPSHOT != 0 {
        flags.push("snapshot");
    }
    if l.is_batch_end() {
        flags.push("batch-end");
    }
    format!(
        "{} {} = {}  {}",
        if l.side == 1 { "BID " } else { "ASK " },
        format_fixed(l.price, h.price_exponent),
        format_fixed(l.qty, h.qty_exponent),
        flags.join(" ")
    )
}

fn quote(h: &Header, q: &Quote) -> String {
    format!(
        "{} x {}  |  {} x {}",
        format_fixed(q.bid_qty, h.qty_exponent),
        format_fixed(q.bid_price, h.price_exponent),
        format_fixed(q.ask_price, h.price_exponent),
        format_fixed(q.ask_qty, h.qty_exponent)
    )
}

fn funding(h: &Header, f: &Funding) -> String {
    format!(
        "{}rate {}  mark {}  index {}  next {}",
        if f.flags & ticktape_tape::funding_flags::SETTLEMENT != 0 { "SETTLED " } else { "" },
        format_fixed(f.funding_rate, h.value_exponent),
        format_fixed(f.mark_price, h.price_exponent),
        format_fixed(f.index_price, h.price_exponent),
        if f.next_funding_ts == ticktape_tape::UNDEF { "-".to_owned() } else { fmt::timestamp(f.next_funding_ts) }
    )
}

fn bar(h: &Header, b: &Bar) -> String {
    let p = |v| format_fixed(v, h.price_exponent);
    format!(
        "O {} H {} L {} C {}  vol {}  trades {}",
        p(b.open),
        p(b.high),
        p(b.low),
        p(b.close),
        format_fixed(b.volume, h.qty_exponent),
        b.trade_count
    )
}

fn series(h: &Header, s: &Series) -> String {
    format!("series {}  value {}", s.id, format_fixed(s.value, h.value_exponent))
}

fn fill(h: &Header, f: &Fill) -> String {
    format!(
        "acct {:016x} {} {} {} x {}  fee {}  pnl {}{}{}",
        f.account,
        f.symbol(),
        side(f.side),
        format_fixed(f.price, h.price_exponent),
        format_fixed(f.qty, h.qty_exponent),
        format_fixed(f.fee, h.value_exponent),
        format_fixed(f.closed_pnl, h.value_exponent),
        if f.flags & ticktape_tape::fill_flags::CROSSED != 0 { "  taker" } else { "  maker" },
        if f.flags & ticktape_tape::fill_flags::LIQUIDATED != 0 {
            "  LIQUIDATED"
        } else if f.flags & ticktape_tape::fill_flags::LIQUIDATION != 0 {
            "  LIQUIDATION"
        } else {
            ""
        }
    )
}
