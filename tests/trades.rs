//! End-to-end tests of `ticktape research trades` (seed 003) through the binary: the as-of join
//! (never an event at or after the fill), features by hand, the maker/taker statistics on a planted
//! difference, determinism, account resolution, and a run on the real Hyperliquid fills.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ticktape_tape::{Fill, Quote, Record, Stamp, TapeMeta, TapeWriter, Trade, dir, fill_flags, side};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000_000;
const S: i64 = 1_000_000_000;
const ACCOUNT: u64 = 0xab;

fn read(path: &Path) -> RecordBatch {
    let f = fs::File::open(path).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 1, "{}: expected one batch", path.display());
    batches[0].clone()
}

fn f64_col(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let a = c.as_primitive::<Float64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn u64_col(b: &RecordBatch, name: &str) -> Vec<u64> {
    b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_primitive::<UInt64Type>().values().to_vec()
}

fn market_meta(symbol: &str) -> TapeMeta {
    TapeMeta {
        symbol: symbol.into(),
        venue: "binance".into(),
        price_exponent: -2,
        qty_exponent: -3,
        ..TapeMeta::default()
    }
}

fn quotes(dir: &Path, symbol: &str, q: &[(i64, i64, i64, i64, i64)]) -> PathBuf {
    let meta = market_meta(symbol);
    let path = dir.join(meta.file_name(Quote::KIND));
    let mut w = TapeWriter::<Quote>::create(&path, &meta).unwrap();
    for &(ts, bid_price, bid_qty, ask_price, ask_qty) in q {
        w.push(&Quote { ts: Stamp { exchange: ts, local: ts }, bid_price, bid_qty, ask_price, ask_qty }).unwrap();
    }
    w.finish().unwrap();
    path
}

fn trades(dir: &Path, symbol: &str, t: &[(i64, i64, i64)]) -> PathBuf {
    let meta = market_meta(symbol);
    let path = dir.join(meta.file_name(Trade::KIND));
    let mut w = TapeWriter::<Trade>::create(&path, &meta).unwrap();
    for &(ts, price, qty) in t {
        w.push(&Trade { ts: Stamp { exchange: ts, local: ts }, price, qty, side: side::BUY, ..Trade::default() })
            .unwrap();
    }
    w.finish().unwrap();
    path
}

/// A fill: (ts, account, buy?, price ×100, qty ×10⁴, closed_pnl ×10⁶, fee ×10⁶, flags).
type F = (i64, u64, bool, i64, i64, i64, i64, u8);

fn fills(dir: &Path, coin: &str, f: &[F]) -> PathBuf {
    let meta = TapeMeta {
        symbol: format!("0x{ACCOUNT:016x}"),
        venue: "hyperliquid".into(),
        price_exponent: -2,
        qty_exponent: -4,
        value_exponent: -6,
        ..TapeMeta::default()
    };
    let path = dir.join(meta.file_name(Fill::KIND));
    let mut w = TapeWriter::<Fill>::create(&path, &meta).unwrap();
    let mut sym = [0u8; 16];
    sym[..coin.len()].copy_from_slice(coin.as_bytes());
    for &(ts, account, buy, price, qty, closed_pnl, fee, flags) in f {
        w.push(&Fill {
            ts: Stamp { exchange: ts, local: ts },
            account,
            price,
            qty,
            closed_pnl,
            fee,
            symbol: sym,
            side: if buy { side::BUY } else { side::SELL },
            dir: if buy { dir::OPEN_LONG } else { dir::CLOSE_LONG },
            flags,
            ..Fill::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    path
}

fn trades_cmd(fills: &Path, market: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["research", "trades", "--account", "0x00000000000000ab", fills.to_str().unwrap(), "--market"];
    args.extend(market.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend(extra);
    run(&args)
}

/// The market before the fill at F = T0 + 60 s, and (when `poison`) events at F and after it that
/// would change every feature if the join used them.
fn as_of_case(dir: &Path, poison: bool) -> (PathBuf, Vec<PathBuf>) {
    let f = T0 + 60 * S;
    let mut q = vec![(T0, 9_900, 3_000, 10_100, 1_000)];
    let mut t = vec![(T0 + S, 10_000, 1_000), (T0 + 20 * S, 10_050, 2_000), (T0 + 50 * S, 10_200, 500)];
    if poison {
        q.extend([(f, 5_000, 1_000, 6_000, 9_000), (f + 1, 1_000, 1, 2_000, 1)]);
        t.extend([(f, 50_000, 100_000), (f, 40_000, 100_000), (f + 2 * S, 30_000, 5)]);
    } else {
        q.push((f + 1, 9_900, 3_000, 10_100, 1_000));
        t.push((f + 2 * S, 10_200, 500));
    }
    let fl = fills(
        dir,
        "BTC",
        &[
            // Another account's fill at the same time: ignored.
            (f, 0xcd, false, 7_777, 1, 0, 0, 0),
            // Buy 1 BTC at 100.50, closed PnL 0, fee 0.05.
            (f, ACCOUNT, true, 10_050, 10_000, 0, 50_000, fill_flags::CROSSED),
        ],
    );
    (fl, vec![quotes(dir, "BTCUSDT", &q), trades(dir, "BTCUSDT", &t)])
}

#[test]
fn as_of_join_uses_only_events_strictly_before_the_fill_and_features_match_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for poison in [false, true] {
        let dir = tmp.path().join(if poison { "poison" } else { "clean" });
        fs::create_dir_all(&dir).unwrap();
        let (fl, market) = as_of_case(&dir, poison);
        let out = dir.join("out");
        let o = trades_cmd(&fl, &market, &out, &["--k", "1"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let b = read(&out.join("fills.parquet"));
        assert_eq!(b.num_rows(), 1, "only the account's fill");
        let one = |c: &str| f64_col(&b, c)[0];
        // bid 99, ask 101 (3 vs 1), mid 100; bought at 100.50.
        assert_eq!(one("bid"), Some(99.0));
        assert_eq!(one("ask"), Some(101.0));
        assert_eq!(one("mid"), Some(100.0));
        assert_eq!(one("spread"), Some(2.0));
        assert!((one("spread_bps").unwrap() - 200.0).abs() < 1e-9);
        assert_eq!(one("tob_imbalance"), Some(0.5));
        assert!((one("edge_vs_mid_bps").unwrap() + 50.0).abs() < 1e-9);
        assert!((one("effective_spread_ratio").unwrap() - 0.5).abs() < 1e-9);
        // Last trade 10 s before the fill.
        assert_eq!(one("mt_last_age_ms"), Some(10_000.0));
        // 30 s window (T0+30 s, T0+60 s): the trade at 50 s; reference = last at or before 30 s (100.50).
        assert_eq!(u64_col(&b, "mt_trades_30s"), vec![1]);
        assert!((one("mt_volume_30s").unwrap() - 0.5).abs() < 1e-12);
        assert!((one("mt_return_30s").unwrap() - (102.0 / 100.5 - 1.0)).abs() < 1e-12);
        // 300 s window: all three trades, no trade 300 s before: no return.
        assert_eq!(u64_col(&b, "mt_trades_300s"), vec![3]);
        assert!((one("mt_volume_300s").unwrap() - 3.5).abs() < 1e-12);
        assert_eq!(one("mt_return_300s"), None);
        assert_eq!(one("price"), Some(100.5));
        assert!((one("pnl").unwrap() + 0.05).abs() < 1e-12);
        let exec = b.column_by_name("exec_type").unwrap().as_string::<i32>().value(0).to_owned();
        assert_eq!(exec, "INSIDE");
        tables.push(b);
    }
    assert_eq!(tables[0], tables[1], "events at or after the fill changed the join");
}

/// 120 fills alternating maker buys at the bid (PnL +1 ± noise) and taker buys at the ask (PnL −1 ±
/// noise) against a constant 99/101 book quoted every second.
fn planted(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let n = 120i64;
    let q: Vec<_> = (0..n + 2).map(|i| (T0 + i * S, 9_900, 1_000 + (i % 5) * 100, 10_100, 1_000)).collect();
    let t: Vec<_> = (0..n + 2).map(|i| (T0 + i * S + S / 2, 10_000 + (i % 3) * 10, 100 + i)).collect();
    let f: Vec<F> = (0..n)
        .map(|i| {
            let maker = i % 2 == 0;
            let noise = ((i * 37) % 11 - 5) * 10_000; // ±0.05
            let pnl = if maker { 1_000_000 } else { -1_000_000 } + noise;
            let buy = (i / 2) % 3 != 0;
            let px = match (maker, buy) {
                (true, true) | (false, false) => 9_900,
                _ => 10_100,
            };
            let flags = if maker { 0 } else { fill_flags::CROSSED };
            (T0 + (i + 1) * S + S / 4, ACCOUNT, buy, px, 10_000, pnl, 0, flags)
        })
        .collect();
    (fills(dir, "BTC", &f), vec![quotes(dir, "BTCUSDT", &q), trades(dir, "BTCUSDT", &t)])
}

#[test]
fn maker_taker_statistics_find_a_planted_difference_and_outputs_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (fl, market) = planted(tmp.path());
    let mut outs = Vec::new();
    for (i, extra) in
        [&["--resamples", "2000"][..], &["--resamples", "2000"], &["--resamples", "2000", "--exec", "crossed"]]
            .iter()
            .enumerate()
    {
        let out = tmp.path().join(format!("out{i}"));
        let o = trades_cmd(&fl, &market, &out, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        let s: serde_json::Value = serde_json::from_slice(&fs::read(out.join("stats.json")).unwrap()).unwrap();
        assert_eq!((s["n_a"].as_u64(), s["n_b"].as_u64()), (Some(60), Some(60)), "{s}");
        let diff = s["mean_diff"].as_f64().unwrap();
        let (lo, hi) = (s["ci_low"].as_f64().unwrap(), s["ci_high"].as_f64().unwrap());
        assert!(lo < diff && diff < hi && lo > 1.9 && hi < 2.1, "{s}");
        // Every maker PnL is above every taker PnL: U = 60·60, p tiny.
        assert_eq!(s["mann_whitney_u"].as_f64(), Some(3600.0));
        assert!(s["p_value"].as_f64().unwrap() < 1e-15, "{s}");
        assert_eq!(
            (s["level"].as_f64(), s["resamples"].as_u64(), s["seed"].as_u64()),
            (Some(0.95), Some(2000), Some(7))
        );
        let arch = read(&out.join("archetypes.parquet"));
        assert_eq!(arch.num_rows(), 8);
        assert_eq!(u64_col(&arch, "count").iter().sum::<u64>(), 120);
        let dirn = read(&out.join("direction.parquet"));
        assert_eq!(u64_col(&dirn, "fold"), vec![1, 2, 3, 4, 5]);
        assert_eq!(u64_col(&dirn, "test_rows"), vec![20; 5]);
        assert_eq!(u64_col(&dirn, "train_rows"), vec![20, 40, 60, 80, 100]);
        let cl = read(&out.join("fills.parquet"));
        let c = cl.column_by_name("cluster").unwrap().as_primitive::<Int64Type>();
        assert!(c.values().iter().all(|&v| (0..8).contains(&v)));
        let files: Vec<Vec<u8>> = ["fills.parquet", "stats.json", "archetypes.parquet", "direction.parquet"]
            .iter()
            .map(|f| fs::read(out.join(f)).unwrap())
            .collect();
        outs.push(files);
    }
    assert_eq!(outs[0], outs[1], "two runs differ");
}

#[test]
fn account_by_address_from_the_accounts_csv_and_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (fl, market) = planted(tmp.path());
    fs::write(tmp.path().join("hyperliquid.accounts.csv"), "account_id,address\n0x00000000000000ab,0xAbCdEf0123\n")
        .unwrap();
    let out = tmp.path().join("out");
    let mut args = vec!["research", "trades", "--account", "0xabcdef0123", fl.to_str().unwrap(), "--market"];
    args.extend(market.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", out.to_str().unwrap(), "--resamples", "100"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&fs::read(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(s["account_id"], "0x00000000000000ab");
    // An account with no fills, a market tape given as the fills tape, a bad --map.
    let mut args = vec!["research", "trades", "--account", "0x1111111111111111", fl.to_str().unwrap(), "--market"];
    args.extend(market.iter().map(|p| p.to_str().unwrap()));
    let o2 = tmp.path().join("o2");
    args.extend(["-o", o2.to_str().unwrap()]);
    assert_one_error_line(&run(&args), &["no fills of account", "0x00000000000000ab", "--account"]);
    let o = trades_cmd(&market[0], &market, &tmp.path().join("o3"), &[]);
    assert_one_error_line(&o, &["not a fills tape"]);
    let o = trades_cmd(&fl, &market, &tmp.path().join("o4"), &["--map", "BTC=ETHUSDT"]);
    assert_one_error_line(&o, &["--map BTC=ETHUSDT", "no market tape"]);
    let o = trades_cmd(&fl, &market, &tmp.path().join("o5"), &["--map", "BTC"]);
    assert_one_error_line(&o, &["COIN=SYMBOL"]);
    let help = stdout(&run(&["research", "trades", "--help"]));
    for needle in ["--account", "--market", "--map", "--exec", "strictly before", "Examples:", "[default: 20000]"] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}

#[test]
fn real_hyperliquid_fills_against_a_later_capture_get_no_market_features() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found");
        return;
    };
    // The real fills (2023-05-05) and the real Hyperliquid capture (2025-01-26) are from different
    // dates: no pairing exists, so the market here is entirely after the fills. The join must then
    // leave every market feature of every fill empty (it never looks ahead), and count nothing.
    let tmp = tempfile::tempdir().unwrap();
    let (fd, md) = (tmp.path().join("fills"), tmp.path().join("mkt"));
    let hl = real.join("hyperliquid/hl_sdk_userFills_0xb7b6f3ce.json");
    let o = run(&["convert", "hyperliquid", hl.to_str().unwrap(), "-o", fd.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cap = real.join("hftbacktest/hyperliquid_btcusd_20250126.gz");
    let o = run(&[
        "convert",
        "hyperliquid",
        "--dataset",
        "capture",
        cap.to_str().unwrap(),
        "-o",
        md.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fl = fd.join("hyperliquid.0xb7b6f3ce00000000.fills.tape");
    let market = [md.join("hyperliquid.BTC.l2.tape"), md.join("hyperliquid.BTC.trades.tape")];
    let out = tmp.path().join("out");
    let mut args = vec!["research", "trades", "--account", "0xb7b6f3ce", fl.to_str().unwrap(), "--market"];
    args.extend(market.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", out.to_str().unwrap(), "--allow-gaps", "--resamples", "100"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let b = read(&out.join("fills.parquet"));
    assert_eq!(b.num_rows(), 500);
    let market_col = b.column_by_name("market").unwrap().as_string::<i32>();
    let btc: Vec<usize> = (0..b.num_rows()).filter(|&i| market_col.is_valid(i)).collect();
    assert!(!btc.is_empty(), "BTC fills matched the BTC market");
    for c in ["bid", "ask", "mid", "spread", "edge_vs_mid_bps", "mt_last_age_ms", "mt_return_30s"] {
        assert!(f64_col(&b, c).iter().all(Option::is_none), "{c} has a value from a later market");
    }
    assert!(u64_col(&b, "mt_trades_300s").iter().all(|&n| n == 0));
    // The fills' own columns are the converter's: PnL = closed_pnl − fee.
    let (pnl, cp, fee) = (f64_col(&b, "pnl"), f64_col(&b, "closed_pnl"), f64_col(&b, "fee"));
    assert!((0..500).all(|i| (pnl[i].unwrap() - (cp[i].unwrap() - fee[i].unwrap())).abs() < 1e-9));
    let s: serde_json::Value = serde_json::from_slice(&fs::read(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(s["n_unknown"].as_u64(), Some(500), "{s}");
    assert!(s["mann_whitney_u"].is_null());
}
