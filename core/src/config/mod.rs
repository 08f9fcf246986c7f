//! The infra config: one JSON file, read once at startup, that maps the logical
//! names code uses (topic `orders`, bucket `uploads`, cache `sessions`, database
//! `main`) to providers and physical resources.
//!
//! Where the file is: an explicit path, else `STRATA_CONFIG`, else
//! `./infra.config.json`; with none of them Strata runs on the embedded defaults.
//! Any string may be `{"$env": "NAME"}` so secrets stay out of the file.
//!
//! The portable fields are typed in [`InfraConfig`]; each entry's own fields
//! are read by its provider's options type, found in a
//! [`Registry`](crate::registry::Registry) that the assembly makes. A config
//! naming a provider the registry lacks is refused with the list of those it has:
//!
//! ```
//! use strata_core::config::parse_config;
//! use strata_core::registry::Registry;
//! let text = r#"{ "pubsub": { "orders": { "provider": "memory" } } }"#;
//! let err = parse_config(text, "infra.config.json", &Registry::new(), &|_| None).unwrap_err();
//! assert!(err.message().contains("unknown pubsub provider `memory`"));
//! ```

mod model;
mod parse;
mod validate;

pub use model::*;
pub use parse::parse_config;

use std::path::{Path, PathBuf};

use crate::registry::Registry;
use crate::{Error, Result};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "STRATA_CONFIG";
/// The file looked for in the working directory.
pub const DEFAULT_FILE: &str = "infra.config.json";

/// A config and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The parsed config (empty for the embedded defaults).
    pub config: InfraConfig,
    /// Relative paths in the config (folders, SQLite files, migrations) resolve here.
    pub base_dir: PathBuf,
    /// The file it was read from; `None` means no file: the embedded defaults.
    pub file: Option<PathBuf>,
}

impl LoadedConfig {
    /// Whether no file was found and any logical name gets an embedded provider.
    pub fn is_embedded_defaults(&self) -> bool {
        self.file.is_none()
    }

    /// Resolves a path from the config against [`LoadedConfig::base_dir`].
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Finds and parses the config: `explicit`, else `STRATA_CONFIG`, else
/// `./infra.config.json`, else the embedded defaults.
///
/// A named file (explicit or by `STRATA_CONFIG`) that does not exist is an
/// [`ErrorCode::InvalidConfig`](crate::ErrorCode) error, never a silent fallback.
/// So is a file that is not a regular file or is larger than
/// [`MAX_CONFIG_BYTES`].
pub fn load_config(explicit: Option<&Path>, registry: &Registry) -> Result<LoadedConfig> {
    let env_path = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
    let (path, named_by) = match (explicit, env_path) {
        (Some(p), _) => (p.to_path_buf(), Some("the path given to Infra::load")),
        (None, Some(p)) => (PathBuf::from(p), Some(CONFIG_ENV)),
        (None, None) => (PathBuf::from(DEFAULT_FILE), None),
    };
    let by = named_by.unwrap_or("the default location");
    let text = match read_capped(&path) {
        Ok(text) => text,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && named_by.is_none() => {
            return Ok(LoadedConfig {
                config: InfraConfig::default(),
                base_dir: PathBuf::from("."),
                file: None,
            });
        }
        Err(ReadError::Io(e)) => {
            return Err(Error::invalid_config(format!(
                "cannot read config file `{}` (named by {by}): {e}",
                path.display()
            ))
            .with_source(e));
        }
        Err(ReadError::Refused(why)) => {
            return Err(Error::invalid_config(format!(
                "config file `{}` (named by {by}) {why}",
                path.display()
            )));
        }
    };
    let origin = path.display().to_string();
    let config = parse_config(&text, &origin, registry, &|name| std::env::var(name).ok())?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(LoadedConfig {
        config,
        base_dir,
        file: Some(path),
    })
}

/// The largest config file read: 1 MiB. A config is a few kilobytes; the cap
/// keeps a wrong path (`/dev/zero`, a log file) from filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

enum ReadError {
    Io(std::io::Error),
    /// Not read, and why (no value from the file in it).
    Refused(String),
}

/// Reads the config file as text: a regular file (a FIFO or a device would
/// block or never end) of at most [`MAX_CONFIG_BYTES`], checked before it is
/// opened and again while reading (a file may grow).
fn read_capped(path: &Path) -> std::result::Result<String, ReadError> {
    use std::io::Read;
    let too_big = || {
        ReadError::Refused(format!(
            "is larger than {MAX_CONFIG_BYTES} bytes (1 MiB), the most a config file may be"
        ))
    };
    let not_regular = || ReadError::Refused("is not a regular file".into());
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    // Replaced between the check and the open: check what was opened.
    if !file.metadata().map_err(ReadError::Io)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Refused(format!(
            "is not UTF-8 text (invalid bytes at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The JSON Schema of a config file for the providers of `registry`,
/// composed from the portable types and each provider's options type. The
/// committed copy (`schema/infra.config.schema.json`) is that of a build with
/// every cloud.
///
/// Every string field also accepts `{"$env": "NAME"}`, so editors do not flag
/// secrets kept in the environment.
pub fn json_schema(registry: &Registry) -> serde_json::Value {
    let mut schema = registry.config_schema();
    allow_env_references(&mut schema);
    if let Some(defs) = schema.get_mut("$defs").and_then(|d| d.as_object_mut()) {
        defs.insert(
            "EnvReference".into(),
            serde_json::json!({
                "description": "The value of an environment variable, read at startup.",
                "type": "object",
                "properties": { "$env": { "type": "string", "minLength": 1 } },
                "required": ["$env"],
                "additionalProperties": false
            }),
        );
    }
    schema
}

/// Rewrites each schema whose type is a string into "that, or an `$env` reference".
fn allow_env_references(node: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Value::Object(map) = node else {
        if let Value::Array(items) = node {
            items.iter_mut().for_each(allow_env_references);
        }
        return;
    };
    let is_string = match map.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    if is_string && !map.contains_key("enum") && !map.contains_key("const") {
        let description = map.remove("description");
        let original = Value::Object(std::mem::take(map));
        map.insert(
            "anyOf".into(),
            json!([original, { "$ref": "#/$defs/EnvReference" }]),
        );
        if let Some(d) = description {
            map.insert("description".into(), d);
        }
        return;
    }
    map.values_mut().for_each(allow_env_references);
}
