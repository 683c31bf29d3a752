//! `ticktape research factors grid|weights`: the factor-ensemble research
//! (issue 10). The kernels are in `ticktape-factors` (`grid`, `signal`,
//! `align`); this module reads the tapes, writes the tables and charts.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ticktape_engine::table::Table;
use ticktape_factors::file::{Row, StrategyFile};
use ticktape_factors::grid::{self, GridRow, GridSpec, PairInput};
use ticktape_factors::signal::{Direction, Ensemble, Model, Params};
use ticktape_tape::{Bar, RecordKind, Series, Tape};

const YEAR_S: f64 = 365.25 * 86_400.0;

/// Factor-ensemble research: grid search and portfolio weights.
#[derive(Debug, clap::Args)]
pub(crate) struct FactorsArgs {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    Grid(GridArgs),
    Weights(WeightsArgs),
}

/// Where the bars and factors come from (shared by both verbs).
#[derive(Debug, clap::Args)]
struct Inputs {
    /// Bar tapes, one per traded symbol (`convert ohlcv-csv`, Binance klines,
    /// Hyperliquid candles).
    #[arg(long = "bars", value_name = "TAPE", num_args = 1.., required = true)]
    bars: Vec<PathBuf>,
    /// Factor series tapes (`convert series-csv`); each (tape symbol, series
    /// id) is one factor, named SYMBOL (id 0) or SYMBOL#ID.
    #[arg(long = "factor", value_name = "TAPE", num_args = 1.., required = true)]
    factors: Vec<PathBuf>,
    /// Taker fee charged per unit of position change, basis points.
    #[arg(long, default_value_t = 5.0)]
    fee_bps: f64,
    /// Slippage per unit of position change, basis points.
    #[arg(long, default_value_t = 2.0)]
    slippage_bps: f64,
}

