//! Replay throughput: a merged trades + L2 tape pair replayed with book
//! maintenance and a no-op strategy (events per second), and the same
//! market published as trades + quotes (a quote-driven book) at the same
//! event count. Beside each replay: its scan limit (a plain sequential read
//! of the same mapped records, [`Replay::scan`]) and the per-record tape
//! checks alone (the chunk pass a replay runs, as `inspect --verify` runs
//! it), so replay / limit and the checks' share are reproducible.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_engine::replay::Replay;
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("replay");
    g.sample_size(20);
    for (name, symbols, quotes) in [
        ("BTCUSDT trades+l2", vec!["BTCUSDT"], false),
        ("BTCUSDT trades+quotes", vec!["BTCUSDT"], true),
        ("3 symbols trades+l2", vec!["BTCUSDT", "ETHUSDT", "SOLUSDT"], false),
    ] {
        let sub = dir.path().join(name.replace([' ', '+'], "-"));
        let mut cfg = SynthConfig::new(5_000_000);
        cfg.symbols = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
        cfg.quotes = quotes;
        let paths: Vec<_> = generate(&cfg, &sub).expect("generate").into_iter().map(|s| s.path).collect();
        let replay = Replay::open(&paths).expect("open");
        g.throughput(Throughput::Elements(replay.total_records()));
        g.bench_function(name, |b| b.iter(|| black_box(replay.run(&mut ()).expect("replay").events)));
        g.bench_function(format!("{name} scan limit"), |b| b.iter(|| black_box(replay.scan())));
        g.bench_function(format!("{name} checks only"), |b| {
            b.iter(|| {
                for t in replay.tapes() {
                    t.verify_replayable().expect("valid tape");
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
