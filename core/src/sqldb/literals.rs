//! Text forms of portable values that every provider checks the same way:
//! UUIDs and decimal numbers.

/// `8-4-4-4-12` hex digits, lower-cased; `None` for anything else.
///
/// ```
/// use strata_core::sqldb::literals::canonical_uuid;
/// assert_eq!(
///     canonical_uuid("6F9619FF-8B86-D011-B42D-00C04FC964FF").as_deref(),
///     Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
/// );
/// assert_eq!(canonical_uuid("6f9619ff8b86d011b42d00c04fc964ff"), None);
/// ```
pub fn canonical_uuid(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    well_formed.then(|| text.to_ascii_lowercase())
}

/// The 16 bytes of a UUID in its canonical text (see [`canonical_uuid`]);
/// `None` when `text` is not a UUID.
pub fn uuid_to_bytes(text: &str) -> Option<[u8; 16]> {
    let canonical = canonical_uuid(text)?;
    let hex: Vec<u8> = canonical.bytes().filter(|b| *b != b'-').collect();
    let mut out = [0u8; 16];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// The canonical lower-case text of 16 UUID bytes.
///
/// ```
/// use strata_core::sqldb::literals::uuid_from_bytes;
/// assert_eq!(uuid_from_bytes(&[0xab; 16]), "abababab-abab-abab-abab-abababababab");
/// ```
pub fn uuid_from_bytes(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Whether `text` is a decimal literal as PostgreSQL `numeric` accepts it:
/// optional sign, digits with an optional fraction, optional exponent; or
/// `NaN` / `Infinity`.
///
/// ```
/// use strata_core::sqldb::literals::is_decimal;
/// assert!(is_decimal("-12.50") && is_decimal("1.5E-3") && is_decimal("NaN"));
/// assert!(!is_decimal("1.2.3") && !is_decimal("0x10"));
/// ```
pub fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, "NaN" | "Infinity") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_validated_and_lowercased() {
        assert_eq!(
            canonical_uuid("6F9619FF-8B86-D011-B42D-00C04FC964FF").as_deref(),
            Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
        );
        for bad in [
            "",
            "6f9619ff8b86d011b42d00c04fc964ff",
            "6f9619ff-8b86-d011-b42d-00c04fc964fg",
            "6f9619ff-8b86-d011-b42d-00c04fc964f✓",
        ] {
            assert_eq!(canonical_uuid(bad), None, "{bad}");
            assert_eq!(uuid_to_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn uuid_bytes_round_trip() {
        let text = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        let bytes = uuid_to_bytes(text).unwrap();
        assert_eq!(bytes[0], 0x6f);
        assert_eq!(bytes[15], 0xff);
        assert_eq!(uuid_from_bytes(&bytes), text);
        assert_eq!(
            uuid_from_bytes(&uuid_to_bytes(&text.to_ascii_uppercase()).unwrap()),
            text
        );
    }

    #[test]
    fn decimals_are_recognised() {
        for ok in [
            "0",
            "-12.50",
            "+3",
            ".5",
            "5.",
            "1e10",
            "1.5E-3",
            "NaN",
            "-Infinity",
        ] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", ".", "-", "1e", "abc", "1.2.3", "1 ", "0x10", "1e+"] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }
}
