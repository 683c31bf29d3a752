//! The exchange simulation on hand-built tapes with known answers, and
//! property tests of its invariants on random markets.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use ticktape_engine::plugin::Native;
use ticktape_engine::replay::Replay;
use ticktape_engine::sim::{self, FillModel, LatencySpec, RunOutput, SimConfig};
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};
use ticktape_sdk::abi::{OrderRequest, OrderUpdate, order_kind, reason, tif, update_kind};
use ticktape_sdk::{Context, Strategy};
use ticktape_tape::{
    Funding, Level, Record, Stamp, TapeMeta, TapeWriter, Trade, UNDEF, funding_flags, level_flags, side,
};

const MS: i64 = 1_000_000;
/// 2024-05-01T00:00:00Z
const T0: i64 = 1_714_521_600_000_000_000;

fn meta() -> TapeMeta {
    TapeMeta {
        symbol: "TEST".into(),
        venue: "sim".into(),
        price_exponent: -1,
        qty_exponent: 0,
        value_exponent: -8,
        price_tick: 1,
        qty_lot: 1,
        has_local_ts: false,
    }
}

fn write<R: Record>(dir: &Path, name: &str, recs: &[R]) -> PathBuf {
    let p = dir.join(name);
    let mut w = TapeWriter::<R>::create(&p, &meta()).unwrap();
    for r in recs {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
    p
}

fn at(ms: i64) -> Stamp {
    Stamp { exchange: T0 + ms * MS, local: T0 + ms * MS }
}

fn level(ms: i64, side_code: u8, price: i64, qty: i64, flags: u8) -> Level {
    Level { ts: at(ms), price, qty, side: side_code, flags, reserved: [0; 6] }
}

fn trade(ms: i64, price: i64, qty: i64, side_code: u8) -> Trade {
    Trade { ts: at(ms), price, qty, trade_id: ms as u64, side: side_code, ..Trade::default() }
}

/// A book of bid 99.9 x 10 / ask 100.1 x 10 at t = 0, then quiet updates
/// every `step` ms until `end` so time moves on.
fn book(end: i64) -> Vec<Level> {
    let mut v = vec![
        level(0, side::BID, 999, 10, level_flags::SNAPSHOT_START | level_flags::SNAPSHOT),
        level(0, side::ASK, 1001, 10, level_flags::SNAPSHOT | level_flags::BATCH_END),
    ];
    let mut t = 50;
    while t <= end {
        v.push(level(t, side::BID, 990, 1, level_flags::BATCH_END));
        t += 50;
    }
    v
}

/// Places scripted orders at given times and records what it hears.
#[derive(Default)]
struct Script {
    orders: Vec<(i64, OrderRequest)>,
    heard: Vec<(i64, OrderUpdate)>,
    /// Cancels (order id) and replaces (order id, price, qty) at given times.
    later: Vec<(i64, Later)>,
}

#[derive(Clone, Copy)]
enum Later {
    Cancel(u64),
    Replace(u64, i64, i64),
}

/// Timer tokens at or above this index `Script::later`.
const LATER: u64 = 1 << 32;

impl Strategy for Script {
    type Config = ticktape_sdk::NoConfig;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(Script::default())
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        for (i, (ms, _)) in self.orders.iter().enumerate() {
            ctx.set_timer(T0 + ms * MS, i as u64);
        }
        for (i, (ms, _)) in self.later.iter().enumerate() {
            ctx.set_timer(T0 + ms * MS, LATER + i as u64);
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        if token >= LATER {
            match self.later[(token - LATER) as usize].1 {
                Later::Cancel(id) => {
                    ctx.cancel(id);
                }
                Later::Replace(id, price, qty) => {
                    ctx.replace(id, price, qty);
                }
            }
            return;
        }
        let req = self.orders[token as usize].1;
        ctx.submit(req);
    }
    fn on_replaced(&mut self, ctx: &mut Context<'_>, u: &OrderUpdate) {
        self.heard.push((ctx.now(), *u));
    }
    fn on_accepted(&mut self, ctx: &mut Context<'_>, u: &OrderUpdate) {
        self.heard.push((ctx.now(), *u));
    }
    fn on_rejected(&mut self, ctx: &mut Context<'_>, u: &OrderUpdate) {
        self.heard.push((ctx.now(), *u));
    }
    fn on_fill(&mut self, ctx: &mut Context<'_>, u: &OrderUpdate) {
        self.heard.push((ctx.now(), *u));
    }
    fn on_cancelled(&mut self, ctx: &mut Context<'_>, u: &OrderUpdate) {
        self.heard.push((ctx.now(), *u));
    }
}

fn limit(side_code: u8, price: i64, qty: i64, tif_code: u8) -> OrderRequest {
    OrderRequest {
        instrument: 0,
        side: side_code,
        kind: order_kind::LIMIT,
        tif: tif_code,
        reserved: 0,
        price,
        qty,
        tag: 7,
    }
}

fn cfg(entry_ms: i64, response_ms: i64) -> SimConfig {
    SimConfig {
        feed: LatencySpec::Constant(0),
        entry: LatencySpec::Constant(entry_ms * MS),
        response: LatencySpec::Constant(response_ms * MS),
        maker_fee_bps: 2.0,
        taker_fee_bps: 5.0,
        capital: 10_000.0,
        ..SimConfig::default()
    }
}

fn run(tapes: &[PathBuf], cfg: &SimConfig, orders: Vec<(i64, OrderRequest)>) -> (RunOutput, Script) {
    run_script(tapes, cfg, Script { orders, ..Script::default() })
}

fn run_script(tapes: &[PathBuf], cfg: &SimConfig, script: Script) -> (RunOutput, Script) {
    let replay = Replay::open(tapes).unwrap();
    let mut driver = Native(script);
    let out = sim::run(&replay, cfg, &mut driver).unwrap();
    assert_eq!(out.error, None);
    (out, driver.0)
}

#[test]
fn buy_at_100_is_not_filled_by_a_trade_at_100_but_by_one_at_99_9() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let tr = write(dir.path(), "t.tape", &[trade(10, 1000, 3, side::SELL), trade(20, 999, 3, side::SELL)]);
    let (out, script) = run(&[l2, tr], &cfg(1, 1), vec![(1, limit(side::BUY, 1000, 2, tif::GTC))]);
    assert_eq!(out.fills.len(), 1, "{:?}", out.fills);
    let f = &out.fills[0];
    assert_eq!((f.ts_exchange, f.price, f.qty, f.maker), (T0 + 20 * MS, 1000, 2, true));
    // Maker fee: 2 bps of 100.0 × 2.
    assert!((f.fee - 100.0 * 2.0 * 2e-4).abs() < 1e-12);
    assert_eq!(out.account.positions[0].qty, 2);
    let kinds: Vec<u8> = script.heard.iter().map(|(_, u)| u.kind).collect();
    assert_eq!(kinds, [update_kind::ACCEPTED, update_kind::FILLED]);
}

#[test]
fn touch_option_fills_on_a_trade_at_the_price() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let tr = write(dir.path(), "t.tape", &[trade(10, 1000, 3, side::SELL), trade(20, 999, 3, side::SELL)]);
    let mut c = cfg(1, 1);
    c.fills = FillModel { touch: true, ..FillModel::default() };
    let (out, _) = run(&[l2, tr], &c, vec![(1, limit(side::BUY, 1000, 2, tif::GTC))]);
    assert_eq!(out.fills.len(), 1);
    assert_eq!(out.fills[0].ts_exchange, T0 + 10 * MS);
}

