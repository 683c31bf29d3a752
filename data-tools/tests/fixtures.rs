//! The essentials, on the small fixtures in `tests/data` (run on a fresh clone).

mod common;

use common::*;
use ticktape_data::{SourceKind, convert};
use ticktape_tape::{
    Bar, Fill, Funding, Level, Quote, RecordKind, Series, Trade, UNDEF, fill_flags, funding_flags, level_flags,
};

#[test]
fn binance_capture_head_replays_to_a_sane_book() {
    let dir = tempfile::tempdir().unwrap();
    check_binance_capture(&fixture("binance_ws_usdm_btcusdt_20240808_head1000.gz"), dir.path());
}

#[test]
fn tardis_trades_sorted_within_tolerance_with_exponents_from_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("synthetic_tardis_binance-futures_trades_2024-01-01_BTCUSDT.csv");
    let r = convert(SourceKind::Tardis, &[input], &opts(dir.path())).unwrap();
    assert_eq!(r.tapes.len(), 1);
    assert!(r.tapes[0].path.ends_with("binance-futures.BTCUSDT.trades.tape"));
    let (h, t) = read::<Trade>(&r.tapes[0].path);
    assert_eq!((h.price_exponent, h.qty_exponent), (-2, -3));
    let ids: Vec<u64> = t.iter().map(|t| t.trade_id).collect();
    assert_eq!(ids, [1001, 1004, 1002, 1003, 1005], "sorted by exchange time, ties in input order");
    assert_same(t[0].price, -2, "42000");
    assert_same(t[3].price, -2, "42000.12");
    assert_same(t[1].qty, -3, "0.001");
    assert_eq!((t[0].side, t[2].side, t[4].side), (1, 2, 0));
    assert_eq!(t[0].ts.local, 1_704_067_200_150_000_000);
    assert_eq!(r.inputs[0].rows, 5);
}

#[test]
fn tardis_incremental_l2_resets_on_a_new_snapshot_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("synthetic_tardis_deribit_incremental_book_L2_2024-01-01_BTC-PERPETUAL.csv");
    let r = convert(SourceKind::Tardis, &[input], &opts(dir.path())).unwrap();
    let (_, lv) = read::<Level>(&r.tapes[0].path);
    assert_eq!(lv.len(), 10);
    let starts: Vec<usize> = lv.iter().enumerate().filter(|(_, l)| l.is_snapshot_start()).map(|(i, _)| i).collect();
    assert_eq!(starts, [0, 7]);
    assert!(lv[..4].iter().all(|l| l.flags & level_flags::SNAPSHOT != 0));
    let ends: Vec<usize> = lv.iter().enumerate().filter(|(_, l)| l.is_batch_end()).map(|(i, _)| i).collect();
    assert_eq!(ends, [3, 5, 6, 8, 9]);
    let (book, _) = Book::replay_checked(&lv);
    assert_eq!(book.bids.into_iter().collect::<Vec<_>>(), [(420020, 25)]);
    assert_eq!(book.asks.into_iter().collect::<Vec<_>>(), [(420030, 10)]);
    assert_eq!(r.inputs[0].snapshots, 2);
}

#[test]
fn tardis_book_snapshots_become_changes_that_rebuild_each_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("synthetic_tardis_binance-futures_book_snapshot_5_2024-01-01_BTCUSDT.csv");
    let r = convert(SourceKind::Tardis, std::slice::from_ref(&input), &opts(dir.path())).unwrap();
    assert_eq!(r.inputs[0].dataset, "book_snapshot_5");
    let (h, lv) = read::<Level>(&r.tapes[0].path);
    // Row 1: 10 levels; row 2: one ask changed; row 3: many.
    assert_eq!(lv.iter().filter(|l| l.is_batch_end()).count(), 3);
    assert_eq!(lv.iter().filter(|l| l.ts.exchange == 1_704_067_200_100_000_000).count(), 1);
    check_rebuilds_rows(&input, &lv, h.price_exponent, h.qty_exponent);
}

