//! V4 signed URLs of the GCP provider, signed with a service-account key made
//! for the test and used through fake-gcs-server.
//!
//! Each URL is checked twice: its signature is verified here with the public
//! key, from a canonical request rebuilt out of the URL by Google's V4 rules
//! (so a wrong host, path, query or header in what was signed fails), and it
//! is used with a plain HTTP request against fake-gcs-server, which serves
//! path-style `GET /BUCKET/KEY` and takes `PUT /BUCKET/KEY?X-Goog-Algorithm=…`
//! as a signed upload. fake-gcs-server does not check signatures: that is
//! what the independent verification is for.
//!
//! Signing through IAM `signBlob` (credentials without a key) is tested
//! against a local stand-in for the IAM Credentials API, labelled as such
//! below: it checks the request and signs with the test key, so the URL
//! verifies; Google's IAM itself is not reached.
//!
//! Needs fake-gcs-server: `localstack/emulators up gcs` and `eval
//! "$(localstack/emulators env)"` (`STRATA_TEST_GCS_ENDPOINT`, default
//! `http://127.0.0.1:4443`). Its path-style routes answer only on its
//! `-public-host`, which `localstack/emulators` sets to that endpoint.

#![cfg(feature = "gcp")]
#![allow(clippy::unwrap_used)]

// Shared with gcp_emulators.rs; not every helper is used here.
#[allow(dead_code)]
#[path = "support/gcp_harness.rs"]
mod gcp_harness;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gcp_harness::{GCS, Names};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use strata_core::ErrorCode;
use strata_core::objects::{Bucket, PutOptions, SignedUrlMethod, SignedUrlOptions};
use strata_gcp::{GcpClients, GcpCredentials, GcpSettings, GcsBucket, GcsBucketOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EMAIL: &str = "strata-test@project.iam.gserviceaccount.com";
const TTL: Duration = Duration::from_secs(900);

/// A service-account key made for this run: its public half and the JSON
/// document the provider is configured with.
struct TestKey {
    private: RsaPrivateKey,
    public: RsaPublicKey,
    json: String,
}

/// One key for every test of the run (RSA key generation is slow unoptimised).
static KEY: LazyLock<TestKey> = LazyLock::new(|| {
    let private = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": gcp_harness::PROJECT,
        "private_key_id": "strata-test-key",
        "private_key": pem.as_str(),
        "client_email": EMAIL,
        "token_uri": "http://127.0.0.1:9/token",
    })
    .to_string();
    TestKey {
        public: private.to_public_key(),
        private,
        json,
    }
});

/// Clients for fake-gcs-server holding `credentials`.
async fn clients_with(credentials: GcpCredentials) -> GcpClients {
    GCS.check_reachable().await;
    let settings = GcpSettings {
        credentials,
        ..gcp_harness::settings()
    };
    GcpClients::connect(&settings).await.unwrap()
}

/// A fresh bucket on fake-gcs-server whose clients sign with [`KEY`].
async fn signing_bucket() -> Bucket {
    let key = tokio::task::spawn_blocking(|| KEY.json.clone())
        .await
        .unwrap();
    let clients = clients_with(GcpCredentials::ServiceAccountJson(key)).await;
    open_bucket(&clients).await
}

async fn open_bucket(clients: &GcpClients) -> Bucket {
    let name = Names::new().unique("sig");
    let opts = GcsBucketOptions {
        provision: true,
        ..GcsBucketOptions::default()
    };
    let driver = GcsBucket::open(clients, &name, opts).await.unwrap();
    Bucket::new(name, Arc::new(driver))
}

/// A signed URL taken apart; query values are percent-decoded.
#[derive(Debug, Clone)]
struct SignedUrl {
    scheme: String,
    host: String,
    /// As it appears in the URL (percent-encoded).
    path: String,
    /// As it appears in the URL, for sending it back unchanged.
    raw_query: String,
    query: Vec<(String, String)>,
}

impl SignedUrl {
    fn parse(url: &str) -> SignedUrl {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, rest) = rest.split_once('/').unwrap();
        let (path, raw_query) = rest.split_once('?').unwrap();
        let query = raw_query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect();
        SignedUrl {
            scheme: scheme.to_owned(),
            host: authority.to_owned(),
            path: format!("/{path}"),
            raw_query: raw_query.to_owned(),
            query,
        }
    }

    /// The one value of query parameter `name`.
    fn param(&self, name: &str) -> &str {
        let values: Vec<_> = self.query.iter().filter(|(n, _)| n == name).collect();
        assert_eq!(values.len(), 1, "{name} once in {self:?}");
        &values[0].1
    }
}