#[test]
fn queue_model_waits_for_the_visible_queue_ahead() {
    let dir = tempfile::tempdir().unwrap();
    // Bid 99.9 x 10 is visible when our buy of 2 at 99.9 joins the back of it.
    // A trade of 4 at 99.9 (10 ms) leaves 6 ahead; at 15 ms the level shrinks
    // to 3 (cancels ahead of us), so 3 are ahead; a trade of 5 (20 ms) goes
    // 2 beyond the queue: we fill.
    let mut levels = book(200);
    levels.insert(2, level(15, side::BID, 999, 3, level_flags::BATCH_END));
    let l2 = write(dir.path(), "l2.tape", &levels);
    let tr = write(dir.path(), "t.tape", &[trade(10, 999, 4, side::SELL), trade(20, 999, 5, side::SELL)]);
    let mut c = cfg(1, 1);
    c.fills = FillModel { queue: true, ..FillModel::default() };
    let (out, _) = run(&[l2.clone(), tr.clone()], &c, vec![(1, limit(side::BUY, 999, 2, tif::GTC))]);
    assert_eq!(out.fills.len(), 1, "{:?}", out.fills);
    assert_eq!((out.fills[0].ts_exchange, out.fills[0].qty, out.fills[0].maker), (T0 + 20 * MS, 2, true));
    // Without the queue model (cross-only), trades at 99.9 never fill a buy at 99.9.
    let (out, _) = run(&[l2, tr], &cfg(1, 1), vec![(1, limit(side::BUY, 999, 2, tif::GTC))]);
    assert!(out.fills.is_empty());
}

#[test]
fn partial_fills_are_bounded_by_the_trade_size() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let tr = write(dir.path(), "t.tape", &[trade(10, 999, 2, side::SELL), trade(20, 998, 10, side::SELL)]);
    let mut c = cfg(1, 1);
    c.fills = FillModel { partial: true, ..FillModel::default() };
    let (out, script) = run(&[l2, tr], &c, vec![(1, limit(side::BUY, 1000, 5, tif::GTC))]);
    let fills: Vec<(i64, i64, i64)> = out.fills.iter().map(|f| ((f.ts_exchange - T0) / MS, f.price, f.qty)).collect();
    assert_eq!(fills, [(10, 1000, 2), (20, 1000, 3)]);
    let leaves: Vec<i64> = script.heard.iter().filter(|(_, u)| u.is_fill()).map(|(_, u)| u.leaves_qty).collect();
    assert_eq!(leaves, [3, 0]);
}

#[test]
fn book_crossing_fills_only_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut levels = book(200);
    // At 10 ms the ask drops to 99.95... on this grid: a new best ask at 99.9
    // (below our buy at 100.0), with no trade printed.
    levels.insert(2, level(10, side::ASK, 999, 3, level_flags::BATCH_END));
    let l2 = write(dir.path(), "l2.tape", &levels);
    let (out, _) = run(std::slice::from_ref(&l2), &cfg(1, 1), vec![(1, limit(side::BUY, 1000, 1, tif::GTC))]);
    assert!(out.fills.is_empty(), "cross-only: no trade, no fill");
    let mut c = cfg(1, 1);
    c.fills = FillModel { book_cross: true, ..FillModel::default() };
    let (out, _) = run(&[l2], &c, vec![(1, limit(side::BUY, 1000, 1, tif::GTC))]);
    assert_eq!(out.fills.len(), 1);
    assert_eq!((out.fills[0].ts_exchange, out.fills[0].price, out.fills[0].maker), (T0 + 10 * MS, 1000, true));
}

#[test]
fn post_only_that_would_cross_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let (out, script) = run(&[l2], &cfg(1, 2), vec![(5, limit(side::BUY, 1001, 1, tif::POST_ONLY))]);
    assert!(out.fills.is_empty());
    assert_eq!(script.heard.len(), 1);
    let (heard_at, u) = script.heard[0];
    assert_eq!((u.kind, u.reason), (update_kind::REJECTED, reason::POST_ONLY_WOULD_CROSS));
    // Sent at 5 ms, arrives at 6 ms, answer heard at 8 ms.
    assert_eq!(heard_at, T0 + 8 * MS);
    assert_eq!(out.orders[0].arrive_ts, T0 + 6 * MS);
    // A post-only order that does not cross rests.
    let dir2 = tempfile::tempdir().unwrap();
    let l2 = write(dir2.path(), "l2.tape", &book(200));
    let (out, script) = run(&[l2], &cfg(1, 2), vec![(5, limit(side::BUY, 1000, 1, tif::POST_ONLY))]);
    assert_eq!(script.heard[0].1.kind, update_kind::ACCEPTED);
    assert_eq!(out.orders[0].status.name(), "cancelled"); // still open at the end
    assert_eq!(out.orders[0].reason, reason::END_OF_RUN);
}

#[test]
fn latency_shifts_exactly_when_a_fill_happens() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    // Trades through 100.0 at 4 ms (before the order arrives) and at 7 ms.
    let tr = write(dir.path(), "t.tape", &[trade(4, 998, 1, side::SELL), trade(7, 998, 1, side::SELL)]);
    let (out, script) = run(&[l2.clone(), tr.clone()], &cfg(5, 3), vec![(1, limit(side::BUY, 1000, 1, tif::GTC))]);
    assert_eq!(out.orders[0].arrive_ts, T0 + 6 * MS);
    assert_eq!(out.fills.len(), 1);
    assert_eq!(out.fills[0].ts_exchange, T0 + 7 * MS, "the 4 ms trade came before the order arrived");
    let fill_heard = script.heard.iter().find(|(_, u)| u.kind == update_kind::FILLED).unwrap().0;
    assert_eq!(fill_heard, T0 + 10 * MS, "7 ms + 3 ms response latency");
    // With 2 ms entry latency the order is there for the 4 ms trade.
    let (out, _) = run(&[l2, tr], &cfg(2, 3), vec![(1, limit(side::BUY, 1000, 1, tif::GTC))]);
    assert_eq!(out.fills[0].ts_exchange, T0 + 4 * MS);
}

fn funding(ms: i64, rate: i64, mark: i64) -> Funding {
    Funding {
        ts: at(ms),
        funding_rate: rate,
        mark_price: mark,
        index_price: UNDEF,
        next_funding_ts: UNDEF,
        flags: funding_flags::SETTLEMENT,
        reserved: [0; 7],
    }
}

#[test]
fn funding_is_paid_at_the_right_time_with_the_right_sign() {
    for (buy, expected) in [(true, -0.01), (false, 0.01)] {
        let dir = tempfile::tempdir().unwrap();
        let l2 = write(dir.path(), "l2.tape", &book(400));
        // Settlement at 300 ms: rate 0.0001 (value exponent -8), mark 100.0.
        let fu = write(dir.path(), "f.tape", &[funding(300, 10_000, 1000)]);
        let order = OrderRequest {
            kind: order_kind::MARKET,
            tif: tif::IOC,
            side: if buy { side::BUY } else { side::SELL },
            qty: 1,
            ..limit(side::BUY, 0, 1, tif::IOC)
        };
        let mut c = cfg(1, 1);
        c.sample_ns = 100 * MS;
        let (out, _) = run(&[l2, fu], &c, vec![(10, order)]);
        let paid = out.account.positions[0].funding;
        assert!((paid - expected).abs() < 1e-12, "buy={buy}: {paid}");
        // A sample shows the account before the events of its time: nothing
        // paid up to and including 300 ms, paid after.
        let before = out.samples.iter().rfind(|s| s.ts <= T0 + 300 * MS).unwrap();
        let after = out.samples.iter().find(|s| s.ts > T0 + 300 * MS).unwrap();
        assert_eq!(before.funding, 0.0);
        assert!((after.funding - expected).abs() < 1e-12);
    }
}