#[test]
fn tardis_book_snapshot_25_rows_become_changes_that_rebuild_each_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("synthetic_tardis_binance-futures_book_snapshot_25_2024-01-01_BTCUSDT.csv");
    let r = convert(SourceKind::Tardis, std::slice::from_ref(&input), &opts(dir.path())).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.inputs[0].rows, r.inputs[0].snapshots), ("book_snapshot_25", 3, 1));
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    assert_eq!((h.venue(), h.price_exponent, h.qty_exponent), ("binance-futures", -1, -3));
    // Row 1: 25 + 25 levels as a snapshot. Row 2: two resized, one gone, one new.
    // Row 3: the best ask taken, a new best bid, and only 23 levels a side.
    assert_eq!(lv.len(), 50 + 4 + 6);
    assert!(lv[0].is_snapshot_start() && lv[..50].iter().all(|l| l.flags & level_flags::SNAPSHOT != 0));
    assert!(lv[50..].iter().all(|l| l.flags & level_flags::SNAPSHOT == 0));
    assert_eq!(lv.iter().filter(|l| l.is_batch_end()).count(), 3);
    assert_eq!((lv[0].ts.exchange, lv[0].ts.local), (1_704_067_200_000_000_000, 1_704_067_200_004_123_000));
    check_rebuilds_rows(&input, &lv, h.price_exponent, h.qty_exponent);
}

#[test]
fn tardis_quotes_and_derivative_ticker() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        fixture("synthetic_tardis_binance-futures_quotes_2024-01-01_BTCUSDT.csv"),
        fixture("synthetic_tardis_binance-futures_derivative_ticker_2024-01-01_BTCUSDT.csv"),
    ];
    let r = convert(SourceKind::Tardis, &inputs, &opts(dir.path())).unwrap();
    let (h, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, "BTCUSDT"));
    assert_eq!(q.len(), 3);
    assert_same(q[1].ask_qty, h.qty_exponent, "1.25");
    assert_eq!((q[2].ask_price, q[2].ask_qty), (ticktape_tape::UNDEF, 0));
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTCUSDT"));
    assert_eq!(f.len(), 3);
    assert_same(f[1].funding_rate, h.value_exponent, "0.00012");
    assert_same(f[0].index_price, h.price_exponent, "42001.23");
    assert_eq!(f[0].next_funding_ts, 1_704_096_000_000_000_000);
    assert_eq!(
        (f[2].funding_rate, f[2].mark_price, f[2].next_funding_ts),
        (ticktape_tape::UNDEF, ticktape_tape::UNDEF, ticktape_tape::UNDEF)
    );
}

#[test]
fn binance_vision_zip_with_checksum_csv_with_and_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.checksum = true;
    // Spot klines: the venue comes from the folder (spot and USD-M files look alike).
    let spot_klines = dir.path().join("spot_daily_klines/BTCUSDT-1m-2020-01-02.csv");
    std::fs::create_dir_all(spot_klines.parent().unwrap()).unwrap();
    std::fs::copy(fixture("BTCUSDT-1m-2020-01-02_head120.csv"), &spot_klines).unwrap();
    let inputs = [
        fixture("BTCUSDT-fundingRate-2026-04.zip"),
        fixture("BTCUSDT-fundingRate-2026-04.zip.CHECKSUM"),
        fixture("BTCUSD_PERP-aggTrades-2026-05-08_head300.csv"),
        spot_klines.clone(),
    ];
    let r = convert(SourceKind::BinanceVision, &inputs, &o).unwrap();
    assert_eq!(r.inputs.len(), 3);
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTCUSDT"));
    assert_eq!(f.len(), 90);
    assert_eq!(f[0].ts.exchange, 1_775_001_600_000_000_000);
    assert_same(f[0].funding_rate, h.value_exponent, "-0.00003449");
    assert_eq!(f[0].flags, funding_flags::SETTLEMENT);
    let (h, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSD_PERP"));
    assert_eq!(h.venue(), "binance-delivery");
    assert_eq!(t.len(), 300);
    assert_eq!(t[0].trade_id, 480537903);
    assert_same(t[0].price, h.price_exponent, "79972.8");
    assert_same(t[0].qty, h.qty_exponent, "542.0");
    assert_eq!(t[0].side, 1);
    let bars = tape_of(&r, RecordKind::Bar, "BTCUSDT");
    assert!(bars.ends_with("binance.BTCUSDT.bars-1m.tape"), "{}", bars.display());
    let (h, b) = read::<Bar>(&bars);
    assert_eq!(h.venue(), "binance");
    assert_eq!(b.len(), 120);
    assert_eq!(b[0].open_ts, 1_577_923_200_000_000_000);
    assert_eq!(b[0].ts.exchange, 1_577_923_259_999_000_000);
    assert_same(b[0].open, h.price_exponent, "7200.77000000");
    assert_same(b[0].volume, h.qty_exponent, "13.10971500");
    assert_eq!(b[0].trade_count, 220);
}

