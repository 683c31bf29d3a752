//! One test per bad-input case: one clear error (never a panic), and no tape
//! under a final name.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use ticktape_data::{ConvertOptions, Error, SourceKind, convert};

const HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";

fn trades_csv(dir: &Path, rows: &[&str]) -> PathBuf {
    let p = dir.join("binance-futures_trades_2024-01-01_BTCUSDT.csv");
    let mut s = HEADER.to_owned();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

const GOOD: &str = "binance-futures,BTCUSDT,1704067200100000,1704067200150000,1,buy,42000.5,0.5";

/// The output folder holds no file at all (no tape, no hidden segment).
fn assert_nothing_written(out: &Path) {
    let left: Vec<_> = match std::fs::read_dir(out) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(left.is_empty(), "files left behind: {left:?}");
}

fn run(source: SourceKind, inputs: &[PathBuf], o: &ConvertOptions) -> Error {
    let e = convert(source, inputs, o).expect_err("the conversion must fail");
    assert_nothing_written(&o.out_dir);
    e
}

#[test]
fn malformed_row_names_file_line_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let input = trades_csv(
        dir.path(),
        &[GOOD, "binance-futures,BTCUSDT,1704067200200000,1704067200250000,2,sell,42x00,1", GOOD],
    );
    let e = run(SourceKind::Tardis, std::slice::from_ref(&input), &opts(&dir.path().join("out")));
    assert!(matches!(e, Error::BadRow { line: 3, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("{}:3", input.display())), "{msg}");
    assert!(msg.contains("42x00") && msg.contains("--skip-bad"), "{msg}");
}

#[test]
fn skip_bad_counts_skipped_rows_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = trades_csv(
        dir.path(),
        &[
            GOOD,
            "binance-futures,BTCUSDT,1704067200200000,1704067200250000,2,sell,42x00,1",
            "too,few",
            "binance-futures,BTCUSDT,1704067200300000,1704067200350000,4,buy,42000.5,0.5",
            "binance-futures,BTCUSDT,17040672002x,1,3,buy,1,1",
        ],
    );
    let mut o = opts(&dir.path().join("out"));
    o.skip_bad = true;
    let r = convert(SourceKind::Tardis, &[input], &o).unwrap();
    assert_eq!(r.tapes[0].records, 2);
    let s = &r.inputs[0].skipped;
    assert_eq!(s.values().sum::<u64>(), 3, "{s:?}");
    assert_eq!(s["bad price or amount"], 1);
    assert_eq!(s["too few columns"], 1);
    assert_eq!(s["bad timestamp"], 1);
    assert_eq!(r.inputs[0].first_skipped.as_ref().unwrap().0, 3);
    assert!(r.warnings().iter().any(|w| w.contains("skipped 1 rows: too few columns")));
}

#[test]
fn corrupt_gzip_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let body: String = (0..20_000)
        .map(|i| {
            format!(
                "binance-futures,BTCUSDT,{},{},{i},buy,42000.5,0.5\n",
                1704067200000000i64 + i,
                1704067200000000i64 + i
            )
        })
        .collect();
    gz.write_all(HEADER.as_bytes()).unwrap();
    gz.write_all(body.as_bytes()).unwrap();
    let mut bytes = gz.finish().unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64].fill(0x55);
    let input = dir.path().join("binance-futures_trades_2024-01-01_BTCUSDT.csv.gz");
    std::fs::write(&input, &bytes).unwrap();
    let e = run(SourceKind::Tardis, std::slice::from_ref(&input), &opts(&dir.path().join("out")));
    assert!(matches!(e, Error::Gzip { .. }), "{e:?}");
    assert!(e.to_string().contains("corrupt gzip"), "{e}");
    // Truncated too.
    std::fs::write(&input, &bytes[..mid]).unwrap();
    let e = run(SourceKind::Tardis, &[input], &opts(&dir.path().join("out")));
    assert!(matches!(e, Error::Gzip { .. }), "{e:?}");
}

