//! PostgreSQL's binary `numeric` format ↔ exact decimal text.
//!
//! On the wire a numeric is `ndigits: i16, weight: i16, sign: u16,
//! dscale: u16` followed by `ndigits` base-10000 digits (each an `i16`); the
//! value is `Σ digit[i] × 10000^(weight − i)` and `dscale` is the number of
//! decimal places shown. Converting through text keeps every digit, which no
//! fixed-size Rust decimal type does (PostgreSQL allows 131072 digits before
//! the point and 16383 after).

const NBASE: u32 = 10_000;
const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// PostgreSQL's limits: digits before and after the decimal point.
const MAX_INT_DIGITS: usize = 131_072;
const MAX_SCALE: usize = 16_383;

/// The binary form of a decimal literal (`-12.50`, `1.5e3`, `NaN`,
/// `Infinity`). `None` when the text is not a decimal or exceeds
/// PostgreSQL's range.
pub(crate) fn encode_numeric(text: &str) -> Option<Vec<u8>> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    match unsigned {
        "NaN" if unsigned.len() == text.len() => return Some(header(0, 0, SIGN_NAN, 0)),
        "Infinity" => {
            let sign = if negative { SIGN_NINF } else { SIGN_PINF };
            return Some(header(0, 0, sign, 0));
        }
        _ => {}
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, parse_exponent(e)?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    // Every digit, and where the decimal point falls among them.
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let point = i64::try_from(int.len()).ok()? + exponent;
    let scale = (i64::try_from(digits.len()).ok()? - point).max(0);
    let int_digits = point.max(0);
    if usize::try_from(scale).ok()? > MAX_SCALE {
        return None;
    }
    let first_nonzero = digits.iter().position(|d| *d != 0);
    let Some(first_nonzero) = first_nonzero else {
        // Zero keeps its scale: `0.00` reads back as `0.00`.
        return Some(header(0, 0, SIGN_POS, u16::try_from(scale).ok()?));
    };
    // Digits that matter before the point, once leading zeros are gone.
    if usize::try_from(int_digits)
        .ok()?
        .saturating_sub(first_nonzero)
        > MAX_INT_DIGITS
    {
        return None;
    }

    // Align to base-10000 groups: pad on the left so the point falls on a
    // group boundary. `point` may be negative (0.000012) or past the end.
    let lead_pad = (4 - point.rem_euclid(4)) % 4;
    let group_of = |i: i64| (i + lead_pad).div_euclid(4);
    let first_group = group_of(0);
    // Weight of the group holding digit 0 (the point sits between group
    // `group_of(point) - 1` and `group_of(point)`).
    let weight_of_first = group_of(point) - 1 - first_group;
    let last = i64::try_from(digits.len()).ok()?;
    let total_groups = group_of(last - 1) - first_group + 1;
    let mut groups = vec![0u16; usize::try_from(total_groups).ok()?];
    for (i, d) in digits.iter().enumerate() {
        let i = i64::try_from(i).ok()?;
        let g = usize::try_from(group_of(i) - first_group).ok()?;
        let pos_in_group = (i + lead_pad).rem_euclid(4);
        let factor = 10u16.pow(u32::try_from(3 - pos_in_group).ok()?);
        groups[g] += u16::from(*d) * factor;
    }
    // Drop zero groups at both ends; the weight follows the first kept one.
    let lead_zeros = groups.iter().take_while(|g| **g == 0).count();
    let trail_zeros = groups.iter().rev().take_while(|g| **g == 0).count();
    let kept = &groups[lead_zeros..groups.len() - trail_zeros];
    let weight = weight_of_first - i64::try_from(lead_zeros).ok()?;
    // The groups between the last kept one and the point are implied zeros
    // when the exponent pushed the point past the digits.
    let weight = i16::try_from(weight).ok()?;
    let sign = if negative { SIGN_NEG } else { SIGN_POS };
    let mut out = header(
        i16::try_from(kept.len()).ok()?,
        weight,
        sign,
        u16::try_from(scale).ok()?,
    );
    for g in kept {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

fn parse_exponent(text: &str) -> Option<i64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) || unsigned.len() > 7 {
        return None;
    }
    let value: i64 = unsigned.parse().ok()?;
    Some(if text.starts_with('-') { -value } else { value })
}

