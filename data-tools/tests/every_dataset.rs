//! Every dataset that `ticktape convert --list` names converts from a fixture
//! in `tests/data` and is detected as itself, without `--dataset`. A dataset
//! added to a source needs a fixture (and a test of its records) here.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use ticktape_data::{SourceKind, convert};

/// One input per (source, dataset): a fixture, used as is or copied under
/// `rename` (a path relative to a temporary folder), since Binance Vision
/// datasets are told by file name and folder.
const CASES: &[(SourceKind, &str, &str, Option<&str>)] = &[
    (SourceKind::BinanceWs, "capture", "synthetic_binance_ws_usdm_btcusdt_20240808_gap.txt", None),
    // Only with --dataset trades (never detected).
    (SourceKind::BinanceWs, "trades", "synthetic_binance_ws_usdm_btcusdt_20240808_gap.txt", None),
    (
        SourceKind::BinanceVision,
        "trades",
        "synthetic_binance_vision_um_BTCUSDT-trades-2024-02-28.csv",
        Some("BTCUSDT-trades-2024-02-28.csv"),
    ),
    (SourceKind::BinanceVision, "aggTrades", "BTCUSD_PERP-aggTrades-2026-05-08_head300.csv", None),
    (
        SourceKind::BinanceVision,
        "bookTicker",
        "synthetic_binance_vision_um_BTCUSDT-bookTicker-2024-02-28.csv",
        Some("BTCUSDT-bookTicker-2024-02-28.csv"),
    ),
    (SourceKind::BinanceVision, "klines", "BTCUSDT-1m-2020-01-02_head120.csv", Some("spot/BTCUSDT-1m-2020-01-02.csv")),
    (
        SourceKind::BinanceVision,
        "markPriceKlines",
        "synthetic_binance_vision_um_markPriceKlines_BTCUSDT-1m-2024-02-28.csv",
        Some("data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-02-28.csv"),
    ),
    (
        SourceKind::BinanceVision,
        "indexPriceKlines",
        "synthetic_binance_vision_um_indexPriceKlines_BTCUSDT-1m-2024-02-28.csv",
        Some("data/futures/um/daily/indexPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-02-28.csv"),
    ),
    (
        SourceKind::BinanceVision,
        "premiumIndexKlines",
        "synthetic_binance_vision_um_premiumIndexKlines_BTCUSDT-1m-2024-02-28.csv",
        Some("data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2024-02-28.csv"),
    ),
    (SourceKind::BinanceVision, "fundingRate", "BTCUSDT-fundingRate-2026-04.zip", None),
    (
        SourceKind::BinanceVision,
        "metrics",
        "synthetic_binance_vision_um_BTCUSDT-metrics-2024-02-28.csv",
        Some("BTCUSDT-metrics-2024-02-28.csv"),
    ),
    (
        SourceKind::BinanceVision,
        "depth",
        "synthetic_binance_histmktdata_BTCUSDT_T_DEPTH_2024-02-28_depth_snap.csv",
        None,
    ),
    (SourceKind::Tardis, "trades", "synthetic_tardis_binance-futures_trades_2024-01-01_BTCUSDT.csv", None),
    (
        SourceKind::Tardis,
        "incremental_book_L2",
        "synthetic_tardis_deribit_incremental_book_L2_2024-01-01_BTC-PERPETUAL.csv",
        None,
    ),
    (
        SourceKind::Tardis,
        "book_snapshot_25",
        "synthetic_tardis_binance-futures_book_snapshot_25_2024-01-01_BTCUSDT.csv",
        None,
    ),
    (
        SourceKind::Tardis,
        "book_snapshot_5",
        "synthetic_tardis_binance-futures_book_snapshot_5_2024-01-01_BTCUSDT.csv",
        None,
    ),
    (SourceKind::Tardis, "quotes", "synthetic_tardis_binance-futures_quotes_2024-01-01_BTCUSDT.csv", None),
    (
        SourceKind::Tardis,
        "derivative_ticker",
        "synthetic_tardis_binance-futures_derivative_ticker_2024-01-01_BTCUSDT.csv",
        None,
    ),
    (SourceKind::Hyperliquid, "userFills", "hl_sdk_userFills_0xb7b6f3ce_first40.json", None),
    (SourceKind::Hyperliquid, "userFunding", "synthetic_hyperliquid_userFunding_2024-01-01.json", None),
    (SourceKind::Hyperliquid, "fundingHistory", "synthetic_hyperliquid_fundingHistory_BTC_2024-01-01.json", None),
    (SourceKind::Hyperliquid, "candles", "hl_sdk_candleSnapshot_kPEPE_1h.json", None),
    (SourceKind::Hyperliquid, "l2Book", "hl_sdk_l2Book_DYDX.json", None),
    (SourceKind::Hyperliquid, "capture", "hyperliquid_capture_btcusd_20250126.gz", None),
    (SourceKind::SeriesCsv, "series", "synthetic_series_momentum.csv", None),
    (SourceKind::OhlcvCsv, "ohlcv", "synthetic_ohlcv_daily.csv", None),
];

