//! Where a key lives on disk, and the walk that refuses symlinks.
//!
//! Key `a/b/c.txt` is the data file `a/b/c.txt%obj` with its sidecar
//! `a/b/c.txt%meta`; while being written, `a/b/c.txt%tmp-<random>`. A `%` in a
//! segment is written `%25`, so an unescaped `%` only ever starts one of these
//! suffixes and key `a` (`a%obj`) can sit next to key `a/b` (directory `a`).

use std::fmt::Display;
use std::io;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use strata_core::objects::{MAX_KEY_BYTES, ObjectKey};
use strata_core::{Error, ErrorCode, Result};

/// Suffix of an object's data file.
pub(crate) const DATA_SUFFIX: &str = "obj";
/// Suffix of an object's metadata sidecar.
pub(crate) const META_SUFFIX: &str = "meta";
/// Start of the suffix of a file being written.
pub(crate) const TEMP_SUFFIX: &str = "tmp-";

/// The longest file name most filesystems accept (ext4, APFS, NTFS: 255).
const NAME_MAX: usize = 255;
/// Temp file names keep at most this much of the encoded name, so that the
/// random suffix always fits.
const TEMP_BASE_MAX: usize = 200;

/// A key segment as a file name: `%` becomes `%25`, nothing else changes.
pub(crate) fn encode(segment: &str) -> String {
    segment.replace('%', "%25")
}

/// The key segment a file or directory name stands for; `None` for a name
/// this layout never writes (an unescaped `%`, or a segment no key can have).
pub(crate) fn decode(name: &str) -> Option<String> {
    let mut rest = name;
    let mut out = String::with_capacity(name.len());
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = rest[at..].strip_prefix("%25")?;
        out.push('%');
    }
    out.push_str(rest);
    valid_segment(&out).then_some(out)
}

/// Whether `segment` can be one segment of a valid key.
fn valid_segment(segment: &str) -> bool {
    !matches!(segment, "" | "." | "..")
        && !segment
            .chars()
            .any(|c| c.is_ascii_control() || c == '\\' || c == '/')
}

/// What a file in a bucket directory is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// An object's data; the decoded last segment of its key.
    Data(String),
    /// A sidecar, a temp file, or something this layout did not write.
    Other,
}

/// Classifies a file name found in a bucket directory.
pub(crate) fn classify_file(name: &str) -> FileKind {
    match name.rsplit_once('%') {
        Some((base, DATA_SUFFIX)) => decode(base).map_or(FileKind::Other, FileKind::Data),
        _ => FileKind::Other,
    }
}

/// The paths of one object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectPaths {
    /// The bucket root (canonical).
    pub root: PathBuf,
    /// Encoded directory names from the root to the object's directory.
    pub dirs: Vec<String>,
    /// The directory holding the data and sidecar files.
    pub dir: PathBuf,
    /// `enc(last)%obj`.
    pub data: PathBuf,
    /// `enc(last)%meta`.
    pub meta: PathBuf,
    /// `enc(last)`.
    base: String,
}

impl ObjectPaths {
    /// The paths of `key` under `root`.
    ///
    /// # Errors
    /// `InvalidArgument` when a segment is too long for a file name.
    pub fn new(root: &Path, key: &ObjectKey) -> Result<Self> {
        let mut segments: Vec<String> = key.segments().map(encode).collect();
        let base = segments.pop().unwrap_or_default();
        for dir in &segments {
            if dir.len() > NAME_MAX {
                return Err(name_too_long(key, dir.len(), NAME_MAX));
            }
        }
        // The sidecar has the longest fixed suffix.
        let longest = base.len() + 1 + META_SUFFIX.len();
        if longest > NAME_MAX {
            return Err(name_too_long(
                key,
                base.len(),
                NAME_MAX - 1 - META_SUFFIX.len(),
            ));
        }
        let mut dir = root.to_path_buf();
        dir.extend(&segments);
        Ok(Self {
            root: root.to_path_buf(),
            data: dir.join(format!("{base}%{DATA_SUFFIX}")),
            meta: dir.join(format!("{base}%{META_SUFFIX}")),
            dir,
            dirs: segments,
            base,
        })
    }

    /// A fresh temp file path next to the data file.
    pub fn temp(&self) -> PathBuf {
        let mut cut = self.base.len().min(TEMP_BASE_MAX);
        while !self.base.is_char_boundary(cut) {
            cut -= 1;
        }
        let name = format!(
            "{}%{TEMP_SUFFIX}{:016x}",
            &self.base[..cut],
            fastrand::u64(..)
        );
        self.dir.join(name)
    }

