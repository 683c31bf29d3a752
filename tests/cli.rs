//! End-to-end tests of the `ticktape` command line: generate, inspect,
//! replay, bench, and every bad-input case of the tape reader.

mod common;

use std::fs;
use std::path::Path;

use common::*;

#[test]
fn help_teaches_with_examples() {
    for args in [
        vec!["--help"],
        vec!["gen", "--help"],
        vec!["inspect", "--help"],
        vec!["replay", "--help"],
        vec!["bench", "replay", "--help"],
    ] {
        let o = run(&args);
        assert!(o.status.success(), "{args:?}");
        let out = stdout(&o);
        assert!(out.contains("Examples:"), "{args:?} has no examples:\n{out}");
    }
}

#[test]
fn gen_inspect_replay_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = gen_tapes(dir.path(), "50k", "BTCUSDT,ETHUSDT");
    let names: Vec<String> = tapes.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "synthetic.BTCUSDT.l2.tape",
            "synthetic.BTCUSDT.trades.tape",
            "synthetic.ETHUSDT.l2.tape",
            "synthetic.ETHUSDT.trades.tape"
        ]
    );

    let o = run(&["inspect", "--verify", tapes[1].to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("kind        trades (48-byte records)"), "{out}");
    assert!(out.contains("instrument  BTCUSDT @ synthetic"), "{out}");
    assert!(out.contains("price 10^-2 (tick 0.10)"), "{out}");
    assert!(out.contains("2024-05-01T00:00:00"), "{out}");
    assert!(out.contains("verify      ok"), "{out}");

    let args: Vec<&str> = std::iter::once("replay").chain(tapes.iter().map(|p| p.to_str().unwrap())).collect();
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let total: u64 = tapes
        .iter()
        .map(|p| (fs::metadata(p).unwrap().len() - 128) / if p.to_string_lossy().contains("l2") { 40 } else { 48 })
        .sum();
    assert!(out.contains(&format!("replayed {} events", thousands(total))), "{out}");
    assert!(out.contains("BTCUSDT @ synthetic: final best bid"), "{out}");
    assert!(out.contains("M/s") || out.contains("k/s"), "{out}");
}

