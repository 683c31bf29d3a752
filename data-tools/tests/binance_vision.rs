//! Binance Vision datasets on synthetic fixtures in the exact archive formats
//! (`tests/data/synthetic_binance_*`): every row is compared with its source
//! text. Fixtures are copied under their real Vision names (and, where the
//! path matters, into a `data/futures/um/daily/...` tree, zipped with a
//! `.CHECKSUM`), since the dataset, symbol and venue come from the path.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use ticktape_data::{SourceKind, convert};
use ticktape_tape::{Bar, Level, Quote, RecordKind, Series, Trade, side, trade_flags};

/// Data rows of a fixture (header dropped if `header`), split on commas.
fn rows(name: &str, header: bool) -> Vec<Vec<String>> {
    let l = lines(&fixture(name));
    l[usize::from(header)..].iter().map(|r| r.split(',').map(str::to_owned).collect()).collect()
}

/// An epoch-ms (13 digits) or epoch-µs (16 digits) field as ns.
fn ns(field: &str) -> i64 {
    let v: i64 = field.parse().unwrap();
    match field.len() {
        13 => v * 1_000_000,
        16 => v * 1_000,
        n => panic!("{field:?}: {n} digits"),
    }
}

/// Copies fixture `name` to `dir/rel/file` (creating folders) and returns the path.
fn place(dir: &Path, rel: &str, file: &str, name: &str) -> PathBuf {
    let folder = dir.join(rel);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(file);
    std::fs::copy(fixture(name), &path).unwrap();
    path
}

/// Writes fixture `name` as `dir/rel/STEM.zip` holding `STEM.csv`, with a
/// `STEM.zip.CHECKSUM` beside it, as data.binance.vision publishes them.
fn place_zip(dir: &Path, rel: &str, stem: &str, name: &str) -> PathBuf {
    use sha2::Digest;
    let folder = dir.join(rel);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(format!("{stem}.zip"));
    let mut zw = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zw.start_file(format!("{stem}.csv"), o).unwrap();
    zw.write_all(&std::fs::read(fixture(name)).unwrap()).unwrap();
    zw.finish().unwrap();
    let sum: String = sha2::Sha256::digest(std::fs::read(&path).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(folder.join(format!("{stem}.zip.CHECKSUM")), format!("{sum}  {stem}.zip\n")).unwrap();
    path
}

/// Asserts that `tape` holds exactly the trades of `src` (columns: id, price,
/// qty, time, is_buyer_maker at the given positions), in order.
#[track_caller]
fn assert_trades(h: &ticktape_tape::Header, tape: &[Trade], src: &[Vec<String>], cols: [usize; 5], agg: bool) {
    assert_eq!(tape.len(), src.len());
    assert!(h.is_sorted() && !h.has_local_ts());
    for (rec, row) in tape.iter().zip(src) {
        assert_eq!(rec.trade_id, row[cols[0]].parse::<u64>().unwrap(), "{row:?}");
        assert_same(rec.price, h.price_exponent, &row[cols[1]]);
        assert_same(rec.qty, h.qty_exponent, &row[cols[2]]);
        assert_eq!(rec.ts.exchange, ns(&row[cols[3]]), "{row:?}");
        assert_eq!(rec.ts.local, rec.ts.exchange, "Vision files have no receive time");
        let maker = match row[cols[4]].as_str() {
            "true" | "True" => true,
            "false" | "False" => false,
            x => panic!("is_buyer_maker {x:?}"),
        };
        // The buyer is the maker: the taker sold.
        assert_eq!(rec.side, if maker { side::SELL } else { side::BUY }, "{row:?}");
        assert_eq!(rec.flags, if agg { trade_flags::AGGREGATED } else { 0 }, "{row:?}");
    }
}

#[test]
fn usdm_trades_zip_in_a_vision_tree_with_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_um_BTCUSDT-trades-2024-02-28.csv";
    let zip = place_zip(dir.path(), "data/futures/um/daily/trades/BTCUSDT", "BTCUSDT-trades-2024-02-28", name);
    let mut o = opts(&dir.path().join("out"));
    o.checksum = true;
    let r = convert(SourceKind::BinanceVision, &[zip], &o).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.inputs[0].rows), ("trades", 8));
    assert_eq!(r.tapes.len(), 1);
    assert!(r.tapes[0].path.ends_with("binance-futures.BTCUSDT.trades.tape"));
    let (h, t) = read::<Trade>(&r.tapes[0].path);
    assert_eq!((h.venue(), h.symbol()), ("binance-futures", "BTCUSDT"));
    // Prices have one significant decimal (60000.10), quantities three.
    assert_eq!((h.price_exponent, h.qty_exponent), (-1, -3));
    assert_trades(&h, &t, &rows(name, true), [0, 1, 2, 4, 5], false);
    assert_eq!(t[0].ts.exchange, 1_709_128_800_012_000_000);
    assert_eq!((t[0].price, t[0].qty, t[0].side), (600_001, 15, side::BUY));
    assert_eq!((t[7].trade_id, t[7].price, t[7].qty), (4_651_230_008, 600_004, 3));
}

