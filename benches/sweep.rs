//! Sweep throughput: many backtests of the template market maker over one
//! shared tape on the engine's worker pool (`ticktape_engine::pool`, what
//! `ticktape sweep` runs on), on 1 and 2 threads, and the per-run overhead
//! (instance creation, simulator setup and summary) on a 1000-event tape.
//! `ticktape bench sweep` measures the same through the CLI's sweep code,
//! row files included.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_engine::plugin::Plugin;
use ticktape_engine::pool::run_indexed;
use ticktape_engine::replay::Replay;
use ticktape_engine::sim::metrics::summarize;
use ticktape_engine::sim::{self, SimConfig};
use ticktape_engine::synth::{SynthConfig, generate};
use ticktape_template::Template;

const RUNS: usize = 16;

fn tape(events: u64, dir: &std::path::Path) -> Replay {
    let paths: Vec<_> =
        generate(&SynthConfig::new(events), dir).expect("generate").into_iter().map(|s| s.path).collect();
    Replay::open(&paths).expect("open")
}

fn sweep(c: &mut Criterion) {
    let plugin = Plugin::in_process(ticktape_sdk::export::in_process::<Template>("template", "0")).expect("manifest");
    let cfg = SimConfig::default();
    let configs: Vec<String> = (0..RUNS).map(|i| format!("requote_ms = {}", 100 + 10 * i)).collect();
    let pass = |replay: &Replay, runs: usize, threads: usize| {
        run_indexed(runs, threads, |i| -> Result<(), String> {
            let mut inst = plugin.create(&configs[i % configs.len()]).map_err(|e| e.to_string())?;
            let out = sim::run(replay, &cfg, &mut inst).map_err(|e| e.to_string())?;
            black_box(summarize(&out, "template").net_pnl);
            Ok(())
        })
        .expect("sweep")
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let replay = tape(1_000_000, dir.path());
    let mut g = c.benchmark_group("sweep");
    g.sample_size(10);
    g.throughput(Throughput::Elements(replay.total_records() * RUNS as u64));
    for threads in [1, 2] {
        g.bench_function(format!("{RUNS} runs over a shared 1M-event tape, {threads} thread(s)"), |b| {
            b.iter(|| pass(&replay, RUNS, threads))
        });
    }
    g.finish();

    let small = tempfile::tempdir().expect("temp dir");
    let tiny = tape(1000, small.path());
    let mut g = c.benchmark_group("sweep overhead");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one run over a 1000-event tape (create, setup, run, summary)", |b| b.iter(|| pass(&tiny, 1, 1)));
    g.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
