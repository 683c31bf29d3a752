//! `ticktape bench`: throughput, per-event cost and heap of the hot paths.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use ticktape_engine::book::Book;
use ticktape_engine::replay::{Event, Handler, Replay, ReplayOptions};
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};

use crate::{alloc, fmt};

#[path = "bench_postgres.rs"]
mod postgres;

/// Measure ticktape's hot paths on this machine.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Replay(ReplayBench),
    Run(RunBench),
    Convert(ConvertBench),
    Clusterlob(ClusterlobBench),
    Rbsa(crate::research::bench::RbsaBench),
    Sweep(SweepBench),
    Factors(crate::research::factors::FactorsBench),
    Trades(crate::research::trades::TradesBench),
    Profile(crate::research::profile::ProfileBench),
    Postgres(postgres::PostgresBench),
}

/// The ClusterLOB pipeline: `research clusterlob features` (hash the tapes, replay, compute every
/// trade's features, write the Parquet day files) and `train` (default options: k = 3, 10 k-means++
/// restarts on a --fit-rows sample, then counts and inertia over every row), on one core (the Parquet
/// writer runs on a second thread); then the ClusterLOB market-maker plugin with the model of the
/// last pass (trade features, cluster assignment, decayed flow, requotes every 200 ms) through the
/// simulator with latency and cross-only fills, beside a replay of the same tapes. The first
/// backtest warms the page cache and is not counted; heap is the peak above the baseline during the
/// timed backtests, the resident peak (VmHWM) includes touched tape pages.
///
/// Without TAPES, generates a synthetic trades + L2 tape pair of --events records first (the
/// generator prints about one trade per four book updates; the seed's week is 27.6 M trades plus
/// 276 M book updates, about 11.5 GB of tapes: pass them as TAPES). Reports each pass and the
/// medians.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench clusterlob                      # 20M synthetic events
  ticktape bench clusterlob --events 146M --runs 3   # 27.6 M trades (4.3 book updates per trade)
  ticktape bench clusterlob week/*.tape")]
pub(crate) struct ClusterlobBench {
    /// Tapes of one instrument instead of generated ones.
    #[arg(value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Events to generate when no tapes are given.
    #[arg(long, default_value = "20M", value_parser = fmt::parse_count)]
    events: u64,
    /// Timed passes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// The ClusterLOB plugin (default: libticktape_clusterlob.so beside the binary).
    #[arg(long)]
    strategy: Option<String>,
    /// Most rows the k-means runs on (train's --fit-rows).
    #[arg(long, default_value = "500k", value_parser = fmt::parse_count)]
    fit_rows: u64,
}

/// Sweep throughput: RUNS backtests of the template market maker (one
/// `requote_ms` value each) over one shared tape, on 1 and on 2 worker
/// threads (--threads), in this process, through the code `ticktape sweep`
/// runs (rows written as in a sweep). Reports the median wall time of
/// --repeat passes per thread count, the speed-up, the peak heap (it grows
/// with threads, not with runs: also measured with a quarter of the runs),
/// and the per-run overhead: the same runs over a 1000-event tape (instance
/// creation, setup, summary and row write dominate) and the one-off plugin
/// load.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench sweep                           # 64 runs over a 10M-event tape, 1 vs 2 threads
  ticktape bench sweep --events 2M --runs 16 --repeat 1
  ticktape bench sweep --threads 1,2,4")]
struct SweepBench {
    /// Events of the shared tape (trades + L2).
    #[arg(long, default_value = "10M", value_parser = fmt::parse_count)]
    events: u64,
    /// Runs per sweep.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Thread counts to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Timed passes per thread count.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Strategy plugin [default: the template beside the binary].
    #[arg(long, value_name = "PLUGIN")]
    strategy: Option<String>,
}

/// Converter throughput: a Tardis/Binance trades CSV into a tape, on one
/// thread and on every core (chunks parsed in parallel, runs interleaved),
/// in MB/s of uncompressed CSV, plain and gzipped.
///
/// Without INPUT, generates a realistic binance-futures trades CSV of --mb
/// megabytes (and its .gz) in a temporary folder. Reports the median of
/// --runs conversions each; the output tape is written and synced as in a
/// real conversion. Gzip input is decompressed on a thread of its own, in a
/// pipeline with parsing. Against polars: data-tools/benches/vs_polars.py.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench convert                         # 200 MB generated trades CSV
  ticktape bench convert --mb 1000 --runs 3
  ticktape bench convert --source tardis data/binance-futures_trades_2024-08-01_BTCUSDT.csv.gz")]
struct ConvertBench {
    /// Input files to convert instead of a generated CSV.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Source kind of INPUT (see `ticktape convert --list`).
    #[arg(long, default_value = "tardis")]
    source: String,
    /// Size of the generated CSV, MB.
    #[arg(long, default_value_t = 200)]
    mb: u64,
    /// Timed conversions per input.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Backtest throughput (events/s) and per-event cost of a strategy with the
/// latency and fill models active, and the cost of the plugin boundary.
///
/// Without TAPES, generates a synthetic trades + L2 tape pair first. The
/// strategy defaults to the template market maker (requoting every 200 ms)
/// loaded as a plugin from beside the ticktape binary
/// (libticktape_template.so, built by `cargo build --release --workspace`).
/// Each pass creates a fresh strategy instance; the first pass warms the
/// page cache and is not counted.
///
/// The plugin-boundary figure runs a built-in strategy that subscribes to
/// every event and only counts them, once called natively (generic Rust
/// calls) and once through the plugin glue (the C ABI function table a
/// loaded plugin uses), and reports the difference per event.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench run                             # 20M synthetic events, template MM plugin
  ticktape bench run --strategy target/release/libmy_strategy.so --config my.toml data/*.tape")]
struct RunBench {
    /// Tapes to run over instead of generated ones.
    #[arg(value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Strategy plugin (default: the template plugin beside the binary).
    #[arg(long)]
    strategy: Option<String>,
    /// Strategy configuration (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Events to generate when no tapes are given.
    #[arg(long, default_value = "20M", value_parser = fmt::parse_count)]
    events: u64,
    /// Timed passes.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Events per timing window of the cost histogram.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    window: u32,
}

/// Replay throughput (events/s), per-event cost percentiles and heap use,
/// with book maintenance and a no-op strategy, against the scan limit of the
/// same tapes.
///
/// A replay checks its tapes once (on a second thread, ahead of its loop);
/// the first line times that first pass on freshly mapped tapes, checks and
/// page faults included, as `ticktape run` meets it. The timed passes after
/// it replay tapes already checked.
///
/// The scan limit is a plain sequential read of the same mapped records
/// (bytes/s divided by bytes per event), timed just before each replay pass;
/// the ratio replay / limit is printed per pass and as a median, and holds
/// better than either figure on a busy machine.
///
/// Without TAPES, generates a synthetic trades + L2 tape pair (trades +
/// quotes with --quotes) in a temporary folder first. The first pass warms the page cache and is not counted;
/// then RUNS timed passes (median, min, max), then one pass that records the
/// per-event cost in an HDR histogram. The cost is measured over windows of
/// WINDOW consecutive events (elapsed time / WINDOW) so that reading the
/// clock, ~20 ns, does not swamp a ~10 ns event; a window with a page fault
/// or an interrupt shows up in the tail.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench replay                          # 20M synthetic events
  ticktape bench replay --events 100M --runs 3
  ticktape bench replay --quotes                 # quote-driven book (bookTicker-like feed)
  ticktape bench replay --symbols BTCUSDT,ETHUSDT,SOLUSDT   # 3 symbols, 6 tapes
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
    /// Generate trades + quotes (one best bid/offer per book message)
    /// instead of trades + L2, at the same event count.
    #[arg(long, conflicts_with = "tapes")]
    quotes: bool,
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
        What::Run(r) => run_bench(r),
        What::Convert(c) => convert_bench(c),
        What::Clusterlob(c) => clusterlob_bench(c),
        What::Rbsa(r) => crate::research::bench::run(r),
        What::Sweep(s) => sweep_bench(s),
        What::Factors(f) => crate::research::factors::bench(f),
        What::Trades(t) => crate::research::trades::bench(t),
        What::Profile(p) => crate::research::profile::bench(p),
        What::Postgres(p) => postgres::run(p),
    }
}

/// Records per-event cost over windows of events, in picoseconds.
struct WindowTimer {
    n: u32,
    window: u32,
    last: Instant,
    hist: Histogram<u64>,
}

impl WindowTimer {
    fn new(window: u32) -> Result<Self> {
        Ok(WindowTimer {
            n: 0,
            window,
            last: Instant::now(),
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000_000, 3)?,
        })
    }

    #[inline(always)]
    fn tick(&mut self) {
        self.n += 1;
        if self.n == self.window {
            self.n = 0;
            let now = Instant::now();
            let ps = (now - self.last).as_nanos() as u64 * 1000 / u64::from(self.window);
            self.hist.saturating_record(ps.max(1));
            self.last = now;
        }
    }

    fn report(&self) -> String {
        let h = &self.hist;
        let ns = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "per-event cost (ns, windows of {} events): p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  ({} windows)",
            self.window,
            ns(0.5),
            ns(0.99),
            ns(0.999),
            h.max() as f64 / 1000.0,
            fmt::thousands(h.len())
        )
    }
}

impl Handler<'_> for WindowTimer {
    #[inline]
    fn on_event(&mut self, _: usize, _: Event<'_>, _: &[Book]) {
        self.tick();
    }
}

impl ticktape_engine::sim::Probe for WindowTimer {
    #[inline]
    fn event(&mut self, _: i64) -> bool {
        self.tick();
        false
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

/// The given tapes, or freshly generated synthetic ones (kept alive by the
/// returned folder).
pub(crate) fn tapes_or_generate(
    tapes: &[PathBuf],
    events: u64,
    symbols: &[String],
    quotes: bool,
) -> Result<(Vec<PathBuf>, Option<tempfile::TempDir>)> {
    if !tapes.is_empty() {
        return Ok((tapes.to_vec(), None));
    }
    let dir = tempfile::tempdir().context("cannot create a temporary folder for the generated tapes")?;
    let mut cfg = SynthConfig::new(events);
    cfg.symbols = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
    cfg.quotes = quotes;
    let t0 = Instant::now();
    let written = generate(&cfg, dir.path())?;
    println!(
        "generated {} synthetic events ({}, trades + {}) in {:.1}s",
        fmt::thousands(written.iter().map(|s| s.records).sum()),
        symbols.join(","),
        if quotes { "quotes" } else { "L2" },
        t0.elapsed().as_secs_f64()
    );
    Ok((written.into_iter().map(|s| s.path).collect(), Some(dir)))
}

fn replay(a: ReplayBench) -> Result<()> {
    let (paths, _tmp) = tapes_or_generate(&a.tapes, a.events, &a.symbols, a.quotes)?;
    let heap_before_open = alloc::live();
    let replay = Replay::open(&paths)?;
    // Three tapes or more: also timed with the merge order planned on a
    // second thread (`plan_ahead`), after a first pass that checks its tapes.
    let planned = if replay.tapes().len() >= 3 {
        let p = Replay::open_with(&paths, ReplayOptions { plan_ahead: true, ..ReplayOptions::default() })?;
        p.run(&mut ())?;
        Some(p)
    } else {
        None
    };
    let mut planned_ratios = Vec::new();
    let mut planned_cpu_ratios = Vec::new();
    let mut planned_rates = Vec::new();
    let bytes: u64 = replay.tapes().iter().map(|t| t.file_len()).sum();
    let events = replay.total_records();
    println!("machine: {}", machine());
    println!(
        "replay: {} events, {} tapes, {} mapped; book maintenance + no-op strategy, one thread",
        fmt::thousands(events),
        replay.tapes().len(),
        fmt::bytes(bytes)
    );

    // The first pass of a fresh replay: checks (on their own thread) and the
    // page faults of the new mappings included. Warms the page cache.
    let t0 = Instant::now();
    let warm = replay.run(&mut ())?;
    println!(
        "first pass (fresh maps, tapes checked on a second thread): {:.3}s  {}",
        t0.elapsed().as_secs_f64(),
        fmt::rate(warm.events as f64 / t0.elapsed().as_secs_f64())
    );
    println!(
        "merge: {} runs, mean run length {:.2} events",
        fmt::thousands(warm.runs),
        warm.events as f64 / warm.runs.max(1) as f64
    );
    let record_bytes: u64 = replay.tapes().iter().map(|t| t.record_bytes().len() as u64).sum();
    let per_event = record_bytes as f64 / events.max(1) as f64;
    std::hint::black_box(replay.scan()); // warms the page cache for the scan too
    alloc::reset_peak();
    let heap_base = alloc::live();
    let mut rates = Vec::new();
    let mut limits = Vec::new();
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for i in 0..a.runs {
        // The scan limit in the same run, interleaved: a plain sequential
        // read of the same mapped tapes.
        let (t0, c0) = (Instant::now(), thread_cpu_seconds());
        std::hint::black_box(replay.scan());
        let (limit, limit_cpu) =
            (events as f64 / t0.elapsed().as_secs_f64(), events as f64 / (thread_cpu_seconds() - c0));
        let (t0, c0) = (Instant::now(), thread_cpu_seconds());
        let out = replay.run(&mut ())?;
        let (secs, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu_seconds() - c0);
        let (r, r_cpu) = (out.events as f64 / secs, out.events as f64 / cpu);
        println!(
            "  run {}: {secs:.3}s  {}  (scan limit {}, ratio {:.2}; by thread CPU time {} vs {}, ratio {:.2})",
            i + 1,
            fmt::rate(r),
            fmt::rate(limit),
            r / limit,
            fmt::rate(r_cpu),
            fmt::rate(limit_cpu),
            r_cpu / limit_cpu
        );
        rates.push(r);
        limits.push(limit);
        ratios.push(r / limit);
        cpu_ratios.push(r_cpu / limit_cpu);
        if let Some(p) = &planned {
            let (t0, c0) = (Instant::now(), thread_cpu_seconds());
            let out = p.run(&mut ())?;
            let (secs, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu_seconds() - c0);
            let (r, r_cpu) = (out.events as f64 / secs, out.events as f64 / cpu);
            println!(
                "  run {} planned: {secs:.3}s  {}  (ratio {:.2}; by the replay thread's CPU time {}, ratio {:.2})",
                i + 1,
                fmt::rate(r),
                r / limit,
                fmt::rate(r_cpu),
                r_cpu / limit_cpu
            );
            planned_rates.push(r);
            planned_ratios.push(r / limit);
            planned_cpu_ratios.push(r_cpu / limit_cpu);
        }
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
    let limit = median(&mut limits);
    println!(
        "scan limit: median {} = {}/s at {per_event:.1} bytes per event (a plain sequential read of the mapped records, \
         interleaved with the replay passes)",
        fmt::rate(limit),
        fmt::bytes((limit * per_event) as u64)
    );
    println!("replay / scan limit: {:.2} (median of the per-run ratios)", median(&mut ratios));
    println!(
        "replay / scan limit by thread CPU time: {:.2} (median; steadier than wall time on a busy machine)",
        median(&mut cpu_ratios)
    );
    if planned.is_some() {
        println!(
            "merge order planned on a second thread (ReplayOptions::plan_ahead, tapes checked): median {}, \
             replay / scan limit {:.2} by wall, {:.2} by the replay thread's CPU time (the planner's CPU not counted)",
            fmt::rate(median(&mut planned_rates)),
            median(&mut planned_ratios),
            median(&mut planned_cpu_ratios)
        );
    }

    let mut timer = WindowTimer::new(a.window)?;
    replay.run(&mut timer)?;
    println!("{}", timer.report());
    println!(
        "heap: {} before opening, {} while replaying (peak above baseline); the {} of tapes are mapped, not read",
        fmt::bytes(heap_before_open as u64),
        fmt::bytes(heap_peak as u64),
        fmt::bytes(bytes)
    );
    Ok(())
}

/// A plugin built beside the ticktape binary (`cargo build --workspace` puts
/// them together), if present.
fn beside_binary(crate_name: &str) -> Option<PathBuf> {
    let lib = format!("{}{crate_name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(lib)).filter(|p| p.is_file())
}

/// The default strategy for `bench run`: the template plugin beside the
/// binary.
fn default_strategy() -> Result<String> {
    beside_binary("ticktape_template").map(|p| p.to_string_lossy().into_owned()).ok_or_else(|| {
        anyhow::anyhow!(
            "the template plugin is not beside the ticktape binary; build it with `cargo build --release --workspace` or pass --strategy"
        )
    })
}

fn run_bench(a: RunBench) -> Result<()> {
    use ticktape_counter::Counter;
    use ticktape_engine::plugin::{Native, Plugin};
    use ticktape_engine::sim::{self, SimConfig};

    let (paths, _tmp) = tapes_or_generate(&a.tapes, a.events, &["BTCUSDT".to_owned()], false)?;
    let replay = Replay::open(&paths)?;
    let events = replay.total_records();
    let spec = match &a.strategy {
        Some(s) => s.clone(),
        None => default_strategy()?,
    };
    let plugin = crate::run::load_strategy(&spec)?;
    let config = match &a.config {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => String::new(),
    };
    let cfg = SimConfig::default();
    println!("machine: {}", machine());
    println!(
        "backtest: {} events, {} tapes; strategy {} {} ({}); feed latency {}, entry {}, response {}, cross-only fills",
        fmt::thousands(events),
        replay.tapes().len(),
        plugin.info().name,
        plugin.info().version,
        plugin.info().path.as_ref().map_or("linked in process".to_owned(), |p| p.display().to_string()),
        cfg.feed,
        cfg.entry,
        cfg.response
    );
    let pass = |probe: Option<&mut WindowTimer>| -> Result<(f64, sim::RunOutput)> {
        let mut inst = plugin.create(&config)?;
        let t0 = Instant::now();
        let out = match probe {
            Some(p) => sim::run_probed(&replay, &cfg, &mut inst, p)?,
            None => sim::run(&replay, &cfg, &mut inst)?,
        };
        let secs = t0.elapsed().as_secs_f64();
        if let Some(e) = &out.error {
            anyhow::bail!("{e}");
        }
        Ok((secs, out))
    };
    let (_, warm) = pass(None)?;
    println!(
        "  {} orders, {} fills per pass",
        fmt::thousands(warm.orders.len() as u64),
        fmt::thousands(warm.fills.len() as u64)
    );
    drop(warm);
    alloc::reset_peak();
    let heap_base = alloc::live();
    let mut rates = Vec::new();
    for i in 0..a.runs {
        let (secs, _) = pass(None)?;
        let r = events as f64 / secs;
        println!("  run {}: {secs:.3}s  {}", i + 1, fmt::rate(r));
        rates.push(r);
    }
    let heap_peak = alloc::peak().saturating_sub(heap_base);
    let (lo, hi) = rates.iter().fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
    println!(
        "throughput: median {} (min {}, max {}) over {} runs",
        fmt::rate(median(&mut rates)),
        fmt::rate(lo),
        fmt::rate(hi),
        a.runs
    );
    let mut timer = WindowTimer::new(a.window)?;
    pass(Some(&mut timer))?;
    println!("{}", timer.report());
    println!(
        "heap: {} peak above baseline during a pass (orders, fills and samples are kept for the results)",
        fmt::bytes(heap_peak as u64)
    );

    // The plugin boundary: the same counting strategy, native and as the
    // real plugin beside the binary (else through the same glue in process).
    let (glue, how) = match beside_binary("ticktape_counter") {
        Some(p) => (Plugin::load(&p)?, "loaded plugin"),
        None => {
            (Plugin::in_process(ticktape_sdk::export::in_process::<Counter>("counter", "0"))?, "plugin glue in process")
        }
    };
    let mut native_times = Vec::new();
    let mut glue_times = Vec::new();
    for _ in 0..a.runs.max(3) {
        let mut n = Native(Counter::default());
        let t0 = Instant::now();
        sim::run(&replay, &cfg, &mut n)?;
        native_times.push(t0.elapsed().as_secs_f64());
        let mut g = glue.create("")?;
        let t0 = Instant::now();
        sim::run(&replay, &cfg, &mut g)?;
        glue_times.push(t0.elapsed().as_secs_f64());
    }
    let (tn, tg) = (median(&mut native_times), median(&mut glue_times));
    println!(
        "plugin boundary (counter strategy called for every event): native {}, {how} {}: {:+.2} ns per event",
        fmt::rate(events as f64 / tn),
        fmt::rate(events as f64 / tg),
        (tg - tn) / events as f64 * 1e9
    );
    Ok(())
}

fn convert_bench(a: ConvertBench) -> Result<()> {
    use clap::ValueEnum;
    use ticktape_data::{ConvertOptions, SourceKind, convert};

    let source = SourceKind::from_str(&a.source, true)
        .map_err(|_| anyhow::anyhow!("unknown source {:?}; `ticktape convert --list` shows them", a.source))?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let inputs = if a.inputs.is_empty() {
        let t0 = Instant::now();
        let (csv, gz, size) = ticktape_data::synthetic::trades_csv(dir.path(), a.mb * 1_000_000)?;
        println!(
            "generated a {} binance-futures trades CSV (gzip {}) in {:.1}s",
            fmt::bytes(size),
            fmt::bytes(std::fs::metadata(&gz).map(|m| m.len()).unwrap_or(0)),
            t0.elapsed().as_secs_f64()
        );
        vec![csv, gz]
    } else {
        a.inputs.clone()
    };
    println!("machine: {}", machine());
    // One thread, and every core (chunks parsed in parallel), interleaved.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let one = ConvertOptions { out_dir: dir.path().join("out"), jobs: 1, threads: 1, ..ConvertOptions::default() };
    let all = ConvertOptions { threads: cores, ..one.clone() };
    for input in &inputs {
        let (mut r1, mut rn, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let mut records = 0;
        for _ in 0..a.runs {
            let a1 = convert(source, std::slice::from_ref(input), &one)?.mb_per_s();
            let r = convert(source, std::slice::from_ref(input), &all)?;
            records = r.tapes.iter().map(|t| t.records).sum::<u64>();
            r1.push(a1);
            rn.push(r.mb_per_s());
            ratio.push(r.mb_per_s() / a1);
        }
        println!(
            "{}: {} records, median {:.0} MB/s of uncompressed input on {cores} threads, {:.0} MB/s on one ({:.2}x), over {} runs",
            input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into_owned()),
            fmt::thousands(records),
            median(&mut rn),
            median(&mut r1),
            median(&mut ratio),
            a.runs
        );
    }
    Ok(())
}

/// Peak resident set of this process (VmHWM), bytes.
pub(crate) fn resident_peak() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Market events of the seed's week of Binance Futures BTCUSDT: 27.6 M trades plus 10× as many book
/// updates (the benchmark scale).
const SEED_WEEK_EVENTS: u64 = 27_600_000 + 276_000_000;

fn clusterlob_bench(a: ClusterlobBench) -> Result<()> {
    use crate::research::clusterlob::bench as cl;
    use ticktape_engine::sim::{self, SimConfig};
    let (paths, _tmp) = tapes_or_generate(&a.tapes, a.events, &["BTCUSDT".to_owned()], false)?;
    let work = tempfile::tempdir().context("cannot create a temporary folder for the feature tables")?;
    println!("machine: {}", machine());
    let replay = Replay::open(&paths)?;
    replay.run(&mut ())?; // warms the page cache
    let t0 = Instant::now();
    let out = replay.run(&mut ())?;
    let replay_secs = t0.elapsed().as_secs_f64();
    println!(
        "replay (no-op strategy) of the same tapes: {} events in {replay_secs:.2}s ({})",
        fmt::thousands(out.events),
        fmt::rate(out.events as f64 / replay_secs)
    );
    let f = cl::features_train(&paths, work.path(), a.runs, a.fit_rows)?;
    cl::report(&f);
    let events = out.events;
    let spec = match &a.strategy {
        Some(s) => s.clone(),
        None => beside_binary("ticktape_clusterlob").map(|p| p.to_string_lossy().into_owned()).ok_or_else(|| {
            anyhow::anyhow!(
                "the clusterlob plugin is not beside the ticktape binary; build it with `cargo build --release --workspace` or pass --strategy"
            )
        })?,
    };
    let plugin = crate::run::load_strategy(&spec)?;
    let config = format!("model = {:?}\n", f.model_path.to_string_lossy());
    let cfg = SimConfig::default();
    let pass = || -> Result<(f64, f64, sim::RunOutput)> {
        let mut inst = plugin.create(&config)?;
        let (t0, c0) = (Instant::now(), cl::cpu_secs());
        let out = sim::run(&replay, &cfg, &mut inst)?;
        let (secs, cpu) = (t0.elapsed().as_secs_f64(), cl::cpu_secs() - c0);
        if let Some(e) = &out.error {
            anyhow::bail!("{e}");
        }
        Ok((secs, cpu, out))
    };
    let (_, _, warm) = pass()?;
    println!(
        "market maker: {} orders, {} fills per pass; feed latency {}, entry {}, response {}, cross-only fills",
        fmt::thousands(warm.orders.len() as u64),
        fmt::thousands(warm.fills.len() as u64),
        cfg.feed,
        cfg.entry,
        cfg.response
    );
    drop(warm);
    alloc::reset_peak();
    let heap_base = alloc::live();
    let (mut times, mut cpus) = (Vec::new(), Vec::new());
    for i in 0..a.runs {
        let (secs, cpu, _) = pass()?;
        println!("  backtest {}: {secs:.3}s  {} (cpu {cpu:.3}s)", i + 1, fmt::rate(events as f64 / secs));
        times.push(secs);
        cpus.push(cpu);
    }
    let heap_peak = alloc::peak().saturating_sub(heap_base);
    let (mut replay_times, mut replay_cpus) = (Vec::new(), Vec::new());
    for _ in 0..a.runs {
        let (t0, c0) = (Instant::now(), cl::cpu_secs());
        replay.run(&mut ())?;
        replay_times.push(t0.elapsed().as_secs_f64());
        replay_cpus.push(cl::cpu_secs() - c0);
    }
    let (tb, tr) = (median(&mut times), median(&mut replay_times));
    let (cb, cr) = (median(&mut cpus), median(&mut replay_cpus));
    println!(
        "backtest: median {tb:.3}s = {} (features, assignment, market maker, latency, fills; one thread) over {} runs",
        fmt::rate(events as f64 / tb),
        a.runs
    );
    println!(
        "replay of the same tapes: median {tr:.3}s = {} ({:.2}x the backtest's rate)",
        fmt::rate(events as f64 / tr),
        tb / tr
    );
    println!(
        "cpu time (getrusage, steadier than wall time on a loaded machine): backtest median {cb:.3}s = {}, replay {cr:.3}s = {}",
        fmt::rate(events as f64 / cb.max(1e-9)),
        fmt::rate(events as f64 / cr.max(1e-9))
    );
    let week = |secs: f64| SEED_WEEK_EVENTS as f64 * secs / events as f64;
    println!(
        "the seed's week ({} events: 27.6 M trades + 276 M book updates) at these rates: backtest {:.1}s wall, {:.1}s cpu (target under 10 s); replay {:.1}s wall, {:.1}s cpu",
        fmt::thousands(SEED_WEEK_EVENTS),
        week(tb),
        week(cb),
        week(tr),
        week(cr)
    );
    // The week has 10 book updates per trade, these tapes fewer, and a book update costs the
    // market maker far less than a trade (features, assignment, flow sums): split the CPU time
    // into a per-update part, measured by backtests of the book tapes alone (no trades: no
    // features), and a per-trade rest, and scale each by the week's count.
    let book_tapes: Vec<PathBuf> = paths
        .iter()
        .filter(|p| ticktape_tape::Tape::open(p).is_ok_and(|t| t.kind() != ticktape_tape::RecordKind::Trade))
        .cloned()
        .collect();
    let trades = f.trades;
    if !book_tapes.is_empty() && trades > 0 && events > trades {
        let books = Replay::open(&book_tapes)?;
        books.run(&mut ())?;
        let mut book_cpus = Vec::new();
        for _ in 0..a.runs {
            let mut inst = plugin.create(&config)?;
            let c0 = cl::cpu_secs();
            let out = sim::run(&books, &cfg, &mut inst)?;
            book_cpus.push(cl::cpu_secs() - c0);
            if let Some(e) = &out.error {
                anyhow::bail!("{e}");
            }
        }
        let cbook = median(&mut book_cpus);
        let updates = events - trades;
        let per_update = cbook / updates as f64;
        let per_trade = (cb - cbook).max(0.0) / trades as f64;
        println!(
            "  split (cpu): {:.1} ns per book update (backtests of the book tapes alone, median {cbook:.3}s), {:.1} ns per trade (the rest); \
             the seed's week at 276 M updates + 27.6 M trades: {:.1}s cpu (target under 10 s)",
            per_update * 1e9,
            per_trade * 1e9,
            276_000_000.0 * per_update + 27_600_000.0 * per_trade
        );
    }
    println!(
        "memory: heap peak {} above baseline during the backtests; resident peak {} (includes touched tape pages)",
        fmt::bytes(heap_peak as u64),
        resident_peak().map_or("unknown".to_owned(), fmt::bytes)
    );
    Ok(())
}
fn sweep_bench(a: SweepBench) -> Result<()> {
    let spec = match &a.strategy {
        Some(s) => s.clone(),
        None => default_strategy()?,
    };
    let t0 = Instant::now();
    let plugin = crate::run::load_strategy(&spec)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (paths, _tmp) = tapes_or_generate(&[], a.events, &["BTCUSDT".to_owned()], false)?;
    let small = tempfile::tempdir().context("cannot create a temporary folder")?;
    generate(&SynthConfig::new(1000), small.path())?;
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let sweep_file = |name: &str, tapes: &str, runs: u32| -> Result<PathBuf> {
        let values: Vec<String> = (0..runs).map(|i| (100 + 10 * i).to_string()).collect();
        let text = format!("strategy = {spec:?}\ntapes = [{tapes:?}]\n[grid]\nrequote_ms = [{}]\n", values.join(", "));
        let p = work.path().join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        Ok(p)
    };
    let dir = paths[0].parent().map(PathBuf::from).unwrap_or_default();
    let big = sweep_file("big.toml", &format!("{}/*.tape", dir.display()), a.runs)?;
    let quarter = sweep_file("quarter.toml", &format!("{}/*.tape", dir.display()), a.runs.div_ceil(4))?;
    let tiny = sweep_file("tiny.toml", &format!("{}/*.tape", small.path().display()), a.runs)?;
    println!("machine: {}", machine());
    println!(
        "sweep: {} runs of {} {} over one shared {}-event tape set; {} passes per thread count",
        a.runs,
        plugin.info().name,
        plugin.info().version,
        fmt::thousands(a.events),
        a.repeat
    );
    // Wall time, CPU time of the process (user + system) and peak heap.
    let pass = |file: &std::path::Path, threads: usize| -> Result<(f64, f64, usize)> {
        let out = work.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        let base = alloc::live();
        alloc::reset_peak();
        let cpu0 = cpu_seconds();
        let secs = crate::sweep::bench_pass(file, &plugin, &out, threads)?;
        Ok((secs, cpu_seconds() - cpu0, alloc::peak().saturating_sub(base)))
    };
    let mut medians = Vec::new();
    for &t in &a.threads {
        let (mut times, mut cpus) = (Vec::new(), Vec::new());
        let mut heap = 0;
        for _ in 0..a.repeat {
            let (secs, cpu, peak) = pass(&big, t)?;
            times.push(secs);
            cpus.push(cpu);
            heap = heap.max(peak);
        }
        let (m, c) = (median(&mut times), median(&mut cpus));
        println!(
            "  {t} thread(s): median {m:.3} s ({:.2} runs/s, {}), CPU {c:.3} s ({:.1} ms per run), peak heap {}",
            f64::from(a.runs) / m,
            fmt::rate(a.events as f64 * f64::from(a.runs) / m),
            c / f64::from(a.runs) * 1e3,
            fmt::bytes(heap as u64)
        );
        medians.push((t, m, c));
    }
    if let (Some(&(t1, m1, c1)), Some(&(tn, mn, cn))) = (medians.first(), medians.last())
        && tn != t1
    {
        println!(
            "speed-up {tn} vs {t1} threads: {:.2}x wall; CPU per run at {tn} vs {t1} threads: {:.2}x (1.00: the threads do \
             not slow each other, so on an idle machine the wall speed-up is about {tn}/{t1})",
            m1 / mn,
            cn / c1
        );
    }
    let tmax = a.threads.iter().copied().max().unwrap_or(1);
    let (_, _, heap_q) = pass(&quarter, tmax)?;
    println!(
        "  {} runs on {tmax} thread(s): peak heap {} (memory follows threads, not runs)",
        a.runs.div_ceil(4),
        fmt::bytes(heap_q as u64)
    );
    let (mut per_run, mut per_run_cpu) = (Vec::new(), Vec::new());
    for _ in 0..a.repeat {
        let (secs, cpu, _) = pass(&tiny, 1)?;
        per_run.push(secs / f64::from(a.runs) * 1e3);
        per_run_cpu.push(cpu / f64::from(a.runs) * 1e3);
    }
    println!(
        "per-run overhead: median {:.3} ms wall, {:.3} ms CPU (a run over a 1000-event tape: instance, setup, summary, \
         row write; 1 thread); plugin load {load_ms:.3} ms once per process",
        median(&mut per_run),
        median(&mut per_run_cpu)
    );
    Ok(())
}

/// CPU time of the calling thread so far, seconds (0 if the clock fails).
pub(crate) fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `t`, which we own;
    // CLOCK_THREAD_CPUTIME_ID is a valid clock on Linux.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// User + system CPU time of this process so far, seconds.
pub(crate) fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass; no other
    // preconditions.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `u` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}
