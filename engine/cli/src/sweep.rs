//! `ticktape sweep` and `ticktape merge`: many backtests of one strategy
//! (a parameter grid × tape sets) on a worker pool, sharded across machines,
//! into one Parquet table of runs.
//!
//! Layout of a sweep folder:
//! - `manifest.json`: what the sweep is (ticktape version, plugin build id,
//!   tape and config hashes, the sweep hash) and which shard this is;
//!   written before the first run, so `--resume` and `merge` can check it;
//! - `rows/<run>.json`: one finished run (parameters, metrics, status,
//!   error, wall time), written atomically when the run ends: an
//!   interrupted sweep leaves only complete runs;
//! - `runs.parquet`: the table, assembled from `rows/` when every run of the
//!   shard is done; byte-identical for any thread count and, merged, for any
//!   sharding. Wall times vary, so they are not in it but in
//!   `timings.parquet`;
//! - `runs/<run>/`: the run's full results (with `--keep-runs`).
//!
//! Crash containment: the whole sweep runs in one supervised child process
//! (this binary re-executed), which checkpoints every finished run as its
//! row file and marks the runs it is working on in `.inflight/`. If the child
//! dies (segfault, abort, a plugin's `exit()`), the runs that were in flight
//! are retried one by one, each alone in a child of its own; a run that
//! kills its process alone is recorded as `crashed` with what happened, and
//! the sweep goes on with a fresh child for the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use ticktape_engine::plugin::Plugin;
use ticktape_engine::replay::{Replay, ReplayOptions};
use ticktape_engine::results;
use ticktape_engine::sim::SimConfig;
use ticktape_engine::sim::metrics::summarize;
use ticktape_engine::table::Table;

use crate::progress::Bar;

/// Run a parameter sweep: one backtest per grid point and tape set, on all
/// cores, into one Parquet table of runs (DIR/runs.parquet).
///
/// SWEEP.toml names a strategy plugin, its base config, the tapes (one tape
/// set, or a list of them: one run per set and parameter point) and a
/// `[grid]` of strategy config keys to lists of values (their cartesian
/// product); `[[runs]]` tables add explicit parameter points. Every other
/// key is a run-file key (latency, fees, fills, limits, account, funding,
/// from/to) and applies to every run.
///
/// Runs are numbered 0.. in a fixed order: grid points first (keys in
/// alphabetical order, the last key varying fastest), then the `[[runs]]`
/// points in file order; for each point, every tape set in order (run =
/// point × tape sets + set). runs.parquet has one row per run in that
/// order: `run`, one column per parameter, `tape_set`, `tapes`, `status`
/// (ok, error, crashed, timeout), `error`, then every summary metric; it is
/// byte-identical for any --threads. Wall times are in timings.parquet.
///
/// Tapes are mapped once per tape set and shared by every run; the plugin is
/// loaded once. A run whose strategy fails (a panic, a bad config value) is
/// recorded with its error and the others go on. The sweep runs in a child
/// process: a run that crashes the process (segfault, abort) is retried
/// alone and, if it crashes again, recorded as crashed. With a time limit
/// (`time_limit` or --time-limit), a run still going after it (a hung or
/// slow plugin) is stopped with the process and recorded as timeout; the
/// runs that shared the process are redone. Failed runs (error, crashed,
/// timeout) are listed at the end and the sweep still exits 0: check
/// `status` in runs.parquet.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape sweep engine/cli/examples/demo/sweep.toml -o results/sweep
  ticktape sweep sweep.toml -o results/sweep --threads 2 --keep-runs --report
  ticktape sweep sweep.toml -o results/sweep --resume          # finish an interrupted sweep
  ticktape sweep sweep.toml -o out/shard-2 --shard 2/3         # the second of three shards
  ticktape merge out/shard-1 out/shard-2 out/shard-3 -o results/sweep
  ticktape sweep sweep.toml -o results/sweep --time-limit 5m   # a run over 5 min: status timeout
  ticktape sweep sweep.toml -o results/sweep -q --log-file sweep.jsonl

