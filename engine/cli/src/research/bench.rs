//! `ticktape bench rbsa`: the RBSA and styles targets on generated accounts.

use std::time::Instant;

use anyhow::Result;
use ticktape_research::enet::{ElasticNet, Grid};
use ticktape_research::kmeans::KMeans;

use super::rbsa::{self, Design, FitOptions};
use super::styles::{self, ClusterOptions};

/// RBSA and trading-style throughput on generated accounts.
///
/// RBSA: --accounts accounts × --days days × --benchmarks benchmarks; each
/// account has 1–3 planted exposures plus noise and is fitted with the full
/// cross-validated Lasso (--cv expanding folds over a --n-alphas path, then a
/// refit), accounts in parallel on --threads threads. Target: 10,000 × 365 ×
/// 10 in under 10 s on 2 cores.
///
/// Styles: --styles-accounts accounts × --days daily PnL values; features,
/// standardisation, the elbow table (k = 1..10, 10 restarts each), the
/// clustering at k = 3 and the silhouette on 10,000 accounts. Target:
/// 100,000 accounts in under 2 s.
///
/// Generation is not timed. Reports the median, min and max of --runs runs
/// and checks that the planted exposures are recovered.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench rbsa                                  # the targets: 10,000 accounts RBSA, 100,000 styles
  ticktape bench rbsa --accounts 1000 --styles-accounts 10000 --runs 5
  ticktape bench rbsa --threads 1")]