#[test]
fn hyperliquid_fill_flags_liquidated_twap_builder() {
    // The same liquidation fill seen by the liquidator and by the liquidated
    // user, plus a TWAP slice with a builder fee.
    let dir = tempfile::tempdir().unwrap();
    let victim = "0x360878d351f05975e25f1807a27895e1e5e004fb";
    let fill = |extra: &str| {
        format!(
            r#"{{"coin":"BTC","px":"66653.0","sz":"0.001","side":"A","time":1781528065899,"startPosition":"-0.0213","dir":"Open Short","closedPnl":"0.0","oid":1,"crossed":false,"fee":"0.01"{extra}}}"#
        )
    };
    let liq =
        format!(r#","liquidation":{{"liquidatedUser":"{victim}","markPx":"66607.0","method":"market"}},"twapId":null"#);
    let doc = format!("[{},{}]", fill(&liq), fill(r#","twapId":42,"builderFee":"0.001""#));
    let path = dir.path().join("fills.json");
    std::fs::write(&path, doc).unwrap();
    for (account, liquidated) in [("0xaaaa000000000000000000000000000000000001", false), (victim, true)] {
        let out = dir.path().join(&account[..10]);
        let mut o = opts(&out);
        o.account = Some(account.to_owned());
        let r = convert(SourceKind::Hyperliquid, std::slice::from_ref(&path), &o).unwrap();
        let (_, f) = read::<Fill>(&tape_of(&r, RecordKind::Fill, &format!("0x{}", &account[2..18])));
        assert_eq!(f.len(), 2);
        let (l, t) = (f[0].flags, f[1].flags);
        assert_eq!(l & fill_flags::LIQUIDATION, fill_flags::LIQUIDATION);
        assert_eq!(l & fill_flags::LIQUIDATED != 0, liquidated, "{account}");
        assert_eq!(l & (fill_flags::TWAP | fill_flags::BUILDER), 0);
        assert_eq!(t, fill_flags::TWAP | fill_flags::BUILDER);
    }
}

#[test]
fn hyperliquid_fills_book_candles_and_capture() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        fixture("hl_sdk_userFills_0xb7b6f3ce_first40.json"),
        fixture("hl_sdk_l2Book_DYDX.json"),
        fixture("hl_sdk_candleSnapshot_kPEPE_1h.json"),
        fixture("hyperliquid_capture_btcusd_20250126.gz"),
    ];
    let r = convert(SourceKind::Hyperliquid, &inputs, &opts(dir.path())).unwrap();
    let fills_path = tape_of(&r, RecordKind::Fill, "0xb7b6f3ce00000000");
    let (h, f) = read::<Fill>(&fills_path);
    assert_eq!(f.len(), 40);
    let src: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("hl_sdk_userFills_0xb7b6f3ce_first40.json")).unwrap())
            .unwrap();
    let first = &src[0];
    let rec = f
        .iter()
        .find(|x| {
            x.order_id == first["oid"].as_u64().unwrap() && x.ts.exchange == first["time"].as_i64().unwrap() * 1_000_000
        })
        .unwrap();
    assert_eq!(rec.symbol(), "SUI");
    assert_same(rec.price, h.price_exponent, "1.3189");
    assert_same(rec.closed_pnl, h.value_exponent, "-0.25686");
    assert_same(rec.start_position, h.qty_exponent, "4623.5");
    assert_eq!(rec.flags & fill_flags::CROSSED, fill_flags::CROSSED);
    assert_eq!(rec.dir, ticktape_tape::dir::CLOSE_LONG);
    assert!(r.side_files[0].ends_with("hyperliquid.accounts.csv"));
    let (_, l) = read::<Level>(&tape_of(&r, RecordKind::Level, "DYDX"));
    assert_eq!(l.len(), 40);
    Book::replay_checked(&l);
    let (_, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "kPEPE"));
    assert_eq!(b.len(), 24);
    let (_, l) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTC"));
    assert_eq!(l.iter().filter(|x| x.is_snapshot_start()).count(), 46);
    Book::replay_checked(&l);
    let (h, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTC"));
    assert!(h.has_local_ts());
    let capture = lines(&fixture("hyperliquid_capture_btcusd_20250126.gz"));
    let n: usize = capture
        .iter()
        .filter(|l| l.contains("\"channel\":\"trades\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l.split_once(' ').unwrap().1).unwrap()["data"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(t.len(), n);
}

#[test]
fn hyperliquid_user_funding_and_funding_history_are_settlements_per_coin() {
    let dir = tempfile::tempdir().unwrap();
    // userFunding: `{delta:{coin,fundingRate,…},time}`, two coins interleaved.
    let input = fixture("synthetic_hyperliquid_userFunding_2024-01-01.json");
    let src: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    let r = convert(SourceKind::Hyperliquid, &[input], &opts(&dir.path().join("user"))).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.inputs[0].rows), ("userFunding", 5));
    for coin in ["BTC", "ETH"] {
        let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, coin));
        assert_eq!(h.venue(), "hyperliquid");
        let rows: Vec<&serde_json::Value> = src.iter().filter(|x| x["delta"]["coin"] == coin).collect();
        assert_eq!(f.len(), rows.len());
        for (rec, row) in f.iter().zip(rows) {
            assert_eq!(rec.ts.exchange, row["time"].as_i64().unwrap() * 1_000_000);
            assert_same(rec.funding_rate, h.value_exponent, row["delta"]["fundingRate"].as_str().unwrap());
            assert_eq!(rec.flags, funding_flags::SETTLEMENT);
            assert_eq!((rec.mark_price, rec.index_price, rec.next_funding_ts), (UNDEF, UNDEF, UNDEF));
        }
    }
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "ETH"));
    assert_eq!((h.value_exponent, f[1].funding_rate), (-7, -21));
    // fundingHistory: `{coin,fundingRate,premium,time}`, newest first here; sorted in the tape.
    let input = fixture("synthetic_hyperliquid_fundingHistory_BTC_2024-01-01.json");
    let src: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    let r = convert(SourceKind::Hyperliquid, &[input], &opts(&dir.path().join("history"))).unwrap();
    assert_eq!(r.inputs[0].dataset, "fundingHistory");
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTC"));
    assert_eq!(f.len(), 4);
    for (rec, row) in f.iter().zip(src.iter().rev()) {
        assert_eq!(rec.ts.exchange, row["time"].as_i64().unwrap() * 1_000_000);
        assert_same(rec.funding_rate, h.value_exponent, row["fundingRate"].as_str().unwrap());
        assert_eq!(rec.flags, funding_flags::SETTLEMENT);
    }
    assert_eq!(f[0].ts.exchange, 1_704_067_200_048_000_000);
    assert!(r.tapes[0].path.ends_with("hyperliquid.BTC.funding.tape"));

    // Converted together, an account's funding and the market's stay apart:
    // the same hourly rates must not reach a backtest twice.
    let both = [
        fixture("synthetic_hyperliquid_userFunding_2024-01-01.json"),
        fixture("synthetic_hyperliquid_fundingHistory_BTC_2024-01-01.json"),
    ];
    let r = convert(SourceKind::Hyperliquid, &both, &opts(&dir.path().join("both"))).unwrap();
    let mut names: Vec<String> =
        r.tapes.iter().map(|t| t.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        ["hyperliquid.BTC.funding.tape", "hyperliquid.BTC.userfunding.tape", "hyperliquid.ETH.userfunding.tape"]
    );
}

