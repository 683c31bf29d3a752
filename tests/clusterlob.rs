//! End-to-end tests of `ticktape research clusterlob` (features, train, ic) through the binary.

mod common;

use std::path::{Path, PathBuf};

use arrow_array::{Array, Float64Array, Int8Array, Int64Array, StringArray, UInt64Array};
use common::{assert_one_error_line, root, run, stderr, stdout};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ticktape_tape::{Level, Stamp, TapeMeta, TapeWriter, Trade, level_flags, side};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000_000;
const S: i64 = 1_000_000_000;

fn meta() -> TapeMeta {
    TapeMeta {
        symbol: "TEST".into(),
        venue: "hand".into(),
        price_exponent: -1,
        qty_exponent: -3,
        price_tick: 1,
        qty_lot: 1,
        ..TapeMeta::default()
    }
}

fn trade(ts: i64, side_code: u8, price: i64, qty: i64) -> Trade {
    Trade { ts: Stamp { exchange: ts, local: ts }, price, qty, side: side_code, ..Trade::default() }
}

/// A batch of (side, price, qty) level updates at `ts`; the last ends the batch.
fn batch(out: &mut Vec<Level>, ts: i64, levels: &[(u8, i64, i64)], snapshot: bool) {
    for (i, &(s, price, qty)) in levels.iter().enumerate() {
        let mut flags = 0;
        if snapshot {
            flags |= level_flags::SNAPSHOT;
            if i == 0 {
                flags |= level_flags::SNAPSHOT_START;
            }
        }
        if i + 1 == levels.len() {
            flags |= level_flags::BATCH_END;
        }
        out.push(Level { ts: Stamp { exchange: ts, local: ts }, price, qty, side: s, flags, ..Level::default() });
    }
}

fn write_tapes(dir: &Path, trades: &[Trade], levels: &[Level]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let m = meta();
    let tp = dir.join("hand.TEST.trades.tape");
    let mut w = TapeWriter::<Trade>::create(&tp, &m).unwrap();
    trades.iter().for_each(|t| w.push(t).unwrap());
    w.finish().unwrap();
    let lp = dir.join("hand.TEST.l2.tape");
    let mut w = TapeWriter::<Level>::create(&lp, &m).unwrap();
    levels.iter().for_each(|l| w.push(l).unwrap());
    w.finish().unwrap();
    vec![tp.to_str().unwrap().to_owned(), lp.to_str().unwrap().to_owned()]
}

fn read(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
}

fn f64s(path: &Path, col: &str) -> Vec<Option<f64>> {
    read(path)
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(col).unwrap_or_else(|| panic!("no column {col}"));
            let a = a.as_any().downcast_ref::<Float64Array>().unwrap().clone();
            (0..a.len()).map(move |i| (!a.is_null(i)).then(|| a.value(i)))
        })
        .collect()
}

fn strs(path: &Path, col: &str) -> Vec<String> {
    read(path)
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(col).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
            (0..a.len()).map(move |i| a.value(i).to_owned())
        })
        .collect()
}

fn ints(path: &Path, col: &str) -> Vec<i64> {
    read(path)
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(col).unwrap();
            let v: Vec<i64> = if let Some(a) = a.as_any().downcast_ref::<Int64Array>() {
                a.values().to_vec()
            } else if let Some(a) = a.as_any().downcast_ref::<UInt64Array>() {
                a.values().iter().map(|&v| v as i64).collect()
            } else {
                a.as_any().downcast_ref::<Int8Array>().unwrap().values().iter().map(|&v| v as i64).collect()
            };
            v
        })
        .collect()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "ticktape {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// The book of the hand-built tape and four trades whose features are worked out by hand below.
fn hand_tapes(dir: &Path) -> Vec<String> {
    use side::{BID, BUY, SELL};
    let ask = side::ASK;
    let mut l = Vec::new();
    // Bids 100.0 (1.0), 99.9 (2.0), 99.8 (4.0); asks 100.1 (0.5), 100.2 (1.5), 100.3 (3.0).
    batch(
        &mut l,
        T0,
        &[
            (BID, 1000, 1000),
            (BID, 999, 2000),
            (BID, 998, 4000),
            (ask, 1001, 500),
            (ask, 1002, 1500),
            (ask, 1003, 3000),
        ],
        true,
    );
    // Caused by the trade at the same instant: the replay puts the trade first, so it sees 0.5 at 100.1.
    batch(&mut l, T0 + S, &[(ask, 1001, 300)], false);
    // At 2 s the best ask goes: the mid moves.
    batch(&mut l, T0 + 2 * S, &[(ask, 1001, 0)], false);
    let t = vec![
        trade(T0 + S, BUY, 1001, 200),
        trade(T0 + 2 * S + S / 2, SELL, 1000, 600),
        trade(T0 + 4 * S, BUY, 1002, 400),
        // The next UTC day: a second feature file.
        trade(T0 + 86_400 * S + S, BUY, 1002, 400),
    ];
    write_tapes(dir, &t, &l)
}

