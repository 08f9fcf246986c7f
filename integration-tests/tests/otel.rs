//! Strata's spans as an OTLP backend receives them: `strata_telemetry`
//! exports to the receiver in `support/otlp_receiver.rs`, which decodes the
//! protobuf with the official `opentelemetry-proto` types. Publish → process
//! is one trace with the messaging conventions' names, kinds and attributes,
//! on the memory provider, SNS+SQS on LocalStack (feature `aws`) and the
//! Pub/Sub emulator (feature `gcp`). On memory: a failed handler's span has
//! `error.type` and its retry is a new process span; a message carrying
//! another system's `traceparent` continues that trace; `publish_many` is one
//! send span linking each message; the messaging metrics count what was sent,
//! consumed, processed and retried.
//!
//! A binary of its own: the tracing subscriber and the exporter are
//! process-global, installed once here for every test. Tests tell their
//! spans apart by their topic names.

#![allow(clippy::unwrap_used)]

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use strata_core::config::{LoadedConfig, parse_config};
use strata_core::pubsub::{Handler, HandlerError, Message, OutgoingMessage, Topic};
use strata_infra::{Infra, SubscribeOptions, registry};
use strata_telemetry::{Export, Telemetry, TelemetryOptions};
use tokio::sync::mpsc;
use tracing::Instrument;

use otlp_receiver::{OtlpReceiver, ReceivedSpan};

const LIMIT: Duration = Duration::from_secs(20);

/// The receiver and the telemetry exporting to it, shared by the tests.
fn installed() -> &'static (OtlpReceiver, Telemetry) {
    static INSTALLED: OnceLock<(OtlpReceiver, Telemetry)> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let receiver = OtlpReceiver::start().unwrap();
        let telemetry = strata_telemetry::init_with(TelemetryOptions {
            traces: Export::Otlp {
                endpoint: Some(receiver.traces_url()),
            },
            metrics: Export::Otlp {
                endpoint: Some(receiver.metrics_url()),
            },
            log_filter: None,
            service_name: Some("strata-otel-test".to_owned()),
        })
        .unwrap();
        assert!(telemetry.exports_traces() && telemetry.exports_metrics());
        (receiver, telemetry)
    })
}

/// Waits (off the runtime: flushing blocks) until at least `count` received
/// spans match `select`; returns those that do.
async fn received(
    count: usize,
    select: impl Fn(&ReceivedSpan) -> bool + Send + 'static,
) -> Vec<ReceivedSpan> {
    tokio::task::spawn_blocking(move || {
        let (receiver, telemetry) = installed();
        receiver.wait_for(count, LIMIT, || telemetry.flush(), select)
    })
    .await
    .unwrap()
}

/// The spans about `topic`, once at least `count` arrived.
async fn spans_of(topic: &str, count: usize) -> Vec<ReceivedSpan> {
    let wanted = topic.to_owned();
    let spans = received(count, move |span| {
        span.attr("messaging.destination.name") == Some(wanted.as_str())
    })
    .await;
    assert!(
        spans.len() >= count,
        "{} spans of `{topic}`: {spans:#?}",
        spans.len()
    );
    spans
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|span| span.name == name).collect()
}

fn only<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one `{name}` span expected: {spans:#?}");
    found[0]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a test's topic lives.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    #[cfg(feature = "aws")]
    LocalStack,
    #[cfg(feature = "gcp")]
    PubSubEmulator,
}

impl Backend {
    /// The `messaging.system` of the publish side and of the process side.
    fn systems(self) -> (&'static str, &'static str) {
        match self {
            Backend::Memory => ("memory", "memory"),
            #[cfg(feature = "aws")]
            Backend::LocalStack => ("aws.sns", "aws_sqs"),
            #[cfg(feature = "gcp")]
            Backend::PubSubEmulator => ("gcp_pubsub", "gcp_pubsub"),
        }
    }

