//! Binance websocket captures (`<local_ts> <json>` lines): `aggTrade` and
//! `markPriceUpdate` messages mixed with depth, trades and book tickers, and
//! depth sequencing (gaps, resyncs from REST snapshot lines). Field names follow
//! Binance's USD-M / COIN-M websocket docs.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use ticktape_data::{SourceKind, convert};
use ticktape_tape::{Funding, Level, Quote, RecordKind, Trade, UNDEF, funding_flags, side, trade_flags};

const CAPTURE: &str = "synthetic_binance_ws_usdm_btcusdt_20240808_gap.txt";

/// The capture's lines as (local ns, message).
fn messages(path: &Path) -> Vec<(i64, Value)> {
    lines(path)
        .iter()
        .map(|l| {
            let (ts, json) = l.split_once(' ').unwrap();
            (ts.parse().unwrap(), serde_json::from_str(json).unwrap())
        })
        .collect()
}

/// Price and quantity texts of some levels.
type Levels<'a> = &'a [(&'a str, &'a str)];

/// A book side from decimal text, at the tape's exponents.
fn side_of(levels: Levels<'_>, pe: i8, qe: i8) -> BTreeMap<i64, i64> {
    let fixed = |t: &str, e: i8| ticktape_data::decimal::Dec::parse(t.as_bytes()).unwrap().fixed((-e) as u8).unwrap();
    levels.iter().map(|(p, q)| (fixed(p, pe), fixed(q, qe))).collect()
}

fn write_capture(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.concat()).unwrap();
    path
}