/// A one-trade hftbacktest `.npy` (64-byte `event_dtype` rows).
fn one_trade_npy(path: &Path) {
    use ticktape_data::hftbacktest::ev::{BUY_EVENT, EXCH_EVENT, LOCAL_EVENT, TRADE_EVENT};
    let dict = "{'descr': [('ev', '<u8'), ('exch_ts', '<i8'), ('local_ts', '<i8'), ('px', '<f8'), ('qty', '<f8'), ('order_id', '<u8'), ('ival', '<i8'), ('fval', '<f8')], 'fortran_order': False, 'shape': (1,), }";
    let mut header = dict.as_bytes().to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out.extend((TRADE_EVENT | EXCH_EVENT | LOCAL_EVENT | BUY_EVENT).to_le_bytes());
    out.extend(1_723_161_256_322_000_000i64.to_le_bytes());
    out.extend(1_723_161_255_088_176_367i64.to_le_bytes());
    out.extend(61800.3f64.to_le_bytes());
    out.extend(0.006f64.to_le_bytes());
    out.extend(5_266_583_935u64.to_le_bytes());
    out.extend([0u8; 16]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn every_listed_dataset_converts_from_a_fixture_and_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<(SourceKind, &str, PathBuf)> = CASES
        .iter()
        .map(|&(source, ds, name, rename)| {
            let path = match rename {
                None => fixture(name),
                Some(rel) => {
                    let to = dir.path().join("in").join(rel);
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    std::fs::copy(fixture(name), &to).unwrap();
                    to
                }
            };
            (source, ds, path)
        })
        .collect();
    let npy = dir.path().join("in/btcusdt_20240808.npy");
    one_trade_npy(&npy);
    inputs.push((SourceKind::Hftbacktest, "events", npy));

    let listed: BTreeSet<(&str, &str)> =
        SourceKind::ALL.iter().flat_map(|s| s.datasets().iter().map(move |d| (s.name(), *d))).collect();
    let covered: BTreeSet<(&str, &str)> = inputs.iter().map(|(s, d, _)| (s.name(), *d)).collect();
    assert_eq!(listed, covered, "every listed dataset needs a fixture here");
    let list = ticktape_data::cli::list_text();
    for (k, (source, ds, path)) in inputs.iter().enumerate() {
        assert!(list.contains(ds), "--list does not name {ds}");
        let mut o = opts(&dir.path().join(format!("out{k}")));
        if (*source, *ds) == (SourceKind::BinanceWs, "trades") {
            o.dataset = Some("trades".into());
        }
        let r = convert(*source, std::slice::from_ref(path), &o).unwrap_or_else(|e| panic!("{source} {ds}: {e}"));
        assert_eq!(r.inputs[0].dataset, *ds, "{}", path.display());
        assert!(r.records() > 0, "{source} {ds}: no records");
        assert!(r.inputs[0].skipped.is_empty(), "{source} {ds}: {:?}", r.inputs[0].skipped);
    }
}
