//! Every real sample in `../shared/data/real`: row counts match, first and last
//! records match the source text, books replay sanely. Skipped (with a message)
//! when the folder is absent.

mod common;

use std::path::PathBuf;

use common::*;
use ticktape_data::{SourceKind, convert};
use ticktape_tape::{Bar, Fill, Funding, Level, Quote, RecordKind, Series, Trade};

/// Data rows of a CSV (header excluded when present).
fn csv_rows(path: &std::path::Path, header: bool) -> Vec<Vec<String>> {
    let l = lines(path);
    l[usize::from(header)..].iter().map(|r| r.split(',').map(str::to_owned).collect()).collect()
}

#[test]
fn binance_usdm_capture() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let r = check_binance_capture(&real.join("hftbacktest/usdm_btcusdt_20240808.gz"), dir.path());
    println!("{r}");
}

#[test]
fn tardis_samples() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = real.join("tardis");
    let inputs: Vec<PathBuf> = std::fs::read_dir(&t).unwrap().map(|e| e.unwrap().path()).collect();
    let r = convert(SourceKind::Tardis, &inputs, &opts(dir.path())).unwrap();
    for (file, kind, symbol) in [
        ("nautilus_binance-futures_trades_2020-02-22_BTCUSDT_first10k.csv", RecordKind::Trade, "BTCUSDT"),
        ("nautilus_head10_bitmex_trades_XBTUSD.csv", RecordKind::Trade, "XBTUSD"),
    ] {
        let src = csv_rows(&t.join(file), true);
        let (h, tr) = read::<Trade>(&tape_of(&r, kind, symbol));
        assert_eq!(tr.len(), src.len(), "{file}");
        for (rec, row) in [(tr[0], &src[0]), (tr[tr.len() - 1], &src[src.len() - 1])] {
            assert_eq!(rec.ts.exchange, row[2].parse::<i64>().unwrap() * 1000);
            assert_eq!(rec.ts.local, row[3].parse::<i64>().unwrap() * 1000);
            assert_same(rec.price, h.price_exponent, &row[6]);
            assert_same(rec.qty, h.qty_exponent, &row[7]);
            assert_eq!(rec.side, if row[5] == "buy" { 1 } else { 2 });
        }
    }
    for (file, symbol) in [
        ("nautilus_binance-futures_quotes_2020-02-22_BTCUSDT_first10k.csv", "BTCUSDT"),
        ("nautilus_head10_huobi-dm-swap_quotes_BTC-USD.csv", "BTC-USD"),
    ] {
        let src = csv_rows(&t.join(file), true);
        let (h, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, symbol));
        assert_eq!(q.len(), src.len(), "{file}");
        // The tape is sorted by exchange time; the file by local time. Compare by identity.
        for row in [&src[0], &src[src.len() - 1]] {
            let ts = row[2].parse::<i64>().unwrap() * 1000;
            let local = row[3].parse::<i64>().unwrap() * 1000;
            let rec = q.iter().find(|x| x.ts.exchange == ts && x.ts.local == local).expect("row in tape");
            assert_same(rec.ask_qty, h.qty_exponent, &row[4]);
            assert_same(rec.ask_price, h.price_exponent, &row[5]);
            assert_same(rec.bid_price, h.price_exponent, &row[6]);
            assert_same(rec.bid_qty, h.qty_exponent, &row[7]);
        }
    }
    // Deribit incremental L2: 15 snapshot rows, first and last exact.
    let src = csv_rows(&t.join("nautilus_head10_deribit_incremental_book_L2_BTC-PERPETUAL.csv"), true);
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTC-PERPETUAL"));
    assert_eq!(lv.len(), src.len());
    assert_same(lv[0].price, h.price_exponent, &src[0][6]);
    assert_same(lv[14].qty, h.qty_exponent, &src[14][7]);
    assert!(lv[0].is_snapshot_start() && lv[14].is_batch_end());
    Book::replay_checked(&lv);
    // Binance book_snapshot_25: replaying the change tape rebuilds every row.
    let snap = t.join("nautilus_head10_binance-futures_book_snapshot_25_BTCUSDT.csv");
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    check_rebuilds_rows(&snap, &lv, h.price_exponent, h.qty_exponent);
    println!("{r}");
}

