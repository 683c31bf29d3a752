//! `ticktape research styles`: trading styles from daily PnL, by k-means++ on
//! standardised per-account features, labelled by rules on the centroids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ticktape_engine::table::Table;
use ticktape_report::chart::{self, BarChart, LineChart, Series, XAxis};
use ticktape_report::page::{Block, Cell, Page, Section, Table as HtmlTable};
use ticktape_research::kmeans::{self, KMeans};

use super::data::{self, Panel};

/// Features an account can be described by. The first three are the default.
pub(crate) const FEATURES: &[(&str, &str)] = &[
    ("volatility", "standard deviation of the daily PnL (ddof 1), PnL currency"),
    ("hit_rate", "share of active days (PnL ≠ 0) with a positive PnL: how often the day's direction was right"),
    ("win_rate", "gross profit / (gross profit + gross loss) over the days: the PnL-weighted share of winning days"),
    ("mean_pnl", "mean daily PnL"),
    ("sharpe", "mean / standard deviation of the daily PnL × √365 (0 for a constant PnL)"),
    ("max_drawdown", "largest fall of the cumulative PnL from its running peak (≥ 0)"),
    ("active_share", "share of the account's days with a non-zero PnL"),
];

/// The default labelling rules (`--rules` replaces them).
pub(crate) const DEFAULT_RULES: &str = r#"# Labels of the clusters of `ticktape research styles`.
# Each cluster gets the label of the FIRST rule whose every condition holds for
# its centroid; a cluster no rule matches gets `default`.
# Conditions are { min = X, max = Y } (either may be left out; inclusive) on
# the centroid's features in their own units (`raw`: e.g. win_rate 0.4) or in
# standard deviations from the mean over all accounts (`z`: e.g. volatility 1.5).
# Feature names: volatility, hit_rate, win_rate, mean_pnl, sharpe,
# max_drawdown, active_share (a rule may only use features given to --features).
default = "intermediate"

[[rules]]
label = "high volatility"
z = { volatility = { min = 1.0 } }

[[rules]]
label = "consistent losers"
raw = { win_rate = { max = 0.45 }, hit_rate = { max = 0.5 } }

[[rules]]
label = "skilled winners"
raw = { win_rate = { min = 0.55 }, hit_rate = { min = 0.5 } }
"#;

/// Group accounts into trading styles from their daily PnL.
///
/// Per account: features of its daily PnL (default volatility, hit_rate,
/// win_rate; see --features), standardised over the accounts (mean 0,
/// population standard deviation 1). k-means++ (10 seeded restarts, Lloyd to
/// convergence) gives the elbow table for k = 1..--k-max and the clustering
/// at --k, with its silhouette score (on an evenly strided sample of at most
/// --silhouette-sample accounts). Each cluster is labelled by the first rule
/// of the rules file (TOML, --rules; defaults: `--print-rules`) that its
/// centroid meets.
///
/// Writes DIR/elbow.parquet (k, inertia), DIR/styles.parquet (account,
/// cluster, label, days, the raw features, and `z_<feature>` standardised;
/// accounts with fewer than --min-days days get cluster -1 and label
/// "skipped") and DIR/report.html (elbow chart, cluster sizes and centroids).
///
/// Features:
///   volatility    standard deviation of the daily PnL (ddof 1)
///   hit_rate      share of active days (PnL ≠ 0) with a positive PnL
///   win_rate      gross profit / (gross profit + gross loss)
///   mean_pnl      mean daily PnL
///   sharpe        mean / std of the daily PnL × √365
///   max_drawdown  largest fall of the cumulative PnL from its peak
///   active_share  share of days with a non-zero PnL
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_help = "Examples:
  ticktape research styles --pnl pnl.csv -o out/styles
  ticktape research styles --pnl pnl.parquet -o out/styles --k 4 --features volatility,hit_rate,win_rate,sharpe
  ticktape research styles --print-rules > rules.toml   # edit, then:
  ticktape research styles --pnl pnl.csv -o out/styles --rules rules.toml")]
