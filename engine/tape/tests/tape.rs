//! Reading, writing, validation and merge order.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use ticktape_tape::{
    Error, HEADER_SIZE, Level, Merge, Record, RecordKind, Stamp, Tape, TapeMeta, TapeWriter, Trade, level_flags, side,
};

fn meta(symbol: &str) -> TapeMeta {
    TapeMeta {
        symbol: symbol.into(),
        venue: "test".into(),
        price_exponent: -2,
        qty_exponent: -3,
        value_exponent: -8,
        price_tick: 10,
        qty_lot: 1,
        has_local_ts: true,
    }
}

/// 2024-05-01T00:00:00Z: record times must lie in 2009..2100 to replay.
const T0: i64 = 1_714_521_600_000_000_000;

fn trade(ts: i64, price: i64) -> Trade {
    let ts = T0 + ts;
    Trade {
        ts: Stamp { exchange: ts, local: ts + 7 },
        price,
        qty: 5,
        trade_id: ts as u64,
        side: side::BUY,
        ..Trade::default()
    }
}

fn write_trades(dir: &Path, name: &str, ts: &[i64]) -> PathBuf {
    let path = dir.join(name);
    let mut w = TapeWriter::<Trade>::create(&path, &meta("BTCUSDT")).unwrap();
    for &t in ts {
        w.push(&trade(t, 100 + t)).unwrap();
    }
    w.finish().unwrap();
    path
}

fn open_err(path: &Path) -> Error {
    Tape::open(path).expect_err("opening should fail")
}

#[test]
fn round_trip_keeps_header_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1, 2, 2, 5]);
    let tape = Tape::open(&path).unwrap();
    let h = tape.header();
    assert_eq!(tape.kind(), RecordKind::Trade);
    assert_eq!(h.symbol(), "BTCUSDT");
    assert_eq!(h.venue(), "test");
    assert_eq!((h.price_exponent, h.qty_exponent, h.value_exponent), (-2, -3, -8));
    assert_eq!((h.price_tick, h.qty_lot), (10, 1));
    assert_eq!((h.first_ts, h.last_ts, h.record_count), (T0 + 1, T0 + 5, 4));
    assert!(h.is_sorted());
    assert!(h.has_local_ts());
    let recs: &[Trade] = tape.records().unwrap();
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[3], trade(5, 105));
    assert_eq!(tape.file_len(), u64::from(HEADER_SIZE) + 4 * 48);
    tape.verify().unwrap();
}

#[test]
fn empty_tape_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[]);
    let tape = Tape::open(&path).unwrap();
    assert!(tape.is_empty());
    assert!(tape.records::<Trade>().unwrap().is_empty());
    tape.verify().unwrap();
}

#[test]
fn unsorted_writes_clear_the_sorted_flag_and_verify_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[10, 20, 15, 30]);
    let tape = Tape::open(&path).unwrap();
    assert!(!tape.header().is_sorted());
    match tape.verify().unwrap_err() {
        Error::Unsorted { index, offset, ts, prev_ts, .. } => {
            assert_eq!((index, ts, prev_ts), (2, T0 + 15, T0 + 20));
            assert_eq!(offset, u64::from(HEADER_SIZE) + 2 * 48);
        }
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn bad_input_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.tape");
    fs::write(&path, b"").unwrap();
    let e = open_err(&path);
    assert!(matches!(e, Error::Empty { .. }), "{e}");
    assert!(e.to_string().contains("empty.tape"));
}

#[test]
fn bad_input_a_folder_is_not_a_tape() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, Error::IsFolder { .. }), "{e}");
    assert!(e.to_string().contains("is a folder, not a tape file"));
}

#[test]
fn bad_input_truncated_header() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_trades(dir.path(), "t.tape", &[1]);
    let bytes = fs::read(&good).unwrap();
    let path = dir.path().join("short.tape");
    fs::write(&path, &bytes[..100]).unwrap();
    let e = open_err(&path);
    assert!(matches!(e, Error::TruncatedHeader { len: 100, need: 128, .. }), "{e}");
}

