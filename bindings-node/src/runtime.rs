//! The one tokio runtime that does every Strata call's I/O, off the JS thread.

use std::sync::OnceLock;

use strata_core::{Error, Result};
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// The process-wide multi-threaded runtime, started on first use, after
/// telemetry is installed (so the runtime's first spans are seen).
///
/// Worker threads of a Node process share it: it holds no JS state.
///
/// # Errors
/// `Internal` when the runtime's threads cannot be started.
pub(crate) fn runtime() -> Result<&'static Handle> {
    let built = RUNTIME.get_or_init(|| {
        crate::telemetry::install();
        Builder::new_multi_thread()
            .enable_all()
            .thread_name("strata-io")
            .build()
            .map_err(|e| e.to_string())
    });
    match built {
        Ok(rt) => Ok(rt.handle()),
        Err(e) => Err(Error::internal(format!(
            "cannot start the Strata I/O runtime: {e}"
        ))),
    }
}
