//! Backtest throughput (events/s) with the latency and fill models active:
//! the template market maker (requoting every 200 ms) through the plugin
//! glue and natively, and the cost of the plugin boundary for a strategy
//! called on every event.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_engine::plugin::{Native, Plugin};
use ticktape_engine::replay::Replay;
use ticktape_engine::sim::{self, SimConfig};
use ticktape_engine::synth::{SynthConfig, generate};
use ticktape_sdk::{Context, Level, NoConfig, Strategy, Trade};
use ticktape_template::{Config, Template};

/// Called on every trade and level update; counts them.
#[derive(Debug, Default)]
struct CountAll(u64);

impl Strategy for CountAll {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(CountAll(0))
    }
    fn on_trade(&mut self, _: &mut Context<'_>, _: u32, _: &Trade) {
        self.0 += 1;
    }
    fn on_level(&mut self, _: &mut Context<'_>, _: u32, _: &Level) {
        self.0 += 1;
    }
}

fn backtest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths: Vec<_> =
        generate(&SynthConfig::new(5_000_000), dir.path()).expect("generate").into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&paths).expect("open");
    let cfg = SimConfig::default();
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(replay.total_records()));

    let template = Plugin::in_process(ticktape_sdk::export::in_process::<Template>("template", "0")).expect("manifest");
    g.bench_function("template MM, plugin glue", |b| {
        b.iter(|| {
            let mut inst = template.create("").expect("create");
            black_box(sim::run(&replay, &cfg, &mut inst).expect("run").fills.len())
        })
    });
    g.bench_function("template MM, native", |b| {
        b.iter(|| {
            let mut s = Native(Template::new(Config::default()).expect("config"));
            black_box(sim::run(&replay, &cfg, &mut s).expect("run").fills.len())
        })
    });

    let counter = Plugin::in_process(ticktape_sdk::export::in_process::<CountAll>("count-all", "0")).expect("manifest");
    g.bench_function("every event to the strategy, plugin glue", |b| {
        b.iter(|| {
            let mut inst = counter.create("").expect("create");
            black_box(sim::run(&replay, &cfg, &mut inst).expect("run").events)
        })
    });
    g.bench_function("every event to the strategy, native", |b| {
        b.iter(|| {
            let mut s = Native(CountAll(0));
            black_box(sim::run(&replay, &cfg, &mut s).expect("run").events)
        })
    });
    g.finish();
}

criterion_group!(benches, backtest);
criterion_main!(benches);