#[test]
fn taker_order_walks_three_levels_at_the_right_average_price() {
    let dir = tempfile::tempdir().unwrap();
    let levels = [
        level(0, side::BID, 999, 10, level_flags::SNAPSHOT_START),
        level(0, side::ASK, 1001, 1, 0),
        level(0, side::ASK, 1002, 2, 0),
        level(0, side::ASK, 1003, 3, level_flags::BATCH_END),
        level(100, side::BID, 998, 1, level_flags::BATCH_END),
    ];
    let l2 = write(dir.path(), "l2.tape", &levels);
    let market = OrderRequest { kind: order_kind::MARKET, ..limit(side::BUY, 0, 5, tif::IOC) };
    let (out, script) = run(&[l2], &cfg(1, 1), vec![(10, market)]);
    let fills: Vec<(i64, i64, bool)> = out.fills.iter().map(|f| (f.price, f.qty, f.maker)).collect();
    assert_eq!(fills, [(1001, 1, false), (1002, 2, false), (1003, 2, false)]);
    let avg = out.orders[0].avg_fill_price() / 10.0;
    assert!((avg - 100.22).abs() < 1e-9, "{avg}");
    // Taker fee: 5 bps of the notional.
    let fees: f64 = out.fills.iter().map(|f| f.fee).sum();
    assert!((fees - 501.1 * 5e-4).abs() < 1e-9);
    assert_eq!(script.heard.iter().filter(|(_, u)| u.kind == update_kind::FILLED).count(), 3);
    // A limit buy at 100.2 for 5 takes what is at or below 100.2, rests the rest.
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &levels);
    let (out, _) = run(&[l2], &cfg(1, 1), vec![(10, limit(side::BUY, 1002, 5, tif::GTC))]);
    let fills: Vec<(i64, i64)> = out.fills.iter().map(|f| (f.price, f.qty)).collect();
    assert_eq!(fills, [(1001, 1), (1002, 2)]);
    assert_eq!(out.orders[0].leaves, 0, "cancelled at the end of the run");
    assert_eq!(out.orders[0].filled, 3);
}

#[test]
fn replace_moves_an_order_and_cancel_of_an_unknown_order_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    // A buy at 99.8 rests; at 10 ms it is replaced by a buy of 3 at 100.0;
    // the trade at 99.9 (20 ms) goes through 100.0 but not through 99.8.
    let tr = write(dir.path(), "t.tape", &[trade(20, 999, 5, side::SELL)]);
    let script = Script {
        orders: vec![(1, limit(side::BUY, 998, 1, tif::GTC))],
        later: vec![(10, Later::Replace(1, 1000, 3)), (30, Later::Cancel(1)), (31, Later::Cancel(99))],
        ..Script::default()
    };
    let (out, script) = run_script(&[l2, tr], &cfg(1, 1), script);
    let kinds: Vec<(u8, u8)> = script.heard.iter().map(|(_, u)| (u.kind, u.reason)).collect();
    assert_eq!(
        kinds,
        [
            (update_kind::ACCEPTED, reason::NONE),
            (update_kind::REPLACED, reason::NONE),
            (update_kind::FILLED, reason::NONE),
        ],
        "the cancels at 30 and 31 ms are not known to the strategy (order 1 filled, 99 never existed): not sent"
    );
    assert_eq!(out.fills.len(), 1);
    assert_eq!((out.fills[0].price, out.fills[0].qty, out.fills[0].ts_exchange), (1000, 3, T0 + 20 * MS));
    assert_eq!(out.orders[0].status.name(), "filled");

    // A cancel that reaches the exchange after the order filled is rejected.
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let tr = write(dir.path(), "t.tape", &[trade(20, 999, 5, side::SELL)]);
    let script = Script {
        orders: vec![(1, limit(side::BUY, 1000, 1, tif::GTC))],
        // Sent at 19 ms, before the strategy can know of the fill at 20 ms; it
        // reaches the exchange at 22 ms.
        later: vec![(19, Later::Cancel(1))],
        ..Script::default()
    };
    let mut c = cfg(1, 1);
    c.entry = LatencySpec::Constant(3 * MS);
    let (out, script) = run_script(&[l2, tr], &c, script);
    let last = script.heard.last().unwrap().1;
    assert_eq!((last.kind, last.reason), (update_kind::REJECTED, reason::UNKNOWN_ORDER));
    assert_eq!(out.orders[0].status.name(), "filled");
}

#[test]
fn grid_and_limit_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = meta();
    m.price_tick = 5;
    m.qty_lot = 2;
    let p = dir.path().join("l2.tape");
    let mut w = TapeWriter::<Level>::create(&p, &m).unwrap();
    for l in book(100) {
        w.push(&l).unwrap();
    }
    w.finish().unwrap();
    let mut c = cfg(1, 1);
    c.max_position = Some(3.0);
    let (_, script) = run(
        &[p],
        &c,
        vec![
            (1, limit(side::BUY, 996, 2, tif::GTC)),  // price off the 5-tick grid
            (2, limit(side::BUY, 995, 3, tif::GTC)),  // qty off the 2-lot grid
            (3, limit(side::BUY, 995, 4, tif::GTC)),  // beyond the position limit
            (4, limit(side::BUY, 995, -2, tif::GTC)), // not positive
        ],
    );
    let reasons: Vec<u8> = script.heard.iter().map(|(_, u)| u.reason).collect();
    assert_eq!(reasons, [reason::PRICE_NOT_ON_TICK, reason::QTY_NOT_ON_LOT, reason::POSITION_LIMIT, reason::INVALID]);
}

/// A strategy that sends random orders (seeded) on a timer, to test
/// invariants over many situations.
struct Random {
    rng: u64,
    every_ms: i64,
}

