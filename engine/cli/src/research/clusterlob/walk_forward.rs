//! `ticktape research clusterlob walk-forward`: rolling re-fits, each judged on the window after it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use ticktape_engine::plugin::Plugin;
use ticktape_engine::replay::{Replay, ReplayOptions};
use ticktape_engine::sim::{SimConfig, parse_duration};
use ticktape_engine::table::Table;
use ticktape_report::chart::{LineChart, Series, XAxis, line_chart};
use ticktape_report::page::{Block, Cell, Page, Section, Table as PageTable};
use ticktape_research::clusterlob::{FitOptions, Label, Model, N_FEATURES, Tally};
use ticktape_tape::AtomicFile;

use super::ic::{IcRow, Sample, bucketize, ic_rows};
use super::table::{self, Manifest, NS_PER_DAY, day_name, z_columns};
use crate::fmt;

/// Walk forward: re-fit the clusters on a rolling training window, then judge the model on the
/// window after it (out of sample): per-cluster IC and the market maker's PnL.
///
/// Steps: the first test window starts at the first trade's time floored to a multiple of --test
/// (UTC midnight for 1d) plus --train; each later one --test after it, while it starts before the
/// last trade. Step i fits k-means++ (the `train` verb's fit and rule-based labels) on the trades
/// with train_from <= ts < train_to = test_from, and nothing else: the rows are filtered by
/// timestamp as they are read, and every step records the latest timestamp its fit read
/// (fit_last_ts < test_from). A label no cluster earns in a window turns that signal off for the
/// step (the seed's quiet weekend).
///
/// Each step's model is judged on [test_from, test_to): the IC of each cluster's OFI (the `ic`
/// verb's buckets, size-weighted, Pearson) against the next buckets' mid return, and, with a run
/// file (default: engine/cli/examples/clusterlob/run.toml when it exists), a backtest of the plugin named
/// there (the ClusterLOB market maker) over the run file's tapes, quoting only inside the test
/// window. Each step's backtest replays the slice [test_from - warmup, test_to + 2 equity samples):
/// features and flow sums warm up over the --warmup before the test window (default: the training
/// window; `all`: from the tapes' start), and the order book starts as it stood at the slice's
/// start (rebuilt from the L2 tape, as `ticktape run --from` does). The step's PnL is the change
/// of equity from test_from to test_to: inventory left at test_to is marked at the first equity
/// sample at or after it.
///
/// DIR gets walk_forward.parquet (one row per step), ic.parquet (every step's IC rows), pnl.parquet
/// (each step's cumulative PnL by equity sample), models/step-NNN.json, pnl.svg (cumulative PnL per
/// step), ic.svg and report.html.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research clusterlob walk-forward feat --train 7d --test 1d -o wf
  ticktape research clusterlob walk-forward feat --train 7d --test 1d -o wf --run engine/cli/examples/clusterlob/run.toml
  ticktape research clusterlob walk-forward feat --train 60s --test 20s --bucket 5s -o wf --force

