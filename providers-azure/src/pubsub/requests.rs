//! The `$management` operations the subscription needs — renew a lock, and
//! settle by lock token when the receiving link is gone — as requests of
//! `fe2o3-amqp-management`.

use fe2o3_amqp::types::messaging::{AmqpValue, ApplicationProperties, Message};
use fe2o3_amqp::types::primitives::{Array, OrderedMap, SimpleValue, Uuid, Value};
use fe2o3_amqp_management::request::Request;
use fe2o3_amqp_management::response::Response;

/// `com.microsoft:renew-lock`: keeps the messages of `lock_tokens` locked
/// for another lock duration.
pub(crate) struct RenewLock {
    pub lock_tokens: Vec<[u8; 16]>,
}

/// `com.microsoft:update-disposition`: settles by lock token.
pub(crate) struct UpdateDisposition {
    /// `completed`, `abandoned` or `suspended` (dead-lettered).
    pub status: &'static str,
    pub lock_tokens: Vec<[u8; 16]>,
    /// The dead-letter reason, with `suspended`.
    pub reason: Option<String>,
}

fn tokens(lock_tokens: Vec<[u8; 16]>) -> Value {
    Value::Array(Array(
        lock_tokens
            .into_iter()
            .map(|t| Value::Uuid(Uuid::from(t)))
            .collect(),
    ))
}

fn entity_mgmt() -> Option<ApplicationProperties> {
    Some(
        ApplicationProperties::builder()
            .insert("com.microsoft:server-timeout", SimpleValue::Uint(60_000))
            .build(),
    )
}

impl Request for RenewLock {
    const OPERATION: &'static str = "com.microsoft:renew-lock";
    type Response = Reply;
    type Body = AmqpValue<Value>;

    fn manageable_entity_type(&mut self) -> Option<String> {
        Some("entity-mgmt".to_owned())
    }

    fn encode_application_properties(&mut self) -> Option<ApplicationProperties> {
        entity_mgmt()
    }

    fn encode_body(self) -> Self::Body {
        let mut map = OrderedMap::new();
        map.insert(
            Value::String("lock-tokens".into()),
            tokens(self.lock_tokens),
        );
        AmqpValue(Value::Map(map))
    }
}

impl Request for UpdateDisposition {
    const OPERATION: &'static str = "com.microsoft:update-disposition";
    type Response = Reply;
    type Body = AmqpValue<Value>;

    fn manageable_entity_type(&mut self) -> Option<String> {
        Some("entity-mgmt".to_owned())
    }

    fn encode_application_properties(&mut self) -> Option<ApplicationProperties> {
        entity_mgmt()
    }

    fn encode_body(self) -> Self::Body {
        let mut map = OrderedMap::new();
        map.insert(
            Value::String("disposition-status".into()),
            Value::String(self.status.into()),
        );
        map.insert(
            Value::String("lock-tokens".into()),
            tokens(self.lock_tokens),
        );
        if let Some(reason) = self.reason {
            map.insert(
                Value::String("deadletter-reason".into()),
                Value::String(reason.clone()),
            );
            map.insert(
                Value::String("deadletter-description".into()),
                Value::String(reason),
            );
        }
        AmqpValue(Value::Map(map))
    }
}

/// A `200 OK` reply; its body is not needed.
pub(crate) struct Reply;

impl Response for Reply {
    const STATUS_CODE: u16 = 200;
    type Body = Value;
    type Error = fe2o3_amqp_management::error::Error;

    fn decode_message(_message: Message<Self::Body>) -> Result<Self, Self::Error> {
        Ok(Reply)
    }
}
