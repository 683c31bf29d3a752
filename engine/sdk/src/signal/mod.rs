//! Streaming signal primitives for the per-event hot path.
//!
//! Each type folds one value (or one pair) at a time into a statistic. An
//! `update` allocates nothing, formats nothing and locks nothing; rolling
//! windows allocate their ring buffer once, in the constructor (the time
//! window [`TimeWindow`] grows its ring only past its peak occupancy).
//!
//! | type | statistic | cost per `update` |
//! |---|---|---|
//! | [`DecayAccumulator`] | Σ weight·x, decayed by exp(−Δt/τ) in event time | O(1), one `exp` when time moved |
//! | [`Ewma`] | exponentially weighted mean per event (alpha, span or half-life) | O(1) |
//! | [`TimeEwma`] | exponentially weighted mean in time, irregular spacing | O(1), one `exp` when time moved |
//! | [`RollingStats`] | mean, sample std, z-score of the last N values | O(1) |
//! | [`RollingMin`], [`RollingMax`] | min / max of the last N values | O(1) amortised |
//! | [`RollingRank`] | rank and percentile of the newest value among the last N | **O(N)**: a branch-free scan, or a sorted copy from N = 256 |
//! | [`RollingCorr`] | covariance and correlation of the last N pairs | O(1) |
//! | [`TimeWindow`] | count, sum and boundary values of the entries of the last `span` of event time | O(1) amortised; grows only past its peak occupancy |
//!
//! # Conventions
//!
//! - **Time**: timestamps are `i64` nanoseconds, the tape's unit. Time
//!   constants (τ, half-life) are [`Duration`]s, so both
//!   `Duration::from_millis(500)` and `Duration::from_secs_f64(2.5)` work; they
//!   are used at nanosecond resolution.
//! - **Errors**: constructors validate their parameters and return
//!   [`SignalError`]; nothing in this module panics on bad parameters.
//! - **Empty state**: statistics with a neutral value (sums, means, std,
//!   z-score, covariance, correlation) return `f64` and are `0.0` before any
//!   data; order statistics (min, max, rank, percentile) have no neutral value
//!   and return `Option<f64>`, `None` before any data.
//! - **Inputs** must not be NaN (debug builds assert it). Values of any finite
//!   magnitude are fine; the error bounds are stated per type.
//!
//! # Example
//!
//! Order-flow imbalance decayed over one second, and the z-score of a price
//! over its last 3 values:
//!
//! ```
//! use std::time::Duration;
//! use ticktape_sdk::signal::{DecayAccumulator, RollingStats, SignalError};
//!
//! # fn main() -> Result<(), SignalError> {
//! const SECOND: i64 = 1_000_000_000;
//! let mut flow = DecayAccumulator::new(Duration::from_secs(1))?;
//! flow.update(0, 1.0, 2.0); // buy (+1) of 2 lots at t = 0 s
//! flow.update(SECOND, -1.0, 0.5); // sell (−1) of 0.5 lots at t = 1 s
//! let expected = 2.0 * (-1.0f64).exp() - 0.5;
//! assert!((flow.value(SECOND) - expected).abs() < 1e-12);
//! // Reading later decays without changing the accumulator.
//! assert!((flow.value(2 * SECOND) - expected * (-1.0f64).exp()).abs() < 1e-12);
//!
//! let mut px = RollingStats::new(3)?;
//! for p in [99.0, 100.0, 101.0, 102.0] {
//!     px.update(p); // the window keeps the last 3: 100, 101, 102
//! }
//! assert_eq!(px.mean(), 101.0);
//! assert_eq!(px.std(), 1.0); // sample std (divides by n − 1)
//! assert_eq!(px.zscore(), 1.0); // of the newest value, 102
//!
//! assert!(RollingStats::new(0).is_err()); // a window holds at least one value
//! # Ok(()) }
//! ```

mod corr;
mod decay;
mod ewma;
mod extremum;
mod rank;
mod ring;
mod stats;
#[cfg(test)]
mod testkit;
mod window;

pub use corr::RollingCorr;
pub use decay::DecayAccumulator;
pub use ewma::{Ewma, TimeEwma};
pub use extremum::{RollingMax, RollingMin};
pub use rank::RollingRank;
pub use stats::RollingStats;
pub use window::TimeWindow;

