//! Microsoft's Python `azure-storage-blob` from the tools venv, pointed at
//! Azurite's development account: the other client of the interop and
//! bad-input tests.

use std::time::Duration;

use super::azure_harness::AZURITE;
use super::tools_python::run_python;

/// How long one Python run may take before it is killed.
const LIMIT: Duration = Duration::from_secs(60);

/// Azurite's fixed, publicly documented development key (not a secret).
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The development account's connection string at Azurite's endpoint.
pub fn connection_string() -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};\
         BlobEndpoint={};",
        AZURITE.endpoint()
    )
}

/// Runs `script` with the tools venv's Python on a blocking thread, with
/// `AZURE_STORAGE_CONNECTION_STRING` set; returns the last line of its
/// output as JSON. Fails the test on a non-zero exit or after [`LIMIT`].
pub async fn python(script: String) -> serde_json::Value {
    tokio::task::spawn_blocking(move || run(&script))
        .await
        .unwrap()
}

fn run(script: &str) -> serde_json::Value {
    let connection = connection_string();
    let stdout = run_python(
        script,
        &[("AZURE_STORAGE_CONNECTION_STRING", &connection)],
        LIMIT,
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}
