//! `ticktape research trades`: one trader's fills joined with the market just
//! before each of them (seed 003), maker-like vs taker-like PnL tests, trade
//! archetypes and a walk-forward model of the trade's direction.
//!
//! # The as-of join
//!
//! One replay merges the fills tape with the market tapes (trades, L2 or
//! quotes). A fill at exchange time `t` sees the market **strictly before**
//! `t`: every market event with a timestamp `< t`, none at `t` or later. The
//! merge delivers the market events of an instant before the fills of that
//! instant (lower record-kind codes first), so the join keeps two states per
//! instrument: the live one (the replay's book, trades of the current
//! instant held back) and the one committed when time last moved forward,
//! which is what fills read. Ties are therefore excluded: a trade print at
//! the fill's own millisecond (often the fill itself) is not "before" it.
//!
//! # Which market a fill belongs to
//!
//! Fills name their coin in `symbol`; market tapes are per instrument. A coin
//! `C` matches a market symbol `S` when they are equal ignoring case, or `S`
//! is `C` followed by one of the quote suffixes of [`QUOTE_SUFFIXES`]
//! (`BTC` ↔ `BTC`, `BTCUSDT`, `BTC-PERP`, `BTC/USDC:USDC`, …).
//! `--map COIN=SYMBOL` overrides the rule for one coin. Two matching markets
//! are an error (name one with `--map`); a coin with none keeps its fills with
//! empty market features (a note says so).
//!
//! # Features (per fill, from the market before it)
//!
//! With `b`, `a` the best bid and ask, `qb`, `qa` their sizes, `m = (b+a)/2`,
//! `p` the fill price and `s = +1` for a buy, `−1` for a sell:
//!
//! - `spread = a − b` (price units), `spread_bps = 10⁴·(a − b)/m`;
//! - `tob_imbalance = (qb − qa)/(qb + qa)`;
//! - `edge_vs_mid_bps = 10⁴·s·(m − p)/m` (positive: better than mid for the account);
//! - `effective_spread_ratio = 2·|p − m|/(a − b)` (empty when `a ≤ b`);
//! - `mt_last_age_ms`: time since the last market trade, ms;
//! - over `W` = 30 s and 300 s, with the SDK's [`TimeWindow`] (trades with
//!   `t − W < ts < t`): `mt_trades_W` (count), `mt_volume_W` (quantity) and
//!   `mt_return_W = p_last/p_ref − 1`, `p_last` the last trade price before
//!   `t` and `p_ref` the last at or before `t − W` (empty without one).
//!
//! The fill's own columns follow: price, qty, notional, start position,
//! closed PnL, fee, `pnl = closed_pnl − fee`, side, dir, flags, ids.
//!
//! # Maker-like vs taker-like
//!
//! The seed labels each trade `MAKER_LIKE`, `TAKER_LIKE` or `INSIDE` from its
//! price against the top of book before it, and compares the PnL of the first
//! two groups. Default (`--exec price`), the seed's rule: a buy at or above the
//! ask (a sell at or below the bid) is taker-like, a buy at or below the bid (a
//! sell at or above the ask) maker-like, strictly inside the spread `INSIDE`,
//! no book `UNKNOWN`. `--exec crossed` uses the venue's `CROSSED` flag instead.
//! PnL per fill is the seed's realised PnL: `closed_pnl − fee`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use ticktape_engine::book::Book;
use ticktape_engine::replay::{Event, Handler, Replay, ReplayOptions};
use ticktape_engine::table::Table;
use ticktape_research::kmeans::{self, KMeans};
use ticktape_research::logistic::{self, Logistic};
use ticktape_research::stats;
use ticktape_sdk::signal::TimeWindow;
use ticktape_tape::{Fill, RecordKind, Tape, fill_flags, side};

/// Quote suffixes a market symbol may add to a fill's coin (compared ignoring case).
pub(crate) const QUOTE_SUFFIXES: &[&str] = &[
    "USDT",
    "USDC",
    "USD",
    "BUSD",
    "PERP",
    "-PERP",
    "_PERP",
    "-USD",
    "-USDT",
    "-USDC",
    "/USD",
    "/USDT",
    "/USDC",
    "/USDC:USDC",
    "/USDT:USDT",
    "-USD-SWAP",
    "-USDT-SWAP",
    "-PERPETUAL",
];

