//! As-of alignment of factor values to bar closes.
//!
//! A factor value stamped at t is usable from t on: the value aligned to a
//! bar closing at c is the last one with t ≤ c, and none before the first.
//! A value stamped even one nanosecond after a close is not used for that bar.

/// For each close in `closes` (ascending), the index of the last factor
/// time in `factor_ts` (ascending) at or before it, or `None`. O(n + m).
pub fn as_of_indices(factor_ts: &[i64], closes: &[i64]) -> Vec<Option<usize>> {
    let mut out = Vec::with_capacity(closes.len());
    let mut j = 0usize;
    for &c in closes {
        while j < factor_ts.len() && factor_ts[j] <= c {
            j += 1;
        }
        out.push(j.checked_sub(1));
    }
    out
}

/// The factor value as of each close; NaN before the first value.
pub fn as_of_values(factor_ts: &[i64], factor_values: &[f64], closes: &[i64]) -> Vec<f64> {
    as_of_indices(factor_ts, closes).into_iter().map(|i| i.map_or(f64::NAN, |i| factor_values[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_value_stamped_one_second_after_a_close_is_not_used_for_it() {
        let closes = [100 * S, 200 * S, 300 * S];
        // 1.0 at the first close exactly (usable); 2.0 one second after the second close.
        let ts = [100 * S, 200 * S + S];
        let v = as_of_values(&ts, &[1.0, 2.0], &closes);
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], 1.0, "the value stamped 1 s after this close is not used for it");
        assert_eq!(v[2], 2.0);
        assert!(as_of_values(&[150 * S], &[9.0], &closes)[0].is_nan());
    }
}