Windows: a number and a unit, d (days), h, m, s, ms (e.g. 7d, 1d, 12h, 90m).
Defaults: --train 7d --test 1d --warmup (= --train) --bucket 5m --horizons 1,2,5 --k 3 --seed 0 --n-init 10 --fit-rows 500k;
the backtests use the run file's tapes, plugin, latency, fees and [strategy_config], with its
`model` replaced by each step's model.")]
pub(crate) struct WalkForwardArgs {
    /// Feature folder written by `ticktape research clusterlob features`.
    #[arg(value_name = "FEAT_DIR")]
    dir: PathBuf,
    /// Training window length (e.g. 7d, 12h).
    #[arg(long, default_value = "7d", value_parser = parse_window)]
    train: i64,
    /// Test window length, and the step between re-fits (e.g. 1d).
    #[arg(long, default_value = "1d", value_parser = parse_window)]
    test: i64,
    /// Output folder.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Run file of the backtests (tapes, plugin, settings, `[strategy_config]`); default
    /// engine/cli/examples/clusterlob/run.toml if it exists, else no backtests.
    #[arg(long, value_name = "RUN_FILE")]
    run: Option<PathBuf>,
    /// Skip the backtests (IC only).
    #[arg(long)]
    no_backtest: bool,
    /// How much of the tapes before each test window its backtest replays to warm up the book,
    /// the features and the flow sums (a window, e.g. 1h; default: the --train length; `all`: from
    /// the tapes' start, so a walk-forward costs steps x one whole backtest).
    #[arg(long, value_name = "WINDOW|all", value_parser = parse_warmup)]
    warmup: Option<Warmup>,
    /// IC bucket length (a whole number of the feature folder's mid step).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    bucket: i64,
    /// IC horizons, in buckets.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5")]
    horizons: Vec<usize>,
    /// Clusters.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Seed of the k-means++ restarts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// k-means++ restarts; the lowest inertia wins.
    #[arg(long, default_value_t = 10)]
    n_init: usize,
    /// Most rows a fit runs on (an even sample of the window); 0 = all rows.
    #[arg(long, default_value = "500k", value_parser = fmt::parse_count)]
    fit_rows: u64,
    /// Replace DIR if it is not empty.
    #[arg(long)]
    force: bool,
}

/// A window length: `7d`, `1d`, `12h`, `90m`, `30s`, ...
pub(crate) fn parse_window(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let ns = if let Some(d) = t.strip_suffix('d') {
        let v: f64 = d.trim().parse().map_err(|_| format!("{t:?} is not a window; write e.g. 7d, 12h, 30m"))?;
        v * NS_PER_DAY as f64
    } else {
        parse_duration(t).map_err(|e| format!("{e}; or days, e.g. 7d"))? as f64
    };
    if !(ns.is_finite() && ns >= 1.0 && ns <= 3650.0 * NS_PER_DAY as f64) {
        return Err(format!("{t:?} is not a positive window of at most 3650 days"));
    }
    Ok(ns.round() as i64)
}

/// How far before its test window a step's backtest starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Warmup {
    /// From the start of the tapes.
    All,
    /// This long (ns) before the test window.
    Ns(i64),
}

fn parse_warmup(s: &str) -> Result<Warmup, String> {
    if s.trim() == "all" { Ok(Warmup::All) } else { parse_window(s).map(Warmup::Ns) }
}

/// One step's windows, ns: training `[train_from, test_from)`, test `[test_from, test_to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) train_from: i64,
    pub(crate) test_from: i64,
    pub(crate) test_to: i64,
}

/// The steps over trades from `first` to `last` (ns).
pub(crate) fn steps(first: i64, last: i64, train: i64, test: i64) -> Vec<Step> {
    let mut v = Vec::new();
    let mut s = first.div_euclid(test) * test + train;
    while s <= last {
        v.push(Step { train_from: s - train, test_from: s, test_to: s + test });
        s += test;
    }
    v
}

