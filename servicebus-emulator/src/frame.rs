//! AMQP 1.0 framing: the 8-byte frame header, performatives, and protocol headers.

use crate::codec;
use fe2o3_amqp_types::performatives::Performative;
use serde_amqp::Value;

/// `AMQP 3 1 0 0`: the SASL layer.
pub const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";
/// `AMQP 0 1 0 0`: AMQP itself.
pub const AMQP_HEADER: [u8; 8] = *b"AMQP\x00\x01\x00\x00";

/// Frame type of AMQP frames.
pub const TYPE_AMQP: u8 = 0;
/// Frame type of SASL frames.
pub const TYPE_SASL: u8 = 1;

/// The largest frame this broker accepts.
pub const MAX_FRAME: usize = 1024 * 1024;

/// A frame read off the wire.
#[derive(Debug)]
pub struct Frame {
    /// 0 AMQP, 1 SASL.
    pub kind: u8,
    /// The channel (session) it belongs to.
    pub channel: u16,
    /// The frame body: performative then payload; empty for a heartbeat.
    pub body: Vec<u8>,
}

/// Why the peer's bytes are not AMQP.
#[derive(Debug)]
pub struct FramingError(pub String);

/// Takes one complete frame off the front of `buf`, if there is one.
pub fn take_frame(buf: &mut bytes::BytesMut) -> Result<Option<Frame>, FramingError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let doff = buf[4] as usize * 4;
    if size < 8 || doff < 8 || doff > size {
        return Err(FramingError(format!(
            "bad frame header (size {size}, data offset {doff})"
        )));
    }
    if size > MAX_FRAME {
        return Err(FramingError(format!(
            "frame of {size} bytes exceeds the {MAX_FRAME}-byte maximum"
        )));
    }
    if buf.len() < size {
        return Ok(None);
    }
    let frame = buf.split_to(size);
    Ok(Some(Frame {
        kind: frame[5],
        channel: u16::from_be_bytes([frame[6], frame[7]]),
        body: frame[doff..].to_vec(),
    }))
}

/// Splits a frame body into its performative and the payload after it.
pub fn performative(body: &[u8]) -> Result<(Performative, &[u8]), FramingError> {
    let end = codec::value_end(body, 0).map_err(|e| FramingError(e.to_string()))?;
    let encoded = &body[..end];
    let p = match serde_amqp::from_slice::<Performative>(encoded) {
        Ok(p) => p,
        Err(first) => {
            // Some clients (rhea) write `fields` maps with string keys where AMQP says
            // symbol, e.g. the info of a dead-letter outcome. Performatives hold no map
            // whose string keys matter, so read such keys as symbols and try again.
            let value: Value = serde_amqp::from_slice(encoded)
                .map_err(|_| FramingError(format!("undecodable performative: {first}")))?;
            let again = serde_amqp::to_vec(&symbol_keys(value))
                .map_err(|_| FramingError(format!("undecodable performative: {first}")))?;
            serde_amqp::from_slice(&again)
                .map_err(|_| FramingError(format!("undecodable performative: {first}")))?
        }
    };
    Ok((p, &body[end..]))
}

fn symbol_keys(v: Value) -> Value {
    match v {
        Value::Described(d) => {
            let d = *d;
            Value::Described(Box::new(serde_amqp::described::Described {
                descriptor: d.descriptor,
                value: symbol_keys(d.value),
            }))
        }
        Value::List(items) => Value::List(items.into_iter().map(symbol_keys).collect()),
        Value::Map(m) => Value::Map(
            m.into_inner()
                .into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) => Value::Symbol(serde_amqp::primitives::Symbol::from(s)),
                        other => other,
                    };
                    (k, symbol_keys(v))
                })
                .collect(),
        ),
        other => other,
    }
}

/// Appends a frame holding an encoded value (performative or SASL body) and a payload.
pub fn write(out: &mut Vec<u8>, kind: u8, channel: u16, encoded: &[u8], payload: &[u8]) {
    let size = (8 + encoded.len() + payload.len()) as u32;
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&[2, kind]);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(encoded);
    out.extend_from_slice(payload);
}

/// Appends an empty frame (a heartbeat).
pub fn heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 0, 8, 2, 0, 0, 0]);
}

/// Encodes a value; encoding the protocol's own types cannot fail.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_amqp::to_vec(value).unwrap_or_default()
}