SWEEP.toml (paths relative to the file):
  strategy = \"target/release/libticktape_template.so\"
  config = \"mm.toml\"          or  config = { half_spread_ticks = 1 }   (optional)
  tapes = [\"data/*.tape\"]     or  tape_sets = [[\"day1/*.tape\"], [\"day2/*.tape\"]]
  [grid]
  half_spread_ticks = [1, 2, 4]
  max_position_lots = [5, 20]
  [[runs]]                    (explicit points, after the grid)
  half_spread_ticks = 8
  [latency] [fees] [fills] [limits] [account]   as in a run file; allow_gaps = true
  time_limit = \"10m\"          (each run's wall time; over it: status timeout)

Shards: --shard i/N (1-based) takes runs r with r mod N = i - 1. Without --shard, a Slurm array
task takes i = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1 and N = SLURM_ARRAY_TASK_COUNT; a
Kubernetes Indexed Job pod takes i = JOB_COMPLETION_INDEX + 1 (0-based) with N from --shard N.
See engine/cli/deploy/ for a Slurm array script and a Kubernetes manifest.

Progress: a bar with ETA on a terminal; otherwise (a batch log) a line such as
`progress: 50% 7/14 runs, 1.2/s, eta 6 s` every 10 s (TICKTAPE_PROGRESS_INTERVAL=SECONDS); -q: none.
Exit status: 0 when every run has a row (whatever its status), 1 on an error of the sweep itself
(bad SWEEP.toml, unwritable DIR, Ctrl-C).")]
pub(crate) struct SweepArgs {
    /// The sweep file (TOML).
    #[arg(value_name = "SWEEP.toml")]
    sweep: PathBuf,
    /// Output folder (refused if it holds another sweep; --resume continues
    /// this one).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Run only shard i of N (1-based: 1/3, 2/3, 3/3), or `N` alone to take
    /// i from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "i/N")]
    shard: Option<String>,
    /// Continue the sweep in DIR: skip the runs already complete there.
    #[arg(long)]
    resume: bool,
    /// Also write every run's full results into DIR/runs/RUN/ (RUN: the run number).
    #[arg(long)]
    keep_runs: bool,
    /// Stop a run after this much wall time (e.g. 30s, 10m; as `run
    /// --time-limit`) and record it with status `timeout`; the other runs go
    /// on. Overrides `time_limit` in SWEEP.toml [default: none].
    #[arg(long, value_name = "DURATION")]
    time_limit: Option<String>,
    /// Also draw DIR/report.html: a heatmap and the sortable table of runs.
    #[arg(long)]
    report: bool,
    /// The report's heatmap: METRIC:PARAM_X:PARAM_Y [default: net_pnl over
    /// the first two parameters].
    #[arg(long, value_name = "METRIC:X:Y")]
    heatmap: Option<String>,
    /// Internal: run as the supervised sweep process.
    #[arg(long, hide = true, value_name = "DIR")]
    child_dir: Option<PathBuf>,
    /// Internal: the supervised process runs only this run.
    #[arg(long, hide = true, value_name = "RUN")]
    child_only: Option<usize>,
}

/// Join the outputs of a sharded sweep into one table of runs.
///
/// Writes DIR/runs.parquet, timings.parquet and manifest.json exactly as one
/// unsharded sweep writes them (byte for byte), and DIR/rows/. Refuses
/// shards of different sweeps (different plugin build, tapes, configs or
/// grid: the manifests' sweep hashes differ), shards of different shard
/// counts, shards missing or given twice, and shards not finished. The
/// order of the folders does not matter.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape merge out/shard-1 out/shard-2 out/shard-3 -o results/sweep
  ticktape merge out/shard-* -o results/sweep --report
  ticktape merge /shared/results/sweep/shard-{1,2,3} -o /shared/results/sweep/merged   # a Slurm array's
  ticktape report results/sweep --heatmap sharpe_per_sample:half_spread_ticks:max_position_lots

Each SHARD_DIR is what `ticktape sweep SWEEP.toml --shard i/N -o SHARD_DIR` wrote (a Slurm array
task or a Kubernetes Indexed Job pod writes one; see engine/cli/deploy/). A shard that is not finished
(no runs.parquet: its task was stopped) is refused: run its sweep again with --resume, then merge.
DIR must be new, empty, or hold an earlier merge of the same sweep (replaced).")]
pub(crate) struct MergeArgs {
    /// The shard folders (what `ticktape sweep --shard i/N -o DIR` wrote).
    #[arg(value_name = "SHARD_DIR", required = true)]
    shards: Vec<PathBuf>,
    /// Output folder.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Also draw DIR/report.html.
    #[arg(long)]
    report: bool,
    /// The report's heatmap: METRIC:PARAM_X:PARAM_Y.
    #[arg(long, value_name = "METRIC:X:Y")]
    heatmap: Option<String>,
}

/// Every numeric metric of a run's summary, in the column order of
/// runs.parquet (a test checks that the summary has no other).
pub(crate) const METRICS: [&str; 26] = [
    "events",
    "duration_s",
    "capital",
    "final_equity",
    "net_pnl",
    "gross_pnl",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "funding",
    "orders",
    "invalid_orders",
    "fills",
    "fill_rate",
    "maker_share",
    "sharpe",
    "sortino",
    "calmar",
    "sharpe_per_sample",
    "sortino_per_sample",
    "max_drawdown",
    "max_drawdown_pct",
    "turnover",
    "turnover_x_capital",
    "win_rate",
    "sample_interval_s",
];

/// The sweep-only keys of SWEEP.toml; the rest are run-file keys.
#[derive(Debug, Default, Deserialize)]
struct SweepKeys {
    tapes: Option<Vec<String>>,
    tape_sets: Option<Vec<Vec<String>>>,
    grid: Option<toml::Table>,
    runs: Option<Vec<toml::Table>>,
    allow_gaps: Option<bool>,
    time_limit: Option<String>,
}

/// One run of the sweep.
#[derive(Clone, Debug)]
struct RunSpec {
    params: BTreeMap<String, toml::Value>,
    set: usize,
}

/// A parameter column: its name and whether every value is a number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Param {
    name: String,
    numeric: bool,
}

/// A fully resolved sweep.
struct SweepPlan {
    strategy: String,
    base_config: toml::Table,
    /// The folder the strategy configuration's relative paths are relative
    /// to (the sweep file's, or the `config = "FILE"`'s).
    config_dir: PathBuf,
    sets: Vec<Vec<PathBuf>>,
    sim: SimConfig,
    allow_gaps: bool,
    /// Wall time a run may take (`time_limit`), if limited.
    time_limit: Option<Duration>,
    /// The time slice of the run-file keys `from`/`to` (every run).
    slice: crate::slice::SliceArgs,
    /// Bar-driven books' distance from the close (run-file `[fills] bar_slippage_bps`).
    bar_slippage_bps: f64,
    params: Vec<Param>,
    runs: Vec<RunSpec>,
}

/// One finished run: a row of runs.parquet (plus its wall time).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row {
    run: usize,
    /// One value per parameter column (number, text or null).
    params: Vec<serde_json::Value>,
    tape_set: usize,
    tapes: String,
    status: String,
    error: Option<String>,
    /// One value per [`METRICS`] entry (null: undefined or not reached).
    metrics: Vec<Option<f64>>,
    wall_s: f64,
}

