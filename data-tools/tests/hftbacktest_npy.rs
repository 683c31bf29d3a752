//! hftbacktest `.npy` / `.npz` event arrays, built here following hftbacktest's
//! documented 64-byte `event_dtype` and `types` constants.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use ticktape_data::hftbacktest::ev::*;
use ticktape_data::{Error, SourceKind, convert};
use ticktape_tape::{Level, RecordKind, Trade};

type Row = (u64, i64, i64, f64, f64, u64);

fn npy(rows: &[Row]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': [('ev', '<u8'), ('exch_ts', '<i8'), ('local_ts', '<i8'), ('px', '<f8'), ('qty', '<f8'), ('order_id', '<u8'), ('ival', '<i8'), ('fval', '<f8')], 'fortran_order': False, 'shape': ({},), }}",
        rows.len()
    );
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    for &(ev, ex, lo, px, qty, oid) in rows {
        out.extend(ev.to_le_bytes());
        out.extend(ex.to_le_bytes());
        out.extend(lo.to_le_bytes());
        out.extend(px.to_le_bytes());
        out.extend(qty.to_le_bytes());
        out.extend(oid.to_le_bytes());
        out.extend(0i64.to_le_bytes());
        out.extend(0f64.to_le_bytes());
    }
    out
}

const BOTH: u64 = EXCH_EVENT | LOCAL_EVENT;

/// 2024-08-08 00:00 UTC in ns: sample times are offsets from it (a converter refuses dates before 2000).
const T0: i64 = 1_723_075_200_000_000_000;

fn sample() -> Vec<Row> {
    let rows: Vec<Row> = vec![
        (DEPTH_CLEAR_EVENT | BOTH, 1_000, 1_100, 0.0, 0.0, 0),
        (DEPTH_SNAPSHOT_EVENT | BOTH | BUY_EVENT, 1_000, 1_100, 61800.1, 2.5, 0),
        (DEPTH_SNAPSHOT_EVENT | BOTH | BUY_EVENT, 1_000, 1_100, 61800.0, 0.003, 0),
        (DEPTH_SNAPSHOT_EVENT | BOTH | SELL_EVENT, 1_000, 1_100, 61800.2, 1.0, 0),
        (DEPTH_EVENT | BOTH | SELL_EVENT, 2_000, 2_100, 61800.2, 0.0, 0),
        (DEPTH_EVENT | BOTH | SELL_EVENT, 2_000, 2_100, 61800.3, 4.0, 0),
        (TRADE_EVENT | EXCH_EVENT | BUY_EVENT, 2_500, 2_600, 61800.3, 0.01, 77),
        (TRADE_EVENT | LOCAL_EVENT | BUY_EVENT, 2_500, 2_600, 61800.3, 0.01, 77),
        (DEPTH_EVENT | BOTH | BUY_EVENT, 3_000, 3_100, 61800.1, 0.5, 0),
    ];
    rows.into_iter().map(|(ev, ex, lo, px, q, o)| (ev, T0 + ex, T0 + lo, px, q, o)).collect()
}

fn check(r: &ticktape_data::ConvertReport) {
    let (h, lv) = read::<Level>(&tape_of(r, RecordKind::Level, "BTCUSDT"));
    assert_eq!((h.price_exponent, h.qty_exponent), (-1, -3));
    assert_eq!(lv.len(), 6);
    assert!(lv[0].is_snapshot_start() && lv[2].is_batch_end() && lv[4].is_batch_end() && lv[5].is_batch_end());
    assert_same(lv[1].qty, -3, "0.003");
    let (book, batches) = Book::replay_checked(&lv);
    assert_eq!(batches, 3);
    assert_eq!(book.best_bid(), Some(618001));
    assert_eq!(book.best_ask(), Some(618003));
    let (h, t) = read::<Trade>(&tape_of(r, RecordKind::Trade, "BTCUSDT"));
    assert_eq!(t.len(), 1, "the LOCAL-only copy is left out");
    assert_eq!((t[0].trade_id, t[0].side, t[0].ts.local), (77, 1, T0 + 2_600));
    assert_same(t[0].price, h.price_exponent, "61800.3");
    assert!(h.has_local_ts());
}

fn options(out: &Path) -> ticktape_data::ConvertOptions {
    let mut o = opts(out);
    o.symbol = Some("BTCUSDT".into());
    o.venue = Some("binance-futures".into());
    o
}

