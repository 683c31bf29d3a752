//! The RBSA replication strategy: holds the perps whose returns best explain
//! a target account's daily PnL.
//!
//! Each day, when every benchmark's daily bar has closed, the strategy
//! appends that day's simple returns `r_j = close_j/close_j,prev − 1` and the
//! target's PnL of the same UTC date to its history, re-fits a Lasso (or
//! elastic net) of PnL on returns over the last `window_days` days of that
//! history (α by time-series cross-validation, or fixed), and trades market
//! orders to hold `coef_j / close_j` units of each benchmark until the next
//! close. A coefficient is a notional exposure in the PnL's currency, so the
//! replica's daily PnL tracks `Σ coef_j · r_j`. The fit of day `d` sees only
//! days `≤ d` (the [`Replicator`] is only ever given data as it arrives; the
//! tests check that changing later data does not change earlier fits).
//!
//! At the end it reports, in the run's summary (`strategy_figures` of
//! `summary.json` and the summary `ticktape run` prints) and in the strategy
//! log: `days` compared, `refits`, `tracking_error` (sample standard
//! deviation of replica − target daily PnL), `correlation` of the two
//! (Pearson), and `mean_replica_pnl` and `mean_target_pnl`.
//!
//! Configuration (TOML):
//!
//! ```toml
//! pnl = "target.csv"          # date,pnl or account,date,pnl (YYYY-MM-DD, UTC)
//! account = "acct001"         # which account of an account,date,pnl file
//! benchmarks = ["BTC", "ETH"] # instrument symbols (default: every instrument)
//! window_days = 120           # rolling fit window
//! min_days = 30               # no position before this many days of history
//! cv = 3                      # time-series CV folds (0: use `alpha`)
//! alpha = 10.0                # fixed α when cv = 0
//! l1_ratio = 1.0              # 1 = Lasso
//! n_alphas = 30               # α values on the CV path
//! ```

use std::collections::BTreeMap;

use ticktape_research::enet::{self, ElasticNet, Grid};
use ticktape_sdk::abi::subscribe;
use ticktape_sdk::{Context, Instrument, Side, Strategy};

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// The configuration (see the crate docs).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The target's daily PnL file, relative to the file holding this
    /// configuration (the run file or the `--config` file).
    pub pnl: String,
    /// The account to replicate in an `account,date,pnl` file.
    pub account: Option<String>,
    /// Benchmark instruments by symbol (default: all instruments of the run).
    pub benchmarks: Vec<String>,
    /// Days of history each fit uses (the most recent ones).
    pub window_days: usize,
    /// Days of history before the first fit.
    pub min_days: usize,
    /// Time-series CV folds; 0 fits at `alpha`.
    pub cv: usize,
    /// Fixed α (with `cv = 0`).
    pub alpha: f64,
    /// Elastic-net mix (1 = Lasso).
    pub l1_ratio: f64,
    /// α values on the CV path.
    pub n_alphas: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pnl: String::new(),
            account: None,
            benchmarks: Vec::new(),
            window_days: 120,
            min_days: 30,
            cv: 3,
            alpha: 1.0,
            l1_ratio: 1.0,
            n_alphas: 30,
        }
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01 (proleptic Gregorian).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).ok()?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Reads a `date,pnl` or `account,date,pnl` CSV into date → PnL.
pub fn read_pnl(text: &str, account: Option<&str>, origin: &str) -> Result<BTreeMap<i64, f64>, String> {
    let mut lines = text.lines().enumerate();
    let header: Vec<String> =
        lines.next().map(|(_, l)| l.split(',').map(|h| h.trim().to_ascii_lowercase()).collect()).unwrap_or_default();
    let col = |n: &str| header.iter().position(|h| h == n);
    let (Some(dc), Some(pc)) = (col("date"), col("pnl")) else {
        return Err(format!("{origin}: line 1: the header needs date and pnl columns (got `{}`)", header.join(",")));
    };
    let ac = col("account");
    if ac.is_some() && account.is_none() {
        return Err(format!("{origin}: the file has an account column; set `account` in the config to pick one"));
    }
    let mut out = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if let (Some(ac), Some(want)) = (ac, account)
            && f.get(ac).copied() != Some(want)
        {
            continue;
        }
        let at = || format!("{origin}: line {}", i + 1);
        let date = f.get(dc).and_then(|s| parse_date(s)).ok_or_else(|| format!("{}: date is not YYYY-MM-DD", at()))?;
        let pnl: f64 = f
            .get(pc)
            .and_then(|s| s.parse().ok())
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("{}: pnl is not a finite number", at()))?;
        if out.insert(date, pnl).is_some() {
            return Err(format!("{}: a second PnL row for the same date", at()));
        }
    }
    if out.is_empty() {
        return Err(format!("{origin}: no PnL rows{}", account.map_or(String::new(), |a| format!(" for account {a}"))));
    }
    Ok(out)
}