/// The rows a fit may read: the z-rows of trades with `from <= ts < to`, in time order, read from the
/// day files whose time range meets the window. Calls `f` with each row's timestamp and z-row.
pub(crate) fn for_rows_in(
    dir: &Path,
    m: &Manifest,
    from: i64,
    to: i64,
    mut f: impl FnMut(i64, &[f64; N_FEATURES]),
) -> Result<()> {
    let mut names = vec!["ts"];
    names.extend(z_columns());
    for d in &m.days {
        let (Some(a), Some(b)) = (d.first_ts, d.last_ts) else { continue };
        if b < from || a >= to || d.features.is_empty() {
            continue;
        }
        let path = table::day_paths(dir, d).0;
        table::read_columns(&path, &names, |cols| {
            let ts = table::timestamps(&path, &cols[0])?.values();
            let z: Vec<&[f64]> =
                cols[1..].iter().map(|c| table::f64s(&path, c).map(|c| c.values().as_ref())).collect::<Result<_>>()?;
            for r in 0..ts.len() {
                if ts[r] >= from && ts[r] < to {
                    let row: [f64; N_FEATURES] = std::array::from_fn(|j| z[j][r]);
                    f(ts[r], &row);
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// What a step's fit read and made.
#[derive(Debug)]
pub(crate) struct Fit {
    pub(crate) model: Model,
    /// Training rows.
    pub(crate) rows: u64,
    /// The latest timestamp read, ns.
    pub(crate) last_ts: Option<i64>,
}

/// Fits a model on the trades of `[from, to)` (an even sample of at most `fit_rows` for k-means,
/// counts and inertia over all of them), as `train` does.
pub(crate) fn fit_window(dir: &Path, m: &Manifest, from: i64, to: i64, o: &FitOptions, fit_rows: u64) -> Result<Fit> {
    let mut n = 0u64;
    let mut last_ts: Option<i64> = None;
    for_rows_in(dir, m, from, to, |ts, _| {
        n += 1;
        last_ts = Some(last_ts.map_or(ts, |l| l.max(ts)));
    })?;
    if n < o.k as u64 {
        bail!(
            "{}: {n} trade rows in the training window {} .. {} for k = {}; use a longer --train or a smaller --k",
            dir.display(),
            fmt::timestamp(from),
            fmt::timestamp(to),
            o.k
        );
    }
    let keep = if fit_rows == 0 || fit_rows >= n { n } else { fit_rows };
    let mut sample = Vec::with_capacity(keep as usize * N_FEATURES);
    let mut i = 0u64;
    for_rows_in(dir, m, from, to, |_, z| {
        // Row i is kept when ⌊(i + 1)·keep/n⌋ > ⌊i·keep/n⌋ (the `train` verb's rule).
        if keep == n || ((i + 1) as u128 * keep as u128 / n as u128) > (i as u128 * keep as u128 / n as u128) {
            sample.extend_from_slice(z);
        }
        i += 1;
    })?;
    let mut model = Model::fit(&sample, o, m.levels, m.window).map_err(|e| anyhow!("k-means: {e}"))?;
    drop(sample);
    if model.rows != n {
        let mut t = Tally::new(&model);
        let mut buf = Vec::with_capacity(4096 * N_FEATURES);
        let mut err = None;
        for_rows_in(dir, m, from, to, |_, z| {
            buf.extend_from_slice(z);
            if buf.len() >= 4096 * N_FEATURES {
                if let Err(e) = t.add(&model, &buf) {
                    err.get_or_insert(e);
                }
                buf.clear();
            }
        })?;
        if !buf.is_empty() {
            t.add(&model, &buf).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        }
        if let Some(e) = err {
            bail!("{}: {e}", dir.display());
        }
        model.set_tally(t);
    }
    model.train_from = Some(day_name(from.div_euclid(NS_PER_DAY)));
    model.train_to = Some(day_name((to - 1).div_euclid(NS_PER_DAY)));
    Ok(Fit { model, rows: n, last_ts })
}

/// The backtest set-up shared by every step.
struct Backtests {
    tapes: Vec<PathBuf>,
    /// The run file's replay options (its own slice, if any, bounds every step's).
    options: ReplayOptions,
    plugin: Plugin,
    config: toml::Table,
    /// The folder the config's relative paths are relative to.
    config_dir: PathBuf,
    sim: SimConfig,
    run_file: PathBuf,
}

/// The out-of-sample result of one step's backtest.
#[derive(Debug, Default)]
struct StepPnl {
    pnl: f64,
    fills: u64,
    maker_share: Option<f64>,
    orders: u64,
    /// (seconds since test_from, cumulative PnL) per equity sample.
    curve: Vec<(f64, f64)>,
    secs: f64,
    /// The slice the backtest replayed, ns (`None`: the tapes' start or end).
    from: Option<i64>,
    to: Option<i64>,
    /// Events the backtest replayed.
    events: u64,
}

impl Backtests {
    fn open(run_file: &Path) -> Result<Self> {
        let plan = crate::run::plan_of_file(run_file)?;
        let options = ReplayOptions {
            allow_gaps: plan.allow_gaps,
            from: plan.slice.from,
            to: plan.slice.to,
            bar_slippage_bps: plan.bar_slippage_bps,
            ..ReplayOptions::default()
        };
        // Opened once here so a bad tape or run file fails before the first fit.
        Replay::open_with(&plan.tapes, options)?;
        let plugin = crate::run::load_strategy(&plan.strategy)?;
        let config: toml::Table =
            toml::from_str(&plan.config_text).map_err(|e| anyhow!("{}: [strategy_config]: {e}", run_file.display()))?;
        Ok(Backtests {
            tapes: plan.tapes,
            options,
            plugin,
            config,
            config_dir: plan.config_dir,
            sim: plan.sim,
            run_file: run_file.to_path_buf(),
        })
    }

    fn run(&self, model: &Path, s: &Step, warmup: Warmup) -> Result<StepPnl> {
        let mut cfg = self.config.clone();
        // The step's model is named from the working directory; the run
        // file's other config paths stay relative to the run file.
        let model = std::path::absolute(model).with_context(|| format!("cannot resolve {}", model.display()))?;
        cfg.insert("model".into(), toml::Value::String(model.to_string_lossy().into_owned()));
        cfg.insert("quote_from_ns".into(), toml::Value::Integer(s.test_from));
        cfg.insert("quote_to_ns".into(), toml::Value::Integer(s.test_to));
        let text = toml::to_string(&cfg).context("cannot encode the strategy config")?;
        let mut inst = self.plugin.create_in(&text, Some(&self.config_dir))?;
        // The step's slice: the warm-up before the test window, and two equity samples after it, so
        // the sample at or after test_to that marks the step's PnL is taken as in a whole run.
        let from = match warmup {
            Warmup::All => self.options.from,
            Warmup::Ns(w) => Some(self.options.from.map_or(s.test_from - w, |f| f.max(s.test_from - w))),
        };
        let end = s.test_to.saturating_add(self.sim.sample_ns.saturating_mul(2));
        let to = Some(self.options.to.map_or(end, |t| t.min(end)));
        let replay = Replay::open_with(&self.tapes, ReplayOptions { from, to, ..self.options }).with_context(|| {
            format!("backtest of {} (run file {})", fmt::timestamp(s.test_from), self.run_file.display())
        })?;
        let t0 = Instant::now();
        let out = ticktape_engine::sim::run(&replay, &self.sim, &mut inst)?;
        let secs = t0.elapsed().as_secs_f64();
        if let Some(e) = &out.error {
            bail!("backtest of {} (run file {}): {e}", fmt::timestamp(s.test_from), self.run_file.display());
        }
        // Equity at the first sample at or after a time (the last one after the run's end).
        let at = |t: i64| {
            out.samples.iter().find(|x| x.ts >= t).or(out.samples.last()).map_or(self.sim.capital, |x| x.equity)
        };
        let e0 = at(s.test_from);
        let pnl = at(s.test_to) - e0;
        let curve = out
            .samples
            .iter()
            .filter(|x| x.ts >= s.test_from && x.ts <= s.test_to)
            .map(|x| ((x.ts - s.test_from) as f64 / 1e9, x.equity - e0))
            .collect();
        let fills: Vec<_> =
            out.fills.iter().filter(|f| f.ts_exchange >= s.test_from && f.ts_exchange < s.test_to).collect();
        let makers = fills.iter().filter(|f| f.maker).count();
        Ok(StepPnl {
            pnl,
            fills: fills.len() as u64,
            maker_share: (!fills.is_empty()).then(|| makers as f64 / fills.len() as f64),
            orders: out.orders.len() as u64,
            curve,
            secs,
            from,
            to,
            events: replay.total_records(),
        })
    }
}

fn write_svg(path: &Path, svg: &ticktape_report::chart::Svg) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(svg.as_str().as_bytes())?;
    f.commit()?;
    Ok(())
}

/// Size-weighted out-of-sample Pearson IC of the cluster with `label` (or of all trades) at `h`.
fn ic_of(rows: &[IcRow], model: &Model, label: Option<Label>, h: usize) -> Option<f64> {
    let cluster = match label {
        Some(l) => (0..model.k).find(|&c| model.labels[c] == l)? as i64,
        None => -1,
    };
    rows.iter().find(|r| r.sample == Sample::Out && r.size && r.horizon == h && r.cluster == cluster)?.pearson
}

pub(crate) fn run(a: WalkForwardArgs) -> Result<()> {
    let m = Manifest::read(&a.dir)?;
    if a.horizons.is_empty() || a.horizons.contains(&0) {
        bail!("--horizons must be positive bucket counts, e.g. 1,2,5");
    }
    if a.bucket <= 0 || a.bucket % m.mid_step_ns != 0 {
        bail!(
            "--bucket {} is not a positive whole number of the mid sampling step ({}); use e.g. 5m or 30s",
            fmt::duration_ns(a.bucket),
            fmt::duration_ns(m.mid_step_ns)
        );
    }
    let first = m.days.iter().filter_map(|d| d.first_ts).min();
    let last = m.days.iter().filter_map(|d| d.last_ts).max();
    let (Some(first), Some(last)) = (first, last) else {
        bail!("{}: the feature folder has no trade rows", a.dir.display());
    };
    let steps = steps(first, last, a.train, a.test);
    if steps.is_empty() {
        bail!(
            "{}: trades span {} .. {}, shorter than one --train {} window plus a test window; use a shorter --train",
            a.dir.display(),
            fmt::timestamp(first),
            fmt::timestamp(last),
            fmt::duration_ns(a.train)
        );
    }
    let run_file = match (&a.run, a.no_backtest) {
        (_, true) => None,
        (Some(r), false) => Some(r.clone()),
        (None, false) => Some(PathBuf::from("engine/cli/examples/clusterlob/run.toml")).filter(|p| p.is_file()),
    };
    let backtests = run_file.as_deref().map(Backtests::open).transpose()?;
    if backtests.is_none() && !a.no_backtest {
        eprintln!("note: no run file (--run RUN_FILE): walking forward the IC only, without backtests");
    }
    let o = FitOptions { k: a.k, seed: a.seed, n_init: a.n_init, ..FitOptions::default() };

    let stage = ticktape_engine::results::stage(&a.out, a.force)?;
    let dir = stage.dir();
    let models = dir.join("models");
    std::fs::create_dir_all(&models).with_context(|| format!("cannot create {}", models.display()))?;

    let mut table_rows = Vec::new();
    let mut all_ic: Vec<(usize, IcRow)> = Vec::new();
    let mut curves: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
    println!(
        "{:>4}  {:<20} {:<20} {:>10} {:>9} {:>13} {:>9} {:>9} {:>12} {:>7}",
        "step", "train from", "test from", "train rows", "inertia", "signals", "IC opp", "IC toxic", "PnL", "fills"
    );
    for (i, s) in steps.iter().enumerate() {
        let fit = fit_window(&a.dir, &m, s.train_from, s.test_from, &o, a.fit_rows)?;
        let model_path = models.join(format!("step-{i:03}.json"));
        fit.model.save(&model_path)?;
        let b = bucketize(&a.dir, &m, &fit.model, a.bucket)?;
        let samples: Vec<Sample> = (0..b.len())
            .map(|j| {
                let (t0, t1) = (b.start(j), b.start(j) + b.bucket);
                if t0 >= s.test_from && t1 <= s.test_to {
                    Sample::Out
                } else if t0 >= s.train_from && t1 <= s.test_from {
                    Sample::In
                } else {
                    Sample::Neither
                }
            })
            .collect();
        let mut labels: Vec<String> = fit.model.labels.iter().map(|l| l.as_str().to_owned()).collect();
        labels.push("all".into());
        let ic = ic_rows(&b, &samples, &labels, &a.horizons);
        let pnl = match &backtests {
            Some(bt) => Some(bt.run(&model_path, s, a.warmup.unwrap_or(Warmup::Ns(a.train)))?),
            None => None,
        };
        let sig = |c: Option<usize>| c.map_or("off".to_owned(), |c| c.to_string());
        println!(
            "{i:>4}  {:<20} {:<20} {:>10} {:>9.1} {:>13} {:>9} {:>9} {:>12} {:>7}",
            fmt::timestamp(s.train_from).chars().take(19).collect::<String>(),
            fmt::timestamp(s.test_from).chars().take(19).collect::<String>(),
            fmt::thousands(fit.rows),
            fit.model.inertia,
            format!("opp {} tox {}", sig(fit.model.signals.opportunistic), sig(fit.model.signals.toxic)),
            ic_of(&ic, &fit.model, Some(Label::Opportunistic), a.horizons[0]).map_or("-".into(), |x| format!("{x:.3}")),
            ic_of(&ic, &fit.model, Some(Label::Toxic), a.horizons[0]).map_or("-".into(), |x| format!("{x:.3}")),
            pnl.as_ref().map_or("-".into(), |p| format!("{:.2}", p.pnl)),
            pnl.as_ref().map_or("-".into(), |p| p.fills.to_string()),
        );
        if let Some(p) = &pnl {
            curves.push((i, p.curve.clone()));
        }
        table_rows.push((i, *s, fit, ic.clone(), pnl));
        all_ic.extend(ic.into_iter().map(|r| (i, r)));
    }

    // walk_forward.parquet: one row per step.
    let col_i64 = |f: &dyn Fn(&Step) -> i64| table_rows.iter().map(|r| f(&r.1)).collect::<Vec<_>>();
    let mut t = Table::new()
        .u64("step", table_rows.iter().map(|r| r.0 as u64).collect())
        .ts("train_from", col_i64(&|s| s.train_from))
        .ts("train_to", col_i64(&|s| s.test_from))
        .ts("test_from", col_i64(&|s| s.test_from))
        .ts("test_to", col_i64(&|s| s.test_to))
        .u64("train_rows", table_rows.iter().map(|r| r.2.rows).collect())
        .u64("fit_rows", table_rows.iter().map(|r| r.2.model.fit_rows).collect())
        .i64("fit_last_ts_ns", table_rows.iter().map(|r| r.2.last_ts.unwrap_or(i64::MIN)).collect())
        .f64("inertia", table_rows.iter().map(|r| r.2.model.inertia).collect())
        .utf8_opt(
            "opportunistic",
            table_rows.iter().map(|r| r.2.model.signals.opportunistic.map(|c| c.to_string())).collect(),
        )
        .utf8_opt("toxic", table_rows.iter().map(|r| r.2.model.signals.toxic.map(|c| c.to_string())).collect());
    for &h in &a.horizons {
        for (name, label) in
            [("opportunistic", Some(Label::Opportunistic)), ("toxic", Some(Label::Toxic)), ("all", None)]
        {
            t = t.f64_opt(
                &format!("ic_{name}_h{h}"),
                table_rows.iter().map(|r| ic_of(&r.3, &r.2.model, label, h)).collect(),
            );
        }
    }
    let t = t
        .f64_opt("pnl", table_rows.iter().map(|r| r.4.as_ref().map(|p| p.pnl)).collect())
        .f64_opt(
            "cum_pnl",
            table_rows
                .iter()
                .scan(0.0, |acc, r| {
                    Some(r.4.as_ref().map(|p| {
                        *acc += p.pnl;
                        *acc
                    }))
                })
                .collect(),
        )
        .f64_opt("fills", table_rows.iter().map(|r| r.4.as_ref().map(|p| p.fills as f64)).collect())
        .f64_opt("maker_share", table_rows.iter().map(|r| r.4.as_ref().and_then(|p| p.maker_share)).collect())
        .f64_opt("orders", table_rows.iter().map(|r| r.4.as_ref().map(|p| p.orders as f64)).collect())
        .f64_opt("backtest_s", table_rows.iter().map(|r| r.4.as_ref().map(|p| p.secs)).collect())
        .ts_opt("backtest_from", table_rows.iter().map(|r| r.4.as_ref().and_then(|p| p.from)).collect())
        .ts_opt("backtest_to", table_rows.iter().map(|r| r.4.as_ref().and_then(|p| p.to)).collect())
        .f64_opt("backtest_events", table_rows.iter().map(|r| r.4.as_ref().map(|p| p.events as f64)).collect());
    t.write(&dir.join("walk_forward.parquet"))?;

    Table::new()
        .u64("step", all_ic.iter().map(|r| r.0 as u64).collect())
        .utf8("sample", all_ic.iter().map(|r| if r.1.sample == Sample::In { "in" } else { "out" }.to_owned()).collect())
        .i64("cluster", all_ic.iter().map(|r| r.1.cluster).collect())
        .utf8("label", all_ic.iter().map(|r| r.1.label.clone()).collect())
        .utf8("weight", all_ic.iter().map(|r| if r.1.size { "size" } else { "count" }.to_owned()).collect())
        .u64("horizon", all_ic.iter().map(|r| r.1.horizon as u64).collect())
        .u64("n", all_ic.iter().map(|r| r.1.n).collect())
        .f64_opt("pearson", all_ic.iter().map(|r| r.1.pearson).collect())
        .f64_opt("spearman", all_ic.iter().map(|r| r.1.spearman).collect())
        .write(&dir.join("ic.parquet"))?;

    let pts: Vec<(usize, f64, f64)> = curves.iter().flat_map(|(i, c)| c.iter().map(|&(x, y)| (*i, x, y))).collect();
    Table::new()
        .u64("step", pts.iter().map(|p| p.0 as u64).collect())
        .f64("seconds_into_test", pts.iter().map(|p| p.1).collect())
        .f64("pnl", pts.iter().map(|p| p.2).collect())
        .write(&dir.join("pnl.parquet"))?;

    let mut page = Page::new("ClusterLOB walk-forward");
    page.subtitle = Some(format!(
        "{}: {} steps, train {}, test {}; IC on {} buckets{}",
        a.dir.display(),
        steps.len(),
        fmt::duration_ns(a.train),
        fmt::duration_ns(a.test),
        fmt::duration_ns(a.bucket),
        run_file.as_ref().map_or(String::new(), |r| format!("; backtests per {}", r.display()))
    ));
    let mut section = Section::new("Out-of-sample PnL");
    if !curves.is_empty() {
        let hours = a.test >= 3 * 3_600_000_000_000;
        let scale = if hours { 3600.0 } else { 1.0 };
        let series = curves
            .iter()
            .map(|(i, c)| {
                Series::new(
                    format!("step {i} ({})", fmt::timestamp(steps[*i].test_from).chars().take(16).collect::<String>()),
                    c.iter().map(|&(x, y)| (x / scale, y)).collect(),
                )
            })
            .collect();
        let svg = line_chart(&LineChart {
            title: "Cumulative PnL in each test window".into(),
            x: XAxis::Linear(if hours {
                "hours into the test window".into()
            } else {
                "seconds into the test window".into()
            }),
            y_label: "PnL (quote currency)".into(),
            series,
            step: false,
        })?;
        write_svg(&dir.join("pnl.svg"), &svg)?;
        section.push(Block::Chart(svg));
    } else {
        section.push(Block::Note("No backtests (no run file).".into()));
    }
    page.push(section);
    let h0 = a.horizons[0];
    let ic_series =
        [("opportunistic", Some(Label::Opportunistic)), ("toxic", Some(Label::Toxic)), ("all (benchmark)", None)]
            .iter()
            .map(|(name, label)| {
                Series::new(
                    *name,
                    table_rows
                        .iter()
                        .filter_map(|r| ic_of(&r.3, &r.2.model, *label, h0).map(|v| (r.0 as f64, v)))
                        .collect(),
                )
            })
            .collect();
    let svg = line_chart(&LineChart {
        title: format!("Out-of-sample IC per step, size-weighted OFI, horizon {h0} bucket(s) (Pearson)"),
        x: XAxis::Linear("step".into()),
        y_label: "IC".into(),
        series: ic_series,
        step: false,
    })?;
    write_svg(&dir.join("ic.svg"), &svg)?;
    let mut pt = PageTable::new(&[
        "step",
        "test from",
        "train rows",
        "opportunistic",
        "toxic",
        "IC opp",
        "IC toxic",
        "IC all",
        "PnL",
        "fills",
    ]);
    for r in &table_rows {
        let sig = |c: Option<usize>| c.map_or("off".to_owned(), |c| c.to_string());
        pt.rows.push(vec![
            Cell::count(r.0 as u64),
            Cell::text(fmt::timestamp(r.1.test_from)),
            Cell::count(r.2.rows),
            Cell::text(sig(r.2.model.signals.opportunistic)),
            Cell::text(sig(r.2.model.signals.toxic)),
            Cell::number(ic_of(&r.3, &r.2.model, Some(Label::Opportunistic), h0).unwrap_or(f64::NAN), 3),
            Cell::number(ic_of(&r.3, &r.2.model, Some(Label::Toxic), h0).unwrap_or(f64::NAN), 3),
            Cell::number(ic_of(&r.3, &r.2.model, None, h0).unwrap_or(f64::NAN), 3),
            Cell::number(r.4.as_ref().map_or(f64::NAN, |p| p.pnl), 2),
            Cell::count(r.4.as_ref().map_or(0, |p| p.fills)),
        ]);
    }
    page.push(Section::new("Information coefficient").with(Block::Chart(svg)).with(Block::Table(pt)));
    page.push(
        Section::new("Method").with(Block::Note(
            "Each step fits on the trades of its training window only (rows filtered by timestamp as read; \
         fit_last_ts_ns in walk_forward.parquet is the latest one read) and is judged on the window after it. \
         PnL: equity change over the test window of a backtest that quotes only inside it."
                .into(),
        )),
    );
    page.write(&dir.join("report.html"))?;
    stage.promote()?;
    let total: f64 = table_rows.iter().filter_map(|r| r.4.as_ref().map(|p| p.pnl)).sum();
    if backtests.is_some() {
        println!("out-of-sample PnL over {} steps: {total:.2}", steps.len());
    }
    println!(
        "results       {}: walk_forward.parquet ic.parquet pnl.parquet models/ pnl.svg ic.svg report.html",
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_days_hours_and_the_engine_units() {
        assert_eq!(parse_window("7d"), Ok(7 * NS_PER_DAY));
        assert_eq!(parse_window("1d"), Ok(NS_PER_DAY));
        assert_eq!(parse_window("12h"), Ok(NS_PER_DAY / 2));
        assert_eq!(parse_window("90s"), Ok(90_000_000_000));
        assert!(parse_window("0d").is_err());
        assert!(parse_window("seven days").is_err());
    }

    #[test]
    fn steps_roll_by_the_test_window_and_train_only_before_it() {
        let d = NS_PER_DAY;
        // Trades from day 0 at 05:00 to day 9 at 12:00: tests on days 7, 8, 9.
        let v = steps(5 * d / 24, 9 * d + d / 2, 7 * d, d);
        assert_eq!(v.len(), 3);
        for (i, s) in v.iter().enumerate() {
            assert_eq!(s.test_from, (7 + i as i64) * d);
            assert_eq!(s.test_to - s.test_from, d);
            assert_eq!(s.test_from - s.train_from, 7 * d);
        }
        assert!(steps(0, 6 * d, 7 * d, d).is_empty());
    }
}