/// Grid search: for each factor × symbol, every combination of short
/// window, long window, threshold, model and direction, scored on the whole
/// span and on K sub-periods; the robust ones become DIR/strategies.csv.
///
/// Each combination is backtested on the symbol's bars: the factor's value
/// as of each bar close (a value is used only from its own timestamp on)
/// feeds the model; the signal decided at a close is held over the next
/// bar; every change of position pays fee + slippage. Metrics: Sharpe and
/// Sortino (annualised by the bar interval), Calmar, max drawdown (fraction
/// of the peak), turnover (position changes per year), hit rate (winning
/// bars in position / bars in position). R rows have short_window 1 (the
/// rank model does not use it).
///
/// Selection (per factor × symbol): whole-span Sharpe > 0, Sharpe > 0 in
/// every one of the K sub-periods and at least one bar in position; ranked
/// by the worst sub-period Sharpe, then whole-span Sharpe; the best --top
/// form the ensemble (equal weights; `research factors weights` sets them).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape convert ohlcv-csv hyperliquid_ccxt_top10_perps_daily_ohlcv.csv --venue hyperliquid -o bars/
  ticktape convert series-csv hyperliquid_ccxt_top10_perps_daily_ohlcv.csv --value-column close -o factors/
  ticktape research factors grid --bars bars/*.tape --factor factors/*.tape -o grid/
  ticktape research factors grid --bars bars/*.tape --factor factors/oi.series.tape --shorts 1,6,24 \\
      --longs 48,168,336 --thresholds 0.5,1,2 --models B --log --subperiods 6 --top 3 -o grid/

Writes DIR/grid.parquet (one row per combination: factor, symbol, model, direction, short_window,
long_window, threshold, sharpe, sortino, calmar, max_drawdown, turnover, hit_rate, then total_return,
sharpe_p1..sharpe_pK, worst_period_sharpe, selected), DIR/strategies.csv (the selected ensembles, the
format the factor-ensemble plugin reads), DIR/heatmap_sharpe.svg and DIR/grid.json (counts, timing).")]
struct GridArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Output folder (refused if not empty, unless --force).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Short windows (bars), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,3,6,12,24")]
    shorts: Vec<usize>,
    /// Long windows (bars), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "24,48,96,168,336")]
    longs: Vec<usize>,
    /// Thresholds of the z-score model B (std units).
    #[arg(long, value_delimiter = ',', default_value = "0.5,1,1.5,2")]
    thresholds: Vec<f64>,
    /// Thresholds of the rank model R (fractions in (0, 1)).
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.2,0.3")]
    rank_thresholds: Vec<f64>,
    /// Models: B (z-score), R (rank).
    #[arg(long, value_delimiter = ',', default_value = "B,R")]
    models: Vec<String>,
    /// Directions: M (momentum), R (reversion).
    #[arg(long, value_delimiter = ',', default_value = "M,R")]
    directions: Vec<String>,
    /// B on ln(x) (for positive factors such as open interest).
    #[arg(long)]
    log: bool,
    /// Signals may be −1 (short).
    #[arg(long)]
    allow_short: bool,
    /// Sub-periods K (1..=16).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    subperiods: u32,
    /// Combinations kept per factor × symbol.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Worker threads (0: every core).
    #[arg(short = 'j', long, default_value_t = 0)]
    threads: usize,
    /// Replace a non-empty DIR.
    #[arg(long)]
    force: bool,
}

/// Portfolio weights: mean-variance over the return series of the
/// ensembles in STRATEGIES.csv, long-only, summing to one, within box
/// bounds, with L2 regularisation, solved by Clarabel (interior point).
///
/// maximise μᵀw − λ·wᵀΣw − γ·‖w‖²  subject to Σw = 1, lo ≤ w ≤ hi,
///
/// with μ and Σ the mean and sample covariance of the ensembles' per-bar
/// returns (each ensemble backtested as in `grid`, its position = its
/// signal), on the bar closes every symbol has. Writes STRATEGIES.csv
/// again with the weights (each ensemble's rows carry its weight).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research factors weights grid/strategies.csv --bars bars/*.tape --factor factors/*.tape -o weighted.csv
  ticktape research factors weights s.csv --bars bars/*.tape --factor f/*.tape --risk-aversion 5 --l2 0.1 --max-weight 0.4 -o w.csv")]
struct WeightsArgs {
    /// The strategy file (CSV or TOML).
    #[arg(value_name = "STRATEGIES")]
    strategies: PathBuf,
    #[command(flatten)]
    inputs: Inputs,
    /// Output strategy file.
    #[arg(short = 'o', long = "out", value_name = "WEIGHTED.csv")]
    out: PathBuf,
    /// λ: weight of the variance against the mean (per-bar units).
    #[arg(long, default_value_t = 1.0)]
    risk_aversion: f64,
    /// γ: L2 penalty on the weights, in units of the mean per-bar variance
    /// (scale-free: γ × mean(diag Σ) is used).
    #[arg(long, default_value_t = 0.1)]
    l2: f64,
    /// Lower bound of every weight.
    #[arg(long, default_value_t = 0.0)]
    min_weight: f64,
    /// Upper bound of every weight.
    #[arg(long, default_value_t = 1.0)]
    max_weight: f64,
}

pub(crate) fn run(a: FactorsArgs) -> Result<()> {
    match a.verb {
        Verb::Grid(g) => grid_cmd(g),
        Verb::Weights(w) => weights_cmd(w),
    }
}

/// One symbol's bars.
struct Bars {
    symbol: String,
    closes_ts: Vec<i64>,
    closes: Vec<f64>,
    interval_ns: i64,
}

/// One factor series.
struct Factor {
    name: String,
    ts: Vec<i64>,
    values: Vec<f64>,
}

fn load_bars(paths: &[PathBuf]) -> Result<Vec<Bars>> {
    let mut out: Vec<Bars> = Vec::new();
    for p in paths {
        let t = Tape::open(p).with_context(|| format!("cannot open bar tape {}", p.display()))?;
        if t.kind() != RecordKind::Bar {
            bail!(
                "{}: a {} tape, but --bars expects bar tapes (convert ohlcv-csv, klines, candles)",
                p.display(),
                t.kind()
            );
        }
        let h = t.header();
        let px = 10f64.powi(i32::from(h.price_exponent));
        let recs = t.records::<Bar>().with_context(|| format!("cannot read {}", p.display()))?;
        if recs.len() < 3 {
            bail!("{}: {} bars; a grid needs at least 3", p.display(), recs.len());
        }
        let symbol = h.symbol().to_owned();
        if out.iter().any(|b| b.symbol == symbol) {
            bail!("{}: a second bar tape of symbol {symbol}; give one per symbol", p.display());
        }
        let closes_ts: Vec<i64> = recs.iter().map(|b| b.ts.exchange).collect();
        let mut gaps: Vec<i64> = closes_ts.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0).collect();
        gaps.sort_unstable();
        let interval_ns = gaps.get(gaps.len() / 2).copied().unwrap_or(1);
        out.push(Bars { symbol, closes: recs.iter().map(|b| b.close as f64 * px).collect(), closes_ts, interval_ns });
    }
    Ok(out)
}

fn load_factors(paths: &[PathBuf]) -> Result<Vec<Factor>> {
    let mut out: BTreeMap<String, Factor> = BTreeMap::new();
    for p in paths {
        let t = Tape::open(p).with_context(|| format!("cannot open factor tape {}", p.display()))?;
        if t.kind() != RecordKind::Series {
            bail!("{}: a {} tape, but --factor expects series tapes (convert series-csv)", p.display(), t.kind());
        }
        let h = t.header();
        let scale = 10f64.powi(i32::from(h.value_exponent));
        let symbol = h.symbol().to_owned();
        for r in t.records::<Series>().with_context(|| format!("cannot read {}", p.display()))? {
            let name = if r.id == 0 { symbol.clone() } else { format!("{symbol}#{}", r.id) };
            let f = out.entry(name.clone()).or_insert_with(|| Factor { name, ts: Vec::new(), values: Vec::new() });
            f.ts.push(r.ts.exchange);
            f.values.push(r.value as f64 * scale);
        }
    }
    if out.is_empty() {
        bail!("the factor tapes hold no values");
    }
    Ok(out.into_values().collect())
}

fn returns(closes: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; closes.len()];
    for t in 1..closes.len() {
        r[t] = if closes[t - 1] > 0.0 { closes[t] / closes[t - 1] - 1.0 } else { 0.0 };
    }
    r
}

fn parse_list<T>(v: &[String], what: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    v.iter().map(|s| f(s).ok_or_else(|| anyhow::anyhow!("{what} {s:?}: not one of the codes (see --help)"))).collect()
}

/// The bars per year of a set of bar tapes (from the median interval; all
/// must share it).
fn bars_per_year(bars: &[Bars]) -> Result<(f64, String)> {
    let i = bars[0].interval_ns;
    if let Some(b) = bars.iter().find(|b| b.interval_ns != i) {
        bail!(
            "bar tapes of different intervals ({} is {} s, {} is {} s); give bars of one interval",
            bars[0].symbol,
            i / 1_000_000_000,
            b.symbol,
            b.interval_ns / 1_000_000_000
        );
    }
    // Bars stamped at open + interval − 1 ms: round the interval to the ms grid.
    let rounded = ((i + 500_000) / 1_000_000).max(1) * 1_000_000;
    Ok((YEAR_S * 1e9 / rounded as f64, ticktape_data::ohlcv_csv::interval_name(rounded)))
}

/// Runs the grid with a progress bar on a terminal.
fn run_grid(pairs: &[PairInput], spec: &GridSpec, threads: usize) -> Vec<GridRow> {
    let total = grid::work_items(pairs.len(), spec) as u64;
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let show = std::io::stderr().is_terminal();
    std::thread::scope(|s| {
        if show {
            s.spawn(|| {
                let bar = indicatif::ProgressBar::new(total);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} window pairs {per_sec} {eta}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                while !finished.load(Ordering::Relaxed) {
                    bar.set_position(done.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            });
        }
        let rows = grid::run(pairs, spec, threads, &done);
        finished.store(true, Ordering::Relaxed);
        rows
    })
}

/// The grid as a table (the columns the issue names first).
fn grid_table(pairs: &[PairInput], rows: &[GridRow], k: usize, selected: &[usize]) -> Table {
    let mut sel = vec![false; rows.len()];
    for &i in selected {
        sel[i] = true;
    }
    let mut t = Table::new()
        .utf8("factor", rows.iter().map(|r| pairs[r.pair].factor.clone()).collect())
        .utf8("symbol", rows.iter().map(|r| pairs[r.pair].symbol.clone()).collect())
        .utf8("model", rows.iter().map(|r| r.model.code().to_owned()).collect())
        .utf8("direction", rows.iter().map(|r| r.direction.code().to_owned()).collect())
        .i64("short_window", rows.iter().map(|r| r.short as i64).collect())
        .i64("long_window", rows.iter().map(|r| r.long as i64).collect())
        .f64("threshold", rows.iter().map(|r| r.threshold).collect())
        .f64_opt("sharpe", rows.iter().map(|r| r.whole.sharpe).collect())
        .f64_opt("sortino", rows.iter().map(|r| r.whole.sortino).collect())
        .f64_opt("calmar", rows.iter().map(|r| r.whole.calmar).collect())
        .f64("max_drawdown", rows.iter().map(|r| r.whole.max_drawdown).collect())
        .f64("turnover", rows.iter().map(|r| r.whole.turnover).collect())
        .f64_opt("hit_rate", rows.iter().map(|r| r.whole.hit_rate).collect())
        .f64("total_return", rows.iter().map(|r| r.whole.total_return).collect());
    for p in 0..k {
        t = t.f64_opt(&format!("sharpe_p{}", p + 1), rows.iter().map(|r| r.sub_sharpe[p]).collect());
    }
    t.f64_opt("worst_period_sharpe", rows.iter().map(|r| r.worst_subperiod(k)).collect()).bool("selected", sel)
}

fn heatmap(spec: &GridSpec, rows: &[GridRow]) -> Result<String> {
    // Cell (short, long): the best, over direction and threshold, of the
    // mean Sharpe over every factor × symbol (model B).
    let mut acc: BTreeMap<(usize, usize, Direction, u64), (f64, u32)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.model == Model::B) {
        if let Some(s) = r.whole.sharpe {
            let e = acc.entry((r.short, r.long, r.direction, r.threshold.to_bits())).or_default();
            e.0 += s;
            e.1 += 1;
        }
    }
    let mut best: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for ((s, l, _, _), (sum, n)) in acc {
        let m = sum / f64::from(n);
        let b = best.entry((s, l)).or_insert(f64::NEG_INFINITY);
        *b = b.max(m);
    }
    let svg = ticktape_report::chart::heatmap(&ticktape_report::chart::Heatmap {
        title: "Sharpe of model B: best direction and threshold, mean over factor × symbol".into(),
        x_label: "short window (bars)".into(),
        y_label: "long window (bars)".into(),
        z_label: "Sharpe (annualised)".into(),
        x: spec.shorts.iter().map(|s| s.to_string()).collect(),
        y: spec.longs.iter().map(|l| l.to_string()).collect(),
        z: spec.longs.iter().map(|l| spec.shorts.iter().map(|s| best.get(&(*s, *l)).copied()).collect()).collect(),
    })?;
    Ok(svg.as_str().to_owned())
}

/// Every factor × symbol, aligned as of the bar closes.
fn pairs_of(bars: &[Bars], factors: &[Factor]) -> Vec<PairInput> {
    let mut pairs = Vec::new();
    for f in factors {
        for b in bars {
            pairs.push(PairInput {
                factor: f.name.clone(),
                symbol: b.symbol.clone(),
                x: ticktape_factors::align::as_of_values(&f.ts, &f.values, &b.closes_ts),
                returns: returns(&b.closes),
            });
        }
    }
    pairs
}

fn grid_cmd(a: GridArgs) -> Result<()> {
    let start = Instant::now();
    let bars = load_bars(&a.inputs.bars)?;
    let factors = load_factors(&a.inputs.factors)?;
    let (bpy, resolution) = bars_per_year(&bars)?;
    let models = parse_list(&a.models, "model", Model::parse)?;
    let directions = parse_list(&a.directions, "direction", Direction::parse)?;
    for &l in &a.longs {
        Params { short: 1, long: l, threshold: 0.0 }.check(Model::R)?;
    }
    for &t in &a.rank_thresholds {
        Params { short: 1, long: 2, threshold: t }.check(Model::R)?;
    }
    if a.shorts.contains(&0) || a.longs.contains(&0) {
        bail!("windows must be at least 1 bar");
    }
    let spec = GridSpec {
        shorts: a.shorts.clone(),
        longs: a.longs.clone(),
        thresholds: a.thresholds.clone(),
        rank_thresholds: a.rank_thresholds.clone(),
        models,
        directions,
        log: a.log,
        allow_short: a.allow_short,
        cost_bps: a.inputs.fee_bps + a.inputs.slippage_bps,
        subperiods: a.subperiods as usize,
        bars_per_year: bpy,
    };
    let staging = ticktape_engine::results::stage(&a.out, a.force)?;
    let pairs = pairs_of(&bars, &factors);
    let t0 = Instant::now();
    let rows = run_grid(&pairs, &spec, a.threads);
    let secs = t0.elapsed().as_secs_f64();
    let k = spec.subperiods;
    let selected = grid::select(&rows, k, a.top);
    let dir = staging.dir();
    grid_table(&pairs, &rows, k, &selected).write(&dir.join("grid.parquet"))?;
    let mut srows: Vec<Row> = Vec::new();
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in &selected {
        let r = &rows[i];
        let p = &pairs[r.pair];
        let n = count.entry(r.pair).or_default();
        *n += 1;
        srows.push(Row {
            id: format!("{}_{}_{:03}", p.factor, p.symbol, n),
            weight: 1.0,
            symbol: p.symbol.clone(),
            direction: r.direction,
            model: r.model,
            resolution: resolution.clone(),
            factor: p.factor.clone(),
            log: spec.log && r.model == Model::B,
            params: vec![Params { short: r.short, long: r.long, threshold: r.threshold }],
        });
    }
    write_atomic(&dir.join("strategies.csv"), ticktape_factors::file::to_csv(&srows).as_bytes())?;
    write_atomic(&dir.join("heatmap_sharpe.svg"), heatmap(&spec, &rows)?.as_bytes())?;
    let ensembles = count.len();
    ticktape_engine::results::write_json(
        &dir.join("grid.json"),
        &serde_json::json!({
            "pairs": pairs.len(),
            "combinations": rows.len(),
            "bars": bars.iter().map(|b| b.closes.len()).sum::<usize>(),
            "resolution": resolution,
            "subperiods": k,
            "cost_bps": spec.cost_bps,
            "selected_rows": selected.len(),
            "selected_ensembles": ensembles,
            "grid_seconds": secs,
            "combinations_per_second": rows.len() as f64 / secs.max(1e-9),
            "selection": "per factor × symbol: whole-span Sharpe > 0 and Sharpe > 0 in every sub-period and in position at least once; ranked by worst sub-period Sharpe, then Sharpe; the best --top",
        }),
    )?;
    staging.promote()?;
    println!(
        "{} combinations ({} factor × symbol pairs, {} bars each ≈ {}) in {:.2} s = {:.0} combinations/s",
        rows.len(),
        pairs.len(),
        bars.iter().map(|b| b.closes.len()).max().unwrap_or(0),
        resolution,
        secs,
        rows.len() as f64 / secs.max(1e-9)
    );
    println!(
        "selected {} rows in {} ensembles → {}",
        selected.len(),
        ensembles,
        a.out.join("strategies.csv").display()
    );
    if selected.is_empty() {
        eprintln!(
            "warning: no combination passed the selection (positive Sharpe in every one of {k} sub-periods); \
             strategies.csv has only its header: widen the grid or lower --subperiods"
        );
    }
    println!("wrote {} in {:.1} s", a.out.display(), start.elapsed().as_secs_f64());
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = ticktape_tape::AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()?;
    Ok(())
}

/// Per-bar returns of each ensemble of `file` (position = its signal), on
/// the bar closes every ensemble's symbol has; rows are times.
fn ensemble_returns(file: &StrategyFile, bars: &[Bars], factors: &[Factor], cost_bps: f64) -> Result<Vec<Vec<f64>>> {
    let cost = cost_bps / 10_000.0;
    let mut series: Vec<BTreeMap<i64, f64>> = Vec::new();
    for e in &file.ensembles {
        let b = bars
            .iter()
            .find(|b| b.symbol == e.symbol)
            .ok_or_else(|| anyhow::anyhow!("symbol {} of the strategy file has no bar tape among --bars", e.symbol))?;
        let f = factors
            .iter()
            .find(|f| f.name == e.factor)
            .ok_or_else(|| anyhow::anyhow!("factor {} of the strategy file has no series among --factor", e.factor))?;
        let x = ticktape_factors::align::as_of_values(&f.ts, &f.values, &b.closes_ts);
        let r = returns(&b.closes);
        let mut models = Ensemble::new(&e.sets, false)?;
        let mut prev = 0.0;
        let mut out = BTreeMap::new();
        for t in 0..x.len().saturating_sub(1) {
            let s = models.update(x[t]);
            out.insert(b.closes_ts[t + 1], s * r[t + 1] - cost * (s - prev).abs());
            prev = s;
        }
        series.push(out);
    }
    let Some(first) = series.first() else { bail!("the strategy file has no ensembles") };
    let times: Vec<i64> = first.keys().copied().filter(|t| series.iter().all(|s| s.contains_key(t))).collect();
    if times.len() < 3 {
        bail!("the ensembles' symbols share {} bar closes; mean-variance needs at least 3", times.len());
    }
    Ok(times.iter().map(|t| series.iter().map(|s| s[t]).collect()).collect())
}

fn weights_cmd(a: WeightsArgs) -> Result<()> {
    use ticktape_factors::weights::{MeanVariance, moments, solve};
    let file = StrategyFile::load(&a.strategies)?;
    let bars = load_bars(&a.inputs.bars)?;
    let factors = load_factors(&a.inputs.factors)?;
    for e in &file.ensembles {
        if let Some(b) = bars.iter().find(|b| b.symbol == e.symbol)
            && let Err(why) = ticktape_factors::file::check_resolution(e, b.interval_ns)
        {
            bail!("{}: {why}", a.strategies.display());
        }
    }
    let rets = ensemble_returns(&file, &bars, &factors, a.inputs.fee_bps + a.inputs.slippage_bps)?;
    let (mu, cov) = moments(&rets);
    let scale = cov.iter().enumerate().map(|(i, r)| r[i]).sum::<f64>() / cov.len() as f64;
    let p = MeanVariance {
        risk_aversion: a.risk_aversion,
        l2: a.l2 * if scale > 0.0 { scale } else { 1.0 },
        min_weight: a.min_weight,
        max_weight: a.max_weight,
    };
    let w = solve(&mu, &cov, &p)?;
    let mut rows = file.rows.clone();
    for r in &mut rows {
        let k = file.ensembles.iter().position(|e| e.factor == r.factor && e.symbol == r.symbol).unwrap_or(0);
        r.weight = w[k];
    }
    write_atomic(&a.out, ticktape_factors::file::to_csv(&rows).as_bytes())?;
    println!("{} ensembles, {} common bars; weights (mean, std per bar):", w.len(), rets.len());
    for (k, e) in file.ensembles.iter().enumerate() {
        println!("  {:>8.4}  {} on {}  ({:+.6}, {:.6})", w[k], e.factor, e.symbol, mu[k], cov[k][k].sqrt());
    }
    println!("wrote {}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_close_to_close() {
        let r = returns(&[100.0, 110.0, 99.0]);
        assert_eq!(r[0], 0.0);
        assert!((r[1] - 0.1).abs() < 1e-12 && (r[2] + 0.1).abs() < 1e-12);
    }
}

/// `ticktape bench factors`: the grid search and one plugin backtest over
/// generated hourly bars (issue 10's targets: 10,000 combinations over 5
/// years × 10 symbols under 30 s on 2 cores; one backtest under 50 ms).
///
/// Generates SYMBOLS random-walk symbols of YEARS of hourly bars, each with
/// a persistent factor that leads its returns a little (seeded). The grid
/// has 1,000 combinations per symbol (model B: 10 short × 10 long windows ×
/// 4 thresholds × 2 directions; model R: 10 long windows × 10 thresholds ×
/// 2 directions), so 10,000 for 10 symbols. Then writes the bars and
/// factors as tapes and backtests the factor-ensemble plugin over them (one
/// ensemble of 3 parameter sets per symbol), through the full simulator.
/// Reports medians of RUNS passes after one warm-up.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench factors                          # 10 symbols × 5 years hourly, 10,000 combinations
  ticktape bench factors --threads 1 --runs 5
  ticktape bench factors --strategy target/release/libticktape_factor_ensemble.so")]
pub(crate) struct FactorsBench {
    /// Symbols generated (one factor each).
    #[arg(long, default_value_t = 10)]
    symbols: usize,
    /// Years of hourly bars.
    #[arg(long, default_value_t = 5.0)]
    years: f64,
    /// Timed passes (median reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Grid worker threads (0: every core).
    #[arg(short = 'j', long, default_value_t = 0)]
    threads: usize,
    /// The factor-ensemble plugin (default: beside the ticktape binary).
    #[arg(long, value_name = "PLUGIN")]
    strategy: Option<PathBuf>,
    /// Only the backtest (no grid search).
    #[arg(long)]
    skip_grid: bool,
    /// Also write the backtest's tapes and strategy file to DIR (to rerun it
    /// with `ticktape run` and compare results).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

pub(crate) fn bench(a: FactorsBench) -> Result<()> {
    use ticktape_tape::{Stamp, TapeMeta, TapeWriter};
    const HOUR: i64 = 3_600_000_000_000;
    const T0: i64 = 1_577_836_800_000_000_000; // 2020-01-01T00:00:00Z
    let bars_n = (a.years * 365.25 * 24.0).round() as usize;
    if a.symbols == 0 || bars_n < 1100 {
        bail!("need at least one symbol and 1,100 hourly bars (--years 0.13)");
    }
    let data = ticktape_factors::synth::generate(a.symbols, bars_n, 0.006, 42);
    let spec = GridSpec {
        shorts: vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 36],
        longs: vec![48, 72, 96, 120, 168, 240, 336, 480, 720, 1000],
        thresholds: vec![0.5, 1.0, 1.5, 2.0],
        rank_thresholds: vec![0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45],
        models: vec![Model::B, Model::R],
        directions: vec![Direction::M, Direction::R],
        log: false,
        allow_short: false,
        cost_bps: 7.0,
        subperiods: 4,
        bars_per_year: 365.25 * 24.0,
    };
    let pairs: Vec<PairInput> = data
        .iter()
        .enumerate()
        .map(|(i, d)| PairInput {
            factor: format!("f{i}"),
            symbol: format!("S{i}"),
            x: d.factor.clone(),
            returns: returns(&d.closes),
        })
        .collect();
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    println!("machine: {}", crate::bench::machine());
    println!(
        "grid: {} symbols × {} hourly bars ({} bars), {} combinations ({} per symbol), {} threads",
        a.symbols,
        bars_n,
        a.symbols * bars_n,
        spec.per_pair() * pairs.len(),
        spec.per_pair(),
        threads
    );
    let done = AtomicU64::new(0);
    let mut rows = if a.skip_grid { Vec::new() } else { grid::run(&pairs, &spec, threads, &done) }; // warm-up
    let mut times = Vec::new();
    for i in 0..if a.skip_grid { 0 } else { a.runs } {
        let t0 = Instant::now();
        rows = grid::run(&pairs, &spec, threads, &done);
        let s = t0.elapsed().as_secs_f64();
        println!("  run {}: {s:.3} s  {:.0} combinations/s", i + 1, rows.len() as f64 / s);
        times.push(s);
    }
    if !a.skip_grid {
        let med = median(&mut times);
        println!(
            "grid search: median {med:.3} s over {} runs = {:.0} combinations/s ({:.1} M bar-combinations/s); target < 30 s",
            a.runs,
            rows.len() as f64 / med,
            rows.len() as f64 * bars_n as f64 / med / 1e6
        );
    }

    // One plugin backtest over the same span.
    let plugin_path = match &a.strategy {
        Some(p) => Some(p.clone()),
        None => std::env::current_exe().ok().and_then(|e| {
            let lib =
                format!("{}ticktape_factor_ensemble{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
            Some(e.parent()?.join(lib)).filter(|p| p.is_file())
        }),
    };
    let Some(plugin_path) = plugin_path else {
        println!(
            "backtest: skipped: libticktape_factor_ensemble is not beside the binary; build it with \
             `cargo build --release -p ticktape-factor-ensemble` or pass --strategy"
        );
        return Ok(());
    };
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut tapes = Vec::new();
    let mut csv = String::from("strategy,weight,sym,dir,m,res,factor_id,p\n");
    for (i, d) in data.iter().enumerate() {
        let meta = |symbol: String| TapeMeta {
            symbol,
            venue: "synth".into(),
            price_exponent: -6,
            qty_exponent: -3,
            value_exponent: -9,
            price_tick: 1,
            qty_lot: 1,
            has_local_ts: false,
        };
        let bp = dir.path().join(format!("synth.S{i}.bars-1h.tape"));
        let mut w = TapeWriter::<Bar>::create(&bp, &meta(format!("S{i}")))?;
        let mut open = d.closes[0];
        for (t, &c) in d.closes.iter().enumerate() {
            let ts = T0 + (t as i64 + 1) * HOUR - 1_000_000;
            let px = |x: f64| (x * 1e6).round() as i64;
            w.push(&Bar {
                ts: Stamp { exchange: ts, local: ts },
                open_ts: T0 + t as i64 * HOUR,
                open: px(open),
                high: px(open.max(c)),
                low: px(open.min(c)),
                close: px(c),
                volume: 1_000_000,
                taker_buy_volume: ticktape_tape::UNDEF,
                trade_count: 0,
            })?;
            open = c;
        }
        w.finish()?;
        let fp = dir.path().join(format!("series.f{i}.series.tape"));
        let mut w = TapeWriter::<Series>::create(&fp, &TapeMeta { venue: "series".into(), ..meta(format!("f{i}")) })?;
        for (t, &f) in d.factor.iter().enumerate() {
            let ts = T0 + (t as i64 + 1) * HOUR - 1_000_000;
            w.push(&Series { ts: Stamp { exchange: ts, local: ts }, id: 0, value: (f * 1e9).round() as i64 })?;
        }
        w.finish()?;
        tapes.push(bp);
        tapes.push(fp);
        for (k, p) in
            ["M,B,1h,f{i},\"[6, 168, 1.0]\"", "M,B,1h,f{i},\"[24, 336, 0.5]\"", "M,R,1h,f{i},\"[1, 168, 0.2]\""]
                .iter()
                .enumerate()
        {
            csv.push_str(&format!("f{i}_{k},1,S{i},{}\n", p.replace("{i}", &i.to_string())));
        }
    }
    let sfile = dir.path().join("strategies.csv");
    std::fs::write(&sfile, csv).context("cannot write the strategy file")?;
    if let Some(keep) = &a.keep {
        std::fs::create_dir_all(keep).with_context(|| format!("cannot create {}", keep.display()))?;
        for p in tapes.iter().chain([&sfile]) {
            let to = keep.join(p.file_name().unwrap_or_default());
            std::fs::copy(p, &to).with_context(|| format!("cannot write {}", to.display()))?;
        }
        println!("backtest inputs written to {} (tapes and strategies.csv)", keep.display());
    }
    let config = format!("strategies = {:?}\n", sfile.to_string_lossy());
    let replay = ticktape_engine::replay::Replay::open(&tapes)?;
    let events = replay.total_records();
    let plugin = ticktape_engine::plugin::Plugin::load(&plugin_path)?;
    let cfg = ticktape_engine::sim::SimConfig { sample_ns: HOUR, ..ticktape_engine::sim::SimConfig::default() };
    let pass = || -> Result<(f64, f64, ticktape_engine::sim::RunOutput)> {
        let mut inst = plugin.create(&config)?;
        let (t0, c0) = (Instant::now(), crate::research::bench::cpu_seconds());
        let out = ticktape_engine::sim::run(&replay, &cfg, &mut inst)?;
        let s = t0.elapsed().as_secs_f64();
        let cpu = crate::research::bench::cpu_seconds() - c0;
        if let Some(e) = &out.error {
            bail!("{e}");
        }
        Ok((s, cpu, out))
    };
    let (_, _, warm) = pass()?;
    println!(
        "backtest: {} events ({} bars + {} factor values), {} ensembles × 3 parameter sets, plugin {}; {} orders, {} fills",
        events,
        a.symbols * bars_n,
        a.symbols * bars_n,
        a.symbols,
        plugin_path.display(),
        warm.orders.len(),
        warm.fills.len()
    );
    let (mut times, mut cpus) = (Vec::new(), Vec::new());
    for i in 0..a.runs {
        let (s, cpu, _) = pass()?;
        println!("  run {}: {:.1} ms ({:.1} ms CPU)", i + 1, s * 1e3, cpu * 1e3);
        times.push(s);
        cpus.push(cpu);
    }
    let med = median(&mut times);
    let cpu = median(&mut cpus);
    println!(
        "backtest: median {:.1} ms wall, {:.1} ms CPU over {} runs = {:.2} M events/s; target < 50 ms",
        med * 1e3,
        cpu * 1e3,
        a.runs,
        events as f64 / med / 1e6
    );
    Ok(())
}
