//! Parallel chunked CSV parsing gives exactly the single-threaded result:
//! the same tape bytes, the same counts, and errors naming the same line,
//! however small the chunks and however many threads.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use ticktape_data::{ConvertOptions, ConvertReport, SourceKind, convert};

/// Chunk sizes: smaller than one line (chunks grow to hold it), a few lines, many lines.
/// (Each chunk is a hand-over between threads, slow on a loaded machine: tiny
/// chunks are used on small files.)
const SMALL: &[usize] = &[7, 300, 40_000];
const LARGE: &[usize] = &[4_096, 40_000];

/// A Tardis trades CSV that exercises what chunking could break: two
/// symbols in runs, CRLF and LF line ends, blank lines, rows out of order
/// within the tolerance, a price needing one more decimal after more than
/// 64k records of one stream (so the tape widens and is written in two segments), and no
/// line end after the last row.
fn trades_csv(dir: &Path, rows: usize, bad_every: Option<usize>) -> PathBuf {
    let path = dir.join("binance-futures_trades_2024-08-08_MIXED.csv");
    let mut s = String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\r\n");
    let mut ts: i64 = 1_723_075_200_000_000;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ts += (x % 5_000) as i64;
        let symbol = if (i / 700) % 20 == 19 { "ETHUSDT" } else { "BTCUSDT" };
        // Some rows a little earlier than the one before (sorted by the sink).
        let t = if i % 97 == 0 { ts - 3_000 } else { ts };
        let price = if i > 70_000 && i % 1_000 == 0 {
            format!("{}.{:02}", 61_000 + x % 900, x % 100)
        } else {
            format!("{}.{}", 61_000 + x % 900, x % 10)
        };
        let amount = format!("0.{:03}", x % 999 + 1);
        let side = if x & 1 == 0 { "buy" } else { "sell" };
        let row = match bad_every {
            Some(n) if i % n == n - 1 => format!("binance-futures,{symbol},{t},{},{i},{side},{price},zero", t + 900),
            _ => format!("binance-futures,{symbol},{t},{},{i},{side},{price},{amount}", t + 900),
        };
        s.push_str(&row);
        if i + 1 < rows {
            s.push_str(if i % 5 == 0 { "\r\n" } else { "\n" });
        }
        if i % 1_234 == 0 {
            s.push('\n');
        }
    }
    std::fs::write(&path, s).unwrap();
    path
}

fn gzip(path: &Path) -> PathBuf {
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(path).unwrap()).unwrap();
    enc.finish().unwrap();
    gz
}

fn opts(out: &Path, threads: usize, chunk_bytes: usize) -> ConvertOptions {
    ConvertOptions { out_dir: out.to_path_buf(), jobs: 1, threads, chunk_bytes, ..ConvertOptions::default() }
}

/// Every tape's file name and bytes, in name order.
fn tapes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tape"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// The report's counts, without timings.
fn counts(r: &ConvertReport) -> String {
    let i = &r.inputs[0];
    format!(
        "rows {} records {} decoded {} skipped {:?} first {:?} ooo {} snapshots {} offset {:?}",
        i.rows,
        i.records,
        i.bytes_decoded,
        i.skipped,
        i.first_skipped,
        i.out_of_order,
        i.snapshots,
        i.median_local_offset_ns
    )
}

/// Converts `input` single-threaded and then with every chunk size on 3
/// threads, and asserts the same tapes and counts each time.
fn assert_same_as_one_thread(
    input: &Path,
    base: ConvertOptions,
    chunks: &[usize],
) -> (ConvertReport, Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let one_dir = dir.path().join("one");
    let one = convert(SourceKind::Tardis, &[input.to_path_buf()], &opts(&one_dir, 1, 0).with(&base)).unwrap();
    let want = tapes(&one_dir);
    assert!(!want.is_empty());
    for (k, &chunk) in chunks.iter().enumerate() {
        let out = dir.path().join(format!("par{k}"));
        let par = convert(SourceKind::Tardis, &[input.to_path_buf()], &opts(&out, 3, chunk).with(&base)).unwrap();
        assert_eq!(counts(&par), counts(&one), "chunk {chunk}");
        let got = tapes(&out);
        assert_eq!(got.len(), want.len(), "chunk {chunk}");
        for ((gn, gb), (wn, wb)) in got.iter().zip(&want) {
            assert_eq!(gn, wn);
            assert!(gb == wb, "{gn}: tape bytes differ with {chunk}-byte chunks on 3 threads");
        }
    }
    (one, want)
}

/// Copies the flags that matter here from `base`.
trait With {
    fn with(self, base: &ConvertOptions) -> Self;
}

