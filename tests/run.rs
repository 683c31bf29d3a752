//! End-to-end backtests through `ticktape run`: the shipped real sample
//! (converted from the raw Binance capture), determinism, results that
//! Python opens, and the full real capture when `../shared` is present.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// Converts the shipped two-minute Binance capture into `dir`.
fn shipped_sample(dir: &Path) -> Vec<PathBuf> {
    let capture = root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz");
    let o = run(&["convert", "binance-ws", capture.to_str().unwrap(), "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut t: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    t.sort();
    assert_eq!(t.len(), 3, "l2, quotes and trades tapes: {t:?}");
    t
}

/// A run file like engine/cli/examples/demo/run.toml, pointing at test paths.
fn run_file(dir: &Path, tapes: &Path, out: &Path) -> PathBuf {
    let text = format!(
        r#"tapes = ["{tapes}/*.tape"]
strategy = "{plugin}"
out = "{out}"
[strategy_config]
half_spread_ticks = 1
max_position_lots = 20
{SIM_KEYS}
"#,
        tapes = tapes.display(),
        plugin = plugin("ticktape_template").display(),
        out = out.display()
    );
    let p = dir.join("run.toml");
    fs::write(&p, text).unwrap();
    p
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap()
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn backtest_of_the_shipped_real_sample_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = dir.path().join("tapes");
    shipped_sample(&tapes);
    let mut outputs = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("out{i}"));
        let rf = run_file(dir.path(), &tapes, &out);
        let o = run(&["run", rf.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let s = summary(&out);
        // Every record of the three tapes is processed (l2 + quotes + trades).
        assert_eq!(s["events"], 151_807 + 23_053 + 4_565);
        assert!(s["orders"].as_u64().unwrap() > 100, "{s}");
        assert!(s["fills"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["maker_share"], 1.0, "post-only quotes only fill as maker");
        assert!(s["error"].is_null());
        outputs.push(all_files(&out));
    }
    assert_eq!(outputs[0], outputs[1], "two runs of the same inputs differ");
}

#[test]
fn results_open_in_pyarrow_pandas_and_polars() {
    let python = std::env::var("TICKTAPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python).args(["-c", "import pyarrow"]).output();
    let available = probe.as_ref().is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("TICKTAPE_REQUIRE_PYTHON").is_none(),
            "TICKTAPE_REQUIRE_PYTHON is set but {python} cannot import pyarrow"
        );
        skip(&format!("{python} cannot import pyarrow (CI installs it; set TICKTAPE_PYTHON to a Python that has it)"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tapes = dir.path().join("tapes");
    shipped_sample(&tapes);
    let out = dir.path().join("out");
    let rf = run_file(dir.path(), &tapes, &out);
    assert!(run(&["run", rf.to_str().unwrap()]).status.success());
    let script = r#"
import json, sys
import pyarrow.parquet as pq
d = sys.argv[1]
rows = {n: pq.read_table(f"{d}/{n}.parquet").num_rows for n in ["fills", "orders", "equity", "inventory"]}
fills = pq.read_table(f"{d}/fills.parquet")
assert str(fills.schema.field("ts").type) == "timestamp[ns, tz=UTC]", fills.schema
try:
    import pandas as pd
    df = pd.read_parquet(f"{d}/fills.parquet")
    rows["pandas_fills"] = len(df)
    rows["pandas_ts"] = str(df["ts"].dtype)
except ImportError:
    pass
try:
    import polars as pl
    rows["polars_equity"] = pl.read_parquet(f"{d}/equity.parquet").height
except ImportError:
    pass
print(json.dumps(rows))
"#;
    let o = std::process::Command::new(&python).args(["-c", script, out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = summary(&out);
    assert_eq!(rows["fills"], s["fills"]);
    assert_eq!(rows["orders"], s["orders"]);
    assert!(rows["equity"].as_u64().unwrap() >= 124, "one sample per second over ~125 s: {rows}");
    assert_eq!(rows["inventory"], rows["equity"]);
    if !rows["pandas_fills"].is_null() {
        assert_eq!(rows["pandas_fills"], s["fills"]);
        assert_eq!(rows["pandas_ts"], "datetime64[ns, UTC]");
    }
    if !rows["polars_equity"].is_null() {
        assert_eq!(rows["polars_equity"], rows["equity"]);
    }
}

#[test]
fn backtest_of_the_full_real_capture() {
    let Some(real) = real_data() else {
        skip("../shared/data/real not found (the shipped two-minute sample is tested instead)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tapes = dir.path().join("tapes");
    let capture = real.join("hftbacktest/usdm_btcusdt_20240808.gz");
    let o = run(&["convert", "binance-ws", capture.to_str().unwrap(), "-o", tapes.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    let rf = run_file(dir.path(), &tapes, &out);
    let o = run(&["run", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["events"], 445_262 + 66_089 + 21_313);
    assert!(s["duration_s"].as_f64().unwrap() > 340.0, "{s}");
    assert!(s["fills"].as_u64().unwrap() > 0);
}

#[test]
fn run_file_errors_name_the_file_and_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = dir.path().join("tapes");
    gen_tapes(&tapes, "5k", "BTCUSDT");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    };
    let plugin = plugin("ticktape_template");
    let base = format!("tapes = [\"tapes/*.tape\"]\nstrategy = \"{}\"\n", plugin.display());

    let f = write("typo.toml", &format!("{base}[latency]\nentry = \"1ms\"\nresponce = \"1ms\"\n"));
    assert_one_error_line(&run(&["run", f.to_str().unwrap()]), &["typo.toml", "line 5", "unknown field `responce`"]);

    let f = write("glob.toml", &format!("tapes = [\"nothing/*.tape\"]\nstrategy = \"{}\"\n", plugin.display()));
    assert_one_error_line(&run(&["run", f.to_str().unwrap()]), &["matches no file"]);

    let f = write("latency.toml", &format!("{base}[latency]\nentry = \"lognormal(2ms)\"\n"));
    assert_one_error_line(
        &run(&["run", f.to_str().unwrap()]),
        &["[latency] entry", "lognormal needs a median and a sigma"],
    );

    let f = write("local.toml", &format!("{base}[latency]\nentry = \"local\"\n"));
    assert_one_error_line(&run(&["run", f.to_str().unwrap()]), &["entry latency cannot be `local`"]);

    let f = write("nostrategy.toml", "tapes = [\"tapes/*.tape\"]\n");
    assert_one_error_line(&run(&["run", f.to_str().unwrap()]), &["no strategy", "--strategy"]);
}

/// Runs the hostile fixture in `mode` at event `at` over synthetic tapes
/// into `out` (after filling `out` with a stale file), with `extra` flags.
fn hostile_run(dir: &Path, mode: &str, at: u64, extra: &[&str]) -> (std::process::Output, PathBuf) {
    hostile_run_with(dir, &format!("mode = \"{mode}\"\nat_event = {at}\n"), extra)
}

/// [`hostile_run`] with the fixture's whole configuration (TOML) given.
fn hostile_run_with(dir: &Path, config: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let tapes = gen_tapes(&dir.join("tapes"), "300000", "BTCUSDT");
    let cfg = dir.join("hostile.toml");
    fs::write(&cfg, config).unwrap();
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("fills.parquet"), b"stale results of an earlier run").unwrap();
    let plugin = plugin("ticktape_fixture_hostile");
    let mut args = vec!["run", "--strategy", plugin.to_str().unwrap(), "--config", cfg.to_str().unwrap()];
    args.push("--tape");
    for t in &tapes {
        args.push(t.to_str().unwrap());
    }
    args.extend(["--out", out.to_str().unwrap(), "--force"]);
    args.extend(extra);
    (run(&args), out)
}

/// A crash: one error line naming `needle`, status 1, and `out` holding only
/// the new summary.json (with the error and provenance), no stale file.
fn assert_contained(o: &std::process::Output, out: &Path, needle: &str) {
    assert_one_error_line(o, &[needle]);
    let s = summary(out);
    assert!(s["error"].as_str().unwrap().contains(needle), "{s}");
    assert_eq!(s["complete"], false);
    assert!(s["provenance"]["tapes"][0]["xxh3_128"].as_str().is_some_and(|h| h.len() == 32), "{s}");
    assert!(!out.join("fills.parquet").exists(), "stale fills.parquet survived");
    let leftovers: Vec<_> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary folders left: {leftovers:?}");
}

#[test]
fn plugin_abort_is_reported_with_its_signal() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "abort", 1000, &[]);
    assert_contained(&o, &out, "SIGABRT");
    // Regression: a crash before the first progress report (about a second
    // in) used to name no event time at all. The error names the market
    // event the child was at: the plugin aborts on its 1000th event, which
    // it receives after a feed latency, so the market is a little further.
    let s = summary(&out);
    let n = s["events_at_least"].as_u64().unwrap_or_else(|| panic!("{s}"));
    assert!((1000..3000).contains(&n), "{s}");
    let at = s["last_event_at"].as_str().unwrap_or_else(|| panic!("{s}"));
    assert!(at.starts_with("2024-05-01T"), "{s}");
    let err = stderr(&o);
    assert!(err.contains("at market event") && err.contains(&format!("exchange time {at}")), "{err}");
}

/// The non-null values of the timestamp column `col` of a Parquet file, ns.
fn parquet_times(path: &Path, col: &str) -> Vec<i64> {
    use arrow_array::Array;
    let f = fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut v = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let a = b.column_by_name(col).unwrap_or_else(|| panic!("{} has no column {col}", path.display()));
        let a = a.as_any().downcast_ref::<arrow_array::TimestampNanosecondArray>().unwrap();
        v.extend((0..a.len()).filter(|&i| a.is_valid(i)).map(|i| a.value(i)));
    }
    v
}

/// Regression (issue 15): a crash used to lose every table simulated
/// before it. A crash after a checkpoint keeps the results up to the last
/// checkpoint: tables whose rows end at or before its time, and
/// summary.json with the error, the checkpoint time and provenance.
#[test]
fn crash_after_a_checkpoint_keeps_the_results_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run_with(
        dir.path(),
        "mode = \"slow-abort\"\nat_event = 1\nafter_secs = 4.0\nmin_events = 140000\n",
        &[],
    );
    assert_one_error_line(&o, &["SIGABRT", "results up to", "last checkpoint", "at market event", "exchange time"]);
    let s = summary(&out);
    assert!(s["error"].as_str().unwrap().contains("SIGABRT"), "{s}");
    assert_eq!(s["complete"], false);
    let at = s["checkpoint_at_ns"].as_i64().unwrap_or_else(|| panic!("no checkpoint_at_ns: {s}"));
    assert!(s["checkpoint_at"].as_str().is_some_and(|t| stderr(&o).contains(t)), "{s}");
    assert!(s["events"].as_u64().unwrap() >= 65_535, "{s}");
    assert!(s["events_at_least"].as_u64().unwrap() >= s["events"].as_u64().unwrap(), "{s}");
    // The crash's event time is the one the child reached, later than the checkpoint's.
    assert!(s["last_event_at_ns"].as_i64().unwrap() >= s["checkpoint_at_ns"].as_i64().unwrap(), "{s}");
    assert!(s["last_event_at"].as_str().is_some_and(|t| stderr(&o).contains(t)), "{s}");
    assert!(s["provenance"]["tapes"][0]["xxh3_128"].as_str().is_some_and(|h| h.len() == 32), "{s}");
    assert_eq!(s["provenance"]["plugin"]["name"], "ticktape-fixture-hostile", "{s}");
    let equity = parquet_times(&out.join("equity.parquet"), "ts");
    assert_eq!(equity.last(), Some(&at), "equity ends with a sample at the checkpoint");
    assert!(equity.len() > 1 && equity.iter().all(|&t| t <= at));
    let submitted = parquet_times(&out.join("orders.parquet"), "submit_ts");
    assert!(!submitted.is_empty(), "the fixture's orders were kept");
    for col in ["submit_ts", "done_ts"] {
        assert!(parquet_times(&out.join("orders.parquet"), col).iter().all(|&t| t <= at), "{col} after {at}");
    }
    assert!(parquet_times(&out.join("fills.parquet"), "ts").iter().all(|&t| t <= at));
    assert!(parquet_times(&out.join("inventory.parquet"), "ts").iter().all(|&t| t <= at));
    assert!(out.join("strategy.log").is_file());
    let names: Vec<String> =
        fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(!names.iter().any(|n| n.starts_with("checkpoint") || n.starts_with('.')), "leftovers: {names:?}");
}

#[test]
fn plugin_segfault_is_reported_with_its_signal() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "segfault", 1000, &[]);
    assert_contained(&o, &out, "SIGSEGV");
}

#[test]
fn plugin_exit_zero_is_an_error_not_a_success() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "exit0", 1000, &[]);
    assert_contained(&o, &out, "exit status 0");
}

#[test]
fn plugin_hang_is_stopped_by_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "hang", 1000, &["--time-limit", "2s"]);
    assert_contained(&o, &out, "--time-limit");
}

