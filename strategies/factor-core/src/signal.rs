//! Signal models and parameter ensembles.
//!
//! A factor value x arrives once per bar (its as-of value at the bar's
//! close, see [`crate::align`]); windows count bars. With `log`, x is
//! replaced by ln x (values ≤ 0 are not usable and leave the state as it is).
//!
//! - **B** (z-score): z = (mean of the last `short` values − mean of the last
//!   `long` values) / sample std of the last `long` values; z = 0 when that
//!   std is 0. O(1) per bar ([`RollingStats`]).
//! - **R** (rank): p = percentile of the newest value within the last `long`
//!   values = (values below + (ties + 1) / 2) / n, in (0, 1] (pandas
//!   `rank(pct=True)`, [`RollingRank`]). **O(long) per bar**: the one model
//!   that is not O(1).
//!
//! Directions, for threshold θ (std units for B, a fraction in (0, 1) for R):
//!
//! | | long (+1) when | short (−1, only with shorts allowed) when |
//! |---|---|---|
//! | B, M (momentum) | z > θ | z < −θ |
//! | B, R (reversion) | z < −θ | z > θ |
//! | R, M | p > 1 − θ | p < θ |
//! | R, R | p < θ | p > 1 − θ |
//!
//! and 0 otherwise, and 0 until the long window is full. Long-only (the
//! default) keeps max(signal, 0). A factor's signal is the mean of its
//! parameter sets' signals: in [0, 1] long-only, [−1, 1] with shorts.
//! Parameter sets of one ensemble that share a window share its rolling
//! state: each distinct (window, log) is updated once per bar.

use ticktape_sdk::signal::{RollingRank, RollingStats};

use crate::error::{Error, Result};

/// Signal model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// z-score of the short mean against the long window.
    B,
    /// Percentile of the newest value within the long window.
    R,
}

/// Trade with the factor or against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Momentum: long when the factor is high.
    M,
    /// Reversion: long when the factor is low.
    R,
}

impl Model {
    /// `"B"` or `"R"`.
    pub fn code(self) -> &'static str {
        match self {
            Model::B => "B",
            Model::R => "R",
        }
    }
    /// Parses `B` or `R` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "B" | "b" => Some(Model::B),
            "R" | "r" => Some(Model::R),
            _ => None,
        }
    }
}

impl Direction {
    /// `"M"` or `"R"`.
    pub fn code(self) -> &'static str {
        match self {
            Direction::M => "M",
            Direction::R => "R",
        }
    }
    /// Parses `M` or `R` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "M" | "m" => Some(Direction::M),
            "R" | "r" => Some(Direction::R),
            _ => None,
        }
    }
}

/// `[short_window, long_window, threshold]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Short window, bars (B only; R ignores it).
    pub short: usize,
    /// Long window, bars.
    pub long: usize,
    /// Threshold: std units (B) or a fraction in (0, 1) (R).
    pub threshold: f64,
}

impl Params {
    /// Checks 1 ≤ short ≤ long and a finite threshold (in (0, 1) for R).
    pub fn check(&self, model: Model) -> Result<()> {
        if self.long == 0 || self.short == 0 || (model == Model::B && self.short > self.long) {
            return Err(Error::Param(format!("windows [{}, {}]: need 1 <= short <= long", self.short, self.long)));
        }
        if !self.threshold.is_finite() || (model == Model::R && !(0.0..1.0).contains(&self.threshold)) {
            return Err(Error::Param(format!(
                "threshold {}: must be finite (and in [0, 1) for the rank model)",
                self.threshold
            )));
        }
        Ok(())
    }
}

/// One parameter set of an ensemble.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSet {
    /// Model.
    pub model: Model,
    /// Direction.
    pub direction: Direction,
    /// Use ln x instead of x.
    pub log: bool,
    /// Windows and threshold.
    pub params: Params,
}

/// ln x, or NaN for x ≤ 0 (not usable on a log scale).
#[inline(never)]
fn ln_usable(x: f64) -> f64 {
    if x > 0.0 { x.ln() } else { f64::NAN }
}

/// The signal of a z-score (see the module table); in {−1, 0, 1}.
#[inline]
pub fn z_signal(z: f64, direction: Direction, threshold: f64, allow_short: bool) -> f64 {
    let s = match direction {
        Direction::M => f64::from(u8::from(z > threshold)) - f64::from(u8::from(z < -threshold)),
        Direction::R => f64::from(u8::from(z < -threshold)) - f64::from(u8::from(z > threshold)),
    };
    if allow_short { s } else { s.max(0.0) }
}

