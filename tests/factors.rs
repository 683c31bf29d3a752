//! End to end: the factor-ensemble plugin on real daily and minute bars
//! with real factor series, and the run's metrics recomputed from its
//! tables (issue 10).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Builds the factor-ensemble plugin once (in the test-plugin target folder).
fn factor_plugin() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = root();
        let target = root.join("target/test-plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet", "-p", "ticktape-factor-ensemble", "--target-dir"])
            .arg(&target)
            .output()
            .expect("run cargo");
        assert!(out.status.success(), "building the plugin failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("debug").join(format!(
            "{}ticktape_factor_ensemble{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    })
    .clone()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "ticktape {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn tapes_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tape"))
        .collect();
    v.sort();
    v
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap()
}

/// Columns of a Parquet file: timestamps (ns) and floats by name.
fn column_f64(path: &Path, col: &str) -> Vec<f64> {
    use arrow_array::Array;
    let f = fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut v = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let a = b.column_by_name(col).unwrap_or_else(|| panic!("{} has no column {col}", path.display()));
        if let Some(t) = a.as_any().downcast_ref::<arrow_array::TimestampNanosecondArray>() {
            v.extend((0..t.len()).map(|i| t.value(i) as f64));
        } else {
            let x = a.as_any().downcast_ref::<arrow_array::Float64Array>().unwrap();
            v.extend((0..x.len()).map(|i| if x.is_valid(i) { x.value(i) } else { f64::NAN }));
        }
    }
    v
}

fn column_str(path: &Path, col: &str) -> Vec<String> {
    use arrow_array::Array;
    let f = fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut v = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let a = b.column_by_name(col).unwrap();
        let s = a.as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        v.extend((0..s.len()).map(|i| s.value(i).to_owned()));
    }
    v
}

