//! `ticktape research clusterlob train`: fit the clustering model on cached features.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use ticktape_research::clusterlob::{FEATURES, FitOptions, Model, N_FEATURES, Tally};

use super::table::{self, Manifest, day_name, parse_day, z_columns};
use crate::fmt;

/// Fit the ClusterLOB model (k-means++ on the six z-score columns) and label its clusters.
///
/// Reads the feature folder made by `features` (the days in --from..--to, inclusive; all by default),
/// runs k-means++ with --n-init seeded restarts (the lowest inertia wins; Lloyd iterations stop when
/// no label changes, when the centres' summed squared shift is at most --tol × the mean feature
/// variance, or after --max-iter), then stores the clusters in a canonical order (descending
/// z_sbs − z_obs) and labels them: opportunistic = the highest z_sbs − z_obs if it is above
/// --min-gap, toxic = the highest z_obs − z_sbs if above --min-gap, passive = the rest. A rule no
/// cluster meets leaves that signal off (null in the model file).
///
/// With more training rows than --fit-rows, the k-means runs on --fit-rows rows spread evenly over
/// the window (every n/m-th trade), and counts, mean z and inertia are then tallied over all rows.
///
/// Prints the centroid table (cluster, label, count, share, mean z of each feature) and writes
/// MODEL.json: centroids, labels, counts, means, inertia (summed squared distances to the assigned
/// centroids over the training rows), signals, the feature parameters and the training window.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research clusterlob train feat -o model.json
  ticktape research clusterlob train feat -o model.json --from 2024-05-01 --to 2024-05-07
  ticktape research clusterlob train feat -o model.json --k 4 --seed 7 --n-init 20
  ticktape research clusterlob train feat -o model.json --fit-rows 0      # k-means on every row")]
pub(crate) struct TrainArgs {
    /// Feature folder written by `ticktape research clusterlob features`.
    #[arg(value_name = "FEAT_DIR")]
    dir: PathBuf,
    /// Model file to write (JSON).
    #[arg(short, long, value_name = "MODEL.json")]
    out: PathBuf,
    /// Number of clusters.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Seed of the k-means++ restarts.
    #[arg(long, default_value_t = 0, value_name = "N")]
    seed: u64,
    /// First UTC day of the training window (YYYY-MM-DD; default: the first day of the folder).
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    from: Option<i64>,
    /// Last UTC day of the training window, inclusive (default: the last day of the folder).
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    to: Option<i64>,
    /// k-means++ restarts; the lowest inertia wins.
    #[arg(long, default_value_t = 10)]
    n_init: usize,
    /// Lloyd iteration cap per restart.
    #[arg(long, default_value_t = 300)]
    max_iter: usize,
    /// Lloyd tolerance, relative to the mean feature variance (scikit-learn's rule).
    #[arg(long, default_value_t = 1e-4)]
    tol: f64,
    /// Margin of the labelling rules, in z units: a cluster is opportunistic (toxic) only if its
    /// z_sbs − z_obs is above it (below its negative).
    #[arg(long, default_value_t = 0.5)]
    min_gap: f64,
    /// Most rows the k-means runs on (an even sample of the window); 0 = all rows.
    #[arg(long, default_value = "500k", value_parser = fmt::parse_count)]
    fit_rows: u64,
}

/// The z-rows of the selected days, or an evenly spaced sample of `m` of their `n` rows.
fn read_rows(dir: &Path, files: &[PathBuf], n: u64, m: u64) -> Result<Vec<f64>> {
    let take_all = m == 0 || m >= n;
    let keep = if take_all { n } else { m };
    let mut out = Vec::with_capacity(keep as usize * N_FEATURES);
    let mut i: u64 = 0;
    let cols = z_columns();
    for path in files {
        table::read_columns(path, &cols, |arrays| {
            let z: Vec<&[f64]> =
                arrays.iter().map(|a| table::f64s(path, a).map(|a| a.values().as_ref())).collect::<Result<_>>()?;
            for r in 0..z[0].len() {
                // Row i is kept when ⌊(i + 1)·m/n⌋ > ⌊i·m/n⌋: exactly m rows, evenly spread.
                let kept = take_all || ((i + 1) as u128 * m as u128 / n as u128) > (i as u128 * m as u128 / n as u128);
                if kept {
                    out.extend(z.iter().map(|c| c[r]));
                }
                i += 1;
            }
            Ok(())
        })?;
    }
    if i != n {
        bail!(
            "{}: the day files hold {i} rows but the manifest says {n}; re-run `ticktape research clusterlob features`",
            dir.display()
        );
    }
    Ok(out)
}

