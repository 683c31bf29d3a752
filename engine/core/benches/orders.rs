//! Cost of many open orders: a strategy rests `n` limit orders over 2,000
//! price levels each side of the book, then cancels and replaces 1 % of
//! them every 100 ms while trades fill those near the touch. Arrive,
//! cancel, replace and fill are O(log n), so the time per order stays
//! nearly flat from 10 k to 1 M orders.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ticktape_engine::plugin::Native;
use ticktape_engine::replay::Replay;
use ticktape_engine::sim::{self, SimConfig};
use ticktape_engine::synth::{SynthConfig, generate};
use ticktape_sdk::{Context, NoConfig, Side, Strategy};

const MS: i64 = 1_000_000;

/// Rests `n` orders at the first timer, then churns 1 % of them per 100 ms.
struct Filler {
    n: u64,
    /// Next order id to cancel or replace.
    cursor: u64,
}

impl Strategy for Filler {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Filler { n: 0, cursor: 1 })
    }
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer(ctx.now() + 10 * MS, 0);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        let tick = ctx.instrument(0).map_or(1, |i| i.price_tick);
        let lot = ctx.instrument(0).map_or(1, |i| i.qty_lot);
        let (Some((bid, _)), Some((ask, _))) = (ctx.best_bid(0), ctx.best_ask(0)) else {
            ctx.set_timer(ctx.now() + 10 * MS, token);
            return;
        };
        if token == 0 {
            for k in 0..self.n {
                let away = (1 + (k / 2) % 2_000) as i64 * tick;
                if k.is_multiple_of(2) {
                    ctx.limit(0, Side::Buy, bid - away, lot, k);
                } else {
                    ctx.limit(0, Side::Sell, ask + away, lot, k);
                }
            }
        } else {
            for _ in 0..(self.n / 100).max(1) {
                let id = self.cursor;
                self.cursor = self.cursor % self.n + 1;
                if id.is_multiple_of(2) {
                    ctx.cancel(id);
                } else {
                    ctx.replace(id, if id % 4 == 1 { bid - 3_000 * tick } else { ask + 3_000 * tick }, 2 * lot);
                }
            }
        }
        ctx.set_timer(ctx.now() + 100 * MS, 1);
    }
}

fn open_orders(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths: Vec<PathBuf> =
        generate(&SynthConfig::new(200_000), dir.path()).expect("generate").into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&paths).expect("open");
    let cfg = SimConfig::default();
    let mut g = c.benchmark_group("open orders");
    g.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(5));
    for n in [10_000u64, 100_000, 1_000_000] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("rest, churn 1%/100ms, fill", n), &n, |b, &n| {
            b.iter(|| {
                let mut d = Native(Filler { n, cursor: 1 });
                let out = sim::run(&replay, &cfg, &mut d).expect("run");
                assert!(out.error.is_none(), "{:?}", out.error);
                black_box((out.orders.len(), out.fills.len()))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, open_orders);
criterion_main!(benches);