fn load(path: &Path) -> Result<SweepPlan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read sweep file {}", path.display()))?;
    let mut table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: {}", path.display(), ticktape_sdk::export::toml_error_line(&e, &text)))?;
    let mut keys = toml::Table::new();
    for k in ["tapes", "tape_sets", "grid", "runs", "allow_gaps", "time_limit"] {
        if let Some(v) = table.remove(k) {
            keys.insert(k.into(), v);
        }
    }
    let keys: SweepKeys =
        keys.try_into().map_err(|e: toml::de::Error| anyhow!("{}: {}", path.display(), e.message()))?;
    if table.remove("out").is_some() {
        bail!("{}: `out` is not a sweep key; the output folder is `-o DIR`", path.display());
    }
    // `config` is a file name (as in a run file) or the config itself.
    if let Some(toml::Value::Table(t)) = table.get("config").cloned() {
        table.remove("config");
        table.insert("strategy_config".into(), toml::Value::Table(t));
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let set_patterns = match (keys.tapes, keys.tape_sets) {
        (Some(_), Some(_)) => bail!("{}: give `tapes` (one tape set) or `tape_sets`, not both", path.display()),
        (Some(t), None) => vec![t],
        (None, Some(s)) => s,
        (None, None) => {
            bail!("{}: no tapes: add tapes = [\"data/*.tape\"] or tape_sets = [[..], [..]]", path.display())
        }
    };
    if set_patterns.is_empty() {
        bail!("{}: `tape_sets` is empty", path.display());
    }
    let mut sets = Vec::new();
    for (i, p) in set_patterns.iter().enumerate() {
        let tapes =
            crate::run::expand(&base, p, "tape").with_context(|| format!("{}: tape set {i}", path.display()))?;
        if tapes.is_empty() {
            bail!("{}: tape set {i} is empty", path.display());
        }
        sets.push(tapes);
    }
    let plan = crate::run::plan_from_table(table, &base, sets[0].clone(), path)?;
    // Funding tapes of the run-file keys are added to every tape set.
    let funding: Vec<PathBuf> = plan.tapes[sets[0].len()..].to_vec();
    for s in &mut sets {
        s.extend(funding.iter().cloned());
    }
    let base_config: toml::Table = toml::from_str(&plan.config_text)
        .map_err(|e| anyhow!("the strategy config of {} is not TOML: {}", path.display(), e.message()))?;

    // Parameter points: the grid's cartesian product, then [[runs]].
    let grid = keys.grid.unwrap_or_default();
    let mut points: Vec<BTreeMap<String, toml::Value>> = vec![BTreeMap::new()];
    for (k, v) in &grid {
        let values = match v {
            toml::Value::Array(a) if !a.is_empty() => a,
            _ => bail!("{}: [grid] {k} must be a non-empty list of values, e.g. {k} = [1, 2, 4]", path.display()),
        };
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.insert(k.clone(), v.clone());
                    q
                })
            })
            .collect();
    }
    if grid.is_empty() && keys.runs.as_ref().is_some_and(|r| !r.is_empty()) {
        points.clear();
    }
    for r in keys.runs.unwrap_or_default() {
        points.push(r.into_iter().collect());
    }
    let mut names: Vec<String> = points.iter().flat_map(|p| p.keys().cloned()).collect();
    names.sort();
    names.dedup();
    let params = names
        .into_iter()
        .map(|name| {
            let numeric = points.iter().filter_map(|p| p.get(&name)).all(|v| v.is_integer() || v.is_float());
            Param { name, numeric }
        })
        .collect();
    let runs = points
        .into_iter()
        .flat_map(|params| (0..sets.len()).map(move |set| RunSpec { params: params.clone(), set }))
        .collect();
    Ok(SweepPlan {
        slice: plan.slice,
        bar_slippage_bps: plan.bar_slippage_bps,
        strategy: plan.strategy,
        base_config,
        config_dir: plan.config_dir,
        sets,
        sim: plan.sim,
        allow_gaps: keys.allow_gaps.unwrap_or(false),
        time_limit: keys
            .time_limit
            .as_deref()
            .map(|t| crate::run::parse_time_limit(t, &format!("{}: time_limit", path.display())))
            .transpose()?,
        params,
        runs,
    })
}

impl SweepPlan {
    /// The strategy config of run `r`: the base config with the run's
    /// parameters set (`a.b` names key `b` of table `a`).
    fn config(&self, r: &RunSpec) -> Result<String> {
        let mut t = self.base_config.clone();
        for (k, v) in &r.params {
            let mut parts: Vec<&str> = k.split('.').collect();
            let last = parts.pop().unwrap_or(k);
            let mut cur = &mut t;
            for p in parts {
                cur = match cur.entry(p).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
                    toml::Value::Table(t) => t,
                    _ => bail!("parameter {k}: `{p}` is not a table in the base config"),
                };
            }
            cur.insert(last.to_owned(), v.clone());
        }
        toml::to_string(&t).context("cannot encode the strategy config")
    }

    fn param_values(&self, r: &RunSpec) -> Vec<serde_json::Value> {
        self.params
            .iter()
            .map(|p| match r.params.get(&p.name) {
                None => serde_json::Value::Null,
                Some(v) if p.numeric => v.as_float().or_else(|| v.as_integer().map(|i| i as f64)).into(),
                Some(toml::Value::String(s)) => s.clone().into(),
                Some(v) => v.to_string().into(),
            })
            .collect()
    }

    /// The row of run `r` that ended without results (`crashed`, `timeout`).
    fn failed_row(&self, r: usize, status: &str, error: String, wall_s: f64) -> Row {
        let spec = &self.runs[r];
        Row {
            run: r,
            params: self.param_values(spec),
            tape_set: spec.set,
            tapes: self.tapes_label(spec.set),
            status: status.into(),
            error: Some(error),
            metrics: vec![None; METRICS.len()],
            wall_s,
        }
    }

    fn tapes_label(&self, set: usize) -> String {
        let names: Vec<String> = self.sets[set]
            .iter()
            .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
            .collect();
        names.join(" ")
    }
}

/// Which shard this process runs (1-based index, count).
fn shard(arg: Option<&str>) -> Result<(usize, usize)> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let num = |k: &str, v: &str| -> Result<usize> {
        v.trim().parse().map_err(|_| anyhow!("{k}={v:?} is not a whole number"))
    };
    let from_env = |count: Option<usize>| -> Result<Option<(usize, usize)>> {
        if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
            let id = num("SLURM_ARRAY_TASK_ID", &id)?;
            let min = env("SLURM_ARRAY_TASK_MIN").map(|v| num("SLURM_ARRAY_TASK_MIN", &v)).transpose()?.unwrap_or(1);
            let n = match (count, env("SLURM_ARRAY_TASK_COUNT")) {
                (Some(n), _) => n,
                (None, Some(c)) => num("SLURM_ARRAY_TASK_COUNT", &c)?,
                (None, None) => bail!("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard N"),
            };
            if id < min {
                bail!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}");
            }
            return Ok(Some((id - min + 1, n)));
        }
        if let Some(idx) = env("JOB_COMPLETION_INDEX") {
            let idx = num("JOB_COMPLETION_INDEX", &idx)?;
            let Some(n) = count else {
                bail!("JOB_COMPLETION_INDEX is set: pass --shard N with N the Job's completions")
            };
            return Ok(Some((idx + 1, n)));
        }
        Ok(None)
    };
    let (i, n) = match arg {
        Some(s) => match s.split_once('/') {
            Some((i, n)) => (num("--shard", i)?, num("--shard", n)?),
            None => {
                let n = num("--shard", s)?;
                from_env(Some(n))?.ok_or_else(|| {
                    anyhow!("--shard {n}: the shard index comes from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, and neither is set; pass --shard i/{n}")
                })?
            }
        },
        None => from_env(None)?.unwrap_or((1, 1)),
    };
    if n == 0 || i == 0 || i > n {
        bail!("shard {i}/{n}: the index runs from 1 to the count (1/3, 2/3, 3/3)");
    }
    Ok((i, n))
}

