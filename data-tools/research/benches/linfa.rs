//! This crate's kernels against linfa (`linfa-elasticnet`, `linfa-clustering` 0.8.1, pure Rust,
//! no BLAS), on the shapes of the issues: fidelity first (printed once: coefficients against the
//! committed scikit-learn references, k-means inertia), then speed (criterion).
//!
//! - **Elastic net fidelity**: the 24 reference fits without standardisation (linfa has none), at
//!   `tol = 1e-12`: the largest |coefficient − scikit-learn| and |intercept − scikit-learn|, for
//!   linfa as it is and for linfa on X centred by the caller (linfa centres y, not X).
//! - **RBSA speed**: one account, 365 days × 10 benchmarks, the 100-α Lasso path with 5 expanding
//!   time-series folds and the refit (what `research rbsa --cv 5` does per account). linfa has no
//!   path or warm start: each of the 5 × 100 fold fits and the refit is a fit from zero (on
//!   X centred per fold, so its coefficients are the right ones). Also one fit at one α.
//! - **k-means**: 100,000 × 3 and × 6 points (five blobs), k = 5, 10 k-means++ restarts, tolerance
//!   1e-4, up to 300 iterations (both crates' defaults); inertia recomputed here from each crate's
//!   centres. linfa assigns points on rayon threads (all cores unless `RAYON_NUM_THREADS=1`); ours
//!   is single-threaded.
//!
//! `cargo bench -p ticktape-research --bench linfa` (add `RAYON_NUM_THREADS=1` for one core).

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::prelude::*;
use ndarray::{Array1, Array2};
use serde_json::Value;
use std::hint::black_box;
use ticktape_research::{enet, kmeans};