#[test]
fn usdm_capture_mixing_agg_trades_mark_price_trades_depth_and_book_ticker() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(CAPTURE);
    let r = convert(SourceKind::BinanceWs, std::slice::from_ref(&input), &opts(dir.path())).unwrap();
    let i = &r.inputs[0];
    assert_eq!((i.dataset.as_str(), i.rows, i.local_ts_unit), ("capture", 18, Some("ns")));
    assert_eq!(i.filtered.get("messages of other kinds left out"), Some(&1), "the subscription reply");
    assert_eq!(i.filtered.get("non-MARKET trades (insurance fund, ADL) left out"), Some(&1));
    assert_eq!(r.tapes.len(), 5, "l2, quotes, funding, trades and aggtrades: {:?}", r.tapes);
    assert!(r.tapes.iter().all(|t| t.venue == "binance-futures" && t.symbol == "BTCUSDT"));
    let msgs = messages(&input);
    let data = |e: &str| -> Vec<(i64, Value)> {
        msgs.iter().filter(|(_, m)| m["data"]["e"] == e).map(|(l, m)| (*l, m["data"].clone())).collect()
    };

    // `trade` (MARKET only) and `aggTrade` describe the same market trades, so
    // they go to separate tapes (one backtest must not count a trade twice):
    // VENUE.SYMBOL.trades.tape and VENUE.SYMBOL.aggtrades.tape.
    let by_name =
        |name: &str| r.tapes.iter().find(|t| t.path.ends_with(name)).unwrap_or_else(|| panic!("{name}")).path.clone();
    for (name, event, agg) in [
        ("binance-futures.BTCUSDT.trades.tape", "trade", false),
        ("binance-futures.BTCUSDT.aggtrades.tape", "aggTrade", true),
    ] {
        let mut src: Vec<(i64, Value)> = data(event).into_iter().filter(|(_, d)| agg || d["X"] == "MARKET").collect();
        src.sort_by_key(|(local, d)| (d["T"].as_i64().unwrap(), *local));
        let (h, t) = read::<Trade>(&by_name(name));
        assert!(h.is_sorted() && h.has_local_ts());
        // Mark and index prices carry 8 decimals, and all tapes of one
        // instrument share their exponents.
        assert_eq!((h.price_exponent, h.qty_exponent), (-8, -3));
        assert_eq!(t.len(), src.len(), "{name}");
        for (rec, (local, d)) in t.iter().zip(&src) {
            assert_eq!(rec.ts.exchange, d["T"].as_i64().unwrap() * 1_000_000, "trade time T, not event time E");
            assert_eq!(rec.ts.local, *local);
            assert_eq!(rec.trade_id, d[if agg { "a" } else { "t" }].as_u64().unwrap());
            assert_same(rec.price, h.price_exponent, d["p"].as_str().unwrap());
            assert_same(rec.qty, h.qty_exponent, d["q"].as_str().unwrap());
            assert_eq!(rec.side, if d["m"].as_bool().unwrap() { side::SELL } else { side::BUY });
            assert_eq!(rec.flags, if agg { trade_flags::AGGREGATED } else { 0 });
        }
    }
    let (_, t) = read::<Trade>(&by_name("binance-futures.BTCUSDT.trades.tape"));
    assert_eq!(t.iter().map(|x| x.trade_id).collect::<Vec<_>>(), [5266500001, 5266500009, 5266500011]);
    let (_, a) = read::<Trade>(&by_name("binance-futures.BTCUSDT.aggtrades.tape"));
    assert_eq!(a.iter().map(|x| x.trade_id).collect::<Vec<_>>(), [2228000001, 2228000002]);
    assert_eq!((a[0].price, a[0].qty, a[0].side), (6_000_030_000_000, 453, side::BUY), "60000.3 at 8 decimals");

    // Mark price: funding records at E with rate, mark, index and next funding time.
    let src = data("markPriceUpdate");
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTCUSDT"));
    assert!(h.has_local_ts());
    assert_eq!((h.price_exponent, h.value_exponent), (-8, -8));
    assert_eq!(f.len(), 2);
    for (rec, (local, d)) in f.iter().zip(&src) {
        assert_eq!(rec.ts.exchange, d["E"].as_i64().unwrap() * 1_000_000);
        assert_eq!(rec.ts.local, *local);
        assert_same(rec.funding_rate, h.value_exponent, d["r"].as_str().unwrap());
        assert_same(rec.mark_price, h.price_exponent, d["p"].as_str().unwrap());
        assert_same(rec.index_price, h.price_exponent, d["i"].as_str().unwrap());
        assert_eq!(rec.next_funding_ts, 1_723_161_600_000_000_000);
        assert_eq!(rec.flags & funding_flags::SETTLEMENT, 0, "a mark price update is not a settlement");
    }
    assert_eq!((f[0].funding_rate, f[1].funding_rate), (10_000, 9_875));

    // Book ticker: one quote at T.
    let (h, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, "BTCUSDT"));
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].ts.exchange, q[0].ts.local), (1_723_161_000_051_000_000, 1_723_161_000_056_611_000));
    // The instrument's shared exponents (8 price decimals from the index
    // price; 3 quantity decimals from the trades).
    assert_eq!((h.price_exponent, h.qty_exponent), (-8, -3));
    assert_eq!(
        (q[0].bid_price, q[0].bid_qty, q[0].ask_price, q[0].ask_qty),
        (6_000_010_000_000, 1_800, 6_000_030_000_000, 800)
    );

    // Messages are received 3 to 5 ms after their exchange stamps.
    let off = i.median_local_offset_ns.unwrap();
    assert!((3_000_000..6_000_000).contains(&off), "{off}");
}