#[test]
fn features_on_a_hand_built_tape_have_the_values_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = hand_tapes(&dir.path().join("tapes"));
    let feat = dir.path().join("feat");
    let mut args = vec!["research", "clusterlob", "features"];
    args.extend(tapes.iter().map(String::as_str));
    args.extend(["-o", feat.to_str().unwrap(), "--levels", "2", "--window", "3"]);
    let out = ok(&args);
    assert!(out.contains("4 trades -> 4 rows over 2 UTC days"), "{out}");
    let day1 = feat.join("features-2024-05-01.parquet");
    let day2 = feat.join("features-2024-05-02.parquet");
    // Exactly the columns, in order.
    let schema = read(&day1)[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "ts", "side", "price", "qty", "v_rel", "sbs", "obs", "spread", "t_m", "t_age", "z_v_rel", "z_sbs", "z_obs",
            "z_spread", "z_t_m", "z_t_age"
        ]
    );
    let col = |c: &str| -> Vec<f64> { f64s(&day1, c).into_iter().map(Option::unwrap).collect() };
    assert_eq!(ints(&day1, "side"), [1, -1, 1]);
    assert_eq!(col("price"), [100.1, 100.0, 100.2]);
    assert_eq!(col("qty"), [0.2, 0.6, 0.4]);
    // v_rel: q / mean of the last 3 sizes: 0.2/0.2, 0.6/0.4, 0.4/0.4.
    assert!(col("v_rel").iter().zip([1.0, 1.5, 1.0]).all(|(a, b)| close(*a, b)), "{:?}", col("v_rel"));
    // Top-2 depth: a buy rests on the bid (1 + 2) and hits the ask (0.5 + 1.5, before the trade's own
    // update); after the 100.1 ask is gone the ask side holds 1.5 + 3.
    assert!(col("sbs").iter().zip([3.0, 4.5, 3.0]).all(|(a, b)| close(*a, b)), "{:?}", col("sbs"));
    assert!(col("obs").iter().zip([2.0, 3.0, 4.5]).all(|(a, b)| close(*a, b)), "{:?}", col("obs"));
    assert_eq!(col("spread"), [0.1, 0.2, 0.2]);
    // t_m: the mid was set at 0 s and moved at 2 s.
    assert_eq!(col("t_m"), [1.0, 0.5, 2.0]);
    assert_eq!(col("t_age"), [0.0, 1.5, 1.5]);
    // Rolling z over 3 trades (sample std): t_age [0, 1.5, 1.5] -> the newest is 1/√3; a constant spread
    // window would be 0, here [0.1, 0.2, 0.2] -> 1/√3 too.
    let z = col("z_t_age");
    assert_eq!(z[0], 0.0);
    assert!(close(z[2], 1.0 / 3f64.sqrt()), "{z:?}");
    assert!(close(col("z_spread")[2], 1.0 / 3f64.sqrt()));
    // The windows run across the day boundary: the day-2 trade is 86,397 s after the previous one.
    assert_eq!(f64s(&day2, "t_age"), [Some(86_397.0)]);
    // Mids every second: 100.05 before 2 s, 100.1 from then on.
    let mids = f64s(&feat.join("mid-2024-05-01.parquet"), "mid");
    assert_eq!(mids[0], None, "no book before the first event");
    assert!(
        close(mids[1].unwrap(), 100.05) && close(mids[2].unwrap(), 100.05) && close(mids[3].unwrap(), 100.1),
        "{:?}",
        &mids[..4]
    );
}

