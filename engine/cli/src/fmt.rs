//! Human-readable numbers, times and sizes for terminal output.

use chrono::{DateTime, Utc};

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// ns since the epoch → `2024-05-01T00:00:00.123456789Z`.
pub(crate) fn timestamp(ns: i64) -> String {
    let dt: DateTime<Utc> = DateTime::from_timestamp_nanos(ns);
    dt.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// A duration in ns → `1h 02m 03.456s` / `3.456s` / `12.3ms`.
pub(crate) fn duration_ns(ns: i64) -> String {
    let neg = ns < 0;
    let ns = ns.unsigned_abs();
    let s = if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        let total = ns as f64 / 1e9;
        let h = (total / 3600.0).floor();
        let m = ((total - h * 3600.0) / 60.0).floor();
        let sec = total - h * 3600.0 - m * 60.0;
        if h > 0.0 {
            format!("{h}h {m:02}m {sec:06.3}s")
        } else if m > 0.0 {
            format!("{m}m {sec:06.3}s")
        } else {
            format!("{sec:.3}s")
        }
    };
    if neg { format!("-{s}") } else { s }
}

/// Bytes → `1.23 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.2} {}", UNITS[u]) }
}

/// Events per second → `123.4 M/s`.
pub(crate) fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.1} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.1} /s")
    }
}

/// Parses counts such as `5000`, `250k`, `20M`, `1.5G`, `1e6`.
pub(crate) fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G' | 'b' | 'B') => (&t[..t.len() - 1], 1e9),
        _ => (&t[..], 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a count (examples: 5000, 250k, 20M, 1e6)"))?;
    let v = v * mult;
    if !(0.0..=9.0e18).contains(&v) || v.fract() != 0.0 {
        return Err(format!("{s:?} is not a whole, non-negative count"));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(timestamp(1_714_521_600_000_000_001), "2024-05-01T00:00:00.000000001Z");
        assert_eq!(duration_ns(3_723_456_000_000), "1h 02m 03.456s");
        assert_eq!(duration_ns(-1_500_000), "-1.5ms");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(parse_count("20M"), Ok(20_000_000));
        assert_eq!(parse_count("1.5k"), Ok(1500));
        assert_eq!(parse_count("1e6"), Ok(1_000_000));
        assert!(parse_count("abc").is_err());
        assert!(parse_count("-5").is_err());
        assert!(parse_count("1.5").is_err());
    }
}
