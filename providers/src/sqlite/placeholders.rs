//! Rewrites portable `$1, $2, …` placeholders to SQLite's `?1, ?2, …`.
//!
//! Only placeholders in SQL text are rewritten: `$1` inside a string literal,
//! a quoted identifier (`"…"`, `` `…` ``, `[…]`) or a comment is left alone, as
//! is a `$` that continues an identifier (`price$1`).

use strata_core::{Error, Result};

/// SQLite's default `SQLITE_MAX_VARIABLE_NUMBER`.
const MAX_PLACEHOLDER: usize = 32_766;

/// The rewritten SQL and the highest placeholder number it uses (0 for none).
pub(crate) fn rewrite_placeholders(sql: &str) -> Result<(String, usize)> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut max = 0;
    // `copied` is the end of what has been copied to `out`; everything is
    // copied in slices cut at ASCII bytes, so UTF-8 stays intact.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = skip_past(bytes, i + 1, &[quote]),
            b'[' => i = skip_past(bytes, i + 1, b"]"),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_past(bytes, i + 2, b"\n"),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_past(bytes, i + 2, b"*/"),
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !(i > 0 && is_identifier_byte(bytes[i - 1])) =>
            {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let text = &sql[i + 1..i + 1 + digits];
                let n = parse_placeholder(text)?;
                max = max.max(n);
                out.push_str(&sql[copied..i]);
                out.push('?');
                out.push_str(text);
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok((out, max))
}

/// The index just past the first `end` at or after `from` (or the end of
/// input: an unterminated literal is SQLite's error to report).
fn skip_past(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.windows(end.len()).position(|w| w == end))
        .map_or(bytes.len(), |p| from + p + end.len())
}

fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn parse_placeholder(digits: &str) -> Result<usize> {
    match digits.parse::<usize>() {
        Ok(0) => Err(Error::invalid_argument(
            "placeholder `$0` is not valid: placeholders are numbered from $1",
        )),
        Ok(n) if n <= MAX_PLACEHOLDER => Ok(n),
        _ => Err(Error::invalid_argument(format!(
            "placeholder `${digits}` is out of range: SQLite accepts up to ${MAX_PLACEHOLDER}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata_core::ErrorCode;

    fn rewrite(sql: &str) -> (String, usize) {
        rewrite_placeholders(sql).unwrap()
    }

    #[test]
    fn rewrites_placeholders_and_reports_the_highest() {
        assert_eq!(
            rewrite("SELECT * FROM t WHERE a = $1 AND b = $2"),
            ("SELECT * FROM t WHERE a = ?1 AND b = ?2".to_owned(), 2)
        );
        assert_eq!(
            rewrite("VALUES ($2, $1, $2)"),
            ("VALUES (?2, ?1, ?2)".to_owned(), 2)
        );
        assert_eq!(rewrite("SELECT 1"), ("SELECT 1".to_owned(), 0));
        assert_eq!(rewrite(""), (String::new(), 0));
    }

    #[test]
    fn two_digit_placeholders_stay_whole() {
        let params: Vec<String> = (1..=10).map(|n| format!("${n}")).collect();
        let sql = format!("VALUES ({})", params.join(","));
        let (out, max) = rewrite(&sql);
        assert_eq!(max, 10);
        assert!(out.ends_with("?9,?10)"), "{out}");
        assert!(!out.contains('$'));
    }

    #[test]
    fn literals_identifiers_and_comments_are_left_alone() {
        assert_eq!(
            rewrite("SELECT '$1', $1, 'it''s $2' FROM t"),
            ("SELECT '$1', ?1, 'it''s $2' FROM t".to_owned(), 1)
        );
        assert_eq!(
            rewrite(r#"SELECT "col$1", `x $2`, [y $3] FROM t WHERE z = $1"#),
            (
                r#"SELECT "col$1", `x $2`, [y $3] FROM t WHERE z = ?1"#.to_owned(),
                1
            )
        );
        assert_eq!(
            rewrite("SELECT $1 -- and $2\n, /* $3 */ $2"),
            ("SELECT ?1 -- and $2\n, /* $3 */ ?2".to_owned(), 2)
        );
        assert_eq!(
            rewrite("SELECT price$1 FROM t"),
            ("SELECT price$1 FROM t".to_owned(), 0)
        );
        assert_eq!(rewrite("SELECT $name"), ("SELECT $name".to_owned(), 0));
    }

    #[test]
    fn unterminated_literals_do_not_panic() {
        assert_eq!(rewrite("SELECT '$1"), ("SELECT '$1".to_owned(), 0));
        assert_eq!(rewrite("SELECT /* $1"), ("SELECT /* $1".to_owned(), 0));
        assert_eq!(rewrite("SELECT $1 --"), ("SELECT ?1 --".to_owned(), 1));
        assert_eq!(rewrite("SELECT $"), ("SELECT $".to_owned(), 0));
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(
            rewrite("SELECT 'héllo ✓', $1 AS «ü»"),
            ("SELECT 'héllo ✓', ?1 AS «ü»".to_owned(), 1)
        );
    }

    #[test]
    fn zero_and_huge_placeholders_are_invalid() {
        for sql in [
            "SELECT $0",
            "SELECT $32767",
            "SELECT $99999999999999999999999",
        ] {
            let err = rewrite_placeholders(sql).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{sql}");
        }
        assert_eq!(rewrite("SELECT $32766").1, 32_766);
    }
}