pub(crate) struct StylesArgs {
    /// Daily PnL: a CSV or Parquet table with columns account,date,pnl, or
    /// fills tapes (then --closes is needed to mark positions to market).
    #[arg(long, num_args = 1.., value_name = "PNL", required_unless_present = "print_rules")]
    pnl: Vec<PathBuf>,
    /// Daily closes (CSV or bar tapes), only for PnL built from fills.
    #[arg(long, num_args = 1.., value_name = "CLOSES")]
    closes: Vec<PathBuf>,
    /// Output folder (must be empty or absent unless --force).
    #[arg(short = 'o', long = "out", value_name = "DIR", required_unless_present = "print_rules")]
    out: Option<PathBuf>,
    /// Number of clusters.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    k: u32,
    /// Largest k of the elbow table.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    k_max: u32,
    /// Comma-separated features (see above).
    #[arg(long, value_delimiter = ',', default_value = "volatility,hit_rate,win_rate")]
    features: Vec<String>,
    /// Labelling rules (TOML); default: the built-in rules (`--print-rules`).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Print the built-in rules file and exit.
    #[arg(long)]
    print_rules: bool,
    /// Accounts with fewer days of PnL are not clustered.
    #[arg(long, default_value_t = 10)]
    min_days: usize,
    /// k-means restarts (the lowest inertia wins).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    n_init: u32,
    /// Seed of the k-means restarts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Accounts used for the silhouette score (it costs O(n²)); evenly strided.
    #[arg(long, default_value_t = 10_000)]
    silhouette_sample: usize,
    /// Worker threads (default: all cores). Outputs do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Replace a non-empty output folder.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Bound {
    min: Option<f64>,
    max: Option<f64>,
}

impl Bound {
    fn holds(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    label: String,
    #[serde(default)]
    raw: BTreeMap<String, Bound>,
    #[serde(default)]
    z: BTreeMap<String, Bound>,
}

/// Labelling rules, applied in order to each centroid.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rules {
    default: String,
    #[serde(default)]
    rules: Vec<Rule>,
}

impl Rules {
    fn parse(text: &str, origin: &str, features: &[String]) -> Result<Rules> {
        let r: Rules = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim()))?;
        for rule in &r.rules {
            for name in rule.raw.keys().chain(rule.z.keys()) {
                if !features.contains(name) {
                    bail!(
                        "{origin}: rule `{}` uses feature `{name}`, which is not among --features ({})",
                        rule.label,
                        features.join(",")
                    );
                }
            }
        }
        Ok(r)
    }

    /// The label of a centroid with raw means `raw` and standardised `z`.
    fn label(&self, features: &[String], raw: &[f64], z: &[f64]) -> String {
        let holds = |m: &BTreeMap<String, Bound>, v: &[f64]| {
            m.iter().all(|(n, b)| features.iter().position(|f| f == n).is_some_and(|j| b.holds(v[j])))
        };
        self.rules
            .iter()
            .find(|r| holds(&r.raw, raw) && holds(&r.z, z))
            .map_or_else(|| self.default.clone(), |r| r.label.clone())
    }
}

