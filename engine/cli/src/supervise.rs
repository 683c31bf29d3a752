//! Crash containment for `ticktape run`: the whole backtest runs in a child
//! process (this binary re-executed with a hidden `--child-dir`), so the
//! per-event path never crosses a process boundary. The parent only waits:
//! it enforces `--time-limit`, forwards Ctrl-C, and when the child dies
//! without reporting completion (abort, segfault, out of memory, a plugin's
//! `exit()`) it writes `summary.json` with the error and how far the child
//! got: the child stores its event count and the exchange time of the
//! market event it is processing into a small shared file mapping
//! ([`CLOCK`]) on every event (two stores to memory, no system call), which
//! survives the child's death, so the error names the last event time the
//! child reached, not a report up to a second old.

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
/// 16 bytes the child maps shared and updates on every market event: the
/// event count (u64 LE) and the exchange time of that event (i64 LE, ns).
pub(crate) const CLOCK: &str = ".clock";

/// The event count and the exchange time of the market event the child was
/// processing when it stopped (written by [`Progress`] on every event), if
/// it reached one.
pub(crate) fn clock(dir: &Path) -> Option<(u64, i64)> {
    let b = std::fs::read(dir.join(CLOCK)).ok()?;
    let events = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    let ts = i64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    (events > 0).then_some((events, ts))
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether ticktape received SIGINT or SIGTERM while supervising.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
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
    supervise_watched(args, dir, time_limit, memory_limit, &mut || None)
}

/// [`supervise`], and while the child runs, `watch` is called about every
/// 10 ms: when it returns what went wrong, the child is killed and the
/// outcome is [`Outcome::Crashed`] with that text (how `ticktape sweep`
/// stops a run over its time limit).
pub(crate) fn supervise_watched(
    args: Vec<std::ffi::OsString>,
    dir: &Path,
    time_limit: Option<Duration>,
    memory_limit: Option<u64>,
    watch: &mut dyn FnMut() -> Option<String>,
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
            } else if let Some(why) = watch() {
                stopped = Some(why);
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

/// The event count and the last event time (exchange, ns) the child last
/// reported, if any.
pub(crate) fn progress(dir: &Path) -> Option<(u64, Option<i64>)> {
    let text = std::fs::read_to_string(dir.join(PROGRESS)).ok()?;
    let mut it = text.split_whitespace();
    let events = it.next()?.parse().ok()?;
    Some((events, it.next().and_then(|t| t.parse().ok())))
}

/// Folder (inside the child's folder) holding the last complete checkpoint.
pub(crate) const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_TMP: &str = "checkpoint.tmp";
const CHECKPOINT_OLD: &str = "checkpoint.old";

/// Moves the files of the last complete checkpoint in `dir` into `dir`
/// itself and removes the checkpoint folders; returns the checkpoint's
/// `summary.json`, if there was a checkpoint.
pub(crate) fn take_checkpoint(dir: &Path) -> Option<serde_json::Value> {
    // A crash between the two renames leaves only the previous one, as `.old`.
    let found =
        [CHECKPOINT, CHECKPOINT_OLD].into_iter().map(|n| dir.join(n)).find(|d| d.join("summary.json").is_file());
    let summary = found.as_ref().and_then(|ck| {
        let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.join("summary.json")).ok()?).ok()?;
        for e in std::fs::read_dir(ck).ok()?.flatten() {
            let name = e.file_name();
            if !name.to_string_lossy().starts_with('.') {
                std::fs::rename(e.path(), dir.join(&name)).ok()?;
            }
        }
        Some(summary)
    });
    remove_checkpoints(dir);
    summary
}

/// Removes every checkpoint folder from `dir`.
pub(crate) fn remove_checkpoints(dir: &Path) {
    for n in [CHECKPOINT, CHECKPOINT_TMP, CHECKPOINT_OLD] {
        let _ = std::fs::remove_dir_all(dir.join(n));
    }
}

/// Writes a checkpoint: the complete results of `snapshot`.
pub(crate) type Writer = Box<dyn FnMut(&Path, &ticktape_engine::sim::RunOutput) -> Result<()>>;