#[test]
fn bad_input_truncated_record_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_trades(dir.path(), "t.tape", &[1, 2, 3]);
    let bytes = fs::read(&good).unwrap();
    let path = dir.path().join("cut.tape");
    fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    let e = open_err(&path);
    let msg = e.to_string();
    assert!(matches!(e, Error::Length { .. }), "{msg}");
    assert!(msg.contains("truncated record"), "{msg}");
    assert!(msg.contains(&format!("byte offset {}", bytes.len() - 5)), "{msg}");
    assert!(msg.contains("record 2"), "{msg}");
}

#[test]
fn bad_input_wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[..8].copy_from_slice(b"PK\x03\x04abcd");
    fs::write(&path, &bytes).unwrap();
    let e = open_err(&path);
    assert!(matches!(e, Error::BadMagic { .. }), "{e}");
    assert!(e.to_string().contains("not a ticktape tape"));
}

#[test]
fn bad_input_newer_version_names_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&7u16.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let e = open_err(&path);
    assert!(matches!(e, Error::NewerVersion { found: 7, supported: 1, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("version 7") && msg.contains("version 1"), "{msg}");
}

#[test]
fn bad_input_wrong_record_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[12..16].copy_from_slice(&40u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let e = open_err(&path);
    assert!(matches!(e, Error::RecordSize { found: 40, expected: 48, kind: RecordKind::Trade, .. }), "{e}");
}

#[test]
fn bad_input_unknown_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10..12].copy_from_slice(&99u16.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(open_err(&path), Error::UnknownKind { found: 99, .. }));
}

#[test]
fn bad_input_length_not_matching_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1, 2]);
    let mut bytes = fs::read(&path).unwrap();
    // Count says 5 records but there are 2 whole ones.
    bytes[24..32].copy_from_slice(&5u64.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let e = open_err(&path);
    assert!(matches!(e, Error::Length { count: 5, .. }), "{e}");
    // Extra bytes after the last record.
    let path2 = write_trades(dir.path(), "t2.tape", &[1, 2]);
    let mut bytes = fs::read(&path2).unwrap();
    bytes.extend_from_slice(&[0; 48]);
    fs::write(&path2, &bytes).unwrap();
    let msg = open_err(&path2).to_string();
    assert!(msg.contains("beyond its last record"), "{msg}");
}

#[test]
fn bad_input_count_overflow_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(open_err(&path), Error::Length { .. }));
}

#[test]
fn bad_input_bad_header_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[16..20].copy_from_slice(&100u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(open_err(&path), Error::HeaderSize { found: 100, .. }));
}

#[test]
fn bad_input_wrong_kind_where_another_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1]);
    let tape = Tape::open(&path).unwrap();
    let e = tape.records::<Level>().unwrap_err();
    assert!(matches!(e, Error::WrongKind { expected: RecordKind::Level, found: RecordKind::Trade, .. }), "{e}");
    assert!(e.to_string().contains("this is a trades tape, but a l2 tape is expected"));
}

#[test]
fn verify_checks_header_time_range_and_record_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trades(dir.path(), "t.tape", &[1, 2]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[40..48].copy_from_slice(&(T0 + 99).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    // Opening ties the header's time range to the first and last records.
    let e = Tape::open(&path).unwrap_err();
    assert!(matches!(e, Error::HeaderMismatch { offset: 40, .. }), "{e}");

    let path = write_trades(dir.path(), "t2.tape", &[1, 2]);
    let mut bytes = fs::read(&path).unwrap();
    // Side byte of record 1 (offset 128 + 48 + 40).
    bytes[128 + 48 + 40] = 9;
    fs::write(&path, &bytes).unwrap();
    let e = Tape::open(&path).unwrap().verify().unwrap_err();
    assert!(matches!(e, Error::BadRecord { index: 1, offset: 176, .. }), "{e}");
}

#[test]
fn failed_write_leaves_no_file_under_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tape");
    {
        let mut w = TapeWriter::<Trade>::create(&path, &meta("X")).unwrap();
        w.push(&trade(1, 1)).unwrap();
        // Dropped without finish, as on an error or panic.
    }
    assert!(!path.exists());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file left behind");
}

