//! Migrations from a folder of `.sql` files, recorded in `strata_migrations`.
//!
//! Files run in name order (name them `0001_create_users.sql`,
//! `0002_add_email.sql`, …). Each pending file runs in its own transaction
//! together with the row that records it, so a failing file leaves nothing
//! behind. A file that changed after it was applied stops the run: migrations
//! are history, and a changed one is a new migration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::checksum::sha256_hex;
use super::timestamp::{now_micros, timestamp_to_rfc3339};
use super::{Database, SqlValue};
use crate::{Error, Result};

/// The table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = "strata_migrations";

// Portable DDL: TEXT columns work the same on PostgreSQL and SQLite.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS strata_migrations (\
     name TEXT PRIMARY KEY, \
     checksum TEXT NOT NULL, \
     applied_at TEXT NOT NULL)";

/// What a [`Database::migrate`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Files applied by this run, in order.
    pub applied: Vec<String>,
    /// Files found already applied (unchanged).
    pub already_applied: usize,
}

/// One `.sql` file of the migrations folder.
struct MigrationFile {
    name: String,
    sql: String,
    checksum: String,
}

impl Database {
    /// Applies the pending `*.sql` files of `dir`, in name order, and records
    /// each in the `strata_migrations` table (created if missing). Running it
    /// again applies nothing.
    ///
    /// Errors: `dir` is not a folder → `InvalidArgument` naming it; the folder
    /// or a file cannot be read → the I/O error's code; a file is not UTF-8, or an applied file's content changed since →
    /// `InvalidArgument` naming the file; a failing file → its SQL error's code,
    /// with a message naming the file (that file is rolled back, earlier ones
    /// stay applied).
    ///
    /// Line endings do not count towards the checksum, so a checkout that turns
    /// `\n` into `\r\n` is not a change. A file must not contain its own
    /// `BEGIN`/`COMMIT`: it already runs inside a transaction.
    pub async fn migrate(&self, dir: &Path) -> Result<MigrationReport> {
        let files = read_migrations(dir).await?;
        self.execute(CREATE_TABLE, &[]).await?;
        let applied = self.applied_checksums().await?;

        // Check every applied file before running anything new, so a changed
        // file stops the run before it makes the history worse.
        let mut report = MigrationReport::default();
        let mut pending = Vec::new();
        for file in files {
            match applied.get(&file.name) {
                Some(recorded) if *recorded == file.checksum => report.already_applied += 1,
                Some(recorded) => {
                    return Err(Error::invalid_argument(format!(
                        "migration `{}` changed after it was applied (recorded checksum {recorded}, \
                         file now has {}); restore the file and put the change in a new migration",
                        file.name, file.checksum
                    )));
                }
                None => pending.push(file),
            }
        }

        for file in pending {
            if self.apply(&file).await? {
                report.applied.push(file.name);
            } else {
                report.already_applied += 1;
            }
        }
        Ok(report)
    }

    async fn applied_checksums(&self) -> Result<HashMap<String, String>> {
        let rows = self
            .query("SELECT name, checksum FROM strata_migrations", &[])
            .await?;
        let mut applied = HashMap::with_capacity(rows.len());
        for row in rows {
            match (row.get("name"), row.get("checksum")) {
                (Some(SqlValue::Text(name)), Some(SqlValue::Text(checksum))) => {
                    applied.insert(name.clone(), checksum.clone());
                }
                other => {
                    return Err(Error::internal(format!(
                        "unexpected row in {MIGRATIONS_TABLE}: {other:?}"
                    )));
                }
            }
        }
        Ok(applied)
    }

    /// Runs one file and records it, atomically. Returns `false` when another
    /// process applied it meanwhile (the same checksum is already recorded).
    async fn apply(&self, file: &MigrationFile) -> Result<bool> {
        let named = |err: Error| {
            let message = format!("migration `{}` failed: {}", file.name, err.message());
            Error::new(err.code(), message).with_source(err)
        };
        let mut tx = self.begin().await.map_err(named)?;
        let recorded = tx
            .query_one(
                "SELECT checksum FROM strata_migrations WHERE name = $1",
                &[SqlValue::Text(file.name.clone())],
            )
            .await
            .map_err(named)?;
        if let Some(row) = recorded {
            drop(tx);
            return match row.get("checksum") {
                Some(SqlValue::Text(c)) if *c == file.checksum => Ok(false),
                _ => Err(Error::invalid_argument(format!(
                    "migration `{}` was applied concurrently with different content",
                    file.name
                ))),
            };
        }
        // Errors roll back by dropping `tx`.
        tx.execute_script(&file.sql).await.map_err(named)?;
        tx.execute(
            "INSERT INTO strata_migrations (name, checksum, applied_at) VALUES ($1, $2, $3)",
            &[
                SqlValue::Text(file.name.clone()),
                SqlValue::Text(file.checksum.clone()),
                SqlValue::Text(timestamp_to_rfc3339(now_micros())),
            ],
        )
        .await
        .map_err(named)?;
        tx.commit().await.map_err(named)?;
        tracing::info!(database = %self.name(), migration = %file.name, "applied migration");
        Ok(true)
    }
}

/// The `*.sql` files of `dir`, sorted by name.
async fn read_migrations(dir: &Path) -> Result<Vec<MigrationFile>> {
    let io_err = |path: &Path, err: std::io::Error| {
        let err = Error::from(err);
        let message = format!(
            "cannot read migrations at {}: {}",
            path.display(),
            err.message()
        );
        Error::new(err.code(), message).with_source(err)
    };
    let metadata = tokio::fs::metadata(dir).await.map_err(|e| io_err(dir, e))?;
    if !metadata.is_dir() {
        return Err(Error::invalid_argument(format!(
            "migrations must be a folder of .sql files; {} is not a folder",
            dir.display()
        )));
    }
    let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| io_err(dir, e))?;
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(|e| io_err(dir, e))? {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "sql") {
            continue;
        }
        let file_type = entry.file_type().await.map_err(|e| io_err(&path, e))?;
        if file_type.is_dir() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(Error::invalid_argument(format!(
                "migration file name {} is not UTF-8",
                path.display()
            )));
        };
        paths.push((name.to_owned(), path));
    }
    paths.sort();

    let mut files = Vec::with_capacity(paths.len());
    for (name, path) in paths {
        let bytes = tokio::fs::read(&path).await.map_err(|e| io_err(&path, e))?;
        let sql = String::from_utf8(bytes)
            .map_err(|_| Error::invalid_argument(format!("migration `{name}` is not UTF-8")))?;
        let checksum = sha256_hex(sql.replace("\r\n", "\n").as_bytes());
        files.push(MigrationFile {
            name,
            sql,
            checksum,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[tokio::test]
    async fn a_file_instead_of_a_folder_is_an_invalid_argument_naming_it() {
        let file = std::env::temp_dir().join(format!(
            "strata-migrations-file-{}-{:016x}.sql",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::write(&file, "CREATE TABLE t (id INTEGER);").unwrap();
        let result = read_migrations(&file).await;
        let _ = std::fs::remove_file(&file);
        let Err(err) = result else {
            panic!("a file was read as a migrations folder");
        };
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(err.message().contains(&file.display().to_string()), "{err}");
        assert!(err.message().contains("must be a folder"), "{err}");
    }
}