/// One feature of one daily PnL series.
pub(crate) fn feature(name: &str, pnl: &[f64]) -> f64 {
    let n = pnl.len() as f64;
    let mean = pnl.iter().sum::<f64>() / n;
    let std = || {
        if pnl.len() < 2 { 0.0 } else { (pnl.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() }
    };
    match name {
        "volatility" => std(),
        "hit_rate" => {
            let active = pnl.iter().filter(|v| **v != 0.0).count();
            if active == 0 { 0.5 } else { pnl.iter().filter(|v| **v > 0.0).count() as f64 / active as f64 }
        }
        "win_rate" => {
            let gain: f64 = pnl.iter().filter(|v| **v > 0.0).sum();
            let loss: f64 = -pnl.iter().filter(|v| **v < 0.0).sum::<f64>();
            if gain + loss == 0.0 { 0.5 } else { gain / (gain + loss) }
        }
        "mean_pnl" => mean,
        "sharpe" => {
            let s = std();
            if s == 0.0 { 0.0 } else { mean / s * 365f64.sqrt() }
        }
        "max_drawdown" => {
            let (mut cum, mut peak, mut dd) = (0.0f64, 0.0f64, 0.0f64);
            for v in pnl {
                cum += v;
                peak = peak.max(cum);
                dd = dd.max(peak - cum);
            }
            dd
        }
        "active_share" => pnl.iter().filter(|v| **v != 0.0).count() as f64 / n,
        _ => unreachable!("feature names are checked"),
    }
}

/// The clustering of some accounts' feature rows.
#[derive(Debug)]
pub(crate) struct Styles {
    /// Raw features, row-major `accounts × features`.
    pub(crate) raw: Vec<f64>,
    /// Standardised features, same shape.
    pub(crate) z: Vec<f64>,
    /// (k, inertia) for k = 1..=k_max (capped at the number of accounts).
    pub(crate) elbow: Vec<(usize, f64)>,
    /// The clustering at k.
    pub(crate) clustering: kmeans::Clustering,
    /// Silhouette score (None for k = 1 or too few accounts).
    pub(crate) silhouette: Option<f64>,
}

/// Options of [`cluster`].
#[derive(Debug, Clone)]
pub(crate) struct ClusterOptions {
    pub(crate) k: usize,
    pub(crate) k_max: usize,
    pub(crate) kmeans: KMeans,
    pub(crate) silhouette_sample: usize,
    pub(crate) threads: usize,
}

/// Features, standardisation, elbow (k in parallel), clustering and silhouette.
pub(crate) fn cluster(series: &[&[f64]], features: &[String], o: &ClusterOptions) -> Result<Styles> {
    let (n, d) = (series.len(), features.len());
    if n < o.k {
        bail!("{n} accounts to cluster, fewer than --k {}", o.k);
    }
    // Features, in parallel over blocks of accounts (each row is independent).
    let mut raw = vec![0.0; n * d];
    let chunk = n.div_ceil(o.threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (rows, acc) in raw.chunks_mut(chunk * d).zip(series.chunks(chunk)) {
            s.spawn(move || {
                for (row, pnl) in rows.chunks_mut(d).zip(acc) {
                    for (v, f) in row.iter_mut().zip(features) {
                        *v = feature(f, pnl);
                    }
                }
            });
        }
    });
    let mut z = raw.clone();
    for j in 0..d {
        let mean = (0..n).map(|i| raw[i * d + j]).sum::<f64>() / n as f64;
        let sd = ((0..n).map(|i| (raw[i * d + j] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        for i in 0..n {
            z[i * d + j] = (raw[i * d + j] - mean) / sd;
        }
    }
    let k_max = o.k_max.min(n);
    // Elbow: each k is an independent k-means; spread them over the threads,
    // largest k first (they cost most).
    let mut elbow: Vec<(usize, f64)> = Vec::with_capacity(k_max);
    let order: Vec<usize> = (1..=k_max).rev().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..o.threads.max(1).min(order.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&k) = order.get(i) else { break };
                    let r = kmeans::kmeans(&z, d, &KMeans { k, ..o.kmeans.clone() });
                    results.lock().expect("results").push((k, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(k, _)| *k);
    let mut at_k = None;
    for (k, r) in results {
        let c = r.map_err(|e| anyhow::anyhow!("k-means with k = {k}: {e}"))?;
        elbow.push((k, c.inertia));
        if k == o.k {
            at_k = Some(c);
        }
    }
    let clustering = match at_k {
        Some(c) => c,
        None => kmeans::kmeans(&z, d, &KMeans { k: o.k, ..o.kmeans.clone() })
            .map_err(|e| anyhow::anyhow!("k-means: {e}"))?,
    };
    let used = clustering.labels.iter().collect::<std::collections::BTreeSet<_>>().len();
    let silhouette = if used >= 2 && n >= 3 {
        let step = n.div_ceil(o.silhouette_sample.max(3));
        let idx: Vec<usize> = (0..n).step_by(step).collect();
        let xs: Vec<f64> = idx.iter().flat_map(|&i| z[i * d..(i + 1) * d].iter().copied()).collect();
        let ls: Vec<usize> = idx.iter().map(|&i| clustering.labels[i]).collect();
        kmeans::silhouette(&xs, d, &ls).ok()
    } else {
        None
    };
    Ok(Styles { raw, z, elbow, clustering, silhouette })
}

pub(crate) fn run(a: StylesArgs) -> Result<()> {
    if a.print_rules {
        print!("{DEFAULT_RULES}");
        return Ok(());
    }
    let out = a.out.clone().context("-o DIR is required")?;
    for f in &a.features {
        if !FEATURES.iter().any(|(n, _)| n == f) {
            bail!(
                "--features: unknown feature `{f}`; known: {}",
                FEATURES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if a.features.is_empty() {
        bail!("--features: give at least one feature");
    }
    let rules = match &a.rules {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("cannot read the rules file {}", p.display()))?;
            Rules::parse(&text, &p.display().to_string(), &a.features)?
        }
        None => {
            let mut r = Rules::parse(
                DEFAULT_RULES,
                "built-in rules",
                &FEATURES.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
            )?;
            // Built-in rules on features not selected are dropped, not errors.
            r.rules.retain(|rule| rule.raw.keys().chain(rule.z.keys()).all(|n| a.features.contains(n)));
            r
        }
    };
    let closes = if a.closes.is_empty() { None } else { Some(data::load_closes(&a.closes)?) };
    let panel = data::load_pnl(&a.pnl, closes.as_ref())?;
    let pnl: Vec<Vec<f64>> = panel.series.iter().map(|s| s.iter().map(|(_, v)| *v).collect()).collect();
    let keep: Vec<usize> = (0..pnl.len()).filter(|&i| pnl[i].len() >= a.min_days.max(1)).collect();
    let series: Vec<&[f64]> = keep.iter().map(|&i| pnl[i].as_slice()).collect();
    let o = ClusterOptions {
        k: a.k as usize,
        k_max: a.k_max as usize,
        kmeans: KMeans { k: a.k as usize, n_init: a.n_init as usize, seed: a.seed, ..KMeans::default() },
        silhouette_sample: a.silhouette_sample,
        threads: super::rbsa::threads(a.threads),
    };
    let t0 = std::time::Instant::now();
    let st = cluster(&series, &a.features, &o)?;
    let secs = t0.elapsed().as_secs_f64();
    let d = a.features.len();
    let k = o.k;
    // Centroids: raw means of the members, and the k-means centres (z units).
    let mut raw_c = vec![0.0; k * d];
    let mut size = vec![0usize; k];
    for (i, &l) in st.clustering.labels.iter().enumerate() {
        size[l] += 1;
        for j in 0..d {
            raw_c[l * d + j] += st.raw[i * d + j];
        }
    }
    for l in 0..k {
        for j in 0..d {
            raw_c[l * d + j] /= size[l].max(1) as f64;
        }
    }
    let labels: Vec<String> = (0..k)
        .map(|l| rules.label(&a.features, &raw_c[l * d..(l + 1) * d], &st.clustering.centers[l * d..(l + 1) * d]))
        .collect();

    let staging = ticktape_engine::results::stage(&out, a.force)?;
    Table::new()
        .u64("k", st.elbow.iter().map(|(k, _)| *k as u64).collect())
        .f64("inertia", st.elbow.iter().map(|(_, v)| *v).collect())
        .write(&staging.dir().join("elbow.parquet"))?;
    write_styles(staging.dir(), &panel, &keep, &st, &labels, &a.features, a.min_days)?;
    report(staging.dir(), &panel, &keep, &st, &labels, &raw_c, &size, &a)?;
    staging.promote()?;
    println!(
        "clustered {} of {} accounts into {k} styles in {secs:.2}s (silhouette {}); {} skipped (< {} days)",
        keep.len(),
        panel.accounts.len(),
        st.silhouette.map_or("–".into(), |s| format!("{s:.3}")),
        panel.accounts.len() - keep.len(),
        a.min_days
    );
    for l in 0..k {
        println!("  cluster {l}: {:>7} accounts  {}", size[l], labels[l]);
    }
    println!("wrote {}/elbow.parquet, styles.parquet, report.html", out.display());
    Ok(())
}

fn write_styles(
    dir: &Path,
    panel: &Panel,
    keep: &[usize],
    st: &Styles,
    labels: &[String],
    features: &[String],
    min_days: usize,
) -> Result<()> {
    let n = panel.accounts.len();
    let d = features.len();
    let mut row = vec![None; n];
    for (r, &i) in keep.iter().enumerate() {
        row[i] = Some(r);
    }
    let mut t = Table::new()
        .utf8("account", panel.accounts.clone())
        .i64("cluster", row.iter().map(|r| r.map_or(-1, |r| st.clustering.labels[r] as i64)).collect())
        .utf8(
            "label",
            row.iter()
                .map(|r| r.map_or_else(|| "skipped".to_owned(), |r| labels[st.clustering.labels[r]].clone()))
                .collect(),
        )
        .utf8_opt(
            "skip_reason",
            (0..n)
                .map(|i| {
                    row[i].is_none().then(|| format!("{} days of PnL < --min-days {min_days}", panel.series[i].len()))
                })
                .collect(),
        )
        .u64("days", panel.series.iter().map(|s| s.len() as u64).collect());
    for (j, f) in features.iter().enumerate() {
        t = t.f64_opt(f, row.iter().map(|r| r.map(|r| st.raw[r * d + j])).collect());
    }
    for (j, f) in features.iter().enumerate() {
        t = t.f64_opt(&format!("z_{f}"), row.iter().map(|r| r.map(|r| st.z[r * d + j])).collect());
    }
    t.write(&dir.join("styles.parquet"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    dir: &Path,
    panel: &Panel,
    keep: &[usize],
    st: &Styles,
    labels: &[String],
    raw_c: &[f64],
    size: &[usize],
    a: &StylesArgs,
) -> Result<()> {
    let d = a.features.len();
    let mut page = Page::new("Trading styles from PnL");
    page.subtitle = Some(format!("{} accounts, k = {}, features {}", keep.len(), a.k, a.features.join(", ")));
    page.push(Section::new("Summary").with(Block::KeyValue(vec![
        ("accounts".into(), panel.accounts.len().to_string()),
        ("clustered".into(), keep.len().to_string()),
        ("skipped (too few days)".into(), (panel.accounts.len() - keep.len()).to_string()),
        ("k".into(), a.k.to_string()),
        ("inertia".into(), chart::significant(st.clustering.inertia, 5)),
        (
            "silhouette".into(),
            st.silhouette.map_or("–".into(), |s| {
                format!(
                    "{} (on {} accounts)",
                    chart::significant(s, 4),
                    keep.len().div_ceil(keep.len().div_ceil(a.silhouette_sample.max(3)))
                )
            }),
        ),
        ("k-means".into(), format!("k-means++, {} restarts, seed {}", a.n_init, a.seed)),
    ])));
    page.push(
        Section::new("Elbow")
            .with(Block::Chart(chart::line_chart(&LineChart {
                title: "Inertia by number of clusters".into(),
                x: XAxis::Linear("k".into()),
                y_label: "inertia (sum of squared distances, standardised units)".into(),
                series: vec![Series::new("inertia", st.elbow.iter().map(|(k, v)| (*k as f64, *v)).collect())],
                step: false,
            })?))
            .with(Block::Note("Pick k where adding a cluster stops reducing the inertia much (the elbow).".into())),
    );
    let mut t = HtmlTable::new(
        &[&["cluster", "label", "accounts"][..], &a.features.iter().map(String::as_str).collect::<Vec<_>>()].concat(),
    );
    for l in 0..labels.len() {
        let mut r = vec![Cell::count(l as u64), Cell::text(labels[l].clone()), Cell::count(size[l] as u64)];
        r.extend((0..d).map(|j| Cell::number(raw_c[l * d + j], 4)));
        t.rows.push(r);
    }
    t.caption = Some("centroids: the mean raw feature of each cluster's accounts".into());
    page.push(
        Section::new("Clusters")
            .with(Block::Chart(chart::bar_chart(&BarChart {
                title: "Accounts per cluster".into(),
                x_label: "cluster".into(),
                y_label: "accounts".into(),
                bars: (0..labels.len()).map(|l| (format!("{l}: {}", labels[l]), size[l] as f64)).collect(),
            })?))
            .with(Block::Table(t)),
    );
    page.write(&dir.join("report.html"))?;
    Ok(())
}