#[test]
fn depth_gap_is_reported_and_the_later_snapshot_resyncs_the_book() {
    let dir = tempfile::tempdir().unwrap();
    let r = convert(SourceKind::BinanceWs, &[fixture(CAPTURE)], &opts(dir.path())).unwrap();
    let i = &r.inputs[0];
    // Update 5123107800026..30 has pu …25, not the previous u …20: one gap. Dropped:
    // …01..10 (before the first snapshot, below its id …12) and the gap update
    // …26..30 (below the second snapshot's id …32).
    assert_eq!((i.snapshots, i.gaps, i.dropped_updates), (2, 1, 2));
    assert!(r.warnings().iter().any(|w| w.contains("1 sequence gaps")), "{:?}", r.warnings());

    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    assert!(h.is_sorted() && h.has_local_ts());
    let (pe, qe) = (h.price_exponent, h.qty_exponent);
    // 8 price decimals: the capture's mark/index prices need them, and the
    // instrument's tapes share exponents.
    assert_eq!((pe, qe), (-8, -3));
    let starts: Vec<usize> = lv.iter().enumerate().filter(|(_, l)| l.is_snapshot_start()).map(|(i, _)| i).collect();
    assert_eq!(starts, [0, 9]);
    // The book after each batch: (exchange ms after 23:50:00, bids, asks).
    let t0 = 1_723_161_000_000i64;
    let expected: [(i64, Levels<'_>, Levels<'_>); 6] = [
        // First snapshot (lastUpdateId …12, T +40).
        (
            40,
            &[("60000.10", "2.000"), ("60000.00", "0.500"), ("59999.90", "3.100")],
            &[("60000.20", "1.200"), ("60000.30", "0.800"), ("60000.50", "4.000")],
        ),
        // …11..15 bridges it.
        (
            51,
            &[("60000.10", "1.800"), ("60000.00", "0.500"), ("59999.90", "3.100")],
            &[("60000.30", "0.800"), ("60000.50", "4.000")],
        ),
        // …16..20.
        (
            1210,
            &[("60000.10", "1.800"), ("60000.00", "0.500"), ("59999.90", "3.100")],
            &[("60000.30", "0.800"), ("60000.40", "0.256"), ("60000.50", "4.000")],
        ),
        // Gap at …26..30; the second snapshot (…32, T +1380) replaces the whole
        // book: 60000.40 and the 60000.10 bid from before the gap are gone.
        (
            1380,
            &[("60000.00", "0.700"), ("59999.90", "3.100"), ("59999.50", "2.004")],
            &[("60000.10", "0.900"), ("60000.30", "0.800"), ("60000.50", "4.000")],
        ),
        // …31..34, held during the gap, bridges the second snapshot.
        (
            1400,
            &[("60000.00", "0.700"), ("59999.90", "2.615"), ("59999.50", "2.004")],
            &[("60000.30", "0.800"), ("60000.50", "4.000")],
        ),
        // …35..38 follows on (pu = …34).
        (
            1620,
            &[("59999.90", "2.615"), ("59999.50", "2.004")],
            &[("60000.20", "0.050"), ("60000.30", "0.800"), ("60000.50", "4.000")],
        ),
    ];
    let mut book = Book::default();
    let mut states = Vec::new();
    for l in &lv {
        book.apply(l);
        if l.is_batch_end() {
            states.push((l.ts.exchange, book.bids.clone(), book.asks.clone()));
        }
    }
    assert_eq!(states.len(), expected.len());
    for (k, ((ts, bids, asks), (ms, eb, ea))) in states.iter().zip(&expected).enumerate() {
        assert_eq!(*ts, (t0 + ms) * 1_000_000, "batch {k}");
        assert_eq!(*bids, side_of(eb, pe, qe), "bids after batch {k}");
        assert_eq!(*asks, side_of(ea, pe, qe), "asks after batch {k}");
    }
    // The book ticker sent with …15 agrees with the book after that batch.
    let (qh, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, "BTCUSDT"));
    let dec = |v: i64, e: i8| ticktape_data::decimal::Dec::parse(ticktape_tape::format_fixed(v, e).as_bytes()).unwrap();
    let (_, bids, asks) = &states[1];
    let ((bp, bq), (ap, aq)) = (bids.last_key_value().unwrap(), asks.first_key_value().unwrap());
    assert_eq!(
        [dec(*bp, pe), dec(*bq, qe), dec(*ap, pe), dec(*aq, qe)],
        [
            dec(q[0].bid_price, qh.price_exponent),
            dec(q[0].bid_qty, qh.qty_exponent),
            dec(q[0].ask_price, qh.price_exponent),
            dec(q[0].ask_qty, qh.qty_exponent)
        ]
    );
    Book::replay_checked(&lv);
}

