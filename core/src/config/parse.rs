//! Parsing: JSON text (a leading byte-order mark dropped) → duplicate-free
//! tree → `$env` resolved → the schema's bounds and shapes checked on the tree
//! → typed portable fields ([`InfraConfig`]) → each entry's provider and its own fields checked
//! against the registry → cross-reference checks.
//!
//! Each step's error names the JSON path (or line and column for syntax errors)
//! and what was expected, so a bad file gets one clear message.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::model::InfraConfig;
use crate::registry::{Registry, conform, serde_message};
use crate::{Error, Result};

/// Parses config text for the providers of `registry`. `origin` names the
/// file in messages; `env` looks up `{"$env": "NAME"}` references (pass
/// `|name| std::env::var(name).ok()`).
///
/// # Errors
/// `InvalidConfig` naming the file, the JSON path and what was expected. No
/// message repeats a value from the file: it may be a secret.
pub fn parse_config(
    text: &str,
    origin: &str,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<InfraConfig> {
    let fail = |path: &str, message: String| {
        let at = if path.is_empty() || path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        Error::invalid_config(format!("{origin}{at}: {message}"))
    };

    // Editors on Windows write a byte-order mark; it is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let tree = UniqueKeys::deserialize(&mut de)
        .and_then(|tree| de.end().map(|()| tree))
        .map_err(|e| fail("", format!("not valid JSON: {e}")))?
        .0;
    if !tree.is_object() {
        return Err(fail(
            "",
            format!(
                "expected a JSON object at the top, found {}",
                kind_of(&tree)
            ),
        ));
    }

    let mut path = Vec::new();
    let tree = resolve_env(tree, &mut path, env).map_err(|(path, msg)| fail(&path, msg))?;

    // What the schema states (bounds, objects never given as arrays) is
    // checked on the tree, from the schema itself, before serde reads it.
    let schema = registry.config_schema();
    conform(&tree, &schema, &schema).map_err(|(path, msg)| fail(&path, msg))?;

    let config: InfraConfig = serde_path_to_error::deserialize(tree)
        .map_err(|e| fail(&e.path().to_string(), serde_message(e.inner())))?;
    registry
        .check(&config)
        .map_err(|(path, msg)| fail(&path, msg))?;
    super::validate::validate(&config).map_err(|(path, msg)| fail(&path, msg))?;
    Ok(config)
}

/// A JSON tree that rejects duplicate object keys (serde_json keeps the last one
/// silently, which would hide a duplicated logical name).
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{key}` (each logical name may appear once)"
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

type PathError = (String, String);

fn join(path: &[String]) -> String {
    path.join(".")
}

/// Replaces every `{"$env": "NAME"}` with the variable's value.
fn resolve_env(
    value: Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, PathError> {
    match value {
        Value::Object(map) if map.contains_key("$env") => match map.get("$env") {
            Some(Value::String(name)) if map.len() == 1 => {
                env(name).map(Value::String).ok_or_else(|| {
                    (
                        join(path),
                        format!("environment variable `{name}` is not set"),
                    )
                })
            }
            Some(Value::String(_)) => Err((
                join(path),
                "an `$env` reference takes no other keys: write {\"$env\": \"NAME\"}".into(),
            )),
            other => Err((
                join(path),
                format!(
                    "`$env` expects the name of an environment variable as a string, found {}",
                    kind_of(other.unwrap_or(&Value::Null))
                ),
            )),
        },
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, item) in map {
                path.push(key.clone());
                let item = resolve_env(item, path, env)?;
                path.pop();
                out.insert(key, item);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(i.to_string());
                out.push(resolve_env(item, path, env)?);
                path.pop();
            }
            Ok(Value::Array(out))
        }
        other => Ok(other),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