#[test]
fn an_unfinished_write_is_invisible_until_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tape");
    let mut w = TapeWriter::<Trade>::create(&path, &meta("X")).unwrap();
    w.push(&trade(1, 1)).unwrap();
    assert!(!path.exists());
    w.finish().unwrap();
    assert!(path.exists());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn over_long_symbol_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = TapeWriter::<Trade>::create(dir.path().join("t.tape"), &meta(&"X".repeat(33))).unwrap_err();
    assert!(matches!(e, Error::Text { field: "symbol", .. }), "{e}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn file_name_is_predictable() {
    assert_eq!(meta("BTCUSDT").file_name(RecordKind::Trade), "test.BTCUSDT.trades.tape");
    assert_eq!(meta("BTC/USDT:USDT").file_name(RecordKind::Level), "test.BTC_USDT_USDT.l2.tape");
}

/// Drains a merge, returning (stream, record index) in delivery order.
fn drain(merge: &mut Merge<'_>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    while let Some(run) = merge.next_run() {
        let tape = merge.tapes()[run.stream];
        let mut pos = run.start;
        assert!(tape.ts_at(pos).unwrap() <= run.bound, "a run must make progress");
        while pos < tape.len() && tape.ts_at(pos).unwrap() <= run.bound {
            out.push((run.stream, pos));
            pos += 1;
        }
        merge.advance(run.stream, pos);
    }
    out
}

