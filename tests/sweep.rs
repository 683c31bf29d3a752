//! End-to-end sweeps through `ticktape sweep` and `ticktape merge`: the same
//! table for any thread count and any sharding, failing and crashing runs
//! recorded while the others complete, `--resume`, the sweep report, and a
//! 3-task array sweep on a real single-node Slurm when one is running.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Synthetic tapes shared by the tests of one binary (generated once).
fn tapes() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ticktape-sweep-tapes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        gen_tapes(&dir, "60k", "BTCUSDT");
        dir
    })
}

/// A sweep file of the template market maker: a 3 × 2 grid, one explicit
/// point with a bad value, two tape sets (the same tapes twice, so the
/// runs of a point agree).
fn template_sweep(dir: &Path) -> PathBuf {
    let t = tapes().display();
    let text = format!(
        r#"strategy = "{plugin}"
config = {{ size_lots = 1, requote_ms = 200 }}
tape_sets = [["{t}/*.tape"], ["{t}/*trades.tape", "{t}/*l2.tape"]]
[grid]
half_spread_ticks = [1, 2, 4]
max_position_lots = [5, 20]
[[runs]]
half_spread_ticks = "wide"
[latency]
entry = "lognormal(2ms, 0.3)"
[account]
sample = "1s"
"#,
        plugin = plugin("ticktape_template").display()
    );
    let p = dir.join("sweep.toml");
    fs::write(&p, text).unwrap();
    p
}

fn sweep(file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sweep", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    let o =
        ticktape().args(&args).env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX").output().unwrap();
    assert!(!stderr(&o).contains("panicked at"), "{}", stderr(&o));
    o
}

fn ok(o: &std::process::Output) {
    assert!(o.status.success(), "stdout: {}\nstderr: {}", stdout(o), stderr(o));
}

/// The rows of runs.parquet as (column name, values rendered as text).
fn table(path: &Path) -> Vec<(String, Vec<String>)> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, UInt64Type};
    let f = fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
    let mut cols: Vec<(String, Vec<String>)> = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for (i, field) in batch.schema().fields().iter().enumerate() {
            if cols.len() <= i {
                cols.push((field.name().clone(), Vec::new()));
            }
            let a = batch.column(i);
            for r in 0..a.len() {
                let v = if a.is_null(r) {
                    "null".to_owned()
                } else {
                    match a.data_type() {
                        arrow_schema::DataType::Float64 => a.as_primitive::<Float64Type>().value(r).to_string(),
                        arrow_schema::DataType::UInt64 => a.as_primitive::<UInt64Type>().value(r).to_string(),
                        arrow_schema::DataType::Utf8 => a.as_string::<i32>().value(r).to_owned(),
                        t => panic!("unexpected column type {t}"),
                    }
                };
                cols[i].1.push(v);
            }
        }
    }
    cols
}

fn col<'a>(t: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    &t.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no column {name}")).1
}

