//! `ticktape bench postgres`: read speed of `convert postgres` from a real server.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use ticktape_data::postgres::{PgOptions, Source, Split, convert_postgres};

use super::{cpu_seconds, machine, median};
use crate::{alloc, fmt};

/// PostgreSQL read speed: loads --rows generated fills (--accounts accounts,
/// 24 coins, in time order, the seed's column types: bigint ms time, numeric
/// px/sz/positions/PnL/fees, text, boolean, jsonb liquidation; an index on
/// time, as a TimescaleDB hypertable has) into TABLE with COPY FROM (not
/// timed), then times --runs conversions with `convert postgres`: `--table`
/// (ORDER BY time and the tie-breaks: an incremental sort over the index, one
/// tape) and `--query "SELECT * FROM TABLE ORDER BY time"` (the index order,
/// no sort). Prints rows/s per pass and the
/// medians, with the CPU time of this process (the client: decoding, tape
/// writing) and of the local server's processes per row, read from /proc.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench postgres --url \"$(.ci/pg-up)\"                 # 2M fills
  ticktape bench postgres --url postgres://ticktape:ticktape@127.0.0.1:54329/ticktape --rows 10M --runs 5")]
pub(crate) struct PostgresBench {
    /// Server to load into and read from (the table is dropped afterwards unless --keep).
    #[arg(long, value_name = "URL")]
    url: String,
    /// Fills to generate and load.
    #[arg(long, default_value = "2M", value_parser = fmt::parse_count)]
    rows: u64,
    /// Distinct accounts among them.
    #[arg(long, default_value = "10k", value_parser = fmt::parse_count)]
    accounts: u64,
    /// Timed conversions of each kind.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Table to create (replaced if it exists).
    #[arg(long, default_value = "ticktape_bench_fills")]
    table: String,
    /// Keep the table afterwards (and reuse it if it already has --rows rows).
    #[arg(long)]
    keep: bool,
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const COINS: [(&str, u64, u32); 24] = [
    ("BTC", 9_500_000, 1),
    ("ETH", 3_300_000, 2),
    ("SOL", 1_850_000, 3),
    ("HYPE", 250_000, 4),
    ("XRP", 23_000, 4),
    ("DOGE", 38_000, 5),
    ("SUI", 41_000, 4),
    ("ARB", 7_400, 4),
    ("OP", 19_000, 4),
    ("AVAX", 38_000, 3),
    ("LINK", 22_000, 3),
    ("LTC", 10_500, 2),
    ("INJ", 24_000, 3),
    ("DYDX", 1_500, 3),
    ("APT", 9_000, 3),
    ("TIA", 5_500, 3),
    ("SEI", 4_200, 4),
    ("WIF", 18_000, 4),
    ("kPEPE", 12_345, 6),
    ("ENA", 7_700, 4),
    ("JUP", 8_100, 4),
    ("NEAR", 5_000, 3),
    ("AAVE", 31_000, 2),
    ("@156", 7_482, 5),
];

/// Loads the generated table; returns its row count.
fn load(c: &mut postgres::Client, a: &PostgresBench) -> Result<u64> {
    let t = &a.table;
    if a.keep {
        let have: Option<i64> = c.query_opt(&format!("SELECT count(*) FROM {t}"), &[]).ok().flatten().map(|r| r.get(0));
        if have == Some(a.rows as i64) {
            println!("reusing {t} ({} rows)", fmt::thousands(a.rows));
            return Ok(a.rows);
        }
    }
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t};
         CREATE TABLE {t} (
           time bigint NOT NULL, user_address text NOT NULL, coin text NOT NULL,
           px numeric NOT NULL, sz numeric NOT NULL, side text NOT NULL, dir text,
           start_position numeric, closed_pnl numeric, fee numeric, crossed boolean,
           twap_id bigint, builder text, liquidation jsonb, tid bigint, oid bigint)"
    ))
    .context("cannot create the benchmark table")?;
    let t0 = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let accounts: Vec<String> = (0..a.accounts.max(1))
        .map(|_| format!("0x{:016x}{:016x}{:08x}", rng.next(), rng.next(), rng.next() as u32))
        .collect();
    let mut w = std::io::BufWriter::with_capacity(
        1 << 20,
        c.copy_in(&format!(
            "COPY {t} (time, user_address, coin, px, sz, side, dir, start_position, closed_pnl, fee, crossed, twap_id, builder, liquidation, tid, oid) FROM STDIN"
        ))?,
    );
    let base_ms: u64 = 1_735_689_600_000;
    for i in 0..a.rows {
        let r = rng.next();
        // Two fills (taker and maker) per trade, ~23 trades a second.
        let time = base_ms + (i / 2) * 43;
        let acct = &accounts[(r % accounts.len() as u64) as usize];
        let (coin, mid, dec) = COINS[((r >> 20) % COINS.len() as u64) as usize];
        let px = mid + (r >> 32) % 500;
        let pdiv = 10u64.pow(dec);
        let sz = 1 + (r >> 40) % 20_000;
        let buy = (r >> 8) & 1 == 1;
        let side = if buy { "B" } else { "A" };
        let opening = (r >> 9) & 3 != 0;
        let dir = match (opening, buy) {
            (true, true) => "Open Long",
            (true, false) => "Open Short",
            (false, true) => "Close Short",
            (false, false) => "Close Long",
        };
        let pnl = if opening { 0 } else { (r >> 12) % 20_000 };
        let neg = if (r >> 11) & 1 == 1 { "-" } else { "" };
        let twap = if r.is_multiple_of(97) { format!("{}", r % 100_000) } else { "\\N".into() };
        let builder = if r.is_multiple_of(53) { "0x1cc34f6af34653c515b47a83e1ed1f4cfc8cbb8f" } else { "\\N" };
        let liq = if r.is_multiple_of(997) {
            format!(
                r#"{{"liquidatedUser": "{}", "markPx": "{}.{}", "method": "market"}}"#,
                accounts[(r as usize >> 3) % accounts.len()],
                px / pdiv,
                px % pdiv
            )
        } else {
            "\\N".into()
        };
        writeln!(
            w,
            "{time}\t{acct}\t{coin}\t{}.{:0width$}\t{}.{:03}\t{side}\t{dir}\t{neg}{}.{:03}\t{neg}{}.{:04}\t{}.{:06}\t{}\t{twap}\t{builder}\t{liq}\t{}\t{}",
            px / pdiv,
            px % pdiv,
            sz / 1000,
            sz % 1000,
            sz * 3 / 1000,
            sz * 3 % 1000,
            pnl / 10_000,
            pnl % 10_000,
            sz / 7000,
            sz * 131 % 1_000_000,
            if (r >> 10) & 1 == 1 { "t" } else { "f" },
            i + 1,
            1_000_000 + i / 3,
            width = dec as usize,
        )?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("COPY FROM failed: {e}"))?.finish()?;
    let loaded = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    // Two calls: VACUUM cannot run in the implicit transaction of a multi-statement batch.
    c.batch_execute(&format!("CREATE INDEX ON {t} (time)"))?;
    c.batch_execute(&format!("VACUUM ANALYZE {t}"))?;
    println!(
        "loaded {} fills of {} accounts into {t} in {loaded:.1}s (COPY FROM), indexed on time and vacuumed in {:.1}s",
        fmt::thousands(a.rows),
        fmt::thousands(a.accounts),
        t1.elapsed().as_secs_f64()
    );
    Ok(a.rows)
}