impl Random {
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

impl Strategy for Random {
    type Config = ticktape_sdk::NoConfig;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(Random { rng: 1, every_ms: 50 })
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer(ctx.now() + self.every_ms * MS, 0);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, _: u64) {
        ctx.set_timer(ctx.now() + self.every_ms * MS, 0);
        let inst = ctx.instrument(0).unwrap();
        let (Some((bid, _)), Some((ask, _))) = (ctx.best_bid(0), ctx.best_ask(0)) else { return };
        let r = self.next();
        let buy = r & 1 == 0;
        let offset = ((r >> 8) % 6) as i64 - 1; // -1..=4 ticks behind the touch
        let price = if buy { bid - offset * inst.price_tick } else { ask + offset * inst.price_tick };
        let qty = inst.qty_lot * (1 + ((r >> 16) % 50) as i64);
        let (kind, tif_code) = match (r >> 24) % 8 {
            0 => (order_kind::MARKET, tif::IOC),
            1 => (order_kind::LIMIT, tif::IOC),
            2 | 3 => (order_kind::LIMIT, tif::POST_ONLY),
            _ => (order_kind::LIMIT, tif::GTC),
        };
        ctx.submit(OrderRequest {
            instrument: 0,
            side: if buy { side::BUY } else { side::SELL },
            kind,
            tif: tif_code,
            reserved: 0,
            price,
            qty,
            tag: r,
        });
        if (r >> 32).is_multiple_of(5) {
            ctx.cancel_all(Some(0));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Over random markets and random orders: no maker fill without a trade
    /// strictly through its price at the fill's time, after the order
    /// reached the exchange; no maker fill at a price better than its
    /// limit; fees have the right sign; equity = capital + realised +
    /// unrealised − fees + funding at every sample.
    #[test]
    fn simulation_invariants(seed in 0u64..1_000_000, entry_ms in 0i64..5, maker_bps in -1.0f64..3.0) {
        let dir = tempfile::tempdir().unwrap();
        let mut sc = SynthConfig::new(40_000);
        sc.seed = seed;
        let paths: Vec<PathBuf> = generate(&sc, dir.path()).unwrap().into_iter().map(|s| s.path).collect();
        let replay = Replay::open(&paths).unwrap();
        let trades: Vec<Trade> = replay
            .tapes()
            .iter()
            .find(|t| t.kind() == ticktape_tape::RecordKind::Trade)
            .unwrap()
            .records::<Trade>()
            .unwrap()
            .to_vec();
        let cfg = SimConfig {
            entry: LatencySpec::Constant(entry_ms * MS),
            maker_fee_bps: maker_bps,
            taker_fee_bps: 5.0,
            sample_ns: 100 * MS,
            ..SimConfig::default()
        };
        let mut driver = Native(Random { rng: seed | 1, every_ms: 20 });
        let out = sim::run(&replay, &cfg, &mut driver).unwrap();
        prop_assert!(out.error.is_none());
        for f in &out.fills {
            let o = &out.orders[f.order_id as usize - 1];
            prop_assert!(o.arrive_ts <= f.ts_exchange, "fill before arrival");
            if f.maker {
                prop_assert_eq!(f.price, o.price, "maker fill not at its limit");
                let through = trades.iter().any(|t| {
                    t.ts.exchange == f.ts_exchange && if f.side > 0 { t.price < o.price } else { t.price > o.price }
                });
                prop_assert!(through, "maker fill {:?} without a trade through its price", f);
                prop_assert!(f.fee.signum() == maker_bps.signum() || f.fee == 0.0);
            } else {
                // Taker fills never at a price worse than the limit.
                if o.kind == order_kind::LIMIT {
                    let within = if f.side > 0 { f.price <= o.price } else { f.price >= o.price };
                    prop_assert!(within, "taker fill beyond the limit");
                }
                prop_assert!(f.fee > 0.0);
            }
        }
        for s in &out.samples {
            let via_pnl = cfg.capital + s.realized + s.unrealized - s.fees + s.funding;
            prop_assert!((s.equity - via_pnl).abs() < 1e-6 * (1.0 + s.equity.abs()), "{} vs {}", s.equity, via_pnl);
        }
    }
}

// Hostile requests and accounting limits (issue 15).

fn raw(side_code: u8, kind: u8, tif_code: u8, price: i64, qty: i64) -> OrderRequest {
    OrderRequest { instrument: 0, side: side_code, kind, tif: tif_code, reserved: 0, price, qty, tag: 7 }
}

/// Runs a script that may fail; returns the output whatever its error.
fn run_failing(tapes: &[PathBuf], cfg: &SimConfig, script: Script) -> (RunOutput, Script) {
    let replay = Replay::open(tapes).unwrap();
    let mut driver = Native(script);
    let out = sim::run(&replay, cfg, &mut driver).unwrap();
    (out, driver.0)
}

#[test]
fn order_qty_i64_max_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let (out, script) = run(
        &[l2],
        &cfg(1, 1),
        vec![
            (1, raw(side::BUY, order_kind::MARKET, tif::IOC, 0, i64::MAX)),
            (2, raw(side::BUY, order_kind::LIMIT, tif::GTC, 1001, i64::MAX)),
            (3, raw(side::BUY, order_kind::LIMIT, tif::GTC, i64::MAX, 1)),
            (4, raw(side::SELL, order_kind::LIMIT, tif::GTC, 999, 0)),
        ],
    );
    let heard: Vec<(i64, u8, u8)> = script.heard.iter().map(|(t, u)| ((t - T0) / MS, u.kind, u.reason)).collect();
    // Rejected as sent (1 ms response latency), without reaching the exchange.
    assert_eq!(
        heard,
        [
            (2, update_kind::REJECTED, reason::INVALID),
            (3, update_kind::REJECTED, reason::INVALID),
            (4, update_kind::REJECTED, reason::INVALID),
            (5, update_kind::REJECTED, reason::INVALID),
        ]
    );
    assert!(out.fills.is_empty());
    assert_eq!(out.account.positions[0].qty, 0);
    assert!(out.orders.iter().all(|o| o.status.name() == "rejected" && o.arrive_ts == 0));
    let s = sim::metrics::summarize(&out, "test");
    assert_eq!((s.invalid_orders, s.error), (4, None));
    assert!((s.final_equity - 10_000.0).abs() < 1e-9);
}

#[test]
fn order_at_the_largest_valid_qty_hits_the_default_notional_limit() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let big = sim::MAX_ORDER_UNITS;
    // Capital 10,000: the default limit is 100 × capital = 1,000,000 per order.
    let (out, script) = run(
        &[l2],
        &cfg(1, 1),
        vec![
            (1, raw(side::BUY, order_kind::LIMIT, tif::GTC, 1000, big)),
            (2, raw(side::BUY, order_kind::MARKET, tif::IOC, 0, big)),
            (3, raw(side::BUY, order_kind::LIMIT, tif::GTC, 1000, 100_000)), // 100.0 × 100,000 = 10 M
            (4, raw(side::BUY, order_kind::LIMIT, tif::GTC, 1000, 10_000)),  // 1 M: at the limit, accepted
        ],
    );
    let reasons: Vec<(u8, u8)> = script.heard.iter().map(|(_, u)| (u.kind, u.reason)).collect();
    assert_eq!(
        reasons,
        [
            (update_kind::REJECTED, reason::NOTIONAL_LIMIT),
            (update_kind::REJECTED, reason::NOTIONAL_LIMIT),
            (update_kind::REJECTED, reason::NOTIONAL_LIMIT),
            (update_kind::ACCEPTED, reason::NONE),
        ]
    );
    assert_eq!(out.orders[0].arrive_ts, T0 + 2 * MS, "limits are checked at the exchange");
}

#[test]
fn unknown_order_kind_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let mut reserved = raw(side::BUY, order_kind::LIMIT, tif::GTC, 999, 1);
    reserved.reserved = 1;
    let (out, script) = run(
        &[l2],
        &cfg(1, 1),
        vec![
            (1, raw(side::BUY, 99, tif::GTC, 999, 1)),
            (2, raw(side::BUY, order_kind::LIMIT, 77, 999, 1)),
            (3, raw(5, order_kind::LIMIT, tif::GTC, 999, 1)),
            (4, raw(side::NONE, order_kind::LIMIT, tif::GTC, 999, 1)),
            (5, raw(side::BUY, order_kind::MARKET, tif::POST_ONLY, 0, 1)),
            (6, reserved),
            (7, raw(side::BUY, order_kind::LIMIT, tif::GTC, 999, 1)), // well formed: rests
        ],
    );
    let reasons: Vec<u8> = script.heard.iter().map(|(_, u)| u.reason).collect();
    assert_eq!(reasons, [reason::INVALID; 6].into_iter().chain([reason::NONE]).collect::<Vec<_>>());
    assert_eq!(out.orders[0].kind, 99, "the orders table keeps the code the strategy sent");
    assert_eq!(out.orders[1].tif, 77);
    assert_eq!(sim::metrics::summarize(&out, "test").invalid_orders, 6);
    // One warning in the strategy log, for the first invalid order.
    let warnings: Vec<&str> = out.log.iter().map(|l| l.text.as_str()).filter(|t| t.contains("invalid")).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("order 1") && warnings[0].contains("unknown order kind"), "{}", warnings[0]);
    assert_eq!(out.orders[6].status.name(), "cancelled", "open at the end of the run");
}

