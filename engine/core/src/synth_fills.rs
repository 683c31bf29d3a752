//! Deterministic synthetic fills: one fills tape of many accounts trading many coins, for
//! `ticktape gen --fills` and `ticktape bench profile`.
//!
//! The venue: `coins` perpetuals (Hyperliquid-like names and prices) whose prices follow random
//! walks with a drift that changes once a day. Accounts are of six kinds, drawn with these shares
//! and activity weights (fills per account, relative):
//!
//! | kind | share | activity | behaviour |
//! |---|---|---|---|
//! | market maker | 2 % | 150 | small inventories flipping around zero, 85 % maker fills, maker rebates |
//! | directional | 10 % | 8 | larger targets, some follow the day's drift (they make money), 60 % taker |
//! | basis | 5 % | 1 | large positions held for days, 50 % taker |
//! | TWAP | 3 % | 6 | long same-side programmes in small taker slices, `TWAP` flag |
//! | retail | 80 % | 1 | small positions, 90 % taker, 10 % through a builder |
//! | liquidator | 0.2 % (≥ 1) | 2 | takes over liquidated positions (`LIQUIDATION`), then unwinds |
//!
//! Each fill moves its (account, coin) position toward a target that is redrawn now and then, so
//! the data has opens, adds, partial closes, closes and flips through zero (half of the flips in one
//! fill). Now and then a position is liquidated: the account's fill closes it all at an adverse
//! price (`LIQUIDATION | LIQUIDATED | CROSSED`) and a liquidator takes the other side
//! (`LIQUIDATION`) at the same time. `start_position`, `closed_pnl` (average-cost) and `dir` are
//! consistent with the positions; fees are 3.5 bp taker, 1 bp maker (−0.2 bp for market makers).
//! The same configuration gives a byte-identical tape.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use ticktape_tape::{AtomicFile, Fill, Stamp, TapeMeta, TapeSummary, TapeWriter, dir, fill_flags, side};

use crate::error::{Error, Result};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct FillsConfig {
    /// Fills to write.
    pub fills: u64,
    /// Accounts (some may get no fill when there are few fills).
    pub accounts: u32,
    /// Coins.
    pub coins: u32,
    /// Days the fills span.
    pub days: u32,
    /// RNG seed.
    pub seed: u64,
    /// Exchange time of the first fill, ns since the epoch.
    pub start_ns: i64,
}