/// CPU seconds of the local PostgreSQL server's processes (every `postgres`
/// process, plus what the postmaster's exited children used), from /proc.
fn server_cpu_seconds() -> Option<f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    let mut found = false;
    for e in std::fs::read_dir("/proc").ok()? {
        let Ok(e) = e else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        if !head.ends_with("(postgres") {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state ppid … utime(12) stime(13) cutime(14) cstime(15).
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        found = true;
        total += num(11) + num(12) + num(13) + num(14);
    }
    found.then_some(total as f64 / tick)
}

pub(crate) fn run(a: PostgresBench) -> Result<()> {
    println!("machine: {}", machine());
    let mut c = postgres::Client::connect(&a.url, postgres::NoTls).context("cannot connect to --url")?;
    let rows = load(&mut c, &a)?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let opts = PgOptions { out_dir: dir.path().join("out"), split: Split::None, ..PgOptions::default() };
    let kinds = [
        ("--table (ORDER BY time, ties)", Source::Table(a.table.clone())),
        (
            "--query SELECT * ORDER BY time (index order)",
            Source::Query(format!("SELECT * FROM {} ORDER BY time", a.table)),
        ),
    ];
    // One untimed pass warms the server's buffers and the page cache.
    convert_postgres(&a.url, &kinds[0].1, &opts)?;
    for (name, src) in &kinds {
        let (mut rate, mut client_us, mut server_us) = (Vec::new(), Vec::new(), Vec::new());
        let mut heap = 0usize;
        for run in 0..a.runs {
            let base = alloc::live();
            alloc::reset_peak();
            let (c0, s0) = (cpu_seconds(), server_cpu_seconds());
            let t0 = Instant::now();
            let rep = convert_postgres(&a.url, src, &opts)?;
            let secs = t0.elapsed().as_secs_f64();
            let (c1, s1) = (cpu_seconds(), server_cpu_seconds());
            heap = heap.max(alloc::peak().saturating_sub(base));
            anyhow::ensure!(rep.rows() == rows, "read {} rows, loaded {rows}", rep.rows());
            let r = rows as f64 / secs;
            let cu = (c1 - c0) / rows as f64 * 1e6;
            let su = s0.zip(s1).map(|(a, b)| (b - a) / rows as f64 * 1e6);
            println!(
                "{name} pass {}: {} rows in {secs:.2}s = {} rows; CPU per row: client {cu:.2} µs, server {}",
                run + 1,
                fmt::thousands(rows),
                fmt::rate(r),
                su.map_or("n/a".into(), |s| format!("{s:.2} µs")),
            );
            rate.push(r);
            client_us.push(cu);
            server_us.extend(su);
        }
        println!(
            "{name}: median {} rows over {} passes; CPU per row: client {:.2} µs (= {} rows on one core), server {}; client heap peak {} above baseline",
            fmt::rate(median(&mut rate)),
            a.runs,
            median(&mut client_us),
            fmt::rate(1e6 / median(&mut client_us.clone())),
            if server_us.is_empty() {
                "n/a (not a local server)".into()
            } else {
                format!("{:.2} µs", median(&mut server_us))
            },
            fmt::bytes(heap as u64),
        );
    }
    transport(&mut c, &a, rows)?;
    if !a.keep {
        c.batch_execute(&format!("DROP TABLE {}", a.table))?;
    }
    Ok(())
}