/// A [`ticktape_engine::sim::Probe`] for the child: counts events and,
/// every 65 536 events, looks at the clock; about once a second (or every
/// progress interval, if shorter) it rewrites
/// the progress file (event count and last event time; temporary name, then
/// renamed) and asks for a checkpoint, which it writes as a complete results
/// folder (`checkpoint.tmp`, renamed to `checkpoint`). Checkpoints back off
/// for large outputs: at most one every max(1 s, 10 × the last write time).
pub(crate) struct Progress {
    events: u64,
    /// Where each event's count and time go: 2 × 8 bytes of `_clock` (the
    /// shared map of [`CLOCK`]), or of `_spare` if it cannot be mapped.
    slot: *mut i64,
    _clock: Option<memmap2::MmapMut>,
    _spare: Box<[i64; 2]>,
    dir: PathBuf,
    last: Instant,
    /// How often the progress file is rewritten: once a second, or more
    /// often when the progress lines come more often.
    every: Duration,
    last_checkpoint: Instant,
    checkpoint_gap: Duration,
    /// When the last checkpoint was asked for (its cost includes the copy).
    asked: Instant,
    writer: Option<Writer>,
}

impl Progress {
    pub(crate) fn new(dir: &Path) -> Self {
        let now = Instant::now();
        let map = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(CLOCK))
            .and_then(|f| {
                f.set_len(16)?;
                // SAFETY: the file is this run's own (in its private staging
                // folder, created just above); nothing else truncates or
                // writes it while the map is alive. The parent reads it only
                // after this process has ended.
                unsafe { memmap2::MmapMut::map_mut(&f) }
            })
            .ok()
            .filter(|m| m.len() >= 16 && (m.as_ptr() as usize).is_multiple_of(8));
        let mut spare = Box::new([0i64; 2]);
        let mut clock = map;
        let slot = match clock.as_mut() {
            Some(m) => m.as_mut_ptr().cast::<i64>(),
            None => spare.as_mut_ptr(),
        };
        Progress {
            events: 0,
            slot,
            _clock: clock,
            _spare: spare,
            dir: dir.to_path_buf(),
            last: now,
            every: crate::progress::interval().min(Duration::from_secs(1)),
            last_checkpoint: now,
            checkpoint_gap: Duration::from_secs(1),
            asked: now,
            writer: None,
        }
    }

    /// Sets how checkpoints are written (none are written without one).
    pub(crate) fn set_writer(&mut self, w: Writer) {
        self.writer = Some(w);
    }

    #[cold]
    #[inline(never)]
    fn report(&mut self, ts: i64) -> bool {
        if self.last.elapsed() < self.every {
            return false;
        }
        self.last = Instant::now();
        let tmp = self.dir.join(".progress.tmp");
        if std::fs::write(&tmp, format!("{} {ts}", self.events)).is_ok() {
            let _ = std::fs::rename(&tmp, self.dir.join(PROGRESS));
        }
        let due = self.writer.is_some() && self.last_checkpoint.elapsed() >= self.checkpoint_gap;
        if due {
            self.asked = Instant::now();
        }
        due
    }

    fn write_checkpoint(&mut self, snapshot: &ticktape_engine::sim::RunOutput) -> Result<()> {
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        let (tmp, cur, old) = (self.dir.join(CHECKPOINT_TMP), self.dir.join(CHECKPOINT), self.dir.join(CHECKPOINT_OLD));
        let _ = std::fs::remove_dir_all(&tmp);
        w(&tmp, snapshot)?;
        // Write new, rename old away, rename new, remove old: there is
        // always one complete checkpoint (`checkpoint` or `checkpoint.old`).
        if cur.exists() {
            std::fs::rename(&cur, &old).with_context(|| format!("cannot rename {}", cur.display()))?;
        }
        std::fs::rename(&tmp, &cur).with_context(|| format!("cannot rename {}", tmp.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

impl ticktape_engine::sim::Probe for Progress {
    #[inline(always)]
    fn event(&mut self, ts: i64) -> bool {
        self.events += 1;
        // SAFETY: `slot` points at two aligned i64s that live as long as
        // `self`: the start of the 16-byte shared map held in `_clock`, or
        // `_spare`'s heap block (never moved or freed before `self`).
        // Volatile: the stores must reach the map before any plugin code
        // that may crash runs.
        unsafe {
            self.slot.write_volatile(self.events as i64);
            self.slot.add(1).write_volatile(ts);
        }
        self.events & 0xFFFF == 0 && self.report(ts)
    }

    #[cold]
    fn checkpoint(&mut self, snapshot: ticktape_engine::sim::RunOutput) {
        if let Err(e) = self.write_checkpoint(&snapshot) {
            // Keep running; the run's own results do not depend on it.
            eprintln!("warning: cannot write a checkpoint: {e:#}; no more checkpoints are written");
            self.writer = None;
        }
        self.last_checkpoint = Instant::now();
        self.checkpoint_gap = Duration::from_secs(1).max(self.asked.elapsed() * 10);
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
