//! The objects conformance suite against the memory and filesystem providers,
//! plus what only the filesystem provider promises (layout, symlinks, temp files).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream};
use strata_core::objects::{Bucket, ListOptions, PutOptions};
use strata_core::testkit::objects::ObjectsHarness;
use strata_core::{Error, ErrorCode};
use strata_providers::filesystem::FsBucket;
use strata_providers::memory::objects::MemoryBucket;
use tempfile::TempDir;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(kind: &str) -> String {
    format!("{kind}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

struct MemoryHarness;

#[async_trait]
impl ObjectsHarness for MemoryHarness {
    async fn bucket(&self) -> Bucket {
        Bucket::new(unique("memory"), Arc::new(MemoryBucket::new()))
    }
}

/// Buckets in fresh directories of one temp dir, removed with the harness.
struct FsHarness {
    dir: TempDir,
}

impl FsHarness {
    fn new() -> Self {
        Self {
            dir: TempDir::new().unwrap(),
        }
    }
}

#[async_trait]
impl ObjectsHarness for FsHarness {
    async fn bucket(&self) -> Bucket {
        let name = unique("fs");
        let driver = FsBucket::open(self.dir.path().join(&name)).unwrap();
        Bucket::new(name, Arc::new(driver))
    }
}

/// One test per case per provider, so a failure names both.
mod memory {
    use super::*;

    strata_core::objects_conformance! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        harness: MemoryHarness,
        skip: {},
    }
}

mod filesystem {
    use super::*;

    strata_core::objects_conformance! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        harness: FsHarness::new(),
        skip: {},
    }
}

// ---- filesystem only -----------------------------------------------------

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

fn fs_bucket(root: &Path) -> Bucket {
    Bucket::new("local", Arc::new(FsBucket::open(root).unwrap()))
}

/// Every file and directory under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.symlink_metadata().unwrap().is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn fs_layout_keeps_a_and_a_slash_b_side_by_side() {
    let dir = TempDir::new().unwrap();
    let bucket = fs_bucket(dir.path());
    bounded(async {
        bucket
            .upload("a", "A", PutOptions::default())
            .await
            .unwrap();
        bucket
            .upload("a/b", "B", PutOptions::default())
            .await
            .unwrap();
        bucket
            .upload("100%/x", "X", PutOptions::default())
            .await
            .unwrap();
    })
    .await;
    assert_eq!(
        tree(dir.path()),
        [
            "100%25/",
            "100%25/x%meta",
            "100%25/x%obj",
            "a%meta",
            "a%obj",
            "a/",
            "a/b%meta",
            "a/b%obj"
        ]
    );
    // The data file is the uploaded bytes, as is.
    assert_eq!(std::fs::read(dir.path().join("a/b%obj")).unwrap(), b"B");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a%meta")).unwrap()).unwrap();
    assert_eq!(sidecar["etag"], "\"7fc56270e7a70fa81a5935b72eacbe29\"");
    // Deleting removes the emptied directories but not the root.
    bounded(async {
        bucket.delete("a/b").await.unwrap();
        bucket.delete("100%/x").await.unwrap();
    })
    .await;
    assert_eq!(tree(dir.path()), ["a%meta", "a%obj"]);
    bounded(bucket.delete("a")).await.unwrap();
    assert!(tree(dir.path()).is_empty() && dir.path().is_dir());
}

#[cfg(unix)]
#[tokio::test]
async fn fs_refuses_a_symlink_inside_the_root_that_points_outside() {
    let outside = TempDir::new().unwrap();
    std::fs::write(outside.path().join("secret%obj"), b"secret").unwrap();
    let dir = TempDir::new().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret%obj"),
        dir.path().join("direct%obj"),
    )
    .unwrap();
    let bucket = fs_bucket(dir.path());
    bounded(async {
        for key in ["escape/secret", "escape/new"] {
            let read = bucket.download(key).await.unwrap_err();
            assert_eq!(read.code(), ErrorCode::PermissionDenied, "{read}");
            let write = bucket
                .upload(key, "x", PutOptions::default())
                .await
                .unwrap_err();
            assert_eq!(write.code(), ErrorCode::PermissionDenied, "{write}");
            let delete = bucket.delete(key).await.unwrap_err();
            assert_eq!(delete.code(), ErrorCode::PermissionDenied, "{delete}");
        }
        let err = bucket.download("direct").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        let err = bucket
            .upload("direct", "x", PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        // Listing does not follow links either.
        let listed = bucket.list_page(ListOptions::default()).await.unwrap();
        assert!(
            listed.objects.is_empty() && listed.common_prefixes.is_empty(),
            "{listed:?}"
        );
    })
    .await;
    // Nothing outside was touched.
    let outside_files: Vec<PathBuf> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(outside_files, [outside.path().join("secret%obj")]);
    assert_eq!(
        std::fs::read(outside.path().join("secret%obj")).unwrap(),
        b"secret"
    );
}