#[test]
fn binance_vision_archives() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let v = real.join("binance_vision");
    let mut o = opts(dir.path());
    o.checksum = true;
    o.per_input = true;
    let zips = [
        v.join("futures_cm_daily_aggTrades/BTCUSD_PERP-aggTrades-2026-05-08.zip"),
        v.join("futures_um_monthly_fundingRate/BTCUSDT-fundingRate-2026-04.zip"),
        v.join("spot_daily_klines/BTCUSDT-1m-2020-01-02.zip"),
    ];
    let r = convert(SourceKind::BinanceVision, &zips, &o).unwrap();
    // aggTrades
    let src = csv_rows(&v.join("futures_cm_daily_aggTrades/BTCUSD_PERP-aggTrades-2026-05-08.csv"), true);
    let (h, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSD_PERP"));
    assert_eq!((t.len(), h.venue()), (105_280, "binance-delivery"));
    assert_eq!(t.len(), src.len());
    for (rec, row) in [(t[0], &src[0]), (t[t.len() - 1], &src[src.len() - 1])] {
        assert_eq!(rec.trade_id, row[0].parse::<u64>().unwrap());
        assert_same(rec.price, h.price_exponent, &row[1]);
        assert_same(rec.qty, h.qty_exponent, &row[2]);
        assert_eq!(rec.ts.exchange, row[5].parse::<i64>().unwrap() * 1_000_000);
        assert_eq!(rec.side, if row[6] == "true" { 2 } else { 1 });
    }
    // fundingRate
    let src = csv_rows(&v.join("futures_um_monthly_fundingRate/BTCUSDT-fundingRate-2026-04.csv"), true);
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTCUSDT"));
    assert_eq!(f.len(), src.len());
    for (rec, row) in [(f[0], &src[0]), (f[f.len() - 1], &src[src.len() - 1])] {
        assert_eq!(rec.ts.exchange, row[0].parse::<i64>().unwrap() * 1_000_000);
        assert_same(rec.funding_rate, h.value_exponent, &row[2]);
    }
    // Spot klines, no header.
    let src = csv_rows(&v.join("spot_daily_klines/BTCUSDT-1m-2020-01-02.csv"), false);
    let (h, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "BTCUSDT"));
    assert_eq!((b.len(), h.venue()), (src.len(), "binance"));
    for (rec, row) in [(b[0], &src[0]), (b[b.len() - 1], &src[src.len() - 1])] {
        assert_eq!(rec.open_ts, row[0].parse::<i64>().unwrap() * 1_000_000);
        assert_eq!(rec.ts.exchange, row[6].parse::<i64>().unwrap() * 1_000_000);
        assert_same(rec.open, h.price_exponent, &row[1]);
        assert_same(rec.high, h.price_exponent, &row[2]);
        assert_same(rec.low, h.price_exponent, &row[3]);
        assert_same(rec.close, h.price_exponent, &row[4]);
        assert_same(rec.volume, h.qty_exponent, &row[5]);
        assert_same(rec.taker_buy_volume, h.qty_exponent, &row[9]);
        assert_eq!(rec.trade_count, row[8].parse::<u64>().unwrap());
    }
    // The extracted csv files convert to the same records as their zips.
    let csvs: Vec<PathBuf> = zips.iter().map(|z| z.with_extension("csv")).collect();
    let mut o2 = opts(&dir.path().join("csv"));
    o2.per_input = true;
    let r2 = convert(SourceKind::BinanceVision, &csvs, &o2).unwrap();
    for (a, b) in r.tapes.iter().zip(&r2.tapes) {
        let tail = |p: &std::path::Path| std::fs::read(p).unwrap()[128..].to_vec();
        assert_eq!(tail(&a.path), tail(&b.path), "{}", a.path.display());
    }
    // Spot 1d klines (concatenated daily archives).
    let d = real.join("perp_basket_daily/binance_spot_1d_concat");
    let inputs: Vec<PathBuf> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
    let r = convert(SourceKind::BinanceVision, &inputs, &opts(&dir.path().join("1d"))).unwrap();
    for i in &inputs {
        let sym = i.file_name().unwrap().to_string_lossy().split('-').next().unwrap().to_owned();
        let src = csv_rows(i, false);
        let tape = tape_of(&r, RecordKind::Bar, &sym);
        assert!(tape.ends_with(format!("binance.{sym}.bars-1d.tape")), "spot venue, interval in the name: {tape:?}");
        let (h, b) = read::<Bar>(&tape);
        assert_eq!(b.len(), src.len());
        assert_same(b[b.len() - 1].close, h.price_exponent, &src[src.len() - 1][4]);
    }
}