#[test]
fn coinm_mark_price_of_a_delivery_contract_has_no_rate_nor_next_funding() {
    // COIN-M sends `"r":""` and `"T":0` for delivery contracts. A gzipped capture.
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"1723161001004331000 {"stream":"btcusd_240927@markPrice@1s","data":{"e":"markPriceUpdate","E":1723161001000,"s":"BTCUSD_240927","p":"61234.51234567","P":"61230.10000000","i":"60001.00456522","r":"","T":0}}"#,
        r#"1723161001005002000 {"stream":"btcusd_perp@markPrice@1s","data":{"e":"markPriceUpdate","E":1723161001000,"s":"BTCUSD_PERP","p":"60003.10000000","P":"60000.12000000","i":"60001.00456522","r":"0.00010000","T":1723161600000}}"#,
        r#"1723161001120000000 {"stream":"btcusd_perp@aggTrade","data":{"e":"aggTrade","E":1723161001118,"a":598100001,"s":"BTCUSD_PERP","p":"60003.1","q":"25","f":798100011,"l":798100013,"T":1723161001117,"m":true}}"#,
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    let input = dir.path().join("coinm_btcusd_20240808.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(&input, gz.finish().unwrap()).unwrap();
    let r = convert(SourceKind::BinanceWs, &[input], &opts(&dir.path().join("out"))).unwrap();
    assert!(r.tapes.iter().all(|t| t.venue == "binance-delivery"), "{:?}", r.tapes);
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTCUSD_240927"));
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].funding_rate, f[0].next_funding_ts), (UNDEF, UNDEF));
    assert_same(f[0].mark_price, h.price_exponent, "61234.51234567");
    assert_same(f[0].index_price, h.price_exponent, "60001.00456522");
    assert_eq!(f[0].ts.exchange, 1_723_161_001_000_000_000);
    let (h, f) = read::<Funding>(&tape_of(&r, RecordKind::Funding, "BTCUSD_PERP"));
    assert_same(f[0].funding_rate, h.value_exponent, "0.0001");
    assert_eq!(f[0].next_funding_ts, 1_723_161_600_000_000_000);
    let (h, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSD_PERP"));
    assert_eq!((t.len(), h.qty_exponent), (1, 0));
    assert_eq!((t[0].trade_id, t[0].qty, t[0].side, t[0].flags), (598100001, 25, side::SELL, trade_flags::AGGREGATED));
    assert_eq!(t[0].ts.exchange, 1_723_161_001_117_000_000);
}

/// A USD-M depth line.
fn usdm_depth(local: i64, t: i64, first: u64, last: u64, pu: u64, bids: &str, asks: &str) -> String {
    format!(
        "{local} {{\"stream\":\"btcusdt@depth@0ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":{},\"T\":{t},\"s\":\"BTCUSDT\",\"U\":{first},\"u\":{last},\"pu\":{pu},\"b\":[{bids}],\"a\":[{asks}]}}}}\n",
        t + 1
    )
}

