//! Helpers shared by the end-to-end tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `ticktape` binary under test.
pub fn ticktape() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ticktape"))
}

/// Runs ticktape with `args`.
pub fn run(args: &[&str]) -> Output {
    ticktape().args(args).output().expect("run ticktape")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed run printed exactly one `error:` line containing every
/// needle, exited with status 1 and did not panic. Plain progress lines
/// (`progress: ..`, printed when a command outlasts the progress interval
/// with stderr not a terminal, as on a loaded machine) are not counted.
pub fn assert_one_error_line(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    // A Rust panic of ticktape itself prints "thread '..' panicked at".
    assert!(!err.contains("panicked at") && !err.contains("RUST_BACKTRACE"), "ticktape panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("progress: ")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "error line lacks {n:?}: {err}");
    }
}

#[path = "build_plugins.rs"]
mod build_plugins;
#[allow(unused_imports)]
pub use build_plugins::{PLUGIN_CRATES, plugin, plugin_dir, root};

/// `../shared/data/real` beside the workspace, or `$TICKTAPE_SHARED/data/real`,
/// if present.
pub fn real_data() -> Option<PathBuf> {
    let base = std::env::var_os("TICKTAPE_SHARED").map(PathBuf::from).unwrap_or_else(|| root().join("../shared"));
    let p = base.join("data/real");
    p.is_dir().then_some(p)
}

/// Generates synthetic tapes into `dir` through the CLI.
pub fn gen_tapes(dir: &Path, events: &str, symbols: &str) -> Vec<PathBuf> {
    let o = run(&["gen", "--out", dir.to_str().unwrap(), "--events", events, "--symbols", symbols, "--seed", "11"]);
    assert!(o.status.success(), "gen failed: {}", stderr(&o));
    let mut tapes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tape"))
        .collect();
    tapes.sort();
    tapes
}

/// Says that a test skips, on stderr directly: the test harness captures
/// `println!`/`eprintln!` of passing tests, and a skip must be visible.
pub fn skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// The simulator keys the end-to-end run files share (latency, fees,
/// limits, account), as run-file TOML.
#[allow(dead_code)]
pub const SIM_KEYS: &str = r#"[latency]
feed = "local"
entry = "lognormal(2ms, 0.3)"
response = "lognormal(2ms, 0.3)"
[fees]
maker_bps = -0.5
taker_bps = 5.0
[limits]
max_position = 0.05
[account]
capital = 100000
sample = "1s""#;