#[test]
fn features_are_cached_and_recomputed_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = hand_tapes(&dir.path().join("tapes"));
    let feat = dir.path().join("feat");
    let f = feat.to_str().unwrap();
    let base: Vec<&str> =
        ["research", "clusterlob", "features"].into_iter().chain(tapes.iter().map(String::as_str)).collect();
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(["-o", f].iter()).chain(extra).map(|s| s.to_string()).collect()
    };
    let go = |extra: &[&str]| ok(&with(extra).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(go(&[]).contains("rows over"));
    assert!(go(&[]).contains("up to date"), "same tapes and parameters reuse the cache");
    assert!(go(&["--window", "50"]).contains("rows over"), "another window recomputes");
    assert!(go(&["--window", "50"]).contains("up to date"));
    // A changed tape (same name) makes the cache stale.
    let t = [trade(T0 + S, side::SELL, 1000, 100), trade(T0 + 3 * S, side::BUY, 1002, 100)];
    let m = meta();
    let mut w = TapeWriter::<Trade>::create(Path::new(&tapes[0]), &m).unwrap();
    t.iter().for_each(|r| w.push(r).unwrap());
    w.finish().unwrap();
    let out = go(&["--window", "50"]);
    assert!(out.contains("2 trades -> 2 rows"), "{out}");
    assert!(!feat.join("features-2024-05-02.parquet").exists(), "the rebuilt folder has no stale day files");
    // A folder that is not a feature folder is refused, not overwritten.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let mut a = base.clone();
    a.extend(["-o", other.to_str().unwrap()]);
    assert_one_error_line(&run(&a), &["not a feature folder"]);
    assert!(other.join("keep.txt").exists());
}

/// Buckets of 1 s; in each, five trades all on one random side d_t; the mid moves by d_t ticks
/// either inside the same bucket after its trades (`simultaneous`) or inside the next bucket.
fn flow_tapes(dir: &Path, n: i64, simultaneous: bool) -> Vec<String> {
    let mut state = 12345u64;
    let mut d = Vec::new();
    for _ in 0..n {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        d.push(if (state >> 33) & 1 == 1 { 1i64 } else { -1 });
    }
    let (mut trades, mut levels) = (Vec::new(), Vec::new());
    let mut mid = 10_000i64; // ticks; bid = mid − 1, ask = mid + 1
    batch(&mut levels, T0, &[(side::BID, mid - 1, 10_000), (side::ASK, mid + 1, 10_000)], true);
    for t in 0..n {
        let start = T0 + S + t * S;
        for j in 0..5 {
            let (s, px) = if d[t as usize] > 0 { (side::BUY, mid + 1) } else { (side::SELL, mid - 1) };
            trades.push(trade(start + 100_000_000 + j * 50_000_000, s, px, 100 + 37 * ((t + j) % 5)));
        }
        let step = if simultaneous { Some(d[t as usize]) } else { (t > 0).then(|| d[t as usize - 1]) };
        if let Some(step) = step {
            let new = mid + step;
            batch(
                &mut levels,
                start + 700_000_000,
                &[
                    (side::BID, mid - 1, 0),
                    (side::ASK, mid + 1, 0),
                    (side::BID, new - 1, 10_000),
                    (side::ASK, new + 1, 10_000),
                ],
                false,
            );
            mid = new;
        }
    }
    batch(&mut levels, T0 + (n + 2) * S, &[(side::BID, mid - 1, 10_000)], false);
    write_tapes(dir, &trades, &levels)
}

fn ic_of_aggregate(dir: &Path, simultaneous: bool) -> f64 {
    let tapes = flow_tapes(&dir.join("tapes"), 300, simultaneous);
    let feat = dir.join("feat");
    let mut a = vec!["research", "clusterlob", "features"];
    a.extend(tapes.iter().map(String::as_str));
    a.extend(["-o", feat.to_str().unwrap()]);
    ok(&a);
    let model = dir.join("model.json");
    ok(&["research", "clusterlob", "train", feat.to_str().unwrap(), "-o", model.to_str().unwrap(), "--n-init", "2"]);
    let out = dir.join("ic");
    ok(&[
        "research",
        "clusterlob",
        "ic",
        feat.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--bucket",
        "1s",
    ]);
    let t = out.join("ic.parquet");
    let (sample, cluster, weight, horizon, pearson) =
        (strs(&t, "sample"), ints(&t, "cluster"), strs(&t, "weight"), ints(&t, "horizon"), f64s(&t, "pearson"));
    let i = (0..sample.len())
        .find(|&i| sample[i] == "in" && cluster[i] == -1 && weight[i] == "size" && horizon[i] == 1)
        .expect("the aggregate row");
    eprintln!("aggregate IC (simultaneous = {simultaneous}): {:?}", pearson[i]);
    pearson[i].expect("an IC")
}

#[test]
fn ic_detects_a_planted_leading_signal() {
    let dir = tempfile::tempdir().unwrap();
    let ic = ic_of_aggregate(dir.path(), false);
    assert!(ic > 0.9, "flow that leads the next bucket's move: IC {ic}");
}