#[test]
fn series_csv_mixed_time_formats_sorted_per_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let r = convert(SourceKind::SeriesCsv, &[fixture("synthetic_series_momentum.csv")], &opts(dir.path())).unwrap();
    let (h, s) = read::<Series>(&tape_of(&r, RecordKind::Series, "BTC"));
    assert_eq!(h.value_exponent, -3);
    assert_eq!(s.iter().map(|x| x.value).collect::<Vec<_>>(), [-125, 250]);
    let (_, s) = read::<Series>(&tape_of(&r, RecordKind::Series, "ETH"));
    assert_eq!(s.len(), 2, "NaN is left out");
    assert_eq!(s[0].ts.exchange, 1_704_067_200_000_000_000);
    assert_eq!(s[1].ts.exchange, 1_704_240_000_000_000_000);
    assert_eq!(r.inputs[0].filtered.values().sum::<u64>(), 1);
}

#[test]
fn ohlcv_csv_one_bar_tape_per_symbol_stamped_at_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.venue = Some("hyperliquid".into());
    let r = convert(SourceKind::OhlcvCsv, &[fixture("synthetic_ohlcv_daily.csv")], &o).unwrap();
    let mut names: Vec<String> =
        r.tapes.iter().map(|t| t.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["hyperliquid.BTC_USDC_USDC.bars-1d.tape", "hyperliquid.ETH_USDC_USDC.bars-1d.tape"]);
    let (h, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "BTC/USDC:USDC"));
    assert_eq!(h.symbol(), "BTC/USDC:USDC");
    assert_eq!(b.len(), 3);
    // 2024-06-11 00:00 UTC open; close one day minus 1 ms later.
    assert_eq!(b[0].open_ts, 1_718_064_000_000_000_000);
    assert_eq!(b[0].ts.exchange, 1_718_064_000_000_000_000 + 86_400_000_000_000 - 1_000_000);
    assert_same(b[1].high, h.price_exponent, "70000.5");
    assert_same(b[2].close, h.price_exponent, "66900.0");
    assert_same(b[0].volume, h.qty_exponent, "5576.00977");
    let (h, e) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "ETH/USDC:USDC"));
    assert_same(e[2].volume, h.qty_exponent, "0.288");
    assert!(r.inputs[0].notes.iter().any(|n| n.contains("rounded to 8")), "{:?}", r.inputs[0].notes);
}

