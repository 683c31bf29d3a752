//! Exact decimal text → fixed-point integers, with no float round trip.
//!
//! [`Dec::parse`] reads `-61800.30`, `1e-5` or `+7` into an integer mantissa and a
//! number of fractional digits, with trailing fractional zeros removed (so
//! `61800.30` is `6180030 × 10^-2`... stored as `618003 × 10^-1`). The number of
//! fractional digits is what a tape's exponent must cover; [`Dec::fixed`] scales
//! the mantissa to a tape's decimals and refuses (never rounds) what does not fit.

/// Powers of ten that fit in `i64`.
pub(crate) const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// Most decimals a tape exponent can have (10^18 is the largest power of ten in i64).
pub const MAX_DECIMALS: u8 = 18;

/// An exact decimal: `mant × 10^-frac`, with no trailing zero in the fraction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dec {
    /// The mantissa.
    pub mant: i64,
    /// Fractional digits (0..=18).
    pub frac: u8,
}

/// Why a text is not a decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecError {
    /// Not a number at all.
    Malformed,
    /// More than 18 significant digits, or beyond i64.
    TooLarge,
    /// More than 18 fractional digits.
    TooPrecise,
}

impl DecError {
    /// A short explanation for error messages.
    pub fn why(self) -> &'static str {
        match self {
            DecError::Malformed => "not a decimal number",
            DecError::TooLarge => "too large for a 64-bit fixed-point value",
            DecError::TooPrecise => "more than 18 decimal places",
        }
    }
}

/// `mantissa × 10^exponent` written without an exponent (`-1.02e-05` → `-0.0000102`).
fn plain_text(mantissa: &[u8], exponent: &[u8]) -> Option<Vec<u8>> {
    let exp: i64 = std::str::from_utf8(exponent).ok()?.parse().ok()?;
    if exp.abs() > 40 {
        return None;
    }
    let (sign, m) = match mantissa.split_first() {
        Some((b'-', r)) => ("-", r),
        Some((b'+', r)) => ("", r),
        _ => ("", mantissa),
    };
    let (int, frac) = match m.iter().position(|&b| b == b'.') {
        Some(d) => (&m[..d], &m[d + 1..]),
        None => (m, &m[m.len()..]),
    };
    if int.is_empty() && frac.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    // The decimal point sits after `point` digits.
    let point = int.len() as i64 + exp;
    let mut out = sign.as_bytes().to_vec();
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-point) as usize));
        out.extend_from_slice(&digits);
    } else if point as usize >= digits.len() {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', point as usize - digits.len()));
    } else {
        out.extend_from_slice(&digits[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[point as usize..]);
    }
    Some(out)
}

