//! Log lines to stderr, at the level `STRATA_SERVICEBUS_LOG` (or `--log`) sets:
//! `error`, `warn`, `info` (the default) or `debug`.

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(2);

/// Sets the level by name; an unknown name is an error that names the choices.
pub fn set_level(name: &str) -> Result<(), String> {
    let level = match name.to_ascii_lowercase().as_str() {
        "error" => 0,
        "warn" => 1,
        "info" => 2,
        "debug" | "trace" => 3,
        other => {
            return Err(format!(
                "log level {other:?}: expected error, warn, info or debug"
            ));
        }
    };
    LEVEL.store(level, Ordering::Relaxed);
    Ok(())
}

fn emit(level: u8, tag: &str, text: &str) {
    if level <= LEVEL.load(Ordering::Relaxed) {
        let now = crate::message::now_ms();
        eprintln!("{}.{:03} {tag} {text}", now / 1000, now % 1000);
    }
}

/// An error the operator should see.
pub fn error(text: &str) {
    emit(0, "ERROR", text);
}

/// Something went wrong for one client.
pub fn warn(text: &str) {
    emit(1, "WARN", text);
}

/// What the broker is doing.
pub fn info(text: &str) {
    emit(2, "INFO", text);
}

/// Frame-level detail.
pub fn debug(text: &str) {
    emit(3, "DEBUG", text);
}

/// Whether debug lines are on (to skip building them).
pub fn debug_enabled() -> bool {
    LEVEL.load(Ordering::Relaxed) >= 3
}
