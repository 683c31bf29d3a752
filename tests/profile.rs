//! End-to-end tests of `ticktape research profile` and `ticktape gen --fills`: tier 1 on real
//! Hyperliquid fills against numbers computed here from the JSON, the position-cycle cases
//! through the converter and the CLI, merging tapes, thread independence and errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use ticktape_tape::{Fill, TapeMeta, TapeWriter, side};

const ACCOUNT: &str = "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2";

fn read(path: &Path) -> RecordBatch {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = ParquetRecordBatchReaderBuilder::try_new(f).unwrap().with_batch_size(1 << 20).build().unwrap();
    let mut batches: Vec<RecordBatch> = r.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1, "{}: one batch per test table", path.display());
    batches.pop().unwrap()
}

fn strs(b: &RecordBatch, c: &str) -> Vec<String> {
    let a = b.column_by_name(c).unwrap_or_else(|| panic!("no column {c}"));
    (0..a.len()).map(|i| if a.is_null(i) { String::new() } else { a.as_string::<i32>().value(i).to_owned() }).collect()
}

fn f64s(b: &RecordBatch, c: &str) -> Vec<f64> {
    let a = b.column_by_name(c).unwrap_or_else(|| panic!("no column {c}"));
    (0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.as_primitive::<Float64Type>().value(i) }).collect()
}

fn u64s(b: &RecordBatch, c: &str) -> Vec<u64> {
    let a = b.column_by_name(c).unwrap_or_else(|| panic!("no column {c}"));
    (0..a.len()).map(|i| a.as_primitive::<UInt64Type>().value(i)).collect()
}

fn ts(b: &RecordBatch, c: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(c).unwrap_or_else(|| panic!("no column {c}"));
    (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.as_primitive::<TimestampNanosecondType>().value(i))).collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{what}: {a} != {b}");
}

