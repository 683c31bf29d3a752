//! `ticktape research clusterlob ic`: per-cluster order-flow imbalance against the next buckets' mid
//! return.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use ticktape_engine::table::Table;
use ticktape_report::chart::{LineChart, Series, XAxis, line_chart};
use ticktape_report::page::{Block, Cell, Page, Section, Table as PageTable};
use ticktape_research::clusterlob::{Model, N_FEATURES};
use ticktape_research::stats;
use ticktape_tape::AtomicFile;

use super::table::{self, Manifest, NS_PER_DAY, day_name, parse_day, z_columns};
use crate::fmt;

/// Information coefficient of each cluster's order-flow imbalance (OFI), in and out of sample.
///
/// Every trade of the feature folder is assigned to its cluster by the model. Per time bucket
/// (--bucket, aligned to the Unix epoch; trades with ts in [start, start + bucket)) and per cluster:
/// size-weighted OFI = (buy qty − sell qty) / (buy qty + sell qty) and count-based OFI =
/// (buys − sells) / (buys + sells), undefined when the cluster did not trade in the bucket. The
/// aggregate OFI over all trades ("all", cluster −1) is the benchmark. The target of bucket t at
/// horizon h is the log mid return from the END of bucket t to the end of bucket t + h: the mid
/// sampled at a bucket boundary is the book after every event before it, so the bucket whose flow is
/// measured never overlaps the return it is scored on (the seed's Experiment 5 trap).
///
/// IC = Pearson and Spearman correlation over the buckets where both are defined. In-sample: buckets
/// inside the model's training window (train_from .. train_to); out-of-sample: buckets from
/// --oos-from on (default: the day after train_to).
///
/// DIR gets ic.parquet (sample, cluster, label, weight, horizon, horizon_s, n, pearson, spearman),
/// buckets.parquet (per bucket: sample, returns, every signal's OFI), one chart per sample and
/// weighting (IC by horizon, SVG) and report.html with all of them.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research clusterlob ic feat --model model.json -o ic
  ticktape research clusterlob ic feat --model model.json -o ic --bucket 1m --horizons 1,5,15
  ticktape research clusterlob ic feat --model model.json -o ic --oos-from 2024-05-08 --force")]
pub(crate) struct IcArgs {
    /// Feature folder written by `ticktape research clusterlob features`.
    #[arg(value_name = "FEAT_DIR")]
    dir: PathBuf,
    /// Model file written by `ticktape research clusterlob train`.
    #[arg(long, value_name = "MODEL.json")]
    model: PathBuf,
    /// Output folder.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Bucket length: 5m, 30s, 1h (a whole number of seconds).
    #[arg(long, default_value = "5m", value_parser = ticktape_engine::sim::parse_duration)]
    bucket: i64,
    /// Horizons, in buckets.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5")]
    horizons: Vec<usize>,
    /// First UTC day of the out-of-sample period (default: the day after the model's train_to).
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    oos_from: Option<i64>,
    /// Replace DIR if it is not empty.
    #[arg(long)]
    force: bool,
}

/// Buy qty, sell qty, buys, sells.
type Acc = [f64; 4];

/// Which sample a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sample {
    In,
    Out,
    Neither,
}

impl Sample {
    fn name(self) -> &'static str {
        match self {
            Sample::In => "in",
            Sample::Out => "out",
            Sample::Neither => "none",
        }
    }
}

/// Per-bucket flows and returns.
#[derive(Debug)]
pub(crate) struct Buckets {
    /// Index of the first bucket (ts / bucket).
    pub(crate) b0: i64,
    pub(crate) bucket: i64,
    /// Signals per bucket: clusters 0..k, then all.
    pub(crate) signals: usize,
    pub(crate) acc: Vec<Acc>,
    /// Mid at the end of each bucket (the book after every event before that time).
    pub(crate) mid_end: Vec<Option<f64>>,
    pub(crate) trades: Vec<u64>,
}

impl Buckets {
    pub(crate) fn len(&self) -> usize {
        self.mid_end.len()
    }

    /// OFI of signal `s` in bucket `i`, size-weighted or count-based; `None` without trades.
    pub(crate) fn ofi(&self, i: usize, s: usize, size: bool) -> Option<f64> {
        let a = &self.acc[i * self.signals + s];
        let (b, q) = if size { (a[0], a[1]) } else { (a[2], a[3]) };
        (b + q > 0.0).then(|| (b - q) / (b + q))
    }

