//! Replay throughput: a merged trades + L2 tape pair replayed with book
//! maintenance and a no-op strategy (events per second).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_engine::replay::Replay;
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("replay");
    g.sample_size(20);
    for (name, symbols) in
        [("BTCUSDT trades+l2", vec!["BTCUSDT"]), ("3 symbols trades+l2", vec!["BTCUSDT", "ETHUSDT", "SOLUSDT"])]
    {
        let sub = dir.path().join(symbols.join("-"));
        let mut cfg = SynthConfig::new(5_000_000);
        cfg.symbols = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
        let paths: Vec<_> = generate(&cfg, &sub).expect("generate").into_iter().map(|s| s.path).collect();
        let replay = Replay::open(&paths).expect("open");
        g.throughput(Throughput::Elements(replay.total_records()));
        g.bench_function(name, |b| b.iter(|| black_box(replay.run(&mut ()).expect("replay").events)));
    }
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
