//! End-to-end tests of `ticktape export`: tapes to Parquet and CSV tables in
//! human units, every record kind, slices, bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_error_line, run, skip, stderr, stdout};
use ticktape_tape::{
    Bar, Fill, Funding, Level, Quote, Record, Series, Stamp, TapeMeta, TapeWriter, Trade, UNDEF, dir, fill_flags,
    level_flags, side,
};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000_000;

fn meta() -> TapeMeta {
    TapeMeta {
        symbol: "BTCUSDT".into(),
        venue: "v".into(),
        price_exponent: -2,
        qty_exponent: -3,
        value_exponent: -8,
        ..TapeMeta::default()
    }
}

fn stamp(i: i64) -> Stamp {
    Stamp { exchange: T0 + i * 1_000_000, local: T0 + i * 1_000_000 + 7 }
}

fn write<R: Record>(dir: &Path, recs: &[R]) -> PathBuf {
    let p = dir.join(meta().file_name(R::KIND));
    let mut w = TapeWriter::<R>::create(&p, &meta()).unwrap();
    for r in recs {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
    p
}

/// One small tape of every record kind.
fn every_kind(dir: &Path) -> Vec<PathBuf> {
    let trades: Vec<Trade> = (0..5)
        .map(|i| Trade {
            ts: stamp(i),
            price: 6_180_030 + i,
            qty: 1 + i,
            trade_id: 100 + i as u64,
            side: if i % 2 == 0 { side::BUY } else { side::SELL },
            ..Trade::default()
        })
        .collect();
    let levels = [
        Level {
            ts: stamp(0),
            price: 6_180_000,
            qty: 5,
            side: side::BID,
            flags: level_flags::SNAPSHOT_START | level_flags::SNAPSHOT,
            ..Level::default()
        },
        Level {
            ts: stamp(0),
            price: 6_180_010,
            qty: 6,
            side: side::ASK,
            flags: level_flags::SNAPSHOT | level_flags::BATCH_END,
            ..Level::default()
        },
        Level {
            ts: stamp(1),
            price: 6_180_000,
            qty: 0,
            side: side::BID,
            flags: level_flags::BATCH_END,
            ..Level::default()
        },
        Level {
            ts: stamp(2),
            price: 6_179_990,
            qty: 9,
            side: side::BID,
            flags: level_flags::BATCH_END,
            ..Level::default()
        },
    ];
    let quotes = [
        Quote { ts: stamp(0), bid_price: 6_180_000, bid_qty: 5, ask_price: 6_180_010, ask_qty: 6 },
        Quote { ts: stamp(1), bid_price: UNDEF, bid_qty: 0, ask_price: 6_180_010, ask_qty: 6 },
    ];
    let funding = [
        Funding {
            next_funding_ts: T0 + 8 * 3_600_000_000_000,
            mark_price: 6_180_000,
            ..Funding::settlement(stamp(0), 10_000)
        },
        Funding {
            ts: stamp(1),
            funding_rate: UNDEF,
            mark_price: 6_180_100,
            index_price: 6_180_050,
            next_funding_ts: UNDEF,
            flags: 0,
            reserved: [0; 7],
        },
    ];
    let bars = [Bar {
        ts: stamp(60_000),
        open_ts: T0,
        open: 6_180_000,
        high: 6_190_000,
        low: 6_170_000,
        close: 6_185_000,
        volume: 12_345,
        taker_buy_volume: UNDEF,
        trade_count: 42,
    }];
    let series = [Series { ts: stamp(0), id: 3, value: -123_456_789 }];
    let mut sym = [0u8; 16];
    sym[..7].copy_from_slice(b"ETH,USD");
    let fills = [Fill {
        ts: stamp(0),
        account: 9,
        price: 6_180_000,
        qty: 2,
        start_position: -2,
        closed_pnl: 150_000_000,
        fee: -1_000,
        order_id: 77,
        trade_id: 88,
        symbol: sym,
        side: side::BUY,
        dir: dir::CLOSE_SHORT,
        flags: fill_flags::CROSSED,
        reserved: [0; 5],
    }];
    vec![
        write(dir, &trades),
        write(dir, &levels),
        write(dir, &quotes),
        write(dir, &funding),
        write(dir, &bars),
        write(dir, &series),
        write(dir, &fills),
    ]
}

fn export(tape: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    run(&[&["export", tape.to_str().unwrap(), "-o", out.to_str().unwrap()], extra].concat())
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().map(split_csv).collect()
}

/// Splits one CSV line (quoted fields with doubled quotes).
fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[test]
fn export_csv_of_every_record_kind_in_human_units() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = every_kind(dir.path());
    let expected: [&[&str]; 7] = [
        &["ts", "local_ts", "price", "qty", "trade_id", "side", "aggregated"],
        &["ts", "local_ts", "side", "price", "qty", "action", "snapshot_start", "batch_end"],
        &["ts", "local_ts", "bid_price", "bid_qty", "ask_price", "ask_qty"],
        &["ts", "local_ts", "funding_rate", "mark_price", "index_price", "next_funding_ts", "settlement"],
        &["ts", "local_ts", "open_ts", "open", "high", "low", "close", "volume", "taker_buy_volume", "trade_count"],
        &["ts", "local_ts", "id", "value"],
        &[
            "ts",
            "local_ts",
            "account",
            "symbol",
            "side",
            "dir",
            "price",
            "qty",
            "start_position",
            "closed_pnl",
            "fee",
            "order_id",
            "trade_id",
            "crossed",
            "liquidation",
            "liquidated",
            "twap",
            "builder",
        ],
    ];
    let mut tables = Vec::new();
    for (tape, cols) in tapes.iter().zip(expected) {
        let out = dir.path().join(format!("{}.csv", tape.file_stem().unwrap().to_string_lossy()));
        let o = export(tape, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("rows"), "{}", stdout(&o));
        let t = csv(&out);
        assert_eq!(t[0], cols, "{}", tape.display());
        tables.push(t);
    }
    let row = |k: usize, r: usize| tables[k][r].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(
        row(0, 1),
        [
            "2024-05-01T00:00:00.000000000Z",
            "2024-05-01T00:00:00.000000007Z",
            "61800.30",
            "0.001",
            "100",
            "buy",
            "false"
        ]
    );
    assert_eq!(row(0, 2)[5], "sell");
    assert_eq!(tables[0].len(), 6, "header and 5 trades");
    assert_eq!(row(1, 1)[2..], ["bid", "61800.00", "0.005", "snapshot", "true", "false"]);
    assert_eq!(row(1, 3)[2..], ["bid", "61800.00", "0.000", "delete", "false", "true"]);
    assert_eq!(row(1, 4)[2..], ["bid", "61799.90", "0.009", "update", "false", "true"]);
    assert_eq!(row(2, 2)[2..], ["", "0.000", "61800.10", "0.006"], "an absent bid price is an empty field");
    assert_eq!(row(3, 1)[2..], ["0.00010000", "61800.00", "", "2024-05-01T08:00:00.000000000Z", "true"]);
    assert_eq!(row(3, 2)[2..], ["", "61801.00", "61800.50", "", "false"]);
    assert_eq!(
        row(4, 1)[2..],
        ["2024-05-01T00:00:00.000000000Z", "61800.00", "61900.00", "61700.00", "61850.00", "12.345", "", "42"]
    );
    assert_eq!(row(5, 1)[2..], ["3", "-1.23456789"]);
    assert_eq!(
        row(6, 1)[2..],
        [
            "9",
            "ETH,USD",
            "buy",
            "close_short",
            "61800.00",
            "0.002",
            "-0.002",
            "1.50000000",
            "-0.00001000",
            "77",
            "88",
            "true",
            "false",
            "false",
            "false",
            "false"
        ]
    );
}

