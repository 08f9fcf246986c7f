//! The metadata sidecar, and reading an object's metadata consistently.
//!
//! The sidecar names the data file it describes (inode and modification time,
//! plus the size). A reader that finds a sidecar for another data file (a
//! writer in another process between its two renames, or a crash there) never
//! reports that sidecar's metadata: it recomputes the etag from the data and
//! reports no content type or user metadata.

use std::fs::{File, Metadata as FileMeta};
use std::io::{self, Read, Seek, SeekFrom};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use strata_core::objects::{Metadata, ObjectKey, ObjectMeta};
use strata_core::{Error, Result};

use super::layout::{ObjectPaths, io_error};
use crate::memory::objects::EtagHasher;

/// The JSON stored in `<name>%meta`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    /// Quoted hex MD5 of the data.
    pub etag: String,
    /// Size of the data in bytes.
    pub size: u64,
    /// Content type given at upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// User metadata given at upload.
    #[serde(default)]
    pub metadata: Metadata,
    /// Which data file this describes.
    pub data_id: DataId,
}

/// Identifies one data file (not its name: the file a write created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DataId {
    /// The inode number, where the platform has one.
    #[serde(default)]
    inode: Option<u64>,
    /// Modification time in nanoseconds since the Unix epoch.
    mtime_ns: u64,
}

impl DataId {
    /// The id of the file `meta` describes.
    pub fn of(meta: &FileMeta) -> Self {
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            Some(meta.ino())
        };
        #[cfg(not(unix))]
        let inode = None;
        Self {
            inode,
            mtime_ns: mtime(meta)
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

fn mtime(meta: &FileMeta) -> SystemTime {
    meta.modified().unwrap_or(UNIX_EPOCH)
}

/// Opens the object's data file and reads its metadata, consistently (the
/// caller holds the bucket's read lock). The file is positioned at 0.
///
/// # Errors
/// `NotFound` when there is no object.
pub(crate) fn open(paths: &ObjectPaths, key: &ObjectKey) -> Result<(File, ObjectMeta)> {
    if !paths.walk(false)? {
        return Err(not_found(key));
    }
    let mut file = match File::open(&paths.data) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(key)),
        Err(e) => return Err(io_error(e, format_args!("opening object `{key}`"))),
    };
    let stat = file
        .metadata()
        .map_err(|e| io_error(e, format_args!("inspecting object `{key}`")))?;
    let meta = describe(paths, key, &stat, Some(&mut file))?;
    Ok((file, meta))
}

/// Reads the object's metadata without keeping the data file open.
///
/// # Errors
/// `NotFound` when there is no object.
pub(crate) fn stat(paths: &ObjectPaths, key: &ObjectKey) -> Result<ObjectMeta> {
    if !paths.walk(false)? {
        return Err(not_found(key));
    }
    match std::fs::metadata(&paths.data) {
        Ok(stat) if stat.is_file() => describe(paths, key, &stat, None),
        Ok(_) => Err(not_found(key)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(key)),
        Err(e) => Err(io_error(e, format_args!("inspecting object `{key}`"))),
    }
}

/// The metadata of the data file `stat` describes, from its sidecar when the
/// sidecar is for this very file. `file`, if given, is the open data file.
pub(crate) fn describe(
    paths: &ObjectPaths,
    key: &ObjectKey,
    stat: &FileMeta,
    file: Option<&mut File>,
) -> Result<ObjectMeta> {
    let meta = |etag, content_type, metadata| ObjectMeta {
        key: key.as_str().to_owned(),
        size: stat.len(),
        etag,
        content_type,
        last_modified: mtime(stat),
        metadata,
    };
    if let Some(sidecar) = read_sidecar(paths)
        && sidecar.size == stat.len()
        && sidecar.data_id == DataId::of(stat)
    {
        return Ok(meta(sidecar.etag, sidecar.content_type, sidecar.metadata));
    }
    tracing::warn!(
        key = key.as_str(),
        "the metadata sidecar of this object is missing or describes another write; \
         reporting the object without content type or user metadata"
    );
    let etag = match file {
        Some(file) => {
            let etag = hash(file, key)?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| io_error(e, format_args!("rewinding object `{key}`")))?;
            etag
        }
        None => {
            let mut file = File::open(&paths.data).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => not_found(key),
                _ => io_error(e, format_args!("opening object `{key}`")),
            })?;
            hash(&mut file, key)?
        }
    };
    Ok(meta(etag, None, Metadata::new()))
}

/// The sidecar, or `None` when it is missing or unreadable (treated alike: the
/// data is then described without it).
fn read_sidecar(paths: &ObjectPaths) -> Option<Sidecar> {
    let text = std::fs::read(&paths.meta).ok()?;
    serde_json::from_slice(&text).ok()
}

fn hash(file: &mut File, key: &ObjectKey) -> Result<String> {
    let mut hasher = EtagHasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| io_error(e, format_args!("reading object `{key}`")))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

pub(crate) fn not_found(key: &ObjectKey) -> Error {
    Error::not_found(format!("no object `{key}` in the filesystem bucket"))
}