/// The day-by-day fitting state, free of the engine so it can be tested:
/// it only knows the days it has been given.
#[derive(Debug, Clone)]
pub struct Replicator {
    p: usize,
    window: usize,
    min_days: usize,
    cv: usize,
    opts: ElasticNet,
    grid: Grid,
    /// Row-major returns of every day pushed.
    x: Vec<f64>,
    /// Target PnL of every day pushed.
    y: Vec<f64>,
}

impl Replicator {
    /// A replicator over `p` benchmarks.
    pub fn new(p: usize, cfg: &Config) -> Replicator {
        Replicator {
            p,
            window: cfg.window_days.max(2),
            min_days: cfg.min_days.max(2),
            cv: cfg.cv,
            opts: ElasticNet { alpha: cfg.alpha, l1_ratio: cfg.l1_ratio, ..ElasticNet::default() },
            grid: Grid { n_alphas: cfg.n_alphas.max(1), eps: 1e-3 },
            x: Vec::new(),
            y: Vec::new(),
        }
    }

    /// Days pushed so far.
    pub fn days(&self) -> usize {
        self.y.len()
    }

    /// Adds one day (its benchmark returns and the target's PnL that day)
    /// and returns the exposures to hold from now to the next day's close,
    /// fitted on the last `window_days` days pushed (`None` before
    /// `min_days`, or when the fit fails).
    pub fn push(&mut self, returns: &[f64], pnl: f64) -> Option<Vec<f64>> {
        debug_assert_eq!(returns.len(), self.p);
        self.x.extend_from_slice(returns);
        self.y.push(pnl);
        let n = self.y.len();
        if n < self.min_days {
            return None;
        }
        let from = n.saturating_sub(self.window);
        let (x, y) = (&self.x[from * self.p..], &self.y[from..]);
        let fit = if self.cv >= 2 {
            enet::cross_validate(x, self.p, y, &self.opts, &self.grid, self.cv).map(|c| c.best)
        } else {
            enet::fit(x, self.p, y, &self.opts)
        };
        fit.ok().map(|f| f.coef)
    }
}

/// The strategy's state.
#[derive(Debug)]
pub struct Rbsa {
    cfg: Config,
    target: BTreeMap<i64, f64>,
    benchmarks: Vec<Instrument>,
    /// Per run instrument: its benchmark column, if any.
    column: Vec<Option<usize>>,
    /// Close of the current and previous day per benchmark: (date, close).
    last: Vec<Option<(i64, f64)>>,
    prev: Vec<Option<(i64, f64)>>,
    fit: Replicator,
    /// The date whose closes have all arrived and been processed.
    done: i64,
    /// Equity at the previous processed close.
    equity: Option<f64>,
    holding: bool,
    /// (replica PnL, target PnL) per day the replica held exposures.
    pairs: Vec<(f64, f64)>,
    refits: usize,
}

