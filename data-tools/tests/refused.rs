//! Inputs the converters used to accept with exit 0 and a wrong result (issue
//! 15); each test is named after what it guards.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use ticktape_data::{Error, SourceKind, convert};

const HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";

fn csv(dir: &Path, name: &str, header: &str, rows: &[String]) -> PathBuf {
    let p = dir.join(name);
    let mut s = header.to_owned();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

fn trade(ts_us: i64, id: u64, price: &str, amount: &str) -> String {
    format!("binance-futures,BTCUSDT,{ts_us},{},{id},buy,{price},{amount}", ts_us + 50_000)
}

fn trades(dir: &Path, rows: &[String]) -> PathBuf {
    csv(dir, "binance-futures_trades_2024-01-01_BTCUSDT.csv", HEADER, rows)
}

const T: i64 = 1_704_067_200_100_000;

fn no_tape_left(out: &Path) {
    let left: Vec<_> = std::fs::read_dir(out).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

fn fails(source: SourceKind, input: &Path, out: &Path) -> Error {
    let e = convert(source, &[input.to_path_buf()], &opts(out)).expect_err("the conversion must fail");
    no_tape_left(out);
    e
}

#[test]
fn tardis_us_column_holding_ms_is_a_unit_error() {
    let dir = tempfile::tempdir().unwrap();
    // 1582329602111 ms written where Tardis documents µs: records dated 1970-01-19.
    let input =
        trades(dir.path(), &["binance-futures,BTCUSDT,1582329602111,1582329602418,42377944,buy,9682,0.132".to_owned()]);
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(matches!(e, Error::TimeUnit { line: 2, looks_like: "ms", expected: "µs", .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("{}:2", input.display())) && msg.contains("1582329602111"), "{msg}");
}

#[test]
fn exchange_time_before_2009_is_refused_as_a_replay_refuses_it() {
    // The converters and the replay share one bound (the tape crate's TS_MIN,
    // 2009-01-01): a 2005 time used to convert (the converters' bound was
    // 2000) into a tape every replay then refused.
    assert_eq!(ticktape_tape::check::TS_MIN, 1_230_768_000_000_000_000);
    let dir = tempfile::tempdir().unwrap();
    let input = csv(dir.path(), "f.csv", "t,value\n", &["2005-06-01,0.5".to_owned()]);
    let e = fails(SourceKind::SeriesCsv, &input, &dir.path().join("out"));
    assert!(matches!(e, Error::BadRecord { line: 2, .. }), "{e:?}");
    assert!(e.to_string().contains("2005-06-01") && e.to_string().contains("2009..2100"), "{e}");
    let ok = csv(dir.path(), "g.csv", "t,value\n", &["2009-01-01,0.5".to_owned()]);
    convert(SourceKind::SeriesCsv, &[ok], &opts(&dir.path().join("out2"))).unwrap();
}

#[test]
fn exchange_time_before_2000_is_refused_whatever_the_source() {
    let dir = tempfile::tempdir().unwrap();
    // A series in seconds whose values are tiny (not epoch times at all).
    let input = csv(dir.path(), "f.csv", "t,value\n", &["1,0.5".to_owned()]);
    let e = fails(SourceKind::SeriesCsv, &input, &dir.path().join("out"));
    assert!(matches!(e, Error::BadRecord { line: 2, .. }), "{e:?}");
    assert!(e.to_string().contains("1970-01-01"), "{e}");
}

#[test]
fn duplicate_trade_rows_are_refused_or_dropped_with_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<String> = (0..5).map(|_| trade(T, 7, "42000.5", "0.5")).collect();
    rows.push(trade(T + 1000, 8, "42000.5", "0.5"));
    let input = trades(dir.path(), &rows);
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(matches!(e, Error::BadRecord { line: 3, .. }), "{e:?}");
    assert!(e.to_string().contains("trade id 7"), "{e}");
    let mut o = opts(&dir.path().join("out2"));
    o.skip_bad = true;
    let r = convert(SourceKind::Tardis, &[input], &o).unwrap();
    assert_eq!(r.tapes[0].records, 2);
    assert_eq!(r.inputs[0].skipped["duplicate trade id"], 4);
}

#[test]
fn negative_trade_price_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = trades(dir.path(), &[trade(T, 1, "42000", "1"), trade(T + 1, 2, "-42000", "1")]);
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(matches!(e, Error::BadRecord { line: 3, .. }), "{e:?}");
    assert!(e.to_string().contains("price is not positive"), "{e}");
}

#[test]
fn zero_size_trade_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = trades(dir.path(), &[trade(T, 1, "42000", "0")]);
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(e.to_string().contains(":2:") && e.to_string().contains("not positive"), "{e}");
}

