//! Writing: stage data and sidecar in temp files, then commit by rename.
//!
//! A write first stages both files next to their final names (written and
//! fsynced), outside any lock. The commit, under the bucket's write lock,
//! checks the precondition and renames the data file into place (the commit
//! point: readers see the old or the new object, never a partial one), then
//! the sidecar. Anything that fails or is dropped before the commit removes
//! its temp files ([`TempFile`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use strata_core::objects::{ByteStream, Metadata, ObjectKey, ObjectMeta, Precondition};
use strata_core::{Error, Result};
use tokio::io::AsyncWriteExt;

use super::blocking;
use super::layout::{ObjectPaths, io_error};
use super::sidecar::{self, DataId, Sidecar};
use crate::memory::objects::{EtagHasher, etag_of, etags_match};

/// A temp file that is removed when dropped, unless it was committed.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    committed: bool,
}

impl TempFile {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the only leftovers possible are from a crash.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A write ready to commit.
#[derive(Debug)]
pub(crate) struct Staged {
    data: TempFile,
    meta: TempFile,
    object: ObjectMeta,
}

/// What a staged object carries besides its bytes.
pub(crate) struct Describe {
    pub etag: String,
    pub content_type: Option<String>,
    pub metadata: Metadata,
}

/// Creates a fresh temp file next to the object, making its directories.
fn create_temp(paths: &ObjectPaths) -> Result<(File, TempFile)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        paths.walk(true)?;
        let path = paths.temp();
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => {
                let guard = TempFile {
                    path,
                    committed: false,
                };
                return Ok((file, guard));
            }
            // The directory was removed by a concurrent delete, or the random
            // name was taken: try again.
            Err(e)
                if attempt < 5
                    && matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                    ) => {}
            Err(e) => return Err(io_error(e, format_args!("creating `{}`", path.display()))),
        }
    }
}

/// Stages a body held in memory (blocking).
pub(crate) fn stage_bytes(
    paths: &ObjectPaths,
    key: &ObjectKey,
    body: &Bytes,
    content_type: Option<String>,
    metadata: Metadata,
) -> Result<Staged> {
    let (mut file, data) = create_temp(paths)?;
    file.write_all(body)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(e, format_args!("writing object `{key}`")))?;
    let describe = Describe {
        etag: etag_of(body),
        content_type,
        metadata,
    };
    finish(paths, key, &file, data, describe)
}

/// Stages a streamed body. A stream error fails it and removes the temp file.
pub(crate) async fn stage_stream(
    paths: &ObjectPaths,
    key: &ObjectKey,
    mut body: ByteStream,
    content_type: Option<String>,
    metadata: Metadata,
) -> Result<Staged> {
    let for_temp = paths.clone();
    let (file, data) = blocking(move || create_temp(&for_temp)).await?;
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = EtagHasher::new();
    let failed = |e| io_error(e, format_args!("writing object `{key}`"));
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.flush().await.map_err(failed)?;
    file.sync_all().await.map_err(failed)?;
    let file = file.into_std().await;
    let describe = Describe {
        etag: hasher.finish(),
        content_type,
        metadata,
    };
    let (paths, key) = (paths.clone(), key.clone());
    blocking(move || finish(&paths, &key, &file, data, describe)).await
}

/// Stages a copy of `source` (an open data file at position 0) whose
/// metadata is `from` (blocking).
pub(crate) fn stage_copy(
    paths: &ObjectPaths,
    key: &ObjectKey,
    mut source: File,
    from: &ObjectMeta,
) -> Result<Staged> {
    let (mut file, data) = create_temp(paths)?;
    let copied = io::copy(&mut source, &mut file)
        .and_then(|n| file.sync_all().map(|()| n))
        .map_err(|e| io_error(e, format_args!("copying `{}` to `{key}`", from.key)))?;
    if copied != from.size {
        return Err(Error::internal(format!(
            "object `{}` changed size while being copied ({copied} of {} bytes)",
            from.key, from.size
        )));
    }
    let describe = Describe {
        etag: from.etag.clone(),
        content_type: from.content_type.clone(),
        metadata: from.metadata.clone(),
    };
    finish(paths, key, &file, data, describe)
}

