//! The ClusterLOB clustering model: k-means++ on the z-scored features, rule-based labels, JSON file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FEATURES, N_FEATURES, OBS, SBS};
use crate::kmeans::{KMeans, kmeans};
use crate::{Error, Result, check_matrix};

/// The model file format version this build reads and writes.
pub const MODEL_VERSION: u32 = 1;

/// The label of a cluster, from the microstructure rule of [`Model::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Max `z_sbs − z_obs`: trades executing with thick own-side depth into a thin opposite side.
    Opportunistic,
    /// Max `z_obs − z_sbs`: trades executing into a thick opposite side.
    Toxic,
    /// Every other cluster.
    Passive,
}

impl Label {
    /// `"opportunistic"`, `"toxic"` or `"passive"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Opportunistic => "opportunistic",
            Label::Toxic => "toxic",
            Label::Passive => "passive",
        }
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Standardisation applied to a z-row before it meets the centroids. The features are already rolling
/// z-scores, so version 1 applies none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Scaling {
    /// The centroids are in the z-space of the feature table's `z_*` columns.
    Identity,
}

/// Which labelled signals exist: the cluster index of each, or `None` when no cluster meets its rule
/// (that signal is off).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// The opportunistic cluster, if any.
    pub opportunistic: Option<usize>,
    /// The toxic cluster, if any.
    pub toxic: Option<usize>,
    /// The margin of the rules, in z units (see [`Model::fit`]).
    pub min_gap: f64,
}

/// Options of [`Model::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// Clusters (default 3).
    pub k: usize,
    /// Seed of the k-means++ restarts (default 0).
    pub seed: u64,
    /// Restarts; the lowest inertia wins (default 10).
    pub n_init: usize,
    /// Lloyd iteration cap per restart (default 300).
    pub max_iter: usize,
    /// Lloyd tolerance relative to the mean feature variance (default 1e-4, scikit-learn's).
    pub tol: f64,
    /// Margin of the labelling rules in z units (default 0.5); at least 0.
    pub min_gap: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { k: 3, seed: 0, n_init: 10, max_iter: 300, tol: 1e-4, min_gap: 0.5 }
    }
}

/// A fitted ClusterLOB model, as saved in `MODEL.json`.
///
/// Cluster `c`'s centroid is `centroids[c]` (columns in [`features`](Self::features) order, in the
/// z-space of the feature table), its label `labels[c]`, its size `counts[c]` and the mean z-row of
/// its members `means[c]` (equal to the centroid when the fit and the counts used the same rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// File format version ([`MODEL_VERSION`]).
    pub version: u32,
    /// Feature names, in column order (`v_rel, sbs, obs, spread, t_m, t_age`).
    pub features: Vec<String>,
    /// Book levels per side summed into `sbs` and `obs` by the features this model was trained on.
    pub levels: usize,
    /// Rolling window (trades) of those features.
    pub window: usize,
    /// Number of clusters.
    pub k: usize,
    /// k-means seed.
    pub seed: u64,
    /// k-means restarts.
    pub n_init: usize,
    /// Lloyd iteration cap.
    pub max_iter: usize,
    /// Lloyd tolerance (relative to the mean feature variance).
    pub tol: f64,
    /// First UTC day of the training rows (`YYYY-MM-DD`), if known.
    pub train_from: Option<String>,
    /// Last UTC day of the training rows (inclusive), if known.
    pub train_to: Option<String>,
    /// Rows the k-means ran on (a sample of the training rows when those were many).
    pub fit_rows: u64,
    /// Rows counted in `counts`, `means` and `inertia` (all training rows).
    pub rows: u64,
    /// Standardisation applied before the centroids.
    pub scaling: Scaling,
    /// Centroids, `k × 6`, in z-space.
    pub centroids: Vec<[f64; N_FEATURES]>,
    /// Label of each cluster.
    pub labels: Vec<Label>,
    /// Training rows assigned to each cluster.
    pub counts: Vec<u64>,
    /// Mean z-row of each cluster's members.
    pub means: Vec<[f64; N_FEATURES]>,
    /// k-means objective over the counted rows: summed squared Euclidean distances to the assigned
    /// centroids.
    pub inertia: f64,
    /// Which labelled signals exist.
    pub signals: Signals,
}