#[test]
fn binance_historical_depth_t_depth() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = real.join("binance_histmktdata");
    let mut o = opts(dir.path());
    o.per_input = true;
    let inputs = [d.join("nautilus_btcusdt-depth-snap.csv"), d.join("nautilus_btcusdt-depth-update.csv")];
    let r = convert(SourceKind::BinanceVision, &inputs, &o).unwrap();
    for (t, input) in r.tapes.iter().zip(&inputs) {
        let src = csv_rows(input, true);
        let (h, lv) = read::<Level>(&t.path);
        assert_eq!(h.venue(), "binance-futures");
        assert_eq!(lv.len(), src.len());
        assert_same(lv[0].price, h.price_exponent, &src[0][6]);
        assert_same(lv[99].qty, h.qty_exponent, &src[99][7]);
    }
    let (_, snap) = read::<Level>(&r.tapes[0].path);
    assert!(snap[0].is_snapshot_start() && snap[99].is_batch_end());
    Book::replay_checked(&snap);
}

#[test]
fn hyperliquid_samples() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let h = real.join("hyperliquid");
    let mut o = opts(dir.path());
    o.per_input = true;
    let files = [
        "hl_sdk_userFills_0xb7b6f3ce.json",
        "hl_sdk_userFunding_0xb7b6f3ce.json",
        "hl_sdk_fundingHistory_BTC.json",
        "hl_sdk_candleSnapshot_kPEPE_1h.json",
        "hl_sdk_l2Book_DYDX.json",
        "hl_nautilus_http_user_fills_dust_conversion.json",
        "hl_nautilus_ws_user_fill_liquidation.json",
    ];
    let inputs: Vec<PathBuf> = files.iter().map(|f| h.join(f)).collect();
    let r = convert(SourceKind::Hyperliquid, &inputs, &o).unwrap();
    let count = |f: &str| r.inputs.iter().find(|i| i.path.ends_with(f)).unwrap().rows;
    assert_eq!(count(files[0]), 500);
    assert_eq!(count(files[1]), 218);
    assert_eq!(count(files[2]), 1038);
    assert_eq!(count(files[3]), 24);
    assert_eq!(count(files[5]), 5);
    assert_eq!(count(files[6]), 1);
    // Fills: every source fill is in the tape, exactly.
    let src: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&inputs[0]).unwrap()).unwrap();
    let path =
        r.tapes.iter().find(|t| t.kind == RecordKind::Fill && t.path.to_string_lossy().contains("0xb7b6f3ce")).unwrap();
    let (hd, fills) = read::<Fill>(&path.path);
    assert_eq!(fills.len(), src.len());
    for s in [&src[0], &src[src.len() - 1]] {
        let rec = fills
            .iter()
            .find(|f| {
                f.order_id == s["oid"].as_u64().unwrap()
                    && f.ts.exchange == s["time"].as_i64().unwrap() * 1_000_000
                    && same(f.qty, hd.qty_exponent, s["sz"].as_str().unwrap())
            })
            .unwrap();
        assert_eq!(rec.symbol(), s["coin"].as_str().unwrap());
        assert_same(rec.price, hd.price_exponent, s["px"].as_str().unwrap());
        assert_same(rec.fee, hd.value_exponent, s["fee"].as_str().unwrap());
        assert_same(rec.closed_pnl, hd.value_exponent, s["closedPnl"].as_str().unwrap());
        assert_same(rec.start_position, hd.qty_exponent, s["startPosition"].as_str().unwrap());
    }
    // The liquidation fill.
    let liq = r
        .tapes
        .iter()
        .find(|t| t.kind == RecordKind::Fill && t.path.to_string_lossy().contains("liquidation"))
        .unwrap();
    let (_, l) = read::<Fill>(&liq.path);
    assert_eq!(l[0].flags & ticktape_tape::fill_flags::LIQUIDATION, ticktape_tape::fill_flags::LIQUIDATION);
    // Funding history: first and last (by time).
    let src: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&inputs[2]).unwrap()).unwrap();
    let t = r
        .tapes
        .iter()
        .find(|t| t.kind == RecordKind::Funding && t.path.to_string_lossy().contains("fundingHistory"))
        .unwrap();
    let (hd, f) = read::<Funding>(&t.path);
    assert_eq!(f.len(), 1038);
    assert_same(f[0].funding_rate, hd.value_exponent, src[0]["fundingRate"].as_str().unwrap());
    assert_same(f[1037].funding_rate, hd.value_exponent, src[1037]["fundingRate"].as_str().unwrap());
    // The book snapshot.
    let t = r.tapes.iter().find(|t| t.kind == RecordKind::Level).unwrap();
    let (_, lv) = read::<Level>(&t.path);
    assert_eq!(lv.len(), 40);
    Book::replay_checked(&lv);
}

