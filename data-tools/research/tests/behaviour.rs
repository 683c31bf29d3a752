//! Behaviour of the kernels that needs no reference values.

use ticktape_research::{enet, kmeans, stats};

fn lcg(seed: &mut u64) -> f64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
}

#[test]
fn kmeans_recovers_planted_clusters_on_separable_data() {
    let mut s = 1;
    let centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
    let mut x = Vec::new();
    for i in 0..400 {
        let c = centres[i % 4];
        x.extend([c[0] + lcg(&mut s), c[1] + lcg(&mut s)]);
    }
    let c = kmeans::kmeans(&x, 2, &kmeans::KMeans { k: 4, seed: 3, ..Default::default() }).unwrap();
    for i in 0..400 {
        assert_eq!(c.labels[i], c.labels[i % 4], "point {i} not with its planted cluster");
    }
    let distinct: std::collections::BTreeSet<_> = c.labels[..4].iter().collect();
    assert_eq!(distinct.len(), 4);
    let sil = kmeans::silhouette(&x, 2, &c.labels).unwrap();
    assert!(sil > 0.9, "silhouette {sil}");
}

#[test]
fn kmeans_is_deterministic_for_a_seed() {
    let mut s = 9;
    let x: Vec<f64> = (0..3000).map(|_| lcg(&mut s)).collect();
    let o = kmeans::KMeans { k: 5, seed: 42, ..Default::default() };
    assert_eq!(kmeans::kmeans(&x, 3, &o).unwrap(), kmeans::kmeans(&x, 3, &o).unwrap());
}

#[test]
fn elbow_inertia_does_not_increase_with_k() {
    let mut s = 5;
    let x: Vec<f64> = (0..600).map(|_| lcg(&mut s)).collect();
    let e = kmeans::elbow(&x, 2, 6, &kmeans::KMeans::default()).unwrap();
    assert_eq!(e.len(), 6);
    assert!(e.windows(2).all(|w| w[1].1 <= w[0].1 * (1.0 + 1e-12)), "{e:?}");
}

#[test]
fn time_series_folds_match_sklearn_timeseriessplit() {
    // sklearn: TimeSeriesSplit(3) on 10 samples -> train [0..4),[0..6),[0..8); test [4..6),[6..8),[8..10)
    let f = enet::time_series_folds(10, 3).unwrap();
    assert_eq!(f, vec![(0..4, 4..6), (0..6, 6..8), (0..8, 8..10)]);
    assert!(enet::time_series_folds(3, 3).is_err());
}

#[test]
fn cross_validation_picks_a_small_alpha_for_a_clean_signal_and_recovers_exposures() {
    let mut s = 11;
    let (n, p) = (365, 10);
    let x: Vec<f64> = (0..n * p).map(|_| lcg(&mut s) * 0.08).collect();
    let y: Vec<f64> = (0..n).map(|i| 0.6 * x[i * p] - 0.3 * x[i * p + 4] + 0.001 * lcg(&mut s)).collect();
    let cv = enet::cross_validate(&x, p, &y, &enet::ElasticNet::lasso(0.0), &enet::Grid::default(), 5).unwrap();
    assert_eq!(cv.alphas.len(), 100);
    assert!(cv.alphas.windows(2).all(|w| w[1] < w[0]));
    assert!((cv.best.coef[0] - 0.6).abs() < 0.01 && (cv.best.coef[4] + 0.3).abs() < 0.01, "{:?}", cv.best.coef);
    for j in [1, 2, 3, 5, 6, 7, 8, 9] {
        assert!(cv.best.coef[j].abs() < 0.01, "coef {j} = {}", cv.best.coef[j]);
    }
}

#[test]
fn path_starts_at_all_zero_coefficients() {
    let mut s = 2;
    let x: Vec<f64> = (0..200).map(|_| lcg(&mut s)).collect();
    let y: Vec<f64> = (0..50).map(|i| x[i * 4] + lcg(&mut s)).collect();
    let path = enet::path(&x, 4, &y, &enet::ElasticNet::lasso(0.0), &enet::Grid { n_alphas: 20, eps: 1e-3 }).unwrap();
    assert!(path[0].coef.iter().all(|c| c.abs() < 1e-12), "{:?}", path[0].coef);
    assert!(path[19].coef.iter().any(|c| *c != 0.0));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert!(enet::fit(&[1.0, 2.0, 3.0], 2, &[1.0], &enet::ElasticNet::default()).is_err());
    assert!(enet::fit(&[1.0, f64::NAN], 1, &[1.0, 2.0], &enet::ElasticNet::default()).is_err());
    assert!(kmeans::kmeans(&[1.0, 2.0], 1, &kmeans::KMeans { k: 3, ..Default::default() }).is_err());
    assert!(stats::mean(&[]).is_err());
    assert!(stats::mann_whitney_u(&[], &[1.0]).is_err());
}

#[test]
fn bootstrap_interval_is_seeded_and_covers_the_estimate() {
    let a: Vec<f64> = (0..50).map(|i| i as f64 * 0.1 + 1.0).collect();
    let b: Vec<f64> = (0..40).map(|i| i as f64 * 0.1).collect();
    let i1 = stats::bootstrap_mean_diff(&a, &b, 2000, 0.95, 7).unwrap();
    assert_eq!(i1, stats::bootstrap_mean_diff(&a, &b, 2000, 0.95, 7).unwrap());
    assert!(i1.lo < i1.estimate && i1.estimate < i1.hi, "{i1:?}");
    assert_ne!(i1, stats::bootstrap_mean_diff(&a, &b, 2000, 0.95, 8).unwrap());
}

#[test]
fn spearman_averages_tied_ranks_and_quantile_is_numpy_linear() {
    assert_eq!(stats::rank_average(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    // scipy.stats.spearmanr([1,2,2,3],[1,3,2,4]).statistic == 0.9486832980505138
    let r = stats::spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
    assert!((r - 0.9486832980505138).abs() < 1e-12, "{r}");
    // numpy.quantile([1,2,3,4], 0.1) == 1.3
    assert!((stats::quantile(&[4.0, 1.0, 3.0, 2.0], 0.1).unwrap() - 1.3).abs() < 1e-12);
    assert!((stats::std(&[1.0, 2.0, 3.0, 4.0], 1).unwrap() - 1.2909944487358056).abs() < 1e-12);
}
