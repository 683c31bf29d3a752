//! `ticktape research rbsa`: return-based style analysis of trader accounts.
//!
//! Per account, the daily PnL `y_d` is regressed on the simple daily returns
//! `r_{j,d} = close_{j,d}/close_{j,d−1} − 1` of the benchmark perps, aligned
//! by UTC date, with the elastic net of `ticktape-research`
//! (`1/(2n)·‖y − Xw − b‖² + α·(l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖²)`).
//! As in the research (it regresses the user's PnL on the benchmark returns,
//! not a return on capital), `y` is the PnL itself, so a coefficient `w_j` is
//! the account's **notional exposure** to benchmark `j` in the PnL's currency
//! (a PnL of `w_j · r_j` a day); divide by the account's capital for weights.
//! α is chosen by time-series cross-validation (expanding folds) over the
//! warm-started path, or fixed with `--alpha`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use ticktape_engine::table::Table;
use ticktape_report::chart::{self, BarChart, Histogram};
use ticktape_report::page::{Block, Cell, Page, Section, Table as HtmlTable};
use ticktape_research::enet::{self, ElasticNet, Grid};

use super::data::{self, Closes, Panel};

/// Infer each account's exposures to benchmark perps from its daily PnL.
///
/// Regresses every account's daily PnL on the simple daily returns of the
/// benchmark closes (aligned by UTC date) with a Lasso (or elastic net with
/// --l1-ratio < 1). The coefficients are notional exposures in the PnL's
/// currency. α is chosen per account by time-series cross-validation with
/// --cv expanding folds over a warm-started path of --n-alphas values, or
/// fixed with --alpha. Accounts with fewer than --min-days usable days are
/// reported as skipped, with the reason.
///
/// Writes DIR/fits.parquet (account, status, skip_reason, alpha, r2, rmse,
/// days, intercept, nonzero, converged, top_exposures), DIR/exposures.parquet
/// (account, benchmark, coef; every benchmark of every fitted account) and
/// DIR/report.html (R² histogram, benchmark usage, exposure bars).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research rbsa --pnl pnl.csv --closes ../shared/data/real/perp_basket_daily/hyperliquid_ccxt_top10_perps_daily_ohlcv_2024-06-11_2025-10-23.csv -o out/rbsa
  ticktape research rbsa --pnl pnl.parquet --closes bars/ -o out/rbsa --alpha 50
  ticktape research rbsa --pnl fills/*.fills.tape --closes bars/ -o out/rbsa --cv 3 --l1-ratio 0.5
  ticktape research rbsa --pnl pnl.csv --closes closes.csv --benchmarks BTC,ETH,SOL -o out/rbsa --threads 1")]
pub(crate) struct RbsaArgs {
    /// Daily PnL: a CSV or Parquet table with columns account,date,pnl (date
    /// YYYY-MM-DD, UTC), or fills tapes (daily PnL = realised + mark-to-market
    /// at the daily closes, net of fees).
    #[arg(long, required = true, num_args = 1.., value_name = "PNL")]
    pnl: Vec<PathBuf>,
    /// Benchmark closes: a CSV with date,symbol,close columns (others
    /// ignored), or daily bar tapes / a folder of them.
    #[arg(long, required = true, num_args = 1.., value_name = "CLOSES")]
    closes: Vec<PathBuf>,
    /// Output folder (must be empty or absent unless --force).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Fixed regularisation strength α instead of cross-validation.
    #[arg(long, conflicts_with = "cv")]
    alpha: Option<f64>,
    /// Time-series cross-validation folds (expanding windows) to choose α.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    cv: u32,
    /// Mix of L1 and L2: 1 is the Lasso, 0 is ridge (needs --alpha).
    #[arg(long, default_value_t = 1.0)]
    l1_ratio: f64,
    /// Do not standardise the returns before fitting (α then applies to raw
    /// coefficients). Coefficients are always reported on the original scale.
    #[arg(long)]
    no_standardize: bool,
    /// Comma-separated benchmark symbols (exact, or the base: BTC matches
    /// BTC/USDC:USDC). Default: every symbol with a close on at least
    /// --min-coverage of the dates.
    #[arg(long, value_delimiter = ',')]
    benchmarks: Vec<String>,
    /// Share of the dates a symbol needs closes on to be a default benchmark.
    #[arg(long, default_value_t = 0.9)]
    min_coverage: f64,
    /// Accounts with fewer usable days (PnL and every benchmark's return) are skipped.
    #[arg(long, default_value_t = 60)]
    min_days: usize,
    /// α values on the path (log-spaced from α_max down to --eps·α_max).
    #[arg(long, default_value_t = 100)]
    n_alphas: usize,
    /// Ratio of the smallest to the largest α of the path.
    #[arg(long, default_value_t = 1e-3)]
    eps: f64,
    /// Coordinate-descent tolerance (scikit-learn's duality-gap rule).
    #[arg(long, default_value_t = 1e-4)]
    tol: f64,
    /// Coordinate-descent iteration cap per α.
    #[arg(long, default_value_t = 1000)]
    max_iter: usize,
    /// Exposures listed per account in fits.parquet's top_exposures.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Worker threads (default: all cores). Outputs do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Replace a non-empty output folder.
    #[arg(long)]
    force: bool,
}

/// The benchmark design: returns of the chosen benchmarks on the dates all have one.
#[derive(Debug)]
pub(crate) struct Design {
    /// Benchmark symbols, in column order.
    pub(crate) benchmarks: Vec<String>,
    /// Dates with a return of every benchmark, increasing.
    pub(crate) dates: Vec<i32>,
    /// Row-major `dates × benchmarks` returns.
    pub(crate) returns: Vec<f64>,
}

impl Design {
    /// Builds the design from `closes`, with the named benchmarks or the
    /// well-covered ones.
    pub(crate) fn new(closes: &Closes, names: &[String], min_coverage: f64) -> Result<Design> {
        let idx: Vec<usize> = if names.is_empty() {
            let need = (min_coverage * closes.dates.len() as f64).ceil() as usize;
            let v: Vec<usize> = (0..closes.symbols.len())
                .filter(|&s| closes.close[s].iter().filter(|c| c.is_finite()).count() >= need)
                .collect();
            let left: Vec<&str> =
                (0..closes.symbols.len()).filter(|s| !v.contains(s)).map(|s| closes.symbols[s].as_str()).collect();
            if !left.is_empty() {
                eprintln!(
                    "note: left out as benchmarks (closes on fewer than {:.0}% of the {} dates; name them with --benchmarks): {}",
                    min_coverage * 100.0,
                    closes.dates.len(),
                    left.join(", ")
                );
            }
            v
        } else {
            names
                .iter()
                .map(|n| {
                    closes.find(n.trim()).with_context(|| {
                        format!("--benchmarks: no closes for `{n}` (the closes have {})", closes.symbols.join(", "))
                    })
                })
                .collect::<Result<_>>()?
        };
        if idx.is_empty() {
            bail!("no benchmark has closes on {:.0}% of the dates; name them with --benchmarks", min_coverage * 100.0);
        }
        let rets: Vec<_> = idx.iter().map(|&s| closes.returns(s)).collect();
        let dates: Vec<i32> = rets[0].keys().copied().filter(|d| rets.iter().all(|r| r.contains_key(d))).collect();
        if dates.is_empty() {
            bail!("the benchmarks have no date with a return of every one of them (consecutive daily closes)");
        }
        let returns = dates.iter().flat_map(|d| rets.iter().map(move |r| r[d])).collect();
        Ok(Design { benchmarks: idx.iter().map(|&s| closes.symbols[s].clone()).collect(), dates, returns })
    }
}

/// How to fit.
#[derive(Debug, Clone)]
pub(crate) struct FitOptions {
    /// Elastic-net options (α used only without CV).
    pub(crate) enet: ElasticNet,
    /// The α grid of the path.
    pub(crate) grid: Grid,
    /// CV folds, or `None` for the fixed α.
    pub(crate) cv: Option<usize>,
    /// Minimum usable days.
    pub(crate) min_days: usize,
}

/// One account's fit (or why it was skipped).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AccountFit {
    /// Why the account was skipped; `None` when fitted.
    pub(crate) skip: Option<String>,
    /// Usable days.
    pub(crate) days: usize,
    /// The α of the fit.
    pub(crate) alpha: f64,
    /// In-sample R² (undefined for a constant PnL).
    pub(crate) r2: Option<f64>,
    /// In-sample root mean squared error.
    pub(crate) rmse: f64,
    /// Intercept (daily PnL not explained by the benchmarks).
    pub(crate) intercept: f64,
    /// Exposures, one per benchmark.
    pub(crate) coef: Vec<f64>,
    /// Whether coordinate descent met its tolerance.
    pub(crate) converged: bool,
}

/// Fits one account. `x` and `y` are scratch buffers.
pub(crate) fn fit_account(
    d: &Design,
    series: &[(i32, f64)],
    o: &FitOptions,
    x: &mut Vec<f64>,
    y: &mut Vec<f64>,
) -> AccountFit {
    let p = d.benchmarks.len();
    x.clear();
    y.clear();
    // Merge-join the account's dates with the benchmark calendar.
    let (mut i, mut t) = (0, 0);
    while i < series.len() && t < d.dates.len() {
        match series[i].0.cmp(&d.dates[t]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => t += 1,
            std::cmp::Ordering::Equal => {
                x.extend_from_slice(&d.returns[t * p..(t + 1) * p]);
                y.push(series[i].1);
                i += 1;
                t += 1;
            }
        }
    }
    let n = y.len();
    let skipped = |why: String| AccountFit {
        skip: Some(why),
        days: n,
        alpha: f64::NAN,
        r2: None,
        rmse: f64::NAN,
        intercept: f64::NAN,
        coef: Vec::new(),
        converged: false,
    };
    if n < o.min_days.max(2) {
        return skipped(format!(
            "{n} usable days (PnL and every benchmark return on the same date) < --min-days {}",
            o.min_days.max(2)
        ));
    }
    let fit = match o.cv {
        Some(k) => enet::cross_validate(x, p, y, &o.enet, &o.grid, k).map(|c| c.best),
        None => enet::fit(x, p, y, &o.enet),
    };
    let fit = match fit {
        Ok(f) => f,
        Err(e) => return skipped(e.to_string()),
    };
    let mean = y.iter().sum::<f64>() / n as f64;
    let (mut sse, mut sst) = (0.0, 0.0);
    for (k, &v) in y.iter().enumerate() {
        sse += (v - fit.predict_row(&x[k * p..(k + 1) * p])).powi(2);
        sst += (v - mean).powi(2);
    }
    AccountFit {
        skip: None,
        days: n,
        alpha: fit.alpha,
        r2: (sst > 0.0).then(|| 1.0 - sse / sst),
        rmse: (sse / n as f64).sqrt(),
        intercept: fit.intercept,
        coef: fit.coef,
        converged: fit.converged,
    }
}

/// Fits every account on `threads` threads; the result is in account order
/// and does not depend on the thread count.
pub(crate) fn fit_all(d: &Design, series: &[Vec<(i32, f64)>], o: &FitOptions, threads: usize) -> Vec<AccountFit> {
    const BLOCK: usize = 32;
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<AccountFit>> = vec![None; series.len()];
    let parts: Vec<Vec<(usize, AccountFit)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let (mut x, mut y, mut done) = (Vec::new(), Vec::new(), Vec::new());
                    loop {
                        let start = next.fetch_add(BLOCK, Ordering::Relaxed);
                        if start >= series.len() {
                            break done;
                        }
                        let end = (start + BLOCK).min(series.len());
                        for (a, s) in series[start..end].iter().enumerate() {
                            done.push((start + a, fit_account(d, s, o, &mut x, &mut y)));
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("fit thread panicked")).collect()
    });
    for (a, f) in parts.into_iter().flatten() {
        out[a] = Some(f);
    }
    out.into_iter().map(|f| f.expect("every account fitted")).collect()
}

/// Threads to use: `--threads` or all cores.
pub(crate) fn threads(arg: Option<usize>) -> usize {
    arg.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// The `top` largest exposures by size, as `BTC/USDC:USDC=+1234.5; ...`.
fn top_exposures(d: &Design, f: &AccountFit, top: usize) -> String {
    let mut idx: Vec<usize> = (0..f.coef.len()).filter(|&j| f.coef[j] != 0.0).collect();
    idx.sort_by(|&a, &b| f.coef[b].abs().total_cmp(&f.coef[a].abs()).then(a.cmp(&b)));
    idx.iter().take(top).map(|&j| format!("{}={:+.6e}", d.benchmarks[j], f.coef[j])).collect::<Vec<_>>().join("; ")
}

pub(crate) fn run(a: RbsaArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.l1_ratio) {
        bail!("--l1-ratio {} is outside [0, 1]", a.l1_ratio);
    }
    if a.l1_ratio == 0.0 && a.alpha.is_none() {
        bail!("--l1-ratio 0 (ridge) has no α path to cross-validate; give --alpha");
    }
    if !(0.0..=1.0).contains(&a.min_coverage) {
        bail!("--min-coverage {} is outside [0, 1]", a.min_coverage);
    }
    let closes = data::load_closes(&a.closes)?;
    let panel: Panel = data::load_pnl(&a.pnl, Some(&closes))?;
    let design = Design::new(&closes, &a.benchmarks, a.min_coverage)?;
    let opts = FitOptions {
        enet: ElasticNet {
            alpha: a.alpha.unwrap_or(1.0),
            l1_ratio: a.l1_ratio,
            standardize: !a.no_standardize,
            tol: a.tol,
            max_iter: a.max_iter,
        },
        grid: Grid { n_alphas: a.n_alphas, eps: a.eps },
        cv: a.alpha.is_none().then_some(a.cv as usize),
        min_days: a.min_days,
    };
    // Reject bad options once, not once per account.
    let probe_x: Vec<f64> = (0..4 * design.benchmarks.len()).map(|i| (i % 7) as f64).collect();
    let probe = match opts.cv {
        Some(_) => {
            enet::path(&probe_x, design.benchmarks.len(), &[1.0, 2.0, 0.0, 1.0], &opts.enet, &opts.grid).map(|_| ())
        }
        None => enet::fit(&probe_x, design.benchmarks.len(), &[1.0, 2.0, 0.0, 1.0], &opts.enet).map(|_| ()),
    };
    probe.map_err(|e| anyhow::anyhow!("{e}"))?;

    let t0 = std::time::Instant::now();
    let nthreads = threads(a.threads);
    let fits = fit_all(&design, &panel.series, &opts, nthreads);
    let secs = t0.elapsed().as_secs_f64();

    let staging = ticktape_engine::results::stage(&a.out, a.force)?;
    write_tables(staging.dir(), &panel, &design, &fits, a.top)?;
    report(staging.dir(), &panel, &design, &fits, &opts, a.top)?;
    staging.promote()?;

    let fitted = fits.iter().filter(|f| f.skip.is_none()).count();
    println!(
        "fitted {fitted} of {} accounts on {} benchmarks × {} dates in {secs:.2}s ({nthreads} threads); {} skipped",
        panel.accounts.len(),
        design.benchmarks.len(),
        design.dates.len(),
        panel.accounts.len() - fitted
    );
    println!("wrote {}/fits.parquet, exposures.parquet, report.html", a.out.display());
    Ok(())
}

fn write_tables(dir: &std::path::Path, panel: &Panel, d: &Design, fits: &[AccountFit], top: usize) -> Result<()> {
    Table::new()
        .utf8("account", panel.accounts.clone())
        .utf8("status", fits.iter().map(|f| if f.skip.is_some() { "skipped" } else { "fitted" }.to_owned()).collect())
        .utf8_opt("skip_reason", fits.iter().map(|f| f.skip.clone()).collect())
        .f64_opt("alpha", fits.iter().map(|f| f.skip.is_none().then_some(f.alpha)).collect())
        .f64_opt("r2", fits.iter().map(|f| f.r2).collect())
        .f64_opt("rmse", fits.iter().map(|f| f.skip.is_none().then_some(f.rmse)).collect())
        .u64("days", fits.iter().map(|f| f.days as u64).collect())
        .f64_opt("intercept", fits.iter().map(|f| f.skip.is_none().then_some(f.intercept)).collect())
        .u64("nonzero", fits.iter().map(|f| f.coef.iter().filter(|c| **c != 0.0).count() as u64).collect())
        .bool("converged", fits.iter().map(|f| f.converged).collect())
        .utf8("top_exposures", fits.iter().map(|f| top_exposures(d, f, top)).collect())
        .write(&dir.join("fits.parquet"))?;
    let (mut acct, mut bench, mut coef) = (Vec::new(), Vec::new(), Vec::new());
    for (a, f) in fits.iter().enumerate() {
        for (j, c) in f.coef.iter().enumerate() {
            acct.push(panel.accounts[a].clone());
            bench.push(d.benchmarks[j].clone());
            coef.push(*c);
        }
    }
    Table::new()
        .utf8("account", acct)
        .utf8("benchmark", bench)
        .f64("coef", coef)
        .write(&dir.join("exposures.parquet"))?;
    Ok(())
}

fn report(
    dir: &std::path::Path,
    panel: &Panel,
    d: &Design,
    fits: &[AccountFit],
    o: &FitOptions,
    top: usize,
) -> Result<()> {
    let fitted: Vec<usize> = (0..fits.len()).filter(|&a| fits[a].skip.is_none()).collect();
    let r2: Vec<f64> = fitted.iter().filter_map(|&a| fits[a].r2).collect();
    let median = |v: &[f64]| ticktape_research::stats::quantile(v, 0.5).ok();
    let p = d.benchmarks.len();
    let used: Vec<f64> = (0..p)
        .map(|j| fitted.iter().filter(|&&a| fits[a].coef[j] != 0.0).count() as f64 / fitted.len().max(1) as f64)
        .collect();
    let mean_coef: Vec<f64> =
        (0..p).map(|j| fitted.iter().map(|&a| fits[a].coef[j]).sum::<f64>() / fitted.len().max(1) as f64).collect();
    let mean_abs: Vec<f64> = (0..p)
        .map(|j| fitted.iter().map(|&a| fits[a].coef[j].abs()).sum::<f64>() / fitted.len().max(1) as f64)
        .collect();
    let method = match o.cv {
        Some(k) => {
            format!("α by time-series CV, {k} expanding folds, {} α values (eps {})", o.grid.n_alphas, o.grid.eps)
        }
        None => format!("fixed α = {}", o.enet.alpha),
    };
    let mut page = Page::new("RBSA: exposures from PnL");
    page.subtitle = Some(format!("{} accounts × {} benchmarks", panel.accounts.len(), p));
    page.push(
        Section::new("Summary")
            .with(Block::KeyValue(vec![
                ("accounts".into(), panel.accounts.len().to_string()),
                ("fitted".into(), fitted.len().to_string()),
                ("skipped".into(), (fits.len() - fitted.len()).to_string()),
                ("benchmarks".into(), d.benchmarks.join(", ")),
                (
                    "benchmark dates".into(),
                    format!("{} ({} → {})", d.dates.len(), data::format_date(d.dates[0]), data::format_date(d.dates[d.dates.len() - 1])),
                ),
                ("model".into(), format!("elastic net, l1_ratio {}, standardised {}", o.enet.l1_ratio, o.enet.standardize)),
                ("α".into(), method),
                ("median R²".into(), median(&r2).map_or("–".into(), |m| chart::significant(m, 3))),
            ]))
            .with(Block::Note(
                "y = the account's daily PnL, X = simple daily returns of the benchmark closes on the same UTC date; a \
                 coefficient is a notional exposure in the PnL's currency (PnL of coef × return a day). R² and RMSE are \
                 in-sample."
                    .into(),
            )),
    );
    page.push(Section::new("Fit quality").with(Block::Chart(chart::histogram(&Histogram {
        title: "R² per fitted account".into(),
        x_label: "R² (in-sample)".into(),
        values: r2.clone(),
        bins: chart::bins_for(r2.len()),
    })?)));
    let bars = |v: &[f64]| d.benchmarks.iter().cloned().zip(v.iter().copied()).collect::<Vec<_>>();
    page.push(
        Section::new("Benchmarks")
            .with(Block::Chart(chart::bar_chart(&BarChart {
                title: "Benchmark usage: share of fitted accounts with a non-zero exposure".into(),
                x_label: "benchmark".into(),
                y_label: "share of accounts".into(),
                bars: bars(&used),
            })?))
            .with(Block::Chart(chart::bar_chart(&BarChart {
                title: "Mean exposure per benchmark".into(),
                x_label: "benchmark".into(),
                y_label: "mean coefficient (PnL currency per unit return)".into(),
                bars: bars(&mean_coef),
            })?))
            .with(Block::Chart(chart::bar_chart(&BarChart {
                title: "Mean absolute exposure per benchmark".into(),
                x_label: "benchmark".into(),
                y_label: "mean |coefficient|".into(),
                bars: bars(&mean_abs),
            })?)),
    );
    let mut best = fitted.clone();
    best.sort_by(|&a, &b| {
        fits[b].r2.unwrap_or(f64::NEG_INFINITY).total_cmp(&fits[a].r2.unwrap_or(f64::NEG_INFINITY)).then(a.cmp(&b))
    });
    let mut t = HtmlTable::new(&["account", "R²", "RMSE", "α", "days", "top exposures"]);
    for &a in best.iter().take(50) {
        let f = &fits[a];
        t.rows.push(vec![
            Cell::text(panel.accounts[a].clone()),
            Cell::number(f.r2.unwrap_or(f64::NAN), 3),
            Cell::number(f.rmse, 4),
            Cell::number(f.alpha, 3),
            Cell::count(f.days as u64),
            Cell::text(top_exposures(d, f, top)),
        ]);
    }
    t.caption = Some(format!(
        "the {} best-explained of {} fitted accounts (all in fits.parquet)",
        best.len().min(50),
        fitted.len()
    ));
    page.push(Section::new("Accounts").with(Block::Table(t)));
    let skipped: Vec<usize> = (0..fits.len()).filter(|&a| fits[a].skip.is_some()).collect();
    if !skipped.is_empty() {
        let mut t = HtmlTable::new(&["account", "days", "reason"]);
        for &a in skipped.iter().take(100) {
            t.rows.push(vec![
                Cell::text(panel.accounts[a].clone()),
                Cell::count(fits[a].days as u64),
                Cell::text(fits[a].skip.clone().unwrap_or_default()),
            ]);
        }
        t.caption = Some(format!("{} of {} skipped accounts", skipped.len().min(100), skipped.len()));
        page.push(Section::new("Skipped accounts").with(Block::Table(t)));
    }
    page.write(&dir.join("report.html"))?;
    Ok(())
}
