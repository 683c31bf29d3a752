//! `ticktape bench`: throughput, per-event cost and heap of the hot paths.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use ticktape_engine::book::Book;
use ticktape_engine::replay::{Event, Handler, Replay};
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};

use crate::{alloc, fmt};

/// Measure ticktape's hot paths on this machine.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Replay(ReplayBench),
}

/// Replay throughput (events/s), per-event cost percentiles and heap use,
/// with book maintenance and a no-op strategy.
///
/// Without TAPES, generates a synthetic trades + L2 tape pair in a temporary
/// folder first. The first pass warms the page cache and is not counted;
/// then RUNS timed passes (median, min, max), then one pass that records the
/// per-event cost in an HDR histogram. The cost is measured over windows of
/// WINDOW consecutive events (elapsed time / WINDOW) so that reading the
/// clock, ~20 ns, does not swamp a ~10 ns event; a window with a page fault
/// or an interrupt shows up in the tail.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench replay                          # 20M synthetic events
  ticktape bench replay --events 100M --runs 3
  ticktape bench replay data/*.tape")]
struct ReplayBench {
    /// Tapes to replay instead of generated ones.
    #[arg(value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Events to generate when no tapes are given.
    #[arg(long, default_value = "20M", value_parser = fmt::parse_count)]
    events: u64,
    /// Symbols to generate when no tapes are given.
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT")]
    symbols: Vec<String>,
    /// Timed passes.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Events per timing window of the cost histogram.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    window: u32,
}

pub(crate) fn run(a: BenchArgs) -> Result<()> {
    match a.what {
        What::Replay(r) => replay(r),
    }
}

/// Records per-event cost over windows of events, in picoseconds.
struct WindowTimer {
    n: u32,
    window: u32,
    last: Instant,
    hist: Histogram<u64>,
}

impl Handler<'_> for WindowTimer {
    #[inline]
    fn on_event(&mut self, _: usize, _: Event<'_>, _: &[Book]) {
        self.n += 1;
        if self.n == self.window {
            self.n = 0;
            let now = Instant::now();
            let ps = (now - self.last).as_nanos() as u64 * 1000 / u64::from(self.window);
            self.hist.saturating_record(ps.max(1));
            self.last = now;
        }
    }
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores available")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn replay(a: ReplayBench) -> Result<()> {
    let _tmp;
    let paths = if a.tapes.is_empty() {
        let dir = tempfile::tempdir().context("cannot create a temporary folder for the generated tapes")?;
        let mut cfg = SynthConfig::new(a.events);
        cfg.symbols = a.symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
        let t0 = Instant::now();
        let written = generate(&cfg, dir.path())?;
        println!(
            "generated {} synthetic events ({}) in {:.1}s",
            fmt::thousands(written.iter().map(|s| s.records).sum()),
            a.symbols.join(","),
            t0.elapsed().as_secs_f64()
        );
        _tmp = dir;
        written.into_iter().map(|s| s.path).collect()
    } else {
        a.tapes.clone()
    };
    let heap_before_open = alloc::live();
    let replay = Replay::open(&paths)?;
    let bytes: u64 = replay.tapes().iter().map(|t| t.file_len()).sum();
    let events = replay.total_records();
    println!("machine: {}", machine());
    println!(
        "replay: {} events, {} tapes, {} mapped; book maintenance + no-op strategy, one thread",
        fmt::thousands(events),
        replay.tapes().len(),
        fmt::bytes(bytes)
    );

    let warm = replay.run(&mut ())?; // warms the page cache
    println!(
        "merge: {} runs, mean run length {:.2} events",
        fmt::thousands(warm.runs),
        warm.events as f64 / warm.runs.max(1) as f64
    );
    alloc::reset_peak();
    let heap_base = alloc::live();
    let mut rates = Vec::new();
    for i in 0..a.runs {
        let t0 = Instant::now();
        let out = replay.run(&mut ())?;
        let secs = t0.elapsed().as_secs_f64();
        let r = out.events as f64 / secs;
        println!("  run {}: {secs:.3}s  {}", i + 1, fmt::rate(r));
        rates.push(r);
    }
    let heap_peak = alloc::peak().saturating_sub(heap_base);
    let (lo, hi) = rates.iter().fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
    let med = median(&mut rates);
    println!(
        "throughput: median {} (min {}, max {}) over {} runs",
        fmt::rate(med),
        fmt::rate(lo),
        fmt::rate(hi),
        a.runs
    );

    let mut timer = WindowTimer {
        n: 0,
        window: a.window,
        last: Instant::now(),
        hist: Histogram::new_with_bounds(1, 3_600_000_000_000_000, 3)?,
    };
    timer.last = Instant::now();
    replay.run(&mut timer)?;
    let h = &timer.hist;
    let ns = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "per-event cost (ns, windows of {} events): p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  ({} windows)",
        a.window,
        ns(0.5),
        ns(0.99),
        ns(0.999),
        h.max() as f64 / 1000.0,
        fmt::thousands(h.len())
    );
    println!(
        "heap: {} before opening, {} while replaying (peak above baseline); the {} of tapes are mapped, not read",
        fmt::bytes(heap_before_open as u64),
        fmt::bytes(heap_peak as u64),
        fmt::bytes(bytes)
    );
    Ok(())
}