#[test]
fn a_snapshot_older_than_the_synced_book_is_not_a_gap() {
    // A REST snapshot fetched while the stream is in sync usually lags it:
    // its lastUpdateId is below the last applied u. The book stays right and
    // the next update still follows on.
    let dir = tempfile::tempdir().unwrap();
    let b = 5_123_107_800_000u64;
    let t = 1_723_161_000_000i64;
    let ns = |ms: i64| ms * 1_000_000 + 4_000_000;
    let snap = |local: i64, id: u64, tt: i64, bids: &str, asks: &str| {
        format!("{local} {{\"lastUpdateId\":{id},\"E\":{},\"T\":{tt},\"bids\":[{bids}],\"asks\":[{asks}]}}\n", tt + 5)
    };
    let text = [
        snap(ns(t + 40), b + 12, t + 40, r#"["60000.10","2.000"]"#, r#"["60000.20","1.200"]"#),
        usdm_depth(ns(t + 51), t + 51, b + 11, b + 15, b + 10, r#"["60000.10","1.800"]"#, ""),
        usdm_depth(ns(t + 80), t + 80, b + 16, b + 20, b + 15, "", r#"["60000.30","0.500"]"#),
        // Fetched at +70 (id …18), received after …16..20 was applied.
        snap(ns(t + 85), b + 18, t + 70, r#"["60000.10","1.800"]"#, r#"["60000.20","1.200"]"#),
        usdm_depth(ns(t + 95), t + 95, b + 21, b + 25, b + 20, r#"["60000.00","0.700"]"#, ""),
    ];
    let input = write_capture(dir.path(), "capture.txt", &text);
    let r = convert(SourceKind::BinanceWs, &[input], &opts(&dir.path().join("out"))).unwrap();
    let i = &r.inputs[0];
    assert_eq!((i.snapshots, i.gaps, i.dropped_updates), (1, 0, 0), "{i:?}");
    assert_eq!(i.filtered.get("depth snapshots older than the synced book left out"), Some(&1));
    let (h, lv) = read::<Level>(&r.tapes[0].path);
    let (book, _) = Book::replay_checked(&lv);
    let (pe, qe) = (h.price_exponent, h.qty_exponent);
    assert_eq!(book.bids, side_of(&[("60000.10", "1.800"), ("60000.00", "0.700")], pe, qe));
    assert_eq!(book.asks, side_of(&[("60000.20", "1.200"), ("60000.30", "0.500")], pe, qe));
}

#[test]
fn spot_capture_without_pu_or_snapshot_times_keeps_the_bridging_update() {
    // Spot: depthUpdate has no `pu` and no `T` (continuity is U = previous u + 1),
    // the REST snapshot has no time at all, and bookTicker has neither `E` nor `T`.
    let dir = tempfile::tempdir().unwrap();
    let s = 45_101_200_000u64;
    let t = 1_723_161_000_000i64;
    let depth = |local_ms: i64, e: i64, first: u64, last: u64, bids: &str, asks: &str| {
        format!(
            "{} {{\"stream\":\"btcusdt@depth@100ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":{e},\"s\":\"BTCUSDT\",\"U\":{first},\"u\":{last},\"b\":[{bids}],\"a\":[{asks}]}}}}\n",
            local_ms * 1_000_000
        )
    };
    let text = [
        depth(t + 105, t + 100, s + 1, s + 8, r#"["60000.01000000","0.50000000"]"#, ""),
        depth(
            t + 205,
            t + 200,
            s + 9,
            s + 15,
            r#"["60000.02000000","0.30000000"]"#,
            r#"["60000.05000000","1.20000000"]"#,
        ),
        // The snapshot (…12) comes back after …9..15 arrived: …9..15 bridges it.
        format!(
            "{} {{\"lastUpdateId\":{},\"bids\":[[\"60000.01000000\",\"0.40000000\"],[\"60000.00000000\",\"2.00000000\"]],\"asks\":[[\"60000.04000000\",\"0.70000000\"],[\"60000.05000000\",\"1.00000000\"]]}}\n",
            (t + 230) * 1_000_000,
            s + 12
        ),
        depth(t + 305, t + 300, s + 16, s + 20, "", r#"["60000.04000000","0.00000000"]"#),
        format!(
            "{} {{\"stream\":\"btcusdt@bookTicker\",\"data\":{{\"u\":{},\"s\":\"BTCUSDT\",\"b\":\"60000.02000000\",\"B\":\"0.30000000\",\"a\":\"60000.05000000\",\"A\":\"1.20000000\"}}}}\n",
            (t + 310) * 1_000_000,
            s + 20
        ),
        // Not U = 16 + … : a gap.
        depth(t + 405, t + 400, s + 25, s + 27, "", r#"["60000.06000000","0.10000000"]"#),
    ];
    let input = write_capture(dir.path(), "spot_btcusdt_20240808.txt", &text);
    let mut o = opts(&dir.path().join("out"));
    o.venue = Some("binance".into());
    let r = convert(SourceKind::BinanceWs, &[input], &o).unwrap();
    let i = &r.inputs[0];
    // …1..8 dropped at the snapshot, …25..27 held after the gap and never resynced.
    assert_eq!((i.snapshots, i.gaps, i.dropped_updates), (1, 1, 2));
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    assert_eq!(h.venue(), "binance");
    assert!(lv[0].is_snapshot_start(), "the snapshot sorts before the update that bridges it");
    let (book, batches) = Book::replay_checked(&lv);
    assert_eq!(batches, 3);
    let (pe, qe) = (h.price_exponent, h.qty_exponent);
    assert_eq!(book.bids, side_of(&[("60000.02", "0.3"), ("60000.01", "0.4"), ("60000.00", "2")], pe, qe));
    assert_eq!(book.asks, side_of(&[("60000.05", "1.2")], pe, qe));
    // Spot bookTicker: no exchange time, so the local time stands in for it.
    let (_, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, "BTCUSDT"));
    assert_eq!((q[0].ts.exchange, q[0].ts.local), ((t + 310) * 1_000_000, (t + 310) * 1_000_000));
}

#[test]
fn spot_snapshots_sort_by_the_updates_around_them_whatever_the_capture_clock() {
    // The capture clock runs 1.2 s ahead of the exchange. A snapshot comes
    // first (before any update), and after a gap a second one comes before the
    // update that bridges it: stamped with the local time, either would sort
    // after updates that must follow it.
    let dir = tempfile::tempdir().unwrap();
    let s = 45_101_200_000u64;
    let t = 1_723_161_000_000i64;
    let local = |e: i64| (e + 1_200) * 1_000_000;
    let depth = |e: i64, first: u64, last: u64, bids: &str, asks: &str| {
        format!(
            "{} {{\"stream\":\"btcusdt@depth@100ms\",\"data\":{{\"e\":\"depthUpdate\",\"E\":{e},\"s\":\"BTCUSDT\",\"U\":{first},\"u\":{last},\"b\":[{bids}],\"a\":[{asks}]}}}}\n",
            local(e)
        )
    };
    let snap = |local: i64, id: u64, bids: &str, asks: &str| {
        format!("{local} {{\"lastUpdateId\":{id},\"bids\":[{bids}],\"asks\":[{asks}]}}\n")
    };
    let text = [
        snap(
            local(t - 10),
            s + 12,
            r#"["60000.01","0.4"],["60000.00","2.0"]"#,
            r#"["60000.04","0.7"],["60000.05","1.0"]"#,
        ),
        depth(t + 5, s + 9, s + 15, r#"["60000.02","0.3"]"#, r#"["60000.05","1.2"]"#),
        depth(t + 105, s + 16, s + 20, "", r#"["60000.04","0"]"#),
        // Gap: U should be …21. Dropped by the next snapshot (…40).
        depth(t + 205, s + 30, s + 33, r#"["60000.03","1.0"]"#, ""),
        snap(local(t + 290), s + 40, r#"["60000.03","0.9"],["60000.00","2.0"]"#, r#"["60000.06","0.5"]"#),
        depth(t + 310, s + 38, s + 44, r#"["60000.00","0"]"#, r#"["60000.07","0.25"]"#),
    ];
    let input = write_capture(dir.path(), "spot_btcusdt_20240808.txt", &text);
    let mut o = opts(&dir.path().join("out"));
    o.venue = Some("binance".into());
    let r = convert(SourceKind::BinanceWs, &[input], &o).unwrap();
    let i = &r.inputs[0];
    assert_eq!((i.snapshots, i.gaps, i.dropped_updates), (2, 1, 1));
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    let (book, batches) = Book::replay_checked(&lv);
    assert_eq!(batches, 5);
    let (pe, qe) = (h.price_exponent, h.qty_exponent);
    assert_eq!(book.bids, side_of(&[("60000.03", "0.9")], pe, qe));
    assert_eq!(book.asks, side_of(&[("60000.06", "0.5"), ("60000.07", "0.25")], pe, qe));
    let starts: Vec<&Level> = lv.iter().filter(|l| l.is_snapshot_start()).collect();
    // The first takes the time of the update it bridges, the second that of the latest update seen.
    assert_eq!(starts.iter().map(|l| l.ts.exchange).collect::<Vec<_>>(), [(t + 5) * 1_000_000, (t + 205) * 1_000_000]);
    assert_eq!(starts.iter().map(|l| l.ts.local).collect::<Vec<_>>(), [local(t - 10), local(t + 290)]);
}