/// The parts of the manifest that every shard of one sweep shares.
fn sweep_identity(plan: &SweepPlan, plugin: &Plugin) -> Result<serde_json::Value> {
    let (plugin_bytes, plugin_hash) = match &plugin.info().path {
        Some(p) => crate::run::hash_file(p, "strategy plugin")?,
        None => (0, String::new()),
    };
    let mut sets = Vec::new();
    for set in &plan.sets {
        let mut tapes = Vec::new();
        for t in set {
            let (bytes, hash) = crate::run::hash_file(t, "tape")?;
            let name = t.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            tapes.push(serde_json::json!({ "name": name, "bytes": bytes, "xxh3_128": hash }));
        }
        sets.push(serde_json::Value::Array(tapes));
    }
    let runs: Vec<serde_json::Value> = plan
        .runs
        .iter()
        .map(|r| serde_json::json!({ "params": toml::to_string(&r.params).unwrap_or_default(), "tape_set": r.set }))
        .collect();
    let base_config = toml::to_string(&plan.base_config).unwrap_or_default();
    let configs = serde_json::json!({ "base": base_config, "runs": runs, "sim": crate::run::sim_json(&plan.sim),
        "allow_gaps": plan.allow_gaps });
    let configs_hash = hash_json(&configs);
    let info = plugin.info();
    let mut id = serde_json::json!({
        "ticktape_version": env!("CARGO_PKG_VERSION"),
        "plugin": {
            "name": info.name, "version": info.version, "sdk_version": info.sdk_version, "rustc": info.rustc,
            "target": info.target, "profile": info.profile, "bytes": plugin_bytes, "build_id": plugin_hash,
        },
        "tape_sets": sets,
        "configs_xxh3_128": configs_hash,
        "runs": plan.runs.len(),
        "params": plan.params,
        "metrics": METRICS,
    });
    let hash = hash_json(&id);
    id["sweep_hash"] = hash.into();
    Ok(id)
}

fn hash_json(v: &serde_json::Value) -> String {
    let text = serde_json::to_vec(v).unwrap_or_default();
    format!("{:032x}", twox_hash::XxHash3_128::oneshot(&text))
}

fn manifest(identity: &serde_json::Value, shard: (usize, usize)) -> serde_json::Value {
    serde_json::json!({
        "kind": "ticktape sweep",
        "sweep": identity,
        "shard": { "index": shard.0, "count": shard.1,
                   "rule": "run r belongs to shard (r mod count) + 1" },
    })
}

fn in_shard(run: usize, shard: (usize, usize)) -> bool {
    run % shard.1 == shard.0 - 1
}

const ROWS: &str = "rows";
const INFLIGHT: &str = ".inflight";

fn row_path(dir: &Path, run: usize) -> PathBuf {
    dir.join(ROWS).join(format!("{run}.json"))
}

fn read_row(path: &Path) -> Result<Row> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a sweep row; remove it to redo the run", path.display()))
}

fn read_manifest(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join("manifest.json");
    let bytes =
        std::fs::read(&path).with_context(|| format!("{} is not a sweep output: no manifest.json", dir.display()))?;
    let m: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))?;
    if m["kind"] != "ticktape sweep" {
        bail!("{} is not the manifest of a ticktape sweep", path.display());
    }
    Ok(m)
}

/// The folders and runs of one sweep process.
struct Work<'a> {
    plan: &'a SweepPlan,
    plugin: &'a Plugin,
    dir: &'a Path,
    keep_runs: bool,
    identity: &'a serde_json::Value,
}

impl Work<'_> {
    /// Runs `todo` on `threads` workers; each finished run is written to
    /// its row file.
    fn run_all(&self, todo: &[usize], threads: usize) -> Result<()> {
        // Each tape set is opened (mapped) once and shared by every run on it.
        let mut replays: Vec<Option<std::result::Result<Replay, String>>> =
            (0..self.plan.sets.len()).map(|_| None).collect();
        for &r in todo {
            let set = self.plan.runs[r].set;
            if replays[set].is_none() {
                let opts = ReplayOptions {
                    allow_gaps: self.plan.allow_gaps,
                    from: self.plan.slice.from,
                    to: self.plan.slice.to,
                    bar_slippage_bps: self.plan.bar_slippage_bps,
                    ..ReplayOptions::default()
                };
                replays[set] = Some(Replay::open_with(&self.plan.sets[set], opts).map_err(|e| e.to_string()));
            }
        }
        std::fs::create_dir_all(self.dir.join(ROWS))
            .with_context(|| format!("cannot create {}/rows", self.dir.display()))?;
        std::fs::create_dir_all(self.dir.join(INFLIGHT))?;
        ticktape_engine::pool::run_indexed(todo.len(), threads, |i| {
            let r = todo[i];
            let replay = replays[self.plan.runs[r].set].as_ref().expect("opened above");
            self.one(r, replay.as_ref())
        })
    }

    /// Runs run `r` and writes its row; an error is one the sweep cannot
    /// go on after (the output folder cannot be written).
    fn one(&self, r: usize, replay: std::result::Result<&Replay, &String>) -> Result<()> {
        let marker = self.dir.join(INFLIGHT).join(r.to_string());
        std::fs::write(&marker, b"").with_context(|| format!("cannot write {}", marker.display()))?;
        let spec = &self.plan.runs[r];
        let t0 = Instant::now();
        let mut metrics = vec![None; METRICS.len()];
        let outcome: std::result::Result<Option<String>, String> = (|| {
            let replay = replay.map_err(Clone::clone)?;
            let config = self.plan.config(spec).map_err(|e| format!("{e:#}"))?;
            let mut inst = self.plugin.create_in(&config, Some(&self.plan.config_dir)).map_err(|e| e.to_string())?;
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ticktape_engine::sim::run(replay, &self.plan.sim, &mut inst).map_err(|e| e.to_string())
            }))
            .map_err(|p| format!("the engine panicked: {}", panic_text(&p)))??;
            let summary = summarize(&out, &crate::run::label(self.plugin.info()));
            let value = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
            for (m, name) in metrics.iter_mut().zip(METRICS) {
                *m = value[name].as_f64();
            }
            if self.keep_runs {
                let dir = self.dir.join("runs").join(r.to_string());
                let prov = serde_json::json!({
                    "sweep_hash": self.identity["sweep_hash"], "run": r, "strategy_config": config,
                    "tapes": self.plan.sets[spec.set].iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
                    "sim": crate::run::sim_json(&self.plan.sim),
                });
                let prov = crate::run::with_plugin(prov, self.plugin.info());
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                results::write_with(&dir, &out, &summary, Some(&prov)).map_err(|e| e.to_string())?;
            }
            Ok(out.error)
        })();
        let (status, error) = match outcome {
            Ok(None) => ("ok", None),
            Ok(Some(e)) | Err(e) => ("error", Some(e)),
        };
        let row = Row {
            run: r,
            params: self.plan.param_values(spec),
            tape_set: spec.set,
            tapes: self.plan.tapes_label(spec.set),
            status: status.into(),
            error,
            metrics,
            wall_s: t0.elapsed().as_secs_f64(),
        };
        write_row(self.dir, &row)?;
        let _ = std::fs::remove_file(&marker);
        Ok(())
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Writes a row file under a temporary name and renames it into place, so a
/// killed sweep never leaves a partial row. It is not synced (a sync costs
/// milliseconds per run): after a power loss a row may be empty or cut, and
/// `--resume` redoes such rows (see [`drop_bad_rows`]).
fn write_row(dir: &Path, row: &Row) -> Result<()> {
    let path = row_path(dir, row.run);
    let tmp = dir.join(ROWS).join(format!(".{}.json.tmp-{}", row.run, std::process::id()));
    let mut json = serde_json::to_vec_pretty(row)?;
    json.push(b'\n');
    std::fs::write(&tmp, &json).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot rename {} into place", tmp.display()))?;
    Ok(())
}

