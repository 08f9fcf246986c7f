//! Telemetry for a Node process: installed once, when the I/O runtime
//! starts, from the standard `OTEL_*` variables and `STRATA_LOG`
//! (`strata_telemetry::init`), and flushed when an `Infra` closes.

use std::sync::OnceLock;

use strata_telemetry::{Telemetry, TelemetryError};

/// What was installed; `None` when nothing was (another subscriber, or an
/// invalid setting already reported).
static TELEMETRY: OnceLock<Option<Telemetry>> = OnceLock::new();

/// Installs telemetry unless done already. Never fails the runtime: a bad
/// setting is reported on stderr once and the process runs without it.
pub(crate) fn install() {
    TELEMETRY.get_or_init(|| match strata_telemetry::init() {
        Ok(telemetry) => Some(telemetry),
        Err(TelemetryError::AlreadyInstalled) => None,
        Err(err) => {
            eprintln!("strata: telemetry is off: {err}");
            None
        }
    });
}

/// Exports the spans buffered so far (blocks until the exporter answers, so
/// call it off the runtime's workers). The process may exit right after
/// `Infra.close()`, before the exporter's next scheduled batch.
pub(crate) fn flush() {
    if let Some(Some(telemetry)) = TELEMETRY.get() {
        telemetry.flush();
    }
}