#[test]
fn corrupt_zip_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("BTCUSDT-fundingRate-2026-04.zip")).unwrap();
    // Damaged compressed data (CRC or inflate error) and a truncated archive.
    let mut damaged = good.clone();
    damaged[100..140].fill(0xAA);
    for (name, bytes) in [
        ("BTCUSDT-fundingRate-2026-04.zip", damaged),
        ("BTCUSDT-fundingRate-2026-05.zip", good[..good.len() - 30].to_vec()),
    ] {
        let input = dir.path().join(name);
        std::fs::write(&input, bytes).unwrap();
        let e = run(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out")));
        assert!(matches!(e, Error::Zip { .. } | Error::BadRow { .. }), "{e:?}");
        if let Error::Zip { .. } = e {
            assert!(e.to_string().contains("zip archive"), "{e}");
        }
    }
}

#[test]
fn checksum_mismatch_is_refused_before_converting() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("BTCUSDT-fundingRate-2026-04.zip");
    std::fs::copy(fixture("BTCUSDT-fundingRate-2026-04.zip"), &input).unwrap();
    std::fs::write(
        dir.path().join("BTCUSDT-fundingRate-2026-04.zip.CHECKSUM"),
        format!("{}  BTCUSDT-fundingRate-2026-04.zip\n", "0".repeat(64)),
    )
    .unwrap();
    let mut o = opts(&dir.path().join("out"));
    o.checksum = true;
    let e = run(SourceKind::BinanceVision, std::slice::from_ref(&input), &o);
    assert!(matches!(e, Error::Checksum { .. }), "{e:?}");
    assert!(e.to_string().contains("51cdeb4de7d5ef1d"), "{e}");
    // Without --checksum the same archive converts.
    o.checksum = false;
    assert_eq!(convert(SourceKind::BinanceVision, &[input], &o).unwrap().tapes[0].records, 90);
}

#[test]
fn value_that_does_not_fit_fixed_decimals_is_an_error_not_a_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let input =
        trades_csv(dir.path(), &[GOOD, "binance-futures,BTCUSDT,1704067200200000,1704067200250000,2,sell,42000.55,1"]);
    let mut o = opts(&dir.path().join("out"));
    o.decimals.price = Some(1);
    let e = run(SourceKind::Tardis, std::slice::from_ref(&input), &o);
    assert!(matches!(e, Error::DoesNotFit { line: 3, field: "price", decimals: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("\"42000.55\"") && e.to_string().contains("--price-decimals"), "{e}");
    // Too large for i64 at the chosen scale.
    o.decimals.price = Some(18);
    let e = run(SourceKind::Tardis, &[input], &o);
    assert!(matches!(e, Error::DoesNotFit { line: 2, .. }), "{e:?}");
}

#[test]
fn out_of_order_beyond_tolerance_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let late = "binance-futures,BTCUSDT,1704067190000000,1704067200250000,2,sell,42000,1";
    let later = "binance-futures,BTCUSDT,1704067210000000,1704067210000000,3,sell,42000,1";
    let late2 = "binance-futures,BTCUSDT,1704067190000000,1704067200250000,4,sell,42000,1";
    let input = trades_csv(dir.path(), &[GOOD, later, late, late2]);
    let e = run(SourceKind::Tardis, std::slice::from_ref(&input), &opts(&dir.path().join("out")));
    assert!(matches!(e, Error::OutOfOrder { line: 4, count: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("20000 ms"), "{e}");
    // A wider tolerance sorts it; --skip-bad drops and counts.
    let mut o = opts(&dir.path().join("out"));
    o.tolerance_ms = Some(30_000);
    let r = convert(SourceKind::Tardis, std::slice::from_ref(&input), &o).unwrap();
    assert_eq!(r.tapes[0].records, 4);
    o.tolerance_ms = None;
    o.skip_bad = true;
    o.out_dir = dir.path().join("out2");
    let r = convert(SourceKind::Tardis, &[input], &o).unwrap();
    assert_eq!((r.tapes[0].records, r.inputs[0].out_of_order, r.inputs[0].first_out_of_order), (2, 2, Some(4)));
}

#[test]
fn unknown_dataset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("something.csv");
    std::fs::write(&input, "a,b,c\n1,2,3\n").unwrap();
    let e = run(SourceKind::Tardis, std::slice::from_ref(&input), &opts(&dir.path().join("out")));
    assert!(matches!(e, Error::UnknownDataset { .. }), "{e:?}");
    assert!(e.to_string().contains("--dataset"), "{e}");
    let mut o = opts(&dir.path().join("out"));
    o.dataset = Some("orderbook".into());
    let e = run(SourceKind::BinanceVision, &[input], &o);
    assert!(matches!(e, Error::UnknownDataset { .. }), "{e:?}");
}

#[test]
fn failure_in_one_of_many_inputs_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = trades_csv(dir.path(), &[GOOD]);
    let bad = dir.path().join("binance-futures_trades_2024-01-02_BTCUSDT.csv");
    std::fs::write(&bad, format!("{HEADER}binance-futures,BTCUSDT,x,1,1,buy,1,1\n")).unwrap();
    let mut o = opts(&dir.path().join("out"));
    o.jobs = 2;
    let e = run(SourceKind::Tardis, &[good, bad], &o);
    assert!(matches!(e, Error::BadRow { .. }), "{e:?}");
}