fn convert(input: &Path, out: &Path, account: Option<&str>) {
    let mut args = vec!["convert", "hyperliquid", input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    if let Some(a) = account {
        args.extend(["--account", a]);
    }
    let o = run(&args);
    assert!(o.status.success(), "convert failed: {}", stderr(&o));
}

fn profile(inputs: &[&Path], out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["research", "profile"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend(extra);
    let o = run(&args);
    assert!(o.status.success(), "profile failed: {}", stderr(&o));
    stdout(&o)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_str().unwrap().parse().unwrap()
}

/// A decimal string as an integer number of 1e-8 steps (exact for the venue's sizes).
fn steps(s: &str) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let neg = int.starts_with('-');
    let int: i128 = int.trim_start_matches('-').parse().unwrap();
    let frac: i128 = format!("{frac:0<8}")[..8].parse().unwrap();
    let v = int * 100_000_000 + frac;
    if neg { -v } else { v }
}

/// Tier 1 computed here from the JSON fills (independently of the converter and the profiler).
struct Expected {
    trades: u64,
    volume: f64,
    realized: f64,
    fees: f64,
    taker: f64,
    win_rate: f64,
    coins: u64,
    first_ms: i64,
    last_ms: i64,
    flips: u64,
}

fn expected(fills: &[Value]) -> Expected {
    let n = fills.len() as f64;
    let closing = fills.iter().filter(|f| num(f, "closedPnl") != 0.0).count() as f64;
    let wins = fills.iter().filter(|f| num(f, "closedPnl") > 0.0).count() as f64;
    // A flip: the fill is against the position and larger than it.
    let flips = fills
        .iter()
        .filter(|f| {
            let (start, sz) = (steps(f["startPosition"].as_str().unwrap()), steps(f["sz"].as_str().unwrap()));
            let sell = f["side"] == "A";
            start != 0 && (start > 0) == sell && sz > start.abs()
        })
        .count() as u64;
    let times: Vec<i64> = fills.iter().map(|f| f["time"].as_i64().unwrap()).collect();
    Expected {
        trades: fills.len() as u64,
        volume: fills.iter().map(|f| num(f, "px") * num(f, "sz")).sum(),
        realized: fills.iter().map(|f| num(f, "closedPnl")).sum(),
        fees: fills.iter().map(|f| num(f, "fee")).sum(),
        taker: fills.iter().filter(|f| f["crossed"] == true).count() as f64 / n,
        win_rate: wins / closing,
        coins: fills.iter().map(|f| f["coin"].as_str().unwrap()).collect::<BTreeSet<_>>().len() as u64,
        first_ms: *times.iter().min().unwrap(),
        last_ms: *times.iter().max().unwrap(),
        flips,
    }
}

fn check_tier1(p: &RecordBatch, row: usize, e: &Expected) {
    assert_eq!(u64s(p, "trades")[row], e.trades);
    close(f64s(p, "volume")[row], e.volume, "volume");
    close(f64s(p, "realized_pnl")[row], e.realized, "realized_pnl");
    close(f64s(p, "fees")[row], e.fees, "fees");
    close(f64s(p, "net_pnl")[row], e.realized - e.fees, "net_pnl");
    close(f64s(p, "taker_share")[row], e.taker, "taker_share");
    close(f64s(p, "maker_share")[row], 1.0 - e.taker, "maker_share");
    close(f64s(p, "win_rate")[row], e.win_rate, "win_rate");
    close(f64s(p, "mtm_tv")[row], e.realized / e.volume, "mtm_tv");
    assert_eq!(u64s(p, "unique_coins")[row], e.coins);
    assert_eq!(ts(p, "first_trade")[row], Some(e.first_ms * 1_000_000));
    assert_eq!(ts(p, "last_trade")[row], Some(e.last_ms * 1_000_000));
    assert_eq!(u64s(p, "flips")[row], e.flips);
    assert_eq!(u64s(p, "liquidation_fills")[row], 0);
    assert_eq!(u64s(p, "twap_fills")[row], 0);
}

/// The cycles of one coin, as (side, start, end, fills, adds, partial_closes, max_size, pnl).
type CycleRow = (String, String, String, u64, u64, u64, f64, f64);

fn cycles_of(c: &RecordBatch, coin: &str) -> Vec<CycleRow> {
    let coins = strs(c, "coin");
    let (side, start, end) = (strs(c, "side"), strs(c, "start"), strs(c, "end"));
    let (fills, adds, partial) = (u64s(c, "fills"), u64s(c, "adds"), u64s(c, "partial_closes"));
    let (max, pnl) = (f64s(c, "max_size"), f64s(c, "pnl"));
    (0..coins.len())
        .filter(|&i| coins[i] == coin)
        .map(|i| {
            let r = |x: f64| (x * 1e9).round() / 1e9;
            (side[i].clone(), start[i].clone(), end[i].clone(), fills[i], adds[i], partial[i], r(max[i]), r(pnl[i]))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn row(side: &str, start: &str, end: &str, fills: u64, adds: u64, partial: u64, max: f64, pnl: f64) -> CycleRow {
    (side.into(), start.into(), end.into(), fills, adds, partial, max, pnl)
}

#[test]
fn tier1_matches_the_committed_hyperliquid_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let input = root().join("data-tools/tests/data/hl_sdk_userFills_0xb7b6f3ce_first40.json");
    let fills: Vec<Value> = serde_json::from_str(&fs::read_to_string(&input).unwrap()).unwrap();
    convert(&input, &dir.path().join("t"), Some(ACCOUNT));
    profile(&[&dir.path().join("t")], &dir.path().join("p"), &[]);
    let p = read(&dir.path().join("p/profiles.parquet"));
    assert_eq!(p.num_rows(), 1);
    // Named from the accounts CSV the converter wrote beside the tape.
    assert_eq!(strs(&p, "account"), [ACCOUNT]);
    check_tier1(&p, 0, &expected(&fills));
}

#[test]
fn tier1_and_cycles_match_the_real_hyperliquid_fills() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = real.join("hyperliquid/hl_sdk_userFills_0xb7b6f3ce.json");
    let fills: Vec<Value> = serde_json::from_str(&fs::read_to_string(&input).unwrap()).unwrap();
    convert(&input, &dir.path().join("t"), Some(ACCOUNT));
    // The liquidation sample is another account (the liquidator), converted into its own folder.
    let liq_account = "0x1111111111111111111111111111111111111111";
    let liq = real.join("hyperliquid/hl_nautilus_ws_user_fill_liquidation.json");
    convert(&liq, &dir.path().join("l"), Some(liq_account));
    let out = profile(&[&dir.path().join("t"), &dir.path().join("l")], &dir.path().join("p"), &[]);
    assert!(out.contains("Trader type distribution (2 accounts, 501 fills)"), "{out}");
    assert!(out.contains("LIQUIDATOR"), "{out}");
    let p = read(&dir.path().join("p/profiles.parquet"));
    // Accounts in id order: 0x1111… before 0xb7b6….
    assert_eq!(strs(&p, "account"), [liq_account, ACCOUNT]);
    let e = expected(&fills);
    // Computed with Python's Decimal from the JSON when this test was written, as a cross-check of
    // `expected`: 500 fills, 15 coins, Σ px·sz = 229031.0903280, Σ closedPnl = -152.586132,
    // fees 0, 239 crossed, 123 winning of 282 closing fills; 13 + 9 flip fills (dir
    // "Short > Long" / "Long > Short").
    assert_eq!((e.trades, e.coins, e.flips), (500, 15, 22));
    close(e.volume, 229_031.090_328, "volume by hand");
    close(e.realized, -152.586_132, "pnl by hand");
    close(e.win_rate, 123.0 / 282.0, "win rate by hand");
    check_tier1(&p, 1, &e);
    assert_eq!(strs(&p, "class")[1], "RETAIL");
    // The liquidator: one fill with a liquidation object whose liquidatedUser is someone else.
    assert_eq!(u64s(&p, "liquidation_fills")[0], 1);
    assert_eq!(u64s(&p, "liquidated_fills")[0], 0);
    close(f64s(&p, "liquidation_share")[0], 1.0, "liquidation share");
    assert_eq!(strs(&p, "class")[0], "LIQUIDATOR");
    let l = read(&dir.path().join("p/liquidations.parquet"));
    assert_eq!(strs(&l, "group"), ["liquidator", "coin"]);
    assert_eq!(strs(&l, "name"), [liq_account, "BTC"]);
    close(f64s(&l, "notional")[0], 66_653.0 * 0.001, "liquidation notional");

    // Cycles by hand. APE, in time order (side, sz, startPosition, closedPnl):
    //   A 37.0 @-28.0 (first fill already short 28: a `before` cycle; adds to 65.0)
    //   B 43.8 @-65.0 +0.068328 (partial, 21.2 left)   A 41.2 @-21.2 (add)   A 47.5 @-62.4 (add, 109.9)
    //   B 39.3 @-109.9 -0.036156 (partial)   B 33.5 @-70.6 -0.00938 (partial)
    //   B 37.9 @-37.1 -0.011501 ("Short > Long": closes 37.1, opens a 0.8 long)
    //   A 0.8 @0.8 -0.00464 (closes the long)
    // so: a short of 7 fills, 3 adds, 3 partial closes, max 109.9, PnL 0.068328 - 0.036156 -
    // 0.00938 - 0.011501 = 0.011291, ended by a flip; then a long of 2 fills, max 0.8, PnL -0.00464.
    let c = read(&dir.path().join("p/cycles.parquet"));
    assert_eq!(
        cycles_of(&c, "APE"),
        [
            row("short", "before", "flip", 7, 3, 3, 109.9, 0.011291),
            row("long", "open", "close", 2, 0, 0, 0.8, -0.00464)
        ]
    );
    // BNB: B 0.51 @0.522 (before, add: 1.032), A 0.247 +0.022477, A 0.544 -0.025024, A 0.241
    // -0.045067 (the last two in the same millisecond): one long, 4 fills, 1 add, 2 partial
    // closes, PnL -0.047614.
    assert_eq!(cycles_of(&c, "BNB"), [row("long", "before", "close", 4, 1, 2, 1.032, -0.047614)]);
    // Every fill's PnL and fee lands in exactly one cycle.
    let accts = strs(&c, "account");
    let pnl: f64 = (0..c.num_rows()).filter(|&i| accts[i] == ACCOUNT).map(|i| f64s(&c, "pnl")[i]).sum();
    close(pnl, e.realized, "Σ cycle pnl");
    // The 500 fills are a window of the account's history with fills missing in between (their
    // startPosition does not follow the previous fill of the coin): counted as gaps.
    assert!(u64s(&p, "gaps")[1] > 0);
    let d = read(&dir.path().join("p/daily.parquet"));
    assert_eq!(d.num_rows(), 2);
    assert_eq!(u64s(&d, "trades"), [1, 500]);
}

/// Synthetic userFills (newest first, as the API returns them) covering every cycle case.
fn cycle_cases() -> Vec<Value> {
    // (coin, time s, side, sz, startPosition, closedPnl, dir)
    let rows = [
        // Open then close.
        ("AAA", 1, "B", "1", "0", "0", "Open Long"),
        ("AAA", 2, "A", "1", "1", "0.5", "Close Long"),
        // Adds and partial closes of a short.
        ("BBB", 1, "A", "1", "0", "0", "Open Short"),
        ("BBB", 2, "A", "2", "-1", "0", "Open Short"),
        ("BBB", 3, "B", "1", "-3", "-0.2", "Close Short"),
        ("BBB", 4, "B", "2", "-2", "0.6", "Close Short"),
        // A flip: long 2, sell 5 (closes 2, opens a short of 3), buy 3.
        ("CCC", 1, "B", "2", "0", "0", "Open Long"),
        ("CCC", 2, "A", "5", "2", "1", "Long > Short"),
        ("CCC", 5, "B", "3", "-3", "-0.3", "Close Short"),
        // A gap: long 2, then a fill that says the position was 5.
        ("DDD", 1, "B", "2", "0", "0", "Open Long"),
        ("DDD", 3, "A", "5", "5", "2", "Close Long"),
        // The first fill finds a short of 4 already held.
        ("EEE", 1, "B", "1", "-4", "0.1", "Close Short"),
        ("EEE", 2, "B", "3", "-3", "0.2", "Close Short"),
    ];
    let mut v: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (coin, t, side, sz, start, pnl, dir))| {
            serde_json::json!({
                "coin": coin, "px": "10.0", "sz": sz, "side": side, "time": 1_700_000_000_000i64 + t * 1000,
                "startPosition": start, "dir": dir, "closedPnl": pnl, "hash": format!("0x{i:064x}"),
                "oid": 1000 + i, "crossed": i % 2 == 0, "fee": "0.01",
            })
        })
        .collect();
    v.sort_by_key(|f| std::cmp::Reverse(f["time"].as_i64().unwrap()));
    v
}

