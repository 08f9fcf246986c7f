//! Objects in the local filesystem: the embedded default (`.strata/`).
//!
//! # Layout
//! Browsable by hand: each key segment but the last is a directory; the object
//! is the data file `<last>%obj`, byte for byte what was uploaded, beside its
//! JSON sidecar `<last>%meta` (etag, size, content type, user metadata). A `%`
//! in a segment is written `%25`, so key `a` (file `a%obj`) and key `a/b`
//! (directory `a`) coexist and no key can collide with a suffix.
//!
//! # Consistency
//! A write streams into `<last>%tmp-<random>` beside the target, fsyncs it,
//! writes the sidecar the same way, then commits under the bucket's write lock:
//! the precondition is checked, the data file is renamed into place (the
//! commit point) and then the sidecar. Readers open the data file and read the
//! sidecar under the read lock, so within a process they never see one
//! write's data with another's metadata; the lock is shared by every
//! [`FsBucket`] of the same root in the process. Across processes, and after a
//! crash between the two renames, the sidecar records which data file it
//! describes (inode, mtime, size): a mismatch is detected and the object is
//! reported with an etag computed from its data and no content type or user
//! metadata — never someone else's. A failed or dropped upload removes its
//! temp files; only a crash can leave one behind (they are ignored).
//!
//! [`Precondition::IfNotExists`] uses `hard_link`, which fails atomically even
//! against other processes; [`Precondition::IfMatch`] is atomic within the
//! process (the write lock).
//!
//! # Safety of paths
//! Keys are validated by the portable layer (no `..`, no leading `/`, no
//! backslash); in addition, any symbolic link met under the root (a directory
//! on the way or the object's own files) is refused with `PermissionDenied`,
//! so a link planted inside the root cannot lead outside it. Listing never
//! follows links. The root itself may be a link (it is resolved at open).
//!
//! # URLs
//! [`BucketDriver::public_url`] returns the data file's `file://` URL: it works
//! for local tools, tests and desktop apps on the same machine, which is what
//! this provider is for (a web page served over HTTP cannot load it). Signed
//! URLs are `Unsupported`: there is no server to check them.
//!
//! # Limits
//! A segment is a file name: at most 250 bytes once `%` is escaped. On a
//! case-insensitive filesystem (macOS, Windows defaults) keys differing only in
//! case collide.

mod layout;
mod list;
mod provider;
mod sidecar;
mod write;

pub use self::provider::{FilesystemProvider, FsBucketOptions};

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream};
use strata_core::objects::{
    BucketDriver, ByteStream, GetOptions, GetResult, ListOptions, ListPage, ObjectCapabilities,
    ObjectKey, ObjectMeta, Precondition, PutOptions, SignedUrlOptions,
};
use strata_core::sync::lock;
use strata_core::{Error, Result};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::RwLock;

use layout::{ObjectPaths, io_error};
use write::Staged;

/// How much a streamed download reads at a time.
const CHUNK_BYTES: u64 = 256 * 1024;

/// A bucket stored in a directory of the local filesystem.
///
/// ```no_run
/// # use std::sync::Arc;
/// use strata_core::objects::{Bucket, PutOptions};
/// use strata_providers::filesystem::FsBucket;
/// # async fn demo() -> strata_core::Result<()> {
/// let uploads = Bucket::new("uploads", Arc::new(FsBucket::open(".strata/uploads")?));
/// uploads.upload("a/b.txt", "hello", PutOptions::default()).await?; // .strata/uploads/a/b.txt%obj
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FsBucket {
    root: PathBuf,
    /// Commits take it for writing; reads of data plus sidecar for reading.
    lock: Arc<RwLock<()>>,
    capabilities: ObjectCapabilities,
}

impl FsBucket {
    /// Opens the bucket stored under `root`, creating the directory if needed.
    ///
    /// # Errors
    /// `InvalidArgument` when `root` exists but is not a directory; I/O errors
    /// (e.g. `PermissionDenied`) from creating it.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsBucket> {
        let root = root.into();
        if root.is_file() {
            return Err(Error::invalid_argument(format!(
                "bucket root `{}` is a file, not a directory",
                root.display()
            )));
        }
        std::fs::create_dir_all(&root)
            .map_err(|e| io_error(e, format_args!("creating bucket root `{}`", root.display())))?;
        let root = std::fs::canonicalize(&root).map_err(|e| {
            io_error(
                e,
                format_args!("resolving bucket root `{}`", root.display()),
            )
        })?;
        if !root.is_dir() {
            return Err(Error::invalid_argument(format!(
                "bucket root `{}` is not a directory",
                root.display()
            )));
        }
        Ok(FsBucket {
            lock: lock_for(&root),
            root,
            capabilities: ObjectCapabilities {
                conditional_put: true,
                range_reads: true,
                signed_urls: false,
                public_urls: true,
                max_object_bytes: None,
            },
        })
    }

    /// The bucket's directory (absolute, symlinks resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn paths(&self, key: &ObjectKey) -> ObjectPaths {
        ObjectPaths::new(&self.root, key)
    }

    /// Commits a staged write under the write lock, then syncs the directory.
    async fn commit(
        &self,
        paths: ObjectPaths,
        key: &ObjectKey,
        staged: Staged,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        // The guard moves into the blocking task, so the lock is held until the
        // renames are done even if this future is dropped meanwhile.
        let guard = self.lock.clone().write_owned().await;
        let (key, precondition) = (key.clone(), precondition.clone());
        let dir = paths.dir.clone();
        let meta = blocking(move || {
            let _guard = guard;
            write::commit(&paths, &key, staged, &precondition)
        })
        .await?;
        blocking(move || write::sync_dir(&dir)).await?;
        Ok(meta)
    }
}