/// The signal of a percentile (see the module table); in {−1, 0, 1}.
#[inline]
pub fn rank_signal(p: f64, direction: Direction, threshold: f64, allow_short: bool) -> f64 {
    let (high, low) = (f64::from(u8::from(p > 1.0 - threshold)), f64::from(u8::from(p < threshold)));
    let s = match direction {
        Direction::M => high - low,
        Direction::R => low - high,
    };
    if allow_short { s } else { s.max(0.0) }
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    B { short: usize, long: usize },
    R { rank: usize },
}

/// A factor's ensemble of parameter sets, fed one value per bar.
#[derive(Debug, Clone)]
pub struct Ensemble {
    /// Distinct (window, log) rolling mean/std.
    stats: Vec<(usize, bool, RollingStats)>,
    /// Distinct (window, log) rolling ranks.
    ranks: Vec<(usize, bool, RollingRank)>,
    sets: Vec<(Slot, ParamSet)>,
    allow_short: bool,
    /// Whether any set is on ln x.
    any_log: bool,
    signal: f64,
}

impl Ensemble {
    /// An ensemble of `sets` (at least one; each checked).
    pub fn new(sets: &[ParamSet], allow_short: bool) -> Result<Self> {
        if sets.is_empty() {
            return Err(Error::Param("an ensemble needs at least one parameter set".into()));
        }
        let mut e = Ensemble {
            stats: Vec::new(),
            ranks: Vec::new(),
            sets: Vec::new(),
            allow_short,
            any_log: sets.iter().any(|s| s.log),
            signal: 0.0,
        };
        for s in sets {
            s.params.check(s.model)?;
            let slot = match s.model {
                Model::B => {
                    Slot::B { short: e.stat_slot(s.params.short, s.log)?, long: e.stat_slot(s.params.long, s.log)? }
                }
                Model::R => Slot::R { rank: e.rank_slot(s.params.long, s.log)? },
            };
            e.sets.push((slot, *s));
        }
        Ok(e)
    }

    fn stat_slot(&mut self, w: usize, log: bool) -> Result<usize> {
        if let Some(i) = self.stats.iter().position(|(a, b, _)| (*a, *b) == (w, log)) {
            return Ok(i);
        }
        let s = RollingStats::new(w).map_err(|e| Error::Param(e.to_string()))?;
        self.stats.push((w, log, s));
        Ok(self.stats.len() - 1)
    }

    fn rank_slot(&mut self, w: usize, log: bool) -> Result<usize> {
        if let Some(i) = self.ranks.iter().position(|(a, b, _)| (*a, *b) == (w, log)) {
            return Ok(i);
        }
        let r = RollingRank::new(w).map_err(|e| Error::Param(e.to_string()))?;
        self.ranks.push((w, log, r));
        Ok(self.ranks.len() - 1)
    }

    /// Feeds the factor's value at this bar; returns the ensemble signal.
    /// A NaN value, or a value ≤ 0 for log sets, leaves their state as it is.
    /// Allocates nothing.
    pub fn update(&mut self, x: f64) -> f64 {
        if x.is_nan() {
            return self.signal;
        }
        // ln x only when a set uses it: behind a call the optimiser cannot
        // speculate (it computes an inline `ln` on both sides of a branch).
        let lx = if self.any_log { ln_usable(x) } else { f64::NAN };
        for (_, log, s) in &mut self.stats {
            let v = if *log { lx } else { x };
            if !v.is_nan() {
                s.update(v);
            }
        }
        for (_, log, r) in &mut self.ranks {
            let v = if *log { lx } else { x };
            if !v.is_nan() {
                r.update(v);
            }
        }
        let mut sum = 0.0;
        for (slot, set) in &self.sets {
            let th = set.params.threshold;
            sum += match *slot {
                Slot::B { short, long } => {
                    let l = &self.stats[long].2;
                    if !l.is_full() {
                        0.0
                    } else {
                        let sd = l.std();
                        let z = if sd > 0.0 { (self.stats[short].2.mean() - l.mean()) / sd } else { 0.0 };
                        z_signal(z, set.direction, th, self.allow_short)
                    }
                }
                Slot::R { rank } => {
                    let r = &self.ranks[rank].2;
                    match r.percentile() {
                        Some(p) if r.is_full() => rank_signal(p, set.direction, th, self.allow_short),
                        _ => 0.0,
                    }
                }
            };
        }
        self.signal = sum / self.sets.len() as f64;
        self.signal
    }

    /// The signal after the last update (0 before any).
    pub fn signal(&self) -> f64 {
        self.signal
    }