#[test]
fn nan_fee_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let replay = Replay::open(&[l2]).unwrap();
    let cases: Vec<(SimConfig, &str)> = vec![
        (SimConfig { maker_fee_bps: f64::NAN, ..cfg(1, 1) }, "maker_bps"),
        (SimConfig { taker_fee_bps: f64::INFINITY, ..cfg(1, 1) }, "taker_bps"),
        (SimConfig { capital: f64::NAN, ..cfg(1, 1) }, "capital"),
        (SimConfig { capital: -1.0, ..cfg(1, 1) }, "capital"),
        (SimConfig { max_notional: Some(f64::NEG_INFINITY), ..cfg(1, 1) }, "max_notional"),
        (SimConfig { max_position: Some(0.0), ..cfg(1, 1) }, "max_position"),
        (SimConfig { sample_ns: 0, ..cfg(1, 1) }, "sample"),
        (SimConfig { entry: LatencySpec::Constant(-MS), ..cfg(1, 1) }, "entry"),
        (SimConfig { feed: LatencySpec::LogNormal { median: MS, sigma: f64::NAN }, ..cfg(1, 1) }, "[latency] feed"),
    ];
    for (c, key) in cases {
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(key), "{key}: {e}");
        let mut driver = Native(Script::default());
        let e = sim::run(&replay, &c, &mut driver).unwrap_err().to_string();
        assert!(e.contains(key), "a run refuses it too: {e}");
    }
    assert!(cfg(1, 1).validate().is_ok());
    assert!(SimConfig::default().validate().is_ok());
}

#[test]
fn accounting_overflow_is_an_error_naming_the_order() {
    let dir = tempfile::tempdir().unwrap();
    // An ask of 2^62 at 100.1: every market buy of 2^53 fills in full.
    let levels = vec![
        level(0, side::BID, 999, 10, level_flags::SNAPSHOT_START),
        level(0, side::ASK, 1001, 1 << 62, level_flags::BATCH_END),
        level(2_000, side::BID, 998, 1, level_flags::BATCH_END),
    ];
    let l2 = write(dir.path(), "l2.tape", &levels);
    let big = sim::MAX_ORDER_UNITS;
    let orders = (1..=1_100).map(|ms| (ms, raw(side::BUY, order_kind::MARKET, tif::IOC, 0, big))).collect();
    let mut c = cfg(1, 1);
    c.max_notional = Some(1e300);
    let (out, _) = run_failing(&[l2], &c, Script { orders, ..Script::default() });
    // 1,023 × 2^53 fits in an i64; the 1,024th fill would make 2^63.
    let e = out.error.clone().expect("the run fails");
    assert!(e.contains("accounting overflow") && e.contains("order 1024 ") && e.contains("position"), "{e}");
    assert!(e.contains("tag 7") && e.contains(&format!("{big} @ 1001")), "{e}");
    assert_eq!(out.fills.len(), 1_023, "results up to the failure are kept");
    assert_eq!(out.account.positions[0].qty, 1_023 * big);
    assert!(out.account.cash.is_finite());
    assert_eq!(out.orders.len(), 1_024, "the run stopped at the failing order");
    assert_eq!(sim::metrics::summarize(&out, "test").error, Some(e));
}

/// Re-arms a timer at `now()` (or in the past) forever.
struct Rearm {
    fired: Vec<i64>,
    past: bool,
}

impl Strategy for Rearm {
    type Config = ticktape_sdk::NoConfig;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(Rearm { fired: Vec::new(), past: false })
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer(ctx.now() + 10 * MS, 1);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        self.fired.push(ctx.now());
        let at = if self.past { ctx.now() - 1_000 * MS } else { ctx.now() };
        ctx.set_timer(at, token + 1);
    }
}

#[test]
fn timer_rearmed_at_now_in_a_loop_is_an_error() {
    for past in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let l2 = write(dir.path(), "l2.tape", &book(200));
        let replay = Replay::open(&[l2]).unwrap();
        let mut driver = Native(Rearm { fired: Vec::new(), past });
        let out = sim::run(&replay, &cfg(1, 1), &mut driver).unwrap();
        let e = out.error.expect("a timer loop is an error");
        let limit = sim::MAX_TIMERS_AT_NOW as u64;
        assert!(e.contains("timer loop") && e.contains(&format!("token {}", limit + 2)), "{e}");
        assert!(e.contains("2024-05-01T00:00:00.010000000Z"), "names the instant: {e}");
        let fired = &driver.0.fired;
        // The first timer, then each re-armed one fires once, at the same instant.
        assert_eq!(fired.len() as u64, limit + 1);
        assert!(fired.iter().all(|&t| t == T0 + 10 * MS));
    }
}

/// Sets one timer in the past and one at now; each fires once, at now.
struct Once {
    fired: Vec<(i64, u64)>,
}

impl Strategy for Once {
    type Config = ticktape_sdk::NoConfig;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(Once { fired: Vec::new() })
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer(ctx.now() + 10 * MS, 0);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        self.fired.push((ctx.now(), token));
        if token == 0 {
            ctx.set_timer(ctx.now() - 5 * MS, 1);
            ctx.set_timer(ctx.now(), 2);
        }
    }
}

#[test]
fn timer_set_at_or_before_now_fires_once_at_now() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let replay = Replay::open(&[l2]).unwrap();
    let mut driver = Native(Once { fired: Vec::new() });
    let out = sim::run(&replay, &cfg(1, 1), &mut driver).unwrap();
    assert_eq!(out.error, None);
    let t = T0 + 10 * MS;
    assert_eq!(driver.0.fired, [(t, 0), (t, 1), (t, 2)]);
}

/// Issue 13: annualised ratios of a run shorter than a day are not reported
/// (a 2-minute sample once printed a Sharpe of 940); the per-sample figures
/// are, and annualising them is exact for a run of a day or more.
#[test]
fn annualised_ratios_only_for_runs_of_a_day_or_more() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(200));
    let (mut out, _) = run(&[l2], &cfg(1, 1), vec![]);
    let template = out.samples[0].clone();
    let equity = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0];
    out.samples = equity
        .iter()
        .enumerate()
        .map(|(i, &e)| sim::Sample { ts: T0 + i as i64 * 1_000_000_000, equity: e, ..template.clone() })
        .collect();
    let rets: Vec<f64> = equity.windows(2).map(|w| w[1] - w[0]).collect();
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let sd = (rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();

    out.span = (T0, T0 + 120 * 1_000_000_000);
    let short = sim::metrics::summarize(&out, "test");
    assert!(!short.ratios_meaningful);
    assert_eq!((short.sharpe, short.sortino, short.calmar), (None, None, None));
    assert!((short.sharpe_per_sample.unwrap() - mean / sd).abs() < 1e-12);

    out.span = (T0, T0 + 2 * 86_400 * 1_000_000_000);
    let long = sim::metrics::summarize(&out, "test");
    assert!(long.ratios_meaningful);
    let periods = 365.25 * 86_400.0 / (out.config.sample_ns as f64 / 1e9);
    assert!((long.sharpe.unwrap() - mean / sd * periods.sqrt()).abs() < 1e-6);
    assert!(long.calmar.is_some());
}

