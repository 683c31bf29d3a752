//! End-to-end tests of `ticktape research rbsa` and `research styles`, and
//! of the RBSA replication plugin through `ticktape run`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ticktape_tape::{Bar, Fill, Quote, Record, Stamp, TapeMeta, TapeWriter, dir, side};

const BASKET: &str = "perp_basket_daily/hyperliquid_ccxt_top10_perps_daily_ohlcv_2024-06-11_2025-10-23.csv";
const NS_PER_DAY: i64 = 86_400_000_000_000;

fn read(path: &Path) -> RecordBatch {
    let f = fs::File::open(path).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = r.map(Result::unwrap).collect();
    arrow_select_concat(&batches)
}

fn arrow_select_concat(b: &[RecordBatch]) -> RecordBatch {
    assert_eq!(b.len(), 1, "one batch per small table");
    b[0].clone()
}

fn names(b: &RecordBatch) -> Vec<String> {
    b.schema().fields().iter().map(|f| f.name().clone()).collect()
}

fn strs(b: &RecordBatch, c: &str) -> Vec<String> {
    let a = b.column_by_name(c).unwrap();
    (0..a.len()).map(|i| if a.is_null(i) { String::new() } else { a.as_string::<i32>().value(i).to_owned() }).collect()
}

fn f64s(b: &RecordBatch, c: &str) -> Vec<f64> {
    let a = b.column_by_name(c).unwrap();
    (0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.as_primitive::<Float64Type>().value(i) }).collect()
}

/// Real daily closes: symbol → date → close.
fn basket(real: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut m: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in fs::read_to_string(real.join(BASKET)).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        m.entry(f[1].to_owned()).or_default().insert(f[0].to_owned(), f[5].parse().unwrap());
    }
    m
}

/// Deterministic noise in [-1, 1).
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

const PERPS: [&str; 5] = ["BTC/USDC:USDC", "DOGE/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "XRP/USDC:USDC"];

/// Planted exposures (in PERPS order) of the synthetic accounts.
fn planted() -> Vec<(&'static str, [f64; 5])> {
    vec![
        ("btc_long", [20_000.0, 0.0, 0.0, 0.0, 0.0]),
        ("eth_short_sol_long", [0.0, 0.0, -15_000.0, 8_000.0, 0.0]),
        ("alt_basket", [0.0, 5_000.0, 0.0, 4_000.0, 6_000.0]),
        ("btc_eth_hedge", [30_000.0, 0.0, -25_000.0, 0.0, 0.0]),
    ]
}

/// account,date,pnl rows from planted exposures on the real closes (noise
/// of ±`amp`), plus an account with only 20 days.
fn synthetic_pnl(real: &Path, amp: f64) -> String {
    let b = basket(real);
    let dates: Vec<&String> = b[PERPS[0]].keys().collect();
    let mut s = String::from("account,date,pnl\n");
    for (k, (name, w)) in planted().iter().enumerate() {
        for t in 1..dates.len() {
            let r = |j: usize| b[PERPS[j]][dates[t]] / b[PERPS[j]][dates[t - 1]] - 1.0;
            let y: f64 = (0..5).map(|j| w[j] * r(j)).sum::<f64>() + amp * noise((k * 10_000 + t) as u64);
            s.push_str(&format!("{name},{},{y:.6}\n", dates[t]));
        }
    }
    for (t, d) in dates.iter().enumerate().take(21).skip(1) {
        s.push_str(&format!("short_history,{d},{:.2}\n", 10.0 * noise(t as u64)));
    }
    s
}

#[test]
fn rbsa_recovers_planted_exposures_from_the_real_daily_closes() {
    let Some(real) = real_data() else {
        eprintln!("skipped: rbsa_recovers_planted_exposures_from_the_real_daily_closes: ../shared/data/real not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pnl = dir.path().join("pnl.csv");
    fs::write(&pnl, synthetic_pnl(&real, 20.0)).unwrap();
    let out = dir.path().join("rbsa");
    let closes = real.join(BASKET);
    let o = run(&[
        "research",
        "rbsa",
        "--pnl",
        pnl.to_str().unwrap(),
        "--closes",
        closes.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("left out as benchmarks"), "HYPE/ASTER/... have short histories: {}", stderr(&o));

    let fits = read(&out.join("fits.parquet"));
    for c in ["account", "alpha", "r2", "rmse", "days", "status", "skip_reason", "top_exposures"] {
        assert!(names(&fits).contains(&c.to_owned()), "fits.parquet lacks {c}: {:?}", names(&fits));
    }
    let ex = read(&out.join("exposures.parquet"));
    assert_eq!(names(&ex), ["account", "benchmark", "coef"]);
    let accounts = strs(&fits, "account");
    let status = strs(&fits, "status");
    let reason = strs(&fits, "skip_reason");
    let r2 = f64s(&fits, "r2");
    let days = fits.column_by_name("days").unwrap().as_primitive::<UInt64Type>().values().to_vec();
    let short = accounts.iter().position(|a| a == "short_history").unwrap();
    assert_eq!(status[short], "skipped");
    assert!(reason[short].contains("20 usable days") && reason[short].contains("--min-days 60"), "{}", reason[short]);

    let (ea, eb, ec) = (strs(&ex, "account"), strs(&ex, "benchmark"), f64s(&ex, "coef"));
    for (name, w) in planted() {
        let a = accounts.iter().position(|x| x == name).unwrap();
        assert_eq!(status[a], "fitted");
        assert_eq!(days[a], 499, "500 aligned closes give 499 daily returns");
        assert!(r2[a] > 0.99, "{name}: R² {}", r2[a]);
        for (j, sym) in PERPS.iter().enumerate() {
            let k = (0..ea.len()).find(|&k| ea[k] == name && eb[k] == *sym).unwrap_or_else(|| panic!("{name} {sym}"));
            let tol = 0.03 * w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!((ec[k] - w[j]).abs() < tol, "{name} {sym}: coef {} planted {}", ec[k], w[j]);
        }
    }
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("R² per fitted account") && html.contains("Benchmark usage") && html.contains("<svg"));
}

/// Synthetic closes of three symbols for tests that need no real data.
fn write_closes(path: &Path, days: usize) {
    let mut s = String::from("date,symbol,open,high,low,close,volume\n");
    let mut px = [100.0, 50.0, 10.0];
    for t in 0..days {
        let date = chrono_date(t as i64);
        for (j, sym) in ["AAA", "BBB", "CCC"].iter().enumerate() {
            px[j] *= 1.0 + 0.03 * noise((j * 1000 + t) as u64 + 77);
            s.push_str(&format!("{date},{sym},0,0,0,{:.6},1\n", px[j]));
        }
    }
    fs::write(path, s).unwrap();
}

fn chrono_date(day: i64) -> String {
    // 2024-01-01 is day 19723.
    let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(day as u64);
    d.format("%Y-%m-%d").to_string()
}

fn closes_map(path: &Path) -> BTreeMap<(String, String), f64> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            ((f[1].to_owned(), f[0].to_owned()), f[5].parse().unwrap())
        })
        .collect()
}

