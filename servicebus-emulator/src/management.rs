//! Request/response nodes: `$cbs` (put-token) and `<entity>/$management`.
//!
//! Both take a request message whose application properties name the operation and
//! answer with a message correlated to it (correlation-id = the request's
//! message-id, same AMQP type). CBS answers with `status-code`; management with
//! `statusCode` and, on failure, `errorCondition`, which the SDKs map to their errors
//! (learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-request-response).

use crate::broker::{Broker, Node};
use crate::jwt;
use crate::message::{self, Incoming, now_ms};
use crate::sas::{self, Grant};
use crate::store::{Entity, LockError, LockToken, Settle};
use fe2o3_amqp_types::messaging::message::__private::{Deserializable, Serializable};
use fe2o3_amqp_types::messaging::{AmqpValue, ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp_types::primitives::SimpleValue;
use serde_amqp::Value;
use serde_amqp::primitives::{Array, OrderedMap, Symbol, Timestamp, Uuid};
use std::sync::Arc;

/// A decoded request.
pub struct Request {
    /// The request's message-id, echoed as correlation-id.
    pub message_id: Option<fe2o3_amqp_types::messaging::MessageId>,
    /// Its reply-to address, if it set one.
    pub reply_to: Option<String>,
    /// The operation.
    pub operation: String,
    /// Other application properties.
    pub properties: OrderedMap<String, SimpleValue>,
    /// The AmqpValue body.
    pub body: Value,
}

/// Decodes a request message.
pub fn parse(payload: &[u8]) -> Option<Request> {
    let Deserializable(msg): Deserializable<Message<Body<Value>>> =
        serde_amqp::from_slice(payload).ok()?;
    let props = msg.properties.unwrap_or_default();
    let app = msg.application_properties.map(|a| a.0).unwrap_or_default();
    let operation = match app.get("operation") {
        Some(SimpleValue::String(s)) => s.clone(),
        Some(SimpleValue::Symbol(s)) => s.0.clone(),
        _ => String::new(),
    };
    let body = match msg.body {
        Body::Value(AmqpValue(v)) => v,
        _ => Value::Null,
    };
    Some(Request {
        message_id: props.message_id,
        reply_to: props.reply_to,
        operation,
        properties: app,
        body,
    })
}

/// How a response is labelled: CBS and management spell the status differently.
#[derive(Clone, Copy)]
pub enum Dialect {
    /// `status-code`, `status-description`.
    Cbs,
    /// `statusCode`, `statusDescription`, `errorCondition`.
    Management,
}

/// Encodes a response.
pub fn response(
    req: &Request,
    dialect: Dialect,
    status: i32,
    description: &str,
    condition: Option<&str>,
    body: Value,
) -> Vec<u8> {
    let mut app = OrderedMap::new();
    let (code, desc) = match dialect {
        Dialect::Cbs => ("status-code", "status-description"),
        Dialect::Management => ("statusCode", "statusDescription"),
    };
    app.insert(code.to_owned(), SimpleValue::Int(status));
    app.insert(desc.to_owned(), SimpleValue::String(description.to_owned()));
    if let Some(c) = condition {
        app.insert(
            "errorCondition".to_owned(),
            SimpleValue::Symbol(Symbol::from(c)),
        );
    }
    let msg = Message {
        header: None,
        delivery_annotations: None,
        message_annotations: None,
        properties: Some(Properties {
            message_id: Some(fe2o3_amqp_types::messaging::MessageId::String(format!(
                "{:032x}",
                fastrand::u128(..)
            ))),
            correlation_id: req.message_id.clone(),
            ..Default::default()
        }),
        application_properties: Some(ApplicationProperties(app)),
        body: AmqpValue(body),
        footer: None,
    };
    serde_amqp::to_vec(&Serializable(msg)).unwrap_or_default()
}

/// Handles a CBS put-token: verifies the token (a shared access signature, or an Entra ID
/// token when the namespace takes them) and, when good, returns its grant.
pub fn put_token(broker: &Broker, req: &Request) -> (Vec<u8>, Option<Grant>) {
    let token = match &req.body {
        Value::String(s) => s.clone(),
        Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    if req.operation != "put-token" {
        let r = response(
            req,
            Dialect::Cbs,
            400,
            "only put-token is supported",
            None,
            Value::Null,
        );
        return (r, None);
    }
    let now = now_ms() / 1000;
    // The token's content says which kind, not the put-token's `type`: the Python SDK
    // types its SAS tokens `jwt` too. An Entra ID token's audience is the service, so
    // the put-token's `name` says which entity it is for.
    let checked = if token.starts_with("SharedAccessSignature ") {
        sas::verify(&token, &broker.policies, now)
    } else {
        let name = match req.properties.get("name") {
            Some(SimpleValue::String(s)) => s.as_str(),
            Some(SimpleValue::Symbol(s)) => s.0.as_str(),
            _ => "",
        };
        jwt::verify(&token, broker.entra.as_ref(), now).map(|expires| sas::grant(name, expires))
    };
    match checked {
        Ok(grant) => (
            response(req, Dialect::Cbs, 202, "Accepted", None, Value::Null),
            Some(grant),
        ),
        Err(refused) => {
            crate::log::info(&format!("cbs: token refused: {}", refused.0));
            (
                response(req, Dialect::Cbs, 401, &refused.0, None, Value::Null),
                None,
            )
        }
    }
}

fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    match body {
        Value::Map(m) => m.iter().find_map(|(k, v)| match k {
            Value::String(s) | Value::Symbol(Symbol(s)) if s == name => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

fn values(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(Array(a))) => a.clone(),
        Some(Value::List(l)) => l.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Long(n) => Some(*n),
        Value::Int(n) => Some(i64::from(*n)),
        Value::Uint(n) => Some(i64::from(*n)),
        Value::Ulong(n) => i64::try_from(*n).ok(),
        Value::Short(n) => Some(i64::from(*n)),
        _ => None,
    }
}

fn as_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

fn tokens(body: &Value) -> Vec<LockToken> {
    values(field(body, "lock-tokens"))
        .iter()
        .filter_map(|v| match v {
            Value::Uuid(u) => Some(*u.as_inner()),
            _ => None,
        })
        .collect()
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = OrderedMap::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_owned()), v);
    }
    Value::Map(m)
}