/// Writes the sidecar for the staged data file `file` into its own temp file.
fn finish(
    paths: &ObjectPaths,
    key: &ObjectKey,
    file: &File,
    data: TempFile,
    describe: Describe,
) -> Result<Staged> {
    let stat = file
        .metadata()
        .map_err(|e| io_error(e, format_args!("inspecting the new object `{key}`")))?;
    let sidecar = Sidecar {
        etag: describe.etag,
        size: stat.len(),
        content_type: describe.content_type,
        metadata: describe.metadata,
        data_id: DataId::of(&stat),
    };
    let json = serde_json::to_vec(&sidecar)
        .map_err(|e| Error::internal("encoding a metadata sidecar").with_source(e))?;
    let (mut meta_file, meta) = create_temp(paths)?;
    meta_file
        .write_all(&json)
        .and_then(|()| meta_file.sync_all())
        .map_err(|e| io_error(e, format_args!("writing the metadata of `{key}`")))?;
    let object = ObjectMeta {
        key: key.as_str().to_owned(),
        size: sidecar.size,
        etag: sidecar.etag,
        content_type: sidecar.content_type,
        last_modified: stat.modified().unwrap_or(std::time::UNIX_EPOCH),
        metadata: sidecar.metadata,
    };
    Ok(Staged { data, meta, object })
}

/// Checks `precondition` and moves the staged files into place (blocking;
/// the caller holds the bucket's write lock).
///
/// # Errors
/// `PreconditionFailed` when the precondition does not hold; nothing changes.
pub(crate) fn commit(
    paths: &ObjectPaths,
    key: &ObjectKey,
    mut staged: Staged,
    precondition: &Precondition,
) -> Result<ObjectMeta> {
    let place = |e| io_error(e, format_args!("storing object `{key}`"));
    match precondition {
        Precondition::None => {
            std::fs::rename(staged.data.path(), &paths.data).map_err(place)?;
        }
        Precondition::IfMatch(expected) => {
            let current = match sidecar::stat(paths, key) {
                Ok(current) => current,
                Err(e) if e.code() == strata_core::ErrorCode::NotFound => {
                    return Err(Error::precondition_failed(format!(
                        "if-match: there is no object `{key}`"
                    )));
                }
                Err(e) => return Err(e),
            };
            if !etags_match(expected, &current.etag) {
                return Err(Error::precondition_failed(format!(
                    "if-match: object `{key}` has etag {}, not {expected}",
                    current.etag
                )));
            }
            std::fs::rename(staged.data.path(), &paths.data).map_err(place)?;
        }
        Precondition::IfNotExists => {
            // A hard link fails atomically if the name exists, even against
            // writers in other processes; the temp name is removed on drop.
            match std::fs::hard_link(staged.data.path(), &paths.data) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(exists(key));
                }
                // Filesystems without hard links: check then rename, atomic
                // within this process thanks to the write lock.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    if std::fs::symlink_metadata(&paths.data).is_ok() {
                        return Err(exists(key));
                    }
                    std::fs::rename(staged.data.path(), &paths.data).map_err(place)?;
                }
                Err(e) => return Err(place(e)),
            }
        }
    }
    // After a hard link the temp name must still go (on drop); after a rename
    // it no longer exists.
    staged.data.committed = !matches!(precondition, Precondition::IfNotExists);
    std::fs::rename(staged.meta.path(), &paths.meta).map_err(place)?;
    staged.meta.committed = true;
    Ok(staged.object.clone())
}

fn exists(key: &ObjectKey) -> Error {
    Error::precondition_failed(format!("an object `{key}` already exists"))
}

/// Deletes the object's files and its emptied directories (blocking; the
/// caller holds the bucket's write lock). A missing object is fine.
pub(crate) fn delete(paths: &ObjectPaths, key: &ObjectKey) -> Result<()> {
    if !paths.walk(false)? {
        return Ok(());
    }
    // The data file first: once it is gone the object is gone.
    for file in [&paths.data, &paths.meta] {
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e, format_args!("deleting object `{key}`"))),
        }
    }
    paths.remove_empty_dirs();
    Ok(())
}

/// Makes the renames in `dir` durable (a no-op where directories cannot be
/// opened, like Windows).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(e, format_args!("syncing `{}`", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