#[test]
fn merge_ties_go_to_lower_kind_then_symbol_regardless_of_argument_order() {
    let dir = tempfile::tempdir().unwrap();
    let trades = write_trades(dir.path(), "a.tape", &[5, 10]);
    let levels = dir.path().join("b.tape");
    let mut w = TapeWriter::<Level>::create(&levels, &meta("BTCUSDT")).unwrap();
    for ts in [T0 + 5, T0 + 10] {
        w.push(&Level {
            ts: Stamp { exchange: ts, local: ts },
            price: 1,
            qty: 1,
            side: side::BID,
            flags: level_flags::BATCH_END,
            ..Level::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    let t = Tape::open(&trades).unwrap();
    let l = Tape::open(&levels).unwrap();
    let order_a = drain(&mut Merge::new(vec![&t, &l]));
    let order_b = drain(&mut Merge::new(vec![&l, &t]));
    // Trades (kind 1) before levels (kind 2) at equal time, whatever the order given.
    assert_eq!(order_a, vec![(0, 0), (1, 0), (0, 1), (1, 1)]);
    assert_eq!(order_b, vec![(1, 0), (0, 0), (1, 1), (0, 1)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The merge delivers exactly a stable sort of all records by
    /// (time, rank), and each stream in file order (up to 15 streams, many
    /// tied: a head that goes behind every other stream leaves the front of
    /// the heads and joins their back, which compacts now and then).
    #[test]
    fn merge_is_a_stable_sort_by_time_then_rank(
        streams in prop::collection::vec(prop::collection::vec(0i64..50, 0..40), 1..16)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut tapes = Vec::new();
        for (i, ts) in streams.iter().enumerate() {
            let mut ts = ts.clone();
            ts.sort();
            let path = dir.path().join(format!("{i}.tape"));
            let mut w = TapeWriter::<Trade>::create(&path, &meta(&format!("S{}", i % 3))).unwrap();
            for &t in &ts { w.push(&trade(t, t)).unwrap(); }
            w.finish().unwrap();
            tapes.push(Tape::open(&path).unwrap());
        }
        let refs: Vec<&Tape> = tapes.iter().collect();
        let mut merge = Merge::new(refs);
        let ranks: Vec<u32> = (0..tapes.len()).map(|i| merge.rank(i)).collect();
        let got = drain(&mut merge);
        let mut want: Vec<(i64, u32, usize, usize)> = Vec::new();
        for (s, tape) in tapes.iter().enumerate() {
            for i in 0..tape.len() { want.push((tape.ts_at(i).unwrap(), ranks[s], i, s)); }
        }
        want.sort();
        let want: Vec<(usize, usize)> = want.into_iter().map(|(_, _, i, s)| (s, i)).collect();
        prop_assert_eq!(got, want);
    }

    /// Whatever records go in come back out, bit for bit.
    #[test]
    fn write_read_round_trip(recs in prop::collection::vec((any::<i64>(), any::<i64>(), any::<i64>(), 1i64..i64::MAX, any::<u64>(), 0u8..3), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tape");
        let mut w = TapeWriter::<Trade>::create(&path, &meta("P")).unwrap();
        let trades: Vec<Trade> = recs.iter().map(|&(e, l, p, q, id, s)| Trade {
            ts: Stamp { exchange: e, local: l }, price: p, qty: q, trade_id: id, side: s, ..Trade::default()
        }).collect();
        for t in &trades { w.push(t).unwrap(); }
        let summary = w.finish().unwrap();
        let tape = Tape::open(&path).unwrap();
        prop_assert_eq!(tape.records::<Trade>().unwrap(), &trades[..]);
        prop_assert_eq!(summary.sorted, trades.windows(2).all(|w| w[0].ts.exchange <= w[1].ts.exchange));
        prop_assert_eq!(tape.header().is_sorted(), summary.sorted);
        prop_assert_eq!(summary.bytes, tape.file_len());
    }
}

#[test]
fn stamp_accessor_matches_field() {
    let t = trade(3, 4);
    assert_eq!(t.stamp(), t.ts);
}

#[test]
fn window_is_the_half_open_time_slice_found_by_binary_search() {
    let dir = tempfile::tempdir().unwrap();
    // Equal times on the boundaries: 10, 20, 20, 20, 30, 40.
    let p = write_trades(dir.path(), "w.tape", &[10, 20, 20, 20, 30, 40]);
    let t = Tape::open(&p).unwrap();
    assert_eq!(t.index_range(Some(T0 + 20), Some(T0 + 40)), 1..5, "from inclusive, to exclusive");
    assert_eq!(t.index_range(None, Some(T0 + 20)), 0..1);
    assert_eq!(t.index_range(Some(T0 + 41), None), 6..6);
    assert_eq!(t.index_range(Some(T0 + 35), Some(T0 + 15)), 5..5, "an inverted slice is empty");
    let w = Tape::open(&p).unwrap().window(Some(T0 + 20), Some(T0 + 40));
    let recs: &[Trade] = w.records().unwrap();
    assert_eq!(recs.iter().map(|r| r.ts.exchange - T0).collect::<Vec<_>>(), [20, 20, 20, 30]);
    assert_eq!((w.len(), w.header().first_ts - T0, w.header().last_ts - T0), (4, 20, 30));
    assert_eq!((w.file_index(0), w.offset_of(0)), (1, u64::from(HEADER_SIZE) + 48));
    assert_eq!(w.ts_at(4), None, "nothing past the window");
    assert_eq!(w.records_before::<Trade>().unwrap().len(), 1);
    w.check_ends().unwrap();
    // The file's record numbers and offsets in errors.
    let e = w.file_record_error(3, "x");
    assert!(e.to_string().contains(&format!("byte offset {}", u64::from(HEADER_SIZE) + 3 * 48)), "{e}");
    let empty = Tape::open(&p).unwrap().window(Some(T0 + 50), None);
    assert!(empty.is_empty() && empty.records::<Trade>().unwrap().is_empty());
    assert_eq!((empty.header().first_ts, empty.header().last_ts), (0, 0));
}
