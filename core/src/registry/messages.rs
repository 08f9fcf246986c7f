//! Config error text that never repeats a value: a value in the wrong place may
//! be a secret (a password given as a number, a key given as a string).

/// serde's message for `err` with the offending value left out:
/// ``invalid type: integer `918273645546372`, expected a string`` becomes
/// `invalid type: integer, expected a string`. Field names stay.
pub(crate) fn serde_message(err: &impl std::fmt::Display) -> String {
    scrub_value(&err.to_string())
}

fn scrub_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some(at) = rest.rfind(", expected") else {
            return format!("{}(value not shown)", prefix);
        };
        let (shown, expected) = rest.split_at(at);
        let kind = shown.split(['`', '"']).next().unwrap_or("").trim_end();
        let kind = if kind.is_empty() {
            "(value not shown)"
        } else {
            kind
        };
        return format!("{prefix}{kind}{expected}");
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::scrub_value;

    #[test]
    fn values_are_left_out_of_type_errors() {
        let cases = [
            (
                "invalid type: integer `918273645546372`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                "invalid type: string \"AKIA-secret, expected\", expected struct Credentials",
                "invalid type: string, expected struct Credentials",
            ),
            (
                "invalid value: string \"hunter2\", expected a URL",
                "invalid value: string, expected a URL",
            ),
            (
                "unknown variant `s3cr3t`, expected one of `a`, `b`",
                "unknown variant (value not shown), expected one of `a`, `b`",
            ),
            (
                "invalid type: floating point `1.5`, expected u32",
                "invalid type: floating point, expected u32",
            ),
            (
                "invalid type: map, expected a string",
                "invalid type: map, expected a string",
            ),
            (
                "unknown field `passwrd`, expected one of `url`",
                "unknown field `passwrd`, expected one of `url`",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub_value(input), want);
        }
    }
}