    /// Log mid return from the end of bucket `i` to the end of bucket `i + h`.
    pub(crate) fn ret(&self, i: usize, h: usize) -> Option<f64> {
        let a = self.mid_end[i]?;
        let b = *self.mid_end.get(i + h)?.as_ref()?;
        (a > 0.0 && b > 0.0).then(|| (b / a).ln())
    }

    /// Start time of bucket `i`, ns.
    pub(crate) fn start(&self, i: usize) -> i64 {
        (self.b0 + i as i64) * self.bucket
    }
}

/// One IC row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IcRow {
    pub(crate) sample: Sample,
    pub(crate) cluster: i64,
    pub(crate) label: String,
    pub(crate) size: bool,
    pub(crate) horizon: usize,
    pub(crate) n: u64,
    pub(crate) pearson: Option<f64>,
    pub(crate) spearman: Option<f64>,
}

/// Reads the flows and mids of the feature folder into buckets.
pub(crate) fn bucketize(dir: &Path, m: &Manifest, model: &Model, bucket: i64) -> Result<Buckets> {
    let first = m.days.iter().filter_map(|d| d.first_ts).min();
    let last = m.days.iter().filter_map(|d| d.last_ts).max();
    let (Some(first), Some(last)) = (first, last) else {
        bail!("{}: the feature folder has no trade rows", dir.display());
    };
    let b0 = first.div_euclid(bucket);
    let nb = (last.div_euclid(bucket) - b0 + 1) as usize;
    let signals = model.k + 1;
    let mut acc = vec![[0.0; 4]; nb * signals];
    let mut trades = vec![0u64; nb];
    let mut names = vec!["ts", "side", "qty"];
    names.extend(z_columns());
    for d in m.days.iter().filter(|d| !d.features.is_empty()) {
        let path = dir.join(&d.features);
        table::read_columns(&path, &names, |a| {
            let ts = table::timestamps(&path, &a[0])?.values();
            let side = table::sides(&path, &a[1])?.values();
            let qty = table::f64s(&path, &a[2])?.values();
            let z: Vec<&[f64]> =
                a[3..].iter().map(|c| table::f64s(&path, c).map(|c| c.values().as_ref())).collect::<Result<_>>()?;
            for r in 0..ts.len() {
                let row: [f64; N_FEATURES] = std::array::from_fn(|j| z[j][r]);
                let c = model.assign(&row);
                let i = (ts[r].div_euclid(bucket) - b0) as usize;
                if i >= nb {
                    bail!(
                        "{}: a trade at {} lies outside the manifest's time range; re-run features",
                        path.display(),
                        ts[r]
                    );
                }
                trades[i] += 1;
                let buy = side[r] > 0;
                for s in [c, model.k] {
                    let e = &mut acc[i * signals + s];
                    if buy {
                        e[0] += qty[r];
                        e[2] += 1.0;
                    } else {
                        e[1] += qty[r];
                        e[3] += 1.0;
                    }
                }
            }
            Ok(())
        })?;
    }
    // Mid samples on the manifest's grid.
    let mut mid_ts: Vec<i64> = Vec::new();
    let mut mid_v: Vec<Option<f64>> = Vec::new();
    for d in m.days.iter().filter(|d| !d.mid.is_empty()) {
        let path = dir.join(&d.mid);
        table::read_columns(&path, &["ts", "mid"], |a| {
            let ts = table::timestamps(&path, &a[0])?;
            let mid = table::f64s(&path, &a[1])?;
            for r in 0..ts.len() {
                mid_ts.push(ts.value(r));
                mid_v.push(if arrow_array::Array::is_null(mid, r) { None } else { Some(mid.value(r)) });
            }
            Ok(())
        })?;
    }
    let mid_at = |t: i64| mid_ts.binary_search(&t).ok().and_then(|i| mid_v[i]);
    let mid_end = (0..nb).map(|i| mid_at((b0 + i as i64 + 1) * bucket)).collect();
    Ok(Buckets { b0, bucket, signals, acc, mid_end, trades })
}

