//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ticktape_data::ConvertOptions;
use ticktape_data::decimal::Dec;
use ticktape_tape::{Level, Record, Tape, side};

/// `../shared/data/real` (or `$TICKTAPE_SHARED/data/real`), or `None` with a skip message.
pub fn real_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("TICKTAPE_SHARED") {
        Some(s) => PathBuf::from(s).join("data/real"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/real"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        skip("../shared/data/real not found (the fixtures in tests/data are tested instead)");
        None
    }
}

/// Says that a test skips, on stderr directly: the test harness captures
/// `println!`/`eprintln!` of passing tests, and a skip must be visible.
pub fn skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// A fixture in `tests/data`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Options writing into `out`, quiet, one job.
pub fn opts(out: &Path) -> ConvertOptions {
    ConvertOptions { out_dir: out.to_path_buf(), jobs: 1, ..ConvertOptions::default() }
}

/// Whether `value × 10^exp` equals the decimal `text` exactly.
pub fn same(value: i64, exp: i8, text: &str) -> bool {
    let d = Dec::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
    let decimals = (-exp) as u8;
    d.fixed(decimals) == Ok(value)
}

/// Asserts [`same`] with a readable message.
#[track_caller]
pub fn assert_same(value: i64, exp: i8, text: &str) {
    assert!(same(value, exp, text), "{} (exponent {exp}) != {text}", value);
}

/// Opens a tape and copies its records.
pub fn read<R: Record>(path: &Path) -> (ticktape_tape::Header, Vec<R>) {
    let tape = Tape::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tape.verify().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (*tape.header(), tape.records::<R>().expect("kind").to_vec())
}

/// A tiny test-only L2 book.
#[derive(Default, Debug)]
pub struct Book {
    pub bids: BTreeMap<i64, i64>,
    pub asks: BTreeMap<i64, i64>,
}

impl Book {
    pub fn apply(&mut self, l: &Level) {
        assert!(l.qty >= 0, "negative size {l:?}");
        if l.is_snapshot_start() {
            self.bids.clear();
            self.asks.clear();
        }
        let side = if l.side == side::BID { &mut self.bids } else { &mut self.asks };
        if l.qty == 0 {
            side.remove(&l.price);
        } else {
            side.insert(l.price, l.qty);
        }
    }
    pub fn best_bid(&self) -> Option<i64> {
        self.bids.keys().next_back().copied()
    }
    pub fn best_ask(&self) -> Option<i64> {
        self.asks.keys().next().copied()
    }
    /// Replays a whole L2 tape, checking after every batch; returns the number of batches.
    pub fn replay_checked(levels: &[Level]) -> (Book, usize) {
        let mut book = Book::default();
        let mut batches = 0;
        let mut batch_ts = None;
        for l in levels {
            if let Some(ts) = batch_ts {
                assert_eq!(ts, l.ts.exchange, "records of one batch share ts.exchange");
            }
            batch_ts = Some(l.ts.exchange);
            book.apply(l);
            if l.is_batch_end() {
                batches += 1;
                batch_ts = None;
                if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                    assert!(b < a, "crossed book after batch {batches}: bid {b} >= ask {a} at {}", l.ts.exchange);
                }
            }
        }
        assert!(batch_ts.is_none(), "the tape ends inside a batch");
        (book, batches)
    }
}

/// Reads a (possibly gzipped) text file's lines.
pub fn lines(path: &Path) -> Vec<String> {
    use std::io::Read;
    let raw = std::fs::read(path).unwrap();
    let mut text = String::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_string(&mut text).unwrap();
    } else {
        text = String::from_utf8(raw).unwrap();
    }
    text.lines().map(str::to_owned).collect()
}

/// The tape in `report` with this kind and symbol.
pub fn tape_of(report: &ticktape_data::ConvertReport, kind: ticktape_tape::RecordKind, symbol: &str) -> PathBuf {
    report
        .tapes
        .iter()
        .find(|t| t.kind == kind && t.symbol == symbol)
        .unwrap_or_else(|| panic!("no {kind} tape for {symbol} in {:?}", report.tapes))
        .path
        .clone()
}