/// Removes the row files of `runs` in `dir` that do not parse (cut by a
/// power loss), so that they are redone; returns how many.
fn drop_bad_rows(dir: &Path, runs: &[usize]) -> usize {
    // Temporary files of rows that were being written when a sweep was killed.
    for e in std::fs::read_dir(dir.join(ROWS)).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with('.') {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let mut n = 0;
    for &r in runs {
        let p = row_path(dir, r);
        if p.is_file() && read_row(&p).is_err() {
            crate::progress::warn(&format!("{} is not a complete row; run {r} is redone", p.display()));
            let _ = std::fs::remove_file(&p);
            n += 1;
        }
    }
    n
}

/// Writes runs.parquet and timings.parquet of `rows` (sorted by run).
fn write_tables(dir: &Path, params: &[Param], rows: &[Row]) -> Result<()> {
    let mut t = Table::new().u64("run", rows.iter().map(|r| r.run as u64).collect());
    for (i, p) in params.iter().enumerate() {
        t = if p.numeric {
            t.f64_opt(&p.name, rows.iter().map(|r| r.params.get(i).and_then(serde_json::Value::as_f64)).collect())
        } else {
            t.utf8_opt(
                &p.name,
                rows.iter().map(|r| r.params.get(i).and_then(|v| v.as_str().map(str::to_owned))).collect(),
            )
        };
    }
    t = t
        .u64("tape_set", rows.iter().map(|r| r.tape_set as u64).collect())
        .utf8("tapes", rows.iter().map(|r| r.tapes.clone()).collect())
        .utf8("status", rows.iter().map(|r| r.status.clone()).collect())
        .utf8_opt("error", rows.iter().map(|r| r.error.clone()).collect());
    for (i, m) in METRICS.iter().enumerate() {
        t = t.f64_opt(m, rows.iter().map(|r| r.metrics.get(i).copied().flatten()).collect());
    }
    t.write(&dir.join("runs.parquet"))?;
    Table::new()
        .u64("run", rows.iter().map(|r| r.run as u64).collect())
        .f64("wall_s", rows.iter().map(|r| r.wall_s).collect())
        .write(&dir.join("timings.parquet"))?;
    Ok(())
}

fn threads(n: Option<u32>) -> usize {
    n.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |n| n as usize)
}