/// The sample of each bucket: in = inside [train_from, train_to + 1 day), out = from `oos_from` on.
pub(crate) fn samples(b: &Buckets, train: Option<(i64, i64)>, oos_from: i64) -> Vec<Sample> {
    (0..b.len())
        .map(|i| {
            let (s, e) = (b.start(i), b.start(i) + b.bucket);
            if s >= oos_from * NS_PER_DAY {
                Sample::Out
            } else if train.is_none_or(|(f, t)| s >= f * NS_PER_DAY && e <= (t + 1) * NS_PER_DAY) {
                Sample::In
            } else {
                Sample::Neither
            }
        })
        .collect()
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// IC rows for every sample, signal, weighting and horizon.
pub(crate) fn ic_rows(b: &Buckets, samples: &[Sample], labels: &[String], horizons: &[usize]) -> Vec<IcRow> {
    let mut rows = Vec::new();
    for sample in [Sample::In, Sample::Out] {
        for (s, label) in labels.iter().enumerate().take(b.signals) {
            for size in [true, false] {
                for &h in horizons {
                    let (mut x, mut y) = (Vec::new(), Vec::new());
                    for i in (0..b.len()).filter(|&i| samples[i] == sample) {
                        if let (Some(o), Some(r)) = (b.ofi(i, s, size), b.ret(i, h)) {
                            x.push(o);
                            y.push(r);
                        }
                    }
                    let enough = x.len() >= 3;
                    let pearson = if enough { stats::pearson(&x, &y).ok().and_then(finite) } else { None };
                    let spearman = if enough { stats::spearman(&x, &y).ok().and_then(finite) } else { None };
                    let all = s + 1 == b.signals;
                    rows.push(IcRow {
                        sample,
                        cluster: if all { -1 } else { s as i64 },
                        label: label.clone(),
                        size,
                        horizon: h,
                        n: x.len() as u64,
                        pearson,
                        spearman,
                    });
                }
            }
        }
    }
    rows
}

fn write_svg(path: &Path, svg: &ticktape_report::chart::Svg) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(svg.as_str().as_bytes())?;
    f.commit()?;
    Ok(())
}

fn weight_name(size: bool) -> &'static str {
    if size { "size" } else { "count" }
}

