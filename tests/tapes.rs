//! End-to-end tests of tape checks through the `ticktape` binary.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_one_error_line, run, stderr, ticktape};
use ticktape_tape::{Stamp, TapeMeta, TapeWriter, Trade, side};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000_000;

fn trades(dir: &Path, name: &str, symbol: &str, start: i64, n: i64) -> PathBuf {
    let path = dir.join(name);
    let meta = TapeMeta { symbol: symbol.into(), venue: "v".into(), price_exponent: -2, ..TapeMeta::default() };
    let mut w = TapeWriter::<Trade>::create(&path, &meta).unwrap();
    for i in 0..n {
        let ts = start + i * 1_000;
        w.push(&Trade {
            ts: Stamp { exchange: ts, local: ts },
            price: 100 + i % 7,
            qty: 1,
            side: side::BUY,
            ..Trade::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    path
}

#[test]
fn regression_replay_of_a_sorted_tape_with_backwards_time_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let p = trades(dir.path(), "b.tape", "X", T0, 10);
    let mut bytes = std::fs::read(&p).unwrap();
    let at = 128 + 48 * 5;
    bytes[at..at + 8].copy_from_slice(&T0.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let o = run(&["replay", p.to_str().unwrap()]);
    assert_one_error_line(&o, &["b.tape", &format!("byte offset {at}"), "earlier than the previous record"]);
    let o = run(&["inspect", "--verify", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("byte offset {at}")), "{}", stderr(&o));
}

#[test]
fn regression_replay_refuses_the_same_stream_twice_and_tapes_years_apart() {
    let dir = tempfile::tempdir().unwrap();
    let a = trades(dir.path(), "a.tape", "A", T0, 10);
    let a = a.to_str().unwrap();
    assert_one_error_line(&run(&["replay", a, a]), &["same stream", "a.tape"]);
    let b = trades(dir.path(), "b.tape", "B", T0 + 3 * 365 * 86_400_000_000_000, 10);
    let b = b.to_str().unwrap();
    assert_one_error_line(&run(&["replay", a, b]), &["do not overlap", "--allow-gaps"]);
    let o = run(&["replay", a, b, "--allow-gaps"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn regression_tape_truncated_during_replay_gives_one_error_line_not_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough that the (debug) replay is still running when the test
    // truncates the file, which it does as soon as the tape is mapped.
    let p = trades(dir.path(), "big.trades.tape", "X", T0, 8_000_000);
    let child = ticktape()
        .args(["replay", p.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let maps = format!("/proc/{}/maps", child.id());
    let t0 = Instant::now();
    let needle = p.file_name().unwrap().to_str().unwrap().to_owned();
    while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&needle)) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the replay never mapped the tape");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(4096).unwrap();
    let o = child.wait_with_output().unwrap();
    if o.status.success() {
        panic!("the replay finished before the truncation took effect; make the tape larger");
    }
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "status {:?} (a signal death has no code); stderr: {err}", o.status);
    assert!(
        err.contains(&format!("error: tape {} was truncated while mapped (fault at byte offset", p.display())),
        "{err}"
    );
}

/// The per-kind count line of `ticktape replay` output, e.g. `trades 10`.
fn replayed(o: &std::process::Output, kind: &str) -> u64 {
    let out = common::stdout(o);
    let line = out.lines().find(|l| l.split_whitespace().next() == Some(kind));
    line.and_then(|l| l.split_whitespace().nth(1)).map_or(0, |n| n.replace(',', "").parse().unwrap())
}

#[test]
fn replay_from_to_is_the_half_open_slice_of_exchange_time() {
    let dir = tempfile::tempdir().unwrap();
    // Records every 1 µs from T0: records 10..20 are in [T0 + 10 µs, T0 + 20 µs).
    let p = trades(dir.path(), "t.tape", "X", T0, 100);
    let p = p.to_str().unwrap();
    let from = "2024-05-01T00:00:00.000010Z";
    let to = "2024-05-01T00:00:00.000020Z";
    let o = run(&["replay", p, "--from", from, "--to", to]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(replayed(&o, "trades"), 10, "{}", common::stdout(&o));
    assert!(common::stdout(&o).contains("slice"), "{}", common::stdout(&o));
    // Open ends, a date, an offset.
    assert_eq!(replayed(&run(&["replay", p, "--from", from]), "trades"), 90);
    assert_eq!(replayed(&run(&["replay", p, "--to", to]), "trades"), 20);
    assert_eq!(replayed(&run(&["replay", p, "--from", "2024-05-01"]), "trades"), 100);
    assert_eq!(replayed(&run(&["replay", p, "--from", "2024-05-01T02:00:00.000050+02:00"]), "trades"), 50);
    // A slice with no record, an inverted one and a malformed time are one error line each.
    assert_one_error_line(&run(&["replay", p, "--from", "2024-06-01"]), &["selects no record", "the tapes span"]);
    assert_one_error_line(&run(&["replay", p, "--from", to, "--to", from]), &["is not before --to"]);
    let o = run(&["replay", p, "--from", "yesterday"]);
    assert_eq!(o.status.code(), Some(2), "clap usage error: {}", stderr(&o));
    assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));
}

#[test]
fn replay_slice_seeks_and_never_reads_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = trades(dir.path(), "t.tape", "X", T0, 100);
    // Record 5 gets trade side 7: a replay that reads it fails.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[128 + 48 * 5 + 40] = 7;
    std::fs::write(&p, &bytes).unwrap();
    let p = p.to_str().unwrap();
    assert_one_error_line(&run(&["replay", p]), &["t.tape", &format!("byte offset {}", 128 + 48 * 5), "side"]);
    // From record 10 on, the bad record is never read (binary search, not a scan).
    let o = run(&["replay", p, "--from", "2024-05-01T00:00:00.000010Z"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(replayed(&o, "trades"), 90);
    // A bad record inside the slice is reported at its byte offset in the file.
    let o = run(&["replay", p, "--from", "2024-05-01T00:00:00.000003Z", "--to", "2024-05-01T00:00:00.000009Z"]);
    assert_one_error_line(&o, &[&format!("byte offset {}", 128 + 48 * 5), "record 5:"]);
}

#[test]
fn replay_slice_rebuilds_the_book_from_before_the_slice() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = common::gen_tapes(dir.path(), "60k", "BTCUSDT");
    let args: Vec<&str> = tapes.iter().map(|t| t.to_str().unwrap()).collect();
    let book = |extra: &[&str]| {
        let o = run(&[&["replay"], &args[..], extra].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        common::stdout(&o).lines().find(|l| l.contains("final best bid")).unwrap().to_owned()
    };
    let to = "2024-05-01T00:00:05Z";
    // The book at the end of a slice that starts mid-tape is the book at the
    // same instant of a replay from the start: the L2 records before the
    // slice rebuild it (from the last snapshot), they are not skipped.
    assert_eq!(book(&["--from", "2024-05-01T00:00:03Z", "--to", to]), book(&["--to", to]));
}

/// Bars of `len_ns` from T0, one every `len_ns`, into `name`.
fn bars(dir: &Path, name: &str, len_ns: i64, n: i64) -> PathBuf {
    let path = dir.join(name);
    let meta =
        TapeMeta { symbol: "BTCUSDT".into(), venue: "binance".into(), price_exponent: -2, ..TapeMeta::default() };
    let mut w = TapeWriter::<ticktape_tape::Bar>::create(&path, &meta).unwrap();
    for i in 0..n {
        let open_ts = T0 + i * len_ns;
        let close = open_ts + len_ns - 1_000_000; // Binance: close_time = open + interval - 1 ms
        w.push(&ticktape_tape::Bar {
            ts: Stamp { exchange: close, local: close },
            open_ts,
            open: 100,
            high: 110,
            low: 90,
            close: 105,
            volume: 5,
            taker_buy_volume: 2,
            trade_count: 3,
        })
        .unwrap();
    }
    w.finish().unwrap();
    path
}

#[test]
fn regression_bar_tapes_of_two_intervals_of_one_symbol_are_not_the_same_stream_twice() {
    let dir = tempfile::tempdir().unwrap();
    const MIN: i64 = 60_000_000_000;
    let m1 = bars(dir.path(), "binance.BTCUSDT.bars-1m.tape", MIN, 120);
    let h1 = bars(dir.path(), "binance.BTCUSDT.bars-1h.tape", 60 * MIN, 2);
    let (m1, h1) = (m1.to_str().unwrap(), h1.to_str().unwrap());
    let o = run(&["replay", m1, h1]);
    assert!(o.status.success(), "1m and 1h bars of one symbol replay together: {}", stderr(&o));
    assert_eq!(replayed(&o, "bars"), 122);
    // The same interval twice with overlapping times is still refused.
    let again = bars(dir.path(), "copy.bars-1m.tape", MIN, 60);
    assert_one_error_line(&run(&["replay", m1, again.to_str().unwrap()]), &["same stream", "overlapping"]);
}

#[test]
fn replay_slice_rebuilds_the_book_from_pieces_of_one_stream_given_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = common::gen_tapes(&dir.path().join("whole"), "60k", "BTCUSDT");
    let l2 = tapes.iter().find(|t| t.to_string_lossy().contains(".l2.")).unwrap();
    // The L2 tape in two pieces, split at 00:00:02 (one snapshot, at the start of the first).
    let whole = ticktape_tape::Tape::open(l2).unwrap();
    let recs: &[ticktape_tape::Level] = whole.records().unwrap();
    let split = recs.partition_point(|r| r.ts.exchange < T0 + 2_000_000_000);
    let meta = TapeMeta::from_header(whole.header());
    let mut pieces = Vec::new();
    for (name, part) in [("a.l2.tape", &recs[..split]), ("b.l2.tape", &recs[split..])] {
        let p = dir.path().join(name);
        let mut w = TapeWriter::<ticktape_tape::Level>::create(&p, &meta).unwrap();
        w.extend(part).unwrap();
        w.finish().unwrap();
        pieces.push(p);
    }
    let book = |args: &[&str]| {
        let o = run(&[&["replay"], args].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        common::stdout(&o).lines().find(|l| l.contains("final best bid")).unwrap().to_owned()
    };
    let (l2, a, b) = (l2.to_str().unwrap(), pieces[0].to_str().unwrap(), pieces[1].to_str().unwrap());
    let slice = ["--from", "2024-05-01T00:00:03Z", "--to", "2024-05-01T00:00:04Z"];
    let expected = book(&[&[l2][..], &slice].concat());
    assert_eq!(book(&[&[a, b][..], &slice].concat()), expected);
    assert_eq!(book(&[&[b, a][..], &slice].concat()), expected, "pieces given in reverse order");
}
