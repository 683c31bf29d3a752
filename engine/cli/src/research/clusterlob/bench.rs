//! The research part of `ticktape bench clusterlob`: `features` + `train` over a set of tapes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use ticktape_research::clusterlob::{DEFAULT_LEVELS, DEFAULT_WINDOW, FitOptions, Model};

use crate::{alloc, fmt};

/// CPU seconds (user + system) used so far by this process, all threads; 0 where unsupported. On a
/// loaded machine this is steadier than wall time (it does not count time spent waiting for a core).
pub(crate) fn cpu_secs() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: `getrusage` writes one `rusage` into the zeroed struct we own; RUSAGE_SELF is valid.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `u` is a valid place to write.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0 {
            let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
            return t(u.ru_utime) + t(u.ru_stime);
        }
    }
    0.0
}

/// Timings of one `features` + `train` pass.
#[derive(Debug, Clone)]
pub(crate) struct Pass {
    /// Hashing the tapes (the cache check of `features`).
    pub(crate) hash_secs: f64,
    /// Replay, features and Parquet writes.
    pub(crate) features_secs: f64,
    /// `train` with the default options.
    pub(crate) train_secs: f64,
    /// CPU seconds of `features` (both threads: replay and Parquet writer) and of `train`.
    pub(crate) features_cpu: f64,
    pub(crate) train_cpu: f64,
    /// Peak heap above the start of the pass, bytes.
    pub(crate) heap_peak: usize,
}

/// What the passes measured, plus the model of the last one (for the market-maker part of the bench).
#[derive(Debug)]
pub(crate) struct FeaturesTrain {
    pub(crate) events: u64,
    pub(crate) trades: u64,
    pub(crate) rows: u64,
    pub(crate) passes: Vec<Pass>,
    /// The feature folder and model file of the last pass (for the market-maker part of the bench).
    #[allow(dead_code)]
    pub(crate) feat_dir: PathBuf,
    #[allow(dead_code)]
    pub(crate) model_path: PathBuf,
    pub(crate) model: Model,
}

/// Runs `features` (hash, replay, write) and `train` (default options, `fit_rows` sample) `runs`
/// times over `tapes`, in folders under `work`; prints one line per pass.
pub(crate) fn features_train(tapes: &[PathBuf], work: &Path, runs: u32, fit_rows: u64) -> Result<FeaturesTrain> {
    let mut passes = Vec::new();
    let mut last = None;
    for i in 0..runs {
        let feat_dir = work.join(format!("feat-{i}"));
        if feat_dir.exists() {
            std::fs::remove_dir_all(&feat_dir)?;
        }
        std::fs::create_dir_all(&feat_dir)?;
        alloc::reset_peak();
        let heap0 = alloc::live();
        let t0 = Instant::now();
        let ids = super::features::identify(tapes)?;
        let hash_secs = t0.elapsed().as_secs_f64();
        let (t1, c1) = (Instant::now(), cpu_secs());
        let c = super::features::compute(tapes, &feat_dir, DEFAULT_LEVELS, DEFAULT_WINDOW, None, false)?;
        super::features::write_manifest(&feat_dir, ids, DEFAULT_LEVELS, DEFAULT_WINDOW, &c)?;
        let (features_secs, features_cpu) = (t1.elapsed().as_secs_f64(), cpu_secs() - c1);
        let (t2, c2) = (Instant::now(), cpu_secs());
        let model = super::train::train(&feat_dir, None, None, &FitOptions::default(), fit_rows)?;
        let model_path = work.join("model.json");
        model.save(&model_path)?;
        let (train_secs, train_cpu) = (t2.elapsed().as_secs_f64(), cpu_secs() - c2);
        let heap_peak = alloc::peak().saturating_sub(heap0);
        println!(
            "  pass {}: hash {hash_secs:.2}s + features {features_secs:.2}s ({}, cpu {features_cpu:.2}s) + train {train_secs:.2}s (cpu {train_cpu:.2}s) = {:.2}s; heap peak {}",
            i + 1,
            fmt::rate(c.events as f64 / features_secs),
            hash_secs + features_secs + train_secs,
            fmt::bytes(heap_peak as u64)
        );
        passes.push(Pass { hash_secs, features_secs, train_secs, features_cpu, train_cpu, heap_peak });
        if let Some((old, _, _)) = last.replace((feat_dir, model_path, (c, model))) {
            let old: PathBuf = old;
            std::fs::remove_dir_all(old)?;
        }
    }
    let (feat_dir, model_path, (c, model)) = last.expect("runs ≥ 1");
    Ok(FeaturesTrain { events: c.events, trades: c.trades, rows: c.rows, passes, feat_dir, model_path, model })
}

/// Median of `v` (not empty).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Prints the summary of [`features_train`].
pub(crate) fn report(f: &FeaturesTrain) {
    let med = |g: fn(&Pass) -> f64| median(f.passes.iter().map(g).collect());
    let (h, fe, tr) = (med(|p| p.hash_secs), med(|p| p.features_secs), med(|p| p.train_secs));
    let total = med(|p| p.hash_secs + p.features_secs + p.train_secs);
    println!(
        "features + train: median {total:.2}s over {} passes (hash {h:.2}s, features {fe:.2}s = {}, train {tr:.2}s); \
         {} events, {} trades -> {} rows; k-means on {} rows, {} restarts",
        f.passes.len(),
        fmt::rate(f.events as f64 / fe),
        fmt::thousands(f.events),
        fmt::thousands(f.trades),
        fmt::thousands(f.rows),
        fmt::thousands(f.model.fit_rows),
        f.model.n_init
    );
    let (fc, tc) = (med(|p| p.features_cpu), med(|p| p.train_cpu));
    println!(
        "  cpu time (both threads, steadier than wall time on a loaded machine): features {fc:.2}s, train {tc:.2}s, \
         total with hashing {:.2}s",
        fc + tc + h
    );
    let heap = f.passes.iter().map(|p| p.heap_peak).max().unwrap_or(0);
    println!(
        "  heap peak (largest pass, above its start): {}; the tapes are mapped, not read",
        fmt::bytes(heap as u64)
    );
    println!(
        "  per trade: features {:.0} ns (replay of every event included), train {:.0} ns; target (27.6 M trades + 276 M book updates): under 20 s",
        fe / f.trades.max(1) as f64 * 1e9,
        tr / f.rows.max(1) as f64 * 1e9
    );
    // Features scale with every event replayed, train with the rows counted (the k-means sample is
    // capped by --fit-rows, so this over-estimates train for a week).
    let week =
        (27_600_000.0 + 276_000_000.0) * (h + fe) / f.events.max(1) as f64 + 27_600_000.0 * tr / f.rows.max(1) as f64;
    println!(
        "  extrapolated to the seed's week (hash + features per event, train per row): {week:.1}s (target under 20 s)"
    );
}
