//! Random streams for the property tests.
//!
//! proptest picks a stream [`Kind`] and a seed (so a failure prints both and
//! shrinks over them); the ≥ 10,000 values are then drawn from a small
//! deterministic generator, which keeps generation fast and the streams long.

use proptest::prelude::*;

/// The shape of a test stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// N(0, s²) with s drawn once from 1e-3 … 1e3.
    Gaussian,
    /// 1e9 + N(0, s²) with s from 1e-3 … 1: a price-like level that dwarfs its noise.
    Offset,
    /// Cauchy: most values O(1), a few up to ~1e16.
    HeavyTail,
    /// A random walk from 1e5 with unit steps, like a traded price.
    Walk,
    /// Small integers 0 … 9: many ties.
    Ties,
    /// Runs of ~1 to 400 values, each a constant, a noisy level, a trend or a
    /// heavy-tailed burst, at levels from 0 to 1e9: regime switches and
    /// constant stretches after noise.
    Regimes,
}

impl Arbitrary for Kind {
    type Parameters = ();
    type Strategy = BoxedStrategy<Kind>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        prop_oneof![
            Just(Kind::Gaussian),
            Just(Kind::Offset),
            Just(Kind::HeavyTail),
            Just(Kind::Walk),
            Just(Kind::Ties),
            Just(Kind::Regimes),
        ]
        .boxed()
    }
}

/// splitmix64: small, fast, and good enough for test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `lo .. hi`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Standard Cauchy.
    pub(crate) fn cauchy(&mut self) -> f64 {
        (std::f64::consts::PI * (self.uniform() - 0.5)).tan()
    }

    /// 10^u with u uniform in `lo .. hi`.
    pub(crate) fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        10f64.powf(self.range(lo, hi))
    }
}

/// `n` values of the given kind.
pub(crate) fn values(kind: Kind, seed: u64, n: usize) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    match kind {
        Kind::Gaussian => {
            let s = r.log_uniform(-3.0, 3.0);
            out.extend((0..n).map(|_| s * r.normal()));
        }
        Kind::Offset => {
            let s = r.log_uniform(-3.0, 0.0);
            out.extend((0..n).map(|_| 1e9 + s * r.normal()));
        }
        Kind::HeavyTail => out.extend((0..n).map(|_| r.cauchy())),
        Kind::Walk => {
            let mut p = 1e5;
            out.extend((0..n).map(|_| {
                p += r.normal();
                p
            }));
        }
        Kind::Ties => out.extend((0..n).map(|_| (r.next_u64() % 10) as f64)),
        Kind::Regimes => {
            while out.len() < n {
                let run = 1 + (r.next_u64() % 400) as usize;
                let level = match r.next_u64() % 4 {
                    0 => 0.0,
                    1 => 1e9 + 0.5,
                    2 => r.normal(),
                    _ => r.log_uniform(0.0, 9.0) * if r.uniform() < 0.5 { -1.0 } else { 1.0 },
                };
                let scale = r.log_uniform(-3.0, 2.0);
                let shape = r.next_u64() % 4;
                let mut p = level;
                for _ in 0..run.min(n - out.len()) {
                    out.push(match shape {
                        0 => level,
                        1 => level + scale * r.normal(),
                        2 => {
                            p += scale * (0.2 + r.normal());
                            p
                        }
                        _ => level + scale * r.cauchy(),
                    });
                }
            }
        }
    }
    out
}

/// `n` events `(ts, x, weight)` with x of the given kind. Timestamps start at
/// a 2023 epoch time in ns and move by: 0 (30 %, bursts), an exponential gap
/// of mean 20 ms (60 %), a step back of up to 1 s (5 %, late events), or a
/// gap of 10 s … 3 h (5 %). Weights are log-uniform in 0.01 … 10.
pub(crate) fn events(kind: Kind, seed: u64, n: usize) -> Vec<(i64, f64, f64)> {
    let xs = values(kind, seed, n);
    let mut r = Rng::new(seed ^ 0x5EED_0F71_5EED);
    let mut ts: i64 = 1_700_000_000_000_000_000;
    xs.into_iter()
        .map(|x| {
            let u = r.uniform();
            ts += if u < 0.30 {
                0
            } else if u < 0.90 {
                (-(1.0 - r.uniform()).ln() * 20e6) as i64
            } else if u < 0.95 {
                -((r.uniform() * 1e9) as i64)
            } else {
                (r.log_uniform(1.0, 4.0) * 1e9) as i64
            };
            (ts, x, r.log_uniform(-2.0, 1.0))
        })
        .collect()
}

/// `|got − want| ≤ tol`, also true when both are the same infinity.
pub(crate) fn within(got: f64, want: f64, tol: f64) -> bool {
    got == want || (got - want).abs() <= tol
}

/// Largest |x| over a slice (0 for an empty one).
pub(crate) fn max_abs(xs: impl IntoIterator<Item = f64>) -> f64 {
    xs.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Σ of the terms with Neumaier's compensation: accurate to about one ulp of
/// the result plus ε²·Σ|term|, so a naive reference does not add its own
/// O(n·ε) rounding to what a test measures.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Sum {
    sum: f64,
    carry: f64,
}

impl Sum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.carry += if self.sum.abs() >= x.abs() { (self.sum - t) + x } else { (x - t) + self.sum };
        self.sum = t;
    }

    pub(crate) fn value(self) -> f64 {
        self.sum + self.carry
    }
}
