//! Latency models: constant, seeded log-normal, or replayed from a series.

use std::path::Path;

use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{Error, Result};

/// How one latency (feed, order entry, response) is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum LatencySpec {
    /// Use the tapes' local receive times (feed only); tapes without them
    /// fall back to `fallback`.
    Local {
        /// Model for tapes without local receive times.
        fallback: Box<LatencySpec>,
    },
    /// Always the same, ns.
    Constant(i64),
    /// Log-normal with this median (ns) and sigma of the underlying normal.
    LogNormal {
        /// Median, ns.
        median: i64,
        /// Spread (sigma of ln latency).
        sigma: f64,
    },
    /// Values replayed in order (cycled) from a recorded series, ns.
    Series(Vec<i64>),
}

impl LatencySpec {
    /// Parses `1ms`, `250us`, `lognormal(1ms, 0.5)`, `series(FILE)`,
    /// `local`, or `local(2ms)` (feed: local times, else 2 ms). Relative
    /// series paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let t = text.trim();
        let bad = |why: String| Error::Config {
            what: "latency",
            why: format!("{t:?}: {why} (examples: 1ms, 250us, lognormal(1ms, 0.5), series(latency.txt), local)"),
        };
        let args = |name: &str| -> Option<&str> { t.strip_prefix(name)?.trim().strip_prefix('(')?.strip_suffix(')') };
        if t == "local" {
            return Ok(LatencySpec::Local { fallback: Box::new(LatencySpec::Constant(1_000_000)) });
        }
        if let Some(a) = args("local") {
            return Ok(LatencySpec::Local { fallback: Box::new(Self::parse(a, base)?) });
        }
        if let Some(a) = args("lognormal") {
            let (m, s) = a.split_once(',').ok_or_else(|| bad("lognormal needs a median and a sigma".into()))?;
            let median = parse_duration(m).map_err(bad)?;
            let sigma: f64 = s.trim().parse().map_err(|_| bad(format!("sigma {:?} is not a number", s.trim())))?;
            if median <= 0 || !(sigma.is_finite() && sigma >= 0.0) {
                return Err(bad("median must be positive and sigma non-negative".into()));
            }
            return Ok(LatencySpec::LogNormal { median, sigma });
        }
        if let Some(a) = args("series") {
            let path = base.join(a.trim());
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                action: "read latency series",
                source,
            })?;
            let mut values = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let v = parse_duration(l).map_err(|why| Error::Config {
                    what: "latency series",
                    why: format!("{}:{}: {why}", path.display(), i + 1),
                })?;
                values.push(v);
            }
            if values.is_empty() {
                return Err(Error::Config {
                    what: "latency series",
                    why: format!("{}: no values (one duration per line, e.g. 1.5ms or 1500000)", path.display()),
                });
            }
            return Ok(LatencySpec::Series(values));
        }
        Ok(LatencySpec::Constant(parse_duration(t).map_err(bad)?))
    }
}

impl LatencySpec {
    /// Why this latency cannot be used (a negative duration, a log-normal
    /// without a positive median and a finite, non-negative sigma, an empty
    /// series), or `None`.
    pub fn problem(&self) -> Option<String> {
        match self {
            LatencySpec::Local { fallback } => fallback.problem(),
            LatencySpec::Constant(ns) if *ns < 0 => Some(format!("{ns} ns is negative (e.g. 1ms)")),
            LatencySpec::Constant(_) => None,
            LatencySpec::LogNormal { median, sigma } if *median <= 0 || !(sigma.is_finite() && *sigma >= 0.0) => {
                Some(format!(
                    "lognormal({median} ns, {sigma}): the median must be positive and sigma finite and non-negative"
                ))
            }
            LatencySpec::LogNormal { .. } => None,
            LatencySpec::Series(v) if v.is_empty() => Some("an empty series".into()),
            LatencySpec::Series(v) => v
                .iter()
                .position(|&x| x < 0)
                .map(|i| format!("value {} of the series is negative ({} ns)", i + 1, v[i])),
        }
    }
}

