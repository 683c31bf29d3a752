//! Grid search kernels: every combination of windows, threshold, model and
//! direction for each factor × symbol, scored on bar returns.
//!
//! # Backtest of one combination
//!
//! The factor's as-of value at each bar close feeds the combination's model
//! (as in [`crate::signal`]); the signal p_t ∈ {0, 1} (or {−1, 0, 1} with
//! shorts) is decided at close t and held over the next bar, earning
//! R_{t+1} = p_t × r_{t+1} − c × |p_t − p_{t−1}|, with r the close-to-close
//! return and c the cost per unit of position change (taker fee + slippage,
//! basis points / 10⁴).
//!
//! # Metrics (per combination; bars per year A from the bar interval)
//!
//! - sharpe = mean(R) / sample std(R) × √A; sortino = mean(R) /
//!   √(mean(min(R, 0)²)) × √A; `None` (null) when the denominator is 0.
//! - max_drawdown = the largest fall of the compounded equity Π(1 + R) from
//!   a previous peak, as a fraction of the peak.
//! - calmar = annualised compounded return (e_end^(A/n) − 1) / max_drawdown.
//! - turnover = Σ |p_t − p_{t−1}| / n × A: full position changes per year.
//! - hit_rate = bars in position with R > 0 / bars in position.
//! - The same Sharpe on K contiguous sub-periods of equal bar count.
//!
//! # Sharing and cost
//!
//! Each factor × symbol's rolling means and stds per distinct window and
//! percentiles per long window are computed once ([`Prepared`]) and shared
//! by every combination. A combination then costs one pass over the bars
//! with no allocation: B (short, long) pairs fill one z buffer per worker
//! thread, reused for every threshold and direction.
//!
//! # Robust selection ([`select`])
//!
//! Per factor × symbol, a combination qualifies when its whole-span Sharpe
//! is positive, its Sharpe is positive in **every** sub-period and it was in
//! position at least once. Qualifiers are ranked by their worst sub-period
//! Sharpe (highest first), then by whole-span Sharpe, then by grid order;
//! the first `top` form the factor × symbol's ensemble.

use std::sync::atomic::{AtomicU64, Ordering};

use ticktape_sdk::signal::{RollingRank, RollingStats};

use crate::signal::{Direction, Model, rank_signal, z_signal};

/// Most sub-periods.
pub const MAX_SUBPERIODS: usize = 16;

/// What to search.
#[derive(Clone, Debug, PartialEq)]
pub struct GridSpec {
    /// Short windows (B), bars.
    pub shorts: Vec<usize>,
    /// Long windows, bars.
    pub longs: Vec<usize>,
    /// Thresholds of the B model, std units.
    pub thresholds: Vec<f64>,
    /// Thresholds of the R model, fractions in (0, 1).
    pub rank_thresholds: Vec<f64>,
    /// Models searched.
    pub models: Vec<Model>,
    /// Directions searched.
    pub directions: Vec<Direction>,
    /// B on ln x.
    pub log: bool,
    /// Signals may be −1.
    pub allow_short: bool,
    /// Cost per unit of position change, basis points.
    pub cost_bps: f64,
    /// Sub-periods K (1..=16).
    pub subperiods: usize,
    /// Bars per year, to annualise.
    pub bars_per_year: f64,
}

impl GridSpec {
    /// Combinations per factor × symbol.
    pub fn per_pair(&self) -> usize {
        let b =
            self.shorts.iter().flat_map(|s| self.longs.iter().filter(move |l| s < l)).count() * self.thresholds.len();
        let r = self.longs.len() * self.rank_thresholds.len();
        let models = |m: Model| self.models.contains(&m);
        (if models(Model::B) { b } else { 0 } + if models(Model::R) { r } else { 0 }) * self.directions.len()
    }
}

/// One factor × symbol: the factor as of each bar close and the bar returns.
#[derive(Clone, Debug, PartialEq)]
pub struct PairInput {
    /// Factor id.
    pub factor: String,
    /// Symbol.
    pub symbol: String,
    /// Factor value as of each close (NaN before the first).
    pub x: Vec<f64>,
    /// Close-to-close return into each bar (0 for the first).
    pub returns: Vec<f64>,
}