impl With for ConvertOptions {
    fn with(mut self, base: &ConvertOptions) -> Self {
        self.skip_bad = base.skip_bad;
        self.decimals = base.decimals;
        self
    }
}

#[test]
fn chunk_split_trades_equal_single_threaded_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let csv = trades_csv(dir.path(), 75_000, None);
    let (one, tapes) = assert_same_as_one_thread(&csv, ConvertOptions::default(), LARGE);
    // The file really exercises what it means to: two tapes, widening, blank lines.
    assert_eq!(tapes.len(), 2);
    assert_eq!(one.inputs[0].rows, 75_000);
    assert_eq!(one.inputs[0].records, 75_000);
    let btc = one.tapes.iter().find(|t| t.symbol == "BTCUSDT").unwrap();
    assert_eq!(btc.price_exponent, -2);
    // From gzip (decompressed on its own thread), the same tapes again.
    let gz = gzip(&csv);
    let (_, gz_tapes) = assert_same_as_one_thread(&gz, ConvertOptions::default(), &[40_000]);
    assert!(gz_tapes == tapes, "gzip input gives other tapes than the plain CSV");
}

#[test]
fn skipped_rows_are_counted_the_same_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let csv = trades_csv(dir.path(), 5_000, Some(77));
    let base = ConvertOptions { skip_bad: true, ..ConvertOptions::default() };
    let (one, _) = assert_same_as_one_thread(&csv, base, SMALL);
    assert_eq!(one.inputs[0].skipped.values().sum::<u64>(), 5_000 / 77);
}

/// The line of the first bad row (1-based, header = line 1, blank lines counted).
fn line_of_row(csv: &Path, row: usize) -> u64 {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut data_rows = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i == 0 || l.trim_end_matches('\r').is_empty() {
            continue;
        }
        if data_rows == row {
            return i as u64 + 1;
        }
        data_rows += 1;
    }
    panic!("no row {row}");
}

#[test]
fn an_error_in_a_later_chunk_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // The first bad row is data row 4_443 (0-based), deep in the file.
    let csv = trades_csv(dir.path(), 5_000, Some(4_444));
    let line = line_of_row(&csv, 4_443);
    assert!(line > 4_445, "blank lines are counted");
    let want = format!("{}:{line}:", csv.display());
    for (threads, chunk) in [(1, 0), (3, 7), (3, 300), (2, 40_000)] {
        let out = dir.path().join(format!("o{threads}-{chunk}"));
        let e = convert(SourceKind::Tardis, std::slice::from_ref(&csv), &opts(&out, threads, chunk)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&want), "{threads} threads, {chunk}-byte chunks: {msg} (wanted {want})");
        assert!(msg.contains("bad price or amount"), "{msg}");
        // Nothing is left under a final name or as a part file.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "files left in {}", out.display());
    }
}

#[test]
fn a_wrong_time_unit_in_a_later_chunk_names_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("binance-futures_trades_2024-08-08_BTCUSDT.csv");
    let mut s = String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    for i in 0..5_000u64 {
        let ts = 1_723_075_200_000_000 + i * 1_000;
        let local = if i == 4_321 { (ts / 1_000).to_string() } else { (ts + 5).to_string() };
        s.push_str(&format!("binance-futures,BTCUSDT,{ts},{local},{i},buy,61000.5,0.001\n"));
    }
    std::fs::write(&csv, s).unwrap();
    for (threads, chunk) in [(1, 0), (2, 500)] {
        let out = dir.path().join(format!("o{threads}"));
        let e = convert(SourceKind::Tardis, std::slice::from_ref(&csv), &opts(&out, threads, chunk)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(":4323:") && msg.contains("local_timestamp"), "{msg}");
    }
}