#[test]
fn usdm_trades_without_header_before_2022_08_11() {
    // USD-M trades up to 2022-08-10 have no header; the first row is data.
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_um_BTCUSDT-trades-2022-08-09_noheader.csv";
    let input = place(dir.path(), "in", "BTCUSDT-trades-2022-08-09.csv", name);
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.inputs[0].rows), ("trades", 5));
    let (h, t) = read::<Trade>(&r.tapes[0].path);
    // Six columns and no folder to go by: a USD-M file.
    assert_eq!(h.venue(), "binance-futures");
    assert_eq!((h.price_exponent, h.qty_exponent), (-1, -3));
    assert_trades(&h, &t, &rows(name, false), [0, 1, 2, 4, 5], false);
    assert_eq!((t[0].trade_id, t[0].side), (2_592_000_001, side::SELL));
}

#[test]
fn coinm_trades_take_qty_in_contracts_not_base_qty() {
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_cm_BTCUSD_PERP-trades-2024-02-28.csv";
    let input = place(dir.path(), "in", "BTCUSD_PERP-trades-2024-02-28.csv", name);
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    let (h, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSD_PERP"));
    assert_eq!(h.venue(), "binance-delivery");
    // `qty` is whole contracts; `base_qty` (8 decimals) must not be what is read.
    assert_eq!((h.price_exponent, h.qty_exponent), (-1, 0));
    assert_trades(&h, &t, &rows(name, true), [0, 1, 2, 4, 5], false);
    assert_eq!(t.iter().map(|x| x.qty).collect::<Vec<_>>(), [3, 12, 1, 250]);
}

#[test]
fn spot_trades_no_header_seven_columns_microseconds() {
    // Spot files have no header, an `is_best_match` column, `True/False`, and
    // µs times from 2025-01-01 on.
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_spot_BTCUSDT-trades-2025-01-02.csv";
    let input = place(dir.path(), "in", "BTCUSDT-trades-2025-01-02.csv", name);
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    assert_eq!(r.inputs[0].rows, 5);
    let (h, t) = read::<Trade>(&r.tapes[0].path);
    // Seven columns: spot.
    assert_eq!(h.venue(), "binance");
    assert_eq!((h.price_exponent, h.qty_exponent), (-2, -5));
    assert_trades(&h, &t, &rows(name, false), [0, 1, 2, 4, 5], false);
    assert_eq!(t[0].ts.exchange, 1_735_830_000_123_456_000);
    assert_eq!(t[4].ts.exchange, 1_735_830_002_999_999_000);
    assert_eq!(t.iter().map(|x| x.side).collect::<Vec<_>>(), [1, 1, 2, 2, 1]);
}

#[test]
fn spot_agg_trades_eight_columns_true_false_in_a_spot_tree() {
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_spot_BTCUSDT-aggTrades-2024-02-28.csv";
    let zip = place_zip(dir.path(), "data/spot/daily/aggTrades/BTCUSDT", "BTCUSDT-aggTrades-2024-02-28", name);
    let mut o = opts(&dir.path().join("out"));
    o.checksum = true;
    let r = convert(SourceKind::BinanceVision, &[zip], &o).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.inputs[0].rows), ("aggTrades", 4));
    let (h, t) = read::<Trade>(&r.tapes[0].path);
    assert_eq!(h.venue(), "binance");
    assert_eq!((h.price_exponent, h.qty_exponent), (-2, -5));
    // is_buyer_maker is column 6; column 7 (is_best_match) is always True.
    assert_trades(&h, &t, &rows(name, false), [0, 1, 2, 5, 6], true);
    assert_eq!(t.iter().map(|x| x.side).collect::<Vec<_>>(), [1, 2, 1, 2]);
    // The same file outside a Vision tree: eight columns still say spot.
    let loose = place(dir.path(), "loose", "BTCUSDT-aggTrades-2024-02-28.csv", name);
    let r = convert(SourceKind::BinanceVision, &[loose], &opts(&dir.path().join("out2"))).unwrap();
    assert_eq!(r.tapes[0].venue, "binance");
}