pub(crate) fn run(a: SweepArgs) -> Result<()> {
    let plan = load(&a.sweep)?;
    let plugin = crate::run::load_strategy(&plan.strategy)?;
    let shard = shard(a.shard.as_deref())?;
    let limit = a
        .time_limit
        .as_deref()
        .map(|t| crate::run::parse_time_limit(t, "--time-limit"))
        .transpose()?
        .or(plan.time_limit);
    if let Some(dir) = &a.child_dir {
        return child(&a, &plan, &plugin, dir, shard);
    }
    if plan.params.iter().any(|p| ["run", "tape_set", "tapes", "status", "error"].contains(&p.name.as_str())) {
        bail!("{}: a parameter may not be named run, tape_set, tapes, status or error", a.sweep.display());
    }
    let identity = sweep_identity(&plan, &plugin)?;
    let man = manifest(&identity, shard);
    let dir = &a.out;
    let exists = dir.join("manifest.json").is_file();
    if exists {
        let old = read_manifest(dir)?;
        if old["sweep"]["sweep_hash"] != identity["sweep_hash"] {
            bail!(
                "{} holds another sweep (sweep hash {} there, {} here: plugin, tapes, configs or grid differ); choose another -o",
                dir.display(),
                old["sweep"]["sweep_hash"].as_str().unwrap_or("?"),
                identity["sweep_hash"].as_str().unwrap_or("?")
            );
        }
        if old["shard"] != man["shard"] {
            bail!(
                "{} holds shard {} of this sweep, not {}/{}; choose another -o",
                dir.display(),
                old["shard"]["index"],
                shard.0,
                shard.1
            );
        }
        if !a.resume {
            bail!(
                "{} already holds this sweep; pass --resume to finish it (complete runs are kept) or choose another -o",
                dir.display()
            );
        }
    } else if dir.is_dir() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false) {
        bail!("{} is not empty and holds no sweep; choose another -o", dir.display());
    }
    std::fs::create_dir_all(dir.join(ROWS)).with_context(|| format!("cannot create {}", dir.display()))?;
    results::write_json(&dir.join("manifest.json"), &man)?;
    let _ = std::fs::remove_file(dir.join("runs.parquet"));
    let mine: Vec<usize> = (0..plan.runs.len()).filter(|&r| in_shard(r, shard)).collect();
    drop_bad_rows(dir, &mine);
    let done = |r: &usize| row_path(dir, *r).is_file();
    let skipped = mine.iter().filter(|r| done(r)).count();
    let n_threads = threads(a.threads);
    crate::progress::info(&format!(
        "sweep {}: {} runs ({} parameter points × {} tape sets){}, {} to do{}, {} threads",
        a.sweep.display(),
        plan.runs.len(),
        plan.runs.len() / plan.sets.len(),
        plan.sets.len(),
        if shard.1 > 1 { format!("; shard {}/{}: {} runs", shard.0, shard.1, mine.len()) } else { String::new() },
        mine.len() - skipped,
        if skipped > 0 { format!(" ({skipped} already complete)") } else { String::new() },
        n_threads
    ));
    let bar = Bar::new("runs", mine.len() as u64, skipped as u64);
    let t0 = Instant::now();
    // The supervised child runs everything left; after a crash, the runs
    // that were in flight are retried alone, then the rest again.
    let base_args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let timed_out = |r: usize, secs: f64| -> Result<()> {
        if done(&r) {
            // It wrote its row just as the limit struck: it finished.
            return Ok(());
        }
        let limit = limit.map_or(0.0, |l| l.as_secs_f64());
        crate::progress::warn(&format!("run {r} took longer than the time limit of {limit} s and was stopped"));
        let error = format!("the run took longer than the time limit of {limit} s (wall time) and was stopped");
        write_row(dir, &plan.failed_row(r, "timeout", error, secs))
    };
    let mut crashes = 0usize;
    loop {
        let todo: Vec<usize> = mine.iter().copied().filter(|r| !done(r)).collect();
        if todo.is_empty() {
            break;
        }
        let _ = std::fs::remove_dir_all(dir.join(INFLIGHT));
        match supervised(&base_args, dir, None, &bar, &mine, limit)? {
            Ended::Done => continue,
            // The other runs in flight are redone by the next process.
            Ended::TimedOut(r, secs) => timed_out(r, secs)?,
            Ended::Crashed(what) => {
                if crate::supervise::interrupted() {
                    bail!("the sweep was interrupted; {} holds the complete runs; --resume finishes it", dir.display());
                }
                crashes += 1;
                let inflight = inflight(dir);
                crate::progress::debug(&format!(
                    "the sweep process {what}; retrying the runs in flight alone: {inflight:?}"
                ));
                if inflight.is_empty() {
                    bail!("the sweep process {what} outside any run; {} holds the complete runs", dir.display());
                }
                for r in inflight {
                    if done(&r) {
                        continue;
                    }
                    let _ = std::fs::remove_dir_all(dir.join(INFLIGHT));
                    match supervised(&base_args, dir, Some(r), &bar, &mine, limit)? {
                        Ended::Done => {}
                        Ended::TimedOut(r, secs) => timed_out(r, secs)?,
                        Ended::Crashed(what) => {
                            if crate::supervise::interrupted() {
                                bail!(
                                    "the sweep was interrupted; {} holds the complete runs; --resume finishes it",
                                    dir.display()
                                );
                            }
                            crate::progress::warn(&format!("run {r} crashed its process: {what}"));
                            let row = plan.failed_row(r, "crashed", format!("the run's process {what}"), 0.0);
                            write_row(dir, &row)?;
                        }
                    }
                }
                if crashes > mine.len() + 1 {
                    bail!("the sweep process keeps crashing; {} holds the complete runs", dir.display());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir.join(INFLIGHT));
    bar.finish();
    let rows = mine.iter().map(|&r| read_row(&row_path(dir, r))).collect::<Result<Vec<Row>>>()?;
    write_tables(dir, &plan.params, &rows)?;
    let failed = rows.iter().filter(|r| r.status != "ok").count();
    println!(
        "sweep: {} runs in {:.1} s ({} failed); wrote {}",
        rows.len(),
        t0.elapsed().as_secs_f64(),
        failed,
        dir.join("runs.parquet").display()
    );
    if failed > 0 {
        for r in rows.iter().filter(|r| r.status != "ok").take(5) {
            println!("  run {} {}: {}", r.run, r.status, r.error.as_deref().unwrap_or(""));
        }
    }
    if a.report {
        let out = dir.join("report.html");
        render_report(dir, &out, a.heatmap.as_deref())?;
        println!("report: {}", out.display());
    }
    Ok(())
}

/// The runs marked in flight in `dir`.
fn inflight(dir: &Path) -> Vec<usize> {
    let mut v: Vec<usize> = std::fs::read_dir(dir.join(INFLIGHT))
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_string_lossy().parse().ok()).collect())
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// How a supervised sweep process ended.
#[derive(Debug)]
enum Ended {
    /// It ran what it was given.
    Done,
    /// It died: what happened.
    Crashed(String),
    /// Run `.0` was still running after the time limit (`.1` seconds of wall
    /// time), so the process was stopped.
    TimedOut(usize, f64),
}

/// Runs the sweep (or only run `only`) in a supervised child, updating the
/// progress bar. With a time limit, a run in flight for longer than it
/// (its `.inflight` marker seen for that long) stops the child.
fn supervised(
    base: &[std::ffi::OsString],
    dir: &Path,
    only: Option<usize>,
    bar: &Bar,
    mine: &[usize],
    limit: Option<Duration>,
) -> Result<Ended> {
    let mut args = base.to_vec();
    if let Some(r) = only {
        args.push("--child-only".into());
        args.push(r.to_string().into());
    }
    let status = dir.join(crate::supervise::STATUS);
    let _ = std::fs::remove_file(&status);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut late: Option<(usize, f64)> = None;
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                // Row files of this shard only exist in its folder.
                let n = std::fs::read_dir(dir.join(ROWS))
                    .map_or(0, |d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count());
                let n = n.min(mine.len());
                bar.set(n as u64);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let mut started: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut checked = Instant::now();
        let mut watch = || -> Option<String> {
            let limit = limit?;
            if checked.elapsed() < Duration::from_millis(50) {
                return None;
            }
            checked = Instant::now();
            let now = inflight(dir);
            started.retain(|r, _| now.contains(r));
            for r in now {
                started.entry(r).or_insert(checked);
            }
            let (&r, t) = started.iter().find(|(_, t)| t.elapsed() >= limit)?;
            late = Some((r, t.elapsed().as_secs_f64()));
            Some(format!("was stopped: run {r} reached the time limit"))
        };
        let o = crate::supervise::supervise_watched(args, dir, None, None, &mut watch);
        stop.store(true, Ordering::Relaxed);
        o
    })?;
    let _ = std::fs::remove_file(&status);
    if let Some((r, secs)) = late {
        if let crate::supervise::Outcome::Crashed { stderr, .. } = &outcome {
            keep_stderr(dir, stderr);
        }
        return Ok(Ended::TimedOut(r, secs));
    }
    match outcome {
        crate::supervise::Outcome::Reported { ok, stderr } => {
            use std::io::Write;
            let _ = std::io::stderr().write_all(&stderr);
            if ok {
                Ok(Ended::Done)
            } else {
                // The child printed its one error line.
                std::process::exit(1)
            }
        }
        crate::supervise::Outcome::Crashed { what, stderr } => {
            keep_stderr(dir, &stderr);
            Ok(Ended::Crashed(what))
        }
    }
}

/// Appends what a sweep process that died printed to DIR/stderr.log.
fn keep_stderr(dir: &Path, stderr: &[u8]) {
    if !stderr.is_empty() {
        let log = dir.join("stderr.log");
        let mut old = std::fs::read(&log).unwrap_or_default();
        old.extend_from_slice(stderr);
        let _ = std::fs::write(&log, old);
    }
}

