//! Attributes a provider's wire refuses, carried as one JSON object: a wire
//! helper for providers.
//!
//! SNS/SQS attribute names and NATS header names and values each have rules
//! a Strata attribute (any name, any value) may break. A provider sends the
//! attributes its wire accepts as they are, readable by any other client,
//! and the rest as one JSON object `{name: value}` in a place of its own
//! (SNS/SQS: field `a` of the reserved `strata` attribute; NATS: the
//! `Strata-Attributes` header). JSON escapes control characters and line
//! breaks, so the object is valid wherever a string with non-ASCII text is.
//! On delivery the provider puts them back with [`restore`].
//!
//! ```
//! use strata_core::pubsub::Attributes;
//! use strata_core::pubsub::carried::{restore, split};
//! let attrs = [("plain".to_owned(), "v".to_owned()), ("clé".to_owned(), "w".to_owned())];
//! let (native, carried) = split(attrs, |name, _| name.is_ascii());
//! assert_eq!(native, [("plain".to_owned(), "v".to_owned())]);
//! let mut got: Attributes = native.into_iter().collect();
//! restore(&mut got, &serde_json::Value::Object(carried));
//! assert_eq!(got["clé"], "w");
//! ```

use serde_json::{Map, Value};

use super::Attributes;

/// Splits `attributes` into those the wire accepts (`accepts(name, value)`),
/// in order, and the others as a JSON object (empty when there are none).
pub fn split(
    attributes: impl IntoIterator<Item = (String, String)>,
    accepts: impl Fn(&str, &str) -> bool,
) -> (Vec<(String, String)>, Map<String, Value>) {
    let mut native = Vec::new();
    let mut carried = Map::new();
    for (name, value) in attributes {
        if accepts(&name, &value) {
            native.push((name, value));
        } else {
            carried.insert(name, Value::String(value));
        }
    }
    (native, carried)
}

/// Puts carried attributes back into `attributes`: every string member of
/// `carried` when it is an object; anything else is ignored (a message from
/// another client may have put anything there).
pub fn restore(attributes: &mut Attributes, carried: &Value) {
    if let Value::Object(carried) = carried {
        for (name, value) in carried {
            if let Some(value) = value.as_str() {
                attributes.insert(name.clone(), value.to_owned());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refused_attributes_travel_as_json_and_come_back() {
        let sent: Attributes = [("ok", "1"), ("a:b", "2"), ("line", "x\ny"), ("日本", "語")]
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let (native, carried) = split(sent.clone(), |n, v| {
            n.is_ascii() && !n.contains(':') && !v.contains('\n')
        });
        assert_eq!(native, [("ok".to_owned(), "1".to_owned())]);
        let json = Value::Object(carried).to_string();
        assert!(!json.contains('\n'), "{json}");
        let mut got: Attributes = native.into_iter().collect();
        restore(&mut got, &serde_json::from_str(&json).unwrap());
        assert_eq!(got, sent);
    }

    #[test]
    fn what_is_not_an_object_of_strings_is_ignored() {
        let mut got = Attributes::new();
        restore(&mut got, &Value::String("x".into()));
        restore(&mut got, &serde_json::json!({"n": 1, "s": "v"}));
        assert_eq!(got.len(), 1);
        assert_eq!(got["s"], "v");
    }
}
