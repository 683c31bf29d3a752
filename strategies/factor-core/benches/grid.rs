//! Criterion benches of the factor kernels: the grid search (1,000
//! combinations on one symbol of 1 year of hourly bars, one thread) and the
//! streaming ensemble (3 parameter sets, per bar).

use std::hint::black_box;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, criterion_group, criterion_main};
use ticktape_factors::grid::{self, GridSpec, PairInput};
use ticktape_factors::signal::{Direction, Ensemble, Model, ParamSet, Params};

fn spec() -> GridSpec {
    GridSpec {
        shorts: vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 36],
        longs: vec![48, 72, 96, 120, 168, 240, 336, 480, 720, 1000],
        thresholds: vec![0.5, 1.0, 1.5, 2.0],
        rank_thresholds: vec![0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45],
        models: vec![Model::B, Model::R],
        directions: vec![Direction::M, Direction::R],
        log: false,
        allow_short: false,
        cost_bps: 7.0,
        subperiods: 4,
        bars_per_year: 8766.0,
    }
}

fn grid_bench(c: &mut Criterion) {
    let d = &ticktape_factors::synth::generate(1, 8766, 0.006, 42)[0];
    let returns: Vec<f64> =
        (0..d.closes.len()).map(|t| if t == 0 { 0.0 } else { d.closes[t] / d.closes[t - 1] - 1.0 }).collect();
    let pairs = vec![PairInput { factor: "f".into(), symbol: "S".into(), x: d.factor.clone(), returns }];
    let spec = spec();
    assert_eq!(spec.per_pair(), 1000);
    let p = AtomicU64::new(0);
    let mut g = c.benchmark_group("grid");
    g.sample_size(10);
    g.bench_function("1000_combinations_1y_hourly_1_thread", |b| b.iter(|| grid::run(black_box(&pairs), &spec, 1, &p)));
    g.finish();
}

fn ensemble_bench(c: &mut Criterion) {
    let d = &ticktape_factors::synth::generate(1, 8766, 0.006, 7)[0];
    let sets = [
        ParamSet {
            model: Model::B,
            direction: Direction::M,
            log: false,
            params: Params { short: 6, long: 168, threshold: 1.0 },
        },
        ParamSet {
            model: Model::B,
            direction: Direction::M,
            log: false,
            params: Params { short: 24, long: 336, threshold: 0.5 },
        },
        ParamSet {
            model: Model::R,
            direction: Direction::M,
            log: false,
            params: Params { short: 1, long: 168, threshold: 0.2 },
        },
    ];
    c.bench_function("ensemble_3_sets_per_bar_x8766", |b| {
        b.iter(|| {
            let mut e = Ensemble::new(&sets, false).unwrap();
            let mut s = 0.0;
            for &x in &d.factor {
                s += e.update(black_box(x));
            }
            s
        })
    });
}

criterion_group!(benches, grid_bench, ensemble_bench);
criterion_main!(benches);
