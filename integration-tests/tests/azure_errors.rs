//! Bad input on Azurite, and each kind of credentials where Azurite checks
//! it: a wrong account key, SAS tokens (valid and expired), signed URLs
//! (until and after they expire), a missing container without
//! `provision`, keys Blob Storage treats specially, and `Infra` from the
//! example config.
//!
//! Needs Azurite and the tools venv (Python mints the SAS tokens and plays
//! the holder of a signed URL): `localstack/emulators up azurite`,
//! `localstack/emulators install tools`, `eval "$(localstack/emulators env)"`.

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
use std::time::Duration;

use azure_harness::{AzureObjectsHarness, account, clients_for};
use strata_azure::{AzureCredentialsConfig, BlobBucket, BlobBucketOptions};
use strata_core::ErrorCode;
use strata_core::config::{LoadedConfig, parse_config};
use strata_core::objects::{
    Bucket, ListOptions, Precondition, PutOptions, SignedUrlMethod, SignedUrlOptions,
};
use strata_infra::{Infra, registry};
use strata_integration_tests::emulator::UniqueNames;

/// A well-formed key that is not the account's.
const WRONG_KEY: &str =
    "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=";

async fn open(
    credentials: AzureCredentialsConfig,
    name: &str,
    provision: bool,
) -> strata_core::Result<BlobBucket> {
    let clients = clients_for(&account(credentials)).await;
    let opts = BlobBucketOptions {
        provision,
        ..BlobBucketOptions::default()
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        BlobBucket::open(&clients, name, opts),
    )
    .await
    .expect("opening a container took over 30 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_account_key_is_permission_denied_naming_the_account_never_the_key() {
    let creds = AzureCredentialsConfig {
        connection_string: Some(format!(
            "AccountName=devstoreaccount1;AccountKey={WRONG_KEY}"
        )),
        ..AzureCredentialsConfig::default()
    };
    let err = open(creds, &UniqueNames::new().unique("key"), true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("devstoreaccount1"), "{err}");
    assert!(!err.message().contains(WRONG_KEY), "{err}");
    assert!(!format!("{err:?}").contains(WRONG_KEY), "{err:?}");
}

/// Every way to give the key signs requests Azurite accepts: the account
/// and `account_key`, and a full connection string with its `BlobEndpoint`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_key_signs_whichever_way_it_is_given() {
    let names = UniqueNames::new();
    let key = AzureCredentialsConfig {
        account_key: Some(azure_python::DEV_KEY.into()),
        ..AzureCredentialsConfig::default()
    };
    let clients = clients_for(&strata_azure::AzureAccount {
        account: Some("devstoreaccount1".into()),
        ..account(key)
    })
    .await;
    let opts = BlobBucketOptions {
        provision: true,
        ..BlobBucketOptions::default()
    };
    BlobBucket::open(&clients, &names.unique("key"), opts.clone())
        .await
        .unwrap();
    let full = AzureCredentialsConfig {
        connection_string: Some(azure_python::connection_string()),
        ..AzureCredentialsConfig::default()
    };
    let clients = clients_for(&strata_azure::AzureAccount {
        endpoint: None,
        ..account(full)
    })
    .await;
    BlobBucket::open(&clients, &names.unique("cs"), opts)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_container_without_provision_is_not_found_naming_the_fix() {
    let name = UniqueNames::new().unique("missing");
    let creds = AzureCredentialsConfig {
        connection_string: Some("UseDevelopmentEmulator=true".into()),
        ..AzureCredentialsConfig::default()
    };
    let err = open(creds, &name, false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.message().contains(&name), "{err}");
    assert!(err.message().contains("\"provision\": true"), "{err}");
}

/// An account SAS minted by Python: the valid one reads, writes, lists,
/// copies and deletes through Strata; the expired one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sas_tokens_work_until_they_expire() {
    let h = AzureObjectsHarness::new().await;
    let (name, _) = h.blob_bucket().await;
    let tokens = azure_python::python(format!(
        r#"
import datetime, json
from azure.storage.blob import generate_account_sas, ResourceTypes, AccountSasPermissions
now = datetime.datetime.now(datetime.timezone.utc)
def sas(expiry):
    return generate_account_sas("devstoreaccount1", "{key}",
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
        expiry=expiry, start=now - datetime.timedelta(minutes=5))
print(json.dumps({{"valid": sas(now + datetime.timedelta(hours=1)),
                  "expired": sas(now - datetime.timedelta(minutes=1))}}))
"#,
        key = azure_python::DEV_KEY
    ))
    .await;
    let with = |token: &serde_json::Value| AzureCredentialsConfig {
        sas_token: Some(token.as_str().unwrap().to_owned()),
        ..AzureCredentialsConfig::default()
    };

    let driver = open(with(&tokens["valid"]), &name, false).await.unwrap();
    let bucket = Bucket::new(&name, Arc::new(driver));
    bucket
        .upload("sas/a.txt", "via SAS", PutOptions::default())
        .await
        .unwrap();
    bucket
        .copy("sas/a.txt", "sas/b.txt", Precondition::None)
        .await
        .unwrap();
    assert_eq!(bucket.download("sas/b.txt").await.unwrap(), "via SAS");
    let page = bucket
        .list_page(ListOptions {
            prefix: Some("sas/".into()),
            delimiter: Some("/".into()),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 2);
    bucket.delete("sas/a.txt").await.unwrap();
    let err = bucket
        .signed_url(
            "sas/b.txt",
            SignedUrlOptions {
                method: SignedUrlMethod::Get,
                ttl: Duration::from_secs(60),
                content_type: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unsupported, "{err}");

    let err = open(with(&tokens["expired"]), &name, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("devstoreaccount1"), "{err}");
    assert!(!err.message().contains("sig="), "{err}");
}

/// Service SAS URLs signed with the account key: a download and an upload
/// by a plain HTTP client work, and the same URL is refused once expired;
/// the public URL reads once the container is public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_work_until_they_expire() {
    let h = AzureObjectsHarness::new().await;
    let (name, driver) = h.blob_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    bucket
        .upload("signed/a b.txt", "signed download", PutOptions::default())
        .await
        .unwrap();
    let url = |method, key: &'static str, ttl, content_type: Option<&str>| {
        let bucket = bucket.clone();
        let content_type = content_type.map(str::to_owned);
        async move {
            let opts = SignedUrlOptions {
                method,
                ttl,
                content_type,
            };
            bucket.signed_url(key, opts).await.unwrap()
        }
    };
    let get = url(
        SignedUrlMethod::Get,
        "signed/a b.txt",
        Duration::from_secs(300),
        None,
    )
    .await;
    let put = url(
        SignedUrlMethod::Put,
        "signed/up.txt",
        Duration::from_secs(300),
        Some("text/plain"),
    )
    .await;
    let short = url(
        SignedUrlMethod::Get,
        "signed/a b.txt",
        Duration::from_secs(1),
        None,
    )
    .await;
    let public = bucket.public_url("signed/a b.txt").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = azure_python::python(format!(
        r#"
import json, os, urllib.request, urllib.error
from azure.storage.blob import BlobServiceClient
def status(req):
    try:
        with urllib.request.urlopen(req) as r:
            return [r.status, r.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, ""]
put = urllib.request.Request({put:?}, data=b"signed upload", method="PUT",
    headers={{"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"}})
seen = {{"get": status({get:?}), "put": status(put), "expired": status({short:?}),
        "private": status({public:?})}}
# Public last: a public container answers anonymous reads, SAS or not.
service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
service.get_container_client("{name}").set_container_access_policy(signed_identifiers={{}}, public_access="blob")
seen["public"] = status({public:?})
print(json.dumps(seen))
"#
    ))
    .await;
    assert_eq!(seen["get"], serde_json::json!([200, "signed download"]));
    assert_eq!(seen["put"][0], 201, "{seen}");
    assert_eq!(seen["expired"][0], 403, "{seen}");
    // The public URL: refused while the container is private, read once public.
    assert_ne!(seen["private"][0], 200, "{seen}");
    assert_eq!(seen["public"], serde_json::json!([200, "signed download"]));
    assert_eq!(
        bucket.download("signed/up.txt").await.unwrap(),
        "signed upload"
    );
}

