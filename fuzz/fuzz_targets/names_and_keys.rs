//! The logical-name rules, the object key and prefix rules, and where the
//! filesystem provider puts a key: no panic, whatever is accepted holds the
//! documented invariants, and every valid key maps to file names that fit,
//! stay under the root and read back as the key (so the mapping is
//! injective). The provider's `layout.rs` is compiled here as it is.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use strata_core::names::{MAX_NAME_LEN, check_logical_name};
use strata_core::objects::{MAX_KEY_BYTES, ObjectKey, validate_prefix};

#[path = "../../providers/src/filesystem/layout.rs"]
#[allow(dead_code)]
mod layout;

use layout::{FileKind, ObjectPaths, classify_file, decode, decode_piece};

/// The key a set of paths stands for, read back as listing reads it.
fn key_of(paths: &ObjectPaths) -> Option<String> {
    let mut key = String::new();
    for dir in &paths.dirs {
        match decode_piece(dir) {
            Some(piece) => key.push_str(&piece),
            None => {
                key.push_str(&decode(dir)?);
                key.push('/');
            }
        }
    }
    let name = paths.data.file_name()?.to_str()?;
    match classify_file(name) {
        FileKind::Data(last) => Some(key + &last),
        FileKind::Other => None,
    }
}

fuzz_target!(|text: &str| {
    if check_logical_name("bucket", text).is_ok() {
        assert!(!text.is_empty() && text.len() <= MAX_NAME_LEN);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert!(text.as_bytes()[0].is_ascii_alphanumeric());
    }
    let prefix_ok = validate_prefix(text).is_ok();
    let Ok(key) = ObjectKey::new(text) else {
        return;
    };
    assert!(prefix_ok, "a valid key is a valid prefix: {text:?}");
    assert!(key.as_str().len() <= MAX_KEY_BYTES);
    for segment in key.segments() {
        assert!(!segment.is_empty() && segment != "." && segment != "..");
        assert!(!segment.contains('\\'));
        assert!(!segment.chars().any(|c| c.is_ascii_control()));
    }
    assert!(!key.as_str().starts_with('/'));

    let root = Path::new("/root");
    let paths = ObjectPaths::new(root, &key);
    // `Path::components` drops `.`: the names themselves are checked.
    for name in &paths.dirs {
        assert!(!matches!(name.as_str(), "" | "." | "..") && !name.contains('/'), "{name:?}");
    }
    for file in [&paths.data, &paths.meta, &paths.temp()] {
        assert!(file.starts_with(&paths.dir) && paths.dir.starts_with(root));
        let inside = file.strip_prefix(root).map_or(0, |rest| rest.components().count());
        assert!(inside > 0, "{}", file.display());
        for component in file.strip_prefix(root).into_iter().flat_map(Path::components) {
            let Component::Normal(name) = component else {
                panic!("`{}` is not a plain name in {}", component.as_os_str().display(), file.display());
            };
            assert!(name.len() <= 255, "a name of {} bytes in {}", name.len(), file.display());
        }
    }
    assert_eq!(key_of(&paths).as_deref(), Some(key.as_str()), "{}", paths.data.display());
});