    /// The config's `providers` entry (with a comma) and a topic's provider
    /// fields, with physical names unique to this run.
    fn config(self, run: &str) -> (String, String) {
        match self {
            Backend::Memory => (
                String::new(),
                format!(r#""provider": "memory", "name": "otel-{run}""#),
            ),
            #[cfg(feature = "aws")]
            Backend::LocalStack => {
                let endpoint = std::env::var("STRATA_TEST_LOCALSTACK_ENDPOINT")
                    .unwrap_or_else(|_| "http://127.0.0.1:4566".into());
                (
                    format!(
                        r#""providers": {{ "aws": {{ "region": "us-east-1", "endpoint": "{endpoint}",
                        "credentials": {{ "access_key_id": "test", "secret_access_key": "test" }},
                        "provision": true }} }},"#
                    ),
                    format!(r#""provider": "aws", "name": "otel-{run}""#),
                )
            }
            #[cfg(feature = "gcp")]
            Backend::PubSubEmulator => {
                let endpoint = std::env::var("STRATA_TEST_PUBSUB_ENDPOINT").expect(
                    "STRATA_TEST_PUBSUB_ENDPOINT: start the emulator \
                     (localstack/emulators up pubsub; eval \"$(localstack/emulators env)\")",
                );
                (
                    format!(
                        r#""providers": {{ "gcp": {{ "project": "strata-otel",
                        "endpoints": {{ "pubsub": "{endpoint}" }}, "provision": true }} }},"#
                    ),
                    format!(r#""provider": "gcp", "name": "otel-{run}""#),
                )
            }
        }
    }
}

/// A topic with one subscription whose handler forwards every delivery.
struct Subscribed {
    infra: Infra,
    topic: Topic,
    delivered: mpsc::UnboundedReceiver<Message>,
}

/// Topic `topic` on `backend`, subscribed by `subscription` with a handler
/// that forwards each delivery and fails the first `failures` of each message.
async fn subscribed(
    backend: Backend,
    topic: &str,
    subscription: &str,
    failures: u32,
) -> Subscribed {
    let infra = infra_on(backend, topic, subscription).await;
    let (tx, delivered) = mpsc::unbounded_channel();
    infra
        .subscribe(
            topic,
            subscription,
            forward(tx, failures),
            SubscribeOptions::default(),
        )
        .unwrap();
    let topic = infra.topic(topic).unwrap();
    Subscribed {
        infra,
        topic,
        delivered,
    }
}

/// An Infra with topic `topic` on `backend` and one subscription of it that
/// retries fast.
async fn infra_on(backend: Backend, topic: &str, subscription: &str) -> Infra {
    installed();
    let run = format!("{}-{}", std::process::id(), fastrand::u32(..));
    let (providers, fields) = backend.config(&run);
    let text = format!(
        r#"{{{providers} "pubsub": {{"{topic}": {{{fields}, "subscriptions":
            {{"{subscription}": {{"name": "{subscription}-{run}", "min_backoff_ms": 10, "max_backoff_ms": 20}}}}}}}}}}"#
    );
    let loaded = LoadedConfig {
        config: parse_config(&text, "otel.json", registry(), &|_| None).unwrap(),
        base_dir: std::env::temp_dir(),
        file: None,
    };
    Infra::from_config(loaded).await.unwrap()
}

/// A handler that forwards each message and fails its first `failures`
/// deliveries.
fn forward(tx: mpsc::UnboundedSender<Message>, failures: u32) -> Handler {
    Arc::new(move |message: Message| {
        let tx = tx.clone();
        Box::pin(async move {
            let fail = message.delivery_attempt <= failures;
            let _ = tx.send(message);
            if fail {
                Err::<(), HandlerError>("not yet".into())
            } else {
                Ok(())
            }
        })
    })
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Message>) -> Message {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
}