#[test]
fn cycles_cover_opens_adds_partial_closes_flips_gaps_and_mid_position_starts() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("userFills.json");
    fs::write(&input, serde_json::to_string(&cycle_cases()).unwrap()).unwrap();
    convert(&input, &dir.path().join("t"), Some(ACCOUNT));
    profile(&[&dir.path().join("t")], &dir.path().join("p"), &[]);
    let c = read(&dir.path().join("p/cycles.parquet"));
    assert_eq!(cycles_of(&c, "AAA"), [row("long", "open", "close", 2, 0, 0, 1.0, 0.5)]);
    assert_eq!(cycles_of(&c, "BBB"), [row("short", "open", "close", 4, 1, 1, 3.0, 0.4)]);
    assert_eq!(
        cycles_of(&c, "CCC"),
        [row("long", "open", "flip", 2, 0, 0, 2.0, 1.0), row("short", "open", "close", 2, 0, 0, 3.0, -0.3)]
    );
    assert_eq!(
        cycles_of(&c, "DDD"),
        [row("long", "open", "gap", 1, 0, 0, 2.0, 0.0), row("long", "resync", "close", 1, 0, 0, 5.0, 2.0)]
    );
    assert_eq!(cycles_of(&c, "EEE"), [row("short", "before", "close", 2, 0, 1, 4.0, 0.3)]);
    // Holding periods of closed cycles: AAA 1 s, BBB 3 s, CCC 1 s and 3 s; none for the gap.
    let coins = strs(&c, "coin");
    let hold = f64s(&c, "holding_hours");
    let h: BTreeMap<(String, usize), f64> = (0..coins.len())
        .filter(|&i| hold[i].is_finite())
        .enumerate()
        .map(|(k, i)| ((coins[i].clone(), k), hold[i] * 3600.0))
        .collect();
    let secs: Vec<(String, i64)> = h.iter().map(|((c, _), s)| (c.clone(), s.round() as i64)).collect();
    assert!(secs.contains(&("AAA".into(), 1)) && secs.contains(&("BBB".into(), 3)), "{secs:?}");
    assert!(secs.contains(&("CCC".into(), 1)) && secs.contains(&("CCC".into(), 3)), "{secs:?}");
    // The flip's fee (0.01 for 5) is split 2:3 between its two cycles.
    let fees = f64s(&c, "fees");
    let ccc: Vec<f64> = (0..coins.len()).filter(|&i| coins[i] == "CCC").map(|i| fees[i]).collect();
    close(ccc[0], 0.01 + 0.004, "flip fee, closing part");
    close(ccc[1], 0.006 + 0.01, "flip fee, opening part");
    let p = read(&dir.path().join("p/profiles.parquet"));
    assert_eq!(
        (u64s(&p, "gaps")[0], u64s(&p, "flips")[0], u64s(&p, "cycles_closed")[0], u64s(&p, "cycles_open")[0]),
        (1, 1, 6, 0)
    );
    assert_eq!((u64s(&p, "adds")[0], u64s(&p, "partial_closes")[0]), (1, 2));
    // Mean hold over the closed cycles whose opening was seen: AAA 1, BBB 3, CCC 1 and 3 s.
    close(f64s(&p, "avg_hold_hours")[0], 2.0 / 3600.0, "avg hold");

    // The same fills split over two files (converted into two folders) give the same tables:
    // tapes are merged by time.
    let (early, late): (Vec<Value>, Vec<Value>) =
        cycle_cases().into_iter().partition(|f| f["time"].as_i64().unwrap() <= 1_700_000_002_000);
    for (name, part) in [("a", early), ("b", late)] {
        let f = dir.path().join(format!("{name}.json"));
        fs::write(&f, serde_json::to_string(&part).unwrap()).unwrap();
        convert(&f, &dir.path().join(name), Some(ACCOUNT));
    }
    profile(&[&dir.path().join("b"), &dir.path().join("a")], &dir.path().join("q"), &[]);
    for t in ["profiles", "cycles", "daily", "liquidations"] {
        let a = fs::read(dir.path().join(format!("p/{t}.parquet"))).unwrap();
        let b = fs::read(dir.path().join(format!("q/{t}.parquet"))).unwrap();
        assert!(a == b, "{t}.parquet differs between one tape and two");
    }
}