impl FillsConfig {
    /// `fills` fills of `accounts` accounts on 40 coins over 30 days from 2024-05-01, seed 42.
    pub fn new(fills: u64, accounts: u32) -> Self {
        FillsConfig { fills, accounts, coins: 40, days: 30, seed: 42, start_ns: 1_714_521_600_000_000_000 }
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct FillsSummary {
    /// The fills tape.
    pub tape: TapeSummary,
    /// The accounts CSV (`account_id,address`) beside it.
    pub accounts_csv: PathBuf,
    /// Fills with `LIQUIDATION` (both sides of each liquidation).
    pub liquidation_fills: u64,
    /// Fills with `LIQUIDATED`.
    pub liquidated_fills: u64,
    /// Fills with `TWAP`.
    pub twap_fills: u64,
    /// Fills that crossed zero.
    pub flips: u64,
}

const PRICE_EXP: i8 = -6;
const QTY_EXP: i8 = -4;
const VALUE_EXP: i8 = -6;
const COINS: [(&str, f64); 20] = [
    ("BTC", 62_000.0),
    ("ETH", 3_100.0),
    ("SOL", 150.0),
    ("HYPE", 12.0),
    ("XRP", 0.52),
    ("DOGE", 0.16),
    ("SUI", 1.1),
    ("AVAX", 35.0),
    ("LINK", 14.0),
    ("ARB", 1.05),
    ("OP", 2.4),
    ("INJ", 25.0),
    ("LTC", 82.0),
    ("BNB", 590.0),
    ("WIF", 2.9),
    ("kPEPE", 0.012),
    ("TIA", 9.0),
    ("APT", 8.5),
    ("NEAR", 6.8),
    ("MATIC", 0.7),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Maker,
    Directional,
    Basis,
    Twap,
    Retail,
    Liquidator,
}

impl Kind {
    /// (retarget probability, target chunks, taker probability, activity weight)
    fn params(self) -> (f64, f64, f64, f64) {
        match self {
            Kind::Maker => (0.35, 2.0, 0.15, 150.0),
            Kind::Directional => (0.08, 6.0, 0.6, 8.0),
            Kind::Basis => (0.05, 8.0, 0.5, 1.0),
            Kind::Twap => (0.02, 20.0, 1.0, 6.0),
            Kind::Retail => (0.3, 2.0, 0.9, 1.0),
            Kind::Liquidator => (0.6, 0.0, 0.3, 2.0),
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Pos {
    pos: i64,
    target: i64,
    avg: f64,
}

struct Account {
    id: u64,
    kind: Kind,
    skilled: bool,
    /// Notional of one slice, $.
    slice: f64,
    /// First slot in `slots` and number of coins.
    slot: u32,
    n: u32,
}

fn normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    StandardNormal.sample(rng)
}

fn split_mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Writes `synthetic.all.fills.tape` and `synthetic.accounts.csv` into `out_dir`.
pub fn generate_fills(cfg: &FillsConfig, out_dir: &Path) -> Result<FillsSummary> {
    if cfg.accounts == 0 || cfg.coins == 0 || cfg.days == 0 {
        return Err(Error::Config { what: "fills", why: "accounts, coins and days must be at least 1".into() });
    }
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Io {
        path: out_dir.to_path_buf(),
        action: "create folder",
        source,
    })?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
    let unit = 10f64.powi(i32::from(QTY_EXP));
    let pscale = 10f64.powi(-i32::from(PRICE_EXP));
    let vscale = 10f64.powi(-i32::from(VALUE_EXP));

    // Coins: names, prices, popularity (Zipf), per-fill volatility.
    let nc = cfg.coins as usize;
    let names: Vec<String> =
        (0..nc).map(|i| COINS.get(i).map_or_else(|| format!("COIN{i}"), |c| c.0.to_owned())).collect();
    let mut px: Vec<f64> = (0..nc).map(|i| COINS.get(i).map_or(10.0 + i as f64, |c| c.1)).collect();
    let pop: Vec<f64> = (0..nc).map(|i| 1.0 / (i as f64 + 1.5)).collect();
    let pop_sum: f64 = pop.iter().sum();
    let per_day = cfg.fills as f64 / f64::from(cfg.days);
    let sigma: Vec<f64> = pop.iter().map(|p| 0.04 / (per_day * p / pop_sum).max(1.0).sqrt()).collect();
    let mut drift = vec![0.0f64; nc];
    let mut coin_cum = Vec::with_capacity(nc);
    let mut acc = 0.0;
    for p in &pop {
        acc += p / pop_sum;
        coin_cum.push(acc);
    }
    let pick_coin = |u: f64| coin_cum.partition_point(|&c| c < u).min(nc - 1);

    // Accounts.
    let na = cfg.accounts as usize;
    let mut accounts: Vec<Account> = Vec::with_capacity(na);
    let mut coin_of_slot: Vec<u32> = Vec::new();
    let mut weights = Vec::with_capacity(na);
    let n_liq = (na / 500).max(1);
    for i in 0..na {
        let u: f64 = rng.random();
        let kind = if i < n_liq {
            Kind::Liquidator
        } else if u < 0.02 {
            Kind::Maker
        } else if u < 0.12 {
            Kind::Directional
        } else if u < 0.17 {
            Kind::Basis
        } else if u < 0.20 {
            Kind::Twap
        } else {
            Kind::Retail
        };
        let ncoins = if kind == Kind::Liquidator { nc } else { 1 + rng.random_range(0..3usize.min(nc)) };
        let slot = coin_of_slot.len() as u32;
        let mut mine: Vec<u32> = Vec::with_capacity(ncoins);
        while mine.len() < ncoins {
            let c = if kind == Kind::Liquidator { mine.len() as u32 } else { pick_coin(rng.random()) as u32 };
            if !mine.contains(&c) {
                mine.push(c);
            }
        }
        coin_of_slot.extend(&mine);
        let z: f64 = StandardNormal.sample(&mut rng);
        let slice = match kind {
            Kind::Maker => 2_000.0,
            Kind::Directional => 8_000.0,
            Kind::Basis => 20_000.0,
            Kind::Twap => 3_000.0,
            Kind::Retail => 400.0,
            Kind::Liquidator => 10_000.0,
        } * (0.8 * z).exp();
        let (_, _, _, w) = kind.params();
        weights.push(w * (0.7 * normal(&mut rng)).exp());
        accounts.push(Account {
            id: split_mix(cfg.seed ^ split_mix(i as u64 + 1)) | 1,
            kind,
            skilled: rng.random::<f64>() < 0.35,
            slice,
            slot,
            n: ncoins as u32,
        });
    }
    let total_w: f64 = weights.iter().sum();
    let mut cum = Vec::with_capacity(na);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total_w;
        cum.push(acc);
    }
    let liquidators: Vec<usize> = (0..n_liq).collect();
    let mut state = vec![Pos::default(); coin_of_slot.len()];

    let meta = TapeMeta {
        symbol: "all".into(),
        venue: "synthetic".into(),
        price_exponent: PRICE_EXP,
        qty_exponent: QTY_EXP,
        value_exponent: VALUE_EXP,
        price_tick: 0,
        qty_lot: 1,
        has_local_ts: false,
    };
    let path = out_dir.join(meta.file_name(ticktape_tape::RecordKind::Fill));
    let mut w = TapeWriter::<Fill>::create(&path, &meta)?;
    let gap = Exp::new(cfg.fills.max(1) as f64 / (f64::from(cfg.days) * 86_400e9)).expect("positive rate");
    let mut t = cfg.start_ns as f64;
    let mut day = -1i64;
    let mut order_id = 1u64;
    let (mut n_liq_fills, mut n_liqd, mut n_twap, mut n_flips) = (0u64, 0u64, 0u64, 0u64);
    let mut written = 0u64;
    let mut syms = vec![[0u8; 16]; nc];
    for (s, n) in syms.iter_mut().zip(&names) {
        let b = n.as_bytes();
        s[..b.len().min(16)].copy_from_slice(&b[..b.len().min(16)]);
    }
    while written < cfg.fills {
        t += gap.sample(&mut rng);
        let ts = t as i64;
        let d = (ts - cfg.start_ns).div_euclid(86_400_000_000_000);
        if d != day {
            day = d;
            for x in drift.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *x = z * 0.03;
            }
        }
        let u: f64 = rng.random();
        let a = cum.partition_point(|&c| c < u).min(na - 1);
        let acct = &accounts[a];
        let k = acct.slot as usize + rng.random_range(0..acct.n as usize);
        let c = coin_of_slot[k] as usize;
        // The coin's price moves by its day's drift and noise.
        let z: f64 = StandardNormal.sample(&mut rng);
        px[c] *= (sigma[c] * z + drift[c] * sigma[c] * sigma[c] * 50.0).exp();
        let (p_re, chunks, p_taker, _) = acct.kind.params();
        let slice_lots = ((acct.slice / px[c]) / unit * (0.5 * normal(&mut rng)).exp()).max(1.0) as i64;
        let st = &mut state[k];
        // Liquidation of a held position (not of market makers or liquidators).
        let liquidate =
            st.pos != 0 && !matches!(acct.kind, Kind::Maker | Kind::Liquidator) && rng.random::<f64>() < 0.002;
        if liquidate {
            let q = st.pos.abs();
            let long = st.pos > 0;
            let fill_px = px[c] * if long { 0.985 } else { 1.015 };
            let victim_flags = fill_flags::LIQUIDATION | fill_flags::LIQUIDATED | fill_flags::CROSSED;
            let rec = fill_record(
                acct.id,
                ts,
                &syms[c],
                fill_px,
                q,
                !long,
                st,
                victim_flags,
                0.00035,
                unit,
                pscale,
                vscale,
                &mut order_id,
                &mut n_flips,
            );
            st.target = 0;
            w.push(&rec)?;
            written += 1;
            n_liq_fills += 1;
            n_liqd += 1;
            if written < cfg.fills {
                let l = liquidators[rng.random_range(0..liquidators.len())];
                let la = &accounts[l];
                let lk = la.slot as usize + c; // liquidators hold every coin, in coin order
                let lst = &mut state[lk];
                let rec = fill_record(
                    la.id,
                    ts,
                    &syms[c],
                    fill_px,
                    q,
                    long,
                    lst,
                    fill_flags::LIQUIDATION,
                    0.0001,
                    unit,
                    pscale,
                    vscale,
                    &mut order_id,
                    &mut n_flips,
                );
                lst.target = 0;
                w.push(&rec)?;
                written += 1;
                n_liq_fills += 1;
            }
            continue;
        }
        // Redraw the target now and then, or when reached.
        if rng.random::<f64>() < p_re || st.target == st.pos {
            st.target = if acct.kind == Kind::Liquidator {
                0
            } else {
                let mag = (chunks * slice_lots as f64 * (0.5 + rng.random::<f64>())) as i64;
                let flat = rng.random::<f64>() < 0.3 && st.pos != 0;
                let up = if acct.skilled && acct.kind == Kind::Directional {
                    (drift[c] > 0.0) ^ (rng.random::<f64>() < 0.2)
                } else {
                    rng.random::<bool>()
                };
                if flat {
                    0
                } else if up {
                    mag.max(1)
                } else {
                    -mag.max(1)
                }
            };
        }
        if st.target == st.pos {
            // At the target (a liquidator with nothing to unwind, or a redraw that landed on the
            // position): close, or open a small position from flat.
            st.target = if st.pos != 0 {
                0
            } else if rng.random::<bool>() {
                slice_lots
            } else {
                -slice_lots
            };
        }
        let diff = st.target - st.pos;
        let crosses = st.pos != 0 && (st.target > 0) != (st.pos > 0) && st.target != 0;
        let q = if crosses && rng.random::<bool>() {
            diff.abs()
        } else {
            let chunk = if acct.kind == Kind::Twap { (slice_lots / 4).max(1) } else { slice_lots };
            diff.abs().min(chunk)
        };
        let taker = rng.random::<f64>() < p_taker;
        let mut flags = if taker { fill_flags::CROSSED } else { 0 };
        if acct.kind == Kind::Twap {
            flags |= fill_flags::TWAP;
            n_twap += 1;
        }
        if acct.kind == Kind::Retail && rng.random::<f64>() < 0.1 {
            flags |= fill_flags::BUILDER;
        }
        let rate = match (taker, acct.kind) {
            (true, _) => 0.00035,
            (false, Kind::Maker) => -0.00002,
            (false, _) => 0.0001,
        };
        let spread = if taker { 1.0002 } else { 0.9999 };
        let buy = diff > 0;
        let fill_px = if buy { px[c] * spread } else { px[c] / spread };
        let rec = fill_record(
            acct.id,
            ts,
            &syms[c],
            fill_px,
            q,
            buy,
            st,
            flags,
            rate,
            unit,
            pscale,
            vscale,
            &mut order_id,
            &mut n_flips,
        );
        w.push(&rec)?;
        written += 1;
    }
    let tape = w.finish()?;
    let accounts_csv = out_dir.join("synthetic.accounts.csv");
    let mut f = AtomicFile::create(&accounts_csv)?;
    let mut text = String::with_capacity(na * 64 + 32);
    text.push_str("account_id,address\n");
    for a in &accounts {
        use std::fmt::Write as _;
        let _ =
            writeln!(text, "0x{:016x},0x{:016x}{:016x}{:08x}", a.id, a.id, split_mix(a.id), split_mix(!a.id) as u32);
    }
    f.writer().write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: accounts_csv.clone(),
        action: "write",
        source,
    })?;
    f.commit()?;
    Ok(FillsSummary {
        tape,
        accounts_csv,
        liquidation_fills: n_liq_fills,
        liquidated_fills: n_liqd,
        twap_fills: n_twap,
        flips: n_flips,
    })
}

