//! Rolling mean, standard deviation and z-score.

use super::ring::Ring;
use super::{EqualRun, SignalError, check_window};

/// Count, mean and M2 = Σ(x − mean)² of a set of values (Welford).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moments {
    pub(crate) n: f64,
    pub(crate) mean: f64,
    pub(crate) m2: f64,
}

impl Moments {
    /// Adds `x` to the set (Welford's update).
    #[inline]
    pub(crate) fn add(&mut self, x: f64) {
        self.n += 1.0;
        // 1/n depends only on the count, so the division runs in parallel
        // with the chain of updates to the mean instead of lengthening it
        // (d / n would put ~13 cycles of divider latency on that chain).
        let inv_n = 1.0 / self.n;
        let d = x - self.mean;
        self.mean += d * inv_n;
        self.m2 += d * (x - self.mean);
    }

    /// Replaces `old` by `x` in a set of n = 1 / `inv_n` values:
    /// mean' = mean + (x − old)/n and M2' = M2 + (x − old)·((x − mean') + (old − mean)),
    /// which is Welford's remove-then-add in one step.
    #[inline]
    pub(crate) fn replace(&mut self, old: f64, x: f64, inv_n: f64) {
        let d = x - old;
        let mean0 = self.mean;
        self.mean += d * inv_n;
        self.m2 += d * ((x - self.mean) + (old - mean0));
    }
}

/// Mean, sample standard deviation and z-score of the last N values, O(1) per
/// update.
///
/// - mean = Σx / n
/// - std = √(Σ(x − mean)² / (n − 1)): the **sample** standard deviation
///   (pandas' default `ddof=1`); the population one is
///   std·√((n − 1)/n). With fewer than 2 values it is 0.
/// - z-score = (x − mean) / std of the newest value x ([`zscore`](Self::zscore))
///   or any value ([`zscore_of`](Self::zscore_of)); **0 when std is 0**, so a
///   constant series (and N = 1) gives z = 0, never NaN or ±∞.
///
/// n is the number of values held, N once the window [`is_full`](Self::is_full).
///
/// # Numerical method
///
/// Running sums of x and x² are not used: Σx² − (Σx)²/n cancels
/// catastrophically when the level is large against the spread (1e9 + noise
/// loses every digit). Instead the state is Welford's (mean, M2), updated
/// in place when a value enters and the oldest leaves; every term works with
/// deviations from the mean, never with x².
///
/// Add/remove updates still accumulate rounding over time, and removing a
/// value much larger than the rest leaves behind an error of order
/// ε·(that value)². So a second Welford accumulator is started every N
/// updates, fed only by additions; when it has seen N values it covers exactly
/// the window, and it replaces the live one. This re-seed costs one extra
/// Welford addition per update instead of a periodic O(N) recomputation, so the cost
/// is O(1) in the worst case (no latency spike), and errors never outlive 2N
/// updates.
///
/// A window whose values are all equal is recognised exactly (by counting the
/// run of values equal to the newest): its mean is that value, its std is
/// exactly 0 and its z-score 0, as soon as the window is constant, whatever
/// rounding the earlier values left in the running moments.
///
/// Error bound, as tested at every step of 10,000-value streams against a
/// two-pass recomputation of each window (N ≤ 600): with M = max|x| and
/// D = max|x − mean| over the last 2N values and ε = 2⁻⁵²,
/// |Δmean| ≤ 256·ε·M and |Δvariance| ≤ 256·ε·D·(D + M); the largest errors
/// seen were 35·ε·M and 38·ε·D·(D + M). The D·M term is the price of a large
/// level: the running mean carries rounding of order ulp(M).
///
/// # Cost
///
/// O(1) worst case per update: a ring-buffer write, about a dozen flops and
/// one division (kept off the loop-carried dependency chain). Reading the
/// std or z-score adds a square root and a division. Memory: N `f64`s,
/// allocated in [`new`](Self::new).
#[derive(Debug, Clone)]
pub struct RollingStats {
    ring: Ring<f64>,
    /// Moments of the window.
    live: Moments,
    /// Moments of the values since the last re-seed, built by additions only.
    fresh: Moments,
    /// N and 1 / N.
    window: f64,
    inv_window: f64,
    /// The newest value (0 before any) and its run of equal values.
    run: EqualRun,
}

impl RollingStats {
    /// An empty window of the last `window` values.
    ///
    /// # Errors
    ///
    /// [`SignalError::EmptyWindow`] if `window` is 0.
    pub fn new(window: usize) -> Result<Self, SignalError> {
        let window = check_window("RollingStats", window)?;
        Ok(Self {
            ring: Ring::new(window),
            live: Moments::default(),
            fresh: Moments::default(),
            window: window as f64,
            inv_window: 1.0 / window as f64,
            run: EqualRun::default(),
        })
    }

