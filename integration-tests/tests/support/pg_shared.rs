//! The PostgreSQL server shared by the tests (127.0.0.1:5432 by default) and
//! fresh, private databases on it, so tests run in parallel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::sqldb::Database;
use strata_core::testkit::sqldb::DatabaseHarness;
use strata_providers::postgres::{PostgresDatabase, PostgresOptions};

/// The admin URL: `STRATA_TEST_POSTGRES_URL`, else the local server.
pub fn admin_url() -> String {
    std::env::var("STRATA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` pointing at `database` instead.
pub fn url_for(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{server}/{database}{query}")
}

const HOW_TO_START: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect \
     $(ls /etc/postgresql) main start` (or point STRATA_TEST_POSTGRES_URL at a server)";

/// Connects to the admin database, failing loudly when the server is down.
pub async fn admin() -> Database {
    let url = admin_url();
    let mut options = PostgresOptions::new(url.clone());
    options.max_connections = 2;
    options.connect_timeout = Duration::from_secs(10);
    match PostgresDatabase::connect(options).await {
        Ok(driver) => Database::new("admin", Arc::new(driver)),
        Err(err) => panic!(
            "the test PostgreSQL at {} is not reachable ({err}); {HOW_TO_START}",
            strata_providers::postgres::redact_url(&url)
        ),
    }
}

/// Makes a fresh database per call (`strata_t_<random>`) and drops them all
/// when dropped, even when a test panicked.
pub struct FreshDatabases {
    admin: Database,
    created: Mutex<Vec<String>>,
}

impl FreshDatabases {
    pub async fn new() -> Self {
        Self {
            admin: admin().await,
            created: Mutex::new(Vec::new()),
        }
    }

    /// A new empty database's name and URL.
    pub async fn create(&self) -> (String, String) {
        let name = format!("strata_t_{:016x}", fastrand::u64(..));
        self.admin
            .execute(&format!("CREATE DATABASE {name}"), &[])
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.created.lock().unwrap().push(name.clone());
        let url = url_for(&admin_url(), &name);
        (name, url)
    }

    /// A new empty database, connected with `options` (their URL replaced).
    pub async fn database_with(&self, options: PostgresOptions) -> Database {
        let (name, url) = self.create().await;
        let driver = PostgresDatabase::connect(PostgresOptions { url, ..options })
            .await
            .unwrap_or_else(|e| panic!("connecting to {name}: {e}"));
        Database::new(name, Arc::new(driver))
    }
}

#[async_trait]
impl DatabaseHarness for FreshDatabases {
    async fn database(&self) -> Database {
        self.database_with(PostgresOptions::new(String::new()))
            .await
    }
}

impl Drop for FreshDatabases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // drop the databases from a thread with a runtime of its own.
        let url = admin_url();
        let dropping = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let options = PostgresOptions::new(url);
                let Ok(driver) = PostgresDatabase::connect(options).await else {
                    return;
                };
                let admin = Database::new("admin", Arc::new(driver));
                for name in names {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let dropped =
                        tokio::time::timeout(Duration::from_secs(30), admin.execute(&sql, &[]))
                            .await;
                    if !matches!(dropped, Ok(Ok(_))) {
                        eprintln!("could not drop test database {name}: {dropped:?}");
                    }
                }
                admin.close().await;
            });
        });
        let _ = dropping.join();
    }
}