/// The two ways to stream a result, without converting anything: binary
/// COPY (what `convert postgres` uses: bytes in CopyData messages) against a
/// portal with binary rows (`query_raw`: a `Row` per DataRow message, the
/// way a cursor's FETCH would deliver them), both in scan order.
fn transport(c: &mut postgres::Client, a: &PostgresBench, rows: u64) -> Result<()> {
    use std::io::Read;
    let q = format!("SELECT * FROM {}", a.table);
    let (mut copy, mut portal) = (Vec::new(), Vec::new());
    for _ in 0..a.runs {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        let mut r = c.copy_out(&format!("COPY ({q}) TO STDOUT (FORMAT binary)"))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
        drop(r);
        copy.push((t0.elapsed().as_secs_f64(), cpu_seconds() - c0, bytes));

        let c0 = cpu_seconds();
        let t0 = Instant::now();
        let mut it = c.query_raw(&q, std::iter::empty::<i32>())?;
        let mut n = 0u64;
        while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut it)? {
            std::hint::black_box(row.len());
            n += 1;
        }
        drop(it);
        anyhow::ensure!(n == rows, "the portal returned {n} rows, loaded {rows}");
        portal.push((t0.elapsed().as_secs_f64(), cpu_seconds() - c0, 0));
    }
    for (name, v) in [("COPY binary (bytes only)", copy), ("portal, binary rows (Row per row)", portal)] {
        let mut rate: Vec<f64> = v.iter().map(|(s, _, _)| rows as f64 / s).collect();
        let mut cpu: Vec<f64> = v.iter().map(|(_, c, _)| c / rows as f64 * 1e6).collect();
        let bytes = v.first().map_or(0, |x| x.2);
        println!(
            "transport, {name}: median {} rows over {} passes, client CPU {:.2} µs per row{}",
            fmt::rate(median(&mut rate)),
            a.runs,
            median(&mut cpu),
            if bytes > 0 {
                format!(", {} per row on the wire", fmt::bytes(bytes / rows.max(1)))
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
