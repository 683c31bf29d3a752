//! The ClusterLOB market maker (trade features, cluster assignment, decayed
//! flow, requotes every 200 ms) through the simulator with latency and
//! cross-only fills, beside a plain replay of the same tapes. The model is
//! fitted on planted z-rows (its quality does not change the cost).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_clusterlob::ClusterLob;
use ticktape_engine::plugin::{Native, Plugin};
use ticktape_engine::replay::Replay;
use ticktape_engine::sim::{self, SimConfig};
use ticktape_engine::synth::{SynthConfig, generate};
use ticktape_research::clusterlob::{FitOptions, Model, N_FEATURES};
use ticktape_sdk::Strategy;

/// Three planted clusters in z-space (opportunistic, passive, toxic), deterministic.
fn planted(n: usize) -> Vec<f64> {
    let centres = [[0.0, 1.3, -1.2, 0.0, -0.6, 0.0], [0.0, 0.0, -0.1, 0.0, 1.6, 0.0], [0.0, -0.7, 0.8, 0.0, -0.9, 0.0]];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.5
    };
    (0..n).flat_map(|i| (0..N_FEATURES).map(move |j| (i, j))).map(|(i, j)| centres[i % 3][j] + noise()).collect()
}

fn clusterlob(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths: Vec<_> =
        generate(&SynthConfig::new(5_000_000), dir.path()).expect("generate").into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&paths).expect("open");
    let model = Model::fit(&planted(30_000), &FitOptions::default(), 5, 100).expect("fit");
    let model_path = dir.path().join("model.json");
    model.save(&model_path).expect("save");
    let config = format!("model = {:?}\n", model_path.to_string_lossy());
    let cfg = SimConfig::default();
    let mut g = c.benchmark_group("clusterlob");
    g.sample_size(10);
    g.throughput(Throughput::Elements(replay.total_records()));
    let plugin =
        Plugin::in_process(ticktape_sdk::export::in_process::<ClusterLob>("clusterlob", "0")).expect("manifest");
    g.bench_function("market maker, plugin glue", |b| {
        b.iter(|| {
            let mut inst = plugin.create(&config).expect("create");
            black_box(sim::run(&replay, &cfg, &mut inst).expect("run").fills.len())
        })
    });
    g.bench_function("market maker, native", |b| {
        b.iter(|| {
            let s = ClusterLob::new(toml_config(&model_path)).expect("config");
            black_box(sim::run(&replay, &cfg, &mut Native(s)).expect("run").fills.len())
        })
    });
    g.bench_function("replay only", |b| b.iter(|| black_box(replay.run(&mut ()).expect("replay").events)));
    g.finish();
}

fn toml_config(model: &std::path::Path) -> ticktape_clusterlob::Config {
    ticktape_clusterlob::Config { model: model.to_string_lossy().into_owned(), ..Default::default() }
}

criterion_group!(benches, clusterlob);
criterion_main!(benches);
