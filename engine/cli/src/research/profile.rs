//! `ticktape research profile`: trader profiles from fills tapes (tiers 1–4 of the research
//! notebook `001`, "trader analysis pipeline"). The numbers come from
//! `ticktape_research::profile` (definitions there); this module reads the tapes, groups the fills
//! by account, runs the accounts on threads and writes the tables.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use ticktape_engine::table::{Table, TableWriter};
use ticktape_research::profile::{
    AccountProfile, Class, Cycle, Day, NO_START, NS_PER_DAY, ProfileFill, Profiler, Rules,
};
use ticktape_tape::{Fill, Record, RecordKind, Tape, UNDEF, fill_flags, side};

/// The default rules file, as `--print-rules` prints it.
pub(crate) const DEFAULT_RULES: &str = r#"# ticktape research profile: trader classes (tier 4).
# The rules apply in this order; the first that matches wins, else RETAIL.
# Defaults are the thresholds of the research notebook (001, trader analysis pipeline).
# An undefined MTM/TV or Sharpe counts as 0.

[liquidator]
# liquidation fills / fills at or above
min_liquidation_share = 0.2

[hft]
# maker share (1 - share of CROSSED fills) at or above, and |realised PnL / volume| at or below
min_maker_share = 0.7
max_abs_mtm_tv = 0.001

[smart_directional]
# net PnL (realised - fees), MTM/TV and annualised Sharpe of daily realised PnL, each at or above
min_net_pnl = 10000.0
min_mtm_tv = 0.001
min_sharpe = 1.0

[basis]
# mean holding period of closed position cycles at or above, hours
min_avg_hold_hours = 24.0
# assumed for an account without a closed cycle (the notebook's 999: such accounts are BASIS)
missing_hold_hours = 999.0
"#;

