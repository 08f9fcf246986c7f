//! What every emulator-backed test file needs: where an emulator answers
//! (with a clear failure saying how to start it when it does not), and
//! resource names no other test or run uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An emulator started by `localstack/emulators`.
#[derive(Debug, Clone, Copy)]
pub struct EmulatorEndpoint {
    /// Its name in `localstack/emulators`.
    pub name: &'static str,
    /// The variable holding its endpoint (printed by `localstack/emulators env`).
    pub env: &'static str,
    /// Where `localstack/emulators up` starts it by default.
    pub default_endpoint: &'static str,
}

impl EmulatorEndpoint {
    /// The emulator's endpoint: the variable's value, else the default.
    pub fn endpoint(&self) -> String {
        std::env::var(self.env).unwrap_or_else(|_| self.default_endpoint.to_owned())
    }

    /// Panics with how to start the emulator when its port is closed.
    pub async fn check_reachable(&self) {
        let endpoint = self.endpoint();
        let authority = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let connect = tokio::net::TcpStream::connect(authority);
        let why = match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(_)) => return,
            Ok(Err(err)) => err.to_string(),
            Err(_) => "no answer within 3 s".to_owned(),
        };
        panic!(
            "{name} is not reachable at {endpoint} ({why}). Start it with \
             `localstack/emulators up {name}` and export its endpoint with \
             `eval \"$(localstack/emulators env)\"` (sets {env}).",
            name = self.name,
            env = self.env,
        );
    }
}

/// Names no other test or run uses: `strata-<base>-<run>-<n>`, lowercase and
/// starting with a letter, short enough for SQS (80), S3 and GCS (63) and
/// Pub/Sub ids.
#[derive(Debug)]
pub struct UniqueNames {
    run: String,
    next: AtomicU64,
}

impl Default for UniqueNames {
    fn default() -> Self {
        Self::new()
    }
}

impl UniqueNames {
    /// A run id from the clock and the process id.
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            run: format!(
                "{:x}",
                (nanos as u64 ^ u64::from(std::process::id())) & 0xffff_ffff
            ),
            next: AtomicU64::new(0),
        }
    }

    /// The next name for `base`.
    pub fn unique(&self, base: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("strata-{base}-{}-{n}", self.run).to_lowercase()
    }
}
