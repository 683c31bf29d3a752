//! Throughput of Tardis trades CSV → tape, plain and gzip, on one thread and
//! on every core.
//!
//! Generates a realistic binance-futures trades CSV of ≥ 100 MB (and its .gz)
//! in a temp folder, then converts it with one job, parsing on one thread
//! (`*_1thread`) and in parallel chunks on every core. Criterion reports bytes
//! of *uncompressed* CSV per second (for .gz decompression runs on a thread of
//! its own, in a pipeline with parsing). Set `TICKTAPE_BENCH_MB` to change the size.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_data::{ConvertOptions, SourceKind, convert};

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("TICKTAPE_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let (csv, gz, size) = ticktape_data::synthetic::trades_csv(dir.path(), mb as u64 * 1_000_000).unwrap();
    let gz_size = std::fs::metadata(&gz).unwrap().len();
    eprintln!("trades csv: {size} bytes, gzip: {gz_size} bytes");
    let one = ConvertOptions { out_dir: dir.path().join("out"), jobs: 1, threads: 1, ..ConvertOptions::default() };
    let all = ConvertOptions { threads: 0, ..one.clone() };
    let mut g = c.benchmark_group("convert_tardis_trades");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    for (name, input, opts) in
        [("csv_1thread", &csv, &one), ("csv", &csv, &all), ("csv_gz_1thread", &gz, &one), ("csv_gz", &gz, &all)]
    {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = convert(SourceKind::Tardis, std::slice::from_ref(input), opts).unwrap();
                assert_eq!(r.bytes_decoded(), size);
                r
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
