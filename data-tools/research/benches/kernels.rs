//! Criterion benches of the research kernels: one RBSA fit (365 days × 10 benchmarks, 100-α path,
//! 5-fold time-series CV), k-means on 1 M × 6 points (one restart, a fixed 10 Lloyd iterations), the
//! ClusterLOB features (1 M trades, each after 10 book changes) and the ClusterLOB model fit (100 k
//! z-rows, the `train` defaults).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use ticktape_research::clusterlob::{BookTop, Features, FitOptions, Model, TradeInput};
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

/// 1 M trades, each preceded by 10 book changes (the seed's ratio), through one `Features`.
fn clusterlob_features(c: &mut Criterion) {
    let mut s = 3;
    let n = 1_000_000;
    let u = data(n * 4, &mut s);
    let mut g = c.benchmark_group("clusterlob");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(n as u64));
    g.bench_function("clusterlob_features_1M_trades_10M_book_changes", |b| {
        b.iter(|| {
            let mut f = Features::new(5, 100).unwrap();
            let mut acc = 0.0;
            let mut ts = 1_714_521_600_000_000_000i64;
            for i in 0..n {
                let mid = 60_000.0 + (u[4 * i] * 20.0).round() * 0.1;
                for _ in 0..10 {
                    ts += 25_000;
                    f.on_book(ts, mid - 0.05, mid + 0.05);
                }
                let book = BookTop {
                    bid: mid - 0.05,
                    ask: mid + 0.05,
                    spread: 0.1,
                    bid_depth: 5.0 + u[4 * i + 1],
                    ask_depth: 5.0 + u[4 * i + 2],
                };
                let side = if u[4 * i + 3] > 0.0 { 1 } else { 2 };
                let t = TradeInput { ts, side, price: mid, qty: 0.01 + u[4 * i + 3].abs() };
                if let Some(r) = f.on_trade(black_box(&t), black_box(&book)) {
                    acc += r.z[1];
                }
            }
            acc
        })
    });
    g.finish();
}

/// The `train` defaults (k = 3, 10 restarts) on 100 k z-rows of three overlapping blobs.
fn clusterlob_fit(c: &mut Criterion) {
    let mut s = 4;
    let n = 100_000;
    let noise = data(n * 6, &mut s);
    let centres =
        [[0.0, 1.35, -1.25, 0.0, -0.6, 0.0], [0.0, -0.75, 0.81, 0.0, -0.89, 0.0], [0.0, 0.0, -0.12, 0.0, 1.66, 0.0]];
    let z: Vec<f64> = (0..n)
        .flat_map(|i| (0..6).map(move |j| (i, j)))
        .map(|(i, j)| centres[i % 3][j] + 2.0 * noise[i * 6 + j])
        .collect();
    let mut g = c.benchmark_group("clusterlob");
    g.sample_size(10);
    g.bench_function("clusterlob_fit_100kx6_k3_10restarts", |b| {
        b.iter(|| Model::fit(black_box(&z), &FitOptions::default(), 5, 100).unwrap())
    });
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

criterion_group!(benches, rbsa, kmeans_1m, styles_elbow, clusterlob_features, clusterlob_fit);
criterion_main!(benches);
