//! The PostgreSQL provider against real servers: the database conformance
//! suite on the shared server (127.0.0.1:5432, or `STRATA_TEST_POSTGRES_URL`),
//! typed values both ways, typed errors, and faults on private clusters
//! (restart under load, password authentication, TLS), and how the pool lends
//! its connections.
//!
//! A test that cannot reach its server fails and says how to start it; none
//! is skipped. Each test works in databases of its own, so they run in
//! parallel.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use strata_core::testkit::sqldb as suite;

#[path = "support/pg_config.rs"]
mod config;
#[path = "support/pg_errors.rs"]
mod errors;
#[path = "support/pg_faults.rs"]
mod faults;
#[path = "support/pg_leases.rs"]
mod leases;
#[path = "support/pg_private.rs"]
mod private;
#[path = "support/pg_shared.rs"]
mod shared;
#[path = "support/pg_values.rs"]
mod values;

/// Every wait gets a limit, so a hang fails instead of blocking CI.
pub async fn run<F: Future<Output = ()>>(limit_secs: u64, case: F) {
    tokio::time::timeout(Duration::from_secs(limit_secs), case)
        .await
        .expect("test timed out");
}

mod conformance {
    use super::*;

    strata_core::sqldb_conformance! {
        #[tokio::test]
        harness: shared::FreshDatabases::new().await,
        run: |case| run(120, case),
        skip: {},
    }
}

#[tokio::test]
async fn run_all_passes() {
    run(300, async {
        let harness = shared::FreshDatabases::new().await;
        suite::run_all(&harness).await;
    })
    .await;
}
