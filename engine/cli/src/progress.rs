//! Progress and logs, the same for every command: `-q` (errors only), `-v`
//! (more detail), `--log-file` (every message as one JSON line: time,
//! level, message). Progress of sweeps (runs), backtests (events) and
//! conversions (input bytes) is a bar with ETA (indicatif) when stderr is
//! a terminal, and plain periodic lines otherwise, so batch logs (Slurm,
//! Kubernetes) show how far a job is.

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

/// How often the plain progress lines come when stderr is not a terminal:
/// `TICKTAPE_PROGRESS_INTERVAL` seconds if set (a positive number, e.g.
/// `0.5`; tests use a tiny one), else every 10 s, or 2 s with `-v`.
pub(crate) fn interval() -> Duration {
    static ENV: OnceLock<Option<Duration>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
    });
    env.unwrap_or(if level() >= 2 { Duration::from_secs(2) } else { Duration::from_secs(10) })
}

/// The environment variable that sets [`interval`].
pub(crate) const INTERVAL_ENV: &str = "TICKTAPE_PROGRESS_INTERVAL";

/// What a [`Bar`] counts.
#[derive(Clone, Copy, Debug)]
enum Unit {
    /// Items named by the noun (`runs`, `events`).
    Count(&'static str),
    /// Bytes of input.
    Bytes,
}

/// `12_345_678` → `12.3 M`; below 10 000 the number itself.
fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.1} G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1} k", n / 1e3)
    } else if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// Seconds → `42 s`, `3 min 05 s`, `2 h 07 min`.
fn eta_text(secs: f64) -> String {
    let s = secs.round() as u64;
    if s < 100 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, s % 3600 / 60)
    }
}

/// Progress over a known number of items (runs, events, input bytes): a
/// bar with ETA on a terminal (indicatif); otherwise a plain line every
/// [`interval`] while the count moves, such as
/// `progress: 41% 12.3 M/30.0 M events, 8.1 M/s, eta 2 s`, and a last one
/// when it ends if any came before; nothing with `-q`. `-v` adds the
/// elapsed time. Every update also goes to the log file (at most once a
/// second). Without a known total ([`Bar::counter`]: rows of a database
/// query) it is a spinner with the count, the rate and the elapsed time,
/// and the plain line is `progress: 1.2 M rows, 610.5 k/s, 2 s elapsed`.
#[derive(Debug)]
pub(crate) struct Bar {
    unit: Unit,
    /// `None`: not known (a counter).
    total: Option<u64>,
    start: u64,
    t0: Instant,
    bar: Option<indicatif::ProgressBar>,
    last: Mutex<Last>,
}

/// What a [`Bar`] last showed.
#[derive(Debug)]
struct Last {
    /// When the last plain line was printed (or the bar made).
    line: Instant,
    /// When progress was last logged.
    logged: Instant,
    /// The last count set.
    done: u64,
    /// The count of the last plain line, if one was printed.
    printed: Option<u64>,
}

impl Bar {
    /// A bar over `total` items (`what`: their noun, plural) of which `done`
    /// are done already.
    pub(crate) fn new(what: &'static str, total: u64, done: u64) -> Bar {
        Bar::with(Unit::Count(what), Some(total), done)
    }

    /// A bar over `total` bytes of input.
    pub(crate) fn bytes(total: u64) -> Bar {
        Bar::with(Unit::Bytes, Some(total), 0)
    }

    /// A counter of items (`what`: their noun, plural) whose total is not
    /// known in advance.
    pub(crate) fn counter(what: &'static str) -> Bar {
        Bar::with(Unit::Count(what), None, 0)
    }

