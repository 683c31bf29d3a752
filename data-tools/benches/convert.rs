//! Throughput of Tardis trades CSV → tape, plain and gzip, on one core.
//!
//! Generates a realistic binance-futures trades CSV of ≥ 100 MB (and its .gz)
//! in a temp folder, then converts it with one job. Criterion reports bytes of
//! *uncompressed* CSV per second for both inputs (for .gz that is bounded by
//! decompression). Set `TICKTAPE_BENCH_MB` to change the size.

use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_data::{ConvertOptions, SourceKind, convert};

fn generate(dir: &Path, mb: usize) -> (PathBuf, PathBuf, u64) {
    let csv = dir.join("binance-futures_trades_2024-08-08_BTCUSDT.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    w.write_all(b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n").unwrap();
    // A deterministic random walk with Binance-like ticks (0.1) and lots (0.001).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ts: i64 = 1_723_075_200_000_000;
    let mut price: i64 = 618_003; // ×0.1
    let mut id: u64 = 5_266_583_935;
    let mut written = 0usize;
    let mut line = String::with_capacity(128);
    while written < mb * 1_000_000 {
        let r = next();
        ts += (r % 20_000) as i64;
        price += (r >> 20) as i64 % 5 - 2;
        id += 1;
        let qty = (r >> 32) % 5_000 + 1; // ×0.001
        let local = ts + 1_000 + (r >> 40) as i64 % 200_000;
        line.clear();
        use std::fmt::Write as _;
        writeln!(
            line,
            "binance-futures,BTCUSDT,{ts},{local},{id},{},{}.{},{}",
            if r & 1 == 0 { "buy" } else { "sell" },
            price / 10,
            price % 10,
            ticktape_tape::format_fixed(qty as i64, -3)
        )
        .unwrap();
        w.write_all(line.as_bytes()).unwrap();
        written += line.len();
    }
    w.flush().unwrap();
    drop(w);
    let gz = dir.join("binance-futures_trades_2024-08-08_BTCUSDT.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::new(6));
    std::io::copy(&mut std::fs::File::open(&csv).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let size = std::fs::metadata(&csv).unwrap().len();
    (csv, gz, size)
}

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("TICKTAPE_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let (csv, gz, size) = generate(dir.path(), mb);
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
