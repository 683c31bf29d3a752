//! Statistics used by research reports.

use crate::rng::Rng;
use crate::{Error, Result, check_finite};

fn nonempty(what: &'static str, v: &[f64], need: usize) -> Result<()> {
    check_finite(what, v)?;
    if v.len() < need {
        return Err(Error::TooFewRows { what, need, got: v.len() });
    }
    Ok(())
}

/// Arithmetic mean. Errors on an empty or non-finite sample.
pub fn mean(v: &[f64]) -> Result<f64> {
    nonempty("mean", v, 1)?;
    Ok(v.iter().sum::<f64>() / v.len() as f64)
}

/// Standard deviation with `ddof` delta degrees of freedom (0: population, 1: sample), as numpy's `std`.
pub fn std(v: &[f64], ddof: usize) -> Result<f64> {
    nonempty("std", v, ddof + 1)?;
    let m = v.iter().sum::<f64>() / v.len() as f64;
    Ok((v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - ddof) as f64).sqrt())
}

/// Quantile `q ∈ [0, 1]` by linear interpolation between order statistics (numpy's default, `linear`).
pub fn quantile(v: &[f64], q: f64) -> Result<f64> {
    nonempty("quantile", v, 1)?;
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    quantile_sorted(&s, q)
}

fn quantile_sorted(s: &[f64], q: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::Option { name: "q", detail: format!("must be in [0, 1], got {q}") });
    }
    let h = q * (s.len() - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    Ok(s[lo] + (h - lo as f64) * (s[hi] - s[lo]))
}

/// Ranks 1..=n, ties get the average of the ranks they span (scipy's `rankdata`, method "average").
pub fn rank_average(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        idx[i..=j].iter().for_each(|&k| r[k] = avg);
        i = j + 1;
    }
    r
}

/// Pearson correlation. NaN when either sample is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> Result<f64> {
    nonempty("pearson a", a, 2)?;
    nonempty("pearson b", b, 2)?;
    if a.len() != b.len() {
        return Err(Error::Shape { what: "pearson", detail: format!("lengths {} and {}", a.len(), b.len()) });
    }
    let (ma, mb) = (a.iter().sum::<f64>() / a.len() as f64, b.iter().sum::<f64>() / b.len() as f64);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    Ok(sab / (saa * sbb).sqrt())
}

/// Spearman rank correlation: Pearson on average ranks (ties averaged).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64> {
    nonempty("spearman a", a, 2)?;
    nonempty("spearman b", b, 2)?;
    pearson(&rank_average(a), &rank_average(b))
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The statistic on the original samples.
    pub estimate: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Percentile bootstrap confidence interval of `mean(a) − mean(b)` at `level` (e.g. 0.95).
///
/// Each of `resamples` rounds draws `a` and `b` independently with replacement (same sizes), with a
/// SplitMix64 stream seeded by `seed`; the bounds are the `(1 − level)/2` and `(1 + level)/2` quantiles
/// (linear interpolation) of the resampled differences. Same seed, same interval.
pub fn bootstrap_mean_diff(a: &[f64], b: &[f64], resamples: usize, level: f64, seed: u64) -> Result<Interval> {
    nonempty("bootstrap a", a, 1)?;
    nonempty("bootstrap b", b, 1)?;
    if resamples == 0 || !(level > 0.0 && level < 1.0) {
        return Err(Error::Option { name: "resamples/level", detail: "resamples ≥ 1 and level in (0, 1)".into() });
    }
    let mut rng = Rng::new(seed);
    let draw = |v: &[f64], rng: &mut Rng| (0..v.len()).map(|_| v[rng.below(v.len())]).sum::<f64>() / v.len() as f64;
    let mut diffs: Vec<f64> = (0..resamples).map(|_| draw(a, &mut rng) - draw(b, &mut rng)).collect();
    diffs.sort_by(f64::total_cmp);
    let estimate = a.iter().sum::<f64>() / a.len() as f64 - b.iter().sum::<f64>() / b.len() as f64;
    Ok(Interval {
        estimate,
        lo: quantile_sorted(&diffs, (1.0 - level) / 2.0)?,
        hi: quantile_sorted(&diffs, (1.0 + level) / 2.0)?,
    })
}

/// Result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U statistic of the first sample (scipy's `statistic`).
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Whether the exact distribution was used (else the normal approximation).
    pub exact: bool,
}

/// Two-sided Mann-Whitney U test exactly as `scipy.stats.mannwhitneyu(x, y)` with its defaults
/// (`method="auto"`, `use_continuity=True`): the exact null distribution when either sample has at
/// most 8 values and there are no ties; otherwise the normal approximation with the tie correction
/// and a continuity correction of 0.5. `p = 2·P(U ≥ max(U₁, U₂))`, clipped to 1.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<MannWhitney> {
    nonempty("mann-whitney x", x, 1)?;
    nonempty("mann-whitney y", y, 1)?;
    let (n1, n2) = (x.len(), y.len());
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let ranks = rank_average(&all);
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let u = u1.max(u2);
    let mut sorted = all.clone();
    sorted.sort_by(f64::total_cmp);
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let exact = !(n1 > 8 && n2 > 8) && tie_term == 0.0;
    let p = if exact {
        exact_sf(u as usize, n1.min(n2), n1.max(n2))
    } else {
        let n = (n1 + n2) as f64;
        let mu = (n1 * n2) as f64 / 2.0;
        let s = ((n1 * n2) as f64 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
        let z = (u - mu - 0.5) / s;
        0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
    };
    Ok(MannWhitney { u: u1, p: (2.0 * p).clamp(0.0, 1.0), exact })
}

/// `P(U ≥ u)` under the null for sample sizes `m ≤ n`: the coefficients of the Gaussian binomial
/// `[m+n choose m]_q` count the arrangements with each U.
fn exact_sf(u: usize, m: usize, n: usize) -> f64 {
    let max = m * n;
    let mut c = vec![0.0f64; max + 1];
    c[0] = 1.0;
    for i in 1..=m {
        // Multiply by (1 − q^(n+i)), then divide by (1 − q^i); the result stays a polynomial.
        for k in (n + i..=max).rev() {
            c[k] -= c[k - n - i];
        }
        for k in i..=max {
            c[k] += c[k - i];
        }
    }
    let total: f64 = c.iter().sum();
    c[u.min(max)..].iter().sum::<f64>() / total
}
