//! The checks the config's own JSON Schema states, run on the parsed tree
//! before serde reads it: one place for every bound, so the loader refuses
//! what the schema refuses.
//!
//! - a value below a field's `minimum` or above its `maximum` (each declared
//!   once, as `#[schemars(range(…))]` on the field);
//! - an array where the schema expects an object: serde reads a struct from
//!   a sequence positionally (`["memory"]` would be `{"provider": "memory"}`).
//!
//! Everything else (types, unknown fields, missing fields) is left to serde,
//! whose messages name the expected type. No message repeats a value.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::options::FieldError;

/// Checks `value` against `schema`, whose `$ref`s point into `root`'s `$defs`.
/// Returns the JSON path (dotted, empty for the top) and what was expected.
pub(crate) fn conform(value: &Value, schema: &Value, root: &Value) -> Result<(), FieldError> {
    let mut path = Vec::new();
    walk(value, schema, root, &mut path, 0)
}

/// Checks `value` against the schema of the options type `T` (its own root).
pub(crate) fn conform_to<T: schemars::JsonSchema>(value: &Value) -> Result<(), FieldError> {
    let root = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    conform(value, &root, &root)
}

/// Deeper than any config schema; a `$ref` cycle stops here.
const MAX_DEPTH: usize = 64;

fn walk<'a>(
    value: &Value,
    schema: &'a Value,
    root: &'a Value,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<(), FieldError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Some(schema) = resolve(schema, root) else {
        return Ok(());
    };
    if value.is_array() && expects_object_not_array(schema, root) {
        return Err((path.join("."), "expected an object, found an array".into()));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
            // The first alternative this value can be (by type and by
            // `const` fields, e.g. `"provider": "memory"`) is checked;
            // with none, serde or the registry says what is wrong.
            if let Some(alt) = alternatives.iter().find(|alt| admits(alt, value, root)) {
                walk(value, alt, root, path, depth + 1)?;
            }
        }
    }
    match value {
        Value::Number(n) => check_range(n, schema).map_err(|msg| (path.join("."), msg)),
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, item) in fields {
                let child = properties.and_then(|p| p.get(key)).or(additional);
                if let Some(child) = child {
                    path.push(key.clone());
                    walk(item, child, root, path, depth + 1)?;
                    path.pop();
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            if let Some(child) = schema.get("items").filter(|i| i.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(item, child, root, path, depth + 1)?;
                    path.pop();
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Follows `$ref`s (`#/$defs/Name`) to the schema they name.
fn resolve<'a>(mut schema: &'a Value, root: &'a Value) -> Option<&'a Value> {
    for _ in 0..MAX_DEPTH {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return Some(schema);
        };
        let name = reference.strip_prefix("#/$defs/")?;
        schema = root.get("$defs")?.get(name)?;
    }
    None
}

/// The JSON types a schema names (`"type": "object"` or `["integer", "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `schema` (or, for `oneOf`/`anyOf`, each of its alternatives)
/// wants an object and never an array.
fn expects_object_not_array(schema: &Value, root: &Value) -> bool {
    let own = types(schema);
    if !own.is_empty() {
        return own.contains(&"object") && !own.contains(&"array");
    }
    let mut wants_object = false;
    for key in ["oneOf", "anyOf"] {
        for alt in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(alt) = resolve(alt, root) else {
                return false;
            };
            let alt_types = types(alt);
            if alt_types.contains(&"array") || (alt_types.is_empty() && !alt.is_object()) {
                return false;
            }
            wants_object |= alt_types.contains(&"object") || expects_object_not_array(alt, root);
        }
    }
    wants_object
}

/// Whether `value` can be an instance of `alt`, judged by its type and by
/// the `const` of its properties.
fn admits(alt: &Value, value: &Value, root: &Value) -> bool {
    let Some(alt) = resolve(alt, root) else {
        return false;
    };
    let alt_types = types(alt);
    if !alt_types.is_empty() && !alt_types.contains(&kind(value)) {
        let integer_as_number = kind(value) == "integer" && alt_types.contains(&"number");
        if !integer_as_number {
            return false;
        }
    }
    let consts = alt
        .get("properties")
        .and_then(Value::as_object)
        .map(Map::iter)
        .into_iter()
        .flatten()
        .filter_map(|(key, p)| p.get("const").map(|c| (key, c)));
    for (key, constant) in consts {
        if value.get(key) != Some(constant) {
            return false;
        }
    }
    true
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `minimum`/`maximum` (and their exclusive forms); the message gives the
/// bound, never the value.
fn check_range(n: &serde_json::Number, schema: &Value) -> Result<(), String> {
    let below = |bound: &Value| match (n.as_i64(), n.as_u64(), bound.as_i64()) {
        (Some(v), _, Some(b)) => v < b,
        (None, Some(_), Some(_)) => false, // above i64::MAX
        _ => n.as_f64().zip(bound.as_f64()).is_some_and(|(v, b)| v < b),
    };
    let above = |bound: &Value| match (n.as_u64(), bound.as_u64()) {
        (Some(v), Some(b)) => v > b,
        (None, Some(_)) if n.as_i64().is_some() => false, // negative
        _ => n.as_f64().zip(bound.as_f64()).is_some_and(|(v, b)| v > b),
    };
    if let Some(min) = schema.get("minimum").filter(|b| b.is_number())
        && below(min)
    {
        return Err(format!("expected at least {min}"));
    }
    if let Some(min) = schema.get("exclusiveMinimum").filter(|b| b.is_number())
        && (below(min) || n.as_f64() == min.as_f64())
    {
        return Err(format!("expected more than {min}"));
    }
    if let Some(max) = schema.get("maximum").filter(|b| b.is_number())
        && above(max)
    {
        return Err(format!("expected at most {max}"));
    }
    if let Some(max) = schema.get("exclusiveMaximum").filter(|b| b.is_number())
        && (above(max) || n.as_f64() == max.as_f64())
    {
        return Err(format!("expected less than {max}"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bounds_and_object_shapes_are_checked_with_the_path() {
        let schema = json!({
            "type": "object",
            "properties": {
                "n": { "type": ["integer", "null"], "minimum": 1, "maximum": 10 },
                "inner": { "anyOf": [{ "$ref": "#/$defs/Inner" }, { "type": "null" }] },
                "entries": { "type": "object", "additionalProperties": {
                    "type": "object",
                    "oneOf": [
                        { "type": "object", "properties": { "provider": { "const": "a" }, "k": { "type": "integer", "maximum": 5 } } },
                        { "type": "object", "properties": { "provider": { "const": "b" }, "k": { "type": "integer", "maximum": 50 } } }
                    ]
                } }
            },
            "$defs": { "Inner": { "type": "object", "properties": { "m": { "type": "integer", "minimum": 0 } } } }
        });
        let check = |v: Value| conform(&v, &schema, &schema);
        assert!(
            check(
                json!({ "n": 1, "inner": null, "entries": { "x": { "provider": "b", "k": 40 } } })
            )
            .is_ok()
        );
        assert_eq!(
            check(json!({ "n": 0 })).unwrap_err(),
            ("n".into(), "expected at least 1".into())
        );
        assert_eq!(
            check(json!({ "n": 11 })).unwrap_err().1,
            "expected at most 10"
        );
        assert_eq!(
            check(json!({ "n": u64::MAX })).unwrap_err().1,
            "expected at most 10"
        );
        assert_eq!(
            check(json!({ "n": -5 })).unwrap_err().1,
            "expected at least 1"
        );
        assert_eq!(
            check(json!({ "n": 2.5e300 })).unwrap_err().1,
            "expected at most 10"
        );
        assert_eq!(
            check(json!({ "inner": [1] })).unwrap_err(),
            ("inner".into(), "expected an object, found an array".into())
        );
        assert_eq!(
            check(json!({ "inner": { "m": -1 } })).unwrap_err().0,
            "inner.m"
        );
        assert_eq!(
            check(json!({ "entries": { "x": ["a"] } })).unwrap_err(),
            (
                "entries.x".into(),
                "expected an object, found an array".into()
            )
        );
        assert_eq!(
            check(json!({ "entries": { "x": { "provider": "a", "k": 40 } } })).unwrap_err(),
            ("entries.x.k".into(), "expected at most 5".into())
        );
        // Wrong types and unknown providers are serde's and the registry's to report.
        assert!(
            check(json!({ "n": "five", "entries": { "x": { "provider": "c", "k": 400 } } }))
                .is_ok()
        );
    }
}