/// `gen --quotes` writes trades + quotes, and a replay keeps the quote-driven
/// book (the final best bid and ask are shown).
#[test]
fn gen_quotes_replays_with_a_quote_driven_book() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = run(&["gen", "--out", d, "--events", "20k", "--quotes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let q = dir.path().join("synthetic.BTCUSDT.quotes.tape");
    let t = dir.path().join("synthetic.BTCUSDT.trades.tape");
    assert!(q.is_file() && !dir.path().join("synthetic.BTCUSDT.l2.tape").exists());
    let o = run(&["replay", q.to_str().unwrap(), t.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("BTCUSDT @ synthetic: final best bid"), "{out}");
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn gen_is_deterministic_through_the_cli() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ta = gen_tapes(a.path(), "20k", "BTCUSDT,SOLUSDT");
    let tb = gen_tapes(b.path(), "20k", "BTCUSDT,SOLUSDT");
    for (x, y) in ta.iter().zip(&tb) {
        assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap());
    }
}

#[test]
fn bench_replay_reports_throughput_cost_and_heap() {
    let o = run(&["bench", "replay", "--events", "200k", "--runs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in
        ["throughput: median", "per-event cost (ns, windows of 64 events): p50", "p99.9", "heap:", "mean run length"]
    {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

/// A valid trades tape to corrupt.
fn good_tape(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let tapes = gen_tapes(&dir.join("gen"), "5k", "BTCUSDT");
    let trades = tapes.iter().find(|p| p.to_string_lossy().ends_with("trades.tape")).unwrap().clone();
    let bytes = fs::read(&trades).unwrap();
    (trades, bytes)
}

fn inspect_fails(path: &Path, needles: &[&str]) {
    let o = run(&["inspect", "--verify", path.to_str().unwrap()]);
    assert_one_error_line(&o, needles);
    let o = run(&["replay", path.to_str().unwrap()]);
    assert_one_error_line(&o, needles);
}

#[test]
fn bad_input_each_gives_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = good_tape(dir.path());
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    };

    inspect_fails(&write("empty.tape", b""), &["empty.tape", "empty file"]);
    inspect_fails(&write("header.tape", &good[..60]), &["header.tape", "truncated header", "60 bytes"]);
    let cut = good.len() - 7;
    inspect_fails(
        &write("record.tape", &good[..cut]),
        &["record.tape", "truncated record", &format!("byte offset {cut}")],
    );

    let mut magic = good.clone();
    magic[..8].copy_from_slice(b"NOTATAPE");
    inspect_fails(&write("magic.tape", &magic), &["magic.tape", "not a ticktape tape"]);

    let mut newer = good.clone();
    newer[8..10].copy_from_slice(&9u16.to_le_bytes());
    inspect_fails(&write("newer.tape", &newer), &["newer.tape", "version 9", "version 1", "upgrade ticktape"]);

    let mut size = good.clone();
    size[12..16].copy_from_slice(&56u32.to_le_bytes());
    inspect_fails(&write("size.tape", &size), &["size.tape", "byte offset 12", "record size 56", "48 bytes"]);

    let mut count = good.clone();
    count[24..32].copy_from_slice(&3u64.to_le_bytes());
    inspect_fails(&write("count.tape", &count), &["count.tape", "promises 3 trades records"]);

    // Not a file at all.
    let o = run(&["inspect", dir.path().join("missing.tape").to_str().unwrap()]);
    assert_one_error_line(&o, &["missing.tape", "cannot open"]);
}

#[test]
fn unsorted_tape_fails_verify_with_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut bytes) = good_tape(dir.path());
    // Swap the exchange times of records 1 and 2 (records start at 128, 48 bytes each).
    let (a, b) = (128 + 48, 128 + 96);
    let ta: [u8; 8] = bytes[a..a + 8].try_into().unwrap();
    let tb: [u8; 8] = bytes[b..b + 8].try_into().unwrap();
    assert_ne!(ta, tb, "fixture needs distinct times");
    bytes[a..a + 8].copy_from_slice(&tb);
    bytes[b..b + 8].copy_from_slice(&ta);
    let p = dir.path().join("unsorted.tape");
    fs::write(&p, &bytes).unwrap();
    // Without --verify the header still claims sorted, so inspect succeeds.
    assert!(run(&["inspect", p.to_str().unwrap()]).status.success());
    let o = run(&["inspect", "--verify", p.to_str().unwrap()]);
    assert_one_error_line(&o, &["unsorted.tape", &format!("byte offset {b}"), "not sorted"]);
}

#[test]
fn usage_errors_exit_2() {
    let o = run(&["gen"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--out"));
    let o = run(&["gen", "--out", "x", "--events", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a count"));
}

#[test]
fn run_help_states_the_simulators_real_defaults() {
    let d = ticktape_engine::sim::SimConfig::default();
    let o = run(&["run", "--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for needle in [
        format!("maker fee {} bps", d.maker_fee_bps),
        format!("taker fee {} bps", d.taker_fee_bps),
        format!("capital {}", d.capital),
        format!("sample {}s", d.sample_ns / 1_000_000_000),
        format!("seed {}", d.seed),
        format!("entry and response latency {}", d.entry),
        "--out ./results".to_owned(),
        "[account]  capital, mark".to_owned(),
    ] {
        assert!(help.contains(&needle), "run --help lacks {needle:?}:\n{help}");
    }
}

/// `convert --threads N` with tiny chunks (the hidden `--chunk-bytes`) writes
/// the tape `--threads 1` writes, byte for byte, and a bad row in a later
/// chunk is one error line naming its line.
#[test]
fn convert_in_parallel_chunks_equals_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("binance-futures_trades_2024-08-08_BTCUSDT.csv");
    let mut s = String::from("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n");
    for i in 0..3_000u64 {
        let ts = 1_723_075_200_000_000 + i * 1_000 - (i % 5) * 300;
        s.push_str(&format!(
            "binance-futures,BTCUSDT,{ts},{},{i},buy,6100{}.{},0.0{}\n",
            ts + 77,
            i % 10,
            i % 7,
            i % 9 + 1
        ));
    }
    fs::write(&csv, &s).unwrap();
    let tape = |out: &Path| fs::read(out.join("binance-futures.BTCUSDT.trades.tape")).unwrap();
    let one = dir.path().join("one");
    let par = dir.path().join("par");
    let c = csv.to_str().unwrap();
    let o = run(&["convert", "tardis", c, "-o", one.to_str().unwrap(), "--threads", "1", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["convert", "tardis", c, "-o", par.to_str().unwrap(), "--threads", "3", "--chunk-bytes", "100", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tape(&one) == tape(&par), "tapes differ");

    fs::write(&csv, s.replacen(",2345,buy,", ",2345,buy,x", 1)).unwrap();
    let bad = dir.path().join("bad");
    let o = run(&["convert", "tardis", c, "-o", bad.to_str().unwrap(), "--threads", "2", "--chunk-bytes", "100"]);
    assert_one_error_line(&o, &[&format!("{c}:2347:"), "bad price or amount"]);
    let help = stdout(&run(&["convert", "--help"]));
    assert!(help.contains("--threads") && !help.contains("--chunk-bytes"), "{help}");
}
