//! The NATS provider on a three-node JetStream cluster of private
//! `nats-server`s on 127.0.0.1 (routes between them, streams with 3
//! replicas): messages keep flowing while a follower is killed and restarted,
//! then while the stream leader's node is killed and restarted. Every
//! resolved publish is delivered; duplicates are counted and reported.

#![allow(clippy::unwrap_used)]

#[path = "support/nats_counting.rs"]
mod nats_counting;
#[path = "support/nats_server.rs"]
mod nats_server;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use strata_core::pubsub::{OutgoingMessage, Topic, TopicOptions};
use strata_core::{ErrorCode, Result};
use strata_nats::{NatsClient, NatsOptions, NatsSubscription, NatsTopic};

use nats_counting::counting_subscriber;
use nats_server::PrivateNats;

/// Retries `open` until the cluster has elected its leaders.
async fn eventually<T, F, Fut>(what: &str, open: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match open().await {
            Ok(value) => return value,
            Err(err) if tokio::time::Instant::now() < deadline => {
                println!("{what}: {err}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => panic!("{what}: {err}"),
        }
    }
}

/// The server name of the stream's leader.
async fn stream_leader(client: &NatsClient, stream: &str) -> Option<String> {
    let mut found = client.jetstream().get_stream(stream).await.ok()?;
    let info = found.info().await.ok()?;
    info.cluster.as_ref()?.leader.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_loses_a_follower_then_the_leader_and_delivers_every_resolved_publish() {
    let mut servers = PrivateNats::start_cluster(3);
    let options = NatsOptions {
        servers: servers.iter().map(PrivateNats::url).collect(),
        provision: true,
        replicas: Some(3),
        ..NatsOptions::default()
    };
    let client = eventually("connect", || NatsClient::connect(&options)).await;
    let topic_driver = eventually("stream", || NatsTopic::open(&client, "cluster", &options)).await;
    let sub = eventually("consumer", || {
        NatsSubscription::open(
            &client,
            &topic_driver,
            "cluster-sub",
            Duration::from_secs(10),
            true,
            false,
        )
    })
    .await;
    let stream = topic_driver.stream().to_owned();
    let (subscriber, seen) = counting_subscriber("cluster-sub", Arc::new(sub));
    let topic = Topic::new("cluster", Arc::new(topic_driver), TopicOptions::default());

    let (total, chunk_size) = (10_000, 50);
    let mut resolved = HashSet::new();
    let mut failed = 0usize;
    let mut failure_codes = HashSet::new();
    let mut killed: Option<(usize, tokio::time::Instant)> = None;
    let mut leader_killed = false;
    let outage = Duration::from_secs(3);
    let index_of = |name: &str| name.strip_prefix('n').and_then(|i| i.parse::<usize>().ok());
    for chunk in 0..total / chunk_size {
        match (chunk, killed) {
            (40, None) => {
                // A follower of the stream.
                let leader = stream_leader(&client, &stream).await;
                let follower = (0..3).find(|i| Some(format!("n{i}")) != leader).unwrap();
                println!("killing follower n{follower} (leader {leader:?})");
                servers[follower].kill();
                killed = Some((follower, tokio::time::Instant::now()));
            }
            (c, None) if (120..160).contains(&c) && !leader_killed => {
                leader_killed = true;
                let leader = stream_leader(&client, &stream).await;
                let i = leader.as_deref().and_then(index_of).unwrap_or(0);
                println!("killing the stream leader n{i} ({leader:?})");
                servers[i].kill();
                killed = Some((i, tokio::time::Instant::now()));
            }
            (c, Some((i, at)))
                if ((80..120).contains(&c) || c >= 160) && at.elapsed() >= outage =>
            {
                println!("restarting n{i}");
                servers[i].restart();
                killed = None;
            }
            _ => {}
        }
        let messages: Vec<OutgoingMessage> = (0..chunk_size)
            .map(|i| OutgoingMessage::new(format!("m{}", chunk * chunk_size + i)))
            .collect();
        let texts: Vec<String> = messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.data).into_owned())
            .collect();
        let results = tokio::time::timeout(Duration::from_secs(30), topic.publish_many(messages))
            .await
            .expect("a publish hangs past its ack timeout");
        let failed_before = failed;
        for (text, result) in texts.into_iter().zip(results) {
            match result {
                Ok(_) => {
                    resolved.insert(text);
                }
                Err(err) => {
                    failed += 1;
                    failure_codes.insert(err.code());
                }
            }
        }
        // A steady flow (about 20 s in all), so each outage spans many
        // publishes; a little more pause after failures, as an application
        // would back off while the cluster recovers.
        let pause = if failed > failed_before { 200 } else { 80 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    if let Some((i, _)) = killed {
        servers[i].restart();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let missing = {
            let seen = seen.lock().unwrap();
            resolved.iter().filter(|t| !seen.contains_key(*t)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} of {} resolved publishes never delivered",
            resolved.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::timeout(Duration::from_secs(60), subscriber.shutdown())
        .await
        .expect("shutdown hangs")
        .unwrap();
    let (distinct, duplicates) = {
        let seen = seen.lock().unwrap();
        (seen.len(), seen.values().map(|n| n - 1).sum::<usize>())
    };
    println!(
        "cluster: {} resolved, {failed} failed {failure_codes:?}, {distinct} delivered, \
         {duplicates} duplicates",
        resolved.len()
    );
    assert!(
        failure_codes
            .iter()
            .all(|code| *code == ErrorCode::Unavailable),
        "failures are typed Unavailable: {failure_codes:?}"
    );
    assert!(
        resolved.len() >= total / 2,
        "most publishes resolve: {} of {total}",
        resolved.len()
    );
    assert!(leader_killed, "the stream leader was killed during the run");
    topic.close().await;
}