use std::time::Duration;

/// A signal primitive was constructed with an invalid parameter.
///
/// Returned by constructors only; `update` and the getters cannot fail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// A rolling window of length 0 was requested.
    #[error("{signal}: window length must be at least 1, got 0; pass the number of values to keep")]
    EmptyWindow {
        /// The type being constructed, e.g. `"RollingStats"`.
        signal: &'static str,
    },
    /// A time constant (τ or half-life) of zero was given.
    #[error("{signal}: {param} must be at least 1 ns, got {got:?}; pass a positive Duration")]
    ZeroDuration {
        /// The type being constructed.
        signal: &'static str,
        /// Which parameter (`"tau"` or `"half_life"`).
        param: &'static str,
        /// The value given.
        got: Duration,
    },
    /// A real-valued parameter is outside its valid range (or NaN).
    #[error("{signal}: {param} = {got} is outside its valid range {valid}")]
    OutOfRange {
        /// The type being constructed.
        signal: &'static str,
        /// Which parameter, e.g. `"alpha"`.
        param: &'static str,
        /// The value given.
        got: f64,
        /// The valid range, e.g. `"0 < alpha <= 1"`.
        valid: &'static str,
    },
}

/// Checks a window length.
fn check_window(signal: &'static str, window: usize) -> Result<usize, SignalError> {
    if window == 0 { Err(SignalError::EmptyWindow { signal }) } else { Ok(window) }
}

/// Converts a time constant to nanoseconds as `f64`, refusing zero.
fn duration_ns(signal: &'static str, param: &'static str, got: Duration) -> Result<f64, SignalError> {
    if got.is_zero() { Err(SignalError::ZeroDuration { signal, param, got }) } else { Ok(got.as_nanos() as f64) }
}

/// exp(−Δt/τ) for Δt > 0 nanoseconds, given 1/τ in ns⁻¹.
///
/// Δt is computed in `i64` by the caller so that absolute timestamps (≈ 1.7e18
/// ns, beyond f64's 2⁵³ integer range) never lose precision; only the
/// difference is converted.
#[inline]
fn decay_factor(dt_ns: i64, inv_tau_ns: f64) -> f64 {
    (-(dt_ns as f64) * inv_tau_ns).exp()
}

/// ln 2, to turn a half-life into τ = half-life / ln 2.
const LN_2: f64 = std::f64::consts::LN_2;

/// The newest value and how many of the latest values equal it.
///
/// A window of n values is constant exactly when `len >= n`. Running moments
/// cannot tell that by themselves: after varied values leave, their rounding
/// lingers as a tiny spread, and dividing by it would turn noise into a large
/// z-score. One comparison per update answers it exactly.
#[derive(Debug, Clone, Copy, Default)]
struct EqualRun {
    newest: f64,
    len: usize,
}

impl EqualRun {
    #[inline]
    fn push(&mut self, x: f64) {
        self.len = if x == self.newest { self.len + 1 } else { 1 };
        self.newest = x;
    }

    /// Whether the last `n` values are all equal (true for n = 0).
    #[inline]
    fn covers(&self, n: usize) -> bool {
        self.len >= n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_and_what_to_do() {
        let e = check_window("RollingStats", 0).unwrap_err();
        assert_eq!(e, SignalError::EmptyWindow { signal: "RollingStats" });
        assert_eq!(
            e.to_string(),
            "RollingStats: window length must be at least 1, got 0; pass the number of values to keep"
        );
        let e = duration_ns("DecayAccumulator", "tau", Duration::ZERO).unwrap_err();
        assert_eq!(e.to_string(), "DecayAccumulator: tau must be at least 1 ns, got 0ns; pass a positive Duration");
        assert_eq!(duration_ns("x", "tau", Duration::from_micros(3)), Ok(3000.0));
    }

    #[test]
    fn decay_factor_uses_the_integer_difference() {
        // 1 ns apart at an absolute time far beyond 2^53: as f64 the two
        // timestamps would be equal, as an i64 difference they are not.
        let t0: i64 = 1_700_000_000_000_000_000;
        let dt = (t0 + 1) - t0;
        assert_eq!(dt, 1);
        assert_eq!(decay_factor(dt, 1.0), (-1.0f64).exp());
    }
}