/// Errors loading, validating or saving a model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The file cannot be read.
    #[error("{path}: cannot read the model file ({source}); check the path given to --model")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid model JSON.
    #[error(
        "{path}: line {line}, column {column}: not a ClusterLOB model ({msg}); make one with `ticktape research clusterlob train`"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        msg: String,
    },
    /// The JSON parses but is not a consistent model.
    #[error("{path}: invalid ClusterLOB model: {detail}; re-create it with `ticktape research clusterlob train`")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The file cannot be written.
    #[error("cannot write the model: {0}")]
    Write(#[from] ticktape_tape::Error),
}

/// Running counts, member sums and inertia of a model's clusters over rows, added in chunks
/// ([`Tally::add`]) and stored into the model by [`Model::set_tally`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    counts: Vec<u64>,
    sums: Vec<[f64; N_FEATURES]>,
    inertia: f64,
}

impl Tally {
    /// An empty tally for `model`'s clusters.
    pub fn new(model: &Model) -> Self {
        Tally { counts: vec![0; model.k], sums: vec![[0.0; N_FEATURES]; model.k], inertia: 0.0 }
    }

    /// Assigns each row of the row-major `n × 6` slice `rows` and counts it.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] or [`Error::NonFinite`] for a malformed slice.
    pub fn add(&mut self, model: &Model, rows: &[f64]) -> Result<()> {
        check_matrix("z-rows", rows, N_FEATURES)?;
        for row in rows.chunks_exact(N_FEATURES) {
            let row: &[f64; N_FEATURES] = row.try_into().expect("chunks of 6");
            let (c, d) = model.nearest(row);
            self.counts[c] += 1;
            self.sums[c].iter_mut().zip(row).for_each(|(s, v)| *s += v);
            self.inertia += d;
        }
        Ok(())
    }

