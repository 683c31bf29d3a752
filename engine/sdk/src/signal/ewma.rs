//! Exponentially weighted moving averages, per event and in time.

use std::time::Duration;

use super::{LN_2, SignalError, decay_factor, duration_ns};

/// Exponentially weighted moving average per event: m ← m + α·(x − m).
///
/// The first value seeds the average (m = x₁); after that each value gets
/// weight α and the past 1 − α. This is pandas' `ewm(adjust=False)`.
/// Choose α directly, by span (α = 2 / (span + 1)), or by half-life in
/// events (α = 1 − 2^(−1/h), so a value's weight halves after h more events).
///
/// # Method and cost
///
/// One multiply-add per value, O(1), no allocation. m is always a convex
/// combination of the inputs and old rounding fades like old values, so the
/// error stays a small multiple of ε·max|x|: the tests check 256·ε·max|x|
/// over 10,000-value streams with spans up to 600 (largest seen: 35·ε).
#[derive(Debug, Clone)]
pub struct Ewma {
    alpha: f64,
    mean: f64,
    seeded: bool,
}

impl Ewma {
    /// An EWMA with smoothing factor `alpha`, 0 < α ≤ 1 (α = 1 keeps only the
    /// newest value).
    ///
    /// # Errors
    ///
    /// [`SignalError::OutOfRange`] if `alpha` is not in (0, 1].
    pub fn with_alpha(alpha: f64) -> Result<Self, SignalError> {
        if alpha > 0.0 && alpha <= 1.0 {
            Ok(Self { alpha, mean: 0.0, seeded: false })
        } else {
            Err(SignalError::OutOfRange { signal: "Ewma", param: "alpha", got: alpha, valid: "0 < alpha <= 1" })
        }
    }

    /// An EWMA with α = 2 / (span + 1); `span` ≥ 1 (in events, need not be
    /// an integer). A span of N has the same centre of mass as an N-value
    /// simple moving average.
    ///
    /// # Errors
    ///
    /// [`SignalError::OutOfRange`] if `span` < 1 or is NaN.
    pub fn with_span(span: f64) -> Result<Self, SignalError> {
        if span >= 1.0 && span.is_finite() {
            Ok(Self { alpha: 2.0 / (span + 1.0), mean: 0.0, seeded: false })
        } else {
            Err(SignalError::OutOfRange { signal: "Ewma", param: "span", got: span, valid: "finite span >= 1" })
        }
    }

    /// An EWMA whose weights halve every `events` values:
    /// α = 1 − exp(−ln 2 / events); `events` > 0.
    ///
    /// # Errors
    ///
    /// [`SignalError::OutOfRange`] if `events` is not positive and finite.
    pub fn with_half_life(events: f64) -> Result<Self, SignalError> {
        if events > 0.0 && events.is_finite() {
            Ok(Self { alpha: -(-LN_2 / events).exp_m1(), mean: 0.0, seeded: false })
        } else {
            Err(SignalError::OutOfRange {
                signal: "Ewma",
                param: "half_life",
                got: events,
                valid: "finite half_life > 0 events",
            })
        }
    }

    /// Folds in one value.
    #[inline]
    pub fn update(&mut self, x: f64) {
        debug_assert!(!x.is_nan(), "Ewma::update: NaN input");
        if self.seeded {
            self.mean += self.alpha * (x - self.mean);
        } else {
            self.mean = x;
            self.seeded = true;
        }
    }

    /// The average; 0 before any update.
    #[inline]
    #[must_use]
    pub fn value(&self) -> f64 {
        self.mean
    }

    /// Whether no value has been folded in since construction or [`reset`](Self::reset).
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.seeded
    }

    /// The smoothing factor α.
    #[must_use]
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Back to the empty state; α is kept.
    pub fn reset(&mut self) {
        self.mean = 0.0;
        self.seeded = false;
    }
}