/// Join one account's fills with the market just before each fill (seed 003).
///
/// Replays FILLS_TAPE with the market tapes once. For each fill of --account
/// it records the market strictly before the fill (events at the fill's own
/// timestamp are excluded): spread, top-of-book imbalance, edge vs mid (bps,
/// signed by side), effective spread ratio, time since the last market trade,
/// market return, trade count and volume over the last 30 s and 300 s. Then
/// it compares the PnL per fill (closed_pnl − fee) of maker-like and
/// taker-like fills (seeded bootstrap CI of the difference of means,
/// Mann-Whitney U), clusters the fills into archetypes (k-means++ on
/// standardised features) and fits a walk-forward logistic model of the
/// fill's side from the market features.
///
/// A fill's coin (BTC) matches a market tape whose symbol is the coin or the
/// coin plus a quote suffix (BTCUSDT, BTC-PERP, BTC/USDC:USDC); --map
/// overrides it.
///
/// Writes DIR/fills.parquet (one row per fill), DIR/stats.json,
/// DIR/archetypes.parquet and DIR/direction.parquet.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research trades --account 0xb7b6f3ce fills/hyperliquid.0xb7b6f3ce00000000.fills.tape \\
      --market mkt/hyperliquid.BTC.trades.tape mkt/hyperliquid.BTC.l2.tape -o out/trades --allow-gaps
  ticktape research trades --account 0xb7b6f3cea3f66bf525f4c3a4a1e8a3c1a7b2e0d9 fills/*.fills.tape \\
      --market binance/*.tape --map BTC=BTCUSDT --map ETH=ETHUSDT -o out/trades --k 5 --folds 4
  ticktape research trades --account 0x00000000000000ab f.tape --market t.tape q.tape -o out --exec crossed --seed 1")]
pub(crate) struct TradesArgs {
    /// The account: its address as in the accounts CSV beside the fills tape
    /// (e.g. hyperliquid.accounts.csv), or the 0x-prefixed 16-hex-digit
    /// account id of the tape.
    #[arg(long, value_name = "A")]
    account: String,
    /// The fills tape.
    #[arg(value_name = "FILLS_TAPE")]
    fills: PathBuf,
    /// Market tapes (trades, L2, quotes) of the fills' coins.
    #[arg(long, required = true, num_args = 1.., value_name = "TAPE")]
    market: Vec<PathBuf>,
    /// Output folder (must be empty or absent unless --force).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Market symbol of a coin, overriding the matching rule; repeatable.
    #[arg(long = "map", value_name = "COIN=SYMBOL")]
    map: Vec<String>,
    /// How fills are split into maker-like and taker-like: `price` (the
    /// seed's rule: fill price against the top of book before it) or
    /// `crossed` (the venue's CROSSED flag).
    #[arg(long, value_enum, default_value_t = ExecRule::Price)]
    exec: ExecRule,
    /// Bootstrap resamples of the difference of mean PnL (the seed's 20,000).
    #[arg(long, default_value_t = 20_000)]
    resamples: usize,
    /// Confidence level of the bootstrap interval.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Seed of the bootstrap and of k-means (the seed's 7).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Trade archetypes: k-means clusters (the seed's 8).
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// k-means++ restarts; the lowest inertia wins.
    #[arg(long, default_value_t = 10)]
    n_init: usize,
    /// Walk-forward folds of the direction model (expanding time-series splits).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    folds: u32,
    /// Inverse L2 regularisation of the direction model (scikit-learn's C).
    #[arg(long, default_value_t = 1.0)]
    c: f64,
    /// Accept market and fills tapes whose time ranges do not overlap.
    #[arg(long)]
    allow_gaps: bool,
    /// Replace a non-empty output folder.
    #[arg(long)]
    force: bool,
}

/// The maker/taker split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExecRule {
    /// Fill price against the top of book before the fill (the seed's labels).
    Price,
    /// The venue's CROSSED flag.
    Crossed,
}

/// Execution label of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exec {
    Maker,
    Taker,
    Inside,
    Unknown,
}

impl Exec {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Exec::Maker => "MAKER_LIKE",
            Exec::Taker => "TAKER_LIKE",
            Exec::Inside => "INSIDE",
            Exec::Unknown => "UNKNOWN",
        }
    }
}

/// The seed's label from the price: taker-like at or through the far side
/// (tested first, so a locked book counts as taker), maker-like at or behind
/// the near side, else inside.
pub(crate) fn exec_by_price(is_buy: bool, px: f64, bid: Option<f64>, ask: Option<f64>) -> Exec {
    let (Some(b), Some(a)) = (bid, ask) else { return Exec::Unknown };
    let (taker, maker) = if is_buy { (px >= a, px <= b) } else { (px <= b, px >= a) };
    if taker {
        Exec::Taker
    } else if maker {
        Exec::Maker
    } else {
        Exec::Inside
    }
}

/// Whether a fill's coin matches a market symbol (see the module docs).
pub(crate) fn coin_matches(coin: &str, symbol: &str) -> bool {
    let (c, s) = (coin.to_ascii_uppercase(), symbol.to_ascii_uppercase());
    !c.is_empty() && (s == c || s.strip_prefix(&c).is_some_and(|rest| QUOTE_SUFFIXES.contains(&rest)))
}

/// The market as a fill sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MarketView {
    /// Best bid (price, size).
    pub(crate) bid: Option<(f64, f64)>,
    /// Best ask (price, size).
    pub(crate) ask: Option<(f64, f64)>,
    /// The last market trade (time ns, price).
    pub(crate) last_trade: Option<(i64, f64)>,
    /// Per window (30 s, 300 s): trade count, volume, reference price.
    pub(crate) windows: [WindowView; 2],
}

/// One time window of market trades before a fill.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct WindowView {
    pub(crate) trades: u64,
    pub(crate) volume: f64,
    /// The last trade price at or before `t − W`.
    pub(crate) ref_px: Option<f64>,
}

/// Window lengths, seconds.
pub(crate) const WINDOWS_S: [i64; 2] = [30, 300];

/// Features of one fill.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Features {
    pub(crate) bid: Option<f64>,
    pub(crate) ask: Option<f64>,
    pub(crate) mid: Option<f64>,
    pub(crate) spread: Option<f64>,
    pub(crate) spread_bps: Option<f64>,
    pub(crate) tob_imbalance: Option<f64>,
    pub(crate) edge_vs_mid_bps: Option<f64>,
    pub(crate) effective_spread_ratio: Option<f64>,
    pub(crate) mt_last_age_ms: Option<f64>,
    pub(crate) mt_return: [Option<f64>; 2],
    pub(crate) mt_trades: [u64; 2],
    pub(crate) mt_volume: [f64; 2],
}

/// The features of a fill (`is_buy`, price `px`, time `t`) from the market before it.
pub(crate) fn features(is_buy: bool, px: f64, t: i64, v: &MarketView) -> Features {
    let mut f = Features {
        bid: v.bid.map(|b| b.0),
        ask: v.ask.map(|a| a.0),
        mt_last_age_ms: v.last_trade.map(|(ts, _)| (t - ts) as f64 / 1e6),
        ..Features::default()
    };
    if let (Some((b, qb)), Some((a, qa))) = (v.bid, v.ask) {
        let m = (a + b) / 2.0;
        let s = if is_buy { 1.0 } else { -1.0 };
        f.mid = Some(m);
        f.spread = Some(a - b);
        f.spread_bps = (m > 0.0).then(|| 1e4 * (a - b) / m);
        f.tob_imbalance = (qb + qa > 0.0).then(|| (qb - qa) / (qb + qa));
        f.edge_vs_mid_bps = (m > 0.0).then(|| 1e4 * s * (m - px) / m);
        f.effective_spread_ratio = (a > b).then(|| 2.0 * (px - m).abs() / (a - b));
    }
    for w in 0..2 {
        let wv = &v.windows[w];
        f.mt_trades[w] = wv.trades;
        f.mt_volume[w] = wv.volume;
        f.mt_return[w] = match (v.last_trade, wv.ref_px) {
            (Some((_, last)), Some(r)) if r > 0.0 => Some(last / r - 1.0),
            _ => None,
        };
    }
    f
}

/// Expanding time-series splits as scikit-learn's `TimeSeriesSplit(k)`: test
/// blocks of `n / (k + 1)` rows at the end, each trained on every row before
/// it. Empty when `n / (k + 1) == 0`.
pub(crate) fn time_series_splits(n: usize, k: usize) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let size = n / (k + 1);
    if size == 0 {
        return Vec::new();
    }
    (0..k).map(|i| n - (k - i) * size).map(|start| (0..start, start..start + size)).collect()
}

/// Column medians of the non-missing values of `rows` (row-major, `d`
/// columns, NaN = missing); 0 for a column with none.
pub(crate) fn medians(x: &[f64], d: usize, rows: std::ops::Range<usize>) -> Vec<f64> {
    (0..d)
        .map(|j| {
            let v: Vec<f64> = rows.clone().map(|i| x[i * d + j]).filter(|v| v.is_finite()).collect();
            stats::quantile(&v, 0.5).unwrap_or(0.0)
        })
        .collect()
}

/// Fills missing values with `fill`, then standardises every column with the
/// mean and population std of `fit_rows` (scikit-learn's `StandardScaler`; a
/// constant column becomes 0). Returns the scaled copy.
pub(crate) fn impute_standardise(x: &[f64], d: usize, fill: &[f64], fit_rows: std::ops::Range<usize>) -> Vec<f64> {
    let mut z: Vec<f64> = x.iter().enumerate().map(|(i, v)| if v.is_finite() { *v } else { fill[i % d] }).collect();
    let n = fit_rows.len().max(1) as f64;
    for j in 0..d {
        let m = fit_rows.clone().map(|i| z[i * d + j]).sum::<f64>() / n;
        let sd = (fit_rows.clone().map(|i| (z[i * d + j] - m).powi(2)).sum::<f64>() / n).sqrt();
        let inv = if sd > 0.0 { 1.0 / sd } else { 0.0 };
        for row in z.chunks_exact_mut(d) {
            row[j] = (row[j] - m) * inv;
        }
    }
    z
}

/// The maker/taker comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Comparison {
    pub(crate) n_a: usize,
    pub(crate) n_b: usize,
    pub(crate) mean_a: Option<f64>,
    pub(crate) mean_b: Option<f64>,
    pub(crate) ci: Option<stats::Interval>,
    pub(crate) mw: Option<stats::MannWhitney>,
}

/// Compares samples `a` and `b` as the seed's `compare_exec`.
pub(crate) fn compare(a: &[f64], b: &[f64], resamples: usize, level: f64, seed: u64) -> Result<Comparison> {
    let both = !a.is_empty() && !b.is_empty();
    let ci = if both {
        Some(stats::bootstrap_mean_diff(a, b, resamples, level, seed).map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?)
    } else {
        None
    };
    let mw =
        if both { Some(stats::mann_whitney_u(a, b).map_err(|e| anyhow::anyhow!("Mann-Whitney: {e}"))?) } else { None };
    Ok(Comparison { n_a: a.len(), n_b: b.len(), mean_a: stats::mean(a).ok(), mean_b: stats::mean(b).ok(), ci, mw })
}

/// One instrument's market state for the join.
#[derive(Debug)]
struct MarketState {
    /// Price and quantity scales (10^exponent).
    px: f64,
    qty: f64,
    /// Committed top of book (strictly before the current instant).
    bid: Option<(f64, f64)>,
    ask: Option<(f64, f64)>,
    /// Committed trades: prices (30 s, 300 s) and quantities (30 s, 300 s).
    px_windows: [TimeWindow; 2],
    qty_windows: [TimeWindow; 2],
    /// Trades of the current instant, not yet committed: (ts, price, qty).
    pending: Vec<(i64, f64, f64)>,
}

impl MarketState {
    fn new(px_exp: i8, qty_exp: i8) -> Result<MarketState> {
        let w = |s: i64| TimeWindow::with_capacity(Duration::from_secs(s as u64), 1024);
        Ok(MarketState {
            px: 10f64.powi(px_exp.into()),
            qty: 10f64.powi(qty_exp.into()),
            bid: None,
            ask: None,
            px_windows: [w(WINDOWS_S[0])?, w(WINDOWS_S[1])?],
            qty_windows: [w(WINDOWS_S[0])?, w(WINDOWS_S[1])?],
            pending: Vec::with_capacity(64),
        })
    }

    /// Commits the live state: the book as it stands and the held-back trades.
    fn commit(&mut self, book: &Book) {
        let (px, qty) = (self.px, self.qty);
        self.bid = book.best_bid().map(|(p, q)| (p as f64 * px, q as f64 * qty));
        self.ask = book.best_ask().map(|(p, q)| (p as f64 * px, q as f64 * qty));
        for &(ts, p, q) in &self.pending {
            for w in 0..2 {
                self.px_windows[w].push(ts, p);
                self.qty_windows[w].push(ts, q);
            }
        }
        self.pending.clear();
    }

    /// The committed market as of time `t` (evicts trades at or before `t − W`).
    fn view(&mut self, t: i64) -> MarketView {
        let mut v = MarketView { bid: self.bid, ask: self.ask, ..MarketView::default() };
        v.last_trade = self.px_windows[0].newest();
        for w in 0..2 {
            self.px_windows[w].advance(t);
            self.qty_windows[w].advance(t);
            v.windows[w] = WindowView {
                trades: self.px_windows[w].count() as u64,
                volume: self.qty_windows[w].sum(),
                ref_px: self.px_windows[w].last_evicted().map(|(_, p)| p),
            };
        }
        v
    }
}

/// The fills table, column by column.
#[derive(Debug, Default)]
struct Rows {
    ts: Vec<i64>,
    coin: Vec<String>,
    /// Instrument index of the market each fill was joined with.
    market: Vec<Option<usize>>,
    /// `venue:symbol` of each instrument.
    names: Vec<String>,
    is_buy: Vec<bool>,
    price: Vec<f64>,
    qty: Vec<f64>,
    start_position: Vec<f64>,
    closed_pnl: Vec<f64>,
    fee: Vec<f64>,
    dir: Vec<u64>,
    flags: Vec<u8>,
    order_id: Vec<u64>,
    trade_id: Vec<u64>,
    f: Vec<Features>,
    has_market: Vec<bool>,
}

/// The replay handler of the join.
struct Joiner {
    account: u64,
    now: i64,
    states: Vec<Option<MarketState>>,
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
    /// Coin (NUL-padded) → instrument index and market symbol.
    coins: Vec<([u8; 16], Option<usize>)>,
    scale: (f64, f64, f64),
    rows: Rows,
}

impl Joiner {
    #[inline]
    fn touch(&mut self, inst: usize) {
        if self.states[inst].is_some() && !self.is_dirty[inst] {
            self.is_dirty[inst] = true;
            self.dirty.push(inst);
        }
    }

    fn fill(&mut self, f: &Fill) {
        let (px, qty, val) = self.scale;
        let t = f.ts.exchange;
        let is_buy = f.side == side::BUY;
        let price = f.price as f64 * px;
        let target = self.coins.iter().find(|c| c.0 == f.symbol).and_then(|c| c.1);
        let (feat, market) = match target {
            Some(inst) => match self.states[inst].as_mut() {
                Some(s) => (features(is_buy, price, t, &s.view(t)), Some(inst)),
                None => (Features::default(), None),
            },
            None => (Features::default(), None),
        };
        let r = &mut self.rows;
        r.ts.push(t);
        r.coin.push(f.symbol().to_owned());
        r.has_market.push(market.is_some());
        r.market.push(market);
        r.is_buy.push(is_buy);
        r.price.push(price);
        r.qty.push(f.qty as f64 * qty);
        r.start_position.push(f.start_position as f64 * qty);
        r.closed_pnl.push(f.closed_pnl as f64 * val);
        r.fee.push(f.fee as f64 * val);
        r.dir.push(f.dir.into());
        r.flags.push(f.flags);
        r.order_id.push(f.order_id);
        r.trade_id.push(f.trade_id);
        r.f.push(feat);
    }
}

impl<'a> Handler<'a> for Joiner {
    #[inline(always)]
    fn before(&mut self, ts: i64, books: &[Book]) {
        if ts > self.now {
            for &i in &self.dirty {
                if let Some(s) = self.states[i].as_mut() {
                    s.commit(&books[i]);
                }
                self.is_dirty[i] = false;
            }
            self.dirty.clear();
            self.now = ts;
        }
    }

    #[inline(always)]
    fn on_event(&mut self, inst: usize, event: Event<'a>, _books: &[Book]) {
        match event {
            Event::Trade(t) => {
                if let Some(s) = self.states[inst].as_mut() {
                    s.pending.push((t.ts.exchange, t.price as f64 * s.px, t.qty as f64 * s.qty));
                }
                self.touch(inst);
            }
            Event::Level(_) | Event::Quote(_) => self.touch(inst),
            Event::Fill(f) if f.account == self.account => self.fill(f),
            _ => {}
        }
    }
}

/// The account id of `a` (an id, or an address looked up in the accounts CSV
/// beside `fills`), and the address to show.
fn resolve_account(a: &str, fills: &Path) -> Result<(u64, String)> {
    let a = a.trim().to_ascii_lowercase();
    let hex = a.strip_prefix("0x").unwrap_or(&a);
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("--account {a}: not an address or 0x<16 hex digits> account id");
    }
    let dir = fills.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut csvs: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    csvs.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("accounts.csv")));
    csvs.sort();
    for csv in &csvs {
        let text = std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
        for line in text.lines().skip(1) {
            let Some((id, addr)) = line.split_once(',') else { continue };
            let (id, addr) = (id.trim().to_ascii_lowercase(), addr.trim().to_ascii_lowercase());
            if addr == a || id == a {
                let v = u64::from_str_radix(id.trim_start_matches("0x"), 16)
                    .with_context(|| format!("{}: account id `{id}` is not hex", csv.display()))?;
                return Ok((v, addr));
            }
        }
    }
    if hex.len() == 16 {
        return Ok((u64::from_str_radix(hex, 16)?, a.clone()));
    }
    // An address not in a CSV: the converter's rule (first 16 hex digits).
    Ok((ticktape_data::hyperliquid::account_id(&a), a.clone()))
}

fn parse_map(map: &[String]) -> Result<BTreeMap<String, String>> {
    map.iter()
        .map(|m| match m.split_once('=') {
            Some((c, s)) if !c.trim().is_empty() && !s.trim().is_empty() => {
                Ok((c.trim().to_ascii_uppercase(), s.trim().to_owned()))
            }
            _ => bail!("--map {m}: expected COIN=SYMBOL, e.g. --map BTC=BTCUSDT"),
        })
        .collect()
}

/// Everything computed for the outputs.
struct Analysis {
    exec: Vec<Exec>,
    pnl: Vec<f64>,
    cmp: Comparison,
    archetypes: Option<Archetypes>,
    direction: Vec<FoldResult>,
    notes: Vec<String>,
}

/// Feature columns of the archetypes (and their names in the tables).
const CLUSTER_FEATURES: &[&str] = &[
    "notional",
    "spread_bps",
    "tob_imbalance",
    "edge_vs_mid_bps",
    "effective_spread_ratio",
    "hour_utc",
    "mt_last_age_ms",
    "mt_return_30s",
    "mt_return_300s",
    "mt_trades_30s",
    "mt_trades_300s",
    "mt_volume_30s",
    "mt_volume_300s",
];

/// Features of the direction model: only what the market showed before the
/// fill, nothing that depends on the fill's own price against the book
/// (edge, effective spread, exec label encode the side).
const DIRECTION_FEATURES: &[&str] = &[
    "notional",
    "spread_bps",
    "tob_imbalance",
    "hour_utc",
    "mt_last_age_ms",
    "mt_return_30s",
    "mt_return_300s",
    "mt_trades_30s",
    "mt_trades_300s",
    "mt_volume_30s",
    "mt_volume_300s",
];

fn feature_value(r: &Rows, i: usize, name: &str) -> f64 {
    let f = &r.f[i];
    let o = |v: Option<f64>| v.unwrap_or(f64::NAN);
    match name {
        "notional" => r.price[i] * r.qty[i],
        "spread_bps" => o(f.spread_bps),
        "tob_imbalance" => o(f.tob_imbalance),
        "edge_vs_mid_bps" => o(f.edge_vs_mid_bps),
        "effective_spread_ratio" => o(f.effective_spread_ratio),
        "hour_utc" => hour_utc(r.ts[i]) as f64,
        "mt_last_age_ms" => o(f.mt_last_age_ms),
        "mt_return_30s" => o(f.mt_return[0]),
        "mt_return_300s" => o(f.mt_return[1]),
        "mt_trades_30s" => f.mt_trades[0] as f64,
        "mt_trades_300s" => f.mt_trades[1] as f64,
        "mt_volume_30s" => f.mt_volume[0],
        "mt_volume_300s" => f.mt_volume[1],
        _ => f64::NAN,
    }
}

fn hour_utc(ts: i64) -> u64 {
    ts.div_euclid(3_600_000_000_000).rem_euclid(24) as u64
}

/// The archetypes: a clustering of the fills with a known top of book.
struct Archetypes {
    rows: Vec<usize>,
    labels: Vec<usize>,
    k: usize,
}

/// One walk-forward fold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoldResult {
    pub(crate) fold: usize,
    pub(crate) train_rows: usize,
    pub(crate) test_rows: usize,
    pub(crate) test_from: i64,
    pub(crate) test_to: i64,
    pub(crate) test_buy_share: f64,
    pub(crate) accuracy: Option<f64>,
    pub(crate) roc_auc: Option<f64>,
    pub(crate) converged: bool,
}

/// Walk-forward logistic model of `y` (buy = true) from row-major `x`
/// (`d` columns, NaN = missing, rows in time order): per fold, median
/// imputation and standardisation fitted on the training rows only.
pub(crate) fn walk_forward(x: &[f64], d: usize, y: &[bool], ts: &[i64], k: usize, c: f64) -> Result<Vec<FoldResult>> {
    let mut out = Vec::new();
    for (fold, (train, test)) in time_series_splits(y.len(), k).into_iter().enumerate() {
        let yt = &y[train.clone()];
        let ys = &y[test.clone()];
        let mut r = FoldResult {
            fold: fold + 1,
            train_rows: train.len(),
            test_rows: test.len(),
            test_from: ts[test.start],
            test_to: ts[test.end - 1],
            test_buy_share: ys.iter().filter(|&&b| b).count() as f64 / ys.len() as f64,
            accuracy: None,
            roc_auc: None,
            converged: false,
        };
        if yt.iter().all(|&b| b) || yt.iter().all(|&b| !b) {
            out.push(r); // one class in training: no model
            continue;
        }
        let med = medians(x, d, train.clone());
        let z = impute_standardise(&x[..test.end * d], d, &med, train.clone());
        let fit = logistic::fit(&z[..train.end * d], d, yt, &Logistic { c, ..Logistic::default() })
            .map_err(|e| anyhow::anyhow!("direction model, fold {}: {e}", fold + 1))?;
        let scores: Vec<f64> = test.clone().map(|i| fit.predict_proba(&z[i * d..(i + 1) * d])).collect();
        let pred: Vec<bool> = scores.iter().map(|&p| p >= 0.5).collect();
        r.accuracy = logistic::accuracy(ys, &pred).ok();
        r.roc_auc = logistic::roc_auc(ys, &scores).ok();
        r.converged = fit.converged;
        out.push(r);
    }
    Ok(out)
}

pub(crate) fn run(a: TradesArgs) -> Result<()> {
    run_timed(&a).map(|_| ())
}

/// Seconds spent in each phase of a run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timings {
    pub(crate) join: f64,
    pub(crate) stats: f64,
    pub(crate) archetypes: f64,
    pub(crate) direction: f64,
    pub(crate) write: f64,
    pub(crate) total: f64,
    pub(crate) fills: usize,
    pub(crate) events: u64,
}

pub(crate) fn run_timed(a: &TradesArgs) -> Result<Timings> {
    if !(a.level > 0.0 && a.level < 1.0) {
        bail!("--level {} must be in (0, 1), e.g. 0.95", a.level);
    }
    if a.resamples == 0 || a.k == 0 || a.n_init == 0 {
        bail!("--resamples, --k and --n-init must be at least 1");
    }
    if !(a.c > 0.0 && a.c.is_finite()) {
        bail!("--c {} must be a positive number", a.c);
    }
    let t0 = std::time::Instant::now();
    let map = parse_map(&a.map)?;
    let fills_tape = Tape::open(&a.fills)?;
    if fills_tape.kind() != RecordKind::Fill {
        bail!(
            "{} is a {:?} tape, not a fills tape; give the fills tape first and market tapes after --market",
            a.fills.display(),
            fills_tape.kind()
        );
    }
    let (account, address) = resolve_account(&a.account, &a.fills)?;
    // The account's coins, and who else is in the tape (for the error).
    let recs = fills_tape.records::<Fill>()?;
    let mut coins: BTreeSet<[u8; 16]> = BTreeSet::new();
    let mut others: BTreeSet<u64> = BTreeSet::new();
    let mut n_fills = 0usize;
    let tape_fills = recs.len() as u64;
    for f in recs {
        if f.account == account {
            coins.insert(f.symbol);
            n_fills += 1;
        } else if others.len() < 5 {
            others.insert(f.account);
        }
    }
    if n_fills == 0 {
        let seen: Vec<String> = others.iter().map(|v| format!("0x{v:016x}")).collect();
        bail!(
            "{}: no fills of account {address} (id 0x{account:016x}); the tape has accounts {}; pass one of them to --account",
            a.fills.display(),
            if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
        );
    }
    let h = fills_tape.header();
    let scale =
        (10f64.powi(h.price_exponent.into()), 10f64.powi(h.qty_exponent.into()), 10f64.powi(h.value_exponent.into()));
    drop(fills_tape);
    for m in &a.market {
        if Tape::open(m)?.kind() == RecordKind::Fill {
            bail!("--market {}: a fills tape; --market takes trades, L2 or quote tapes", m.display());
        }
    }
    let mut paths = vec![a.fills.clone()];
    paths.extend(a.market.iter().cloned());
    let replay = Replay::open_with(&paths, ReplayOptions { allow_gaps: a.allow_gaps, ..ReplayOptions::default() })?;
    let insts = replay.instruments();
    let market_insts: BTreeSet<usize> = replay.tape_instruments()[1..].iter().copied().collect();
    let mut notes = Vec::new();
    let mut unmatched = Vec::new();
    let mut coin_map = Vec::new();
    for c in &coins {
        let coin = ticktape_tape::header::text_field(c).to_owned();
        let cands: Vec<usize> = match map.get(&coin.to_ascii_uppercase()) {
            Some(sym) => {
                let v: Vec<usize> = market_insts.iter().copied().filter(|&i| insts[i].symbol == *sym).collect();
                if v.is_empty() {
                    bail!("--map {coin}={sym}: no market tape has symbol {sym}");
                }
                v
            }
            None => market_insts.iter().copied().filter(|&i| coin_matches(&coin, &insts[i].symbol)).collect(),
        };
        let target = match cands.as_slice() {
            [] => {
                unmatched.push(coin.clone());
                None
            }
            [i] => Some(*i),
            many => bail!(
                "coin {coin} matches several markets ({}); pick one with --map {coin}=SYMBOL",
                many.iter().map(|&i| format!("{}:{}", insts[i].venue, insts[i].symbol)).collect::<Vec<_>>().join(", ")
            ),
        };
        coin_map.push((*c, target));
    }
    if !unmatched.is_empty() {
        notes.push(format!(
            "no market tape for coin(s) {} (name one with --map COIN=SYMBOL): their fills have no market features",
            unmatched.join(", ")
        ));
    }
    let mut states: Vec<Option<MarketState>> = Vec::with_capacity(insts.len());
    for (i, inst) in insts.iter().enumerate() {
        let used = coin_map.iter().any(|c| c.1 == Some(i));
        states.push(if used { Some(MarketState::new(inst.price_exponent, inst.qty_exponent)?) } else { None });
    }
    let mut j = Joiner {
        account,
        now: i64::MIN,
        dirty: Vec::with_capacity(insts.len()),
        is_dirty: vec![false; insts.len()],
        states,
        coins: coin_map,
        scale,
        rows: Rows { names: insts.iter().map(|i| format!("{}:{}", i.venue, i.symbol)).collect(), ..Rows::default() },
    };
    let outcome = replay.run(&mut j)?;
    let join_secs = t0.elapsed().as_secs_f64();
    let rows = j.rows;

    let mut tm = Timings { join: join_secs, ..Timings::default() };
    let an = analyse(&rows, a, notes, &mut tm)?;
    let tw = std::time::Instant::now();
    let staging = ticktape_engine::results::stage(&a.out, a.force)?;
    write_fills(staging.dir(), &rows, &an)?;
    write_stats(staging.dir(), a, &address, account, &an)?;
    let arch_text = write_archetypes(staging.dir(), &rows, &an)?;
    write_direction(staging.dir(), &an)?;
    staging.promote()?;
    tm.write = tw.elapsed().as_secs_f64();
    tm.total = t0.elapsed().as_secs_f64();
    tm.fills = rows.ts.len();
    tm.events = outcome.events - tape_fills;

    for n in &an.notes {
        eprintln!("note: {n}");
    }
    println!(
        "joined {} fills of {address} with {} market events in {join_secs:.2}s; {} with a top of book",
        rows.ts.len(),
        tm.events,
        rows.f.iter().filter(|f| f.mid.is_some()).count()
    );
    let c = &an.cmp;
    let fmt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.6}"));
    println!(
        "maker-like {} (mean PnL {}) vs taker-like {} (mean {}): diff {} CI{:.0}% [{}, {}], Mann-Whitney U {} p {}",
        c.n_a,
        fmt(c.mean_a),
        c.n_b,
        fmt(c.mean_b),
        fmt(c.ci.map(|i| i.estimate)),
        a.level * 100.0,
        fmt(c.ci.map(|i| i.lo)),
        fmt(c.ci.map(|i| i.hi)),
        fmt(c.mw.map(|m| m.u)),
        c.mw.map_or("–".to_owned(), |m| format!("{:.3e}", m.p)),
    );
    print!("{arch_text}");
    let acc: Vec<f64> = an.direction.iter().filter_map(|f| f.accuracy).collect();
    let auc: Vec<f64> = an.direction.iter().filter_map(|f| f.roc_auc).collect();
    let ms = |v: &[f64]| match (stats::mean(v), stats::std(v, 0)) {
        (Ok(m), Ok(s)) => format!("{m:.4} ± {s:.4}"),
        _ => "–".to_owned(),
    };
    println!("direction model ({} folds with a model): accuracy {}, ROC AUC {}", acc.len(), ms(&acc), ms(&auc));
    println!(
        "time: join {:.2}s, maker/taker {:.2}s, archetypes {:.2}s, direction {:.2}s, write {:.2}s, total {:.2}s",
        tm.join, tm.stats, tm.archetypes, tm.direction, tm.write, tm.total
    );
    println!("wrote {}/fills.parquet, stats.json, archetypes.parquet, direction.parquet", a.out.display());
    Ok(tm)
}

fn analyse(r: &Rows, a: &TradesArgs, mut notes: Vec<String>, tm: &mut Timings) -> Result<Analysis> {
    let n = r.ts.len();
    let t = std::time::Instant::now();
    let exec: Vec<Exec> = (0..n)
        .map(|i| match a.exec {
            ExecRule::Price => exec_by_price(r.is_buy[i], r.price[i], r.f[i].bid, r.f[i].ask),
            ExecRule::Crossed => {
                if r.flags[i] & fill_flags::CROSSED != 0 {
                    Exec::Taker
                } else {
                    Exec::Maker
                }
            }
        })
        .collect();
    let pnl: Vec<f64> = (0..n).map(|i| r.closed_pnl[i] - r.fee[i]).collect();
    let group = |e: Exec| (0..n).filter(|&i| exec[i] == e).map(|i| pnl[i]).collect::<Vec<f64>>();
    let cmp = compare(&group(Exec::Maker), &group(Exec::Taker), a.resamples, a.level, a.seed)?;
    if cmp.n_a == 0 || cmp.n_b == 0 {
        notes.push(format!(
            "maker/taker comparison needs fills in both groups (maker-like {}, taker-like {})",
            cmp.n_a, cmp.n_b
        ));
    }

    tm.stats = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    // Archetypes on the fills with a top of book.
    let rows: Vec<usize> = (0..n).filter(|&i| r.f[i].mid.is_some()).collect();
    let d = CLUSTER_FEATURES.len();
    let archetypes = if rows.len() >= a.k {
        let x: Vec<f64> =
            rows.iter().flat_map(|&i| CLUSTER_FEATURES.iter().map(move |name| feature_value(r, i, name))).collect();
        let med = medians(&x, d, 0..rows.len());
        let z = impute_standardise(&x, d, &med, 0..rows.len());
        let o = KMeans { k: a.k, n_init: a.n_init, seed: a.seed, ..KMeans::default() };
        let c = kmeans::kmeans(&z, d, &o).map_err(|e| anyhow::anyhow!("k-means: {e}"))?;
        Some(Archetypes { rows, labels: c.labels, k: a.k })
    } else {
        notes.push(format!("archetypes need at least --k {} fills with a top of book, got {}", a.k, rows.len()));
        None
    };

    tm.archetypes = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    // Direction model on the fills with a market.
    let rows: Vec<usize> = (0..n).filter(|&i| r.has_market[i]).collect();
    let d = DIRECTION_FEATURES.len();
    let x: Vec<f64> =
        rows.iter().flat_map(|&i| DIRECTION_FEATURES.iter().map(move |name| feature_value(r, i, name))).collect();
    let y: Vec<bool> = rows.iter().map(|&i| r.is_buy[i]).collect();
    let ts: Vec<i64> = rows.iter().map(|&i| r.ts[i]).collect();
    let direction = walk_forward(&x, d, &y, &ts, a.folds as usize, a.c)?;
    tm.direction = t.elapsed().as_secs_f64();
    if direction.is_empty() {
        notes.push(format!(
            "direction model needs at least {} fills with a market for {} folds, got {}",
            a.folds + 1,
            a.folds,
            rows.len()
        ));
    }
    Ok(Analysis { exec, pnl, cmp, archetypes, direction, notes })
}

fn write_fills(dir: &Path, r: &Rows, an: &Analysis) -> Result<()> {
    let n = r.ts.len();
    let opt = |g: &dyn Fn(&Features) -> Option<f64>| r.f.iter().map(g).collect::<Vec<_>>();
    let flag = |bit: u8| r.flags.iter().map(|f| f & bit != 0).collect::<Vec<_>>();
    // The archetype of each fill; −1 for fills without a top of book (not clustered).
    let mut cluster = vec![-1i64; n];
    if let Some(arch) = &an.archetypes {
        for (&i, &l) in arch.rows.iter().zip(&arch.labels) {
            cluster[i] = l as i64;
        }
    }
    let mut t = Table::new()
        .ts("ts", r.ts.clone())
        .utf8("coin", r.coin.clone())
        .utf8_opt("market", r.market.iter().map(|m| m.map(|i| r.names[i].clone())).collect())
        .utf8("side", r.is_buy.iter().map(|&b| if b { "buy" } else { "sell" }.to_owned()).collect())
        .f64("price", r.price.clone())
        .f64("qty", r.qty.clone())
        .f64("notional", (0..n).map(|i| r.price[i] * r.qty[i]).collect())
        .f64("start_position", r.start_position.clone())
        .f64("closed_pnl", r.closed_pnl.clone())
        .f64("fee", r.fee.clone())
        .f64("pnl", an.pnl.clone())
        .u64("dir", r.dir.clone())
        .bool("crossed", flag(fill_flags::CROSSED))
        .bool("liquidation", flag(fill_flags::LIQUIDATION))
        .bool("liquidated", flag(fill_flags::LIQUIDATED))
        .bool("twap", flag(fill_flags::TWAP))
        .bool("builder", flag(fill_flags::BUILDER))
        .u64("order_id", r.order_id.clone())
        .u64("trade_id", r.trade_id.clone())
        .utf8("exec_type", an.exec.iter().map(|e| e.label().to_owned()).collect())
        .u64("hour_utc", r.ts.iter().map(|&t| hour_utc(t)).collect())
        .f64_opt("bid", opt(&|f| f.bid))
        .f64_opt("ask", opt(&|f| f.ask))
        .f64_opt("mid", opt(&|f| f.mid))
        .f64_opt("spread", opt(&|f| f.spread))
        .f64_opt("spread_bps", opt(&|f| f.spread_bps))
        .f64_opt("tob_imbalance", opt(&|f| f.tob_imbalance))
        .f64_opt("edge_vs_mid_bps", opt(&|f| f.edge_vs_mid_bps))
        .f64_opt("effective_spread_ratio", opt(&|f| f.effective_spread_ratio))
        .f64_opt("mt_last_age_ms", opt(&|f| f.mt_last_age_ms));
    for (w, s) in WINDOWS_S.iter().enumerate() {
        t = t
            .f64_opt(&format!("mt_return_{s}s"), opt(&|f| f.mt_return[w]))
            .u64(&format!("mt_trades_{s}s"), r.f.iter().map(|f| f.mt_trades[w]).collect())
            .f64(&format!("mt_volume_{s}s"), r.f.iter().map(|f| f.mt_volume[w]).collect());
    }
    t.i64("cluster", cluster).write(&dir.join("fills.parquet"))?;
    Ok(())
}

fn write_stats(dir: &Path, a: &TradesArgs, address: &str, account: u64, an: &Analysis) -> Result<()> {
    let c = &an.cmp;
    let count = |e: Exec| an.exec.iter().filter(|&&x| x == e).count();
    let v = json!({
        "account": address,
        "account_id": format!("0x{account:016x}"),
        "fills": an.exec.len(),
        "exec_rule": match a.exec { ExecRule::Price => "price", ExecRule::Crossed => "crossed" },
        "pnl": "closed_pnl - fee",
        "group_a": "MAKER_LIKE",
        "group_b": "TAKER_LIKE",
        "n_a": c.n_a,
        "n_b": c.n_b,
        "n_inside": count(Exec::Inside),
        "n_unknown": count(Exec::Unknown),
        "mean_a": c.mean_a,
        "mean_b": c.mean_b,
        "mean_diff": c.ci.map(|i| i.estimate),
        "ci_low": c.ci.map(|i| i.lo),
        "ci_high": c.ci.map(|i| i.hi),
        "level": a.level,
        "resamples": a.resamples,
        "seed": a.seed,
        "mann_whitney_u": c.mw.map(|m| m.u),
        "p_value": c.mw.map(|m| m.p),
        "mw_exact": c.mw.map(|m| m.exact),
        "notes": an.notes.iter().map(|n| Value::String(n.clone())).collect::<Vec<_>>(),
    });
    ticktape_engine::results::write_json(&dir.join("stats.json"), &v)?;
    Ok(())
}

/// Writes archetypes.parquet; returns the printed summary.
fn write_archetypes(dir: &Path, r: &Rows, an: &Analysis) -> Result<String> {
    let mut text = String::new();
    let path = dir.join("archetypes.parquet");
    let Some(arch) = &an.archetypes else {
        let mut t = Table::new().u64("cluster", vec![]).u64("count", vec![]).f64("share", vec![]);
        for name in CLUSTER_FEATURES {
            t = t.f64_opt(&format!("mean_{name}"), vec![]);
        }
        t.f64("pnl_sum", vec![]).f64("mean_pnl", vec![]).f64("win_rate", vec![]).write(&path)?;
        return Ok(text);
    };
    let k = arch.k;
    let total = arch.rows.len() as f64;
    let members: Vec<Vec<usize>> = (0..k)
        .map(|c| arch.rows.iter().zip(&arch.labels).filter(|&(_, &l)| l == c).map(|(&i, _)| i).collect())
        .collect();
    let mean_of = |m: &[usize], name: &str| {
        let v: Vec<f64> = m.iter().map(|&i| feature_value(r, i, name)).filter(|v| v.is_finite()).collect();
        stats::mean(&v).ok()
    };
    let mut t = Table::new()
        .u64("cluster", (0..k as u64).collect())
        .u64("count", members.iter().map(|m| m.len() as u64).collect())
        .f64("share", members.iter().map(|m| m.len() as f64 / total).collect());
    for name in CLUSTER_FEATURES {
        t = t.f64_opt(&format!("mean_{name}"), members.iter().map(|m| mean_of(m, name)).collect());
    }
    let pnl_sum: Vec<f64> = members.iter().map(|m| m.iter().map(|&i| an.pnl[i]).sum()).collect();
    let mean_pnl: Vec<f64> = members.iter().zip(&pnl_sum).map(|(m, s)| s / m.len().max(1) as f64).collect();
    let win: Vec<f64> =
        members.iter().map(|m| m.iter().filter(|&&i| an.pnl[i] > 0.0).count() as f64 / m.len().max(1) as f64).collect();
    t.f64("pnl_sum", pnl_sum.clone()).f64("mean_pnl", mean_pnl.clone()).f64("win_rate", win.clone()).write(&path)?;
    let _ = writeln!(
        text,
        "archetypes (k-means++, k = {k}, on {} fills with a top of book; by total PnL):\n{:>7} {:>8} {:>7} {:>12} {:>12} {:>8} {:>11} {:>10} {:>10} {:>9}",
        arch.rows.len(),
        "cluster",
        "count",
        "share",
        "pnl_sum",
        "mean_pnl",
        "win",
        "spread_bps",
        "imbalance",
        "edge_bps",
        "trades30"
    );
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| pnl_sum[y].total_cmp(&pnl_sum[x]).then(x.cmp(&y)));
    let f = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.3}"));
    for c in order {
        let m = &members[c];
        let _ = writeln!(
            text,
            "{c:>7} {:>8} {:>7.3} {:>12.4} {:>12.6} {:>8.3} {:>11} {:>10} {:>10} {:>9}",
            m.len(),
            m.len() as f64 / total,
            pnl_sum[c],
            mean_pnl[c],
            win[c],
            f(mean_of(m, "spread_bps")),
            f(mean_of(m, "tob_imbalance")),
            f(mean_of(m, "edge_vs_mid_bps")),
            f(mean_of(m, "mt_trades_30s")),
        );
    }
    Ok(text)
}

fn write_direction(dir: &Path, an: &Analysis) -> Result<()> {
    let d = &an.direction;
    Table::new()
        .u64("fold", d.iter().map(|f| f.fold as u64).collect())
        .u64("train_rows", d.iter().map(|f| f.train_rows as u64).collect())
        .u64("test_rows", d.iter().map(|f| f.test_rows as u64).collect())
        .ts("test_from", d.iter().map(|f| f.test_from).collect())
        .ts("test_to", d.iter().map(|f| f.test_to).collect())
        .f64("test_buy_share", d.iter().map(|f| f.test_buy_share).collect())
        .f64_opt("accuracy", d.iter().map(|f| f.accuracy).collect())
        .f64_opt("roc_auc", d.iter().map(|f| f.roc_auc).collect())
        .bool("converged", d.iter().map(|f| f.converged).collect())
        .write(&dir.join("direction.parquet"))?;
    Ok(())
}

/// `research trades` on generated data: one account's fills against a
/// generated BTCUSDT trades + L2 market.
///
/// Without TAPES, generates --events market records (trades + L2) first;
/// then writes --fills fills of one account, taken at every n-th market
/// trade's time and price (random side, size, PnL and CROSSED flag). Each of
/// --runs runs is the whole command, timed per phase: the join (one replay of
/// the fills and the market, the features), the maker/taker statistics
/// (--resamples bootstrap rounds), the archetypes (k = 8, --n-init
/// restarts), the direction model (5 folds) and the writes. Generation is not
/// timed. Reports the median of each phase.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench trades                                  # 1M fills against 20M market events
  ticktape bench trades --events 2M --fills 100k --runs 5
  ticktape bench trades --resamples 20000 --n-init 10     # the seed's options")]
pub(crate) struct TradesBench {
    /// Market tapes of one instrument (trades + L2 or quotes) instead of generated ones.
    #[arg(value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Market records to generate when no tapes are given.
    #[arg(long, default_value = "20M", value_parser = crate::fmt::parse_count)]
    events: u64,
    /// Fills of the account.
    #[arg(long, default_value = "1M", value_parser = crate::fmt::parse_count)]
    fills: u64,
    /// Timed runs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Bootstrap resamples of the maker/taker comparison.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// k-means++ restarts of the archetypes.
    #[arg(long, default_value_t = 1)]
    n_init: usize,
}

pub(crate) fn bench(b: TradesBench) -> Result<()> {
    use ticktape_tape::{Stamp, TapeMeta, TapeWriter, Trade};
    let (paths, _gen) = crate::bench::tapes_or_generate(&b.tapes, b.events, &["BTCUSDT".to_owned()], false)?;
    let mut trade_tape = None;
    for p in &paths {
        let t = Tape::open(p)?;
        if t.kind() == RecordKind::Trade {
            trade_tape = Some(t);
        }
    }
    let Some(tt) = trade_tape else { bail!("no trades tape among the market tapes") };
    let trades = tt.records::<Trade>()?;
    if trades.is_empty() || b.fills == 0 {
        bail!("need market trades and --fills ≥ 1");
    }
    let step = (trades.len() / b.fills as usize).max(1);
    let work = tempfile::tempdir().context("cannot create a temporary folder for the fills tape")?;
    let h = tt.header();
    let meta = TapeMeta {
        symbol: "0x00000000000000ab".into(),
        venue: "hyperliquid".into(),
        price_exponent: h.price_exponent,
        qty_exponent: h.qty_exponent,
        value_exponent: -6,
        ..TapeMeta::default()
    };
    let fills_path = work.path().join(meta.file_name(RecordKind::Fill));
    let mut w = TapeWriter::<Fill>::create(&fills_path, &meta)?;
    let mut sym = [0u8; 16];
    sym[..3].copy_from_slice(b"BTC");
    let mut x = 0x5EED_u64;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut n = 0u64;
    for t in trades.iter().step_by(step).take(b.fills as usize) {
        let r = next();
        w.push(&Fill {
            ts: Stamp { exchange: t.ts.exchange, local: t.ts.exchange },
            account: 0xab,
            price: t.price,
            qty: t.qty.max(1),
            closed_pnl: (r % 2_000_001) as i64 - 1_000_000,
            fee: (r >> 40) as i64 % 1000,
            symbol: sym,
            side: if r >> 63 == 0 { side::BUY } else { side::SELL },
            flags: if (r >> 62) & 1 == 0 { fill_flags::CROSSED } else { 0 },
            ..Fill::default()
        })?;
        n += 1;
    }
    w.finish()?;
    println!("wrote {n} fills of one account (one per {step} market trades)");
    let mut all = Vec::new();
    for run in 0..b.runs {
        let a = TradesArgs {
            account: "0x00000000000000ab".into(),
            fills: fills_path.clone(),
            market: paths.clone(),
            out: work.path().join("out"),
            map: Vec::new(),
            exec: ExecRule::Price,
            resamples: b.resamples,
            level: 0.95,
            seed: 7,
            k: 8,
            n_init: b.n_init,
            folds: 5,
            c: 1.0,
            allow_gaps: false,
            force: run > 0,
        };
        all.push(run_timed(&a)?);
    }
    let med = |f: fn(&Timings) -> f64| {
        let v: Vec<f64> = all.iter().map(f).collect();
        stats::quantile(&v, 0.5).unwrap_or(f64::NAN)
    };
    let (join, total) = (med(|t| t.join), med(|t| t.total));
    let t = all[0];
    println!(
        "bench trades: {} fills × {} market events, medians of {} runs: join {join:.2}s ({:.1} M events/s), \
         maker/taker {:.2}s ({} resamples), archetypes {:.2}s (n_init {}), direction {:.2}s, write {:.2}s, total {total:.2}s",
        t.fills,
        t.events,
        b.runs,
        (t.events + t.fills as u64) as f64 / join / 1e6,
        med(|t| t.stats),
        b.resamples,
        med(|t| t.archetypes),
        b.n_init,
        med(|t| t.direction),
        med(|t| t.write),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_labels_follow_the_price_against_the_book() {
        let (b, a) = (Some(99.0), Some(101.0));
        assert_eq!(exec_by_price(true, 101.0, b, a), Exec::Taker);
        assert_eq!(exec_by_price(true, 102.0, b, a), Exec::Taker);
        assert_eq!(exec_by_price(true, 99.0, b, a), Exec::Maker);
        assert_eq!(exec_by_price(true, 100.0, b, a), Exec::Inside);
        assert_eq!(exec_by_price(false, 99.0, b, a), Exec::Taker);
        assert_eq!(exec_by_price(false, 101.0, b, a), Exec::Maker);
        assert_eq!(exec_by_price(false, 100.0, b, None), Exec::Unknown);
        // A locked book: taker first.
        assert_eq!(exec_by_price(true, 100.0, Some(100.0), Some(100.0)), Exec::Taker);
    }

    #[test]
    fn coins_match_symbols_with_a_quote_suffix_only() {
        assert!(coin_matches("BTC", "BTC"));
        assert!(coin_matches("BTC", "btcusdt"));
        assert!(coin_matches("btc", "BTC-PERP"));
        assert!(coin_matches("BTC", "BTC/USDC:USDC"));
        assert!(coin_matches("kPEPE", "KPEPEUSDT"));
        assert!(!coin_matches("BTC", "BTCDOMUSDT"));
        assert!(!coin_matches("ETH", "ETHFIUSDT"));
        assert!(!coin_matches("", "USDT"));
    }

    #[test]
    fn features_by_hand() {
        let v = MarketView {
            bid: Some((99.0, 3.0)),
            ask: Some((101.0, 1.0)),
            last_trade: Some((1_000_000_000, 102.0)),
            windows: [
                WindowView { trades: 2, volume: 5.0, ref_px: Some(100.0) },
                WindowView { trades: 4, volume: 9.0, ref_px: None },
            ],
        };
        let f = features(true, 100.5, 1_250_000_000, &v);
        assert_eq!(f.mid, Some(100.0));
        assert_eq!(f.spread, Some(2.0));
        assert_eq!(f.spread_bps, Some(200.0));
        assert_eq!(f.tob_imbalance, Some(0.5));
        assert!((f.edge_vs_mid_bps.unwrap() + 50.0).abs() < 1e-9); // bought 0.5 above mid
        assert_eq!(f.effective_spread_ratio, Some(0.5));
        assert_eq!(f.mt_last_age_ms, Some(250.0));
        assert!((f.mt_return[0].unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(f.mt_return[1], None);
        assert_eq!((f.mt_trades, f.mt_volume), ([2, 4], [5.0, 9.0]));
        let s = features(false, 100.5, 1_250_000_000, &v);
        assert!((s.edge_vs_mid_bps.unwrap() - 50.0).abs() < 1e-9); // sold 0.5 above mid
        let empty = features(true, 1.0, 0, &MarketView::default());
        assert_eq!((empty.mid, empty.mt_last_age_ms, empty.mt_return), (None, None, [None, None]));
    }

    #[test]
    fn splits_are_sklearns_time_series_split() {
        // TimeSeriesSplit(n_splits=3).split(range(10)): test [4,5], [6,7], [8,9].
        let s = time_series_splits(10, 3);
        assert_eq!(s, vec![(0..4, 4..6), (0..6, 6..8), (0..8, 8..10)]);
        assert!(time_series_splits(3, 5).is_empty());
    }

    #[test]
    fn standardising_uses_the_training_rows_and_fills_gaps() {
        let x = [1.0, f64::NAN, 3.0, 2.0, 100.0, 4.0];
        let med = medians(&x, 2, 0..2);
        assert_eq!(med, vec![2.0, 2.0]);
        let z = impute_standardise(&x, 2, &med, 0..2);
        // Column 0 on rows 0..2: mean 2, std 1. Column 1: [2, 2] → constant → 0.
        assert_eq!(z, vec![-1.0, 0.0, 1.0, 0.0, 98.0, 0.0]);
    }

    #[test]
    fn a_planted_difference_is_found() {
        let a: Vec<f64> = (0..200).map(|i| 1.0 + (i % 10) as f64 * 0.1).collect();
        let b: Vec<f64> = (0..150).map(|i| -1.0 + (i % 10) as f64 * 0.1).collect();
        let c = compare(&a, &b, 2000, 0.95, 7).unwrap();
        let ci = c.ci.unwrap();
        assert!((ci.estimate - 2.0).abs() < 1e-9);
        assert!(ci.lo > 1.9 && ci.hi < 2.1 && ci.lo < 2.0 && 2.0 < ci.hi, "{ci:?}");
        let mw = c.mw.unwrap();
        assert_eq!(mw.u, 200.0 * 150.0); // every a above every b
        assert!(mw.p < 1e-40);
        let none = compare(&a, &[], 10, 0.95, 7).unwrap();
        assert_eq!((none.ci, none.mw, none.n_b), (None, None, 0));
    }
}