#[test]
fn plugin_out_of_memory_is_reported_under_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "oom", 1000, &["--memory-limit", "400MB"]);
    assert_contained(&o, &out, "out of memory");
}

#[test]
fn sigint_to_ticktape_stops_the_backtest_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = gen_tapes(&dir.path().join("tapes"), "100000", "BTCUSDT");
    let cfg = dir.path().join("hostile.toml");
    fs::write(&cfg, "mode = \"hang\"\nat_event = 10\n").unwrap();
    let out = dir.path().join("out");
    let child = ticktape()
        .args(["run", "--strategy", plugin("ticktape_fixture_hostile").to_str().unwrap()])
        .args(["--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--tape"])
        .args(&tapes)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_one_error_line(&o, &["interrupted"]);
    assert!(summary(&out)["error"].as_str().unwrap().contains("interrupted"));
}

/// Regression (issue 15): market buys of `i64::MAX` used to end with a
/// position of -6.9e15 and an equity of -2.1e33, `"error": null`. They are
/// now rejected as invalid at the boundary, counted, and nothing is booked.
#[test]
fn plugin_huge_quantity_orders_are_rejected_not_booked() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "huge-qty", 299_000, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    assert!(s["error"].is_null(), "{s}");
    assert!(s["invalid_orders"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["fills"].as_u64(), Some(0), "{s}");
    assert_eq!(s["net_pnl"].as_f64(), Some(0.0), "{s}");
}

