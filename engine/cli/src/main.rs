//! `ticktape`: the command line of the ticktape backtesting engine.

mod alloc;
mod bench;
mod convert;
mod export;
mod fmt;
mod inspect;
mod progress;
mod replay;
mod report;
mod research;
mod run;
mod scaffold;
mod slice;
mod supervise;
mod sweep;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Event-driven backtesting for crypto-derivatives microstructure research.
///
/// Market data lives in tapes: fixed-size records behind a small header,
/// replayed in place from a memory map. Convert raw exchange archives (or
/// generate synthetic markets) into tapes, inspect and replay them, backtest
/// strategy plugins over them with latency and cross-only fills, and measure
/// how fast that goes.
#[derive(Debug, Parser)]
#[command(name = "ticktape", version, propagate_version = true, max_term_width = 110)]
#[command(after_help = "Examples:
  ticktape convert binance-ws engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz -o sample
  ticktape run engine/cli/examples/demo/run.toml
  ticktape run --strategy target/release/libticktape_template.so --tape sample/*.tape --out results/mm
  ticktape report results/mm -o mm.html
  ticktape sweep engine/cli/examples/demo/sweep.toml -o results/sweep --report
  ticktape merge out/shard-1 out/shard-2 out/shard-3 -o results/sweep
  ticktape new-strategy my-strategy
  ticktape gen --out data --events 2M --symbols BTCUSDT,ETHUSDT
  ticktape inspect data/synthetic.BTCUSDT.trades.tape --verify
  ticktape replay data/*.tape
  ticktape export data/synthetic.BTCUSDT.trades.tape -o trades.parquet
  ticktape bench run

Progress (convert, run, sweep): a bar with ETA when stderr is a terminal; otherwise a plain line
such as `progress: 41% 12.3 M/30.0 M events, 8.1 M/s, eta 2 s` every 10 s (2 s with -v;
TICKTAPE_PROGRESS_INTERVAL=SECONDS sets it) while the work moves, and a last one at the end if any came
before or the work took longer than one interval.
-q, -v and --log-file go before or after the command (ticktape -q run .. = ticktape run -q ..).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print only errors (and convert's warnings about the data): no
    /// progress bar or lines, no notes; convert also drops its summary.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More detail on stderr: progress lines every 2 s with the elapsed
    /// time, what a sweep retries after a crash, convert's inputs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Also write every message and progress update as JSON lines
    /// (ts, level, pid, msg) to FILE (appended to).
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    Gen(GenArgs),
    /// Convert raw exchange archives (Binance, Tardis, Hyperliquid,
    /// hftbacktest, CSV series) into tapes.
    Convert(ticktape_data::cli::ConvertArgs),
    Inspect(inspect::InspectArgs),
    Export(export::ExportArgs),
    Replay(replay::ReplayArgs),
    Run(Box<run::RunArgs>),
    Sweep(sweep::SweepArgs),
    Merge(sweep::MergeArgs),
    Report(report::ReportArgs),
    Research(research::ResearchArgs),
    NewStrategy(scaffold::NewStrategyArgs),
    Bench(bench::BenchArgs),
}

/// Generate deterministic synthetic tapes (trades + L2 updates per symbol).
///
/// The market: a book of 50 levels per side on the tick grid whose sizes grow
/// away from the touch; a latent momentum signal that tilts the aggressor side;
/// calm and burst regimes (bursts are faster, thinner and trade bigger); taker
/// orders with heavy-tailed (Pareto) sizes that arrive in bursts and sweep
/// levels; book messages that resize, cancel and improve levels. Trades and
/// book updates are consistent: each trade consumes the book it prints against.
/// The same seed gives byte-identical tapes on any machine.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape gen --out data                                  # 1M events, BTCUSDT
  ticktape gen --out data --events 20M --symbols BTCUSDT,ETHUSDT,SOLUSDT --seed 7
  ticktape gen --out /big --events 130M                    # a ~5 GB tape pair
  ticktape gen --out data --quotes                         # trades + best bid/offer quotes
  ticktape gen --out week --events 304M --trade-rate 0.4   # a week at seed 002's scale (~28 M trades)
  ticktape gen --out fills --fills 10M --accounts 100k     # a fills tape of 100k accounts (profile bench)
  ticktape gen --out fills --fills 50k --accounts 200 --coins 5 --days 7 --seed 3")]
struct GenArgs {
    /// Folder to write the tapes into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Total records (trades + level updates) over all symbols: 5000, 250k, 20M, 1e8.
    #[arg(short, long, default_value = "1M", value_parser = fmt::parse_count)]
    events: u64,
    /// Comma-separated symbols. BTCUSDT, ETHUSDT and SOLUSDT get realistic
    /// prices, ticks and sizes; other names a generic instrument.
    #[arg(short, long, value_delimiter = ',', default_value = "BTCUSDT")]
    symbols: Vec<String>,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Exchange time of the first record (RFC 3339).
    #[arg(long, default_value = "2024-05-01T00:00:00Z")]
    start: chrono::DateTime<chrono::Utc>,
    /// Write the book as a quotes tape (the best bid/offer after each book
    /// message, like a bookTicker feed) instead of L2 level updates.
    #[arg(long)]
    quotes: bool,
    /// How often the market trades, against book messages: 1 is the default
    /// mix (about 4.3 book updates per trade), 0.4 about 10 (the mix of the
    /// seed 002 week: 27.6 M trades and 276 M book updates). In (0, 2.5].
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    trade_rate: f64,
    /// Generate a fills tape of this many fills instead of a market: many
    /// accounts (market makers, directional, basis, TWAP, retail and
    /// liquidator kinds) on many coins, with opens, adds, partial closes,
    /// flips, liquidations and TWAP fills (`synthetic.all.fills.tape` and
    /// `synthetic.accounts.csv`). --events, --symbols and --quotes do not apply.
    #[arg(long, value_parser = fmt::parse_count, value_name = "N")]
    fills: Option<u64>,
    /// Accounts of a --fills tape: 1000, 100k.
    #[arg(long, default_value = "1000", value_parser = fmt::parse_count, requires = "fills")]
    accounts: u64,
    /// Coins of a --fills tape (the first 20 get Hyperliquid names and prices).
    #[arg(long, default_value_t = 40, requires = "fills")]
    coins: u32,
    /// Days a --fills tape spans, from --start.
    #[arg(long, default_value_t = 30, requires = "fills")]
    days: u32,
}

/// Restores the default action for SIGPIPE, so that `ticktape ... | head`
/// ends quietly when the reader goes away (as `cat` does) instead of
/// failing to print. Rust programs ignore SIGPIPE by default.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; setting
    // a signal's disposition to SIG_DFL has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    if let Err(e) = progress::init(cli.quiet, cli.verbose, cli.log_file.as_deref()) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Gen(a) => gen_cmd(a),
        Command::Convert(a) => convert::run(a, cli.quiet),
        Command::Inspect(a) => inspect::run(a),
        Command::Export(a) => export::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Run(a) => run::run(*a),
        Command::Sweep(a) => sweep::run(a),
        Command::Merge(a) => sweep::merge(a),
        Command::Report(a) => report::run(a),
        Command::Research(a) => research::run(a),
        Command::NewStrategy(a) => scaffold::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn gen_cmd(a: GenArgs) -> anyhow::Result<()> {
    use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};
    let start_ns = a
        .start
        .timestamp_nanos_opt()
        .ok_or_else(|| anyhow::anyhow!("--start {} is outside the representable range (1677–2262)", a.start))?;
    if let Some(fills) = a.fills {
        return gen_fills(&a, fills, start_ns);
    }
    let cfg = SynthConfig {
        symbols: a.symbols.iter().map(|s| SymbolSpec::preset(s.trim())).collect(),
        events: a.events,
        seed: a.seed,
        start_ns,
        venue: "synthetic".into(),
        quotes: a.quotes,
        trade_rate: a.trade_rate,
    };
    let t0 = std::time::Instant::now();
    let written = generate(&cfg, &a.out)?;
    let secs = t0.elapsed().as_secs_f64();
    let total: u64 = written.iter().map(|s| s.records).sum();
    for s in &written {
        println!(
            "wrote {}  {} records  {}  {} .. {}",
            s.path.display(),
            fmt::thousands(s.records),
            fmt::bytes(s.bytes),
            fmt::timestamp(s.first_ts),
            fmt::timestamp(s.last_ts)
        );
    }
    println!("{} records in {secs:.2}s ({})", fmt::thousands(total), fmt::rate(total as f64 / secs));
    Ok(())
}

fn gen_fills(a: &GenArgs, fills: u64, start_ns: i64) -> anyhow::Result<()> {
    use ticktape_engine::synth_fills::{FillsConfig, generate_fills};
    let accounts = u32::try_from(a.accounts)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("--accounts {} must be between 1 and 4,294,967,295", a.accounts))?;
    let cfg = FillsConfig { fills, accounts, coins: a.coins, days: a.days, seed: a.seed, start_ns };
    let t0 = std::time::Instant::now();
    let s = generate_fills(&cfg, &a.out)?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "wrote {}  {} fills  {}  {} .. {}",
        s.tape.path.display(),
        fmt::thousands(s.tape.records),
        fmt::bytes(s.tape.bytes),
        fmt::timestamp(s.tape.first_ts),
        fmt::timestamp(s.tape.last_ts)
    );
    println!(
        "wrote {}  {} accounts; {} liquidation fills ({} liquidated), {} TWAP fills, {} flips",
        s.accounts_csv.display(),
        fmt::thousands(u64::from(accounts)),
        fmt::thousands(s.liquidation_fills),
        fmt::thousands(s.liquidated_fills),
        fmt::thousands(s.twap_fills),
        fmt::thousands(s.flips)
    );
    println!("{} fills in {secs:.2}s ({})", fmt::thousands(s.tape.records), fmt::rate(s.tape.records as f64 / secs));
    Ok(())
}