    /// Adds `x`; once the window is full the oldest value leaves.
    // Always inline: a feature computer updates several windows per event,
    // and the call overhead was a fifth of the update.
    #[inline(always)]
    pub fn update(&mut self, x: f64) {
        debug_assert!(!x.is_nan(), "RollingStats::update: NaN input");
        self.run.push(x);
        match self.ring.push(x) {
            None => self.live.add(x),
            Some(old) => self.live.replace(old, x, self.inv_window),
        }
        self.fresh.add(x);
        if self.fresh.n == self.window {
            self.live = self.fresh;
            self.fresh = Moments::default();
        }
    }

    /// Mean of the window; 0 when empty.
    #[inline]
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.run.covers(self.ring.len()) { self.run.newest } else { self.live.mean }
    }

    /// Sample variance Σ(x − mean)² / (n − 1); 0 with fewer than 2 values
    /// and exactly 0 for a constant window.
    #[inline]
    #[must_use]
    pub fn variance(&self) -> f64 {
        if self.live.n < 2.0 || self.run.covers(self.ring.len()) {
            return 0.0;
        }
        // M2 ≥ 0 in exact arithmetic; rounding can leave it a hair below.
        self.live.m2.max(0.0) / (self.live.n - 1.0)
    }

    /// Sample standard deviation, √[`variance`](Self::variance).
    #[inline]
    #[must_use]
    pub fn std(&self) -> f64 {
        self.variance().sqrt()
    }

    /// z-score of the newest value: (x − mean) / std; 0 when std is 0 or the
    /// window is empty.
    #[inline]
    #[must_use]
    pub fn zscore(&self) -> f64 {
        self.zscore_of(self.run.newest)
    }

    /// z-score of any `x` against the window: (x − mean) / std; 0 when std is 0.
    #[inline]
    #[must_use]
    pub fn zscore_of(&self, x: f64) -> f64 {
        let std = self.std();
        if std > 0.0 { (x - self.mean()) / std } else { 0.0 }
    }

    /// Number of values held (≤ N).
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no value is held.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the window holds N values.
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

    /// Forgets every value; keeps N and the allocation.
    pub fn reset(&mut self) {
        self.ring.clear();
        self.live = Moments::default();
        self.fresh = Moments::default();
        self.run = EqualRun::default();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::signal::testkit::{Kind, max_abs, values, within};

    /// Mean and sample variance by the corrected two-pass algorithm
    /// (accurate to a few ulps).
    fn two_pass(w: &VecDeque<f64>) -> (f64, f64) {
        let n = w.len() as f64;
        let m0 = w.iter().sum::<f64>() / n;
        let mean = m0 + w.iter().map(|x| x - m0).sum::<f64>() / n;
        if w.len() < 2 {
            return (mean, 0.0);
        }
        let (ss, s) = w.iter().fold((0.0, 0.0), |(ss, s), x| (ss + (x - mean) * (x - mean), s + (x - mean)));
        (mean, (ss - s * s / n) / (n - 1.0))
    }

    #[test]
    fn new_rejects_an_empty_window() {
        assert_eq!(RollingStats::new(0).unwrap_err(), SignalError::EmptyWindow { signal: "RollingStats" });
    }

    #[test]
    fn empty_window_is_all_zero() {
        let s = RollingStats::new(5).unwrap();
        assert!(s.is_empty());
        assert_eq!((s.mean(), s.std(), s.zscore(), s.zscore_of(3.0)), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn small_window_by_hand() {
        let mut s = RollingStats::new(3).unwrap();
        s.update(1.0);
        assert_eq!((s.mean(), s.std(), s.zscore()), (1.0, 0.0, 0.0)); // one value: std 0
        s.update(3.0);
        assert_eq!((s.mean(), s.variance()), (2.0, 2.0));
        s.update(8.0);
        assert!(s.is_full());
        assert_eq!((s.mean(), s.variance()), (4.0, 13.0));
        s.update(4.0); // 1 leaves: {3, 8, 4}
        assert_eq!(s.mean(), 5.0);
        assert!((s.variance() - 7.0).abs() < 1e-14);
        assert!((s.zscore() - (-1.0 / 7f64.sqrt())).abs() < 1e-14);
        assert!((s.zscore_of(12.0) - 7.0 / 7f64.sqrt()).abs() < 1e-14);
        assert_eq!(s.len(), 3);
        s.reset();
        assert!(s.is_empty());
        s.update(-2.0);
        assert_eq!((s.mean(), s.std(), s.len()), (-2.0, 0.0, 1));
    }

    #[test]
    fn window_of_one_is_the_newest_value_with_zero_std() {
        let mut s = RollingStats::new(1).unwrap();
        for x in [5.0, 1e9 + 0.5, -3.25, 1e-3, 1e16] {
            s.update(x);
            assert_eq!((s.mean(), s.std(), s.zscore()), (x, 0.0, 0.0));
            assert!(s.is_full());
        }
    }

    #[test]
    fn constant_series_has_std_zero_and_z_zero() {
        for c in [0.0, 1.0, 0.1, -7.3, 1e9 + 0.1, 1.7e18] {
            let mut s = RollingStats::new(50).unwrap();
            for _ in 0..1_000 {
                s.update(c);
                assert_eq!((s.mean(), s.std(), s.zscore()), (c, 0.0, 0.0), "c = {c}");
            }
        }
    }

    #[test]
    fn constant_after_noise_is_exact_as_soon_as_the_window_is_constant() {
        // Heavy-tailed noise, then a constant. The noise stretch is not a
        // multiple of N, so the window turns constant between two re-seeds,
        // while the running moments still carry the noise's rounding.
        for (level, window) in [(1e9 + 0.1, 100), (0.5, 100), (0.0, 37), (-3e5, 500), (2.0, 2)] {
            let mut s = RollingStats::new(window).unwrap();
            for &x in &values(Kind::HeavyTail, 7, 3 * window + window / 2 + 1) {
                s.update(level + x);
            }
            for i in 0..3 * window {
                s.update(level);
                if i + 1 >= window {
                    assert_eq!((s.mean(), s.std(), s.zscore()), (level, 0.0, 0.0), "level {level}, step {i}");
                } else {
                    assert!(s.std() > 0.0, "level {level}, step {i}: the noise is still in the window");
                }
            }
        }
    }

    #[test]
    fn tiny_spread_at_a_large_level_is_kept() {
        // A spread of 1e-4 at 1e9 (≈ 800 ulps): small, but real, and not
        // to be mistaken for a constant. (Found by the property test when a
        // std floor of N·ε·|mean| was tried instead of exact run tracking.)
        let w: VecDeque<f64> = [1e9, 1e9 + 1e-4].into();
        let mut s = RollingStats::new(451).unwrap();
        w.iter().for_each(|&x| s.update(x));
        let (_, var) = two_pass(&w);
        assert!(s.std() > 0.0);
        // The documented bound: 256·ε·D·(D + M).
        let (d, m) = (0.5e-4, 1e9);
        assert!((s.variance() - var).abs() <= TOL * d * (d + m), "{} vs {var}", s.variance());
        assert!((s.variance() - var).abs() <= 0.01 * var, "{} vs {var}", s.variance());
    }

    #[test]
    fn large_offset_keeps_full_precision_of_the_spread() {
        // Naive Σx, Σx² would return garbage here (1e18-sized squares
        // cancelling to O(1)).
        let mut s = RollingStats::new(4).unwrap();
        for _ in 0..1_000 {
            for x in [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0, 1e9 + 4.0] {
                s.update(x);
            }
        }
        assert_eq!(s.mean(), 1e9 + 2.5);
        assert!((s.variance() - 5.0 / 3.0).abs() < 1e-12, "{}", s.variance());
    }

    /// 256 ulps of 1: the tolerance unit of the comparisons below.
    const TOL: f64 = 256.0 * f64::EPSILON;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every step of a ≥ 10,000-value stream against a two-pass
        /// recomputation of the current window.
        #[test]
        fn matches_two_pass_recomputation(
            kind in any::<Kind>(),
            seed in any::<u64>(),
            window in prop_oneof![1usize..=4, 5usize..=600],
        ) {
            let xs = values(kind, seed, 10_000 + window);
            let mut s = RollingStats::new(window).unwrap();
            let mut w = VecDeque::with_capacity(window);
            for (k, &x) in xs.iter().enumerate() {
                s.update(x);
                if w.len() == window { w.pop_front(); }
                w.push_back(x);
                let (mean, var) = two_pass(&w);
                let recent = &xs[k.saturating_sub(2 * window - 1)..=k];
                let m = max_abs(recent.iter().copied());
                let d = max_abs(recent.iter().map(|x| x - mean));
                prop_assert_eq!(s.len(), w.len());
                prop_assert!(within(s.mean(), mean, TOL * m), "mean {}: {} vs {}", k, s.mean(), mean);
                let tol_var = TOL * d * (d + m);
                prop_assert!(within(s.variance(), var, tol_var), "var {}: {} vs {} (tol {})", k, s.variance(), var, tol_var);
                let z = s.zscore();
                prop_assert!(z.is_finite());
                if var > 0.0 {
                    let std = var.sqrt();
                    let want = (x - mean) / std;
                    // First order: the mean error over std, plus z times the
                    // relative variance error (halved by the square root, and
                    // doubled back for the second-order slack).
                    let tol_z = TOL * (m / std + want.abs() * d * (d + m) / var);
                    prop_assert!(within(z, want, tol_z), "z {}: {} vs {} (tol {})", k, z, want, tol_z);
                }
            }
        }
    }
}
