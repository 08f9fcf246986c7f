//! Conversions between [`SqlValue::Timestamp`](super::SqlValue::Timestamp)
//! (microseconds since the Unix epoch, UTC) and RFC 3339 text, for providers
//! that store timestamps as text and for bindings that show them.

use std::time::{SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// The current time as microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        // A clock before 1970: negative micros.
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`
/// (always six fractional digits, so texts sort like the instants they name).
///
/// ```
/// use strata_core::sqldb::timestamp::timestamp_to_rfc3339;
/// assert_eq!(timestamp_to_rfc3339(0), "1970-01-01T00:00:00.000000Z");
/// assert_eq!(timestamp_to_rfc3339(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
/// ```
pub fn timestamp_to_rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        // ISO 8601 expanded years, far outside any real data.
        format!("{year:+}")
    };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{frac:06}Z")
}

/// Parses RFC 3339 / ISO 8601 text into microseconds since the epoch.
///
/// Lenient in what real databases write: the date/time separator may be `T`
/// or a space, seconds and fractions are optional, a missing zone means UTC,
/// and a bare date is midnight UTC. Digits past microseconds are truncated.
/// Returns `None` when the text is not a valid timestamp.
///
/// ```
/// use strata_core::sqldb::timestamp::timestamp_from_rfc3339;
/// assert_eq!(timestamp_from_rfc3339("1970-01-01 00:00:01"), Some(1_000_000));
/// assert_eq!(timestamp_from_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
/// assert_eq!(timestamp_from_rfc3339("yesterday"), None);
/// ```
pub fn timestamp_from_rfc3339(text: &str) -> Option<i64> {
    let mut p = Parser {
        rest: text.trim().as_bytes(),
    };
    let negative_year = p.eat(b'-');
    if !negative_year {
        p.eat(b'+');
    }
    let year = i64::from(p.digits(4, 6)?);
    let year = if negative_year { -year } else { year };
    p.expect(b'-')?;
    let month = p.digits(2, 2)?;
    p.expect(b'-')?;
    let day = p.digits(2, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut h, mut m, mut s, mut frac) = (0, 0, 0, 0);
    if p.eat(b'T') || p.eat(b't') || p.eat(b' ') {
        h = p.digits(2, 2)?;
        p.expect(b':')?;
        m = p.digits(2, 2)?;
        if p.eat(b':') {
            s = p.digits(2, 2)?;
            if p.eat(b'.') || p.eat(b',') {
                frac = p.fraction_micros()?;
            }
        }
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
    }
    let offset_secs = p.offset()?;
    if !p.rest.is_empty() {
        return None;
    }
    // i128: the extremes of i64 micros are only reachable through a
    // negative seconds count plus a positive fraction.
    let days = i128::from(days_from_civil(year, month, day));
    let secs = days * i128::from(SECS_PER_DAY) + i128::from(h * 3600 + m * 60 + s)
        - i128::from(offset_secs);
    i64::try_from(secs * i128::from(MICROS_PER_SEC) + i128::from(frac)).ok()
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl Parser<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&b, rest)) if b == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let n = self
            .rest
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n < min {
            return None;
        }
        let (digits, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    /// One or more fractional digits, as microseconds (truncated).
    fn fraction_micros(&mut self) -> Option<i64> {
        let n = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let (digits, rest) = self.rest.split_at(n);
        self.rest = rest;
        let micros = digits
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(6)
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
        Some(micros)
    }

    /// `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing (UTC), in seconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') || self.rest.is_empty() {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = self.digits(2, 2)?;
        self.eat(b':');
        let m = if self.rest.is_empty() {
            0
        } else {
            self.digits(2, 2)?
        };
        if h > 23 || m > 59 {
            return None;
        }
        Some(sign * i64::from(h * 3600 + m * 60))
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back_across_eras() {
        for micros in [
            0,
            1,
            -1,
            951_782_400_000_000, // 2000-02-29
            1_700_000_000_123_456,
            -62_135_596_800_000_000, // 0001-01-01
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ] {
            let text = timestamp_to_rfc3339(micros);
            assert_eq!(timestamp_from_rfc3339(&text), Some(micros), "{text}");
        }
        assert_eq!(timestamp_to_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            timestamp_to_rfc3339(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn extreme_values_format_without_panicking() {
        for micros in [i64::MIN, i64::MAX] {
            let text = timestamp_to_rfc3339(micros);
            assert_eq!(timestamp_from_rfc3339(&text), Some(micros), "{text}");
        }
    }

    #[test]
    fn parses_the_forms_databases_write() {
        let base = 1_700_000_000_000_000; // 2023-11-14T22:13:20Z
        assert_eq!(timestamp_from_rfc3339("2023-11-14 22:13:20"), Some(base));
        assert_eq!(timestamp_from_rfc3339("2023-11-14T22:13:20Z"), Some(base));
        assert_eq!(timestamp_from_rfc3339("2023-11-14t22:13:20z"), Some(base));
        assert_eq!(
            timestamp_from_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(base)
        );
        assert_eq!(
            timestamp_from_rfc3339("2023-11-14T23:13:20+0100"),
            Some(base)
        );
        assert_eq!(timestamp_from_rfc3339("2023-11-14 17:13:20-05"), Some(base));
        assert_eq!(
            timestamp_from_rfc3339("2023-11-14 22:13:20.5"),
            Some(base + 500_000)
        );
        assert_eq!(
            timestamp_from_rfc3339("2023-11-14 22:13:20.123456789"),
            Some(base + 123_456)
        );
        assert_eq!(
            timestamp_from_rfc3339("2023-11-14 22:13"),
            Some(base - 20_000_000)
        );
        assert_eq!(timestamp_from_rfc3339("1970-01-02"), Some(86_400_000_000));
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for text in [
            "",
            "2023",
            "2023-13-01",
            "2023-02-29",
            "2023-11-14 24:00:00",
            "2023-11-14 22:61",
            "2023-11-14T22:13:20.",
            "2023-11-14T22:13:20 garbage",
            "2023-11-14T22:13:20+25:00",
            "42",
        ] {
            assert_eq!(timestamp_from_rfc3339(text), None, "{text:?}");
        }
        assert!(timestamp_from_rfc3339("2024-02-29").is_some());
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_micros() > 1_577_836_800_000_000);
    }
}