    fn with(unit: Unit, total: Option<u64>, done: u64) -> Bar {
        let bar = (level() >= 1 && std::io::stderr().is_terminal()).then(|| {
            let (b, msg, template) = match (unit, total) {
                (Unit::Count(what), None) => (
                    indicatif::ProgressBar::new_spinner(),
                    what,
                    "{spinner} {msg} {human_pos} {per_sec} elapsed {elapsed}",
                ),
                (Unit::Count(what), Some(n)) => (
                    indicatif::ProgressBar::new(n),
                    what,
                    "{msg} [{bar:40}] {human_pos}/{human_len} {per_sec} ETA {eta}",
                ),
                (Unit::Bytes, n) => (
                    indicatif::ProgressBar::new(n.unwrap_or(0)),
                    "input",
                    "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                ),
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(msg);
            b.set_position(done);
            if total.is_none() {
                b.enable_steady_tick(Duration::from_millis(120));
            }
            b
        });
        let now = Instant::now();
        let last = Last { line: now, logged: now, done, printed: None };
        Bar { unit, total, start: done, t0: now, bar, last: Mutex::new(last) }
    }

    /// Sets how many items are done.
    pub(crate) fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if self.bar.is_none() && level() >= 1 && last.line.elapsed() >= interval() && done != last.done {
            last.line = Instant::now();
            last.printed = Some(done);
            eprintln!("{}", self.line(done));
        }
        if LOG.get().is_some() && last.logged.elapsed() >= Duration::from_secs(1) && done != last.done {
            last.logged = Instant::now();
            log("progress", &self.line(done), Some(serde_json::json!({ "done": done, "total": self.total })));
        }
        last.done = done;
    }

    /// The plain progress line at `done`.
    fn line(&self, done: u64) -> String {
        let secs = self.t0.elapsed().as_secs_f64();
        let rate = done.saturating_sub(self.start) as f64 / secs.max(1e-9);
        let Some(total) = self.total else {
            let what = match self.unit {
                Unit::Count(what) => what,
                Unit::Bytes => "input bytes",
            };
            return format!("progress: {} {what}, {}/s, {} elapsed", human(done as f64), human(rate), eta_text(secs));
        };
        let eta = if done >= total {
            "eta 0 s".to_owned()
        } else if rate > 0.0 {
            format!("eta {}", eta_text(total.saturating_sub(done) as f64 / rate))
        } else {
            "eta -".to_owned()
        };
        let pct = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
        let amount = match self.unit {
            Unit::Count(what) => {
                format!("{}/{} {what}, {}/s", human(done as f64), human(total as f64), human(rate))
            }
            Unit::Bytes => format!(
                "{}/{} input, {}/s",
                crate::fmt::bytes(done),
                crate::fmt::bytes(total),
                crate::fmt::bytes(rate as u64)
            ),
        };
        let elapsed = if level() >= 2 { format!(", {} elapsed", eta_text(secs)) } else { String::new() };
        format!("progress: {:.0}% {amount}, {eta}{elapsed}", pct.floor())
    }

    /// Ends the bar with every item done (a counter: at its last count).
    pub(crate) fn finish(&self) {
        match self.total {
            Some(total) => self.end(total),
            None => self.stop(),
        }
    }

    /// Ends the bar where it is (the work stopped short).
    pub(crate) fn stop(&self) {
        let done = self.last.lock().unwrap_or_else(|p| p.into_inner()).done;
        self.end(done);
    }

    fn end(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        // A last line when lines came before, or when the work lasted an
        // interval (a line was due, even if no count change fell on one).
        let printed = self.last.lock().unwrap_or_else(|p| p.into_inner()).printed;
        let due = printed.is_some() || self.t0.elapsed() >= interval();
        if self.bar.is_none() && level() >= 1 && due && printed != Some(done) {
            eprintln!("{}", self.line(done));
        }
        log("progress", &self.line(done), Some(serde_json::json!({ "done": done, "total": self.total })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_read_well() {
        assert_eq!(human(41.0), "41");
        assert_eq!(human(12_345_678.0), "12.3 M");
        assert_eq!(human(30_000_000.0), "30.0 M");
        assert_eq!(human(52_000.0), "52.0 k");
        assert_eq!(eta_text(2.4), "2 s");
        assert_eq!(eta_text(185.0), "3 min 05 s");
        assert_eq!(eta_text(7620.0), "2 h 07 min");
        let b = Bar::new("events", 30_000_000, 0);
        let l = b.line(12_300_000);
        assert!(l.starts_with("progress: 41% 12.3 M/30.0 M events, "), "{l}");
        assert!(l.contains("/s, eta "), "{l}");
        assert!(Bar::bytes(2048).line(1024).starts_with("progress: 50% 1.00 KiB/2.00 KiB input, "));
        let l = Bar::counter("rows").line(1_234_567);
        assert!(l.starts_with("progress: 1.2 M rows, ") && l.ends_with(" elapsed"), "{l}");
        assert!(!l.contains('%') && !l.contains("eta"), "no total, so no share or ETA: {l}");
    }
}
