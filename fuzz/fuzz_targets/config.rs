//! The config parser from a byte string, as `load_config` runs it on a
//! file's text: BOM, duplicate-key-safe JSON, `$env`, the schema's checks,
//! typed parse, every provider's options and names, cross references.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_core::config::parse_config;

/// `$env` answers: names starting with `S` resolve (to text taken from the
/// name, so the fuzzer steers it), the others are unset.
fn env(name: &str) -> Option<String> {
    name.strip_prefix('S').map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    // `load_config` reads a file as UTF-8; other bytes never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = strata_infra::registry();
    if let Err(err) = parse_config(text, "fuzz.json", registry, &env) {
        assert_eq!(err.code(), strata_core::ErrorCode::InvalidConfig, "{err}");
        assert!(err.message().starts_with("fuzz.json"), "{err}");
    }
});
