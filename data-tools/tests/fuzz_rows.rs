//! Property-based fuzzing of every converter's row parser (issue 15, item 8):
//! arbitrary rows after a valid header never panic; a conversion is either a
//! typed error or tapes whose records all pass the tape checks.

mod common;

use common::opts;
use proptest::prelude::*;
use ticktape_data::{SourceKind, convert};
use ticktape_tape::Tape;

/// Fields that look like the real thing, mixed with arbitrary text.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("BTCUSDT".to_owned()),
        Just("binance-futures".to_owned()),
        Just("true".to_owned()),
        Just("buy".to_owned()),
        Just("bid".to_owned()),
        Just("snap".to_owned()),
        (1_500_000_000_000_000i64..1_800_000_000_000_000).prop_map(|v| v.to_string()),
        (1_500_000_000_000i64..1_800_000_000_000).prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        (-1e6f64..1e6).prop_map(|v| v.to_string()),
        "[0-9.eE+-]{1,24}",
        "\\PC{0,12}",
    ]
}

fn row() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(field(), 0..14).prop_map(|f| f.join(",")),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn rows() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(row(), 0..12)
}

/// Converts `header` + `rows` (as `name`) and checks the outcome.
fn check(source: SourceKind, name: &str, header: &str, rows: &[String], skip_bad: bool) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let mut text = header.to_owned();
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&p, text).unwrap();
    let mut o = opts(&dir.path().join("out"));
    o.skip_bad = skip_bad;
    o.symbol = Some("BTCUSDT".into());
    match convert(source, &[p], &o) {
        Ok(r) => {
            for t in &r.tapes {
                let tape = Tape::open(&t.path).unwrap();
                tape.verify().unwrap_or_else(|e| panic!("{source}: a written tape fails its checks: {e}"));
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn cases() -> ProptestConfig {
    ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn tardis_rows_never_panic(rows in rows(), skip in any::<bool>()) {
        for (name, header) in [
            ("binance-futures_trades_2024-01-01_BTCUSDT.csv", "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"),
            ("x_quotes.csv", "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"),
            ("x_incremental_book_L2.csv", "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"),
            ("x_book_snapshot_5.csv", "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount\n"),
            ("x_derivative_ticker.csv", "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price\n"),
        ] {
            check(SourceKind::Tardis, name, header, &rows, skip);
        }
    }

    #[test]
    fn binance_vision_rows_never_panic(rows in rows(), skip in any::<bool>()) {
        for (name, header) in [
            ("um/BTCUSDT-trades-2024-01-01.csv", "id,price,qty,quote_qty,time,is_buyer_maker\n"),
            ("um/BTCUSDT-aggTrades-2024-01-01.csv", ""),
            ("um/BTCUSDT-bookTicker-2024-01-01.csv", "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"),
            ("spot/BTCUSDT-1m-2024-01-01.csv", ""),
            ("um/BTCUSDT-fundingRate-2024-01.csv", "calc_time,funding_interval_hours,last_funding_rate\n"),
            ("um/BTCUSDT-metrics-2024-01-01.csv", "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"),
            ("um/BTCUSDT_T_DEPTH_2024-01-01_depth_update.csv", "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu\n"),
        ] {
            check(SourceKind::BinanceVision, name, header, &rows, skip);
        }
    }

    #[test]
    fn series_csv_rows_never_panic(rows in rows(), skip in any::<bool>()) {
        check(SourceKind::SeriesCsv, "f.csv", "t,value,symbol\n", &rows, skip);
    }

    #[test]
    fn binance_ws_lines_never_panic(lines in prop::collection::vec(ws_line(), 0..10), skip in any::<bool>()) {
        check(SourceKind::BinanceWs, "capture.txt", "", &lines, skip);
    }

    #[test]
    fn hyperliquid_json_never_panics(body in json_array(), skip in any::<bool>()) {
        check(SourceKind::Hyperliquid, "userFills_0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2.json", "", std::slice::from_ref(&body), skip);
        check(SourceKind::Hyperliquid, "candleSnapshot.json", "", &[body], skip);
    }

    #[test]
    fn hftbacktest_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend(bytes);
        std::fs::write(&p, b).unwrap();
        let mut o = opts(&dir.path().join("out"));
        o.symbol = Some("BTCUSDT".into());
        o.venue = Some("binance-futures".into());
        if let Ok(r) = convert(SourceKind::Hftbacktest, &[p], &o) {
            for t in &r.tapes {
                Tape::open(&t.path).unwrap().verify().unwrap();
            }
        }
    }
}

fn ws_line() -> impl Strategy<Value = String> {
    let ts = 1_704_067_200_000i64..1_704_067_300_000;
    prop_oneof![
        (ts.clone(), field(), field(), 0u64..20).prop_map(|(t, p, q, u)| format!(
            "1704067200000000000 {{\"e\":\"depthUpdate\",\"E\":{t},\"T\":{t},\"s\":\"BTCUSDT\",\"U\":{u},\"u\":{u},\"pu\":{},\"b\":[[\"{p}\",\"{q}\"]],\"a\":[]}}",
            u.saturating_sub(1)
        )),
        (ts.clone(), 0u64..20).prop_map(|(t, id)| format!(
            "1704067200000000000 {{\"lastUpdateId\":{id},\"E\":{t},\"T\":{t},\"bids\":[[\"100.0\",\"1.0\"]],\"asks\":[[\"101.0\",\"2.0\"]]}}"
        )),
        (ts, field(), field(), 0u64..5).prop_map(|(t, p, q, id)| format!(
            "1704067200000000000 {{\"e\":\"trade\",\"E\":{t},\"T\":{t},\"s\":\"BTCUSDT\",\"t\":{id},\"p\":\"{p}\",\"q\":\"{q}\",\"m\":false}}"
        )),
        row(),
    ]
}

fn json_array() -> impl Strategy<Value = String> {
    let item = (field(), field(), field(), 1_700_000_000_000i64..1_800_000_000_000).prop_map(|(a, b, c, t)| {
        format!(
            "{{\"coin\":\"BTC\",\"s\":\"BTC\",\"px\":\"{a}\",\"sz\":\"{b}\",\"side\":\"B\",\"time\":{t},\"t\":{t},\"T\":{t},\"i\":\"1h\",\"o\":\"{a}\",\"c\":\"{b}\",\"h\":\"{c}\",\"l\":\"{a}\",\"v\":\"{b}\",\"n\":3,\"tid\":1,\"oid\":2,\"dir\":\"Open Long\",\"closedPnl\":\"0\",\"fee\":\"{c}\",\"startPosition\":\"0\",\"hash\":\"0x\",\"crossed\":true}}"
        )
    });
    prop_oneof![prop::collection::vec(item, 0..6).prop_map(|v| format!("[{}]", v.join(","))), "\\PC{0,60}",]
}