pub(crate) struct RbsaBench {
    /// Accounts of the RBSA run.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Days per account.
    #[arg(long, default_value_t = 365)]
    days: usize,
    /// Benchmarks.
    #[arg(long, default_value_t = 10)]
    benchmarks: usize,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    cv: usize,
    /// α values on the path.
    #[arg(long, default_value_t = 100)]
    n_alphas: usize,
    /// Accounts of the styles run (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    styles_accounts: usize,
    /// Timed runs of each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// SplitMix64: a tiny seeded generator for the bench data.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// Generated benchmark returns, accounts' daily PnL and their planted exposures.
type Synthetic = (Design, Vec<Vec<(i32, f64)>>, Vec<Vec<f64>>);

/// Generated benchmark returns and accounts with planted exposures.
pub(crate) fn synthetic(accounts: usize, days: usize, p: usize, seed: u64) -> Synthetic {
    let mut g = Mix(seed);
    let dates: Vec<i32> = (0..days as i32).map(|d| 19_000 + d).collect();
    let returns: Vec<f64> = (0..days * p).map(|_| 0.03 * g.normal()).collect();
    let mut series = Vec::with_capacity(accounts);
    let mut planted = Vec::with_capacity(accounts);
    for _ in 0..accounts {
        let mut w = vec![0.0; p];
        for _ in 0..1 + g.next() % 3 {
            w[(g.next() % p as u64) as usize] = (g.uniform() - 0.5) * 20_000.0;
        }
        let noise = 20.0 + 200.0 * g.uniform();
        let s: Vec<(i32, f64)> = (0..days)
            .map(|t| {
                let y: f64 = (0..p).map(|j| w[j] * returns[t * p + j]).sum::<f64>() + noise * g.normal();
                (dates[t], y)
            })
            .collect();
        series.push(s);
        planted.push(w);
    }
    let design = Design { benchmarks: (0..p).map(|j| format!("B{j}")).collect(), dates, returns };
    (design, series, planted)
}

/// CPU time (user + system) of this process so far, seconds; a figure a
/// loaded machine disturbs far less than wall time.
pub(crate) fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_SELF is always valid.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0 {
            let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
            return t(u.ru_utime) + t(u.ru_stime);
        }
    }
    f64::NAN
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn run(a: RbsaBench) -> Result<()> {
    let threads = rbsa::threads(a.threads);
    println!("machine: {}, {threads} threads", crate::bench::machine());
    let (design, series, planted) = synthetic(a.accounts, a.days, a.benchmarks, 7);
    let opts = FitOptions {
        enet: ElasticNet::default(),
        grid: Grid { n_alphas: a.n_alphas, eps: 1e-3 },
        cv: Some(a.cv),
        min_days: 2,
    };
    let (mut secs, mut cpu) = (Vec::new(), Vec::new());
    let mut fits = Vec::new();
    for _ in 0..a.runs {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        fits = rbsa::fit_all(&design, &series, &opts, threads);
        secs.push(t0.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c0);
    }
    // Recovery: the sign of every planted exposure above 2,000 found, and the
    // error of every coefficient relative to the account's largest exposure.
    let signs = fits
        .iter()
        .zip(&planted)
        .filter(|(f, w)| {
            f.skip.is_none() && w.iter().zip(&f.coef).all(|(v, c)| v.abs() < 2_000.0 || v.signum() == c.signum())
        })
        .count();
    let rel: Vec<f64> = fits
        .iter()
        .zip(&planted)
        .filter(|(f, _)| f.skip.is_none())
        .flat_map(|(f, w)| {
            let big = w.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
            f.coef.iter().zip(w.iter()).map(move |(c, v)| (c - v).abs() / big).collect::<Vec<_>>()
        })
        .collect();
    let m = median(secs.clone());
    let mc = median(cpu);
    println!(
        "rbsa: {} accounts × {} days × {} benchmarks, CV {} folds × {} α + refit: median {m:.3} s wall (min {:.3}, max {:.3}, {} runs), {mc:.3} s CPU ({:.1} µs CPU per account); target < 10 s: {}",
        a.accounts,
        a.days,
        a.benchmarks,
        a.cv,
        a.n_alphas,
        secs.iter().copied().fold(f64::INFINITY, f64::min),
        secs.iter().copied().fold(0.0, f64::max),
        a.runs,
        mc / a.accounts.max(1) as f64 * 1e6,
        if m < 10.0 { "met" } else { "MISSED" }
    );
    println!(
        "rbsa: recovery: signs of all planted exposures above 2,000 right for {signs} of {} accounts; |coef − planted| / largest planted: median {:.4}, p99 {:.4}",
        a.accounts,
        ticktape_research::stats::quantile(&rel, 0.5).unwrap_or(f64::NAN),
        ticktape_research::stats::quantile(&rel, 0.99).unwrap_or(f64::NAN)
    );

    if a.styles_accounts > 0 {
        let mut g = Mix(11);
        let pnl: Vec<Vec<f64>> = (0..a.styles_accounts)
            .map(|i| {
                let (edge, vol) = match i % 3 {
                    0 => (-20.0, 100.0),
                    1 => (0.0, 1_000.0),
                    _ => (30.0, 100.0),
                };
                (0..a.days).map(|_| edge + vol * g.normal()).collect()
            })
            .collect();
        let refs: Vec<&[f64]> = pnl.iter().map(Vec::as_slice).collect();
        let features: Vec<String> = ["volatility", "hit_rate", "win_rate"].iter().map(|s| s.to_string()).collect();
        let o = ClusterOptions {
            k: 3,
            k_max: 10,
            kmeans: KMeans { k: 3, ..KMeans::default() },
            silhouette_sample: 10_000,
            threads,
        };
        let (mut secs, mut cpu) = (Vec::new(), Vec::new());
        let mut sil = None;
        for _ in 0..a.runs {
            let (t0, c0) = (Instant::now(), cpu_seconds());
            let st = styles::cluster(&refs, &features, &o)?;
            secs.push(t0.elapsed().as_secs_f64());
            cpu.push(cpu_seconds() - c0);
            sil = st.silhouette;
        }
        let m = median(secs.clone());
        let mc = median(cpu);
        println!(
            "styles: {} accounts × {} days, 3 features, elbow k = 1..10 + k = 3 + silhouette (10,000 sample): median {m:.3} s wall (min {:.3}, max {:.3}, {} runs), {mc:.3} s CPU; silhouette {}; target < 2 s: {}",
            a.styles_accounts,
            a.days,
            secs.iter().copied().fold(f64::INFINITY, f64::min),
            secs.iter().copied().fold(0.0, f64::max),
            a.runs,
            sil.map_or("–".into(), |s| format!("{s:.3}")),
            if m < 2.0 { "met" } else { "MISSED" }
        );
    }
    Ok(())
}