/// Regression (issue 15): a timer re-armed at `now()` used to never end.
#[test]
fn plugin_timer_loop_at_now_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = hostile_run(dir.path(), "timer-loop", 1000, &["--time-limit", "60s"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).lines().any(|l| l.starts_with("error: ")), "{}", stderr(&o));
    assert!(!stderr(&o).contains("--time-limit"), "the simulator, not the time limit, must stop it");
}

#[test]
fn non_empty_out_is_refused_before_the_run_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = gen_tapes(&dir.path().join("tapes"), "20000", "BTCUSDT");
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("summary.json"), b"{}").unwrap();
    let o = ticktape()
        .args(["run", "--strategy", plugin("ticktape_template").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .arg("--tape")
        .args(&tapes)
        .output()
        .unwrap();
    assert_one_error_line(&o, &["not empty", "--force"]);
    assert_eq!(fs::read(out.join("summary.json")).unwrap(), b"{}");
}

#[test]
fn unwritable_out_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = gen_tapes(&dir.path().join("tapes"), "20000", "BTCUSDT");
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("out");
    let o = ticktape()
        .args(["run", "--strategy", plugin("ticktape_template").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .arg("--tape")
        .args(&tapes)
        .output()
        .unwrap();
    assert_one_error_line(&o, &["cannot create the folder of --out"]);
    assert!(stdout(&o).is_empty(), "no backtest should have run: {}", stdout(&o));
}

#[test]
fn forced_run_replaces_previous_results_and_records_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "", 0, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    assert!(s["error"].is_null());
    let p = &s["provenance"];
    assert_eq!(p["ticktape_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(p["plugin"]["name"], "ticktape-fixture-hostile");
    assert_eq!(p["sim"]["seed"], 1);
    assert_eq!(p["tapes"].as_array().unwrap().len(), 2, "l2 and trades tapes");
    assert!(p["tapes"][0]["bytes"].as_u64().unwrap() > 0);
    let stale = fs::read(out.join("fills.parquet")).unwrap();
    assert_ne!(stale, b"stale results of an earlier run");
}

#[test]
fn nan_fee_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = dir.path().join("tapes");
    let generated = gen_tapes(&tapes, "5k", "BTCUSDT");
    let plugin = plugin("ticktape_template");
    let f = dir.path().join("nan.toml");
    let out = dir.path().join("out");
    fs::write(
        &f,
        format!("tapes = [\"tapes/*.tape\"]\nstrategy = \"{}\"\n[fees]\nmaker_bps = nan\n", plugin.display()),
    )
    .unwrap();
    let o = run(&["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["maker fee", "[fees] maker_bps", "NaN"]);
    assert!(!out.exists(), "refused before the run: nothing written");
    let tape = &generated[0];
    let p = plugin.to_str().unwrap();
    for (flag, value, needle) in [
        ("--capital", "inf", "--capital"),
        ("--taker-fee-bps", "NaN", "--taker-fee-bps"),
        ("--capital", "0", "capital"),
    ] {
        let o = run(&[
            "run",
            "--strategy",
            p,
            "--tape",
            tape.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            flag,
            value,
        ]);
        assert_one_error_line(&o, &[needle]);
    }
}

#[test]
fn run_from_to_backtests_only_the_slice_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = dir.path().join("tapes");
    shipped_sample(&tapes);
    // The sample spans 2024-08-08T23:54:16Z .. 23:56:21Z; the run file slices
    // one minute out of it (a TOML datetime and a string both work).
    let out = dir.path().join("out");
    let rf = run_file(dir.path(), &tapes, &out);
    let text = fs::read_to_string(&rf).unwrap();
    let sliced = format!("from = 2024-08-08T23:54:30Z\nto = \"2024-08-08T23:55:30Z\"\n{text}");
    fs::write(&rf, sliced).unwrap();
    let o = run(&["run", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    let events = s["events"].as_u64().unwrap();
    assert!(events > 10_000 && events < 151_807 + 23_053 + 4_565, "only the slice is replayed: {events}");
    assert!(s["start"].as_str().unwrap() >= "2024-08-08T23:54:30", "{}", s["start"]);
    assert!(s["end"].as_str().unwrap() < "2024-08-08T23:55:30", "{}", s["end"]);
    let slice = &s["provenance"]["slice"];
    assert_eq!(slice["from"], "2024-08-08T23:54:30.000000000Z", "{s}");
    assert_eq!(slice["to"], "2024-08-08T23:55:30.000000000Z", "{s}");
    // Flags win over the run file.
    let out2 = dir.path().join("out2");
    let o = run(&["run", rf.to_str().unwrap(), "--out", out2.to_str().unwrap(), "--from", "2024-08-08T23:55:00Z"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s2 = summary(&out2);
    assert_eq!(s2["provenance"]["slice"]["from"], "2024-08-08T23:55:00.000000000Z");
    assert!(s2["events"].as_u64().unwrap() < events);
    // A malformed run-file time is one error line naming the key.
    fs::write(&rf, format!("from = 20240808\n{text}")).unwrap();
    assert_one_error_line(&run(&["run", rf.to_str().unwrap(), "--force"]), &["from", "give a time as a string"]);
}

/// Regression (issue 15): 300 k resting orders took 18.9 s and 3 M never
/// finished (each event's cost grew with the number of open orders). The
/// fixture rests one far limit buy on every event from the first: about
/// 300 k open orders by the end of the 300 k-event tapes. The limit is a
/// liveness guard for a debug build on a loaded machine, not a speed target
/// (that is `ticktape bench run` and the criterion `orders` bench).
#[test]
fn regression_300k_resting_orders_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = hostile_run(dir.path(), "many-orders", 1, &["--time-limit", "900s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    assert!(s["error"].is_null(), "{s}");
    assert!(s["orders"].as_u64().unwrap() > 250_000, "{s}");
}

/// Regression (issue 15): a tape whose header says sorted but whose times go
/// backwards used to backtest with exit 0 (only `inspect --verify` caught it).
#[test]
fn regression_backtest_of_a_sorted_tape_with_backwards_time_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let tapes = gen_tapes(&dir.path().join("tapes"), "5k", "BTCUSDT");
    let trades = tapes.iter().find(|t| t.to_string_lossy().contains("trades")).unwrap();
    let mut bytes = fs::read(trades).unwrap();
    let at = 128 + 48 * 100;
    // Record 100 gets record 10's time: earlier than record 99's.
    let earlier: [u8; 8] = bytes[128 + 48 * 10..128 + 48 * 10 + 8].try_into().unwrap();
    bytes[at..at + 8].copy_from_slice(&earlier);
    fs::write(trades, &bytes).unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["run", "--strategy"];
    let plugin = plugin("ticktape_template");
    args.push(plugin.to_str().unwrap());
    args.push("--tape");
    args.extend(tapes.iter().map(|t| t.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    let o = run(&args);
    assert_one_error_line(&o, &["trades.tape", &format!("byte offset {at}"), "earlier than the previous record"]);
    assert!(!out.exists(), "a run that fails on its input leaves no results folder");
}
