//! `ticktape run`: a backtest of a strategy plugin over tapes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use ticktape_engine::plugin::{Plugin, PluginInfo};
use ticktape_engine::replay::{Replay, ReplayOptions};
use ticktape_engine::results;
use ticktape_engine::sim::metrics::{Summary, summarize};
use ticktape_engine::sim::{FillModel, LatencySpec, MarkSource, RunOutput, SimConfig, parse_duration};
use ticktape_tape::{RecordKind, Tape};

use crate::fmt;

/// Backtest a strategy over tapes: latency, cross-only fills, fees, funding
/// and accounting; writes Parquet results and prints a summary.
///
/// Everything can come from a run file (TOML; see engine/cli/examples/demo/run.toml)
/// and be overridden by flags. The strategy is a plugin shared library
/// (`lib<name>.so` from `cargo build --release`); the template market maker is
/// target/release/libticktape_template.so.
///
/// Results in OUT: fills.parquet, orders.parquet, equity.parquet,
/// inventory.parquet (open with pandas, polars or pyarrow), series.parquet
/// (when the strategy records series), summary.json and strategy.log. The
/// summary splits orders, fills, maker share and PnL by order tag (by_tag). If the strategy fails, what was simulated up to then is
/// still written and ticktape exits with status 1.
#[derive(Debug, Default, clap::Args)]
#[command(after_help = "Examples:
  ticktape run engine/cli/examples/demo/run.toml
  ticktape run --strategy target/release/libticktape_template.so --tape data/*.tape --out results/mm
  ticktape run engine/cli/examples/demo/run.toml --entry-latency 'lognormal(2ms, 0.5)' --fill touch --out results/touch
  ticktape run --strategy target/release/libticktape_template.so --config mm.toml --tape data/*.tape --funding data/x.funding.tape
  ticktape run engine/cli/examples/demo/run.toml --out results/mm --force --time-limit 10m --memory-limit 8GB
  ticktape run engine/cli/examples/demo/run.toml --from 2024-08-08T23:55:00Z --to 2024-08-08T23:56:00Z

Defaults: feed latency `local` (tapes' receive times, else 1ms); entry and response latency 1ms;
maker fee 2 bps, taker fee 5 bps; cross-only fills; bar slippage 0 bps; capital 100000; mark mid; sample 1s; seed 1;
--out ./results (refused if not empty, unless --force). Flags override the run file.

Run-file keys (paths relative to the run file):
  tapes = [\"data/*.tape\"]      funding = [..]      strategy = \"PLUGIN\"    out = \"DIR\"
  from = \"2024-05-01T00:10:00Z\"  to = \"2024-05-02\"   (slice [from, to) of exchange time)
  config = \"FILE\"  or a [strategy_config] table  (paths inside it, e.g. a plugin's model, relative to
                                               the file that holds them: FILE, or the run file)
  [latency]  feed, entry, response    (\"1ms\", \"lognormal(2ms, 0.5)\", \"series(FILE)\"; feed: \"local\")
  [fees]     maker_bps, taker_bps
  [fills]    touch, partial, queue, book_cross   (true/false); bar_slippage_bps
  [limits]   max_position, max_notional
  [account]  capital, mark (\"mid\" | \"mark\"), sample, seed

The backtest runs in a child process: an abort, segfault, out-of-memory, hang (--time-limit),
exit() from the plugin or Ctrl-C ends with one error line, exit status 1, and in OUT the
results up to the last checkpoint (written about once a second) with the error in summary.json. --in-process runs it in this process instead (for profiling).")]
pub(crate) struct RunArgs {
    /// Run file (TOML) naming tapes, strategy, config and settings.
    #[arg(value_name = "RUN_FILE")]
    run_file: Option<PathBuf>,
    /// Strategy plugin (.so/.dylib/.dll).
    #[arg(long, value_name = "PLUGIN")]
    strategy: Option<String>,
    /// Strategy configuration (TOML) handed to the plugin.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Market-data tapes (any kinds and symbols); repeatable.
    #[arg(long = "tape", value_name = "TAPE", num_args = 1..)]
    tapes: Vec<PathBuf>,
    /// Funding tapes (must hold funding records); repeatable.
    #[arg(long = "funding", value_name = "TAPE", num_args = 1..)]
    funding: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, short, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Feed latency: local (tapes' receive times), 1ms, lognormal(1ms, 0.5), series(FILE).
    #[arg(long, value_name = "MODEL")]
    feed_latency: Option<String>,
    /// Order entry latency (same forms).
    #[arg(long, value_name = "MODEL")]
    entry_latency: Option<String>,
    /// Response latency (same forms).
    #[arg(long, value_name = "MODEL")]
    response_latency: Option<String>,
    /// Maker fee, basis points (negative: rebate).
    #[arg(long, allow_negative_numbers = true)]
    maker_fee_bps: Option<f64>,
    /// Taker fee, basis points.
    #[arg(long, allow_negative_numbers = true)]
    taker_fee_bps: Option<f64>,
    /// Fill options (comma-separated): touch, partial, queue, book-cross.
    #[arg(long, value_delimiter = ',', value_name = "OPTION")]
    fill: Vec<FillOpt>,
    /// Bar-only instruments (a bar tape, no L2 or quotes): each bar sets the
    /// book to one level a side at close ∓ this many basis points, so market
    /// orders fill at the close plus slippage. Default 0.
    #[arg(long, value_name = "BPS")]
    bar_slippage_bps: Option<f64>,
    /// Starting capital, quote currency.
    #[arg(long)]
    capital: Option<f64>,
    /// Equity sampling interval (e.g. 1s, 100ms).
    #[arg(long, value_name = "DURATION")]
    sample: Option<String>,
    /// Seed of the latency draws.
    #[arg(long)]
    seed: Option<u64>,
    /// Replay tapes whose time ranges do not overlap (refused by default).
    #[arg(long)]
    allow_gaps: bool,
    #[command(flatten)]
    slice: crate::slice::SliceArgs,
    /// Replace a non-empty --out (it is replaced only when the run ends).
    #[arg(long)]
    force: bool,
    /// Stop the backtest after this much wall time (e.g. 30s, 10m); the
    /// run then fails with what it reported up to then.
    #[arg(long, value_name = "DURATION")]
    time_limit: Option<String>,
    /// Cap the backtest's heap (RLIMIT_DATA of the backtest process; mapped
    /// tapes do not count), e.g. 4GB. Default: no cap (the kernel's
    /// out-of-memory killer ends it, reported as SIGKILL).
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Run the backtest in this process (no crash containment; for
    /// profiling and debuggers).
    #[arg(long)]
    in_process: bool,
    /// Also draw the results as OUT/report.html (what `ticktape report OUT`
    /// writes).
    #[arg(long)]
    report: bool,
    /// Internal: run as the supervised backtest process writing into DIR.
    #[arg(long, hide = true, value_name = "DIR")]
    child_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FillOpt {
    Touch,
    Partial,
    Queue,
    BookCross,
}

/// The run file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFile {
    tapes: Option<Vec<String>>,
    funding: Option<Vec<String>>,
    strategy: Option<String>,
    config: Option<String>,
    out: Option<String>,
    from: Option<toml::Value>,
    to: Option<toml::Value>,
    strategy_config: Option<toml::Table>,
    latency: Option<LatencyFile>,
    fees: Option<FeesFile>,
    fills: Option<FillsFile>,
    limits: Option<LimitsFile>,
    account: Option<AccountFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyFile {
    feed: Option<String>,
    entry: Option<String>,
    response: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeesFile {
    maker_bps: Option<f64>,
    taker_bps: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FillsFile {
    touch: Option<bool>,
    partial: Option<bool>,
    queue: Option<bool>,
    book_cross: Option<bool>,
    bar_slippage_bps: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_position: Option<f64>,
    max_notional: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    capital: Option<f64>,
    mark: Option<String>,
    sample: Option<String>,
    seed: Option<u64>,
}

/// A fully resolved run.
pub(crate) struct RunPlan {
    pub(crate) tapes: Vec<PathBuf>,
    pub(crate) strategy: String,
    pub(crate) config_text: String,
    /// The folder the configuration's relative paths are relative to
    /// (empty: the working directory).
    pub(crate) config_dir: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) sim: SimConfig,
    pub(crate) allow_gaps: bool,
    pub(crate) slice: crate::slice::SliceArgs,
    pub(crate) bar_slippage_bps: f64,
}

/// `base/rel` with `.` and `..` resolved lexically where possible, so
/// messages show `target/release/x.so`, not `engine/cli/examples/demo/../../target/...`.
pub(crate) fn join_clean(base: &Path, rel: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn expand(base: &Path, patterns: &[String], what: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in patterns {
        let full = join_clean(base, p);
        let text = full.to_string_lossy().into_owned();
        if text.contains(['*', '?', '[']) {
            let mut hits: Vec<PathBuf> = glob::glob(&text)
                .with_context(|| format!("{what} pattern {p:?} is not a valid glob"))?
                .filter_map(|r| r.ok())
                .collect();
            if hits.is_empty() {
                bail!("{what} pattern {text:?} matches no file");
            }
            hits.sort();
            out.extend(hits);
        } else {
            out.push(full);
        }
    }
    Ok(out)
}

/// The plan of a run described by the run-file keys in `table` (paths
/// relative to `base`) over `tapes`, with no flags: what `ticktape sweep`
/// builds each run from. `what` names the file in errors.
pub(crate) fn plan_from_table(table: toml::Table, base: &Path, tapes: Vec<PathBuf>, what: &Path) -> Result<RunPlan> {
    let file: RunFile =
        table.try_into().map_err(|e: toml::de::Error| anyhow!("{}: {}", what.display(), e.message()))?;
    let args = RunArgs { tapes, out: Some(PathBuf::from(".")), ..RunArgs::default() };
    args.plan_with(file, base.to_path_buf())
}

impl RunArgs {
    pub(crate) fn plan(&self) -> Result<RunPlan> {
        let (file, base) = match &self.run_file {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("cannot read run file {}", p.display()))?;
                let f: RunFile = toml::from_str(&text)
                    .map_err(|e| anyhow!("{}: {}", p.display(), ticktape_sdk::export::toml_error_line(&e, &text)))?;
                (f, p.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (RunFile::default(), PathBuf::new()),
        };
        self.plan_with(file, base)
    }

    fn plan_with(&self, file: RunFile, base: PathBuf) -> Result<RunPlan> {
        let cwd = PathBuf::new();
        let mut tapes = if self.tapes.is_empty() {
            expand(&base, file.tapes.as_deref().unwrap_or_default(), "tape")?
        } else {
            self.tapes.clone()
        };
        let funding = if self.funding.is_empty() {
            expand(&base, file.funding.as_deref().unwrap_or_default(), "funding tape")?
        } else {
            self.funding.clone()
        };
        for f in &funding {
            let t = Tape::open(f)?;
            if t.kind() != RecordKind::Funding {
                bail!(
                    "{}: this is a {} tape, but --funding expects a funding tape; pass it with --tape instead",
                    f.display(),
                    t.kind()
                );
            }
        }
        tapes.extend(funding);
        if tapes.is_empty() {
            bail!("no tapes: pass --tape FILE... or name them in a run file (tapes = [\"data/*.tape\"])");
        }
        let strategy = match (&self.strategy, &file.strategy) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => join_clean(&base, s).to_string_lossy().into_owned(),
            (None, None) => {
                bail!("no strategy: pass --strategy PLUGIN (a lib<name>.so built by `cargo build --release`)")
            }
        };
        // The configuration's relative paths (a plugin's model or strategy
        // file) are relative to the file that holds it, like the run file's.
        let folder = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        let (config_text, config_dir) = match (&self.config, &file.config, &file.strategy_config) {
            (Some(p), _, _) => (
                std::fs::read_to_string(p).with_context(|| format!("cannot read strategy config {}", p.display()))?,
                folder(p),
            ),
            (None, Some(p), _) => {
                let p = join_clean(&base, p);
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read strategy config {}", p.display()))?;
                (text, folder(&p))
            }
            (None, None, Some(t)) => (toml::to_string(t).context("cannot re-encode [strategy_config]")?, base.clone()),
            (None, None, None) => (String::new(), cwd.clone()),
        };
        let out = match (&self.out, &file.out) {
            (Some(o), _) => o.clone(),
            (None, Some(o)) => join_clean(&base, o),
            (None, None) => cwd.join("results"),
        };
        let mut sim = SimConfig::default();
        let lat = file.latency.unwrap_or_default();
        let spec = |flag: &Option<String>, file: &Option<String>, what: &str| -> Result<Option<LatencySpec>> {
            match (flag, file) {
                (Some(s), _) => Ok(Some(LatencySpec::parse(s, &cwd)?)),
                (None, Some(s)) => Ok(Some(LatencySpec::parse(s, &base).with_context(|| format!("[latency] {what}"))?)),
                (None, None) => Ok(None),
            }
        };
        if let Some(s) = spec(&self.feed_latency, &lat.feed, "feed")? {
            sim.feed = s;
        }
        if let Some(s) = spec(&self.entry_latency, &lat.entry, "entry")? {
            if matches!(s, LatencySpec::Local { .. }) {
                bail!("entry latency cannot be `local` (only the feed has receive times)");
            }
            sim.entry = s;
        }
        if let Some(s) = spec(&self.response_latency, &lat.response, "response")? {
            if matches!(s, LatencySpec::Local { .. }) {
                bail!("response latency cannot be `local` (only the feed has receive times)");
            }
            sim.response = s;
        }
        let fees = file.fees.unwrap_or_default();
        sim.maker_fee_bps = self.maker_fee_bps.or(fees.maker_bps).unwrap_or(sim.maker_fee_bps);
        sim.taker_fee_bps = self.taker_fee_bps.or(fees.taker_bps).unwrap_or(sim.taker_fee_bps);
        let fills = file.fills.unwrap_or_default();
        sim.fills = FillModel {
            touch: self.fill.contains(&FillOpt::Touch) || fills.touch.unwrap_or(false),
            partial: self.fill.contains(&FillOpt::Partial) || fills.partial.unwrap_or(false),
            queue: self.fill.contains(&FillOpt::Queue) || fills.queue.unwrap_or(false),
            book_cross: self.fill.contains(&FillOpt::BookCross) || fills.book_cross.unwrap_or(false),
        };
        let bar_slippage_bps = self.bar_slippage_bps.or(fills.bar_slippage_bps).unwrap_or(0.0);
        if !(bar_slippage_bps.is_finite() && (0.0..10_000.0).contains(&bar_slippage_bps)) {
            bail!(
                "bar slippage ([fills] bar_slippage_bps, --bar-slippage-bps) {bar_slippage_bps}: give basis points in 0..10000, e.g. 2"
            );
        }
        let limits = file.limits.unwrap_or_default();
        sim.max_position = limits.max_position;
        sim.max_notional = limits.max_notional;
        let acct = file.account.unwrap_or_default();
        sim.capital = self.capital.or(acct.capital).unwrap_or(sim.capital);
        sim.mark = match acct.mark.as_deref() {
            None | Some("mid") => MarkSource::Mid,
            Some("mark") => MarkSource::Mark,
            Some(m) => bail!("[account] mark = {m:?}: use \"mid\" or \"mark\""),
        };
        if let Some(s) = self.sample.as_ref().or(acct.sample.as_ref()) {
            sim.sample_ns = parse_duration(s).map_err(|e| anyhow!("sample interval: {e}"))?;
            if sim.sample_ns <= 0 {
                bail!("sample interval must be positive");
            }
        }
        sim.seed = self.seed.or(acct.seed).unwrap_or(sim.seed);
        sim.validate()?;
        let time = |key: &str, flag: Option<i64>, v: &Option<toml::Value>| -> Result<Option<i64>> {
            let text = match (flag, v) {
                (Some(t), _) => return Ok(Some(t)),
                (None, None) => return Ok(None),
                (None, Some(toml::Value::String(s))) => s.clone(),
                (None, Some(toml::Value::Datetime(d))) => d.to_string(),
                (None, Some(other)) => {
                    bail!("run file: {key} = {other}: give a time as a string, e.g. {key} = \"2024-05-01T00:10:00Z\"")
                }
            };
            let ns = crate::slice::parse_time(&text).map_err(|e| anyhow!("run file: {key}: {e}"))?;
            Ok(Some(ns))
        };
        let slice = crate::slice::SliceArgs {
            from: time("from", self.slice.from, &file.from)?,
            to: time("to", self.slice.to, &file.to)?,
        }
        .check()?;
        Ok(RunPlan {
            tapes,
            strategy,
            config_text,
            config_dir,
            out,
            sim,
            allow_gaps: self.allow_gaps,
            slice,
            bar_slippage_bps,
        })
    }
}

/// The plan of a run file alone, as `ticktape run RUN_FILE` would resolve
/// it without flags: for commands that run a strategy themselves.
pub(crate) fn plan_of_file(run_file: &Path) -> Result<RunPlan> {
    RunArgs { run_file: Some(run_file.to_path_buf()), ..RunArgs::default() }.plan()
}

/// Loads the strategy plugin at `spec`.
pub(crate) fn load_strategy(spec: &str) -> Result<Plugin> {
    let path = Path::new(spec);
    if !path.exists() {
        bail!(
            "{spec}: no such strategy plugin; build the plugins with `cargo build --release --workspace` \
             (the template is target/release/{}ticktape_template{})",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
    }
    Ok(Plugin::load(path)?)
}

fn describe(info: &PluginInfo) -> String {
    match &info.path {
        Some(p) => format!("{} {} ({}, {} {})", info.name, info.version, p.display(), info.rustc, info.profile),
        None => format!("{} {} (linked in process)", info.name, info.version),
    }
}

/// Runs a plan; returns the output, the summary and the wall time.
fn execute_probed<P: ticktape_engine::sim::Probe>(
    plan: &RunPlan,
    probe: &mut P,
    on_plugin: impl FnOnce(&mut P, &PluginInfo),
) -> Result<(RunOutput, Summary, PluginInfo, f64)> {
    let options = ReplayOptions {
        allow_gaps: plan.allow_gaps,
        from: plan.slice.from,
        to: plan.slice.to,
        bar_slippage_bps: plan.bar_slippage_bps,
        ..ReplayOptions::default()
    };
    let replay = Replay::open_with(&plan.tapes, options)?;
    let plugin = load_strategy(&plan.strategy)?;
    on_plugin(probe, plugin.info());
    let mut instance = plugin.create_in(&plan.config_text, Some(&plan.config_dir))?;
    let t0 = Instant::now();
    let out = ticktape_engine::sim::run_probed(&replay, &plan.sim, &mut instance, probe)?;
    let secs = t0.elapsed().as_secs_f64();
    let info = plugin.info().clone();
    let summary = summarize(&out, &label(&info));
    Ok((out, summary, info, secs))
}

/// The strategy as summaries name it.
pub(crate) fn label(info: &PluginInfo) -> String {
    format!("{} {}", info.name, info.version)
}

/// Writes the results of a checkpoint into `dir`: the complete results set,
/// with `"complete": false` and `"checkpoint_at"` (the exchange time of the
/// last simulated event) in `summary.json`.
fn write_checkpoint(dir: &Path, out: &RunOutput, strategy: &str, prov: &serde_json::Value) -> Result<()> {
    let summary = summarize(out, strategy);
    results::write_with(dir, out, &summary, Some(prov))?;
    let path = dir.join("summary.json");
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    value["complete"] = false.into();
    value["checkpoint_at"] = ticktape_engine::sim::metrics::rfc3339(out.span.1).into();
    value["checkpoint_at_ns"] = out.span.1.into();
    results::write_json(&path, &value)?;
    Ok(())
}

const PROVENANCE: &str = ".provenance.json";

/// What a run was made of, for `summary.json`: ticktape's version, every
/// tape with its size and XXH3-128 content hash, the strategy config and
/// the effective simulator settings (seed included).
/// The size and XXH3-128 content hash (hex) of the file at `path`; `what`
/// names it in errors.
pub(crate) fn hash_file(path: &Path, what: &str) -> Result<(u64, String)> {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 20];
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))?;
    let mut h = twox_hash::XxHash3_128::new();
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {what} {}", path.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.write(&buf[..n]);
    }
    Ok((size, format!("{:032x}", h.finish_128())))
}

/// The effective simulator settings, as `summary.json` shows them.
pub(crate) fn sim_json(s: &SimConfig) -> serde_json::Value {
    serde_json::json!({
        "feed_latency": s.feed.to_string(),
        "entry_latency": s.entry.to_string(),
        "response_latency": s.response.to_string(),
        "maker_fee_bps": s.maker_fee_bps,
        "taker_fee_bps": s.taker_fee_bps,
        "fills": { "touch": s.fills.touch, "partial": s.fills.partial, "queue": s.fills.queue,
                   "book_cross": s.fills.book_cross },
        "max_position": s.max_position,
        "max_notional": s.max_notional,
        "capital": s.capital,
        "mark": match s.mark { MarkSource::Mid => "mid", MarkSource::Mark => "mark" },
        "sample_ns": s.sample_ns,
        "seed": s.seed,
    })
}

fn provenance(plan: &RunPlan) -> Result<serde_json::Value> {
    let mut tapes = Vec::new();
    for t in &plan.tapes {
        let (size, hash) = hash_file(t, "tape")?;
        tapes.push(serde_json::json!({
            "path": t.to_string_lossy(),
            "bytes": size,
            "xxh3_128": hash,
        }));
    }
    Ok(serde_json::json!({
        "ticktape_version": env!("CARGO_PKG_VERSION"),
        "strategy_path": plan.strategy,
        "strategy_config": plan.config_text,
        "tapes": tapes,
        "slice": plan.slice.to_json(),
        "sim": sim_json(&plan.sim),
        "bar_slippage_bps": plan.bar_slippage_bps,
    }))
}

pub(crate) fn with_plugin(mut prov: serde_json::Value, info: &PluginInfo) -> serde_json::Value {
    if let Some(m) = prov.as_object_mut() {
        m.insert(
            "plugin".into(),
            serde_json::json!({
                "name": info.name, "version": info.version, "sdk_version": info.sdk_version,
                "rustc": info.rustc, "target": info.target, "profile": info.profile,
            }),
        );
    }
    prov
}

/// Runs the backtest and writes its results into `dir`.
fn backtest_into<P: ticktape_engine::sim::Probe>(
    plan: &RunPlan,
    dir: &Path,
    prov: serde_json::Value,
    probe: &mut P,
    on_plugin: impl FnOnce(&mut P, &PluginInfo),
) -> Result<(RunOutput, Summary, PluginInfo, f64, Vec<PathBuf>)> {
    let (out, summary, info, secs) = execute_probed(plan, probe, on_plugin)?;
    let prov = with_plugin(prov, &info);
    let written = results::write_with(dir, &out, &summary, Some(&prov))?;
    Ok((out, summary, info, secs, written.files))
}

/// The final names of the files written into the staging folder.
fn renamed(files: &[PathBuf], out: &Path) -> Vec<PathBuf> {
    files.iter().filter_map(|f| f.file_name().map(|n| out.join(n))).collect()
}

pub(crate) fn run(a: RunArgs) -> Result<()> {
    let plan = a.plan()?;
    if let Some(dir) = &a.child_dir {
        return child(&plan, dir);
    }
    let time_limit = a.time_limit.as_deref().map(|s| parse_time_limit(s, "--time-limit")).transpose()?;
    let memory_limit = a.memory_limit.as_deref().map(crate::supervise::parse_bytes).transpose()?;
    let staging = results::stage(&plan.out, a.force)?;
    let prov = match provenance(&plan) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_dir_all(staging.dir());
            return Err(e);
        }
    };
    if a.in_process {
        let r = backtest_into(&plan, staging.dir(), prov, &mut (), |_, _| {});
        let (out, summary, info, secs, files) = match r {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_dir_all(staging.dir());
                return Err(e);
            }
        };
        staging.promote()?;
        print_summary(&summary, &info, secs, &plan.out, &renamed(&files, &plan.out));
        if a.report {
            write_report(&plan.out)?;
        }
        if let Some(e) = &out.error {
            bail!("{e}; results up to the failure are in {}", plan.out.display());
        }
        return Ok(());
    }
    results::write_json(&staging.dir().join(PROVENANCE), &prov)?;
    // The child gets the same arguments; it skips the checks above.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Progress of the child (it reports its event count about once a second).
    // With --from/--to, only the records in the slice are replayed.
    let total: u64 = plan
        .tapes
        .iter()
        .filter_map(|t| Tape::open(t).ok())
        .map(|t| t.index_range(plan.slice.from, plan.slice.to).len() as u64)
        .sum();
    let bar = crate::progress::Bar::new("events", total, 0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((n, _)) = crate::supervise::progress(staging.dir()) {
                    bar.set(n);
                }
                // As often as the plain lines are due (at most 5 times a second).
                std::thread::sleep(crate::progress::interval().min(std::time::Duration::from_millis(200)));
            }
        });
        let o = crate::supervise::supervise(args, staging.dir(), time_limit, memory_limit);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        o
    })?;
    match &outcome {
        crate::supervise::Outcome::Reported { ok: true, .. } => bar.finish(),
        _ => bar.stop(),
    }
    let dir = staging.dir().to_path_buf();
    let progress = crate::supervise::progress(&dir);
    let clock = crate::supervise::clock(&dir);
    for f in [crate::supervise::STATUS, crate::supervise::PROGRESS, crate::supervise::CLOCK, PROVENANCE] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    match outcome {
        crate::supervise::Outcome::Reported { ok, stderr } => {
            crate::supervise::remove_checkpoints(&dir);
            let wrote = std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
            if wrote {
                staging.promote()?;
                if a.report && plan.out.join("summary.json").is_file() {
                    write_report(&plan.out)?;
                }
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
            use std::io::Write;
            let _ = std::io::stderr().write_all(&stderr);
            if ok {
                Ok(())
            } else {
                // The child printed its one error line.
                std::process::exit(1)
            }
        }
        crate::supervise::Outcome::Crashed { what, stderr } => {
            // The shared clock is exact (updated on every market event); the
            // progress report, up to a second old, is the fallback.
            let reached = clock.map(|(n, t)| (n, Some(t))).or(progress);
            let events = reached.map(|p| p.0);
            let last_ts = reached.and_then(|p| p.1);
            let after = match (reached, clock.is_some()) {
                (Some((n, Some(t))), true) => format!(
                    "at market event {}, exchange time {}",
                    fmt::thousands(n),
                    ticktape_engine::sim::metrics::rfc3339(t)
                ),
                (Some((n, Some(t))), false) => format!(
                    "after at least {} events, last reported event time {}",
                    fmt::thousands(n),
                    ticktape_engine::sim::metrics::rfc3339(t)
                ),
                (Some((n, None)), _) => format!("after at least {} events", fmt::thousands(n)),
                (None, _) => "before its first market event".into(),
            };
            let error = format!("the backtest process {what} ({after})");
            let checkpoint = crate::supervise::take_checkpoint(&dir);
            let checkpoint_at = checkpoint.as_ref().and_then(|c| c["checkpoint_at"].as_str().map(str::to_owned));
            let mut summary = match checkpoint {
                Some(s) if s.is_object() => s,
                _ => serde_json::json!({ "checkpoint_at": null }),
            };
            summary["error"] = error.clone().into();
            summary["complete"] = false.into();
            summary["events_at_least"] = events.into();
            summary["last_event_at_ns"] = last_ts.into();
            summary["last_event_at"] = last_ts.map(ticktape_engine::sim::metrics::rfc3339).into();
            if summary.get("provenance").is_none_or(|p| p.is_null()) {
                summary["provenance"] = prov;
            }
            if !stderr.is_empty() {
                std::fs::write(dir.join("stderr.log"), &stderr)
                    .with_context(|| format!("cannot write {}", dir.join("stderr.log").display()))?;
                summary["stderr_log"] = "stderr.log".into();
            }
            results::write_json(&dir.join("summary.json"), &summary)?;
            staging.promote()?;
            let kept = match &checkpoint_at {
                Some(t) => format!(
                    "results up to {t} (the last checkpoint) are in {}, with this error in summary.json",
                    plan.out.display()
                ),
                None => format!(
                    "no checkpoint: crashed before the first one (about a second into the run); {} holds \
                     summary.json with this error",
                    plan.out.display()
                ),
            };
            bail!("{error}; {kept}{}", if stderr.is_empty() { "" } else { " and the process's stderr.log" })
        }
    }
}

/// Parses a wall-time limit (`30s`, `10m`, `1.5h`); `what` names it in errors.
pub(crate) fn parse_time_limit(s: &str, what: &str) -> Result<std::time::Duration> {
    let ns = parse_duration(s).map_err(|e| anyhow!("{what}: {e}"))?;
    if ns <= 0 {
        bail!("{what} must be positive (e.g. 30s, 10m)");
    }
    Ok(std::time::Duration::from_nanos(ns as u64))
}

/// Writes `out/report.html` and says so.
fn write_report(out: &Path) -> Result<()> {
    let path = out.join("report.html");
    ticktape_report::render_run_report(out, &path)?;
    println!("report        {}", path.display());
    Ok(())
}

/// The supervised backtest process: runs the plan, writes the results into
/// `dir`, then marks the run as reported (`ok` or `error`).
fn child(plan: &RunPlan, dir: &Path) -> Result<()> {
    let prov: serde_json::Value = std::fs::read(dir.join(PROVENANCE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let mut probe = crate::supervise::Progress::new(dir);
    let ckpt_prov = prov.clone();
    let r = backtest_into(plan, dir, prov, &mut probe, move |p, info| {
        let (strategy, prov) = (label(info), with_plugin(ckpt_prov, info));
        p.set_writer(Box::new(move |d, out| write_checkpoint(d, out, &strategy, &prov)));
    })
    .and_then(|(out, summary, info, secs, files)| {
        print_summary(&summary, &info, secs, &plan.out, &renamed(&files, &plan.out));
        match &out.error {
            Some(e) => Err(anyhow!("{e}; results up to the failure are in {}", plan.out.display())),
            None => Ok(()),
        }
    });
    let status = if r.is_ok() { "ok" } else { "error" };
    std::fs::write(dir.join(crate::supervise::STATUS), status)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    r
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_owned(), f)
}

fn print_summary(s: &Summary, info: &PluginInfo, secs: f64, dir: &Path, files: &[PathBuf]) {
    let money = |x: f64| format!("{x:.2}");
    let pct = |x: f64| format!("{:.2} %", x * 100.0);
    println!("strategy      {}", describe(info));
    println!(
        "events        {} in {secs:.3} s ({})",
        fmt::thousands(s.events),
        fmt::rate(s.events as f64 / secs.max(1e-9))
    );
    println!("period        {} .. {} ({:.1} s)", s.start, s.end, s.duration_s);
    let ann = |x: Option<f64>| if s.ratios_meaningful { opt(x, |x| format!("{x:.2}")) } else { "n/m".to_owned() };
    let rows = [
        ("net PnL", money(s.net_pnl), "gross PnL", money(s.gross_pnl)),
        ("fees", money(s.fees), "funding", money(s.funding)),
        ("orders", s.orders.to_string(), "fills", s.fills.to_string()),
        ("fill rate", opt(s.fill_rate, pct), "maker share", opt(s.maker_share, pct)),
        ("Sharpe", ann(s.sharpe), "Sortino", ann(s.sortino)),
        (
            "Calmar",
            ann(s.calmar),
            "max drawdown",
            format!("{}{}", money(s.max_drawdown), opt(s.max_drawdown_pct, |x| format!(" ({})", pct(x)))),
        ),
        ("turnover", money(s.turnover), "win rate", opt(s.win_rate, pct)),
    ];
    for (a, av, b, bv) in rows {
        println!("{a:<13} {av:>16}    {b:<13} {bv:>16}");
    }
    let inv: Vec<String> = s.ending_inventory.iter().map(|i| format!("{} {}", i.symbol, i.position)).collect();
    println!("inventory     {}", inv.join(", "));
    if !s.by_tag.is_empty() {
        println!("by tag        (PnL: fills marked to the last mark, after fees; adds up to gross PnL - fees)");
        println!(
            "  {:>4}  {:<16} {:>8} {:>8} {:>11} {:>12} {:>12} {:>12}",
            "tag", "name", "orders", "fills", "maker share", "fees", "realised", "PnL"
        );
        for t in &s.by_tag {
            println!(
                "  {:>4}  {:<16} {:>8} {:>8} {:>11} {:>12} {:>12} {:>12}",
                t.tag,
                t.name.as_deref().unwrap_or("-"),
                t.orders,
                t.fills,
                opt(t.maker_share, pct),
                money(t.fees),
                money(t.realized_pnl),
                money(t.pnl)
            );
        }
    }
    if !s.strategy_figures.is_empty() {
        let figs: Vec<String> = s
            .strategy_figures
            .iter()
            .map(|(k, v)| format!("{k} {}", v.map_or_else(|| "-".to_owned(), |x| format!("{x:.6}"))))
            .collect();
        println!("reported      {}", figs.join(", "));
    }
    if s.ratios_meaningful {
        println!(
            "              (Sharpe, Sortino, Calmar annualised from {} s equity samples over {:.1} s; definitions in README)",
            s.sample_interval_s, s.duration_s
        );
    } else {
        println!(
            "              (n/m: annualised ratios are not meaningful for a run of {:.1} s, under a day; per {} s sample: Sharpe {}, Sortino {})",
            s.duration_s,
            s.sample_interval_s,
            opt(s.sharpe_per_sample, |x| format!("{x:.4}")),
            opt(s.sortino_per_sample, |x| format!("{x:.4}"))
        );
    }
    let names: Vec<String> =
        files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    println!("results       {}: {}", dir.display(), names.join(" "));
}
