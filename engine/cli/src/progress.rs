//! Progress and logs: `-q` (errors only), `-v` (more detail), `--log-file`
//! (every message as one JSON line: time, level, message). Progress bars
//! (indicatif, with ETA) when stderr is a terminal; plain periodic lines
//! otherwise, so batch logs (Slurm, Kubernetes) show how far a job is.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// 0: quiet, 1: normal, 2 and up: verbose.
static LEVEL: AtomicU8 = AtomicU8::new(1);
static LOG: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Sets the verbosity and opens the log file (appended to).
pub(crate) fn init(quiet: bool, verbose: u8, log_file: Option<&Path>) -> Result<()> {
    LEVEL.store(if quiet { 0 } else { 1 + verbose.min(3) }, Ordering::Relaxed);
    if let Some(p) = log_file {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("cannot open --log-file {}", p.display()))?;
        let _ = LOG.set(Mutex::new(f));
    }
    Ok(())
}

fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// Appends one JSON line to the log file, if any.
fn log(level: &str, msg: &str, extra: Option<serde_json::Value>) {
    let Some(f) = LOG.get() else { return };
    let mut v = serde_json::json!({
        "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": level,
        "pid": std::process::id(),
        "msg": msg,
    });
    if let (Some(serde_json::Value::Object(extra)), Some(map)) = (extra, v.as_object_mut()) {
        map.extend(extra);
    }
    let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
    let _ = writeln!(f, "{v}");
}

/// A message shown unless `-q`.
pub(crate) fn info(msg: &str) {
    log("info", msg, None);
    if level() >= 1 {
        eprintln!("{msg}");
    }
}

/// A warning shown unless `-q`.
pub(crate) fn warn(msg: &str) {
    log("warn", msg, None);
    if level() >= 1 {
        eprintln!("warning: {msg}");
    }
}

/// A detail shown with `-v`.
pub(crate) fn debug(msg: &str) {
    log("debug", msg, None);
    if level() >= 2 {
        eprintln!("{msg}");
    }
}

/// Progress over a known number of items: a bar with ETA on a terminal,
/// else a line every 10 s (every 2 s with `-v`) and at the end; nothing
/// with `-q`. Every update also goes to the log file (at most once a second).
#[derive(Debug)]
pub(crate) struct Bar {
    what: &'static str,
    total: u64,
    start: u64,
    t0: Instant,
    bar: Option<indicatif::ProgressBar>,
    last: Mutex<(Instant, Instant, u64)>,
}

impl Bar {
    /// A bar over `total` items of which `done` are done already.
    pub(crate) fn new(what: &'static str, total: u64, done: u64) -> Bar {
        let bar = (level() >= 1 && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(what);
            b.set_position(done);
            b
        });
        let now = Instant::now();
        Bar { what, total, start: done, t0: now, bar, last: Mutex::new((now, now, done)) }
    }

    /// Sets how many items are done.
    pub(crate) fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let every = if level() >= 2 { Duration::from_secs(2) } else { Duration::from_secs(10) };
        if self.bar.is_none() && level() >= 1 && last.0.elapsed() >= every && done != last.2 {
            last.0 = Instant::now();
            eprintln!("{}", self.line(done));
        }
        if LOG.get().is_some() && last.1.elapsed() >= Duration::from_secs(1) && done != last.2 {
            last.1 = Instant::now();
            log("progress", &self.line(done), Some(serde_json::json!({ "done": done, "total": self.total })));
        }
        last.2 = done;
    }

    fn line(&self, done: u64) -> String {
        let secs = self.t0.elapsed().as_secs_f64();
        let rate = done.saturating_sub(self.start) as f64 / secs.max(1e-9);
        let eta = if rate > 0.0 {
            format!(", ETA {:.0} s", self.total.saturating_sub(done) as f64 / rate)
        } else {
            String::new()
        };
        let pct = if self.total == 0 { 100.0 } else { done as f64 * 100.0 / self.total as f64 };
        format!("{}: {done}/{} ({pct:.0} %) in {secs:.0} s{eta}", self.what, self.total)
    }

    /// Ends the bar.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        log("progress", &self.line(self.total), Some(serde_json::json!({ "done": self.total, "total": self.total })));
    }
}