/// Keys with characters URLs and Blob Storage treat specially are stored,
/// read and listed under exactly the name given; keys with a segment
/// ending in `.` (which the service would store under another name) are
/// refused, never renamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_blob_storage_treats_specially_round_trip_or_are_refused() {
    let h = AzureObjectsHarness::new().await;
    let (name, driver) = h.blob_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    let mut keys = vec![
        "k/100%.txt",
        "k/%41%2F.txt",
        "k/what?.txt",
        "k/hash#1.txt",
        "k/a b  c.txt",
        "k/plus+amp&eq=.txt",
        "k/ключ 日本.txt",
        "k/.hidden",
        "k/semi;colon,comma'quote\"",
    ];
    keys.sort_unstable();
    for key in &keys {
        bucket
            .upload(key, format!("body of {key}"), PutOptions::default())
            .await
            .unwrap_or_else(|e| panic!("upload `{key}`: {e}"));
    }
    for key in &keys {
        let body = bucket
            .download(key)
            .await
            .unwrap_or_else(|e| panic!("download `{key}`: {e}"));
        assert_eq!(body, format!("body of {key}").as_bytes(), "`{key}`");
        assert_eq!(bucket.attrs(key).await.unwrap().key, *key);
    }
    for key in ["k/trailing.", "k/dots../inner", "k/x..."] {
        let err = bucket
            .upload(key, "never stored", PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(err.message().contains("ends with `.`"), "{err}");
        let err = bucket.download(key).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    }
    let listed = bucket
        .list_page(ListOptions {
            prefix: Some("k/".into()),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    let listed: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(listed, keys, "listed names differ from the names given");
}

/// The example config runs on Azurite: `Infra` opens the bucket and stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_from_the_example_config_stores_on_azurite() {
    azure_harness::AZURITE.check_reachable().await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/configs/azure-azurite.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let endpoint = azure_harness::AZURITE.endpoint();
    let env = |name: &str| (name == "STRATA_TEST_AZURITE_BLOB_ENDPOINT").then(|| endpoint.clone());
    let dir = tempfile::tempdir().unwrap();
    let loaded = LoadedConfig {
        config: parse_config(&text, path, registry(), &env).unwrap(),
        base_dir: dir.path().to_path_buf(),
        file: Some(dir.path().join("azure-azurite.json")),
    };
    let infra = Infra::from_config(loaded).await.unwrap();
    let bucket = infra.bucket("uploads").unwrap();
    bucket
        .upload(
            "example/a.txt",
            "from the example config",
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        bucket.download("example/a.txt").await.unwrap(),
        "from the example config"
    );
    bucket.delete("example/a.txt").await.unwrap();
    infra.close().await.unwrap();
}
