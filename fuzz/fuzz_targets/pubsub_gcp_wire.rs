//! The Pub/Sub message mapping: any message the checks let through is a
//! Pub/Sub message that comes back as it was published, through the JSON
//! form of the API's message (as the emulator's REST surface carries it).
#![no_main]

use bytes::Bytes;
use google_cloud_pubsub::model::Message as PubSubMessage;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use strata_core::pubsub::{Attributes, OutgoingMessage};
use strata_gcp::pubsub::wire_for_fuzzing::{decode, encode};

#[derive(Arbitrary, Debug)]
struct Case {
    data: Vec<u8>,
    attributes: Attributes,
    ordering_key: Option<String>,
    attempt: u32,
    /// A received message's JSON, as any publisher may have made it.
    received: Option<String>,
}

fuzz_target!(|case: Case| {
    if let Some(json) = &case.received
        && let Ok(message) = serde_json::from_str::<PubSubMessage>(json)
    {
        let _ = decode(message, case.attempt);
    }
    let message = OutgoingMessage {
        data: Bytes::from(case.data),
        attributes: case.attributes,
        ordering_key: case.ordering_key,
    };
    let Ok(sent) = encode(message.clone()) else {
        return;
    };
    assert!(!sent.data.is_empty() || !sent.attributes.is_empty());
    assert!(sent.attributes.keys().all(|k| !k.is_empty() && k.len() <= 256));
    let json = serde_json::to_string(&sent).unwrap_or_default();
    let Ok(mut back) = serde_json::from_str::<PubSubMessage>(&json) else {
        panic!("a published message reads back from its JSON: {json}");
    };
    back.message_id = "id".into();
    let got = decode(back, case.attempt);
    assert_eq!(got.data, message.data);
    assert_eq!(got.attributes, message.attributes);
    // Pub/Sub has no "no key": an empty key is none.
    assert_eq!(got.ordering_key, message.ordering_key.filter(|k| !k.is_empty()));
    assert_eq!(got.delivery_attempt, case.attempt);
});