/// Two tags trading against each other's inventory: the per-tag summary
/// counts each tag's orders and fills, and the tags' PnLs add up to gross
/// PnL less fees.
#[test]
fn per_tag_attribution_adds_up_and_keeps_names() {
    struct Named(Script);
    impl Strategy for Named {
        type Config = ticktape_sdk::NoConfig;
        fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
            Ok(Named(Script::default()))
        }
        fn on_start(&mut self, ctx: &mut Context<'_>) {
            assert!(ctx.name_tag(1, "alpha"));
            assert!(ctx.name_tag(3, "never used"));
            assert!(!ctx.name_tag(4, ""));
            assert!(!ctx.name_tag(4, &"x".repeat(65)));
            self.0.on_start(ctx);
        }
        fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
            self.0.on_timer(ctx, token);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(300));
    // Sells through 100.0 at 20 ms (fills the tag-1 buy), buys through
    // 100.2 at 40 ms (fills the tag-2 sell of 1 of the 2 bought).
    let tr = write(dir.path(), "t.tape", &[trade(20, 999, 3, side::SELL), trade(40, 1003, 3, side::BUY)]);
    let mut buy = limit(side::BUY, 1000, 2, tif::GTC);
    buy.tag = 1;
    let mut sell = limit(side::SELL, 1002, 1, tif::GTC);
    sell.tag = 2;
    let mut never = limit(side::BUY, 900, 1, tif::GTC);
    never.tag = 2;
    let script = Script { orders: vec![(1, buy), (30, sell), (31, never)], ..Script::default() };
    let replay = Replay::open(&[l2, tr]).unwrap();
    let mut driver = Native(Named(script));
    let out = sim::run(&replay, &cfg(1, 1), &mut driver).unwrap();
    assert_eq!(out.error, None);
    let s = sim::metrics::summarize(&out, "named");
    let tags: Vec<(u64, Option<&str>, u64, u64)> =
        s.by_tag.iter().map(|t| (t.tag, t.name.as_deref(), t.orders, t.fills)).collect();
    assert_eq!(tags, [(1, Some("alpha"), 1, 1), (2, None, 2, 1), (3, Some("never used"), 0, 0)]);
    assert_eq!(s.by_tag[0].maker_share, Some(1.0));
    assert_eq!(s.by_tag[2].maker_share, None);
    // Tag 1 bought 2 at 100.0, tag 2 sold 1 at 100.2; the last mid is
    // (99.0 + 100.1) / 2 = 99.55 (the quiet updates moved the bid to 99.0).
    let mark = out.samples.last().unwrap().marks[0];
    let fee = |p: f64, q: f64| p * q * 2e-4;
    let pnl1 = 2.0 * (mark - 100.0) - fee(100.0, 2.0);
    let pnl2 = -(mark - 100.2) - fee(100.2, 1.0);
    assert!((s.by_tag[0].pnl - pnl1).abs() < 1e-9, "{:?}", s.by_tag);
    assert!((s.by_tag[1].pnl - pnl2).abs() < 1e-9, "{:?}", s.by_tag);
    // The closing fill's tag gets the realised PnL: 1 × (100.2 − 100.0).
    assert!((s.by_tag[1].realized_pnl - 0.2).abs() < 1e-9);
    let total: f64 = s.by_tag.iter().map(|t| t.pnl).sum();
    assert!((total - (s.gross_pnl - s.fees)).abs() < 1e-9, "{total} vs {} - {}", s.gross_pnl, s.fees);
}

/// A strategy's own figures (`Context::summary_figure`) land in the
/// summary by name, the last value winning; `Context::fail` stops the run
/// after the callback with the strategy's message, natively and through
/// the plugin glue.
#[test]
fn summary_figures_and_a_failing_callback() {
    struct Reporter {
        fail_at: Option<u32>,
        books: u32,
    }
    impl Strategy for Reporter {
        type Config = ticktape_sdk::NoConfig;
        fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
            Ok(Reporter { fail_at: Some(3), books: 0 })
        }
        fn on_book(&mut self, ctx: &mut Context<'_>, _: u32) {
            self.books += 1;
            if Some(self.books) == self.fail_at {
                ctx.fail("bars of 1d, rows of 1h: give 1h bars");
                ctx.fail("a second failure is not reported");
            }
        }
        fn on_finish(&mut self, ctx: &mut Context<'_>) {
            assert!(ctx.summary_figure("tracking_error", 1.0));
            assert!(ctx.summary_figure("tracking_error", 2.5));
            assert!(ctx.summary_figure("books", f64::from(self.books)));
            assert!(ctx.summary_figure("undefined", f64::NAN));
            assert!(!ctx.summary_figure("", 1.0));
            assert!(!ctx.summary_figure(&"x".repeat(65), 1.0));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "l2.tape", &book(300));
    let replay = Replay::open(&[l2]).unwrap();
    let mut ok = Native(Reporter { fail_at: None, books: 0 });
    let out = sim::run(&replay, &cfg(1, 1), &mut ok).unwrap();
    assert_eq!(out.error, None);
    let s = sim::metrics::summarize(&out, "reporter");
    let books = f64::from(ok.0.books);
    assert!(books > 3.0);
    let want: std::collections::BTreeMap<String, Option<f64>> =
        [("books", Some(books)), ("tracking_error", Some(2.5)), ("undefined", None)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    assert_eq!(s.strategy_figures, want);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["strategy_figures"]["tracking_error"], 2.5);
    assert!(json["strategy_figures"]["undefined"].is_null());

    let mut failing = Native(Reporter { fail_at: Some(3), books: 0 });
    let out = sim::run(&replay, &cfg(1, 1), &mut failing).unwrap();
    let e = out.error.expect("the run should fail");
    assert!(e.contains("failed in on_events") && e.ends_with(": bars of 1d, rows of 1h: give 1h bars"), "{e}");
    assert_eq!(failing.0.books, 3, "the run stops after the failing callback");
    assert!(out.figures.is_empty(), "on_finish does not run after a failure");

    let linked = ticktape_engine::plugin::Plugin::in_process(ticktape_sdk::export::in_process::<Reporter>(
        "reporter",
        env!("CARGO_PKG_VERSION"),
    ))
    .unwrap();
    let mut inst = linked.create("").unwrap();
    let out = sim::run(&replay, &cfg(1, 1), &mut inst).unwrap();
    let e = out.error.expect("the run should fail");
    assert_eq!(e, "strategy reporter failed in on_events (status 3): bars of 1d, rows of 1h: give 1h bars");
}

/// Compares `Context::book_top` with the separate best/depth calls at every
/// trade and book message.
#[derive(Default)]
struct TopCheck {
    checked: u64,
    mismatches: Vec<String>,
}