#[test]
fn crossed_quote_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv(
        dir.path(),
        "binance-futures_quotes_2024-01-01_BTCUSDT.csv",
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n",
        &[format!("binance-futures,BTCUSDT,{T},{T},1,100.0,100.5,1")],
    );
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(e.to_string().contains("crossed quote"), "{e}");
}

#[test]
fn unknown_extra_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv(
        dir.path(),
        "binance-futures_trades_2024-01-01_BTCUSDT.csv",
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount,fee\n",
        &[format!("{},0.1", trade(T, 1, "42000", "1"))],
    );
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(e.to_string().contains("unknown column \"fee\""), "{e}");
}

#[test]
fn unknown_extra_column_is_refused_by_binance_vision_with_and_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("BTCUSDT-trades-2024-02-28.csv");
    std::fs::write(
        &p,
        "id,price,qty,quote_qty,time,is_buyer_maker,fee\n1,42000.1,0.5,21000.05,1709078400000,true,0.1\n",
    )
    .unwrap();
    let e = fails(SourceKind::BinanceVision, &p, &dir.path().join("out"));
    assert!(e.to_string().contains("unknown column \"fee\"") && e.to_string().contains("trades"), "{e}");
    // No header: one field more than USD-M trades have.
    let p = dir.path().join("futures/um/BTCUSDT-trades-2024-02-28.csv");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "1,42000.1,0.5,21000.05,1709078400000,true,9\n").unwrap();
    let e = fails(SourceKind::BinanceVision, &p, &dir.path().join("out2"));
    assert!(e.to_string().contains("7 columns") && e.to_string().contains("at most 6"), "{e}");
    // Klines: 13 columns instead of 12.
    let p = dir.path().join("spot/BTCUSDT-1m-2020-01-02.csv");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, format!("{},7\n", SPOT_KLINE_MS.trim_end())).unwrap();
    let e = fails(SourceKind::BinanceVision, &p, &dir.path().join("out3"));
    assert!(e.to_string().contains("13 columns") && e.to_string().contains("at most 12"), "{e}");
}

#[test]
fn unknown_extra_column_is_refused_by_the_series_csv_unless_value_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv(dir.path(), "f.csv", "t,value,comment\n", &["1753660800,0.5,x".to_owned()]);
    let e = fails(SourceKind::SeriesCsv, &input, &dir.path().join("out"));
    assert!(e.to_string().contains("unknown column \"comment\"") && e.to_string().contains("--value-column"), "{e}");
    let mut o = opts(&dir.path().join("out2"));
    o.value_columns = vec!["value".into()];
    let r = convert(SourceKind::SeriesCsv, &[input], &o).unwrap();
    assert_eq!(r.tapes[0].records, 1, "named value columns: the others are ignored");
}

#[test]
fn duplicate_trade_rows_across_input_files_are_refused_or_dropped_with_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    // Two daily files of one stream; the second repeats the first's last trade (id 3).
    let day1 = csv(
        dir.path(),
        "binance-futures_trades_2024-01-01_BTCUSDT.csv",
        HEADER,
        &[trade(T, 1, "42000", "1"), trade(T + 1000, 2, "42000", "1"), trade(T + 2000, 3, "42000", "1")],
    );
    let day2 = csv(
        dir.path(),
        "binance-futures_trades_2024-01-02_BTCUSDT.csv",
        HEADER,
        &[trade(T + 2000, 3, "42000", "1"), trade(T + 3000, 4, "42000", "1")],
    );
    let inputs = [day1, day2.clone()];
    let out = dir.path().join("out");
    let e = convert(SourceKind::Tardis, &inputs, &opts(&out)).expect_err("the overlap must be refused");
    no_tape_left(&out);
    let msg = e.to_string();
    assert!(msg.contains("trade id 3") && msg.contains("earlier input file") && msg.contains("--skip-bad"), "{msg}");
    assert!(msg.contains(&day2.display().to_string()), "names the file that repeats: {msg}");
    let mut o = opts(&dir.path().join("out2"));
    o.skip_bad = true;
    let r = convert(SourceKind::Tardis, &inputs, &o).unwrap();
    assert_eq!(r.tapes[0].records, 4, "the repeat is dropped");
    let counted: u64 = r.inputs.iter().filter_map(|i| i.skipped.get("duplicate trade id across input files")).sum();
    assert_eq!(counted, 1, "{:?}", r.inputs);
}