fn header(ndigits: i16, weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 2 * usize::try_from(ndigits).unwrap_or(0));
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    out
}

/// The exact text of a binary numeric, as PostgreSQL prints it (`dscale`
/// decimal places, no exponent). `None` for malformed input.
pub(crate) fn decode_numeric(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<[u8; 2]> { bytes.get(i..i + 2)?.try_into().ok() };
    let ndigits = usize::try_from(i16::from_be_bytes(word(0)?)).ok()?;
    let weight = i64::from(i16::from_be_bytes(word(2)?));
    let sign = u16::from_be_bytes(word(4)?);
    let dscale = usize::from(u16::from_be_bytes(word(6)?));
    match sign {
        SIGN_NAN => return Some("NaN".to_owned()),
        SIGN_PINF => return Some("Infinity".to_owned()),
        SIGN_NINF => return Some("-Infinity".to_owned()),
        SIGN_POS | SIGN_NEG => {}
        _ => return None,
    }
    if bytes.len() != 8 + 2 * ndigits {
        return None;
    }
    let mut groups = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let g = u16::from_be_bytes(word(8 + 2 * i)?);
        if u32::from(g) >= NBASE {
            return None;
        }
        groups.push(g);
    }
    let group = |w: i64| -> u16 {
        // Group of weight `w` is at index `weight - w`.
        usize::try_from(weight - w)
            .ok()
            .and_then(|i| groups.get(i).copied())
            .unwrap_or(0)
    };

    let mut out = String::new();
    if sign == SIGN_NEG && ndigits > 0 {
        out.push('-');
    }
    // Integer part: groups of weight `weight` down to 0.
    if weight < 0 {
        out.push('0');
    } else {
        for w in (0..=weight).rev() {
            let g = group(w);
            if w == weight {
                out.push_str(&g.to_string());
            } else {
                out.push_str(&format!("{g:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::with_capacity(dscale + 4);
        let mut w = -1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", group(w)));
            w -= 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        decode_numeric(&encode_numeric(text).unwrap()).unwrap()
    }

    #[test]
    fn decimals_keep_every_digit_and_their_scale() {
        for (input, printed) in [
            ("0", "0"),
            ("0.00", "0.00"),
            ("-0", "0"),
            ("12.5", "12.5"),
            ("12.50", "12.50"),
            ("-3", "-3"),
            ("10000", "10000"),
            ("9999", "9999"),
            ("123456789.000000001", "123456789.000000001"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            ("-0.000012", "-0.000012"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+7", "7"),
            ("1e3", "1000"),
            ("1.5E3", "1500"),
            ("1.5e-3", "0.0015"),
            ("12345e-2", "123.45"),
            ("000123.4500", "123.4500"),
            (
                "98765432109876543210987654321098765432.123456789012345678901234567890",
                "98765432109876543210987654321098765432.123456789012345678901234567890",
            ),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("+Infinity", "Infinity"),
        ] {
            assert_eq!(round_trip(input), printed, "{input}");
        }
    }

    #[test]
    fn the_wire_form_matches_postgres() {
        // SELECT numeric_send(12.5): ndigits 2, weight 0, sign +, dscale 1, [12, 5000].
        assert_eq!(
            encode_numeric("12.5").unwrap(),
            [0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88]
        );
        // 10000: one group of weight 1.
        assert_eq!(
            encode_numeric("10000").unwrap(),
            [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
        );
        // -0.0001: weight -1, sign -, dscale 4, [1].
        assert_eq!(
            encode_numeric("-0.0001").unwrap(),
            [0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 1]
        );
    }

    #[test]
    fn malformed_or_out_of_range_text_is_refused() {
        for bad in [
            "",
            ".",
            "-",
            "1e",
            "abc",
            "1.2.3",
            "1 ",
            "0x10",
            "1e+",
            "nan",
            "-NaN",
            "1e99999999",
            "1e-20000",
        ] {
            assert!(encode_numeric(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn malformed_wire_bytes_are_refused() {
        assert_eq!(decode_numeric(&[0, 1]), None);
        // Claims two digits, carries one.
        assert_eq!(decode_numeric(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1]), None);
        // A digit of 10000 is not base 10000.
        assert_eq!(decode_numeric(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]), None);
    }
}