/// Converts a Binance USD-M capture and checks it against its own text:
/// counts, first and last trade and quote, depth record count and book sanity.
pub fn check_binance_capture(path: &Path, out: &Path) -> ticktape_data::ConvertReport {
    use serde_json::Value;
    use ticktape_tape::{Quote, RecordKind, Trade};
    let report =
        ticktape_data::convert(ticktape_data::SourceKind::BinanceWs, &[path.to_path_buf()], &opts(out)).unwrap();
    let text = lines(path);
    let mut trades = Vec::new();
    let mut quotes = Vec::new();
    let mut depth: Vec<(u64, u64, usize)> = Vec::new();
    let mut snapshot: Option<(u64, usize)> = None;
    for l in &text {
        let (ts, json) = l.split_once(' ').unwrap();
        let v: Value = serde_json::from_str(json).unwrap();
        if let Some(id) = v.get("lastUpdateId") {
            let n = v["bids"].as_array().unwrap().len() + v["asks"].as_array().unwrap().len();
            snapshot.get_or_insert((id.as_u64().unwrap(), n));
            continue;
        }
        let d = &v["data"];
        match d["e"].as_str().unwrap() {
            "trade" if d["X"] == "MARKET" => trades.push((ts.parse::<i64>().unwrap(), d.clone())),
            "bookTicker" => quotes.push((ts.parse::<i64>().unwrap(), d.clone())),
            "depthUpdate" => depth.push((
                d["U"].as_u64().unwrap(),
                d["u"].as_u64().unwrap(),
                d["b"].as_array().unwrap().len() + d["a"].as_array().unwrap().len(),
            )),
            _ => {}
        }
    }
    // Trades: count, first and last exactly.
    let (h, tr) = read::<Trade>(&tape_of(&report, RecordKind::Trade, "BTCUSDT"));
    assert_eq!(tr.len(), trades.len());
    assert!(h.is_sorted() && h.has_local_ts());
    for (rec, (local, src)) in [(tr[0], &trades[0]), (tr[tr.len() - 1], &trades[trades.len() - 1])] {
        assert_eq!(rec.ts.exchange, src["T"].as_i64().unwrap() * 1_000_000);
        assert_eq!(rec.ts.local, *local);
        assert_same(rec.price, h.price_exponent, src["p"].as_str().unwrap());
        assert_same(rec.qty, h.qty_exponent, src["q"].as_str().unwrap());
        assert_eq!(rec.trade_id, src["t"].as_u64().unwrap());
        assert_eq!(rec.side, if src["m"].as_bool().unwrap() { 2 } else { 1 });
    }
    // Quotes.
    let (h, q) = read::<Quote>(&tape_of(&report, RecordKind::Quote, "BTCUSDT"));
    assert_eq!(q.len(), quotes.len());
    for (rec, (_, src)) in [(q[0], &quotes[0]), (q[q.len() - 1], &quotes[quotes.len() - 1])] {
        assert_eq!(rec.ts.exchange, src["T"].as_i64().unwrap() * 1_000_000);
        assert_same(rec.bid_price, h.price_exponent, src["b"].as_str().unwrap());
        assert_same(rec.bid_qty, h.qty_exponent, src["B"].as_str().unwrap());
        assert_same(rec.ask_price, h.price_exponent, src["a"].as_str().unwrap());
        assert_same(rec.ask_qty, h.qty_exponent, src["A"].as_str().unwrap());
    }
    // Depth: the snapshot plus every update from the bridging one on (this capture has no gap).
    let (snap_id, snap_levels) = snapshot.expect("a REST snapshot line");
    let applied: usize = depth.iter().filter(|(_, u, _)| *u >= snap_id).map(|(_, _, n)| n).sum();
    let dropped = depth.iter().filter(|(_, u, _)| *u < snap_id).count() as u64;
    let (h, lv) = read::<Level>(&tape_of(&report, RecordKind::Level, "BTCUSDT"));
    assert!(h.is_sorted());
    assert_eq!(lv.len(), snap_levels + applied);
    assert!(lv[0].is_snapshot_start());
    let input = &report.inputs[0];
    assert_eq!((input.snapshots, input.gaps, input.dropped_updates), (1, 0, dropped));
    let (book, _) = Book::replay_checked(&lv);
    assert!(book.best_bid().is_some() && book.best_ask().is_some());
    // The capture clock runs about 1.27 s behind the exchange: kept as is, reported.
    let off = input.median_local_offset_ns.unwrap();
    assert!((-1_400_000_000..-1_100_000_000).contains(&off), "median local-exchange {off} ns");
    report
}

/// Replays `lv` batch by batch and checks the book equals each CSV row's
/// levels (and is not crossed) after the row's batch.
pub fn check_rebuilds_rows(input: &std::path::Path, lv: &[Level], pe: i8, qe: i8) {
    let text = lines(input);
    let header: Vec<&str> = text[0].split(',').collect();
    let mut book = Book::default();
    let mut i = 0;
    for row in &text[1..] {
        let f: Vec<&str> = row.split(',').collect();
        loop {
            book.apply(&lv[i]);
            i += 1;
            if lv[i - 1].is_batch_end() {
                break;
            }
        }
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        for (k, name) in header.iter().enumerate() {
            if name.ends_with(".price") && !f[k].is_empty() {
                let p = ticktape_data::decimal::Dec::parse(f[k].as_bytes()).unwrap().fixed((-pe) as u8).unwrap();
                let q = ticktape_data::decimal::Dec::parse(f[k + 1].as_bytes()).unwrap().fixed((-qe) as u8).unwrap();
                if name.starts_with("bids") { bids.push((p, q)) } else { asks.push((p, q)) }
            }
        }
        bids.sort();
        asks.sort();
        assert_eq!(book.bids.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), bids, "bids after {row}");
        assert_eq!(book.asks.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), asks, "asks after {row}");
        if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
            assert!(b < a, "crossed book after {row}");
        }
    }
    assert_eq!(i, lv.len());
}
