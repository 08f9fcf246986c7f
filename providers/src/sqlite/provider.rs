//! The SQLite provider's registration: `"provider": "sqlite"` under
//! `databases`, the embedded default for databases.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::Result;
use strata_core::registry::{
    DatabaseEntry, DatabaseProvider, OpenContext, OptionsType, ProviderOptions,
};
use strata_core::sqldb::DatabaseDriver;

use super::{SqliteDatabase, SqliteOptions};

/// The `sqlite` database's own fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteDatabaseOptions {
    /// The database file (default `.strata/<name>.db`), relative to the config
    /// file; `:memory:` keeps it in memory.
    #[serde(default)]
    pub path: Option<String>,
}

impl ProviderOptions for SqliteDatabaseOptions {}

/// SQLite files (or memory).
pub struct SqliteProvider;

#[async_trait]
impl DatabaseProvider for SqliteProvider {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<SqliteDatabaseOptions>()
    }

    async fn open_database(
        &self,
        cx: &OpenContext,
        database: DatabaseEntry<'_>,
    ) -> Result<Arc<dyn DatabaseDriver>> {
        let own: SqliteDatabaseOptions = cx.options(&database.config.options, &database.path())?;
        let mut opts = match own.path.as_deref() {
            Some(":memory:") => SqliteOptions::in_memory(),
            Some(path) => SqliteOptions::file(cx.resolve(path)),
            // The logical name is checked ([`strata_core::names`]): the file
            // stays in `.strata/`.
            None => SqliteOptions::file(cx.embedded_path(&[&format!("{}.db", database.name)])),
        };
        if let Some(n) = database.config.max_connections {
            opts.max_connections = n;
        }
        Ok(Arc::new(SqliteDatabase::open(opts).await?))
    }
}