/// Metrics of one backtest.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Metrics {
    /// Annualised Sharpe.
    pub sharpe: Option<f64>,
    /// Annualised Sortino.
    pub sortino: Option<f64>,
    /// Calmar.
    pub calmar: Option<f64>,
    /// Max drawdown, fraction of the peak.
    pub max_drawdown: f64,
    /// Position changes per year.
    pub turnover: f64,
    /// Winning bars in position / bars in position.
    pub hit_rate: Option<f64>,
    /// Compounded return over the span.
    pub total_return: f64,
}

/// One row of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridRow {
    /// Index of the pair in the input.
    pub pair: usize,
    /// Model.
    pub model: Model,
    /// Direction.
    pub direction: Direction,
    /// Short window (1 for R, which does not use it).
    pub short: usize,
    /// Long window.
    pub long: usize,
    /// Threshold.
    pub threshold: f64,
    /// Whole-span metrics.
    pub whole: Metrics,
    /// Sharpe per sub-period (first `subperiods` entries).
    pub sub_sharpe: [Option<f64>; MAX_SUBPERIODS],
}

impl GridRow {
    /// The worst sub-period Sharpe of the first `k` (None if any is undefined).
    pub fn worst_subperiod(&self, k: usize) -> Option<f64> {
        self.sub_sharpe[..k].iter().try_fold(f64::INFINITY, |a, s| s.map(|s| a.min(s)))
    }
}

/// The shared rolling state of one pair, per window.
#[derive(Debug)]
pub struct Prepared {
    means: Vec<(usize, Vec<f64>)>,
    stds: Vec<(usize, Vec<f64>)>,
    ranks: Vec<(usize, Vec<f64>)>,
}

fn rolling(x: &[f64], log: bool, w: usize, rank: bool) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![f64::NAN; x.len()];
    let mut sd = vec![f64::NAN; x.len()];
    if rank {
        let Ok(mut r) = RollingRank::new(w) else { return (mean, sd) };
        for (t, &v) in x.iter().enumerate() {
            let v = if log { v.ln() } else { v };
            if v.is_finite() {
                r.update(v);
            }
            if r.is_full() {
                mean[t] = r.percentile().unwrap_or(f64::NAN);
            }
        }
    } else {
        let Ok(mut s) = RollingStats::new(w) else { return (mean, sd) };
        for (t, &v) in x.iter().enumerate() {
            let v = if log { v.ln() } else { v };
            if v.is_finite() {
                s.update(v);
            }
            if s.is_full() {
                mean[t] = s.mean();
                sd[t] = s.std();
            }
        }
    }
    (mean, sd)
}

impl Prepared {
    /// Rolling means (every window), stds (long windows) and percentiles
    /// (long windows) of `x`, each computed once.
    pub fn new(x: &[f64], spec: &GridSpec) -> Self {
        let mut windows: Vec<usize> = spec.shorts.iter().chain(&spec.longs).copied().collect();
        windows.sort_unstable();
        windows.dedup();
        let b = spec.models.contains(&Model::B);
        let mut means = Vec::new();
        let mut stds = Vec::new();
        if b {
            for &w in &windows {
                let (m, s) = rolling(x, spec.log, w, false);
                if spec.longs.contains(&w) {
                    stds.push((w, s));
                }
                means.push((w, m));
            }
        }
        let ranks = if spec.models.contains(&Model::R) {
            spec.longs.iter().map(|&w| (w, rolling(x, false, w, true).0)).collect()
        } else {
            Vec::new()
        };
        Prepared { means, stds, ranks }
    }

    fn get(v: &[(usize, Vec<f64>)], w: usize) -> &[f64] {
        v.iter().find(|(a, _)| *a == w).map_or(&[], |(_, s)| s.as_slice())
    }
}

/// One unit of parallel work: a pair and a (model, short, long).
#[derive(Clone, Copy, Debug)]
struct Item {
    pair: usize,
    model: Model,
    short: usize,
    long: usize,
}

