//! A private PostgreSQL server started by Strata with `initdb` / `pg_ctl`, so
//! SQL written for PostgreSQL runs unchanged on a developer's machine without
//! Docker.
//!
//! The cluster lives in a folder of its own (`<dir>/data`, log in
//! `<dir>/postgres.log`), listens on 127.0.0.1 only, on a free port chosen at
//! each start, without a Unix socket (so long project paths do not matter),
//! and is stopped by [`LocalPostgres::stop`] or, failing that, when dropped.
//! Its data stays in the folder between runs.
//!
//! PostgreSQL refuses to run as root: when Strata runs as root the server
//! runs as the `postgres` user (through `runuser`), and the folder is handed
//! to that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use strata_core::sqldb::{DatabaseCapabilities, DatabaseDriver, Row, SqlValue, TransactionDriver};
use strata_core::{Error, Result};

use super::{PostgresDatabase, PostgresOptions};

/// The superuser `initdb` creates.
const SUPERUSER: &str = "postgres";
/// How long `pg_ctl` waits for the server to start or stop.
const PG_CTL_WAIT_SECS: u32 = 60;

/// How to run a private PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPostgresOptions {
    /// The cluster's folder (created if missing), e.g. `.strata/postgres/main`.
    pub dir: PathBuf,
    /// The folder of `initdb`, `pg_ctl` and `postgres`; `None` searches
    /// `PATH`, then the usual install places (see [`find_postgres_bin_dir`]).
    pub bin_dir: Option<PathBuf>,
    /// The superuser's password; `None` trusts every local connection (the
    /// server listens on 127.0.0.1 only).
    pub password: Option<String>,
    /// Extra server settings (`name`, `value`), e.g. `("ssl", "on")`.
    pub settings: Vec<(String, String)>,
}

impl LocalPostgresOptions {
    /// A trusted cluster in `dir`, with binaries found automatically.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            bin_dir: None,
            password: None,
            settings: Vec::new(),
        }
    }

    /// The cluster of the config's database `name`: `.strata/postgres/<name>`
    /// under `base_dir` (the config file's folder).
    pub fn for_database(base_dir: &Path, name: &str) -> Self {
        Self::new(base_dir.join(".strata").join("postgres").join(name))
    }
}

/// A running private PostgreSQL server. Dropping it stops the server
/// (immediately); prefer [`stop`](Self::stop), which shuts down cleanly.
pub struct LocalPostgres {
    dir: PathBuf,
    bin_dir: PathBuf,
    password: Option<String>,
    settings: Vec<(String, String)>,
    port: u16,
    /// `Some("postgres")` when running as root.
    run_as: Option<&'static str>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPostgres")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("stopped", &self.stopped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The environment variable naming the folder of `initdb` and `pg_ctl`
/// explicitly (only that folder is then searched).
pub const POSTGRES_BIN_DIR_ENV: &str = "STRATA_POSTGRES_BIN_DIR";

/// The folder holding `initdb` and `pg_ctl`: the one named by
/// `STRATA_POSTGRES_BIN_DIR` if set; else from `PATH`, else the newest
/// of `/usr/lib/postgresql/*/bin` (Debian, Ubuntu), `/usr/pgsql-*/bin`
/// (RHEL), `/opt/homebrew/bin`, `/usr/local/bin` and `/usr/local/pgsql/bin`.
///
/// Errors: `NotFound` saying which binaries are missing, where they were
/// looked for, and how to install them.
pub fn find_postgres_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(POSTGRES_BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return if has_server_tools(&dir) {
            Ok(dir)
        } else {
            Err(Error::not_found(format!(
                "PostgreSQL's server binaries (initdb, pg_ctl) are not in {} \
                 ({POSTGRES_BIN_DIR_ENV}); point it at the folder that holds them, or unset it",
                dir.display()
            )))
        };
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut versioned = Vec::new();
    for (parent, prefix, suffix) in [
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
    ] {
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(version) = name.strip_prefix(prefix)
                    && let Ok(major) = version.split('.').next().unwrap_or_default().parse::<u32>()
                {
                    versioned.push((major, entry.path().join(suffix)));
                }
            }
        }
    }
    versioned.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    candidates.extend(versioned.into_iter().map(|(_, dir)| dir));
    candidates.extend(
        [
            "/opt/homebrew/bin",
            "/usr/local/bin",
            "/usr/local/pgsql/bin",
        ]
        .into_iter()
        .map(PathBuf::from),
    );
    candidates
        .into_iter()
        .find(|dir| has_server_tools(dir))
        .ok_or_else(|| {
            Error::not_found(
                "PostgreSQL's server binaries (initdb, pg_ctl) were not found on PATH, in \
             /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, /opt/homebrew/bin or /usr/local/bin; \
             install them (Debian/Ubuntu: `apt-get install postgresql`, macOS: \
             `brew install postgresql`) or name their folder in STRATA_POSTGRES_BIN_DIR",
            )
        })
}