fn pnl_on(closes: &Path, accounts: usize, days: usize) -> String {
    let c = closes_map(closes);
    let mut s = String::from("account,date,pnl\n");
    for a in 0..accounts {
        let w = [1000.0 * (a % 3) as f64, -500.0 * (a % 2) as f64, 300.0];
        for t in 1..days {
            let (d0, d1) = (chrono_date(t as i64 - 1), chrono_date(t as i64));
            let y: f64 = ["AAA", "BBB", "CCC"]
                .iter()
                .enumerate()
                .map(|(j, sym)| w[j] * (c[&(sym.to_string(), d1.clone())] / c[&(sym.to_string(), d0.clone())] - 1.0))
                .sum::<f64>()
                + 5.0 * noise((a * 1000 + t) as u64);
            s.push_str(&format!("acct{a:02},{d1},{y:.6}\n"));
        }
    }
    s
}

fn folder_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn rbsa_outputs_are_byte_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let closes = dir.path().join("closes.csv");
    write_closes(&closes, 200);
    let pnl = dir.path().join("pnl.csv");
    fs::write(&pnl, pnl_on(&closes, 40, 200)).unwrap();
    let mut outs = Vec::new();
    for t in ["1", "2", "5"] {
        let out = dir.path().join(format!("out{t}"));
        let o = run(&[
            "research",
            "rbsa",
            "--pnl",
            pnl.to_str().unwrap(),
            "--closes",
            closes.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--threads",
            t,
            "--cv",
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        outs.push(folder_bytes(&out));
    }
    assert_eq!(outs[0].len(), 3);
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

#[test]
fn rbsa_reads_bar_tapes_and_fills_tapes() {
    let dir = tempfile::tempdir().unwrap();
    let days = 120i64;
    let t0 = 19_723 * NS_PER_DAY; // 2024-01-01
    let bars = dir.path().join("bars");
    fs::create_dir(&bars).unwrap();
    let mut closes = BTreeMap::new();
    for (j, sym) in ["BTC", "ETH"].iter().enumerate() {
        let meta = TapeMeta {
            symbol: (*sym).into(),
            venue: "hyperliquid".into(),
            price_exponent: -2,
            qty_exponent: -4,
            ..TapeMeta::default()
        };
        let mut w = TapeWriter::<Bar>::create(bars.join(meta.file_name(Bar::KIND)), &meta).unwrap();
        let mut px = [60_000.0, 3_000.0][j];
        for d in 0..days {
            px *= 1.0 + 0.03 * noise((j as i64 * 1000 + d) as u64);
            let c = (px * 100.0).round() as i64;
            closes.insert((j, d), c as f64 / 100.0);
            let close_ts = t0 + (d + 1) * NS_PER_DAY;
            w.push(&Bar {
                ts: Stamp { exchange: close_ts, local: close_ts },
                open_ts: t0 + d * NS_PER_DAY,
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 1,
                taker_buy_volume: 0,
                trade_count: 1,
            })
            .unwrap();
        }
        w.finish().unwrap();
    }
    // A fills tape: buy 0.5 BTC on day 10 at the close, sell it on day 100 at the close.
    let meta = TapeMeta {
        symbol: "0x00000000000000ab".into(),
        venue: "hyperliquid".into(),
        price_exponent: -2,
        qty_exponent: -4,
        value_exponent: -6,
        ..TapeMeta::default()
    };
    let fills = dir.path().join(meta.file_name(Fill::KIND));
    let mut w = TapeWriter::<Fill>::create(&fills, &meta).unwrap();
    let mut sym = [0u8; 16];
    sym[..3].copy_from_slice(b"BTC");
    for (d, s, start) in [(10, side::BUY, 0), (100, side::SELL, 5000)] {
        let ts = t0 + d * NS_PER_DAY + NS_PER_DAY - 1;
        let price = (closes[&(0, d)] * 100.0).round() as i64;
        w.push(&Fill {
            ts: Stamp { exchange: ts, local: ts },
            account: 0xab,
            price,
            qty: 5000,
            start_position: start,
            symbol: sym,
            side: s,
            dir: if s == side::BUY { dir::OPEN_LONG } else { dir::CLOSE_LONG },
            ..Fill::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    let out = dir.path().join("out");
    let o = run(&[
        "research",
        "rbsa",
        "--pnl",
        fills.to_str().unwrap(),
        "--closes",
        bars.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--min-days",
        "30",
        "--alpha",
        "0.01",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fits = read(&out.join("fits.parquet"));
    assert_eq!(strs(&fits, "account"), ["0x00000000000000ab"]);
    assert_eq!(strs(&fits, "status"), ["fitted"]);
    // 0.5 BTC held from day 10's close to day 100's: daily PnL 0.5·Δclose, on
    // days 10..=100 (91 days, of which day 10 has PnL 0).
    let days_col = fits.column_by_name("days").unwrap().as_primitive::<UInt64Type>().value(0);
    assert_eq!(days_col, 91);
    let ex = read(&out.join("exposures.parquet"));
    assert_eq!(strs(&ex, "benchmark"), ["BTC", "ETH"]);
    let c = f64s(&ex, "coef");
    // Notional ≈ 0.5 × ~60,000 BTC; ETH ≈ 0 (tiny alpha, so not exactly).
    assert!(c[0] > 20_000.0 && c[0] < 45_000.0, "{c:?}");
    assert!(c[1].abs() < 0.1 * c[0], "{c:?}");
}

#[test]
fn rbsa_errors_are_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let closes = dir.path().join("closes.csv");
    write_closes(&closes, 30);
    let bad = dir.path().join("bad.csv");
    fs::write(&bad, "acct,day,pnl\na,2024-01-01,1\n").unwrap();
    let out = dir.path().join("o");
    let rbsa = || {
        run(&[
            "research",
            "rbsa",
            "--pnl",
            bad.to_str().unwrap(),
            "--closes",
            closes.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let o = rbsa();
    assert_one_error_line(&o, &["bad.csv", "line 1", "no `account` column"]);
    fs::write(&bad, "account,date,pnl\na,2024-01-01,1\na,2024/01/02,2\n").unwrap();
    let o = rbsa();
    assert_one_error_line(&o, &["bad.csv", "line 3", "not YYYY-MM-DD"]);
    assert!(!out.exists());
}

/// Three separable styles: steady losers, wild swingers, steady winners.
fn styles_pnl(per: usize) -> String {
    let mut s = String::from("account,date,pnl\n");
    for a in 0..3 * per {
        let (edge, vol) = [(-30.0, 40.0), (0.0, 2_000.0), (40.0, 40.0)][a % 3];
        for t in 0..100 {
            s.push_str(&format!(
                "u{a:03},{},{:.4}\n",
                chrono_date(t),
                edge + vol * noise((a as i64 * 1000 + t) as u64)
            ));
        }
    }
    s.push_str("newbie,2024-01-01,5\n");
    s
}

#[test]
fn styles_finds_and_labels_separable_styles() {
    let dir = tempfile::tempdir().unwrap();
    let pnl = dir.path().join("pnl.csv");
    fs::write(&pnl, styles_pnl(30)).unwrap();
    let out = dir.path().join("st");
    let o = run(&["research", "styles", "--pnl", pnl.to_str().unwrap(), "-o", out.to_str().unwrap(), "--k", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let elbow = read(&out.join("elbow.parquet"));
    assert_eq!(names(&elbow), ["k", "inertia"]);
    let inertia = f64s(&elbow, "inertia");
    assert_eq!(inertia.len(), 10);
    assert!(inertia.windows(2).all(|w| w[1] <= w[0] * 1.0001), "inertia falls with k: {inertia:?}");
    let st = read(&out.join("styles.parquet"));
    for c in ["account", "cluster", "label", "volatility", "hit_rate", "win_rate"] {
        assert!(names(&st).contains(&c.to_owned()), "styles.parquet lacks {c}: {:?}", names(&st));
    }
    let acc = strs(&st, "account");
    let label = strs(&st, "label");
    let cluster = st.column_by_name("cluster").unwrap().as_primitive::<Int64Type>().values().to_vec();
    let want = ["consistent losers", "high volatility", "skilled winners"];
    for (i, a) in acc.iter().enumerate() {
        if a == "newbie" {
            assert_eq!((cluster[i], label[i].as_str()), (-1, "skipped"));
            continue;
        }
        let g: usize = a[1..].parse::<usize>().unwrap() % 3;
        assert_eq!(label[i], want[g], "{a}");
        // Same style, same cluster.
        let first = acc.iter().position(|b| b != "newbie" && b[1..].parse::<usize>().unwrap() % 3 == g).unwrap();
        assert_eq!(cluster[i], cluster[first], "{a}");
    }
    assert!(stdout(&o).contains("silhouette 0."), "{}", stdout(&o));
    // Rules from a file; a rule on an unselected feature is an error naming the file.
    let rules = dir.path().join("rules.toml");
    fs::write(&rules, "default = \"other\"\n[[rules]]\nlabel = \"x\"\nraw = { sharpe = { min = 1 } }\n").unwrap();
    let o = run(&[
        "research",
        "styles",
        "--pnl",
        pnl.to_str().unwrap(),
        "-o",
        dir.path().join("s2").to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_one_error_line(&o, &["rules.toml", "sharpe", "not among --features"]);
}

fn real_bar_tapes(real: &Path, dir: &Path, symbols: &[&str]) -> Vec<PathBuf> {
    // Daily bars of the real closes, plus a closing quote 1 ns before each
    // bar's close time (bid/ask one tick around the close) so that market
    // orders have a book to fill against.
    let b = basket(real);
    let mut out = Vec::new();
    for sym in symbols {
        let series = &b[&format!("{sym}/USDC:USDC")];
        let meta = TapeMeta {
            symbol: (*sym).into(),
            venue: "hyperliquid".into(),
            price_exponent: -6,
            qty_exponent: -4,
            ..TapeMeta::default()
        };
        let bp = dir.join(meta.file_name(Bar::KIND));
        let qp = dir.join(meta.file_name(Quote::KIND));
        let mut wb = TapeWriter::<Bar>::create(&bp, &meta).unwrap();
        let mut wq = TapeWriter::<Quote>::create(&qp, &meta).unwrap();
        for (date, close) in series {
            let open_ts = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp()
                * 1_000_000_000;
            let close_ts = open_ts + NS_PER_DAY;
            let c = (close * 1e6).round() as i64;
            wq.push(&Quote {
                ts: Stamp { exchange: close_ts - 1, local: close_ts - 1 },
                bid_price: c - 1,
                bid_qty: 1_000_000_000,
                ask_price: c + 1,
                ask_qty: 1_000_000_000,
            })
            .unwrap();
            wb.push(&Bar {
                ts: Stamp { exchange: close_ts, local: close_ts },
                open_ts,
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 1,
                taker_buy_volume: 0,
                trade_count: 1,
            })
            .unwrap();
        }
        wb.finish().unwrap();
        wq.finish().unwrap();
        out.push(bp);
        out.push(qp);
    }
    out
}

#[test]
fn rbsa_plugin_replicates_a_planted_account_on_real_daily_bars() {
    let Some(real) = real_data() else {
        eprintln!(
            "skipped: rbsa_plugin_replicates_a_planted_account_on_real_daily_bars: ../shared/data/real not found"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tapes = real_bar_tapes(&real, dir.path(), &["BTC", "DOGE", "ETH", "SOL", "XRP"]);
    let pnl = dir.path().join("pnl.csv");
    fs::write(&pnl, synthetic_pnl(&real, 20.0)).unwrap();
    let cfg = dir.path().join("rbsa.toml");
    fs::write(
        &cfg,
        format!(
            "pnl = \"{}\"\naccount = \"eth_short_sol_long\"\nwindow_days = 90\nmin_days = 40\ncv = 3\n",
            pnl.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--strategy".into(),
        plugin("ticktape_rbsa").display().to_string(),
        "--config".into(),
        cfg.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--sample".into(),
        "3600s".into(),
        "--maker-fee-bps".into(),
        "0".into(),
        "--taker-fee-bps".into(),
        "0".into(),
    ];
    for t in &tapes {
        args.push("--tape".into());
        args.push(t.display().to_string());
    }
    let o = ticktape().args(&args).output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let log = fs::read_to_string(out.join("strategy.log")).unwrap();
    let line = log.lines().find(|l| l.contains("rbsa summary")).unwrap_or_else(|| panic!("no summary in {log}"));
    let value = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len() + 1..];
        rest.split([',', ' ']).next().unwrap().parse().unwrap()
    };
    eprintln!("{line}");
    let (days, te, corr) = (value("days"), value("tracking_error"), value("correlation"));
    assert!(days > 400.0, "{line}");
    assert!(corr > 0.95, "{line}");
    // The target's own daily PnL has a standard deviation of several hundred.
    assert!(te < 150.0, "{line}");
    // The same figures are in summary.json (strategy_figures) and in the
    // printed summary.
    let s: serde_json::Value = serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    let figs = &s["strategy_figures"];
    for key in ["days", "refits", "tracking_error", "correlation", "mean_replica_pnl", "mean_target_pnl"] {
        let v = figs[key].as_f64().unwrap_or_else(|| panic!("{key} not in strategy_figures: {figs}"));
        let logged = value(key);
        assert!((v - logged).abs() <= 1e-6 * logged.abs().max(1.0), "{key}: summary {v}, log {logged}");
    }
    assert_eq!(figs["days"].as_f64(), Some(days));
    let printed = stdout(&o);
    let reported = printed.lines().find(|l| l.starts_with("reported")).unwrap_or_else(|| panic!("{printed}"));
    assert!(reported.contains("tracking_error ") && reported.contains("correlation "), "{reported}");
}

#[test]
fn rbsa_reads_a_parquet_pnl_table_like_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let closes = dir.path().join("closes.csv");
    write_closes(&closes, 120);
    let csv = pnl_on(&closes, 6, 120);
    let pnl = dir.path().join("pnl.csv");
    fs::write(&pnl, &csv).unwrap();
    // The same rows as Parquet, with the date as a UTC timestamp.
    let (mut acct, mut ts, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        acct.push(f[0].to_owned());
        let d = chrono::NaiveDate::parse_from_str(f[1], "%Y-%m-%d").unwrap();
        ts.push(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() * 1_000_000_000);
        v.push(f[2].parse::<f64>().unwrap());
    }
    let pq = dir.path().join("pnl.parquet");
    ticktape_engine::table::Table::new().utf8("account", acct).ts("date", ts).f64("pnl", v).write(&pq).unwrap();
    let mut fits = Vec::new();
    for (name, input) in [("csv", &pnl), ("parquet", &pq)] {
        let out = dir.path().join(name);
        let o = run(&[
            "research",
            "rbsa",
            "--pnl",
            input.to_str().unwrap(),
            "--closes",
            closes.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--cv",
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        fits.push((fs::read(out.join("fits.parquet")).unwrap(), fs::read(out.join("exposures.parquet")).unwrap()));
    }
    assert_eq!(fits[0], fits[1]);
}