/// Streams one backtest over `sig` (NaN = no signal) into metrics, with no allocation.
#[allow(clippy::too_many_arguments)]
fn backtest(
    sig: &[f64],
    returns: &[f64],
    rule: impl Fn(f64) -> f64,
    cost: f64,
    bounds: &[usize],
    bpy: f64,
    sub: &mut [Option<f64>; MAX_SUBPERIODS],
) -> Metrics {
    let n_bars = sig.len().min(returns.len());
    if n_bars < 2 {
        return Metrics::default();
    }
    let (mut sum, mut sumsq, mut down) = (0.0f64, 0.0f64, 0.0f64);
    let (mut eq, mut peak, mut mdd) = (1.0f64, 1.0f64, 0.0f64);
    let (mut turn, mut held, mut hits) = (0.0f64, 0u64, 0u64);
    let mut prev = 0.0f64;
    let k = bounds.len() - 1;
    let mut block = 0usize;
    let (mut bn, mut bs, mut bq) = (0u64, 0.0f64, 0.0f64);
    for t in 0..n_bars - 1 {
        let s = sig[t];
        let p = if s.is_nan() { 0.0 } else { rule(s) };
        let change = (p - prev).abs();
        let r = p * returns[t + 1] - cost * change;
        prev = p;
        sum += r;
        sumsq += r * r;
        down += r.min(0.0) * r.min(0.0);
        turn += change;
        if p != 0.0 {
            held += 1;
            hits += u64::from(r > 0.0);
        }
        eq *= 1.0 + r;
        peak = peak.max(eq);
        if peak > 0.0 {
            mdd = mdd.max((peak - eq) / peak);
        }
        // Sub-period of return t + 1.
        while block + 1 < k && t + 1 >= bounds[block + 1] {
            sub[block] = sharpe_of(bn, bs, bq, bpy);
            block += 1;
            (bn, bs, bq) = (0, 0.0, 0.0);
        }
        bn += 1;
        bs += r;
        bq += r * r;
    }
    sub[block] = sharpe_of(bn, bs, bq, bpy);
    for s in sub.iter_mut().take(k).skip(block + 1) {
        *s = None;
    }
    let n = (n_bars - 1) as f64;
    let mean = sum / n;
    let var = ((sumsq - sum * sum / n) / (n - 1.0)).max(0.0);
    let dd = (down / n).sqrt();
    let ratio = |a: f64, b: f64| if b > 0.0 && (a / b).is_finite() { Some(a / b) } else { None };
    let cagr = if eq > 0.0 { eq.powf(bpy / n) - 1.0 } else { -1.0 };
    Metrics {
        sharpe: ratio(mean, var.sqrt()).map(|x| x * bpy.sqrt()),
        sortino: ratio(mean, dd).map(|x| x * bpy.sqrt()),
        calmar: ratio(cagr, mdd),
        max_drawdown: mdd,
        turnover: turn / n * bpy,
        hit_rate: if held > 0 { Some(hits as f64 / held as f64) } else { None },
        total_return: eq - 1.0,
    }
}

fn sharpe_of(n: u64, s: f64, q: f64, bpy: f64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let n = n as f64;
    let var = ((q - s * s / n) / (n - 1.0)).max(0.0);
    let sd = var.sqrt();
    if sd > 0.0 { Some(s / n / sd * bpy.sqrt()) } else { None }
}

/// Sub-period boundaries of `n` bars in `k` equal blocks: k + 1 indices.
pub fn bounds(n: usize, k: usize) -> Vec<usize> {
    (0..=k).map(|i| i * n / k).collect()
}