/// The supervised sweep process: runs what is left of the shard (or only
/// `--child-only`), then reports completion.
fn child(a: &SweepArgs, plan: &SweepPlan, plugin: &Plugin, dir: &Path, shard: (usize, usize)) -> Result<()> {
    let identity = read_manifest(dir)?["sweep"].clone();
    let todo: Vec<usize> = match a.child_only {
        Some(r) => vec![r],
        None => (0..plan.runs.len()).filter(|&r| in_shard(r, shard) && !row_path(dir, r).is_file()).collect(),
    };
    let work = Work { plan, plugin, dir, keep_runs: a.keep_runs, identity: &identity };
    let r = work.run_all(&todo, if a.child_only.is_some() { 1 } else { threads(a.threads) });
    std::fs::write(dir.join(crate::supervise::STATUS), if r.is_ok() { "ok" } else { "error" })
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    r
}

pub(crate) fn merge(a: MergeArgs) -> Result<()> {
    let mut shards: BTreeMap<usize, (PathBuf, serde_json::Value)> = BTreeMap::new();
    let mut first: Option<(PathBuf, serde_json::Value)> = None;
    for d in &a.shards {
        let m = read_manifest(d)?;
        let (i, n) =
            (m["shard"]["index"].as_u64().unwrap_or(0) as usize, m["shard"]["count"].as_u64().unwrap_or(0) as usize);
        match &first {
            None => first = Some((d.clone(), m.clone())),
            Some((fd, fm)) => {
                if fm["sweep"]["sweep_hash"] != m["sweep"]["sweep_hash"] {
                    bail!(
                        "{} and {} are shards of different sweeps (sweep hash {} vs {}: plugin, tapes, configs or grid differ)",
                        fd.display(),
                        d.display(),
                        fm["sweep"]["sweep_hash"].as_str().unwrap_or("?"),
                        m["sweep"]["sweep_hash"].as_str().unwrap_or("?")
                    );
                }
                if fm["shard"]["count"] != m["shard"]["count"] {
                    bail!(
                        "{} is shard {i}/{n} but {} is of {} shards; merge shards of one sharding",
                        d.display(),
                        fd.display(),
                        fm["shard"]["count"]
                    );
                }
            }
        }
        if let Some((other, _)) = shards.get(&i) {
            bail!("shard {i}/{n} is given twice: {} and {}", other.display(), d.display());
        }
        if !d.join("runs.parquet").is_file() {
            bail!(
                "{} (shard {i}/{n}) is not finished: no runs.parquet; run its sweep again with --resume",
                d.display()
            );
        }
        shards.insert(i, (d.clone(), m));
    }
    let (_, fm) = first.ok_or_else(|| anyhow!("no shard folders given"))?;
    let n = fm["shard"]["count"].as_u64().unwrap_or(0) as usize;
    let missing: Vec<String> = (1..=n).filter(|i| !shards.contains_key(i)).map(|i| format!("{i}/{n}")).collect();
    if !missing.is_empty() {
        bail!("missing shard(s) {}: give all {n} shard folders", missing.join(", "));
    }
    let identity = fm["sweep"].clone();
    let total = identity["runs"].as_u64().unwrap_or(0) as usize;
    let params: Vec<Param> =
        serde_json::from_value(identity["params"].clone()).context("manifest.json: bad `params`")?;
    let mut rows = Vec::with_capacity(total);
    for r in 0..total {
        let (d, _) = &shards[&(r % n + 1)];
        let p = row_path(d, r);
        if !p.is_file() {
            bail!(
                "{} lacks run {r} ({}): the shard is incomplete; run its sweep again with --resume",
                d.display(),
                p.display()
            );
        }
        rows.push(read_row(&p)?);
    }
    let dir = &a.out;
    let same = |p: &Path| match (std::fs::canonicalize(p), std::fs::canonicalize(dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some((_, (d, _))) = shards.iter().find(|(_, (d, _))| same(d)) {
        bail!("-o {} is one of the shards ({}); merge into another folder", dir.display(), d.display());
    }
    if dir.join("manifest.json").is_file() {
        let old = read_manifest(dir)?;
        if old["sweep"]["sweep_hash"] != identity["sweep_hash"] {
            bail!(
                "{} holds another sweep (sweep hash {} there, {} in the shards); choose another -o",
                dir.display(),
                old["sweep"]["sweep_hash"].as_str().unwrap_or("?"),
                identity["sweep_hash"].as_str().unwrap_or("?")
            );
        }
        let _ = std::fs::remove_file(dir.join("runs.parquet"));
    } else if dir.is_dir() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false) {
        bail!("{} is not empty and holds no sweep; choose another -o", dir.display());
    }
    std::fs::create_dir_all(dir.join(ROWS)).with_context(|| format!("cannot create {}", dir.display()))?;
    results::write_json(&dir.join("manifest.json"), &manifest(&identity, (1, 1)))?;
    for row in &rows {
        write_row(dir, row)?;
    }
    write_tables(dir, &params, &rows)?;
    println!("merge: {n} shards, {} runs; wrote {}", rows.len(), dir.join("runs.parquet").display());
    if a.report {
        let out = dir.join("report.html");
        render_report(dir, &out, a.heatmap.as_deref())?;
        println!("report: {}", out.display());
    }
    Ok(())
}

/// Whether `dir` is a sweep folder (what `ticktape sweep` or `merge` wrote).
pub(crate) fn is_sweep_folder(dir: &Path) -> bool {
    read_manifest(dir).is_ok()
}

/// Draws the sweep in `dir` as one HTML page: a heatmap of a metric over two
/// parameters and the sortable table of runs.
pub(crate) fn render_report(dir: &Path, out: &Path, heatmap: Option<&str>) -> Result<()> {
    use ticktape_report::page::{Block, Page, Section};
    use ticktape_report::sweep::{GridPoint, RunValue, metric_grid, runs_table};

    let m = read_manifest(dir)?;
    let identity = &m["sweep"];
    let params: Vec<Param> =
        serde_json::from_value(identity["params"].clone()).context("manifest.json: bad `params`")?;
    let total = identity["runs"].as_u64().unwrap_or(0) as usize;
    let shard =
        (m["shard"]["index"].as_u64().unwrap_or(1) as usize, m["shard"]["count"].as_u64().unwrap_or(1) as usize);
    let mut rows = Vec::new();
    for r in (0..total).filter(|&r| in_shard(r, shard)) {
        let p = row_path(dir, r);
        if p.is_file() {
            rows.push(read_row(&p)?);
        }
    }
    let metric_index = |name: &str| METRICS.iter().position(|m| *m == name);
    let param_index = |name: &str| params.iter().position(|p| p.name == name);
    let (metric, px, py) = match heatmap {
        Some(spec) => {
            let parts: Vec<&str> = spec.split(':').collect();
            let [m, x, y] = parts[..] else {
                bail!(
                    "--heatmap {spec:?}: write METRIC:PARAM_X:PARAM_Y, e.g. net_pnl:half_spread_ticks:max_position_lots"
                )
            };
            let mi = metric_index(m)
                .ok_or_else(|| anyhow!("--heatmap: no metric {m:?}; metrics: {}", METRICS.join(", ")))?;
            let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            let xi = param_index(x)
                .ok_or_else(|| anyhow!("--heatmap: no parameter {x:?}; parameters: {}", names.join(", ")))?;
            let yi = param_index(y)
                .ok_or_else(|| anyhow!("--heatmap: no parameter {y:?}; parameters: {}", names.join(", ")))?;
            (mi, Some(xi), Some(yi))
        }
        None => {
            (metric_index("net_pnl").unwrap_or(0), (!params.is_empty()).then_some(0), (params.len() > 1).then_some(1))
        }
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "–".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let ok = rows.iter().filter(|r| r.status == "ok").count();
    let plugin = &identity["plugin"];
    let mut page = Page::new(format!(
        "Sweep: {} {}",
        plugin["name"].as_str().unwrap_or(""),
        plugin["version"].as_str().unwrap_or("")
    ));
    let mut summary = ticktape_report::page::Table::new(&["", ""]);
    let kv = |k: &str, v: String| vec![ticktape_report::page::Cell::text(k), ticktape_report::page::Cell::text(v)];
    summary.rows.push(kv("runs", format!("{} ({} ok, {} failed)", rows.len(), ok, rows.len() - ok)));
    summary.rows.push(kv("parameters", params.iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", ")));
    summary.rows.push(kv("sweep hash", identity["sweep_hash"].as_str().unwrap_or("").to_owned()));
    summary.rows.push(kv("plugin build", plugin["build_id"].as_str().unwrap_or("").to_owned()));
    page.push(Section::new("Sweep").with(Block::Table(summary)));
    if let (Some(xi), Some(yi)) = (px, py) {
        let points: Vec<GridPoint> = rows
            .iter()
            .map(|r| GridPoint {
                x: text(&r.params[xi]),
                y: text(&r.params[yi]),
                value: r.metrics[metric].filter(|_| r.status == "ok"),
            })
            .collect();
        let g = metric_grid(
            format!("{} over {} and {}", METRICS[metric], params[xi].name, params[yi].name),
            params[xi].name.clone(),
            params[yi].name.clone(),
            METRICS[metric],
            &points,
        );
        page.push(Section::new("Heatmap").with(Block::Chart(ticktape_report::chart::heatmap(&g)?)));
    }
    let shown =
        ["net_pnl", "sharpe_per_sample", "max_drawdown", "fills", "fill_rate", "maker_share", "turnover", "sharpe"];
    let mut columns: Vec<&str> = vec!["run"];
    columns.extend(params.iter().map(|p| p.name.as_str()));
    columns.extend(["tape set", "status"]);
    columns.extend(shown);
    columns.push("error");
    let table_rows: Vec<Vec<RunValue>> = rows
        .iter()
        .map(|r| {
            let mut v = vec![RunValue::Number(Some(r.run as f64))];
            for (p, val) in params.iter().zip(&r.params) {
                v.push(if p.numeric { RunValue::Number(val.as_f64()) } else { RunValue::Text(text(val)) });
            }
            v.push(RunValue::Number(Some(r.tape_set as f64)));
            v.push(RunValue::Text(r.status.clone()));
            for s in shown {
                v.push(RunValue::Number(metric_index(s).and_then(|i| r.metrics[i])));
            }
            v.push(RunValue::Text(r.error.clone().unwrap_or_default()));
            v
        })
        .collect();
    page.push(Section::new("Runs (click a column to sort)").with(Block::Table(runs_table(&columns, &table_rows))));
    page.write(out)?;
    Ok(())
}

/// For `ticktape bench sweep`: runs every run of the sweep file `file` in
/// this process on `threads` workers into `dir` (rows only, no table);
/// returns the wall time, seconds.
pub(crate) fn bench_pass(file: &Path, plugin: &Plugin, dir: &Path, threads: usize) -> Result<f64> {
    let plan = load(file)?;
    let identity = serde_json::Value::Null;
    let work = Work { plan: &plan, plugin, dir, keep_runs: false, identity: &identity };
    let all: Vec<usize> = (0..plan.runs.len()).collect();
    let t0 = Instant::now();
    work.run_all(&all, threads)?;
    let secs = t0.elapsed().as_secs_f64();
    for r in &all {
        let row = read_row(&row_path(dir, *r))?;
        if row.status != "ok" {
            bail!("run {r} failed: {}", row.error.unwrap_or_default());
        }
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_numeric_summary_field_is_a_metric_column() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ticktape_engine::synth::SynthConfig::new(2000);
        let tapes: Vec<PathBuf> =
            ticktape_engine::synth::generate(&cfg, dir.path()).unwrap().into_iter().map(|t| t.path).collect();
        let replay = Replay::open(&tapes).unwrap();
        let mut strategy = ticktape_engine::plugin::Native(ticktape_counter::Counter::default());
        let out = ticktape_engine::sim::run(&replay, &SimConfig::default(), &mut strategy).unwrap();
        let s = serde_json::to_value(summarize(&out, "x")).unwrap();
        for (k, v) in s.as_object().unwrap() {
            let numeric = v.is_number() || (v.is_null() && k != "error");
            assert_eq!(numeric, METRICS.contains(&k.as_str()), "summary field {k} ({v})");
        }
    }

    #[test]
    fn shards_partition_the_runs_round_robin() {
        let n = 3;
        for r in 0..10 {
            let owners: Vec<usize> = (1..=n).filter(|&i| in_shard(r, (i, n))).collect();
            assert_eq!(owners, vec![r % n + 1]);
        }
    }

    #[test]
    fn shard_arguments_are_one_based() {
        assert_eq!(shard(Some("2/3")).unwrap(), (2, 3));
        assert!(shard(Some("0/3")).is_err());
        assert!(shard(Some("4/3")).is_err());
        assert!(shard(Some("x/3")).is_err());
    }
}
