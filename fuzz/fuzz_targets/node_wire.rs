//! The Node binding's JS ↔ Rust wire: a `publishBatch` table and its bytes
//! decoded into messages, a delivery's attributes written as JSON, and the
//! SQL parameter encoding decoded into values. The binding's pure halves
//! (`publish_codec.rs`, `sql_params.rs`) are compiled here as they are: the
//! napi half cannot link outside Node.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use strata_core::pubsub::Attributes;

#[path = "../../bindings-node/src/publish_codec.rs"]
#[allow(dead_code)]
mod publish_codec;

#[path = "../../bindings-node/src/sql_params.rs"]
#[allow(dead_code)]
mod sql_params;

/// `PUBLISH_STRIDE` in `bindings-node/src/wire.rs`.
const PUBLISH_STRIDE: usize = 5;

#[derive(Arbitrary, Debug)]
struct Case {
    table: Vec<f64>,
    bytes: Vec<u8>,
    delivered: Attributes,
    buffers: Vec<Vec<u8>>,
    sql_params: String,
}

fuzz_target!(|case: Case| {
    let bytes = Bytes::from(case.bytes);
    let mut offset = 0;
    for row in case.table.chunks_exact(PUBLISH_STRIDE) {
        if let Ok(message) = publish_codec::decode_publish(row, &bytes, &mut offset) {
            assert!(
                message
                    .attributes
                    .keys()
                    .all(|name| !name.starts_with("strata.")
                        || name == publish_codec::CONTENT_TYPE_ATTRIBUTE
                        || name.starts_with("strata.dead_letter.")
                        || name == "strata.original_message_id"),
                "{:?}",
                message.attributes
            );
        }
        assert!(offset <= bytes.len());
    }
    let mut out = Vec::new();
    publish_codec::write_attributes(&mut out, &case.delivered);
    let back: Attributes = match serde_json::from_slice(&out) {
        Ok(back) => back,
        Err(err) => panic!("delivery attributes are JSON: {err}"),
    };
    assert_eq!(back, case.delivered);
    let _ = sql_params::decode_params(&case.sql_params, &case.buffers);
});
