//! k-means++ with restarts and Lloyd iterations; the elbow table and the silhouette score.
//!
//! One implementation for the ClusterLOB order clustering and the trader-style clustering.
//!
//! - Seeding is k-means++ with `2 + ⌊ln k⌋` local trials per centre (scikit-learn's greedy variant).
//! - Lloyd iterations stop when the labels no longer change, or when the summed squared shift of the
//!   centres is at most `tol · mean feature variance` (scikit-learn's rule, `tol = 1e-4`), or after
//!   `max_iter` (300) iterations.
//! - `n_init` (10) seeded restarts; the lowest inertia wins (the first such on ties).
//! - Inertia is the sum of squared Euclidean distances of the points to their centres.
//!
//! An empty cluster is refilled with the point farthest from its centre.

use crate::rng::Rng;
use crate::{Error, Result, check_matrix};

/// Options of [`kmeans`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// Number of clusters (≥ 1).
    pub k: usize,
    /// Restarts; the lowest inertia wins.
    pub n_init: usize,
    /// Lloyd iteration cap per restart.
    pub max_iter: usize,
    /// Tolerance, relative to the mean feature variance.
    pub tol: f64,
    /// Seed of the restarts (restart `i` uses a stream derived from it).
    pub seed: u64,
}

impl Default for KMeans {
    fn default() -> Self {
        KMeans { k: 8, n_init: 10, max_iter: 300, tol: 1e-4, seed: 0 }
    }
}

/// A clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// Centres, row-major `k × d`.
    pub centers: Vec<f64>,
    /// Cluster of each point.
    pub labels: Vec<usize>,
    /// Sum of squared distances to the assigned centres.
    pub inertia: f64,
    /// Lloyd iterations of the winning restart.
    pub n_iter: usize,
}

#[inline]
fn d2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum()
}

fn plusplus(x: &[f64], n: usize, d: usize, k: usize, rng: &mut Rng) -> Vec<f64> {
    let mut centers = Vec::with_capacity(k * d);
    let first = rng.below(n);
    centers.extend_from_slice(&x[first * d..(first + 1) * d]);
    let mut closest: Vec<f64> = (0..n).map(|i| d2(&x[i * d..(i + 1) * d], &centers[..d])).collect();
    let trials = 2 + (k as f64).ln() as usize;
    let mut cand_d = vec![0.0; n];
    let mut best_d = vec![0.0; n];
    for _ in 1..k {
        let pot: f64 = closest.iter().sum();
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let target = rng.uniform() * pot;
            let mut acc = 0.0;
            let mut c = n - 1;
            for (i, v) in closest.iter().enumerate() {
                acc += v;
                if acc > target {
                    c = i;
                    break;
                }
            }
            let cand = &x[c * d..(c + 1) * d];
            let mut p = 0.0;
            for i in 0..n {
                cand_d[i] = closest[i].min(d2(&x[i * d..(i + 1) * d], cand));
                p += cand_d[i];
            }
            if best.is_none_or(|(bp, _)| p < bp) {
                best = Some((p, c));
                best_d.copy_from_slice(&cand_d);
            }
        }
        let (_, c) = best.expect("at least two trials");
        centers.extend_from_slice(&x[c * d..(c + 1) * d]);
        closest.copy_from_slice(&best_d);
    }
    centers
}

fn assign(x: &[f64], d: usize, centers: &[f64], labels: &mut [usize], dist: &mut [f64]) -> bool {
    let mut changed = false;
    for (i, row) in x.chunks_exact(d).enumerate() {
        let mut best = (f64::INFINITY, 0);
        for (c, ctr) in centers.chunks_exact(d).enumerate() {
            let v = d2(row, ctr);
            if v < best.0 {
                best = (v, c);
            }
        }
        changed |= labels[i] != best.1;
        labels[i] = best.1;
        dist[i] = best.0;
    }
    changed
}