fn folder(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn generated_fills_profile_identically_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g");
    let o = run(&[
        "gen",
        "--out",
        g.to_str().unwrap(),
        "--fills",
        "40k",
        "--accounts",
        "400",
        "--days",
        "5",
        "--seed",
        "9",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tape: PathBuf = g.join("synthetic.all.fills.tape");
    let first = fs::read(&tape).unwrap();
    let o = run(&[
        "gen",
        "--out",
        g.to_str().unwrap(),
        "--fills",
        "40k",
        "--accounts",
        "400",
        "--days",
        "5",
        "--seed",
        "9",
    ]);
    assert!(o.status.success());
    assert!(first == fs::read(&tape).unwrap(), "gen --fills is deterministic");
    let out1 = profile(&[&g], &dir.path().join("p1"), &["--threads", "1"]);
    let out2 = profile(&[&tape], &dir.path().join("p2"), &["--threads", "2"]);
    assert!(folder(&dir.path().join("p1")) == folder(&dir.path().join("p2")), "outputs depend on --threads");
    let strip = |s: &str| {
        s.lines().filter(|l| !l.starts_with("profiled") && !l.starts_with("wrote")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(strip(&out1), strip(&out2));
    let p = read(&dir.path().join("p1/profiles.parquet"));
    // Every kind of account shows up, and the data has every cycle case but gaps.
    let classes: BTreeSet<String> = strs(&p, "class").into_iter().collect();
    for c in ["LIQUIDATOR", "HFT", "RETAIL", "BASIS"] {
        assert!(classes.contains(c), "no {c} in {classes:?}");
    }
    let sum = |c: &str| u64s(&p, c).iter().sum::<u64>();
    assert_eq!(sum("trades"), 40_000);
    assert!(sum("flips") > 0 && sum("partial_closes") > 0 && sum("adds") > 0 && sum("twap_fills") > 0);
    assert!(sum("liquidated_fills") > 0);
    assert_eq!(sum("gaps"), 0, "generated start positions follow the fills");
    // Names come from synthetic.accounts.csv (40 hex digits).
    assert!(strs(&p, "account").iter().all(|a| a.len() == 42 && a.starts_with("0x")));
}

#[test]
fn rules_can_be_printed_and_changed() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["research", "profile", "--print-rules"]);
    assert!(o.status.success());
    let rules = stdout(&o);
    assert!(rules.contains("min_liquidation_share = 0.2") && rules.contains("missing_hold_hours = 999.0"));
    let input = dir.path().join("userFills.json");
    fs::write(&input, serde_json::to_string(&cycle_cases()).unwrap()).unwrap();
    convert(&input, &dir.path().join("t"), Some(ACCOUNT));
    let file = dir.path().join("rules.toml");
    fs::write(&file, &rules).unwrap();
    profile(&[&dir.path().join("t")], &dir.path().join("p"), &["--rules", file.to_str().unwrap()]);
    // Mean hold 2 s, maker share 6/13 < 0.7: RETAIL by default; BASIS with a 1-second threshold.
    assert_eq!(strs(&read(&dir.path().join("p/profiles.parquet")), "class"), ["RETAIL"]);
    fs::write(&file, rules.replace("min_avg_hold_hours = 24.0", "min_avg_hold_hours = 0.0002")).unwrap();
    profile(&[&dir.path().join("t")], &dir.path().join("q"), &["--rules", file.to_str().unwrap()]);
    assert_eq!(strs(&read(&dir.path().join("q/profiles.parquet")), "class"), ["BASIS"]);
    // A misspelt key: one line naming the file and the line.
    fs::write(&file, rules.replace("min_sharpe", "min_sharp")).unwrap();
    let o = run(&[
        "research",
        "profile",
        dir.path().join("t").to_str().unwrap(),
        "-o",
        dir.path().join("r").to_str().unwrap(),
        "--rules",
        file.to_str().unwrap(),
    ]);
    assert_one_error_line(&o, &["rules.toml", "line 19", "min_sharp", "--print-rules"]);
}

#[test]
fn a_market_tape_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = gen_tapes(&dir.path().join("m"), "5000", "BTCUSDT");
    let o = run(&["research", "profile", tapes[0].to_str().unwrap(), "-o", dir.path().join("p").to_str().unwrap()]);
    assert_one_error_line(&o, &[tapes[0].file_name().unwrap().to_str().unwrap(), "fills tapes"]);
    let o = run(&["research", "profile", dir.path().join("none.tape").to_str().unwrap(), "-o", "x"]);
    assert_one_error_line(&o, &["none.tape"]);
    // A fill that breaks the record rules (size 0): the file, record and byte offset, no output.
    let meta = TapeMeta {
        symbol: "x".into(),
        venue: "t".into(),
        price_exponent: -2,
        qty_exponent: -2,
        value_exponent: -2,
        ..TapeMeta::default()
    };
    let bad = dir.path().join("bad.fills.tape");
    let mut w = TapeWriter::<Fill>::create(&bad, &meta).unwrap();
    let ok = Fill { side: side::BUY, qty: 5, price: 100, ..Fill::default() };
    w.push(&ok).unwrap();
    w.push(&Fill { qty: 0, ..ok }).unwrap();
    w.finish().unwrap();
    let out = dir.path().join("pb");
    let o = run(&["research", "profile", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["bad.fills.tape", "record 1", "quantity is not positive"]);
    assert!(!out.exists());
}