fn data(len: usize, seed: &mut u64) -> Vec<f64> {
    (0..len)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Rows `rows` of the row-major `x` (p columns), centred column by column when `centre`; and the means.
fn design(x: &[f64], p: usize, rows: std::ops::Range<usize>, centre: bool) -> (Array2<f64>, Vec<f64>) {
    let n = rows.len();
    let mut means = vec![0.0; p];
    if centre {
        for i in rows.clone() {
            for j in 0..p {
                means[j] += x[i * p + j] / n as f64;
            }
        }
    }
    let a = Array2::from_shape_fn((n, p), |(i, j)| x[(rows.start + i) * p + j] - means[j]);
    (a, means)
}

#[expect(clippy::too_many_arguments, reason = "a bench helper")]
/// linfa's fit of `y[rows]` on `x[rows]`; with `centre`, on centred X, the intercept put back.
fn linfa_fit(
    x: &[f64],
    p: usize,
    y: &[f64],
    rows: std::ops::Range<usize>,
    alpha: f64,
    l1_ratio: f64,
    tol: f64,
    centre: bool,
) -> (Vec<f64>, f64) {
    let (a, means) = design(x, p, rows.clone(), centre);
    let ds = Dataset::new(a, Array1::from(y[rows].to_vec()));
    let m = linfa_elasticnet::ElasticNet::params()
        .penalty(alpha)
        .l1_ratio(l1_ratio)
        .tolerance(tol)
        .max_iterations(1_000_000)
        .fit(&ds)
        .expect("linfa fit");
    let coef = m.hyperplane().to_vec();
    let icpt = m.intercept() - coef.iter().zip(&means).map(|(c, m)| c * m).sum::<f64>();
    (coef, icpt)
}

fn fidelity() {
    let r: Value = serde_json::from_str(include_str!("../tests/reference/reference.json")).unwrap();
    let cases = &r["enet_cases"];
    let (mut ours, mut raw, mut centred) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
    let mut n = 0;
    for f in r["enet"].as_array().unwrap() {
        if f["standardize"].as_bool().unwrap() {
            continue;
        }
        let case = &cases[f["case"].as_str().unwrap()];
        let (x, y, p) = (floats(&case["x"]), floats(&case["y"]), case["p"].as_u64().unwrap() as usize);
        let (alpha, l1) = (f["alpha"].as_f64().unwrap(), f["l1_ratio"].as_f64().unwrap());
        let (want, icpt) = (floats(&f["coef"]), f["intercept"].as_f64().unwrap());
        let err = |c: &[f64], i: f64, acc: &mut [f64; 2]| {
            acc[0] = c.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(acc[0], f64::max);
            acc[1] = acc[1].max((i - icpt).abs());
        };
        let o = enet::ElasticNet { alpha, l1_ratio: l1, standardize: false, tol: 1e-12, max_iter: 1_000_000 };
        let fit = enet::fit(&x, p, &y, &o).unwrap();
        err(&fit.coef, fit.intercept, &mut ours);
        let (c, i) = linfa_fit(&x, p, &y, 0..y.len(), alpha, l1, 1e-12, false);
        err(&c, i, &mut raw);
        let (c, i) = linfa_fit(&x, p, &y, 0..y.len(), alpha, l1, 1e-12, true);
        err(&c, i, &mut centred);
        n += 1;
    }
    println!(
        "fidelity: {n} scikit-learn reference fits (standardize = false, tol = 1e-12), max |coef diff|, max |intercept diff|:"
    );
    println!("  ticktape-research enet     {:.2e}  {:.2e}", ours[0], ours[1]);
    println!("  linfa-elasticnet as is     {:.2e}  {:.2e}", raw[0], raw[1]);
    println!("  linfa-elasticnet, X centred by the caller  {:.2e}  {:.2e}", centred[0], centred[1]);

    for d in [3, 6] {
        let (x, _) = blobs(100_000, d);
        let o = kmeans::KMeans { k: 5, seed: 1, ..Default::default() };
        let t0 = std::time::Instant::now();
        let c = kmeans::kmeans(&x, d, &o).unwrap();
        let t_ours = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        let centres = linfa_kmeans(&x, d, 5);
        let t_linfa = t0.elapsed().as_secs_f64();
        let li = inertia(&x, d, &centres);
        let oi = inertia(&x, d, &c.centers);
        println!(
            "k-means 100k × {d}, k = 5, 10 restarts: inertia ours {oi:.6e} ({:.3} s), linfa {li:.6e} ({:.3} s), linfa/ours {:.6}",
            t_ours,
            t_linfa,
            li / oi
        );
    }
}

/// `n` points in five Gaussian-ish blobs of dimension `d` (sums of uniforms), seeded.
fn blobs(n: usize, d: usize) -> (Vec<f64>, Vec<usize>) {
    let mut s = 7;
    let u = data(n * d * 3 + n, &mut s);
    let mut x = Vec::with_capacity(n * d);
    let mut lab = Vec::with_capacity(n);
    for i in 0..n {
        let c = ((u[n * d * 3 + i] + 0.5) * 5.0) as usize % 5;
        lab.push(c);
        for j in 0..d {
            let centre = ((c * 7 + j * 3) % 5) as f64 * 2.0;
            let noise = u[(i * d + j) * 3] + u[(i * d + j) * 3 + 1] + u[(i * d + j) * 3 + 2];
            x.push(centre + noise);
        }
    }
    (x, lab)
}

fn inertia(x: &[f64], d: usize, centres: &[f64]) -> f64 {
    x.chunks(d)
        .map(|p| {
            centres
                .chunks(d)
                .map(|c| p.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
                .fold(f64::INFINITY, f64::min)
        })
        .sum()
}

/// linfa's k-means (k-means++, 10 runs, tolerance 1e-4, 300 iterations: its defaults); the centres, row-major.
fn linfa_kmeans(x: &[f64], d: usize, k: usize) -> Vec<f64> {
    let a = Array2::from_shape_vec((x.len() / d, d), x.to_vec()).unwrap();
    let ds = DatasetBase::from(a);
    let m = linfa_clustering::KMeans::params(k)
        .n_runs(10)
        .tolerance(1e-4)
        .max_n_iterations(300)
        .init_method(linfa_clustering::KMeansInit::KMeansPlusPlus)
        .fit(&ds)
        .expect("linfa k-means");
    m.centroids().iter().copied().collect()
}

fn rbsa_shape() -> (Vec<f64>, Vec<f64>, usize) {
    let mut s = 1;
    let (n, p) = (365, 10);
    let x: Vec<f64> = data(n * p, &mut s).iter().map(|v| v * 0.08).collect();
    let noise = data(n, &mut s);
    let y: Vec<f64> =
        (0..n).map(|i| 0.5 * x[i * p] - 0.2 * x[i * p + 3] + 0.1 * x[i * p + 7] + 0.01 * noise[i]).collect();
    (x, y, p)
}

fn bench(c: &mut Criterion) {
    fidelity();
    let (x, y, p) = rbsa_shape();
    let n = y.len();
    let opts = enet::ElasticNet { standardize: false, ..enet::ElasticNet::lasso(0.0) };
    let cv = enet::cross_validate(&x, p, &y, &opts, &enet::Grid::default(), 5).unwrap();
    let alphas = cv.alphas.clone();
    let folds = enet::time_series_folds(n, 5).unwrap();
    let mut g = c.benchmark_group("rbsa_365x10");
    g.sample_size(10);
    g.bench_function("ours_path100_cv5", |b| {
        b.iter(|| enet::cross_validate(black_box(&x), p, &y, &opts, &enet::Grid::default(), 5).unwrap())
    });
    g.bench_function("linfa_path100_cv5_cold_fits", |b| {
        b.iter(|| {
            let mut mse = vec![0.0; alphas.len()];
            for (train, test) in &folds {
                for (k, &a) in alphas.iter().enumerate() {
                    let (coef, icpt) = linfa_fit(&x, p, &y, train.clone(), a, 1.0, 1e-4, true);
                    let se: f64 = test
                        .clone()
                        .map(|i| {
                            let pred = icpt + (0..p).map(|j| coef[j] * x[i * p + j]).sum::<f64>();
                            (y[i] - pred).powi(2)
                        })
                        .sum();
                    mse[k] += se / test.len() as f64;
                }
            }
            let best = (0..mse.len()).fold(0, |b, k| if mse[k] < mse[b] { k } else { b });
            linfa_fit(&x, p, &y, 0..n, alphas[best], 1.0, 1e-4, true)
        })
    });
    let one = enet::ElasticNet { alpha: cv.best.alpha, ..opts.clone() };
    g.bench_function("ours_one_fit", |b| b.iter(|| enet::fit(black_box(&x), p, &y, &one).unwrap()));
    g.bench_function("linfa_one_fit", |b| {
        b.iter(|| linfa_fit(black_box(&x), p, &y, 0..n, cv.best.alpha, 1.0, 1e-4, true))
    });
    g.finish();

    let mut g = c.benchmark_group("kmeans_100k_k5_ninit10");
    g.sample_size(10);
    for d in [3, 6] {
        let (x, _) = blobs(100_000, d);
        let o = kmeans::KMeans { k: 5, seed: 1, ..Default::default() };
        g.bench_function(format!("ours_d{d}"), |b| b.iter(|| kmeans::kmeans(black_box(&x), d, &o).unwrap()));
        g.bench_function(format!("linfa_d{d}"), |b| b.iter(|| linfa_kmeans(black_box(&x), d, 5)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