/// One lock per root directory in this process, shared by every `FsBucket`
/// opened on it.
fn lock_for(root: &Path) -> Arc<RwLock<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Weak<RwLock<()>>>>> =
        LazyLock::new(Default::default);
    let mut locks = lock(&LOCKS);
    if let Some(lock) = locks.get(root).and_then(Weak::upgrade) {
        return lock;
    }
    locks.retain(|_, lock| lock.strong_count() > 0);
    let lock = Arc::new(RwLock::new(()));
    locks.insert(root.to_path_buf(), Arc::downgrade(&lock));
    lock
}

/// Runs blocking filesystem work off the async runtime's threads.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal("a filesystem task failed").with_source(e))?
}

#[async_trait]
impl BucketDriver for FsBucket {
    fn capabilities(&self) -> &ObjectCapabilities {
        &self.capabilities
    }

    async fn put(&self, key: &ObjectKey, body: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        let paths = self.paths(key);
        let (for_stage, key_owned) = (paths.clone(), key.clone());
        let (content_type, metadata) = (opts.content_type.clone(), opts.metadata.clone());
        let staged = blocking(move || {
            write::stage_bytes(&for_stage, &key_owned, &body, content_type, metadata)
        })
        .await?;
        self.commit(paths, key, staged, &opts.precondition).await
    }

    async fn put_stream(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        let paths = self.paths(key);
        let staged = write::stage_stream(
            &paths,
            key,
            body,
            opts.content_type.clone(),
            opts.metadata.clone(),
        )
        .await?;
        self.commit(paths, key, staged, &opts.precondition).await
    }

    async fn get(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        let paths = self.paths(key);
        let guard = self.lock.clone().read_owned().await;
        let (key_owned, range) = (key.clone(), opts.range);
        let (file, meta, len) = blocking(move || {
            let (mut file, meta) = {
                let _guard = guard;
                sidecar::open(&paths, &key_owned)?
            };
            let span = match range {
                Some(range) => range.resolve(meta.size)?,
                None => 0..meta.size,
            };
            // Seek rather than read up to the start.
            if span.start > 0 {
                file.seek(SeekFrom::Start(span.start))
                    .map_err(|e| io_error(e, format_args!("seeking in object `{key_owned}`")))?;
            }
            Ok((file, meta, span.end - span.start))
        })
        .await?;
        let file = tokio::fs::File::from_std(file).take(len);
        Ok(GetResult {
            meta,
            body: body_stream(file, key.clone()),
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        let paths = self.paths(key);
        let guard = self.lock.clone().read_owned().await;
        let key = key.clone();
        blocking(move || {
            let _guard = guard;
            sidecar::stat(&paths, &key)
        })
        .await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        let paths = self.paths(key);
        let guard = self.lock.clone().write_owned().await;
        let key = key.clone();
        blocking(move || {
            let _guard = guard;
            write::delete(&paths, &key)
        })
        .await
    }

    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        let source_paths = self.paths(from);
        let target_paths = self.paths(to);
        let guard = self.lock.clone().read_owned().await;
        let (from, to_owned) = (from.clone(), to.clone());
        let for_stage = target_paths.clone();
        // The open source file is a consistent snapshot once the lock is released.
        let staged = blocking(move || {
            let (file, meta) = {
                let _guard = guard;
                sidecar::open(&source_paths, &from)?
            };
            write::stage_copy(&for_stage, &to_owned, file, &meta)
        })
        .await?;
        self.commit(target_paths, to, staged, precondition).await
    }

    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage> {
        let guard = self.lock.clone().read_owned().await;
        let (root, opts) = (self.root.clone(), opts.clone());
        blocking(move || {
            let _guard = guard;
            list::list_page(&root, &opts)
        })
        .await
    }

    async fn signed_url(&self, _key: &ObjectKey, _opts: &SignedUrlOptions) -> Result<String> {
        Err(Error::unsupported(
            "the filesystem provider has no server to check signed URLs",
        ))
    }

    fn public_url(&self, key: &ObjectKey) -> Result<String> {
        Ok(self.paths(key).file_url())
    }
}

/// Streams `file` (already limited to the requested bytes) in chunks.
fn body_stream<R>(file: tokio::io::Take<R>, key: ObjectKey) -> ByteStream
where
    R: AsyncRead + Unpin + Send + 'static,
{
    stream::try_unfold(file, move |mut file| {
        let key = key.clone();
        async move {
            let remaining = file.limit();
            if remaining == 0 {
                return Ok(None);
            }
            let mut buf = BytesMut::with_capacity(remaining.min(CHUNK_BYTES) as usize);
            let n = file
                .read_buf(&mut buf)
                .await
                .map_err(|e| io_error(e, format_args!("reading object `{key}`")))?;
            if n == 0 {
                return Err(Error::internal(format!(
                    "object `{key}` ended {remaining} bytes early: it was changed on disk \
                     outside Strata"
                )));
            }
            Ok(Some((buf.freeze(), file)))
        }
    })
    .boxed()
}
