//! The Service Bus provider authorized with Entra ID, end to end: the
//! provider's Entra source (azure_identity's client-credentials grant) asks
//! a local stand-in for the token endpoint, which issues JWTs; a private
//! Service Bus emulator with its `Entra` section takes them as `jwt`
//! put-tokens on `$cbs` and as `Bearer` on its management API. Tokens with
//! the wrong audience or already expired are refused (`PermissionDenied`
//! naming the namespace and the principal, never the secret or the token);
//! a short-lived token is renewed on the open connection.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/servicebus_emulator.rs"]
mod servicebus_emulator;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use servicebus_emulator::PrivateServiceBus;
use strata_azure::pubsub::STANDARD_MAX_MESSAGE_BYTES;
use strata_azure::{
    EntraAuthTokenSource, EntraSettings, SERVICE_BUS_SCOPE, ServiceBusAuth, ServiceBusNamespace,
    ServiceBusSettings, ServiceBusSubscription, ServiceBusSubscriptionOptions, ServiceBusTopic,
};
use strata_core::pubsub::{OutgoingMessage, SubscriptionDriver, TopicDriver};
use strata_core::sqldb::CachedToken;
use strata_core::{Error, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TENANT: &str = "5f1c0ffe-0000-4000-8000-00000000e17a";
const CLIENT: &str = "app-strata-entra-test";
const SECRET: &str = "entra-s3cr3t~value";
const AUDIENCE: &str = "https://servicebus.azure.net";

/// The emulator's namespace: no entities, Entra ID tokens of `TENANT` taken.
const CONFIG: &str = r#"{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[],
  "Topics":[],"Entra":{"TenantId":"5f1c0ffe-0000-4000-8000-00000000e17a"}}],
  "Logging":{"Type":"Console"}}}"#;

const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {LIMIT:?}"))
}

fn unix_now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// What the stand-in's tokens claim.
#[derive(Clone, Copy)]
struct Issued {
    audience: &'static str,
    /// The token's lifetime, as both `expires_in` and the `exp` claim.
    lifetime: i64,
    /// Added to `exp` only: a negative skew is a token already expired
    /// that the endpoint says is fresh.
    exp_skew: i64,
}

/// A JWT as Entra shapes one (unsigned: nothing here can check Entra's
/// signatures, and the emulator does not try).
fn jwt(issued: Issued, serial: u32) -> String {
    let part = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = unix_now();
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "test"})),
        part(serde_json::json!({
            "aud": issued.audience, "iss": format!("https://sts.windows.net/{TENANT}/"),
            "tid": TENANT, "appid": CLIENT, "iat": now, "nbf": now,
            "exp": now + issued.lifetime + issued.exp_skew, "serial": serial,
        }))
    )
}

/// A stand-in for the Entra token endpoint: answers every client-credentials
/// request with a fresh token, counting them and keeping the last form.
struct TokenEndpoint {
    port: u16,
    requests: Arc<AtomicU32>,
    last_form: Arc<Mutex<String>>,
    issued_tokens: Arc<Mutex<Vec<String>>>,
}

impl TokenEndpoint {
    async fn serve(issued: Issued) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Self {
            port,
            requests: Arc::default(),
            last_form: Arc::default(),
            issued_tokens: Arc::default(),
        };
        let (count, form, tokens) = (
            endpoint.requests.clone(),
            endpoint.last_form.clone(),
            endpoint.issued_tokens.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                *form.lock().unwrap() = read_body(&mut socket).await;
                let serial = count.fetch_add(1, Ordering::SeqCst) + 1;
                let token = jwt(issued, serial);
                tokens.lock().unwrap().push(token.clone());
                let body = format!(
                    r#"{{"token_type":"Bearer","expires_in":{0},"ext_expires_in":{0},"access_token":"{token}"}}"#,
                    issued.lifetime
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        endpoint
    }

    fn requests(&self) -> u32 {
        self.requests.load(Ordering::SeqCst)
    }

    /// The provider's Entra ID auth for `TENANT`/`CLIENT`, through this
    /// endpoint, refreshing `margin` before expiry.
    fn auth(&self, margin: Duration) -> ServiceBusAuth {
        let principal = EntraSettings {
            tenant_id: Some(TENANT.into()),
            client_id: Some(CLIENT.into()),
            client_secret: Some(SECRET.into()),
        };
        let source =
            EntraAuthTokenSource::through_loopback(&principal, SERVICE_BUS_SCOPE, self.port)
                .unwrap();
        ServiceBusAuth::EntraId(CachedToken::new(Arc::new(source)).with_margin(margin))
    }

    /// Asserts `err` names what it should and repeats no secret or token.
    fn assert_refused(&self, err: &Error) {
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        let text = format!("{err} {err:?}");
        assert!(text.contains("127.0.0.1"), "no namespace: {text}");
        assert!(
            text.contains(CLIENT) && text.contains(TENANT),
            "no principal: {text}"
        );
        assert!(!text.contains(SECRET), "the secret: {text}");
        for token in self.issued_tokens.lock().unwrap().iter() {
            assert!(!text.contains(token.as_str()), "the token: {text}");
        }
    }
}

/// The body of one HTTP/1.1 request.
async fn read_body(socket: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return text[end + 4..].to_owned();
            }
        }
        assert!(n > 0, "the client closed before a whole request");
    }
}

