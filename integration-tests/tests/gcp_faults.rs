//! A network outage between Strata and the Pub/Sub emulator, with the
//! emulator keeping its state: 10,000 messages published and consumed
//! through a TCP proxy that is cut (every connection dropped, the listener
//! closed) for a few seconds mid-run and then restored. Publishing and the
//! streaming pull are gRPC (HTTP/2) connections; both must come back.
//!
//! What holds, and is asserted: every publish resolves (no hang); a publish
//! either resolves with an id or fails with `Unavailable` / `Timeout` (never
//! silently); every publish that resolved with an id is delivered at least
//! once, with that id; the subscriber recovers by itself. Duplicates (a
//! publish retried after its response was cut, an ack lost with its
//! connection) are allowed by at-least-once delivery: counted and reported.
//!
//! Stopping the emulator instead would lose its topics and subscriptions
//! (it keeps nothing across a restart), which tests the emulator, not Strata.
//!
//! Found here: acks lost with the cut keep counting against the client's
//! flow control on the server until their ack deadline passes, so delivery
//! stalls that long after the cut; the subscription keeps the server-side
//! deadline at Pub/Sub's shortest (10 s) for that reason (with the crate's
//! 60 s default, most of the run was still undelivered 90 s later).
//!
//! Needs the Pub/Sub emulator: `localstack/emulators up pubsub`.

#![cfg(feature = "gcp")]
#![allow(clippy::unwrap_used)]

// Shared with other test files; only part of each is used here.
#[allow(dead_code)]
#[path = "support/faults_load.rs"]
mod faults_load;
#[allow(dead_code)]
#[path = "support/gcp_harness.rs"]
mod gcp_harness;
#[path = "support/network_cut.rs"]
mod network_cut;

use std::sync::Arc;
use std::time::Duration;

use faults_load::Pace;
use gcp_harness::{Names, PUBSUB, settings};
use network_cut::Cut;
use strata_core::pubsub::{Topic, TopicOptions};
use strata_gcp::{
    GcpClients, GcpSettings, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic,
};
use strata_integration_tests::tcp_proxy::CuttableProxy;

/// 10,000 messages in about 20 s: 25 every 50 ms.
const PACE: Pace = Pace {
    total: 10_000,
    per_tick: 25,
    tick: Duration::from_millis(50),
    publish_limit: Duration::from_secs(90),
};
/// The cut: 4 s long, 6 s into the run; publishes may still fail for
/// 30 s after it (retries under way); `drain_limit` is how long the
/// subscriber may take to catch up after the last publish.
/// Usually all is delivered within 20 s of it; once in four runs here the
/// emulator held back part of the run for longer than 90 s after the cut
/// (it redelivers in rounds, one per ack deadline), so the bound is loose:
/// this asserts at-least-once delivery, not the emulator's recovery time.
const CUT: Cut = Cut {
    at: Duration::from_secs(6),
    lasts: Duration::from_secs(4),
    retry_grace: Duration::from_secs(30),
    drain_limit: Duration::from_secs(240),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_resolved_publish_is_delivered_across_a_network_cut() {
    PUBSUB.check_reachable().await;
    let target = PUBSUB
        .endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = CuttableProxy::start(&target).await.unwrap();
    let settings = GcpSettings {
        pubsub_endpoint: Some(proxy.url()),
        ..settings()
    };
    let clients = GcpClients::connect(&settings).await.unwrap();
    let names = Names::new();
    let driver = PubSubTopic::open(&clients, &names.unique("cut"), true)
        .await
        .unwrap();
    let opts = PubSubSubscriptionOptions {
        provision: true,
        ..PubSubSubscriptionOptions::default()
    };
    let sub = PubSubSubscription::open(&clients, &driver, &names.unique("cut-sub"), &opts)
        .await
        .unwrap();
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );
    let run = network_cut::run_across_cut(&proxy, topic, Arc::new(sub), PACE, CUT).await;
    eprintln!("{}", run.report(CUT, &proxy));
    run.assert_every_resolved_publish_delivered(PACE, &proxy);
}