#[test]
fn binance_capture_bad_line_and_gap_resync() {
    const T0: i64 = 1_704_067_200_000;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("capture.txt");
    let upd = |u: u64, pu: u64, t: i64, px: &str| {
        format!(
            "1704067200000000000 {{\"stream\":\"btcusdt@depth\",\"data\":{{\"e\":\"depthUpdate\",\"E\":{},\"T\":{},\"s\":\"BTCUSDT\",\"U\":{},\"u\":{u},\"pu\":{pu},\"b\":[[\"{px}\",\"1.000\"]],\"a\":[]}}}}\n",
            T0 + t,
            T0 + t,
            pu + 1
        )
    };
    let snap = |id: u64, t: i64| {
        format!(
            "1704067200000000000 {{\"lastUpdateId\":{id},\"E\":{},\"T\":{},\"bids\":[[\"100.0\",\"1.0\"]],\"asks\":[[\"101.0\",\"2.0\"]]}}\n",
            T0 + t,
            T0 + t
        )
    };
    let text = [
        upd(10, 5, 1000, "99.0"), // before any snapshot: held, then dropped (u < 10? no: bridges)
        snap(10, 1001),
        upd(12, 10, 1002, "99.5"), // applies
        upd(20, 15, 1003, "99.6"), // gap (pu 15 != 12)
        upd(22, 20, 1004, "99.7"), // held
        snap(21, 1005),            // resync: 20 dropped, 22 bridges (U=21 <= 22, u=22 >= 21)
        upd(23, 22, 1006, "99.8"),
    ]
    .concat();
    std::fs::write(&input, &text).unwrap();
    let r = convert(SourceKind::BinanceWs, std::slice::from_ref(&input), &opts(&dir.path().join("out"))).unwrap();
    let i = &r.inputs[0];
    assert_eq!((i.snapshots, i.gaps), (2, 1));
    assert_eq!(i.dropped_updates, 1);
    let (_, lv) = read::<ticktape_tape::Level>(&r.tapes[0].path);
    // snap(2) + upd10(1) + upd12(1) + snap(2) + upd22(1) + upd23(1)
    assert_eq!(lv.len(), 8);
    Book::replay_checked(&lv);
    // A line that is not `<ts> <json>`.
    std::fs::write(&input, format!("{text}garbage\n")).unwrap();
    let e = run(SourceKind::BinanceWs, &[input], &opts(&dir.path().join("out3")));
    assert!(matches!(e, Error::BadRow { line: 8, .. }), "{e:?}");
}

