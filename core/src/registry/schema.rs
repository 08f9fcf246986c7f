//! The JSON Schema of the config file for what this build registered: each
//! block entry is one of its providers' shapes (the portable fields, the
//! provider's own fields, `"provider": NAME`), each cloud account its own type.

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::{Block, OptionsType, Registry};
use crate::config::{BucketConfig, CacheConfig, DatabaseConfig, TopicConfig};

impl Registry {
    /// The schema of a config file this build accepts (before `$env`
    /// references are allowed in string fields).
    pub(crate) fn config_schema(&self) -> Value {
        let mut generator = SchemaSettings::draft2020_12().into_generator();
        let mut properties = Map::new();
        properties.insert(
            "$schema".into(),
            json!({ "description": "Editors use this to find the schema; Strata ignores it.", "type": "string" }),
        );
        let mut clouds = Map::new();
        for cloud in &self.clouds {
            let mut schema = object_of(cloud.options.schema(&mut generator));
            schema.insert("description".into(), cloud.description.into());
            clouds.insert(cloud.name.into(), Value::Object(schema));
        }
        properties.insert(
            "providers".into(),
            json!({
                "description": "Account-level settings per cloud, shared by every resource on that cloud.",
                "type": "object",
                "properties": clouds,
                "additionalProperties": false
            }),
        );
        for block in Block::ALL {
            let portable = portable_schema(block, &mut generator);
            let shapes: Vec<Value> = self
                .names(block)
                .into_iter()
                .filter_map(|name| {
                    let options = self.options_of(block, name)?;
                    Some(entry_schema(&portable, name, options, &mut generator))
                })
                .collect();
            properties.insert(
                block.key().into(),
                json!({
                    "description": block_description(block),
                    "type": "object",
                    "additionalProperties": { "type": "object", "oneOf": shapes }
                }),
            );
        }
        let definitions = generator.take_definitions(true);
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Strata infra config",
            "description": "The whole infra config file.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false
        });
        if !definitions.is_empty()
            && let Some(map) = root.as_object_mut()
        {
            map.insert("$defs".into(), Value::Object(definitions));
        }
        root
    }
}

fn block_description(block: Block) -> &'static str {
    match block {
        Block::PubSub => "Topics by logical name.",
        Block::Objects => "Buckets by logical name.",
        Block::Caches => "Cache keyspaces by logical name.",
        Block::Databases => "SQL databases by logical name.",
    }
}

/// The portable fields' schema of an entry of `block`.
fn portable_schema(block: Block, generator: &mut SchemaGenerator) -> Map<String, Value> {
    let schema = match block {
        Block::PubSub => TopicConfig::json_schema(generator),
        Block::Objects => BucketConfig::json_schema(generator),
        Block::Caches => CacheConfig::json_schema(generator),
        Block::Databases => DatabaseConfig::json_schema(generator),
    };
    object_of(schema)
}

/// One provider's shape: the portable fields, its own, and its name.
fn entry_schema(
    portable: &Map<String, Value>,
    provider: &str,
    options: OptionsType,
    generator: &mut SchemaGenerator,
) -> Value {
    let own = object_of(options.schema(generator));
    let mut properties = field(portable, "properties");
    let description = properties
        .get("provider")
        .and_then(|p| p.get("description"))
        .cloned()
        .unwrap_or_else(|| "The provider.".into());
    properties.insert(
        "provider".into(),
        json!({ "description": description, "const": provider }),
    );
    properties.extend(field(&own, "properties"));
    let mut required = vec![Value::from("provider")];
    for list in [portable.get("required"), own.get("required")] {
        for name in list.and_then(Value::as_array).into_iter().flatten() {
            if !required.contains(name) {
                required.push(name.clone());
            }
        }
    }
    let mut shape = json!({
        "title": provider,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    });
    if let (Some(description), Some(map)) = (own.get("description"), shape.as_object_mut()) {
        map.insert("description".into(), description.clone());
    }
    shape
}

fn object_of(schema: Schema) -> Map<String, Value> {
    match schema.to_value() {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn field(map: &Map<String, Value>, key: &str) -> Map<String, Value> {
    map.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