#[tokio::test]
async fn fs_failed_and_dropped_uploads_leave_no_temp_files() {
    let dir = TempDir::new().unwrap();
    let bucket = fs_bucket(dir.path());
    bounded(async {
        bucket
            .upload("keep/old", "old", PutOptions::default())
            .await
            .unwrap();
        let chunks = (0..8)
            .map(|_| Ok(Bytes::from(vec![1u8; 64 * 1024])))
            .chain([Err(Error::unavailable("client went away"))]);
        let err = bucket
            .upload_stream(
                "keep/new",
                stream::iter(chunks).boxed(),
                PutOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unavailable);
        let err = bucket
            .upload_stream(
                "fresh/dir/new",
                stream::iter([Err(Error::unavailable("gone"))]).boxed(),
                PutOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unavailable);
        // An upload abandoned mid-stream (its future dropped) cleans up too.
        let (tx, rx) = futures::channel::mpsc::unbounded::<strata_core::Result<Bytes>>();
        tx.unbounded_send(Ok(Bytes::from_static(b"partial")))
            .unwrap();
        let pending = bucket.upload_stream("keep/abandoned", rx.boxed(), PutOptions::default());
        let abandoned = tokio::time::timeout(Duration::from_millis(300), pending).await;
        assert!(
            abandoned.is_err(),
            "the upload should still be waiting for its stream"
        );
        drop(tx);
    })
    .await;
    // The failed fresh directory may remain empty; no file but the old object.
    let files: Vec<String> = tree(dir.path())
        .into_iter()
        .filter(|p| !p.ends_with('/'))
        .collect();
    assert_eq!(files, ["keep/old%meta", "keep/old%obj"]);
}

#[tokio::test]
async fn fs_segments_too_long_for_a_file_name_are_stored_in_pieces_under_the_root() {
    let dir = TempDir::new().unwrap();
    let bucket = fs_bucket(dir.path());
    let key = format!("{}/x", "d".repeat(300));
    bounded(bucket.upload(&key, "x", PutOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        bounded(bucket.download(&key)).await.unwrap(),
        "x".as_bytes()
    );
    // What fitted before is where it was: one file named after the key.
    let longest = "f".repeat(250);
    bounded(bucket.upload(&longest, "ok", PutOptions::default()))
        .await
        .unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert!(root.join(format!("{longest}%obj")).is_file());
    // The long segment is a piece directory and the rest; every name on
    // disk fits a file name.
    let piece = root.join(format!("{}%+", "d".repeat(200)));
    assert!(piece.join("d".repeat(100)).join("x%obj").is_file());
    fn names_fit(dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            assert!(entry.file_name().len() <= 255, "{:?}", entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                names_fit(&entry.path());
            }
        }
    }
    names_fit(&root);
    bounded(bucket.delete(&key)).await.unwrap();
    assert!(!piece.exists(), "emptied piece directories are removed");
}

#[tokio::test]
async fn fs_public_url_is_the_file_url_of_the_data_file() {
    let dir = TempDir::new().unwrap();
    let bucket = fs_bucket(dir.path());
    bounded(bucket.upload("pics/cat 1.png", "meow", PutOptions::default()))
        .await
        .unwrap();
    let url = bucket.public_url("pics/cat 1.png").unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        url,
        format!("file://{}/pics/cat%201.png%25obj", root.display())
    );
    assert_eq!(
        std::fs::read(root.join("pics/cat 1.png%obj")).unwrap(),
        b"meow"
    );
}

#[tokio::test]
async fn fs_a_second_bucket_on_the_same_root_sees_the_same_objects() {
    let dir = TempDir::new().unwrap();
    let one = fs_bucket(dir.path());
    let two = fs_bucket(dir.path());
    bounded(one.upload("shared", "data", PutOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        bounded(two.download("shared")).await.unwrap(),
        "data".as_bytes()
    );
    let err = bounded(two.upload(
        "shared",
        "again",
        PutOptions {
            precondition: strata_core::objects::Precondition::IfNotExists,
            ..Default::default()
        },
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::PreconditionFailed);
}

#[tokio::test]
async fn fs_a_sidecar_for_another_write_is_not_reported() {
    let dir = TempDir::new().unwrap();
    let bucket = fs_bucket(dir.path());
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    bounded(bucket.upload("doc", "first", opts)).await.unwrap();
    // As if another process (or a crash) replaced the data between renames.
    std::fs::write(dir.path().join("doc%obj.new"), b"second!").unwrap();
    std::fs::rename(dir.path().join("doc%obj.new"), dir.path().join("doc%obj")).unwrap();
    let attrs = bounded(bucket.attrs("doc")).await.unwrap();
    assert_eq!(attrs.size, 7);
    // The etag is that of the data now there; the stale content type is dropped.
    assert_eq!(attrs.etag, "\"26de793d084efdd1c4134652c5494af1\"");
    assert_eq!(attrs.content_type, None);
    let (body, listed) = bounded(async {
        let body = bucket.download("doc").await.unwrap();
        (
            body,
            bucket.list_page(ListOptions::default()).await.unwrap(),
        )
    })
    .await;
    assert_eq!(body, "second!".as_bytes());
    assert_eq!(listed.objects.len(), 1);
    assert_eq!(listed.objects[0].etag, attrs.etag);
    assert_eq!(listed.objects[0].content_type, None);
    // The next write through Strata makes data and sidecar agree again.
    let opts = PutOptions {
        content_type: Some("text/csv".into()),
        ..Default::default()
    };
    bounded(bucket.upload("doc", "third", opts)).await.unwrap();
    let attrs = bounded(bucket.attrs("doc")).await.unwrap();
    assert_eq!(attrs.content_type.as_deref(), Some("text/csv"));
}
