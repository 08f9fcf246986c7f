//! The numbers and names both halves of the binding read: table strides,
//! completion and cell codes, payload kinds, TTL codes and the content-type
//! attribute. Defined here once; `lib/native.js` reads them through
//! [`wire_constants`] at load, so `lib/*.js` repeats none of them.

use napi_derive::napi;

pub use crate::publish_codec::CONTENT_TYPE_ATTRIBUTE;
pub(crate) use crate::publish_codec::Payload;

/// Numbers per message in the delivery table: subscription id, token, delivery
/// attempt, publish time (ms), byte offset, then the byte lengths of the id, the
/// ordering key (-1 when none), the attributes (JSON) and the payload, which
/// follow each other in the bytes from the offset on.
pub(crate) const DELIVERY_STRIDE: usize = 9;

/// Numbers per message in a `publishBatch` table: call id, [`Payload`] kind,
/// then the byte lengths of the payload, the attributes (JSON, 0 when none)
/// and the ordering key (-1 when none), which follow each other in the
/// batch's bytes, message after message.
pub(crate) const PUBLISH_STRIDE: usize = 5;

/// How a completion's value travels (the second number of its row).
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Resolves with `undefined`.
    Undefined = 0,
    /// Resolves with the row's third number.
    Number = 1,
    /// Resolves with the next entry of the values.
    Value = 2,
    /// Rejects with the next entry of the values, `[code, message]`.
    Error = 3,
    /// Resolves with the next text: as many UTF-16 units of the joined texts
    /// as the row's number says.
    Text = 4,
}

/// How one cell travels in a row table.
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Cell {
    Null = 0,
    /// The number is the value.
    Number = 1,
    True = 2,
    False = 3,
    /// The number is the text's length in UTF-16 units.
    Text = 4,
    /// The number is milliseconds since the epoch.
    Date = 5,
    /// The next of the table's other values.
    Other = 6,
}

/// TTL code for "keep the key's TTL".
pub(crate) const TTL_KEEP: f64 = -1.0;
/// TTL code for "no expiry".
pub(crate) const TTL_PERSIST: f64 = -2.0;

/// The wire constants, as `lib/native.js` reads them.
#[napi(object)]
pub struct WireConstants {
    /// [`DELIVERY_STRIDE`].
    pub delivery_stride: u32,
    /// [`PUBLISH_STRIDE`].
    pub publish_stride: u32,
    /// [`Payload::Bytes`].
    pub payload_bytes: u32,
    /// [`Payload::Text`].
    pub payload_text: u32,
    /// [`Payload::Json`].
    pub payload_json: u32,
    /// [`Kind::Undefined`].
    pub completion_undefined: u32,
    /// [`Kind::Number`].
    pub completion_number: u32,
    /// [`Kind::Value`].
    pub completion_value: u32,
    /// [`Kind::Error`].
    pub completion_error: u32,
    /// [`Kind::Text`].
    pub completion_text: u32,
    /// [`Cell::Null`].
    pub cell_null: u32,
    /// [`Cell::Number`].
    pub cell_number: u32,
    /// [`Cell::True`].
    pub cell_true: u32,
    /// [`Cell::False`].
    pub cell_false: u32,
    /// [`Cell::Text`].
    pub cell_text: u32,
    /// [`Cell::Date`].
    pub cell_date: u32,
    /// [`Cell::Other`].
    pub cell_other: u32,
    /// [`TTL_KEEP`].
    pub ttl_keep: f64,
    /// [`TTL_PERSIST`].
    pub ttl_persist: f64,
    /// [`CONTENT_TYPE_ATTRIBUTE`].
    pub content_type_attribute: String,
}

/// Every wire constant, read once by `lib/native.js` when it loads.
#[napi]
pub fn wire_constants() -> WireConstants {
    WireConstants {
        delivery_stride: DELIVERY_STRIDE as u32,
        publish_stride: PUBLISH_STRIDE as u32,
        payload_bytes: Payload::Bytes as u32,
        payload_text: Payload::Text as u32,
        payload_json: Payload::Json as u32,
        completion_undefined: Kind::Undefined as u32,
        completion_number: Kind::Number as u32,
        completion_value: Kind::Value as u32,
        completion_error: Kind::Error as u32,
        completion_text: Kind::Text as u32,
        cell_null: Cell::Null as u32,
        cell_number: Cell::Number as u32,
        cell_true: Cell::True as u32,
        cell_false: Cell::False as u32,
        cell_text: Cell::Text as u32,
        cell_date: Cell::Date as u32,
        cell_other: Cell::Other as u32,
        ttl_keep: TTL_KEEP,
        ttl_persist: TTL_PERSIST,
        content_type_attribute: CONTENT_TYPE_ATTRIBUTE.to_owned(),
    }
}