/// Publishes one message on `backend` inside a request span of the
/// caller's and checks the one trace from that request to the handler.
async fn publish_then_process_is_one_trace(backend: Backend, name: &str) {
    let Subscribed {
        infra,
        topic,
        delivered: mut rx,
    } = subscribed(backend, name, "audit", 0).await;
    let (publish_system, process_system) = backend.systems();
    let request_name = format!("{name} request");
    let request = tracing::info_span!("request", otel.name = request_name.as_str());
    let id = topic
        .publish(OutgoingMessage::new("hello"))
        .instrument(request)
        .await
        .unwrap();
    let delivered = next(&mut rx).await;
    infra.close().await.unwrap();

    let spans = spans_of(name, 3).await;
    let create = only(&spans, &format!("create {name}"));
    let send = only(&spans, &format!("send {name}"));
    let process = only(&spans, "process audit");
    let wanted = request_name.clone();
    let request = received(1, move |span| span.name == wanted).await;
    let request = only(&request, &request_name);

    // The publisher's span is the create span's parent: one trace from the
    // caller's request to the handler.
    assert_eq!(create.kind, SpanKind::Producer);
    assert_eq!(create.trace_id, request.trace_id);
    assert_eq!(create.parent_span_id, request.span_id);
    assert_eq!(create.attr("messaging.system"), Some(publish_system));
    assert_eq!(create.attr("messaging.operation.type"), Some("create"));
    assert_eq!(create.attr("messaging.message.id"), Some(id.as_str()));
    assert_eq!(create.attr("error.type"), None);
    assert_eq!(create.service_name.as_deref(), Some("strata-otel-test"));

    // The message carries the create span's context, W3C-encoded.
    assert_eq!(
        delivered.attributes.get("traceparent").map(String::as_str),
        Some(format!("00-{}-{}-01", hex(&create.trace_id), hex(&create.span_id)).as_str())
    );

    assert_eq!(send.kind, SpanKind::Client);
    assert_eq!(send.attr("messaging.batch.message_count"), Some("1"));
    assert_eq!(send.attr("messaging.system"), Some(publish_system));
    assert!(send.links_to(create), "{send:#?}");

    assert_eq!(process.kind, SpanKind::Consumer);
    assert_eq!(process.trace_id, create.trace_id);
    assert_eq!(process.parent_span_id, create.span_id);
    assert!(process.links_to(create), "{process:#?}");
    assert_eq!(process.attr("messaging.system"), Some(process_system));
    assert_eq!(process.attr("messaging.operation.type"), Some("process"));
    assert_eq!(
        process.attr("messaging.destination.subscription.name"),
        Some("audit")
    );
    assert_eq!(process.attr("messaging.message.id"), Some(id.as_str()));
    assert_eq!(process.attr("strata.delivery_attempt"), Some("1"));
    assert_eq!(process.attr("error.type"), None);
    assert!(!process.error_status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_process_is_one_trace_on_memory() {
    publish_then_process_is_one_trace(Backend::Memory, "otel-one").await;
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_process_is_one_trace_across_sns_and_sqs() {
    publish_then_process_is_one_trace(Backend::LocalStack, "otel-aws").await;
}

#[cfg(feature = "gcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_process_is_one_trace_across_the_pubsub_emulator() {
    publish_then_process_is_one_trace(Backend::PubSubEmulator, "otel-gcp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handler_span_has_error_type_and_its_retry_is_a_new_process_span() {
    let Subscribed {
        infra,
        topic,
        delivered: mut rx,
    } = subscribed(Backend::Memory, "otel-retry", "billing", 1).await;
    topic.publish(OutgoingMessage::new("once")).await.unwrap();
    assert_eq!(next(&mut rx).await.delivery_attempt, 1);
    assert_eq!(next(&mut rx).await.delivery_attempt, 2);
    infra.close().await.unwrap();

    let spans = spans_of("otel-retry", 4).await;
    let create = only(&spans, "create otel-retry");
    let mut processes = named(&spans, "process billing");
    assert_eq!(processes.len(), 2, "{spans:#?}");
    processes.sort_by_key(|span| span.attr("strata.delivery_attempt").map(str::to_owned));
    let (failed, retried) = (processes[0], processes[1]);

    assert_eq!(failed.attr("strata.delivery_attempt"), Some("1"));
    assert_eq!(failed.attr("error.type"), Some("handler_error"));
    assert!(failed.error_status);

    assert_eq!(retried.attr("strata.delivery_attempt"), Some("2"));
    assert_eq!(retried.attr("error.type"), None);
    assert!(!retried.error_status);
    assert_ne!(retried.span_id, failed.span_id);

    // Both deliveries continue the publish's trace.
    for process in [failed, retried] {
        assert_eq!(process.trace_id, create.trace_id);
        assert_eq!(process.parent_span_id, create.span_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_another_systems_traceparent_continues_that_trace() {
    let Subscribed {
        infra,
        topic,
        delivered: mut rx,
    } = subscribed(Backend::Memory, "otel-foreign", "audit", 0).await;
    let trace_id: Vec<u8> = (0..16).map(|_| fastrand::u8(..)).collect();
    let span_id: Vec<u8> = (0..8).map(|_| fastrand::u8(1..)).collect();
    let traceparent = format!("00-{}-{}-01", hex(&trace_id), hex(&span_id));
    topic
        .publish(OutgoingMessage::new("from elsewhere").with_attribute("traceparent", &traceparent))
        .await
        .unwrap();
    let delivered = next(&mut rx).await;
    infra.close().await.unwrap();

    // The publisher's own traceparent travels unchanged.
    assert_eq!(delivered.attributes["traceparent"], traceparent);
    let spans = spans_of("otel-foreign", 3).await;
    let process = only(&spans, "process audit");
    assert_eq!(process.trace_id, trace_id);
    assert_eq!(process.parent_span_id, span_id);
    assert!(
        process
            .links
            .iter()
            .any(|(trace, span)| *trace == trace_id && *span == span_id),
        "{process:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_many_is_one_send_span_linking_each_message_create_span() {
    let Subscribed {
        infra,
        topic,
        delivered: mut rx,
    } = subscribed(Backend::Memory, "otel-many", "audit", 0).await;
    let messages = (0..3)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    let ids: Vec<String> = topic
        .publish_many(messages)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for _ in 0..3 {
        next(&mut rx).await;
    }
    infra.close().await.unwrap();

    let spans = spans_of("otel-many", 7).await;
    let creates = named(&spans, "create otel-many");
    assert_eq!(creates.len(), 3, "{spans:#?}");
    let send = only(&spans, "send otel-many");
    assert_eq!(send.attr("messaging.batch.message_count"), Some("3"));
    for create in &creates {
        assert!(send.links_to(create), "{send:#?}");
        assert!(
            ids.iter()
                .any(|id| create.attr("messaging.message.id") == Some(id))
        );
    }
    let processes = named(&spans, "process audit");
    assert_eq!(processes.len(), 3, "{spans:#?}");
    for process in processes {
        let parent = creates
            .iter()
            .find(|create| create.span_id == process.parent_span_id)
            .expect("each process span's parent is its message's create span");
        assert_eq!(
            process.attr("messaging.message.id"),
            parent.attr("messaging.message.id")
        );
    }
}

/// The latest totals of the metrics of topic `topic`, once they reach
/// `expected` (or the time limit passed): sent, consumed, processed, failed
/// handler runs, retries, dead-lettered, send operations.
async fn metric_totals(topic: &'static str, expected: [u64; 6]) -> [u64; 7] {
    tokio::task::spawn_blocking(move || {
        let (receiver, telemetry) = installed();
        let of_topic = |attributes: &std::collections::HashMap<String, String>| {
            attributes
                .get("messaging.destination.name")
                .map(String::as_str)
                == Some(topic)
        };
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            telemetry.flush();
            let totals = [
                receiver.metric("messaging.client.sent.messages", of_topic),
                receiver.metric("messaging.client.consumed.messages", of_topic),
                receiver.metric("messaging.process.duration", of_topic),
                receiver.metric("messaging.process.duration", |attributes| {
                    of_topic(attributes)
                        && attributes.get("error.type").map(String::as_str) == Some("handler_error")
                }),
                receiver.metric("strata.messaging.retries", of_topic),
                receiver.metric("strata.messaging.dead_lettered", of_topic),
                receiver.metric("messaging.client.operation.duration", of_topic),
            ];
            if totals[..6] == expected || std::time::Instant::now() >= deadline {
                return totals;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_was_sent_consumed_processed_and_retried() {
    let Subscribed {
        infra,
        topic,
        delivered: mut rx,
    } = subscribed(Backend::Memory, "otel-metrics", "audit", 1).await;
    let messages = (0..3)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    for result in topic.publish_many(messages).await {
        result.unwrap();
    }
    // Each message fails once, then succeeds: six deliveries.
    for _ in 0..6 {
        next(&mut rx).await;
    }
    infra.close().await.unwrap();

    let [
        sent,
        consumed,
        processed,
        failed,
        retries,
        dead_lettered,
        sends,
    ] = metric_totals("otel-metrics", [3, 6, 6, 3, 3, 0]).await;
    assert_eq!(sent, 3, "messaging.client.sent.messages");
    assert_eq!(consumed, 6, "messaging.client.consumed.messages");
    assert_eq!(processed, 6, "messaging.process.duration count");
    assert_eq!(failed, 3, "messaging.process.duration with error.type");
    assert_eq!(retries, 3, "strata.messaging.retries");
    assert_eq!(dead_lettered, 0, "strata.messaging.dead_lettered");
    assert!(
        sends >= 1,
        "messaging.client.operation.duration count: {sends}"
    );
}