impl Dec {
    /// Parses like [`Dec::parse`], but rounds (half away from zero) a plain
    /// decimal with more than `decimals` fractional digits to `decimals`;
    /// returns whether it rounded. For scalar series whose text carries float
    /// artefacts (`0.0049365474762699995`); prices and quantities are never rounded.
    pub fn parse_rounded(s: &[u8], decimals: u8) -> Result<(Dec, bool), DecError> {
        let decimals = decimals.min(MAX_DECIMALS) as usize;
        if let Some(e) = s.iter().position(|&b| b == b'e' || b == b'E') {
            let plain = plain_text(&s[..e], &s[e + 1..]).ok_or(DecError::Malformed)?;
            return Dec::parse_rounded(&plain, decimals as u8);
        }
        let Some(dot) = s.iter().position(|&b| b == b'.') else {
            return Dec::parse(s).map(|d| (d, false));
        };
        let frac = &s[dot + 1..];
        if frac.len() <= decimals || !frac.iter().all(u8::is_ascii_digit) {
            return Dec::parse(s).map(|d| (d, false));
        }
        // Validate the whole text first, then round its digits.
        let (neg, int) = match s[..dot].split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, &s[..dot]),
        };
        if !int.iter().all(u8::is_ascii_digit) || (int.is_empty() && frac.is_empty()) {
            return Err(DecError::Malformed);
        }
        let mut mant: i128 = 0;
        for &b in int.iter().chain(&frac[..decimals]) {
            mant = mant.checked_mul(10).and_then(|m| m.checked_add(i128::from(b - b'0'))).ok_or(DecError::TooLarge)?;
        }
        if frac[decimals] >= b'5' {
            mant += 1;
        }
        let mut frac_digits = decimals as u8;
        while frac_digits > 0 && mant % 10 == 0 {
            mant /= 10;
            frac_digits -= 1;
        }
        let mant = i64::try_from(if neg { -mant } else { mant }).map_err(|_| DecError::TooLarge)?;
        Ok((Dec { mant, frac: frac_digits }, true))
    }

    /// Parses a decimal: optional sign, digits with an optional `.`, an optional
    /// exponent (`e-5`). No spaces, no thousands separators.
    #[inline]
    pub fn parse(s: &[u8]) -> Result<Dec, DecError> {
        // Fast path for what market data is made of: up to 18 characters of
        // digits and one `.` (no sign, no exponent), which cannot overflow.
        if s.len() <= 18 {
            let mut mant: u64 = 0;
            let mut dot = usize::MAX;
            let mut plain = true;
            for (i, &b) in s.iter().enumerate() {
                let d = b.wrapping_sub(b'0');
                if d <= 9 {
                    mant = mant * 10 + u64::from(d);
                } else if b == b'.' && dot == usize::MAX {
                    dot = i;
                } else {
                    plain = false;
                    break;
                }
            }
            let digits = s.len() - usize::from(dot != usize::MAX);
            if plain && digits > 0 {
                if mant == 0 {
                    return Ok(Dec { mant: 0, frac: 0 });
                }
                let mut frac = if dot == usize::MAX { 0 } else { (s.len() - dot - 1) as u8 };
                while frac > 0 && mant.is_multiple_of(10) {
                    mant /= 10;
                    frac -= 1;
                }
                return Ok(Dec { mant: mant as i64, frac });
            }
        }
        Self::parse_general(s)
    }

    /// [`Dec::parse`] for any text (signs, exponents, long digit strings).
    fn parse_general(s: &[u8]) -> Result<Dec, DecError> {
        let mut i = 0;
        let neg = match s.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };
        let mut mant: u64 = 0;
        let mut digits = 0usize;
        // Integer part.
        while i < s.len() {
            let d = s[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            mant = mant.checked_mul(10).and_then(|m| m.checked_add(u64::from(d))).ok_or(DecError::TooLarge)?;
            digits += 1;
            i += 1;
        }
        // Fraction: zeros are held back until a non-zero digit follows, so
        // trailing zeros never enter the mantissa.
        let mut frac: i32 = 0;
        if i < s.len() && s[i] == b'.' {
            i += 1;
            let mut pending: usize = 0;
            while i < s.len() {
                let d = s[i].wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                digits += 1;
                if d == 0 {
                    pending += 1;
                } else {
                    let scale = POW10.get(pending + 1).ok_or(DecError::TooPrecise)?;
                    mant = mant
                        .checked_mul(*scale as u64)
                        .and_then(|m| m.checked_add(u64::from(d)))
                        .ok_or(DecError::TooLarge)?;
                    frac += pending as i32 + 1;
                    pending = 0;
                }
                i += 1;
            }
        }
        if digits == 0 {
            return Err(DecError::Malformed);
        }
        if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
            i += 1;
            let eneg = match s.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            let mut e: i32 = 0;
            while i < s.len() && s[i].is_ascii_digit() && e < 1000 {
                e = e * 10 + i32::from(s[i] - b'0');
                i += 1;
            }
            if i == start {
                return Err(DecError::Malformed);
            }
            frac += if eneg { e } else { -e };
        }
        if i != s.len() {
            return Err(DecError::Malformed);
        }
        if mant == 0 {
            return Ok(Dec { mant: 0, frac: 0 });
        }
        if frac < 0 {
            let scale = POW10.get((-frac) as usize).ok_or(DecError::TooLarge)?;
            mant = mant.checked_mul(*scale as u64).ok_or(DecError::TooLarge)?;
            frac = 0;
        }
        // A positive exponent may have left trailing zeros in the fraction.
        while frac > 0 && mant.is_multiple_of(10) {
            mant /= 10;
            frac -= 1;
        }
        if frac > i32::from(MAX_DECIMALS) {
            return Err(DecError::TooPrecise);
        }
        if mant > i64::MAX as u64 {
            return Err(DecError::TooLarge);
        }
        let mant = mant as i64;
        Ok(Dec { mant: if neg { -mant } else { mant }, frac: frac as u8 })
    }

    /// The value scaled to `decimals` fractional digits, or why it does not fit.
    #[inline]
    pub fn fixed(self, decimals: u8) -> Result<i64, &'static str> {
        if self.frac > decimals {
            return Err("it has more decimal places");
        }
        match self.mant.checked_mul(POW10[usize::from(decimals - self.frac)]) {
            Some(v) if v != ticktape_tape::UNDEF => Ok(v),
            _ => Err("it overflows a 64-bit integer at that scale"),
        }
    }

    /// The exact decimal of the shortest text that reads back as `x` (Rust's
    /// `Display` for `f64`), so `0.1` is 1 × 10^-1, not the binary expansion.
    pub fn from_f64(x: f64) -> Result<Dec, DecError> {
        if !x.is_finite() {
            return Err(DecError::Malformed);
        }
        use std::io::Write;
        let mut buf = [0u8; 400];
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        write!(cur, "{x}").map_err(|_| DecError::TooLarge)?;
        let n = cur.position() as usize;
        Dec::parse(&buf[..n])
    }
}