    /// Walks from the root to the object's directory, refusing any symbolic
    /// link on the way and on the object's own files. With `create`, missing
    /// directories are made; without, a missing one returns `Ok(false)`.
    ///
    /// # Errors
    /// `PermissionDenied` for a symlink, `Conflict` when a path component is a
    /// file, and I/O errors.
    pub fn walk(&self, create: bool) -> Result<bool> {
        let mut at = self.root.clone();
        for dir in &self.dirs {
            at.push(dir);
            // A concurrent delete may remove a directory we just made (it was
            // empty); a few rounds settle that race.
            let mut attempts = 0;
            loop {
                match std::fs::symlink_metadata(&at) {
                    Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(&at)),
                    Ok(m) if m.is_dir() => break,
                    Ok(_) => {
                        return Err(Error::new(
                            ErrorCode::Conflict,
                            format!("`{}` is in the way: it is not a directory", at.display()),
                        ));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if !create {
                            return Ok(false);
                        }
                        attempts += 1;
                        match std::fs::create_dir(&at) {
                            Ok(()) => break,
                            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 5 => {}
                            Err(e) => {
                                return Err(io_error(
                                    e,
                                    format_args!("creating `{}`", at.display()),
                                ));
                            }
                        }
                    }
                    Err(e) => {
                        return Err(io_error(e, format_args!("inspecting `{}`", at.display())));
                    }
                }
            }
        }
        for file in [&self.data, &self.meta] {
            match std::fs::symlink_metadata(file) {
                Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(file)),
                _ => {}
            }
        }
        Ok(true)
    }

    /// Removes the object's now empty directories, deepest first, stopping at
    /// the first that is not empty (or at the root).
    pub fn remove_empty_dirs(&self) {
        let mut dir = self.dir.clone();
        for _ in &self.dirs {
            // Fails (and stops) when the directory holds anything, including
            // a concurrent writer's temp file.
            if std::fs::remove_dir(&dir).is_err() {
                return;
            }
            dir.pop();
        }
    }

    /// A `file://` URL of the data file.
    pub fn file_url(&self) -> String {
        file_url(&self.data)
    }
}

/// Characters escaped in a `file://` URL path segment (RFC 3986 plus `%`).
const URL_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for component in path.components() {
        match component {
            // A Windows drive: file:///C:/...
            Component::Prefix(prefix) => {
                url.push('/');
                url.push_str(&prefix.as_os_str().to_string_lossy());
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => url.push_str("/.."),
            Component::Normal(name) => {
                url.push('/');
                let name = name.to_string_lossy();
                url.extend(utf8_percent_encode(&name, URL_SEGMENT));
            }
        }
    }
    url
}

fn symlink_refused(path: &Path) -> Error {
    Error::new(
        ErrorCode::PermissionDenied,
        format!(
            "refusing to follow the symbolic link `{}` inside the bucket root",
            path.display()
        ),
    )
}

fn name_too_long(key: &ObjectKey, len: usize, max: usize) -> Error {
    let shown: String = key.as_str().chars().take(80).collect();
    Error::invalid_argument(format!(
        "key `{shown}` has a segment of {len} bytes on disk; the filesystem provider allows \
         {max} (keys may be up to {MAX_KEY_BYTES} bytes, but a segment is a file name)"
    ))
}

/// An I/O error with what was being done. A name the filesystem finds too
/// long is the caller's `InvalidArgument`, not an internal failure.
pub(crate) fn io_error(err: io::Error, doing: impl Display) -> Error {
    let too_long = err.kind() == io::ErrorKind::InvalidFilename;
    let base = Error::from(err);
    let code = if too_long {
        ErrorCode::InvalidArgument
    } else {
        base.code()
    };
    Error::new(code, format!("{doing}: {}", base.message())).with_source(base)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_the_only_escaped_character() {
        assert_eq!(encode("ü 日本%41.txt"), "ü 日本%2541.txt");
        assert_eq!(decode("ü 日本%2541.txt").as_deref(), Some("ü 日本%41.txt"));
        assert_eq!(decode("a%obj"), None);
        assert_eq!(decode("a%2"), None);
        assert_eq!(decode(".."), None);
    }

    #[test]
    fn files_are_classified_by_their_last_unescaped_percent() {
        assert_eq!(classify_file("a%obj"), FileKind::Data("a".into()));
        assert_eq!(classify_file("a%25obj%obj"), FileKind::Data("a%obj".into()));
        assert_eq!(classify_file("a%meta"), FileKind::Other);
        assert_eq!(classify_file("a%tmp-0123456789abcdef"), FileKind::Other);
        assert_eq!(classify_file("a%25obj"), FileKind::Other);
        assert_eq!(classify_file(".DS_Store"), FileKind::Other);
    }

    #[test]
    fn paths_nest_directories_and_suffix_the_last_segment() {
        let key = ObjectKey::new("a/100%/c").unwrap();
        let p = ObjectPaths::new(Path::new("/r"), &key).unwrap();
        assert_eq!(p.data, Path::new("/r/a/100%25/c%obj"));
        assert_eq!(p.meta, Path::new("/r/a/100%25/c%meta"));
        let temp = p.temp();
        assert!(temp.starts_with("/r/a/100%25"));
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("c%tmp-") && name.len() == "c%tmp-".len() + 16,
            "{name}"
        );
    }

    #[test]
    fn long_segments_are_invalid_arguments() {
        let key = ObjectKey::new(format!("{}/x", "d".repeat(256))).unwrap();
        let err = ObjectPaths::new(Path::new("/r"), &key).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        let key = ObjectKey::new("f".repeat(250)).unwrap();
        assert!(ObjectPaths::new(Path::new("/r"), &key).is_ok());
        let key = ObjectKey::new("f".repeat(251)).unwrap();
        assert!(ObjectPaths::new(Path::new("/r"), &key).is_err());
        // Temp names stay within the limit for the longest accepted name.
        let p =
            ObjectPaths::new(Path::new("/r"), &ObjectKey::new("é".repeat(125)).unwrap()).unwrap();
        assert!(p.temp().file_name().unwrap().len() <= NAME_MAX);
    }

    #[test]
    fn file_urls_escape_what_urls_need() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/c%25d#%obj")),
            "file:///tmp/a%20b/c%2525d%23%25obj"
        );
    }
}