fn capture_without_snapshot(dir: &Path) -> PathBuf {
    let p = dir.join("capture.txt");
    let t = 1_704_067_200_000i64;
    let mut s = String::new();
    for u in 1..=3u64 {
        s.push_str(&format!(
            "1704067200000000000 {{\"e\":\"depthUpdate\",\"E\":{t},\"T\":{t},\"s\":\"BTCUSDT\",\"U\":{u},\"u\":{u},\"pu\":{},\"b\":[[\"100.0\",\"1.0\"]],\"a\":[]}}\n",
            u - 1
        ));
    }
    s.push_str(&format!(
        "1704067200000000000 {{\"e\":\"trade\",\"E\":{t},\"T\":{t},\"s\":\"BTCUSDT\",\"t\":5,\"p\":\"100.5\",\"q\":\"0.1\",\"m\":false}}\n"
    ));
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn binance_capture_without_snapshot_is_an_error_unless_trades_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = capture_without_snapshot(dir.path());
    let e = fails(SourceKind::BinanceWs, &input, &dir.path().join("out"));
    let msg = e.to_string();
    assert!(msg.contains("3 depth updates but no REST depth snapshot") && msg.contains("--dataset trades"), "{msg}");
    let mut o = opts(&dir.path().join("out2"));
    o.dataset = Some("trades".into());
    let r = convert(SourceKind::BinanceWs, &[input], &o).unwrap();
    assert_eq!(r.tapes.len(), 1);
    assert_eq!((r.tapes[0].kind, r.tapes[0].records), (ticktape_tape::RecordKind::Trade, 1));
}

fn zip_of(path: &Path, members: &[(&str, &str)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    for (name, text) in members {
        z.start_file(*name, o).unwrap();
        z.write_all(text.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn empty_zip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("BTCUSDT-aggTrades-2024-01-01.zip");
    zip_of(&p, &[]);
    let e = fails(SourceKind::BinanceVision, &p, &dir.path().join("out"));
    assert!(e.to_string().contains("holds no file"), "{e}");
}

#[test]
fn zip_with_two_csvs_is_refused_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("BTCUSDT-aggTrades-2024-01-01.zip");
    let rows = "1,42000.1,0.5,1,1,1704067200100,true\n";
    zip_of(&p, &[("BTCUSDT-aggTrades-2024-01-01.csv", rows), ("BTCUSDT-aggTrades-2024-01-02.csv", rows)]);
    let e = fails(SourceKind::BinanceVision, &p, &dir.path().join("out"));
    assert!(e.to_string().contains("holds 2 files"), "{e}");
}

#[test]
fn series_values_with_float_artefacts_are_rounded_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv(
        dir.path(),
        "funding.csv",
        "t,value\n",
        &["1753660800,0.0049365474762699995".to_owned(), "1753747200,0.01".to_owned()],
    );
    let r = convert(SourceKind::SeriesCsv, std::slice::from_ref(&input), &opts(&dir.path().join("out"))).unwrap();
    assert_eq!(r.tapes[0].value_exponent, -12);
    assert!(r.inputs[0].notes.iter().any(|n| n.starts_with("1 values had more than 12 decimals")), "{r:?}");
    let (_, s) = read::<ticktape_tape::Series>(&r.tapes[0].path);
    assert_eq!(s[0].value, 4_936_547_476);
    let mut o = opts(&dir.path().join("out2"));
    o.series_decimals = Some(4);
    let r = convert(SourceKind::SeriesCsv, &[input], &o).unwrap();
    let (_, s) = read::<ticktape_tape::Series>(&r.tapes[0].path);
    assert_eq!((r.tapes[0].value_exponent, s[0].value, s[1].value), (-4, 49, 100));
}

#[test]
fn real_coinalyze_funding_csv_converts_with_rounding() {
    let Some(real) = real_dir() else { return };
    let input = real.join("perp_basket_daily/coinalyze_binance_coinm_funding_daily_top100_2025-07-28_2025-10-25.csv");
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&dir.path().join("out"));
    o.value_columns = vec!["funding_rate".into()];
    o.time_column = Some("timestamp".into());
    let r = convert(SourceKind::SeriesCsv, &[input], &o).unwrap();
    assert!(r.tapes.len() > 10, "one tape per symbol");
    assert!(r.inputs[0].notes.iter().any(|n| n.contains("rounded")), "{:?}", r.inputs[0].notes);
}