/// How far from a grid point a binary floating-point value may lie and still
/// be read as that point, in grid steps: 10^-9 of a step (see
/// [`Dec::snap_to_grid`]).
pub const GRID_TOLERANCE_DIGITS: u32 = 9;

impl Dec {
    /// The value on the coarsest decimal grid (0.1, 0.01, …) it lies within
    /// 10^-9 of a step of, rounded to that grid point: for a value that came
    /// from binary floating point, such as `50000.600000000006` (which is
    /// `500006 × 0.1` in f64 arithmetic), this is `50000.6`. A value that is
    /// near no coarser grid keeps all its digits. Exact integer arithmetic on
    /// the decimal digits; grids are tried from 1 (no decimals) down.
    pub fn snap_to_grid(self) -> Dec {
        for d in 0..self.frac {
            let step = i128::from(POW10[usize::from(self.frac - d)]);
            let m = i128::from(self.mant);
            // Nearest multiple of `step`, halves away from zero.
            let n = (m + step / 2 * m.signum()) / step;
            let r = m - n * step;
            if r.abs() * i128::from(POW10[GRID_TOLERANCE_DIGITS as usize]) <= step {
                return Dec { mant: n as i64, frac: d };
            }
        }
        self
    }
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&ticktape_tape::format_fixed(self.mant, -(self.frac as i8)))
    }
}

