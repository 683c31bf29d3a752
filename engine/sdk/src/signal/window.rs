//! A time window: count, sum and boundary values of the entries of the last
//! `span` nanoseconds of event time.

use std::collections::VecDeque;
use std::time::Duration;

use super::SignalError;

/// The entries `(ts, x)` with `now − span < ts`, where `now` is the latest
/// time given to [`advance`](Self::advance): their count, their sum, the
/// newest entry and the last entry that left (the value "as of `span` ago").
///
/// Unlike the count-based windows, the number of entries a time window holds
/// is not known in advance, so the storage is a ring that doubles when it is
/// full: it allocates only when the window holds more entries than ever
/// before (at most log₂ of the peak occupancy times, none after
/// [`with_capacity`](Self::with_capacity) reserved enough). Steady state
/// allocates nothing.
///
/// Timestamps must be non-decreasing across [`push`](Self::push) and
/// [`advance`](Self::advance) (debug builds assert it).
///
/// # Precision
///
/// The sum is kept by adding entries and subtracting them as they leave, so
/// it carries rounding of order ulp(largest sum seen); it is reset to exactly
/// 0 whenever the window empties.
///
/// # Cost
///
/// [`push`](Self::push) is O(1) amortised; [`advance`](Self::advance) is O(1)
/// amortised (each entry leaves once).
///
/// ```
/// use std::time::Duration;
/// use ticktape_sdk::signal::TimeWindow;
///
/// # fn main() -> Result<(), ticktape_sdk::signal::SignalError> {
/// const S: i64 = 1_000_000_000;
/// let mut w = TimeWindow::new(Duration::from_secs(30))?;
/// w.push(0, 100.0);
/// w.push(10 * S, 101.0);
/// w.push(35 * S, 102.0);
/// w.advance(40 * S); // keeps 10 s < ts: the entries at 35 s
/// assert_eq!(w.count(), 1);
/// assert_eq!(w.sum(), 102.0);
/// assert_eq!(w.last_evicted(), Some((10 * S, 101.0))); // the value as of 30 s ago
/// assert_eq!(w.newest(), Some((35 * S, 102.0)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TimeWindow {
    span: i64,
    entries: VecDeque<(i64, f64)>,
    sum: f64,
    last_evicted: Option<(i64, f64)>,
    newest: Option<(i64, f64)>,
}

impl TimeWindow {
    /// An empty window of the last `span` of event time.
    ///
    /// # Errors
    ///
    /// [`SignalError::ZeroDuration`] if `span` is zero.
    pub fn new(span: Duration) -> Result<Self, SignalError> {
        Self::with_capacity(span, 0)
    }

    /// An empty window with room for `capacity` entries before it first grows.
    ///
    /// # Errors
    ///
    /// [`SignalError::ZeroDuration`] if `span` is zero.
    pub fn with_capacity(span: Duration, capacity: usize) -> Result<Self, SignalError> {
        let ns = super::duration_ns("TimeWindow", "span", span)?;
        Ok(Self {
            span: if ns >= i64::MAX as f64 { i64::MAX } else { ns as i64 },
            entries: VecDeque::with_capacity(capacity),
            sum: 0.0,
            last_evicted: None,
            newest: None,
        })
    }

    /// Adds the entry `x` at time `ts`. Does not evict: call
    /// [`advance`](Self::advance) with the time the window is read at.
    #[inline]
    pub fn push(&mut self, ts: i64, x: f64) {
        debug_assert!(!x.is_nan(), "TimeWindow::push: NaN input");
        debug_assert!(self.newest.is_none_or(|(t, _)| t <= ts), "TimeWindow::push: time went backwards");
        self.entries.push_back((ts, x));
        self.sum += x;
        self.newest = Some((ts, x));
    }

    /// Drops the entries with `ts ≤ now − span`.
    #[inline]
    pub fn advance(&mut self, now: i64) {
        let edge = now.saturating_sub(self.span);
        while let Some(&(ts, x)) = self.entries.front() {
            if ts > edge {
                break;
            }
            self.entries.pop_front();
            self.sum -= x;
            self.last_evicted = Some((ts, x));
        }
        if self.entries.is_empty() {
            self.sum = 0.0;
        }
    }

    /// Entries in the window.
    #[inline]
    #[must_use]
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// Sum of the entries in the window; 0 when empty.
    #[inline]
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The newest entry ever pushed (still in the window or not).
    #[inline]
    #[must_use]
    pub fn newest(&self) -> Option<(i64, f64)> {
        self.newest
    }

    /// The newest entry that has left the window: the last one at or before
    /// `now − span`.
    #[inline]
    #[must_use]
    pub fn last_evicted(&self) -> Option<(i64, f64)> {
        self.last_evicted
    }

    /// The window's span, ns.
    #[must_use]
    pub fn span_ns(&self) -> i64 {
        self.span
    }

    /// Forgets every entry; keeps the allocation.
    pub fn reset(&mut self) {
        self.entries.clear();
        self.sum = 0.0;
        self.last_evicted = None;
        self.newest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn matches_a_brute_force_window_on_irregular_times() {
        let mut w = TimeWindow::new(Duration::from_secs(5)).unwrap();
        let mut all: Vec<(i64, f64)> = Vec::new();
        let mut t = 0i64;
        for i in 0..500i64 {
            t += (i * 7919) % (3 * S);
            let x = ((i * 31) % 17) as f64 - 8.0;
            w.push(t, x);
            all.push((t, x));
            let now = t + (i % 3) * S;
            w.advance(now);
            let inside: Vec<_> = all.iter().filter(|(ts, _)| *ts > now - 5 * S).collect();
            assert_eq!(w.count(), inside.len());
            let sum: f64 = inside.iter().map(|(_, x)| x).sum();
            assert!((w.sum() - sum).abs() < 1e-9, "{} vs {sum}", w.sum());
            let before = all.iter().rfind(|(ts, _)| *ts <= now - 5 * S).copied();
            assert_eq!(w.last_evicted(), before);
        }
    }

    #[test]
    fn an_entry_exactly_span_old_has_left() {
        let mut w = TimeWindow::new(Duration::from_secs(30)).unwrap();
        w.push(0, 1.0);
        w.advance(30 * S - 1);
        assert_eq!(w.count(), 1);
        w.advance(30 * S);
        assert_eq!((w.count(), w.sum(), w.last_evicted()), (0, 0.0, Some((0, 1.0))));
    }

    #[test]
    fn zero_span_is_refused() {
        assert!(TimeWindow::new(Duration::ZERO).is_err());
    }
}
