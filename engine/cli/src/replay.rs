//! `ticktape replay`: replay tapes through the built-in no-op strategy.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use ticktape_engine::replay::{Replay, ReplayOptions};
use ticktape_tape::{RecordKind, format_fixed};

use crate::fmt;

/// Replay tapes in time order with book maintenance and a no-op strategy,
/// and report the event rate.
///
/// Tapes of any kinds and symbols merge into one stream ordered by exchange
/// time; at equal time trades come before the book updates they cause (see
/// the README's design section for the full tie-break).
///
/// Every record is checked as it is replayed (time order, codes and values,
/// times within 2009..2100); the first bad one stops the replay with its tape
/// and byte offset. The same stream (kind, venue, symbol; for bars also the
/// bar length, so 1m and 1h bars of one symbol are two streams) given twice with
/// overlapping times is refused, and so are streams that do not overlap in
/// time unless --allow-gaps.
///
/// --from/--to replay a half-open slice [from, to) of exchange time: each
/// tape seeks to it by binary search, so records outside it are never read.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape replay data/*.tape
  ticktape replay data/synthetic.BTCUSDT.trades.tape data/synthetic.BTCUSDT.l2.tape
  ticktape replay day1/*.tape day2/*.tape              # one stream in consecutive pieces is fine
  ticktape replay old/x.trades.tape new/y.l2.tape --allow-gaps
  ticktape replay data/*.tape --from 2024-05-01T00:10:00Z --to 2024-05-01T00:20:00Z
  ticktape replay data/*.tape --from 2024-05-02              # from midnight UTC to the end")]
pub(crate) struct ReplayArgs {
    /// Tape files (any kinds and symbols).
    #[arg(required = true, value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Replay tapes whose time ranges do not overlap (refused by default:
    /// the replay would run through the gap with one stream silent).
    #[arg(long)]
    allow_gaps: bool,
    #[command(flatten)]
    slice: crate::slice::SliceArgs,
}

pub(crate) fn run(a: ReplayArgs) -> Result<()> {
    let slice = a.slice.check()?;
    let options =
        ReplayOptions { allow_gaps: a.allow_gaps, from: slice.from, to: slice.to, ..ReplayOptions::default() };
    let replay = Replay::open_with(&a.tapes, options)?;
    let bytes: u64 = replay.tapes().iter().map(|t| t.file_len()).sum();
    let t0 = Instant::now();
    let out = replay.run(&mut ())?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "replayed {} events from {} tapes ({}) in {secs:.3}s: {}",
        fmt::thousands(out.events),
        replay.tapes().len(),
        fmt::bytes(bytes),
        fmt::rate(out.events as f64 / secs)
    );
    if slice.is_set() {
        let bound = |t: Option<i64>| t.map_or_else(|| "..".to_owned(), fmt::timestamp);
        println!("  slice    [{}, {})", bound(slice.from), bound(slice.to));
    }
    for kind in RecordKind::ALL {
        let n = out.by_kind[kind.code() as usize];
        if n > 0 {
            println!("  {:<8} {}", kind.name(), fmt::thousands(n));
        }
    }
    for (inst, book) in replay.instruments().iter().zip(&out.books) {
        let px = |p: Option<(i64, i64)>| {
            p.map_or("-".to_owned(), |(p, q)| {
                format!("{} x {}", format_fixed(p, inst.price_exponent), format_fixed(q, inst.qty_exponent))
            })
        };
        println!(
            "  {} @ {}: final best bid {}  best ask {}  ({} / {} levels)",
            inst.symbol,
            inst.venue,
            px(book.best_bid()),
            px(book.best_ask()),
            book.bid_count(),
            book.ask_count()
        );
    }
    Ok(())
}