/// Runs the grid over `pairs` on `threads` threads (0: every core),
/// counting finished work items in `progress` (items: see [`work_items`]).
/// The rows come in a fixed order (pair, model, short, long, direction,
/// threshold) whatever the thread count, and their values do not depend on
/// it: each combination is computed by one thread from shared inputs.
pub fn run(pairs: &[PairInput], spec: &GridSpec, threads: usize, progress: &AtomicU64) -> Vec<GridRow> {
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let k = spec.subperiods.clamp(1, MAX_SUBPERIODS);
    // Shared rolling state, one pair per task.
    let prepared: Vec<Prepared> = parallel_map(pairs.len(), threads, |i| Prepared::new(&pairs[i].x, spec));
    let items = items(pairs.len(), spec);
    let per_item = parallel_map(items.len(), threads, |i| {
        let it = items[i];
        let p = &pairs[it.pair];
        let pre = &prepared[it.pair];
        let n = p.x.len();
        let bounds = bounds(n.saturating_sub(1).max(1), k).iter().map(|b| b + 1).collect::<Vec<_>>();
        let mut rows = Vec::new();
        let mut z = Vec::new();
        let sig: &[f64] = match it.model {
            Model::B => {
                let ms = Prepared::get(&pre.means, it.short);
                let ml = Prepared::get(&pre.means, it.long);
                let sl = Prepared::get(&pre.stds, it.long);
                z.extend((0..n).map(|t| {
                    if sl[t].is_nan() {
                        f64::NAN
                    } else if sl[t] > 0.0 {
                        (ms[t] - ml[t]) / sl[t]
                    } else {
                        0.0
                    }
                }));
                &z
            }
            Model::R => Prepared::get(&pre.ranks, it.long),
        };
        let thresholds = if it.model == Model::B { &spec.thresholds } else { &spec.rank_thresholds };
        let cost = spec.cost_bps / 10_000.0;
        for &dir in &spec.directions {
            for &th in thresholds {
                let mut sub = [None; MAX_SUBPERIODS];
                let whole = match it.model {
                    Model::B => backtest(
                        sig,
                        &p.returns,
                        |z| z_signal(z, dir, th, spec.allow_short),
                        cost,
                        &bounds,
                        spec.bars_per_year,
                        &mut sub,
                    ),
                    Model::R => backtest(
                        sig,
                        &p.returns,
                        |q| rank_signal(q, dir, th, spec.allow_short),
                        cost,
                        &bounds,
                        spec.bars_per_year,
                        &mut sub,
                    ),
                };
                rows.push(GridRow {
                    pair: it.pair,
                    model: it.model,
                    direction: dir,
                    short: it.short,
                    long: it.long,
                    threshold: th,
                    whole,
                    sub_sharpe: sub,
                });
            }
        }
        progress.fetch_add(1, Ordering::Relaxed);
        rows
    });
    per_item.into_iter().flatten().collect()
}

/// Number of work items [`run`] counts in its progress.
pub fn work_items(pairs: usize, spec: &GridSpec) -> usize {
    items(pairs, spec).len()
}

fn items(pairs: usize, spec: &GridSpec) -> Vec<Item> {
    let mut v = Vec::new();
    for pair in 0..pairs {
        if spec.models.contains(&Model::B) && !spec.thresholds.is_empty() {
            for &short in &spec.shorts {
                for &long in &spec.longs {
                    if short < long {
                        v.push(Item { pair, model: Model::B, short, long });
                    }
                }
            }
        }
        if spec.models.contains(&Model::R) && !spec.rank_thresholds.is_empty() {
            for &long in &spec.longs {
                v.push(Item { pair, model: Model::R, short: 1, long });
            }
        }
    }
    v
}

/// `f(0..n)` on `threads` threads, results in index order.
fn parallel_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicU64::new(0);
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let chunks: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.clamp(1, n.max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= n {
                            break;
                        }
                        out.push((i, f(i)));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    for (i, t) in chunks.into_iter().flatten() {
        slots[i] = Some(t);
    }
    slots.into_iter().flatten().collect()
}