#[test]
fn quotes_and_incremental_book_equal_single_threaded() {
    let dir = tempfile::tempdir().unwrap();
    let quotes = dir.path().join("deribit_quotes_2024-08-08_BTC-PERPETUAL.csv");
    let mut q = String::from("exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n");
    let l2 = dir.path().join("deribit_incremental_book_L2_2024-08-08_BTC-PERPETUAL.csv");
    let mut b = String::from("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n");
    let t0: i64 = 1_723_075_200_000_000;
    for i in 0..12_000i64 {
        let ts = t0 + i * 1_000;
        let bid = 61_000 + (i % 50);
        let ask = if i % 9 == 0 { String::new() } else { format!("{}.5", bid) };
        q.push_str(&format!("deribit,BTC-PERPETUAL,{ts},{},{}.{},{ask},{bid},{}\n", ts + 7, i % 13, i % 10, i % 7));
        // A snapshot of 20 levels every 5000 rows (3 in all), updates in batches of 3 rows between.
        let snap = i % 5_000 < 20;
        let side = if i % 2 == 0 { "bid" } else { "ask" };
        let px = if side == "bid" { 61_000 - i % 20 } else { 61_001 + i % 20 };
        let bts = ts - ts % 3_000;
        b.push_str(&format!("deribit,BTC-PERPETUAL,{bts},{},{snap},{side},{px}.0,{}\n", bts + 3, (i % 4) * 10));
    }
    std::fs::write(&quotes, q).unwrap();
    std::fs::write(&l2, b).unwrap();
    let (rq, _) = assert_same_as_one_thread(&quotes, ConvertOptions::default(), &[300, 40_000]);
    assert_eq!(rq.inputs[0].records, 12_000);
    let (rb, _) = assert_same_as_one_thread(&l2, ConvertOptions::default(), &[300, 40_000]);
    assert_eq!(rb.inputs[0].records, 12_000);
    assert_eq!(rb.inputs[0].snapshots, 3);
}

#[test]
fn thread_count_defaults_and_synthetic_input_agree() {
    // The benchmark's generated file, default threads (all cores) against one.
    let dir = tempfile::tempdir().unwrap();
    let (csv, _gz, _) = ticktape_data::synthetic::trades_csv(dir.path(), 3_000_000).unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    convert(SourceKind::Tardis, std::slice::from_ref(&csv), &opts(&a, 1, 0)).unwrap();
    convert(SourceKind::Tardis, std::slice::from_ref(&csv), &opts(&b, 0, 64 << 10)).unwrap();
    assert!(tapes(&a) == tapes(&b));
    let _ = common::skip;
}

/// Converts a Binance Vision file on one thread and in small chunks on 3, and asserts the same tapes and counts.
fn assert_vision_same(input: &Path) -> ConvertReport {
    let dir = tempfile::tempdir().unwrap();
    let one = convert(SourceKind::BinanceVision, &[input.to_path_buf()], &opts(&dir.path().join("one"), 1, 0)).unwrap();
    for chunk in [7, 500] {
        let out = dir.path().join(format!("par{chunk}"));
        let par = convert(SourceKind::BinanceVision, &[input.to_path_buf()], &opts(&out, 3, chunk)).unwrap();
        assert_eq!(counts(&par), counts(&one), "chunk {chunk}");
        assert!(
            tapes(&out) == tapes(&dir.path().join("one")),
            "{}: tapes differ in {chunk}-byte chunks",
            input.display()
        );
    }
    one
}

#[test]
fn binance_vision_trades_and_klines_equal_single_threaded() {
    let dir = tempfile::tempdir().unwrap();
    // No header row: the first line is data, applied before the chunks.
    let agg = dir.path().join("BTCUSDT-aggTrades-2024-08-08.csv");
    let mut s = String::new();
    for i in 0..3_000u64 {
        let t = 1_723_075_200_000 + i * 3 - (i % 7 == 0) as u64;
        s.push_str(&format!(
            "{},{}.{},0.0{},{i},{i},{t},{}\n",
            900 + i,
            61_000 + i % 30,
            i % 10,
            i % 9 + 1,
            i % 3 == 0
        ));
    }
    std::fs::write(&agg, s).unwrap();
    let r = assert_vision_same(&agg);
    assert_eq!(r.inputs[0].records, 3_000);
    // An error deep in a headerless file names its line in chunks too.
    let bad = dir.path().join("ETHUSDT-aggTrades-2024-08-08.csv");
    let mut text = std::fs::read_to_string(&agg).unwrap();
    text = text.replacen(",1723075207500,", ",17230752075x0,", 1);
    std::fs::write(&bad, text).unwrap();
    for (threads, chunk) in [(1, 0), (3, 64)] {
        let e = convert(
            SourceKind::BinanceVision,
            std::slice::from_ref(&bad),
            &opts(&dir.path().join("e"), threads, chunk),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":2501:"), "{e}");
    }

    let kl = dir.path().join("BTCUSDT-1m-2024-08-08.csv");
    let mut s = String::from(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n",
    );
    for i in 0..1_500u64 {
        let t = 1_723_075_200_000 + i * 60_000;
        s.push_str(&format!(
            "{t},61000.{},61010.5,60990,61001.{},{}.5,{},1,{},0.{},1,0\n",
            i % 10,
            i % 7,
            i % 40,
            t + 59_999,
            i,
            i % 9
        ));
    }
    std::fs::write(&kl, s).unwrap();
    let r = assert_vision_same(&kl);
    assert_eq!(r.inputs[0].records, 1_500);
}