#[test]
fn book_ticker_quotes_at_transaction_time() {
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_um_BTCUSDT-bookTicker-2024-02-28.csv";
    let input = place(dir.path(), "in", "BTCUSDT-bookTicker-2024-02-28.csv", name);
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.inputs[0].rows), ("bookTicker", 6));
    let (h, q) = read::<Quote>(&tape_of(&r, RecordKind::Quote, "BTCUSDT"));
    assert_eq!(h.venue(), "binance-futures");
    assert_eq!((h.price_exponent, h.qty_exponent), (-1, -3));
    let src = rows(name, true);
    assert_eq!(q.len(), src.len());
    // Rows in file order (equal transaction times keep it), every field exact.
    for (rec, row) in q.iter().zip(&src) {
        assert_eq!(rec.ts.exchange, ns(&row[5]), "transaction_time, not event_time: {row:?}");
        assert_eq!(rec.ts.local, rec.ts.exchange);
        assert_same(rec.bid_price, h.price_exponent, &row[1]);
        assert_same(rec.bid_qty, h.qty_exponent, &row[2]);
        assert_same(rec.ask_price, h.price_exponent, &row[3]);
        assert_same(rec.ask_qty, h.qty_exponent, &row[4]);
    }
    assert_eq!((q[0].bid_qty, q[1].bid_qty), (3254, 3251));
    assert_eq!((q[5].bid_price, q[5].ask_price, q[5].ask_qty), (600_003, 600_004, 2760));
}

#[test]
fn metrics_sorted_deduplicated_with_empty_fields_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_um_BTCUSDT-metrics-2024-02-28.csv";
    let input = place(dir.path(), "in", "BTCUSDT-metrics-2024-02-28.csv", name);
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    let i = &r.inputs[0];
    assert_eq!((i.dataset.as_str(), i.rows), ("metrics", 7));
    assert_eq!(i.filtered.get("repeated create_time rows dropped"), Some(&1));
    let (h, s) = read::<Series>(&tape_of(&r, RecordKind::Series, "BTCUSDT"));
    assert_eq!(h.venue(), "binance-futures");
    // Five decimals are the most any value needs (e.g. 1.25471000).
    assert_eq!(h.value_exponent, -5);
    assert!(h.is_sorted());
    // Expected: rows sorted by create_time (stable), the repeated one dropped,
    // one record per non-empty metric with ids 1..=6 in column order.
    let mut src = rows(name, true);
    src.sort_by_key(|row| row[0].clone());
    src.dedup_by(|a, b| a[0] == b[0]);
    let expected: Vec<(i64, u64, String)> = src
        .iter()
        .flat_map(|row| {
            let ts = ticktape_data::time::iso_ns(row[0].as_bytes()).unwrap();
            (2..8).filter(|&c| !row[c].is_empty()).map(move |c| (ts, c as u64 - 1, row[c].clone()))
        })
        .collect();
    assert_eq!(expected.len(), 34);
    assert_eq!(s.len(), expected.len());
    for (rec, (ts, id, text)) in s.iter().zip(&expected) {
        assert_eq!((rec.ts.exchange, rec.id), (*ts, *id));
        assert_same(rec.value, h.value_exponent, text);
    }
    // 2024-02-28 14:00:00 UTC comes first though the file starts at 14:10.
    assert_eq!(s[0].ts.exchange, 1_709_128_800_000_000_000);
    assert_same(s[0].value, -5, "80412.185");
    assert_eq!(s[s.len() - 1].ts.exchange, 1_709_130_300_000_000_000);
}