/// The robust selection (module docs): indices into `rows`, per pair in
/// pair order, at most `top` each.
pub fn select(rows: &[GridRow], k: usize, top: usize) -> Vec<usize> {
    let mut by_pair: std::collections::BTreeMap<usize, Vec<(f64, f64, usize)>> = Default::default();
    for (i, r) in rows.iter().enumerate() {
        let (Some(s), Some(worst)) = (r.whole.sharpe, r.worst_subperiod(k)) else { continue };
        if s > 0.0 && worst > 0.0 && r.whole.hit_rate.is_some() {
            by_pair.entry(r.pair).or_default().push((worst, s, i));
        }
    }
    let mut out = Vec::new();
    for (_, mut v) in by_pair {
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
        out.extend(v.into_iter().take(top).map(|(_, _, i)| i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GridSpec {
        GridSpec {
            shorts: vec![1, 2],
            longs: vec![3, 5],
            thresholds: vec![0.5, 1.0],
            rank_thresholds: vec![0.2],
            models: vec![Model::B, Model::R],
            directions: vec![Direction::M, Direction::R],
            log: false,
            allow_short: false,
            cost_bps: 10.0,
            subperiods: 2,
            bars_per_year: 365.0,
        }
    }

    #[test]
    fn backtest_by_hand() {
        // Signal 1 at t = 0 and 1, then 0: earns r1 and r2, pays 10 bps at
        // entry (charged on return 1) and at exit (return 3).
        let sig = [1.0, 1.0, 0.0, 0.0];
        let r = [0.0, 0.01, -0.02, 0.03];
        let mut sub = [None; MAX_SUBPERIODS];
        let m = backtest(&sig, &r, |s| s, 0.001, &[1, 2, 4], 365.0, &mut sub);
        let rets = [0.01 - 0.001, -0.02, -0.001];
        let eq: f64 = rets.iter().map(|x| 1.0 + x).product();
        assert!((m.total_return - (eq - 1.0)).abs() < 1e-15);
        let mean = rets.iter().sum::<f64>() / 3.0;
        let sd = (rets.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((m.sharpe.unwrap() - mean / sd * 365f64.sqrt()).abs() < 1e-9);
        assert_eq!(m.hit_rate, Some(0.5), "in position for returns 1 and 2; one won");
        assert!((m.turnover - 2.0 / 3.0 * 365.0).abs() < 1e-9);
        // Peak after return 1 (1.009), then down 2 % and 0.1 %.
        let mdd = (1.009 - 1.009 * 0.98 * 0.999) / 1.009;
        assert!((m.max_drawdown - mdd).abs() < 1e-12);
        assert_eq!(sub[0], None, "one return in the first sub-period");
        assert!(sub[1].is_some());
    }

    #[test]
    fn grid_rows_match_a_direct_ensemble_and_do_not_depend_on_threads() {
        let x: Vec<f64> = (0..200).map(|i| ((i * 37 % 101) as f64).sin() * 10.0 + i as f64 * 0.01).collect();
        let returns: Vec<f64> =
            (0..200).map(|i| if i == 0 { 0.0 } else { ((i * 13 % 7) as f64 - 3.0) / 1000.0 }).collect();
        let pairs = vec![PairInput { factor: "f".into(), symbol: "S".into(), x: x.clone(), returns: returns.clone() }];
        let s = spec();
        let p = AtomicU64::new(0);
        let one = run(&pairs, &s, 1, &p);
        let two = run(&pairs, &s, 2, &p);
        assert_eq!(one, two);
        assert_eq!(one.len(), s.per_pair());
        assert_eq!(p.load(Ordering::Relaxed) as usize, 2 * work_items(1, &s));
        // The grid's signal equals the streaming ensemble's for the same set.
        use crate::signal::{Ensemble, ParamSet, Params};
        let row =
            one.iter().find(|r| r.model == Model::B && r.short == 2 && r.long == 5 && r.threshold == 0.5).unwrap();
        let mut e = Ensemble::new(
            &[ParamSet {
                model: Model::B,
                direction: row.direction,
                log: false,
                params: Params { short: 2, long: 5, threshold: 0.5 },
            }],
            false,
        )
        .unwrap();
        let sig: Vec<f64> = x.iter().map(|&v| e.update(v)).collect();
        let mut sub = [None; MAX_SUBPERIODS];
        let b = bounds(199, 2).iter().map(|b| b + 1).collect::<Vec<_>>();
        let m = backtest(&sig, &returns, |s| s, 0.001, &b, 365.0, &mut sub);
        assert_eq!(m, row.whole);
        assert_eq!(sub, row.sub_sharpe);
    }

    #[test]
    fn selection_needs_every_subperiod_positive() {
        let base = GridRow {
            pair: 0,
            model: Model::B,
            direction: Direction::M,
            short: 1,
            long: 3,
            threshold: 1.0,
            whole: Metrics { sharpe: Some(1.0), hit_rate: Some(0.5), ..Metrics::default() },
            sub_sharpe: [Some(0.5); MAX_SUBPERIODS],
        };
        let mut bad = base;
        bad.sub_sharpe[1] = Some(-0.1);
        let mut better = base;
        better.sub_sharpe = [Some(0.9); MAX_SUBPERIODS];
        better.whole.sharpe = Some(0.8);
        let rows = [base, bad, better];
        assert_eq!(select(&rows, 2, 5), [2, 0], "worst sub-period first; the one with a losing period is out");
        assert_eq!(select(&rows, 2, 1), [2]);
    }
}