/// The metrics of `summary.json`, recomputed from `equity.parquet` alone
/// with the definitions of the engine's metrics module (written again here,
/// not called).
fn check_metrics_from_equity(out: &Path) {
    let s = summary(out);
    let eq = column_f64(&out.join("equity.parquet"), "equity");
    assert!(eq.len() > 2);
    let cap = s["capital"].as_f64().unwrap();
    let rets: Vec<f64> = eq.windows(2).map(|w| w[1] - w[0]).collect();
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let sd = (rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let down = (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let periods = 365.25 * 86_400.0 / s["sample_interval_s"].as_f64().unwrap();
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b.as_f64().unwrap_or_else(|| panic!("{what} is null in summary.json"));
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{what}: recomputed {a}, summary {b}");
    };
    close(*eq.last().unwrap(), &s["final_equity"], "final_equity");
    close(eq.last().unwrap() - cap, &s["net_pnl"], "net_pnl");
    close(mean / sd, &s["sharpe_per_sample"], "sharpe_per_sample");
    close(mean / down, &s["sortino_per_sample"], "sortino_per_sample");
    // Annualised ratios only for runs of at least a day.
    let meaningful = s["duration_s"].as_f64().unwrap() >= 86_400.0;
    assert_eq!(s["ratios_meaningful"].as_bool().unwrap(), meaningful);
    if meaningful {
        close(mean / sd * periods.sqrt(), &s["sharpe"], "sharpe");
        close(mean / down * periods.sqrt(), &s["sortino"], "sortino");
    } else {
        assert!(s["sharpe"].is_null() && s["sortino"].is_null() && s["calmar"].is_null());
    }
    let (mut peak, mut mdd) = (f64::NEG_INFINITY, 0.0f64);
    for &e in &eq {
        peak = peak.max(e);
        mdd = mdd.max(peak - e);
    }
    close(mdd, &s["max_drawdown"], "max_drawdown");
    let years = s["duration_s"].as_f64().unwrap() / (365.25 * 86_400.0);
    if meaningful && mdd > 0.0 {
        close((eq.last().unwrap() - cap) / years / mdd, &s["calmar"], "calmar");
    }
    let fees = column_f64(&out.join("equity.parquet"), "fees");
    close(*fees.last().unwrap(), &s["fees"], "fees");
}

/// Long-only: no position below zero; leverage at the samples stays near
/// the cap (targets are set at the closes; prices move until the next).
fn check_positions(out: &Path, cap: f64) {
    let inv = out.join("inventory.parquet");
    let ts = column_f64(&inv, "ts");
    let pos = column_f64(&inv, "position");
    let mark = column_f64(&inv, "mark");
    let eq_ts = column_f64(&out.join("equity.parquet"), "ts");
    let eq = column_f64(&out.join("equity.parquet"), "equity");
    assert!(pos.iter().all(|&p| p >= 0.0), "a short position in a long-only run");
    let mut max_lev = 0.0f64;
    for (k, &t) in eq_ts.iter().enumerate() {
        let gross: f64 =
            (0..ts.len()).filter(|&i| ts[i] == t && !mark[i].is_nan()).map(|i| (pos[i] * mark[i]).abs()).sum();
        max_lev = max_lev.max(gross / eq[k]);
    }
    assert!(max_lev > 0.0, "never invested");
    assert!(max_lev < cap * 1.25, "leverage {max_lev} far above the cap {cap}");
}

#[test]
fn plugin_on_perp_basket_daily_with_price_and_funding_factors() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let basket = real.join("perp_basket_daily");
    let hl = basket.join("hyperliquid_ccxt_top10_perps_daily_ohlcv_2024-06-11_2025-10-23.csv");
    let bars = d.join("bars");
    let factors = d.join("factors");
    ok(&["convert", "ohlcv-csv", hl.to_str().unwrap(), "--venue", "hyperliquid", "-o", bars.to_str().unwrap(), "-q"]);
    // Factors: each perp's own daily close (a price-momentum factor) and
    // Coinalyze daily funding (percent per 8 h).
    ok(&[
        "convert",
        "series-csv",
        hl.to_str().unwrap(),
        "--value-column",
        "close",
        "-o",
        factors.to_str().unwrap(),
        "-q",
    ]);
    let fund = basket.join("coinalyze_binance_coinm_funding_daily_top100_2025-07-28_2025-10-25.csv");
    ok(&[
        "convert",
        "series-csv",
        fund.to_str().unwrap(),
        "--time-column",
        "timestamp",
        "--value-column",
        "funding_rate",
        "-o",
        factors.to_str().unwrap(),
        "-q",
    ]);
    let strategies = d.join("strategies.csv");
    fs::write(
        &strategies,
        "strategy,weight,sym,dir,m,res,factor_id,p\n\
         btc_px_001,0.3,BTC/USDC:USDC,M,B,1d,BTC/USDC:USDC,\"[5, 30, 0.3]\"\n\
         btc_px_002,0.3,BTC/USDC:USDC,M,B,1d,BTC/USDC:USDC,\"[10, 60, 0.5]\"\n\
         eth_px_001,0.3,ETH/USDC:USDC,M,R,1d,ETH/USDC:USDC,\"[1, 20, 0.3]\"\n\
         sol_fr_001,0.2,SOL/USDC:USDC,R,B,1d,SOLUSD_PERP.A,\"[3, 20, 0.5]\"\n\
         doge_px_001,0.2,DOGE/USDC:USDC,R,R,1d,DOGE/USDC:USDC,\"[1, 30, 0.2]\"\n",
    )
    .unwrap();
    let cfg = d.join("factors.toml");
    fs::write(&cfg, format!("strategies = {:?}\n", strategies.to_str().unwrap())).unwrap();
    let out = d.join("out");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--strategy".into(),
        factor_plugin().to_string_lossy().into_owned(),
        "--config".into(),
        cfg.to_string_lossy().into_owned(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
        "--taker-fee-bps".into(),
        "5".into(),
        "--bar-slippage-bps".into(),
        "2".into(),
        "--sample".into(),
        "24h".into(),
        "--allow-gaps".into(),
        "--tape".into(),
    ];
    for t in tapes_in(&bars).iter().chain(&tapes_in(&factors)) {
        let name = t.file_name().unwrap().to_string_lossy();
        if name.contains("BTC_USDC_USDC")
            || name.contains("ETH_USDC_USDC")
            || name.contains("SOL")
            || name.contains("DOGE_USDC_USDC")
        {
            args.push(t.to_string_lossy().into_owned());
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = ok(&refs);
    let s = summary(&out);
    assert!(s["fills"].as_u64().unwrap() > 10, "{printed}");
    assert_eq!(s["maker_share"].as_f64().unwrap(), 0.0, "market orders are takers");
    assert!(s["fees"].as_f64().unwrap() > 0.0);
    // Fill prices are the bar close ± 2 bps: never the close itself.
    let prices = column_f64(&out.join("fills.parquet"), "price");
    assert!(!prices.is_empty());
    let log = fs::read_to_string(out.join("strategy.log")).unwrap();
    assert!(log.contains("4 ensembles on 4 symbols from 4 factors"), "{log}");
    assert!(!log.contains("not in this run"), "{log}");
    check_positions(&out, 0.99);
    check_metrics_from_equity(&out);
    let symbols = column_str(&out.join("inventory.parquet"), "symbol");
    assert!(symbols.iter().any(|s| s == "BTC/USDC:USDC"));
}

/// A series CSV of each kline's taker-buy share of volume, stamped at the
/// kline's close (`series`: the value of a symbol column, else none).
fn taker_share_csv(klines: &Path, series: Option<&str>) -> String {
    let text = fs::read_to_string(klines).unwrap();
    let mut csv = String::from(if series.is_some() { "t,symbol,value\n" } else { "t,value\n" });
    for l in text.lines() {
        let f: Vec<&str> = l.split(',').collect();
        let (v, tb): (f64, f64) = (f[5].parse().unwrap(), f[9].parse().unwrap());
        if v > 0.0 {
            let symbol = series.map(|s| format!("{s},")).unwrap_or_default();
            csv.push_str(&format!("{},{symbol}{:.6}\n", f[6], tb / v));
        }
    }
    csv
}

#[test]
fn plugin_on_binance_vision_klines_with_a_taker_volume_factor() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let klines = real.join("binance_vision/spot_daily_klines/BTCUSDT-1m-2020-01-02.csv");
    let tapes = d.join("tapes");
    ok(&["convert", "binance-vision", klines.to_str().unwrap(), "-o", tapes.to_str().unwrap(), "-q"]);
    // The factor: each minute's taker-buy share of volume, stamped at the
    // kline's close (a taker-volume series as `convert series-csv` reads it).
    let csv = taker_share_csv(&klines, Some("btc_taker_share"));
    let fcsv = d.join("taker.csv");
    fs::write(&fcsv, csv).unwrap();
    ok(&["convert", "series-csv", fcsv.to_str().unwrap(), "-o", tapes.to_str().unwrap(), "-q"]);
    let strategies = d.join("s.toml");
    fs::write(
        &strategies,
        "[[strategy]]\nid = \"taker_001\"\nweight = 1\nsymbol = \"BTCUSDT\"\ndirection = \"M\"\nmodel = \"B\"\n\
         resolution = \"1m\"\nfactor = \"btc_taker_share\"\nparams = [[3, 30, 0.5], [5, 60, 0.5]]\n",
    )
    .unwrap();
    let cfg = d.join("f.toml");
    fs::write(&cfg, format!("strategies = {:?}\nmin_notional = 10\n", strategies.to_str().unwrap())).unwrap();
    let out = d.join("out");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--strategy".into(),
        factor_plugin().to_string_lossy().into_owned(),
        "--config".into(),
        cfg.to_string_lossy().into_owned(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
        "--sample".into(),
        "1m".into(),
        "--tape".into(),
    ];
    args.extend(tapes_in(&tapes).iter().map(|t| t.to_string_lossy().into_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
    let s = summary(&out);
    assert!(s["fills"].as_u64().unwrap() > 5, "{s}");
    assert_eq!(s["maker_share"].as_f64().unwrap(), 0.0);
    check_positions(&out, 0.99);
    check_metrics_from_equity(&out);
}

/// The columns the issue names, in its order, first.
const GRID_COLUMNS: [&str; 13] = [
    "factor",
    "symbol",
    "model",
    "direction",
    "short_window",
    "long_window",
    "threshold",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "turnover",
    "hit_rate",
];

fn parquet_columns(path: &Path) -> (Vec<String>, usize) {
    let f = fs::File::open(path).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let names = b.schema().fields().iter().map(|f| f.name().clone()).collect();
    let rows = b.metadata().file_metadata().num_rows() as usize;
    (names, rows)
}

#[test]
fn grid_and_weights_on_perp_basket_daily_same_table_for_1_and_2_threads() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hl = real.join("perp_basket_daily/hyperliquid_ccxt_top10_perps_daily_ohlcv_2024-06-11_2025-10-23.csv");
    let (bars, factors) = (d.join("bars"), d.join("factors"));
    ok(&["convert", "ohlcv-csv", hl.to_str().unwrap(), "-o", bars.to_str().unwrap(), "-q"]);
    ok(&[
        "convert",
        "series-csv",
        hl.to_str().unwrap(),
        "--value-column",
        "close",
        "-o",
        factors.to_str().unwrap(),
        "-q",
    ]);
    let five = |dir: &Path| -> Vec<String> {
        tapes_in(dir)
            .into_iter()
            .filter(|t| {
                [".BTC_USDC_USDC.", ".ETH_USDC_USDC.", ".SOL_USDC_USDC.", ".DOGE_USDC_USDC.", ".XRP_USDC_USDC."]
                    .iter()
                    .any(|s| t.to_string_lossy().contains(s))
            })
            .map(|t| t.to_string_lossy().into_owned())
            .collect()
    };
    let (b, f) = (five(&bars), five(&factors));
    assert_eq!((b.len(), f.len()), (5, 5));
    let grid = |out: &Path, threads: &str| {
        let mut args: Vec<String> = vec!["research".into(), "factors".into(), "grid".into(), "--bars".into()];
        args.extend(b.iter().cloned());
        args.push("--factor".into());
        args.extend(f.iter().cloned());
        for x in ["--shorts", "1,3,5", "--longs", "10,20,40", "-j", threads, "-o", out.to_str().unwrap()] {
            args.push(x.into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&refs)
    };
    let printed = grid(&d.join("g1"), "1");
    grid(&d.join("g2"), "2");
    assert!(printed.contains("combinations/s"), "{printed}");
    let t1 = fs::read(d.join("g1/grid.parquet")).unwrap();
    assert_eq!(t1, fs::read(d.join("g2/grid.parquet")).unwrap(), "1 and 2 threads give different tables");
    let (cols, rows) = parquet_columns(&d.join("g1/grid.parquet"));
    assert_eq!(&cols[..13], &GRID_COLUMNS);
    // Per pair: B has 9 window pairs (every short < every long) × 4 thresholds,
    // R 3 longs × 4 thresholds; × 2 directions = 96; 5 factors × 5 symbols.
    assert_eq!(rows, 25 * 96);
    assert!(cols.contains(&"sharpe_p4".to_string()) && cols.contains(&"selected".to_string()));
    assert!(fs::read_to_string(d.join("g1/heatmap_sharpe.svg")).unwrap().contains("<svg"));
    let strategies = d.join("g1/strategies.csv");
    let text = fs::read_to_string(&strategies).unwrap();
    assert!(text.starts_with("strategy,weight,sym,dir,m,res,factor_id,p"));
    assert!(text.lines().count() > 1, "nothing selected");
    assert!(text.contains(",1d,"), "resolution from the bars");
    // Weights: long-only, in the box, summing to one.
    let weighted = d.join("w.csv");
    let mut args: Vec<String> = vec!["research".into(), "factors".into(), "weights".into()];
    args.push(strategies.to_string_lossy().into_owned());
    args.push("--bars".into());
    args.extend(b.iter().cloned());
    args.push("--factor".into());
    args.extend(f.iter().cloned());
    for x in ["--max-weight", "0.25", "-o", weighted.to_str().unwrap()] {
        args.push(x.into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
    let w = fs::read_to_string(&weighted).unwrap();
    let mut per: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for l in w.lines().skip(1) {
        let c: Vec<&str> = l.split(',').collect();
        per.insert((c[2].to_owned(), c[6].to_owned()), c[1].parse().unwrap());
    }
    let sum: f64 = per.values().sum();
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}");
    assert!(per.values().all(|&x| (0.0..=0.25 + 1e-12).contains(&x)), "{per:?}");
    // The weighted file runs in the plugin.
    let cfg = d.join("cfg.toml");
    fs::write(&cfg, format!("strategies = {:?}\n", weighted.to_str().unwrap())).unwrap();
    let out = d.join("run");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--strategy".into(),
        factor_plugin().to_string_lossy().into_owned(),
        "--config".into(),
        cfg.to_string_lossy().into_owned(),
        "--sample".into(),
        "24h".into(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
        "--tape".into(),
    ];
    args.extend(b.iter().chain(&f).cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
    check_positions(&out, 0.99);
    check_metrics_from_equity(&out);
}

#[test]
fn grid_on_binance_vision_klines_and_the_funding_sample() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let klines = real.join("binance_vision/spot_daily_klines/BTCUSDT-1m-2020-01-02.csv");
    let tapes = d.join("t");
    ok(&["convert", "binance-vision", klines.to_str().unwrap(), "-o", tapes.to_str().unwrap(), "-q"]);
    let csv = taker_share_csv(&klines, None);
    fs::write(d.join("btc_taker_share.csv"), csv).unwrap();
    ok(&[
        "convert",
        "series-csv",
        d.join("btc_taker_share.csv").to_str().unwrap(),
        "-o",
        tapes.to_str().unwrap(),
        "-q",
    ]);
    let bars = tapes_in(&tapes).into_iter().find(|t| t.to_string_lossy().contains("bars-1m")).unwrap();
    let factor = tapes_in(&tapes).into_iter().find(|t| t.to_string_lossy().contains("btc_taker_share")).unwrap();
    let out = d.join("g");
    ok(&[
        "research",
        "factors",
        "grid",
        "--bars",
        bars.to_str().unwrap(),
        "--factor",
        factor.to_str().unwrap(),
        "--shorts",
        "1,5",
        "--longs",
        "30,60,120",
        "-o",
        out.to_str().unwrap(),
    ]);
    let (_, rows) = parquet_columns(&out.join("grid.parquet"));
    assert_eq!(rows, (6 * 4 + 3 * 4) * 2);
    assert!(fs::read_to_string(out.join("strategies.csv")).unwrap().starts_with("strategy,"));
    // The real funding sample (BTCUSDT 2026-04, 8-hourly) as a factor of these
    // 2020 bars: it starts after the last bar, so as of every close there is
    // no value and no combination ever holds a position.
    let fund = real.join("binance_vision/futures_um_monthly_fundingRate/BTCUSDT-fundingRate-2026-04.csv");
    let ft = d.join("fund");
    ok(&[
        "convert",
        "series-csv",
        fund.to_str().unwrap(),
        "--time-column",
        "calc_time",
        "--value-column",
        "last_funding_rate",
        "-o",
        ft.to_str().unwrap(),
        "-q",
    ]);
    let out2 = d.join("g2");
    ok(&[
        "research",
        "factors",
        "grid",
        "--bars",
        bars.to_str().unwrap(),
        "--factor",
        tapes_in(&ft)[0].to_str().unwrap(),
        "--shorts",
        "1",
        "--longs",
        "3",
        "-o",
        out2.to_str().unwrap(),
    ]);
    let strategies = fs::read_to_string(out2.join("strategies.csv")).unwrap();
    assert_eq!(strategies.lines().count(), 1, "a factor from the future must never be used: {strategies}");
}

/// Look-ahead: a factor value stamped one second after a bar's close is not
/// used for that bar, through the whole pipeline (convert, replay, plugin).
#[test]
fn a_factor_stamped_one_second_after_a_close_is_not_used_for_that_bar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    const DAY: i64 = 86_400;
    let t0 = 1_704_067_200i64; // 2024-01-01T00:00:00Z
    let mut bars = String::from("date,symbol,open,high,low,close,volume\n");
    for i in 0..40 {
        bars.push_str(&format!("{},X,100,101,99,100,10\n", t0 + i * DAY));
    }
    // Bars close at open + 1 day − 1 ms; the factor is 0 at each close
    // (stamped 1 ms before the next open), and 100 one second after the close of bar 30
    // (so as of the close of bar 31 the factor is 100; as of bar 30 it is still 0).
    let close = |i: i64| (t0 + (i + 1) * DAY) * 1000 - 1;
    let mut f = String::from("t,value\n");
    for i in 0..40 {
        if i != 31 {
            f.push_str(&format!("{},0\n", close(i)));
        }
        if i == 30 {
            f.push_str(&format!("{},100\n", close(i) + 1000));
        }
    }
    fs::write(d.join("bars.csv"), bars).unwrap();
    fs::write(d.join("spike.csv"), f).unwrap();
    let t = d.join("t");
    ok(&["convert", "ohlcv-csv", d.join("bars.csv").to_str().unwrap(), "-o", t.to_str().unwrap(), "-q"]);
    ok(&["convert", "series-csv", d.join("spike.csv").to_str().unwrap(), "-o", t.to_str().unwrap(), "-q"]);
    fs::write(d.join("s.csv"), "strategy,weight,sym,dir,m,res,factor_id,p\nspike,1,X,M,B,1d,spike,\"[1, 20, 1.0]\"\n")
        .unwrap();
    fs::write(d.join("c.toml"), format!("strategies = {:?}\n", d.join("s.csv").to_str().unwrap())).unwrap();
    let out = d.join("out");
    let mut args: Vec<String> = ["run", "--strategy"].iter().map(|s| s.to_string()).collect();
    args.push(factor_plugin().to_string_lossy().into_owned());
    for x in
        ["--config", d.join("c.toml").to_str().unwrap(), "--sample", "24h", "--out", out.to_str().unwrap(), "--tape"]
    {
        args.push(x.into());
    }
    args.extend(tapes_in(&t).iter().map(|p| p.to_string_lossy().into_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
    let submits = column_f64(&out.join("orders.parquet"), "submit_ts");
    assert!(!submits.is_empty(), "the spike never traded");
    let first = submits[0] as i64;
    assert!(
        first > close(30) * 1_000_000 + 1_000_000_000,
        "traded at {first}: the value stamped after bar 30 was used for it"
    );
    assert!(first < close(31) * 1_000_000 + 1_000_000_000, "traded at {first}, expected at the close of bar 31");
}

/// A strategy row whose resolution does not match the bars (`1h` rows on
/// daily bars) is one clear error, in the plugin and in `research factors
/// weights`; the same rows with `1d` run.
#[test]
fn a_resolution_that_does_not_match_the_bars_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    const DAY: i64 = 86_400;
    let t0 = 1_704_067_200i64; // 2024-01-01T00:00:00Z
    let mut bars = String::from("date,symbol,open,high,low,close,volume\n");
    let mut f = String::from("t,value\n");
    for i in 0..40 {
        let c = 100 + (i * 7) % 13;
        bars.push_str(&format!("{},X,{c},{},{},{c},10\n", t0 + i * DAY, c + 1, c - 1));
        f.push_str(&format!("{},{}\n", (t0 + (i + 1) * DAY) * 1000 - 1, (i * 5) % 11));
    }
    fs::write(d.join("bars.csv"), bars).unwrap();
    fs::write(d.join("fac.csv"), f).unwrap();
    let t = d.join("t");
    ok(&["convert", "ohlcv-csv", d.join("bars.csv").to_str().unwrap(), "-o", t.to_str().unwrap(), "-q"]);
    ok(&["convert", "series-csv", d.join("fac.csv").to_str().unwrap(), "-o", t.to_str().unwrap(), "-q"]);
    let tapes: Vec<String> = tapes_in(&t).iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let bar_tape = tapes.iter().find(|p| p.contains("bars-1d")).unwrap().clone();
    let fac_tape = tapes.iter().find(|p| !p.contains("bars-")).unwrap().clone();
    let run_with = |res: &str| {
        let s = d.join(format!("s_{res}.csv"));
        fs::write(
            &s,
            format!(
                "strategy,weight,sym,dir,m,res,factor_id,p\na,1,X,M,B,{res},fac,\"[1, 5, 0.5]\"\nb,1,X,M,B,{res},fac,\"[2, 10, 0.5]\"\n"
            ),
        )
        .unwrap();
        let cfg = d.join(format!("c_{res}.toml"));
        fs::write(&cfg, format!("strategies = {:?}\n", s.to_str().unwrap())).unwrap();
        let out = d.join(format!("out_{res}"));
        let plugin = factor_plugin();
        let args = [
            "run",
            "--strategy",
            plugin.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--sample",
            "24h",
            "--out",
            out.to_str().unwrap(),
            "--tape",
            &bar_tape,
            &fac_tape,
        ];
        let run_out = run(&args);
        let weights = run(&[
            "research",
            "factors",
            "weights",
            s.to_str().unwrap(),
            "--bars",
            &bar_tape,
            "--factor",
            &fac_tape,
            "-o",
            d.join(format!("w_{res}.csv")).to_str().unwrap(),
        ]);
        (s, run_out, weights)
    };
    let (_, good, good_w) = run_with("1d");
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(good_w.status.success(), "{}", stderr(&good_w));
    let (s, bad, bad_w) = run_with("1h");
    assert!(!bad.status.success(), "1h rows ran on daily bars");
    let e = stderr(&bad);
    let line = e.lines().find(|l| l.contains("resolution")).unwrap_or_else(|| panic!("no resolution error: {e}"));
    assert!(
        line.contains(s.to_str().unwrap())
            && line.contains("line 2: factor fac on X has resolution 1h but the bars of X are 1d")
            && line.contains("failed in on_events"),
        "{line}"
    );
    assert!(!line.contains("panicked"), "{line}");
    let e = stderr(&bad_w);
    assert!(!bad_w.status.success(), "weights accepted 1h rows on daily bars");
    assert!(e.contains("line 2: factor fac on X has resolution 1h but the bars of X are 1d"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}