#[test]
fn ohlcv_csv_refuses_repeated_bars_and_low_above_high() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.csv");
    std::fs::write(&p, "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-01,1,2,0.5,1.5,10\n")
        .unwrap();
    let e = convert(SourceKind::OhlcvCsv, std::slice::from_ref(&p), &opts(&dir.path().join("o"))).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("x.csv:3:") && msg.contains("same time as line 2"), "{msg}");
    std::fs::write(&p, "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,2.5,1.5,10\n")
        .unwrap();
    let e = convert(SourceKind::OhlcvCsv, std::slice::from_ref(&p), &opts(&dir.path().join("o"))).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("x.csv:3:") && msg.contains("low above high"), "{msg}");
    std::fs::write(&p, "date,open,high,low,close,volume\n1990-01-01,1,2,0.5,1.5,10\n1990-01-02,1,2,0.5,1.5,10\n")
        .unwrap();
    let e = convert(SourceKind::OhlcvCsv, std::slice::from_ref(&p), &opts(&dir.path().join("o"))).unwrap_err();
    assert!(e.to_string().contains("2009..2100"), "{e}");
}

#[test]
fn many_inputs_in_parallel_merge_into_one_tape_per_kind_and_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let csv =
        std::fs::read_to_string(fixture("synthetic_tardis_binance-futures_trades_2024-01-01_BTCUSDT.csv")).unwrap();
    // Two days; the second with finer prices, so segments are rescaled on merge,
    // and trade ids of its own (the same id in two files is a duplicated row).
    let a = dir.path().join("binance-futures_trades_2024-01-02_BTCUSDT.csv");
    let b = dir.path().join("binance-futures_trades_2024-01-01_BTCUSDT.csv");
    let day2 = csv.replace("17040672", "17041536").replace("42000.12", "42000.125").replace(",100", ",200");
    std::fs::write(&a, day2).unwrap();
    std::fs::write(&b, &csv).unwrap();
    let mut o = opts(&dir.path().join("out"));
    o.jobs = 2;
    let r = convert(SourceKind::Tardis, &[a.clone(), b.clone()], &o).unwrap();
    assert_eq!(r.tapes.len(), 1);
    let (h, t) = read::<Trade>(&r.tapes[0].path);
    assert_eq!(t.len(), 10);
    assert_eq!(h.price_exponent, -3);
    assert!(t.windows(2).all(|w| w[0].ts.exchange <= w[1].ts.exchange));
    assert_same(t[0].price, -3, "42000");
    assert_same(t[8].price, -3, "42000.125");
    // Per input: one folder per input stem, same tape name inside.
    o.per_input = true;
    o.out_dir = dir.path().join("per");
    let r = convert(SourceKind::Tardis, &[a, b], &o).unwrap();
    assert_eq!(r.tapes.len(), 2);
    assert!(r.tapes.iter().all(|t| t.path.ends_with("binance-futures.BTCUSDT.trades.tape")));
    // No stray segment files are left behind.
    let stray: Vec<_> =
        walk(dir.path()).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.')).collect();
    assert!(stray.is_empty(), "{stray:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn list_names_every_source() {
    let text = ticktape_data::cli::list_text();
    for s in SourceKind::ALL {
        assert!(text.contains(s.name()));
    }
    assert!(text.contains("ticktape convert tardis"));
}

