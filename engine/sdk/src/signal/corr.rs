//! Rolling covariance and correlation of two series.

use super::ring::Ring;
use super::{EqualRun, SignalError, check_window};

/// Count, means and co-moments of a set of pairs (bivariate Welford):
/// M2x = Σ(x − x̄)², M2y = Σ(y − ȳ)², C = Σ(x − x̄)(y − ȳ).
#[derive(Debug, Clone, Copy, Default)]
struct CoMoments {
    n: f64,
    mean_x: f64,
    mean_y: f64,
    m2_x: f64,
    m2_y: f64,
    c: f64,
}

impl CoMoments {
    /// Adds a pair.
    #[inline]
    fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        // Off the mean's dependency chain, as in `Moments::add`.
        let inv_n = 1.0 / self.n;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx * inv_n;
        self.mean_y += dy * inv_n;
        let ey = y - self.mean_y;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * ey;
        self.c += dx * ey;
    }

    /// Replaces the pair (`ox`, `oy`) by (`x`, `y`) in a set of n = 1 / `inv_n`
    /// pairs. With primes for the new means:
    /// C' = C + (x − x̄)(y − ȳ') − (ox − x̄)(oy − ȳ'), and M2 as in the
    /// univariate case.
    #[inline]
    fn replace(&mut self, (ox, oy): (f64, f64), (x, y): (f64, f64), inv_n: f64) {
        let dx = x - ox;
        let dy = y - oy;
        let mx0 = self.mean_x;
        let my0 = self.mean_y;
        self.mean_x += dx * inv_n;
        self.mean_y += dy * inv_n;
        self.m2_x += dx * ((x - self.mean_x) + (ox - mx0));
        self.m2_y += dy * ((y - self.mean_y) + (oy - my0));
        self.c += (x - mx0) * (y - self.mean_y) - (ox - mx0) * (oy - self.mean_y);
    }
}

/// Covariance and Pearson correlation of the last N pairs (x, y), O(1) per
/// update.
///
/// - covariance = Σ(x − x̄)(y − ȳ) / (n − 1) (sample convention, like
///   [`RollingStats`](super::RollingStats)); 0 with fewer than 2 pairs.
/// - correlation = Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² · Σ(y − ȳ)²), clamped to
///   [−1, 1]; **0 when either series is constant over the window** (tracked
///   exactly, as in `RollingStats`), and with fewer than 2 pairs.
///
/// # Numerical method
///
/// The same as [`RollingStats`](super::RollingStats), for two series: Welford
/// co-moment updates (deviations from the running means, never raw products
/// like Σxy), replace-in-place when a pair leaves, and a second accumulator fed
/// by additions only that replaces the live one every N updates, so rounding
/// never outlives 2N updates and the worst case stays O(1).
///
/// Tested at every step of 10,000-pair streams against a two-pass
/// recomputation (N ≤ 600): with Mx = max|x|, Dx = max|x − x̄| over the last
/// 2N pairs (likewise for y) and ε = 2⁻⁵²,
/// |Δcovariance| ≤ 256·ε·(Dx·Dy + Mx·Dy + My·Dx) (largest seen: 9·ε·…), and
/// the correlation error is within the first-order propagation of the
/// covariance and variance errors (see the test).
///
/// # Cost
///
/// O(1) worst case per update: a ring write, about 30 flops and one division
/// (off the loop-carried chain). Memory: N pairs of `f64`, allocated in
/// [`new`](Self::new).
#[derive(Debug, Clone)]
pub struct RollingCorr {
    ring: Ring<(f64, f64)>,
    live: CoMoments,
    fresh: CoMoments,
    /// Runs of values equal to the newest x and the newest y.
    run_x: EqualRun,
    run_y: EqualRun,
    window: f64,
    inv_window: f64,
}

impl RollingCorr {
    /// An empty window of the last `window` pairs.
    ///
    /// # Errors
    ///
    /// [`SignalError::EmptyWindow`] if `window` is 0.
    pub fn new(window: usize) -> Result<Self, SignalError> {
        let window = check_window("RollingCorr", window)?;
        Ok(Self {
            ring: Ring::new(window),
            live: CoMoments::default(),
            fresh: CoMoments::default(),
            run_x: EqualRun::default(),
            run_y: EqualRun::default(),
            window: window as f64,
            inv_window: 1.0 / window as f64,
        })
    }

