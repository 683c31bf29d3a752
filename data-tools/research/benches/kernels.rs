//! Criterion benches of the research kernels: one RBSA fit (365 days × 10 benchmarks, 100-α path,
//! 5-fold time-series CV) and k-means on 1 M × 6 points (one restart, a fixed 10 Lloyd iterations).

use criterion::{Criterion, criterion_group, criterion_main};
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

fn rbsa(c: &mut Criterion) {
    let mut s = 1;
    let (n, p) = (365, 10);
    let x: Vec<f64> = data(n * p, &mut s).iter().map(|v| v * 0.08).collect();
    let noise = data(n, &mut s);
    let y: Vec<f64> =
        (0..n).map(|i| 0.5 * x[i * p] - 0.2 * x[i * p + 3] + 0.1 * x[i * p + 7] + 0.01 * noise[i]).collect();
    c.bench_function("rbsa_fit_365x10_path100_cv5", |b| {
        b.iter(|| {
            enet::cross_validate(black_box(&x), p, &y, &enet::ElasticNet::lasso(0.0), &enet::Grid::default(), 5)
                .unwrap()
        })
    });
}

fn kmeans_1m(c: &mut Criterion) {
    let mut s = 2;
    let x = data(1_000_000 * 6, &mut s);
    let o = kmeans::KMeans { k: 8, n_init: 1, max_iter: 10, tol: 0.0, seed: 1 };
    let mut g = c.benchmark_group("kmeans");
    g.sample_size(10);
    g.bench_function("kmeans_1Mx6_k8_10iters", |b| b.iter(|| kmeans::kmeans(black_box(&x), 6, &o).unwrap()));
    g.finish();
}

/// The k-means part of `ticktape research styles` at its target size: 100,000 accounts × 3
/// standardised features, the elbow table k = 1..10 with 10 restarts each (single thread; the
/// command spreads the k values over the cores).
fn styles_elbow(c: &mut Criterion) {
    let mut s = 3;
    let n = 100_000;
    let u = data(n * 3, &mut s);
    // Three blobs, as trading styles are.
    let x: Vec<f64> = (0..n * 3).map(|i| u[i] + [-2.0, 0.0, 2.0][(i / 3) % 3]).collect();
    let o = kmeans::KMeans { k: 1, ..kmeans::KMeans::default() };
    let mut g = c.benchmark_group("styles");
    g.sample_size(10);
    g.bench_function("styles_elbow_100kx3_k1to10_ninit10", |b| {
        b.iter(|| kmeans::elbow(black_box(&x), 3, 10, &o).unwrap())
    });
    g.finish();
}

criterion_group!(benches, rbsa, kmeans_1m, styles_elbow);
criterion_main!(benches);
