//! Interop with Microsoft's Python `azure-storage-blob` on Azurite: what
//! Strata writes it reads, and the reverse — bytes, content type and
//! metadata intact, keys as given (the key here has a space and a
//! non-ASCII letter, both percent-encoded in the URL).
//!
//! Needs Azurite and the tools venv: `localstack/emulators up azurite`,
//! `localstack/emulators install tools` and `eval "$(localstack/emulators
//! env)"`. Nothing is skipped: a missing piece fails the test, saying how
//! to get it.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/azure_harness.rs"]
mod azure_harness;
#[allow(dead_code)]
#[path = "support/azure_python.rs"]
mod azure_python;
#[path = "support/tools_python.rs"]
mod tools_python;

use std::sync::Arc;

use azure_harness::AzureObjectsHarness;
use bytes::Bytes;
use strata_core::objects::{Bucket, PutOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_written_by_strata_are_read_by_python_and_the_reverse() {
    let h = AzureObjectsHarness::new().await;
    let (name, driver) = h.blob_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        metadata: [("origin".to_owned(), "strata".to_owned())].into(),
        ..PutOptions::default()
    };
    // Large enough to be staged in blocks, so the committed list is read too.
    let big = Bytes::from(vec![7u8; 9 * 1024 * 1024]);
    bucket
        .upload("interop/strata é.txt", "written by Strata", opts.clone())
        .await
        .unwrap();
    bucket
        .upload("interop/big.bin", big.clone(), opts)
        .await
        .unwrap();
    let script = format!(
        r#"
import hashlib, json, os
from azure.storage.blob import BlobServiceClient, ContentSettings
service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
container = service.get_container_client("{name}")
blob = container.get_blob_client("interop/strata é.txt")
props = blob.get_blob_properties()
big = container.get_blob_client("interop/big.bin").download_blob().readall()
seen = {{"data": blob.download_blob().readall().decode(), "type": props.content_settings.content_type,
        "meta": props.metadata, "big": hashlib.sha256(big).hexdigest(),
        "names": sorted(b.name for b in container.list_blobs(name_starts_with="interop/"))}}
container.get_blob_client("interop/python ü.bin").upload_blob(
    b"\x00\x01from python", metadata={{"origin": "python"}},
    content_settings=ContentSettings(content_type="application/x-python"))
print(json.dumps(seen))
"#
    );
    let seen = azure_python::python(script).await;
    assert_eq!(seen["data"], "written by Strata");
    assert_eq!(seen["type"], "text/plain");
    assert_eq!(seen["meta"]["origin"], "strata");
    assert_eq!(seen["big"], sha256_hex(&big));
    assert_eq!(
        seen["names"],
        serde_json::json!(["interop/big.bin", "interop/strata é.txt"])
    );

    let body = bucket.download("interop/python ü.bin").await.unwrap();
    assert_eq!(body, Bytes::from_static(b"\x00\x01from python"));
    let meta = bucket.attrs("interop/python ü.bin").await.unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("application/x-python"));
    assert_eq!(
        meta.metadata.get("origin").map(String::as_str),
        Some("python")
    );
}

/// What Python sees of metadata Strata wrote, and what Strata reads of
/// metadata Python wrote: a value that is not plain ASCII is RFC 2047
/// encoded-words on the wire, a name with `-` is `_` + the name with `_` as
/// `__` and `-` as `_d`; identifiers and plain values are as given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_python_sees_and_writes() {
    let h = AzureObjectsHarness::new().await;
    let (name, driver) = h.blob_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    let stored: strata_core::objects::Metadata = [
        ("note", "Grüße ✓ 日本"),
        ("plain", "ada lovelace"),
        ("content-hash", "sha256-abc"),
        ("spaced", " padded "),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    let opts = PutOptions {
        metadata: stored.clone(),
        ..PutOptions::default()
    };
    bucket.upload("meta/strata", "x", opts).await.unwrap();
    let script = format!(
        r#"
import json, os
from azure.storage.blob import BlobServiceClient
service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
container = service.get_container_client("{name}")
seen = dict(container.get_blob_client("meta/strata").get_blob_properties().metadata)
container.get_blob_client("meta/python").upload_blob(b"y", metadata={{
    "note": "=?UTF-8?B?R3LDvMOfZQ==?=", "Origin": "python", "_tag": "t",
    "_content_dhash": "sha256-def"}})
print(json.dumps(seen))
"#
    );
    let seen = azure_python::python(script).await;
    assert_eq!(
        seen,
        serde_json::json!({
            "note": "=?UTF-8?B?R3LDvMOfZSDinJMg5pel5pys?=",
            "plain": "ada lovelace",
            "_content_dhash": "sha256-abc",
            "spaced": "=?UTF-8?B?IHBhZGRlZCA=?=",
        })
    );
    assert_eq!(
        bucket.attrs("meta/strata").await.unwrap().metadata,
        stored,
        "Strata reads back what it stored"
    );
    let read = bucket.attrs("meta/python").await.unwrap().metadata;
    let want: strata_core::objects::Metadata = [
        ("note", "Grüße"),
        ("origin", "python"),
        ("_tag", "t"),
        ("content-hash", "sha256-def"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(
        read, want,
        "encoded-words decode; foreign names read as they are"
    );
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