    /// Rows counted so far.
    pub fn rows(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[inline]
fn d2(a: &[f64; N_FEATURES], b: &[f64; N_FEATURES]) -> f64 {
    let mut s = 0.0;
    for j in 0..N_FEATURES {
        let d = a[j] - b[j];
        s += d * d;
    }
    s
}

/// `z_sbs − z_obs` of a centroid: the imbalance score the labels are ranked by.
#[inline]
fn score(c: &[f64; N_FEATURES]) -> f64 {
    c[SBS] - c[OBS]
}

impl Model {
    /// Fits `o.k` clusters to the row-major `n × 6` z-rows `z` (columns in
    /// [`FEATURES`] order) with the kernels' k-means++ ([`crate::kmeans`]: `o.n_init` seeded restarts,
    /// the lowest inertia wins; Lloyd iterations stop when no label changes, when the summed squared
    /// centre shift is at most `o.tol ×` the mean feature variance, or after `o.max_iter`), then
    /// orders and labels the clusters by the rule below. `levels` and `window` record the feature
    /// parameters; `train_from`/`train_to` are left `None` for the caller to fill. Counts, means and
    /// inertia are over `z` (replace them with [`set_tally`](Self::set_tally) when `z` was a sample).
    ///
    /// # Alignment rule
    ///
    /// With `score(c) = z_sbs(c) − z_obs(c)` of centroid `c`:
    ///
    /// - clusters are stored by **descending score**, exact ties broken by the centroids' lexicographic
    ///   order, so indices and labels depend only on the centroids, never on the order k-means
    ///   returned them in;
    /// - **opportunistic** = the cluster with the highest score, *if* that score is `> min_gap`;
    /// - **toxic** = the cluster with the lowest score (the highest `z_obs − z_sbs`), *if* that score is
    ///   `< −min_gap`;
    /// - **passive** = every other cluster.
    ///
    /// "No cluster meets a rule" means exactly that its extreme score does not clear the margin; the
    /// model then has `signals.opportunistic` (or `signals.toxic`) `None` and no cluster with that
    /// label, and a strategy keeps that signal off. Because `min_gap ≥ 0`, one cluster can never meet
    /// both rules (a score cannot be both `> min_gap` and `< −min_gap`), so with `k = 1` the single
    /// cluster is at most one of the two.
    ///
    /// # Errors
    ///
    /// [`Error`] for a malformed `z`, fewer rows than `k`, or bad options.
    pub fn fit(z: &[f64], o: &FitOptions, levels: usize, window: usize) -> Result<Model> {
        if !(o.min_gap >= 0.0 && o.min_gap.is_finite()) {
            return Err(Error::Option {
                name: "min_gap",
                detail: format!("must be a finite value ≥ 0, got {}", o.min_gap),
            });
        }
        let n = check_matrix("z-rows", z, N_FEATURES)?;
        let fit = kmeans(
            z,
            N_FEATURES,
            &KMeans { k: o.k, n_init: o.n_init, max_iter: o.max_iter, tol: o.tol, seed: o.seed },
        )?;
        let centroids: Vec<[f64; N_FEATURES]> =
            fit.centers.chunks_exact(N_FEATURES).map(|c| c.try_into().expect("chunks of 6")).collect();
        let mut model = Model {
            version: MODEL_VERSION,
            features: FEATURES.iter().map(|s| s.to_string()).collect(),
            levels,
            window,
            k: o.k,
            seed: o.seed,
            n_init: o.n_init,
            max_iter: o.max_iter,
            tol: o.tol,
            train_from: None,
            train_to: None,
            fit_rows: n as u64,
            rows: 0,
            scaling: Scaling::Identity,
            centroids,
            labels: Vec::new(),
            counts: Vec::new(),
            means: Vec::new(),
            inertia: 0.0,
            signals: Signals { opportunistic: None, toxic: None, min_gap: o.min_gap },
        };
        model.align();
        let mut t = Tally::new(&model);
        t.add(&model, z)?;
        model.set_tally(t);
        Ok(model)
    }

    /// Puts the clusters in canonical order and labels them (the rule of [`fit`](Self::fit)), with
    /// `signals.min_gap` as the margin. Counts and means, if any, follow their clusters.
    pub fn align(&mut self) {
        let k = self.centroids.len();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&self.centroids[a], &self.centroids[b]);
            score(cb).total_cmp(&score(ca)).then_with(|| {
                ca.iter().zip(cb).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        let permute = |v: &[[f64; N_FEATURES]]| -> Vec<[f64; N_FEATURES]> {
            if v.len() == k { order.iter().map(|&i| v[i]).collect() } else { v.to_vec() }
        };
        self.centroids = permute(&self.centroids);
        self.means = permute(&self.means);
        if self.counts.len() == k {
            self.counts = order.iter().map(|&i| self.counts[i]).collect();
        }
        let gap = self.signals.min_gap;
        let opportunistic = (k > 0 && score(&self.centroids[0]) > gap).then_some(0);
        let toxic = (k > 0 && score(&self.centroids[k - 1]) < -gap).then_some(k - 1);
        self.labels = (0..k)
            .map(|c| {
                if Some(c) == opportunistic {
                    Label::Opportunistic
                } else if Some(c) == toxic {
                    Label::Toxic
                } else {
                    Label::Passive
                }
            })
            .collect();
        self.signals.opportunistic = opportunistic;
        self.signals.toxic = toxic;
    }

    /// Replaces counts, means, inertia and `rows` by a tally over (all) the training rows.
    pub fn set_tally(&mut self, t: Tally) {
        self.rows = t.rows();
        self.means = t
            .sums
            .iter()
            .zip(&t.counts)
            .map(|(s, &n)| if n == 0 { [0.0; N_FEATURES] } else { s.map(|v| v / n as f64) })
            .collect();
        self.counts = t.counts;
        self.inertia = t.inertia;
    }

    /// Nearest cluster and its squared distance (ties to the lower index).
    #[inline]
    fn nearest(&self, z: &[f64; N_FEATURES]) -> (usize, f64) {
        let Scaling::Identity = self.scaling;
        let mut best = (0, f64::INFINITY);
        for (c, ctr) in self.centroids.iter().enumerate() {
            let d = d2(z, ctr);
            if d < best.1 {
                best = (c, d);
            }
        }
        best
    }

    /// The cluster of a z-row (columns in [`FEATURES`] order): the nearest centroid in squared
    /// Euclidean distance, ties to the lower index. O(k), no allocation.
    #[inline]
    pub fn assign(&self, z: &[f64; N_FEATURES]) -> usize {
        self.nearest(z).0
    }

    /// The label of cluster `c`, `None` if `c ≥ k`.
    #[inline]
    pub fn label_of(&self, c: usize) -> Option<Label> {
        self.labels.get(c).copied()
    }

    /// The cluster and label of a z-row.
    #[inline]
    pub fn classify(&self, z: &[f64; N_FEATURES]) -> (usize, Label) {
        let c = self.assign(z);
        (c, self.labels[c])
    }

    /// Share of the counted rows in each cluster (0 when none were counted).
    pub fn shares(&self) -> Vec<f64> {
        let total = self.counts.iter().sum::<u64>();
        self.counts.iter().map(|&n| if total == 0 { 0.0 } else { n as f64 / total as f64 }).collect()
    }

    /// Every inconsistency of the model, one line each (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.version != MODEL_VERSION {
            p.push(format!("version {} (this build reads version {MODEL_VERSION})", self.version));
        }
        if self.features != FEATURES {
            p.push(format!("features {:?}, expected {:?}", self.features, FEATURES));
        }
        if self.k == 0 || self.centroids.len() != self.k {
            p.push(format!("k = {} but {} centroids", self.k, self.centroids.len()));
        }
        for (what, len) in [("labels", self.labels.len()), ("counts", self.counts.len()), ("means", self.means.len())] {
            if len != self.centroids.len() {
                p.push(format!("{len} {what} for {} centroids", self.centroids.len()));
            }
        }
        if self.centroids.iter().flatten().chain(self.means.iter().flatten()).any(|v| !v.is_finite()) {
            p.push("a centroid or mean is not finite".into());
        }
        if !self.inertia.is_finite() || self.inertia < 0.0 {
            p.push(format!("inertia {} is not a finite value ≥ 0", self.inertia));
        }
        if !(self.signals.min_gap >= 0.0 && self.signals.min_gap.is_finite()) {
            p.push(format!("signals.min_gap {} is not a finite value ≥ 0", self.signals.min_gap));
        }
        if self.levels == 0 || self.window == 0 {
            p.push(format!("levels {} and window {} must be ≥ 1", self.levels, self.window));
        }
        for (label, sig) in [(Label::Opportunistic, self.signals.opportunistic), (Label::Toxic, self.signals.toxic)] {
            let holders: Vec<usize> = (0..self.labels.len()).filter(|&c| self.labels[c] == label).collect();
            if holders != sig.into_iter().collect::<Vec<_>>() {
                p.push(format!("signals.{label} = {sig:?} but clusters {holders:?} are labelled {label}"));
            }
        }
        p
    }

    /// Reads and validates a model file.
    ///
    /// # Errors
    ///
    /// [`ModelError`] naming the file (and the line and column of a JSON error).
    pub fn load(path: impl AsRef<Path>) -> std::result::Result<Model, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read { path: path.into(), source })?;
        let model: Model = serde_json::from_str(&text).map_err(|e| ModelError::Parse {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            msg: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
        })?;
        let problems = model.problems();
        if !problems.is_empty() {
            return Err(ModelError::Invalid { path: path.into(), detail: problems.join("; ") });
        }
        Ok(model)
    }

    /// Writes the model as pretty JSON, atomically (a temporary file renamed into place).
    ///
    /// # Errors
    ///
    /// [`ModelError::Write`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> std::result::Result<(), ModelError> {
        let mut json = serde_json::to_string_pretty(self).expect("a model serialises");
        json.push('\n');
        let mut f = ticktape_tape::AtomicFile::create(path)?;
        f.write_all(json.as_bytes())?;
        f.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three blobs: opportunistic (sbs ≫ obs), toxic (obs ≫ sbs), passive (t_m high).
    fn planted(n_per: usize) -> (Vec<f64>, Vec<[f64; 6]>) {
        let centres =
            [[0.0, 1.5, -1.3, 0.0, -0.6, 0.0], [0.0, -0.8, 0.9, 0.0, -0.9, 0.0], [0.0, 0.0, -0.1, 0.0, 1.7, 0.0]];
        let mut x = Vec::new();
        let mut s = 1u64;
        for i in 0..3 * n_per {
            let c = &centres[i % 3];
            for v in c {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                x.push(v + 0.2 * u);
            }
        }
        (x, centres.to_vec())
    }

    #[test]
    fn planted_clusters_are_recovered_and_labelled() {
        let (x, centres) = planted(200);
        let m = Model::fit(&x, &FitOptions::default(), 5, 100).unwrap();
        assert_eq!(m.labels, [Label::Opportunistic, Label::Passive, Label::Toxic]);
        assert_eq!(m.counts, [200, 200, 200]);
        // Canonical order: descending sbs − obs: centre 0 (2.8), centre 2 (0.1), centre 1 (−1.7).
        for (got, want) in m.centroids.iter().zip([centres[0], centres[2], centres[1]]) {
            assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 0.05), "{got:?} vs {want:?}");
        }
        assert_eq!(m.signals.opportunistic, Some(0));
        assert_eq!(m.signals.toxic, Some(2));
        assert!(m.problems().is_empty(), "{:?}", m.problems());
    }

    #[test]
    fn labels_do_not_depend_on_the_order_clusters_come_back_in() {
        let (x, _) = planted(100);
        let m = Model::fit(&x, &FitOptions::default(), 5, 100).unwrap();
        for perm in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            let mut p = m.clone();
            p.centroids = perm.iter().map(|&i| m.centroids[i]).collect();
            p.counts = perm.iter().map(|&i| m.counts[i]).collect();
            p.means = perm.iter().map(|&i| m.means[i]).collect();
            p.align();
            assert_eq!(p, m, "permutation {perm:?}");
        }
        // And other seeds (other return orders from k-means) give the same model up to the seed.
        for seed in 1..6 {
            let o = FitOptions { seed, ..FitOptions::default() };
            let s = Model::fit(&x, &o, 5, 100).unwrap();
            assert_eq!(s.labels, m.labels);
            assert_eq!(s.counts, m.counts);
        }
    }

    #[test]
    fn no_cluster_meets_a_rule_when_imbalance_is_small() {
        // Clusters differ only by t_m: every score is ~0, below the margin.
        let mut x = Vec::new();
        for i in 0..300 {
            x.extend_from_slice(&[0.0, 0.01 * (i % 5) as f64, 0.0, 0.0, (i % 3) as f64 * 2.0, 0.0]);
        }
        let m = Model::fit(&x, &FitOptions::default(), 5, 100).unwrap();
        assert_eq!(m.signals.opportunistic, None);
        assert_eq!(m.signals.toxic, None);
        assert!(m.labels.iter().all(|&l| l == Label::Passive));
        // With a zero margin the small positive score of some cluster qualifies, the toxic rule not.
        let m = Model::fit(&x, &FitOptions { min_gap: 0.0, ..FitOptions::default() }, 5, 100).unwrap();
        assert!(m.signals.opportunistic.is_some());
        assert_eq!(m.signals.toxic, None);
    }

    #[test]
    fn k1_is_at_most_one_signal() {
        let x: Vec<f64> = (0..60).flat_map(|i| [0.0, 1.0 + (i % 2) as f64, -1.0, 0.0, 0.0, 0.0]).collect();
        let m = Model::fit(&x, &FitOptions { k: 1, ..FitOptions::default() }, 5, 100).unwrap();
        assert_eq!(m.labels, [Label::Opportunistic]);
        assert_eq!(m.signals.toxic, None);
    }

    #[test]
    fn save_load_round_trip_and_errors() {
        let (x, _) = planted(50);
        let m = Model::fit(&x, &FitOptions::default(), 5, 100).unwrap();
        let dir = std::env::temp_dir().join(format!("ticktape-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("model.json");
        m.save(&p).unwrap();
        let back = Model::load(&p).unwrap();
        // serde_json parses floats to within an ulp or so (no `float_roundtrip`); every reader of the
        // file (the research verbs, the plugin) sees the same parsed values.
        let close = |a: &[[f64; 6]], b: &[[f64; 6]]| {
            a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() <= 1e-15 * x.abs().max(1.0))
        };
        assert!(close(&back.centroids, &m.centroids) && close(&back.means, &m.means));
        assert_eq!((&back.labels, &back.counts, back.signals), (&m.labels, &m.counts, m.signals));
        assert_eq!(Model::load(&p).unwrap(), back, "loading is deterministic");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"opportunistic\": 0") && text.contains("\"version\": 1"), "{text}");
        std::fs::write(&p, "{\n  \"version\": 1,\n  oops").unwrap();
        let e = Model::load(&p).unwrap_err().to_string();
        assert!(e.contains("line 3, column 3"), "{e}");
        let mut bad = m.clone();
        bad.labels[1] = Label::Toxic;
        bad.version = 2;
        std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        let e = Model::load(&p).unwrap_err().to_string();
        assert!(e.contains("version 2") && e.contains("signals.toxic"), "{e}");
        assert!(!e.contains('\n'));
        assert!(Model::load(dir.join("missing.json")).unwrap_err().to_string().contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tally_over_chunks_matches_one_pass() {
        let (x, _) = planted(100);
        let m = Model::fit(&x, &FitOptions::default(), 5, 100).unwrap();
        let mut t = Tally::new(&m);
        for chunk in x.chunks(6 * 37) {
            t.add(&m, chunk).unwrap();
        }
        let mut m2 = m.clone();
        m2.set_tally(t);
        assert_eq!(m2.counts, m.counts);
        assert!((m2.inertia - m.inertia).abs() <= 1e-9 * m.inertia);
        assert_eq!(m.assign(&m.centroids[2]), 2);
        assert_eq!(m.label_of(2), Some(Label::Toxic));
        assert_eq!(m.label_of(3), None);
    }
}
