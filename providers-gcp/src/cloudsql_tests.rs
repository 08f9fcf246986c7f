//! Tests of [`super`]: the assertion, the exchange against a local stand-in
//! for Google's OAuth token endpoint, refresh, and what errors show.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const EMAIL: &str = "app@demo.iam.gserviceaccount.com";
const KEY_ID: &str = "0123456789abcdef";

/// One throwaway RSA key for all tests (generating one is slow without
/// optimisations), and its PKCS#8 PEM.
fn key() -> &'static (RsaPrivateKey, String) {
    static KEY: OnceLock<(RsaPrivateKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        (key, pem)
    })
}

/// A line from the middle of the private key's PEM: no message may hold it.
fn key_line() -> &'static str {
    key().1.lines().nth(5).unwrap()
}

fn key_json(token_uri: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "demo",
        "private_key_id": KEY_ID,
        "private_key": key().1,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
    .to_string()
}

fn source(token_uri: &str) -> CloudSqlAuthTokenSource {
    CloudSqlAuthTokenSource::new(&GcpCredentials::ServiceAccountJson(key_json(token_uri))).unwrap()
}

fn decode_json(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Checks an assertion's signature with the public key; returns its
/// header and claims.
fn verified(
    assertion: &str,
) -> std::result::Result<(serde_json::Value, serde_json::Value), String> {
    let (signed, signature) = assertion.rsplit_once('.').ok_or("no signature")?;
    let (header, claims) = signed.split_once('.').ok_or("no claims")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?;
    let signature = Signature::try_from(signature.as_slice()).map_err(|e| e.to_string())?;
    VerifyingKey::<Sha256>::new(RsaPublicKey::from(&key().0))
        .verify(signed.as_bytes(), &signature)
        .map_err(|e| format!("bad signature: {e}"))?;
    Ok((decode_json(header), decode_json(claims)))
}

/// What the stand-in token endpoint answers.
#[derive(Clone, Copy)]
enum Answer {
    Token {
        expires_in: u64,
    },
    /// `{assertion}` in the body is replaced by the assertion received.
    Refuse {
        status: u16,
        body: &'static str,
    },
}

/// A stand-in for Google's OAuth 2.0 token endpoint (no emulator offers
/// one): it checks each JWT-bearer request as Google would — grant type,
/// assertion signed by the key, `aud` its own URL — and answers as RFC
/// 6749 says.
struct TokenEndpoint {
    url: String,
    requests: Arc<AtomicUsize>,
    problems: Arc<Mutex<Vec<String>>>,
    assertions: Arc<Mutex<Vec<String>>>,
}

impl TokenEndpoint {
    async fn start(answer: Answer) -> TokenEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let endpoint = TokenEndpoint {
            url: url.clone(),
            requests: Arc::default(),
            problems: Arc::default(),
            assertions: Arc::default(),
        };
        let (requests, problems, assertions) = (
            endpoint.requests.clone(),
            endpoint.problems.clone(),
            endpoint.assertions.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                let (url, problems, assertions) =
                    (url.clone(), problems.clone(), assertions.clone());
                tokio::spawn(async move {
                    answer_one(stream, &url, n, answer, &problems, &assertions).await;
                });
            }
        });
        endpoint
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn assert_requests_were_valid(&self) {
        let problems = self.problems.lock().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }
}

