//! Microsoft's Python `azure-storage-blob` from the tools venv, pointed at
//! Azurite's development account: the other client of the interop and
//! bad-input tests.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::azure_harness::AZURITE;

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
    let how = "install and export it with `localstack/emulators install tools` and \
               `eval \"$(localstack/emulators env)\"`";
    let bin = std::env::var("STRATA_TEST_TOOLS_BIN")
        .unwrap_or_else(|_| panic!("STRATA_TEST_TOOLS_BIN is not set: {how}"));
    let program = std::path::Path::new(&bin).join("python");
    assert!(program.is_file(), "{} is missing: {how}", program.display());
    let mut child = Command::new(program)
        .arg("-")
        .env("AZURE_STORAGE_CONNECTION_STRING", connection_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the Python client took over {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the Python client failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}
