//! Other AWS clients for interop tests: the aws CLI and boto3 from the
//! `tools` venv that `localstack/emulators install` makes.
//!
//! The tests read `STRATA_TEST_TOOLS_BIN` (printed by
//! `localstack/emulators env`). When it is unset or its programs are missing,
//! [`Tools::from_env`] fails saying how to get them: an interop test never
//! passes without having talked to the other client.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The variable naming the folder with `aws` and `python` (boto3).
pub const TOOLS_BIN_ENV: &str = "STRATA_TEST_TOOLS_BIN";

/// How long one CLI or Python run may take before it is killed: the aws CLI
/// alone starts in about a second; a hang must fail the test, not stall it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The aws CLI and boto3, pointed at one emulator endpoint.
#[derive(Debug, Clone)]
pub struct Tools {
    bin: PathBuf,
    endpoint: String,
}

impl Tools {
    /// The tools in `$STRATA_TEST_TOOLS_BIN`, talking to `endpoint`.
    ///
    /// # Errors
    /// When the variable is unset or the folder lacks `aws` or `python`, with
    /// the commands that install and export them.
    pub fn from_env(endpoint: &str) -> Result<Tools, String> {
        let how = "install and export them with `localstack/emulators install tools` and \
                   `eval \"$(localstack/emulators env)\"` (the README's test command does both)";
        let bin = std::env::var_os(TOOLS_BIN_ENV)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{TOOLS_BIN_ENV} is not set: the interop tests need the aws CLI and boto3; {how}"))?;
        let bin = PathBuf::from(bin);
        for program in ["aws", "python"] {
            if !bin.join(program).is_file() {
                return Err(format!(
                    "{TOOLS_BIN_ENV}={} has no `{program}`; {how}",
                    bin.display()
                ));
            }
        }
        Ok(Tools {
            bin,
            endpoint: endpoint.to_owned(),
        })
    }

    /// The endpoint the tools talk to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs a Python script with boto3 available. The script gets the
    /// endpoint as `sys.argv[1]` and `args` after it, and the emulators' test
    /// credentials and region in its environment. Returns its stdout.
    ///
    /// # Errors
    /// When it exits non-zero or runs over a minute, with its stderr.
    pub async fn python(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let mut command = self.command("python");
        command.arg("-c").arg(script).arg(&self.endpoint).args(args);
        run(command, "python (boto3)".to_owned()).await
    }

    /// Runs `aws --endpoint-url <endpoint> <args>` and returns its stdout.
    ///
    /// # Errors
    /// When it exits non-zero or runs over a minute, with its stderr.
    pub async fn aws(&self, args: &[&str]) -> Result<String, String> {
        let mut command = self.command("aws");
        command
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .args(["--output", "json"])
            .args(args);
        run(command, format!("aws {}", args.join(" "))).await
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        // Emulators accept any key; the region must match the one the Strata
        // side uses so ARNs and queue URLs agree.
        command
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "");
        command
    }
}

/// Runs `command` within [`RUN_LIMIT`].
async fn run(command: Command, what: String) -> Result<String, String> {
    run_bounded(command, what, RUN_LIMIT).await
}

/// Runs `command` to completion on a blocking thread (the test's runtime
/// keeps serving the Strata side meanwhile), killing it after `limit`.
/// Returns its stdout.
///
/// # Errors
/// When it cannot start, exits non-zero (with its stderr and stdout), or
/// runs over `limit`.
pub async fn run_bounded(
    mut command: Command,
    what: String,
    limit: Duration,
) -> Result<String, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || run_blocking(command, &what, limit))
        .await
        .map_err(|err| format!("the thread running a tool failed: {err}"))?
}

/// Runs `command` to completion within `limit`, killing it after. Its
/// output is read while it runs (a full pipe would stall it).
fn run_blocking(mut command: Command, what: &str, limit: Duration) -> Result<String, String> {
    let mut child = command
        .spawn()
        .map_err(|err| format!("{what}: could not start: {err}"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what}: still running after {limit:?}, killed\nstderr:\n{}",
                    collect(&stderr)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => return Err(format!("{what}: waiting failed: {err}")),
        }
    };
    let stdout = collect(&stdout);
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{what}: {status}\nstderr:\n{}\nstdout:\n{stdout}",
            collect(&stderr)
        ))
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    rx
}

/// What a reader thread read; empty when the pipe is still open 5 s after
/// the process ended (a background process it started holds it).
fn collect(reader: &mpsc::Receiver<Vec<u8>>) -> String {
    let bytes = reader
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The repository root (where `localstack/emulators` lives).
pub fn repo_root() -> &'static Path {
    // integration-tests/ is one level below the root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest)
}