/// Fits a model on the days `from..=to` of a feature folder (all when `None`). Returns the model and
/// the number of training rows.
pub(crate) fn train(dir: &Path, from: Option<i64>, to: Option<i64>, o: &FitOptions, fit_rows: u64) -> Result<Model> {
    let m = Manifest::read(dir)?;
    let days = m.days_in(from, to)?;
    let days: Vec<_> = days.into_iter().filter(|(_, d)| d.rows > 0).collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        let have = match (m.days.first(), m.days.last()) {
            (Some(a), Some(b)) => format!("{} .. {}", a.day, b.day),
            _ => "no days".into(),
        };
        bail!(
            "{}: no trade rows in the training window {} .. {} (the folder has {have}); check --from/--to",
            dir.display(),
            from.map_or("start".into(), day_name),
            to.map_or("end".into(), day_name)
        );
    };
    let (first_day, last_day) = (first.1.day.clone(), last.1.day.clone());
    let files: Vec<PathBuf> = days.iter().map(|(_, d)| table::day_paths(dir, d).0).collect();
    let n: u64 = days.iter().map(|(_, d)| d.rows).sum();
    if n < o.k as u64 {
        bail!("{}: {n} training rows for k = {}; train on more days or a smaller --k", dir.display(), o.k);
    }
    let rows = read_rows(dir, &files, n, fit_rows)?;
    let mut model = Model::fit(&rows, o, m.levels, m.window).map_err(|e| anyhow!("k-means: {e}"))?;
    drop(rows);
    if model.rows != n {
        let mut t = Tally::new(&model);
        let cols = z_columns();
        let mut flat = Vec::with_capacity((1 << 16) * N_FEATURES);
        for path in &files {
            table::read_columns(path, &cols, |arrays| {
                let z: Vec<&[f64]> =
                    arrays.iter().map(|a| table::f64s(path, a).map(|a| a.values().as_ref())).collect::<Result<_>>()?;
                flat.clear();
                for r in 0..z[0].len() {
                    flat.extend(z.iter().map(|c| c[r]));
                }
                t.add(&model, &flat).map_err(|e| anyhow!("{}: {e}", path.display()))
            })?;
        }
        model.set_tally(t);
    }
    model.train_from = Some(first_day);
    model.train_to = Some(last_day);
    Ok(model)
}

/// The seed's centroid table.
pub(crate) fn centroid_table(m: &Model) -> String {
    let mut s = format!("{:<8} {:<14} {:>12} {:>7}", "cluster", "label", "count", "share");
    for f in FEATURES {
        s += &format!(" {:>9}", format!("z_{f}"));
    }
    s.push('\n');
    for (c, share) in m.shares().iter().enumerate() {
        s +=
            &format!("{c:<8} {:<14} {:>12} {:>6.1}%", m.labels[c].as_str(), fmt::thousands(m.counts[c]), 100.0 * share);
        for v in m.means[c] {
            s += &format!(" {v:>9.3}");
        }
        s.push('\n');
    }
    s
}

pub(crate) fn run(a: TrainArgs) -> Result<()> {
    if let (Some(f), Some(t)) = (a.from, a.to)
        && f > t
    {
        bail!("--from {} is after --to {}", day_name(f), day_name(t));
    }
    let o = FitOptions { k: a.k, seed: a.seed, n_init: a.n_init, max_iter: a.max_iter, tol: a.tol, min_gap: a.min_gap };
    let t0 = Instant::now();
    let model = train(&a.dir, a.from, a.to, &o, a.fit_rows)?;
    model.save(&a.out)?;
    println!(
        "trained k = {} on {} .. {}: {} rows (k-means on {}, best of {} k-means++ restarts, seed {}) in {:.2}s",
        model.k,
        model.train_from.as_deref().unwrap_or("?"),
        model.train_to.as_deref().unwrap_or("?"),
        fmt::thousands(model.rows),
        fmt::thousands(model.fit_rows),
        model.n_init,
        model.seed,
        t0.elapsed().as_secs_f64()
    );
    print!("{}", centroid_table(&model));
    println!(
        "inertia {:.6e} (summed squared distances in z-space over {} rows)",
        model.inertia,
        fmt::thousands(model.rows)
    );
    let sig = |name: &str, c: Option<usize>, rule: &str| match c {
        Some(c) => format!("{name} = cluster {c}"),
        None => format!("{name}: none (no cluster has {rule} > {}): signal off", model.signals.min_gap),
    };
    println!(
        "signals: {}; {}",
        sig("opportunistic", model.signals.opportunistic, "z_sbs - z_obs"),
        sig("toxic", model.signals.toxic, "z_obs - z_sbs")
    );
    println!("wrote {}", a.out.display());
    Ok(())
}