fn lloyd(x: &[f64], n: usize, d: usize, k: usize, mut centers: Vec<f64>, o: &KMeans, tol: f64) -> Clustering {
    let mut labels = vec![usize::MAX; n];
    let mut dist = vec![0.0; n];
    let mut sums = vec![0.0; k * d];
    let mut counts = vec![0usize; k];
    let mut n_iter = 0;
    for it in 0..o.max_iter {
        n_iter = it + 1;
        let changed = assign(x, d, &centers, &mut labels, &mut dist);
        if !changed {
            break;
        }
        sums.iter_mut().for_each(|v| *v = 0.0);
        counts.iter_mut().for_each(|v| *v = 0);
        for (i, row) in x.chunks_exact(d).enumerate() {
            counts[labels[i]] += 1;
            sums[labels[i] * d..(labels[i] + 1) * d].iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        let mut shift = 0.0;
        for c in 0..k {
            let new: Vec<f64> = if counts[c] == 0 {
                let far = (0..n).fold(0, |b, i| if dist[i] > dist[b] { i } else { b });
                dist[far] = 0.0;
                x[far * d..(far + 1) * d].to_vec()
            } else {
                sums[c * d..(c + 1) * d].iter().map(|s| s / counts[c] as f64).collect()
            };
            shift += d2(&new, &centers[c * d..(c + 1) * d]);
            centers[c * d..(c + 1) * d].copy_from_slice(&new);
        }
        if shift <= tol {
            assign(x, d, &centers, &mut labels, &mut dist);
            break;
        }
    }
    let inertia = dist.iter().sum();
    Clustering { centers, labels, inertia, n_iter }
}

fn mean_variance(x: &[f64], n: usize, d: usize) -> f64 {
    let mut total = 0.0;
    for j in 0..d {
        let m = (0..n).map(|i| x[i * d + j]).sum::<f64>() / n as f64;
        total += (0..n).map(|i| (x[i * d + j] - m).powi(2)).sum::<f64>() / n as f64;
    }
    total / d as f64
}

/// Clusters the `n × d` row-major points `x` into `o.k` clusters.
pub fn kmeans(x: &[f64], d: usize, o: &KMeans) -> Result<Clustering> {
    let n = check_matrix("points", x, d)?;
    if o.k == 0 || o.n_init == 0 || o.max_iter == 0 {
        return Err(Error::Option { name: "k/n_init/max_iter", detail: "must all be ≥ 1".into() });
    }
    if n < o.k {
        return Err(Error::TooFewRows { what: "k-means", need: o.k, got: n });
    }
    let tol = o.tol * mean_variance(x, n, d);
    let mut best: Option<Clustering> = None;
    for r in 0..o.n_init {
        let mut rng = Rng::new(o.seed ^ (r as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        let init = plusplus(x, n, d, o.k, &mut rng);
        let c = lloyd(x, n, d, o.k, init, o, tol);
        if best.as_ref().is_none_or(|b| c.inertia < b.inertia) {
            best = Some(c);
        }
    }
    Ok(best.expect("n_init ≥ 1"))
}

/// The elbow table: the best inertia for each k in `1..=k_max` (other options from `o`).
pub fn elbow(x: &[f64], d: usize, k_max: usize, o: &KMeans) -> Result<Vec<(usize, f64)>> {
    (1..=k_max).map(|k| Ok((k, kmeans(x, d, &KMeans { k, ..o.clone() })?.inertia))).collect()
}

/// Mean silhouette coefficient (Euclidean), as scikit-learn's `silhouette_score`: per point
/// `(b − a)/max(a, b)` with `a` the mean distance to the other points of its cluster and `b` the
/// lowest mean distance to another cluster's points; 0 for points alone in their cluster.
/// Needs 2 ≤ number of labels ≤ n − 1. O(n²).
pub fn silhouette(x: &[f64], d: usize, labels: &[usize]) -> Result<f64> {
    let n = check_matrix("points", x, d)?;
    if labels.len() != n {
        return Err(Error::Shape { what: "labels", detail: format!("{} points, {} labels", n, labels.len()) });
    }
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; k];
    labels.iter().for_each(|&l| counts[l] += 1);
    let used = counts.iter().filter(|&&c| c > 0).count();
    if used < 2 || used > n - 1 {
        return Err(Error::Option { name: "labels", detail: format!("need 2..=n-1 clusters, got {used}") });
    }
    let mut sums = vec![0.0; k];
    let mut total = 0.0;
    for i in 0..n {
        sums.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..n {
            sums[labels[j]] += d2(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]).sqrt();
        }
        let own = labels[i];
        if counts[own] <= 1 {
            continue;
        }
        let a = sums[own] / (counts[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        total += (b - a) / a.max(b);
    }
    Ok(total / n as f64)
}
