//! Migration cases of the database conformance suite.

use std::path::{Path, PathBuf};

use super::{DatabaseHarness, assert_code, count, text};
use crate::ErrorCode;

/// A temporary migrations folder, removed on drop.
struct MigrationsDir(PathBuf);

impl MigrationsDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "strata-migrations-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn write(&self, name: &str, sql: &str) {
        std::fs::write(self.0.join(name), sql).unwrap();
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for MigrationsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CREATE_USERS: &str = "-- users\n\
    CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);\n\
    CREATE INDEX users_email ON users (email);\n";

/// Migrations apply in name order once; running again applies nothing.
pub async fn migrations_apply_once_then_are_idempotent(h: &impl DatabaseHarness) {
    let db = h.database().await;
    let dir = MigrationsDir::new();
    dir.write(
        "0002_seed.sql",
        "INSERT INTO users (id, email) VALUES (1, 'a@example.com');",
    );
    dir.write("0001_create_users.sql", CREATE_USERS);
    dir.write("README.md", "not a migration");

    let report = db.migrate(dir.path()).await.unwrap();
    assert_eq!(report.applied, ["0001_create_users.sql", "0002_seed.sql"]);
    assert_eq!(report.already_applied, 0);
    assert_eq!(count(&db, "users").await, 1);

    let again = db.migrate(dir.path()).await.unwrap();
    assert!(
        again.applied.is_empty(),
        "second run applied {:?}",
        again.applied
    );
    assert_eq!(again.already_applied, 2);
    assert_eq!(count(&db, "users").await, 1, "the seed ran once");

    dir.write(
        "0003_more.sql",
        "INSERT INTO users (id, email) VALUES (2, 'b@example.com');",
    );
    let third = db.migrate(dir.path()).await.unwrap();
    assert_eq!(third.applied, ["0003_more.sql"]);
    assert_eq!(third.already_applied, 2);
    assert_eq!(count(&db, crate::sqldb::MIGRATIONS_TABLE).await, 3);
    let rows = db
        .query("SELECT name FROM strata_migrations ORDER BY name", &[])
        .await
        .unwrap();
    let names: Vec<_> = rows.iter().filter_map(|r| r.get("name")).collect();
    assert_eq!(
        names,
        [
            &text("0001_create_users.sql"),
            &text("0002_seed.sql"),
            &text("0003_more.sql")
        ]
    );
}

/// A migration edited after it ran stops the run, naming the file.
pub async fn changed_migration_is_rejected(h: &impl DatabaseHarness) {
    let db = h.database().await;
    let dir = MigrationsDir::new();
    dir.write("0001_create_users.sql", CREATE_USERS);
    db.migrate(dir.path()).await.unwrap();

    dir.write(
        "0001_create_users.sql",
        &format!("{CREATE_USERS}\n-- edited"),
    );
    dir.write(
        "0002_seed.sql",
        "INSERT INTO users (id, email) VALUES (1, 'a@example.com');",
    );
    let err = assert_code(
        db.migrate(dir.path()).await,
        ErrorCode::InvalidArgument,
        "migrate with an edited file",
    );
    assert!(
        err.message().contains("0001_create_users.sql"),
        "error names the file: {err}"
    );
    assert_eq!(
        count(&db, "users").await,
        0,
        "nothing ran after the changed file"
    );

    // Line endings alone are not a change.
    dir.write("0001_create_users.sql", &CREATE_USERS.replace('\n', "\r\n"));
    let report = db.migrate(dir.path()).await.unwrap();
    assert_eq!(report.applied, ["0002_seed.sql"]);
}

/// A failing migration leaves nothing behind and the error names it.
pub async fn failing_migration_rolls_back_and_names_the_file(h: &impl DatabaseHarness) {
    let db = h.database().await;
    let dir = MigrationsDir::new();
    dir.write("0001_create_users.sql", CREATE_USERS);
    dir.write(
        "0002_broken.sql",
        "CREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    );
    let err = db
        .migrate(dir.path())
        .await
        .expect_err("a broken migration succeeded");
    assert!(
        err.message().contains("0002_broken.sql"),
        "error names the file: {err}"
    );
    assert_eq!(
        err.code(),
        ErrorCode::InvalidArgument,
        "the SQL error's code is kept: {err}"
    );
    assert_eq!(
        count(&db, "strata_migrations").await,
        1,
        "only 0001 is recorded"
    );
    // `half` was rolled back with its file, so it can be created again.
    db.execute("CREATE TABLE half (id INTEGER)", &[])
        .await
        .unwrap();
    db.execute("DROP TABLE half", &[]).await.unwrap();

    dir.write("0002_broken.sql", "CREATE TABLE half (id INTEGER);");
    let report = db.migrate(dir.path()).await.unwrap();
    assert_eq!(
        report.applied,
        ["0002_broken.sql"],
        "the fixed file applies"
    );
    assert_eq!(report.already_applied, 1);
}
