//! Restarting an emulator in the middle of a test, and opening again what it
//! lost: the emulators keep no state across a restart, so an application
//! re-provisions its topics and subscriptions, as it would on start.

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use strata_integration_tests::aws_tools::{repo_root, run_bounded};
use tokio::time::Instant;

/// Stops and starts emulator `name` with `localstack/emulators restart`
/// (same port; the script waits for the port to be free before starting),
/// within `limit`. Returns when it answers again.
pub async fn restart(name: &str, limit: Duration) -> Instant {
    let mut command = Command::new("localstack/emulators");
    command.args(["restart", name]).current_dir(repo_root());
    let what = format!("localstack/emulators restart {name}");
    if let Err(err) = run_bounded(command, what, limit).await {
        panic!("{err}\n(see `localstack/emulators logs {name}`)");
    }
    Instant::now()
}

/// Calls `open` until it succeeds, for at most `limit`; panics with the last
/// error after.
pub async fn reopen<T, E, F, Fut>(limit: Duration, mut open: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        match open().await {
            Ok(opened) => return opened,
            Err(err) if started.elapsed() >= limit => {
                panic!("re-provisioning failed for {limit:?}: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
