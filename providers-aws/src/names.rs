//! The name rules of SNS topics, SQS queues and S3 buckets, checked at config
//! load (and before any request) so a bad name is `InvalidConfig` naming the
//! field instead of a service error at startup. Each function returns the
//! rule broken, never the name (a misplaced value may be a secret).

/// SNS topic names: 1 to 256 letters, digits, `-` and `_`; a FIFO topic's
/// ends in `.fifo` (counted). With `ordering`, Strata appends `.fifo`. An ARN
/// is taken as is.
pub fn sns_topic_rule(name: &str, ordering: bool) -> Option<&'static str> {
    if name.starts_with("arn:") {
        return None;
    }
    let physical = with_fifo(name, ordering);
    let base = physical.strip_suffix(".fifo").unwrap_or(&physical);
    if physical.len() > 256 || base.is_empty() || !base.chars().all(plain) {
        Some(
            "not a valid SNS topic name: 1 to 256 ASCII letters, digits, `-` or `_` (a FIFO \
             topic ends in `.fifo`)",
        )
    } else {
        None
    }
}

/// SQS queue names: 1 to 80 letters, digits, `-` and `_`; a FIFO queue's
/// ends in `.fifo` (counted). On a FIFO topic Strata appends `.fifo`.
pub fn sqs_queue_rule(name: &str, fifo: bool) -> Option<&'static str> {
    let physical = with_fifo(name, fifo);
    let base = physical.strip_suffix(".fifo").unwrap_or(&physical);
    if physical.len() > 80 || base.is_empty() || !base.chars().all(plain) {
        Some(
            "not a valid SQS queue name: 1 to 80 ASCII letters, digits, `-` or `_` (with \
             `.fifo` on an ordered topic); set `name` to one",
        )
    } else {
        None
    }
}

/// S3 general purpose bucket names: 3 to 63 lowercase letters, digits, `.`
/// and `-`, starting and ending with a letter or digit, no `..`, not an IP
/// address, none of the reserved prefixes and suffixes. An ARN (an access
/// point) is taken as is.
pub fn s3_bucket_rule(name: &str) -> Option<&'static str> {
    if name.starts_with("arn:") {
        return None;
    }
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !(3..=63).contains(&name.len()) || !chars_ok || !ends_ok || name.contains("..") {
        return Some(
            "not a valid S3 bucket name: 3 to 63 lowercase letters, digits, `.` or `-`, \
             starting and ending with a letter or digit",
        );
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("not a valid S3 bucket name: it must not look like an IP address");
    }
    let reserved_prefix = ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p));
    let reserved_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .iter()
        .any(|s| name.ends_with(s));
    if reserved_prefix || reserved_suffix {
        return Some("not a valid S3 bucket name: it uses a prefix or suffix S3 reserves");
    }
    None
}

fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn with_fifo(name: &str, fifo: bool) -> String {
    if fifo && !name.ends_with(".fifo") {
        format!("{name}.fifo")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_topic_names() {
        for ok in [
            "orders",
            "a",
            "orders_dlq-2",
            "orders.fifo",
            "arn:aws:sns:x",
        ] {
            assert_eq!(sns_topic_rule(ok, false), None, "{ok}");
        }
        assert_eq!(sns_topic_rule("orders", true), None);
        assert_eq!(sns_topic_rule(&"a".repeat(256), false), None);
        // `.fifo` counts towards the 256.
        assert!(sns_topic_rule(&"a".repeat(256), true).is_some());
        for bad in ["bad name!", "", "a.b", "ö", ".fifo", "a/b"] {
            assert!(sns_topic_rule(bad, false).is_some(), "{bad}");
        }
    }

    #[test]
    fn sqs_queue_names() {
        assert_eq!(sqs_queue_rule("orders-email", false), None);
        assert_eq!(sqs_queue_rule(&"q".repeat(80), false), None);
        assert!(sqs_queue_rule(&"q".repeat(80), true).is_some());
        assert!(sqs_queue_rule(&"q".repeat(81), false).is_some());
        for bad in ["orders.v2-email", "a b", "", "x!"] {
            assert!(sqs_queue_rule(bad, false).is_some(), "{bad}");
        }
    }

    #[test]
    fn s3_bucket_names() {
        for ok in [
            "uploads",
            "my.bucket-1",
            "abc",
            "arn:aws:s3:eu:1:accesspoint/x",
        ] {
            assert_eq!(s3_bucket_rule(ok), None, "{ok}");
        }
        for bad in [
            "UPPER_case!!",
            "ab",
            &"a".repeat(64),
            "-start",
            "end-",
            "a..b",
            "under_score",
            "192.168.1.1",
            "xn--punycode",
            "data-s3alias",
            "b--ol-s3",
        ] {
            assert!(s3_bucket_rule(bad).is_some(), "{bad}");
        }
    }
}