impl TopCheck {
    fn check(&mut self, ctx: &Context<'_>, i: u32) {
        use ticktape_sdk::Side;
        for n in [0u32, 1, 5, 1000] {
            let top = ctx.book_top(i, n);
            let depth = |s| if n == 0 { 0 } else { ctx.depth(i, s, n) };
            let want = ticktape_sdk::BookTop {
                bid: ctx.best_bid(i),
                ask: ctx.best_ask(i),
                bid_depth: depth(Side::Buy),
                ask_depth: depth(Side::Sell),
            };
            if top != want && self.mismatches.len() < 5 {
                self.mismatches.push(format!("n = {n}: {top:?} vs {want:?}"));
            }
            self.checked += 1;
        }
        // An unknown instrument: empty, not a crash.
        assert_eq!(ctx.book_top(99, 5), ticktape_sdk::BookTop::default());
    }
}

impl Strategy for TopCheck {
    type Config = ticktape_sdk::NoConfig;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(TopCheck::default())
    }
    fn on_trade(&mut self, ctx: &mut Context<'_>, i: u32, _: &Trade) {
        self.check(ctx, i);
    }
    fn on_book(&mut self, ctx: &mut Context<'_>, i: u32) {
        self.check(ctx, i);
    }
}

#[test]
fn book_top_is_best_and_depth_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let tapes: Vec<PathBuf> =
        generate(&SynthConfig::new(20_000), dir.path()).unwrap().into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&tapes).unwrap();
    let mut driver = Native(TopCheck::default());
    let out = sim::run(&replay, &SimConfig::default(), &mut driver).unwrap();
    assert_eq!(out.error, None);
    assert!(driver.0.checked > 10_000, "checked {}", driver.0.checked);
    assert!(driver.0.mismatches.is_empty(), "{:?}", driver.0.mismatches);
}

// `subscribe::BOOK_TOPS`: the message ends that move the top, and nothing
// else changes.

/// What a strategy saw: per callback, its kind (0 timer, 1 trade, 2 level,
/// 3 quote),
/// the instrument it was about (0 for a timer), the clock, and the top of
/// the books of instruments 0 and 1 (prices, sizes, 5-level depths).
type Seen = Vec<(u8, u32, i64, [ticktape_sdk::BookTop; 2])>;

/// Records every trade, every level it is given (with the book then) and,
/// every 7 ms, the book at a timer; subscribes to `S`.
#[derive(Default)]
struct Watch<const S: u32> {
    seen: Seen,
}

impl<const S: u32> Strategy for Watch<S> {
    type Config = ticktape_sdk::NoConfig;
    const SUBSCRIBE: u32 = S;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(Watch::default())
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer(ctx.now() + 7 * MS, 0);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, _: u64) {
        self.seen.push((0, 0, ctx.now(), [ctx.book_top(0, 5), ctx.book_top(1, 5)]));
        ctx.set_timer(ctx.now() + 7 * MS, 0);
    }
    fn on_trade(&mut self, ctx: &mut Context<'_>, i: u32, _: &Trade) {
        self.seen.push((1, i, ctx.now(), [ctx.book_top(0, 5), ctx.book_top(1, 5)]));
    }
    fn on_level(&mut self, ctx: &mut Context<'_>, i: u32, l: &Level) {
        if l.is_batch_end() {
            self.seen.push((2, i, ctx.now(), [ctx.book_top(0, 5), ctx.book_top(1, 5)]));
        }
    }
    fn on_quote(&mut self, ctx: &mut Context<'_>, i: u32, _: &ticktape_tape::Quote) {
        // Not the books: a quote shares its batch with the messages at the
        // same time after it, and a LEVELS run ends a batch at every message
        // end where a BOOK_TOPS run goes on past those that move no top.
        self.seen.push((3, i, ctx.now(), Default::default()));
    }
}

#[test]
fn book_tops_deliver_exactly_the_message_ends_that_move_the_top() {
    use ticktape_sdk::abi::subscribe;
    const LEVELS: u32 = subscribe::TRADES | subscribe::LEVELS;
    const TOPS: u32 = subscribe::TRADES | subscribe::BOOK_TOPS;
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    let paths: Vec<PathBuf> = generate(&SynthConfig::new(60_000), &one).unwrap().into_iter().map(|s| s.path).collect();
    // Two instruments: two L2 channels whose deliveries interleave out of
    // order under random latency.
    let two = dir.path().join("two");
    let cfg2 = SynthConfig {
        symbols: vec![SymbolSpec::preset("BTCUSDT"), SymbolSpec::preset("ETHUSDT")],
        trade_rate: 0.5,
        ..SynthConfig::new(80_000)
    };
    let paths2: Vec<PathBuf> = generate(&cfg2, &two).unwrap().into_iter().map(|s| s.path).collect();
    for (paths, feed) in [
        (&paths, LatencySpec::Local { fallback: Box::new(LatencySpec::Constant(MS)) }),
        (&paths, LatencySpec::LogNormal { median: 2 * MS, sigma: 0.8 }),
        (&paths2, LatencySpec::Local { fallback: Box::new(LatencySpec::Constant(MS)) }),
        (&paths2, LatencySpec::LogNormal { median: 2 * MS, sigma: 0.8 }),
    ] {
        let replay = Replay::open(paths).unwrap();
        let cfg = SimConfig { feed, ..SimConfig::default() };
        let mut all = Native(Watch::<LEVELS>::default());
        let mut tops = Native(Watch::<TOPS>::default());
        assert_eq!(sim::run(&replay, &cfg, &mut all).unwrap().error, None);
        assert_eq!(sim::run(&replay, &cfg, &mut tops).unwrap().error, None);
        // Expected: every callback of the LEVELS run, less the message ends
        // whose best prices (or empty sides) equal the previous message end's.
        let want = tops_of(&all.0.seen);
        let levels = all.0.seen.iter().filter(|s| s.0 == 2).count();
        let moved = want.iter().filter(|s| s.0 == 2).count();
        assert!(moved > 100 && moved < levels / 2, "{moved} of {levels} message ends moved the top");
        assert!(want.iter().filter(|s| s.0 == 1).count() > 1_000);
        if paths.len() > 2 {
            assert!(want.iter().filter(|s| s.0 == 2 && s.1 == 1).count() > 100, "few tops of the second book");
        }
        assert_eq!(tops.0.seen.len(), want.len());
        assert!(tops.0.seen == want, "the BOOK_TOPS run saw other books, times or calls than the LEVELS run");
    }
}

/// Reads its book at its first callback of each kind.
#[derive(Default)]
struct FirstLook {
    at_start: Option<ticktape_sdk::BookTop>,
    at_trade: Option<ticktape_sdk::BookTop>,
}

impl Strategy for FirstLook {
    type Config = ticktape_sdk::NoConfig;
    fn new(_: ticktape_sdk::NoConfig) -> Result<Self, String> {
        Ok(FirstLook::default())
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.at_start = Some(ctx.book_top(0, 5));
    }
    fn on_trade(&mut self, ctx: &mut Context<'_>, _: u32, _: &Trade) {
        self.at_trade.get_or_insert(ctx.book_top(0, 5));
    }
}