#[test]
fn hyperliquid_capture() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = real.join("hftbacktest/hyperliquid_btcusd_20250126.gz");
    let r = convert(SourceKind::Hyperliquid, std::slice::from_ref(&input), &opts(dir.path())).unwrap();
    let text = lines(&input);
    let books = text.iter().filter(|l| l.contains("\"channel\":\"l2Book\"")).count();
    let (_, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTC"));
    assert_eq!(lv.iter().filter(|l| l.is_snapshot_start()).count(), books);
    assert_eq!(books, 46);
    Book::replay_checked(&lv);
    let (_, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTC"));
    assert!(!t.is_empty());
}

#[test]
fn series_csv_samples() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = real.join("perp_basket_daily/hyperliquid_ccxt_top10_perps_daily_ohlcv_2024-06-11_2025-10-23.csv");
    let mut o = opts(dir.path());
    o.value_columns = vec!["close".into()];
    let r = convert(SourceKind::SeriesCsv, std::slice::from_ref(&p), &o).unwrap();
    let src = csv_rows(&p, true);
    assert_eq!(r.records() as usize, src.len());
    let (h, s) = read::<Series>(&tape_of(&r, RecordKind::Series, "BTC/USDC:USDC"));
    let btc: Vec<&Vec<String>> = src.iter().filter(|r| r[1] == "BTC/USDC:USDC").collect();
    assert_eq!(s.len(), btc.len());
    assert_same(s[0].value, h.value_exponent, &btc[0][5]);
    assert_same(s[s.len() - 1].value, h.value_exponent, &btc[btc.len() - 1][5]);
    // Coinalyze funding: float artefacts with 19 decimals are rounded at 12 and counted (issue 15).
    let p = real.join("perp_basket_daily/coinalyze_binance_coinm_funding_daily_top100_2025-07-28_2025-10-25.csv");
    let mut o = opts(&dir.path().join("c"));
    o.time_column = Some("timestamp".into());
    o.value_columns = vec!["funding_rate".into()];
    let r = convert(SourceKind::SeriesCsv, std::slice::from_ref(&p), &o).unwrap();
    assert!(r.inputs[0].notes.iter().any(|n| n.contains("rounded to 12")), "{:?}", r.inputs[0].notes);
    let rows = csv_rows(&p, true).len() as u64;
    assert_eq!(r.records() + r.skipped(), rows);
}

#[test]
fn ohlcv_csv_samples() {
    let Some(real) = real_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = real.join("perp_basket_daily/hyperliquid_ccxt_top10_perps_daily_ohlcv_2024-06-11_2025-10-23.csv");
    let r = convert(SourceKind::OhlcvCsv, std::slice::from_ref(&p), &opts(dir.path())).unwrap();
    let src = csv_rows(&p, true);
    assert_eq!(r.records() as usize, src.len());
    assert_eq!(r.tapes.len(), 10);
    let (h, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "BTC/USDC:USDC"));
    let btc: Vec<&Vec<String>> = src.iter().filter(|r| r[1] == "BTC/USDC:USDC").collect();
    assert_eq!(b.len(), 500);
    assert_same(b[0].close, h.price_exponent, &btc[0][5]);
    assert_same(b[499].open, h.price_exponent, &btc[499][2]);
    assert!(tape_of(&r, RecordKind::Bar, "BTC/USDC:USDC").ends_with("ohlcv.BTC_USDC_USDC.bars-1d.tape"));
    // Bincentive: separate Date and Time columns, no symbol column.
    let p = real.join("perp_basket_daily/bincentive_binance_spot_1d/binance-ETH-USDT-1d.csv");
    let mut o = opts(&dir.path().join("b"));
    o.symbol = Some("ETHUSDT".into());
    let r = convert(SourceKind::OhlcvCsv, std::slice::from_ref(&p), &o).unwrap();
    assert_eq!(r.records() as usize, csv_rows(&p, true).len());
    let (_, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "ETHUSDT"));
    assert_eq!(b[0].open_ts, 1_502_928_000_000_000_000, "2017-08-17 00:00 UTC");
}