#[test]
fn sweep_results_are_identical_with_1_and_2_threads() {
    let dir = tempfile::tempdir().unwrap();
    let file = template_sweep(dir.path());
    let (a, b) = (dir.path().join("t1"), dir.path().join("t2"));
    ok(&sweep(&file, &a, &["--threads", "1"]));
    ok(&sweep(&file, &b, &["--threads", "2"]));
    let ta = fs::read(a.join("runs.parquet")).unwrap();
    assert_eq!(ta, fs::read(b.join("runs.parquet")).unwrap(), "runs.parquet differs between 1 and 2 threads");
    assert_eq!(fs::read(a.join("manifest.json")).unwrap(), fs::read(b.join("manifest.json")).unwrap());

    let t = table(&a.join("runs.parquet"));
    // 6 grid points + 1 explicit point, × 2 tape sets, in the documented order.
    assert_eq!(col(&t, "run"), (0..14).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(col(&t, "tape_set")[..4], ["0", "1", "0", "1"]);
    assert_eq!(col(&t, "half_spread_ticks")[..6], ["1", "1", "1", "1", "2", "2"]);
    assert_eq!(col(&t, "max_position_lots")[..6], ["5", "5", "20", "20", "5", "5"]);
    assert_eq!(col(&t, "half_spread_ticks")[12], "wide");
    assert_eq!(col(&t, "max_position_lots")[12], "null");
    let status = col(&t, "status");
    assert!(status[..12].iter().all(|s| s == "ok"), "{status:?}");
    assert_eq!(status[12..], ["error", "error"]);
    assert!(col(&t, "error")[12].contains("configuration error"), "{}", col(&t, "error")[12]);
    // Every summary metric is a column; the two tape sets hold the same data.
    for m in ["net_pnl", "sharpe", "sharpe_per_sample", "fills", "orders", "max_drawdown", "turnover", "events"] {
        assert_eq!(col(&t, m).len(), 14, "{m}");
    }
    assert_eq!(col(&t, "net_pnl")[0], col(&t, "net_pnl")[1]);
    assert!(col(&t, "orders")[0].parse::<f64>().unwrap() > 0.0);
    assert_ne!(col(&t, "orders")[0], col(&t, "orders")[8], "half spread 1 vs 4 quote differently");
    assert_eq!(col(&t, "net_pnl")[12], "null");
    // Wall time is kept apart, so the table stays byte-identical.
    assert!(t.iter().all(|(n, _)| n != "wall_s"));
    assert_eq!(col(&table(&a.join("timings.parquet")), "wall_s").len(), 14);

    // The sweep report: a heatmap and the sortable table of runs.
    let o = run(&["report", a.to_str().unwrap(), "--heatmap", "orders:half_spread_ticks:max_position_lots"]);
    ok(&o);
    let html = fs::read_to_string(a.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("class=\"sortable\""), "no heatmap or table");
    assert!(html.contains("orders over half_spread_ticks and max_position_lots"));
    let bad = run(&["report", a.to_str().unwrap(), "--heatmap", "nope:half_spread_ticks:max_position_lots"]);
    assert_one_error_line(&bad, &["no metric \"nope\""]);
}

#[test]
fn shards_merged_equal_the_unsharded_sweep_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = template_sweep(dir.path());
    let whole = dir.path().join("whole");
    ok(&sweep(&file, &whole, &["--threads", "2"]));
    let shard = |i: usize| dir.path().join(format!("shard-{i}"));
    for i in 1..=3 {
        ok(&sweep(&file, &shard(i), &["--shard", &format!("{i}/3"), "--threads", "1"]));
        let runs = col(&table(&shard(i).join("runs.parquet")), "run").to_vec();
        let want: Vec<String> = (0..14).filter(|r| r % 3 == i - 1).map(|r| r.to_string()).collect();
        assert_eq!(runs, want, "shard {i}/3 takes runs r with r mod 3 = {}", i - 1);
    }
    let merged = dir.path().join("merged");
    let s: Vec<String> = (1..=3).map(|i| shard(i).display().to_string()).collect();
    let o = run(&["merge", &s[2], &s[0], &s[1], "-o", merged.to_str().unwrap()]);
    ok(&o);
    for f in ["runs.parquet", "manifest.json"] {
        assert_eq!(fs::read(whole.join(f)).unwrap(), fs::read(merged.join(f)).unwrap(), "{f} differs");
    }

    // Refusals: a missing shard, a shard twice, a shard of another sweep.
    let out = dir.path().join("m2");
    let o = run(&["merge", &s[0], &s[1], "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["missing shard(s) 3/3"]);
    let o = run(&["merge", &s[0], &s[1], &s[1], "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["shard 2/3 is given twice"]);
    let other = dir.path().join("other.toml");
    fs::write(&other, fs::read_to_string(&file).unwrap().replace("[1, 2, 4]", "[1, 2, 3]")).unwrap();
    let foreign = dir.path().join("foreign-3");
    ok(&sweep(&other, &foreign, &["--shard", "3/3"]));
    let o = run(&["merge", &s[0], &s[1], foreign.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["are shards of different sweeps"]);
    // Into a shard, or over another sweep's folder: refused; over this merge: replaced.
    let o = run(&["merge", &s[0], &s[1], &s[2], "-o", &s[1]]);
    assert_one_error_line(&o, &["is one of the shards"]);
    let o = run(&["merge", &s[0], &s[1], &s[2], "-o", foreign.to_str().unwrap()]);
    assert_one_error_line(&o, &["holds another sweep"]);
    ok(&run(&["merge", &s[0], &s[1], &s[2], "-o", merged.to_str().unwrap()]));
    assert_eq!(fs::read(whole.join("runs.parquet")).unwrap(), fs::read(merged.join("runs.parquet")).unwrap());
    // A shard given as Slurm gives it (0-based array ids here).
    let env_shard = dir.path().join("env-shard");
    let o = ticktape()
        .args(["sweep", file.to_str().unwrap(), "-o", env_shard.to_str().unwrap(), "-q"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(fs::read(env_shard.join("runs.parquet")).unwrap(), fs::read(shard(2).join("runs.parquet")).unwrap());
    // And as a Kubernetes Indexed Job gives it (0-based index, count from --shard N).
    let k8s_shard = dir.path().join("k8s-shard");
    let o = ticktape()
        .args(["sweep", file.to_str().unwrap(), "-o", k8s_shard.to_str().unwrap(), "-q", "--shard", "3"])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env("JOB_COMPLETION_INDEX", "2")
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(fs::read(k8s_shard.join("runs.parquet")).unwrap(), fs::read(shard(3).join("runs.parquet")).unwrap());
}

/// Writes a sweep file at `file`: fixture plugin `plugin` over the shared
/// tapes, then `rest` (grid and other keys).
fn write_sweep(file: &Path, plugin_name: &str, rest: &str) {
    let text =
        format!("strategy = \"{}\"\ntapes = [\"{}/*.tape\"]\n{rest}", plugin(plugin_name).display(), tapes().display());
    fs::write(file, text).unwrap();
}

#[test]
fn a_panicking_or_crashing_configuration_is_recorded_and_the_others_complete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faulty.toml");
    write_sweep(
        &file,
        "ticktape_fixture_faulty",
        "[grid]\npanic_in = [\"\", \"event\", \"create\", \"finish\"]\nat_event = [50]\n",
    );
    let out = dir.path().join("faulty");
    ok(&sweep(&file, &out, &["--threads", "2"]));
    let tb = table(&out.join("runs.parquet"));
    assert_eq!(col(&tb, "panic_in"), ["", "event", "create", "finish"]);
    assert_eq!(col(&tb, "status"), ["ok", "error", "error", "error"]);
    let errors = col(&tb, "error");
    assert_eq!(errors[0], "null");
    assert!(errors[1].contains("fixture panic on event 50"), "{}", errors[1]);
    assert!(errors[2].contains("fixture panic in create"), "{}", errors[2]);
    assert!(errors[3].contains("fixture panic in finish"), "{}", errors[3]);
    let events = |i: usize| col(&tb, "events")[i].parse::<f64>().unwrap();
    assert!(events(1) >= 50.0 && events(1) < events(0), "metrics cover the run up to the panic");

    // A plugin that kills its process: the run is recorded as crashed, the
    // runs that shared the process with it are redone and complete.
    let file = dir.path().join("hostile.toml");
    write_sweep(
        &file,
        "ticktape_fixture_hostile",
        "[grid]\nmode = [\"\", \"segfault\", \"abort\", \"\"]\nat_event = [20]\n",
    );
    let out = dir.path().join("hostile");
    ok(&sweep(&file, &out, &["--threads", "2"]));
    let tb = table(&out.join("runs.parquet"));
    assert_eq!(col(&tb, "status"), ["ok", "crashed", "crashed", "ok"]);
    assert!(col(&tb, "error")[1].contains("SIGSEGV"), "{}", col(&tb, "error")[1]);
    assert!(col(&tb, "error")[2].contains("SIGABRT"), "{}", col(&tb, "error")[2]);
    assert_eq!(col(&tb, "events")[0], col(&tb, "events")[3]);
    assert!(!out.join(".inflight").exists());
}

#[test]
fn resume_redoes_nothing_and_finishes_an_interrupted_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let file = template_sweep(dir.path());
    let out = dir.path().join("out");
    ok(&sweep(&file, &out, &["--threads", "2", "--keep-runs"]));
    let table0 = fs::read(out.join("runs.parquet")).unwrap();
    assert!(out.join("runs/3/summary.json").is_file() && out.join("runs/3/fills.parquet").is_file());
    let mtimes = |d: &Path| -> Vec<(PathBuf, std::time::SystemTime)> {
        let mut v: Vec<_> = fs::read_dir(d.join("rows"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = mtimes(&out);
    assert_eq!(before.len(), 14);

    // Without --resume an existing sweep is refused.
    let o = sweep(&file, &out, &[]);
    assert_one_error_line(&o, &["already holds this sweep; pass --resume"]);

    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = sweep(&file, &out, &["--resume"]);
    ok(&o);
    assert_eq!(mtimes(&out), before, "--resume redid a complete run");
    assert_eq!(fs::read(out.join("runs.parquet")).unwrap(), table0);

    // An interrupted sweep: two runs never finished, no table yet.
    fs::remove_file(out.join("rows/5.json")).unwrap();
    fs::remove_file(out.join("rows/9.json")).unwrap();
    fs::remove_file(out.join("runs.parquet")).unwrap();
    let o = sweep(&file, &out, &["--resume", "--threads", "2"]);
    ok(&o);
    let after = mtimes(&out);
    let changed: Vec<String> = after
        .iter()
        .filter(|(p, t)| before.iter().all(|(q, u)| q != p || u != t))
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(changed, ["5.json", "9.json"], "only the missing runs are redone");
    assert_eq!(fs::read(out.join("runs.parquet")).unwrap(), table0);

    // A different sweep into the same folder is refused.
    let other = dir.path().join("other.toml");
    fs::write(&other, fs::read_to_string(&file).unwrap().replace("[5, 20]", "[5, 21]")).unwrap();
    let o = sweep(&other, &out, &["--resume"]);
    assert_one_error_line(&o, &["holds another sweep"]);
}

#[test]
fn sweep_file_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    let t = tapes().display();
    let p = plugin("ticktape_template");
    let cases = [
        (format!("strategy = \"{}\"\n", p.display()), "no tapes"),
        (
            format!("strategy = \"{}\"\ntapes = [\"{t}/*.tape\"]\n[grid]\nx = 3\n", p.display()),
            "[grid] x must be a non-empty list",
        ),
        (format!("strategy = \"{}\"\ntapes = [\"{t}/*.tape\"]\nbogus = 1\n", p.display()), "bogus"),
        ("tapes = [\"nothing/*.tape\"]\n".to_owned(), "matches no file"),
    ];
    for (text, needle) in cases {
        fs::write(&file, text).unwrap();
        let o = sweep(&file, &dir.path().join("o"), &[]);
        assert_one_error_line(&o, &[needle]);
    }
    let o = sweep(&template_sweep(dir.path()), &dir.path().join("o"), &["--shard", "4/3"]);
    assert_one_error_line(&o, &["shard 4/3"]);
}

/// A 3-task Slurm array sweep (engine/cli/deploy/slurm/sweep-array.sh) on
/// the single-node Slurm that `.ci/slurm-up` starts, then the same through
/// submit.sh (array + dependent merge job); each merge must equal the
/// unsharded sweep byte for byte.
#[test]
fn slurm_array_sweep_merges_to_the_unsharded_table() {
    let sbatch_ok = Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| {
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        o.status.success() && ["idle", "mixed", "allocated"].iter().any(|x| s.contains(x))
    });
    if !sbatch_ok {
        assert!(
            std::env::var_os("TICKTAPE_REQUIRE_SLURM").is_none(),
            "TICKTAPE_REQUIRE_SLURM is set but no Slurm node is up (sinfo)"
        );
        skip("no Slurm running here (sinfo shows no idle node; .ci/slurm-up starts one)");
        return;
    }
    // Slurm jobs run as the submitting user and must see the files: a folder
    // in the workspace's target/.
    let dir = tempfile::Builder::new().prefix("slurm-sweep-").tempdir_in(root().join("target")).unwrap();
    let file = template_sweep(dir.path());
    let whole = dir.path().join("whole");
    ok(&sweep(&file, &whole, &["--threads", "2"]));
    let out = dir.path().join("array");
    let script = root().join("engine/cli/deploy/slurm/sweep-array.sh");
    let o = Command::new("sbatch")
        .args(["--wait", "--array=1-3", "--cpus-per-task=1", "--time=10:00"])
        .arg(format!("--output={}/task-%a.log", dir.path().display()))
        .arg(&script)
        .arg(&file)
        .arg(&out)
        .env("TICKTAPE", env!("CARGO_BIN_EXE_ticktape"))
        .output()
        .unwrap();
    let logs: String = (1..=3)
        .map(|i| fs::read_to_string(dir.path().join(format!("task-{i}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(o.status.success(), "sbatch: {}{}\ntask logs:\n{logs}", stdout(&o), stderr(&o));
    let shards: Vec<String> = (1..=3).map(|i| out.join(format!("shard-{i}")).display().to_string()).collect();
    let merged = dir.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["-o", merged.to_str().unwrap()]);
    ok(&run(&args));
    assert_eq!(
        fs::read(whole.join("runs.parquet")).unwrap(),
        fs::read(merged.join("runs.parquet")).unwrap(),
        "Slurm array merge differs from the unsharded sweep"
    );
    let m: serde_json::Value = serde_json::from_slice(&fs::read(out.join("shard-2/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["shard"]["index"], 2);
    assert_eq!(m["shard"]["count"], 3);

    // submit.sh: the array and a merge job that depends on it (`--wait`
    // reaches both sbatch calls, so this returns when the merge is done).
    let out = dir.path().join("submitted");
    let o = Command::new(root().join("engine/cli/deploy/slurm/submit.sh"))
        .arg("3")
        .arg(&file)
        .arg(&out)
        .args(["--wait", "--cpus-per-task=1", "--time=10:00"])
        .env("TICKTAPE", env!("CARGO_BIN_EXE_ticktape"))
        .output()
        .unwrap();
    let logs: String = fs::read_dir(&out)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    assert!(o.status.success(), "submit.sh: {}{}\nlogs:\n{logs}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("array job") && stdout(&o).contains("merge job"), "{}", stdout(&o));
    assert_eq!(
        fs::read(whole.join("runs.parquet")).unwrap(),
        fs::read(out.join("merged/runs.parquet")).unwrap(),
        "submit.sh's merge differs from the unsharded sweep"
    );
}

#[test]
fn an_interrupted_sweep_leaves_only_complete_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hang.toml");
    // Run 0 completes; run 1 spins forever from its first event.
    write_sweep(&file, "ticktape_fixture_hostile", "[grid]\nmode = [\"\", \"hang\"]\nat_event = [1]\n");
    let out = dir.path().join("out");
    let child = ticktape()
        .args(["sweep", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--threads", "1", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !out.join("rows/0.json").is_file() {
        assert!(t0.elapsed().as_secs() < 120, "run 0 never finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: sending SIGTERM to a child we started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let o = child.wait_with_output().unwrap();
    assert_one_error_line(&o, &["interrupted", "--resume finishes it"]);
    let rows: Vec<String> = fs::read_dir(out.join("rows"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(rows, ["0.json"], "only the complete run is kept");
    let row: serde_json::Value = serde_json::from_slice(&fs::read(out.join("rows/0.json")).unwrap()).unwrap();
    assert_eq!(row["status"], "ok");
    assert!(!out.join("runs.parquet").exists(), "no table of an unfinished sweep");
}

#[test]
fn run_and_sweep_report_flags_and_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let t = tapes().display().to_string();
    let tape_args: Vec<String> =
        fs::read_dir(tapes()).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    let mut args = vec!["run", "--strategy"];
    let p = plugin("ticktape_template").display().to_string();
    args.push(&p);
    args.push("--tape");
    args.extend(tape_args.iter().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap(), "--report"]);
    let o = run(&args);
    ok(&o);
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg"), "run --report drew no chart");

    let file = dir.path().join("s.toml");
    fs::write(&file, format!("strategy = \"{p}\"\ntapes = [\"{t}/*.tape\"]\n[grid]\nhalf_spread_ticks = [1, 2]\n"))
        .unwrap();
    let log = dir.path().join("log.jsonl");
    let sw = dir.path().join("sweep");
    let o = sweep(&file, &sw, &["--report", "--log-file", log.to_str().unwrap()]);
    ok(&o);
    let html = fs::read_to_string(sw.join("report.html")).unwrap();
    assert!(html.contains("class=\"sortable\""), "sweep --report drew no table of runs");
    let lines: Vec<serde_json::Value> =
        fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(lines.iter().any(|l| l["level"] == "info" && l["msg"].as_str().unwrap().contains("2 runs")), "{lines:?}");
    let last = lines.iter().rev().find(|l| l["level"] == "progress").expect("a progress line");
    assert_eq!((last["done"].as_u64(), last["total"].as_u64()), (Some(2), Some(2)));
}

/// Tapes of 300k events (a run of them reports progress several times).
fn big_tapes() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ticktape-sweep-big-tapes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        gen_tapes(&dir, "300k", "BTCUSDT");
        dir
    })
}

/// The `progress: ` lines of a command's stderr, each checked for the
/// documented form (`progress: 41% 12.3 M/30.0 M events, 8.1 M/s, eta 2 s`).
fn progress_lines(o: &std::process::Output, unit: &str) -> Vec<String> {
    let lines: Vec<String> = stderr(o).lines().filter(|l| l.starts_with("progress: ")).map(str::to_owned).collect();
    for l in &lines {
        let rest = &l["progress: ".len()..];
        let (pct, rest) = rest.split_once("% ").unwrap_or_else(|| panic!("no percentage: {l}"));
        assert!(pct.parse::<u32>().is_ok_and(|p| p <= 100), "{l}");
        assert!(rest.contains(&format!(" {unit}, ")) && rest.contains("/s, eta "), "{l}");
    }
    lines
}

/// Progress when stderr is not a terminal (a pipe here): plain lines every
/// interval (TICKTAPE_PROGRESS_INTERVAL, tiny here) for sweep, run and
/// convert, ending at 100 %; none with -q, in either position.
#[test]
fn progress_is_plain_lines_off_a_terminal_and_nothing_with_q() {
    let dir = tempfile::tempdir().unwrap();
    let t = big_tapes().display();
    let p = plugin("ticktape_template").display().to_string();
    let with = |args: &[&str]| {
        let o = ticktape()
            .args(args)
            .env("TICKTAPE_PROGRESS_INTERVAL", "0.01")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap();
        ok(&o);
        o
    };

    // A sweep counts runs.
    let file = dir.path().join("s.toml");
    fs::write(
        &file,
        format!("strategy = \"{p}\"\ntapes = [\"{t}/*.tape\"]\n[grid]\nhalf_spread_ticks = [1, 2, 3, 4]\n"),
    )
    .unwrap();
    let out = dir.path().join("sw");
    let o = with(&["sweep", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--threads", "1"]);
    let lines = progress_lines(&o, "runs");
    assert!(!lines.is_empty(), "no progress lines: {}", stderr(&o));
    assert!(lines.last().unwrap().starts_with("progress: 100% 4/4 runs, "), "{lines:?}");
    let out = dir.path().join("sw-q");
    let o = with(&["sweep", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--threads", "1", "-q"]);
    assert_eq!(stderr(&o), "", "-q: nothing on stderr");

    // A backtest counts events.
    let tape_args: Vec<String> =
        fs::read_dir(big_tapes()).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    let run_args = |out: &Path| -> Vec<String> {
        let mut v: Vec<String> = vec!["run".into(), "--strategy".into(), p.clone(), "--tape".into()];
        v.extend(tape_args.iter().cloned());
        v.extend(["--out".into(), out.display().to_string()]);
        v
    };
    let a = run_args(&dir.path().join("run"));
    let o = with(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let lines = progress_lines(&o, "events");
    assert!(!lines.is_empty(), "no progress lines: {}", stderr(&o));
    assert!(lines.last().unwrap().starts_with("progress: 100% 300.0 k/300.0 k events, "), "{lines:?}");
    let mut a = run_args(&dir.path().join("run-q"));
    a.insert(0, "-q".into());
    let o = with(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stderr(&o).contains("progress"), "-q before the command: {}", stderr(&o));

    // A conversion counts input bytes; its old `convert -q` still silences it
    // (and its summary).
    let sample = root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz");
    let sample = sample.to_str().unwrap();
    let c = dir.path().join("c");
    let log = dir.path().join("convert.jsonl");
    let o = with(&["convert", "binance-ws", sample, "-o", c.to_str().unwrap(), "--log-file", log.to_str().unwrap()]);
    let lines = progress_lines(&o, "input");
    assert!(!lines.is_empty(), "no progress lines: {}", stderr(&o));
    assert!(lines.last().unwrap().starts_with("progress: 100% "), "{lines:?}");
    assert!(stdout(&o).contains("tape"), "the summary: {}", stdout(&o));
    let logged: Vec<serde_json::Value> =
        fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let last = logged.iter().rev().find(|l| l["level"] == "progress").expect("progress in the log file");
    let size = fs::metadata(sample).unwrap().len();
    assert_eq!((last["done"].as_u64(), last["total"].as_u64()), (Some(size), Some(size)), "{last}");
    let c = dir.path().join("c-q");
    let o = with(&["convert", "binance-ws", sample, "-o", c.to_str().unwrap(), "-q"]);
    assert!(!stderr(&o).contains("progress"), "convert -q: {}", stderr(&o));
    assert_eq!(stdout(&o), "", "convert -q prints no summary");
}

/// `time_limit` in SWEEP.toml (or `--time-limit`): a run over it is
/// recorded as `timeout` and the others complete; a hung plugin does not
/// hang the sweep, also when it is retried alone after a crash.
#[test]
fn a_run_over_the_time_limit_is_recorded_as_timeout_and_the_others_complete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hang.toml");
    write_sweep(
        &file,
        "ticktape_fixture_hostile",
        "time_limit = \"2s\"\n[grid]\nmode = [\"\", \"hang\", \"\", \"\"]\nat_event = [1]\n",
    );
    let out = dir.path().join("out");
    let t0 = std::time::Instant::now();
    let o = sweep(&file, &out, &["--threads", "2"]);
    ok(&o);
    assert!(t0.elapsed().as_secs() < 120, "the sweep took {:?}", t0.elapsed());
    assert!(stdout(&o).contains("(1 failed)") && stdout(&o).contains("run 1 timeout"), "{}", stdout(&o));
    let tb = table(&out.join("runs.parquet"));
    assert_eq!(col(&tb, "status"), ["ok", "timeout", "ok", "ok"]);
    let e = &col(&tb, "error")[1];
    assert!(e.contains("longer than the time limit of 2 s"), "{e}");
    assert_eq!(col(&tb, "events")[1], "null");
    assert_eq!(col(&tb, "events")[0], col(&tb, "events")[2]);
    assert!(col(&table(&out.join("timings.parquet")), "wall_s")[1].parse::<f64>().unwrap() >= 2.0);
    assert!(!out.join(".inflight").exists());

    // --time-limit overrides the file; the table is the same for 1 thread.
    let loose = dir.path().join("loose.toml");
    fs::write(&loose, fs::read_to_string(&file).unwrap().replace("\"2s\"", "\"1h\"")).unwrap();
    let out1 = dir.path().join("out1");
    ok(&sweep(&loose, &out1, &["--threads", "1", "--time-limit", "2s"]));
    assert_eq!(fs::read(out.join("runs.parquet")).unwrap(), fs::read(out1.join("runs.parquet")).unwrap());

    // A hung run in flight when another crashes the process: retried alone,
    // it hits the limit there.
    let file = dir.path().join("both.toml");
    write_sweep(&file, "ticktape_fixture_hostile", "[grid]\nmode = [\"hang\", \"segfault\", \"\"]\nat_event = [20]\n");
    let out = dir.path().join("both");
    ok(&sweep(&file, &out, &["--threads", "2", "--time-limit", "2s"]));
    let tb = table(&out.join("runs.parquet"));
    assert_eq!(col(&tb, "status"), ["timeout", "crashed", "ok"]);

    let o = sweep(&file, &dir.path().join("bad"), &["--time-limit", "soon"]);
    assert_one_error_line(&o, &["--time-limit"]);
}

/// One manifest of engine/cli/deploy/kubernetes/ as JSON.
fn k8s_manifest(name: &str) -> serde_json::Value {
    let path = root().join("engine/cli/deploy/kubernetes").join(name);
    let text = fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

/// A volume mount: mount path, volume name, read-only.
type Mount = (String, String, bool);

/// The one container of a Job's pod template: its command line as a shell
/// script (`command: [/bin/sh, -c]` + `args: [SCRIPT]`), its env (name,
/// value) and its volume mounts.
fn k8s_container(job: &serde_json::Value) -> (String, Vec<(String, String)>, Vec<Mount>) {
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    let pod = &job["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    let c = &containers[0];
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().map(|s| s.as_str().expect("a string").to_owned()).collect()).unwrap_or_default()
    };
    let (command, args) = (strs(&c["command"]), strs(&c["args"]));
    assert_eq!(command, ["/bin/sh", "-c"], "the container runs a shell command line");
    assert_eq!(args.len(), 1, "args: one command line");
    let env = c["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["name"].as_str().unwrap().to_owned(), e["value"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mounts = c["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
                m["readOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    (args[0].clone(), env, mounts)
}

/// The claim a Job's volume `name` is, if a PersistentVolumeClaim.
fn k8s_claim(job: &serde_json::Value, volume: &str) -> Option<String> {
    let vols = job["spec"]["template"]["spec"]["volumes"].as_array()?;
    let v = vols.iter().find(|v| v["name"] == volume)?;
    v["persistentVolumeClaim"]["claimName"].as_str().map(str::to_owned)
}

/// The Kubernetes Indexed Job without a cluster: the manifests are read
/// and checked (a batch/v1 Job in Indexed mode whose pods run
/// `ticktape sweep --shard N --resume` with N = completions and the index
/// from JOB_COMPLETION_INDEX, into a shared, writable claim that the merge
/// Job mounts too), then the Job is emulated: the container's command line
/// runs once per completion index 0..N-1 with JOB_COMPLETION_INDEX set, as
/// Kubernetes runs it (the pods at once, up to `parallelism`), with the
/// volumes' mount paths mapped to host folders and `ticktape` on PATH; one
/// pod is first stopped part-way (SIGTERM) and restarted with the others,
/// and one is run again after it finished; then the merge Job's command
/// line. The
/// merge must equal the unsharded sweep byte for byte. Not tested: the
/// image (Dockerfile) build, a scheduler, real volumes.
#[test]
fn kubernetes_indexed_job_emulated_merges_to_the_unsharded_table() {
    let job = k8s_manifest("sweep-indexed-job.yaml");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions") as usize;
    let parallelism = spec["parallelism"].as_u64().unwrap_or(1) as usize;
    assert!(n >= 1 && (1..=n).contains(&parallelism), "completions {n}, parallelism {parallelism}");
    let restart = spec["template"]["spec"]["restartPolicy"].as_str().unwrap();
    assert!(["OnFailure", "Never"].contains(&restart), "a Job's pods restart OnFailure or Never: {restart}");
    let (script, env, mounts) = k8s_container(&job);
    assert!(script.contains("ticktape sweep "), "{script}");
    assert!(
        script.contains(&format!("--shard {n} ")) || script.ends_with(&format!("--shard {n}")),
        "--shard {n} = completions: {script}"
    );
    assert!(script.contains("JOB_COMPLETION_INDEX"), "each pod's output folder comes from its index: {script}");
    assert!(script.contains("--resume"), "a restarted pod continues its shard: {script}");
    // The output folder is on a writable PersistentVolumeClaim.
    let out_arg = script.split_whitespace().skip_while(|w| *w != "-o").nth(1).expect("-o DIR").trim_matches('"');
    let (results_path, results_vol, ro) =
        mounts.iter().find(|(p, _, _)| out_arg.starts_with(&format!("{p}/"))).expect("-o DIR is on a mounted volume");
    assert!(!ro, "the results volume is mounted read-only");
    let claim = k8s_claim(&job, results_vol).expect("the results volume is a PersistentVolumeClaim");

    let merge = k8s_manifest("merge-job.yaml");
    let (merge_script, merge_env, merge_mounts) = k8s_container(&merge);
    assert!(merge_script.contains("ticktape merge "), "{merge_script}");
    let (_, merge_vol, _) = merge_mounts.iter().find(|(p, _, _)| p == results_path).expect("merge mounts the results");
    assert_eq!(k8s_claim(&merge, merge_vol), Some(claim), "the merge Job reads the claim the pods wrote");

    // Emulation: host folders for the volumes, `ticktape` on PATH.
    let dir = tempfile::tempdir().unwrap();
    let host = |vol: &str| dir.path().join(format!("vol-{vol}"));
    for (_, vol, _) in mounts.iter().chain(&merge_mounts) {
        fs::create_dir_all(host(vol)).unwrap();
    }
    let map = |script: &str, mounts: &[Mount]| -> String {
        let mut s = script.to_owned();
        for (path, vol, _) in mounts {
            s = s.replace(&format!("{path}/"), &format!("{}/", host(vol).display()));
        }
        for (path, _, _) in mounts {
            assert!(!s.contains(&format!(" {path}")), "a mount path is left in {s}");
        }
        s
    };
    // The sweep file the pods read (at the data volume's /data/sweep.toml).
    let sweep_arg = script.split_whitespace().skip_while(|w| *w != "sweep").nth(1).expect("sweep SWEEP.toml");
    let (data_path, data_vol, _) =
        mounts.iter().find(|(p, _, _)| sweep_arg.starts_with(&format!("{p}/"))).expect("SWEEP.toml on a volume");
    let file = template_sweep(dir.path());
    let in_volume = host(data_vol).join(&sweep_arg[data_path.len() + 1..]);
    fs::copy(&file, &in_volume).unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ticktape"), bin.join("ticktape")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let pod = |script: &str, env: &[(String, String)], index: Option<usize>| {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script).env("PATH", &path).env_remove("SLURM_ARRAY_TASK_ID").envs(env.iter().cloned());
        match index {
            Some(i) => c.env("JOB_COMPLETION_INDEX", i.to_string()),
            None => c.env_remove("JOB_COMPLETION_INDEX"),
        };
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    };
    let sweep_script = map(&script, &mounts);
    let results = host(results_vol);
    // A pod stopped part-way (eviction, node drain: SIGTERM) and restarted
    // below with the others continues its shard.
    let mut evicted = pod(&sweep_script, &env, Some(n - 1));
    let rows = results.join(format!("shard-{n}/rows"));
    let t0 = std::time::Instant::now();
    while evicted.try_wait().unwrap().is_none()
        && !fs::read_dir(&rows)
            .is_ok_and(|mut d| d.any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".json")))
    {
        assert!(t0.elapsed().as_secs() < 120, "the pod never finished a run");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: sending SIGTERM to a child we started.
    unsafe {
        libc::kill(evicted.id() as i32, libc::SIGTERM);
    }
    let _ = evicted.wait_with_output().unwrap();
    for wave in (0..n).collect::<Vec<_>>().chunks(parallelism) {
        let pods: Vec<_> = wave.iter().map(|&i| (i, pod(&sweep_script, &env, Some(i)))).collect();
        for (i, p) in pods {
            let o = p.wait_with_output().unwrap();
            assert!(o.status.success(), "pod {i}: {}{}", stdout(&o), stderr(&o));
        }
    }
    let shard_dirs: Vec<PathBuf> = (1..=n).map(|i| results.join(format!("shard-{i}"))).collect();
    for (i, d) in shard_dirs.iter().enumerate() {
        let m: serde_json::Value = serde_json::from_slice(&fs::read(d.join("manifest.json")).unwrap()).unwrap();
        assert_eq!((m["shard"]["index"].as_u64(), m["shard"]["count"].as_u64()), (Some(i as u64 + 1), Some(n as u64)));
    }
    // A pod restarted after it finished (OnFailure, node loss) redoes nothing.
    let before = fs::read(shard_dirs[0].join("runs.parquet")).unwrap();
    let o = pod(&sweep_script, &env, Some(0)).wait_with_output().unwrap();
    assert!(o.status.success(), "restarted pod 0: {}", stderr(&o));
    assert_eq!(fs::read(shard_dirs[0].join("runs.parquet")).unwrap(), before);

    let o = pod(&map(&merge_script, &merge_mounts), &merge_env, None).wait_with_output().unwrap();
    assert!(o.status.success(), "merge Job: {}{}", stdout(&o), stderr(&o));
    let merged = merge_script.split_whitespace().skip_while(|w| *w != "-o").nth(1).expect("merge -o DIR");
    let merged = host(merge_vol).join(&merged[results_path.len() + 1..]);
    let whole = dir.path().join("whole");
    ok(&sweep(&file, &whole, &["--threads", "2"]));
    for f in ["runs.parquet", "manifest.json"] {
        assert_eq!(
            fs::read(whole.join(f)).unwrap(),
            fs::read(merged.join(f)).unwrap(),
            "{f}: merge of the Job's shards"
        );
    }
    assert!(merged.join("report.html").is_file() || !merge_script.contains("--report"));
}

/// The image the manifests name is built from packages of this workspace
/// and puts `ticktape` on the default PATH (the Dockerfile itself is not
/// built here: no container runtime).
#[test]
fn kubernetes_dockerfile_builds_workspace_packages() {
    let text = fs::read_to_string(root().join("engine/cli/deploy/kubernetes/Dockerfile")).unwrap();
    let build = text.lines().find(|l| l.contains("cargo build")).expect("a cargo build line");
    let packages: Vec<&str> = build.split_whitespace().skip_while(|w| *w != "-p").filter(|w| *w != "-p").collect();
    assert!(packages.contains(&"ticktape"), "{build}");
    let members = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let names: Vec<String> = members
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.strip_suffix("\",")))
        .filter_map(|m| fs::read_to_string(root().join(m).join("Cargo.toml")).ok())
        .filter_map(|t| t.lines().find_map(|l| l.strip_prefix("name = \"").map(|n| n.trim_end_matches('"').to_owned())))
        .collect();
    for p in &packages {
        assert!(names.iter().any(|n| n == p), "-p {p} is not a workspace package ({names:?})");
    }
    assert!(text.contains("/usr/local/bin/ticktape"), "ticktape is not installed on PATH");
    for lib in text.split_whitespace().filter(|w| w.ends_with(".so")) {
        let stem = lib.rsplit('/').next().unwrap().trim_start_matches("lib").trim_end_matches(".so").replace('_', "-");
        assert!(packages.contains(&stem.as_str()), "{lib} is not built by the cargo build line");
    }
}

/// On a terminal (a pseudo-terminal from util-linux `script`), progress is
/// an indicatif bar with ETA, not plain lines.
#[test]
fn progress_on_a_terminal_is_a_bar() {
    if Command::new("script").arg("--version").output().is_err() {
        skip("no `script` (util-linux) to give ticktape a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = big_tapes().display();
    let p = plugin("ticktape_template").display().to_string();
    let file = dir.path().join("s.toml");
    fs::write(&file, format!("strategy = \"{p}\"\ntapes = [\"{t}/*.tape\"]\n[grid]\nhalf_spread_ticks = [1, 2]\n"))
        .unwrap();
    let out = dir.path().join("sw");
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let cmd = [env!("CARGO_BIN_EXE_ticktape"), "sweep", file.to_str().unwrap(), "-o", out.to_str().unwrap()]
        .map(quote)
        .join(" ");
    let o = Command::new("script")
        .args(["-qec", &format!("{cmd} --threads 1 >/dev/null"), "/dev/null"])
        .env("TICKTAPE_PROGRESS_INTERVAL", "0.01")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    ok(&o);
    let term = stdout(&o);
    assert!(out.join("runs.parquet").is_file(), "the sweep did not finish: {term}");
    assert!(term.contains("runs [") && term.contains(" ETA "), "no bar on the terminal: {term:?}");
    assert!(!term.contains("progress: "), "plain lines on a terminal: {term:?}");
}
