//! Cost of one `update` of each signal primitive, in ns.
//!
//! Run with `cargo bench -p ticktape-sdk --bench signal`. Each iteration is
//! one update on inputs generated up front (64 Ki values, cycled), so the
//! figure criterion reports per iteration is the cost of one update, RNG
//! excluded. The state goes through `black_box` every iteration, so it lives
//! in memory as it would inside a strategy.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ticktape_sdk::signal::{
    DecayAccumulator, Ewma, RollingCorr, RollingMax, RollingMin, RollingRank, RollingStats, TimeEwma,
};

const LEN: usize = 1 << 16;
const MASK: usize = LEN - 1;
const WINDOWS: [usize; 3] = [20, 100, 500];

/// Pre-generated inputs.
struct Inputs {
    /// iid N(0, 1).
    x: Vec<f64>,
    /// 0.6·x + 0.8·N(0, 1): correlated with x.
    y: Vec<f64>,
    /// A random walk from 1e5: price-like, with trends for min/max.
    walk: Vec<f64>,
    /// Time steps in ns: 30 % zero (bursts), else exponential with mean 20 ms.
    dt_bursty: Vec<i64>,
    /// Time steps in ns: all positive, exponential with mean 20 ms.
    dt_positive: Vec<i64>,
    /// Trade-size-like weights, log-uniform in 0.01 … 10.
    w: Vec<f64>,
}

/// splitmix64: enough randomness for bench inputs, no dependency.
struct SplitMix(u64);

impl SplitMix {
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        (-2.0 * (1.0 - self.uniform()).ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

impl Inputs {
    fn new() -> Self {
        let mut r = SplitMix(0x1234_5678_9ABC_DEF0);
        let x: Vec<f64> = (0..LEN).map(|_| r.normal()).collect();
        let y = x.iter().map(|x| 0.6 * x + 0.8 * r.normal()).collect();
        let mut p = 1e5;
        let walk = (0..LEN)
            .map(|_| {
                p += r.normal();
                p
            })
            .collect();
        let dt_positive: Vec<i64> = (0..LEN).map(|_| 1 + (-(1.0 - r.uniform()).ln() * 20e6) as i64).collect();
        let dt_bursty = dt_positive.iter().map(|&d| if r.uniform() < 0.3 { 0 } else { d }).collect();
        let w = (0..LEN).map(|_| 10f64.powf(-2.0 + 3.0 * r.uniform())).collect();
        Self { x, y, walk, dt_bursty, dt_positive, w }
    }
}

/// Benchmarks `step(state, i)` for i = 0, 1, 2, … (mod LEN), one call per
/// iteration.
fn bench<S>(c: &mut Criterion, id: String, mut state: S, mut step: impl FnMut(&mut S, usize)) {
    c.bench_function(&id, |b| {
        let mut i = 0usize;
        b.iter(|| {
            step(black_box(&mut state), i & MASK);
            i = i.wrapping_add(1);
        });
    });
}

/// A bench id, `name/param`.
fn id(name: &str, param: impl std::fmt::Display) -> String {
    format!("{name}/{param}")
}

fn time_based(c: &mut Criterion, inp: &Inputs) {
    let tau = Duration::from_millis(500);
    for (label, dts) in [("bursty", &inp.dt_bursty), ("positive_dt", &inp.dt_positive)] {
        let mut clock = 1_700_000_000_000_000_000i64;
        bench(c, id("decay_accumulator", label), DecayAccumulator::new(tau).unwrap(), |a, i| {
            clock += dts[i];
            a.update(clock, black_box(inp.x[i]), black_box(inp.w[i]));
        });
        let mut clock = 1_700_000_000_000_000_000i64;
        bench(c, id("time_ewma", label), TimeEwma::new(tau).unwrap(), |a, i| {
            clock += dts[i];
            a.update_weighted(clock, black_box(inp.x[i]), black_box(inp.w[i]));
        });
    }
    // Reading the decayed value at a later time: one exp, no mutation.
    let mut acc = DecayAccumulator::new(tau).unwrap();
    acc.update(0, 1.0, 1.0);
    bench(c, id("decay_accumulator", "value(t)"), acc, |a, i| {
        black_box(a.value(black_box(inp.dt_positive[i])));
    });
}

fn per_event(c: &mut Criterion, inp: &Inputs) {
    bench(c, id("ewma", "span=100"), Ewma::with_span(100.0).unwrap(), |e, i| e.update(black_box(inp.x[i])));
}

fn rolling(c: &mut Criterion, inp: &Inputs) {
    for n in WINDOWS {
        bench(c, id("rolling_stats", n), RollingStats::new(n).unwrap(), |s, i| s.update(black_box(inp.walk[i])));
    }
    // What a z-score signal does per event: update, then read (a sqrt and a
    // division on top of the update).
    bench(c, id("rolling_stats+zscore", 100), RollingStats::new(100).unwrap(), |s, i| {
        s.update(black_box(inp.walk[i]));
        black_box(s.zscore());
    });
    for n in WINDOWS {
        bench(c, id("rolling_max/iid", n), RollingMax::new(n).unwrap(), |s, i| s.update(black_box(inp.x[i])));
    }
    for n in WINDOWS {
        bench(c, id("rolling_min/walk", n), RollingMin::new(n).unwrap(), |s, i| s.update(black_box(inp.walk[i])));
    }
    for n in WINDOWS {
        bench(c, id("rolling_rank", n), RollingRank::new(n).unwrap(), |s, i| s.update(black_box(inp.x[i])));
    }
    for n in WINDOWS {
        bench(c, id("rolling_corr", n), RollingCorr::new(n).unwrap(), |s, i| {
            s.update(black_box(inp.x[i]), black_box(inp.y[i]));
        });
    }
}

/// The harness alone: read one input, pass the state through `black_box`.
/// Every other figure includes this.
fn overhead(c: &mut Criterion, inp: &Inputs) {
    bench(c, id("harness", "overhead"), 0.0f64, |s, i| *s = black_box(inp.x[i]));
}

fn signals(c: &mut Criterion) {
    let inp = Inputs::new();
    overhead(c, &inp);
    time_based(c, &inp);
    per_event(c, &inp);
    rolling(c, &inp);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = signals
}
criterion_main!(benches);
