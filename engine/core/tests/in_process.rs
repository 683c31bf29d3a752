//! The same strategy run as a loaded plugin and linked into the process
//! gives byte-identical results on the same tapes, and repeated runs do too.

#[path = "../../../tests/build_plugins.rs"]
mod build_plugins;

use std::path::PathBuf;

use ticktape_engine::plugin::Plugin;
use ticktape_engine::replay::Replay;
use ticktape_engine::results;
use ticktape_engine::sim::metrics::summarize;
use ticktape_engine::sim::{self, SimConfig};
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn plugin_and_in_process_runs_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let mut sc = SynthConfig::new(200_000);
    sc.symbols = vec![SymbolSpec::preset("BTCUSDT"), SymbolSpec::preset("ETHUSDT")];
    let tapes: Vec<PathBuf> = generate(&sc, &dir.path().join("t")).unwrap().into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&tapes).unwrap();
    let cfg =
        SimConfig { entry: sim::LatencySpec::LogNormal { median: 1_000_000, sigma: 0.5 }, ..SimConfig::default() };
    let config = "half_spread_ticks = 1\nmax_position_lots = 5\n";
    let loaded = Plugin::load(&build_plugins::plugin("ticktape_template")).unwrap();
    let linked = Plugin::in_process(ticktape_sdk::export::in_process::<ticktape_template::Template>(
        "ticktape-template",
        env!("CARGO_PKG_VERSION"),
    ))
    .unwrap();
    let mut outputs = Vec::new();
    for (i, p) in [&loaded, &linked, &loaded].into_iter().enumerate() {
        let mut inst = p.create(config).unwrap();
        let out = sim::run(&replay, &cfg, &mut inst).unwrap();
        assert!(out.error.is_none());
        assert!(out.fills.len() > 10, "the market maker should trade: {} fills", out.fills.len());
        let summary = summarize(&out, "ticktape-template");
        let d = dir.path().join(format!("out{i}"));
        results::write(&d, &out, &summary).unwrap();
        outputs.push(files(&d));
    }
    assert_eq!(outputs[0].len(), 6);
    for (name, bytes) in &outputs[0] {
        let other = outputs[1].iter().find(|(n, _)| n == name).unwrap();
        assert!(bytes == &other.1, "{name} differs between the plugin and the in-process run");
    }
    assert_eq!(outputs[0], outputs[2], "repeated runs differ");
}