#[test]
fn mark_index_and_premium_klines_named_by_their_vision_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("markPriceKlines", "BTCUSDT-mark"),
        ("indexPriceKlines", "BTCUSDT-index"),
        ("premiumIndexKlines", "BTCUSDT-premium"),
    ];
    // All three archives have the same file name; only the folder tells them apart.
    let zips: Vec<PathBuf> = cases
        .iter()
        .map(|(ds, _)| {
            let name = format!("synthetic_binance_vision_um_{ds}_BTCUSDT-1m-2024-02-28.csv");
            place_zip(dir.path(), &format!("data/futures/um/daily/{ds}/BTCUSDT/1m"), "BTCUSDT-1m-2024-02-28", &name)
        })
        .collect();
    let mut o = opts(&dir.path().join("out"));
    o.checksum = true;
    let r = convert(SourceKind::BinanceVision, &zips, &o).unwrap();
    assert_eq!(r.tapes.len(), 3);
    for ((ds, symbol), input) in cases.iter().zip(&r.inputs) {
        assert_eq!(input.dataset, *ds);
        let (h, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, symbol));
        assert_eq!(h.venue(), "binance-futures");
        assert_eq!(h.price_exponent, -8, "{ds}");
        let src = rows(&format!("synthetic_binance_vision_um_{ds}_BTCUSDT-1m-2024-02-28.csv"), true);
        assert_eq!(b.len(), src.len());
        for (rec, row) in b.iter().zip(&src) {
            assert_eq!(rec.open_ts, ns(&row[0]));
            assert_eq!(rec.ts.exchange, ns(&row[6]), "bars are stamped at close_time");
            assert_same(rec.open, h.price_exponent, &row[1]);
            assert_same(rec.high, h.price_exponent, &row[2]);
            assert_same(rec.low, h.price_exponent, &row[3]);
            assert_same(rec.close, h.price_exponent, &row[4]);
            assert_same(rec.volume, h.qty_exponent, &row[5]);
            assert_same(rec.taker_buy_volume, h.qty_exponent, &row[9]);
            assert_eq!(rec.trade_count, row[8].parse::<u64>().unwrap());
        }
    }
    // Premium index values are signed.
    let (_, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "BTCUSDT-premium"));
    assert_eq!((b[0].low, b[2].close), (-4123, -8216));
}

#[test]
fn extracted_mark_price_klines_need_the_dataset_named() {
    // Outside its folder a mark-price kline csv looks like a trade-price kline
    // file; `--dataset` keeps it from landing in the `BTCUSDT-1m` tape.
    let dir = tempfile::tempdir().unwrap();
    let name = "synthetic_binance_vision_um_markPriceKlines_BTCUSDT-1m-2024-02-28.csv";
    let input = place(dir.path(), "in", "BTCUSDT-1m-2024-02-28.csv", name);
    let r = convert(SourceKind::BinanceVision, std::slice::from_ref(&input), &opts(&dir.path().join("a"))).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.tapes[0].symbol.as_str()), ("klines", "BTCUSDT"));
    let mut o = opts(&dir.path().join("b"));
    o.dataset = Some("markPriceKlines".into());
    let r = convert(SourceKind::BinanceVision, &[input], &o).unwrap();
    assert_eq!((r.inputs[0].dataset.as_str(), r.tapes[0].symbol.as_str()), ("markPriceKlines", "BTCUSDT-mark"));
    assert_eq!(r.tapes[0].records, 3);
}

#[test]
fn spot_klines_with_microsecond_times() {
    // Spot klines from 2025 on carry 16-digit µs open and close times.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("BTCUSDT-1m-2025-01-02.csv");
    std::fs::write(
        &input,
        "1735830000000000,96512.34000000,96530.00000000,96500.01000000,96520.99000000,12.34567000,1735830059999999,1191534.21839380,1532,6.00012000,579114.56124540,0\n\
         1735830060000000,96520.99000000,96521.00000000,96480.00000000,96490.10000000,8.10000000,1735830119999999,781562.48200000,1101,2.70000000,260520.22000000,0\n",
    )
    .unwrap();
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    let (h, b) = read::<Bar>(&tape_of(&r, RecordKind::Bar, "BTCUSDT"));
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].open_ts, b[0].ts.exchange), (1_735_830_000_000_000_000, 1_735_830_059_999_999_000));
    assert_eq!(b[1].ts.exchange, 1_735_830_119_999_999_000);
    assert_same(b[0].volume, h.qty_exponent, "12.34567");
    assert_same(b[1].taker_buy_volume, h.qty_exponent, "2.7");
    assert_eq!(b[1].trade_count, 1101);
}