async fn answer_one(
    mut stream: TcpStream,
    url: &str,
    n: usize,
    answer: Answer,
    problems: &Mutex<Vec<String>>,
    assertions: &Mutex<Vec<String>>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body) = loop {
        let read = stream.read(&mut buf).await.unwrap();
        request.extend_from_slice(&buf[..read]);
        let text = String::from_utf8_lossy(&request).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length || read == 0 {
                break (head.to_owned(), body.to_owned());
            }
        }
        assert!(read > 0, "the request ended early");
    };
    let form: std::collections::HashMap<String, String> = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect();
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    assertions.lock().unwrap().push(assertion.clone());
    let check = || -> std::result::Result<(), String> {
        if !head.starts_with("POST /token HTTP/1.1") {
            return Err(format!(
                "request line: {}",
                head.lines().next().unwrap_or("")
            ));
        }
        if !head
            .to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded")
        {
            return Err("not a form".into());
        }
        if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER_GRANT) {
            return Err(format!("grant_type {:?}", form.get("grant_type")));
        }
        let (header, claims) = verified(&assertion)?;
        if claims["aud"] != url {
            return Err(format!("aud {} is not {url}", claims["aud"]));
        }
        if header["alg"] != "RS256" || claims["iss"] != EMAIL {
            return Err(format!("header {header} claims {claims}"));
        }
        Ok(())
    };
    let (status, body) = match (check(), answer) {
        (Err(problem), _) => {
            problems.lock().unwrap().push(problem);
            (400, r#"{"error":"invalid_request"}"#.to_owned())
        }
        (Ok(()), Answer::Token { expires_in }) => (
            200,
            format!(
                r#"{{"access_token":"ya29.stand-in-{n}","expires_in":{expires_in},"token_type":"Bearer"}}"#
            ),
        ),
        (Ok(()), Answer::Refuse { status, body }) => {
            (status, body.replace("{assertion}", &assertion))
        }
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await.unwrap();
    let _ = stream.shutdown().await;
}

#[tokio::test]
async fn the_assertion_is_an_rs256_jwt_for_the_token_endpoint() {
    let source = source("https://oauth2.example/token");
    let Source::ServiceAccount(grant) = &source.credentials else {
        panic!("a key gives the JWT-bearer grant");
    };
    let assertion = grant.assertion(1_700_000_000).await.unwrap();
    let (header, claims) = verified(&assertion).unwrap();
    assert_eq!(
        header,
        serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": KEY_ID })
    );
    assert_eq!(
        claims,
        serde_json::json!({
            "iss": EMAIL,
            "scope": "https://www.googleapis.com/auth/sqlservice.login",
            "aud": "https://oauth2.example/token",
            "iat": 1_700_000_000,
            "exp": 1_700_003_600,
        })
    );
}

#[tokio::test]
async fn a_token_and_its_expiry_come_from_the_token_endpoint() {
    let endpoint = TokenEndpoint::start(Answer::Token { expires_in: 3599 }).await;
    let before = SystemTime::now();
    let token = source(&endpoint.url).fetch().await.unwrap();
    endpoint.assert_requests_were_valid();
    assert_eq!(token.secret(), "ya29.stand-in-1");
    let lifetime = token.expires_at().duration_since(before).unwrap();
    assert!(
        lifetime >= Duration::from_secs(3599) && lifetime < Duration::from_secs(3605),
        "{lifetime:?}"
    );
}

#[tokio::test]
async fn a_cached_token_is_fetched_again_within_the_margin_and_not_before() {
    let endpoint = TokenEndpoint::start(Answer::Token { expires_in: 3 }).await;
    let cache =
        CachedToken::new(Arc::new(source(&endpoint.url))).with_margin(Duration::from_secs(1));
    let first = cache.get().await.unwrap();
    assert_eq!(first.secret(), "ya29.stand-in-1");
    // Valid 3 s, refreshed 1 s before it expires: due 2 s after it was asked for.
    let due = cache.refresh_at(&first);
    let until = |at: SystemTime| at.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(until(due - Duration::from_millis(400))).await;
    assert_eq!(cache.get().await.unwrap().secret(), "ya29.stand-in-1");
    assert_eq!(endpoint.requests(), 1, "refetched before the margin");
    tokio::time::sleep(until(due + Duration::from_millis(200))).await;
    assert_eq!(cache.get().await.unwrap().secret(), "ya29.stand-in-2");
    assert_eq!(cache.get().await.unwrap().secret(), "ya29.stand-in-2");
    assert_eq!(endpoint.requests(), 2);
    endpoint.assert_requests_were_valid();
}

#[tokio::test]
async fn the_cache_refreshes_adc_tokens_a_minute_early_and_key_tokens_five() {
    // Two minutes left: over the ADC margin, within a key's.
    let endpoint = TokenEndpoint::start(Answer::Token { expires_in: 120 }).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), key_json(&endpoint.url)).unwrap();
    let adc = CachedToken::new(Arc::new(CloudSqlAuthTokenSource::application_default(
        Some(file.path().into()),
    )));
    let token = adc.get().await.unwrap();
    assert_eq!(adc.refresh_at(&token), token.expires_at() - ADC_MARGIN);

    let key = CachedToken::new(Arc::new(source(&endpoint.url)));
    let err = key.get().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "{err}");
    assert!(err.message().contains(EMAIL), "{err}");
    assert!(!err.message().contains("ya29"), "a token leaked: {err}");
    endpoint.assert_requests_were_valid();
}