    /// Adds the pair (`x`, `y`); once the window is full the oldest pair leaves.
    #[inline]
    pub fn update(&mut self, x: f64, y: f64) {
        debug_assert!(!x.is_nan() && !y.is_nan(), "RollingCorr::update: NaN input");
        self.run_x.push(x);
        self.run_y.push(y);
        match self.ring.push((x, y)) {
            None => self.live.add(x, y),
            Some(old) => self.live.replace(old, (x, y), self.inv_window),
        }
        self.fresh.add(x, y);
        if self.fresh.n == self.window {
            self.live = self.fresh;
            self.fresh = CoMoments::default();
        }
    }

    /// Sample covariance; 0 with fewer than 2 pairs, exactly 0 when either
    /// series is constant over the window.
    #[inline]
    #[must_use]
    pub fn covariance(&self) -> f64 {
        if self.live.n < 2.0 || self.either_constant() { 0.0 } else { self.live.c / (self.live.n - 1.0) }
    }

    /// Whether x or y is the same value throughout the window.
    #[inline]
    fn either_constant(&self) -> bool {
        let n = self.ring.len();
        self.run_x.covers(n) || self.run_y.covers(n)
    }

    /// Pearson correlation in [−1, 1]; 0 with fewer than 2 pairs or when
    /// either series is constant over the window.
    #[inline]
    #[must_use]
    pub fn correlation(&self) -> f64 {
        let m = &self.live;
        if m.n < 2.0 || self.either_constant() || m.m2_x <= 0.0 || m.m2_y <= 0.0 {
            return 0.0;
        }
        (m.c / (m.m2_x.sqrt() * m.m2_y.sqrt())).clamp(-1.0, 1.0)
    }

    /// Mean of the x series over the window; 0 when empty.
    #[inline]
    #[must_use]
    pub fn mean_x(&self) -> f64 {
        if self.run_x.covers(self.ring.len()) { self.run_x.newest } else { self.live.mean_x }
    }

    /// Mean of the y series over the window; 0 when empty.
    #[inline]
    #[must_use]
    pub fn mean_y(&self) -> f64 {
        if self.run_y.covers(self.ring.len()) { self.run_y.newest } else { self.live.mean_y }
    }

    /// Number of pairs held (≤ N).
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no pair is held.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the window holds N pairs.
    #[inline]
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    /// The window length N.
    #[must_use]
    pub fn window(&self) -> usize {
        self.ring.capacity()
    }

