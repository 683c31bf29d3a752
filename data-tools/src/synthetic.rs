//! Synthetic raw inputs for benchmarks: a realistic Tardis-format
//! binance-futures trades CSV (and its gzip), deterministic.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `binance-futures_trades_2024-08-08_BTCUSDT.csv` of at least
/// `bytes` bytes into `dir`, and its `.csv.gz`; returns both paths and the
/// CSV's size. Prices follow a random walk on BTCUSDT's 0.1 tick, sizes on
/// its 0.001 lot, timestamps in µs with receive-time jitter.
pub fn trades_csv(dir: &Path, bytes: u64) -> Result<(PathBuf, PathBuf, u64)> {
    let csv = dir.join("binance-futures_trades_2024-08-08_BTCUSDT.csv");
    let io = |e| Error::io(&csv, "write benchmark input", e);
    let mut w = std::io::BufWriter::new(std::fs::File::create(&csv).map_err(io)?);
    w.write_all(b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n").map_err(io)?;
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
    let mut written = 0u64;
    let mut line = String::with_capacity(128);
    while written < bytes {
        let r = next();
        ts += (r % 20_000) as i64;
        price += (r >> 20) as i64 % 5 - 2;
        id += 1;
        let qty = (r >> 32) % 5_000 + 1; // ×0.001
        let local = ts + 1_000 + (r >> 40) as i64 % 200_000;
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "binance-futures,BTCUSDT,{ts},{local},{id},{},{}.{},{}",
            if r & 1 == 0 { "buy" } else { "sell" },
            price / 10,
            price % 10,
            ticktape_tape::format_fixed(qty as i64, -3)
        );
        w.write_all(line.as_bytes()).map_err(io)?;
        written += line.len() as u64;
    }
    w.flush().map_err(io)?;
    drop(w);
    let gz = dir.join("binance-futures_trades_2024-08-08_BTCUSDT.csv.gz");
    let gz_io = |e| Error::io(&gz, "write benchmark input", e);
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).map_err(gz_io)?, flate2::Compression::new(6));
    std::io::copy(&mut std::fs::File::open(&csv).map_err(io)?, &mut enc).map_err(gz_io)?;
    enc.finish().map_err(gz_io)?;
    let size = std::fs::metadata(&csv).map_err(io)?.len();
    Ok((csv, gz, size))
}