#[test]
fn tapes_of_one_instrument_share_price_and_quantity_exponents() {
    // Trades priced to 0.1 and sized to whole units, quotes priced to 0.01 and
    // sized to 0.001: converted together, both tapes take 2 price and 3
    // quantity decimals, so that they replay together.
    let dir = tempfile::tempdir().unwrap();
    let trades = dir.path().join("binance-futures_trades_2024-01-01_BTCUSDT.csv");
    std::fs::write(
        &trades,
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
         binance-futures,BTCUSDT,1704067200000000,1704067200001000,1,buy,42000.5,2\n\
         binance-futures,BTCUSDT,1704067201000000,1704067201001000,2,sell,42000.1,1\n",
    )
    .unwrap();
    let quotes = dir.path().join("binance-futures_quotes_2024-01-01_BTCUSDT.csv");
    std::fs::write(
        &quotes,
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
         binance-futures,BTCUSDT,1704067200500000,1704067200501000,0.125,42000.52,42000.51,1.5\n",
    )
    .unwrap();
    let r = convert(SourceKind::Tardis, &[trades, quotes], &opts(&dir.path().join("out"))).unwrap();
    assert_eq!(r.tapes.len(), 2);
    for t in &r.tapes {
        assert_eq!((t.price_exponent, t.qty_exponent), (-2, -3), "{}", t.path.display());
    }
    let (_, tr) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSDT"));
    assert_eq!((tr[0].price, tr[0].qty), (4_200_050, 2_000), "rescaled exactly");
    let (_, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, "BTCUSDT"));
    assert_eq!((q[0].bid_price, q[0].ask_qty), (4_200_051, 125));
}