impl Rbsa {
    /// Processes date `d` once every benchmark has its close for it.
    fn on_day(&mut self, ctx: &mut Context<'_>, d: i64) {
        self.done = d;
        let eq = ctx.equity();
        let target = self.target.get(&d).copied();
        if let (Some(prev), Some(t)) = (self.equity, target)
            && self.holding
        {
            self.pairs.push((eq - prev, t));
        }
        self.equity = Some(eq);
        // Returns need yesterday's close of every benchmark.
        let mut r = Vec::with_capacity(self.benchmarks.len());
        for j in 0..self.benchmarks.len() {
            match (self.prev[j], self.last[j]) {
                (Some((pd, pc)), Some((ld, lc))) if ld == d && pd == d - 1 && pc > 0.0 => r.push(lc / pc - 1.0),
                _ => return,
            }
        }
        // The target's PnL of day d is known at day d's close; a day without
        // it is left out of the history.
        let Some(t) = target else { return };
        let Some(w) = self.fit.push(&r, t) else { return };
        self.refits += 1;
        for (j, inst) in self.benchmarks.iter().enumerate() {
            let close = self.last[j].map_or(f64::NAN, |(_, c)| c);
            if close.is_nan() || close <= 0.0 {
                continue;
            }
            // Units to hold, rounded to lots.
            let unit = inst.qty_to_f64(1);
            let want = ((w[j] / close / unit) / inst.qty_lot as f64).round() as i64 * inst.qty_lot;
            let have = ctx.position(inst.index).position;
            let delta = want - have;
            if delta != 0 {
                let side = if delta > 0 { Side::Buy } else { Side::Sell };
                ctx.market(inst.index, side, delta.abs(), j as u64);
            }
        }
        self.holding = true;
    }
}

impl Strategy for Rbsa {
    type Config = Config;
    const SUBSCRIBE: u32 = subscribe::BARS;

    fn new(cfg: Config) -> Result<Self, String> {
        if cfg.pnl.is_empty() {
            return Err("set `pnl` to the target account's daily PnL file (date,pnl or account,date,pnl)".into());
        }
        if !(0.0..=1.0).contains(&cfg.l1_ratio) || (cfg.cv >= 2 && cfg.l1_ratio == 0.0) {
            return Err("l1_ratio must be in [0, 1], and > 0 with cv".into());
        }
        if cfg.cv == 1 || cfg.alpha.is_nan() || cfg.alpha < 0.0 || cfg.alpha.is_infinite() {
            return Err("cv must be 0 (fixed alpha) or at least 2; alpha must be ≥ 0".into());
        }
        let pnl = ticktape_sdk::config_path(&cfg.pnl);
        let text = std::fs::read_to_string(&pnl).map_err(|e| format!("cannot read pnl file {}: {e}", pnl.display()))?;
        let target = read_pnl(&text, cfg.account.as_deref(), &cfg.pnl)?;
        Ok(Rbsa {
            fit: Replicator::new(0, &cfg),
            cfg,
            target,
            benchmarks: Vec::new(),
            column: Vec::new(),
            last: Vec::new(),
            prev: Vec::new(),
            done: i64::MIN,
            equity: None,
            holding: false,
            pairs: Vec::new(),
            refits: 0,
        })
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        let all: Vec<Instrument> = (0..ctx.instrument_count()).filter_map(|i| ctx.instrument(i)).collect();
        self.benchmarks = if self.cfg.benchmarks.is_empty() {
            all.clone()
        } else {
            self.cfg
                .benchmarks
                .iter()
                .filter_map(|b| {
                    let hit = all.iter().find(|i| &i.symbol == b).cloned();
                    if hit.is_none() {
                        ctx.warn(&format!("benchmark {b} is not an instrument of this run; left out"));
                    }
                    hit
                })
                .collect()
        };
        self.column = vec![None; all.len()];
        for (j, b) in self.benchmarks.iter().enumerate() {
            self.column[b.index as usize] = Some(j);
        }
        let p = self.benchmarks.len();
        self.last = vec![None; p];
        self.prev = vec![None; p];
        self.fit = Replicator::new(p, &self.cfg);
        let names: Vec<&str> = self.benchmarks.iter().map(|b| b.symbol.as_str()).collect();
        ctx.info(&format!(
            "replicating {} ({} days of target PnL) with {}; window {} days",
            self.cfg.account.as_deref().unwrap_or(&self.cfg.pnl),
            self.target.len(),
            names.join(", "),
            self.cfg.window_days
        ));
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, instrument: u32, bar: &ticktape_sdk::Bar) {
        let Some(j) = self.column.get(instrument as usize).copied().flatten() else { return };
        let inst = &self.benchmarks[j];
        let date = bar.open_ts.div_euclid(NS_PER_DAY);
        if date <= self.done {
            return;
        }
        if self.last[j].is_some_and(|(d, _)| d != date) {
            self.prev[j] = self.last[j];
        }
        self.last[j] = Some((date, inst.price_to_f64(bar.close)));
        if self.last.iter().all(|l| l.is_some_and(|(d, _)| d == date)) {
            self.on_day(ctx, date);
        }
    }

    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        let n = self.pairs.len();
        let (a, b): (Vec<f64>, Vec<f64>) = self.pairs.iter().copied().unzip();
        let diff: Vec<f64> = self.pairs.iter().map(|(r, t)| r - t).collect();
        let te = ticktape_research::stats::std(&diff, 1).unwrap_or(f64::NAN);
        let corr = ticktape_research::stats::pearson(&a, &b).unwrap_or(f64::NAN);
        let mean = |v: &[f64]| ticktape_research::stats::mean(v).unwrap_or(f64::NAN);
        let (ma, mb) = (mean(&a), mean(&b));
        ctx.info(&format!(
            "rbsa summary: days {n}, refits {}, tracking_error {te:.6}, correlation {corr:.6}, mean_replica_pnl {ma:.6}, mean_target_pnl {mb:.6}",
            self.refits,
        ));
        for (name, v) in [
            ("days", n as f64),
            ("refits", self.refits as f64),
            ("tracking_error", te),
            ("correlation", corr),
            ("mean_replica_pnl", ma),
            ("mean_target_pnl", mb),
        ] {
            ctx.summary_figure(name, v);
        }
    }
}