#[test]
fn npy_events_become_l2_and_trades() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("btcusdt_20240808.npy");
    std::fs::write(&p, npy(&sample())).unwrap();
    let r = convert(SourceKind::Hftbacktest, &[p], &options(&dir.path().join("out"))).unwrap();
    check(&r);
    assert_eq!(r.inputs[0].rows, 9);
}

#[test]
fn npz_members_are_read_from_the_zip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("btcusdt_20240808.npz");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    z.start_file("data.npy", o).unwrap();
    z.write_all(&npy(&sample())).unwrap();
    z.finish().unwrap();
    check(&convert(SourceKind::Hftbacktest, &[p], &options(&dir.path().join("out"))).unwrap());
}

#[test]
fn prices_off_the_given_grid_are_refused_with_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npy");
    std::fs::write(&p, npy(&sample())).unwrap();
    let mut o = options(&dir.path().join("out"));
    o.decimals.price = Some(0);
    o.decimals.qty = Some(3);
    let e = convert(SourceKind::Hftbacktest, std::slice::from_ref(&p), &o).unwrap_err();
    assert!(matches!(e, Error::BadRow { line: 2, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("row 2: price 61800.1 is off the 1 grid of --price-decimals 0"), "{msg}");
    // Genuinely between grid points: 2e-6 of a 0.1 step away from 61800.3.
    let mut rows = sample();
    rows[8].3 = 61800.3000002;
    std::fs::write(&p, npy(&rows)).unwrap();
    o.decimals.price = Some(1);
    let msg = convert(SourceKind::Hftbacktest, std::slice::from_ref(&p), &o).unwrap_err().to_string();
    assert!(msg.contains(":9: row 9: price 61800.3000002 is off the 0.1 grid of --price-decimals 1"), "{msg}");
    // A quantity off the lot grid names the quantity.
    let mut rows = sample();
    rows[6].4 = 0.0105;
    std::fs::write(&p, npy(&rows)).unwrap();
    let msg = convert(SourceKind::Hftbacktest, &[p], &o).unwrap_err().to_string();
    assert!(msg.contains("row 7: qty 0.0105 is off the 0.001 grid of --qty-decimals 3"), "{msg}");
}

/// Rows whose prices and sizes come out of float arithmetic, as a Python
/// pipeline writes them: `ticks × 0.1`, `lots × 0.001`, and sums.
fn float_noise_rows() -> (Vec<Row>, Vec<(i64, i64)>) {
    let mut rows = vec![(DEPTH_CLEAR_EVENT | BOTH, 1_000, 1_100, 0.0, 0.0, 0)];
    let mut want = Vec::new();
    for i in 0..200i64 {
        let (ticks, lots) = (500_006 + i % 17 - 8, 1 + i * 7 % 3000);
        let (px, qty) = (ticks as f64 * 0.1, lots as f64 * 0.001);
        let ev = if i < 100 { DEPTH_SNAPSHOT_EVENT } else { DEPTH_EVENT };
        let side = if ticks <= 500_006 { BUY_EVENT } else { SELL_EVENT };
        rows.push((ev | BOTH | side, 1_000 + i / 100 * 1_000, 1_100, px, qty, 0));
        want.push((ticks, lots));
    }
    // A price that is a sum of floats, and one that is the grid point exactly.
    rows.push((TRADE_EVENT | EXCH_EVENT | BUY_EVENT, 3_000, 3_100, 50_000.5 + 0.1, 0.1 + 0.2, 1));
    rows.push((TRADE_EVENT | EXCH_EVENT | SELL_EVENT, 3_000, 3_100, 50_000.6, 0.3, 2));
    let rows = rows.into_iter().map(|(ev, ex, lo, px, q, o)| (ev, T0 + ex, T0 + lo, px, q, o)).collect();
    (rows, want)
}

fn npz(path: &Path, rows: &[Row]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    z.start_file("data.npy", o).unwrap();
    z.write_all(&npy(rows)).unwrap();
    z.finish().unwrap();
}

/// Round trip: f64 arrays → tapes → f64 gives back every value within 1e-9
/// of a grid step, on the right grid (tick and lot in the headers), whether
/// the grid is inferred or given; both give byte-identical tapes.
#[test]
fn float_noise_snaps_to_the_grid_inferred_or_given() {
    let (rows, want) = float_noise_rows();
    assert!(rows.iter().any(|r| r.3 == 50_000.600000000006), "the noise this guards against is present");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("btcusdt.npz");
    npz(&p, &rows);
    let mut tapes = Vec::new();
    for given in [false, true] {
        let out = dir.path().join(format!("out-{given}"));
        let mut o = options(&out);
        if given {
            (o.decimals.price, o.decimals.qty) = (Some(1), Some(3));
        }
        let r = convert(SourceKind::Hftbacktest, std::slice::from_ref(&p), &o).unwrap();
        let how = if given { "given" } else { "inferred" };
        let note = r.inputs[0].grids.as_ref().expect("grid note");
        assert!(note.starts_with(&format!("grids: price 0.1 ({how}), qty 0.001 ({how})")), "{note}");
        assert!(r.to_string().contains(note.as_str()), "the summary shows the grids");
        let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
        assert_eq!((h.price_exponent, h.qty_exponent, h.price_tick, h.qty_lot), (-1, -3, 1, 1));
        let got: Vec<(i64, i64)> = lv.iter().map(|l| (l.price, l.qty)).collect();
        assert_eq!(got, want);
        for (l, r) in lv.iter().zip(&rows[1..]) {
            assert!((l.price as f64 * 0.1 - r.3).abs() <= 1e-9 * 0.1, "{} vs {}", l.price, r.3);
            assert!((l.qty as f64 * 0.001 - r.4).abs() <= 1e-9 * 0.001, "{} vs {}", l.qty, r.4);
        }
        let (h, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSDT"));
        assert_eq!((h.price_tick, h.qty_lot), (1, 1));
        assert_eq!(t.iter().map(|t| (t.price, t.qty)).collect::<Vec<_>>(), vec![(500_006, 300), (500_006, 300)]);
        tapes.push([RecordKind::Level, RecordKind::Trade].map(|k| std::fs::read(tape_of(&r, k, "BTCUSDT")).unwrap()));
    }
    assert!(tapes[0] == tapes[1], "inferred and given grids give the same tapes");
}

/// The real capture through hftbacktest's own converter (the committed
/// fixture, see tests/data/hftbacktest/README.md): BTCUSDT's 0.1 tick and
/// 0.001 lot, inferred.
#[test]
fn hftbacktest_converter_output_gets_the_venue_grid() {
    let dir = tempfile::tempdir().unwrap();
    let p = fixture("hftbacktest/usdm_btcusdt_20240808_head.npz");
    let r = convert(SourceKind::Hftbacktest, &[p], &options(&dir.path().join("out"))).unwrap();
    let (h, lv) = read::<Level>(&tape_of(&r, RecordKind::Level, "BTCUSDT"));
    assert_eq!((h.price_exponent, h.qty_exponent, h.price_tick, h.qty_lot), (-1, -3, 1, 1));
    let (book, batches) = Book::replay_checked(&lv);
    assert!(batches > 500, "{batches}");
    assert_eq!(lv.iter().filter(|l| l.is_snapshot_start()).count(), 1, "one snapshot of both sides");
    let first = lv.iter().position(|l| l.is_snapshot_start()).unwrap();
    let sides = |s: u8| {
        lv[first..first + 2000]
            .iter()
            .filter(|l| l.side == s && l.flags & ticktape_tape::level_flags::SNAPSHOT != 0)
            .count()
    };
    assert_eq!((sides(1), sides(2)), (1000, 1000), "the snapshot holds both sides' 1000 levels");
    let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
    assert!(bid < ask && (500_000..700_000).contains(&bid), "{bid} {ask}");
    let (_, t) = read::<Trade>(&tape_of(&r, RecordKind::Trade, "BTCUSDT"));
    assert!(t.len() > 1000, "{}", t.len());
}

#[test]
fn a_wrong_dtype_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npy");
    let mut bytes = npy(&sample());
    let text = String::from_utf8_lossy(&bytes[10..100]).replace("'px'", "'xx'");
    bytes[10..100].copy_from_slice(text.as_bytes());
    std::fs::write(&p, bytes).unwrap();
    let e = convert(SourceKind::Hftbacktest, &[p], &options(&dir.path().join("out"))).unwrap_err();
    assert!(e.to_string().contains("hftbacktest's 64-byte event"), "{e}");
}