fn timestamp(ms: i64) -> Value {
    Value::Timestamp(Timestamp::from_milliseconds(ms))
}

fn lock_error(req: &Request, e: LockError) -> Vec<u8> {
    let (cond, text) = match e {
        LockError::MessageLockLost => (
            "com.microsoft:message-lock-lost",
            "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
        ),
        LockError::SessionLockLost => (
            "com.microsoft:session-lock-lost",
            "The session lock has expired on the MessageSession. Accept a new MessageSession.",
        ),
    };
    response(req, Dialect::Management, 410, text, Some(cond), Value::Null)
}

/// Handles a request to `<path>/$management`.
pub fn handle(broker: &Arc<Broker>, path: &str, req: &Request) -> Vec<u8> {
    let ok = |body: Value| response(req, Dialect::Management, 200, "OK", None, body);
    let node = broker.resolve(path);
    let entity: Option<Arc<Entity>> = match &node {
        Some(Node::Entity(e)) => Some(e.clone()),
        _ => None,
    };
    let no_entity = || {
        response(
            req,
            Dialect::Management,
            404,
            &format!("The messaging entity '{path}' could not be found."),
            Some("amqp:not-found"),
            Value::Null,
        )
    };
    let op = req
        .operation
        .strip_prefix("com.microsoft:")
        .unwrap_or(&req.operation);
    match op {
        "schedule-message" => {
            let mut incoming: Vec<Incoming> = Vec::new();
            for entry in values(field(&req.body, "messages")) {
                let Some(Value::Binary(bytes)) = field(&entry, "message") else {
                    continue;
                };
                match message::parse(bytes) {
                    Ok(m) => incoming.push(m),
                    Err(e) => {
                        return response(
                            req,
                            Dialect::Management,
                            400,
                            &e.to_string(),
                            Some("amqp:decode-error"),
                            Value::Null,
                        );
                    }
                }
            }
            match broker.send(path, incoming) {
                Ok(seqs) => ok(map(vec![(
                    "sequence-numbers",
                    Value::Array(Array(seqs.into_iter().map(Value::Long).collect())),
                )])),
                Err(_) => no_entity(),
            }
        }
        "cancel-scheduled-message" => {
            let seqs: Vec<i64> = values(field(&req.body, "sequence-numbers"))
                .iter()
                .filter_map(as_i64)
                .collect();
            if broker.cancel_scheduled(path, &seqs) {
                ok(map(vec![]))
            } else {
                no_entity()
            }
        }
        _ => {
            let Some(entity) = entity else {
                return no_entity();
            };
            entity_operation(&entity, op, req)
        }
    }
}