    /// Number of parameter sets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Never true (an ensemble has at least one set).
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(model: Model, direction: Direction, short: usize, long: usize, threshold: f64) -> ParamSet {
        ParamSet { model, direction, log: false, params: Params { short, long, threshold } }
    }

    #[test]
    fn zscore_model_by_hand() {
        // long = 4, short = 2, θ = 1. After 1, 2, 3, 10: short mean 6.5, long
        // mean 4, sample std of [1,2,3,10] = sqrt(((−3)²+(−2)²+(−1)²+6²)/3) =
        // sqrt(50/3) = 4.0825; z = 2.5 / 4.0825 = 0.6124 → not above 1.
        let mut m = Ensemble::new(&[set(Model::B, Direction::M, 2, 4, 1.0)], false).unwrap();
        for x in [1.0, 2.0, 3.0] {
            assert_eq!(m.update(x), 0.0, "warming up");
        }
        assert_eq!(m.update(10.0), 0.0);
        // Then 20: window [2,3,10,20], long mean 8.75, std sqrt((6.75²+5.75²+1.25²+11.25²)/3) = 8.3016;
        // short mean 15 → z = 6.25 / 8.3016 = 0.7529 < 1: still 0. Then 40: window [3,10,20,40], mean
        // 18.25, std = sqrt((15.25²+8.25²+1.75²+21.75²)/3) = 16.091; short mean 30 → z = 0.7302 > 0.7.
        assert_eq!(m.update(20.0), 0.0);
        let mut lo = Ensemble::new(&[set(Model::B, Direction::M, 2, 4, 0.7)], false).unwrap();
        let mut rev = Ensemble::new(&[set(Model::B, Direction::R, 2, 4, 0.7)], true).unwrap();
        for x in [1.0, 2.0, 3.0, 10.0, 20.0] {
            lo.update(x);
            rev.update(x);
        }
        assert_eq!(lo.update(40.0), 1.0);
        assert_eq!(rev.update(40.0), -1.0, "reversion with shorts: short when z > θ");
    }

    #[test]
    fn log_zscore_uses_ln_x() {
        // ln of 1, e, e², e³ = 0, 1, 2, 3: short(1) mean 3, long mean 1.5,
        // std sqrt(5/3) = 1.291 → z = 1.162 > 1.
        let e = std::f64::consts::E;
        let mut m = Ensemble::new(&[ParamSet { log: true, ..set(Model::B, Direction::M, 1, 4, 1.0) }], false).unwrap();
        let mut s = 0.0;
        for x in [1.0, e, e * e, e * e * e] {
            s = m.update(x);
        }
        assert_eq!(s, 1.0);
    }

    #[test]
    fn rank_model_by_hand() {
        // long = 4: [5, 1, 3, 7] → 7 is the largest, p = 1 > 1 − 0.25 → momentum long.
        // Then 0: [1, 3, 7, 0] → p = 1/4 = 0.25: not < 0.25 (momentum short side), but < 0.3.
        let mut m = Ensemble::new(&[set(Model::R, Direction::M, 1, 4, 0.25)], false).unwrap();
        let mut r = Ensemble::new(&[set(Model::R, Direction::R, 1, 4, 0.3)], false).unwrap();
        for x in [5.0, 1.0, 3.0] {
            assert_eq!(m.update(x), 0.0);
            r.update(x);
        }
        assert_eq!(m.update(7.0), 1.0);
        assert_eq!(r.update(7.0), 0.0);
        assert_eq!(m.update(0.0), 0.0);
        assert_eq!(r.update(0.0), 1.0, "p = 0.25 < 0.3: reversion long");
    }

    #[test]
    fn ensemble_is_the_mean_of_its_sets() {
        let sets = [
            set(Model::R, Direction::M, 1, 3, 0.2), // fires on a new high
            set(Model::R, Direction::R, 1, 3, 0.2), // fires on a new low
            set(Model::B, Direction::M, 1, 3, 0.5), // z of the newest against 3
            set(Model::B, Direction::M, 1, 3, 5.0), // never
        ];
        let mut e = Ensemble::new(&sets, false).unwrap();
        e.update(1.0);
        e.update(2.0);
        // [1,2,3]: p = 1 → set 1 on; z = (3 − 2) / 1 = 1 > 0.5 → set 3 on: 2 of 4.
        assert_eq!(e.update(3.0), 0.5);
        assert_eq!(e.stats.len(), 2, "windows 1 and 3 shared by both B sets");
        assert!(Ensemble::new(&[set(Model::B, Direction::M, 5, 3, 1.0)], false).is_err());
        assert!(Ensemble::new(&[set(Model::R, Direction::M, 1, 3, 1.5)], false).is_err());
    }
}