#[test]
fn cli_refuses_a_negative_tolerance_and_a_missing_source() {
    use ticktape_data::cli::{ConvertArgs, run};
    let dir = tempfile::tempdir().unwrap();
    let input = trades_csv(dir.path(), &[GOOD]);
    let out = dir.path().join("out");
    let args = ConvertArgs {
        source: Some(SourceKind::Tardis),
        inputs: vec![input.clone()],
        out: out.clone(),
        tolerance_ms: Some(-1),
        quiet: true,
        ..ConvertArgs::default()
    };
    let e = run(&args).expect_err("a negative tolerance");
    assert!(matches!(e, Error::Usage(_)) && e.to_string().contains("--tolerance-ms"), "{e:?}");
    let e = run(&ConvertArgs { source: None, tolerance_ms: None, ..args.clone() }).expect_err("no source");
    assert!(matches!(e, Error::Usage(_)) && e.to_string().contains("SOURCE"), "{e:?}");
    assert_nothing_written(&out);
    // The same arguments, corrected, convert.
    let r = run(&ConvertArgs { tolerance_ms: Some(0), ..args }).unwrap();
    assert_eq!(r.tapes[0].records, 1);
}

#[test]
fn cli_arguments_reach_the_options_unmixed() {
    use ticktape_data::cli::ConvertArgs;
    let args = ConvertArgs {
        out: "tapes".into(),
        dataset: Some("trades".into()),
        skip_bad: true,
        checksum: true,
        price_decimals: Some(1),
        qty_decimals: Some(3),
        value_decimals: Some(8),
        per_input: true,
        jobs: 2,
        tolerance_ms: Some(250),
        venue: Some("binance-futures".into()),
        symbol: Some("BTCUSDT".into()),
        account: Some("0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2".into()),
        time_column: Some("ts".into()),
        value_column: vec!["momentum".into(), "carry".into()],
        quiet: true,
        ..ConvertArgs::default()
    };
    let o = args.options();
    assert_eq!(o.out_dir, Path::new("tapes"));
    assert_eq!(o.dataset.as_deref(), Some("trades"));
    assert!(o.skip_bad && o.checksum && o.per_input && o.progress.is_none());
    assert_eq!((o.decimals.price, o.decimals.qty, o.decimals.value), (Some(1), Some(3), Some(8)));
    assert_eq!((o.jobs, o.tolerance_ms), (2, Some(250)));
    assert_eq!((o.venue.as_deref(), o.symbol.as_deref()), (Some("binance-futures"), Some("BTCUSDT")));
    assert_eq!(o.account.as_deref(), Some("0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2"));
    assert_eq!(
        (o.time_column.as_deref(), o.value_columns.as_slice()),
        (Some("ts"), &["momentum".to_owned(), "carry".to_owned()][..])
    );
}

#[test]
fn binance_capture_with_depth_of_two_symbols_is_refused() {
    // REST snapshot lines name no symbol, so a capture may hold one symbol's depth.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("capture.txt");
    let upd = |sym: &str, stream: &str, u: u64| {
        format!(
            "1723161000024117000 {{\"stream\":\"{stream}@depth@0ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":1723161000020,\"T\":1723161000019,\"s\":\"{sym}\",\"U\":{u},\"u\":{u},\"pu\":{},\"b\":[[\"60000.10\",\"1.500\"]],\"a\":[]}}}}\n",
            u - 1
        )
    };
    std::fs::write(&input, [upd("BTCUSDT", "btcusdt", 100), upd("ETHUSDT", "ethusdt", 200)].concat()).unwrap();
    let e = run(SourceKind::BinanceWs, &[input], &opts(&dir.path().join("out")));
    assert!(matches!(e, Error::Format { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("line 2") && msg.contains("ETHUSDT") && msg.contains("split the file per symbol"), "{msg}");
}
