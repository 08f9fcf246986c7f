//! Where a key lives on disk, and the walk that refuses symlinks.
//!
//! Key `a/b/c.txt` is the data file `a/b/c.txt%obj` with its sidecar
//! `a/b/c.txt%meta`; while being written, `a/b/c.txt%tmp-<random>`. A `%` in a
//! segment is written `%25`, so an unescaped `%` only ever starts one of these
//! suffixes and key `a` (`a%obj`) can sit next to key `a/b` (directory `a`).
//!
//! A segment too long for one file name (S3 and GCS take any segment of a
//! 1024-byte key; file names stop at 255 bytes) is cut into pieces of at most
//! [`PIECE_MAX`] bytes on disk, each but the last a directory `piece%+`:
//! segment `xxx…yyy…zzz` is `xxx%+/yyy%+/zzz`. `%+` never ends an escaped
//! segment, so the mapping stays injective; the last piece keeps at least
//! `NAME_MAX - PIECE_MAX` bytes, so it is never `.` or `..`; listing joins
//! the pieces back without a `/` (`list.rs`). Segments that fit are stored
//! as they always were.

use std::fmt::Display;
use std::io;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use strata_core::objects::ObjectKey;
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

/// The longest piece of a long segment on disk, its `%+` excluded. Well
/// below `NAME_MAX - 2`, so that what is left after the last cut is long.
const PIECE_MAX: usize = 200;
/// Ends the directory name of a piece of a long segment.
const PIECE_SUFFIX: &str = "%+";

/// A key segment as a file name: `%` becomes `%25`, nothing else changes.
pub(crate) fn encode(segment: &str) -> String {
    segment.replace('%', "%25")
}

/// The names a segment takes on disk: its encoding, or when that is longer
/// than `max` bytes, pieces (`piece%+` directories) and the rest.
fn encode_pieces(segment: &str, max: usize, names: &mut Vec<String>) -> String {
    let mut rest = segment;
    while encoded_len(rest) > max {
        let mut len = 0;
        let cut = rest
            .char_indices()
            .find(|&(_, c)| {
                len += if c == '%' { 3 } else { c.len_utf8() };
                len > PIECE_MAX
            })
            .map_or(rest.len(), |(at, _)| at);
        names.push(format!("{}{PIECE_SUFFIX}", encode(&rest[..cut])));
        rest = &rest[cut..];
    }
    encode(rest)
}

/// The length of `encode(segment)`.
fn encoded_len(segment: &str) -> usize {
    segment.len() + 2 * segment.matches('%').count()
}

/// The part of a segment a piece directory stands for; `None` when `name`
/// is not one.
pub(crate) fn decode_piece(name: &str) -> Option<String> {
    let piece = name.strip_suffix(PIECE_SUFFIX)?;
    let mut rest = piece;
    let mut out = String::with_capacity(piece.len());
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = rest[at..].strip_prefix("%25")?;
        out.push('%');
    }
    out.push_str(rest);
    let usable = !out.is_empty()
        && !out
            .chars()
            .any(|c| c.is_ascii_control() || c == '\\' || c == '/');
    usable.then_some(out)
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
    /// The paths of `key` under `root`; a segment too long for one file
    /// name becomes pieces (see the module's notes), so every valid key has
    /// paths, all of them under `root`.
    pub fn new(root: &Path, key: &ObjectKey) -> Self {
        let mut segments = Vec::new();
        let mut all = key.segments().peekable();
        let mut base = String::new();
        while let Some(segment) = all.next() {
            if all.peek().is_some() {
                let dir = encode_pieces(segment, NAME_MAX, &mut segments);
                segments.push(dir);
            } else {
                // The sidecar has the longest fixed suffix.
                base = encode_pieces(segment, NAME_MAX - 1 - META_SUFFIX.len(), &mut segments);
            }
        }
        let mut dir = root.to_path_buf();
        dir.extend(&segments);
        Self {
            root: root.to_path_buf(),
            data: dir.join(format!("{base}%{DATA_SUFFIX}")),
            meta: dir.join(format!("{base}%{META_SUFFIX}")),
            dir,
            dirs: segments,
            base,
        }
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
        let p = ObjectPaths::new(Path::new("/r"), &key);
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

    /// The key a path stands for, read back as listing does.
    fn key_of(p: &ObjectPaths) -> String {
        let mut key = String::new();
        for dir in &p.dirs {
            match decode_piece(dir) {
                Some(piece) => key.push_str(&piece),
                None => {
                    key.push_str(&decode(dir).unwrap());
                    key.push('/');
                }
            }
        }
        let FileKind::Data(last) = classify_file(p.data.file_name().unwrap().to_str().unwrap())
        else {
            panic!("not a data file: {}", p.data.display());
        };
        key + &last
    }

    #[test]
    fn long_segments_become_pieces_that_fit_and_read_back() {
        let keys = [
            "f".repeat(250),
            "f".repeat(251),
            format!("{}/x", "d".repeat(256)),
            "%".repeat(300),
            "é".repeat(511),
            format!("a/{}/{}", "🦀".repeat(100), "b".repeat(600)),
            // (A segment may not end with `.`, so no piece is `.` or `..`.)
            format!("{}.y", "x".repeat(199)),
            format!("{}..y", "x".repeat(398)),
            "x".repeat(1024),
        ];
        for key in keys {
            let key = ObjectKey::new(key).unwrap();
            let p = ObjectPaths::new(Path::new("/r"), &key);
            assert_eq!(key_of(&p), key.as_str());
            for name in p.dirs.iter().chain([&p.base]) {
                assert!(name.len() <= NAME_MAX, "{name}");
                assert!(!matches!(name.as_str(), "" | "." | ".."), "{name}");
            }
            assert!(p.meta.file_name().unwrap().len() <= NAME_MAX);
            assert!(p.temp().file_name().unwrap().len() <= NAME_MAX);
            assert!(p.data.starts_with("/r") && p.dir.starts_with("/r"));
        }
        // What fitted before is stored as before.
        let p = ObjectPaths::new(Path::new("/r"), &ObjectKey::new("f".repeat(250)).unwrap());
        assert!(p.dirs.is_empty());
        // A segment and its own pieces never share a name.
        let long = ObjectPaths::new(Path::new("/r"), &ObjectKey::new("g".repeat(300)).unwrap());
        assert_eq!(long.dirs, [format!("{}%+", "g".repeat(200))]);
        let short = ObjectPaths::new(
            Path::new("/r"),
            &ObjectKey::new(format!("{}/{}", "g".repeat(200), "g".repeat(100))).unwrap(),
        );
        assert_ne!(long.data, short.data);
    }

    #[test]
    fn file_urls_escape_what_urls_need() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/c%25d#%obj")),
            "file:///tmp/a%20b/c%2525d%23%25obj"
        );
    }
}