fn entity_operation(entity: &Arc<Entity>, op: &str, req: &Request) -> Vec<u8> {
    let ok = |body: Value| response(req, Dialect::Management, 200, "OK", None, body);
    let body = &req.body;
    match op {
        "renew-lock" => {
            let mut expirations = Vec::new();
            for t in tokens(body) {
                match entity.renew(&t) {
                    Ok(until) => expirations.push(timestamp(until)),
                    Err(e) => return lock_error(req, e),
                }
            }
            ok(map(vec![("expirations", Value::Array(Array(expirations)))]))
        }
        "peek-message" => {
            let from = field(body, "from-sequence-number")
                .and_then(as_i64)
                .unwrap_or(1);
            let count = field(body, "message-count")
                .and_then(as_i64)
                .unwrap_or(1)
                .clamp(0, 10_000) as usize;
            let session = as_string(field(body, "session-id"));
            let found = entity.peek(from, count, session.as_deref());
            if found.is_empty() {
                return response(
                    req,
                    Dialect::Management,
                    204,
                    "No messages",
                    None,
                    Value::Null,
                );
            }
            let list = found
                .into_iter()
                .map(|bytes| map(vec![("message", Value::Binary(bytes.into()))]))
                .collect();
            ok(map(vec![("messages", Value::List(list))]))
        }
        "receive-by-sequence-number" => {
            let seqs: Vec<i64> = values(field(body, "sequence-numbers"))
                .iter()
                .filter_map(as_i64)
                .collect();
            let peek_lock = field(body, "receiver-settle-mode").and_then(as_i64) != Some(0);
            let got = entity.take_deferred(&seqs, peek_lock);
            if got.len() < seqs.len() {
                return response(
                    req,
                    Dialect::Management,
                    404,
                    "A deferred message with that sequence number was not found.",
                    Some("com.microsoft:message-not-found"),
                    Value::Null,
                );
            }
            let list = got
                .into_iter()
                .map(|d| {
                    map(vec![
                        ("message", Value::Binary(d.payload.into())),
                        ("lock-token", Value::Uuid(Uuid::from(d.tag))),
                    ])
                })
                .collect();
            ok(map(vec![("messages", Value::List(list))]))
        }
        "update-disposition" => {
            let status = as_string(field(body, "disposition-status")).unwrap_or_default();
            let how = match status.as_str() {
                "completed" => Settle::Complete,
                "abandoned" => Settle::Abandon(Vec::new()),
                "defered" | "deferred" => Settle::Defer(Vec::new()),
                "suspended" => Settle::DeadLetter {
                    reason: as_string(field(body, "deadletter-reason")),
                    description: as_string(field(body, "deadletter-description")),
                    annotations: Vec::new(),
                },
                other => {
                    return response(
                        req,
                        Dialect::Management,
                        400,
                        &format!("unknown disposition-status {other:?}"),
                        Some("amqp:invalid-field"),
                        Value::Null,
                    );
                }
            };
            for t in tokens(body) {
                if let Err(e) = entity.settle(&t, how.clone()) {
                    return lock_error(req, e);
                }
            }
            ok(map(vec![]))
        }
        "renew-session-lock" => {
            let id = as_string(field(body, "session-id")).unwrap_or_default();
            match entity.renew_session(None, &id) {
                Ok(until) => ok(map(vec![("expiration", timestamp(until))])),
                Err(e) => lock_error(req, e),
            }
        }
        "get-session-state" => {
            let id = as_string(field(body, "session-id")).unwrap_or_default();
            let state = entity
                .session_state(&id)
                .map(|s| Value::Binary(s.into()))
                .unwrap_or(Value::Null);
            ok(map(vec![("session-state", state)]))
        }
        "set-session-state" => {
            let id = as_string(field(body, "session-id")).unwrap_or_default();
            let state = match field(body, "session-state") {
                Some(Value::Binary(b)) => Some(b.to_vec()),
                _ => None,
            };
            entity.set_session_state(&id, state);
            ok(map(vec![]))
        }
        other => response(
            req,
            Dialect::Management,
            501,
            &format!("operation {other:?} is not supported by the emulator"),
            Some("amqp:not-implemented"),
            Value::Null,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn broker(config: &str) -> Arc<Broker> {
        Broker::new(&crate::config::parse(config).expect("config"), None).expect("broker")
    }

    fn put(broker: &Broker, token_type: &str, token: &str) -> Option<Grant> {
        let mut properties = OrderedMap::new();
        properties.insert("type".to_owned(), SimpleValue::String(token_type.into()));
        properties.insert("name".to_owned(), SimpleValue::String("sb://h/".into()));
        let req = Request {
            message_id: None,
            reply_to: None,
            operation: "put-token".into(),
            properties,
            body: Value::String(token.into()),
        };
        put_token(broker, &req).1
    }

    fn jwt(exp: i64) -> String {
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2ln",
            enc(serde_json::json!({"alg": "RS256"})),
            enc(serde_json::json!({"aud": "https://servicebus.azure.net", "exp": exp}))
        )
    }

    #[test]
    fn a_jwt_put_token_grants_the_namespace_only_where_entra_is_on() {
        let later = now_ms() / 1000 + 600;
        let on = broker(r#"{"UserConfig":{"Namespaces":[{"Name":"ns","Entra":{}}]}}"#);
        let grant = put(&on, "jwt", &jwt(later)).expect("accepted");
        assert_eq!((grant.path.as_str(), grant.expires), ("", later));
        assert!(put(&on, "jwt", &jwt(later - 1200)).is_none(), "expired");
        // The token decides, not the type (Python types SAS tokens `jwt` too).
        assert!(put(&on, "servicebus.windows.net:sastoken", &jwt(later)).is_some());
        assert!(put(&on, "jwt", "SharedAccessSignature sr=x&sig=y&se=1&skn=z").is_none());
        let off = broker(crate::config::DEFAULT_CONFIG);
        assert!(put(&off, "jwt", &jwt(later)).is_none());
    }
}