// Generates the `ticktape_plugin_init` entry point and the manifest.
ticktape_sdk::export_strategy!(Rbsa);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_since_the_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-06-11"), Some(19_885));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2024-13-01"), None);
    }

    #[test]
    fn pnl_file_picks_the_account_and_names_bad_lines() {
        let t = "account,date,pnl\na,2024-01-01,1.5\nb,2024-01-01,9\na,2024-01-02,-2\n";
        let m = read_pnl(t, Some("a"), "t.csv").unwrap();
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![1.5, -2.0]);
        let e = read_pnl("date,pnl\n2024-01-01,x\n", None, "t.csv").unwrap_err();
        assert!(e.contains("t.csv: line 2"), "{e}");
        assert!(read_pnl(t, None, "t.csv").unwrap_err().contains("set `account`"));
    }

    /// A deterministic day of returns and a PnL with planted exposures.
    fn day(t: usize) -> ([f64; 3], f64) {
        let u = |k: usize| ((t * 7919 + k * 104_729) % 1000) as f64 / 1000.0 - 0.5;
        let r = [0.04 * u(1), 0.05 * u(2), 0.03 * u(3)];
        (r, 1000.0 * r[0] - 400.0 * r[2] + 2.0 * u(4))
    }

    #[test]
    fn refit_reads_no_data_after_its_day() {
        let cfg = Config { window_days: 60, min_days: 20, ..Config::default() };
        let (n, cut) = (120, 70);
        let run = |tamper: bool| {
            let mut r = Replicator::new(3, &cfg);
            (0..n)
                .map(|t| {
                    let (mut x, mut y) = day(t);
                    if tamper && t > cut {
                        // Wildly different future: other exposures, huge noise.
                        x = [x[1] * 3.0, -x[0], x[2] + 0.1];
                        y = -5_000.0 * x[1] + 1e4;
                    }
                    r.push(&x, y)
                })
                .collect::<Vec<_>>()
        };
        let (clean, tampered) = (run(false), run(true));
        // The fits up to the cut see identical pasts and must be identical.
        assert_eq!(clean[..=cut], tampered[..=cut]);
        // And the tampering is visible after it (the test can fail).
        assert_ne!(clean[cut + 5], tampered[cut + 5]);
        assert!(clean[..cfg.min_days - 1].iter().all(Option::is_none));
        // The planted exposures are recovered from the past window.
        let w = clean[n - 1].as_ref().unwrap();
        assert!((w[0] - 1000.0).abs() < 50.0 && w[1].abs() < 50.0 && (w[2] + 400.0).abs() < 50.0, "{w:?}");
    }
}