impl std::fmt::Display for LatencySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = |ns: i64| {
            if ns % 1_000_000 == 0 {
                format!("{}ms", ns / 1_000_000)
            } else if ns % 1_000 == 0 {
                format!("{}us", ns / 1_000)
            } else {
                format!("{ns}ns")
            }
        };
        match self {
            LatencySpec::Local { fallback } => write!(f, "local receive times (else {fallback})"),
            LatencySpec::Constant(ns) => f.write_str(&d(*ns)),
            LatencySpec::LogNormal { median, sigma } => write!(f, "lognormal({}, {sigma})", d(*median)),
            LatencySpec::Series(v) => write!(f, "series of {} values", v.len()),
        }
    }
}

/// Parses a duration: `1.5ms`, `200us`, `3s`, `10ns`, `1m`, or plain ns.
pub fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic() || c == 'µ').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.trim().parse().map_err(|_| format!("{t:?} is not a duration"))?;
    let mult = match unit.trim() {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        u => return Err(format!("unknown unit {u:?} in {t:?} (use ns, us, ms, s, m, h)")),
    };
    let ns = v * mult;
    if !ns.is_finite() || !(0.0..=1e18).contains(&ns) {
        return Err(format!("{t:?} is not a non-negative duration"));
    }
    Ok(ns.round() as i64)
}

/// A latency source for one run: draws are deterministic given the seed.
#[derive(Clone, Debug)]
pub enum Latency {
    /// Always the same.
    Constant(i64),
    /// Seeded log-normal draws.
    LogNormal(LogNormal<f64>, Xoshiro256PlusPlus),
    /// Replayed series with a cursor.
    Series(Vec<i64>, usize),
}

impl Latency {
    /// A source for `spec` (for `Local`, its fallback) with RNG `seed`.
    pub fn new(spec: &LatencySpec, seed: u64) -> Self {
        match spec {
            LatencySpec::Local { fallback } => Latency::new(fallback, seed),
            LatencySpec::Constant(ns) => Latency::Constant(*ns),
            LatencySpec::LogNormal { median, sigma } => Latency::LogNormal(
                LogNormal::new((*median as f64).ln(), *sigma)
                    .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("valid")),
                Xoshiro256PlusPlus::seed_from_u64(seed),
            ),
            LatencySpec::Series(v) => Latency::Series(v.clone(), 0),
        }
    }

    /// The next latency, ns.
    #[inline]
    pub fn sample(&mut self) -> i64 {
        match self {
            Latency::Constant(ns) => *ns,
            Latency::LogNormal(d, rng) => d.sample(rng).round() as i64,
            Latency::Series(v, i) => {
                let x = v[*i];
                *i = (*i + 1) % v.len();
                x
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let base = Path::new(".");
        assert_eq!(LatencySpec::parse("1ms", base).unwrap(), LatencySpec::Constant(1_000_000));
        assert_eq!(LatencySpec::parse("250us", base).unwrap(), LatencySpec::Constant(250_000));
        assert_eq!(LatencySpec::parse("1500", base).unwrap(), LatencySpec::Constant(1_500));
        assert_eq!(
            LatencySpec::parse("lognormal(2ms, 0.5)", base).unwrap(),
            LatencySpec::LogNormal { median: 2_000_000, sigma: 0.5 }
        );
        assert_eq!(
            LatencySpec::parse("local(3ms)", base).unwrap(),
            LatencySpec::Local { fallback: Box::new(LatencySpec::Constant(3_000_000)) }
        );
        assert!(LatencySpec::parse("fast", base).unwrap_err().to_string().contains("examples"));
        assert!(LatencySpec::parse("-1ms", base).is_err());
    }

    #[test]
    fn lognormal_is_seeded_and_centred_on_its_median() {
        let spec = LatencySpec::LogNormal { median: 1_000_000, sigma: 0.5 };
        let mut a = Latency::new(&spec, 7);
        let mut b = Latency::new(&spec, 7);
        let xs: Vec<i64> = (0..10_001).map(|_| a.sample()).collect();
        let ys: Vec<i64> = (0..10_001).map(|_| b.sample()).collect();
        assert_eq!(xs, ys);
        let mut s = xs.clone();
        s.sort();
        let median = s[5_000] as f64;
        assert!((median / 1e6 - 1.0).abs() < 0.05, "median {median}");
    }

    #[test]
    fn series_cycles() {
        let mut l = Latency::new(&LatencySpec::Series(vec![1, 2, 3]), 0);
        assert_eq!((0..7).map(|_| l.sample()).collect::<Vec<_>>(), vec![1, 2, 3, 1, 2, 3, 1]);
    }
}