#[test]
fn export_parquet_types_and_values_match_the_tape() {
    use arrow_array::Array;
    let dir = tempfile::tempdir().unwrap();
    let tapes = every_kind(dir.path());
    for tape in &tapes {
        let out = dir.path().join(format!("{}.parquet", tape.file_stem().unwrap().to_string_lossy()));
        let o = export(tape, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |name: &str| {
        let f = std::fs::File::open(dir.path().join(name)).unwrap();
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
        let batches: Vec<_> = r.map(|b| b.unwrap()).collect();
        arrow_select_concat(&batches)
    };
    let trades = read("v.BTCUSDT.trades.parquet");
    assert_eq!(trades.num_rows(), 5);
    let schema = trades.schema();
    assert_eq!(schema.field_with_name("ts").unwrap().data_type().to_string(), "Timestamp(ns, \"UTC\")");
    assert_eq!(schema.field_with_name("price").unwrap().data_type().to_string(), "Decimal128(38, 2)");
    assert_eq!(schema.field_with_name("qty").unwrap().data_type().to_string(), "Decimal128(38, 3)");
    let price =
        trades.column_by_name("price").unwrap().as_any().downcast_ref::<arrow_array::Decimal128Array>().unwrap();
    assert_eq!(price.value_as_string(0), "61800.30");
    assert_eq!(price.value_as_string(4), "61800.34");
    let ts =
        trades.column_by_name("ts").unwrap().as_any().downcast_ref::<arrow_array::TimestampNanosecondArray>().unwrap();
    assert_eq!(ts.value(1), T0 + 1_000_000);
    let sides = trades.column_by_name("side").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
    assert_eq!((sides.value(0), sides.value(1)), ("buy", "sell"));
    let quotes = read("v.BTCUSDT.quotes.parquet");
    let bid = quotes.column_by_name("bid_price").unwrap();
    assert!(bid.is_null(1) && bid.is_valid(0), "an absent price is null");
    let funding = read("v.BTCUSDT.funding.parquet");
    let next = funding.column_by_name("next_funding_ts").unwrap();
    assert!(next.is_valid(0) && next.is_null(1));
    assert_eq!(read("v.BTCUSDT.l2.parquet").num_rows(), 4);
    assert_eq!(read("v.BTCUSDT.fills.parquet").num_rows(), 1);
}

/// The batches of one file as one (they are small here).
fn arrow_select_concat(batches: &[arrow_array::RecordBatch]) -> arrow_array::RecordBatch {
    assert_eq!(batches.len(), 1, "small tables are one row group");
    batches[0].clone()
}

#[test]
fn export_slice_and_large_tapes_in_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    // 200 k trades, 1 ms apart: more than one row group of 65 536.
    let trades: Vec<Trade> = (0..200_000)
        .map(|i| Trade { ts: stamp(i), price: 100 + i % 9, qty: 1, side: side::SELL, ..Trade::default() })
        .collect();
    let tape = write(dir.path(), &trades);
    let out = dir.path().join("all.parquet");
    assert!(export(&tape, &out, &[]).status.success());
    let f = std::fs::File::open(&out).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    assert_eq!(b.metadata().file_metadata().num_rows(), 200_000);
    assert!(b.metadata().num_row_groups() >= 3, "written in row groups, not one batch");
    // [00:00:01, 00:00:02) is records 1000..2000.
    let out = dir.path().join("slice.csv");
    let o = export(&tape, &out, &["--from", "2024-05-01T00:00:01Z", "--to", "2024-05-01T00:00:02Z"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = csv(&out);
    assert_eq!(t.len(), 1 + 1000);
    assert_eq!(t[1][0], "2024-05-01T00:00:01.000000000Z");
    assert_eq!(t[1000][0], "2024-05-01T00:00:01.999000000Z");
    // --format wins over the extension.
    let out = dir.path().join("slice.txt");
    let o = export(&tape, &out, &["--to", "2024-05-01T00:00:00.002Z", "--format", "csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(csv(&out).len(), 3);
}

#[test]
fn export_refuses_bad_input_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trades: Vec<Trade> =
        (0..10).map(|i| Trade { ts: stamp(i), price: 100, qty: 1, side: side::BUY, ..Trade::default() }).collect();
    let tape = write(dir.path(), &trades);
    let out = dir.path().join("x.weird");
    assert_one_error_line(&export(&tape, &out, &[]), &["x.weird", "--format parquet|csv"]);
    // Trade side 7 at record 4.
    let mut bytes = std::fs::read(&tape).unwrap();
    bytes[128 + 48 * 4 + 40] = 7;
    std::fs::write(&tape, &bytes).unwrap();
    for name in ["bad.parquet", "bad.csv"] {
        let out = dir.path().join(name);
        let o = export(&tape, &out, &[]);
        assert_one_error_line(&o, &["trades.tape", &format!("byte offset {}", 128 + 48 * 4), "trade side"]);
        assert!(!out.exists(), "no {name} after an error");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(!left.iter().any(|n| n.to_string_lossy().contains(".tmp.")), "temporary file left: {left:?}");
    }
}

#[test]
fn export_parquet_reads_back_in_pyarrow_with_the_tape_values() {
    let python = std::env::var("TICKTAPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python).args(["-c", "import pyarrow"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("TICKTAPE_REQUIRE_PYTHON").is_none(),
            "TICKTAPE_REQUIRE_PYTHON is set but {python} cannot import pyarrow"
        );
        skip(&format!("{python} cannot import pyarrow (set TICKTAPE_PYTHON to a Python that has it)"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tapes = every_kind(dir.path());
    for tape in &tapes {
        let out = dir.path().join(format!("{}.parquet", tape.file_stem().unwrap().to_string_lossy()));
        assert!(export(tape, &out, &[]).status.success());
    }
    let script = r#"
import json, sys
import pyarrow.parquet as pq
d = sys.argv[1]
t = pq.read_table(f"{d}/v.BTCUSDT.trades.parquet")
f = pq.read_table(f"{d}/v.BTCUSDT.fills.parquet", columns=["symbol", "dir", "closed_pnl", "fee", "crossed"]).to_pylist()[0]
q = pq.read_table(f"{d}/v.BTCUSDT.quotes.parquet", columns=["bid_price"]).to_pylist()
out = {
    "ts_type": str(t.schema.field("ts").type),
    "price_type": str(t.schema.field("price").type),
    "prices": [str(p) for p in t.column("price").to_pylist()],
    "ts0_ns": t.column("ts").cast("int64").to_pylist()[0],
    "sides": t.column("side").to_pylist(),
    "fill": [f["symbol"], f["dir"], str(f["closed_pnl"]), str(f["fee"]), f["crossed"]],
    "bid_none": q[1]["bid_price"] is None,
}
try:
    import polars as pl
    out["polars_rows"] = pl.read_parquet(f"{d}/v.BTCUSDT.trades.parquet").height
except ImportError:
    pass
print(json.dumps(out))
"#;
    let o = std::process::Command::new(&python).args(["-c", script, dir.path().to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ts_type"], "timestamp[ns, tz=UTC]");
    assert_eq!(v["price_type"], "decimal128(38, 2)");
    assert_eq!(v["prices"], serde_json::json!(["61800.30", "61800.31", "61800.32", "61800.33", "61800.34"]));
    assert_eq!(v["ts0_ns"], T0);
    assert_eq!(v["sides"], serde_json::json!(["buy", "sell", "buy", "sell", "buy"]));
    assert_eq!(v["fill"], serde_json::json!(["ETH,USD", "close_short", "1.50000000", "-0.00001000", true]));
    assert_eq!(v["bid_none"], true);
    if !v["polars_rows"].is_null() {
        assert_eq!(v["polars_rows"], 5);
    }
}
