//! Throughput of Tardis trades CSV → tape, plain and gzip, on one core.
//!
//! Generates a realistic binance-futures trades CSV of ≥ 100 MB (and its .gz)
//! in a temp folder, then converts it with one job. Criterion reports bytes of
//! *uncompressed* CSV per second for both inputs (for .gz that is bounded by
//! decompression). Set `TICKTAPE_BENCH_MB` to change the size.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_data::{ConvertOptions, SourceKind, convert};

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("TICKTAPE_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let (csv, gz, size) = ticktape_data::synthetic::trades_csv(dir.path(), mb as u64 * 1_000_000).unwrap();
    let gz_size = std::fs::metadata(&gz).unwrap().len();
    eprintln!("trades csv: {size} bytes, gzip: {gz_size} bytes");
    let opts = ConvertOptions { out_dir: dir.path().join("out"), jobs: 1, ..ConvertOptions::default() };
    let mut g = c.benchmark_group("convert_tardis_trades");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    for (name, input) in [("csv", &csv), ("csv_gz", &gz)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = convert(SourceKind::Tardis, std::slice::from_ref(input), &opts).unwrap();
                assert_eq!(r.bytes_decoded(), size);
                r
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