/// Exponentially weighted mean in time, for irregularly spaced values:
/// Σ wᵢxᵢ·exp(−(t − tᵢ)/τ) / Σ wᵢ·exp(−(t − tᵢ)/τ).
///
/// Every value's weight decays with its age, not with the number of values
/// after it, so a burst of 100 trades in one millisecond does not flush a
/// minute of history, and values with the same timestamp are averaged (each
/// with its weight). With unit weights this is pandas'
/// `ewm(halflife=…, times=…, adjust=True)`. With traded volume as the weight it
/// is an exponentially decayed VWAP.
///
/// # Method and cost
///
/// The state is the mean m and the decayed total weight W as of the last
/// update. An update at Δt > 0 does W ← W·exp(−Δt/τ) (one `exp`), then
/// W ← W + w and m ← m + (w/W)·(x − m). Keeping the mean (not the weighted sum
/// Σwx) means nothing under- or overflows however long the gap: after a gap of
/// more than ≈ 745 τ, W decays to exactly 0 and the next value becomes the
/// mean exactly. m is a convex combination of inputs; the tests check it
/// against the direct ratio at 64·ε·max|x| (largest seen: 5·ε), and W
/// like [`DecayAccumulator`](super::DecayAccumulator)'s sum, at 1024·ε·W.
///
/// Timestamps, τ and out-of-order updates work as for
/// [`DecayAccumulator`](super::DecayAccumulator): `i64` ns, a [`Duration`], and
/// a late update counts as simultaneous with the latest one.
#[derive(Debug, Clone)]
pub struct TimeEwma {
    inv_tau_ns: f64,
    mean: f64,
    /// Decayed Σw as of `last_ts`.
    weight: f64,
    last_ts: i64,
}

impl TimeEwma {
    /// An empty time-decayed mean with time constant `tau` (a value's weight
    /// falls to 1/e after `tau`).
    ///
    /// # Errors
    ///
    /// [`SignalError::ZeroDuration`] if `tau` is zero.
    pub fn new(tau: Duration) -> Result<Self, SignalError> {
        let tau_ns = duration_ns("TimeEwma", "tau", tau)?;
        Ok(Self::from_inv_tau(1.0 / tau_ns))
    }

    /// An empty time-decayed mean whose weights halve every `half_life`
    /// (τ = half_life / ln 2).
    ///
    /// # Errors
    ///
    /// [`SignalError::ZeroDuration`] if `half_life` is zero.
    pub fn with_half_life(half_life: Duration) -> Result<Self, SignalError> {
        let half_life_ns = duration_ns("TimeEwma", "half_life", half_life)?;
        Ok(Self::from_inv_tau(LN_2 / half_life_ns))
    }

    fn from_inv_tau(inv_tau_ns: f64) -> Self {
        Self { inv_tau_ns, mean: 0.0, weight: 0.0, last_ts: i64::MIN }
    }

    /// Folds in `x` at time `ts` with weight 1.
    #[inline]
    pub fn update(&mut self, ts: i64, x: f64) {
        self.update_weighted(ts, x, 1.0);
    }

    /// Folds in `x` at time `ts` with weight `weight` ≥ 0 (e.g. traded
    /// volume). A zero weight only moves the clock.
    #[inline]
    pub fn update_weighted(&mut self, ts: i64, x: f64, weight: f64) {
        debug_assert!(!x.is_nan() && weight >= 0.0, "TimeEwma::update_weighted: NaN input or negative weight");
        let dt = ts.saturating_sub(self.last_ts);
        if dt > 0 {
            self.weight *= decay_factor(dt, self.inv_tau_ns);
            self.last_ts = ts;
        }
        if weight > 0.0 {
            self.weight += weight;
            let share = weight / self.weight;
            // share == 1 when the history has decayed to nothing: take x
            // exactly rather than m + 1·(x − m), which can be off by an ulp.
            self.mean = if share >= 1.0 { x } else { self.mean + share * (x - self.mean) };
        }
    }

    /// The weighted mean as of the last update; 0 before any update.
    ///
    /// Decay scales every weight alike, so the mean does not change between
    /// updates: there is no time argument.
    #[inline]
    #[must_use]
    pub fn value(&self) -> f64 {
        self.mean
    }

    /// The decayed total weight Σ wᵢ·exp(−(t − tᵢ)/τ) at `ts`: how much data
    /// backs the mean (with unit weights, an effective number of values).
    #[inline]
    #[must_use]
    pub fn weight(&self, ts: i64) -> f64 {
        let dt = ts.saturating_sub(self.last_ts);
        if dt > 0 { self.weight * decay_factor(dt, self.inv_tau_ns) } else { self.weight }
    }

