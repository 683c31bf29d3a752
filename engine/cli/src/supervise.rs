//! Crash containment for `ticktape run`: the whole backtest runs in a child
//! process (this binary re-executed with a hidden `--child-dir`), so the
//! per-event path never crosses a process boundary. The parent only waits:
//! it enforces `--time-limit`, forwards Ctrl-C, and when the child dies
//! without reporting completion (abort, segfault, out of memory, a plugin's
//! `exit()`) it writes `summary.json` with the error and the progress the
//! child last reported.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// File the child writes when the backtest ended (`ok` or `error`).
pub(crate) const STATUS: &str = ".status";
/// File the child rewrites about once a second with its event count.
pub(crate) const PROGRESS: &str = ".progress";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// How the child ended.
pub(crate) enum Outcome {
    /// The child reported completion (`ok` true) or a reported error; its
    /// stderr is passed on as is.
    Reported { ok: bool, stderr: Vec<u8> },
    /// The child died without reporting: what happened, and its stderr.
    Crashed { what: String, stderr: Vec<u8> },
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGABRT => "SIGABRT (abort)",
        libc::SIGSEGV => "SIGSEGV (segmentation fault)",
        libc::SIGBUS => "SIGBUS (bus error)",
        libc::SIGILL => "SIGILL (illegal instruction)",
        libc::SIGFPE => "SIGFPE (arithmetic fault)",
        libc::SIGKILL => "SIGKILL (killed; often the kernel's out-of-memory killer)",
        libc::SIGTERM => "SIGTERM (terminated)",
        libc::SIGINT => "SIGINT (interrupted)",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

/// Runs this binary again with `args` plus `--child-dir dir`, waits for it
/// and classifies the ending.
pub(crate) fn supervise(
    args: Vec<std::ffi::OsString>,
    dir: &Path,
    time_limit: Option<Duration>,
    memory_limit: Option<u64>,
) -> Result<Outcome> {
    let exe = std::env::current_exe().context("cannot find the ticktape binary to run the backtest in")?;
    let mut cmd = Command::new(exe);
    cmd.args(args).arg("--child-dir").arg(dir).stdin(Stdio::null()).stderr(Stdio::piped());
    if let Some(bytes) = memory_limit {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and only
        // calls setrlimit, which is async-signal-safe and touches no memory
        // of the parent beyond the copied `bytes`.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // SAFETY: installing a handler that only stores to an atomic; no other
    // thread changes these dispositions.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
    let mut child = cmd.spawn().context("cannot start the backtest process")?;
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    });
    let t0 = Instant::now();
    let mut stopped: Option<String> = None;
    let status = loop {
        if let Some(s) = child.try_wait().context("cannot wait for the backtest process")? {
            break s;
        }
        if stopped.is_none() {
            if INTERRUPTED.load(Ordering::SeqCst) {
                stopped = Some("was interrupted (Ctrl-C / SIGINT or SIGTERM to ticktape)".into());
                let _ = child.kill();
            } else if let Some(limit) = time_limit.filter(|l| t0.elapsed() >= *l) {
                stopped = Some(format!("reached --time-limit {:.3} s and was stopped", limit.as_secs_f64()));
                let _ = child.kill();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap_or_default();
    let reported = std::fs::read_to_string(dir.join(STATUS)).ok();
    if let (None, Some(r)) = (&stopped, reported) {
        return Ok(Outcome::Reported { ok: r.trim() == "ok" && status.success(), stderr });
    }
    use std::os::unix::process::ExitStatusExt;
    let text = String::from_utf8_lossy(&stderr);
    let what = match (stopped, status.signal(), status.code()) {
        (Some(s), _, _) => s,
        (None, _, _) if text.contains("memory allocation of") => match memory_limit {
            Some(m) => format!("ran out of memory (--memory-limit {m} bytes reached)"),
            None => "ran out of memory".into(),
        },
        (None, Some(libc::SIGINT), _) => "was interrupted (SIGINT)".into(),
        (None, Some(sig), _) => format!("was killed by {}", signal_name(sig)),
        (None, None, Some(0)) => {
            "ended the process with exit status 0 before the backtest completed (exit() called from plugin code?)"
                .into()
        }
        (None, None, Some(c)) => format!("ended the process with exit status {c} before the backtest completed"),
        (None, None, None) => "ended without an exit status".into(),
    };
    Ok(Outcome::Crashed { what, stderr })
}

/// The event count the child last reported, if any.
pub(crate) fn progress(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(PROGRESS)).ok()?.trim().parse().ok()
}

/// A [`ticktape_engine::sim::Probe`] for the child: counts events and,
/// every 65 536 events, looks at the clock; about once a second it rewrites
/// the progress file (temporary name, then renamed).
pub(crate) struct Progress {
    events: u64,
    path: PathBuf,
    tmp: PathBuf,
    last: Instant,
}

impl Progress {
    pub(crate) fn new(dir: &Path) -> Self {
        Progress { events: 0, path: dir.join(PROGRESS), tmp: dir.join(".progress.tmp"), last: Instant::now() }
    }

    #[cold]
    fn report(&mut self) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            if std::fs::write(&self.tmp, self.events.to_string()).is_ok() {
                let _ = std::fs::rename(&self.tmp, &self.path);
            }
        }
    }
}

impl ticktape_engine::sim::Probe for Progress {
    #[inline(always)]
    fn event(&mut self) {
        self.events += 1;
        if self.events & 0xFFFF == 0 {
            self.report();
        }
    }
}

/// Parses a byte size: `512MB`, `4GB`, `2GiB`, `1000000`.
pub(crate) fn parse_bytes(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().with_context(|| format!("{s:?} is not a size (examples: 512MB, 4GB, 2GiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        u => anyhow::bail!("{s:?}: unknown size unit {u:?} (use B, KB, MB, GB, KiB, MiB or GiB)"),
    };
    n.checked_mul(mult).with_context(|| format!("{s:?} is too large"))
}
