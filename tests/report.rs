//! End-to-end tests of `ticktape report`: the report of a real backtest of
//! the shipped sample is one self-contained HTML file, deterministic, and
//! renders in headless Chromium without console errors.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Backtests the template market maker over the shipped two-minute Binance
/// capture (as tests/run.rs does) and returns the run folder.
fn real_run(dir: &Path) -> PathBuf {
    let capture = root().join("engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz");
    let tapes = dir.join("tapes");
    let o = run(&["convert", "binance-ws", capture.to_str().unwrap(), "-o", tapes.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("run");
    let config = dir.join("run.toml");
    fs::write(
        &config,
        format!(
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
        ),
    )
    .unwrap();
    let o = run(&["run", config.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// The Chromium to render with: `$TICKTAPE_CHROMIUM`, else the first of
/// chromium, chromium-browser, google-chrome on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TICKTAPE_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "TICKTAPE_CHROMIUM={} is not a file", p.display());
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on the page `html` with `extra` flags, killing it
/// after two minutes; console messages are logged to stderr.
fn headless(chromium: &Path, html: &Path, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let t0 = Instant::now();
    // Read both pipes on threads so a chatty Chromium never blocks on them.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut v).ok();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err_pipe, &mut v).ok();
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            child.kill().ok();
            panic!("chromium did not finish within 120 s on {}", html.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

/// The console messages Chromium logged (lines with `CONSOLE`).
fn console_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.contains("CONSOLE")).map(str::to_owned).collect()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn report_of_the_shipped_real_sample_is_self_contained_and_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = real_run(dir.path());
    let html_path = dir.path().join("report.html");
    let o = run(&["report", run_dir.to_str().unwrap(), "-o", html_path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("wrote "), "{}", stdout(&o));
    let html = fs::read_to_string(&html_path).unwrap();

    // Self-contained: nothing fetched from anywhere.
    let lower = html.to_lowercase();
    for external in ["http://", "https://", "<script src", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!lower.contains(external), "the report references something outside itself: {external:?}");
    }
    // Every part the report promises, drawn from this run.
    for part in [
        "Summary",
        "Equity",
        "Drawdown",
        "Position in BTCUSDT",
        "Fills in BTCUSDT over the mark price",
        "buy, maker",
        "sell, maker",
        "Equity change between samples",
        "Realised PnL per closing fill",
        "Attribution per order tag",
        "time (UTC, 2024-08-08)",
        "price (USDT)",
        "maker share",
    ] {
        assert!(html.contains(part), "the report lacks {part:?}");
    }
    let charts = html.matches("<svg").count();
    assert!(charts >= 8, "{charts} charts");
    // The same run gives the same bytes.
    let again = dir.path().join("again.html");
    assert!(run(&["report", run_dir.to_str().unwrap(), "-o", again.to_str().unwrap()]).status.success());
    assert_eq!(fs::read(&again).unwrap(), html.as_bytes(), "two reports of one run differ");
    // Without -o the report lands in the run folder.
    assert!(run(&["report", run_dir.to_str().unwrap()]).status.success());
    assert_eq!(fs::read(run_dir.join("report.html")).unwrap(), html.as_bytes());

    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("TICKTAPE_REQUIRE_CHROMIUM").is_none(),
            "TICKTAPE_REQUIRE_CHROMIUM is set but no chromium is on PATH (apt-get install chromium)"
        );
        skip("no chromium on PATH (CI installs Debian's `chromium`; set TICKTAPE_CHROMIUM to use another)");
        return;
    };

    // The console capture works: a page that throws and logs an error is seen.
    let probe = dir.path().join("probe.html");
    fs::write(
        &probe,
        "<!DOCTYPE html><html><body><script>console.error('ticktape-probe-log');\
         throw new Error('ticktape-probe-throw');</script></body></html>",
    )
    .unwrap();
    let o = headless(&chromium, &probe, &["--dump-dom"]);
    let seen = console_lines(&o).join("\n");
    assert!(
        seen.contains("ticktape-probe-log") && seen.contains("ticktape-probe-throw"),
        "chromium's console capture does not work, so the report check would prove nothing; stderr:\n{}",
        stderr(&o)
    );

    // The report: no console message at all, and its script ran to the end.
    let o = headless(&chromium, &html_path, &["--dump-dom"]);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let console = console_lines(&o);
    assert!(console.is_empty(), "console messages from the report:\n{}", console.join("\n"));
    let dom = stdout(&o);
    assert!(dom.contains("data-ready=\"1\""), "the report's script did not run to the end");
    assert_eq!(dom.matches("<svg").count(), charts, "every chart is in the rendered page");

    // A screenshot for people (kept in target/ to look at) and a check that
    // it is not blank: a blank page compresses to a few kilobytes.
    let shot_dir = root().join("target/report-test");
    fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("shipped-sample.png");
    let _ = fs::remove_file(&shot);
    let o = headless(
        &chromium,
        &html_path,
        &["--hide-scrollbars", &format!("--screenshot={}", shot.display()), "--window-size=1280,2000"],
    );
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let console = console_lines(&o);
    assert!(console.is_empty(), "console messages from the report:\n{}", console.join("\n"));
    let png = fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert_eq!(png_size(&png), (1280, 2000));
    assert!(png.len() > 40_000, "the screenshot is {} bytes: a blank page?", png.len());
}

#[test]
fn report_of_a_folder_that_is_not_a_run_folder_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("summary.json"), "{}").unwrap();
    let out = dir.path().join("r.html");
    let o = run(&["report", dir.path().to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["not a run folder", "missing equity.parquet", "ticktape run"]);
    assert!(!out.exists(), "no report for a failed render");

    let o = run(&["report", dir.path().join("absent").to_str().unwrap()]);
    assert_one_error_line(&o, &["absent", "no such folder"]);

    // A results file that is not Parquet names the file.
    for f in ["equity.parquet", "inventory.parquet", "fills.parquet", "orders.parquet"] {
        fs::write(dir.path().join(f), "not parquet").unwrap();
    }
    let o = run(&["report", dir.path().to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_one_error_line(&o, &["equity.parquet", "cannot read Parquet"]);
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 5, "no temporary file left behind: {names:?}");
}

#[test]
fn report_help_teaches_with_examples() {
    let o = run(&["report", "--help"]);
    assert!(o.status.success());
    let h = stdout(&o);
    for needle in ["Examples:", "ticktape report results/mm", "-o", "summary.json"] {
        assert!(h.contains(needle), "help lacks {needle:?}:\n{h}");
    }
}