fn has_server_tools(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

impl LocalPostgres {
    /// Creates the cluster if its folder has none (`initdb`), then starts it
    /// on a free 127.0.0.1 port and waits until it accepts connections.
    ///
    /// Errors: `NotFound` when the binaries are missing; `Unavailable` when
    /// `initdb` or `pg_ctl` fails (the message carries their output and the
    /// log's path).
    pub async fn start(options: LocalPostgresOptions) -> Result<LocalPostgres> {
        let bin_dir = match options.bin_dir {
            Some(dir) if has_server_tools(&dir) => dir,
            Some(dir) => {
                return Err(Error::not_found(format!(
                    "PostgreSQL's server binaries (initdb, pg_ctl) are not in {}",
                    dir.display()
                )));
            }
            None => find_postgres_bin_dir()?,
        };
        let dir = std::path::absolute(&options.dir).map_err(|e| {
            Error::from(e).with_context(format!("cannot resolve {}", options.dir.display()))
        })?;
        let server = LocalPostgres {
            dir,
            bin_dir,
            password: options.password,
            settings: options.settings,
            port: 0,
            run_as: running_as_root().then_some(SUPERUSER),
            stopped: AtomicBool::new(true),
        };
        blocking(move || {
            let mut server = server;
            server.init()?;
            server.port = free_port()?;
            server.pg_ctl_start()?;
            server.stopped.store(false, Ordering::Release);
            Ok(server)
        })
        .await
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A URL for `database` as the superuser (with the password when the
    /// cluster has one).
    pub fn url(&self, database: &str) -> String {
        let auth = match &self.password {
            Some(pw) => format!(
                "{SUPERUSER}:{}",
                percent_encoding::utf8_percent_encode(pw, percent_encoding::NON_ALPHANUMERIC)
            ),
            None => SUPERUSER.to_owned(),
        };
        format!("postgres://{auth}@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast shutdown: open sessions are ended). Idempotent.
    pub async fn stop(&self) -> Result<()> {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let args = self.pg_ctl_args("stop");
        let (command, run_as) = (self.bin_dir.join("pg_ctl"), self.run_as);
        blocking(move || run(&command, &args, run_as).map(|_| ())).await
    }

    /// Restarts the server on the same port (fast shutdown: open sessions
    /// are ended, as in a failover).
    pub async fn restart(&self) -> Result<()> {
        let args = self.pg_ctl_args("restart");
        let (command, run_as) = (self.bin_dir.join("pg_ctl"), self.run_as);
        blocking(move || run(&command, &args, run_as).map(|_| ())).await
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// `initdb` unless the data folder already holds a cluster.
    fn init(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            Error::from(e).with_context(format!("cannot create {}", self.dir.display()))
        })?;
        if let Some(user) = self.run_as {
            run(
                Path::new("chown"),
                &[user.into(), self.dir.display().to_string()],
                None,
            )?;
        }
        if self.data_dir().join("PG_VERSION").is_file() {
            return Ok(());
        }
        let mut args = vec![
            "-D".to_owned(),
            self.data_dir().display().to_string(),
            "-U".to_owned(),
            SUPERUSER.to_owned(),
            "--encoding=UTF8".to_owned(),
            "--locale=C".to_owned(),
        ];
        let pwfile = self.dir.join("initdb.pw");
        match &self.password {
            Some(pw) => {
                std::fs::write(&pwfile, pw).map_err(|e| {
                    Error::from(e).with_context(format!("cannot write {}", pwfile.display()))
                })?;
                if let Some(user) = self.run_as {
                    run(
                        Path::new("chown"),
                        &[user.into(), pwfile.display().to_string()],
                        None,
                    )?;
                }
                args.push("--auth=scram-sha-256".to_owned());
                args.push(format!("--pwfile={}", pwfile.display()));
            }
            None => args.push("--auth=trust".to_owned()),
        }
        let result = run(&self.bin_dir.join("initdb"), &args, self.run_as);
        // The password file is only needed by initdb.
        let _ = std::fs::remove_file(&pwfile);
        result.map(|_| ())
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let args = self.pg_ctl_args("start");
        run(&self.bin_dir.join("pg_ctl"), &args, self.run_as).map(|_| ())
    }

    fn pg_ctl_args(&self, action: &str) -> Vec<String> {
        let mut server = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        );
        // pg_ctl hands these to a shell: quote each value.
        for (name, value) in &self.settings {
            let quoted = value.replace('\'', "'\\''");
            server.push_str(&format!(" -c {name}='{quoted}'"));
        }
        let mut args = vec![
            action.to_owned(),
            "-D".to_owned(),
            self.data_dir().display().to_string(),
            "-w".to_owned(),
            "-t".to_owned(),
            PG_CTL_WAIT_SECS.to_string(),
            "-m".to_owned(),
            "fast".to_owned(),
        ];
        if action != "stop" {
            args.extend([
                "-l".to_owned(),
                self.log_file().display().to_string(),
                "-o".to_owned(),
                server,
            ]);
        }
        args
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        // No runtime to await on here: stop synchronously, without waiting
        // for sessions to end.
        let mut args = self.pg_ctl_args("stop");
        if let Some(i) = args.iter().position(|a| a == "fast") {
            args[i] = "immediate".to_owned();
        }
        if let Err(err) = run(&self.bin_dir.join("pg_ctl"), &args, self.run_as) {
            tracing::warn!(error = %err, dir = %self.dir.display(), "stopping the local PostgreSQL failed");
        }
    }
}

/// A pooled database on its own [`LocalPostgres`] server, which stops when
/// the database closes.
#[derive(Debug)]
pub struct LocalPostgresDatabase {
    server: LocalPostgres,
    database: PostgresDatabase,
}

impl LocalPostgresDatabase {
    /// Starts the server (see [`LocalPostgres::start`]) and connects to its
    /// `postgres` database with `pool` settings (their `url` is replaced).
    pub async fn start(options: LocalPostgresOptions, pool: PostgresOptions) -> Result<Self> {
        let server = LocalPostgres::start(options).await?;
        let database = PostgresDatabase::connect(PostgresOptions {
            url: server.url("postgres"),
            ..pool
        })
        .await?;
        Ok(Self { server, database })
    }

    /// The server underneath.
    pub fn server(&self) -> &LocalPostgres {
        &self.server
    }
}

#[async_trait]
impl DatabaseDriver for LocalPostgresDatabase {
    fn capabilities(&self) -> &DatabaseCapabilities {
        self.database.capabilities()
    }

    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        self.database.query(sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        self.database.execute(sql, params).await
    }

    async fn begin(&self) -> Result<Box<dyn TransactionDriver>> {
        self.database.begin().await
    }

    async fn close(&self) {
        self.database.close().await;
        if let Err(err) = self.server.stop().await {
            tracing::warn!(error = %err, "stopping the local PostgreSQL failed");
        }
    }
}

trait WithContext {
    fn with_context(self, context: String) -> Error;
}

impl WithContext for Error {
    fn with_context(self, context: String) -> Error {
        let message = format!("{context}: {}", self.message());
        Error::new(self.code(), message).with_source(self)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("a local PostgreSQL task failed: {e}")))?
}

/// Runs `command` (as `user` through `runuser` when given); a failure is
/// `Unavailable` with the command's output.
fn run(command: &Path, args: &[String], user: Option<&str>) -> Result<Output> {
    let mut cmd = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(command);
            c
        }
        None => Command::new(command),
    };
    cmd.args(args);
    let shown = format!("{} {}", command.display(), args.join(" "));
    let output = cmd
        .output()
        .map_err(|e| Error::from(e).with_context(format!("cannot run `{shown}`")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::unavailable(format!(
            "`{shown}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        )))
    }
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::from(e).with_context("cannot find a free port".to_owned()))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::from(e).with_context("cannot find a free port".to_owned()))
}

/// Whether this process runs as root (PostgreSQL refuses to).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or_else(|| {
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bin_dir_is_a_clear_not_found() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let options = LocalPostgresOptions {
            bin_dir: Some(dir.path().join("no-such-bin")),
            ..LocalPostgresOptions::new(dir.path().join("cluster"))
        };
        let err = rt.block_on(LocalPostgres::start(options)).unwrap_err();
        assert!(err.message().contains("initdb"), "{err}");
    }

    #[test]
    fn urls_carry_the_encoded_password() {
        let server = LocalPostgres {
            dir: PathBuf::from("/x"),
            bin_dir: PathBuf::from("/y"),
            password: Some("p@ss word".into()),
            settings: Vec::new(),
            port: 5555,
            run_as: None,
            stopped: AtomicBool::new(true),
        };
        assert_eq!(
            server.url("db"),
            "postgres://postgres:p%40ss%20word@127.0.0.1:5555/db"
        );
    }
}