/// The fill of `q` lots at `price` on position `st`, which it updates (average-cost PnL).
#[allow(clippy::too_many_arguments)]
#[inline]
fn fill_record(
    account: u64,
    ts: i64,
    symbol: &[u8; 16],
    price: f64,
    q: i64,
    buy: bool,
    st: &mut Pos,
    flags: u8,
    fee_rate: f64,
    unit: f64,
    pscale: f64,
    vscale: f64,
    order_id: &mut u64,
    flips: &mut u64,
) -> Fill {
    let price_i = (price * pscale).round() as i64;
    let price = price_i as f64 / pscale;
    let signed = if buy { q } else { -q };
    let old = st.pos;
    let new = old + signed;
    let mut pnl = 0.0;
    if old != 0 && (old > 0) != buy {
        let closing = q.min(old.abs());
        pnl = (price - st.avg) * closing as f64 * unit * if old > 0 { 1.0 } else { -1.0 };
        if new != 0 && (new > 0) != (old > 0) {
            st.avg = price;
            *flips += 1;
        }
    } else {
        st.avg = (st.avg * old.abs() as f64 + price * q as f64) / (old.abs() + q) as f64;
    }
    st.pos = new;
    let direction = if old == 0 || (old > 0) == (new > 0) && new.abs() > old.abs() {
        if new > 0 { dir::OPEN_LONG } else { dir::OPEN_SHORT }
    } else if new == 0 || (old > 0) == (new > 0) {
        if old > 0 { dir::CLOSE_LONG } else { dir::CLOSE_SHORT }
    } else if old > 0 {
        dir::LONG_TO_SHORT
    } else {
        dir::SHORT_TO_LONG
    };
    *order_id += 1;
    Fill {
        ts: Stamp { exchange: ts, local: ts },
        account,
        price: price_i,
        qty: q,
        start_position: old,
        closed_pnl: (pnl * vscale).round() as i64,
        fee: (price * q as f64 * unit * fee_rate * vscale).round() as i64,
        order_id: *order_id,
        trade_id: *order_id,
        symbol: *symbol,
        side: if buy { side::BUY } else { side::SELL },
        dir: direction,
        flags,
        ..Fill::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticktape_tape::{Record, Tape};

    #[test]
    fn fills_are_valid_consistent_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FillsConfig { fills: 20_000, accounts: 300, days: 3, ..FillsConfig::new(0, 0) };
        let s = generate_fills(&cfg, &dir.path().join("a")).unwrap();
        generate_fills(&cfg, &dir.path().join("b")).unwrap();
        let a = std::fs::read(&s.tape.path).unwrap();
        let b = std::fs::read(dir.path().join("b").join(s.tape.path.file_name().unwrap())).unwrap();
        assert_eq!(a, b);
        assert!(s.liquidation_fills > 0 && s.liquidated_fills > 0 && s.twap_fills > 0 && s.flips > 0);
        let tape = Tape::open(&s.tape.path).unwrap();
        let fills = tape.records::<Fill>().unwrap();
        assert_eq!(fills.len(), 20_000);
        let mut pos = std::collections::HashMap::new();
        for f in fills {
            assert_eq!(f.check(), None);
            let p = pos.entry((f.account, f.symbol)).or_insert(0i64);
            assert_eq!(f.start_position, *p, "start_position follows the fills");
            *p += if f.side == side::BUY { f.qty } else { -f.qty };
        }
        assert!(fills.windows(2).all(|w| w[0].ts.exchange <= w[1].ts.exchange));
    }
}
