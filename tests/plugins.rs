//! End-to-end tests of strategy plugins through `ticktape run`: a good
//! plugin, plugins that panic (in create, on the 1000th event, at finish),
//! a wrong ABI version, a library without the init symbol, a file that is
//! not a shared library, and configuration errors. Each failure is one
//! clear error line and exit status 1; a failure during the run keeps the
//! results simulated up to then.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn tapes(dir: &Path) -> Vec<PathBuf> {
    gen_tapes(dir, "30k", "BTCUSDT")
}

fn run_with(plugin: &Path, config: Option<&Path>, tapes: &[PathBuf], out: &Path) -> std::process::Output {
    let mut cmd = ticktape();
    cmd.arg("run").arg("--strategy").arg(plugin).arg("--out").arg(out).arg("--tape").args(tapes);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.output().expect("run ticktape")
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("strategy.toml");
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn good_plugin_runs_and_writes_results() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let out = dir.path().join("out");
    let o = run_with(&plugin("ticktape_template"), None, &t, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in
        ["strategy      ticktape-template 0.1.0", "net PnL", "maker share", "Sharpe", "max drawdown", "inventory"]
    {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    for f in ["fills.parquet", "orders.parquet", "equity.parquet", "inventory.parquet", "summary.json", "strategy.log"]
    {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let log = fs::read_to_string(out.join("strategy.log")).unwrap();
    assert!(log.contains("quoting BTCUSDT every 200 ms"), "{log}");
    let summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"error\": null"), "{summary}");
}

#[test]
fn panic_in_create_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let c = config(dir.path(), "panic_in = \"create\"\n");
    let o = run_with(&plugin("ticktape_fixture_faulty"), Some(&c), &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["ticktape-fixture-faulty panicked in create", "fixture panic in create", "src/lib.rs"]);
}

#[test]
fn panic_on_the_1000th_event_stops_the_run_and_keeps_results() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let c = config(dir.path(), "panic_in = \"event\"\nat_event = 1000\n");
    let out = dir.path().join("out");
    let o = run_with(&plugin("ticktape_fixture_faulty"), Some(&c), &t, &out);
    assert_one_error_line(&o, &["panicked in on_events", "fixture panic on event 1000", "results up to the failure"]);
    let summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("fixture panic on event 1000"), "{summary}");
    assert!(out.join("equity.parquet").is_file());
    // The run stopped early: fewer events than the tapes hold.
    let events: u64 = summary
        .lines()
        .find(|l| l.contains("\"events\""))
        .and_then(|l| l.trim().trim_start_matches("\"events\": ").trim_end_matches(',').parse().ok())
        .unwrap();
    assert!(events < 30_000, "{events}");
}

#[test]
fn panic_in_finish_is_reported_after_a_full_run() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let c = config(dir.path(), "panic_in = \"finish\"\n");
    let out = dir.path().join("out");
    let o = run_with(&plugin("ticktape_fixture_faulty"), Some(&c), &t, &out);
    assert_one_error_line(&o, &["panicked in on_finish", "fixture panic in finish"]);
    assert!(out.join("fills.parquet").is_file());
}

#[test]
fn wrong_abi_version_names_both_versions_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let o = run_with(&plugin("ticktape_fixture_wrong_abi"), None, &t, &dir.path().join("out"));
    assert_one_error_line(
        &o,
        &[
            "incompatible plugin",
            "built for ABI 999",
            "this ticktape speaks ABI 1",
            "rebuild it against ticktape-sdk 0.1.0",
        ],
    );
}

#[test]
fn library_without_init_symbol_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let o = run_with(&plugin("ticktape_fixture_no_init"), None, &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["does not export `ticktape_plugin_init`", "export_strategy!"]);
}

#[test]
fn a_file_that_is_not_a_shared_library() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let fake = dir.path().join("libfake.so");
    fs::write(&fake, "this is not an ELF file\n").unwrap();
    let o = run_with(&fake, None, &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["libfake.so", "not a loadable shared library"]);
    let o = run_with(&dir.path().join("missing.so"), None, &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["missing.so", "no such strategy plugin", "cargo build --release --workspace"]);
}

