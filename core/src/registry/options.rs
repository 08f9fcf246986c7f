//! A provider's own config type: how the parser checks it, how the schema
//! shows it, and how the provider reads it back when it opens a resource.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Registry;
use crate::{Error, Result};

/// A field path (relative to the options' object) and what is wrong there.
pub type FieldError = (String, String);

/// The config type of one provider or cloud account.
///
/// Implement it for a `serde` + `schemars` struct with
/// `#[serde(deny_unknown_fields)]`; [`ProviderOptions::check`] adds the
/// checks that span fields. A type error or an unknown field is reported by
/// the parser with the file and the JSON path.
pub trait ProviderOptions: DeserializeOwned + JsonSchema + 'static {
    /// Checks that span fields, done at config load before anything opens.
    /// `registry` is the build's, for options that name other registered
    /// things (a database's auth method).
    ///
    /// # Errors
    /// The field (relative path, e.g. `url`) and what it expects.
    fn check(&self, registry: &Registry) -> std::result::Result<(), FieldError> {
        let _ = registry;
        Ok(())
    }
}

/// The options of a provider that has none: any field is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

impl ProviderOptions for NoOptions {}

/// A provider's options type, erased: its checks and its schema.
#[derive(Clone, Copy)]
pub struct OptionsType {
    check: fn(&RawOptions, &Registry) -> std::result::Result<(), FieldError>,
    schema: fn(&mut SchemaGenerator) -> Schema,
}

impl OptionsType {
    /// The options type `T`.
    pub fn of<T: ProviderOptions>() -> Self {
        Self {
            check: |raw, registry| {
                raw.decode::<T>()
                    .and_then(|options| options.check(registry))
            },
            schema: T::json_schema,
        }
    }

    /// Parses and checks `raw` as this type.
    pub(crate) fn check(
        &self,
        raw: &RawOptions,
        registry: &Registry,
    ) -> std::result::Result<(), FieldError> {
        (self.check)(raw, registry)
    }

    /// The object schema of this type (its `properties` and `required`).
    pub(crate) fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.schema)(generator)
    }
}

impl fmt::Debug for OptionsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OptionsType")
    }
}

/// The fields of a config entry that belong to its provider (everything but
/// the portable fields), kept as JSON until the provider reads them with its
/// own type. `$env` references are already resolved.
///
/// `Debug` shows the field names only: values may be secrets.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawOptions(Map<String, Value>);

impl RawOptions {
    /// Options from a JSON object.
    pub fn new(fields: Map<String, Value>) -> Self {
        Self(fields)
    }

    /// Whether there are no provider fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Reads the fields as `T`; errors carry the field path. For a
    /// provider's [`PubSubProvider::check_names`](super::PubSubProvider::check_names),
    /// whose rules may depend on its options; when opening, use
    /// [`OpenContext::options`](super::OpenContext::options), which names the file.
    pub fn decode<T: ProviderOptions>(&self) -> std::result::Result<T, FieldError> {
        let value = Value::Object(self.0.clone());
        super::conform::conform_to::<T>(&value)?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            (path, super::messages::serde_message(e.inner()))
        })
    }

    /// Reads the fields as the provider's options type `T`. `at` is the
    /// entry's JSON path (`caches.sessions`), for the message.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field; the parser has checked the same
    /// fields already, so this fails only for a config built in code.
    pub fn parse<T: ProviderOptions>(&self, at: &str, registry: &Registry) -> Result<T> {
        let options = self
            .decode::<T>()
            .and_then(|o| o.check(registry).map(|()| o))
            .map_err(|(field, message)| {
                Error::invalid_config(format!("at `{}`: {message}", join_path(at, &field)))
            })?;
        Ok(options)
    }
}

impl fmt::Debug for RawOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// `a.b` + `c` → `a.b.c`; either side may be empty.
pub(crate) fn join_path(base: &str, field: &str) -> String {
    match (base.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}.{field}"),
    }
}