    /// Forgets every pair; keeps N and the allocation.
    pub fn reset(&mut self) {
        self.ring.clear();
        self.live = CoMoments::default();
        self.fresh = CoMoments::default();
        self.run_x = EqualRun::default();
        self.run_y = EqualRun::default();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::signal::testkit::{Kind, Rng, max_abs, values, within};

    /// Means, sample variances and sample covariance by the corrected
    /// two-pass algorithm.
    fn two_pass(w: &VecDeque<(f64, f64)>) -> [f64; 5] {
        let n = w.len() as f64;
        let mean = |f: fn(&(f64, f64)) -> f64| {
            let m0 = w.iter().map(f).sum::<f64>() / n;
            m0 + w.iter().map(|p| f(p) - m0).sum::<f64>() / n
        };
        let (mx, my) = (mean(|p| p.0), mean(|p| p.1));
        if w.len() < 2 {
            return [mx, my, 0.0, 0.0, 0.0];
        }
        let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(x, y) in w {
            let (dx, dy) = (x - mx, y - my);
            sx += dx;
            sy += dy;
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
        let d = n - 1.0;
        [mx, my, (sxx - sx * sx / n) / d, (syy - sy * sy / n) / d, (sxy - sx * sy / n) / d]
    }

    #[test]
    fn new_rejects_an_empty_window() {
        assert_eq!(RollingCorr::new(0).unwrap_err(), SignalError::EmptyWindow { signal: "RollingCorr" });
    }

    #[test]
    fn perfect_linear_relations() {
        let mut up = RollingCorr::new(10).unwrap();
        let mut down = RollingCorr::new(10).unwrap();
        assert_eq!((up.correlation(), up.covariance()), (0.0, 0.0));
        for i in 0..100 {
            let x = (i * i % 17) as f64;
            up.update(x, 3.0 * x + 1e9);
            down.update(x, -0.5 * x);
            if i >= 1 {
                // y sits at 1e9, so its running mean carries rounding of
                // order ulp(1e9) ≈ 1e-7 against a spread of ~15.
                assert!((up.correlation() - 1.0).abs() < 1e-7, "step {i}: {}", up.correlation());
                assert!((down.correlation() + 1.0).abs() < 1e-12, "step {i}: {}", down.correlation());
            }
        }
        assert!(up.is_full());
        assert!((up.mean_y() - (3.0 * up.mean_x() + 1e9)).abs() < 1e-6);
    }

    #[test]
    fn small_window_by_hand() {
        let mut c = RollingCorr::new(3).unwrap();
        c.update(1.0, 2.0);
        assert_eq!((c.covariance(), c.correlation()), (0.0, 0.0)); // one pair
        c.update(2.0, 1.0);
        c.update(3.0, 6.0);
        // x̄ = 2, ȳ = 3, C = (−1)(−1) + 0 + (1)(3) = 4, M2x = 2, M2y = 14
        assert_eq!(c.covariance(), 2.0);
        assert!((c.correlation() - 4.0 / (2f64 * 14.0).sqrt()).abs() < 1e-15);
        c.update(4.0, 0.0); // (1, 2) leaves: x̄ = 3, ȳ = 7/3
        // C = (−1)(1 − 7/3) + 0·(6 − 7/3) + (1)(0 − 7/3) = 4/3 − 7/3 = −1
        assert!((c.covariance() - -0.5).abs() < 1e-14);
        c.reset();
        assert!(c.is_empty());
        assert_eq!(c.correlation(), 0.0);
    }

    #[test]
    fn window_of_one_and_constant_series_give_zero() {
        let mut one = RollingCorr::new(1).unwrap();
        let mut flat = RollingCorr::new(20).unwrap();
        let mut r = Rng::new(3);
        for _ in 0..500 {
            let x = r.normal();
            one.update(x, 2.0 * x);
            flat.update(x, 1e9 + 0.1); // y constant
            assert_eq!((one.covariance(), one.correlation()), (0.0, 0.0));
            assert_eq!((flat.correlation(), flat.covariance(), flat.mean_y()), (0.0, 0.0, 1e9 + 0.1));
        }
    }

    /// 256 ulps of 1: the tolerance unit of the comparisons below.
    const TOL: f64 = 256.0 * f64::EPSILON;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every step of a ≥ 10,000-pair stream against a two-pass
        /// recomputation. y is partly driven by x so that correlations span
        /// the whole range, and has its own kind (level, tails).
        #[test]
        fn matches_two_pass_recomputation(
            kind_x in any::<Kind>(),
            kind_y in any::<Kind>(),
            seed in any::<u64>(),
            beta in -3.0f64..3.0,
            window in prop_oneof![1usize..=4, 5usize..=600],
        ) {
            let n = 10_000 + window;
            let xs = values(kind_x, seed, n);
            let ys: Vec<f64> = values(kind_y, seed ^ 0xABCD, n).iter().zip(&xs).map(|(e, x)| e + beta * x).collect();
            let mut c = RollingCorr::new(window).unwrap();
            let mut w = VecDeque::with_capacity(window);
            for k in 0..n {
                c.update(xs[k], ys[k]);
                if w.len() == window { w.pop_front(); }
                w.push_back((xs[k], ys[k]));
                let [mx, my, vx, vy, cov] = two_pass(&w);
                let lo = k.saturating_sub(2 * window - 1);
                let (ax, ay) = (max_abs(xs[lo..=k].iter().copied()), max_abs(ys[lo..=k].iter().copied()));
                let (dx, dy) = (max_abs(xs[lo..=k].iter().map(|x| x - mx)), max_abs(ys[lo..=k].iter().map(|y| y - my)));
                prop_assert!(within(c.mean_x(), mx, TOL * ax));
                prop_assert!(within(c.mean_y(), my, TOL * ay));
                let tol_c = TOL * (dx * dy + ax * dy + ay * dx);
                prop_assert!(within(c.covariance(), cov, tol_c), "cov {}: {} vs {} (tol {})", k, c.covariance(), cov, tol_c);
                let r = c.correlation();
                prop_assert!((-1.0..=1.0).contains(&r), "corr {k} out of range: {r}");
                let (tol_x, tol_y) = (TOL * dx * (dx + ax), TOL * dy * (dy + ay));
                // Where a variance is within its tolerance of 0 the
                // correlation is not determined (it may be reported as 0).
                if vx > 4.0 * tol_x && vy > 4.0 * tol_y {
                    let want = (cov / (vx.sqrt() * vy.sqrt())).clamp(-1.0, 1.0);
                    // First order in the covariance and variance errors.
                    let tol_r = tol_c / (vx * vy).sqrt() + want.abs() * (tol_x / vx + tol_y / vy);
                    prop_assert!(within(r, want, tol_r), "corr {}: {} vs {} (tol {})", k, r, want, tol_r);
                }
            }
        }
    }
}