/// The emulator's namespace over plain AMQP, authorized by `auth`.
fn namespace(emulator: &PrivateServiceBus, auth: ServiceBusAuth) -> Arc<ServiceBusNamespace> {
    Arc::new(ServiceBusNamespace::new(ServiceBusSettings {
        host: "127.0.0.1".into(),
        port: emulator.port(),
        tls: false,
        auth,
        max_message_bytes: STANDARD_MAX_MESSAGE_BYTES,
    }))
}

/// Publishes `body` and receives it back on `sub`, acked.
async fn round_trip(topic: &ServiceBusTopic, sub: &ServiceBusSubscription, body: &str) {
    let published = bounded(
        "publish",
        topic.publish_batch(vec![OutgoingMessage::new(body.to_owned())]),
    )
    .await;
    assert!(published[0].is_ok(), "{published:?}");
    let got = bounded("receive", sub.receive(1, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "nothing received");
    assert_eq!(&got[0].message.data[..], body.as_bytes());
    bounded("ack", sub.ack(vec![got[0].handle.clone()]))
        .await
        .unwrap();
}

#[tokio::test]
async fn entra_tokens_publish_and_receive_and_are_renewed_on_the_open_connection() {
    let emulator = PrivateServiceBus::start_with(CONFIG);
    // Tokens live 12 s and are refreshed within 4 s of expiry: the
    // connection puts a second one while its first link is still open.
    let endpoint = TokenEndpoint::serve(Issued {
        audience: AUDIENCE,
        lifetime: 12,
        exp_skew: 0,
    })
    .await;
    let ns = namespace(&emulator, endpoint.auth(Duration::from_secs(4)));
    let started = tokio::time::Instant::now();
    // Provisioning goes through the management API with a Bearer token.
    let topic = bounded(
        "open topic",
        ServiceBusTopic::open(ns.clone(), "orders", true),
    )
    .await
    .unwrap();
    let opts = ServiceBusSubscriptionOptions {
        provision: true,
        ..ServiceBusSubscriptionOptions::default()
    };
    let billing = bounded(
        "open",
        ServiceBusSubscription::open(&topic, "billing", &opts),
    )
    .await
    .unwrap();
    round_trip(&topic, &billing, "first").await;
    assert_eq!(
        endpoint.requests(),
        1,
        "one token serves the management API and CBS"
    );
    let generation = ns.generation();
    let form = endpoint.last_form.lock().unwrap().clone();
    assert!(form.contains("servicebus.azure.net"), "scope: {form}");

    // Past the first token's expiry: the emulator takes a new link only
    // with a token put since.
    tokio::time::sleep_until(started + Duration::from_secs(14)).await;
    assert!(endpoint.requests() >= 2, "the token was not fetched again");
    let audit = bounded("open", ServiceBusSubscription::open(&topic, "audit", &opts))
        .await
        .unwrap();
    round_trip(&topic, &audit, "second").await;
    round_trip(&topic, &billing, "second").await;
    assert_eq!(
        ns.generation(),
        generation,
        "renewed on the open connection, not by reconnecting"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_permission_denied_naming_the_principal() {
    let emulator = PrivateServiceBus::start_with(CONFIG);
    let endpoint = TokenEndpoint::serve(Issued {
        audience: "https://storage.azure.com",
        lifetime: 3600,
        exp_skew: 0,
    })
    .await;
    let ns = namespace(&emulator, endpoint.auth(CachedToken::DEFAULT_MARGIN));
    // The management API (Bearer) refuses it…
    let err = bounded("open", ServiceBusTopic::open(ns.clone(), "orders", true))
        .await
        .expect_err("a token for Blob Storage opened a topic");
    endpoint.assert_refused(&err);
    // …and so does CBS (a `jwt` put-token), saying why.
    let err = bounded("attach", ns.attach_sender("orders"))
        .await
        .expect_err("a token for Blob Storage attached a sender");
    endpoint.assert_refused(&err);
    assert!(err.message().contains("InvalidAudience"), "{err}");
}

#[tokio::test]
async fn an_expired_token_is_permission_denied_without_the_token() {
    let emulator = PrivateServiceBus::start_with(CONFIG);
    // The endpoint says an hour; the token's own `exp` has passed.
    let endpoint = TokenEndpoint::serve(Issued {
        audience: AUDIENCE,
        lifetime: 3600,
        exp_skew: -7200,
    })
    .await;
    let ns = namespace(&emulator, endpoint.auth(CachedToken::DEFAULT_MARGIN));
    let err = bounded("attach", ns.attach_sender("orders"))
        .await
        .expect_err("an expired token attached a sender");
    endpoint.assert_refused(&err);
    assert!(err.message().contains("ExpiredToken"), "{err}");
    let err = bounded("open", ServiceBusTopic::open(ns, "orders", true))
        .await
        .expect_err("an expired token opened a topic");
    endpoint.assert_refused(&err);
}