/// Profile traders from their fills: tiers 1–4.
///
/// Reads fills tapes (one or many accounts and coins each; several tapes are merged by time) and
/// writes, per account, tier 1 (trades, volume = Σ px·sz, unique coins, first/last trade, realised
/// PnL = Σ closed_pnl, fees, net PnL, taker/maker share from CROSSED, win rate = winning / closing
/// fills where closing means closed_pnl ≠ 0, MTM/TV = realised PnL / volume, liquidation share,
/// TWAP fills), tier 2 (position cycles per account and coin from the signed sizes and
/// start_position: opens, adds, partial closes, flips through zero split in two, gaps resynced and
/// counted; holding periods, cycle PnL and win rate), tier 3 (daily PnL, Sharpe = mean/std·√365 of
/// the daily realised PnL, ROI = net PnL / peak gross notional, trading days) and tier 4 (classes
/// LIQUIDATOR, HFT, SMART_DIRECTIONAL, BASIS, RETAIL by the rules of --rules).
///
/// Writes DIR/profiles.parquet (one row per account), DIR/cycles.parquet, DIR/daily.parquet and
/// DIR/liquidations.parquet (top liquidators: LIQUIDATION fills without LIQUIDATED; liquidated
/// accounts: LIQUIDATED fills; liquidation fills by coin), and prints a class summary. Accounts are
/// named by the `*.accounts.csv` beside a tape (written by `convert hyperliquid`), else `0x` and
/// the 16 hex digits of the id. Outputs do not depend on --threads.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape convert hyperliquid ../shared/data/real/hyperliquid/hl_sdk_userFills_0xb7b6f3ce.json -o fills
  ticktape research profile fills/*.fills.tape -o out/profile
  ticktape research profile fills/ -o out/profile --rules my-rules.toml --top 20
  ticktape research profile --print-rules > rules.toml
  ticktape gen --fills 10M --accounts 100k --out gen && ticktape research profile gen -o out/gen")]
pub(crate) struct ProfileArgs {
    /// Fills tapes, or folders of them.
    #[arg(value_name = "FILLS_TAPE", required_unless_present = "print_rules")]
    tapes: Vec<PathBuf>,
    /// Output folder (must be empty or absent unless --force).
    #[arg(short = 'o', long = "out", value_name = "DIR", required_unless_present = "print_rules")]
    out: Option<PathBuf>,
    /// Classification rules (TOML; see --print-rules for the keys and the defaults).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Print the default rules file and exit.
    #[arg(long)]
    print_rules: bool,
    /// Rows printed per class and per liquidation list.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Worker threads (default: all cores). Outputs do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Replace a non-empty output folder.
    #[arg(long)]
    force: bool,
}

/// Reads and checks a rules file.
pub(crate) fn load_rules(path: Option<&Path>) -> Result<Rules> {
    let Some(path) = path else { return Ok(Rules::default()) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the rules file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        let at = e.span().map(|s| {
            let line = text[..s.start.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1;
            format!(" line {line}:")
        });
        anyhow::anyhow!(
            "{}:{} {msg} (print the expected keys with `ticktape research profile --print-rules`)",
            path.display(),
            at.unwrap_or_default()
        )
    })
}

/// Everything `profile` computes.
pub(crate) struct Profiles {
    /// Account names, in account order (ids increasing).
    pub(crate) names: Vec<String>,
    /// Coin names, in coin order (names increasing).
    pub(crate) coins: Vec<String>,
    /// Per account.
    pub(crate) profiles: Vec<AccountProfile>,
    /// Per account.
    pub(crate) classes: Vec<Class>,
    /// Every cycle, by account, then in the order they ended.
    pub(crate) cycles: Vec<Cycle>,
    /// Every account-day, by account and day.
    pub(crate) days: Vec<Day>,
    /// Per coin: LIQUIDATION fills and their notional.
    pub(crate) coin_liquidations: Vec<(u64, f64)>,
    /// Fills read.
    pub(crate) fills: u64,
}

/// A multiply-rotate hasher for the account and coin maps (keys are ids and symbols from our own
/// tapes, so no flooding defence is needed; SipHash would cost more than the rest of pass 1).
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// The dense number of `key`: new keys are numbered in first-seen order and
/// appended to `keys`. `last` caches the previous lookup, since fills come in
/// runs of one account and one coin.
#[inline]
fn intern<K: Copy + Eq + std::hash::Hash>(
    key: K,
    last: &mut Option<(K, u32)>,
    of: &mut FxMap<K, u32>,
    keys: &mut Vec<K>,
) -> u32 {
    if let Some((k, n)) = *last
        && k == key
    {
        return n;
    }
    let next = keys.len() as u32;
    let n = *of.entry(key).or_insert_with(|| {
        keys.push(key);
        next
    });
    *last = Some((key, n));
    n
}

/// One tape's scale factors.
#[derive(Clone, Copy)]
struct Scale {
    price: f64,
    qty: i64,
    value: f64,
}

/// Tapes in `paths`, folders expanded to their `*.tape` files (sorted).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list the folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|e| e == "tape"))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{}: the folder holds no .tape files; give fills tapes", p.display());
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Account addresses from every `*.accounts.csv` beside the tapes (`account_id,address`).
fn account_names(tapes: &[PathBuf]) -> Result<HashMap<u64, String>> {
    let mut dirs: Vec<PathBuf> = tapes.iter().map(|t| t.parent().map(Path::to_path_buf).unwrap_or_default()).collect();
    dirs.sort();
    dirs.dedup();
    let mut names = HashMap::new();
    for d in dirs {
        let d = if d.as_os_str().is_empty() { PathBuf::from(".") } else { d };
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut csvs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".accounts.csv")))
            .collect();
        csvs.sort();
        for csv in csvs {
            let text = std::fs::read_to_string(&csv).with_context(|| format!("cannot read {}", csv.display()))?;
            for (i, line) in text.lines().enumerate().skip(1) {
                if line.trim().is_empty() {
                    continue;
                }
                let (id, addr) = line.split_once(',').with_context(|| {
                    format!("{}: line {}: expected `account_id,address`, got `{line}`", csv.display(), i + 1)
                })?;
                let id = u64::from_str_radix(id.trim().trim_start_matches("0x"), 16).with_context(|| {
                    format!("{}: line {}: account_id `{id}` is not 0x and hex digits", csv.display(), i + 1)
                })?;
                names.insert(id, addr.trim().to_owned());
            }
        }
    }
    Ok(names)
}

/// Fill `i` of tape `t` as the profiler needs it.
#[inline]
fn convert(f: &Fill, s: Scale, coin: u32) -> ProfileFill {
    let v = |x: i64| if x == UNDEF { 0.0 } else { x as f64 * s.value };
    ProfileFill {
        ts: f.ts.exchange,
        coin,
        price: f.price as f64 * s.price,
        qty: f.qty * s.qty,
        start_position: if f.start_position == UNDEF { NO_START } else { f.start_position * s.qty },
        closed_pnl: v(f.closed_pnl),
        fee: v(f.fee),
        buy: f.side == side::BUY,
        flags: f.flags,
    }
}

/// Pass 1 over one range of the fills.
#[derive(Default)]
struct Piece {
    /// Account ids, first seen first.
    ids: Vec<u64>,
    /// Coin symbols, first seen first.
    syms: Vec<[u8; 16]>,
    /// Per fill: its account (local number, then global) and coin (likewise).
    acct: Vec<u32>,
    coin: Vec<u32>,
    /// (local coin, notional) of each LIQUIDATION fill, in fill order.
    liq: Vec<(u32, f64)>,
    /// The first bad fill: its global number and what is wrong.
    error: Option<(usize, &'static str)>,
    /// Local numbers to global ones, and fills per (global) account.
    rank: Vec<u32>,
    crank: Vec<u32>,
    counts: Vec<u32>,
}

/// Checks fills `g0..g1` (global numbers across `recs`), numbers their accounts and coins and
/// notes their liquidations; stops at the first bad fill.
fn pass1(recs: &[&[Fill]], scales: &[Scale], base: &[usize], g0: usize, g1: usize, unit: f64) -> Piece {
    let mut p = Piece { acct: Vec::with_capacity(g1 - g0), coin: Vec::with_capacity(g1 - g0), ..Piece::default() };
    let mut acct_of: FxMap<u64, u32> = FxMap::default();
    let mut coin_of: FxMap<[u8; 16], u32> = FxMap::default();
    let mut last: Option<(u64, u32)> = None;
    let mut last_coin: Option<([u8; 16], u32)> = None;
    for (t, r) in recs.iter().enumerate() {
        let (lo, hi) = (g0.max(base[t]), g1.min(base[t] + r.len()));
        if lo >= hi {
            continue;
        }
        let s = scales[t];
        for (k, f) in r[lo - base[t]..hi - base[t]].iter().enumerate() {
            if let Some(why) = f.check() {
                p.error = Some((lo + k, why));
                return p;
            }
            let a = intern(f.account, &mut last, &mut acct_of, &mut p.ids);
            let c = intern(f.symbol, &mut last_coin, &mut coin_of, &mut p.syms);
            if f.flags & fill_flags::LIQUIDATION != 0 {
                p.liq.push((c, f.price as f64 * s.price * (f.qty * s.qty) as f64 * unit));
            }
            p.acct.push(a);
            p.coin.push(c);
        }
    }
    p
}

/// Profiles every account of `paths` on `threads` threads.
pub(crate) fn compute(paths: &[PathBuf], rules: &Rules, threads: usize) -> Result<Profiles> {
    let t0 = std::time::Instant::now();
    let paths = expand(paths)?;
    if paths.is_empty() {
        bail!("no fills tapes given");
    }
    let mut tapes = Vec::with_capacity(paths.len());
    for p in &paths {
        let t = Tape::open(p)?;
        if t.kind() != RecordKind::Fill {
            bail!("{}: a {} tape; `research profile` reads fills tapes (*.fills.tape)", p.display(), t.kind());
        }
        tapes.push(t);
    }
    let recs: Vec<&[Fill]> = tapes.iter().map(|t| t.records::<Fill>()).collect::<Result<_, _>>()?;
    let total: usize = recs.iter().map(|r| r.len()).sum();
    if total == 0 {
        bail!("the fills tapes hold no fills ({})", paths[0].display());
    }
    if total > u32::MAX as usize {
        bail!("{total} fills: more than 4,294,967,295 in one run; profile the tapes in parts");
    }
    // One integer quantity scale for all tapes: the finest exponent.
    let qe = tapes.iter().map(|t| t.header().qty_exponent).min().expect("tapes");
    let unit = 10f64.powi(i32::from(qe));
    let mut scales = Vec::with_capacity(tapes.len());
    for (t, p) in tapes.iter().zip(&paths) {
        let h = t.header();
        let shift = u32::try_from(i32::from(h.qty_exponent) - i32::from(qe)).expect("min exponent");
        let qty = 10i64.checked_pow(shift).with_context(|| {
            format!("{}: quantity exponent {} is too far from {qe} of another tape", p.display(), h.qty_exponent)
        })?;
        scales.push(Scale {
            price: 10f64.powi(i32::from(h.price_exponent)),
            qty,
            value: 10f64.powi(i32::from(h.value_exponent)),
        });
    }

    let base: Vec<usize> = recs
        .iter()
        .scan(0usize, |s, r| {
            let b = *s;
            *s += r.len();
            Some(b)
        })
        .collect();
    let locate = |g: u32| -> (usize, usize) {
        let t = base.partition_point(|&b| b <= g as usize) - 1;
        (t, g as usize - base[t])
    };
    let threads = threads.max(1);

    // Pass 1, on `threads` equal ranges of the fills (across tapes): check them, number their
    // accounts and coins (first seen in the range), and note the liquidation fills.
    let ranges: Vec<(usize, usize)> = (0..threads).map(|k| (total * k / threads, total * (k + 1) / threads)).collect();
    let mut pieces: Vec<Piece> = std::thread::scope(|sc| {
        let hs: Vec<_> = ranges
            .iter()
            .map(|&(g0, g1)| {
                let (recs, scales, base) = (&recs, &scales, &base);
                sc.spawn(move || pass1(recs, scales, base, g0, g1, unit))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("profile thread panicked")).collect()
    });
    if let Some((g, why)) = pieces.iter().find_map(|p| p.error) {
        let (t, i) = locate(g as u32);
        return Err(tapes[t].file_record_error(tapes[t].file_index(i), why).into());
    }
    // Number accounts by id and coins by name, so outputs do not depend on the tape order.
    let mut acct_ids: Vec<u64> = pieces.iter().flat_map(|p| p.ids.iter().copied()).collect();
    acct_ids.sort_unstable();
    acct_ids.dedup();
    let mut coin_syms: Vec<[u8; 16]> = pieces.iter().flat_map(|p| p.syms.iter().copied()).collect();
    coin_syms.sort_unstable_by(|a, b| {
        let name = |s: &[u8; 16]| ticktape_tape::header::text_field(s).to_owned();
        name(a).cmp(&name(b)).then(a.cmp(b))
    });
    coin_syms.dedup();
    let coins: Vec<String> = coin_syms.iter().map(|s| ticktape_tape::header::text_field(s).to_owned()).collect();
    let n_acct = acct_ids.len();
    // Per range: its local numbers renumbered, its fills counted per account. The liquidations
    // are summed in fill order, as one pass would.
    let mut coin_liquidations = vec![(0u64, 0.0f64); coins.len()];
    for p in &mut pieces {
        p.rank = p.ids.iter().map(|id| acct_ids.binary_search(id).expect("an id of the merged list") as u32).collect();
        let crank: Vec<u32> = p
            .syms
            .iter()
            .map(|s| coin_syms.iter().position(|x| x == s).expect("a coin of the merged list") as u32)
            .collect();
        for &(c, notional) in &p.liq {
            let l = &mut coin_liquidations[crank[c as usize] as usize];
            l.0 += 1;
            l.1 += notional;
        }
        p.crank = crank;
    }
    std::thread::scope(|sc| {
        for p in pieces.iter_mut() {
            sc.spawn(move || {
                p.counts = vec![0u32; n_acct];
                for a in p.acct.iter_mut() {
                    *a = p.rank[*a as usize];
                    p.counts[*a as usize] += 1;
                }
                for c in p.coin.iter_mut() {
                    *c = p.crank[*c as usize];
                }
            });
        }
    });
    crate::progress::debug(&format!("profile: fills checked and numbered after {:.2}s", t0.elapsed().as_secs_f64()));

    // Counting sort by account; within an account, fills keep the tape order (time), and are
    // merged by time when the account is in several tapes. Each range writes its own slots.
    let mut start = vec![0usize; n_acct + 1];
    for a in 0..n_acct {
        start[a + 1] = start[a] + pieces.iter().map(|p| p.counts[a] as usize).sum::<usize>();
    }
    let idx: Vec<AtomicU32> = (0..total).map(|_| AtomicU32::new(0)).collect();
    let mut coin: Vec<u32> = Vec::with_capacity(total);
    {
        let mut next = start.clone();
        let mut offsets = Vec::with_capacity(pieces.len());
        for p in &pieces {
            offsets.push(next.clone());
            for (n, c) in next.iter_mut().zip(&p.counts) {
                *n += *c as usize;
            }
            coin.extend_from_slice(&p.coin);
        }
        std::thread::scope(|sc| {
            for ((p, mut next), &(g0, _)) in pieces.iter().zip(offsets).zip(&ranges) {
                let idx = &idx;
                sc.spawn(move || {
                    for (k, &a) in p.acct.iter().enumerate() {
                        let slot = &mut next[a as usize];
                        idx[*slot].store((g0 + k) as u32, Ordering::Relaxed);
                        *slot += 1;
                    }
                });
            }
        });
    }
    drop(pieces);
    let mut idx: Vec<u32> = idx.into_iter().map(AtomicU32::into_inner).collect();
    {
        // Tapes are sorted by time, so this only sorts accounts that are in several tapes.
        let ts = |g: u32| {
            let (t, i) = locate(g);
            recs[t][i].ts.exchange
        };
        for a in 0..n_acct {
            let s = &mut idx[start[a]..start[a + 1]];
            if !s.is_sorted_by_key(|&g| ts(g)) {
                s.sort_by_key(|&g| (ts(g), g));
            }
        }
    }

    crate::progress::debug(&format!("profile: fills grouped by account after {:.2}s", t0.elapsed().as_secs_f64()));
    // Pass 2: accounts in contiguous blocks on threads, results in account order.
    const BLOCK: usize = 256;
    let blocks = n_acct.div_ceil(BLOCK);
    let next_block = AtomicUsize::new(0);
    type Part = (usize, Vec<AccountProfile>, Vec<Cycle>, Vec<Day>);
    let mut parts: Vec<Part> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut prof = Profiler::new();
                    let mut out: Vec<Part> = Vec::new();
                    loop {
                        let b = next_block.fetch_add(1, Ordering::Relaxed);
                        if b >= blocks {
                            break out;
                        }
                        let (a0, a1) = (b * BLOCK, ((b + 1) * BLOCK).min(n_acct));
                        let fills_in = start[a1] - start[a0];
                        let mut ps = Vec::with_capacity(a1 - a0);
                        let mut cs = Vec::with_capacity(fills_in / 4);
                        let mut ds = Vec::with_capacity(a1 - a0);
                        for a in a0..a1 {
                            let it = idx[start[a]..start[a + 1]].iter().map(|&g| {
                                let (t, i) = if recs.len() == 1 { (0, g as usize) } else { locate(g) };
                                convert(&recs[t][i], scales[t], coin[g as usize])
                            });
                            ps.push(prof.account(a as u32, it, unit, &mut cs, &mut ds));
                        }
                        out.push((b, ps, cs, ds));
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("profile thread panicked")).collect()
    });
    parts.sort_unstable_by_key(|p| p.0);
    let mut profiles = Vec::with_capacity(n_acct);
    let mut cycles = Vec::with_capacity(parts.iter().map(|p| p.2.len()).sum());
    let mut days = Vec::with_capacity(parts.iter().map(|p| p.3.len()).sum());
    for (_, p, c, d) in parts {
        profiles.extend(p);
        cycles.extend(c);
        days.extend(d);
    }
    crate::progress::debug(&format!("profile: tiers 1-3 done after {:.2}s", t0.elapsed().as_secs_f64()));
    let classes = profiles.iter().map(|p| rules.classify(p)).collect();
    let named = account_names(&paths)?;
    let names = acct_ids.iter().map(|id| named.get(id).cloned().unwrap_or_else(|| format!("0x{id:016x}"))).collect();
    Ok(Profiles { names, coins, profiles, classes, cycles, days, coin_liquidations, fills: total as u64 })
}

/// Slices of at most 1 M rows (one row group each; at least one, maybe empty), so that the
/// string columns of the big tables are built a chunk at a time.
fn chunks<T>(v: &[T]) -> impl Iterator<Item = &[T]> {
    let n = v.len().div_ceil(1 << 20).max(1);
    (0..n).map(move |i| &v[(i << 20).min(v.len())..((i + 1) << 20).min(v.len())])
}

fn opt(v: impl Iterator<Item = Option<f64>>) -> Vec<Option<f64>> {
    v.collect()
}

/// Writes the four tables into `dir`.
pub(crate) fn write_tables(dir: &Path, p: &Profiles) -> Result<()> {
    let ps = &p.profiles;
    let col = |f: fn(&AccountProfile) -> f64| ps.iter().map(f).collect::<Vec<f64>>();
    let cnt = |f: fn(&AccountProfile) -> u64| ps.iter().map(f).collect::<Vec<u64>>();
    Table::new()
        .utf8_iter("account", p.names.iter().map(String::as_str))
        .u64("trades", cnt(|a| a.trades))
        .f64("volume", col(|a| a.volume))
        .u64("unique_coins", cnt(|a| u64::from(a.unique_coins)))
        .ts("first_trade", ps.iter().map(|a| a.first_ts).collect())
        .ts("last_trade", ps.iter().map(|a| a.last_ts).collect())
        .f64("realized_pnl", col(|a| a.realized_pnl))
        .f64("fees", col(|a| a.fees))
        .f64("net_pnl", col(AccountProfile::net_pnl))
        .f64("taker_share", col(AccountProfile::taker_share))
        .f64("maker_share", col(AccountProfile::maker_share))
        .u64("closing_fills", cnt(|a| a.closing_fills))
        .u64("winning_fills", cnt(|a| a.winning_fills))
        .f64_opt("win_rate", opt(ps.iter().map(AccountProfile::win_rate)))
        .f64_opt("mtm_tv", opt(ps.iter().map(AccountProfile::mtm_tv)))
        .u64("liquidation_fills", cnt(|a| a.liquidation_fills))
        .u64("liquidated_fills", cnt(|a| a.liquidated_fills))
        .f64("liquidation_share", col(AccountProfile::liquidation_share))
        .u64("twap_fills", cnt(|a| a.twap_fills))
        .u64("builder_fills", cnt(|a| a.builder_fills))
        .u64("cycles_closed", cnt(|a| a.cycles_closed))
        .u64("cycles_open", cnt(|a| a.cycles_open))
        .f64_opt("cycle_win_rate", opt(ps.iter().map(AccountProfile::cycle_win_rate)))
        .f64_opt("avg_hold_hours", opt(ps.iter().map(|a| a.avg_hold_hours)))
        .f64_opt("median_hold_hours", opt(ps.iter().map(|a| a.median_hold_hours)))
        .u64("adds", cnt(|a| a.adds))
        .u64("partial_closes", cnt(|a| a.partial_closes))
        .u64("flips", cnt(|a| a.flips))
        .u64("gaps", cnt(|a| a.gaps))
        .u64("trading_days", cnt(|a| u64::from(a.trading_days)))
        .f64_opt("sharpe", opt(ps.iter().map(|a| a.sharpe)))
        .f64("capital", col(|a| a.capital))
        .f64_opt("roi", opt(ps.iter().map(AccountProfile::roi)))
        .utf8_iter("class", p.classes.iter().map(|c| c.name()))
        .write(&dir.join("profiles.parquet"))?;

    let mut w = TableWriter::create(&dir.join("cycles.parquet"))?;
    for cs in chunks(&p.cycles) {
        w.push(
            Table::new()
                .utf8_iter("account", cs.iter().map(|c| p.names[c.account as usize].as_str()))
                .utf8_iter("coin", cs.iter().map(|c| p.coins[c.coin as usize].as_str()))
                .utf8_iter("side", cs.iter().map(|c| if c.long { "long" } else { "short" }))
                .utf8_iter("start", cs.iter().map(|c| c.start.name()))
                .utf8_iter("end", cs.iter().map(|c| c.end.name()))
                .ts("open_time", cs.iter().map(|c| c.open_ts).collect())
                .ts_opt("close_time", cs.iter().map(|c| c.close_ts).collect())
                .f64_opt("holding_hours", opt(cs.iter().map(Cycle::holding_hours)))
                .u64("fills", cs.iter().map(|c| u64::from(c.fills)).collect())
                .u64("adds", cs.iter().map(|c| u64::from(c.adds)).collect())
                .u64("partial_closes", cs.iter().map(|c| u64::from(c.partial_closes)).collect())
                .f64("max_size", cs.iter().map(|c| c.max_size).collect())
                .f64_opt("entry_price", opt(cs.iter().map(|c| c.entry_price)))
                .f64_opt("exit_price", opt(cs.iter().map(|c| c.exit_price)))
                .f64("pnl", cs.iter().map(|c| c.pnl).collect())
                .f64("fees", cs.iter().map(|c| c.fees).collect())
                .f64("net_pnl", cs.iter().map(|c| c.pnl - c.fees).collect())
                .bool("win", cs.iter().map(|c| c.end.closed() && c.pnl > 0.0).collect()),
        )?;
    }
    w.finish()?;

    let mut w = TableWriter::create(&dir.join("daily.parquet"))?;
    for ds in chunks(&p.days) {
        w.push(
            Table::new()
                .utf8_iter("account", ds.iter().map(|d| p.names[d.account as usize].as_str()))
                .ts("day", ds.iter().map(|d| i64::from(d.day) * NS_PER_DAY).collect())
                .u64("trades", ds.iter().map(|d| d.trades).collect())
                .f64("volume", ds.iter().map(|d| d.volume).collect())
                .f64("pnl", ds.iter().map(|d| d.pnl).collect())
                .f64("fees", ds.iter().map(|d| d.fees).collect())
                .f64("net_pnl", ds.iter().map(|d| d.pnl - d.fees).collect()),
        )?;
    }
    w.finish()?;

    let rows = liquidation_rows(p);
    Table::new()
        .utf8_iter("group", rows.iter().map(|r| r.0))
        .utf8_iter("name", rows.iter().map(|r| r.1.as_str()))
        .u64("fills", rows.iter().map(|r| r.2).collect())
        .f64("notional", rows.iter().map(|r| r.3).collect())
        .write(&dir.join("liquidations.parquet"))?;
    Ok(())
}

/// (group, name, fills, notional): liquidators, liquidated accounts and coins, each by notional
/// (largest first, then name).
fn liquidation_rows(p: &Profiles) -> Vec<(&'static str, String, u64, f64)> {
    let mut out = Vec::new();
    let mut group = |g: &'static str, mut v: Vec<(String, u64, f64)>| {
        v.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        out.extend(v.into_iter().map(|(n, c, x)| (g, n, c, x)));
    };
    let by = |fills: fn(&AccountProfile) -> (u64, f64)| {
        p.profiles
            .iter()
            .zip(&p.names)
            .map(|(a, n)| (n.clone(), fills(a).0, fills(a).1))
            .filter(|r| r.1 > 0)
            .collect::<Vec<_>>()
    };
    group("liquidator", by(|a| (a.liquidation_fills - a.liquidated_fills, a.liquidation_volume - a.liquidated_volume)));
    group("liquidated", by(|a| (a.liquidated_fills, a.liquidated_volume)));
    group(
        "coin",
        p.coins.iter().zip(&p.coin_liquidations).filter(|(_, l)| l.0 > 0).map(|(c, l)| (c.clone(), l.0, l.1)).collect(),
    );
    out
}

fn money(v: f64) -> String {
    let s = crate::fmt::thousands(v.abs().round() as u64);
    if v < 0.0 { format!("-{s}") } else { s }
}

/// The class summary (the notebook's distribution table) and the liquidation lists.
pub(crate) fn summary(p: &Profiles, top: usize) -> String {
    use std::fmt::Write;
    let mut by: BTreeMap<Class, (u64, f64, f64, u64)> = BTreeMap::new();
    for (a, c) in p.profiles.iter().zip(&p.classes) {
        let e = by.entry(*c).or_default();
        e.0 += 1;
        e.1 += a.volume;
        e.2 += a.net_pnl();
        e.3 += a.liquidation_fills;
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Trader type distribution ({} accounts, {} fills):",
        p.profiles.len(),
        crate::fmt::thousands(p.fills)
    );
    let _ = writeln!(
        s,
        "  {:<18} {:>9} {:>20} {:>16} {:>12}",
        "class", "count", "total_volume", "total_net_pnl", "liq_fills"
    );
    for (c, (n, v, pnl, l)) in &rows {
        let _ = writeln!(s, "  {:<18} {:>9} {:>20} {:>16} {:>12}", c.name(), n, money(*v), money(*pnl), l);
    }
    for (c, _) in &rows {
        let mut m: Vec<usize> = (0..p.profiles.len()).filter(|&a| p.classes[a] == *c).collect();
        m.sort_by(|&a, &b| p.profiles[b].volume.total_cmp(&p.profiles[a].volume).then(a.cmp(&b)));
        let _ = writeln!(s, "\n=== {} === (top {} by volume)", c.name(), top.min(m.len()));
        let _ = writeln!(
            s,
            "  {:<44} {:>9} {:>16} {:>14} {:>6} {:>10} {:>6} {:>6}",
            "account", "trades", "volume", "net_pnl", "maker", "mtm_tv", "win", "liq"
        );
        for &a in m.iter().take(top) {
            let x = &p.profiles[a];
            let _ = writeln!(
                s,
                "  {:<44} {:>9} {:>16} {:>14} {:>6.2} {:>10.5} {:>6} {:>6.2}",
                p.names[a],
                x.trades,
                money(x.volume),
                money(x.net_pnl()),
                x.maker_share(),
                x.mtm_tv().unwrap_or(0.0),
                x.win_rate().map_or("-".into(), |w| format!("{w:.2}")),
                x.liquidation_share()
            );
        }
    }
    let liq = liquidation_rows(p);
    for (g, title) in [
        ("coin", "Top coins by liquidation volume"),
        ("liquidator", "Top liquidators"),
        ("liquidated", "Most liquidated accounts"),
    ] {
        let v: Vec<_> = liq.iter().filter(|r| r.0 == g).take(top).collect();
        if v.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}:");
        for r in v {
            let _ = writeln!(s, "  {:<44} {:>9} fills {:>16}", r.1, r.2, money(r.3));
        }
    }
    s
}

pub(crate) fn run(a: ProfileArgs) -> Result<()> {
    if a.print_rules {
        print!("{DEFAULT_RULES}");
        return Ok(());
    }
    let out = a.out.clone().context("give the output folder with -o DIR")?;
    let rules = load_rules(a.rules.as_deref())?;
    crate::alloc::keep_freed_memory();
    let threads = super::rbsa::threads(a.threads);
    let t0 = std::time::Instant::now();
    let p = compute(&a.tapes, &rules, threads)?;
    let secs = t0.elapsed().as_secs_f64();
    let staging = ticktape_engine::results::stage(&out, a.force)?;
    let t1 = std::time::Instant::now();
    write_tables(staging.dir(), &p)?;
    staging.promote()?;
    crate::progress::debug(&format!("profile: wrote the tables in {:.2}s", t1.elapsed().as_secs_f64()));
    print!("{}", summary(&p, a.top));
    println!(
        "\nprofiled {} fills of {} accounts in {secs:.2}s ({threads} threads): {} cycles, {} account-days",
        crate::fmt::thousands(p.fills),
        crate::fmt::thousands(p.profiles.len() as u64),
        crate::fmt::thousands(p.cycles.len() as u64),
        crate::fmt::thousands(p.days.len() as u64)
    );
    println!("wrote {}/profiles.parquet, cycles.parquet, daily.parquet, liquidations.parquet", out.display());
    Ok(())
}

/// Trader-profiling throughput: `research profile` (tiers 1–4: read the tapes, group by account,
/// positions and cycles, daily rows, Sharpe, classes, liquidation lists) over generated fills, and
/// the four Parquet tables written, on --threads threads.
///
/// Without TAPES, first generates --fills fills of --accounts accounts (`gen --fills`; not timed in
/// the profile figure). Reports each of --runs passes and the median: the profile itself, the
/// table writing, fills/s, CPU seconds, the peak heap above the baseline and the resident peak
/// (VmHWM, which includes the mapped tape pages). Target: 10 M fills of 100,000 accounts in under
/// 10 s on 2 cores. Against polars computing tier 1 from Parquet:
/// data-tools/benches/profile_vs_polars.py.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape bench profile                          # the target: 10M fills, 100k accounts
  ticktape bench profile --fills 1M --accounts 10k --runs 5
  ticktape bench profile gen/synthetic.all.fills.tape --threads 1")]
pub(crate) struct ProfileBench {
    /// Fills tapes instead of generated ones.
    #[arg(value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Fills to generate.
    #[arg(long, default_value = "10M", value_parser = crate::fmt::parse_count)]
    fills: u64,
    /// Accounts to generate.
    #[arg(long, default_value = "100k", value_parser = crate::fmt::parse_count)]
    accounts: u64,
    /// Timed passes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

pub(crate) fn bench(a: ProfileBench) -> Result<()> {
    use crate::fmt::{bytes, thousands};
    crate::alloc::keep_freed_memory();
    let tmp = tempfile::tempdir().context("cannot create a temporary folder")?;
    let tapes = if a.tapes.is_empty() {
        let accounts = u32::try_from(a.accounts).ok().filter(|n| *n > 0).context("--accounts must be 1..2^32")?;
        let cfg = ticktape_engine::synth_fills::FillsConfig::new(a.fills, accounts);
        let t0 = std::time::Instant::now();
        let s = ticktape_engine::synth_fills::generate_fills(&cfg, tmp.path())?;
        println!(
            "generated {} fills of {} accounts ({}) in {:.2}s",
            thousands(s.tape.records),
            thousands(a.accounts),
            bytes(s.tape.bytes),
            t0.elapsed().as_secs_f64()
        );
        vec![s.tape.path]
    } else {
        a.tapes.clone()
    };
    let threads = super::rbsa::threads(a.threads);
    let rules = Rules::default();
    println!("machine: {}; {threads} threads", crate::bench::machine());
    let (mut prof, mut write, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    let base = crate::alloc::live();
    crate::alloc::reset_peak();
    let mut last = None;
    for r in 0..a.runs {
        let c0 = crate::bench::cpu_seconds();
        let t0 = std::time::Instant::now();
        let p = compute(&tapes, &rules, threads)?;
        let t1 = t0.elapsed().as_secs_f64();
        let out = tmp.path().join(format!("out{r}"));
        std::fs::create_dir_all(&out)?;
        write_tables(&out, &p)?;
        let t2 = t0.elapsed().as_secs_f64() - t1;
        let c = crate::bench::cpu_seconds() - c0;
        std::fs::remove_dir_all(&out)?;
        println!(
            "pass {}: profile {t1:.2}s ({}), tables {t2:.2}s, CPU {c:.2}s; {} accounts, {} cycles, {} account-days",
            r + 1,
            crate::fmt::rate(p.fills as f64 / t1),
            thousands(p.profiles.len() as u64),
            thousands(p.cycles.len() as u64),
            thousands(p.days.len() as u64)
        );
        prof.push(t1);
        write.push(t2);
        cpu.push(c);
        last = Some(p.fills);
    }
    let heap = crate::alloc::peak().saturating_sub(base);
    let fills = last.unwrap_or(0);
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
    };
    let (p, w, c) = (med(&mut prof), med(&mut write), med(&mut cpu));
    println!(
        "median of {}: profile {p:.2}s ({}, {:.0} ns/fill), + tables {w:.2}s = {:.2}s; CPU {c:.2}s; peak heap {}; resident peak {}",
        a.runs,
        crate::fmt::rate(fills as f64 / p),
        p * 1e9 / fills.max(1) as f64,
        p + w,
        bytes(heap as u64),
        crate::bench::resident_peak().map_or("-".into(), bytes)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_file_is_the_default() {
        assert_eq!(toml::from_str::<Rules>(DEFAULT_RULES).unwrap(), Rules::default());
    }
}