pub(crate) fn run(a: IcArgs) -> Result<()> {
    let m = Manifest::read(&a.dir)?;
    let model = Model::load(&a.model)?;
    if (model.levels, model.window) != (m.levels, m.window) {
        bail!(
            "{}: the model was trained on features with --levels {} --window {}, but {} has --levels {} --window {}; \
             re-run features or train so they match",
            a.model.display(),
            model.levels,
            model.window,
            a.dir.display(),
            m.levels,
            m.window
        );
    }
    if a.bucket <= 0 || a.bucket % m.mid_step_ns != 0 {
        bail!(
            "--bucket {} is not a positive whole number of the mid sampling step ({}); use e.g. 5m or 30s",
            fmt::duration_ns(a.bucket),
            fmt::duration_ns(m.mid_step_ns)
        );
    }
    if a.horizons.is_empty() || a.horizons.contains(&0) {
        bail!("--horizons must be positive bucket counts, e.g. 1,2,5");
    }
    let day = |s: &Option<String>, what: &str| -> Result<Option<i64>> {
        s.as_deref().map(|d| parse_day(d).map_err(|e| anyhow!("{}: {what}: {e}", a.model.display()))).transpose()
    };
    let train = match (day(&model.train_from, "train_from")?, day(&model.train_to, "train_to")?) {
        (Some(f), Some(t)) => Some((f, t)),
        _ => None,
    };
    let oos_from = match (a.oos_from, train) {
        (Some(o), Some((_, t))) if o <= t => bail!(
            "--oos-from {} is inside the model's training window (ends {}); out-of-sample days must come after it",
            day_name(o),
            day_name(t)
        ),
        (Some(o), _) => o,
        (None, Some((_, t))) => t + 1,
        (None, None) => bail!("{}: the model has no training window; pass --oos-from DAY", a.model.display()),
    };
    let b = bucketize(&a.dir, &m, &model, a.bucket)?;
    let samples = samples(&b, train, oos_from);
    let mut labels: Vec<String> = model.labels.iter().map(|l| l.as_str().to_owned()).collect();
    labels.push("all".into());
    let rows = ic_rows(&b, &samples, &labels, &a.horizons);

    let stage = ticktape_engine::results::stage(&a.out, a.force)?;
    let dir = stage.dir();
    Table::new()
        .utf8("sample", rows.iter().map(|r| r.sample.name().to_owned()).collect())
        .i64("cluster", rows.iter().map(|r| r.cluster).collect())
        .utf8("label", rows.iter().map(|r| r.label.clone()).collect())
        .utf8("weight", rows.iter().map(|r| weight_name(r.size).to_owned()).collect())
        .u64("horizon", rows.iter().map(|r| r.horizon as u64).collect())
        .f64("horizon_s", rows.iter().map(|r| (r.horizon as i64 * a.bucket) as f64 / 1e9).collect())
        .u64("n", rows.iter().map(|r| r.n).collect())
        .f64_opt("pearson", rows.iter().map(|r| r.pearson).collect())
        .f64_opt("spearman", rows.iter().map(|r| r.spearman).collect())
        .write(&dir.join("ic.parquet"))?;
    let mut bt = Table::new()
        .ts("ts", (0..b.len()).map(|i| b.start(i)).collect())
        .utf8("sample", samples.iter().map(|s| s.name().to_owned()).collect())
        .u64("trades", b.trades.clone())
        .f64_opt("mid_end", b.mid_end.clone());
    for &h in &a.horizons {
        bt = bt.f64_opt(&format!("ret_{h}"), (0..b.len()).map(|i| b.ret(i, h)).collect());
    }
    for s in 0..b.signals {
        let name = if s + 1 == b.signals { "all".to_owned() } else { format!("c{s}") };
        for size in [true, false] {
            bt = bt.f64_opt(
                &format!("ofi_{}_{name}", weight_name(size)),
                (0..b.len()).map(|i| b.ofi(i, s, size)).collect(),
            );
        }
    }
    bt.write(&dir.join("buckets.parquet"))?;

    let signal_name =
        |r: &IcRow| if r.cluster < 0 { "all (benchmark)".to_owned() } else { format!("{} {}", r.cluster, r.label) };
    let mut page = Page::new("ClusterLOB information coefficients");
    page.subtitle = Some(format!(
        "{} with {}; {} buckets; in-sample {} .. {}, out-of-sample from {}",
        a.dir.display(),
        a.model.display(),
        fmt::duration_ns(a.bucket),
        model.train_from.as_deref().unwrap_or("start"),
        model.train_to.as_deref().unwrap_or("?"),
        day_name(oos_from)
    ));
    for sample in [Sample::In, Sample::Out] {
        let mut section = Section::new(format!("{}-sample", if sample == Sample::In { "In" } else { "Out-of" }));
        for size in [true, false] {
            let series: Vec<Series> = (0..b.signals)
                .map(|s| {
                    let pts: Vec<(f64, f64)> = rows
                        .iter()
                        .filter(|r| {
                            r.sample == sample
                                && r.size == size
                                && (r.cluster == s as i64 || (r.cluster < 0 && s + 1 == b.signals))
                        })
                        .filter_map(|r| r.pearson.map(|p| (r.horizon as f64, p)))
                        .collect();
                    let r = rows
                        .iter()
                        .find(|r| r.cluster == if s + 1 == b.signals { -1 } else { s as i64 })
                        .expect("a row");
                    Series::new(signal_name(r), pts)
                })
                .collect();
            let chart = LineChart {
                title: format!("{}-sample IC by horizon, {}-weighted OFI (Pearson)", sample.name(), weight_name(size)),
                x: XAxis::Linear(format!("horizon (buckets of {})", fmt::duration_ns(a.bucket))),
                y_label: "IC".into(),
                series,
                step: false,
            };
            let svg = line_chart(&chart)?;
            write_svg(&dir.join(format!("ic-{}-{}.svg", sample.name(), weight_name(size))), &svg)?;
            section.push(Block::Chart(svg));
        }
        let mut t = PageTable::new(&["signal", "weight", "horizon", "n", "pearson", "spearman"]);
        for r in rows.iter().filter(|r| r.sample == sample) {
            t.rows.push(vec![
                Cell::text(signal_name(r)),
                Cell::text(weight_name(r.size)),
                Cell::count(r.horizon as u64),
                Cell::count(r.n),
                Cell::number(r.pearson.unwrap_or(f64::NAN), 3),
                Cell::number(r.spearman.unwrap_or(f64::NAN), 3),
            ]);
        }
        section.push(Block::Table(t));
        page.push(section);
    }
    page.push(
        Section::new("Method").with(Block::Note(
            "OFI of a bucket: (buy − sell) / (buy + sell) of the cluster's trades in it, by size or by count; \
         target: log mid return from the end of that bucket to the end of the bucket h later (mids sampled at \
         bucket boundaries are the book before any event at that instant), so flow and return never overlap."
                .into(),
        )),
    );
    page.write(&dir.join("report.html"))?;
    stage.promote()?;

    println!(
        "IC of OFI in a {} bucket vs the log mid return over the next h buckets ({} buckets: {} in-sample, {} out-of-sample from {})",
        fmt::duration_ns(a.bucket),
        fmt::thousands(b.len() as u64),
        fmt::thousands(samples.iter().filter(|s| **s == Sample::In).count() as u64),
        fmt::thousands(samples.iter().filter(|s| **s == Sample::Out).count() as u64),
        day_name(oos_from)
    );
    let mut head = format!("{:<7} {:<22} {:<6} {:>6}", "sample", "signal", "weight", "n");
    for h in &a.horizons {
        head += &format!(" {:>17}", format!("h={h} pear/spear"));
    }
    println!("{head}");
    let show = |v: Option<f64>| v.map_or("    –".to_owned(), |v| format!("{v:+.3}"));
    for sample in [Sample::In, Sample::Out] {
        for s in 0..b.signals {
            for size in [true, false] {
                let cl = if s + 1 == b.signals { -1 } else { s as i64 };
                let sel: Vec<&IcRow> =
                    rows.iter().filter(|r| r.sample == sample && r.cluster == cl && r.size == size).collect();
                let mut line = format!(
                    "{:<7} {:<22} {:<6} {:>6}",
                    sample.name(),
                    signal_name(sel[0]),
                    weight_name(size),
                    sel.iter().map(|r| r.n).max().unwrap_or(0)
                );
                for r in &sel {
                    line += &format!(" {:>8} {:>8}", show(r.pearson), show(r.spearman));
                }
                println!("{line}");
            }
        }
    }
    println!("wrote {}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(ofi_size: &[f64], mids: &[f64]) -> Buckets {
        let n = ofi_size.len();
        let mut acc = vec![[0.0; 4]; n];
        for (i, o) in ofi_size.iter().enumerate() {
            // buy − sell = o, buy + sell = 1.
            acc[i] = [(1.0 + o) / 2.0, (1.0 - o) / 2.0, 1.0, 0.0];
        }
        Buckets {
            b0: 0,
            bucket: 1,
            signals: 1,
            acc,
            mid_end: mids.iter().map(|m| Some(*m)).collect(),
            trades: vec![1; n],
        }
    }

    #[test]
    fn the_return_of_a_bucket_starts_where_the_bucket_ends() {
        let b = buckets(&[0.0, 0.0, 0.0], &[100.0, 110.0, 121.0]);
        assert_eq!(b.ret(0, 1), Some((1.1f64).ln()));
        assert!((b.ret(0, 2).unwrap() - (1.21f64).ln()).abs() < 1e-12);
        assert_eq!(b.ret(2, 1), None);
    }

    #[test]
    fn simultaneous_flow_scores_nothing_and_leading_flow_scores_one() {
        // Flow in bucket i equals the move from the end of i-1 to the end of i (simultaneous);
        // the move after bucket i is unrelated.
        let n = 400;
        let mut moves = Vec::new();
        let mut s = 7u64;
        for _ in 0..n {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            moves.push(((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.01);
        }
        let mut mids = vec![100.0];
        for m in &moves[1..] {
            mids.push(mids.last().unwrap() * m.exp());
        }
        let simultaneous: Vec<f64> = moves.iter().map(|m| m * 100.0).collect();
        let b = buckets(&simultaneous, &mids);
        let all = vec![Sample::In; n];
        let r = ic_rows(&b, &all, &["all".into()], &[1]);
        let ic = r[0].pearson.unwrap();
        assert!(ic.abs() < 0.15, "simultaneous flow rewarded: IC {ic}");
        // Leading flow: bucket i's OFI equals the move of bucket i + 1.
        let leading: Vec<f64> = (0..n).map(|i| moves.get(i + 1).map_or(0.0, |m| m * 100.0)).collect();
        let b = buckets(&leading, &mids);
        let r = ic_rows(&b, &all, &["all".into()], &[1]);
        assert!(r[0].pearson.unwrap() > 0.99, "{:?}", r[0]);
    }
}
