//! The SNS/SQS wire encoding: any message SNS would accept comes back from
//! SQS as it was published (payload, attributes, empty values, ordering
//! key), and any message SQS delivers, Strata's `strata` attribute forged or
//! not, decodes without a panic.
#![no_main]

use aws_sdk_sqs::types::{Message as SqsMessage, MessageAttributeValue, MessageSystemAttributeName};
use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use strata_aws::pubsub::wire_for_fuzzing::{decode, encode};
use strata_core::pubsub::{Attributes, OutgoingMessage};

#[derive(Arbitrary, Debug)]
enum Case {
    /// A Strata message through encode, SQS, decode.
    RoundTrip {
        data: Vec<u8>,
        attributes: Attributes,
        ordering_key: Option<String>,
        fifo: bool,
    },
    /// Whatever a queue may hold (another client's message, a forged
    /// `strata` attribute).
    Received {
        body: Option<String>,
        attributes: Vec<(String, Option<String>, Option<Vec<u8>>)>,
        receive_count: Option<String>,
        sent: Option<String>,
        group: Option<String>,
    },
}

fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

fuzz_target!(|case: Case| match case {
    Case::RoundTrip {
        data,
        attributes,
        ordering_key,
        fifo,
    } => {
        let message = OutgoingMessage {
            data: Bytes::from(data),
            attributes,
            ordering_key,
        };
        let Ok((body, sent_attributes, _group)) = encode(message.clone(), fifo) else {
            return;
        };
        assert!(!body.is_empty(), "SNS refuses an empty body");
        let mut sqs = SqsMessage::builder().receipt_handle("rh").body(body);
        for (name, value) in &sent_attributes {
            assert!(!value.is_empty(), "SNS refuses an empty value: {name}");
            let Some(value) = string_attribute(value) else {
                return;
            };
            sqs = sqs.message_attributes(name, value);
        }
        let Some(delivery) = decode(sqs.build()) else {
            panic!("a message with a receipt handle decodes");
        };
        let got = delivery.message;
        assert_eq!(got.data, message.data);
        assert_eq!(got.attributes, message.attributes);
        assert_eq!(got.ordering_key, message.ordering_key);
    }
    Case::Received {
        body,
        attributes,
        receive_count,
        sent,
        group,
    } => {
        let mut sqs = SqsMessage::builder()
            .receipt_handle("rh")
            .set_body(body)
            .set_message_id(Some("sqs-id".into()));
        for (name, text, binary) in attributes {
            let mut value = MessageAttributeValue::builder()
                .data_type("String")
                .set_string_value(text);
            if let Some(binary) = binary {
                value = value.binary_value(aws_sdk_sqs::primitives::Blob::new(binary));
            }
            if let Ok(value) = value.build() {
                sqs = sqs.message_attributes(name, value);
            }
        }
        if let Some(count) = receive_count {
            sqs = sqs.attributes(MessageSystemAttributeName::ApproximateReceiveCount, count);
        }
        if let Some(sent) = sent {
            sqs = sqs.attributes(MessageSystemAttributeName::SentTimestamp, sent);
        }
        if let Some(group) = group {
            sqs = sqs.attributes(MessageSystemAttributeName::MessageGroupId, group);
        }
        assert!(decode(sqs.build()).is_some());
    }
});
