//! Timestamps: epoch integers of any unit (detected by digit count) and ISO 8601 text.

/// Unit of an epoch integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds (up to 11 digits).
    S,
    /// Milliseconds (12 to 14 digits).
    Ms,
    /// Microseconds (15 to 17 digits).
    Us,
    /// Nanoseconds (18 or 19 digits).
    Ns,
}

impl Unit {
    /// The unit of an epoch integer with `digits` digits: dates from 1973 to 5138
    /// have 10 or 11 digits in seconds, 13 in ms, 16 in µs and 19 in ns.
    pub fn from_digits(digits: usize) -> Option<Unit> {
        match digits {
            1..=11 => Some(Unit::S),
            12..=14 => Some(Unit::Ms),
            15..=17 => Some(Unit::Us),
            18..=19 => Some(Unit::Ns),
            _ => None,
        }
    }

    /// Nanoseconds per unit.
    pub fn ns(self) -> i64 {
        match self {
            Unit::S => 1_000_000_000,
            Unit::Ms => 1_000_000,
            Unit::Us => 1_000,
            Unit::Ns => 1,
        }
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Unit::S => "s",
            Unit::Ms => "ms",
            Unit::Us => "µs",
            Unit::Ns => "ns",
        }
    }
}

/// Parses a non-negative epoch integer and converts it to ns, detecting the unit
/// by its digit count. `None` if not digits or out of range.
#[inline]
pub fn epoch_ns(s: &[u8]) -> Option<i64> {
    let unit = Unit::from_digits(s.len())?;
    let v = i64::try_from(crate::decimal::parse_u64(s)?).ok()?;
    v.checked_mul(unit.ns())
}

/// Parses an epoch integer in a known unit.
#[inline]
pub fn epoch_in(s: &[u8], unit: Unit) -> Option<i64> {
    crate::decimal::parse_i64(s)?.checked_mul(unit.ns())
}

/// Milliseconds to ns (checked).
#[inline]
pub fn ms(v: i64) -> Option<i64> {
    v.checked_mul(1_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS` UTC of an epoch time in ns, for messages (H. Hinnant's inverse algorithm).
pub fn date_text(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60)
}

fn num(s: &[u8], at: usize, len: usize) -> Option<u32> {
    let part = s.get(at..at + len)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

/// Parses ISO 8601 / RFC 3339 date-times to ns UTC: `2024-01-01`,
/// `2024-01-01T00:00:00Z`, `2024-01-01 00:00:00.123`, `2024-01-01T01:00:00+01:00`.
/// A time without an offset is UTC.
pub fn iso_ns(s: &[u8]) -> Option<i64> {
    let y = num(s, 0, 4)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let mo = num(s, 5, 2)?;
    let d = num(s, 8, 2)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(i64::from(y), mo, d) * 86_400;
    let mut nanos: i64 = 0;
    let mut i = 10;
    if i < s.len() {
        if s[i] != b'T' && s[i] != b' ' && s[i] != b't' {
            return None;
        }
        let h = num(s, 11, 2)?;
        if s.get(13) != Some(&b':') {
            return None;
        }
        let mi = num(s, 14, 2)?;
        i = 16;
        let mut sec = 0;
        if s.get(16) == Some(&b':') {
            sec = num(s, 17, 2)?;
            i = 19;
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        secs += i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec);
        if s.get(i) == Some(&b'.') || s.get(i) == Some(&b',') {
            i += 1;
            let mut scale = 100_000_000;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                nanos += i64::from(s[i] - b'0') * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return None;
            }
        }
        match s.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == s.len() => {}
            Some(&c @ (b'+' | b'-')) => {
                let oh = num(s, i + 1, 2)?;
                let om = match s.get(i + 3) {
                    Some(b':') => num(s, i + 4, 2)?,
                    None => 0,
                    Some(_) => num(s, i + 3, 2)?,
                };
                let rest = if s.get(i + 3) == Some(&b':') {
                    i + 6
                } else if s.len() == i + 3 {
                    i + 3
                } else {
                    i + 5
                };
                if rest != s.len() {
                    return None;
                }
                let off = i64::from(oh) * 3600 + i64::from(om) * 60;
                secs -= if c == b'+' { off } else { -off };
            }
            _ => return None,
        }
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Parses either an epoch number (unit by digit count; a fraction means seconds)
/// or an ISO 8601 date-time.
pub fn any_ns(s: &[u8]) -> Option<i64> {
    if s.len() >= 10 && s.get(4) == Some(&b'-') {
        return iso_ns(s);
    }
    if s.contains(&b'.') {
        let d = crate::decimal::Dec::parse(s).ok()?;
        let v = d.fixed(9).ok()?;
        return Some(v);
    }
    epoch_ns(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_units_by_digits() {
        assert_eq!(epoch_ns(b"1723161256"), Some(1_723_161_256_000_000_000));
        assert_eq!(epoch_ns(b"1723161256299"), Some(1_723_161_256_299_000_000));
        assert_eq!(epoch_ns(b"1582329602418000"), Some(1_582_329_602_418_000_000));
        assert_eq!(epoch_ns(b"1723161255030314667"), Some(1_723_161_255_030_314_667));
        assert_eq!(epoch_ns(b"12345678901234567890"), None);
        assert_eq!(epoch_ns(b""), None);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_ns(b"1970-01-01"), Some(0));
        assert_eq!(iso_ns(b"2024-08-08"), Some(1_723_075_200_000_000_000));
        assert_eq!(iso_ns(b"2024-08-08T23:54:15Z"), Some(1_723_161_255_000_000_000));
        assert_eq!(iso_ns(b"2024-08-08 23:54:15.5"), Some(1_723_161_255_500_000_000));
        assert_eq!(iso_ns(b"2024-08-09T00:54:15+01:00"), Some(1_723_161_255_000_000_000));
        assert_eq!(iso_ns(b"2024-08-08T23:54"), Some(1_723_161_240_000_000_000));
        assert_eq!(iso_ns(b"2024-13-01"), None);
        assert_eq!(iso_ns(b"2024-01-01X"), None);
        assert_eq!(any_ns(b"1700000000.5"), Some(1_700_000_000_500_000_000));
    }

    #[test]
    fn dates_for_messages() {
        assert_eq!(date_text(0), "1970-01-01 00:00:00");
        assert_eq!(date_text(1_723_161_255_000_000_000), "2024-08-08 23:54:15");
        assert_eq!(date_text(1_582_329_602_111_000), "1970-01-19 07:32:09");
    }
}
