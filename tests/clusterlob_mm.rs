//! The ClusterLOB market maker end to end through the CLI: the README's main job on the shipped
//! sample (features, train, `ticktape run` with per-signal attribution), the plugin on the real
//! capture (features equal to the research table's, every maker fill has a market trade strictly
//! through its price) and the walk-forward leak test.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use common::*;

/// Converts a raw Binance capture into tapes in `dir`.
fn convert(capture: &Path, dir: &Path) -> Vec<PathBuf> {
    let o = run(&["convert", "binance-ws", capture.to_str().unwrap(), "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut t: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    t.sort();
    t
}

/// `features` then `train` on `tapes`; returns (feature folder, model file).
fn features_and_model(tapes: &[PathBuf], dir: &Path) -> (PathBuf, PathBuf) {
    let feat = dir.join("feat");
    let mut args = vec!["research", "clusterlob", "features"];
    args.extend(tapes.iter().map(|t| t.to_str().unwrap()));
    args.extend(["-o", feat.to_str().unwrap()]);
    let o = run(&args);
    assert!(o.status.success(), "features: {}", stderr(&o));
    let model = dir.join("model.json");
    let o = run(&["research", "clusterlob", "train", feat.to_str().unwrap(), "-o", model.to_str().unwrap()]);
    assert!(o.status.success(), "train: {}", stderr(&o));
    (feat, model)
}

/// A run file for the ClusterLOB plugin, like engine/cli/examples/clusterlob/run.toml.
fn run_file(dir: &Path, tapes: &Path, model: &Path, out: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"tapes = ["{tapes}/*.tape"]
strategy = "{plugin}"
out = "{out}"
[strategy_config]
model = "{model}"
half_life_ms = 5000
max_position_lots = 20
{extra}
{SIM_KEYS}
"#,
        tapes = tapes.display(),
        plugin = plugin("ticktape_clusterlob").display(),
        model = model.display(),
        out = out.display(),
    );
    let p = dir.join("run.toml");
    fs::write(&p, text).unwrap();
    p
}

fn batches(path: &Path) -> Vec<RecordBatch> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn f64_col(b: &RecordBatch, name: &str) -> Vec<f64> {
    let a = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    a.as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec()
}

fn ts_col(b: &RecordBatch, name: &str) -> Vec<i64> {
    let a = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    a.as_any().downcast_ref::<TimestampNanosecondArray>().unwrap().values().to_vec()
}

fn str_col(b: &RecordBatch, name: &str) -> Vec<String> {
    let a = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let a = a.as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len()).map(|i| a.value(i).to_owned()).collect()
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap()
}

/// The summary's per-tag table names the plugin's three signals, and their PnLs add up.
fn check_attribution(s: &serde_json::Value) {
    let tags = s["by_tag"].as_array().expect("by_tag");
    let names: Vec<(u64, &str)> =
        tags.iter().map(|t| (t["tag"].as_u64().unwrap(), t["name"].as_str().unwrap())).collect();
    assert_eq!(names, [(1, "spread"), (2, "alpha"), (3, "hazard")], "{s}");
    let fills: u64 = tags.iter().map(|t| t["fills"].as_u64().unwrap()).sum();
    assert_eq!(fills, s["fills"].as_u64().unwrap());
    let orders: u64 = tags.iter().map(|t| t["orders"].as_u64().unwrap()).sum();
    assert_eq!(orders, s["orders"].as_u64().unwrap());
    let pnl: f64 = tags.iter().map(|t| t["pnl"].as_f64().unwrap()).sum();
    let want = s["gross_pnl"].as_f64().unwrap() - s["fees"].as_f64().unwrap();
    assert!((pnl - want).abs() < 1e-6, "tags' PnL {pnl} vs gross − fees {want}");
}

/// The README's main job, on the shipped two-minute sample (no ../shared needed).
#[test]
fn main_job_trains_on_the_shipped_sample_and_backtests_the_market_maker() {
    let dir = tempfile::tempdir().unwrap();
    let tapes_dir = dir.path().join("sample");
    let tapes = convert(&root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz"), &tapes_dir);
    let (_, model) = features_and_model(&tapes, dir.path());
    let out = dir.path().join("out");
    let rf = run_file(dir.path(), &tapes_dir, &model, &out, "record_signals = true");
    let o = run(&["run", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in ["by tag", "spread", "alpha", "hazard", "maker share"] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }
    let s = summary(&out);
    check_attribution(&s);
    assert!(s["fills"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["maker_share"].as_f64(), Some(1.0), "post-only quotes fill as maker only");
    // The signals land in series.parquet, tanh-squashed.
    let b = batches(&out.join("series.parquet"));
    let names: std::collections::BTreeSet<String> = b.iter().flat_map(|b| str_col(b, "series")).collect();
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["alpha", "hazard"]);
    assert!(b.iter().flat_map(|b| f64_col(b, "value")).all(|v| v.abs() < 1.0));
    // The inverted mapping of Experiment 8 is one line and changes what is traded.
    let out2 = dir.path().join("out2");
    let rf = run_file(dir.path(), &tapes_dir, &model, &out2, "alpha = \"toxic\"\nhazard = \"opportunistic\"");
    let o = run(&["run", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = fs::read_to_string(out2.join("strategy.log")).unwrap();
    assert!(log.contains("alpha cluster 2 (toxic), hazard cluster 0 (opportunistic)"), "{log}");

    // A relative `model` is relative to the file holding the config (not to the working
    // directory, which is elsewhere here): a run file in a subfolder, then a `--config` file.
    let sub = dir.path().join("cfg");
    fs::create_dir(&sub).unwrap();
    let out3 = dir.path().join("out3");
    let rf = run_file(&sub, &tapes_dir, Path::new("../model.json"), &out3, "record_signals = true");
    assert_ne!(std::env::current_dir().unwrap(), sub);
    let o = run(&["run", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(out3.join("fills.parquet")).unwrap(), fs::read(out.join("fills.parquet")).unwrap());
    let cfg = sub.join("mm.toml");
    fs::write(&cfg, "model = \"../model.json\"\nhalf_life_ms = 5000\nmax_position_lots = 20\nrecord_signals = true\n")
        .unwrap();
    let out4 = dir.path().join("out4");
    let tape_args: Vec<&str> = tapes.iter().map(|t| t.to_str().unwrap()).collect();
    let mut args =
        vec!["run", rf.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--out", out4.to_str().unwrap()];
    args.push("--tape");
    args.extend(tape_args);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(out4.join("fills.parquet")).unwrap(), fs::read(out.join("fills.parquet")).unwrap());
}

#[test]
fn a_missing_model_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let tapes_dir = dir.path().join("sample");
    convert(&root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz"), &tapes_dir);
    let rf = run_file(dir.path(), &tapes_dir, &dir.path().join("nope.json"), &dir.path().join("out"), "");
    let o = run(&["run", rf.to_str().unwrap()]);
    assert_one_error_line(&o, &["configuration error", "nope.json"]);
    let text = fs::read_to_string(&rf).unwrap().replace("model = ", "# model = ");
    fs::write(&rf, text).unwrap();
    let o = run(&["run", rf.to_str().unwrap()]);
    assert_one_error_line(&o, &["`model` is required", "clusterlob train"]);
}

/// The plugin on the real capture: its features are the research table's (same code, same values),
/// and every maker fill has a market trade strictly through its price.
#[test]
fn plugin_on_the_real_capture_sees_the_research_features_and_fills_only_through_trades() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found (the shipped sample is tested instead)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tapes_dir = dir.path().join("tapes");
    let tapes = convert(&real.join("hftbacktest/usdm_btcusdt_20240808.gz"), &tapes_dir);
    let (feat, model) = features_and_model(&tapes, dir.path());
    let out = dir.path().join("out");
    let rf = run_file(dir.path(), &tapes_dir, &model, &out, "record_features = true");
    let o = run(&["run", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    check_attribution(&s);
    assert!(s["fills"].as_u64().unwrap() > 10, "{s}");

    // Features: series z_<name> of the plugin against the research table, row by row.
    let mut research: Vec<RecordBatch> = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(&feat)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("features-"))
        .collect();
    files.sort();
    for f in &files {
        research.extend(batches(f));
    }
    let research_ts: Vec<i64> = research.iter().flat_map(|b| ts_col(b, "ts")).collect();
    let mut plugin: BTreeMap<String, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    for b in batches(&out.join("series.parquet")) {
        let (names, ts, v) = (str_col(&b, "series"), ts_col(&b, "ts"), f64_col(&b, "value"));
        for i in 0..names.len() {
            let e = plugin.entry(names[i].clone()).or_default();
            e.0.push(ts[i]);
            e.1.push(v[i]);
        }
    }
    assert_eq!(plugin.len(), 6, "{:?}", plugin.keys());
    for (name, (ts, values)) in &plugin {
        let want: Vec<f64> = research.iter().flat_map(|b| f64_col(b, name)).collect();
        // The plugin sees every trade the table has, except trades whose market data would reach
        // it after the capture's last exchange event (the run ends there).
        let missing = research_ts.len() - ts.len();
        assert!(missing * 1000 <= research_ts.len(), "{name}: plugin saw {} of {} rows", ts.len(), research_ts.len());
        assert_eq!(ts[..], research_ts[..ts.len()], "{name}: trade times differ");
        for i in 0..ts.len() {
            assert!(
                values[i].to_bits() == want[i].to_bits(),
                "{name} row {i}: plugin {} vs table {}",
                values[i],
                want[i]
            );
        }
    }

    // Every maker fill has a trade at its exchange time strictly through its price.
    let trades_tape = tapes.iter().find(|p| p.to_string_lossy().contains(".trades.")).expect("a trades tape");
    let tape = ticktape_tape::Tape::open(trades_tape).unwrap();
    let px = 10f64.powi(i32::from(tape.header().price_exponent));
    let tick = tape.header().price_tick as f64 * px;
    let mut by_ts: BTreeMap<i64, Vec<(f64, u8)>> = BTreeMap::new();
    for t in tape.records::<ticktape_tape::Trade>().unwrap() {
        by_ts.entry(t.ts.exchange).or_default().push((t.price as f64 * px, t.side));
    }
    let mut makers = 0;
    for b in batches(&out.join("fills.parquet")) {
        let (ts, price, side, liq) =
            (ts_col(&b, "ts"), f64_col(&b, "price"), str_col(&b, "side"), str_col(&b, "liquidity"));
        for i in 0..ts.len() {
            assert_eq!(liq[i], "maker", "post-only quotes never take");
            makers += 1;
            let through = by_ts.get(&ts[i]).is_some_and(|v| {
                v.iter()
                    .any(|&(p, _)| if side[i] == "buy" { p < price[i] - tick / 2.0 } else { p > price[i] + tick / 2.0 })
            });
            assert!(through, "{} fill at {} ({}): no trade strictly through it at that time", side[i], price[i], ts[i]);
        }
    }
    assert!(makers > 10);
}

/// Overwrites the z-columns of every feature row at or after `cut` (ns) with large values.
fn poison_after(feat: &Path, cut: i64) {
    for e in fs::read_dir(feat).unwrap() {
        let p = e.unwrap().path();
        if !p.file_name().unwrap().to_string_lossy().starts_with("features-") {
            continue;
        }
        let bs = batches(&p);
        let schema = bs[0].schema();
        let tmp = p.with_extension("poisoned");
        let mut w =
            parquet::arrow::ArrowWriter::try_new(fs::File::create(&tmp).unwrap(), schema.clone(), None).unwrap();
        for b in &bs {
            let ts = ts_col(b, "ts");
            let cols = (0..b.num_columns())
                .map(|j| {
                    let name = schema.field(j).name();
                    if name.starts_with("z_") {
                        let v = f64_col(b, name);
                        let v: Vec<f64> =
                            v.iter().zip(&ts).map(|(&x, &t)| if t >= cut { 1e6 + x } else { x }).collect();
                        std::sync::Arc::new(Float64Array::from(v)) as arrow_array::ArrayRef
                    } else {
                        b.column(j).clone()
                    }
                })
                .collect();
            w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap()).unwrap();
        }
        w.close().unwrap();
        fs::rename(&tmp, &p).unwrap();
    }
}

/// Regression guard for look-ahead: no walk-forward step reads data after its training window
/// when fitting. Poisoning every feature row from some time on leaves the models of the steps
/// trained before it byte-identical (and changes a later one, so the poison is seen at all).
#[test]
fn walk_forward_fits_read_nothing_after_their_training_window() {
    let dir = tempfile::tempdir().unwrap();
    let tapes_dir = dir.path().join("sample");
    let tapes = convert(&root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz"), &tapes_dir);
    let (feat, model) = features_and_model(&tapes, dir.path());
    let wf = |feat: &Path, out: &Path, backtest: bool| {
        let mut args = vec![
            "research",
            "clusterlob",
            "walk-forward",
            feat.to_str().unwrap(),
            "--train",
            "60s",
            "--test",
            "20s",
            "--bucket",
            "5s",
            "-o",
            out.to_str().unwrap(),
        ];
        let rf;
        if backtest {
            rf = run_file(dir.path(), &tapes_dir, &model, &dir.path().join("unused"), "");
            args.extend(["--run", rf.to_str().unwrap()]);
        } else {
            args.push("--no-backtest");
        }
        let o = run(&args);
        assert!(o.status.success(), "walk-forward: {}", stderr(&o));
        stdout(&o)
    };
    let clean = dir.path().join("wf-clean");
    let text = wf(&feat, &clean, true);
    assert!(text.contains("out-of-sample PnL over 5 steps"), "{text}");
    let steps = batches(&clean.join("walk_forward.parquet"));
    let b = &steps[0];
    let test_from = ts_col(b, "test_from");
    assert_eq!(test_from.len(), 5);
    let last_read =
        b.column_by_name("fit_last_ts_ns").unwrap().as_any().downcast_ref::<arrow_array::Int64Array>().unwrap();
    for (i, &from) in test_from.iter().enumerate() {
        assert!(last_read.value(i) < from, "step {i} read a row at {} >= {from}", last_read.value(i));
    }
    let pnl = f64_col(b, "pnl");
    assert!(pnl.iter().all(|p| p.is_finite()));
    assert!(clean.join("pnl.svg").is_file() && clean.join("report.html").is_file());

    // Poison everything from the third step's test window on.
    let cut = test_from[2];
    let poisoned = dir.path().join("feat-poisoned");
    fs::create_dir(&poisoned).unwrap();
    for e in fs::read_dir(&feat).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, poisoned.join(p.file_name().unwrap())).unwrap();
    }
    poison_after(&poisoned, cut);
    let dirty = dir.path().join("wf-dirty");
    wf(&poisoned, &dirty, false);
    let model_of = |d: &Path, i: usize| fs::read(d.join(format!("models/step-{i:03}.json"))).unwrap();
    for i in 0..=2 {
        assert_eq!(model_of(&clean, i), model_of(&dirty, i), "step {i} trained before the cut but its model changed");
    }
    assert_ne!(model_of(&clean, 3), model_of(&dirty, 3), "step 3 trains on poisoned rows: the poison must show");
}

/// Each step's backtest replays only its warm-up and its test window (plus two equity samples):
/// with a warm-up reaching back past the tapes' start the results are the whole-tape results
/// (`--warmup all`, the previous behaviour) exactly; a short one starts the slice where asked.
#[test]
fn walk_forward_backtests_replay_only_the_warmup_and_the_test_window() {
    let dir = tempfile::tempdir().unwrap();
    let tapes_dir = dir.path().join("sample");
    let tapes = convert(&root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz"), &tapes_dir);
    let (feat, model) = features_and_model(&tapes, dir.path());
    let rf = run_file(dir.path(), &tapes_dir, &model, &dir.path().join("unused"), "");
    let wf = |warmup: &str| {
        let out = dir.path().join(format!("wf-{warmup}"));
        let o = run(&[
            "research",
            "clusterlob",
            "walk-forward",
            feat.to_str().unwrap(),
            "--train",
            "60s",
            "--test",
            "20s",
            "--bucket",
            "5s",
            "--run",
            rf.to_str().unwrap(),
            "--warmup",
            warmup,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "walk-forward --warmup {warmup}: {}", stderr(&o));
        out
    };
    let (all, day, short) = (wf("all"), wf("1d"), wf("10s"));
    assert_eq!(fs::read(all.join("pnl.parquet")).unwrap(), fs::read(day.join("pnl.parquet")).unwrap());
    let (a, d, s) = (
        &batches(&all.join("walk_forward.parquet"))[0],
        &batches(&day.join("walk_forward.parquet"))[0],
        &batches(&short.join("walk_forward.parquet"))[0],
    );
    for c in ["pnl", "fills", "orders", "maker_share"] {
        assert_eq!(f64_col(a, c), f64_col(d, c), "{c}: a warm-up past the tapes' start must change nothing");
    }
    let (test_from, test_to) = (ts_col(s, "test_from"), ts_col(s, "test_to"));
    assert_eq!(ts_col(s, "backtest_from"), test_from.iter().map(|t| t - 10_000_000_000).collect::<Vec<_>>());
    assert_eq!(ts_col(s, "backtest_to"), test_to.iter().map(|t| t + 2_000_000_000).collect::<Vec<_>>());
    let (ea, es) = (f64_col(a, "backtest_events"), f64_col(s, "backtest_events"));
    assert!(ea.iter().zip(&es).all(|(a, s)| s < a), "a 10 s warm-up replays fewer events: {es:?} vs {ea:?}");
    assert!(a.column_by_name("backtest_from").unwrap().is_null(0), "--warmup all starts at the tapes' start");
}