#[tokio::test]
async fn a_refused_grant_is_permission_denied_naming_the_account_without_secrets() {
    let endpoint = TokenEndpoint::start(Answer::Refuse {
        status: 400,
        body: r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature: {assertion}"}"#,
    })
    .await;
    let source = source(&endpoint.url);
    let err = source.fetch().await.unwrap_err();
    endpoint.assert_requests_were_valid();
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains(EMAIL), "{shown}");
    assert!(
        shown.contains("invalid_grant: Invalid JWT Signature"),
        "{shown}"
    );
    let assertion = endpoint.assertions.lock().unwrap()[0].clone();
    let signature = assertion.rsplit('.').next().unwrap();
    assert!(!shown.contains(signature), "the assertion leaked: {shown}");
    assert!(!shown.contains(key_line()), "the key leaked: {shown}");

    let endpoint = TokenEndpoint::start(Answer::Refuse {
        status: 401,
        body: r#"{"error":"unauthorized_client"}"#,
    })
    .await;
    let err = self::source(&endpoint.url).fetch().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    assert!(err.message().contains("unauthorized_client"), "{err}");
}

#[tokio::test]
async fn a_failing_token_endpoint_is_unavailable() {
    let endpoint = TokenEndpoint::start(Answer::Refuse {
        status: 503,
        body: "overloaded",
    })
    .await;
    let err = source(&endpoint.url).fetch().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable);
    assert!(err.message().contains("503"), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    drop(listener);
    let err = source(&url).fetch().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable);
    assert!(err.message().contains(&url), "{err}");
    assert!(err.message().contains(EMAIL), "{err}");
}

#[tokio::test]
async fn debug_and_descriptions_never_show_the_key_or_a_token() {
    let endpoint = TokenEndpoint::start(Answer::Token { expires_in: 3600 }).await;
    let source = source(&endpoint.url);
    let token = source.fetch().await.unwrap();
    let cache = CachedToken::new(Arc::new(source));
    cache.get().await.unwrap();
    let shown = format!("{cache:?} {token:?} {}", cache.describe());
    assert!(shown.contains(EMAIL), "{shown}");
    assert!(!shown.contains(key_line()), "the key leaked: {shown}");
    assert!(!shown.contains("ya29"), "a token leaked: {shown}");
}

#[test]
fn anonymous_credentials_are_invalid_config() {
    let err = CloudSqlAuthTokenSource::new(&GcpCredentials::Anonymous).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    assert!(err.message().contains("gcp_iam"), "{err}");
    assert!(err.message().contains("needs GCP credentials"), "{err}");
}

#[test]
fn keys_that_cannot_be_used_are_invalid_config_without_their_content() {
    let cases = [
        ("not json, SECRET-1".to_owned(), "not JSON"),
        (
            r#"{"type":"authorized_user","client_email":"a@b","refresh_token":"SECRET-1"}"#
                .to_owned(),
            "authorized_user",
        ),
        (
            key_json("http://oauth2.example/token"),
            "http:// only to localhost",
        ),
        (
            key_json("https://oauth2.example/token").replace("BEGIN PRIVATE", "BEGIN SECRET-1"),
            "not a usable RSA key",
        ),
    ];
    for (json, expected) in cases {
        let err =
            CloudSqlAuthTokenSource::new(&GcpCredentials::ServiceAccountJson(json)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
        assert!(err.message().contains(expected), "{expected}: {err}");
        assert!(!err.message().contains(key_line()), "the key leaked: {err}");
    }
}

#[test]
fn token_uris_must_be_https_or_local() {
    assert!(check_token_uri("https://oauth2.googleapis.com/token").is_ok());
    assert!(check_token_uri("http://127.0.0.1:8080/token").is_ok());
    assert!(check_token_uri("http://[::1]:8080/token").is_ok());
    assert!(check_token_uri("http://localhost/token").is_ok());
    assert!(check_token_uri("http://oauth2.googleapis.com/token").is_err());
    assert!(check_token_uri("ftp://x/token").is_err());
}

#[test]
fn the_database_user_of_a_service_account_drops_its_domain() {
    let source = source("https://oauth2.googleapis.com/token");
    assert_eq!(source.database_user().as_deref(), Some("app@demo.iam"));
    assert_eq!(source.refresh_margin(), CachedToken::DEFAULT_MARGIN);
    let adc = CloudSqlAuthTokenSource::application_default(None);
    assert_eq!(adc.database_user(), None);
    assert_eq!(adc.refresh_margin(), ADC_MARGIN);
}

#[tokio::test]
async fn an_adc_service_account_key_file_uses_the_jwt_bearer_grant() {
    let endpoint = TokenEndpoint::start(Answer::Token { expires_in: 3600 }).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), key_json(&endpoint.url)).unwrap();
    let source = CloudSqlAuthTokenSource::application_default(Some(file.path().into()));
    assert_eq!(source.fetch().await.unwrap().secret(), "ya29.stand-in-1");
    assert_eq!(source.fetch().await.unwrap().secret(), "ya29.stand-in-2");
    endpoint.assert_requests_were_valid();
    assert!(
        source
            .describe()
            .contains("Application Default Credentials")
    );
}