#[test]
fn t_depth_snapshot_and_updates_rebuild_the_book_and_report_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let snap = fixture("synthetic_binance_histmktdata_BTCUSDT_T_DEPTH_2024-02-28_depth_snap.csv");
    let upd = fixture("synthetic_binance_histmktdata_BTCUSDT_T_DEPTH_2024-02-28_depth_update.csv");
    let r = convert(SourceKind::BinanceVision, &[snap, upd], &opts(dir.path())).unwrap();
    assert_eq!(r.inputs.iter().map(|i| i.dataset.as_str()).collect::<Vec<_>>(), ["depth", "depth"]);
    // One snapshot; the third update batch has pu 4139212345620, not the previous 4139212345615.
    assert_eq!((r.inputs[0].snapshots, r.inputs[1].snapshots, r.inputs[1].gaps), (1, 0, 1));
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    assert_eq!((h.venue(), h.price_exponent, h.qty_exponent), ("binance-futures", -1, -3));
    assert_eq!(lv.len(), 6 + 7);
    assert!(lv[0].is_snapshot_start() && lv[1..].iter().all(|l| !l.is_snapshot_start()));
    let ends: Vec<usize> = lv.iter().enumerate().filter(|(_, l)| l.is_batch_end()).map(|(i, _)| i).collect();
    assert_eq!(ends, [5, 7, 9, 11, 12], "the snapshot, then one batch per last_update_id");
    assert_eq!(lv[6].ts.exchange, 1_709_128_800_120_000_000);
    let (book, batches) = Book::replay_checked(&lv);
    assert_eq!(batches, 5);
    let bids: Vec<(i64, i64)> = book.bids.into_iter().rev().collect();
    let asks: Vec<(i64, i64)> = book.asks.into_iter().collect();
    assert_eq!(bids, [(600_001, 3500), (600_000, 700)]);
    assert_eq!(asks, [(600_002, 150), (600_003, 1250), (600_005, 4118), (600_006, 800)]);
}

#[test]
fn t_depth_back_to_back_snapshots_each_start_a_new_book() {
    // Two snapshots in a row (different time and last_update_id) are two
    // batches, each starting from an empty book.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("BTCUSDT_T_DEPTH_2024-02-28_depth_snap.csv");
    std::fs::write(
        &input,
        "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu\n\
         BTCUSDT,1709128800000,4139212345600,4139212345600,b,snap,60000.10,2.913,-1\n\
         BTCUSDT,1709128800000,4139212345600,4139212345600,a,snap,60000.20,0.356,-1\n\
         BTCUSDT,1709128830000,4139212399871,4139212399871,b,snap,60001.00,1.100,-1\n\
         BTCUSDT,1709128830000,4139212399871,4139212399871,a,snap,60001.10,0.420,-1\n\
         BTCUSDT,1709128830000,4139212399871,4139212399871,a,snap,60001.20,3.000,-1\n",
    )
    .unwrap();
    let r = convert(SourceKind::BinanceVision, &[input], &opts(&dir.path().join("out"))).unwrap();
    assert_eq!(r.inputs[0].snapshots, 2);
    let (_, lv) = read::<Level>(&r.tapes[0].path);
    let starts: Vec<usize> = lv.iter().enumerate().filter(|(_, l)| l.is_snapshot_start()).map(|(i, _)| i).collect();
    let ends: Vec<usize> = lv.iter().enumerate().filter(|(_, l)| l.is_batch_end()).map(|(i, _)| i).collect();
    assert_eq!((starts, ends), (vec![0, 2], vec![1, 4]));
    let (book, _) = Book::replay_checked(&lv);
    assert_eq!(book.bids.into_iter().collect::<Vec<_>>(), [(600_010, 1100)]);
    assert_eq!(book.asks.into_iter().collect::<Vec<_>>(), [(600_011, 420), (600_012, 3000)]);
}