#[test]
fn ic_does_not_reward_flow_simultaneous_with_the_move() {
    // The seed's Experiment 5 trap: flow and move in the same bucket. Scored against the NEXT bucket's
    // return (which is unrelated), the IC must be near zero, not the ~1 a same-bucket target would give.
    let dir = tempfile::tempdir().unwrap();
    let ic = ic_of_aggregate(dir.path(), true);
    assert!(ic.abs() < 0.2, "simultaneous flow was rewarded: IC {ic}");
    // And the same-bucket correlation really is there (the trap is armed): OFI of bucket t against the
    // move from the end of t − 1 to the end of t.
    let b = dir.path().join("ic/buckets.parquet");
    let ofi = f64s(&b, "ofi_size_all");
    let ret = f64s(&b, "ret_1");
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for t in 1..ofi.len() {
        if let (Some(o), Some(r)) = (ofi[t], ret[t - 1]) {
            x.push(o);
            y.push(r);
        }
    }
    let same = ticktape_pearson(&x, &y);
    assert!(same > 0.9, "the planted same-bucket relation: {same}");
}

fn ticktape_pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn features_train_ic_end_to_end_on_the_shipped_sample() {
    let dir = tempfile::tempdir().unwrap();
    let capture = root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz");
    let sample = dir.path().join("sample");
    ok(&["convert", "binance-ws", capture.to_str().unwrap(), "-o", sample.to_str().unwrap()]);
    let mut tapes: Vec<PathBuf> = std::fs::read_dir(&sample)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tape"))
        .collect();
    tapes.sort();
    let feat = dir.path().join("feat");
    let mut a = vec!["research".to_owned(), "clusterlob".into(), "features".into()];
    a.extend(tapes.iter().map(|p| p.to_str().unwrap().to_owned()));
    a.extend(["-o".into(), feat.to_str().unwrap().into()]);
    let out = ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.contains("BTCUSDT@binance-futures"), "{out}");
    let model = dir.path().join("model.json");
    let out =
        ok(&["research", "clusterlob", "train", feat.to_str().unwrap(), "-o", model.to_str().unwrap(), "--seed", "3"]);
    // The seed's centroid table.
    for needle in ["cluster", "label", "count", "share", "z_sbs", "opportunistic", "toxic", "inertia"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    for key in [
        "centroids",
        "labels",
        "counts",
        "inertia",
        "features",
        "levels",
        "window",
        "k",
        "seed",
        "train_from",
        "train_to",
        "scaling",
        "signals",
        "version",
    ] {
        assert!(m.get(key).is_some(), "model lacks {key}");
    }
    assert_eq!(m["train_from"], "2024-08-08");
    let rows: u64 = m["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(feat.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(rows, manifest["rows"].as_u64().unwrap());
    // Same inputs and seed: the same model file, byte for byte.
    let model2 = dir.path().join("model2.json");
    ok(&["research", "clusterlob", "train", feat.to_str().unwrap(), "-o", model2.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(std::fs::read(&model).unwrap(), std::fs::read(&model2).unwrap());
    let ic = dir.path().join("ic");
    let out = ok(&[
        "research",
        "clusterlob",
        "ic",
        feat.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "-o",
        ic.to_str().unwrap(),
        "--bucket",
        "5s",
    ]);
    assert!(out.contains("all (benchmark)"), "{out}");
    let t = ic.join("ic.parquet");
    // 2 samples × (3 clusters + all) × 2 weightings × 3 horizons.
    assert_eq!(strs(&t, "sample").len(), 48);
    assert!(f64s(&t, "pearson").iter().flatten().all(|v| (-1.0..=1.0).contains(v)));
    for f in ["buckets.parquet", "report.html", "ic-in-size.svg", "ic-out-count.svg"] {
        assert!(ic.join(f).is_file(), "{f}");
    }
    // Errors are one line: a folder that is not a feature folder; a model of other feature parameters.
    assert_one_error_line(
        &run(&["research", "clusterlob", "train", sample.to_str().unwrap(), "-o", model.to_str().unwrap()]),
        &["no feature manifest", "clusterlob features"],
    );
    let mut other = m.clone();
    other["levels"] = 10.into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_string(&other).unwrap()).unwrap();
    assert_one_error_line(
        &run(&[
            "research",
            "clusterlob",
            "ic",
            feat.to_str().unwrap(),
            "--model",
            bad.to_str().unwrap(),
            "-o",
            dir.path().join("x").to_str().unwrap(),
        ]),
        &["--levels 10", "--levels 5"],
    );
    std::fs::write(&bad, "{").unwrap();
    assert_one_error_line(
        &run(&[
            "research",
            "clusterlob",
            "ic",
            feat.to_str().unwrap(),
            "--model",
            bad.to_str().unwrap(),
            "-o",
            dir.path().join("x").to_str().unwrap(),
        ]),
        &["bad.json", "line 1", "clusterlob train"],
    );
}
