//! The client-credentials exchange against a local stand-in for the Entra
//! token endpoint. `azure_identity` insists on an https:// authority, so the
//! tests send through `through_loopback`'s transport, which takes each
//! request to the local listener over plain HTTP instead; everything above
//! the transport (the form, the answer, the errors) is the crate's own.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use strata_core::sqldb::CachedToken;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const TENANT: &str = "0000aaaa-11bb-22cc-33dd-444444eeeeee";
const CLIENT: &str = "app-1234";
const SECRET: &str = "s3cr3t~value";

/// A token endpoint answering every request with `status` and `body`,
/// counting requests and keeping the last path and form.
struct Endpoint {
    port: u16,
    requests: Arc<AtomicU32>,
    last: Arc<Mutex<Option<(String, String)>>>,
}

impl Endpoint {
    async fn serve(status: u16, body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU32::new(0));
        let last = Arc::new(Mutex::new(None));
        let (count, seen) = (requests.clone(), last.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (path, form) = read_request(&mut socket).await;
                count.fetch_add(1, Ordering::SeqCst);
                *seen.lock().unwrap() = Some((path, form));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        Self {
            port,
            requests,
            last,
        }
    }

    async fn token(expires_in: u64, token: &str) -> Self {
        Self::serve(
            200,
            format!(
                r#"{{"token_type":"Bearer","expires_in":{expires_in},"ext_expires_in":{expires_in},"access_token":"{token}"}}"#
            ),
        )
        .await
    }

    fn requests(&self) -> u32 {
        self.requests.load(Ordering::SeqCst)
    }

    fn last(&self) -> (String, String) {
        self.last.lock().unwrap().clone().unwrap()
    }
}

/// The request line's path and the body of one HTTP/1.1 request.
async fn read_request(socket: &mut tokio::net::TcpStream) -> (String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length || n == 0 {
                let path = text.split(' ').nth(1).unwrap().to_owned();
                return (path, text[end + 4..].to_string());
            }
        }
        assert!(n > 0, "the client closed before a whole request");
    }
}

fn service_principal() -> EntraSettings {
    EntraSettings {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT.into()),
        client_secret: Some(SECRET.into()),
    }
}

fn source(port: u16) -> EntraAuthTokenSource {
    EntraAuthTokenSource::through_loopback(&service_principal(), DATABASE_SCOPE, port).unwrap()
}