#[test]
fn configuration_errors_reach_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let c = config(dir.path(), "size_lots = 1\nhalf_spred = 3\n");
    let o = run_with(&plugin("ticktape_template"), Some(&c), &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["ticktape-template: configuration error", "line 2", "unknown field `half_spred`"]);
    let c = config(dir.path(), "half_spread_ticks = 0\n");
    let o = run_with(&plugin("ticktape_template"), Some(&c), &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["configuration error", "must be at least 1"]);
    let c = config(dir.path(), "requote_ms = \"fast\"\n");
    let o = run_with(&plugin("ticktape_template"), Some(&c), &t, &dir.path().join("out"));
    assert_one_error_line(&o, &["configuration error", "line 1", "invalid type"]);
}

#[test]
fn funding_option_refuses_a_tape_of_another_kind() {
    let dir = tempfile::tempdir().unwrap();
    let t = tapes(&dir.path().join("t"));
    let o = ticktape()
        .arg("run")
        .arg("--strategy")
        .arg(plugin("ticktape_template"))
        .arg("--tape")
        .args(&t)
        .arg("--funding")
        .arg(&t[0])
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_one_error_line(&o, &["this is a l2 tape, but --funding expects a funding tape"]);
}

#[test]
fn new_strategy_scaffolds_a_crate_that_builds_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["new-strategy", "my-strat", "--path", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let krate = dir.path().join("my-strat");
    for f in ["Cargo.toml", "src/lib.rs", "strategy.toml", "README.md"] {
        assert!(krate.join(f).is_file(), "{f} missing");
    }
    // Same dependency versions as the workspace, and its compiled
    // dependencies from the plugins' target folder.
    fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = root().join("target/test-plugins");
    plugin_dir(); // build the shared dependencies first, once
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let b = std::process::Command::new(cargo)
        .current_dir(&krate)
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(b.status.success(), "the new crate does not build:\n{}", String::from_utf8_lossy(&b.stderr));
    let lib = target.join(format!("debug/{}my_strat{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
    let t = tapes(&dir.path().join("t"));
    let o = run_with(&lib, Some(&krate.join("strategy.toml")), &t, &dir.path().join("out"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("strategy      my-strat 0.1.0"), "{}", stdout(&o));

    let again = run(&["new-strategy", "my-strat", "--path", dir.path().to_str().unwrap()]);
    assert_one_error_line(&again, &["already exists"]);
    let bad = run(&["new-strategy", "My Strat", "--path", dir.path().to_str().unwrap()]);
    assert_one_error_line(&bad, &["not a valid crate name"]);
}

#[test]
fn new_strategy_prints_absolute_commands_that_work_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    // A relative --path, from another working folder.
    let o = common::ticktape()
        .current_dir(dir.path())
        .args(["new-strategy", "abs-strat", "--path", "nested"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let krate = dir.path().canonicalize().unwrap().join("nested/abs-strat");
    let exe = Path::new(env!("CARGO_BIN_EXE_ticktape")).canonicalize().unwrap();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let build = format!("cargo build --release --manifest-path {}", krate.join("Cargo.toml").display());
    assert!(lines.contains(&build.as_str()), "no absolute build command {build:?} in:\n{out}");
    let lib = format!("{}abs_strat{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let run_line = lines.iter().find(|l| l.contains(" run --strategy ")).unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = run_line.split_whitespace().collect();
    assert_eq!(Path::new(words[0]), exe, "the run command names the running binary: {run_line}");
    assert_eq!(Path::new(words[3]), krate.join("target/release").join(&lib), "{run_line}");
    assert_eq!(Path::new(words[5]), krate.join("strategy.toml"), "{run_line}");
    let readme = fs::read_to_string(krate.join("README.md")).unwrap();
    assert!(readme.contains(run_line), "README.md holds the same command:\n{readme}");
}
