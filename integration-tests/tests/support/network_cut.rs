//! The network-cut fault test every cloud provider runs: a paced load
//! ([`super::faults_load`]) through a [`CuttableProxy`] that is cut for a
//! while mid-run and restored, then the checks that hold for any provider:
//! every publish resolves (no hang), a failed one failed with `Unavailable` or
//! `Timeout`, every resolved publish is delivered at least once with its id,
//! and the cut was really felt.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use strata_core::ErrorCode;
use strata_core::pubsub::{SubscriberStats, SubscriptionDriver, Topic};
use strata_integration_tests::tcp_proxy::CuttableProxy;
use tokio::time::Instant;

use super::faults_load::{self, Arrival, Outcome, Pace, PublishRecord};

/// When the cut starts, how long it lasts, and how long delivery may lag.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    /// From the first publish to the cut.
    pub at: Duration,
    /// How long the proxy stays cut.
    pub lasts: Duration,
    /// After the restore, how long publishes may still fail (retries that
    /// were under way during the cut).
    pub retry_grace: Duration,
    /// How long the subscriber may take to catch up after the last publish.
    pub drain_limit: Duration,
}

/// What one run saw.
pub struct CutRun {
    pub records: Vec<PublishRecord>,
    /// The numbers of the publishes that resolved with an id.
    pub resolved: Vec<u64>,
    /// Resolved publishes never delivered within the drain limit.
    pub missing: Vec<u64>,
    pub seen: HashMap<u64, Vec<Arrival>>,
    pub stats: SubscriberStats,
    pub accepted_before_cut: u64,
    pub failed_during_cut: usize,
    pub published_in: Duration,
}

/// Runs `pace` through `topic` while `subscription` is consumed, cutting
/// `proxy` as `cut` says; waits for delivery, stops both and reports.
pub async fn run_across_cut(
    proxy: &CuttableProxy,
    topic: Topic,
    subscription: Arc<dyn SubscriptionDriver>,
    pace: Pace,
    cut: Cut,
) -> CutRun {
    let (subscriber, deliveries) = faults_load::record_deliveries(subscription, 64, Arc::default());
    let started = Instant::now();
    let publishing = faults_load::publish_paced(topic.clone(), pace);
    tokio::time::sleep(cut.at).await;
    let accepted_before_cut = proxy.accepted();
    let cut_at = Instant::now();
    proxy.cut().await;
    tokio::time::sleep(cut.lasts).await;
    proxy.restore().await.unwrap();
    let restored_at = Instant::now();

    let records = tokio::time::timeout(pace.publish_limit + Duration::from_secs(60), publishing)
        .await
        .expect("the publisher did not finish")
        .unwrap();
    let published_in = started.elapsed();
    let resolved: Vec<u64> = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Published(_)))
        .map(|r| r.seq)
        .collect();
    let missing = faults_load::wait_for(&deliveries, &resolved, cut.drain_limit).await;
    let stats = faults_load::stop(subscriber, topic).await;
    let failed_during_cut = records
        .iter()
        .filter(|r| {
            matches!(r.outcome, Outcome::Failed(..))
                && r.resolved_at >= cut_at
                && r.resolved_at <= restored_at + cut.retry_grace
        })
        .count();
    CutRun {
        seen: faults_load::snapshot(&deliveries),
        records,
        resolved,
        missing,
        stats,
        accepted_before_cut,
        failed_during_cut,
        published_in,
    }
}

impl CutRun {
    /// Failures by error code.
    pub fn failures(&self) -> BTreeMap<&'static str, usize> {
        faults_load::failures_by_code(&self.records)
    }

    /// Publishes that never resolved.
    pub fn unresolved(&self) -> usize {
        self.records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Unresolved))
            .count()
    }

    /// Publishes that failed and were delivered anyway (the request reached
    /// the server, its answer was lost in the cut).
    pub fn failed_but_delivered(&self) -> usize {
        faults_load::failed_but_delivered(&self.records, &self.seen)
    }

    /// One line of figures for the test output.
    pub fn report(&self, cut: Cut, proxy: &CuttableProxy) -> String {
        format!(
            "network cut of {:?} at {:?}: {} messages published in {:?}; resolved {}, failed {:?} \
             ({} of them during the cut or its retries), unresolved {}; delivered {} distinct, \
             {} duplicates, {} failed publishes delivered anyway; proxy: {} connections accepted \
             ({} before the cut), {} dropped by the cut, {} bytes up, {} down; subscriber {:?}",
            cut.lasts,
            cut.at,
            self.records.len(),
            self.published_in,
            self.resolved.len(),
            self.failures(),
            self.failed_during_cut,
            self.unresolved(),
            self.seen.len(),
            faults_load::duplicates(&self.seen),
            self.failed_but_delivered(),
            proxy.accepted(),
            self.accepted_before_cut,
            proxy.dropped(),
            proxy.bytes_to_target(),
            proxy.bytes_from_target(),
            self.stats,
        )
    }

    /// The checks that hold for every provider (see the module docs).
    pub fn assert_every_resolved_publish_delivered(&self, pace: Pace, proxy: &CuttableProxy) {
        assert_eq!(self.records.len() as u64, pace.total);
        for record in &self.records {
            match &record.outcome {
                Outcome::Published(_) => {}
                Outcome::Failed(code, message) => assert!(
                    matches!(code, ErrorCode::Unavailable | ErrorCode::Timeout),
                    "message {} failed with {code:?}, not Unavailable/Timeout: {message}",
                    record.seq
                ),
                Outcome::Unresolved => panic!(
                    "message {}'s publish did not resolve within {:?}",
                    record.seq, pace.publish_limit
                ),
            }
        }
        assert!(
            self.missing.is_empty(),
            "{} resolved publishes never delivered (first: {:?})",
            self.missing.len(),
            &self.missing[..self.missing.len().min(10)]
        );
        if let Some(mismatch) = faults_load::id_mismatch(&self.records, &self.seen) {
            panic!("{mismatch}");
        }
        // The cut must have been felt, or the run proved nothing.
        assert!(proxy.dropped() > 0, "the cut dropped no open connection");
        assert!(
            self.failed_during_cut > 0 || proxy.accepted() > self.accepted_before_cut,
            "no publish failed and no connection was remade: the cut went unnoticed"
        );
        assert!(
            self.resolved.len() as u64 > pace.total / 2,
            "most publishes resolve: only {} of {}",
            self.resolved.len(),
            pace.total
        );
    }
}