fn form_field(form: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn client_secret_grant_sends_the_form_and_returns_token_and_expiry() {
    let endpoint = Endpoint::token(3600, "entra-token-1").await;
    let before = SystemTime::now();
    let token = source(endpoint.port).fetch().await.unwrap();
    assert_eq!(token.secret(), "entra-token-1");
    let lifetime = token.expires_at().duration_since(before).unwrap();
    assert!(
        (Duration::from_secs(3595)..=Duration::from_secs(3605)).contains(&lifetime),
        "{lifetime:?}"
    );
    let (path, form) = endpoint.last();
    assert_eq!(path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        form_field(&form, "grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(form_field(&form, "client_id").as_deref(), Some(CLIENT));
    assert_eq!(form_field(&form, "client_secret").as_deref(), Some(SECRET));
    assert_eq!(form_field(&form, "scope").as_deref(), Some(DATABASE_SCOPE));
}

#[tokio::test]
async fn a_source_for_another_scope_asks_for_that_scope() {
    let endpoint = Endpoint::token(3600, "bus-token").await;
    let bus = EntraAuthTokenSource::through_loopback(
        &service_principal(),
        crate::SERVICE_BUS_SCOPE,
        endpoint.port,
    )
    .unwrap();
    assert_eq!(bus.fetch().await.unwrap().secret(), "bus-token");
    let (_, form) = endpoint.last();
    assert_eq!(
        form_field(&form, "scope").as_deref(),
        Some("https://servicebus.azure.net/.default")
    );
}

#[tokio::test]
async fn cached_token_refreshes_within_the_margin_and_not_before() {
    // azure_identity's own cache refetches tokens within 5 minutes of
    // expiry, so with a 3 s token every refresh reaches the endpoint.
    let endpoint = Endpoint::token(3, "short-lived").await;
    let cache =
        CachedToken::new(Arc::new(source(endpoint.port))).with_margin(Duration::from_secs(2));
    cache.get().await.unwrap();
    cache.get().await.unwrap();
    assert_eq!(endpoint.requests(), 1, "a fresh token is reused");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(cache.get().await.unwrap().secret(), "short-lived");
    assert_eq!(endpoint.requests(), 2, "fetched again within the margin");
}

#[tokio::test]
async fn refused_credentials_are_permission_denied_naming_the_principal_not_the_secret() {
    for status in [400, 401] {
        let body = format!(
            r#"{{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: {SECRET}","error_codes":[7000215]}}"#
        );
        let endpoint = Endpoint::serve(status, body).await;
        let err = source(endpoint.port).fetch().await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{status}: {err}");
        let text = err.to_string();
        assert!(text.contains(CLIENT) && text.contains(TENANT), "{text}");
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[tokio::test]
async fn an_overloaded_endpoint_is_unavailable() {
    let endpoint = Endpoint::serve(503, r#"{"error":"temporarily_unavailable"}"#.into()).await;
    let err = source(endpoint.port).fetch().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(err.message().contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = source(port).fetch().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[tokio::test]
async fn the_cache_refuses_a_token_within_the_five_minute_margin() {
    // The source hands it over; the cache, with the source's margin, refuses it.
    let endpoint = Endpoint::token(60, "too-short").await;
    let source = Arc::new(source(endpoint.port));
    assert_eq!(source.refresh_margin(), CachedToken::DEFAULT_MARGIN);
    assert_eq!(source.fetch().await.unwrap().secret(), "too-short");
    let err = CachedToken::new(source).get().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "{err}");
    let text = err.to_string();
    assert!(text.contains(CLIENT) && text.contains(TENANT), "{text}");
    assert!(!text.contains("too-short"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn a_secret_without_ids_is_invalid_config_naming_what_to_set() {
    let settings = EntraSettings {
        client_secret: Some(SECRET.into()),
        client_id: Some(CLIENT.into()),
        tenant_id: None,
    };
    let err = EntraAuthTokenSource::new(&settings).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    assert!(err.message().contains("AZURE_TENANT_ID"), "{err}");
    assert!(!err.message().contains("AZURE_CLIENT_ID"), "{err}");
    assert!(!err.message().contains(SECRET), "{err}");
}

#[test]
fn an_invalid_tenant_id_is_invalid_config() {
    let settings = EntraSettings {
        tenant_id: Some("not a tenant!".into()),
        ..service_principal()
    };
    let err = EntraAuthTokenSource::new(&settings).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(!err.message().contains(SECRET), "{err}");
}

#[test]
fn without_a_secret_a_managed_identity_is_used() {
    let user_assigned = EntraAuthTokenSource::new(&EntraSettings {
        client_id: Some("mi-5678".into()),
        ..EntraSettings::default()
    })
    .unwrap();
    assert_eq!(
        user_assigned.describe(),
        "Entra ID access token for user-assigned managed identity mi-5678"
    );
    let system = EntraAuthTokenSource::new(&EntraSettings::default()).unwrap();
    assert!(system.describe().contains("system-assigned"), "{system:?}");
    assert_eq!(system.refresh_margin(), CachedToken::DEFAULT_MARGIN);
}

#[test]
fn debug_never_shows_the_secret() {
    let settings = service_principal();
    let shown = format!(
        "{settings:?} {:?}",
        EntraAuthTokenSource::new(&settings).unwrap()
    );
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains(CLIENT) && shown.contains(TENANT), "{shown}");
}
