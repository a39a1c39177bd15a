//! Decimal numbers in G-code words, parsed from bytes without allocating.
//!
//! Accepts what firmware and hand-written files use: an optional sign, digits
//! with an optional `.` on either side (`5`, `-0`, `+3`, `.5`, `5.`), and an
//! exponent written with a lower-case `e` (`1e3`, `2.5e-2`). An upper-case `E`
//! always ends the number because it is the extruder word (`X10E5` is `X10 E5`,
//! as in Marlin's parser). Owns nothing else.

/// Exact powers of ten that an `f64` represents without rounding.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Powers of ten as integers (10^0 ..= 10^19).
const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// The run of digits at `s[i..]`: its value (wrapping past 19 digits) and length.
#[inline(always)]
fn digits_at(s: &[u8], i: usize) -> (u64, usize) {
    let rest = s.get(i..).unwrap_or(&[]);
    let mut value = 0u64;
    let mut n = 0usize;
    for &b in rest {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
    }
    (value, n)
}

/// Why a number could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// No digit where a number was expected.
    Missing,
    /// Digits were there, but the value is not a finite `f64` (`1e999`).
    NotFinite,
}

/// Parses the number at the start of `s`.
///
/// Returns the value and the number of bytes it used. Never panics; never
/// reads past `s`.
#[inline]
pub fn parse_number(s: &[u8]) -> Result<(f64, usize), NumberError> {
    let mut i = 0;
    let negative = match s.first() {
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
    // Up to 19 digits fit a u64 exactly; more (rare) take the slow path.
    let (int, int_len) = digits_at(s, i);
    i += int_len;
    let mut mantissa = int;
    let mut digits = int_len as u32;
    let mut frac_digits = 0i32;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let (frac, frac_len) = digits_at(s, i);
        i += frac_len;
        if frac_len > 0 {
            mantissa = mantissa.wrapping_mul(POW10_U64[frac_len.min(19)]).wrapping_add(frac);
        }
        frac_digits = frac_len as i32;
        digits += frac_len as u32;
    }
    let any_digit = digits > 0;
    let overflow = digits > 19;
    if !any_digit {
        return Err(NumberError::Missing);
    }
    let mut exp: i32 = 0;
    if s.get(i) == Some(&b'e') {
        let mut j = i + 1;
        let exp_negative = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            while let Some(&b) = s.get(j) {
                if !b.is_ascii_digit() {
                    break;
                }
                exp = exp.saturating_mul(10).saturating_add(i32::from(b - b'0'));
                j += 1;
            }
            if exp_negative {
                exp = -exp;
            }
            i = j;
        }
    }
    let exp10 = exp.saturating_sub(frac_digits);
    let value = if !overflow && mantissa < (1u64 << 53) && (-22..=22).contains(&exp10) {
        // Clinger's fast path: both operands exact, so one rounding: correctly rounded.
        let m = mantissa as f64;
        let p = POW10[exp10.unsigned_abs() as usize];
        if exp10 >= 0 { m * p } else { m / p }
    } else {
        slow_parse(&s[..i]).ok_or(NumberError::NotFinite)?.abs()
    };
    if !value.is_finite() {
        return Err(NumberError::NotFinite);
    }
    Ok((if negative { -value } else { value }, i))
}

/// Rare path (long mantissas, big exponents): the standard library's parser.
fn slow_parse(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn check(inputs: &[&str], expect: Expect) {
        let mut out = String::new();
        for input in inputs {
            let r = parse_number(input.as_bytes());
            out.push_str(&format!("{input:<24} => {r:?}\n"));
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn numbers_in_all_the_shapes_firmware_accepts() {
        check(
            &["5", "-0", "+3", ".5", "-.5", "5.", "12.345", "1e3", "2.5e-2", "1e+2", "007", "0.000001"],
            expect![[r#"
                5                        => Ok((5.0, 1))
                -0                       => Ok((-0.0, 2))
                +3                       => Ok((3.0, 2))
                .5                       => Ok((0.5, 2))
                -.5                      => Ok((-0.5, 3))
                5.                       => Ok((5.0, 2))
                12.345                   => Ok((12.345, 6))
                1e3                      => Ok((1000.0, 3))
                2.5e-2                   => Ok((0.025, 6))
                1e+2                     => Ok((100.0, 4))
                007                      => Ok((7.0, 3))
                0.000001                 => Ok((1e-6, 8))
            "#]],
        );
    }

    #[test]
    fn where_a_number_stops() {
        check(
            &["10E5", "1.5X2", "3e", "3eX", "1-2", "4 5", "2.5.5"],
            expect![[r#"
                10E5                     => Ok((10.0, 2))
                1.5X2                    => Ok((1.5, 3))
                3e                       => Ok((3.0, 1))
                3eX                      => Ok((3.0, 1))
                1-2                      => Ok((1.0, 1))
                4 5                      => Ok((4.0, 1))
                2.5.5                    => Ok((2.5, 3))
            "#]],
        );
    }

    #[test]
    fn junk_and_extremes() {
        check(
            &[
                "",
                "-",
                "+",
                ".",
                "-.",
                "e5",
                "X",
                "1e999",
                "-1e999",
                "1e-999",
                "12345678901234567890123.5",
                "1e400000000000",
            ],
            expect![[r#"
                                         => Err(Missing)
                -                        => Err(Missing)
                +                        => Err(Missing)
                .                        => Err(Missing)
                -.                       => Err(Missing)
                e5                       => Err(Missing)
                X                        => Err(Missing)
                1e999                    => Err(NotFinite)
                -1e999                   => Err(NotFinite)
                1e-999                   => Ok((0.0, 6))
                12345678901234567890123.5 => Ok((1.2345678901234568e22, 25))
                1e400000000000           => Err(NotFinite)
            "#]],
        );
    }

    #[test]
    fn agrees_with_std_on_random_digit_strings() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let r = next();
            let int_len = (r % 22) as usize;
            let frac_len = ((r >> 8) % 22) as usize;
            let mut text = String::new();
            if r & (1 << 20) != 0 {
                text.push('-');
            }
            for k in 0..int_len + frac_len {
                if k == int_len {
                    text.push('.');
                }
                text.push(char::from(b'0' + (next() % 10) as u8));
            }
            if int_len + frac_len == 0 {
                assert!(parse_number(text.as_bytes()).is_err());
                continue;
            }
            if frac_len == 0 && r & (1 << 21) != 0 {
                text.push('.');
            }
            if r & (1 << 22) != 0 {
                text.push_str(&format!("e{}", (next() % 40) as i32 - 20));
            }
            let (v, used) = parse_number(text.as_bytes()).unwrap();
            assert_eq!(used, text.len(), "{text}");
            assert_eq!(v, text.parse::<f64>().unwrap(), "{text}");
        }
    }
}