/// The value of 8 ASCII digits (the first most significant), `None` if one
/// is not a digit. Eight at once in a 64-bit word (the SWAR method of
/// simdjson's `parse_eight_digits_unrolled`): timestamps and ids are the
/// longest fields of a trades CSV, and digit by digit is a chain of
/// dependent multiplies.
#[inline]
fn eight_digits(b: &[u8; 8]) -> Option<u64> {
    let x = u64::from_le_bytes(*b);
    // Each byte 0x30..=0x39: high nibble 3, and adding 6 keeps it 3.
    let hi = 0xF0F0_F0F0_F0F0_F0F0u64;
    if x & hi != 0x3030_3030_3030_3030 || x.wrapping_add(0x0606_0606_0606_0606) & hi != 0x3030_3030_3030_3030 {
        return None;
    }
    let v = (x & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    Some((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32)
}

/// Parses an unsigned integer (ids); `None` if empty, not digits, or too large.
#[inline]
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s.len() < 20 {
        // At most 19 digits: below 10^19 < 2^64, no overflow to check.
        let mut v: u64 = 0;
        let mut rest = s;
        while let Some((eight, tail)) = rest.split_first_chunk::<8>() {
            v = v * 100_000_000 + eight_digits(eight)?;
            rest = tail;
        }
        for &b in rest {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Parses a signed integer.
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.first() {
        Some(b'-') => {
            let v = parse_u64(&s[1..])?;
            if v <= i64::MAX as u64 + 1 { Some((v as i64).wrapping_neg()) } else { None }
        }
        _ => i64::try_from(parse_u64(s)?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        let alphabet = b"0123456789.0.-+eE";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 21) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    let r = (x >> (i * 3 % 61)) as usize;
                    // Mostly digits, sometimes a dot, rarely anything else.
                    if !r.is_multiple_of(8) { b'0' + (r % 10) as u8 } else { alphabet[(r / 8) % alphabet.len()] }
                })
                .collect();
            assert_eq!(Dec::parse(&text), Dec::parse_general(&text), "{:?}", String::from_utf8_lossy(&text));
        }
        for t in ["61800.30", "0.000", ".5", "5.", ".", "", "007", "1.50", "123456789012345678", "0.13200"] {
            assert_eq!(Dec::parse(t.as_bytes()), Dec::parse_general(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn integers_parse_like_the_standard_library() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 1..=21 {
            for _ in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let digits: String = (0..len).map(|i| char::from(b'0' + ((x >> (i % 60)) % 10) as u8)).collect();
                let want = if len > 20 { None } else { digits.parse::<u64>().ok() };
                assert_eq!(parse_u64(digits.as_bytes()), want, "{digits}");
                // One byte off the digits, anywhere.
                let mut bad = digits.clone().into_bytes();
                let at = (x % len as u64) as usize;
                bad[at] = [b'/', b':', b'a', b' ', 0x80, b'.'][(x >> 3) as usize % 6];
                assert_eq!(parse_u64(&bad), None, "{:?}", String::from_utf8_lossy(&bad));
            }
        }
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(parse_u64(b"9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_i64(b"-1723075200000000"), Some(-1_723_075_200_000_000));
    }

    fn d(s: &str) -> Dec {
        Dec::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_exactly_and_normalises_trailing_zeros() {
        assert_eq!(d("61800.30"), Dec { mant: 618003, frac: 1 });
        assert_eq!(d("0.000"), Dec { mant: 0, frac: 0 });
        assert_eq!(d("-0.0001"), Dec { mant: -1, frac: 4 });
        assert_eq!(d("+7"), Dec { mant: 7, frac: 0 });
        assert_eq!(d("100"), Dec { mant: 100, frac: 0 });
        assert_eq!(d(".5"), Dec { mant: 5, frac: 1 });
        assert_eq!(d("5."), Dec { mant: 5, frac: 0 });
        assert_eq!(d("1e-5"), Dec { mant: 1, frac: 5 });
        assert_eq!(d("1.70027E+12"), Dec { mant: 1_700_270_000_000, frac: 0 });
        assert_eq!(d("2.50e1"), Dec { mant: 25, frac: 0 });
        assert_eq!(d("0.28800000000000003"), Dec { mant: 28800000000000003, frac: 17 });
        assert_eq!(d("9223372036854775807"), Dec { mant: i64::MAX, frac: 0 });
    }

    #[test]
    fn refuses_what_is_not_a_number_or_too_big() {
        for bad in ["", "-", ".", "1,5", "1.2.3", "abc", "1e", "1 ", " 1", "nan", "0x10", "1e+"] {
            assert_eq!(Dec::parse(bad.as_bytes()), Err(DecError::Malformed), "{bad:?}");
        }
        assert_eq!(Dec::parse(b"9223372036854775808"), Err(DecError::TooLarge));
        assert_eq!(Dec::parse(b"1e30"), Err(DecError::TooLarge));
        assert_eq!(Dec::parse(b"0.0000000000000000001"), Err(DecError::TooPrecise));
    }

    #[test]
    fn fixed_scales_or_refuses() {
        assert_eq!(d("61800.3").fixed(2), Ok(6_180_030));
        assert_eq!(d("-0.5").fixed(1), Ok(-5));
        assert!(d("61800.35").fixed(1).is_err());
        assert!(d("92233720368").fixed(9).is_err());
    }

    #[test]
    fn f64_uses_the_shortest_decimal() {
        assert_eq!(Dec::from_f64(0.1).unwrap(), Dec { mant: 1, frac: 1 });
        assert_eq!(Dec::from_f64(61800.3).unwrap(), Dec { mant: 618003, frac: 1 });
        assert_eq!(Dec::from_f64(0.1 + 0.2).unwrap(), Dec { mant: 30000000000000004, frac: 17 });
        assert!(Dec::from_f64(f64::NAN).is_err());
    }

    #[test]
    fn snapping_reads_float_noise_as_the_grid_point() {
        let snap = |x: f64| Dec::from_f64(x).unwrap().snap_to_grid();
        assert_eq!(snap(50000.600000000006), Dec { mant: 500006, frac: 1 });
        assert_eq!(snap(500006.0 * 0.1), Dec { mant: 500006, frac: 1 });
        assert_eq!(snap(0.1 + 0.2), Dec { mant: 3, frac: 1 });
        assert_eq!(snap(61799.99999999999), Dec { mant: 61800, frac: 0 });
        assert_eq!(snap(-0.30000000000000004), Dec { mant: -3, frac: 1 });
        assert_eq!(snap(0.0), Dec { mant: 0, frac: 0 });
        assert_eq!(snap(1e-8), Dec { mant: 1, frac: 8 });
        // Genuinely finer values keep their digits.
        assert_eq!(snap(61800.35), Dec { mant: 6180035, frac: 2 });
        assert_eq!(snap(0.123456789), Dec { mant: 123456789, frac: 9 });
        // 2e-9 of a step off the 0.1 grid is beyond the tolerance.
        assert_eq!(snap(0.1000000002), Dec { mant: 1000000002, frac: 10 });
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"5266583935"), Some(5_266_583_935));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }
}