#[test]
fn a_time_slice_starts_the_strategy_with_the_book_as_it_stood() {
    use ticktape_engine::replay::ReplayOptions;
    // The snapshot at 0 ms (bid 99.9 x 10, ask 100.1 x 10) is before the
    // slice; the updates after it only touch 99.0. The strategy's first
    // look at its book must show the snapshot's levels, as the exchange's
    // book has them, whether it subscribes to the levels or not.
    let dir = tempfile::tempdir().unwrap();
    let l2 = write(dir.path(), "b.l2.tape", &book(1_000));
    let trades = write(dir.path(), "t.trades.tape", &[trade(120, 1001, 1, side::BUY), trade(600, 1001, 1, side::BUY)]);
    let from = T0 + 300 * MS;
    let replay =
        Replay::open_with(&[&l2, &trades], ReplayOptions { from: Some(from), ..ReplayOptions::default() }).unwrap();
    let want = ticktape_sdk::BookTop { bid: Some((999, 10)), ask: Some((1001, 10)), bid_depth: 11, ask_depth: 10 };
    let mut plain = Native(FirstLook::default());
    assert_eq!(sim::run(&replay, &cfg(1, 1), &mut plain).unwrap().error, None);
    assert_eq!(plain.0.at_start, Some(want), "at start");
    assert_eq!(plain.0.at_trade, Some(want), "at the first trade of the slice");
    let mut levels =
        Native(Watch::<{ ticktape_sdk::abi::subscribe::LEVELS | ticktape_sdk::abi::subscribe::TRADES }>::default());
    assert_eq!(sim::run(&replay, &cfg(1, 1), &mut levels).unwrap().error, None);
    let first = levels.0.seen.first().expect("a callback");
    assert_eq!(first.3[0], want, "at the first callback when levels are subscribed");
}

/// Every callback of a LEVELS run, less the message ends whose best prices
/// (or empty sides) equal the previous message end's of that instrument:
/// what a BOOK_TOPS run must see.
fn tops_of(all: &Seen) -> Seen {
    let price = |t: &ticktape_sdk::BookTop| (t.bid.map(|b| b.0), t.ask.map(|a| a.0));
    let mut last = [None; 2];
    all.iter()
        .filter(|(kind, i, _, tops)| {
            let (i, top) = (*i as usize, &tops[*i as usize]);
            *kind != 2 || last[i].replace(price(top)) != Some(price(top))
        })
        .copied()
        .collect()
}

/// A tape of `recs` for `symbol`, with receive times.
fn write_as<R: Record>(dir: &Path, symbol: &str, name: &str, recs: &[R]) -> PathBuf {
    let p = dir.join(name);
    let m = TapeMeta { symbol: symbol.into(), has_local_ts: true, ..meta() };
    let mut w = TapeWriter::<R>::create(&p, &m).unwrap();
    for r in recs {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
    p
}

/// (exchange ms, receive delay ms, side or kind, price offset, qty, flag).
type Draw = (i64, i64, bool, i64, i64, bool);

fn stamp(ms: i64, delay: i64) -> Stamp {
    Stamp { exchange: T0 + ms * MS, local: T0 + (ms + delay) * MS }
}

/// Two L2 books (A with quotes and trades, B with trades) on a 1 ms clock
/// with receive delays of 0-5 ms: many deliveries at equal times, and
/// channels whose deliveries cross.
fn coarse_market(dir: &Path, draws: [Vec<Draw>; 5]) -> Vec<PathBuf> {
    let sorted = |v: &Vec<Draw>| {
        let mut v = v.clone();
        v.sort_by_key(|d| d.0);
        v
    };
    let levels = |v: &Vec<Draw>| {
        let mut out = vec![
            Level {
                ts: stamp(0, 0),
                price: 995,
                qty: 5,
                side: side::BID,
                flags: level_flags::SNAPSHOT_START | level_flags::SNAPSHOT,
                reserved: [0; 6],
            },
            Level {
                ts: stamp(0, 0),
                price: 1005,
                qty: 5,
                side: side::ASK,
                flags: level_flags::SNAPSHOT | level_flags::BATCH_END,
                reserved: [0; 6],
            },
        ];
        let v = sorted(v);
        for (k, &(ms, delay, bid, off, qty, end)) in v.iter().enumerate() {
            let (side_code, price) = if bid { (side::BID, 999 - off) } else { (side::ASK, 1001 + off) };
            // A message never spans two exchange times.
            let last = k + 1 == v.len() || v[k + 1].0 != ms;
            let flags = if end || last { level_flags::BATCH_END } else { 0 };
            out.push(Level { ts: stamp(ms, delay), price, qty, side: side_code, flags, reserved: [0; 6] });
        }
        out
    };
    let trades = |v: &Vec<Draw>| -> Vec<Trade> {
        sorted(v)
            .iter()
            .enumerate()
            .map(|(k, &(ms, delay, buy, off, qty, _))| Trade {
                ts: stamp(ms, delay),
                price: if buy { 1001 + off } else { 999 - off },
                qty: qty + 1,
                trade_id: k as u64,
                side: if buy { side::BUY } else { side::SELL },
                ..Trade::default()
            })
            .collect()
    };
    let quotes: Vec<ticktape_tape::Quote> = sorted(&draws[4])
        .iter()
        .map(|&(ms, delay, _, off, qty, _)| ticktape_tape::Quote {
            ts: stamp(ms, delay),
            bid_price: 999 - off,
            bid_qty: qty + 1,
            ask_price: 1001 + off,
            ask_qty: qty + 1,
        })
        .collect();
    vec![
        write_as(dir, "A", "a.l2.tape", &levels(&draws[0])),
        write_as(dir, "B", "b.l2.tape", &levels(&draws[1])),
        write_as(dir, "A", "a.trades.tape", &trades(&draws[2])),
        write_as(dir, "B", "b.trades.tape", &trades(&draws[3])),
        write_as(dir, "A", "a.quotes.tape", &quotes),
    ]
}

fn draws(n: usize) -> impl proptest::strategy::Strategy<Value = Vec<Draw>> {
    prop::collection::vec((1i64..300, 0i64..6, any::<bool>(), 0i64..4, 0i64..4, any::<bool>()), 1..n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// BOOK_TOPS on a coarse clock, where deliveries tie with each other and
    /// with the strategy's timers and channels cross: the callbacks and the
    /// books in them are those of a LEVELS run, less the message ends that
    /// leave the top where it was.
    #[test]
    fn book_tops_match_levels_on_a_coarse_clock(
        a in draws(200), b in draws(200), ta in draws(60), tb in draws(60), q in draws(60), constant in any::<bool>(),
    ) {
        use ticktape_sdk::abi::subscribe;
        const LEVELS: u32 = subscribe::TRADES | subscribe::QUOTES | subscribe::LEVELS;
        const TOPS: u32 = subscribe::TRADES | subscribe::QUOTES | subscribe::BOOK_TOPS;
        let dir = tempfile::tempdir().unwrap();
        let opts = ticktape_engine::replay::ReplayOptions { allow_gaps: true, ..Default::default() };
        let replay = Replay::open_with(&coarse_market(dir.path(), [a, b, ta, tb, q]), opts).unwrap();
        let feed = if constant {
            LatencySpec::Constant(MS)
        } else {
            LatencySpec::Local { fallback: Box::new(LatencySpec::Constant(MS)) }
        };
        let cfg = SimConfig { feed, ..SimConfig::default() };
        let mut all = Native(Watch::<LEVELS>::default());
        let mut tops = Native(Watch::<TOPS>::default());
        prop_assert_eq!(sim::run(&replay, &cfg, &mut all).unwrap().error, None);
        prop_assert_eq!(sim::run(&replay, &cfg, &mut tops).unwrap().error, None);
        let want = tops_of(&all.0.seen);
        prop_assert!(tops.0.seen == want, "BOOK_TOPS saw {:?}\nLEVELS less unmoved tops {:?}", tops.0.seen, want);
    }
}