    /// Whether no value with positive weight has been folded in since
    /// construction or [`reset`](Self::reset), or all of them have decayed to
    /// exactly zero weight.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.weight == 0.0
    }

    /// The time constant τ in nanoseconds.
    #[must_use]
    pub fn tau_ns(&self) -> f64 {
        1.0 / self.inv_tau_ns
    }

    /// Back to the empty state; τ is kept.
    pub fn reset(&mut self) {
        *self = Self::from_inv_tau(self.inv_tau_ns);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signal::testkit::{Kind, Sum, events, max_abs, values, within};

    const EPS: f64 = f64::EPSILON;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn constructors_validate() {
        for bad in [0.0, -0.1, 1.0000001, f64::NAN] {
            assert!(matches!(Ewma::with_alpha(bad), Err(SignalError::OutOfRange { param: "alpha", .. })), "{bad}");
        }
        for bad in [0.999, 0.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Ewma::with_span(bad), Err(SignalError::OutOfRange { param: "span", .. })), "{bad}");
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Ewma::with_half_life(bad).is_err(), "{bad}");
        }
        assert!(TimeEwma::new(Duration::ZERO).is_err());
        assert!(TimeEwma::with_half_life(Duration::ZERO).is_err());
    }

    #[test]
    fn alpha_from_span_and_half_life() {
        assert_eq!(Ewma::with_span(1.0).unwrap().alpha(), 1.0);
        assert_eq!(Ewma::with_span(19.0).unwrap().alpha(), 0.1);
        let h = Ewma::with_half_life(10.0).unwrap().alpha();
        assert!(((1.0 - h).powi(10) - 0.5).abs() < 1e-15, "weight halves after 10 events");
    }

    #[test]
    fn first_value_seeds_then_alpha_blends() {
        let mut e = Ewma::with_alpha(0.25).unwrap();
        assert!(e.is_empty());
        assert_eq!(e.value(), 0.0);
        e.update(8.0);
        assert_eq!(e.value(), 8.0);
        e.update(0.0);
        assert_eq!(e.value(), 6.0);
        e.update(10.0);
        assert_eq!(e.value(), 7.0);
        e.reset();
        assert!(e.is_empty());
        e.update(-1.0);
        assert_eq!(e.value(), -1.0);
    }

    #[test]
    fn alpha_one_tracks_the_newest_value() {
        let mut e = Ewma::with_alpha(1.0).unwrap();
        for x in [3.0, 1e9 + 0.5, -2.0] {
            e.update(x);
            assert_eq!(e.value(), x);
        }
    }

    #[test]
    fn constant_series_is_exact() {
        let mut e = Ewma::with_span(37.0).unwrap();
        for _ in 0..10_000 {
            e.update(1e9 + 0.1);
        }
        assert_eq!(e.value(), 1e9 + 0.1);
        let mut t = TimeEwma::new(Duration::from_millis(3)).unwrap();
        for i in 0..10_000 {
            t.update(i * 1_000_000, 1e9 + 0.1);
        }
        assert_eq!(t.value(), 1e9 + 0.1);
    }

    #[test]
    fn time_ewma_weights_by_age() {
        let mut t = TimeEwma::new(Duration::from_secs(1)).unwrap();
        assert!(t.is_empty());
        t.update(0, 10.0);
        assert_eq!(t.value(), 10.0);
        t.update(SEC, 0.0);
        // weights e^-1 and 1
        let want = 10.0 * (-1.0f64).exp() / ((-1.0f64).exp() + 1.0);
        assert!((t.value() - want).abs() < 1e-14);
        assert!((t.weight(SEC) - ((-1.0f64).exp() + 1.0)).abs() < 1e-15);
        assert!((t.weight(2 * SEC) - ((-2.0f64).exp() + (-1.0f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn time_ewma_averages_simultaneous_values_by_weight() {
        let mut t = TimeEwma::new(Duration::from_nanos(1)).unwrap();
        t.update_weighted(7, 1.0, 1.0);
        t.update_weighted(7, 4.0, 3.0);
        t.update_weighted(7, 100.0, 0.0); // zero weight: no effect on the mean
        assert_eq!(t.value(), 3.25);
        assert_eq!(t.weight(7), 4.0);
    }

    #[test]
    fn time_ewma_late_value_counts_as_simultaneous() {
        let mut t = TimeEwma::new(Duration::from_secs(1)).unwrap();
        t.update(10 * SEC, 2.0);
        t.update(5 * SEC, 4.0); // 5 s late: same weight as the latest
        assert_eq!(t.value(), 3.0);
        assert_eq!(t.weight(10 * SEC), 2.0);
    }

    #[test]
    fn time_ewma_full_decay_takes_the_next_value_exactly() {
        let mut t = TimeEwma::with_half_life(Duration::from_millis(1)).unwrap();
        t.update(0, 1e9 + 0.5);
        t.update(SEC, 1e-3); // 1000 half-lives later: the old weight is exactly 0
        assert_eq!(t.value(), 1e-3);
        assert_eq!(t.weight(SEC), 1.0);
        t.reset();
        assert!(t.is_empty());
        assert_eq!(t.value(), 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Against the explicit weights (1 − α)^(k−1) for the seed and
        /// α(1 − α)^(k−i) for the rest, summed directly at 64 checkpoints.
        #[test]
        fn ewma_matches_the_explicit_weights(kind in any::<Kind>(), seed in any::<u64>(), span in 1.0f64..600.0) {
            let xs = values(kind, seed, 10_000);
            let mut e = Ewma::with_span(span).unwrap();
            let a = e.alpha();
            let step = xs.len() / 64;
            for (k, &x) in xs.iter().enumerate() {
                e.update(x);
                if k % step == step - 1 {
                    let mut want = Sum::default();
                    for (i, &xi) in xs[..=k].iter().enumerate() {
                        want.add(if i == 0 { (1.0 - a).powi(k as i32) * xi } else { a * (1.0 - a).powi((k - i) as i32) * xi });
                    }
                    let want = want.value();
                    let scale = max_abs(xs[..=k].iter().copied());
                    prop_assert!(within(e.value(), want, 256.0 * EPS * scale), "value {k}: {} vs {want}", e.value());
                }
            }
        }

        /// Against Σwx·e^(−age/τ) / Σw·e^(−age/τ) summed directly at 64
        /// checkpoints, with late events at the running-max time.
        #[test]
        fn time_ewma_matches_the_direct_ratio(kind in any::<Kind>(), seed in any::<u64>(), tau_ms in 1u64..5_000) {
            let ev = events(kind, seed, 10_000);
            let tau = tau_ms as f64 * 1e6;
            let mut t = TimeEwma::new(Duration::from_millis(tau_ms)).unwrap();
            let step = ev.len() / 64;
            for (k, &(ts, x, w)) in ev.iter().enumerate() {
                t.update_weighted(ts, x, w);
                if k % step == step - 1 {
                    let mut clock = i64::MIN;
                    let eff: Vec<i64> = ev[..=k].iter().map(|e| { clock = clock.max(e.0); clock }).collect();
                    let now = clock;
                    // Shift ages so that the newest weight is e^0: the ratio
                    // is unchanged and nothing underflows.
                    let (mut num, mut den, mut scale) = (Sum::default(), Sum::default(), 0.0f64);
                    for (&(_, xi, wi), &ti) in ev[..=k].iter().zip(&eff) {
                        let age = (now - ti) as f64 / tau;
                        let f = wi * (-age).exp();
                        num.add(f * xi);
                        den.add(f);
                        // Past ~745 τ a weight is exactly 0 in f64, here and
                        // in the running product alike (up to subnormals).
                        if age < 760.0 { scale = scale.max(xi.abs()); }
                    }
                    let (num, den) = (num.value(), den.value());
                    let want = num / den;
                    prop_assert!(within(t.value(), want, 64.0 * EPS * scale), "value {k}: {} vs {want} (scale {scale})", t.value());
                    prop_assert!(within(t.weight(now), den, 1024.0 * EPS * den), "weight {k}: {} vs {den}", t.weight(now));
                }
            }
        }
    }
}
