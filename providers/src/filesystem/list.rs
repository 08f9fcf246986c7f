//! Listing: a depth-first walk in key order.
//!
//! Within a directory, a data file sorts by its key and a subdirectory by its
//! key prefix (`name/`); walking in that order yields keys in lexicographic
//! order. Subtrees wholly before the page token or outside the prefix are not
//! entered, and a subtree that folds into one common prefix is not walked
//! beyond finding one object in it, so a page costs about the directories it
//! touches, not the whole bucket.

use std::io;
use std::path::{Path, PathBuf};

use strata_core::Result;
use strata_core::objects::listing::{ListPageBuilder, Offer};
use strata_core::objects::{ListOptions, ListPage, MAX_KEY_BYTES, ObjectKey};

use super::layout::{FileKind, ObjectPaths, classify_file, decode, decode_piece, io_error};
use super::sidecar;

/// One page of the bucket under `root` (blocking; the caller holds the
/// bucket's read lock).
pub(crate) fn list_page(root: &Path, opts: &ListOptions) -> Result<ListPage> {
    let mut builder = ListPageBuilder::new(opts);
    walk(root, root, "", &mut builder)?;
    Ok(builder.finish())
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

enum Kind {
    Dir(PathBuf),
    Object,
}

/// The entries of `dir` that can contribute to the page, sorted by key.
fn entries(dir: &Path, dir_prefix: &str, builder: &ListPageBuilder) -> Result<Vec<(String, Kind)>> {
    let mut out = Vec::new();
    collect(dir, dir_prefix, builder, &mut out)?;
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Adds the entries of `dir` to `out`, `key_prefix` in front of their
/// segments. The pieces of a long segment (`piece%+` directories) are not a
/// level of their own: what they hold joins `out` with the piece in front,
/// so every entry is a whole segment and the sort puts keys in order.
fn collect(
    dir: &Path,
    key_prefix: &str,
    builder: &ListPageBuilder,
    out: &mut Vec<(String, Kind)>,
) -> Result<()> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        // Removed by another process since we saw it: nothing there.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(e, format_args!("listing `{}`", dir.display()))),
    };
    let prefix = builder.prefix();
    let token = builder.token();
    // Keys under `sub` can be on the page: inside the prefix, and not all at
    // or before the token (which is past `sub` without being inside it).
    let wanted = |sub: &str| {
        (sub.starts_with(prefix) || prefix.starts_with(sub))
            && token.is_none_or(|t| sub > t || t.starts_with(sub))
    };
    for entry in read {
        let entry = entry.map_err(|e| io_error(e, format_args!("listing `{}`", dir.display())))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: not written by us
        };
        let Ok(file_type) = entry.file_type() else {
            continue; // vanished meanwhile
        };
        // Symbolic links are never followed (see `ObjectPaths::walk`).
        if file_type.is_dir() {
            if let Some(piece) = decode_piece(&name) {
                let joined = format!("{key_prefix}{piece}");
                if joined.len() <= MAX_KEY_BYTES && wanted(&joined) {
                    collect(&entry.path(), &joined, builder, out)?;
                }
                continue;
            }
            let Some(segment) = decode(&name) else {
                continue;
            };
            let sub = format!("{key_prefix}{segment}/");
            if wanted(&sub) {
                out.push((sub, Kind::Dir(entry.path())));
            }
        } else if file_type.is_file()
            && let FileKind::Data(segment) = classify_file(&name)
        {
            let key = format!("{key_prefix}{segment}");
            if key.starts_with(prefix)
                && key.len() <= MAX_KEY_BYTES
                && token.is_none_or(|t| key.as_str() > t)
            {
                out.push((key, Kind::Object));
            }
        }
    }
    Ok(())
}

fn walk(root: &Path, dir: &Path, dir_prefix: &str, builder: &mut ListPageBuilder) -> Result<Flow> {
    for (entry_key, kind) in entries(dir, dir_prefix, builder)? {
        match kind {
            Kind::Dir(path) => {
                if let Some(group) = builder.group_of(&entry_key) {
                    // The whole subtree is one common prefix.
                    if builder.common_prefix_due(&group)
                        && has_object(&path)?
                        && builder.offer_common_prefix(&group) == Offer::Full
                    {
                        return Ok(Flow::Stop);
                    }
                } else if walk(root, &path, &entry_key, builder)? == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            Kind::Object => match builder.offer_key(&entry_key) {
                Offer::Skip => {}
                Offer::Full => return Ok(Flow::Stop),
                Offer::Object => {
                    if let Some(meta) = describe(root, entry_key)? {
                        builder.push_object(meta);
                    }
                }
            },
        }
    }
    Ok(Flow::Continue)
}

/// The metadata of a listed key, or `None` if it vanished or is unusable.
fn describe(root: &Path, key: String) -> Result<Option<strata_core::objects::ObjectMeta>> {
    let Ok(key) = ObjectKey::new(key) else {
        return Ok(None);
    };
    let paths = ObjectPaths::new(root, &key);
    match std::fs::symlink_metadata(&paths.data) {
        Ok(stat) if stat.is_file() => match sidecar::describe(&paths, &key, &stat, None) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.code() == strata_core::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        },
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(e, format_args!("inspecting object `{key}`"))),
    }
}

/// Whether the subtree at `dir` holds at least one object.
fn has_object(dir: &Path) -> Result<bool> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error(e, format_args!("listing `{}`", dir.display()))),
    };
    let mut subdirs = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| io_error(e, format_args!("listing `{}`", dir.display())))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_file() && matches!(classify_file(&name), FileKind::Data(_)) {
            return Ok(true);
        }
        if file_type.is_dir() && (decode(&name).is_some() || decode_piece(&name).is_some()) {
            subdirs.push(entry.path());
        }
    }
    for sub in subdirs {
        if has_object(&sub)? {
            return Ok(true);
        }
    }
    Ok(false)
}