const SPOT_KLINE_MS: &str = "1577923200000,7200.77,7212.5,7199.0,7210.0,13.1,1577923259999,94000.1,220,6.0,43000.2,0\n";

#[test]
fn klines_without_a_venue_hint_are_refused_not_labelled_futures() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("BTCUSDT-1m-2020-01-02.csv");
    std::fs::write(&p, SPOT_KLINE_MS).unwrap();
    let e = fails(SourceKind::BinanceVision, &p, &dir.path().join("out"));
    assert!(e.to_string().contains("--venue binance"), "{e}");
    let mut o = opts(&dir.path().join("out2"));
    o.venue = Some("binance".into());
    let r = convert(SourceKind::BinanceVision, &[p], &o).unwrap();
    assert_eq!(r.tapes[0].venue, "binance");
}

#[test]
fn venue_of_klines_comes_out_right_for_spot_usdm_and_coinm() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01-02.csv", "binance", "BTCUSDT"),
        ("data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01-02.csv", "binance-futures", "BTCUSDT"),
        (
            "data/futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2020-01-02.csv",
            "binance-delivery",
            "BTCUSD_PERP",
        ),
    ];
    for (k, (rel, venue, symbol)) in cases.iter().enumerate() {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, SPOT_KLINE_MS).unwrap();
        let r = convert(SourceKind::BinanceVision, &[p], &opts(&dir.path().join(format!("out{k}")))).unwrap();
        assert_eq!((r.tapes[0].venue.as_str(), r.tapes[0].symbol.as_str()), (*venue, *symbol), "{rel}");
    }
    // A header row means USD-M; µs times mean spot.
    let p = dir.path().join("h/BTCUSDT-1m-2024-01-02.csv");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n";
    std::fs::write(&p, format!("{header}{SPOT_KLINE_MS}")).unwrap();
    let r = convert(SourceKind::BinanceVision, &[p], &opts(&dir.path().join("oh"))).unwrap();
    assert_eq!(r.tapes[0].venue, "binance-futures");
}

#[test]
fn bar_tapes_keep_the_instrument_symbol_and_put_the_interval_in_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("spot/BTCUSDT-1h-2020-01-02.csv");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, SPOT_KLINE_MS).unwrap();
    let r = convert(SourceKind::BinanceVision, &[p], &opts(&dir.path().join("out"))).unwrap();
    assert_eq!(r.tapes[0].symbol, "BTCUSDT");
    assert!(r.tapes[0].path.ends_with("binance.BTCUSDT.bars-1h.tape"), "{}", r.tapes[0].path.display());
    let (h, _) = read::<ticktape_tape::Bar>(&r.tapes[0].path);
    assert_eq!((h.venue(), h.symbol()), ("binance", "BTCUSDT"));
}

#[test]
fn local_time_a_replay_would_refuse_is_refused_at_conversion() {
    let dir = tempfile::tempdir().unwrap();
    // A µs receive time in 2128: the right unit by magnitude, but outside 2009..2100.
    let input = trades(dir.path(), &[format!("binance-futures,BTCUSDT,{T},5000000000000000,1,buy,42000,1")]);
    let e = fails(SourceKind::Tardis, &input, &dir.path().join("out"));
    assert!(matches!(e, Error::BadRecord { line: 2, .. }), "{e:?}");
    assert!(e.to_string().contains("local (receive) time") && e.to_string().contains("2009..2100"), "{e}");
}
