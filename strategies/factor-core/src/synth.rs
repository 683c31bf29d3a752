//! Generated bars and factors for benchmarks and tests: a seeded random
//! walk per symbol and a persistent factor that leads its returns a little.

/// One generated symbol: closes and the factor value at each close.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSymbol {
    /// Close prices.
    pub closes: Vec<f64>,
    /// Factor values, one per close (stamped at the close).
    pub factor: Vec<f64>,
}

/// SplitMix64.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `symbols` symbols of `bars` bars each: returns with volatility `vol` per
/// bar, of which a small part (5 % of the volatility) follows the sign of
/// an AR(1) factor (φ = 0.98) observed at the previous close. Seeded, so the
/// same arguments give the same data.
pub fn generate(symbols: usize, bars: usize, vol: f64, seed: u64) -> Vec<SynthSymbol> {
    (0..symbols)
        .map(|s| {
            let mut rng = Rng(seed ^ (0xA5A5_0000 + s as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let mut closes = Vec::with_capacity(bars);
            let mut factor = Vec::with_capacity(bars);
            let (mut p, mut f) = (100.0 * (1.0 + s as f64), 0.0f64);
            for _ in 0..bars {
                let edge = 0.05 * vol * f.signum();
                p *= (edge + vol * rng.normal()).exp();
                f = 0.98 * f + 0.2 * rng.normal();
                closes.push(p);
                factor.push(f);
            }
            SynthSymbol { closes, factor }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_and_sized() {
        let a = super::generate(2, 100, 0.01, 7);
        assert_eq!(a, super::generate(2, 100, 0.01, 7));
        assert_eq!(a[1].closes.len(), 100);
        assert_ne!(a[0].closes, a[1].closes);
        assert!(a[0].closes.iter().all(|p| *p > 0.0));
    }
}
