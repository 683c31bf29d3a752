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
fn prices_off_the_given_grid_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npy");
    std::fs::write(&p, npy(&sample())).unwrap();
    let mut o = options(&dir.path().join("out"));
    o.decimals.price = Some(0);
    o.decimals.qty = Some(3);
    let e = convert(SourceKind::Hftbacktest, std::slice::from_ref(&p), &o).unwrap_err();
    assert!(matches!(e, Error::DoesNotFit { line: 2, field: "price", .. }), "{e:?}");
    // A float artefact needs 17 decimals: refused at a venue grid, never rounded.
    let mut rows = sample();
    rows[8].3 = 0.1 + 0.2;
    std::fs::write(&p, npy(&rows)).unwrap();
    o.decimals.price = Some(1);
    let e = convert(SourceKind::Hftbacktest, &[p], &o).unwrap_err();
    assert!(matches!(e, Error::DoesNotFit { line: 9, .. }), "{e:?}");
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
