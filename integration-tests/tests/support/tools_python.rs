//! The tools venv's Python (`localstack/emulators install tools`), which the
//! interop tests run the clouds' and NATS's own Python clients with.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `script` on the venv's Python with `env` added; returns its standard
/// output. Fails the test on a non-zero exit, or after `limit` (the process
/// is killed: a stuck client fails the test, never hangs it).
pub fn run_python(script: &str, env: &[(&str, &str)], limit: Duration) -> String {
    let how = "install and export it with `localstack/emulators install tools` and \
               `eval \"$(localstack/emulators env)\"`";
    let bin = std::env::var("STRATA_TEST_TOOLS_BIN")
        .unwrap_or_else(|_| panic!("STRATA_TEST_TOOLS_BIN is not set: {how}"));
    let program = std::path::Path::new(&bin).join("python");
    assert!(program.is_file(), "{} is missing: {how}", program.display());
    let mut child = Command::new(program)
        .arg("-")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tools venv's python starts");
    child
        .stdin
        .take()
        .expect("python's stdin is piped")
        .write_all(script.as_bytes())
        .expect("the script is written to python");
    let started = Instant::now();
    while child.try_wait().expect("python's status").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the Python client took over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("python's output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the Python client failed ({}): {}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
