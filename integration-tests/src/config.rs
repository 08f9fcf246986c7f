//! Infra from a config written in a test: parsed with this build's
//! registry, as if read from `<dir>/<file>`, so relative paths and messages
//! name a real place.

use std::path::Path;

use strata_core::config::{LoadedConfig, parse_config};
use strata_infra::{Infra, registry};

/// `text` parsed as `dir/file` (no `$env` lookups).
///
/// # Panics
/// When the config does not parse: the test wrote it.
pub fn loaded_config(text: &str, dir: &Path, file: &str) -> LoadedConfig {
    let config = parse_config(text, file, registry(), &|_| None)
        .unwrap_or_else(|err| panic!("the test's config does not parse: {err}"));
    LoadedConfig {
        config,
        base_dir: dir.to_path_buf(),
        file: Some(dir.join(file)),
    }
}

/// An `Infra` from `text`, as [`loaded_config`], within 30 s.
///
/// # Panics
/// When it cannot be built, naming `what` it runs on.
pub async fn infra_from_text(text: &str, dir: &Path, what: &str) -> Infra {
    let loaded = loaded_config(text, dir, "infra.config.json");
    match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        Infra::from_config(loaded),
    )
    .await
    {
        Ok(Ok(infra)) => infra,
        Ok(Err(err)) => panic!("cannot build Infra on {what}: {err}"),
        Err(_) => panic!("building Infra on {what} took over 30 s"),
    }
}