/// Percent-decoding of a query component (`+` is a space there).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Google's V4 encoding: everything but `A-Z a-z 0-9 - . _ ~` as `%XX`
/// (and `/` too, unless `keep_slash`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the signature of `url` for a `method` request that sends the
/// `Host` of the URL plus `headers`, the way Cloud Storage checks it:
/// canonical request → string to sign → RSA-SHA256 (PKCS#1 v1.5) with the
/// signer's public key.
fn verify(
    url: &SignedUrl,
    method: &str,
    headers: &[(&str, &str)],
    key: &RsaPublicKey,
) -> Result<(), String> {
    // The headers the request sends, as `name:value`, sorted by name.
    let mut sent: BTreeMap<String, String> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    sent.insert("host".into(), url.host.clone());
    let signed_names = url.param("X-Goog-SignedHeaders");
    let mut canonical_headers = String::new();
    for name in signed_names.split(';') {
        let value = sent
            .get(name)
            .ok_or_else(|| format!("signed header `{name}` is not sent"))?;
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    // The path as the server sees it (decoded), encoded again by the rules.
    let path = encode(&decode(&url.path.replace('+', "%2B")), true);
    let mut query: Vec<(String, String)> = url
        .query
        .iter()
        .filter(|(name, _)| name != "X-Goog-Signature")
        .map(|(n, v)| (encode(n, false), encode(v, false)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request =
        format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed_names}\nUNSIGNED-PAYLOAD");
    let credential = url.param("X-Goog-Credential");
    let (_, scope) = credential
        .split_once('/')
        .ok_or_else(|| format!("credential `{credential}` has no scope"))?;
    let string_to_sign = format!(
        "GOOG4-RSA-SHA256\n{}\n{scope}\n{}",
        url.param("X-Goog-Date"),
        hex(&Sha256::digest(canonical_request.as_bytes())),
    );
    let signature = unhex(url.param("X-Goog-Signature"))?;
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(string_to_sign.as_bytes()),
        &signature,
    )
    .map_err(|e| format!("{e}; canonical request:\n{canonical_request}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{text}` is not hex"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Seconds since the epoch of a `YYYYMMDDTHHMMSSZ` timestamp.
fn epoch_seconds(stamp: &str) -> i64 {
    assert!(
        stamp.len() == 16 && &stamp[8..9] == "T" && stamp.ends_with('Z'),
        "X-Goog-Date `{stamp}`"
    );
    let num = |range: std::ops::Range<usize>| stamp[range].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(4..6), num(6..8));
    // Days from the civil date (proleptic Gregorian), March-based years.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + num(9..11) * 3_600 + num(11..13) * 60 + num(13..15)
}

/// Asserts what every signed URL of the provider holds: the emulator's
/// scheme and host, the path-style path, and the V4 query parameters.
fn assert_v4_url(url: &SignedUrl, bucket: &Bucket, encoded_key: &str, signed_headers: &str) {
    let endpoint = GCS.endpoint();
    let (scheme, authority) = endpoint.split_once("://").unwrap();
    assert_eq!(url.scheme, scheme, "{url:?}");
    assert_eq!(url.host, authority.trim_end_matches('/'), "{url:?}");
    assert_eq!(url.path, format!("/{}/{encoded_key}", bucket.name()));
    assert_eq!(url.param("X-Goog-Algorithm"), "GOOG4-RSA-SHA256");
    let date = url.param("X-Goog-Date");
    let credential = url.param("X-Goog-Credential");
    assert_eq!(
        credential,
        format!("{EMAIL}/{}/auto/storage/goog4_request", &date[..8]),
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let skew = epoch_seconds(date) - i64::try_from(now.as_secs()).unwrap();
    assert!(skew.abs() < 300, "X-Goog-Date {date} is {skew} s from now");
    assert_eq!(url.param("X-Goog-Expires"), TTL.as_secs().to_string());
    assert_eq!(url.param("X-Goog-SignedHeaders"), signed_headers);
    let signature = url.param("X-Goog-Signature");
    assert_eq!(signature.len(), 512, "a 2048-bit signature in hex");
    assert!(unhex(signature).is_ok(), "{signature}");
}

/// A response: status and body.
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// Sends `method url` with `headers` and `body` over a plain TCP connection,
/// as any HTTP client would: `Host` is the URL's authority, the target its
/// path and query unchanged. HTTP/1.0 so the body ends at the close.
async fn send(method: &str, url: &SignedUrl, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = tokio::net::TcpStream::connect(&url.host).await.unwrap();
    let mut request = format!(
        "{method} {}?{} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\n",
        url.path,
        url.raw_query,
        url.host,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("fake-gcs-server answered within 30 s")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line of {head:?}"));
    Response {
        status,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_get_points_at_the_emulator_verifies_and_downloads() {
    let bucket = signing_bucket().await;
    let key = "docs/hello world+1.txt";
    bucket
        .upload(key, "signed bytes", PutOptions::default())
        .await
        .unwrap();
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Get,
        ttl: TTL,
        content_type: None,
    };
    let url = SignedUrl::parse(&bucket.signed_url(key, opts).await.unwrap());
    assert_v4_url(&url, &bucket, "docs/hello%20world%2B1.txt", "host");
    verify(&url, "GET", &[], &KEY.public).unwrap();

    let response = send("GET", &url, &[], b"").await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.body, b"signed bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_put_signs_the_content_type_and_uploads() {
    let bucket = signing_bucket().await;
    let key = "in/report é.json";
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Put,
        ttl: TTL,
        content_type: Some("application/json".into()),
    };
    let url = SignedUrl::parse(&bucket.signed_url(key, opts).await.unwrap());
    assert_v4_url(
        &url,
        &bucket,
        "in/report%20%C3%A9.json",
        "content-type;host",
    );
    let headers = [("Content-Type", "application/json")];
    verify(&url, "PUT", &headers, &KEY.public).unwrap();
    // The content type is part of the signature: another one does not verify,
    // and neither does a GET with the PUT URL.
    let other = [("Content-Type", "text/plain")];
    assert!(verify(&url, "PUT", &other, &KEY.public).is_err());
    assert!(verify(&url, "GET", &headers, &KEY.public).is_err());

    let body = br#"{"signed":true}"#;
    let response = send("PUT", &url, &headers, body).await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(bucket.download(key).await.unwrap(), &body[..]);
    let attrs = bucket.attrs(key).await.unwrap();
    assert_eq!(attrs.content_type.as_deref(), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signature_check_fails_for_another_host_path_or_expiry() {
    let bucket = signing_bucket().await;
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Get,
        ttl: TTL,
        content_type: None,
    };
    let url = SignedUrl::parse(&bucket.signed_url("a.txt", opts).await.unwrap());
    verify(&url, "GET", &[], &KEY.public).unwrap();

    // What the crate signs by default: the same URL on Google's host.
    let google = SignedUrl {
        host: "storage.googleapis.com".into(),
        ..url.clone()
    };
    assert!(verify(&google, "GET", &[], &KEY.public).is_err());
    let other_key = SignedUrl {
        path: format!("/{}/b.txt", bucket.name()),
        ..url.clone()
    };
    assert!(verify(&other_key, "GET", &[], &KEY.public).is_err());
    let mut longer = url.clone();
    for (name, value) in &mut longer.query {
        if name == "X-Goog-Expires" {
            *value = "604800".into();
        }
    }
    assert!(verify(&longer, "GET", &[], &KEY.public).is_err());
    // And another key does not verify it at all.
    let stranger = tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut OsRng, 2048))
        .await
        .unwrap()
        .unwrap()
        .to_public_key();
    assert!(verify(&url, "GET", &[], &stranger).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_cannot_sign_and_say_what_to_configure() {
    let clients = clients_with(GcpCredentials::Anonymous).await;
    let bucket = open_bucket(&clients).await;
    assert!(!bucket.capabilities().signed_urls);
    for method in [SignedUrlMethod::Get, SignedUrlMethod::Put] {
        let opts = SignedUrlOptions {
            method,
            ttl: TTL,
            content_type: None,
        };
        let err = bucket.signed_url("a.txt", opts).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unsupported, "{err}");
        assert!(err.message().contains("service_account_json"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_cannot_sign_is_invalid_config_and_never_echoed() {
    let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA";
    let json = serde_json::json!({
        "type": "service_account",
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
        "client_email": EMAIL,
    })
    .to_string();
    let clients = clients_with(GcpCredentials::ServiceAccountJson(json)).await;
    assert!(!format!("{clients:?}").contains(secret));
    let opts = GcsBucketOptions {
        provision: true,
        ..GcsBucketOptions::default()
    };
    let err = GcsBucket::open(&clients, &Names::new().unique("sig"), opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("private_key"), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
}

/// What the IAM stand-in received: the request target and the JSON body.
struct SignBlobRequest {
    target: String,
    body: serde_json::Value,
}

/// A STAND-IN for the IAM Credentials API on a local port, NOT Google's IAM
/// (which cannot run here): it accepts one `signBlob` request, keeps what
/// was sent, and answers as IAM documents it (`{"keyId", "signedBlob"}`),
/// signing the payload with the test key. What this proves: the request
/// Strata sends (the account in the path, the base64 string-to-sign in the
/// body) and that the URL is built from the answer. What it cannot: IAM's
/// permission checks and Google's endpoint itself.
async fn iam_stand_in() -> (String, tokio::task::JoinHandle<SignBlobRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut raw = Vec::new();
        let (head, body) = loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the request ended early: {raw:?}");
            raw.extend_from_slice(&chunk[..n]);
            let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..split]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if raw.len() >= split + 4 + length {
                break (head, raw[split + 4..split + 4 + length].to_vec());
            }
        };
        let target = head.split_whitespace().nth(1).unwrap().to_owned();
        assert!(head.starts_with("POST "), "{head}");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let payload = base64_decode(body["payload"].as_str().unwrap());
        let signature = KEY
            .private
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&payload))
            .unwrap();
        let answer = serde_json::json!({
            "keyId": "stand-in-key",
            "signedBlob": base64_encode(&signature),
        })
        .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        SignBlobRequest { target, body }
    });
    (endpoint, task)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut bits, mut acc) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = BASE64.iter().position(|b| *b == c).unwrap() as u32;
        acc = acc << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn the_test_base64_round_trips() {
    for bytes in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0, 255, 128, 7]] {
        assert_eq!(base64_decode(&base64_encode(bytes)), bytes);
    }
    assert_eq!(base64_encode(b"Hi"), "SGk=");
}

/// Credentials without a private key (here: none at all) sign through IAM
/// `signBlob` as `signing_service_account`: the capability is claimed, the
/// request names the account and carries the V4 string-to-sign, and the URL
/// built from the answer verifies with the key IAM signed with and
/// downloads from fake-gcs-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_urls_are_signed_by_iam_sign_blob_as_the_signing_account() {
    let public = tokio::task::spawn_blocking(|| KEY.public.clone())
        .await
        .unwrap();
    let (iam, received) = iam_stand_in().await;
    GCS.check_reachable().await;
    let settings = GcpSettings {
        credentials: GcpCredentials::Anonymous,
        signing_service_account: Some(EMAIL.into()),
        iam_endpoint: Some(iam),
        ..gcp_harness::settings()
    };
    let clients = GcpClients::connect(&settings).await.unwrap();
    let bucket = open_bucket(&clients).await;
    assert!(bucket.capabilities().signed_urls);
    bucket
        .upload("iam.txt", "signed by IAM", PutOptions::default())
        .await
        .unwrap();
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Get,
        ttl: TTL,
        content_type: None,
    };
    let url = SignedUrl::parse(&bucket.signed_url("iam.txt", opts).await.unwrap());
    let request = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .expect("signBlob was called")
        .unwrap();
    assert_eq!(
        request.target,
        format!("/v1/projects/-/serviceAccounts/{EMAIL}:signBlob")
    );
    let payload =
        String::from_utf8(base64_decode(request.body["payload"].as_str().unwrap())).unwrap();
    assert!(payload.starts_with("GOOG4-RSA-SHA256\n"), "{payload}");
    assert_v4_url(&url, &bucket, "iam.txt", "host");
    verify(&url, "GET", &[], &public).unwrap();
    let response = send("GET", &url, &[], b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"signed by IAM");
}

/// A refused `signBlob` (here: nothing listens) is an error of the call,
/// not a URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sign_blob_call_is_an_error_not_a_url() {
    GCS.check_reachable().await;
    let settings = GcpSettings {
        credentials: GcpCredentials::Anonymous,
        signing_service_account: Some(EMAIL.into()),
        iam_endpoint: Some("http://127.0.0.1:9".into()),
        ..gcp_harness::settings()
    };
    let clients = GcpClients::connect(&settings).await.unwrap();
    let bucket = open_bucket(&clients).await;
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Get,
        ttl: TTL,
        content_type: None,
    };
    let err = bucket.signed_url("a.txt", opts).await.unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::Unavailable | ErrorCode::Internal),
        "{err}"
    );
    assert!(err.message().contains("signBlob"), "{err}");
}
